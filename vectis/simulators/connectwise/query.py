"""ConnectWise's list parameters: ``conditions`` (a small expression language), ``orderBy`` and ``fields``,
over JSON rows or the compact tickets."""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from vectis.simulators.base import Json
from vectis.simulators.connectwise.vendor import ApiError, Ticket, iso, parse_iso

if TYPE_CHECKING:
    from vectis.simulators.connectwise.state import ConnectWiseState

# --- queries -------------------------------------------------------------------------------------------

Getter = Callable[[Any, str], Any]
Predicate = Callable[[Any], bool]


def dig(row: Any, path: str) -> Any:
    """``company/id`` in a JSON row, case-insensitively; ``lastUpdated`` also finds ``_info/lastUpdated``."""
    value = row
    parts = path.split("/")
    for part in parts:
        if not isinstance(value, dict):
            return None
        if part in value:
            value = value[part]
            continue
        lowered = part.lower()
        key = next((k for k in value if k.lower() == lowered), None)
        if key is None:
            if len(parts) == 1 and isinstance(row.get("_info"), dict):
                return dig(row["_info"], path)
            return None
        value = value[key]
    return value


_TICKET_FIELDS: dict[str, Callable[[Ticket], Any]] = {
    "id": lambda t: t.id,
    "summary": lambda t: t.summary,
    "lastupdated": lambda t: t.last_updated,
    "_info/lastupdated": lambda t: t.last_updated,
    "dateentered": lambda t: t.date_entered,
    "_info/dateentered": lambda t: t.date_entered,
    "closedflag": lambda t: t.closed,
    "closeddate": lambda t: t.closed_date,
    "board/id": lambda t: t.board_id,
    "status/id": lambda t: t.status_id,
    "company/id": lambda t: t.company_id,
    "contact/id": lambda t: t.contact_id,
    "priority/id": lambda t: t.priority_id,
    "owner/id": lambda t: t.owner_id,
}


def ticket_getter(state: ConnectWiseState) -> Getter:
    def get(ticket: Any, path: str) -> Any:
        fast = _TICKET_FIELDS.get(path.lower())
        return fast(ticket) if fast is not None else dig(state.ticket_view(ticket), path)

    return get


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>"(?:[^"\\]|\\.)*")
    | (?P<date>\[[^\]]*\])
    | (?P<op>>=|<=|!=|<>|=|<|>)
    | (?P<punct>[(),])
    | (?P<number>-?\d+(?:\.\d+)?(?![\w/]))
    | (?P<word>[A-Za-z_][\w/]*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "like", "contains", "in", "true", "false", "null"}


class Conditions:
    """A recursive-descent reader of ConnectWise ``conditions``: or > and > (…) | field op value."""

    def __init__(self, text: str, get: Getter) -> None:
        self.get = get
        self.tokens: list[tuple[str, Any]] = []
        position = 0
        text = text.rstrip()
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None or match.end() == position:
                raise self.error(f"unexpected text at {text[position : position + 20]!r}")
            position = match.end()
            kind = match.lastgroup or ""
            raw = match.group(kind)
            if kind == "word" and raw.lower() in _KEYWORDS:
                self.tokens.append(("kw", raw.lower()))
            elif kind == "string":
                self.tokens.append(("value", re.sub(r"\\(.)", r"\1", raw[1:-1])))
            elif kind == "date":
                moment = parse_iso(raw[1:-1])
                if moment is None:
                    raise self.error(f"{raw} is not a date")
                self.tokens.append(("value", iso(moment)))
            elif kind == "number":
                self.tokens.append(("value", float(raw) if "." in raw else int(raw)))
            else:
                self.tokens.append((kind, raw))
        self.index = 0

    @staticmethod
    def error(message: str) -> ApiError:
        return ApiError(400, "InvalidRequest", f"conditions could not be parsed: {message}.")

    def peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> tuple[str, Any]:
        token = self.peek()
        if token is None:
            raise self.error("unexpected end")
        self.index += 1
        return token

    def parse(self) -> Predicate:
        predicate = self.disjunction()
        extra = self.peek()
        if extra is not None:
            raise self.error(f"unexpected {extra[1]!r}")
        return predicate

    def disjunction(self) -> Predicate:
        return self.chain("or", self.conjunction, any)

    def conjunction(self) -> Predicate:
        return self.chain("and", self.factor, all)

    def chain(
        self, keyword: str, operand: Callable[[], Predicate], combine: Callable[[Iterable[bool]], bool]
    ) -> Predicate:
        """``operand (keyword operand)*``, the parts combined by ``combine`` (``any`` for or, ``all`` for and)."""
        parts = [operand()]
        while self.peek() == ("kw", keyword):
            self.index += 1
            parts.append(operand())
        return parts[0] if len(parts) == 1 else (lambda row: combine(p(row) for p in parts))

    def factor(self) -> Predicate:
        if self.peek() == ("punct", "("):
            self.index += 1
            inner = self.disjunction()
            if self.take() != ("punct", ")"):
                raise self.error("missing )")
            return inner
        kind, path = self.take()
        if kind != "word":
            raise self.error(f"expected a field name, found {path!r}")
        negate = False
        kind, op = self.take()
        if (kind, op) == ("kw", "not"):
            negate, (kind, op) = True, self.take()
        if kind == "op":
            test = _comparison("!=" if op == "<>" else op, self.value())
        elif (kind, op) in (("kw", "like"), ("kw", "contains")):
            wanted = self.value()
            if not isinstance(wanted, str):
                raise self.error(f"{op} needs a quoted string")
            test = _like(wanted if op == "like" else f"%{wanted}%")
        elif (kind, op) == ("kw", "in"):
            test = self.membership()
        else:
            raise self.error(f"unknown operator {op!r}")
        get = self.get
        if negate:
            return lambda row: not test(get(row, path))
        return lambda row: test(get(row, path))

    def value(self) -> Any:
        kind, raw = self.take()
        if kind == "value":
            return raw
        if kind == "kw" and raw in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[raw]
        raise self.error(f"expected a value, found {raw!r}")

    def membership(self) -> Callable[[Any], bool]:
        if self.take() != ("punct", "("):
            raise self.error("in needs (…)")
        values = [self.value()]
        while self.peek() == ("punct", ","):
            self.index += 1
            values.append(self.value())
        if self.take() != ("punct", ")"):
            raise self.error("missing )")
        wanted = [_fold(v) for v in values]
        return lambda actual: _fold(actual) in wanted


def _fold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


_ORDERED: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
}


def _comparison(op: str, wanted: Any) -> Callable[[Any], bool]:
    wanted = _fold(wanted)
    if op == "=":
        return lambda actual: _fold(actual) == wanted
    if op == "!=":
        return lambda actual: _fold(actual) != wanted
    compare = _ORDERED[op]

    def ordered(actual: Any) -> bool:
        actual = _fold(actual)
        if actual is None or wanted is None or isinstance(actual, bool) != isinstance(wanted, bool):
            return False
        try:
            return bool(compare(actual, wanted))
        except TypeError:
            return False

    return ordered


def _like(pattern: str) -> Callable[[Any], bool]:
    regex = re.compile(
        "".join(".*" if c in "%*" else "." if c == "_" else re.escape(c) for c in pattern), re.IGNORECASE | re.DOTALL
    )
    return lambda actual: isinstance(actual, str) and regex.fullmatch(actual) is not None


def parse_order(text: str) -> list[tuple[str, bool]]:
    """``"lastUpdated asc, id desc"`` -> [(path, descending)]."""
    order = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        words = part.split()
        direction = words[1].lower() if len(words) > 1 else "asc"
        if len(words) > 2 or direction not in ("asc", "desc") or not re.fullmatch(r"[A-Za-z_][\w/]*", words[0]):
            raise ApiError(400, "InvalidRequest", f"orderBy could not be parsed at {part!r}: use 'field asc|desc'.")
        order.append((words[0], direction == "desc"))
    return order


def _sort_key(value: Any) -> tuple[int, Any, str]:
    """Nulls first, then numbers, then text (case-insensitive): any two values compare."""
    value = _fold(value)
    if value is None:
        return (0, 0, "")
    if isinstance(value, bool | int | float):
        return (1, value, "")
    return (2, 0, json.dumps(value) if isinstance(value, dict | list) else str(value))


def sort_rows(rows: list[Any], order: list[tuple[str, bool]], get: Getter) -> list[Any]:
    for path, descending in reversed(order):

        def key(row: Any, path: str = path) -> tuple[int, Any, str]:
            return _sort_key(get(row, path))

        rows = sorted(rows, key=key, reverse=descending)
    return rows


def project(row: Json, fields: list[str]) -> Json:
    """``fields=id,summary,board/name``: only those, nested paths kept nested."""
    out: Json = {}
    for path in fields:
        value = dig(row, path)
        if value is None:
            continue
        parts = path.split("/")
        target = out
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return out
