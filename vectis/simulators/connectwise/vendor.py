"""What ConnectWise PSA's REST API defines and the simulator publishes: the base path, the demo keys and
clientId, limits, the permissions a 403 names, its records (API keys, tickets), its error body, its time
format and how it signs callbacks."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from vectis.simulators.base import Json

API = "/v4_6_release/apis/3.0"
DEMO_COMPANY_ID = "summitmsp"
DEMO_PUBLIC_KEY = "Xq3vB7nL2kTw9RdP"
DEMO_PRIVATE_KEY = "m4Hc8ZsJ1yQe6UfA"  # the simulator's published demo credential
DEMO_CLIENT_ID = "5f1d2c7a-9b3e-4e8a-a6d4-2c0b7e91f35d"
API_MEMBER = "VectisAPI"  # the API member the demo keys belong to
SIGNATURE_HEADER = "x-content-signature"
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 1000
ATTACHMENT_CAP = 10 * 1024 * 1024  # ConnectWise's document limit
SYSTEM_INFO: Json = {
    "version": "v2025.1.10431",
    "isCloud": True,
    "serverTimeZone": "Eastern Standard Time",
    "cloudRegion": "NA",
}
PERMISSIONS: dict[str, str] = {  # path prefix -> the security-role module a 403 names
    "/service/tickets": "Service Tickets",
    "/service/boards": "Service Desk - Service Board Setup",
    "/service/priorities": "Service Desk - Table Setup",
    "/company": "Companies - Company Maintenance",
    "/finance/agreements": "Finance - Agreements",
    "/system/members": "System - Member Maintenance",
    "/system/callbacks": "System - Table Setup",
    "/system/documents": "Companies - Company Maintenance (documents)",
    "/system/info": "System - System Reports",
}


# --- time and signing ----------------------------------------------------------------------------------


def iso(moment: datetime) -> str:
    """``2025-03-14T09:30:12Z``: UTC, whole seconds (string order is time order)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def sign(body: bytes, signing_key: str) -> str:
    """ConnectWise's callback signature: ``base64(HMAC-SHA256(key=SHA256(signing_key), msg=body))``."""
    key = hashlib.sha256(signing_key.encode()).digest()
    return base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()


# --- records and errors --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiKey:
    company_id: str
    private_key: str
    member_id: int


@dataclass(slots=True)
class Ticket:
    """A service ticket, kept compact (views are built on demand); refs are ids into the state's tables."""

    id: int
    summary: str
    board_id: int
    status_id: int
    company_id: int
    contact_id: int | None
    priority_id: int
    owner_id: int | None
    closed: bool
    date_entered: str
    entered_by: str
    closed_date: str | None
    closed_by: str | None
    last_updated: str
    updated_by: str
    topic: int = -1  # seeded tickets: the template their notes are written from
    detail: str = ""  # seeded tickets: the host or person the summary names
    sla_id: int | None = None  # the SLA it is under (``sla.SLAS``); None: none
    date_responded: str | None = None  # when it left the response stage
    waiting_minutes: int = 0  # how long its SLA clock stood still (waiting on the client)


class ApiError(Exception):
    """An error answer in ConnectWise's shape."""

    def __init__(self, status: int, code: str, message: str, errors: list[Json] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> Json:
        body: Json = {"code": self.code, "message": self.message}
        if self.errors:
            body["errors"] = self.errors
        return body


def invalid(message: str, field_name: str, resource: str = "ticket", code: str = "InvalidField") -> ApiError:
    return ApiError(
        400,
        "InvalidObject",
        message,
        [{"code": code, "message": message, "resource": resource, "field": field_name}],
    )


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _strip(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_strip(item) for item in value]
    return value


def compact(row: Json) -> Json:
    """ConnectWise leaves null fields out."""
    out: Json = _strip(row)
    return out
