"""The operators a filter offers for each kind of column, and the aggregates a column can be summarised with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from vectis.query.allowlist import Kind

# none: no value; one: a value; two: a range (from, to); many: a list (enum); days: a whole number of days.
Arity = Literal["none", "one", "two", "many", "days"]


@dataclass(frozen=True)
class Operator:
    key: str
    label: str
    arity: Arity


_TEXT: Final = (
    Operator("is", "is", "one"),
    Operator("is_not", "is not", "one"),
    Operator("contains", "contains", "one"),
    Operator("starts_with", "starts with", "one"),
    Operator("is_empty", "is empty", "none"),
    Operator("is_not_empty", "is not empty", "none"),
)
_NUMBER: Final = (
    Operator("eq", "=", "one"),
    Operator("ne", "≠", "one"),
    Operator("lt", "<", "one"),
    Operator("lte", "≤", "one"),
    Operator("gt", ">", "one"),
    Operator("gte", "≥", "one"),
    Operator("between", "between", "two"),
    Operator("is_empty", "is empty", "none"),
)
_DATES: Final = (
    Operator("last_days", "in the last … days", "days"),
    Operator("next_days", "in the next … days", "days"),
    Operator("this_month", "this month", "none"),
    Operator("on", "on", "one"),
    Operator("before", "before", "one"),
    Operator("after", "after", "one"),
    Operator("between", "between", "two"),
    Operator("is_empty", "is empty", "none"),
    Operator("is_not_empty", "is not empty", "none"),
)
OPERATORS: Final[dict[Kind, tuple[Operator, ...]]] = {
    Kind.TEXT: _TEXT,
    Kind.NUMBER: _NUMBER,
    Kind.MONEY: _NUMBER,
    Kind.DATE: _DATES,
    Kind.DATETIME: _DATES,
    Kind.ENUM: (
        Operator("in", "is one of", "many"),
        Operator("not_in", "is none of", "many"),
        Operator("is_empty", "is empty", "none"),
    ),
    Kind.BOOLEAN: (
        Operator("is_true", "is yes", "none"),
        Operator("is_false", "is no", "none"),
    ),
}


def operator(kind: Kind, key: str) -> Operator | None:
    return next((o for o in OPERATORS[kind] if o.key == key), None)


@dataclass(frozen=True)
class Aggregate:
    key: str
    label: str  # "Sum of", written before the column's label
    kinds: frozenset[Kind]  # the kinds of column it applies to


_ALL: Final = frozenset(Kind)
_ORDERED: Final = frozenset({Kind.NUMBER, Kind.MONEY, Kind.DATE, Kind.DATETIME, Kind.TEXT})
_NUMERIC: Final = frozenset({Kind.NUMBER, Kind.MONEY})

AGGREGATES: Final[dict[str, Aggregate]] = {
    a.key: a
    for a in (
        Aggregate("count", "Number of", _ALL),
        Aggregate("sum", "Total", _NUMERIC),
        Aggregate("avg", "Average", _NUMERIC),
        Aggregate("min", "Lowest", _ORDERED),
        Aggregate("max", "Highest", _ORDERED),
        Aggregate("latest", "Latest", _ALL),
    )
}


def aggregates_for(kind: Kind) -> list[Aggregate]:
    return [a for a in AGGREGATES.values() if kind in a.kinds]
