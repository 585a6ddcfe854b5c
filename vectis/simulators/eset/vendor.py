"""What ESET Connect (ESET PROTECT Cloud's public API) defines and the simulator publishes: the token endpoint, the
demo API user, paging limits, ESET's enum words (severity levels, detection categories, the isolation state), its
RFC 3339 times, page tokens and its error bodies."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from vectis.simulators.base import Json

TOKEN_PATH = "/oauth/token"  # noqa: S105 - a path, not a password
# The demo API user (ESET PROTECT Hub -> Users -> API user). Published for the demo only.
DEMO_USERNAME = "vectis-api@summit-it.example"
DEMO_PASSWORD = "Vectis-Demo-ESET-2024!"  # noqa: S105 - published demo
TOKEN_LIFETIME = 3600  # ESET's access token lives 60 minutes [C]
PAGE_DEFAULT, PAGE_MAX = 100, 1000  # [U]: ESET does not publish its page sizes; clients ask for 100-500

SEVERITY_LEVELS = (
    "SEVERITY_LEVEL_UNSPECIFIED",
    "SEVERITY_LEVEL_DIAGNOSTIC",
    "SEVERITY_LEVEL_LOW",
    "SEVERITY_LEVEL_MEDIUM",
    "SEVERITY_LEVEL_HIGH",
)
# How the simulator says a device's network isolation stands [U]: ESET Connect's device shape for it is not public;
# the words follow ESET's enum style.
ISOLATION_STATES = (
    "NETWORK_ISOLATION_STATE_NOT_ISOLATED",
    "NETWORK_ISOLATION_STATE_ISOLATING",
    "NETWORK_ISOLATION_STATE_ISOLATED",
    "NETWORK_ISOLATION_STATE_RELEASING",
)
TASK_ACTIONS = ("StartNetworkIsolation", "EndNetworkIsolation")


def iso(seconds: float) -> str:
    """An ESET Connect time: RFC 3339 in UTC, whole seconds, ``Z`` (``2023-10-26T13:36:53Z``)."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> float | None:
    """Epoch seconds of an RFC 3339 time (``Z`` or an offset; naive: UTC); None if it is not one."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment).timestamp()


def encode_token(key: list[Any]) -> str:
    """``nextPageToken`` is opaque; here it carries the sort key of the last row given (keyset paging)."""
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode()


def decode_token(text: str) -> list[Any] | None:
    try:
        found = json.loads(base64.urlsafe_b64decode(text.encode()))
    except ValueError:
        return None
    return found if isinstance(found, list) else None


# gRPC status codes, as a gRPC gateway answers with them (ESET's enums are protobuf's: the API is one) [U].
GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 405: 12, 429: 8, 500: 13, 502: 14, 503: 14, 504: 4}


class ApiError(Exception):
    """An error answer: ``{"code", "message", "details": []}`` (a gRPC gateway's), or for the token endpoint
    OAuth's ``{"error", "error_description"}``."""

    def __init__(
        self, status: int, message: str, headers: Mapping[str, str] | None = None, *, oauth: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})
        self.oauth = oauth

    def body(self) -> Json:
        if self.oauth is not None:
            return {"error": self.oauth, "error_description": self.message}
        return {"code": GRPC_CODES.get(self.status, 2), "message": self.message, "details": []}


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def not_found(message: str) -> ApiError:
    return ApiError(404, message)
