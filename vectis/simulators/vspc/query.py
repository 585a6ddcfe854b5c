"""Veeam's query parameters: ``limit``/``offset`` and the JSON ``filter``, ``sort`` and ``select`` arrays,
over one collection, with properties matched case-insensitively as the .NET server binds them."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from flask import request

from vectis.simulators.base import Json
from vectis.simulators.vspc.vendor import ApiError, parse_ticks

_COLLATIONS = {"ordinal", "ignorecase", "lexicographic", None}


def json_param(name: str) -> list[Any]:
    raw = request.args.get(name)
    if raw is None or raw.strip() == "":
        return []
    try:
        value = json.loads(raw)
    except ValueError:
        raise ApiError(400, f"Parameter {name} is not a valid JSON array.", parameter=name) from None
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ApiError(400, f"Parameter {name} must be a JSON array of objects.", parameter=name)
    return value


def int_param(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"The value '{raw}' is not valid for {name}.", parameter=name) from None
    if value < low:
        raise ApiError(400, f"Property value must be larger or equal to {low}.", parameter=name)
    if value > high:
        raise ApiError(400, f"Property value must be less or equal to {high}.", parameter=name)
    return value


def _lookup(row: Json, path: str) -> Any:
    value: Any = row
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _natural(text: str) -> tuple[tuple[int, Any], ...]:
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part.casefold()) for part in re.split(r"(\d+)", text) if part
    )


def _normal(value: Any, collation: str | None) -> Any:
    """What a value compares as: dates as ticks, strings per collation, the rest as they are."""
    if isinstance(value, str):
        ticks = parse_ticks(value)
        if ticks is not None:
            return ticks
        if collation == "ignorecase":
            return value.casefold()
        if collation == "lexicographic":
            return _natural(value)
    return value


def _equal(left: Any, right: Any, collation: str | None) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right or (isinstance(right, str) and str(left).lower() == right.lower())
    return bool(_normal(left, collation) == _normal(right, collation))


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "lessThan": lambda a, b: bool(a < b),
    "lessThanOrEqual": lambda a, b: bool(a <= b),
    "greaterThan": lambda a, b: bool(a > b),
    "greaterThanOrEqual": lambda a, b: bool(a >= b),
}


def _ordered(left: Any, right: Any, collation: str | None, operation: str) -> bool:
    if left is None or right is None:
        return False
    try:
        return _ORDER[operation](_normal(left, collation), _normal(right, collation))
    except TypeError:
        raise ApiError(400, f"The value {right!r} cannot be compared with this property.", parameter="filter") from None


def _contains(value: Any, wanted: Any, collation: str | None) -> bool:
    if isinstance(value, list):
        return any(_equal(element, wanted, collation) for element in value)
    if isinstance(value, str) and isinstance(wanted, str):
        if collation in ("ignorecase", "lexicographic"):
            return wanted.casefold() in value.casefold()
        return wanted in value
    return False


def _subset(value: Any, wanted: Any, collation: str | None, *, reverse: bool = False) -> bool:
    have = value if isinstance(value, list) else [] if value is None else [value]
    inner, outer = (wanted, have) if reverse else (have, wanted)
    return all(any(_equal(x, y, collation) for y in outer) for x in inner)


_GROUPS: dict[str, Callable[[list[bool]], bool]] = {
    "and": all,
    "or": any,
    "exclusiveOr": lambda results: results.count(True) == 1,
    "not": lambda results: not all(results),  # Veeam: "do not match all filter expressions"
}
_OPERATIONS: dict[str, Callable[[Any, Any, str | None], bool]] = {
    "equals": _equal,
    "notEquals": lambda value, wanted, collation: not _equal(value, wanted, collation),
    "in": lambda value, wanted, collation: any(_equal(value, option, collation) for option in wanted),
    "contains": _contains,
    "subset": _subset,
    "superset": lambda value, wanted, collation: _subset(value, wanted, collation, reverse=True),
    "lessThan": lambda value, wanted, collation: _ordered(value, wanted, collation, "lessThan"),
    "lessThanOrEqual": lambda value, wanted, collation: _ordered(value, wanted, collation, "lessThanOrEqual"),
    "greaterThan": lambda value, wanted, collation: _ordered(value, wanted, collation, "greaterThan"),
    "greaterThanOrEqual": lambda value, wanted, collation: _ordered(value, wanted, collation, "greaterThanOrEqual"),
}


class Query:
    """Veeam's ``filter``/``sort``/``select`` over one collection, with properties checked against the
    fields that exist (case-insensitively, as the .NET server binds them)."""

    def __init__(self, known: dict[str, str]) -> None:
        self.known = known

    def path(self, prop: Any, parameter: str) -> str:
        if not isinstance(prop, str) or not prop:
            raise ApiError(400, "Property name is required.", parameter=parameter)
        if not self.known:
            return prop
        found = self.known.get(prop.lower())
        if found is None:
            raise ApiError(400, f"Property '{prop}' does not exist.", parameter=parameter)
        return found

    def check(self, expression: Json) -> None:
        operation = expression.get("operation")
        if operation in _GROUPS:
            items = expression.get("items")
            if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
                raise ApiError(400, f"Operation '{operation}' needs a list of items.", parameter="filter")
            for item in items:
                self.check(item)
            return
        if operation not in _OPERATIONS:
            raise ApiError(400, f"Operation '{operation}' is not supported.", parameter="filter")
        if expression.get("collation") not in _COLLATIONS:
            raise ApiError(400, f"Collation '{expression.get('collation')}' is not supported.", parameter="filter")
        expression["property"] = self.path(expression.get("property"), "filter")
        if operation in ("in", "subset", "superset") and not isinstance(expression.get("value"), list):
            raise ApiError(400, f"Operation '{operation}' needs an array value.", parameter="filter")

    def matches(self, row: Json, expression: Json) -> bool:
        operation = expression["operation"]
        if operation in _GROUPS:
            return _GROUPS[operation]([self.matches(row, item) for item in expression["items"]])
        value = _lookup(row, expression["property"])
        return _OPERATIONS[operation](value, expression.get("value"), expression.get("collation"))

    def filter(self, rows: list[Json], expressions: list[Json]) -> list[Json]:
        for expression in expressions:
            self.check(expression)
        if not expressions:
            return rows
        return [row for row in rows if all(self.matches(row, e) for e in expressions)]

    def sort(self, rows: list[Json], expressions: list[Json]) -> list[Json]:
        # instanceUid first, then each key from the last to the first: Python's sort is stable, so the
        # result is ordered by the keys with instanceUid breaking ties, and offset paging stays exact.
        rows = sorted(rows, key=lambda row: str(row.get("instanceUid") or ""))
        for expression in reversed(expressions):
            path = self.path(expression.get("property"), "sort")
            direction = expression.get("direction", "ascending")
            if direction not in ("ascending", "descending"):
                raise ApiError(400, f"Sort direction '{direction}' is not supported.", parameter="sort")
            collation = expression.get("collation")
            if collation not in _COLLATIONS:
                raise ApiError(400, f"Collation '{collation}' is not supported.", parameter="sort")
            rows.sort(key=lambda row: _sort_key(_lookup(row, path), collation), reverse=direction == "descending")
        return rows

    def select(self, rows: list[Json], expressions: list[Json]) -> list[Json]:
        if not expressions:
            return rows
        paths = [self.path(e.get("propertyPath"), "select") for e in expressions]
        selected = []
        for row in rows:
            out: Json = {}
            for path in paths:
                target, parts = out, path.split(".")
                for part in parts[:-1]:
                    target = target.setdefault(part, {})
                target[parts[-1]] = _lookup(row, path)
            selected.append(out)
        return selected


def _sort_key(value: Any, collation: str | None) -> tuple[int, Any]:
    # Nulls first when ascending, as SQL Server (VSPC's database) orders them.
    if value is None:
        return (0, 0)
    if isinstance(value, bool | int | float):
        return (1, value)
    if isinstance(value, str):
        ticks = parse_ticks(value)
        if ticks is not None:
            return (2, ticks)
        return (3, _normal(value, collation))
    return (4, json.dumps(value, sort_keys=True))
