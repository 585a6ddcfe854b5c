"""What NinjaOne's Public API 2.0 defines and the simulator publishes: the token path and scopes, the demo API
application, paging limits, the node classes, roles and policies it seeds, NinjaOne's epoch-second times and its
error bodies."""

from __future__ import annotations

import itertools
from collections.abc import Mapping

from vectis.simulators.base import Json

TOKEN_PATH = "/ws/oauth/token"  # noqa: S105 - a path, not a password
API = "/v2"
REGIONS: dict[str, str] = {  # instance host prefix -> where it is (https://<prefix>.ninjarmm.com)
    "app": "United States",
    "us2": "United States 2",
    "eu": "European Union",
    "ca": "Canada",
    "oc": "Oceania",
}
# The demo "API Services (machine-to-machine)" application: NinjaOne's client ids are 20 upper-case letters and
# digits, its secrets 40 lower-case ones.
DEMO_CLIENT_ID = "VCTSDEMO7K2M9Q4R8T1W"
DEMO_CLIENT_SECRET = "k3v9q2m7x4b8n1c6z5d0f2g7h4j9l3p8r6t1w0ya"  # noqa: S105 - the simulator's published demo credential
SCOPES = ("monitoring", "management", "control")
READ_SCOPE, WRITE_SCOPE = "monitoring", "management"  # what a GET needs; what a POST, PUT or DELETE needs
TOKEN_LIFETIME = 3600  # seconds, as NinjaOne's expires_in says
ACTIVITY_PAGE_DEFAULT, ACTIVITY_PAGE_MIN, ACTIVITY_PAGE_MAX = 200, 10, 1000  # the spec's bounds on pageSize
ACTIVITY_CLASSES = ("SYSTEM", "DEVICE", "USER", "ALL")
SEVERITIES = ("NONE", "MINOR", "MODERATE", "MAJOR", "CRITICAL")
PRIORITIES = ("NONE", "LOW", "MEDIUM", "HIGH")
PRIORITY_OF = {"CRITICAL": "HIGH", "MAJOR": "HIGH", "MODERATE": "MEDIUM", "MINOR": "LOW", "NONE": "NONE"}
HEALTH_OF = {
    "CRITICAL": "UNHEALTHY",
    "MAJOR": "UNHEALTHY",
    "MODERATE": "NEEDS_ATTENTION",
    "MINOR": "NEEDS_ATTENTION",
    "NONE": "HEALTHY",
}
APPROVAL_STATUSES = ("PENDING", "STAGED", "APPROVED", "DECOMMISSIONED")

# The node classes the seed uses, each with NinjaOne's built-in role of that class and a default policy for it:
# class -> (role id, role name, policy id, host-name tag).
NODE_CLASSES: dict[str, tuple[int, str, int, str]] = {
    "WINDOWS_WORKSTATION": (1, "Windows Desktops and Laptops", 101, "WS"),
    "WINDOWS_SERVER": (2, "Windows Server", 102, "SRV"),
    "MAC": (3, "Mac", 103, "MAC"),
    "LINUX_SERVER": (4, "Linux Server", 104, "LNX"),
    "LINUX_WORKSTATION": (5, "Linux Workstation", 105, "LWS"),
    "VMWARE_VM_HOST": (6, "VMware Host", 106, "ESX"),
}
WINDOWS = ("WINDOWS_WORKSTATION", "WINDOWS_SERVER")


def role(node_class: str) -> Json:
    """NinjaOne's built-in role of a node class (a ``NodeRole``)."""
    role_id, name, _, _ = NODE_CLASSES[node_class]
    return {"id": role_id, "name": name, "nodeClass": node_class, "custom": False}


def policy(node_class: str) -> Json:
    """The default policy of a node class (a ``Policy``)."""
    _, name, policy_id, _ = NODE_CLASSES[node_class]
    return {"id": policy_id, "name": f"{name} - Default", "nodeClass": node_class, "nodeClassDefault": True}


# --- time ----------------------------------------------------------------------------------------------


def epoch(seconds: float) -> float:
    """A NinjaOne timestamp: epoch seconds as a number (the spec's ``double``), to the millisecond."""
    return round(seconds, 3)


# --- errors --------------------------------------------------------------------------------------------

_incidents = itertools.count(1)


class ApiError(Exception):
    """An error answer. NinjaOne's spec describes no error bodies; the API's own are read by clients as
    ``{"resultCode", "errorMessage", "incidentId"}`` and the token endpoint's as ``{"resultCode"}`` alone (it
    answers ``{"resultCode": "Client app not exist"}`` to a client it does not know)."""

    def __init__(
        self,
        status: int,
        result_code: str,
        message: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message or result_code)
        self.status = status
        self.result_code = result_code
        self.message = message
        self.headers = dict(headers or {})

    def body(self) -> Json:
        if self.message is None:
            return {"resultCode": self.result_code}
        return {"resultCode": self.result_code, "errorMessage": self.message, "incidentId": f"SIM-{next(_incidents)}"}


def unauthorized(message: str) -> ApiError:
    """401 for a missing, unknown or expired bearer token (RFC 6750's ``invalid_token``)."""
    return ApiError(401, "UNAUTHORIZED", message, {"WWW-Authenticate": 'Bearer error="invalid_token"'})


def missing_scope(scope: str) -> ApiError:
    """403 for a token whose API application lacks ``scope`` (RFC 6750's ``insufficient_scope``, naming it)."""
    return ApiError(
        403,
        "FORBIDDEN",
        f"The API application is not allowed the '{scope}' scope this request needs.",
        {"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BAD_REQUEST", message)


def not_found(message: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", message)
