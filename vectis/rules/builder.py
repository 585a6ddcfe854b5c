"""The rule builder's form, both ways: a definition renders as named inputs, and the posted inputs parse back
into a definition. Every change (add a condition, pick a field, remove a group) posts the whole form and
the server renders it again, so the page never holds state the server does not know.

Input names carry the node's path: the root group is ``r``, its children ``r.0``, ``r.1``, theirs ``r.1.0``;
``c.<path>.field`` / ``.op`` / ``.value`` / ``.value2`` / ``.match`` / ``.type`` / ``.name`` / ``.p.<param>`` /
``.negate``. Actions are ``a.<n>.type`` and ``a.<n>.p.<param>``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from werkzeug.datastructures import MultiDict

from vectis.events.fields import Field
from vectis.events.triggers import Trigger
from vectis.platform import condition_forms
from vectis.platform.params import integer
from vectis.rules import conditions
from vectis.rules.action_types import ACTION_TYPES
from vectis.rules.definition import DEFAULT_BREAKER, DEFAULT_COOLDOWN_MINUTES, normalized
from vectis.rules.predicates import PREDICATES
from vectis.rules.triggers import catalog

UNITS = (("minutes", "minutes"), ("hours", "hours"), ("days", "days"))


def _operator(field: Field | None, op: str) -> conditions.Operator | None:
    if field is None:
        return None
    ops = conditions.OPERATORS[field.type]
    return next((o for o in ops if o.key == op), ops[0])


def _leaf(form: MultiDict[str, str], path: str, trigger: Trigger | None) -> dict[str, Any]:
    fields = trigger.field_map if trigger else {}
    key = form.get(f"c.{path}.field", "")
    field = fields.get(key) or (trigger.fields[0] if trigger else None)
    operator = _operator(field, form.get(f"c.{path}.op", ""))
    node: dict[str, Any] = {
        "type": "leaf",
        "field": field.key if field else key,
        "op": operator.key if operator else "",
    }
    value = form.get(f"c.{path}.value", "")
    if operator is None or operator.arity == "none":
        return node
    if operator.arity == "two":
        node["value"] = [value, form.get(f"c.{path}.value2", "")]
    elif operator.arity == "many":
        node["value"] = form.getlist(f"c.{path}.value")
    elif operator.arity == "relative":
        node["value"] = {"amount": value, "unit": form.get(f"c.{path}.value2", "hours")}
    else:
        node["value"] = value
    return node


def _node(form: MultiDict[str, str], path: str, trigger: Trigger | None) -> dict[str, Any]:
    kind = form.get(f"c.{path}.type", "group")
    if kind == "leaf":
        return _leaf(form, path, trigger)
    if kind == "predicate":
        name = form.get(f"c.{path}.name", "")
        spec = PREDICATES.get(name) or next(iter(PREDICATES.values()))
        return {
            "type": "predicate",
            "name": spec.key,
            "params": {p.key: form.get(f"c.{path}.p.{p.key}", "") for p in spec.params},
            "negate": form.get(f"c.{path}.negate") == "on",
        }
    return {
        "type": "group",
        "match": "any" if form.get(f"c.{path}.match") == "any" else "all",
        "items": [_node(form, child, trigger) for child in condition_forms.children(form, path, conditions.MAX_DEPTH)],
    }


def from_form(form: MultiDict[str, str]) -> tuple[str, dict[str, Any]]:
    """(name, definition) from the posted builder."""
    trigger = catalog().get(form.get("trigger", ""))
    steps = []
    indices = sorted({int(k.split(".")[1]) for k in form if re.match(r"^a\.\d+\.type$", k)})
    for n in indices:
        kind = ACTION_TYPES.get(form.get(f"a.{n}.type", ""))
        if kind is None:
            continue
        params: dict[str, Any] = {}
        for f in kind.fields:
            raw = form.get(f"a.{n}.p.{f.key}", "")
            params[f.key] = (raw == "on") if f.type == "boolean" else raw
        steps.append({"type": kind.key, "params": params})
    scope_ids = [found for i in form.getlist("scope_ids") if (found := integer(i)) is not None]
    definition = {
        "trigger": trigger.key if trigger else "",
        "params": {p.key: form.get(f"param.{p.key}", "") for p in (trigger.params if trigger else ())},
        "conditions": _node(form, "r", trigger),
        "actions": steps,
        "scope": _scope(form.get("scope", "all"), scope_ids, form.get("scope_tag", "")),
        "cooldown_minutes": _number(form.get("cooldown_minutes"), DEFAULT_COOLDOWN_MINUTES),
        "breaker": {
            "limit": _number(form.get("breaker_limit"), DEFAULT_BREAKER["limit"]),
            "minutes": _number(form.get("breaker_minutes"), DEFAULT_BREAKER["minutes"]),
        },
    }
    return form.get("name", "").strip(), definition


def _scope(kind: str, ids: list[int], tag: str) -> dict[str, Any]:
    if kind == "customers":
        return {"kind": "customers", "ids": ids}
    if kind == "tag":
        return {"kind": "tag", "tag": tag.strip().lower()}
    return {"kind": "all"}


def _number(raw: str | None, default: float) -> float | str:
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        return raw  # kept as typed: validation names it
    return int(value) if value.is_integer() else value


def apply(definition: dict[str, Any], op: str) -> dict[str, Any]:
    """One builder button: add-leaf:<path>, add-group:<path>, add-predicate:<path>, remove:<path>,
    add-action, remove-action:<n>. Unknown or stale operations change nothing."""
    verb, _, where = op.partition(":")
    root = definition.setdefault("conditions", conditions.empty())
    trigger = catalog().get(definition.get("trigger") or "")
    if verb == "add-leaf" and trigger is not None:
        first = trigger.fields[0]
        condition_forms.add(
            root,
            where,
            {"type": "leaf", "field": first.key, "op": conditions.OPERATORS[first.type][0].key, "value": ""},
        )
    elif verb == "add-group":
        condition_forms.add(root, where, {"type": "group", "match": "any", "items": []})
    elif verb == "add-predicate":
        spec = next(iter(PREDICATES.values()))
        condition_forms.add(
            root, where, {"type": "predicate", "name": spec.key, "params": {"hours": 24}, "negate": False}
        )
    elif verb == "remove":
        condition_forms.remove(root, where)
    elif verb == "add-action":
        definition.setdefault("actions", []).append({"type": "create_ticket", "params": {}})
    elif verb == "remove-action" and integer(where, high=100) is not None:
        steps = definition.get("actions") or []
        if int(where) < len(steps):
            del steps[int(where)]
    return definition


def starting(trigger_key: str | None = None) -> dict[str, Any]:
    """A new rule's definition before anyone has chosen anything but (maybe) its trigger."""
    trigger = catalog().get(trigger_key or "") or catalog()["backup.failed"]
    return normalized(
        {
            "trigger": trigger.key,
            "conditions": conditions.empty(),
            "actions": [{"type": "create_ticket", "params": {}}],
        }
    )


def leaf_value(node: Mapping[str, Any]) -> tuple[Any, Any]:
    """(value, value2) of a leaf as the inputs show them."""
    value = node.get("value")
    if isinstance(value, dict):
        return value.get("amount", ""), value.get("unit", "hours")
    if isinstance(value, list | tuple) and len(value) == 2 and node.get("op") == "between":
        return value[0], value[1]
    return ("" if value is None else value), ""
