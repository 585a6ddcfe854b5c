"""Vendor records made safe to store, before any writer sees them.

PostgreSQL refuses a NUL byte in text and in jsonb, so one vendor field holding one would fail its page on
every sync, for good; a 10 MB description would be written into every row and page that shows it. So each
record's text (its fields, its notes, its raw JSON) loses NUL bytes and is cut to :data:`TEXT_CAP` characters,
and a moment outside what Vectis stores (``vectis.platform.dates``) is dropped from an optional field; a
record whose required moment is out of range is skipped. Each kind of change is counted, and the sync
writes the counts to its run log, so an admin can see that a vendor sent something odd and what became of it.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import datetime
from typing import Any, TypeVar

from vectis.platform.dates import within_range

TEXT_CAP = 65_536  # characters: far above any real field, far below what would hurt a page
R = TypeVar("R")


class _Skip(Exception):
    pass


def _text(value: str, changes: Counter[str]) -> str:
    if "\x00" in value:
        value = value.replace("\x00", "")
        changes["NUL bytes removed"] += 1
    if len(value) > TEXT_CAP:
        value = value[: TEXT_CAP - 1] + "…"
        changes["texts shortened to 64 KB"] += 1
    return value


def _json(value: Any, changes: Counter[str]) -> Any:
    if isinstance(value, str):
        return _text(value, changes)
    if isinstance(value, dict):
        return {_text(str(k), changes): _json(v, changes) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_json(v, changes) for v in value)
    return value


def _value(field: dataclasses.Field[Any], value: Any, changes: Counter[str]) -> Any:
    """``value`` itself when nothing in it needed changing (the common case costs no copy)."""
    if isinstance(value, str):
        return _text(value, changes)
    if isinstance(value, datetime):
        if within_range(value) is not None:
            return value
        if "None" not in str(field.type):
            changes["records skipped for a date outside 1970-2200"] += 1
            raise _Skip
        changes["dates outside 1970-2200 left empty"] += 1
        return None
    if not isinstance(value, dict | list | tuple) and not dataclasses.is_dataclass(value):
        return value
    before = sum(changes.values())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cleaned = _record(value, changes)
    elif isinstance(value, list | tuple) and value and dataclasses.is_dataclass(value[0]):
        cleaned = type(value)(_record(v, changes) for v in value)
    else:
        cleaned = _json(value, changes)
    return value if sum(changes.values()) == before else cleaned


def _record(record: Any, changes: Counter[str]) -> Any:
    updates = {}
    for field in dataclasses.fields(record):
        value = getattr(record, field.name)
        cleaned = _value(field, value, changes)
        if cleaned is not value:
            updates[field.name] = cleaned
    return dataclasses.replace(record, **updates) if updates else record


def clean_records(records: list[R]) -> tuple[list[R], Counter[str]]:
    """The records fit to store, and what was changed or skipped (kind -> how many)."""
    changes: Counter[str] = Counter()
    kept: list[R] = []
    for record in records:
        try:
            kept.append(_record(record, changes))
        except _Skip:
            continue
    return kept, changes
