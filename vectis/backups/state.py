"""What a backup job's state means today, in words: the one derivation the hub and the rules engine share.

The vendor tells us the latest run (success, warning, failed, running, stopped); Vectis adds what only
time reveals: **stale** (no success within the threshold), **silent** (no attempt at all within it),
**stuck** (running far longer than it usually takes), **never run**, and **removed** at the vendor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

DEFAULT_THRESHOLD = timedelta(hours=48)
# Running longer than this many times its usual duration (and at least STUCK_FLOOR) is stuck.
STUCK_FACTOR = 4
STUCK_FLOOR = timedelta(hours=2)
STUCK_UNKNOWN = timedelta(hours=24)  # when the usual duration is unknown

# state -> how loud the badge is
TONE = {
    "success": "ok",
    "warning": "warn",
    "failed": "bad",
    "running": "info",
    "stopped": "muted",
    "unknown": "muted",
    "stale": "bad",
    "silent": "bad",
    "stuck": "warn",
    "never": "muted",
    "removed": "muted",
}
LABEL = {"never": "never run"}
NEEDS_ATTENTION = frozenset({"failed", "stale", "silent", "stuck"})


@dataclass(frozen=True)
class BackupHealth:
    state: str
    reason: str

    @property
    def tone(self) -> str:
        return TONE.get(self.state, "muted")

    @property
    def label(self) -> str:
        return LABEL.get(self.state, self.state)

    @property
    def needs_attention(self) -> bool:
        return self.state in NEEDS_ATTENTION


def when(moment: datetime) -> str:
    return f"{moment.day} {moment:%b %H:%M}"


def hours(span: timedelta) -> str:
    total = span.total_seconds()
    if total < 3600:
        return f"{max(int(total // 60), 1)} min"
    if total < 3 * 86400:
        return f"{int(total // 3600)} h"
    return f"{int(total // 86400)} days"


def derive(
    vendor_state: str | None,
    *,
    last_attempt_at: datetime | None,
    last_success_at: datetime | None,
    last_duration_seconds: int | None,
    removed_at: datetime | None,
    now: datetime,
    threshold: timedelta = DEFAULT_THRESHOLD,
    message: str | None = None,
) -> BackupHealth:
    """What time says first (removed, never run, stuck, silent, stale), else what the vendor said."""
    state = vendor_state or "unknown"
    if removed_at is not None:
        return BackupHealth("removed", f"removed at the vendor on {when(removed_at)}")
    if last_attempt_at is None and last_success_at is None:
        return BackupHealth("never", "no run on record yet")
    return (
        _stuck(state, last_attempt_at, last_duration_seconds, now)
        or _overdue(state, last_attempt_at, last_success_at, now, threshold)
        or _vendor(state, last_attempt_at, last_success_at, message)
    )


def _stuck(state: str, started: datetime | None, usual_seconds: int | None, now: datetime) -> BackupHealth | None:
    if state != "running" or started is None:
        return None
    running = now - started
    usual = timedelta(seconds=usual_seconds) if usual_seconds else None
    allowed = max(usual * STUCK_FACTOR, STUCK_FLOOR) if usual else STUCK_UNKNOWN
    if running <= allowed:
        return None
    usually = f", usually {hours(usual)}" if usual else ""
    return BackupHealth("stuck", f"running for {hours(running)} since {when(started)}{usually}")


def _overdue(
    state: str, attempt: datetime | None, success: datetime | None, now: datetime, threshold: timedelta
) -> BackupHealth | None:
    limit = f"threshold {hours(threshold)}"
    latest = max(t for t in (attempt, success) if t is not None)
    if now - latest > threshold:
        return BackupHealth("silent", f"no attempt since {when(latest)} — {hours(now - latest)}, {limit}")
    if success is None:
        return BackupHealth("stale", f"no success on record — last attempt {when(latest)} ({state}), {limit}")
    if now - success > threshold:
        return BackupHealth("stale", f"no success since {when(success)} — {hours(now - success)}, {limit}")
    return None


def _vendor(state: str, attempt: datetime | None, success: datetime | None, message: str | None) -> BackupHealth:
    latest = when(max(t for t in (attempt, success) if t is not None))
    since = when(success) if success else "never"
    why = f": {message}" if message else ""
    reasons = {
        "success": f"last success {since}",
        "warning": f"finished with warnings {latest}{why}",
        "failed": f"failed {latest}{why}",
        "running": f"running since {latest}",
        "stopped": f"not running; last success {since}",
    }
    return BackupHealth(state, reasons.get(state, f"last success {since}"))
