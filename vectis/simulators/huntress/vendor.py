"""What Huntress's API v1 defines and the simulator publishes: the base path, the demo API key pair, paging limits,
the words it uses for incident report statuses, severities and an agent's firewall, its ISO times, its page tokens
and its error body."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from vectis.simulators.base import Json

API = "/v1"
# The demo account's API key pair. Huntress's keys start ``hk_`` and its secrets ``hs_``; the secret is shown once,
# when the pair is generated. These only have to look like them and are published for the demo.
DEMO_API_KEY = "hk_8c2f0e6a41d94b7f9a35"
DEMO_API_SECRET = "hs_5b1d7e93c0a24f6e8d71c4a9b2e06f38"  # noqa: S105 - published demo
LIMIT_DEFAULT, LIMIT_MAX = 10, 500  # Huntress's page size when none is asked; the most it gives

# Incident report statuses as Huntress lists them (``deleting`` and ``draft`` never reach a partner's list here).
STATUSES = ("sent", "closed", "dismissed", "partner_dismissed", "auto_remediating")
SEVERITIES = ("low", "high", "critical")
PLATFORMS = ("windows", "darwin", "linux", "microsoft_365", "google", "email_security", "other")
FIREWALL_STATUSES = ("Disabled", "Enabled", "Pending Isolation", "Isolated", "Pending Release")
REMEDIATION_STATUSES = ("unapproved", "approved", "completed", "failed", "cancelled")
INDICATOR_TYPES = (
    "footholds", "monitored_files", "ransomware_canaries", "antivirus_detections", "process_detections",
    "managed_identity", "mde_detections", "siem_detections", "behavioral_detections",
)  # fmt: skip


# --- time ----------------------------------------------------------------------------------------------


def iso(seconds: float) -> str:
    """A Huntress timestamp: ISO 8601 in UTC to the second with ``Z`` (``2022-03-15T14:22:00Z``)."""
    return datetime.fromtimestamp(int(seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> float | None:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment).timestamp()


# --- page tokens ---------------------------------------------------------------------------------------


def encode_token(key: list[Any]) -> str:
    """``pagination.next_page_token`` is opaque; here it carries the sort key of the last row given (keyset
    paging: a row added or changed meanwhile neither repeats nor shifts the pages after it) [U]."""
    return base64.urlsafe_b64encode(json.dumps({"after": key}, separators=(",", ":")).encode()).decode()


def decode_token(text: str) -> list[Any] | None:
    try:
        found = json.loads(base64.urlsafe_b64decode(text.encode()))
    except ValueError:
        return None
    after = found.get("after") if isinstance(found, dict) else None
    return after if isinstance(after, list) else None


# --- errors --------------------------------------------------------------------------------------------


class ApiError(Exception):
    """An error answer. Huntress does not publish its error body; ``{"error": "<words>", "status": <code>}`` is
    this simulator's choice [U]."""

    def __init__(self, status: int, detail: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})

    def body(self) -> Json:
        return {"error": self.detail, "status": self.status}


def bad_request(detail: str) -> ApiError:
    return ApiError(400, detail)


def not_found(detail: str) -> ApiError:
    return ApiError(404, detail)
