"""Every moment Vectis stores, ours and the vendors', goes through here: read as ISO 8601, made aware (UTC when
the text names no zone), normalised to UTC and range-checked. PostgreSQL keeps years the driver cannot read back
(``0001-01-01T00:00:00+14:00`` is 1 BC in UTC): one such row would break every page that shows it, so a moment
outside the range is refused before it is written. Vendors that write ``0001-01-01`` for "never" read as None.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

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
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    if "." in text:
        head, rest = text.split(".", 1)
        digits = rest[: len(rest) - len(rest.lstrip("0123456789"))]  # the fraction, not the offset's digits
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest[len(digits) :]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    kept = within_range(parsed)
    if kept is None and not (parsed.year == 1 and parsed.utcoffset() in (None, timedelta(0))):
        # 0001-01-01 in UTC is how .NET vendors say "never"; anything else out of range is worth a line.
        log.warning("a vendor date outside 1970-2200 was not stored: %r", value[:40])
    return kept
