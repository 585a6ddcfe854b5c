"""vectis.demo.datagen: a small generated MSP lands in its own tenant only, with every backup state the hub
derives, and the same seed gives the same MSP."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select

from tests.conftest import TenantFixture
from vectis.backups.state import derive
from vectis.demo.activity import CALLBACKS_PER_DAY, EVENTS_PER_DAY, FIRES_PER_EVENT, generate_activity
from vectis.demo.datagen import generate, generate_demo
from vectis.models import (
    BackupAuditEvent,
    BackupConnector,
    BackupConnectorStatus,
    Connection,
    Customer,
    CustomerLink,
    CustomerNote,
    RuleFire,
    SyncRun,
    Tenant,
    TimelineEvent,
)
from vectis.platform import db
from vectis.platform.db import system_session
from vectis.retention.purge import purge_tenant

ALL_STATES = {"success", "warning", "failed", "running", "stuck", "stopped", "stale", "silent", "never", "removed"}


def fresh_tenant(app: Flask) -> int:
    with app.app_context(), system_session() as s:
        tenant = Tenant(slug=f"g{uuid.uuid4().hex[:10]}", name="Generated MSP")
        s.add(tenant)
        s.flush()
        return tenant.id


def test_a_small_msp_with_every_state_stays_in_its_tenant(app: Flask, acme: TenantFixture) -> None:
    tenant_id = fresh_tenant(app)
    now = datetime.now(UTC)
    with app.app_context():
        counts = generate(tenant_id, customers=30, jobs=150, events=2_000, seed=3, now=now)
    assert (counts["customers"], counts["jobs"], counts["events"]) == (30, 150, 2_000)
    assert counts["notes"] > 0 and counts["sync_runs"] > 300 and counts["removed_jobs"] >= 1

    with app.app_context(), db.tenant_session(tenant_id) as s:  # the runtime role, bound by RLS
        customers = s.scalars(select(Customer)).all()
        ids = [c.id for c in customers]
        assert sum(1 for c in customers if c.parent_id is None) == 30
        assert len(customers) == 30 + counts["sites"]
        assert all(c.normalized_name for c in customers)
        assert sum(1 for c in customers if c.contact_email) > len(customers) // 2
        assert {c.vendor: c.enabled for c in s.scalars(select(Connection))} == {"veeam": False, "keepit": False}
        assert s.scalar(select(func.count()).select_from(CustomerLink)) == counts["customer_links"]

        rows = s.execute(
            select(BackupConnector, BackupConnectorStatus).join(
                BackupConnectorStatus, BackupConnectorStatus.backup_connector_id == BackupConnector.id
            )
        ).all()
        assert len(rows) == 150
        derived = {
            derive(
                status.state,
                last_attempt_at=status.last_attempt_at,
                last_success_at=status.last_success_at,
                last_duration_seconds=status.last_duration_seconds,
                removed_at=job.removed_at,
                now=now,
            ).state
            for job, status in rows
        }
        assert derived == ALL_STATES

        timeline = s.scalar(select(func.count()).select_from(TimelineEvent))
        assert timeline == counts["events"] + counts["notes"] == counts["timeline_events"]
        notes = s.execute(
            select(TimelineEvent.source, TimelineEvent.connection_id, TimelineEvent.dedup_key, CustomerNote.id).join(
                CustomerNote, CustomerNote.id == TimelineEvent.note_id
            )
        ).all()
        assert len(notes) == counts["notes"]
        assert all(src == "Note" and conn is None and key == f"note:{nid}" for src, conn, key, nid in notes)
        provider = s.scalar(select(func.count()).select_from(TimelineEvent).where(TimelineEvent.customer_id.is_(None)))
        assert 0 < (provider or 0) < 100
        oldest = s.scalar(select(func.min(TimelineEvent.occurred_at)))
        assert oldest is not None and oldest >= now - timedelta(days=90, minutes=1)
        assert s.scalar(select(func.count()).select_from(BackupAuditEvent)) == counts["audit_events"]

        keepit = s.scalars(
            select(SyncRun.started_at)
            .join(Connection, Connection.id == SyncRun.connection_id)
            .where(Connection.vendor == "keepit")
            .order_by(SyncRun.started_at)
        ).all()
        starts = [t for t in keepit if t is not None]
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        assert max(gaps) >= timedelta(hours=2, minutes=45)
        assert sorted(gaps)[-2] <= timedelta(minutes=15)  # one gap, not two

    with app.app_context(), db.tenant_session(acme.id) as s:
        assert s.scalar(select(func.count()).select_from(Customer).where(Customer.id.in_(ids))) == 0
        assert (
            s.scalar(select(func.count()).select_from(TimelineEvent).where(TimelineEvent.tenant_id == tenant_id)) == 0
        )

    with app.app_context(), pytest.raises(ValueError, match="already has customers"):
        generate(tenant_id, customers=1, jobs=1, events=1)


def test_the_same_seed_gives_the_same_msp(app: Flask) -> None:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    seen = []
    for tenant_id in (fresh_tenant(app), fresh_tenant(app)):
        with app.app_context():
            counts = generate(tenant_id, customers=12, jobs=40, events=300, seed=9, now=now)
        with app.app_context(), db.tenant_session(tenant_id) as s:
            names = s.scalars(select(Customer.name).order_by(Customer.id)).all()
            jobs = s.execute(
                select(BackupConnector.external_id, BackupConnector.name).order_by(BackupConnector.id)
            ).all()
            events = s.execute(
                select(TimelineEvent.occurred_at, TimelineEvent.title, TimelineEvent.severity).order_by(
                    TimelineEvent.id
                )
            ).all()
        seen.append((counts, names, [tuple(j) for j in jobs], [tuple(e) for e in events]))
    assert seen[0] == seen[1]


def test_the_demo_msp_is_generated_once(app: Flask) -> None:
    tenant_id = fresh_tenant(app)
    with app.app_context():
        counts = generate_demo(tenant_id)
        assert (counts["customers"], counts["jobs"], counts["events"]) == (40, 400, 6_000)
        assert generate_demo(tenant_id) == {}


def test_a_day_of_rule_activity_and_callbacks_lands_in_its_tenant_and_the_purge_reads_it(app: Flask) -> None:
    """The growth benchmark's second half (vectis.demo.activity): real rows the app and the purge accept."""
    tenant_id = fresh_tenant(app)
    with app.app_context():
        generate(tenant_id, customers=5, jobs=10, events=50, seed=4)
        counts = generate_activity(tenant_id, days=1, seed=4, now=datetime.now(UTC) - timedelta(days=200))
    assert counts == {
        "rule_events": EVENTS_PER_DAY,
        "rule_fires": EVENTS_PER_DAY * FIRES_PER_EVENT,
        "rule_dispatches": EVENTS_PER_DAY * FIRES_PER_EVENT,
        "webhook_deliveries": CALLBACKS_PER_DAY,
    }
    with app.app_context(), db.tenant_session(tenant_id) as s:  # 200 days old: past every default retention
        purged = purge_tenant(s, tenant_id)
        assert s.scalar(select(func.count()).select_from(RuleFire)) == 0
    assert purged.rule_events == EVENTS_PER_DAY
    assert purged.webhook_deliveries + purged.rejected_webhook_deliveries == CALLBACKS_PER_DAY
