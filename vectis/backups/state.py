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

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

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


Words = tuple[str, str | None]  # the reason, and a second line (how long a failed job has gone without a success)


class BackupHealth:
    """A job's state, and why in words. The words are made when first read, by the branch of :func:`derive`
    that chose the state: the customer list derives every job of 50 customers (~400) and shows only states,
    and making a sentence per job was most of the derivation's cost."""

    __slots__ = ("_args", "_say", "_words", "state")

    def __init__(self, state: str, say: Callable[..., Words], *args: Any) -> None:
        self.state = state
        self._say, self._args = say, args
        self._words: Words | None = None

    @property
    def words(self) -> Words:
        if self._words is None:
            self._words = self._say(*self._args)
        return self._words

    @property
    def reason(self) -> str:
        return self.words[0]

    @property
    def detail(self) -> str | None:
        return self.words[1]

    @property
    def tone(self) -> str:
        return TONE.get(self.state, "muted")

    @property
    def label(self) -> str:
        return LABEL.get(self.state, self.state)

    @property
    def needs_attention(self) -> bool:
        return self.state in NEEDS_ATTENTION

    def __repr__(self) -> str:
        return f"BackupHealth({self.state!r}, {self.reason!r}, {self.detail!r})"


def derive(  # noqa: PLR0911 - a list of decisions, each state answered where it is decided
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
    attempt, success = last_attempt_at, last_success_at
    if removed_at is not None:
        return BackupHealth("removed", _removed, removed_at)
    if attempt is None and success is None:
        return BackupHealth("never", _said, "no run on record yet")
    latest_true = now + CLOCK_SKEW
    if (attempt is not None and attempt > latest_true) or (success is not None and success > latest_true):
        return BackupHealth("unknown", _future, attempt, success, latest_true)
    if state == "running" and attempt is not None:
        usual = timedelta(seconds=last_duration_seconds) if last_duration_seconds else None
        allowed = max(usual * STUCK_FACTOR, STUCK_FLOOR) if usual else STUCK_UNKNOWN
        if now - attempt > allowed:
            return BackupHealth("stuck", _stuck, attempt, usual, now)
    if state == "failed":
        return BackupHealth("failed", _failed, attempt, success, message, now, threshold)
    # The attempt the Last attempt column shows; a success is only the latest when no attempt is on record.
    latest = attempt or success or now  # "never run" is answered above when both are missing
    if now - latest > threshold:
        return BackupHealth("silent", _silent, latest, now, threshold)
    if success is None:
        return BackupHealth("stale", _never_succeeded, latest, state, threshold)
    if now - success > threshold:
        return BackupHealth("stale", _no_success_since, success, now, threshold)
    return BackupHealth(state, _vendor, state, attempt, success, message)


# --- the words, made only when read -------------------------------------------------------------------


def _said(reason: str) -> Words:
    return reason, None


def _removed(removed_at: datetime) -> Words:
    return f"removed at the vendor on {when(removed_at)}", None


def _future(attempt: datetime | None, success: datetime | None, latest_true: datetime) -> Words:
    # Shown as fact, a run "last success 20:09" at 18:27 would mislead; say what the vendor claims instead.
    claimed = max(t for t in (attempt, success) if t is not None and t > latest_true)
    return (
        f"the vendor reports a run at {when(claimed)}, later than now",
        "its clock or time zone may be wrong: check the job in the vendor's console",
    )


def _stuck(started: datetime, usual: timedelta | None, now: datetime) -> Words:
    usually = f", usually {span(usual)}" if usual else ""
    return f"running for {span(now - started)} since {when(started)}{usually}", None


def _failed(
    attempt: datetime | None, success: datetime | None, message: str | None, now: datetime, threshold: timedelta
) -> Words:
    return _vendor("failed", attempt, success, message)[0], _failed_for(attempt, success, now, threshold)


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


def _silent(latest: datetime, now: datetime, threshold: timedelta) -> Words:
    return f"no attempt since {when(latest)} — {span(now - latest)}, threshold {span(threshold)}", None


def _never_succeeded(latest: datetime, state: str, threshold: timedelta) -> Words:
    return f"no success on record — last attempt {when(latest)} ({state}), threshold {span(threshold)}", None


def _no_success_since(success: datetime, now: datetime, threshold: timedelta) -> Words:
    return f"no success since {when(success)} — {span(now - success)}, threshold {span(threshold)}", None


def _vendor(state: str, attempt: datetime | None, success: datetime | None, message: str | None) -> Words:
    why = f": {message}" if message else ""
    if state in ("warning", "failed", "running"):
        latest = when(attempt or success or datetime.min)
        if state == "warning":
            return f"finished with warnings {latest}{why}", None
        return (f"failed {latest}{why}" if state == "failed" else f"running since {latest}"), None
    since = when(success) if success else "never"
    return (f"not running; last success {since}" if state == "stopped" else f"last success {since}"), None


class JobState(Protocol):
    """What :func:`health_of` reads of a job and its latest status: a query row or an object with these fields."""

    @property
    def state(self) -> str | None: ...
    @property
    def last_attempt_at(self) -> datetime | None: ...
    @property
    def last_success_at(self) -> datetime | None: ...
    @property
    def last_duration_seconds(self) -> int | None: ...
    @property
    def removed_at(self) -> datetime | None: ...
    @property
    def message(self) -> str | None: ...


def health_of(job: JobState, now: datetime) -> BackupHealth:
    """:func:`derive` for a job read with its status, as every list of jobs reads one."""
    return derive(
        job.state,
        last_attempt_at=job.last_attempt_at,
        last_success_at=job.last_success_at,
        last_duration_seconds=job.last_duration_seconds,
        removed_at=job.removed_at,
        now=now,
        message=job.message,
    )
