"""A rule's conditions: a JSON tree over the fields of the triggering record, plus cross-system predicates.

Three node shapes, stored as JSONB::

    {"type": "group", "match": "all" | "any", "items": [node, ...]}
    {"type": "leaf", "field": "job.state", "op": "is", "value": "failed"}
    {"type": "predicate", "name": "no_open_ticket", "params": {"hours": 24}, "negate": false}

:func:`validate` lists every problem in words a technician can act on; :func:`compile` turns a valid tree into
nested closures once per rule version, so evaluating a record does no parsing and no dispatch by name;
:func:`explain` evaluates every leaf without short-circuit for the History tab; :func:`describe` reads the tree
as one line for the rule list and version diffs.

Semantics worth knowing:

* An empty group is true for ``all`` and false for ``any`` (the identities of AND and OR): a rule with no
  conditions fires on every event of its trigger.
* Groups nest at most :data:`MAX_DEPTH` levels, the root group counted.
* Positions ("Condition 1.2") are 1-based from the root group; the root group itself is "The conditions".
* A missing value (None) never equals anything: "is", "contains", comparisons and dates are false for it, the
  negative text and enum operators ("is not", "does not contain", "is none of") true; numbers are false for
  every operator except "is empty", as are both boolean operators.
* Dates: a date-only value means 00:00 UTC that day, a naive one is UTC. "before"/"after" are strict; "in the
  last" includes its boundary and "more than … ago" excludes it, so exactly one of them holds for any date.
* Unary operators ignore whatever value the form left behind.
* Predicates are resolved by the caller (they hit the database): :data:`Resolver` gets the predicate's name,
  its params coerced to their types (numbers as int/float, dates as aware datetimes) and the record.
  A predicate's label may name its params as ``{key}`` placeholders ("… in the last {hours} hours") or, with a
  single param, as the word N ("… in the last N hours"); params it does not name are appended in parentheses.
  An empty text param means "not set": it is left out, and the resolver applies its own default.
"""

from __future__ import annotations

import json
import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from types import MappingProxyType
from typing import Any, Final, Literal

from vectis.events.fields import Field

MAX_DEPTH: Final = 5
# Far enough for any rule, near enough that ``now - delta`` can never leave datetime's range.
MAX_RELATIVE: Final = timedelta(days=36500)

Arity = Literal["none", "one", "two", "many", "relative"]


@dataclass(frozen=True)
class Operator:
    key: str
    label: str
    arity: Arity


OPERATORS: dict[str, tuple[Operator, ...]] = {
    "text": (
        Operator("equals", "is", "one"),
        Operator("not_equals", "is not", "one"),
        Operator("contains", "contains", "one"),
        Operator("not_contains", "does not contain", "one"),
        Operator("starts_with", "starts with", "one"),
        Operator("ends_with", "ends with", "one"),
        Operator("is_empty", "is empty", "none"),
        Operator("is_not_empty", "is not empty", "none"),
    ),
    "number": (
        Operator("eq", "=", "one"),
        Operator("ne", "≠", "one"),
        Operator("gt", ">", "one"),
        Operator("gte", "≥", "one"),
        Operator("lt", "<", "one"),
        Operator("lte", "≤", "one"),
        Operator("between", "between", "two"),
        Operator("is_empty", "is empty", "none"),
    ),
    "date": (
        Operator("before", "before", "one"),
        Operator("after", "after", "one"),
        Operator("within_last", "in the last", "relative"),
        Operator("older_than", "more than … ago", "relative"),
        Operator("is_empty", "is empty", "none"),
        Operator("is_not_empty", "is not empty", "none"),
    ),
    "enum": (
        Operator("is", "is", "one"),
        Operator("is_not", "is not", "one"),
        Operator("in", "is one of", "many"),
        Operator("not_in", "is none of", "many"),
    ),
    "boolean": (
        Operator("is_true", "is true", "none"),
        Operator("is_false", "is false", "none"),
    ),
}
_OPERATOR_BY_KEY: Final = {kind: {op.key: op for op in ops} for kind, ops in OPERATORS.items()}


@dataclass(frozen=True)
class PredicateSpec:
    """A cross-system check the caller resolves, e.g. "No open ticket for this customer in the last N hours"."""

    key: str
    label: str
    params: tuple[Field, ...] = ()


# (predicate name, params, record) -> (holds, what was observed, e.g. "ticket #48516 opened 3 h ago" or 0)
# A predicate answers (holds, what it observed); holds is None when it cannot tell yet.
Resolver = Callable[[str, Mapping[str, Any], Mapping[str, Any]], tuple[bool | None, Any]]


class ConditionError(ValueError):
    """An invalid condition tree; the message is the first problem, ``problems`` has them all."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


@dataclass(frozen=True)
class LeafResult:
    path: str  # "1.2"
    text: str  # "Job state is failed"
    actual: Any  # JSON-safe record value, or what the predicate's resolver observed
    result: bool | None  # None: unknown (a predicate over a source that cannot answer yet)


@dataclass(frozen=True)
class Explanation:
    result: bool | None  # None: it depends on something Vectis cannot know yet; nothing is sent
    leaves: list[LeafResult]

    def to_json(self) -> dict[str, Any]:
        return {
            "result": self.result,
            "leaves": [
                {"path": leaf.path, "text": leaf.text, "actual": leaf.actual, "result": leaf.result}
                for leaf in self.leaves
            ],
        }


def empty() -> dict[str, Any]:
    """A fresh tree with no conditions (true for every record)."""
    return {"type": "group", "match": "all", "items": []}


# --- values -------------------------------------------------------------------------------------------------

_Check = Callable[[Any, datetime], bool]  # (the record's value, now) -> holds
# True, False, or None for unknown (Kleene's logic: all() is False if any part is, any() True if any part is).
_Eval = Callable[[Mapping[str, Any], Resolver, datetime], bool | None]

_TRUE_WORDS: Final = frozenset({"true", "yes", "1", "on"})
_FALSE_WORDS: Final = frozenset({"false", "no", "0", "off"})
_UNITS: Final = {
    "minutes": ("minute", timedelta(minutes=1)),
    "hours": ("hour", timedelta(hours=1)),
    "days": ("day", timedelta(days=1)),
}
_COMPARE: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}
_PLACEHOLDER: Final = re.compile(r"\{(\w+)\}")


class _Invalid(Exception):
    """One node's problem, without the position (the builder knows it)."""


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _as_number(value: Any) -> int | float | None:  # noqa: PLR0911 - a return per kind of input
    """A finite number from JSON, a form ("48", "2.5") or Postgres (Decimal); None for anything else."""
    if isinstance(value, bool):
        return None  # True is an int to Python, not a number to a technician
    if isinstance(value, int):
        return value
    if isinstance(value, float | Decimal):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _actual_number(value: Any) -> int | float | None:
    if type(value) is int or type(value) is float:
        return value  # the common case skips the conversions
    return _as_number(value)


def _parse_when(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return _utc(moment)


def _actual_when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        return _parse_when(value)
    return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    return (value if isinstance(value, str) else str(value)).strip().casefold()


def _enum_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, Enum):
        value = value.value
    return (value if isinstance(value, str) else str(value)).strip().casefold()


def _truth(value: Any) -> bool | None:
    if value is True or value is False:
        return value
    if isinstance(value, int | float | Decimal):
        return value != 0
    if isinstance(value, str):
        word = value.strip().casefold()
        return True if word in _TRUE_WORDS else False if word in _FALSE_WORDS else None
    return None


def _whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    return None


def _json_safe(value: Any) -> Any:  # noqa: PLR0911 - a return per kind of value
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, datetime):
        return _utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return _json_safe(float(value))
    if isinstance(value, Enum):
        return _json_safe(value.value)
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_safe(v) for v in value]
    return str(value)


def _shown(value: Any) -> str:
    """A value as a message quotes it."""
    if isinstance(value, str):
        return f'"{value}"'
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _needs(subject: str, what: str, value: Any) -> _Invalid:
    given = "" if _blank(value) else f", not {_shown(value)}"
    return _Invalid(f"{subject} needs {what}{given}.")


def _number_text(number: float) -> str:
    if isinstance(number, float) and number.is_integer():
        return str(int(number))
    return str(number)


def _when_text(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC" if moment.second else f"{moment:%Y-%m-%d %H:%M} UTC"


def _absolute(subject: str, value: Any) -> tuple[datetime, str]:
    """(the moment, how to show it); date-only is 00:00 UTC that day, naive is UTC."""
    what = "a date such as 2026-05-04 or 2026-05-04T07:10:00Z"
    if not isinstance(value, str) or not value.strip():
        raise _needs(subject, what, value)
    text = value.strip()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        return datetime(day.year, day.month, day.day, tzinfo=UTC), day.isoformat()
    moment = _parse_when(text)
    if moment is None:
        raise _needs(subject, what, value)
    return moment, _when_text(moment)


def _relative(subject: str, value: Any) -> tuple[timedelta, str]:
    """(the span, "3 days") from {"amount": 3, "unit": "days"}; a form may send the amount as text."""
    if not isinstance(value, Mapping):
        raise _Invalid(f"{subject} needs an amount and a unit (minutes, hours or days).")
    amount = _whole(value.get("amount"))
    if amount is None or amount < 1:
        raise _needs(subject, "a whole number of 1 or more", value.get("amount"))
    unit = value.get("unit")
    if unit not in _UNITS:
        raise _needs(subject, "a unit: minutes, hours or days", unit)
    singular, step = _UNITS[unit]
    span = amount * step
    if span > MAX_RELATIVE:
        raise _Invalid(f"{subject} can look back at most 100 years (36500 days).")
    return span, f"{amount} {singular if amount == 1 else unit}"


def _enum_choice(field: Field, value: Any, subject: str) -> tuple[str, str]:
    """(the value as compared, how to show it): case-insensitive, and one of the field's choices when it has them."""
    if not isinstance(value, str) or not value.strip():
        raise _needs(subject, "a value", value)
    wanted = value.strip().casefold()
    if not field.choices:
        return wanted, value.strip()
    for choice, label in field.choices:
        if choice.strip().casefold() == wanted:
            return wanted, label
    labels = ", ".join(label for _, label in field.choices)
    raise _Invalid(f'"{field.label}" has no value {_shown(value)}; choose one of: {labels}.')


# --- leaves: (field, operator, value) -> (check, sentence) ---------------------------------------------------


def _text_leaf(field: Field, op: Operator, value: Any) -> tuple[_Check, str]:
    if op.key == "is_empty":
        return (lambda v, now: _text(v) == ""), f"{field.label} is empty"
    if op.key == "is_not_empty":
        return (lambda v, now: _text(v) != ""), f"{field.label} is not empty"
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = _number_text(value)  # an API client may send a ticket number as a number
    if not isinstance(value, str) or not value.strip():
        # An empty needle would make "contains" always true: "is empty" says that honestly.
        raise _needs(f'"{field.label}" {op.label}', "some text to compare with", value)
    shown = value.strip()
    needle = shown.casefold()
    checks: dict[str, _Check] = {
        "equals": lambda v, now: _text(v) == needle,
        "not_equals": lambda v, now: _text(v) != needle,
        "contains": lambda v, now: needle in _text(v),
        "not_contains": lambda v, now: needle not in _text(v),
        "starts_with": lambda v, now: _text(v).startswith(needle),
        "ends_with": lambda v, now: _text(v).endswith(needle),
    }
    return checks[op.key], f'{field.label} {op.label} "{shown}"'


def _number_leaf(field: Field, op: Operator, value: Any) -> tuple[_Check, str]:
    subject = f'"{field.label}" {op.label}'
    if op.key == "is_empty":
        return (lambda v, now: _blank(v)), f"{field.label} is empty"
    if op.key == "between":
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise _Invalid(f"{subject} needs two numbers, the low and the high end.")
        low, high = _as_number(value[0]), _as_number(value[1])
        if low is None:
            raise _needs(f"{subject}: the low end", "a number", value[0])
        if high is None:
            raise _needs(f"{subject}: the high end", "a number", value[1])
        if low > high:
            raise _Invalid(
                f"{subject}: the low end ({_number_text(low)}) is above the high end ({_number_text(high)}); swap them."
            )

        def between(v: Any, now: datetime) -> bool:
            number = _actual_number(v)
            return number is not None and low <= number <= high

        return between, f"{field.label} between {_number_text(low)} and {_number_text(high)}"
    target = _as_number(value)
    if target is None:
        raise _needs(subject, "a number", value)
    compare = _COMPARE[op.key]

    def check(v: Any, now: datetime) -> bool:
        number = _actual_number(v)
        return number is not None and bool(compare(number, target))

    return check, f"{field.label} {op.label} {_number_text(target)}"


def _date_leaf(field: Field, op: Operator, value: Any) -> tuple[_Check, str]:
    if op.key == "is_empty":
        return (lambda v, now: _blank(v)), f"{field.label} is empty"
    if op.key == "is_not_empty":
        return (lambda v, now: not _blank(v)), f"{field.label} is not empty"
    if op.arity == "relative":
        span, shown = _relative(f'"{field.label}"', value)
        if op.key == "within_last":

            def within_last(v: Any, now: datetime) -> bool:
                moment = _actual_when(v)
                return moment is not None and moment >= now - span

            return within_last, f"{field.label} in the last {shown}"

        def older_than(v: Any, now: datetime) -> bool:
            moment = _actual_when(v)
            return moment is not None and moment < now - span

        return older_than, f"{field.label} more than {shown} ago"
    boundary, shown = _absolute(f'"{field.label}" {op.label}', value)
    if op.key == "before":

        def before(v: Any, now: datetime) -> bool:
            moment = _actual_when(v)
            return moment is not None and moment < boundary

        return before, f"{field.label} before {shown}"

    def after(v: Any, now: datetime) -> bool:
        moment = _actual_when(v)
        return moment is not None and moment > boundary

    return after, f"{field.label} after {shown}"


def _enum_leaf(field: Field, op: Operator, value: Any) -> tuple[_Check, str]:
    subject = f'"{field.label}" {op.label}'
    if op.arity == "one":
        target, shown = _enum_choice(field, value, subject)
        if op.key == "is":
            return (lambda v, now: _enum_text(v) == target), f"{field.label} is {shown}"
        return (lambda v, now: _enum_text(v) != target), f"{field.label} is not {shown}"
    if not isinstance(value, list | tuple) or not value:
        raise _Invalid(f"{subject} needs at least one value.")
    picked = [_enum_choice(field, item, subject) for item in value]
    targets = frozenset(target for target, _ in picked)
    shown = ", ".join(dict.fromkeys(label for _, label in picked))
    if op.key == "in":
        return (lambda v, now: _enum_text(v) in targets), f"{field.label} is one of {shown}"
    return (lambda v, now: _enum_text(v) not in targets), f"{field.label} is none of {shown}"


def _boolean_leaf(field: Field, op: Operator, value: Any) -> tuple[_Check, str]:
    if op.key == "is_true":
        return (lambda v, now: _truth(v) is True), f"{field.label} is true"
    return (lambda v, now: _truth(v) is False), f"{field.label} is false"


_LEAVES: Final[dict[str, Callable[[Field, Operator, Any], tuple[_Check, str]]]] = {
    "text": _text_leaf,
    "number": _number_leaf,
    "date": _date_leaf,
    "enum": _enum_leaf,
    "boolean": _boolean_leaf,
}


def _param(param: Field, value: Any) -> tuple[Any, str]:
    """A predicate param as the resolver gets it, and as a sentence shows it."""
    subject = f'"{param.label}"'
    if value is None:
        raise _Invalid(f"{subject} is missing.")
    if param.type == "number":
        number = _as_number(value)
        if number is None:
            raise _needs(subject, "a number", value)
        return number, _number_text(number)
    if param.type == "text":
        if not isinstance(value, str) or not value.strip():
            raise _needs(subject, "some text", value)
        return value.strip(), f'"{value.strip()}"'
    if param.type == "enum":
        _, shown = _enum_choice(param, value, subject)
        canonical = next((c for c, _ in param.choices if c.strip().casefold() == value.strip().casefold()), value)
        return canonical, shown
    if param.type == "boolean":
        truth = _truth(value) if isinstance(value, bool | str) else None
        if truth is None:
            raise _needs(subject, "yes or no", value)
        return truth, "yes" if truth else "no"
    if param.type == "date":
        return _absolute(subject, value)
    raise _Invalid(f"{subject} has a type ({_shown(param.type)}) a check cannot take.")


# --- the plan: a validated tree, shared by compile, explain and describe --------------------------------------


@dataclass(frozen=True)
class _LeafPlan:
    path: str
    text: str
    key: str
    check: _Check
    pure: bool  # the check ignores ``now`` (every type but dates): its result depends on the value alone


@dataclass(frozen=True)
class _PredicatePlan:
    path: str
    text: str
    name: str
    params: Mapping[str, Any]
    negate: bool


@dataclass(frozen=True)
class _GroupPlan:
    path: str
    match_all: bool | None  # None: neither "all" nor "any" (only describe sees such a plan)
    items: tuple[_Plan, ...]


@dataclass(frozen=True)
class _BrokenPlan:
    """Where validation failed; describe shows it, compile never gets this far."""

    path: str
    text: str


_Plan = _LeafPlan | _PredicatePlan | _GroupPlan | _BrokenPlan


class _Builder:
    def __init__(self, fields: Mapping[str, Field], predicates: Mapping[str, PredicateSpec]) -> None:
        self.fields = fields
        self.predicates = predicates
        self.problems: list[str] = []

    def build(self, node: object) -> _Plan:
        is_group = isinstance(node, Mapping) and node.get("type") == "group"
        return self.node(node, "" if is_group else "1", 1)

    def problem(self, path: str, message: str) -> _BrokenPlan:
        where = f"Condition {path}" if path else "The conditions"
        self.problems.append(f"{where}: {message}")
        return _BrokenPlan(path, f"[invalid: {message.rstrip('.')}]")

    def node(self, node: object, path: str, depth: int) -> _Plan:
        if not isinstance(node, Mapping):
            return self.problem(path, "this is not a condition; expected a group, a field condition or a check.")
        kind = node.get("type")
        if kind == "group":
            return self.group(node, path, depth)
        if kind == "leaf":
            return self.leaf(node, path)
        if kind == "predicate":
            return self.predicate(node, path)
        return self.problem(path, f'unknown condition type {_shown(kind)}; expected "group", "leaf" or "predicate".')

    def group(self, node: Mapping[str, Any], path: str, depth: int) -> _Plan:
        if depth > MAX_DEPTH:
            # Deeper trees are unreadable in the editor; stopping here also bounds the recursion.
            return self.problem(path, f"groups nest at most {MAX_DEPTH} levels deep; move these conditions up a level.")
        match = node.get("match")
        if match not in ("all", "any"):
            self.problem(path, 'choose whether "all" or "any" of this group\'s conditions must hold.')
        items = node.get("items")
        if not isinstance(items, list | tuple):
            self.problem(path, "the group's conditions must be a list.")
            items = ()
        children = tuple(
            self.node(item, f"{path}.{i}" if path else str(i), depth + 1) for i, item in enumerate(items, start=1)
        )
        return _GroupPlan(path, None if match not in ("all", "any") else match == "all", children)

    def leaf(self, node: Mapping[str, Any], path: str) -> _Plan:  # noqa: PLR0911 - a return per problem
        key = node.get("field")
        if not isinstance(key, str) or not key:
            return self.problem(path, "choose a field.")
        field = self.fields.get(key)
        if field is None:
            return self.problem(path, f"there is no field {_shown(key)}; choose one from the list.")
        operators = _OPERATOR_BY_KEY.get(field.type)
        if operators is None:
            return self.problem(path, f'"{field.label}" has a type ({_shown(field.type)}) conditions cannot test.')
        op_key = node.get("op")
        if not isinstance(op_key, str) or not op_key:
            return self.problem(path, f'choose an operator for "{field.label}".')
        op = operators.get(op_key)
        if op is None:
            labels = ", ".join(o.label for o in OPERATORS[field.type])
            return self.problem(path, f'"{field.label}" has no operator {_shown(op_key)}; choose one of: {labels}.')
        try:
            check, text = _LEAVES[field.type](field, op, node.get("value"))
        except _Invalid as invalid:
            return self.problem(path, str(invalid))
        return _LeafPlan(path, text, field.key, check, field.type != "date")

    def predicate(self, node: Mapping[str, Any], path: str) -> _Plan:
        name = node.get("name")
        if not isinstance(name, str) or not name:
            return self.problem(path, "choose a check.")
        spec = self.predicates.get(name)
        if spec is None:
            return self.problem(path, f"there is no check called {_shown(name)}; choose one from the list.")
        bare = _PLACEHOLDER.sub("…", spec.label)
        given = node.get("params")
        if given is None:
            given = {}
        if not isinstance(given, Mapping):
            return self.problem(path, f'the settings of "{bare}" are malformed; set them again.')
        broken: _BrokenPlan | None = None
        params: dict[str, Any] = {}
        shown: dict[str, str] = {}
        for param in spec.params:
            value = given.get(param.key)
            if param.type == "text" and _blank(value):
                continue  # an empty text setting means "not set": the resolver applies its own default
            try:
                params[param.key], shown[param.key] = _param(param, value)
            except _Invalid as invalid:
                broken = self.problem(path, f'"{bare}": {invalid}')
        for extra in sorted(str(key) for key in given.keys() - {param.key for param in spec.params}):
            broken = self.problem(path, f'"{bare}" has no setting {_shown(extra)}; remove it.')
        negate = node.get("negate")
        if negate is None:
            negate = False
        if not isinstance(negate, bool):
            broken = self.problem(path, f'"{bare}": "negate" must be true or false.')
        if broken is not None:
            return broken
        return _PredicatePlan(path, _predicate_text(spec, shown, negate), name, MappingProxyType(params), negate)


def _predicate_text(spec: PredicateSpec, shown: Mapping[str, str], negate: bool) -> str:
    named: set[str] = set()

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        named.add(key)
        return shown.get(key, "(default)")  # an unset text param: the resolver's default applies

    text = _PLACEHOLDER.sub(fill, spec.label)
    if not named and len(spec.params) == 1 and spec.params[0].key in shown:
        # "… in the last N hours" with its one param: N is that param.
        only = spec.params[0].key
        text, count = re.subn(r"\bN\b", lambda _: shown[only], text)
        if count:
            named.add(only)
    rest = [f"{p.label} {shown[p.key]}" for p in spec.params if p.key not in named and p.key in shown]
    if rest:
        text += f" ({', '.join(rest)})"
    return f"NOT {text}" if negate else text


def _plan(
    node: Mapping[str, Any], fields: Mapping[str, Field], predicates: Mapping[str, PredicateSpec]
) -> tuple[_Plan, list[str]]:
    builder = _Builder(fields, predicates)
    plan = builder.build(node)
    return plan, builder.problems


# --- evaluation -------------------------------------------------------------------------------------------------


def _has_predicate(plan: _Plan) -> bool:
    if isinstance(plan, _GroupPlan):
        return any(_has_predicate(item) for item in plan.items)
    return isinstance(plan, _PredicatePlan)


def _cost(plan: _Plan) -> int:
    """Cheap first: predicates query the database, and a group with one may short-circuit before reaching it."""
    if isinstance(plan, _LeafPlan):
        return 0
    if isinstance(plan, _GroupPlan):
        return 2 if _has_predicate(plan) else 1
    return 3


def _guards(plan: _Plan) -> list[_LeafPlan]:
    """The leaves every match needs: the pure ones reached from the root through "all" groups only."""
    if isinstance(plan, _LeafPlan):
        return [plan] if plan.pure else []
    if isinstance(plan, _GroupPlan) and plan.match_all:
        return [leaf for item in plan.items for leaf in _guards(item)]
    return []


def _always(record: Mapping[str, Any], resolve: Resolver, now: datetime) -> bool:
    return True


def _never(record: Mapping[str, Any], resolve: Resolver, now: datetime) -> bool:
    return False


def _evaluator(plan: _Plan) -> _Eval:
    if isinstance(plan, _LeafPlan):
        key, check = plan.key, plan.check

        def leaf(record: Mapping[str, Any], resolve: Resolver, now: datetime) -> bool:
            return bool(check(record.get(key), now))  # a leaf is never unknown: only predicates can be

        return leaf
    if isinstance(plan, _PredicatePlan):
        name, params, negate = plan.name, plan.params, plan.negate

        def predicate(record: Mapping[str, Any], resolve: Resolver, now: datetime) -> bool | None:
            holds = resolve(name, params, record)[0]
            return None if holds is None else bool(holds) != negate

        return predicate
    if isinstance(plan, _GroupPlan):
        parts = tuple(_evaluator(item) for item in sorted(plan.items, key=_cost))
        if not parts:
            return _always if plan.match_all else _never
        if len(parts) == 1:
            return parts[0]
        if plan.match_all:

            def every(record: Mapping[str, Any], resolve: Resolver, now: datetime) -> bool | None:
                unknown = False
                for part in parts:
                    verdict = part(record, resolve, now)
                    if verdict is False:
                        return False
                    unknown = unknown or verdict is None
                return None if unknown else True

            return every

        def some(record: Mapping[str, Any], resolve: Resolver, now: datetime) -> bool | None:
            unknown = False
            for part in parts:
                verdict = part(record, resolve, now)
                if verdict is True:
                    return True
                unknown = unknown or verdict is None
            return None if unknown else False

        return some
    raise ConditionError(f"Condition {plan.path}: {plan.text}")


def _explain(
    plan: _Plan, record: Mapping[str, Any], resolve: Resolver, now: datetime, out: list[LeafResult]
) -> bool | None:
    if isinstance(plan, _LeafPlan):
        actual = record.get(plan.key)
        result = bool(plan.check(actual, now))
        out.append(LeafResult(plan.path, plan.text, _json_safe(actual), result))
        return result
    if isinstance(plan, _PredicatePlan):
        holds, observed = resolve(plan.name, plan.params, record)
        verdict = None if holds is None else bool(holds) != plan.negate
        out.append(LeafResult(plan.path, plan.text, _json_safe(observed), verdict))
        return verdict
    if isinstance(plan, _GroupPlan):
        results = [_explain(item, record, resolve, now, out) for item in plan.items]  # every leaf, in order
        return _kleene(results, bool(plan.match_all))
    raise ConditionError(f"Condition {plan.path}: {plan.text}")


def _kleene(results: list[bool | None], match_all: bool) -> bool | None:
    decisive = not match_all  # any(): one True decides; all(): one False does
    if decisive in results:
        return decisive
    return None if None in results else match_all


@dataclass(frozen=True)
class Compiled:
    """A valid tree as nested closures. Build it once per rule version; call it for each record."""

    _plan: _Plan = dataclass_field(repr=False)
    _run: _Eval = dataclass_field(repr=False)

    def __call__(self, record: Mapping[str, Any], resolve: Resolver, now: datetime) -> bool | None:
        """True (it matches), False, or None: it hangs on a predicate that cannot answer yet."""
        return self._run(record, resolve, _utc(now))

    @property
    def guards(self) -> tuple[tuple[str, Callable[[Any, datetime], bool]], ...]:
        """(field, check) pairs that all hold whenever the tree is true: a false one makes the tree false,
        whatever the rest (an "all" group is false once one part is, even beside an unknown predicate).
        Each check reads only the field's value (``now`` is ignored), so its answer for a value can be kept
        and reused; the engine uses them to skip, per event, the rules that cannot match."""
        return tuple((leaf.key, leaf.check) for leaf in _guards(self._plan))

    def explain(self, record: Mapping[str, Any], resolve: Resolver, now: datetime) -> Explanation:
        """Like :func:`explain`, without compiling again."""
        leaves: list[LeafResult] = []
        result = _explain(self._plan, record, resolve, _utc(now), leaves)
        return Explanation(result, leaves)


def validate(
    node: Mapping[str, Any], fields: Mapping[str, Field], predicates: Mapping[str, PredicateSpec]
) -> list[str]:
    """Every problem, each saying where it is ("Condition 1.2") and what to fix; [] when the tree is fine."""
    return _plan(node, fields, predicates)[1]


def compile(  # shadows the builtin on purpose: the engine's name for it, and this module never needs the builtin
    node: Mapping[str, Any], fields: Mapping[str, Field], predicates: Mapping[str, PredicateSpec]
) -> Compiled:
    """The tree as a callable; raises :class:`ConditionError` (the first problem) when it is invalid."""
    plan, problems = _plan(node, fields, predicates)
    if problems:
        raise ConditionError(problems[0], problems)
    return Compiled(plan, _evaluator(plan))


def explain(  # noqa: PLR0917 - the engine's signature: tree, catalogs, then what to evaluate it on
    node: Mapping[str, Any],
    fields: Mapping[str, Field],
    predicates: Mapping[str, PredicateSpec],
    record: Mapping[str, Any],
    resolve: Resolver,
    now: datetime,
) -> Explanation:
    """Every leaf and predicate in document order with its value and result, the resolver called for each."""
    return compile(node, fields, predicates).explain(record, resolve, now)


def describe(node: Mapping[str, Any], fields: Mapping[str, Field], predicates: Mapping[str, PredicateSpec]) -> str:
    """The tree as one line. Never raises: an old version may name a field since gone, shown as "[invalid: …]"."""
    plan, _ = _plan(node, fields, predicates)
    if isinstance(plan, _GroupPlan) and not plan.items:
        return "Always true (no conditions)" if plan.match_all is not False else "Never true (empty “any” group)"
    return _sentence(plan, nested=False)


def _sentence(plan: _Plan, *, nested: bool) -> str:
    if not isinstance(plan, _GroupPlan):
        return plan.text
    if not plan.items:
        return "never true" if plan.match_all is False else "always true"
    parts = [_sentence(item, nested=True) for item in plan.items]
    if len(parts) == 1:
        return parts[0]
    joiner = " AND " if plan.match_all else " OR " if plan.match_all is False else " AND/OR? "
    joined = joiner.join(parts)
    return f"({joined})" if nested else joined
