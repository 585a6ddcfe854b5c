"""What a backup event carries: the fields of ``backups/triggers.py``, frozen when it happened."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from vectis.events.stream import hours_between


def backup_data(
    *,
    source: str,
    name: str,
    kind: str,
    vendor_type: str,
    protected_object: str | None,
    state: str | None,
    consecutive_failures: int,
    last_success_at: datetime | None,
    last_attempt_at: datetime | None,
    message: str | None,
    now: datetime,
) -> dict[str, Any]:
    return {
        "job.name": name,
        "job.kind": kind,
        "job.vendor_type": vendor_type,
        "job.protected_object": protected_object,
        "job.state": state or "unknown",
        "job.consecutive_failures": consecutive_failures,
        "job.last_success_at": last_success_at,
        "job.last_attempt_at": last_attempt_at,
        "job.hours_since_success": hours_between(last_success_at, now),
        "job.message": message,
        "source": source,
    }
