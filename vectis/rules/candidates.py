"""Which of a trigger's rules an event can match, found without evaluating most of them.

A workspace has dozens of rules per trigger and most events match none, so checking each rule's conditions on
each event is most of the engine's work. Three things rule a rule out before its conditions run, each exactly
what ``engine.decide`` would have found, only cheaper:

* a time-based event names the one rule whose scan found it;
* a rule scoped to a list of customers ignores the others;
* a rule's *guards* (``Compiled.guards``: the leaves reached from the root through "all" groups, whose check
  reads nothing but the field's value) must all hold. A guard's answer for a value is remembered, so a field
  with few values ("Alert condition", "Failed runs in a row", "Board") is checked once per value and rule
  set, not once per event and rule.

The rules left go through ``decide`` in full, in the order they were given, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from vectis.events.stream import Event
from vectis.rules.conditions import Compiled

MEMO = 20_000  # values remembered per field: a field with more (a timestamp, a free text) is checked each time


class Indexed(Protocol):
    @property
    def rule_id(self) -> int: ...
    @property
    def scope(self) -> frozenset[int] | None: ...
    @property
    def check(self) -> Compiled: ...


R = TypeVar("R", bound=Indexed)


class _Field:
    """One field's guards across a trigger's rules: the rules (as bits) each value rules out."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.checks: list[tuple[int, Callable[[Any, datetime], bool]]] = []
        self.memo: dict[tuple[type, Hashable], int] = {}

    def failing(self, value: Any, now: datetime) -> int:
        try:
            key = (type(value), value)  # the type too: True == 1 to a dict, not to a number condition
            found = self.memo.get(key)
        except TypeError:  # a list or a dict: not kept, checked each time
            return self._failing(value, now)
        if found is None:
            found = self._failing(value, now)
            if len(self.memo) < MEMO:
                self.memo[key] = found
        return found

    def _failing(self, value: Any, now: datetime) -> int:
        mask = 0
        for bit, check in self.checks:
            if not check(value, now):
                mask |= bit
        return mask


class _Trigger(Generic[R]):
    def __init__(self, rules: Sequence[R]) -> None:
        self.rules = list(rules)
        self.everything = (1 << len(self.rules)) - 1
        self.bits = {rule.rule_id: 1 << n for n, rule in enumerate(self.rules)}
        self.scoped = [(1 << n, rule.scope) for n, rule in enumerate(self.rules) if rule.scope is not None]
        fields: dict[str, _Field] = {}
        for n, rule in enumerate(self.rules):
            for key, check in rule.check.guards:
                fields.setdefault(key, _Field(key)).checks.append((1 << n, check))
        self.fields = list(fields.values())
        self.by_customer: dict[int | None, int] = {}
        self.lists: dict[int, list[R]] = {}

    def out_of_scope(self, customer_id: int | None) -> int:
        found = self.by_customer.get(customer_id)
        if found is None:
            found = 0
            for bit, scope in self.scoped:
                if customer_id not in scope:
                    found |= bit
            self.by_customer[customer_id] = found
        return found

    def candidates(self, event: Event, record: dict[str, Any], now: datetime) -> list[R]:
        ruled_out = self.out_of_scope(event.customer_id) if self.scoped else 0
        if event.rule_id is not None:  # a time-based event found by one rule's scan is that rule's alone
            ruled_out |= self.everything & ~self.bits.get(event.rule_id, 0)
        for field in self.fields:
            ruled_out |= field.failing(record.get(field.key), now)
        found = self.lists.get(ruled_out)
        if found is None:
            found = self.lists[ruled_out] = [r for n, r in enumerate(self.rules) if not ruled_out >> n & 1]
        return found


class Candidates(Generic[R]):
    """The active rules by trigger, for one evaluation run (the answers it remembers hold for those rules)."""

    def __init__(self, rules: Sequence[R], trigger: Callable[[R], str]) -> None:
        grouped: dict[str, list[R]] = {}
        for rule in rules:
            grouped.setdefault(trigger(rule), []).append(rule)
        self.triggers = {key: _Trigger(found) for key, found in grouped.items()}

    def __call__(self, event: Event, record: dict[str, Any], now: datetime) -> list[R]:
        found = self.triggers.get(event.trigger)
        return found.candidates(event, record, now) if found is not None else []

    def covers(self, trigger: str) -> bool:
        return trigger in self.triggers
