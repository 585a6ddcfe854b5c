"""The rules engine and alerts on real PostgreSQL and Redis: backup alerts from Veeam and Keepit rows alike,
dry-run against live, parity, backtest, the circuit breaker, idempotency, versions, templates, predicates.
Each test works in tenants of its own (rules are tenant-wide: another test's rule must not fire here)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from flask import Flask, render_template
from sqlalchemy import delete, func, select, update
from werkzeug.datastructures import MultiDict

from jobs import rules as rules_job
from tests.conftest import TenantFixture, a_rule, csrf_token, login, pid
from tests.vendors.support import add_connection, new_tenant
from vectis.actions import Actor, Target, perform
from vectis.alerts.verbs import RaiseAlert
from vectis.backups.events import backup_data
from vectis.events.stream import emit
from vectis.models import (
    Alert,
    AlertMute,
    AuditEntry,
    BackupConnector,
    BackupConnectorStatus,
    Customer,
    OutboxMail,
    Rule,
    RuleDispatch,
    RuleEvent,
    RuleFire,
    RuleVersion,
    SyncRun,
    Ticket,
    TicketBoard,
    TicketPriority,
    TicketStatus,
    User,
)
from vectis.platform import db
from vectis.platform.dates import when
from vectis.rules import builder, engine, history, templates
from vectis.rules.action_types import Names, describe_action, fill
from vectis.rules.definition import problems
from vectis.rules.predicates import Resolver
from vectis.rules.triggers import catalog

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
    after = datetime.now(UTC) + timedelta(minutes=1)  # after the alerts opened (NOW is when the module loaded)
    set_status(app, m, failed, state="success", last_success_at=after)
    set_status(app, m, stale, state="success", last_success_at=after)
    refresh(app, m)
    assert {(c, s) for c, s, _ in alerts(app, m)} == {("backup_failed", "resolved"), ("backup_stale", "resolved")}
    set_status(app, m, failed, state="failed", last_attempt_at=after + timedelta(minutes=2))
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
        fired = row.payload["request"]["rule_fired"]
        assert (fired["rule_id"], fired["rule"], fired["version"]) == (rule_id, "Test rule", 1)


class WorkerStopped(BaseException):
    """A worker killed mid-action, as the code it ran sees it: nothing after the kill runs, nothing commits."""


@pytest.mark.parametrize("reaches_vendor", [True, False])
def test_a_worker_that_stops_mid_action_never_sends_twice(
    app: Flask, monkeypatch: pytest.MonkeyPatch, reaches_vendor: bool
) -> None:
    """An action that may reach a vendor commits "sending" first, and a stopped worker leaves it so, never
    sent again (unknown, check the vendor). One that only writes Vectis's tables commits with its record: a
    stopped worker leaves nothing done and the row pending, and the next run sends it once."""
    m = msp(app)
    rule_id = make_rule(app, m, FAILED_TO_ALERT, live=True)
    emit_failed_runs(app, m, 1)
    seen: list[list[str]] = []

    def stop(self: RaiseAlert, ctx: Any, target: Target, payload: dict[str, Any]) -> Any:
        seen.append([state for state, _ in dispatches(app, m, rule_id)])  # what other sessions see meanwhile
        raise WorkerStopped

    monkeypatch.setattr(RaiseAlert, "reaches_vendor", reaches_vendor)
    monkeypatch.setattr(RaiseAlert, "apply", stop)
    with pytest.raises(WorkerStopped):
        evaluate(app, m)
    left = "sending" if reaches_vendor else "pending"
    assert seen == [[left]]
    assert [state for state, _ in dispatches(app, m, rule_id)] == [left]
    monkeypatch.undo()
    evaluate(app, m)
    raised = count(app, m, Alert, Alert.condition == f"rule:{rule_id}")
    audited = count(app, m, AuditEntry, AuditEntry.surface == "rule")
    if reaches_vendor:
        assert ([state for state, _ in dispatches(app, m, rule_id)], raised, audited) == (["sending"], 0, 0)
    else:
        assert ([state for state, _ in dispatches(app, m, rule_id)], raised, audited) == (["ok"], 1, 1)


def test_a_live_action_and_its_outcome_on_the_dispatch_commit_with_the_audit_row(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dispatch row's outcome is written in perform()'s transaction, with the audit row it names: a
    worker stopped right after the action still leaves the row saying what happened."""
    m = msp(app)
    rule_id = make_rule(app, m, FAILED_TO_ALERT, live=True)
    emit_failed_runs(app, m, 1)
    original = engine.dispatch_one

    def then_stop(*args: Any, **kwargs: Any) -> None:
        original(*args, **kwargs)
        raise WorkerStopped

    monkeypatch.setattr(engine, "dispatch_one", then_stop)
    with pytest.raises(WorkerStopped):
        evaluate(app, m)
    with app.app_context(), db.tenant_session(m.tenant_id) as s:
        row = s.scalars(select(RuleDispatch).where(RuleDispatch.rule_id == rule_id)).one()
        audit_id = s.scalars(select(AuditEntry.id).where(AuditEntry.surface == "rule")).one()
        assert (row.state, row.audit_id) == ("ok", audit_id)
        assert row.message and row.message.startswith("Alert #")


def emit_failed_runs(app: Flask, m: Msp, count_: int, *, failures: int = 3, days_ago: float = 0) -> list[int]:
    """``count_`` backup.failed events straight into the event table, as the alert refresh writes them."""

    when = NOW - timedelta(days=days_ago)
    rows = [
        {
            "tenant_id": m.tenant_id,
            "trigger": "backup.failed",
            "customer_id": m.customer_id,
            "connection_id": m.veeam,
            "subject_type": "backup_job",
            "subject_id": 10_000 + n,
            "title": f"Job {n}: backup failed",
            "data": backup_data(
                source="Veeam",
                name=f"Job {n}",
                kind="Backup",
                vendor_type="BackupVm",
                protected_object=None,
                state="failed",
                consecutive_failures=failures + n % 3,
                last_success_at=when - timedelta(hours=n % 72),
                last_attempt_at=when,
                message="Disk full" if n % 2 else None,
                now=when,
            ),
            "dedup_key": f"test:{uuid4()}",
            "occurred_at": when,
        }
        for n in range(count_)
    ]
    with app.app_context(), db.tenant_session(m.tenant_id) as s:
        emit(s, rows)
        return list(s.scalars(select(RuleEvent.id).where(RuleEvent.dedup_key.in_([r["dedup_key"] for r in rows]))))


def evaluate(app: Flask, m: Msp) -> engine.Evaluated:
    with app.test_request_context(), db.tenant_session(m.tenant_id) as s:
        return engine.evaluate_pending(s, m.tenant_id)


MIXED = {
    "trigger": "backup.failed",
    "conditions": {
        "type": "group",
        "match": "all",
        "items": [
            {"type": "leaf", "field": "job.consecutive_failures", "op": "gte", "value": 4},
            {
                "type": "group",
                "match": "any",
                "items": [
                    {"type": "leaf", "field": "job.message", "op": "contains", "value": "disk"},
                    {"type": "leaf", "field": "job.hours_since_success", "op": "gt", "value": 48},
                ],
            },
            {"type": "predicate", "name": "no_suppression", "params": {"condition": "backup_failed"}},
        ],
    },
    "actions": [{"type": "create_alert", "params": {"severity": "warning", "message": "{job.name}: {job.message}"}}],
    "cooldown_minutes": 0,
    "breaker": {"limit": 1000, "minutes": 5},
}


def decisions(app: Flask, m: Msp, rule_id: int) -> set[tuple[Any, ...]]:

    with app.app_context(), db.tenant_session(m.tenant_id) as s:
        fires = {f.id: f for f in s.scalars(select(RuleFire).where(RuleFire.rule_id == rule_id))}
        steps: dict[int, list[tuple[str, str]]] = {}
        for d in s.scalars(select(RuleDispatch).where(RuleDispatch.rule_id == rule_id).order_by(RuleDispatch.id)):
            steps.setdefault(d.fire_id, []).append((d.verb, json.dumps(d.payload, sort_keys=True)))
        return {(f.event_id, json.dumps(f.leaves, sort_keys=True), tuple(steps.get(f.id, []))) for f in fires.values()}


def test_parity_the_same_events_through_a_dry_run_and_a_live_copy_decide_the_same(app: Flask) -> None:
    m = msp(app)
    dry = make_rule(app, m, MIXED, name="Copy in dry-run")
    live = make_rule(app, m, MIXED, live=True, name="Copy live")
    emit_failed_runs(app, m, 100)
    done = evaluate(app, m)
    assert done.events == 100
    dry_set, live_set = decisions(app, m, dry), decisions(app, m, live)
    assert 0 < len(dry_set) < 100  # some fire, some do not: the comparison means something
    assert dry_set == live_set
    states = {state for state, _ in dispatches(app, m, dry)} | {state for state, _ in dispatches(app, m, live)}
    assert states == {"dry_run", "ok"}
    assert count(app, m, Alert, Alert.condition == f"rule:{live}") == len(live_set)
    assert count(app, m, Alert, Alert.condition == f"rule:{dry}") == 0


def test_a_retried_job_never_fires_twice(app: Flask) -> None:
    m = msp(app)
    rule_id = make_rule(app, m, FAILED_TO_ALERT, live=True)
    [event_id] = emit_failed_runs(app, m, 1)
    evaluate(app, m)
    # The job runs again as if its first run died after deciding: the event is pending once more.
    with app.app_context(), db.tenant_session(m.tenant_id) as s:
        s.execute(update(RuleEvent).where(RuleEvent.id == event_id).values(evaluated_at=None))
    evaluate(app, m)
    refresh(app, m)
    assert count(app, m, RuleFire, RuleFire.rule_id == rule_id) == 1
    assert [state for state, _ in dispatches(app, m, rule_id)] == ["ok"]
    assert count(app, m, AuditEntry, AuditEntry.surface == "rule", AuditEntry.action == "alert.raise") == 1


def test_the_circuit_breaker_pauses_a_rule_and_tells_its_owner(app: Flask) -> None:

    m = msp(app)
    with app.app_context(), db.system_session() as s:
        owner = User(tenant_id=m.tenant_id, email="owner@breaker.test", name="Owner", role="admin", password_hash="x")
        s.add(owner)
        s.flush()
        owner_actor = Actor("user", str(owner.id), owner.email, "admin")
    definition = {**FAILED_TO_ALERT, "breaker": {"limit": 3, "minutes": 5}}
    with app.test_request_context(), db.tenant_session(m.tenant_id) as s:
        outcome = perform(
            "rule.create", Target("rule", None, "Noisy"), {"name": "Noisy", "definition": definition},
            actor=owner_actor, surface="ui", session=s, tenant_id=m.tenant_id,
        )  # fmt: skip
        rule_id = int(outcome.response["rule_id"])
        perform(
            "rule.enable",
            Target("rule", str(rule_id), "Noisy"),
            {},
            actor=owner_actor,
            surface="ui",
            session=s,
            tenant_id=m.tenant_id,
        )
    emit_failed_runs(app, m, 6)
    evaluate(app, m)
    states = [state for state, _ in dispatches(app, m, rule_id)]
    assert states[:3] == ["ok", "ok", "ok"] and states[3] == "breaker"
    assert set(states[4:]) == {"paused"}  # nothing after the trip is sent
    with app.app_context(), db.tenant_session(m.tenant_id) as s:
        rule = s.get(Rule, rule_id)
        assert rule is not None and rule.mode == "paused" and "Circuit breaker" in (rule.paused_reason or "")
        assert (
            s.scalar(select(func.count()).select_from(OutboxMail).where(OutboxMail.to_address == "owner@breaker.test"))
            == 1
        )


def test_a_cooldown_keeps_a_rule_off_the_same_target(app: Flask) -> None:
    m = msp(app)
    definition = {
        **FAILED_TO_ALERT,
        "actions": [{"type": "send_email", "params": {"to": "noc@harbor.test", "subject": "{title}"}}],
        "cooldown_minutes": 30,
    }
    rule_id = make_rule(app, m, definition, live=True)
    emit_failed_runs(app, m, 3)
    evaluate(app, m)
    assert [state for state, _ in dispatches(app, m, rule_id)] == ["ok", "cooldown", "cooldown"]


def test_a_backlog_in_small_batches_gates_its_dry_runs_as_batches_read_afresh_would(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dry runs' gate keeps what it read and recorded from batch to batch of a run; reading everything
    again before each batch (as it once did) must decide every dispatch the same way."""
    m = msp(app)
    mail = {"type": "send_email", "params": {"to": "noc@harbor.test", "subject": "{title}"}}
    alert = {"type": "create_alert", "params": {"severity": "info", "message": "{title}"}}
    shapes = [
        {"actions": [mail], "cooldown_minutes": 30},  # one target: the cooldown holds most back
        {"actions": [alert, mail], "cooldown_minutes": 0, "breaker": {"limit": 7, "minutes": 5}},
        {"actions": [alert], "cooldown_minutes": 10, "breaker": {"limit": 4, "minutes": 1}},
    ]
    rules = [make_rule(app, m, {**FAILED_TO_ALERT, **shape}, name=f"Rule {n}") for n, shape in enumerate(shapes)]
    moment = datetime.now(UTC)
    emit_failed_runs(app, m, 3)
    with app.test_request_context(), db.tenant_session(m.tenant_id) as s:
        engine.evaluate_pending(s, m.tenant_id, now=moment - timedelta(minutes=3))  # known before the run
    emit_failed_runs(app, m, 23)

    def drained() -> list[tuple[str, str | None]]:
        with app.test_request_context(), db.tenant_session(m.tenant_id) as s:
            engine.evaluate_pending(s, m.tenant_id, limit=4, now=moment)
        with app.app_context(), db.tenant_session(m.tenant_id) as s:
            found = s.execute(
                select(RuleDispatch.idempotency_key, RuleDispatch.state, RuleDispatch.message)
                .where(
                    RuleDispatch.rule_id.in_(rules),
                    RuleDispatch.dispatched_at.is_(None) | (RuleDispatch.dispatched_at >= moment),
                )
                .order_by(RuleDispatch.idempotency_key)
            ).all()
            fresh = select(RuleEvent.id).where(RuleEvent.evaluated_at >= moment - timedelta(seconds=1))
            s.execute(delete(RuleFire).where(RuleFire.event_id.in_(fresh)))
            s.execute(update(RuleEvent).where(RuleEvent.id.in_(fresh)).values(evaluated_at=None))
        return [(f"{key} {state}", message) for key, state, message in found]

    kept = drained()
    original = engine.write_fires

    def afresh_each_batch(*args: Any, memory: engine.Remembered | None = None, **kwargs: Any) -> int:
        return original(*args, **kwargs)

    monkeypatch.setattr(engine, "write_fires", afresh_each_batch)
    afresh = drained()
    assert kept == afresh
    states = {key.split()[1] for key, _ in kept}
    assert states == {"dry_run", "cooldown", "breaker"}, states  # the test covers what the gate decides


def test_edits_make_versions_and_fires_name_the_version_they_ran_under(app: Flask) -> None:

    m = msp(app)
    rule_id = make_rule(app, m, FAILED_TO_ALERT)
    emit_failed_runs(app, m, 1)
    evaluate(app, m)
    edited = {**FAILED_TO_ALERT, "conditions": MIXED["conditions"]}
    with app.test_request_context(), db.tenant_session(m.tenant_id) as s:
        outcome = perform(
            "rule.update", Target("rule", str(rule_id), "Test rule"), {"name": "Test rule", "definition": edited},
            actor=ADMIN, surface="ui", session=s, tenant_id=m.tenant_id,
        )  # fmt: skip
        assert outcome.ok and outcome.response["version"] == 2
        same = perform(
            "rule.update", Target("rule", str(rule_id), "Test rule"), {"name": "Test rule", "definition": edited},
            actor=ADMIN, surface="ui", session=s, tenant_id=m.tenant_id,
        )  # fmt: skip
        assert same.result == "failed" and "Nothing changed" in same.message
    emit_failed_runs(app, m, 2, failures=5)  # the second has "Disk full": it passes version 2
    evaluate(app, m)
    with app.app_context(), db.tenant_session(m.tenant_id) as s:
        assert sorted(s.scalars(select(RuleFire.version).where(RuleFire.rule_id == rule_id))) == [1, 2]
        assert s.scalar(select(func.count()).select_from(RuleVersion).where(RuleVersion.rule_id == rule_id)) == 2
        latest = history.versions(s, rule_id)[0]
        assert latest.version.version == 2
        assert ("-", "If: always") in latest.diff
        assert any(sign == "+" and line.startswith("If: Failed runs in a row") for sign, line in latest.diff)


def test_a_backtest_lists_what_a_draft_would_have_done_over_stored_events(app: Flask) -> None:

    m = msp(app)
    emit_failed_runs(app, m, 10, days_ago=3)
    emit_failed_runs(app, m, 10, days_ago=12)
    with app.app_context(), db.tenant_session(m.tenant_id) as s:
        week = engine.trial(s, m.tenant_id, MIXED, history.sample(s, m.tenant_id, MIXED, days=7, limit=2000))
        month = engine.trial(s, m.tenant_id, MIXED, history.sample(s, m.tenant_id, MIXED, days=30, limit=2000))
        assert len(week) == 10 and len(month) == 20
        hits = [t for t in week if t.would_fire]
        assert 0 < len(hits) < 10
        assert all(t.steps[0]["verb"] == "alert.raise" for t in hits)
        assert all(len(t.explanation.leaves) == 4 for t in week)  # every leaf, whatever the outcome
    assert count(app, m, RuleFire) == 0 and count(app, m, Alert) == 0  # a backtest writes nothing


def test_a_stale_rule_fires_once_per_spell_with_its_own_threshold(app: Flask) -> None:
    m = msp(app)
    definition = {
        "trigger": "backup.stale",
        "params": {"threshold_hours": 24},
        "actions": [{"type": "create_alert", "params": {"severity": "warning"}}],
        "cooldown_minutes": 0,
    }
    rule_id = make_rule(app, m, definition)
    stale = job(
        app,
        m,
        m.keepit,
        "Exchange Online",
        state="stopped",
        success=NOW - timedelta(hours=30),
        attempt=NOW - timedelta(hours=1),
    )
    job(app, m, m.keepit, "OneDrive", state="success", success=NOW - timedelta(hours=3))
    refresh(app, m)
    refresh(app, m)
    assert count(app, m, RuleFire, RuleFire.rule_id == rule_id) == 1
    # It succeeds, then goes quiet again: a new spell, a new fire.
    set_status(app, m, stale, last_success_at=NOW - timedelta(hours=26))
    refresh(app, m)
    assert count(app, m, RuleFire, RuleFire.rule_id == rule_id) == 2


def test_no_open_ticket_and_no_suppression_read_the_other_systems(app: Flask) -> None:

    m, quiet = msp(app), msp(app, "Quiet Co")
    psa = add_connection(app, m.tenant_id, "connectwise", {}).connection_id
    with app.app_context(), db.tenant_session(m.tenant_id) as s:
        board = TicketBoard(tenant_id=m.tenant_id, connection_id=psa, external_id="1", name="Service Desk")
        s.add(board)
        s.flush()
        s.add(Ticket(
            tenant_id=m.tenant_id, connection_id=psa, customer_id=m.customer_id, external_id="501",
            summary="Backups failing", board_id=board.id, status_name="New", opened_at=NOW - timedelta(hours=2),
            vendor_updated_at=NOW,
        ))  # fmt: skip
        s.add(AlertMute(
            tenant_id=m.tenant_id, customer_id=m.customer_id, condition="backup_failed", until=NOW + timedelta(hours=4),
            reason="Migration", created_by="tech",
        ))  # fmt: skip
        s.flush()
        record = {"customer.id": m.customer_id}
        # Issue 16, finding 5: before the PSA has finished a sync, "no open ticket" is not known.
        assert Resolver(s, [m.customer_id], NOW)("no_open_ticket", {"hours": 24}, record)[0] is None
        s.add(SyncRun(tenant_id=m.tenant_id, connection_id=psa, trigger="schedule", status="succeeded"))
        s.flush()
        resolve = Resolver(s, [m.customer_id], NOW)
        assert resolve("no_open_ticket", {"hours": 24}, record) == (
            False,
            f"#501 opened {when(NOW - timedelta(hours=2))}",
        )
        assert resolve("no_open_ticket", {"hours": 1}, record)[0] is True  # opened before the window
        assert resolve("no_suppression", {"condition": "backup_failed"}, record)[0] is False
        assert resolve("no_suppression", {"condition": "backup_stale"}, record)[0] is True
    with app.app_context(), db.tenant_session(quiet.tenant_id) as s:
        other = Resolver(s, [quiet.customer_id], NOW)  # no PSA at all: Vectis cannot tell
        assert other("no_open_ticket", {"hours": 24}, {"customer.id": quiet.customer_id}) == (
            None,
            "no PSA has finished a sync yet, so Vectis cannot tell",
        )


def test_templates_land_as_valid_drafts(app: Flask) -> None:

    m = msp(app)
    for key, template in templates.TEMPLATES.items():
        assert problems(template.definition) == [], key
        rule_id = make_rule(app, m, template.definition, name=template.name)
        with app.app_context(), db.tenant_session(m.tenant_id) as s:
            rule = s.get(Rule, rule_id)
            assert rule is not None and rule.mode == "dry_run" and rule.version == 1


def test_the_builder_form_round_trips_a_nested_definition() -> None:
    form = MultiDict(
        [
            ("name", "Nested"), ("trigger", "backup.failed"),
            ("c.r.type", "group"), ("c.r.match", "all"),
            ("c.r.0.type", "leaf"), ("c.r.0.field", "job.state"), ("c.r.0.op", "in"),
            ("c.r.0.value", "failed"), ("c.r.0.value", "warning"),
            ("c.r.1.type", "group"), ("c.r.1.match", "any"),
            ("c.r.1.0.type", "leaf"), ("c.r.1.0.field", "job.last_success_at"), ("c.r.1.0.op", "older_than"),
            ("c.r.1.0.value", "2"), ("c.r.1.0.value2", "days"),
            ("c.r.1.1.type", "predicate"), ("c.r.1.1.name", "no_open_ticket"), ("c.r.1.1.p.hours", "12"),
            ("c.r.1.1.negate", "on"),
            ("a.0.type", "add_ticket_note"), ("a.0.p.text", "x"),  # not for a backup trigger: validation says so
            ("a.1.type", "create_alert"), ("a.1.p.severity", "info"),
            ("scope", "customers"), ("scope_ids", "7"), ("cooldown_minutes", "15"),
        ]
    )  # fmt: skip
    name, definition = builder.from_form(form)
    assert name == "Nested" and definition["scope"] == {"kind": "customers", "ids": [7]}
    group = definition["conditions"]["items"][1]
    assert definition["conditions"]["items"][0]["value"] == ["failed", "warning"]
    assert group["match"] == "any" and group["items"][0]["value"] == {"amount": "2", "unit": "days"}
    assert group["items"][1] == {
        "type": "predicate",
        "name": "no_open_ticket",
        "params": {"hours": "12"},
        "negate": True,
    }

    assert problems(definition) == ["Action 1: “Add a note to the ticket” needs a trigger about a ticket."]
    builder.apply(definition, "remove:r.1.0")
    builder.apply(definition, "add-group:r.1")
    assert [n["type"] for n in definition["conditions"]["items"][1]["items"]] == ["predicate", "group"]


def test_a_rule_is_not_triggered_again_by_what_its_own_action_caused(app: Flask) -> None:
    m = msp(app)
    echo = {
        "trigger": "alert.created",
        "actions": [{"type": "create_alert", "params": {"severity": "info", "message": "Seen: {alert.subject}"}}],
        "cooldown_minutes": 0,
    }
    rule_id = make_rule(app, m, echo, live=True)
    job(app, m, m.veeam, "FS01 Daily", state="failed", success=NOW - timedelta(hours=3))
    refresh(app, m)  # Vectis's alert -> the rule raises its own -> whose alert.created names the rule
    refresh(app, m)
    assert count(app, m, RuleEvent, RuleEvent.trigger == "alert.created") == 2
    assert count(app, m, RuleFire, RuleFire.rule_id == rule_id) == 1


def test_a_cooldown_never_holds_back_the_second_action_of_the_same_fire(app: Flask) -> None:
    m = msp(app)
    both = {
        **FAILED_TO_ALERT,
        "actions": [
            {"type": "send_email", "params": {"to": "noc@harbor.test", "subject": "First"}},
            {"type": "send_email", "params": {"to": "noc@harbor.test", "subject": "Second"}},
        ],
        "cooldown_minutes": 60,
    }
    rule_id = make_rule(app, m, both, live=True)
    emit_failed_runs(app, m, 1)
    evaluate(app, m)
    assert [state for state, _ in dispatches(app, m, rule_id)] == ["ok", "ok"]


def test_a_mute_that_runs_out_gives_the_alert_back(app: Flask) -> None:

    m = msp(app)
    failed = job(app, m, m.veeam, "FS01 Daily", state="failed", success=NOW - timedelta(hours=3))
    refresh(app, m)
    with app.test_request_context(), db.tenant_session(m.tenant_id) as s:
        alert_id = s.scalars(select(Alert.id).where(Alert.subject_id == failed)).one()
        target = Target("alert", str(alert_id), "FS01 Daily")
        muted = perform(
            "alert.mute", target, {"hours": "2", "reason": "Repository migration"},
            actor=ADMIN, surface="ui", session=s, tenant_id=m.tenant_id,
        )  # fmt: skip
        assert muted.ok, muted.message
    refresh(app, m)
    assert alerts(app, m) == [("backup_failed", "muted", failed)]
    with app.app_context(), db.tenant_session(m.tenant_id) as s:
        s.execute(update(AlertMute).values(until=NOW - timedelta(minutes=1)))
    refresh(app, m)
    assert alerts(app, m) == [("backup_failed", "open", failed)]
    assert count(app, m, RuleEvent, RuleEvent.trigger == "alert.created") == 1  # opened; given back is not news


def test_numbers_a_rule_cannot_run_with_are_refused_in_words() -> None:

    base = {**FAILED_TO_ALERT}
    assert problems({**base, "cooldown_minutes": 2_000_000_000}) == [
        "The cooldown is a number of minutes from 0 (none) to 43,200 (30 days)."
    ]
    assert problems({**base, "breaker": {"limit": "nan", "minutes": 5}})[0].startswith("The circuit breaker needs")
    stale = {"trigger": "backup.stale", "params": {"threshold_hours": "1e400"}, "actions": base["actions"]}
    assert problems(stale) == ["Threshold (hours) should be a number above 0 and at most 8,760."]
    ticket = {**base, "actions": [{"type": "create_ticket", "params": {"board_id": "x"}}]}
    assert problems(ticket) == ["Action 1: choose the board and priority from the lists."]
    # A digit to str.isdigit, not a number to int(): saved, it broke every page describing the rule's actions.
    superscript = {**base, "actions": [{"type": "create_ticket", "params": {"board_id": "²"}}]}
    assert problems(superscript) == ["Action 1: choose the board and priority from the lists."]


def test_an_id_that_is_no_number_is_described_as_no_board(app: Flask) -> None:
    m = msp(app)
    with app.app_context(), db.tenant_session(m.tenant_id) as s:
        text = describe_action({"type": "create_ticket", "params": {"board_id": "²", "priority_id": "³"}}, Names(s))
    assert text.sentence.startswith("Create a ticket")


def test_a_dry_run_keeps_the_same_cooldown_and_breaker_across_batches_without_pausing(app: Flask) -> None:
    m = msp(app)
    mail = {
        **FAILED_TO_ALERT,
        "actions": [{"type": "send_email", "params": {"to": "noc@harbor.test", "subject": "{title}"}}],
        "cooldown_minutes": 30,
    }
    noisy = {**FAILED_TO_ALERT, "breaker": {"limit": 3, "minutes": 5}}
    cooled, tripped = make_rule(app, m, mail, name="Cooled"), make_rule(app, m, noisy, name="Tripped")
    emit_failed_runs(app, m, 3)
    evaluate(app, m)
    emit_failed_runs(app, m, 2)  # a later batch: what the first recorded still counts
    evaluate(app, m)
    assert [state for state, _ in dispatches(app, m, cooled)] == ["dry_run"] + ["cooldown"] * 4
    assert [state for state, _ in dispatches(app, m, tripped)] == ["dry_run"] * 3 + ["breaker"] * 2
    with app.app_context(), db.tenant_session(m.tenant_id) as s:
        rule = s.get(Rule, tripped)
        assert rule is not None and rule.mode == "dry_run"  # a dry run only records that it would trip


def test_a_time_based_backtest_replays_stored_findings_its_threshold_would_have_made(app: Flask) -> None:

    m = msp(app)
    definition = {
        "trigger": "backup.stale",
        "params": {"threshold_hours": 24},
        "actions": [{"type": "create_alert", "params": {"severity": "warning"}}],
    }
    make_rule(app, m, definition)
    stale = job(
        app,
        m,
        m.keepit,
        "Exchange Online",
        state="stopped",
        success=NOW - timedelta(hours=30),
        attempt=NOW - timedelta(hours=1),
    )
    refresh(app, m)  # the 24 h rule's scan stores the finding
    set_status(app, m, stale, state="success", last_success_at=datetime.now(UTC))  # healthy now: a scan finds nothing
    with app.app_context(), db.tenant_session(m.tenant_id) as s:
        for threshold, expected in ((24, 1), (48, 0)):
            draft = {**definition, "params": {"threshold_hours": threshold}}
            trials = engine.trial(s, m.tenant_id, draft, history.sample(s, m.tenant_id, draft, days=7, limit=100))
            assert [t.would_fire for t in trials] == [True] * expected, threshold
            assert all(t.steps and t.steps[0]["verb"] == "alert.raise" for t in trials)  # with the call it would make


def test_a_rule_scoped_to_a_tag_covers_the_customers_tagged_later_too(app: Flask) -> None:
    m = msp(app)
    scoped = {**FAILED_TO_ALERT, "scope": {"kind": "tag", "tag": "managed"}}
    rule_id = make_rule(app, m, scoped)
    emit_failed_runs(app, m, 1)
    evaluate(app, m)
    assert count(app, m, RuleFire, RuleFire.rule_id == rule_id) == 0  # not tagged yet
    with app.test_request_context(), db.tenant_session(m.tenant_id) as s:
        tagged = perform(
            "customer.tags", Target("customer", str(m.customer_id), "Harbor Dental"), {"tags": "Managed, VIP"},
            actor=ADMIN, surface="ui", session=s, tenant_id=m.tenant_id,
        )  # fmt: skip
        assert tagged.ok and tagged.response["after"] == ["managed", "vip"]
    emit_failed_runs(app, m, 1)
    evaluate(app, m)
    assert count(app, m, RuleFire, RuleFire.rule_id == rule_id) == 1


def test_a_rule_over_a_psa_that_has_not_synced_records_unknown_and_sends_nothing(app: Flask) -> None:
    """Issue 16, finding 5: every seeded rule said "Would fire" and "found no ticket opened in that window"
    before ConnectWise had ever synced: that was a guess, not a finding."""
    m = msp(app)
    psa = add_connection(app, m.tenant_id, "connectwise", {}).connection_id
    definition = {
        **FAILED_TO_ALERT,
        "conditions": {"type": "group", "match": "all", "items": [
            {"type": "predicate", "name": "no_open_ticket", "params": {"hours": 24}},
        ]},
    }  # fmt: skip
    rule_id = make_rule(app, m, definition, live=True)
    emit_failed_runs(app, m, 1)
    evaluate(app, m)
    with app.app_context(), db.tenant_session(m.tenant_id) as s:
        fire = s.scalars(select(RuleFire).where(RuleFire.rule_id == rule_id)).one()
        leaves = fire.leaves
        assert [leaf["result"] for leaf in leaves] == [None]
        dispatches = s.execute(
            select(RuleDispatch.state, RuleDispatch.message).where(RuleDispatch.fire_id == fire.id)
        ).all()
        assert [d.state for d in dispatches] == ["skipped"]
        assert "is unknown (no PSA has finished a sync yet" in (dispatches[0].message or "")
        assert s.scalar(select(func.count()).select_from(Alert).where(Alert.condition.like("rule:%"))) == 0
        s.add(SyncRun(tenant_id=m.tenant_id, connection_id=psa, trigger="schedule", status="succeeded"))
    emit_failed_runs(app, m, 1)  # once the PSA has synced, the same rule can tell: no ticket, so it fires
    evaluate(app, m)
    with app.app_context(), db.tenant_session(m.tenant_id) as s:
        latest = s.scalars(select(RuleFire).where(RuleFire.rule_id == rule_id).order_by(RuleFire.id.desc())).first()
        assert latest is not None and [leaf["result"] for leaf in latest.leaves] == [True]
    with app.test_request_context():
        shown = render_template("rules/_leaves.html", leaves=leaves)
    assert "leaf-unknown" in shown and "unknown: no PSA has finished a sync yet" in shown


def test_a_one_day_backtest_says_day_not_days(app: Flask, acme: TenantFixture) -> None:
    """Issue 16: "the last 1 day" read "the last 1 days"."""
    rule = pid(app, "rule", a_rule(app, acme.id))
    admin = login(app, acme)
    one = admin.get(f"/rules/{rule}?tab=backtest&days=1").get_data(as_text=True)
    many = admin.get(f"/rules/{rule}?tab=backtest&days=7").get_data(as_text=True)
    assert "the last 1 day" in one and "the last 1 days" not in one
    assert "the last 7 days" in many


# --- texts: placeholders with nothing in them, actions in words, restoring a version (issue 16) -------------

# Every field a rule's text can name, and what it reads as when the event has nothing for it.
EMPTY_READS = {
    "job.name": "an unnamed job",
    "job.kind": "unknown",
    "job.vendor_type": "unknown",
    "job.protected_object": "unknown",
    "job.state": "unknown",
    "job.consecutive_failures": "unknown",
    "job.last_success_at": "never",
    "job.last_attempt_at": "never",
    "job.hours_since_success": "unknown",
    "job.message": "none",
    "source": "unknown",
    "customer.name": "an unmatched account",
    "customer.location": "unknown",
    "ticket.number": "unknown",
    "ticket.summary": "(no summary)",
    "ticket.status": "unknown",
    "ticket.previous_status": "none",
    "ticket.board": "unknown",
    "ticket.priority": "no priority",
    "ticket.assignee": "unassigned",
    "ticket.contact": "no contact",
    "ticket.closed": "no",
    "ticket.opened_at": "unknown",
    "ticket.updated_at": "unknown",
    "ticket.days_unchanged": "unknown",
    "alert.condition": "unknown",
    "alert.severity": "unknown",
    "alert.subject": "unknown",
    "alert.message": "none",
    "alert.class": "unknown",
    "device.name": "an unnamed device",
    "device.class": "unknown",
    "detection.severity": "unknown",
    "detection.title": "unknown",
    "detection.classification": "unknown",
    "subscription.product": "unknown",
    "subscription.sku": "no SKU",
    "subscription.seats": "unknown",
    "subscription.seats_before": "unknown",
    "subscription.change": "unknown",
    "subscription.term": "unknown",
    "device.os": "unknown",
    "device.user": "no user",
    "device.failing_policies": "none",
    "policy.name": "unknown",
    "policy.state": "unknown",
    "policy.was": "unknown",
    "policy.for_admins": "no",
    "score.current": "unknown",
    "score.change": "unknown",
    "score.percent": "unknown",
}
ALL_FIELDS = {f.key: f for t in catalog().values() for f in t.fields}


def test_every_field_a_text_can_name_has_a_word_for_nothing() -> None:
    assert set(EMPTY_READS) == set(ALL_FIELDS), "a new trigger field needs its word for an empty value"


@pytest.mark.parametrize("key", sorted(EMPTY_READS))
@pytest.mark.parametrize("empty", [None, "", "   ", "missing"])
def test_an_empty_placeholder_reads_as_its_fields_word(key: str, empty: str | None) -> None:
    """Issue 16: "Last success: ." where a placeholder had no value."""
    record = {} if empty == "missing" else {key: empty}
    assert fill(f"[{{{key}}}]", record, ALL_FIELDS) == f"[{EMPTY_READS[key]}]"


def test_placeholders_read_as_people_write_them() -> None:
    record = {
        "job.last_success_at": "2025-11-22T05:56:00+00:00",
        "event.occurred_at": datetime(2025, 11, 24, 18, 27, tzinfo=UTC),
        "job.hours_since_success": 52.0,
        "job.consecutive_failures": 3,
        "ticket.closed": True,
        "alert.severity": "critical",
        "customer.tags": ["managed", "vip"],
        "title": "FS01 Daily: backup failed",
    }
    text = (
        "{title}. Last success: {job.last_success_at} ({job.hours_since_success} h, {job.consecutive_failures} runs)."
        " Seen {event.occurred_at}. Closed: {ticket.closed}. {alert.severity}. Tags: {customer.tags}. {job.nmae}"
    )
    assert fill(text, record, ALL_FIELDS) == (
        "FS01 Daily: backup failed. Last success: 22 Nov 2025 05:56 UTC (52 h, 3 runs). Seen 24 Nov 2025 18:27 UTC."
        " Closed: yes. Critical. Tags: managed, vip. {job.nmae}"  # a typo stays visible to its author
    )


def test_the_text_sent_and_its_preview_say_never_instead_of_nothing(app: Flask) -> None:
    m = msp(app)
    definition = {
        **FAILED_TO_ALERT,
        "actions": [
            {
                "type": "create_alert",
                "params": {"message": "{job.name}. Last success: {job.last_success_at}. Vendor said: {job.message}."},
            }
        ],
    }
    rule_id = make_rule(app, m, definition)
    job(app, m, m.veeam, "FS01 Daily", state="failed", success=None)  # never succeeded, no vendor message
    refresh(app, m)
    [(state, payload)] = dispatches(app, m, rule_id)
    assert state == "dry_run"
    assert payload["message"] == "FS01 Daily. Last success: never. Vendor said: none."
    with app.app_context(), db.tenant_session(m.tenant_id) as s:
        [trial] = engine.trial(s, m.tenant_id, definition, history.sample(s, m.tenant_id, definition, days=1))
        assert trial.steps[0]["payload"]["message"] == payload["message"]  # the preview is what is sent


@dataclass
class Psa:
    connection_id: int
    board: int
    inactive_board: int
    priority: int
    closed: int
    ticket: int


def psa(app: Flask, m: Msp) -> Psa:
    connection = add_connection(app, m.tenant_id, "connectwise", {}).connection_id
    with app.app_context(), db.tenant_session(m.tenant_id) as s:
        board = TicketBoard(tenant_id=m.tenant_id, connection_id=connection, external_id="1", name="Service Desk")
        old = TicketBoard(tenant_id=m.tenant_id, connection_id=connection, external_id="2", name="Old Projects")
        old.inactive = True
        priority = TicketPriority(tenant_id=m.tenant_id, connection_id=connection, external_id="4", name="High")
        s.add_all([board, old, priority])
        s.flush()
        closed = TicketStatus(tenant_id=m.tenant_id, board_id=board.id, external_id="9", name="Closed", closed=True)
        ticket = Ticket(
            tenant_id=m.tenant_id, connection_id=connection, customer_id=m.customer_id, external_id="48283",
            summary="Backups failing", board_id=board.id, status_name="New", opened_at=NOW, vendor_updated_at=NOW,
        )  # fmt: skip
        s.add_all([closed, ticket])
        s.flush()
        return Psa(connection, board.id, old.id, priority.id, closed.id, ticket.id)


def test_actions_read_in_words_with_the_psas_names(app: Flask) -> None:
    """Issue 16: "Create a ticket on Service Desk, priority High", never a dict or an id."""
    m = msp(app)
    p = psa(app, m)
    harbor = {"type": "customer", "id": str(m.customer_id), "label": "Harbor Dental"}
    long_note = "Closed by Vectis after {ticket.days_unchanged} days waiting. " * 5
    with app.app_context(), db.tenant_session(m.tenant_id) as s:
        names = Names(s)

        def said(step: dict[str, Any]) -> tuple[str, tuple[tuple[str, str], ...]]:
            text = describe_action(step, names)
            return text.sentence, text.details

        ticket = {"summary": "Backup stale: {job.name}", "board_id": str(p.board), "priority_id": str(p.priority)}
        assert said({"type": "create_ticket", "params": ticket}) == (
            "Create a ticket on Service Desk, priority High: “Backup stale: {job.name}”",
            (("Details", "Opened by a Vectis rule: {title}"),),
        )
        assert said({"type": "create_ticket", "params": {}})[0] == (
            "Create a ticket on the customer's usual board, default priority: “{title}”"
        )
        assert said({"type": "create_ticket", "params": {"board_id": "999999999"}})[0].startswith(
            "Create a ticket on board #999999999, no longer in ConnectWise PSA, default priority"
        )
        assert (
            "on Old Projects (inactive in ConnectWise PSA)"
            in said({"type": "create_ticket", "params": {"board_id": p.inactive_board}})[0]
        )
        sentence, details = said({"type": "add_ticket_note", "params": {"text": long_note, "internal": True}})
        assert sentence.startswith("Add an internal note: “Closed by Vectis after") and sentence.endswith("…”")
        assert details == (("Note", long_note.strip()),)  # the whole text, for a closer look
        assert said({"type": "add_ticket_note", "params": {"text": "Hi", "internal": False}})[0] == (
            "Add a reply the customer sees: “Hi”"
        )
        assert said({"type": "update_ticket_status", "params": {"status": "Closed"}})[0] == (
            "Change the ticket's status to Closed"
        )
        assert said({"type": "send_email", "params": {"to": "ops@harbor.example", "body": "Look"}}) == (
            "E-mail ops@harbor.example: “{title}”",
            (("Message", "Look"),),
        )
        assert said({"type": "create_alert", "params": {"severity": "critical"}})[0] == (
            "Create a critical alert: “{title}”"
        )
        assert said({"type": "acknowledge_alert", "params": {}})[0] == "Acknowledge the alert"
        assert said({"type": "mark_false_positive", "params": {"reason": "ours", "days": "30"}})[0] == (
            "Mark the detection a false positive, suppressed for 30 days: “ours”"
        )
        assert said({"type": "mark_false_positive", "params": {"reason": "ours", "days": ""}})[0] == (
            "Mark the detection a false positive, suppressed until removed: “ours”"
        )

        # What a fire did: the calls, with their targets and the names behind the ids.
        call = {"summary": "Backup stale: FS01", "board_id": p.board, "priority_id": "", "description": "x"}
        assert said({"verb": "ticket.create", "target": harbor, "payload": call})[0] == (
            "Create a ticket for Harbor Dental on Service Desk, default priority: “Backup stale: FS01”"
        )
        status = {"verb": "ticket.update_status", "target": {"type": "ticket", "id": "1", "label": "#48283"}}
        assert said({**status, "payload": {"status_id": p.closed}})[0] == "Change #48283's status to Closed"
        assert said({**status, "payload": {"status_id": 999999999}})[0] == (
            "Change #48283's status to status #999999999, no longer in ConnectWise PSA"
        )
        assert said({"skip": "The event is on no customer.", "type": "create_ticket"})[0] == (
            "Create a ticket — The event is on no customer."
        )


def test_the_rule_list_history_and_versions_name_the_board_and_priority(app: Flask) -> None:
    m = msp(app)
    p = psa(app, m)
    with app.app_context(), db.tenant_session(m.tenant_id) as s:
        s.add(SyncRun(tenant_id=m.tenant_id, connection_id=p.connection_id, trigger="schedule", status="succeeded"))
    on_board = {"summary": "{job.name}", "board_id": str(p.board)}
    ticket = {"type": "create_ticket", "params": on_board}
    ticketing = {**FAILED_TO_ALERT, "actions": [ticket, {"type": "send_email", "params": {"to": "ops@harbor.example"}}]}
    rule_id = make_rule(app, m, ticketing)
    emit_failed_runs(app, m, 1)
    evaluate(app, m)
    high = {"type": "create_ticket", "params": {**on_board, "priority_id": str(p.priority)}}
    edited = {**ticketing, "actions": [high]}
    with app.test_request_context(), db.tenant_session(m.tenant_id) as s:
        outcome = perform(
            "rule.update", Target("rule", str(rule_id), "Test rule"), {"name": "Test rule", "definition": edited},
            actor=ADMIN, surface="ui", session=s, tenant_id=m.tenant_id,
        )  # fmt: skip
        assert outcome.ok, outcome.message
    with app.test_request_context(), db.tenant_session(m.tenant_id) as s:
        [row] = history.rule_list(s)
        assert row.actions == ["Create a ticket on Service Desk, priority High: “{job.name}”"]
        latest = history.versions(s, rule_id)[0]
        assert ("-", "Then 1: Create a ticket on Service Desk, default priority: “{job.name}”") in latest.diff
        assert ("+", "Then 1: Create a ticket on Service Desk, priority High: “{job.name}”") in latest.diff
        assert ("-", "Then 2: E-mail ops@harbor.example: “{title}”") in latest.diff
        [fire] = history.fires(s, rule_id)
        names = Names(s)
        shown = "".join(
            render_template(
                "rules/_step.html",
                step={"verb": d.verb, "target": d.target, "payload": d.payload},
                state=d.state,
                say=lambda step: describe_action(step, names),
            )
            for d in fire.dispatches
        )
    assert "Create a ticket for Harbor Dental on Service Desk, default priority: “Job 0”" in shown
    assert "E-mail ops@harbor.example: “Job 0: backup failed”" in shown
    assert "board_id" not in shown and "{" not in shown  # no dict, no id


def restore(app: Flask, m: Msp, rule_id: int, version: int) -> Any:
    with app.test_request_context(), db.tenant_session(m.tenant_id) as s:
        return perform(
            "rule.restore", Target("rule", str(rule_id), "Test rule"), {"version": version},
            actor=ADMIN, surface="ui", session=s, tenant_id=m.tenant_id,
        )  # fmt: skip


@pytest.mark.parametrize("live", [False, True])
def test_restoring_a_version_makes_a_new_one_with_its_definition_and_keeps_the_mode(app: Flask, live: bool) -> None:
    m = msp(app)
    rule_id = make_rule(app, m, FAILED_TO_ALERT, live=live)
    emit_failed_runs(app, m, 1)
    evaluate(app, m)
    with app.test_request_context(), db.tenant_session(m.tenant_id) as s:
        edited = perform(
            "rule.update", Target("rule", str(rule_id), "Test rule"), {"name": "Test rule", "definition": MIXED},
            actor=ADMIN, surface="ui", session=s, tenant_id=m.tenant_id,
        )  # fmt: skip
        assert edited.ok
    outcome = restore(app, m, rule_id, 1)
    assert outcome.ok, outcome.message
    mode = "It stays live: version 3 acts on the next event." if live else "It stays in dry-run"
    assert outcome.message.startswith("Restored version 1 of “Test rule” as version 3.") and mode in outcome.message
    emit_failed_runs(app, m, 1)
    evaluate(app, m)
    with app.app_context(), db.tenant_session(m.tenant_id) as s:
        rule = s.get(Rule, rule_id)
        assert rule is not None and rule.version == 3 and rule.mode == ("live" if live else "dry_run")
        versions = {v.version: v for v in s.scalars(select(RuleVersion).where(RuleVersion.rule_id == rule_id))}
        assert sorted(versions) == [1, 2, 3]  # append-only: nothing rewritten
        assert versions[3].definition == versions[1].definition and versions[3].restored_from == 1
        assert versions[2].definition != versions[1].definition
        assert sorted(s.scalars(select(RuleFire.version).where(RuleFire.rule_id == rule_id))) == [1, 3]
        audit = s.scalars(select(AuditEntry).where(AuditEntry.action == "rule.restore")).one()
        assert (audit.result, audit.target_id, audit.payload["request"]) == ("ok", str(rule_id), {"version": 1})
        assert ("+", "If: always") in history.versions(s, rule_id)[0].diff  # version 3 against version 2
    # Nothing to do: the current version, one identical to the current, or one that never was.
    assert "already the current one" in restore(app, m, rule_id, 3).message
    assert "already does exactly what version 1 did" in restore(app, m, rule_id, 1).message
    assert restore(app, m, rule_id, 9).message == "The rule has no such version."
    with app.app_context(), db.tenant_session(m.tenant_id) as s:
        assert s.scalar(select(func.count()).select_from(RuleVersion).where(RuleVersion.rule_id == rule_id)) == 3


def test_restore_from_the_versions_tab_confirms_and_flashes_what_it_did(app: Flask, acme: TenantFixture) -> None:
    rule_id = a_rule(app, acme.id, mode="dry_run")
    rule = pid(app, "rule", rule_id)
    admin = login(app, acme)
    page = admin.get(f"/rules/{rule}/edit").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    form = MultiDict(
        [("csrf_token", token[1]), ("name", "Object route rule"), ("trigger", "backup.failed"),
         ("c.r.type", "group"), ("c.r.match", "all"), ("a.0.type", "create_alert"), ("a.0.p.severity", "critical"),
         ("a.0.p.message", "Edited")]
    )  # fmt: skip
    assert admin.post(f"/rules/{rule}/edit", data=form).status_code == 302
    versions = admin.get(f"/rules/{rule}?tab=versions").get_data(as_text=True)
    assert versions.count("Restore this version") == 1  # version 1 only: version 2 is current
    assert "The rule stays in dry-run: it records what it would do and sends nothing." in versions
    assert 'data-confirm="Restore version 1? Vectis saves its definition as version 3' in versions
    answer = admin.post(f"/rules/{rule}/restore", data={"csrf_token": token[1], "version": "1"})
    assert answer.status_code == 302 and answer.headers["Location"].endswith("tab=versions")
    after = admin.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Restored version 1 of “Object route rule” as version 3. It stays in dry-run" in after
    assert "restored from version 1" in after
    viewer = login(app, acme, "viewer@acme.test")
    assert "Restore this version" not in viewer.get(f"/rules/{rule}?tab=versions").get_data(as_text=True)
    theirs = csrf_token(viewer, f"/rules/{rule}")
    assert viewer.post(f"/rules/{rule}/restore", data={"csrf_token": theirs, "version": "1"}).status_code == 403
