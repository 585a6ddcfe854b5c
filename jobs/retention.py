"""The nightly clean-up: each workspace's retention policy applied, tenant by tenant (``vectis.retention``)."""

from __future__ import annotations

import logging

from sqlalchemy import select

from jobs.context import app_context
from vectis.models import Tenant
from vectis.platform import db
from vectis.retention.purge import purge_tenant

log = logging.getLogger("vectis.retention")


def purge() -> str:
    total = 0
    with app_context():
        with db.system_session() as s:
            tenant_ids = list(s.scalars(select(Tenant.id).order_by(Tenant.id)))
        for tenant_id in tenant_ids:
            with db.tenant_session(tenant_id) as s:
                purged = purge_tenant(s, tenant_id)
            if purged.total:
                log.info("retention: tenant %s purged %s", tenant_id, purged)
            total += purged.total
    return f"purged {total} row(s) in {len(tenant_ids)} workspace(s)"
