"""What SentinelOne's Management API v2.1 defines and the simulator publishes: the base path, the demo API token,
paging limits, the words it uses for network, incident and verdict states, its ISO times and its error envelope."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from vectis.simulators.base import Json

API = "/web/api/v2.1"
TOKEN_DETAILS = f"{API}/users/api-token-details"
# The demo service user's API token. S1's tokens are long opaque strings (a signed JWT in practice); this one only
# has to look like one and be published for the demo.
DEMO_API_TOKEN = "eyJraWQiOiJ2ZWN0aXMtZGVtbyJ9.VmVjdGlzIGRlbW8gc2VydmljZSB1c2Vy.s1K2M9Q4R8T1W"  # noqa: S105 - published demo
TOKEN_LIFETIME_DAYS = 180  # a service user's token lives as long as it was made to; the demo's, half a year
LIMIT_DEFAULT, LIMIT_MAX = 10, 1000  # S1's page size when none is asked; the most it gives

NETWORK_STATUSES = ("connected", "disconnecting", "disconnected", "connecting")
INCIDENT_STATUSES = ("unresolved", "in_progress", "resolved")
VERDICTS = ("undefined", "true_positive", "false_positive", "suspicious")
CONFIDENCE_LEVELS = ("malicious", "suspicious", "n/a")
DESCRIPTIONS = {
    "unresolved": "Unresolved", "in_progress": "In Progress", "resolved": "Resolved",
    "undefined": "Undefined", "true_positive": "True positive", "false_positive": "False positive",
    "suspicious": "Suspicious", "mitigated": "Mitigated", "active": "Not mitigated", "blocked": "Blocked",
    "marked_as_benign": "Marked as benign",
}  # fmt: skip


# --- time ----------------------------------------------------------------------------------------------


def iso(seconds: float) -> str:
    """A SentinelOne timestamp: ISO 8601 in UTC with microseconds and ``Z`` (``2024-03-14T09:30:12.250000Z``)."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@lru_cache(maxsize=1 << 16)  # every page of a sync filters the same threats' times again
def parse_iso(text: str) -> float | None:
    """Epoch seconds of an ISO 8601 time as a filter carries it (``Z`` or an offset; naive: UTC); None if it is not."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment).timestamp()


# --- cursors -------------------------------------------------------------------------------------------


def encode_cursor(key: list[Any]) -> str:
    """S1's ``nextCursor`` is opaque base64; here it carries the sort key of the last row given (keyset paging, so
    a row added or changed meanwhile neither repeats nor shifts the pages after it)."""
    return base64.urlsafe_b64encode(json.dumps({"after": key}, separators=(",", ":")).encode()).decode()


def decode_cursor(text: str) -> list[Any] | None:
    try:
        found = json.loads(base64.urlsafe_b64decode(text.encode()))
    except ValueError:
        return None
    after = found.get("after") if isinstance(found, dict) else None
    return after if isinstance(after, list) else None


# --- errors --------------------------------------------------------------------------------------------

# S1's error codes are seven digits, the HTTP status first. 4010010 is the one clients quote for a refused token; the
# others follow the same pattern and are this simulator's choice (S1's list of codes is not public) [U].
CODES = {400: 4000010, 401: 4010010, 403: 4030010, 404: 4040010, 405: 4050010, 429: 4290010, 500: 5000010}
TITLES = {
    400: "Validation Error",
    401: "Authentication Failed",
    403: "Insufficient Permissions",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class ApiError(Exception):
    """An error answer in S1's envelope: ``{"errors": [{"code", "detail", "title"}]}`` (and ``"data": null``)."""

    def __init__(self, status: int, detail: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})

    def body(self) -> Json:
        code = CODES.get(self.status, self.status * 10_000 + 10)
        title = TITLES.get(self.status, "Error")
        return {"errors": [{"code": code, "detail": self.detail, "title": title}]}


def unauthorized(detail: str) -> ApiError:
    return ApiError(401, detail)


def bad_request(detail: str) -> ApiError:
    return ApiError(400, detail)


def forbidden(detail: str) -> ApiError:
    return ApiError(403, detail)


def not_found(detail: str) -> ApiError:
    return ApiError(404, detail)
