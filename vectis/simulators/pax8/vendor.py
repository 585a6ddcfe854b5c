"""What Pax8's partner API defines, and the simulator publishes: the paths, the demo API credentials, paging limits,
Pax8's words for billing terms and subscription statuses, its dates and its error bodies."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime

from vectis.simulators.base import Json

API = "/v1"
TOKEN_PATH = "/v1/token"  # noqa: S105 - a path, not a password
LEGACY_TOKEN_PATH = "/auth/token"  # noqa: S105 - an older revision's token-manager path (camelCase JSON)
AUDIENCE = "https://api.pax8.com"
LEGACY_AUDIENCE = "api://p8p.client"
# The demo partner's API credentials, published for the demo (Pax8: Settings → Integrations → Credentials).
DEMO_CLIENT_ID = "p8demo-4b1c9e2a7f3d"
DEMO_CLIENT_SECRET = "p8s_demo-Secret.7Kq2Xr9VmW4t"  # noqa: S105 - published demo
TOKEN_LIFETIME = 86_400  # a day, as Pax8 issues them
SIZE_DEFAULT = 10
SIZE_MAX = 200  # [U] the maximum page size commonly cited

# Pax8's billing terms [T]; the spelling of the multi-year ones is [U] ("2-Year").
BILLING_TERMS = ("Monthly", "Annual", "2-Year", "3-Year", "One-Time", "Trial", "Activation")
# Terms with a commitment: a seat reduction waits for the commitment's end (Microsoft's NCE rule).
COMMITTED = {"Annual": 12, "2-Year": 24, "3-Year": 36}
STATUSES = (
    "Active", "Cancelled", "PendingManual", "PendingAutomated", "PendingCancel", "WaitingForDetails", "Trial",
    "Converted", "PendingActivation", "Activated",
)  # fmt: skip
# How long after a (re)newal NCE still lets seats go down [U for Pax8; Microsoft's NCE window is 7 days].
REDUCTION_WINDOW_DAYS = 7
WEBHOOK_TOPIC = "SUBSCRIPTION"  # [U] the topic name; its actions CREATED, UPDATED, CANCELLED


def iso(moment: datetime) -> str:
    """A Pax8 timestamp: ISO 8601 in UTC with milliseconds and ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def day_of(moment: date) -> str:
    """A Pax8 date (``2026-03-01``)."""
    return moment.isoformat()


class ApiError(Exception):
    """An API error in the shape the simulator gives Pax8 [U: Pax8 documents none]:
    ``{"type", "message", "status", "instance", "details"}`` (Spring's problem shape, which its answers resemble)."""

    def __init__(
        self,
        status: int,
        kind: str,
        message: str,
        headers: Mapping[str, str] | None = None,
        details: Json | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message
        self.headers = dict(headers or {})
        self.details = details or {}

    def body(self, path: str) -> Json:
        return {"type": self.kind, "message": self.message, "status": self.status, "instance": path,
                "details": self.details}  # fmt: skip


class TokenError(Exception):
    """A token refusal as Pax8's Auth0 tenant answers it: ``{"error", "error_description"}``."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description

    def body(self) -> Json:
        return {"error": self.error, "error_description": self.description}


def bad_request(message: str, details: Json | None = None) -> ApiError:
    return ApiError(400, "BadRequest", message, details=details)


def not_found(message: str) -> ApiError:
    return ApiError(404, "NotFound", message)
