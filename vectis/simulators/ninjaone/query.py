"""NinjaOne's device filter (the ``df`` parameter of devices, alerts and activities), as its "Device Filter
Syntax" document (API v2.0.5) writes it and clients send it: clauses joined with ``AND``.

    online | offline
    org = 1          org != 1          org in (1, 2, 3)          org not in (1, 2)
    loc = 4          role = 2          id = 101                  (each also with != / in / not in)
    class = WINDOWS_SERVER             class in (WINDOWS_WORKSTATION, MAC)
    status = APPROVED                  (the approval status: PENDING, STAGED, APPROVED, DECOMMISSIONED)
    status = 'ONLINE'                  (as some clients write the online state; OFFLINE too)
    created after 2024-01-01           created before 2025-01-01

Keywords and names are case-insensitive; a value may be quoted with ``'`` or ``"``. Anything else is refused
(``DeviceFilterError``), so a connector that sends what NinjaOne would not understand finds out here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from vectis.simulators.base import Json

Predicate = Callable[[Json], bool]

_FIELDS = {
    "org": "organizationId",
    "loc": "locationId",
    "role": "nodeRoleId",
    "id": "id",
    "class": "nodeClass",
    "status": "approvalStatus",
}
_NUMERIC = {"org", "loc", "role", "id"}
_ONLINE_STATES = {"ONLINE": False, "OFFLINE": True}  # status value -> the device's ``offline``
_AND = re.compile(r"\s+AND\s+", re.IGNORECASE)
_COMPARE = re.compile(r"(\w+)\s*(!=|=)\s*(.+)", re.IGNORECASE)
_MEMBER = re.compile(r"(\w+)\s+(not\s+in|in)\s*\((.*)\)", re.IGNORECASE)
_CREATED = re.compile(r"created\s+(after|before)\s+(\d{4}-\d{2}-\d{2})", re.IGNORECASE)


class DeviceFilterError(ValueError):
    """A ``df`` NinjaOne's syntax does not allow; the message says which part."""


def _value(text: str, field: str) -> int | str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1]
    if field in _NUMERIC:
        if not text.isdigit():
            raise DeviceFilterError(f"{field} takes a number, not {text!r}")
        return int(text)
    return text.upper()


def _clause(text: str) -> Predicate:
    lowered = text.strip().lower()
    if lowered in ("online", "offline"):
        offline = lowered == "offline"
        return lambda device: bool(device["offline"]) is offline
    created = _CREATED.fullmatch(text.strip())
    if created:
        when, day = created.groups()
        moment = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()
        if when.lower() == "after":
            return lambda device: float(device["created"]) > moment
        return lambda device: float(device["created"]) < moment
    member = _MEMBER.fullmatch(text.strip())
    compare = None if member else _COMPARE.fullmatch(text.strip())
    match = member or compare
    if match is None:
        raise DeviceFilterError(f"cannot read {text.strip()!r}")
    name, operator, raw = match.groups()
    field = name.lower()
    if field not in _FIELDS:
        raise DeviceFilterError(f"unknown field {name!r} (org, loc, role, id, class, status, created)")
    values = {_value(part, field) for part in raw.split(",")} if member else {_value(raw, field)}
    negated = operator.lower().startswith("not") or operator == "!="
    if field == "status" and values and values <= set(_ONLINE_STATES):
        states = {_ONLINE_STATES[str(v)] for v in values}
        return lambda device: (bool(device["offline"]) in states) is not negated
    key = _FIELDS[field]
    return lambda device: (device.get(key) in values) is not negated


def parse_device_filter(text: str) -> Predicate:
    """A predicate over a device (its ``Device`` fields) for ``text``; an empty filter takes every device."""
    clauses = [_clause(part) for part in _AND.split(text.strip()) if part.strip()] if text.strip() else []
    return lambda device: all(clause(device) for clause in clauses)
