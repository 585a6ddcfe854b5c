"""Rules on the REST API: the list, by name, with how often each fired in the last 24 hours (as the Rules page
counts it), one rule with its current version in words, and enable / pause, through the verbs the rule's page uses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import Field
from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from vectis.actions.resources import (
    ActionOut,
    ActionQuery,
    Call,
    KeysetQuery,
    Page,
    Schema,
    act,
    keyset,
    operation,
    page_of,
)
from vectis.audit.actors import Target
from vectis.models import Rule, RuleFire, RuleVersion
from vectis.platform import public_ids
from vectis.rules import definition as rule_definition
from vectis.rules.action_types import Names, describe_action
from vectis.rules.triggers import catalog

Mode = Literal["dry_run", "live", "paused"]  # vectis.models.rules.RuleMode
RECENT = timedelta(hours=24)


class RuleOut(Schema):
    id: str = Field(description="Public id, rul_…")
    name: str
    trigger: str = Field(description="The trigger's key: backup.failed, ticket.opened, …")
    trigger_label: str
    mode: Mode = Field(description="dry_run: evaluated and recorded, nothing sent; paused: by a person or the breaker")
    paused_reason: str | None
    version: int = Field(description="The current version")
    fires_24h: int = Field(description="Fires (dry-run fires included) in the last 24 hours")
    last_fire_at: datetime | None
    created_at: datetime
    updated_at: datetime


class RuleDetailOut(RuleOut):
    description: list[str] = Field(description="The current version in words: when, if, then, for, safety")
    actions: list[str] = Field(description="Each action in a sentence")


def _fields(session: Session, rules: list[Rule]) -> dict[int, dict[str, Any]]:
    since = datetime.now(UTC) - RECENT
    stats = {
        rule_id: (recent, last)
        for rule_id, recent, last in session.execute(
            select(RuleFire.rule_id, func.count().filter(RuleFire.created_at >= since), func.max(RuleFire.created_at))
            .where(RuleFire.rule_id.in_([r.id for r in rules]))
            .group_by(RuleFire.rule_id)
        )
    }
    triggers = catalog()
    fields: dict[int, dict[str, Any]] = {}
    for rule in rules:
        recent, last = stats.get(rule.id, (0, None))
        trigger = triggers.get(rule.trigger)
        fields[rule.id] = {
            "id": public_ids.encode("rule", rule.id),
            "name": rule.name,
            "trigger": rule.trigger,
            "trigger_label": trigger.label if trigger else rule.trigger,
            "mode": rule.mode,
            "paused_reason": rule.paused_reason,
            "version": rule.version,
            "fires_24h": recent,
            "last_fire_at": last,
            "created_at": rule.created_at,
            "updated_at": rule.updated_at,
        }
    return fields


class RuleQuery(KeysetQuery):
    shape = (str, "rule")
    mode: Mode | None = None


@operation(
    "GET", "/rules", scope="read", summary="List rules, by name", tag="Rules", response=RuleOut, query=RuleQuery,
    paged=True,
)  # fmt: skip
def list_rules(call: Call) -> Page[RuleOut]:
    query: RuleQuery = call.query
    statement = select(Rule).order_by(Rule.name, Rule.id).limit(query.limit + 1)
    if query.mode:
        statement = statement.where(Rule.mode == query.mode)
    if after := query.after:
        statement = statement.where(tuple_(Rule.name, Rule.id) > tuple_(*after))
    rules = list(call.session.scalars(statement))
    fields = _fields(call.session, rules) if rules else {}
    rows = [RuleOut(**fields[r.id]) for r in rules]
    return page_of(rows, query.limit, lambda r: keyset(r.name, r.id))


@operation("GET", "/rules/{rule_id}", scope="read", summary="Get a rule", tag="Rules", response=RuleDetailOut)
def get_rule(call: Call, rule_id: int) -> RuleDetailOut:
    rule = call.get(Rule, rule_id, "rule")
    definition = call.session.scalar(
        select(RuleVersion.definition).where(RuleVersion.rule_id == rule.id, RuleVersion.version == rule.version)
    )
    names = Names(call.session)
    steps = (definition or {}).get("actions") or []
    return RuleDetailOut(
        **_fields(call.session, [rule])[rule.id],
        description=rule_definition.describe(definition or {}, names),
        actions=[describe_action(step, names).sentence for step in steps],
    )


# Technicians change a rule's mode as admins do (the verbs' roles; the rule's page offers them both), so the scope is
# not `admin`. Nor is it `write:tickets`: a live rule sends whatever its actions say (tickets, alerts, endpoints, on
# every matching event), so turning one on is a permission of its own, given to a token on purpose.
RULES_SCOPE = "write:rules"


def _switch(call: Call, verb: str, rule_id: int) -> ActionOut:
    rule = call.get(Rule, rule_id, "rule")
    return act(call, verb, Target("rule", str(rule.id), rule.name), {})  # the page's buttons send nothing more


@operation(
    "POST", "/rules/{rule_id}/enable", scope=RULES_SCOPE, tag="Rules", response=ActionOut, query=ActionQuery,
    summary="Enable a rule (live): from now on its actions are sent",
)  # fmt: skip
def enable_rule(call: Call, rule_id: int) -> ActionOut:
    return _switch(call, "rule.enable", rule_id)


@operation(
    "POST", "/rules/{rule_id}/pause", scope=RULES_SCOPE, tag="Rules", response=ActionOut, query=ActionQuery,
    summary="Pause a rule: it evaluates nothing until it is enabled or set to dry-run",
)  # fmt: skip
def pause_rule(call: Call, rule_id: int) -> ActionOut:
    return _switch(call, "rule.pause", rule_id)
