"""Portal mail the worker makes itself: the weekly digest, workspace by workspace (``vectis.portal_access.digest``),
and the password reset link someone asked for on the portal (``vectis.portal_access.resets``). Ticket mail is sent as
tickets change, not here."""

from __future__ import annotations

from sqlalchemy import select

from jobs.context import app_context
from vectis.models import Tenant
from vectis.platform import db
from vectis.portal_access import resets
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


def send_reset_link(
    tenant_id: int, email: str, request_id: str | None = None, scheme: str | None = None, port: int | None = None
) -> str:
    """``email`` as typed on the portal's "Forgot your password?" page, let through its limits: the link (to an active
    account only) and the audit row, committed together; the link's mail goes out on this queue after the commit."""
    with app_context(), db.tenant_session(tenant_id) as s:
        resets.answer_request(s, tenant_id, email, request_id=request_id, scheme=scheme, port=port)
    # The same words either way: a job's result sits in Redis for a while, where it should not say who has an account.
    return "answered"
