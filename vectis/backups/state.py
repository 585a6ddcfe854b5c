"""What a backup job's state means today, in words: the one derivation every surface reads.

The vendor tells us the latest run (success, warning, failed, running, stopped); Vectis adds what only
time reveals: **stale** (no success within the threshold), **silent** (no attempt at all within it),
**stuck** (running far longer than it usually takes), **never run**, and **removed** at the vendor.

A last run that failed is **failed**, whatever time adds: that is what a technician must act on, and the
time it has gone without a success is the second line (``detail``). The customer list's badges, the hub
header, the Backups tab and its order, the alerts and the "needs attention first" sort all read
:func:`derive` and :data:`ATTENTION` (a test holds them to it on every state).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from vectis.platform.dates import span, when

DEFAULT_THRESHOLD = timedelta(hours=48)
CLOCK_SKEW = timedelta(minutes=10)  # a vendor time later than now by more than this cannot be true
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
# The states that need someone, most urgent first: badges, headers and sorts list them in this order.
ATTENTION = ("failed", "stuck", "silent", "stale")
NEEDS_ATTENTION = frozenset(ATTENTION)


def urgency(counts: dict[str, int]) -> tuple[int, ...]:
    """A sort key (ascending = most urgent first) for a customer's counts of attention states."""
    return tuple(-counts.get(state, 0) for state in ATTENTION)


@dataclass(frozen=True)
class BackupHealth:
    state: str
    reason: str
    detail: str | None = None  # a second line: how long a failed job has gone without a success

    @property
    def tone(self) -> str:
        return TONE.get(self.state, "muted")

    @property
    def label(self) -> str:
        return LABEL.get(self.state, self.state)

    @property
    def needs_attention(self) -> bool:
        return self.state in NEEDS_ATTENTION


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
    future = [t for t in (last_attempt_at, last_success_at) if t is not None and t > now + CLOCK_SKEW]
    if future:
        # Shown as fact, a run "last success 20:09" at 18:27 would mislead; say what the vendor claims instead.
        return BackupHealth(
            "unknown",
            f"the vendor reports a run at {when(max(future))}, later than now",
            "its clock or time zone may be wrong: check the job in the vendor's console",
        )
    stuck = _stuck(state, last_attempt_at, last_duration_seconds, now)
    if stuck is not None:
        return stuck
    if state == "failed":
        failed = _vendor(state, last_attempt_at, last_success_at, message)
        return BackupHealth("failed", failed.reason, _failed_for(last_attempt_at, last_success_at, now, threshold))
    return _overdue(state, last_attempt_at, last_success_at, now, threshold) or _vendor(
        state, last_attempt_at, last_success_at, message
    )


def _failed_for(attempt: datetime | None, success: datetime | None, now: datetime, threshold: timedelta) -> str | None:
    """The second line of a failed job: how long it has gone without a success (and without trying)."""
    parts = []
    if success is None:
        parts.append("no success on record")
    elif now - success > threshold:
        parts.append(f"no success for {span(now - success)} (since {when(success)})")
    if attempt is not None and now - attempt > threshold:
        parts.append(f"no attempt for {span(now - attempt)}")
    return " · ".join(parts) or None


def _stuck(state: str, started: datetime | None, usual_seconds: int | None, now: datetime) -> BackupHealth | None:
    if state != "running" or started is None:
        return None
    running = now - started
    usual = timedelta(seconds=usual_seconds) if usual_seconds else None
    allowed = max(usual * STUCK_FACTOR, STUCK_FLOOR) if usual else STUCK_UNKNOWN
    if running <= allowed:
        return None
    usually = f", usually {span(usual)}" if usual else ""
    return BackupHealth("stuck", f"running for {span(running)} since {when(started)}{usually}")


def _overdue(
    state: str, attempt: datetime | None, success: datetime | None, now: datetime, threshold: timedelta
) -> BackupHealth | None:
    limit = f"threshold {span(threshold)}"
    # The attempt the Last attempt column shows; a success is only the latest when no attempt is on record.
    latest = attempt or success or now  # derive() has answered "never run" when both are missing
    if now - latest > threshold:
        return BackupHealth("silent", f"no attempt since {when(latest)} — {span(now - latest)}, {limit}")
    if success is None:
        return BackupHealth("stale", f"no success on record — last attempt {when(latest)} ({state}), {limit}")
    if now - success > threshold:
        return BackupHealth("stale", f"no success since {when(success)} — {span(now - success)}, {limit}")
    return None


def _vendor(state: str, attempt: datetime | None, success: datetime | None, message: str | None) -> BackupHealth:
    # Only the sentence that applies is made: the customer list derives every job of 50 customers per page.
    why = f": {message}" if message else ""
    if state in ("warning", "failed", "running"):
        latest = when(attempt or success or datetime.min)
        if state == "warning":
            return BackupHealth(state, f"finished with warnings {latest}{why}")
        return BackupHealth(state, f"failed {latest}{why}" if state == "failed" else f"running since {latest}")
    since = when(success) if success else "never"
    return BackupHealth(state, f"not running; last success {since}" if state == "stopped" else f"last success {since}")
