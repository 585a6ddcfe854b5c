"""The rules engine and alerts on real PostgreSQL and Redis: backup alerts from Veeam and Keepit rows alike,
dry-run against live, parity, backtest, the circuit breaker, idempotency, versions, templates, predicates.
Each test works in tenants of its own (rules are tenant-wide: another test's rule must not fire here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from jobs import rules as rules_job
from tests.vendors.support import add_connection, new_tenant
from vectis import db
from vectis.actions import Actor, Target, perform
from vectis.models import (
    Alert,
    AuditEntry,
    BackupConnector,
    BackupConnectorStatus,
    Customer,
    RuleDispatch,
    RuleEvent,
    RuleFire,
)

NOW = datetime.now(UTC)
ADMIN = Actor("user", None, "owner@test", "admin")


@dataclass
class Msp:
    """A tenant with a Veeam and a Keepit connection and one customer."""

    tenant_id: int
    veeam: int
    keepit: int
    customer_id: int


def msp(app: Flask, name: str = "Harbor Dental") -> Msp:
    tenant_id = new_tenant(app)
    veeam = add_connection(app, tenant_id, "veeam", {}).connection_id
    keepit = add_connection(app, tenant_id, "keepit", {}).connection_id
    with app.app_context(), db.tenant_session(tenant_id) as s:
        customer = Customer(tenant_id=tenant_id, name=name, normalized_name=name.lower())
        s.add(customer)
        s.flush()
        return Msp(tenant_id, veeam, keepit, customer.id)


def job(
    app: Flask,
    m: Msp,
    connection_id: int,
    name: str,
    *,
    state: str,
    attempt: datetime | None = NOW,
    success: datetime | None = None,
    failures: int = 0,
) -> int:
    with app.app_context(), db.tenant_session(m.tenant_id) as s:
        row = BackupConnector(
            tenant_id=m.tenant_id,
            connection_id=connection_id,
            customer_id=m.customer_id,
            external_id=name,
            name=name,
            kind="Backup",
            vendor_type="BackupVm",
        )
        s.add(row)
        s.flush()
        s.add(
            BackupConnectorStatus(
                tenant_id=m.tenant_id,
                backup_connector_id=row.id,
                state=state,
                vendor_status=state,
                last_attempt_at=attempt,
                last_success_at=success,
                consecutive_failures=failures,
            )
        )
        return row.id


def set_status(app: Flask, m: Msp, job_id: int, **values: Any) -> None:
    with app.app_context(), db.tenant_session(m.tenant_id) as s:
        s.execute(
            update(BackupConnectorStatus).where(BackupConnectorStatus.backup_connector_id == job_id).values(**values)
        )


def refresh(app: Flask, m: Msp) -> str:
    with app.app_context():
        return rules_job.refresh(m.tenant_id)


def alerts(app: Flask, m: Msp, *where: Any) -> list[tuple[str, str, int]]:
    with app.app_context(), db.tenant_session(m.tenant_id) as s:
        return [(a.condition, a.state, a.subject_id) for a in s.scalars(select(Alert).where(*where).order_by(Alert.id))]


def make_rule(app: Flask, m: Msp, definition: dict[str, Any], *, live: bool = False, name: str = "Test rule") -> int:
    with app.test_request_context(), db.tenant_session(m.tenant_id) as s:
        outcome = perform(
            "rule.create",
            Target("rule", None, name),
            {"name": name, "definition": definition},
            actor=ADMIN,
            surface="ui",
            session=s,
            tenant_id=m.tenant_id,
        )
        assert outcome.ok, outcome.message
        rule_id = int(outcome.response["rule_id"])
        if live:
            enabled = perform(
                "rule.enable",
                Target("rule", str(rule_id), name),
                {},
                actor=ADMIN,
                surface="ui",
                session=s,
                tenant_id=m.tenant_id,
            )
            assert enabled.ok, enabled.message
        return rule_id


def count(app: Flask, m: Msp, model: Any, *where: Any) -> int:
    with app.app_context(), db.tenant_session(m.tenant_id) as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def dispatches(app: Flask, m: Msp, rule_id: int) -> list[tuple[str, dict[str, Any]]]:
    with app.app_context(), db.tenant_session(m.tenant_id) as s:
        return [
            (d.state, d.payload)
            for d in s.scalars(select(RuleDispatch).where(RuleDispatch.rule_id == rule_id).order_by(RuleDispatch.id))
        ]


FAILED_TO_ALERT = {
    "trigger": "backup.failed",
    "conditions": {"type": "group", "match": "all", "items": []},
    "actions": [
        {"type": "create_alert", "params": {"severity": "critical", "message": "{job.name} failed for {customer.name}"}}
    ],
    "cooldown_minutes": 0,
}


# --- alerts -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("vendor", ["veeam", "keepit"])
def test_failed_and_stale_alerts_fire_once_resolve_on_success_and_fire_again(app: Flask, vendor: str) -> None:
    m, other = msp(app), msp(app)
    connection = m.veeam if vendor == "veeam" else m.keepit
    failed = job(app, m, connection, "FS01 Daily", state="failed", success=NOW - timedelta(hours=10))
    stale = job(
        app,
        m,
        connection,
        "SQL Nightly",
        state="stopped",
        success=NOW - timedelta(hours=50),
        attempt=NOW - timedelta(hours=1),
    )
    refresh(app, m)
    refresh(app, m)  # a second look opens nothing new
    assert sorted(alerts(app, m)) == sorted([("backup_failed", "open", failed), ("backup_stale", "open", stale)])
    assert alerts(app, other) == []  # the other tenant saw nothing

    # The next success resolves each; the condition can then fire again.
    set_status(app, m, failed, state="success", last_success_at=NOW + timedelta(minutes=1))
    set_status(app, m, stale, state="success", last_success_at=NOW + timedelta(minutes=1))
    refresh(app, m)
    assert {(c, s) for c, s, _ in alerts(app, m)} == {("backup_failed", "resolved"), ("backup_stale", "resolved")}
    set_status(app, m, failed, state="failed", last_attempt_at=NOW + timedelta(minutes=30))
    refresh(app, m)
    assert [(c, s) for c, s, j in alerts(app, m) if j == failed] == [
        ("backup_failed", "resolved"),
        ("backup_failed", "open"),
    ]
    # Each opening is an alert.created event; each failed run a backup.failed one.
    assert count(app, m, RuleEvent, RuleEvent.trigger == "alert.created") == 3
    assert count(app, m, RuleEvent, RuleEvent.trigger == "backup.failed") == 2


# --- dry-run, live, parity ---------------------------------------------------------------------------------


def test_a_dry_run_dispatches_nothing_and_records_the_exact_payload(app: Flask) -> None:
    m = msp(app)
    rule_id = make_rule(app, m, FAILED_TO_ALERT)
    job(app, m, m.veeam, "FS01 Daily", state="failed", success=NOW - timedelta(hours=3))
    refresh(app, m)
    [(state, payload)] = dispatches(app, m, rule_id)
    assert state == "dry_run"
    assert payload["message"] == "FS01 Daily failed for Harbor Dental" and payload["severity"] == "critical"
    assert count(app, m, AuditEntry, AuditEntry.surface == "rule") == 0
    assert [c for c, _, _ in alerts(app, m)] == ["backup_failed"]  # only Vectis's own alert: none from the rule
    with app.app_context(), db.tenant_session(m.tenant_id) as s:
        fire = s.scalars(select(RuleFire).where(RuleFire.rule_id == rule_id)).one()
        assert fire.dry_run and fire.version == 1


def test_a_live_rule_acts_through_perform_with_the_rule_and_version_in_the_audit_row(app: Flask) -> None:
    m = msp(app)
    rule_id = make_rule(app, m, FAILED_TO_ALERT, live=True)
    job(app, m, m.keepit, "Microsoft 365", state="failed", success=NOW - timedelta(hours=3))
    refresh(app, m)
    [(state, _)] = dispatches(app, m, rule_id)
    assert state == "ok"
    assert sorted(c for c, _, _ in alerts(app, m)) == ["backup_failed", f"rule:{rule_id}"]
    with app.app_context(), db.tenant_session(m.tenant_id) as s:
        row = s.scalars(select(AuditEntry).where(AuditEntry.surface == "rule")).one()
        assert (row.action, row.actor_type, row.actor_id) == ("alert.raise", "rule", str(rule_id))
        assert row.payload["request"]["rule_fired"] == {"rule_id": rule_id, "rule": "Test rule", "version": 1}
