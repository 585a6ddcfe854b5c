"""Vendor records made safe to store, before any writer sees them.

PostgreSQL refuses a NUL byte in text and in jsonb, so one vendor field holding one would fail its page on
every sync, for good; a 10 MB description would be written into every row and page that shows it. So each
record's text (its fields, its notes, its raw JSON) loses NUL bytes, has a lone UTF-16 surrogate (which JSON can
carry and UTF-8 cannot) replaced by U+FFFD, and is cut to :data:`TEXT_CAP` characters, and a moment outside what Vectis stores (``vectis.platform.dates``) is dropped from an optional field; a
record whose required moment is out of range is skipped. Each kind of change is counted, and the sync
writes the counts to its run log, so an admin can see that a vendor sent something odd and what became of it.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson

from vectis.platform.dates import EARLIEST, LATEST, within_range

TEXT_CAP = 65_536  # characters: far above any real field, far below what would hurt a page
R = TypeVar("R")


class _Skip(Exception):
    pass


# A lone UTF-16 surrogate: JSON may write one (``"\ud800"``) and Python reads it, but no UTF-8 writer takes it (the
# driver, orjson), so one such character failed its whole page at the write.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _broken(value: str) -> bool:
    return not value.isascii() and _SURROGATE.search(value) is not None


def _text(value: str, changes: Counter[str]) -> str:
    if "\x00" in value:
        value = value.replace("\x00", "")
        changes["NUL bytes removed"] += 1
    if _broken(value):
        value, replaced = _SURROGATE.subn("\ufffd", value)
        changes["broken characters replaced"] += replaced
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


def _plainly_clean(value: Any) -> bool:
    """Whether no text in ``value`` (a vendor's JSON: a record's details) can need cleaning: its JSON form holds no
    NUL (which JSON writes as ``\\u0000``) and is too short to hold a text over the cap. orjson says so in a few
    microseconds, where walking the value in Python, copying it as it went, took most of a sync page's cleaning;
    what orjson refuses (a key that is not text, an integer past 64 bits) is walked."""
    try:
        written = orjson.dumps(value)
    except orjson.JSONEncodeError:
        return False
    return len(written) <= TEXT_CAP and b"\\u0000" not in written


def _value(optional: bool, value: Any, changes: Counter[str]) -> Any:
    """``value`` itself when nothing in it needed changing (the common case costs no copy). ``optional``: the field
    may be None, so a moment out of range empties it rather than skipping the record."""
    if isinstance(value, str):
        return _text(value, changes) if "\x00" in value or len(value) > TEXT_CAP or _broken(value) else value
    if value is None or isinstance(value, int | float):
        return value
    if isinstance(value, datetime):
        return _moment(optional, value, changes)
    if isinstance(value, dict | list | tuple) or dataclasses.is_dataclass(value):
        return _nested(value, changes)
    return value


def _moment(optional: bool, value: datetime, changes: Counter[str]) -> datetime | None:
    if (value.tzinfo is UTC and EARLIEST <= value < LATEST) or within_range(value) is not None:
        return value
    if not optional:
        changes["records skipped for a date outside 1970-2200"] += 1
        raise _Skip
    changes["dates outside 1970-2200 left empty"] += 1
    return None


def _nested(value: Any, changes: Counter[str]) -> Any:
    """A record within the record, a list of them, or a vendor's JSON: ``value`` itself unless something changed."""
    before = sum(changes.values())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cleaned = _record(value, changes)
    elif isinstance(value, list | tuple) and value and dataclasses.is_dataclass(value[0]):
        cleaned = type(value)(_record(v, changes) for v in value)
    elif _plainly_clean(value):
        return value
    else:
        cleaned = _json(value, changes)
    return value if sum(changes.values()) == before else cleaned


_FIELDS: dict[type[Any], tuple[tuple[str, bool], ...]] = {}


def _fields(kind: type[Any]) -> tuple[tuple[str, bool], ...]:
    """A record type's fields, each with whether it may be None; read once per type, not once per record."""
    if kind not in _FIELDS:
        _FIELDS[kind] = tuple((f.name, "None" in str(f.type)) for f in dataclasses.fields(kind))
    return _FIELDS[kind]


def _record(record: Any, changes: Counter[str]) -> Any:
    updates = {}
    for name, optional in _fields(type(record)):
        value = getattr(record, name)
        cleaned = _value(optional, value, changes)
        if cleaned is not value:
            updates[name] = cleaned
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
