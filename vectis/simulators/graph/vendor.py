"""What Microsoft Graph and Entra ID's token endpoint define, and the simulator publishes: the paths, the demo app
registration, the application permissions each list needs, Graph's words (compliance states, policy states), its
ISO times, the app-only token (a JWT whose ``roles`` claim lists what was granted) and the two error bodies."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import UTC, datetime

from vectis.simulators.base import Json

API = "/v1.0"
TOKEN_SUFFIX = "/oauth2/v2.0/token"  # noqa: S105 - a path, not a password
SCOPE = "https://graph.microsoft.com/.default"
# The demo app registration: the MSP's multi-tenant Entra app, consented in every customer tenant, so one client id
# and secret sign in to each (the tenant id in the token URL says which customer). Published for the demo.
DEMO_CLIENT_ID = "0e6c3b7a-91d2-4f58-b8a4-2c7e5d1f9a36"
DEMO_CLIENT_SECRET = "Gq8Q~demo.Graph-Secret_7H3N5P2V9X4Z"  # noqa: S105 - published demo
TOKEN_LIFETIME = 3599  # seconds, as Entra issues app-only tokens
PAGE_DEFAULT = 100  # rows a page when the client names no $top [U: Graph's default differs per list]
TOP_MAX = 999

# Application permissions (the token's ``roles``) each list needs; any one of a tuple will do.
SECURE_SCORES = ("SecurityEvents.Read.All", "SecurityEvents.ReadWrite.All")
MANAGED_DEVICES = ("DeviceManagementManagedDevices.Read.All", "DeviceManagementManagedDevices.ReadWrite.All")
CA_POLICIES = ("Policy.Read.All",)
DIRECTORY_ROLES = ("RoleManagement.Read.Directory", "Directory.Read.All", "RoleManagement.Read.All")
REGISTRATION = ("AuditLog.Read.All",)
ORGANIZATION = ("Organization.Read.All", "Directory.Read.All", "User.Read.All")
ALL_ROLES = (
    "SecurityEvents.Read.All", "DeviceManagementManagedDevices.Read.All", "Policy.Read.All",
    "RoleManagement.Read.Directory", "AuditLog.Read.All", "Organization.Read.All",
)  # fmt: skip

COMPLIANCE_STATES = ("unknown", "compliant", "noncompliant", "conflict", "error", "inGracePeriod", "configManager")
POLICY_STATES = ("enabled", "disabled", "enabledForReportingButNotEnforced")


def iso(seconds: float) -> str:
    """A Graph timestamp: ISO 8601 in UTC with ``Z`` (``2024-03-14T09:30:12Z``)."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def day(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(claims: Json, signature: str) -> str:
    """An unsigned-looking JWT: header, the claims, an opaque signature (Graph checks it, a client need not)."""
    header = b64url(json.dumps({"typ": "JWT", "alg": "RS256", "kid": "sim"}).encode())
    return f"{header}.{b64url(json.dumps(claims, separators=(',', ':')).encode())}.{signature}"


class ApiError(Exception):
    """A Graph error: ``{"error": {"code", "message", "innerError": {"date", "request-id"}}}``."""

    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = dict(headers or {})

    def body(self) -> Json:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        inner = {"date": now, "request-id": "00000000-0000-0000-0000-000000000000"}
        return {"error": {"code": self.code, "message": self.message, "innerError": inner}}


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


def denied(needs: tuple[str, ...]) -> ApiError:
    """A missing application permission, as Graph's directory APIs say it."""
    return ApiError(
        403, "Authorization_RequestDenied", f"Insufficient privileges to complete the operation. ({' or '.join(needs)})"
    )


def forbidden(needs: tuple[str, ...]) -> ApiError:
    """A missing permission, as Graph's Intune and security APIs say it."""
    return ApiError(
        403, "Forbidden", "Application is not authorized to perform this operation. Application must have one of "
        f"the following scopes: {', '.join(needs)}",
    )  # fmt: skip


def not_premium() -> ApiError:
    """A tenant without Entra ID P1 asking for what needs it: the registration report [T] (and, here, CA policies
    [U: the exact refusal for those])."""
    return ApiError(403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
                    "Neither tenant is B2C or tenant doesn't have premium license")  # fmt: skip


def no_intune() -> ApiError:
    """A tenant without an Intune licence asking for its managed devices: 400 [T: reported by Graph's users]."""
    return ApiError(400, "BadRequest", "Request not applicable to target tenant.")
