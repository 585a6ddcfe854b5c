"""Data retention: what grows with every sync is deleted nightly in batches, per workspace policy; what is in
flight and the record (audit log) are kept; the admin sets it; old history cannot come back as new events."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from rq import SimpleWorker
from rq.cron import _job_data_registry
from sqlalchemy import delete, event, func, select
from sqlalchemy.orm import Session

import jobs.schedule  # noqa: F401 - registers the cron entries
from jobs import retention as retention_job
from tests.conftest import TenantFixture, a_rule, csrf_token, login
from tests.vendors.support import new_tenant
from vectis.events import stream
from vectis.models import (
    RETENTION_DAYS,
    AuditEntry,
    Connection,
    RetentionPolicy,
    RuleDispatch,
    RuleEvent,
    RuleFire,
    SyncRun,
    WebhookDelivery,
)
from vectis.platform import db
from vectis.platform.crypto import Sealed
from vectis.platform.queues import queue, redis
from vectis.retention.purge import KEEP_RUNS, purge_tenant

NOW = datetime.now(UTC)
OLD = NOW - timedelta(days=120)  # past every default
RECENT = NOW - timedelta(days=2)


@dataclass(frozen=True)
class Workspace:
    tenant_id: int
    connection_id: int
    rule_id: int


def _event(w: Workspace, occurred_at: datetime, *, evaluated: bool = True) -> RuleEvent:
    return RuleEvent(
        tenant_id=w.tenant_id,
        trigger="backup.failed",
        subject_type="backup_job",
        subject_id=1,
        title="Nightly failed",
        data={},
        dedup_key=uuid.uuid4().hex,
        occurred_at=occurred_at,
        evaluated_at=occurred_at if evaluated else None,
        created_at=occurred_at,
    )


def _fire_with_dispatch(s: Session, w: Workspace, event: RuleEvent, state: str) -> None:
    fire = RuleFire(tenant_id=w.tenant_id, rule_id=w.rule_id, version=1, event_id=event.id, leaves=[])
    s.add(fire)
    s.flush()
    s.add(
        RuleDispatch(
            tenant_id=w.tenant_id,
            fire_id=fire.id,
            rule_id=w.rule_id,
            idempotency_key=uuid.uuid4().hex,
            verb="alert.create",
            target={},
            target_key="x",
            payload={},
            state=state,
        )
    )


def _populate(app: Flask, w: Workspace) -> dict[str, int]:
    """Old and recent rows of every kind, with the in-flight ones that must survive; returns their ids."""
    with app.app_context(), db.tenant_session(w.tenant_id) as s:
        old_done, old_pending_event, old_sending = _event(w, OLD), _event(w, OLD, evaluated=False), _event(w, OLD)
        recent = _event(w, RECENT)
        s.add_all([old_done, old_pending_event, old_sending, recent])
        s.flush()
        _fire_with_dispatch(s, w, old_done, "ok")
        _fire_with_dispatch(s, w, old_sending, "sending")
        for n in range(KEEP_RUNS + 5):  # the oldest 5 are old enough and not among the newest 20
            s.add(
                SyncRun(
                    tenant_id=w.tenant_id,
                    connection_id=w.connection_id,
                    trigger="schedule",
                    status="succeeded",
                    created_at=OLD + timedelta(minutes=n),
                    finished_at=OLD + timedelta(minutes=n),
                    log=["page 1: 50 records"],
                )
            )

        def delivery(received_at: datetime, *, verified: bool, processed: bool, pending: bool = False) -> int:
            row = WebhookDelivery(
                tenant_id=w.tenant_id,
                connection_id=w.connection_id,
                received_at=received_at,
                verified=verified,
                reason="Signature verified." if verified else "The signature does not match.",
                processed_at=received_at if processed else None,
                pending_body=Sealed.seal(w.tenant_id, {"body": "{}"}) if pending else None,
            )
            s.add(row)
            s.flush()
            return row.id

        ids = {
            "old_done": old_done.id,
            "old_pending_event": old_pending_event.id,
            "old_sending": old_sending.id,
            "recent": recent.id,
            "accepted_old": delivery(NOW - timedelta(days=40), verified=True, processed=True),
            "accepted_unprocessed": delivery(NOW - timedelta(days=40), verified=True, processed=False),
            "accepted_recent": delivery(NOW - timedelta(days=10), verified=True, processed=True),
            "rejected_old": delivery(NOW - timedelta(days=10), verified=False, processed=False),
            "rejected_pending_key": delivery(NOW - timedelta(days=10), verified=False, processed=False, pending=True),
            "rejected_recent": delivery(NOW - timedelta(days=2), verified=False, processed=False),
        }
    return ids


@pytest.fixture
def workspaces(app: Flask) -> Iterator[tuple[Workspace, Workspace]]:
    """Two scratch workspaces, each with a connection and a rule, so purging one can be seen not to touch the other."""
    made = []
    for _ in range(2):
        tenant_id = new_tenant(app)
        with app.app_context(), db.tenant_session(tenant_id) as s:
            connection = Connection(
                tenant_id=tenant_id, vendor="veeam", name="Veeam", config=Sealed.seal(tenant_id, {"url": "x"})
            )
            s.add(connection)
            s.flush()
            connection_id = connection.id
        made.append(Workspace(tenant_id, connection_id, a_rule(app, tenant_id)))
    yield made[0], made[1]


def _counts(app: Flask, w: Workspace) -> dict[str, int]:
    with app.app_context(), db.tenant_session(w.tenant_id) as s:
        return {
            model.__tablename__: s.scalar(select(func.count()).select_from(model)) or 0
            for model in (RuleEvent, RuleFire, RuleDispatch, SyncRun, WebhookDelivery)
        }


def _surviving(app: Flask, w: Workspace, model: type[RuleEvent] | type[WebhookDelivery]) -> set[int]:
    with app.app_context(), db.tenant_session(w.tenant_id) as s:
        return set(s.scalars(select(model.id)))


def test_it_purges_what_is_past_retention_and_keeps_what_is_in_flight(
    app: Flask, workspaces: tuple[Workspace, Workspace]
) -> None:
    mine, theirs = workspaces
    ids, _ = _populate(app, mine), _populate(app, theirs)
    before_theirs = _counts(app, theirs)
    with app.app_context(), db.tenant_session(mine.tenant_id) as s:
        purged = purge_tenant(s, mine.tenant_id, batch=2)  # many small batches, each its own transaction
    assert (purged.rule_events, purged.sync_runs, purged.webhook_deliveries, purged.rejected_webhook_deliveries) == (
        1,
        5,
        1,
        1,
    )
    assert _surviving(app, mine, RuleEvent) == {ids["old_pending_event"], ids["old_sending"], ids["recent"]}
    assert _surviving(app, mine, WebhookDelivery) == {
        ids[k] for k in ("accepted_unprocessed", "accepted_recent", "rejected_pending_key", "rejected_recent")
    }
    after = _counts(app, mine)
    assert after["rule_fires"] == 1 and after["rule_dispatches"] == 1  # the old fire went with its event
    assert after["sync_runs"] == KEEP_RUNS
    assert _counts(app, theirs) == before_theirs  # the other workspace is untouched


def test_it_follows_the_workspace_policy(app: Flask, workspaces: tuple[Workspace, Workspace]) -> None:
    mine, _ = workspaces
    ids = _populate(app, mine)
    with app.app_context(), db.tenant_session(mine.tenant_id) as s:
        s.add(RetentionPolicy(tenant_id=mine.tenant_id, webhook_days=60, rejected_webhook_days=30))
    with app.app_context(), db.tenant_session(mine.tenant_id) as s:
        purged = purge_tenant(s, mine.tenant_id)
    assert purged.webhook_deliveries == 0 and purged.rejected_webhook_deliveries == 0
    assert ids["accepted_old"] in _surviving(app, mine, WebhookDelivery)


def test_old_history_synced_again_does_not_come_back_as_new_events(
    app: Flask, workspaces: tuple[Workspace, Workspace]
) -> None:
    """A resync of history older than the horizon would remake purged events (their dedup keys are gone)
    and rules would act on months-old facts; such events are not written at all."""
    mine, _ = workspaces

    def one(occurred_at: datetime) -> dict[str, object]:
        return stream.row(
            mine.tenant_id,
            "backup.failed",
            customer_id=None,
            connection_id=mine.connection_id,
            subject=("backup_job", 7),
            title="Nightly failed",
            data={},
            dedup_key=f"job-7:{occurred_at.isoformat()}",
            occurred_at=occurred_at,
        )

    with app.app_context(), db.tenant_session(mine.tenant_id) as s:
        stream.emit(s, [one(OLD), one(RECENT)])
    with app.app_context(), db.tenant_session(mine.tenant_id) as s:
        kept = list(s.scalars(select(RuleEvent.occurred_at)))
    assert kept == [RECENT]


def test_the_horizon_is_asked_once_a_session_and_follows_a_policy_set_in_it(
    app: Flask, workspaces: tuple[Workspace, Workspace]
) -> None:
    mine, theirs = workspaces
    now = datetime.now(UTC)
    default = timedelta(days=RETENTION_DAYS["rule_activity_days"][0])
    with app.app_context(), db.system_session() as s:
        s.execute(delete(RetentionPolicy).where(RetentionPolicy.tenant_id.in_([mine.tenant_id, theirs.tenant_id])))
    with app.app_context(), db.tenant_session(mine.tenant_id) as s:
        asked: list[str] = []

        def listen(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
            asked.append(statement)

        event.listen(s.get_bind(), "before_cursor_execute", listen)
        try:
            assert stream.horizon(s, mine.tenant_id, now) == now - default
            assert stream.horizon(s, mine.tenant_id, now) == now - default
            assert sum("retention_policies" in sql for sql in asked) == 1  # a workspace with none: asked once
            policy = RetentionPolicy.defaults(mine.tenant_id)
            policy.rule_activity_days = 30
            s.add(policy)
            s.flush()
            assert stream.horizon(s, mine.tenant_id, now) == now - timedelta(days=30)
        finally:
            event.remove(s.get_bind(), "before_cursor_execute", listen)
    with app.app_context(), db.tenant_session(theirs.tenant_id) as s:
        assert stream.horizon(s, theirs.tenant_id, now) == now - default


def test_the_nightly_purge_is_scheduled_and_runs_on_a_worker(
    app: Flask, workspaces: tuple[Workspace, Workspace]
) -> None:
    assert any(entry["func"] is retention_job.purge and entry["cron"] == "15 3 * * *" for entry in _job_data_registry)
    mine, theirs = workspaces
    _populate(app, mine), _populate(app, theirs)
    with app.app_context():
        job = queue("sync").enqueue(retention_job.purge)
        SimpleWorker([queue("sync")], connection=redis()).work(burst=True)
        assert job.get_status(refresh=True) == "finished", job.latest_result()
    assert _counts(app, mine)["sync_runs"] == KEEP_RUNS and _counts(app, theirs)["sync_runs"] == KEEP_RUNS


def test_an_admin_sets_retention_and_it_is_audited(app: Flask, acme: TenantFixture) -> None:
    admin = login(app, acme)
    page = admin.get("/admin/retention")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "Rule events, fires and actions" in body and 'name="webhook_days"' in body
    form = {"rule_activity_days": "120", "sync_run_days": "30", "webhook_days": "14", "rejected_webhook_days": "3"}
    saved = admin.post("/admin/retention", data={**form, "csrf_token": csrf_token(admin, "/admin/retention")})
    assert saved.status_code == 302
    with app.app_context(), db.tenant_session(acme.id) as s:
        policy = s.get(RetentionPolicy, acme.id)
        assert policy is not None and (policy.rule_activity_days, policy.rejected_webhook_days) == (120, 3)
        entry = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "retention.change").order_by(AuditEntry.seq.desc())
        ).first()
        assert entry is not None and entry.result == "ok"
    refused = admin.post(
        "/admin/retention",
        data={**form, "rule_activity_days": "5", "csrf_token": csrf_token(admin, "/admin/retention")},
    )
    assert refused.status_code == 422
    assert "Rule events, fires and actions: keep them between 30 and 730 days." in refused.get_data(as_text=True)
    with app.app_context(), db.system_session() as s:
        s.execute(delete(RetentionPolicy))  # back to the defaults for the tests after this one


def test_only_admins_see_retention(app: Flask, acme: TenantFixture) -> None:
    assert login(app, acme, "tech@acme.test").get("/admin/retention").status_code == 403


def test_sessions_expire_in_redis_on_their_own(app: Flask, acme: TenantFixture) -> None:
    """Sessions are the one growing kind kept outside PostgreSQL: each key carries the 8-hour lifetime."""
    login(app, acme)
    with app.app_context():
        keys = list(redis().scan_iter("vectis:session:*"))
        assert keys and all(0 < redis().ttl(key) <= 8 * 3600 for key in keys)
