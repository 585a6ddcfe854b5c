"""What Microsoft Defender for Endpoint's API and Entra ID's token endpoint define, and the simulator publishes: the
paths, the demo app registration, paging limits, Defender's words for severity, status, classification and machine
actions, its ISO times and the two error bodies (Entra's OAuth error, the API's OData error)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from vectis.simulators.base import Json

API = "/api"
TOKEN_PATH = "/{tenant}/oauth2/v2.0/token"  # noqa: S105 - a path, not a password
SCOPE = "https://api.securitycenter.microsoft.com/.default"
# The demo app registration: a multi-tenant Entra app consented in every customer tenant, so one client id and
# secret sign in to each (the tenant id in the token URL says which customer). Published for the demo.
DEMO_CLIENT_ID = "5f0c7e1a-3b9d-4c2e-8a61-7d4b2e9f0c13"
DEMO_CLIENT_SECRET = "Vct8Q~demo.Defender-Secret_4K2M9Q4R8T1W"  # noqa: S105 - published demo
TOKEN_LIFETIME = 3599  # seconds, as Entra issues app-only tokens
TOP_MAX = 10_000  # the most /api/alerts gives in one page (Defender's documented $top maximum)
TOP_DEFAULT = 10_000

SEVERITIES = ("Informational", "Low", "Medium", "High")
STATUSES = ("New", "InProgress", "Resolved")
CLASSIFICATIONS = ("Unknown", "FalsePositive", "TruePositive", "InformationalExpectedActivity")
DETERMINATIONS = (
    "NotAvailable", "Apt", "Malware", "SecurityPersonnel", "SecurityTesting", "UnwantedSoftware", "Other",
    "MultiStagedAttack", "CompromisedUser", "Phishing", "MaliciousUserActivity", "Clean", "InsufficientData",
    "ConfirmedUserActivity", "LineOfBusinessApplication",
)  # fmt: skip
ACTION_STATUSES = ("Pending", "InProgress", "Succeeded", "Failed", "TimeOut", "Cancelled")


def iso(seconds: float) -> str:
    """A Defender timestamp: ISO 8601 in UTC with seven fractional digits and ``Z`` (``2024-03-14T09:30:12.2500000Z``)."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


def parse_iso(text: str) -> float | None:
    """Epoch seconds of an ISO 8601 time (``Z``, an offset or naive UTC; up to seven fractional digits)."""
    text = text.strip().replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:  # Python reads at most six fractional digits
        digits = "".join(ch for ch in rest if ch.isdigit())
        text = f"{head}.{digits[:6]}{rest[len(digits) :]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment).timestamp()


class ApiError(Exception):
    """An API error in Defender's OData shape: ``{"error": {"code", "message", "target"}}``."""

    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = dict(headers or {})

    def body(self) -> Json:
        return {"error": {"code": self.code, "message": self.message, "target": "00000000-0000-0000-0000-000000000000"}}


class OAuthError(Exception):
    """An Entra token refusal: ``{"error", "error_description" (AADSTS code first), "error_codes"}``."""

    def __init__(self, status: int, error: str, code: int, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.code, self.description = status, error, code, description

    def body(self) -> Json:
        return {
            "error": self.error,
            "error_description": f"AADSTS{self.code}: {self.description}",
            "error_codes": [self.code],
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ"),
        }


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def not_found(message: str) -> ApiError:
    return ApiError(404, "ResourceNotFound", message)
