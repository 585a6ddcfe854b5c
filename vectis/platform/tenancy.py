"""The request's tenant, from its host, resolved in exactly one place."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, abort, current_app, g, request
from sqlalchemy import select

from vectis.models import Tenant
from vectis.platform import db

# Endpoints that answer on any host: load balancers probe /healthz by IP, and the 404 page needs its CSS.
HOSTLESS_ENDPOINTS = frozenset({"health.healthz", "static"})


@dataclass(frozen=True)
class CurrentTenant:
    """A detached snapshot of the tenant row, safe to keep on ``g`` for the whole request."""

    id: int
    slug: str
    name: str


def slug_from_host(host: str, base_domain: str) -> str | None:
    """``acme.vectis.example:443`` -> ``acme`` when the base domain is ``vectis.example``."""
    hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    hostname = hostname.strip().lower().rstrip(".")
    suffix = "." + base_domain.split(":", 1)[0]
    if not hostname.endswith(suffix):
        return None
    label = hostname[: -len(suffix)]
    if not label or "." in label:
        return None
    return label


# Every request names its tenant, and a workspace's id, slug and name all but never change: each app keeps
# what it read for a short while instead of spending a transaction on it per request. Only found workspaces
# are kept, so a new one answers at once; a renamed or deleted one is seen within the TTL.
TENANT_TTL_SECONDS = 30.0
_CACHE = "vectis.tenancy.known"


def find_tenant(slug: str) -> CurrentTenant | None:
    known: dict[str, tuple[float, CurrentTenant]] = current_app.extensions[_CACHE]
    now = time.monotonic()
    cached = known.get(slug)
    if cached is not None and cached[0] > now:
        return cached[1]
    with db.unbound_session() as s:
        row = s.execute(select(Tenant.id, Tenant.slug, Tenant.name).where(Tenant.slug == slug)).first()
    if row is None:
        known.pop(slug, None)
        return None
    tenant = CurrentTenant(*row)
    known[slug] = (now + TENANT_TTL_SECONDS, tenant)
    return tenant


def resolve_tenant() -> None:
    g.tenant = None
    if request.endpoint in HOSTLESS_ENDPOINTS:
        return
    slug = slug_from_host(request.host, current_app.config["VECTIS_BASE_DOMAIN"])
    tenant = find_tenant(slug) if slug else None
    if tenant is None:
        abort(404, description="unknown_workspace")
    g.tenant = tenant


def _template_context() -> dict[str, CurrentTenant | None]:
    return {"tenant": g.get("tenant")}


def init_app(app: Flask, resolve: Callable[[], None] | None = None) -> None:
    """``resolve`` binds ``g.tenant`` from the request (the portal reads its host differently)."""
    app.extensions[_CACHE] = {}  # per app: two apps in one process (tests) may use two databases
    app.before_request(resolve or resolve_tenant)
    app.context_processor(_template_context)
