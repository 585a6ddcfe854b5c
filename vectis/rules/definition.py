"""A rule version's definition (JSONB), its defaults, its validation in a technician's words, and how it
reads as text (for the rule list and the diff between versions).

    {"trigger": "backup.stale", "params": {"threshold_hours": 48},
     "conditions": {"type": "group", "match": "all", "items": [...]},
     "actions": [{"type": "create_ticket", "params": {"summary": "..."}}],
     "scope": {"kind": "all"} | {"kind": "customers", "ids": [3, 7]} | {"kind": "tag", "tag": "managed"},
     "cooldown_minutes": 60, "breaker": {"limit": 20, "minutes": 5}}
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Mapping
from typing import Any

from vectis.platform import params as param_values
from vectis.rules import conditions
from vectis.rules.action_types import ACTION_TYPES, Names, describe_action
from vectis.rules.predicates import PREDICATES
from vectis.rules.triggers import catalog

DEFAULT_COOLDOWN_MINUTES = 60
DEFAULT_BREAKER = {"limit": 20, "minutes": 5}
MAX_ACTIONS = 5


def normalized(definition: Mapping[str, Any]) -> dict[str, Any]:
    """Fill the defaults, so every stored version says everything it runs with."""
    trigger = catalog().get(str(definition.get("trigger") or ""))
    params = {**(trigger.defaults if trigger else {}), **(definition.get("params") or {})}
    breaker = {**DEFAULT_BREAKER, **(definition.get("breaker") or {})}
    return {
        "trigger": str(definition.get("trigger") or ""),
        "params": params,
        "conditions": definition.get("conditions") or conditions.empty(),
        "actions": list(definition.get("actions") or []),
        "scope": definition.get("scope") or {"kind": "all"},
        "cooldown_minutes": definition.get("cooldown_minutes", DEFAULT_COOLDOWN_MINUTES),
        "breaker": breaker,
    }


# Upper bounds that keep every time window inside what dates can hold, and a rule inside reason.
MAX_PARAM = {"threshold_hours": 24 * 365, "days": 365}
MAX_COOLDOWN_MINUTES = 30 * 24 * 60
MAX_BREAKER = {"limit": 10_000, "minutes": 24 * 60}


def _number(value: Any) -> float | None:
    """A finite number, or None ("1e400", "nan", "x" and None are not numbers here)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _within(value: Any, low: float, high: float) -> bool:
    number = _number(value)
    return number is not None and low <= number <= high


def problems(definition: Mapping[str, Any]) -> list[str]:
    """Everything wrong with a definition, each in words that say what to fix; [] when it can be saved."""
    found: list[str] = []
    trigger = catalog().get(str(definition.get("trigger") or ""))
    if trigger is None:
        return ["Choose what triggers the rule."]
    for param in trigger.params:
        value = _number((definition.get("params") or {}).get(param.key))
        most = MAX_PARAM.get(param.key, 10_000)
        if value is None or not 0 < value <= most:
            found.append(f"{param.label} should be a number above 0 and at most {most:,}.")
    found += conditions.validate(definition.get("conditions") or conditions.empty(), trigger.field_map, PREDICATES)
    found += _action_problems(definition.get("actions") or [], trigger.subject)
    scope = definition.get("scope") or {"kind": "all"}
    if scope.get("kind") == "customers" and not scope.get("ids"):
        found.append("Choose at least one customer, or apply the rule to all customers.")
    elif scope.get("kind") == "tag" and not str(scope.get("tag") or "").strip():
        found.append("Choose the tag whose customers the rule is for.")
    elif scope.get("kind") not in ("all", "customers", "tag"):
        found.append("The scope is all customers, customers with a tag, or a list of customers.")
    if not _within(definition.get("cooldown_minutes", DEFAULT_COOLDOWN_MINUTES), 0, MAX_COOLDOWN_MINUTES):
        found.append(f"The cooldown is a number of minutes from 0 (none) to {MAX_COOLDOWN_MINUTES:,} (30 days).")
    breaker = {**DEFAULT_BREAKER, **(definition.get("breaker") or {})}
    if not (
        _within(breaker["limit"], 1, MAX_BREAKER["limit"]) and _within(breaker["minutes"], 1, MAX_BREAKER["minutes"])
    ):
        found.append(
            f"The circuit breaker needs a limit of 1 to {MAX_BREAKER['limit']:,} actions within 1 to "
            f"{MAX_BREAKER['minutes']:,} minutes."
        )
    return found


def _action_problems(steps: list[dict[str, Any]], subject: str) -> list[str]:
    found: list[str] = []
    if not steps:
        found.append("Add at least one action: what should the rule do?")
    if len(steps) > MAX_ACTIONS:
        found.append(f"A rule has at most {MAX_ACTIONS} actions.")
    for n, step in enumerate(steps, 1):
        kind = ACTION_TYPES.get(str(step.get("type")))
        params = step.get("params") or {}
        if kind is None:
            found.append(f"Action {n}: choose what it does.")
        elif kind.subjects is not None and subject not in kind.subjects:
            found.append(f"Action {n}: “{kind.label}” needs a trigger about a {' or '.join(sorted(kind.subjects))}.")
        elif kind.key == "update_ticket_status" and not str(params.get("status") or "").strip():
            found.append(f"Action {n}: name the status to move the ticket to.")
        elif kind.key == "send_email" and "@" not in str(params.get("to") or ""):
            found.append(f"Action {n}: give the e-mail address to send to.")
        elif kind.key == "create_ticket" and any(
            str(params.get(k) or "").strip() and param_values.integer(params.get(k)) is None
            for k in ("board_id", "priority_id")
        ):
            found.append(f"Action {n}: choose the board and priority from the lists.")
    return found


def describe(definition: Mapping[str, Any], names: Names) -> list[str]:
    """The definition as lines of text: what a person reads, and what the version diff compares (so every
    text an action sends has a line of its own)."""
    trigger = catalog().get(str(definition.get("trigger") or ""))
    if trigger is None:
        return ["When: (no trigger)"]
    params = ", ".join(_param_text(p.label, (definition.get("params") or {}).get(p.key)) for p in trigger.params)
    lines = [f"When: {trigger.label}" + (f" ({params})" if params else "")]
    tree = definition.get("conditions") or conditions.empty()
    lines.append("If: " + (conditions.describe(tree, trigger.field_map, PREDICATES) if tree.get("items") else "always"))
    for n, step in enumerate(definition.get("actions") or [], 1):
        said = describe_action(step, names)
        lines.append(f"Then {n}: {said.sentence}")
        lines.extend(f"Then {n}, {label.lower()}: “{text}”" for label, text in said.details)
    scope = definition.get("scope") or {"kind": "all"}
    if scope.get("kind") == "customers":
        lines.append("For: " + ", ".join(names.customers(int(i) for i in scope.get("ids") or [])))
    elif scope.get("kind") == "tag":
        lines.append(f"For: customers tagged “{scope.get('tag')}”, including those tagged later")
    else:
        lines.append("For: all customers, including new ones")
    breaker = {**DEFAULT_BREAKER, **(definition.get("breaker") or {})}
    lines.append(
        f"Safety: cooldown {definition.get('cooldown_minutes', DEFAULT_COOLDOWN_MINUTES)} min per target; "
        f"pause after {breaker['limit']} actions in {breaker['minutes']} min"
    )
    return lines


def _param_text(label: str, value: Any) -> str:
    """ "Threshold (hours)", 48 -> "threshold 48 hours"; "Days", 7 -> "days: 7"."""
    shown = f"{value:g}" if isinstance(value, float) else str(value)
    named = re.fullmatch(r"(.+) \((\w+)\)", label)
    return f"{named[1].lower()} {shown} {named[2]}" if named else f"{label.lower()}: {shown}"


def diff(before: Mapping[str, Any], after: Mapping[str, Any], names: Names) -> list[tuple[str, str]]:
    """(sign, line) pairs: "-" removed, "+" added, " " unchanged."""
    out: list[tuple[str, str]] = []
    for line in difflib.ndiff(describe(before, names), describe(after, names)):
        if line.startswith("? "):
            continue
        out.append((line[0], line[2:]))
    return out


def fingerprint(definition: Mapping[str, Any]) -> str:
    return json.dumps(normalized(definition), sort_keys=True)
