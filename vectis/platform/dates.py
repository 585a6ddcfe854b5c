"""Every moment Vectis stores, ours and the vendors', goes through here: read as ISO 8601, made aware (UTC when
the text names no zone), normalised to UTC and range-checked. PostgreSQL keeps years the driver cannot read back
(``0001-01-01T00:00:00+14:00`` is 1 BC in UTC): one such row would break every page that shows it, so a moment
outside the range is refused before it is written. Vendors that write ``0001-01-01`` for "never" read as None.

Every moment and span a person reads goes out through here too, in one style: UTC, the day before the month's
short name (``6 Dec 18:00``), spans as coarse as a glance needs (``3 h``). The database session is pinned to UTC
(``vectis.platform.db``), but a moment may also come from a vendor's offset or a caller's own clock, so each
formatter converts rather than trusting the moment's zone.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger(__name__)

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def within_range(moment: datetime) -> datetime | None:
    """``moment`` in UTC, or None when it is outside what Vectis stores."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    try:
        utc = aware.astimezone(UTC)
    except OverflowError:  # a local year 1 or 9999 whose UTC side leaves datetime's range
        return None
    return utc if EARLIEST <= utc < LATEST else None


def parse_instant(value: object) -> datetime | None:
    """ISO 8601 text (``Z``, offsets, and the 7 fractional digits .NET vendors send) to a stored moment, or None."""
    if not isinstance(value, str):
        return None
    try:
        # As most vendors write it (``Z``, an offset, any fraction): read as it is, a sync page's thousands of
        # moments at 0.2 µs each rather than 2.8 µs through the mending below.
        parsed = datetime.fromisoformat(value)
    except ValueError:
        mended = _mended(value)
        if mended is None:
            return None
        parsed = mended
    kept = within_range(parsed)
    if kept is None and not (parsed.year == 1 and parsed.utcoffset() in (None, timedelta(0))):
        # 0001-01-01 in UTC is how .NET vendors say "never"; anything else out of range is worth a line.
        log.warning("a vendor date outside 1970-2200 was not stored: %r", value[:40])
    return kept


def _mended(value: str) -> datetime | None:
    """What ``fromisoformat`` refuses as it came: blanks around it, a lower-case ``z``."""
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    if not text:
        return None
    if "." in text:
        head, rest = text.split(".", 1)
        digits = rest[: len(rest) - len(rest.lstrip("0123456789"))]  # the fraction, not the offset's digits
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest[len(digits) :]}"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def parse_epoch(value: object) -> datetime | None:
    """Seconds since 1970 as a JSON number (NinjaOne's times, the spec's ``double``) to a stored moment, or None.
    Only for a vendor whose API defines its times so: Vectis's own API takes ISO 8601, never a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        kept = within_range(datetime.fromtimestamp(value, UTC))
    except (OverflowError, OSError, ValueError):  # beyond what datetime holds
        kept = None
    if kept is None:
        log.warning("a vendor date outside 1970-2200 was not stored: %r", value)
    return kept


# --- moments and spans as a person reads them ---------------------------------------------------------------

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive one is taken as UTC already (never as this machine's local time)."""
    # astimezone returns the very same object for a moment already in UTC: free on the hot path.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def when(moment: datetime) -> str:
    """``6 Dec 18:00`` (UTC): the moment in a list, a tooltip, a sentence."""
    # Not strftime: a Backups tab formats thousands of these (every run of every job), and %b costs ~10x.
    at = utc(moment)
    return f"{at.day} {_MONTHS[at.month - 1]} {at.hour:02d}:{at.minute:02d}"


def day(moment: datetime) -> str:
    """``6 Dec`` (UTC)."""
    at = utc(moment)
    return f"{at.day} {_MONTHS[at.month - 1]}"


def when_in_full(moment: datetime) -> str:
    """``6 Dec 2026 18:00 UTC``: for text that leaves Vectis or is read long after (a ticket, an e-mail, a log)."""
    at = utc(moment)
    return f"{at.day} {_MONTHS[at.month - 1]} {at.year} {at.hour:02d}:{at.minute:02d} UTC"


def calendar_day(on: date) -> str:
    """``18 Dec 2026``: a day that is not a moment (a contract's end), with its year, as it may be years away."""
    return f"{on.day} {_MONTHS[on.month - 1]} {on.year}"


def days(count: int) -> str:
    """``1 day``, ``12 days``: a count of whole calendar days ("renews in …", "ended … ago")."""
    return f"{count} day" if abs(count) == 1 else f"{count} days"


def clock(moment: datetime) -> str:
    """``18:00 UTC``: a moment within the next hour or so ("try again at …")."""
    at = utc(moment)
    return f"{at.hour:02d}:{at.minute:02d} UTC"


def span(length: timedelta) -> str:
    """``5 min``, ``3 h``, ``4 days``: how long, as coarse as a glance needs (never "0 min")."""
    total = length.total_seconds()
    if total < 3600:
        return f"{max(int(total // 60), 1)} min"
    if total < 3 * 86400:
        return f"{int(total // 3600)} h"
    return f"{int(total // 86400)} days"


def span_to_the_second(length: timedelta) -> str:
    """``12 s``, ``4 min 5 s``, ``1 h 20 min``: how long something someone is waiting on has been at it."""
    whole = max(0, int(length.total_seconds()))
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s" if whole % 60 else f"{whole // 60} min"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


def ago(moment: datetime | None, now: datetime) -> str:
    """``3 h ago``, or "" for no moment."""
    return f"{span(now - moment)} ago" if moment is not None else ""


def init_app(app: Flask) -> None:
    """The formatters as template filters, so a page shows moments as the rest of Vectis does."""
    app.add_template_filter(when, "when")
    app.add_template_filter(day, "day")
    app.add_template_filter(when_in_full, "when_in_full")
    app.add_template_filter(calendar_day, "calendar_day")
