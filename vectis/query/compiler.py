"""A parsed spec as SQLAlchemy Core: bound parameters only, expressions only from the allowlist.

The statements run in the request's tenant session, so row-level security scopes every table underneath; nothing
here names a tenant. Output columns are labelled ``c0`` … ``cN``: no user text ever becomes an identifier.

**Fan-out.** Joining a table on its "many" side repeats the rows on the other side: a customer with four failed
runs and two contracts is six joined rows. Summing the contracts' values over those rows would count each contract
three times. So when a summarised table's rows repeat, each of its rows is counted once: a window numbers the
copies of each (group, row) pair and the aggregate reads only the first. Latest / lowest / highest are unaffected
by copies, but read the same way so one rule holds for every aggregate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Select,
    and_,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by

from vectis.platform import db
from vectis.query.allowlist import EDGES, TABLES, Cardinality, Kind
from vectis.query.spec import Group, Leaf, OutColumn, Spec


@dataclass(frozen=True)
class Compiled:
    rows: Select[Any]  # the result, sorted, limited to the spec's limit
    trail: Select[Any]  # one row: base rows, after joins, after conditions, result rows
    repeated: list[str]  # summarised tables whose rows repeat before the summary (fan-out)
    crossed: list[tuple[str, str]]  # pairs of joined tables listed against each other (no summary)


def _escape_like(text: str) -> str:
    return db.literal_like(text)


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _month(now: datetime) -> tuple[date, date]:
    first = now.date().replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following


def _date_leaf(col: ColumnElement[Any], leaf: Leaf, now: datetime) -> ColumnElement[bool]:  # noqa: PLR0911
    """Days are UTC days. A calendar-day column compares with days; an instant with the instants that bound them."""
    key, value, instant = leaf.op.key, leaf.value, leaf.column.kind is Kind.DATETIME
    today = now.date()
    if key == "last_days":
        return (
            col.between(now - timedelta(days=value), now) if instant else col.between(today - timedelta(value), today)
        )
    if key == "next_days":
        return (
            col.between(now, now + timedelta(days=value)) if instant else col.between(today, today + timedelta(value))
        )
    if key == "this_month":
        first, following = _month(now)
        return and_(
            col >= (_start_of(first) if instant else first), col < (_start_of(following) if instant else following)
        )
    if key == "on":
        return and_(col >= _start_of(value), col < _start_of(value + timedelta(1))) if instant else col == value
    if key == "before":
        return col < (_start_of(value) if instant else value)
    if key == "after":
        return col >= _start_of(value + timedelta(1)) if instant else col > value
    low, high = value
    if instant:
        return and_(col >= _start_of(low), col < _start_of(high + timedelta(1)))
    return col.between(low, high)


def _leaf(leaf: Leaf, now: datetime) -> ColumnElement[bool]:  # noqa: PLR0911 - one branch per operator
    col = leaf.column.sql()
    key, value, kind = leaf.op.key, leaf.value, leaf.column.kind
    if key == "is_empty":
        return or_(col.is_(None), col == "") if kind is Kind.TEXT else col.is_(None)
    if key == "is_not_empty":
        return and_(col.is_not(None), col != "") if kind is Kind.TEXT else col.is_not(None)
    if kind is Kind.TEXT:
        # Case does not matter to a technician: "acme" finds "ACME Corp".
        lowered: ColumnElement[str] = func.lower(col)
        wanted: str = value.lower()
        if key == "is":
            return lowered == wanted
        if key == "is_not":
            return or_(col.is_(None), lowered != wanted)
        pattern = _escape_like(value) + "%"
        return col.ilike("%" + pattern if key == "contains" else pattern, escape="\\")
    if kind in (Kind.NUMBER, Kind.MONEY):
        if key == "between":
            low, high = value
            within: ColumnElement[bool] = col.between(low, high)
            return within
        compared: ColumnElement[bool] = {
            "eq": col == value,
            "ne": col != value,
            "lt": col < value,
            "lte": col <= value,
            "gt": col > value,
            "gte": col >= value,
        }[key]
        return compared
    if kind in (Kind.DATE, Kind.DATETIME):
        return _date_leaf(col, leaf, now)
    if kind is Kind.ENUM:
        chosen = col.in_(list(value))
        return chosen if key == "in" else or_(col.is_(None), not_(chosen))
    return col.is_(True) if key == "is_true" else col.is_(False)


def _condition(group: Group, now: datetime, skip: set[str]) -> ColumnElement[bool] | None:
    """The group as SQL; None when it holds no condition (an empty group filters nothing). Leaves on the tables
    in ``skip`` ("only without" joins) are left out: they go inside that join's NOT EXISTS."""
    parts: list[ColumnElement[bool]] = []
    for item in group.items:
        if isinstance(item, Group):
            inner = _condition(item, now, skip)
            if inner is not None:
                parts.append(inner)
        elif item.table.key not in skip:
            parts.append(_leaf(item, now))
    if not parts:
        return None
    return and_(*parts) if group.match == "all" else or_(*parts)


def _from(spec: Spec) -> FromClause:
    joined = spec.base.source()
    for join in spec.joins:
        if join.mode == "without":
            continue
        right = TABLES[join.edge.right].source()
        joined = joined.join(right, join.edge.on(), isouter=join.mode == "all")
    return joined


def _where(spec: Spec, now: datetime) -> ColumnElement[bool]:
    without = {j.edge.right for j in spec.joins if j.mode == "without"}
    parts: list[ColumnElement[bool]] = []
    kept = _condition(spec.where, now, without)
    if kept is not None:
        parts.append(kept)
    for join in spec.joins:
        if join.mode != "without":
            continue
        own = [
            _leaf(item, now)
            for item in spec.where.items
            if isinstance(item, Leaf) and item.table.key == join.edge.right
        ]
        absent = select(literal(1)).select_from(TABLES[join.edge.right].source()).where(join.edge.on(), *own)
        parts.append(not_(absent.exists()))
    return and_(*parts) if parts else true()


def _neighbours(spec: Spec) -> dict[str, list[str]]:
    joined = [j for j in spec.joins if j.mode != "without"]
    links: dict[str, list[str]] = {t: [] for t in [spec.base.key, *(j.edge.right for j in joined)]}
    for j in joined:
        links[j.edge.left].append(j.edge.right)
        links[j.edge.right].append(j.edge.left)
    return links


def _repeats(spec: Spec, table: str) -> bool:
    """Whether joining makes ``table``'s rows repeat: some joined table lies across a "many" step away from it."""
    links = _neighbours(spec)
    seen, todo = {table}, [table]
    while todo:
        here = todo.pop()
        for there in links[here]:
            if there in seen:
                continue
            if EDGES[f"{here}.{there}"].cardinality is Cardinality.MANY:
                return True
            seen.add(there)
            todo.append(there)
    return False


def _crossed(spec: Spec) -> list[tuple[str, str]]:
    """Pairs of tables that each repeat per row of the other: every ticket listed once for every contract."""
    many_children: dict[str, list[str]] = {}
    for j in spec.joins:
        if j.mode != "without" and j.edge.cardinality is Cardinality.MANY:
            many_children.setdefault(j.edge.left, []).append(j.edge.right)
    return [(kids[0], kids[1]) for kids in many_children.values() if len(kids) > 1]


def _aggregate(
    column: OutColumn,
    agg: str,
    *,
    value: ColumnElement[Any],
    key: ColumnElement[Any],
    recency: ColumnElement[Any],
    first: ColumnElement[bool],
) -> ColumnElement[Any]:
    """One summary over the rows where ``first`` holds (each summarised row once) and the row exists at all."""
    counted = and_(first, key.is_not(None))
    if column.column is None:
        return func.count(key).filter(counted)
    if agg == "count":
        return func.count(value).filter(counted)
    if agg == "latest":
        ordered = func.array_agg(aggregate_order_by(value, recency.desc().nulls_last()))
        return ordered.filter(counted)[1]
    result: ColumnElement[Any] = getattr(func, agg)(value).filter(counted)  # sum, avg, min, max: SQL's own
    return func.round(result, 2) if agg == "avg" else result


def _order(spec: Spec, outputs: list[ColumnElement[Any]]) -> list[ColumnElement[Any]]:
    order: list[ColumnElement[Any]] = []
    for s in spec.sort:
        out = outputs[s.column]
        order.append(out.desc().nulls_last() if s.direction == "desc" else out.asc().nulls_last())
    return order


def compile_spec(spec: Spec, now: datetime) -> Compiled:
    source = _from(spec)
    where = _where(spec, now)
    plain = [c for c in spec.columns if c.aggregate is None]
    summarised = [c for c in spec.columns if c.aggregate is not None]
    if not summarised:
        outputs = [c.column.sql().label(f"c{n}") for n, c in enumerate(spec.columns) if c.column is not None]
        # Ties broken by each table's key, so a page, a preview and an export list rows in one order.
        keys = [TABLES[t].key_column() for t in spec.tables if spec.mode_of(t) != "without"]
        rows = select(*outputs).select_from(source).where(where)
        rows = rows.order_by(*_order(spec, [o for o in outputs]), *keys)
        result_count = select(func.count()).select_from(source).where(where).scalar_subquery()
        repeated: list[str] = []
    else:
        rows, repeated = _summary(spec, source, where, plain)
        result_count = select(func.count()).select_from(rows.order_by(None).subquery()).scalar_subquery()
    if spec.limit is not None:
        rows = rows.limit(spec.limit)
    trail = select(
        select(func.count()).select_from(spec.base.source()).scalar_subquery().label("base"),
        select(func.count()).select_from(source).scalar_subquery().label("joined"),
        select(func.count()).select_from(source).where(where).scalar_subquery().label("filtered"),
        result_count.label("result"),
    )
    return Compiled(rows, trail, repeated, [] if summarised else _crossed(spec))


def _summary(
    spec: Spec, source: FromClause, where: ColumnElement[bool], plain: list[OutColumn]
) -> tuple[Select[Any], list[str]]:
    groups = [c.column.sql() for c in plain if c.column is not None]
    tables = list(dict.fromkeys(c.table.key for c in spec.columns if c.aggregate is not None))
    repeated = [t for t in tables if _repeats(spec, t)]
    # The inner rows: group values, and per summarised table its key, its row's recency and the values summarised;
    # for a table whose rows repeat, which copy of (group, row) this is.
    inner: list[ColumnElement[Any]] = [g.label(f"g{n}") for n, g in enumerate(groups)]
    for n, t in enumerate(tables):
        table = TABLES[t]
        key = table.key_column()
        inner.append(key.label(f"k{n}"))
        inner.append(table.by_key[table.recency].sql().label(f"r{n}"))
        if t in repeated:
            inner.append(func.row_number().over(partition_by=[*groups, key]).label(f"n{n}"))
    for n, c in enumerate(spec.columns):
        if c.aggregate is not None and c.column is not None:
            inner.append(c.column.sql().label(f"v{n}"))
    sub = select(*inner).select_from(source).where(where).subquery("rows")
    outputs: list[ColumnElement[Any]] = []
    group_index = 0
    for n, c in enumerate(spec.columns):
        if c.aggregate is None:
            outputs.append(sub.c[f"g{group_index}"].label(f"c{n}"))
            group_index += 1
            continue
        at = tables.index(c.table.key)
        first = sub.c[f"n{at}"] == 1 if c.table.key in repeated else true()
        value = sub.c[f"v{n}"] if c.column is not None else literal(None)
        outputs.append(
            _aggregate(
                c, c.aggregate.key, value=value, key=sub.c[f"k{at}"], recency=sub.c[f"r{at}"], first=first
            ).label(f"c{n}")
        )
    group_by = [sub.c[f"g{n}"] for n in range(len(groups))]
    statement = select(*outputs).select_from(sub).group_by(*group_by)
    statement = statement.order_by(*_order(spec, outputs), *(g.asc().nulls_last() for g in group_by))
    return statement, repeated
