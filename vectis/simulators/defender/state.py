"""The simulated Defender service behind Entra ID: the demo app registration and the tokens it was given, every
customer tenant's machines, alerts and machine actions, fault knobs and request counters; the live views of its data
(a machine action as it settles), and the changes the API (or ``/_sim``) makes."""

from __future__ import annotations

import functools
import re
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from vectis.simulators.base import BOOL, COUNT, SECONDS, FaultKnobs, Json, Rule, SimState
from vectis.simulators.defender.seed import KINDS, DefenderData, Generator, build_at_scale, build_demo
from vectis.simulators.defender.vendor import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    SCOPE,
    SEVERITIES,
    TOKEN_LIFETIME,
    ApiError,
    OAuthError,
    bad_request,
    iso,
    not_found,
    parse_iso,
)

SERVED_KEPT = 10_000  # the latest requests ``served`` keeps: a long-running demo simulator does not grow

# --- faults --------------------------------------------------------------------------------------------

_KNOB_RULES: dict[str, Rule] = {
    "bad_secret": BOOL,
    "secret_expired": BOOL,
    "not_consented": (
        lambda v: isinstance(v, bool) or (isinstance(v, list) and all(isinstance(x, str) for x in v)),
        "true (every tenant), false, or a list of tenant ids",
        lambda v: v,
    ),
    "token_revoked": BOOL,
    "forbidden": (lambda v: v in ("", "writes", "all"), '"writes", "all" or "" for none', str),
    "rate_limit_per_second": COUNT,
    "errors_5xx": COUNT,
    "error_status": (lambda v: v in (500, 502, 503, 504) and not isinstance(v, bool), "500, 502, 503 or 504", int),
    "latency": SECONDS,
    "hang": SECONDS,
}


@dataclass
class Faults(FaultKnobs):
    bad_secret: bool = False  # every token request 401 invalid_client (AADSTS7000215: a wrong or mistyped secret)
    secret_expired: bool = False  # every token request 401 invalid_client (AADSTS7000222: the secret expired)
    # true: every token request 400 (AADSTS700016: the app is not in that tenant); a list: in those tenants only
    not_consented: bool | list[str] = False
    token_revoked: bool = False  # every API request 401, whatever token it carries
    forbidden: str = ""  # "writes": the app has Alert.Read.All only, so actions answer 403; "all": every API call
    rate_limit_per_second: int = 0  # 0: no throttling; over it: 429 with Retry-After: 1 (API and token endpoint)
    errors_5xx: int = 0  # the next N requests answer error_status
    error_status: int = 500
    latency: float = 0.0
    hang: float = 0.0

    RULES = _KNOB_RULES


def _epoch_of(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    return (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment).timestamp()


# --- OData $filter: "<field> <op> <value>" clauses joined by "and" ------------------------------------

CLAUSE = re.compile(r"^\s*(\w+)\s+(eq|ne|gt|ge|lt|le)\s+('(?:[^']|'')*'|\S+)\s*$", re.I)
COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b, "lt": lambda a, b: a < b, "le": lambda a, b: a <= b,
}  # fmt: skip
TIMES = {"alertCreationTime", "lastUpdateTime", "lastEventTime", "firstEventTime", "creationDateTimeUtc"}


def parse_filter(text: str, allowed: set[str]) -> Callable[[Json], bool]:
    """An OData ``$filter`` of ``and``-joined comparisons on ``allowed`` fields (what Defender documents for each
    list) as a test on a row; 400 for anything else (``or``, functions, an unknown field)."""
    tests: list[Callable[[Json], bool]] = []
    for part in re.split(r"\s+and\s+", text.strip(), flags=re.I) if text.strip() else []:
        found = CLAUSE.match(part.strip("() "))
        if found is None:
            raise bad_request(f"Invalid filter clause: {part!r}.")
        name, op, raw = found[1], found[2].lower(), found[3]
        if name not in allowed:
            raise bad_request(f"$filter on {name} is not supported.")
        value: Any = raw[1:-1].replace("''", "'") if raw.startswith("'") else raw
        if name in TIMES:
            bound = parse_iso(str(value))
            if bound is None:
                raise bad_request(f"{name}: not an ISO 8601 time.")
            tests.append(_time_test(name, COMPARE[op], bound))
        else:
            tests.append(_value_test(name, COMPARE[op], value))
    return lambda row: all(test(row) for test in tests)


@functools.lru_cache(maxsize=65_536)
def _instant(text: str) -> float:
    """A row's time as epoch seconds, parsed once however many pages filter on it."""
    return parse_iso(text) or 0.0


def _time_test(name: str, compare: Callable[[Any, Any], bool], bound: float) -> Callable[[Json], bool]:
    return lambda row: row.get(name) is not None and compare(_instant(str(row[name])), bound)


def _value_test(name: str, compare: Callable[[Any, Any], bool], value: Any) -> Callable[[Json], bool]:
    return lambda row: compare(str(row.get(name)).lower(), str(value).lower())


# --- state ---------------------------------------------------------------------------------------------


@dataclass
class DefenderState(SimState[Faults], DefenderData):
    """Seeded data (``DefenderData``), the app registration, the tokens it was given, fault knobs and bookkeeping.

    A machine action (isolate, unisolate) is ``Pending`` until ``transition_seconds`` of ``clock()`` have passed,
    then ``Succeeded`` on the next read (as a real device takes its next check-in to apply it)."""

    apps: dict[str, str] = field(default_factory=lambda: {DEMO_CLIENT_ID: DEMO_CLIENT_SECRET})
    tokens: dict[str, tuple[str, float]] = field(default_factory=dict)  # access token -> (tenant id, expires at)
    # Every API request as "<tenant> <METHOD> <path>", the tenant being the one its token was given for: a test reads
    # which customer's tenant an action went to.
    served: deque[str] = field(default_factory=lambda: deque(maxlen=SERVED_KEPT), compare=False)
    faults: Faults = field(default_factory=Faults)
    clock: Callable[[], float] = field(default=time.time, compare=False, repr=False)
    transition_seconds: float = 1.0

    @classmethod
    def seeded(cls, seed: int = 1, now: datetime | None = None) -> DefenderState:
        """The demo MSP: a tenant per customer, the first (the demo connection's) with fourteen alerts."""
        state = cls()
        state.now = build_demo(state, seed, _epoch_of(now)).now
        return state

    @classmethod
    def at_scale(
        cls, *, tenants: int = 500, alerts: int = 5_000, seed: int = 1, now: datetime | None = None
    ) -> DefenderState:
        """A large MSP for benchmarks: 500 customer tenants and 5,000 alerts over four weeks by default."""
        state = cls()
        state.now = build_at_scale(state, seed, _epoch_of(now), tenants=tenants, alerts=alerts).now
        return state

    @property
    def demo_tenant(self) -> str:
        """The tenant the demo connection signs in to: the first customer's."""
        return next(iter(self.tenants))

    # -- Entra ID

    def grant(self, tenant: str, form: dict[str, str]) -> Json:
        """``POST /{tenant}/oauth2/v2.0/token`` with client credentials: an access token for that tenant."""
        if form.get("grant_type") != "client_credentials":
            raise OAuthError(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
        found = self.tenant_named(tenant)
        if found is None:
            raise OAuthError(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
        tenant = found
        client = form.get("client_id", "")
        refused = self.faults.not_consented
        if refused is True or (isinstance(refused, list) and tenant in refused) or client not in self.apps:
            raise OAuthError(
                400, "unauthorized_client", 700016,
                f"Application with identifier '{client}' was not found in the directory '{tenant}'.",
            )  # fmt: skip
        if self.faults.secret_expired:
            raise OAuthError(401, "invalid_client", 7000222, f"The provided client secret keys for app '{client}' "
                             "are expired.")  # fmt: skip
        if self.faults.bad_secret or not secrets.compare_digest(form.get("client_secret", ""), self.apps[client]):
            raise OAuthError(401, "invalid_client", 7000215, "Invalid client secret provided.")
        if form.get("scope") not in (SCOPE, "https://securitycenter.onmicrosoft.com/windowsatpservice/.default"):
            raise OAuthError(400, "invalid_scope", 1002012, f"The provided value for scope {form.get('scope')} is "
                             "not valid.")  # fmt: skip
        token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9." + secrets.token_urlsafe(32)
        self.tokens[token] = (tenant, self.clock() + TOKEN_LIFETIME)
        return {"token_type": "Bearer", "expires_in": TOKEN_LIFETIME, "ext_expires_in": TOKEN_LIFETIME,
                "access_token": token}  # fmt: skip

    def tenant_named(self, name: str) -> str | None:
        """The tenant id Entra reads from a token URL: the id itself, or one of the tenant's domains (its
        ``<code>.onmicrosoft.com`` or its own)."""
        name = name.lower()
        if name in self.tenants:
            return name
        return next((t["id"] for t in self.tenants.values() if name in (t["domain"], t.get("initial_domain"))), None)

    def authorize(self, header: str, *, write: bool) -> str:
        """The tenant a ``Bearer`` token was given for: 401 for none, an unknown or expired one; 403 by the knob."""
        scheme, _, token = header.partition(" ")
        found = self.tokens.get(token.strip()) if scheme == "Bearer" else None
        if self.faults.token_revoked or found is None or found[1] <= self.clock():
            raise ApiError(401, "Unauthorized", "Authorization token is missing, invalid or expired.")
        if self.faults.forbidden == "all" or (self.faults.forbidden == "writes" and write):
            raise ApiError(403, "Forbidden", "The application does not have the permission this request needs "
                           "(Machine.Isolate, Alert.ReadWrite.All).")  # fmt: skip
        return found[0]

    # -- views

    def cleared(self) -> None:
        self.served.clear()

    def settle(self) -> None:
        """Machine actions that have waited ``transition_seconds`` succeed."""
        now = self.clock()
        with self._lock:
            for action in self.actions.values():
                if action["status"] in ("Pending", "InProgress") and now - action["_asked"] >= self.transition_seconds:
                    action["status"] = "Succeeded"
                    action["lastUpdateDateTimeUtc"] = iso(now)

    @staticmethod
    def shown(row: Json) -> Json:
        """A row as the API sends it (without the simulator's own keys)."""
        return {key: value for key, value in row.items() if not key.startswith("_")}

    def machine_in(self, tenant: str, machine_id: str) -> Json:
        machine = self.machines.get(machine_id.lower())
        if machine is None or machine["_tenant"] != tenant:
            raise not_found(f"Machine {machine_id} was not found.")
        return machine

    def alert_in(self, tenant: str, alert_id: str) -> Json:
        alert = self.alerts.get(alert_id)
        if alert is None or alert["_tenant"] != tenant:
            raise not_found(f"Alert {alert_id} was not found.")
        return alert

    # -- changes

    def machine_action(self, tenant: str, machine_id: str, kind: str, comment: str, isolation: str | None) -> Json:
        """``POST /machines/{id}/isolate`` or ``unisolate``: a new MachineAction, Pending. Defender refuses a second
        one of the same type while one is still pending (400 ActiveRequestAlreadyExists) [U: its exact code]."""
        machine = self.machine_in(tenant, machine_id)
        with self._lock:
            for action in self.actions.values():
                if action["machineId"] == machine["id"] and action["type"] == kind and action["status"] == "Pending":
                    raise bad_request(f"Action is already in progress: {action['id']}.")
            now = self.clock()
            action = {
                "id": Generator(len(self.actions) + 104_729, now).guid(),
                "type": kind,
                "scope": isolation,
                "requestor": "Vectis (app)",
                "requestorComment": comment,
                "status": "Pending",
                "machineId": machine["id"],
                "computerDnsName": machine["computerDnsName"],
                "creationDateTimeUtc": iso(now),
                "lastUpdateDateTimeUtc": iso(now),
                "relatedFileInfo": None,
                "_tenant": tenant,
                "_asked": now,
            }
            self.actions[action["id"]] = action
        return action

    def update_alert(self, tenant: str, alert_id: str, changes: Json) -> Json:
        """``PATCH /alerts/{id}``: status, classification, determination, assignedTo, comment; ``lastUpdateTime``
        moves to now (always forward, so an incremental reader sees the change)."""
        alert = self.alert_in(tenant, alert_id)
        with self._lock:
            now = self.clock()
            for name in ("status", "classification", "determination", "assignedTo"):
                if name in changes:
                    alert[name] = changes[name]
            if changes.get("comment"):
                alert["comments"].append({"comment": changes["comment"], "createdBy": "Vectis (app)",
                                          "createdTime": iso(now)})  # fmt: skip
            alert["resolvedTime"] = iso(now) if alert["status"] == "Resolved" else None
            alert["lastUpdateTime"] = iso(max(now, (parse_iso(alert["lastUpdateTime"]) or 0.0) + 0.001))
        return alert

    def add_alert(self, machine_id: str, *, severity: str | None, title: str | None) -> Json:
        """A new alert on a machine (``/_sim/alerts``), raised now."""
        machine = self.machines.get(machine_id)
        if machine is None:
            raise not_found(f"Machine {machine_id} was not found.")
        if severity is not None and severity not in SEVERITIES:
            raise bad_request(f"severity must be one of {', '.join(SEVERITIES)}.")
        base = KINDS[1]
        kind = type(base)(title or base.title, base.category, severity or base.severity, base.file, base.threat_family)
        with self._lock:
            now = self.clock()
            alert = Generator(len(self.alerts) + 7919, now).alert(
                self, machine, kind, status="New", classification=None, determination=None, created=now
            )
            alert["lastUpdateTime"] = alert["alertCreationTime"]
        return alert
