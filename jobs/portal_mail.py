"""The portal's weekly digest, workspace by workspace (``vectis.portal_access.digest``); ticket mail is sent as
tickets change, not here."""

from __future__ import annotations

from sqlalchemy import select

from jobs.context import app_context
from vectis.models import Tenant
from vectis.platform import db
from vectis.portal_access.digest import queue_digests


def send_digests() -> str:
    total = 0
    with app_context():
        with db.system_session() as s:
            tenants = list(s.execute(select(Tenant.id, Tenant.slug).order_by(Tenant.id)))
        for tenant_id, slug in tenants:
            with db.tenant_session(tenant_id) as s:
                total += queue_digests(s, tenant_id, slug)
    return f"queued {total} digest(s) in {len(tenants)} workspace(s)"
