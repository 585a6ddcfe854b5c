"""A spec in words: what an exported workbook's "Query" sheet says was asked, one line at a time.

The lines read as a technician would say the question: the table it starts from, each join with its mode ("with or
without", "only with", "only without"), each condition ("Contract status is one of active"), nested groups as
indented lines, the summaries, the sort and the limit. Pure: nothing here touches the database.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Final

from vectis.query.allowlist import TABLES, Column, Kind, Table
from vectis.query.operators import Aggregate
from vectis.query.run import headers
from vectis.query.spec import JOIN_MODES, Group, Leaf, OutColumn, Spec, aggregate_label

INDENT: Final = "  "

# How each kind of column reads sorted one way and the other.
_ORDER_WORDS: Final[dict[Kind, tuple[str, str]]] = {
    Kind.TEXT: ("A to Z", "Z to A"),
    Kind.ENUM: ("A to Z", "Z to A"),
    Kind.NUMBER: ("smallest first", "largest first"),
    Kind.MONEY: ("smallest first", "largest first"),
    Kind.DATE: ("earliest first", "latest first"),
    Kind.DATETIME: ("earliest first", "latest first"),
    Kind.BOOLEAN: ("no first", "yes first"),
}


def describe(spec: Spec) -> list[str]:
    """The question ``spec`` asks, in lines; a nested group's lines are indented by two spaces a level."""
    without = {j.edge.right for j in spec.joins if j.mode == "without"}
    lines = [f"From {spec.base.label.lower()}"]
    for join in spec.joins:
        left, right = TABLES[join.edge.left], TABLES[join.edge.right]
        line = f"{left.label} {JOIN_MODES[join.mode]} {right.label.lower()}"
        if join.mode == "without":
            # Their conditions say which rows must not exist (they sit in the top group: spec.py checks it).
            own = [condition(item) for item in spec.where.items if isinstance(item, Leaf) and item.table is right]
            if own:
                line += " where " + " and ".join(own)
        lines.append(line)
    lines.append("Columns: " + ", ".join(c.label for c in spec.columns))
    lines += _where(spec.where, without)
    lines += _summaries(spec)
    kinds = [h.kind for h in headers(spec)]
    if spec.sort:
        lines.append(
            "Sorted by "
            + ", then ".join(
                f"{spec.columns[s.column].label}, {_ORDER_WORDS[kinds[s.column]][s.direction == 'desc']}"
                for s in spec.sort
            )
        )
    if spec.limit is not None:
        lines.append(f"At most {spec.limit:,} rows")
    return lines


def _where(group: Group, without: set[str]) -> list[str]:
    if not _has_conditions(group, without):
        return ["Every row: no conditions"]
    return [f"Where {_match(group)}:", *_items(group, without, 1)]


def _match(group: Group) -> str:
    return "all of these hold" if group.match == "all" else "any of these holds"


def _has_conditions(group: Group, without: set[str]) -> bool:
    return any(
        _has_conditions(item, without) if isinstance(item, Group) else item.table.key not in without
        for item in group.items
    )


def _items(group: Group, without: set[str], depth: int) -> list[str]:
    lines: list[str] = []
    for item in group.items:
        if isinstance(item, Group):
            if _has_conditions(item, without):  # an empty group filters nothing: nothing to say
                lines.append(f"{INDENT * depth}{_match(item).capitalize()}:")
                lines += _items(item, without, depth + 1)
        elif item.table.key not in without:  # said with its "only without" join
            lines.append(INDENT * depth + condition(item))
    return lines


def subject(table: Table, column: Column) -> str:
    """What a condition is about: "Contract status", "Backup run result"; a column that names its table already
    ("Customer", "Ticket #", "Backup job") stands alone."""
    label = column.label
    if label.lower().startswith(table.singular.lower()):
        return label
    return f"{table.singular.capitalize()} {label[:1].lower()}{label[1:]}"


def condition(leaf: Leaf) -> str:
    """One condition in words: "Contract status is one of active", "Contract renews on in the next 30 days"."""
    op, value, kind = leaf.op, leaf.value, leaf.column.kind
    words = f"{subject(leaf.table, leaf.column)} "
    if op.arity == "none":
        return words + op.label
    if op.arity == "days":
        return words + op.label.replace("…", f"{value:,}")
    if op.arity == "many":
        return words + f"{op.label} {', '.join(value)}"
    if op.arity == "two":
        low, high = value
        return words + f"{op.label} {_value(kind, low)} and {_value(kind, high)}"
    return words + f"{op.label} {_value(kind, value)}"


def _value(kind: Kind, value: Any) -> str:
    if kind in (Kind.NUMBER, Kind.MONEY) and isinstance(value, Decimal | int):
        return f"{value:,}"
    if isinstance(value, date):
        return value.isoformat()
    if kind is Kind.TEXT:
        return f"“{value}”"
    return str(value)


def _summaries(spec: Spec) -> list[str]:
    summarised = [c for c in spec.columns if c.aggregate is not None]
    if not summarised:
        return []
    groups = [c.label for c in spec.columns if c.aggregate is None]
    lines = [f"One row for each {', '.join(groups)}" if groups else "One row summarising every matching row"]
    lines += [INDENT + _summary(c, c.aggregate) for c in summarised if c.aggregate is not None]
    return lines


def _summary(column: OutColumn, aggregate: Aggregate) -> str:
    """ "Contract value: total monthly value of contracts, each contract once": counts, totals and averages say that
    each summarised row is taken once however joins repeat it (the compiler's rule)."""
    table = column.table
    if column.column is None:
        said = f"the number of {table.label.lower()}"
    else:
        label = column.column.label
        said = f"{aggregate_label(aggregate, column.column.kind).lower()} {label[:1].lower()}{label[1:]}"
        said += f" of {table.label.lower()}"
    if aggregate.key in ("count", "sum", "avg"):  # where a repeated row would have counted twice
        said += f", each {table.singular} once"
    return f"{column.label}: {said}"
