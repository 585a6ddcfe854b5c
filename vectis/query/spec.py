"""A query spec: what a user asked for, as JSON, checked against the allowlist before any SQL exists.

The shape (every key but ``base`` may be left out)::

    {"base": "customers",
     "joins": [{"from": "customers", "to": "contracts", "mode": "all" | "with" | "without"}],
     "columns": [{"field": "customers.name"},
                 {"field": "contracts.monthly_value", "agg": "sum", "label": "Contract value"},
                 {"field": "tickets.*", "agg": "count"}],
     "where": {"type": "group", "match": "all" | "any",
               "items": [{"type": "leaf", "field": "contracts.ends_on", "op": "next_days", "value": 30},
                         {"type": "group", ...}]},
     "sort": [{"column": 1, "dir": "desc"}],
     "limit": 100}

Join modes: ``all`` keeps every row of the left table, with or without a match (a LEFT JOIN); ``with`` keeps only
rows that have one; ``without`` keeps only rows that have none matching the conditions on the joined table ("no
open ticket"), so such a table offers no columns and its conditions must sit in the top group.

:func:`parse` returns a :class:`Spec` or raises :class:`SpecError` naming every problem in words a technician can
act on. Values come back typed (Decimal, date, int) so the compiler binds them as they are.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal

from vectis.platform import params
from vectis.query.allowlist import EDGES, TABLES, Column, Edge, Kind, Table, column
from vectis.query.operators import AGGREGATES, Aggregate, Operator, operator

MAX_JOINS: Final = 6
MAX_COLUMNS: Final = 30
MAX_CONDITIONS: Final = 40
MAX_DEPTH: Final = 4  # the top group counted
MAX_TEXT: Final = 300
MAX_DAYS: Final = 3650
MAX_LIMIT: Final = 1_048_575  # Excel's rows, less the header: nothing a spec asks for can outgrow an export
COUNT_ROWS: Final = "*"
# A link's query arrives packed (vectis/query/form.py), past the check that refuses a NUL byte in a request.
_NUL: Final = "a value cannot contain a NUL byte (PostgreSQL cannot store one)."  # "tickets.*" with "count": the number of the table's rows

JoinMode = Literal["all", "with", "without"]
JOIN_MODES: Final[dict[str, str]] = {"all": "with or without", "with": "only with", "without": "only without"}
Direction = Literal["asc", "desc"]


class SpecError(ValueError):
    """A spec that names something outside the allowlist or is malformed; ``problems`` lists each one."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems[0] if problems else "The query is not valid.")
        self.problems = problems


@dataclass(frozen=True)
class Join:
    edge: Edge
    mode: JoinMode


@dataclass(frozen=True)
class OutColumn:
    table: Table
    column: Column | None  # None: the table's rows themselves ("tickets.*", counted)
    aggregate: Aggregate | None
    label: str  # as the user named it, or derived

    @property
    def field(self) -> str:
        return f"{self.table.key}.{self.column.key if self.column else COUNT_ROWS}"


@dataclass(frozen=True)
class Leaf:
    table: Table
    column: Column
    op: Operator
    value: Any  # None; a typed value; (low, high); a tuple of enum values; a number of days


@dataclass(frozen=True)
class Group:
    match: Literal["all", "any"]
    items: tuple[Group | Leaf, ...]


@dataclass(frozen=True)
class Sort:
    column: int  # index into columns
    direction: Direction


@dataclass(frozen=True)
class Spec:
    base: Table
    joins: tuple[Join, ...]
    columns: tuple[OutColumn, ...]
    where: Group
    sort: tuple[Sort, ...]
    limit: int | None
    raw: dict[str, Any]  # the canonical JSON (see canonical()): for the URL, the hash, and saving

    @property
    def tables(self) -> list[str]:
        return [self.base.key, *(j.edge.right for j in self.joins)]

    @property
    def aggregated(self) -> bool:
        return any(c.aggregate for c in self.columns)

    def mode_of(self, table: str) -> JoinMode | None:
        return next((j.mode for j in self.joins if j.edge.right == table), None)

    @property
    def hash(self) -> str:
        return spec_hash(self.raw)


def spec_hash(raw: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(raw, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def empty(base: str = "customers") -> dict[str, Any]:
    table = TABLES[base]
    return {
        "base": base,
        "joins": [],
        "columns": [{"field": f"{base}.{key}"} for key in table.default_columns],
        "where": {"type": "group", "match": "all", "items": []},
        "sort": [],
        "limit": None,
    }


# --- parsing ----------------------------------------------------------------------------------------------------


class _Reader:
    """Collects problems as it reads, so the user hears of all of them at once."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.conditions = 0

    def fail(self, problem: str) -> None:
        if problem not in self.problems and len(self.problems) < 20:
            self.problems.append(problem)


def _text(value: Any, limit: int = 200) -> str | None:
    return value if isinstance(value, str) and len(value) <= limit else None


def parse(raw: Any) -> Spec:
    """The spec ``raw`` describes, every name checked against the allowlist; :class:`SpecError` otherwise."""
    reader = _Reader()
    if not isinstance(raw, dict):
        raise SpecError(["A query must be a JSON object with at least a base table."])
    unknown = set(raw) - {"base", "joins", "columns", "where", "sort", "limit"}
    if unknown:
        reader.fail(f"Unknown part of a query: {', '.join(sorted(map(str, unknown)))[:200]}.")
    base = TABLES.get(_text(raw.get("base")) or "")
    if base is None:
        raise SpecError([f"There is no table {_quoted(raw.get('base'))} to start from. Choose one of: {_names()}."])
    joins = _joins(reader, raw.get("joins", []), base)
    present = {base.key: base, **{j.edge.right: TABLES[j.edge.right] for j in joins}}
    without = {j.edge.right for j in joins if j.mode == "without"}
    columns = _columns(reader, raw.get("columns", []), present, without)
    where = _group(reader, raw.get("where", {"type": "group", "match": "all", "items": []}), present, without, 1)
    _check_without_conditions(reader, where, without)
    sort = _sort(reader, raw.get("sort", []), len(columns))
    limit = _limit(reader, raw.get("limit"))
    if reader.problems:
        raise SpecError(reader.problems)
    spec = Spec(base, tuple(joins), tuple(columns), where, tuple(sort), limit, {})
    return Spec(base, spec.joins, spec.columns, where, spec.sort, limit, canonical(spec))


def _names() -> str:
    return ", ".join(t.key for t in TABLES.values())


def _quoted(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return f"“{text[:60]}”"


def _joins(reader: _Reader, raw: Any, base: Table) -> list[Join]:
    if not isinstance(raw, list):
        reader.fail("Joins must be a list.")
        return []
    if len(raw) > MAX_JOINS:
        reader.fail(f"A query joins at most {MAX_JOINS} tables.")
        raw = raw[:MAX_JOINS]
    joins: list[Join] = []
    present = {base.key}
    for n, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            reader.fail(f"Join {n} must be an object with from, to and mode.")
            continue
        left, right = _text(item.get("from")) or "", _text(item.get("to")) or ""
        edge = EDGES.get(f"{left}.{right}")
        if edge is None:
            reader.fail(f"Join {n}: {_quoted(left)} cannot be joined to {_quoted(right)}; only the listed joins exist.")
            continue
        if left not in present:
            reader.fail(f"Join {n}: join {TABLES[left].label} first, then {TABLES[right].label}.")
            continue
        if right in present:
            reader.fail(f"Join {n}: {TABLES[right].label} is in the query already.")
            continue
        if any(j.mode == "without" and j.edge.right == left for j in joins):
            reader.fail(f"Join {n}: nothing can be joined from {TABLES[left].label} taken as “only without”.")
            continue
        mode = item.get("mode", "all")
        if mode not in JOIN_MODES:
            reader.fail(f"Join {n}: the mode must be all, with or without.")
            continue
        joins.append(Join(edge, mode))
        present.add(right)
    return joins


def _columns(reader: _Reader, raw: Any, present: dict[str, Table], without: set[str]) -> list[OutColumn]:
    if not isinstance(raw, list):
        reader.fail("Columns must be a list.")
        return []
    if not raw:
        reader.fail("Choose at least one column to show.")
    if len(raw) > MAX_COLUMNS:
        reader.fail(f"A query shows at most {MAX_COLUMNS} columns.")
        raw = raw[:MAX_COLUMNS]
    columns: list[OutColumn] = []
    for n, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            reader.fail(f"Column {n} must be an object naming its field.")
            continue
        ref = _text(item.get("field")) or ""
        table_key, _, column_key = ref.partition(".")
        table = present.get(table_key)
        if table is None:
            reader.fail(f"Column {n}: {_quoted(ref)} is not in a table of this query.")
            continue
        if table_key in without:
            reader.fail(f"Column {n}: {table.label} is joined as “only without”, so it has no values to show.")
            continue
        found = column(ref) if column_key != COUNT_ROWS else None
        if column_key != COUNT_ROWS and found is None:
            reader.fail(f"Column {n}: {table.label} has no column {_quoted(column_key)}.")
            continue
        agg_key = item.get("agg")
        aggregate = AGGREGATES.get(agg_key) if isinstance(agg_key, str) else None
        if agg_key is not None and aggregate is None:
            reader.fail(f"Column {n}: {_quoted(agg_key)} is not a summary; use {', '.join(AGGREGATES)}.")
            continue
        col = found[1] if found else None
        if col is None and (aggregate is None or aggregate.key != "count"):
            reader.fail(f"Column {n}: the rows of {table.label} can only be counted.")
            continue
        if col is not None and aggregate is not None and col.kind not in aggregate.kinds:
            reader.fail(f"Column {n}: {col.label} cannot be summarised as {aggregate.label.lower()}.")
            continue
        label = item.get("label")
        if label is not None and (_text(label, 80) is None or not label.strip() or "\x00" in label):
            reader.fail(f"Column {n}: a column's name is text of at most 80 characters.")
            continue
        columns.append(OutColumn(table, col, aggregate, (label or "").strip() or _label(table, col, aggregate)))
    return columns


def _label(table: Table, col: Column | None, aggregate: Aggregate | None) -> str:
    if col is None:
        return f"Number of {table.label.lower()}"
    if aggregate is None:
        return col.label
    return f"{aggregate_label(aggregate, col.kind)} {col.label.lower()}"


def aggregate_label(aggregate: Aggregate, kind: Kind) -> str:
    if kind in (Kind.DATE, Kind.DATETIME):
        return {"min": "Earliest", "max": "Most recent"}.get(aggregate.key, aggregate.label)
    return aggregate.label


def _group(reader: _Reader, raw: Any, present: dict[str, Table], without: set[str], depth: int) -> Group:
    if not isinstance(raw, dict) or raw.get("type", "group") != "group":
        reader.fail("Conditions must be a group with match and items.")
        return Group("all", ())
    if depth > MAX_DEPTH:
        reader.fail(f"Groups nest at most {MAX_DEPTH} levels deep.")
        return Group("all", ())
    match = raw.get("match", "all")
    if match not in ("all", "any"):
        reader.fail("A group matches all or any of its conditions.")
        match = "all"
    items_raw = raw.get("items", [])
    if not isinstance(items_raw, list):
        reader.fail("A group's items must be a list.")
        items_raw = []
    items: list[Group | Leaf] = []
    for item in items_raw:
        if reader.conditions >= MAX_CONDITIONS:
            reader.fail(f"A query has at most {MAX_CONDITIONS} conditions.")
            break
        if isinstance(item, dict) and item.get("type") == "group":
            items.append(_group(reader, item, present, without, depth + 1))
        else:
            reader.conditions += 1
            leaf = _leaf(reader, item, present, reader.conditions)
            if leaf is not None:
                items.append(leaf)
    return Group(match, tuple(items))


def _leaf(reader: _Reader, raw: Any, present: dict[str, Table], n: int) -> Leaf | None:
    if not isinstance(raw, dict) or raw.get("type", "leaf") != "leaf":
        reader.fail(f"Condition {n} must name a field, an operator and a value.")
        return None
    ref = _text(raw.get("field")) or ""
    found = column(ref)
    if found is None or found[0].key not in present:
        reader.fail(f"Condition {n}: {_quoted(ref)} is not a column of a table in this query.")
        return None
    table, col = found
    op_key = raw.get("op")
    op = operator(col.kind, op_key if isinstance(op_key, str) else "")
    if op is None:
        reader.fail(f"Condition {n}: {_quoted(raw.get('op'))} is not an operator for {col.label}.")
        return None
    value, problem = _value(col, op, raw.get("value"))
    if problem:
        reader.fail(f"Condition {n} ({col.label} {op.label}): {problem}")
        return None
    return Leaf(table, col, op, value)


def _value(col: Column, op: Operator, raw: Any) -> tuple[Any, str | None]:  # noqa: PLR0911 - one return per arity
    if op.arity == "none":
        return None, None
    if op.arity == "days":
        days = _whole(raw)
        if days is None or not 1 <= days <= MAX_DAYS:
            return None, f"give a whole number of days from 1 to {MAX_DAYS}."
        return days, None
    if op.arity == "many":
        values = raw if isinstance(raw, list) else [raw] if raw not in (None, "") else []
        if not values:
            return None, "tick at least one value."
        wrong = [v for v in values if v not in col.choices]
        if wrong:
            return None, f"{_quoted(wrong[0])} is not one of {', '.join(col.choices)}."
        return tuple(dict.fromkeys(values)), None
    if op.arity == "two":
        if not isinstance(raw, list) or len(raw) != 2:
            return None, "give a from and a to."
        low, problem_low = _typed(col.kind, raw[0])
        high, problem_high = _typed(col.kind, raw[1])
        if problem_low or problem_high:
            return None, problem_low or problem_high
        if low > high:
            return None, "the from must not be after the to."
        return (low, high), None
    return _typed(col.kind, raw)


def _typed(kind: Kind, raw: Any) -> tuple[Any, str | None]:  # noqa: PLR0911 - one return per problem
    if kind in (Kind.NUMBER, Kind.MONEY):
        number = _decimal(raw)
        return (number, None) if number is not None else (None, "give a number.")
    if kind in (Kind.DATE, Kind.DATETIME):
        day = _day(raw)
        return (day, None) if day is not None else (None, "give a date as YYYY-MM-DD.")
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        return None, "give a value."
    text = str(raw).strip()
    if not text:
        return None, "give a value."
    if "\x00" in text:
        return None, _NUL
    if len(text) > MAX_TEXT:
        return None, f"a value is at most {MAX_TEXT} characters."
    return text, None


def _whole(raw: Any) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str):
        return params.integer(raw, high=999_999)
    return None


def _decimal(raw: Any) -> Decimal | None:
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        return None
    try:
        number = Decimal(str(raw).strip().replace(",", ""))
    except InvalidOperation:
        return None
    # Finite and within what the columns hold (Numeric(14, 4)): a huge exponent is no one's filter.
    return number if number.is_finite() and abs(number) < Decimal("1e15") else None


def _day(raw: Any) -> date | None:
    if not isinstance(raw, str) or len(raw.strip()) != 10:
        return None
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        return None


def _check_without_conditions(reader: _Reader, where: Group, without: set[str]) -> None:
    """A condition on an "only without" table says which rows must not exist: it belongs to the top group."""
    if not without:
        return

    def nested(group: Group, top: bool) -> None:
        for item in group.items:
            if isinstance(item, Group):
                nested(item, False)
            elif item.table.key in without and not (top and where.match == "all"):
                reader.fail(
                    f"A condition on {item.table.label} (joined as “only without”) must sit in the top group, "
                    "matched with All."
                )

    nested(where, True)


def _sort(reader: _Reader, raw: Any, columns: int) -> list[Sort]:
    if not isinstance(raw, list):
        reader.fail("Sort must be a list.")
        return []
    sorts: list[Sort] = []
    for item in raw[:5]:
        index = item.get("column") if isinstance(item, dict) else None
        direction = item.get("dir", "asc") if isinstance(item, dict) else None
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < columns:
            reader.fail("Sort by a column the query shows.")
            continue
        if direction not in ("asc", "desc"):
            reader.fail("Sort ascending (asc) or descending (desc).")
            continue
        sorts.append(Sort(index, direction))
    return sorts


def _limit(reader: _Reader, raw: Any) -> int | None:
    if raw is None or raw == "":
        return None
    number = _whole(raw)
    if number is None or not 1 <= number <= MAX_LIMIT:
        reader.fail(f"The row limit is a whole number from 1 to {MAX_LIMIT:,}.")
        return None
    return number


# --- writing ----------------------------------------------------------------------------------------------------


def _json_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _group_json(group: Group) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    for item in group.items:
        if isinstance(item, Group):
            items.append(_group_json(item))
        else:
            leaf: dict[str, Any] = {"type": "leaf", "field": f"{item.table.key}.{item.column.key}", "op": item.op.key}
            if item.op.arity != "none":
                leaf["value"] = _json_value(item.value)
            items.append(leaf)
    return {"type": "group", "match": group.match, "items": items}


def canonical(spec: Spec) -> dict[str, Any]:
    """The spec as JSON with every default written out and nothing else: equal questions, equal JSON (and hash)."""
    columns: list[dict[str, Any]] = []
    for c in spec.columns:
        out: dict[str, Any] = {"field": c.field}
        if c.aggregate:
            out["agg"] = c.aggregate.key
        if c.label != _label(c.table, c.column, c.aggregate):
            out["label"] = c.label
        columns.append(out)
    return {
        "base": spec.base.key,
        "joins": [{"from": j.edge.left, "to": j.edge.right, "mode": j.mode} for j in spec.joins],
        "columns": columns,
        "where": _group_json(spec.where),
        "sort": [{"column": s.column, "dir": s.direction} for s in spec.sort],
        "limit": spec.limit,
    }
