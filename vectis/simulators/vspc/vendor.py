"""What VSPC's REST API v3 defines and the simulator publishes: the base path and versions, paging limits,
the demo credentials, Veeam's time format (.NET ticks, 7 fractional digits) and its error body."""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache

from vectis.simulators.base import Json

API = "/api/v3"
API_VERSION = "3.6.1"
DEFAULT_SERVER_VERSION = "9.1.0.30713"  # VSPC 9.1 speaks API 3.6.1; the build number is made up
DEMO_USERNAME = "vectis-svc"
DEMO_PASSWORD = "demo-password"  # noqa: S105 - the simulator's published demo credential
DEMO_API_KEY = "vspc-demo-api-key"
MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 100
SERVER_TZ = timezone(timedelta(hours=1))
BAD_CREDENTIALS = "Cannot complete login due to incorrect username or password, or no sufficient rights."
TICKS = 10_000_000  # .NET ticks per second: Veeam writes 7 fractional digits


# --- time ----------------------------------------------------------------------------------------------


def format_ticks(ticks: int, tz: tzinfo = SERVER_TZ) -> str:
    """``2023-01-16T16:30:09.4952609+01:00`` from 100-ns ticks since the Unix epoch."""
    seconds, fraction = divmod(ticks, TICKS)
    text = datetime.fromtimestamp(seconds, tz).isoformat()  # whole seconds: "2023-01-16T16:30:09+01:00"
    return f"{text[:19]}.{fraction:07d}{text[19:]}"


def ticks_of(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return calendar.timegm(moment.utctimetuple()) * TICKS + moment.microsecond * 10


_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?\s*(Z|z|[+-]\d{2}:?\d{2})?"
)


@lru_cache(maxsize=131072)
def parse_ticks(text: str) -> int | None:
    """Ticks for an RFC 3339 / ISO 8601 string (no offset means UTC, as .NET reads it), else None.
    Kept at tick precision so two of Veeam's 7-digit times never compare equal by truncation."""
    match = _DATE_TIME.fullmatch(text)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    tz: tzinfo = UTC
    if offset and offset not in ("Z", "z"):
        digits = offset.replace(":", "")
        delta = timedelta(hours=int(digits[1:3]), minutes=int(digits[3:5]))
        tz = timezone(-delta if digits[0] == "-" else delta)
    try:
        moment = datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), tzinfo=tz
        )
    except ValueError:
        return None
    return calendar.timegm(moment.utctimetuple()) * TICKS + int((fraction or "")[:7].ljust(7, "0"))


# --- errors --------------------------------------------------------------------------------------------


class ApiError(Exception):
    """A Veeam error body: ``{"errors":[{"message","type","code"[, parameterName]}]}``."""

    def __init__(
        self, status: int, message: str, *, kind: str = "logical", code: int | None = None, parameter: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: Json = {"message": message, "type": kind, "code": code if code is not None else status}
        if parameter:
            self.body["parameterName"] = parameter
