"""Fetch one object by id for the request's tenant (CONVENTIONS #14)."""

from __future__ import annotations

from typing import TypeVar

from flask import abort, g

from vectis.models import TenantOwned
from vectis.platform import db

T = TypeVar("T", bound=TenantOwned)


def get_or_404(model: type[T], object_id: int) -> T:
    """Another tenant's object is indistinguishable from a missing one: 404 either way.

    RLS already hides other tenants' rows; the explicit check is the second lock on the same door."""
    obj = db.session().get(model, object_id)
    if obj is None or obj.tenant_id != g.tenant.id:
        abort(404)
    return obj
