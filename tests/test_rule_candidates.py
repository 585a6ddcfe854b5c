"""The engine's rule index: an event is checked only against the rules it can match, and leaving the others
out never changes a decision. Pure Python: no database."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from vectis.audit.actors import Actor, Target
from vectis.rules import engine
from vectis.rules.candidates import Candidates

NOW = datetime(2026, 5, 4, 7, 10, tzinfo=UTC)


def leaf(key: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"type": "leaf", "field": key, "op": op, "value": value}


def group(match: str, *items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "group", "match": match, "items": list(items)}


def no_open_ticket() -> dict[str, Any]:
    return {"type": "predicate", "name": "no_open_ticket", "params": {"hours": 24}}


BF, AC = "backup.failed", "alert.created"
FAILS = "job.consecutive_failures"
CONDITIONS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (BF, group("all", leaf(FAILS, "gte", 2)), {"kind": "all"}),
    (BF, group("all", leaf(FAILS, "gte", 3), leaf("job.name", "contains", "sql")), {"kind": "all"}),
    (BF, group("all", leaf(FAILS, "eq", 1)), {"kind": "all"}),  # True is 1 to a dict, not to this condition
    (BF, group("all", leaf("job.kind", "in", ["Backup", "Replica"]), no_open_ticket()), {"kind": "all"}),
    (BF, group("any", leaf("job.name", "contains", "dc"), leaf(FAILS, "gte", 5)), {"kind": "all"}),
    (BF, group("all", leaf("job.last_attempt_at", "within_last", {"amount": 30, "unit": "minutes"})), {"kind": "all"}),
    (BF, group("all"), {"kind": "customers", "ids": [1, 2]}),
    (BF, group("all", group("all", leaf("source", "equals", "Keepit"), leaf(FAILS, "between", [2, 4]))), {"kind": "all"}),
    (BF, group("all", leaf("job.protected_object", "contains", "vip")), {"kind": "all"}),  # lists among its values
    (BF, group("all", leaf(FAILS, "gte", 2)), {"kind": "tag", "tag": "vip"}),
    (AC, group("all", leaf("alert.condition", "is", "backup_failed"), leaf("alert.severity", "is", "critical")), {"kind": "all"}),
    (AC, group("all", leaf("alert.severity", "is_not", "info")), {"kind": "customers", "ids": [2, 3]}),
]  # fmt: skip


def rules() -> list[engine.Active]:
    found = []
    for n, (trigger, conditions, scope) in enumerate(CONDITIONS, 1):
        definition = {"trigger": trigger, "conditions": conditions, "scope": scope, "actions": []}
        found.append(engine.prepare(0, n, name=f"r{n}", mode="dry_run", version=1, definition=definition, cache=False))
    return found


def events(rng: random.Random, count: int) -> list[SimpleNamespace]:
    made = []
    for n in range(count):
        trigger = rng.choice((BF, AC, "ticket.opened"))
        data: dict[str, Any] = {
            FAILS: rng.choice((0, 1, 2, 3, 4, 5, 7, True, False, 1.0, "2", None, 2.5)),
            "job.name": rng.choice(("SQL01 nightly", "DC01", "fs01", "", None)),
            "job.kind": rng.choice(("Backup", "replica", "Tape", None)),
            "job.protected_object": rng.choice((["VIP-ESX"], ["x"], "vip01", None)),  # a list cannot be kept
            "job.last_attempt_at": NOW - timedelta(minutes=rng.choice((5, 45))),
            "source": rng.choice(("Keepit", "Veeam")),
            "alert.condition": rng.choice(("backup_failed", "backup_stale", "BACKUP_FAILED ")),
            "alert.severity": rng.choice(("critical", "warning", "info", None)),
        }
        made.append(
            SimpleNamespace(
                id=n,
                trigger=trigger,
                customer_id=rng.choice((1, 2, 3, None)),
                data=data,
                title="t",
                rule_id=rng.choice((None, None, None, 1, 4, 99)),
                occurred_at=NOW,
                subject_type="alert",
                subject_id=n,
            )
        )
    return made


def unknown(name: str, params: Mapping[str, Any], record: Mapping[str, Any]) -> tuple[bool | None, Any]:
    return None, "cannot tell"  # a guard that fails must still rule the rule out beside an unknown predicate


def test_it_leaves_out_only_rules_that_could_not_have_matched() -> None:
    active = rules()
    index = Candidates(active, lambda rule: rule.trigger.key)
    rng = random.Random(5)  # noqa: S311 - test data, not secrets
    made = events(rng, 3000)
    for n, count in enumerate((True, 1, 1.0, False, 0)):  # equal to a dict, not to a number condition
        made.insert(n, SimpleNamespace(**{**vars(made[0]), "trigger": BF, "data": {FAILS: count}}))
    for event in made:
        tags = rng.choice(([], ["vip"], ["VIP", "x"]))
        customers = {event.customer_id: {"customer.id": event.customer_id, "customer.tags": tags}}
        record = engine.record_of(event, customers)
        found = index(event, record, NOW)
        everyone = [r for r in active if r.trigger.key == event.trigger]
        assert found == [r for r in everyone if r in found], "the order of the rules is kept"
        for rule in everyone:
            could = (
                (event.rule_id is None or event.rule_id == rule.rule_id)
                and rule.covers(event, record)
                and rule.check(record, unknown, NOW) is not False
            )
            if could:
                assert rule in found, (rule.name, event)


def test_it_skips_most_rules_for_an_event_that_matches_few() -> None:
    active = rules()
    index = Candidates(active, lambda rule: rule.trigger.key)
    event = SimpleNamespace(
        id=1,
        trigger=AC,
        customer_id=9,
        data={},
        title="t",
        rule_id=None,
        occurred_at=NOW,
        subject_type="alert",
        subject_id=1,
    )
    record = {"alert.condition": "backup_stale", "alert.severity": "info"}
    assert index(event, record, NOW) == []
    assert index(SimpleNamespace(**{**vars(event), "trigger": "ticket.opened"}), record, NOW) == []


def test_targets_and_actors_write_the_same_json_as_their_fields() -> None:
    for target in (Target("ticket", "7", "#48"), Target.typed("email", "x@y.z")):
        assert target.to_json() == asdict(target)
        assert list(target.to_json()) == list(asdict(target))
    for actor in (Actor.system(), Actor("rule", "3", "Rule “x” v2", "technician"), Actor.anonymous("a\x00b")):
        assert actor.to_json() == asdict(actor)
        assert list(actor.to_json()) == list(asdict(actor))
