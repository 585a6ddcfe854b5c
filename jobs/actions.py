"""Write-backs that waited for their connection's rate limit."""

from __future__ import annotations

from jobs.context import app_context
from vectis.actions.perform import perform_queued
from vectis.models import QueuedAction
from vectis.platform import db
from vectis.platform import jobs as wire

QUEUE, TIMEOUT = wire.QUEUED_ACTION.queue, wire.QUEUED_ACTION.timeout


def run_queued(tenant_id: int, queued_action_id: int) -> str:
    """Perform one queued action; if the bucket is still empty, wait again (the action is never dropped)."""

    with app_context(), db.tenant_session(tenant_id) as s:
        queued = s.get(QueuedAction, queued_action_id, with_for_update={"skip_locked": True})
        if queued is None or queued.done_at is not None:
            return "already done"
        outcome = perform_queued(s, queued)
        return "waiting" if outcome is None else outcome.result
