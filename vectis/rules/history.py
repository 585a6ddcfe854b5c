"""What the rule pages read: the rule list with recent activity, a rule's History (each fire with its
condition leaves and action calls, and for a dry run the vendor requests each call would send), its versions with
the diff between each and the one before, and the sample of events that "Test on recent events" and the backtest
run a draft over."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vectis.actions import VERBS, Actor
from vectis.actions.base import Context, Target
from vectis.actions.perform import preview
from vectis.events.stream import json_safe
from vectis.events.triggers import Trigger
from vectis.models import Customer, Role, Rule, RuleDispatch, RuleEvent, RuleFire, RuleVersion
from vectis.rules import definition as rule_definition
from vectis.rules.action_types import Names, describe_action
from vectis.rules.scans import QUALIFIES, SCANS
from vectis.rules.triggers import catalog


@dataclass(frozen=True)
class RuleRow:
    rule: Rule
    trigger: Trigger | None
    lines: list[str]
    actions: list[str]  # each action in words
    fires_24h: int
    last_fire_at: datetime | None


def rule_list(session: Session) -> list[RuleRow]:
    since = datetime.now(UTC) - timedelta(hours=24)
    stats = {
        rule_id: (recent, last)
        for rule_id, recent, last in session.execute(
            select(
                RuleFire.rule_id,
                func.count().filter(RuleFire.created_at >= since),
                func.max(RuleFire.created_at),
            ).group_by(RuleFire.rule_id)
        )
    }
    rows = session.execute(
        select(Rule, RuleVersion.definition)
        .join(RuleVersion, (RuleVersion.rule_id == Rule.id) & (RuleVersion.version == Rule.version))
        .order_by(Rule.name, Rule.id)
    )
    triggers, names = catalog(), Names(session)
    out = []
    for rule, definition in rows:
        recent, last = stats.get(rule.id, (0, None))
        said = [describe_action(step, names).sentence for step in definition.get("actions") or []]
        lines = rule_definition.describe(definition, names)
        out.append(RuleRow(rule, triggers.get(rule.trigger), lines, said, recent, last))
    return out


@dataclass
class FireRow:
    fire: RuleFire
    event: RuleEvent
    customer: str | None
    dispatches: list[RuleDispatch] = field(default_factory=list)


def fires(session: Session, rule_id: int, *, limit: int = 50) -> list[FireRow]:
    rows = [
        FireRow(fire, event, customer)
        for fire, event, customer in session.execute(
            select(RuleFire, RuleEvent, Customer.name)
            .join(RuleEvent, RuleEvent.id == RuleFire.event_id)
            .outerjoin(Customer, Customer.id == RuleFire.customer_id)
            .where(RuleFire.rule_id == rule_id)
            .order_by(RuleFire.created_at.desc(), RuleFire.id.desc())
            .limit(limit)
        )
    ]
    by_fire = {row.fire.id: row for row in rows}
    for dispatch in session.scalars(
        select(RuleDispatch).where(RuleDispatch.fire_id.in_(list(by_fire) or [0])).order_by(RuleDispatch.id)
    ):
        by_fire[dispatch.fire_id].dispatches.append(dispatch)
    return rows


@dataclass(frozen=True)
class Request:
    """One vendor request as History shows it: the body as indented JSON, as it would go (None: no body)."""

    vendor: str
    method: str
    path: str
    body: str | None
    unknown: str | None


@dataclass(frozen=True)
class WouldSend:
    """What a dry run's action would send: ``requests`` in order (None: nothing goes to a vendor; empty: nothing
    would be sent, ``message`` says why)."""

    message: str
    requests: list[Request] | None


def would_send(session: Session, rule: Rule, rows: list[FireRow]) -> dict[int, WouldSend]:
    """By dispatch id, for each action a dry run recorded on the page: the requests it would send, made by the code
    that sends them (``perform``'s own dry run), calling no vendor. Made as the page is shown, from what Vectis has
    stored now: recording them as the rule fires would cost queries for each of a backlog's thousands of dry runs,
    and a page shows 50 fires."""
    found: dict[int, WouldSend] = {}
    for row in rows:
        # The actor the rule acts as when live (engine.Active.actor), so a note is authored as it would be then.
        actor = Actor("rule", str(rule.id), f"Rule “{rule.name}” v{row.fire.version}"[:320], Role.TECHNICIAN.value)
        ctx = Context(session, rule.tenant_id, actor, "rule", None)
        for dispatch in row.dispatches:
            verb = VERBS.get(dispatch.verb)
            if dispatch.state != "dry_run" or verb is None:
                continue
            seen = preview(verb, ctx, Target.from_json(dispatch.target), dict(dispatch.payload))
            requests = None if seen.requests is None else [_shown(r) for r in seen.requests]
            found[dispatch.id] = WouldSend(seen.message, requests)
    return found


def _shown(request: dict[str, Any]) -> Request:
    body = request.get("body")
    text = None if body is None else json.dumps(body, indent=2, ensure_ascii=False)
    return Request(request["vendor"], request["method"], request["path"], text, request.get("unknown"))


@dataclass(frozen=True)
class VersionRow:
    version: RuleVersion
    lines: list[str]
    diff: list[tuple[str, str]]  # against the version before; empty for the first
    same_as_current: bool  # restoring it would change nothing


def versions(session: Session, rule_id: int) -> list[VersionRow]:
    found = list(
        session.scalars(select(RuleVersion).where(RuleVersion.rule_id == rule_id).order_by(RuleVersion.version))
    )
    names = Names(session)
    current = session.scalar(select(Rule.version).where(Rule.id == rule_id))
    now = next((rule_definition.fingerprint(v.definition) for v in found if v.version == current), None)
    out = []
    for before, after in zip([None, *found[:-1]], found, strict=True):
        lines = rule_definition.describe(after.definition, names)
        changed = rule_definition.diff(before.definition, after.definition, names) if before else []
        out.append(VersionRow(after, lines, changed, rule_definition.fingerprint(after.definition) == now))
    return list(reversed(out))


COPIED = (
    "id",
    "tenant_id",
    "trigger",
    "customer_id",
    "connection_id",
    "subject_type",
    "subject_id",
    "title",
    "data",
    "dedup_key",
    "occurred_at",
)


def sample(
    session: Session, tenant_id: int, definition: dict[str, Any], *, days: float = 7, limit: int = 50
) -> list[RuleEvent]:
    """The events a draft is tried on: stored events of its trigger from the last ``days``; for a time-based
    trigger, the findings stored in that window that its parameters would also have found, and what its
    scan finds right now (nothing is written)."""
    trigger = catalog().get(str(definition.get("trigger") or ""))
    if trigger is None:
        return []
    now = datetime.now(UTC)
    stored = select(RuleEvent).where(
        RuleEvent.trigger == trigger.key, RuleEvent.occurred_at >= now - timedelta(days=days)
    )
    scan = SCANS.get(trigger.key)
    if scan is not None:
        # Time-based: what any rule's scan stored in the window (if these parameters would have found it
        # too), then what the scan finds now; one entry per subject and spell.
        params = definition.get("params") or {}
        qualifies = QUALIFIES[trigger.key]
        found: dict[tuple[int, str], RuleEvent] = {}
        for event in session.scalars(
            stored.order_by(RuleEvent.occurred_at.desc(), RuleEvent.id.desc()).limit(limit * 4)
        ):
            if qualifies(event.data, params):
                # A copy, not the stored row: the draft is not the rule whose scan stored it.
                copy = RuleEvent(**{c: getattr(event, c) for c in COPIED}, rule_id=None)
                found.setdefault((event.subject_id, event.dedup_key.rsplit(":", 1)[-1]), copy)
        for row in scan(session, tenant_id, 0, params, now, new_only=False):
            key = (row["subject_id"], row["dedup_key"].rsplit(":", 1)[-1])
            if key not in found:
                found[key] = RuleEvent(**{**row, "data": json_safe(row["data"]), "rule_id": None})
        return sorted(found.values(), key=lambda e: e.occurred_at, reverse=True)[:limit]
    return list(
        session.scalars(
            stored.where(RuleEvent.rule_id.is_(None))
            .order_by(RuleEvent.occurred_at.desc(), RuleEvent.id.desc())
            .limit(limit)
        )
    )
