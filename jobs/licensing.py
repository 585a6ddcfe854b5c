"""The hourly run of the seat changes scheduled for a renewal (``vectis.licensing.renewals``), workspace by workspace.
Each change is claimed before it is sent, so a second tick, or the same tick run twice, sends nothing more."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

from jobs.context import app_context
from vectis.licensing.renewals import RUN_TIMEOUT, due_tenants, run_due
from vectis.platform import db

log = logging.getLogger("vectis.licensing")
# The job's timeout is the one the Licensing tab reads a change "running" for longer than as stuck.
TIMEOUT = int(RUN_TIMEOUT.total_seconds())


def run_scheduled(today: str | None = None) -> str:
    """``today``: an ISO date (tests and a catch-up by hand); the UTC date by default."""
    day = date.fromisoformat(today) if today else datetime.now(UTC).date()
    done = 0
    with app_context():
        with db.system_session() as s:
            tenant_ids = due_tenants(s, day)
        for tenant_id in tenant_ids:
            with db.tenant_session(tenant_id) as s:
                for said in run_due(s, tenant_id, today=day):
                    log.info("licensing: tenant %s: %s", tenant_id, said)
                    done += 1
    return f"ran {done} scheduled seat change(s) in {len(tenant_ids)} workspace(s)"
