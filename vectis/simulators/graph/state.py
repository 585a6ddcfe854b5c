"""The simulated Microsoft Graph behind Entra ID: the app registration and the tokens it was given, every customer
tenant's data, fault knobs and request counters; who may read what (the token's roles, the tenant's licences)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from vectis.simulators.base import BOOL, COUNT, SECONDS, FaultKnobs, Json, Rule, SimState
from vectis.simulators.graph.seed import GraphData, build_at_scale, build_demo
from vectis.simulators.graph.vendor import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    SCOPE,
    TOKEN_LIFETIME,
    ApiError,
    OAuthError,
    jwt,
)

STRINGS: Rule = (lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v), "a list of strings", list)

_KNOB_RULES: dict[str, Rule] = {
    "bad_secret": BOOL,
    "secret_expired": BOOL,
    "not_consented": STRINGS,
    "token_revoked": BOOL,
    "revoked_roles": STRINGS,
    "no_p1": STRINGS,
    "no_intune": STRINGS,
    "partial": STRINGS,
    "throttle_next": COUNT,
    "retry_after": COUNT,
    "rate_limit_per_second": COUNT,
    "errors_5xx": COUNT,
    "error_status": (lambda v: v in (500, 502, 503, 504) and not isinstance(v, bool), "500, 502, 503 or 504", int),
    "latency": SECONDS,
    "hang": SECONDS,
}


@dataclass
class Faults(FaultKnobs):
    bad_secret: bool = False  # every token request 401 invalid_client (AADSTS7000215: a wrong secret)
    secret_expired: bool = False  # every token request 401 invalid_client (AADSTS7000222: the secret expired)
    not_consented: list[str] = field(default_factory=list)  # tenants (or "*") where the app is not: 400 AADSTS700016
    token_revoked: bool = False  # every API request 401, whatever token it carries
    revoked_roles: list[str] = field(default_factory=list)  # permissions left out of every token issued from now
    no_p1: list[str] = field(default_factory=list)  # tenants (or "*") without Entra ID P1, beside the seeded ones
    no_intune: list[str] = field(default_factory=list)  # tenants (or "*") without Intune, beside the seeded ones
    partial: list[str] = field(default_factory=list)  # API paths ("/security/secureScores") answering 206, half a page
    throttle_next: int = 0  # the next N API requests answer 429 with Retry-After: retry_after
    retry_after: int = 1
    rate_limit_per_second: int = 0  # 0: no throttling; over it: 429 with Retry-After: 1 (API and token endpoint)
    errors_5xx: int = 0  # the next N requests answer error_status
    error_status: int = 503
    latency: float = 0.0
    hang: float = 0.0

    RULES = _KNOB_RULES


def _epoch_of(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    return (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment).timestamp()


def _names(listed: list[str], tenant: str) -> bool:
    return "*" in listed or tenant in listed


@dataclass
class Caller:
    """Who a request comes from: the tenant its token was given for and the permissions granted there."""

    tenant: Json
    roles: frozenset[str]


@dataclass
class GraphState(SimState[Faults], GraphData):
    apps: dict[str, str] = field(default_factory=lambda: {DEMO_CLIENT_ID: DEMO_CLIENT_SECRET})
    tokens: dict[str, tuple[str, frozenset[str], float]] = field(default_factory=dict)  # token -> tenant, roles, exp
    faults: Faults = field(default_factory=Faults)
    clock: Callable[[], float] = field(default=time.time, compare=False, repr=False)
    page_size: int = 100  # rows a page when the client names no $top (tests make it small to see paging)

    @classmethod
    def seeded(cls, seed: int = 1, now: datetime | None = None) -> GraphState:
        """The demo MSP: a tenant per customer (``seed.build_demo``)."""
        state = cls()
        state.now = build_demo(state, seed, _epoch_of(now)).now
        return state

    @classmethod
    def at_scale(cls, *, tenants: int = 500, seed: int = 1, now: datetime | None = None) -> GraphState:
        state = cls()
        state.now = build_at_scale(state, seed, _epoch_of(now), tenants=tenants).now
        return state

    @property
    def demo_tenant(self) -> str:
        return next(iter(self.tenants))

    def tenant_ids(self) -> list[str]:
        return list(self.tenants)

    # -- Entra ID

    def grant(self, tenant_id: str, form: dict[str, str]) -> Json:
        """``POST /{tenant}/oauth2/v2.0/token`` with client credentials: a JWT for that tenant whose ``roles`` are the
        application permissions consented there (less ``revoked_roles``)."""
        if form.get("grant_type") != "client_credentials":
            raise OAuthError(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
        tenant = self.tenant_named(tenant_id)
        if tenant is None:
            raise OAuthError(400, "invalid_request", 90002, f"Tenant '{tenant_id}' not found.")
        client = form.get("client_id", "")
        if _names(self.faults.not_consented, tenant["id"]) or client not in self.apps:
            raise OAuthError(
                400, "unauthorized_client", 700016,
                f"Application with identifier '{client}' was not found in the directory '{tenant_id}'.",
            )  # fmt: skip
        if self.faults.secret_expired:
            raise OAuthError(401, "invalid_client", 7000222, f"The provided client secret keys for app '{client}' "
                             "are expired.")  # fmt: skip
        if self.faults.bad_secret or not secrets.compare_digest(form.get("client_secret", ""), self.apps[client]):
            raise OAuthError(401, "invalid_client", 7000215, "Invalid client secret provided.")
        if form.get("scope") != SCOPE:
            raise OAuthError(400, "invalid_scope", 1002012, f"The provided value for scope {form.get('scope')} is "
                             "not valid.")  # fmt: skip
        roles = frozenset(tenant["roles"]) - set(self.faults.revoked_roles)
        now = self.clock()
        claims = {
            "aud": "https://graph.microsoft.com", "iss": f"https://sts.windows.net/{tenant['id']}/",
            "iat": int(now), "nbf": int(now), "exp": int(now + TOKEN_LIFETIME), "appid": client,
            "tid": tenant["id"], "idtyp": "app", "roles": sorted(roles), "ver": "1.0",
        }  # fmt: skip
        token = jwt(claims, secrets.token_urlsafe(32))
        with self._lock:
            self.tokens[token] = (tenant["id"], roles, now + TOKEN_LIFETIME)
        return {"token_type": "Bearer", "expires_in": TOKEN_LIFETIME, "ext_expires_in": TOKEN_LIFETIME,
                "access_token": token}  # fmt: skip

    def tenant_named(self, name: str) -> Json | None:
        """A tenant by its id or its ``.onmicrosoft.com`` domain (Entra takes either in the token URL)."""
        name = name.strip().lower()
        if name in self.tenants:
            return self.tenants[name]
        return next((t for t in self.tenants.values() if t["domain"] == name), None)

    def authorize(self, header: str) -> Caller:
        scheme, _, token = header.partition(" ")
        found = self.tokens.get(token.strip()) if scheme == "Bearer" else None
        if self.faults.token_revoked or found is None or found[2] <= self.clock():
            raise ApiError(401, "InvalidAuthenticationToken", "Access token is empty, invalid or has expired.")
        return Caller(self.tenants[found[0]], found[1])

    # -- licences

    def has_p1(self, tenant: Json) -> bool:
        return bool(tenant["p1"]) and not _names(self.faults.no_p1, tenant["id"])

    def has_intune(self, tenant: Json) -> bool:
        return bool(tenant["intune"]) and not _names(self.faults.no_intune, tenant["id"])

    @staticmethod
    def shown(row: Json) -> Json:
        """A row as the API sends it (without the simulator's own keys)."""
        return {key: value for key, value in row.items() if not key.startswith("_")}

    # -- test controls

    def set_compliance(self, tenant_id: str, device_name: str, state: str) -> Json:
        tenant = self.tenants[tenant_id]
        device: Json = next(d for d in tenant["devices"] if d["deviceName"] == device_name)
        with self._lock:
            device["complianceState"] = state
            if state == "noncompliant" and not device["_policies"]:
                device["_policies"] = [{"id": "sim-policy", "displayName": "Windows 10/11 baseline compliance",
                                        "state": "nonCompliant", "platformType": "windows10AndLater",
                                        "settingCount": 6, "_failing": "BitLocker encryption required"}]  # fmt: skip
            elif state == "compliant":
                device["_policies"] = []
        return device

    def set_policy_state(self, tenant_id: str, name: str, state: str) -> Json:
        policy: Json = next(p for p in self.tenants[tenant_id]["policies"] if p["displayName"] == name)
        with self._lock:
            policy["state"] = state
            policy["modifiedDateTime"] = datetime.fromtimestamp(self.clock(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return policy

    def add_score(self, tenant_id: str, current: float) -> Json:
        """Today's score moves to ``current`` (the newest row's, or a new one for today)."""
        tenant = self.tenants[tenant_id]
        with self._lock:
            newest: dict[str, Any] = tenant["scores"][0]
            newest["currentScore"] = current
        return newest
