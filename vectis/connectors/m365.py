"""Microsoft 365 through Microsoft Graph: the security posture of every customer tenant the MSP's app may read, in four
panels (Intune compliance, Secure Score, Conditional Access coverage, privileged-account MFA).

Vendor facts: ``../shared/vendor-apis.md`` section 8. What this module reads, and how it treats what Graph says:

- One connection is the MSP's multi-tenant app registration (client id and secret) and the list of customer tenants
  it was consented in (GUIDs or ``.onmicrosoft.com`` domains, one a line). Each tenant signs in on its own with client
  credentials at ``https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token`` (scope
  ``https://graph.microsoft.com/.default``); the token is cached (sealed, in Redis) per tenant until shortly before
  ``expires_in``. Graph is ``https://graph.microsoft.com/v1.0``. Both hosts are derived, never typed:
  ``VECTIS_VENDOR_URLS`` (``m365=http://127.0.0.1:18088``) sends both to the simulator.
- What was granted: an app-only token is a JWT whose ``roles`` claim lists the application permissions consented in
  that tenant. Vectis reads the claim (no signature check: it only tells Vectis what to ask for, Graph still checks
  every call) against :data:`PERMISSIONS`; Test connection names what is missing, per tenant, and a sync does not ask
  for a panel whose permission is missing: the panel says so instead.
- Customers: one per tenant, named by ``GET /organization`` (its ``displayName``); name matching links it.
- Panels, each read whole or not at all (one record per tenant and panel, written in one transaction with its page):
  ``GET /security/secureScores?$top=30`` (a score a day, newest first) and ``/security/secureScoreControlProfiles``
  (what each improvement action is worth); ``GET /deviceManagement/managedDevices`` and, for each device not
  compliant, its ``deviceCompliancePolicyStates`` (the policy that fails); ``GET /identity/conditionalAccess/policies``;
  ``GET /directoryRoles?$expand=members`` (the admins) and ``/reports/authenticationMethods/userRegistrationDetails``
  (``$filter=isAdmin eq true``: who registered MFA).
- Tri-state: a panel is **known** (what Graph said), **partial** (Graph answered 206: a provider did not answer in
  time; what came is kept and said to be partial) or **unknown with a reason** taken from Graph's answer: 403
  ``Authentication_RequestFromNonPremiumTenantOrB2CTenant`` → "needs Entra ID P1"; Intune's "Request not applicable to
  target tenant" → "needs an Intune licence"; 403 ``Authorization_RequestDenied`` / ``Forbidden`` or a permission the
  token lacks → "permission X not granted"; 429 after every retry → "throttled, retrying". Never "not covered" for
  what is unknown: an unknown panel keeps its last good data, shown with the time it was read.
- A tenant that cannot be read (its sign-in refused, Graph failing) makes its own panels unknown and the sync goes on
  to the next tenant. What no tenant can get past (the app's secret refused or expired, Graph unreachable) fails the
  sync with the reason in words, as every connector does.
- Paging: ``@odata.nextLink`` until absent (its path and query only: the token goes nowhere but this connection's
  host). 429: the shared client honours ``Retry-After``.
- Pace: Graph throttles per app and tenant (Intune: 1,000 requests in 20 s; identity and reports lower). A sync asks a
  tenant for about ten things in turn, at :attr:`M365Connector.default_rate_limit` across all tenants, which keeps every
  tenant far under its limits.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, cast
from urllib.parse import urlsplit

import requests

from vectis.connectors.base import ConfigField, Connector, CustomerRecord, Page, Record, Stream
from vectis.connectors.entra import (
    LOGIN_HOST,
    TENANTS_HELP,
    TENANTS_PLACEHOLDER,
    AppRefused,
    SignInRefused,
    clean_tenants,
    sign_in,
    tenants_of,
    token_key,
)
from vectis.connectors.token_cache import cached_token
from vectis.connectors.values import json_or_none, object_of, text_of
from vectis.platform.dates import parse_instant
from vectis.platform.http import ConnectorError, HttpClient

GRAPH_HOST = "graph.microsoft.com"
URL_TEMPLATE = "https://{host}"
API = "/v1.0"
SCOPE = f"https://{GRAPH_HOST}/.default"
SCORE_DAYS = 30
TOP_ACTIONS = 5
TESTED_TENANTS = 20  # Test connection signs in to this many; a sync reads them all

PANELS = ("intune", "secure_score", "conditional_access", "admin_mfa")
PANEL_LABELS = {
    "intune": "Intune compliance",
    "secure_score": "Secure Score",
    "conditional_access": "Conditional Access",
    "admin_mfa": "Privileged-account MFA",
}
# What each panel needs, by the name Entra shows; any one of a tuple will do (the first is the one to grant).
PERMISSIONS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("Organization.Read.All", "Directory.Read.All"), "the customer's name"),
    (("SecurityEvents.Read.All", "SecurityEvents.ReadWrite.All"), "secure_score"),
    (("DeviceManagementManagedDevices.Read.All", "DeviceManagementManagedDevices.ReadWrite.All"), "intune"),
    (("Policy.Read.All",), "conditional_access"),
    (("RoleManagement.Read.Directory", "Directory.Read.All", "RoleManagement.Read.All"), "admin_mfa"),
    (("AuditLog.Read.All",), "admin_mfa"),
)
# Failing compliance policy states (a device's deviceCompliancePolicyStates).
FAILING = frozenset({"nonCompliant", "error", "conflict"})

MESSAGES = {
    "unreachable": "Vectis couldn't reach Microsoft at {host}. Check that {host} is reachable from wherever Vectis "
    "runs (a proxy or firewall may block it).",
    "timeout": "Connection timed out — Microsoft at {host} did not answer in time. Try again; if it keeps happening, "
    "check that {host} is reachable from wherever Vectis runs.",
}
NEEDS_P1 = "needs Entra ID P1"
NEEDS_INTUNE = "needs an Intune licence"
THROTTLED = "throttled, retrying"
PARTIAL = "partial: Microsoft Graph said a provider did not answer in time, so this is what came"


def roles_of(token: str) -> frozenset[str]:
    """The application permissions an app-only token carries: its JWT payload's ``roles`` (base64url JSON). A token
    Vectis cannot read says nothing was granted; Graph's own answers then say what is missing."""
    parts = token.split(".")
    if len(parts) != 3:
        return frozenset()
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode()))
    except (ValueError, UnicodeDecodeError):
        return frozenset()
    roles = claims.get("roles") if isinstance(claims, dict) else None
    return frozenset(r for r in roles if isinstance(r, str)) if isinstance(roles, list) else frozenset()


def missing_permissions(roles: frozenset[str]) -> list[tuple[str, str]]:
    """(permission, what it is for) for each need none of whose permissions was granted, in :data:`PERMISSIONS`
    order."""
    missing = []
    for names, use in PERMISSIONS:
        if not roles & set(names):
            missing.append((names[0], PANEL_LABELS.get(use, use)))
    return missing


# --- records: the connector's own, written by ``vectis/m365/writer.py`` ----------------------------------


@dataclass(frozen=True)
class ScoreDay:
    day: date
    current: float
    maximum: float


@dataclass(frozen=True)
class ImprovementAction:
    name: str  # the control's name ("AdminMFAV2")
    title: str
    category: str | None
    gain: float  # points still to win
    max_score: float
    url: str | None = None


@dataclass(frozen=True)
class ManagedDevice:
    external_id: str
    name: str
    os: str | None
    compliance: str  # Graph's complianceState
    user: str | None
    last_sync_at: datetime | None
    failing: tuple[str, ...] = ()  # "<policy>" for each failing compliance policy


@dataclass(frozen=True)
class CaPolicy:
    external_id: str
    name: str
    state: str  # enabled | disabled | enabledForReportingButNotEnforced
    controls: tuple[str, ...]  # grant controls ("mfa", "block", "compliantDevice")
    for_admins: bool  # aimed at directory roles rather than all users
    modified_at: datetime | None


@dataclass(frozen=True)
class PrivilegedUser:
    external_id: str
    name: str
    upn: str | None
    roles: tuple[str, ...]
    mfa_registered: bool | None  # None: the registration report does not list the user
    methods: tuple[str, ...] = ()


@dataclass(frozen=True)
class PanelRecord:
    """One tenant's panel as one sync read it. ``state``: ``known``, ``partial`` or ``unknown`` (then ``reason`` says
    why and the data fields are empty: the writer keeps what it had)."""

    external_id: str  # "<tenant>:<panel>"
    customer_external_id: str
    panel: str
    state: str
    read_at: datetime
    reason: str | None = None


@dataclass(frozen=True)
class SecureScoreRecord(PanelRecord):
    days: tuple[ScoreDay, ...] = ()  # newest first
    actions: tuple[ImprovementAction, ...] = ()


@dataclass(frozen=True)
class IntuneRecord(PanelRecord):
    devices: tuple[ManagedDevice, ...] = ()


@dataclass(frozen=True)
class ConditionalAccessRecord(PanelRecord):
    policies: tuple[CaPolicy, ...] = ()


@dataclass(frozen=True)
class AdminMfaRecord(PanelRecord):
    admins: tuple[PrivilegedUser, ...] = ()


PANEL_RECORDS: dict[str, type[PanelRecord]] = {
    "intune": IntuneRecord,
    "secure_score": SecureScoreRecord,
    "conditional_access": ConditionalAccessRecord,
    "admin_mfa": AdminMfaRecord,
}


# --- pure parsers ------------------------------------------------------------------------------------


def parse_scores(items: list[dict[str, Any]]) -> tuple[ScoreDay, ...]:
    """A score a day (the newest of a day wins), newest first."""
    days: dict[date, ScoreDay] = {}
    for item in items:
        moment = parse_instant(item.get("createdDateTime"))
        current, maximum = item.get("currentScore"), item.get("maxScore")
        if moment is None or not isinstance(current, int | float) or not isinstance(maximum, int | float):
            continue
        try:
            score = ScoreDay(moment.astimezone(UTC).date(), float(current), float(maximum))
        except OverflowError:  # an int past a float's range
            continue
        if math.isfinite(score.current) and math.isfinite(score.maximum):  # NaN or inf would reach the sparkline
            days.setdefault(score.day, score)
    return tuple(sorted(days.values(), key=lambda d: d.day, reverse=True))


def parse_actions(newest: dict[str, Any] | None, profiles: list[dict[str, Any]]) -> tuple[ImprovementAction, ...]:
    """The improvement actions worth the most points still to win: each control's profile ``maxScore`` less what the
    newest score says it earns."""
    if not newest:
        return ()
    by_name = {str(p.get("id")): p for p in profiles if p.get("id") and not p.get("deprecated")}
    actions = []
    for control in newest.get("controlScores") or []:
        if not isinstance(control, dict):
            continue
        profile = by_name.get(str(control.get("controlName")))
        earned = control.get("score")
        if profile is None or not isinstance(profile.get("maxScore"), int | float):
            continue
        maximum = float(profile["maxScore"])
        gain = maximum - (float(earned) if isinstance(earned, int | float) else 0.0)
        if gain > 0:
            actions.append(
                ImprovementAction(
                    name=str(control["controlName"]),
                    title=text_of(profile.get("title")) or str(control["controlName"]),
                    category=text_of(profile.get("controlCategory")),
                    gain=round(gain, 2),
                    max_score=maximum,
                    url=text_of(profile.get("actionUrl")),
                )
            )
    actions.sort(key=lambda a: (-a.gain, a.title))
    return tuple(actions[:TOP_ACTIONS])


def parse_device(item: dict[str, Any], failing: tuple[str, ...] = ()) -> ManagedDevice | None:
    if not text_of(item.get("id")):
        return None
    return ManagedDevice(
        external_id=str(item["id"]),
        name=text_of(item.get("deviceName")) or "(unnamed device)",
        os=text_of(item.get("operatingSystem")),
        compliance=text_of(item.get("complianceState")) or "unknown",
        user=text_of(item.get("userPrincipalName")),
        last_sync_at=parse_instant(item.get("lastSyncDateTime")),
        failing=failing,
    )


def parse_policy(item: dict[str, Any]) -> CaPolicy | None:
    if not text_of(item.get("id")):
        return None
    users = object_of(object_of(item.get("conditions")).get("users"))
    grant = object_of(item.get("grantControls")).get("builtInControls")
    return CaPolicy(
        external_id=str(item["id"]),
        name=text_of(item.get("displayName")) or "(unnamed policy)",
        state=text_of(item.get("state")) or "disabled",
        controls=tuple(str(c) for c in grant) if isinstance(grant, list) else (),
        for_admins=bool(users.get("includeRoles")) and "All" not in (users.get("includeUsers") or []),
        modified_at=parse_instant(item.get("modifiedDateTime")) or parse_instant(item.get("createdDateTime")),
    )


def parse_admins(roles: list[dict[str, Any]], registrations: list[dict[str, Any]]) -> tuple[PrivilegedUser, ...]:
    """Every user holding an activated directory role, with the roles held and whether MFA is registered (None: the
    registration report does not list the user, e.g. a disabled account)."""
    held: dict[str, list[str]] = {}
    people: dict[str, dict[str, Any]] = {}
    for role in roles:
        for member in role.get("members") or []:
            if not isinstance(member, dict) or not member.get("id"):
                continue
            if str(member.get("@odata.type", "#microsoft.graph.user")) != "#microsoft.graph.user":
                continue  # a service principal or group holding a role has no MFA to register
            people[str(member["id"])] = member
            held.setdefault(str(member["id"]), []).append(text_of(role.get("displayName")) or "Directory role")
    registered = {str(r.get("id")): r for r in registrations if isinstance(r, dict)}
    admins = []
    for user_id, member in people.items():
        found = registered.get(user_id)
        methods = (found or {}).get("methodsRegistered")
        admins.append(
            PrivilegedUser(
                external_id=user_id,
                name=text_of(member.get("displayName")) or text_of(member.get("userPrincipalName")) or user_id,
                upn=text_of(member.get("userPrincipalName")),
                roles=tuple(sorted(held[user_id])),
                mfa_registered=bool(found.get("isMfaRegistered")) if found is not None else None,
                methods=tuple(str(m) for m in methods) if isinstance(methods, list) else (),
            )
        )
    admins.sort(key=lambda a: (a.mfa_registered is not False, a.name.lower()))
    return tuple(admins)


# --- reading -----------------------------------------------------------------------------------------


class PanelUnknown(Exception):
    """A panel that cannot be shown this time, and why, in words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Listing:
    items: list[dict[str, Any]]
    partial: bool = False


class M365Connector(Connector):
    key = "m365"
    label = "Microsoft 365"
    noun = "Microsoft 365"
    category = "m365"
    description = (
        "Microsoft 365 through Microsoft Graph, every customer tenant your multi-tenant app is consented in: Intune "
        "compliance, Secure Score with its last 30 days, Conditional Access coverage and admins' MFA registration."
    )
    # Graph throttles per app and tenant; a sync asks each tenant for about ten things in turn, so 20 a second across
    # tenants keeps each far under its limits (Intune's 1,000 in 20 s, the reports' lower ones) [U: the report limits].
    default_rate_limit = 20.0
    base_url_field = "client_id"  # another app is another identity to send the secret for: it must be typed again
    fields = (
        ConfigField(
            "client_id",
            "Application (client) ID",
            placeholder="00000000-0000-0000-0000-000000000000",
            help="Your multi-tenant app registration, with the Microsoft Graph application permissions "
            "Organization.Read.All, SecurityEvents.Read.All, DeviceManagementManagedDevices.Read.All, Policy.Read.All, "
            "RoleManagement.Read.Directory and AuditLog.Read.All, admin-consented in each customer's tenant.",
        ),
        ConfigField("client_secret", "Client secret", kind="password", secret=True, help="The secret's Value."),
        ConfigField(
            "tenant_ids",
            "Customer tenants",
            kind="lines",
            placeholder=TENANTS_PLACEHOLDER,
            help=TENANTS_HELP,
        ),
    )

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        clean = super().validate_config(config)
        clean["tenant_ids"] = clean_tenants(clean["tenant_ids"])
        return clean

    @classmethod
    def base_url(cls, config: dict[str, Any], template: str | None = None) -> str:
        return (template or URL_TEMPLATE).format(host=GRAPH_HOST)

    @property
    def tenants(self) -> list[str]:
        return tenants_of(str(self.config.get("tenant_ids") or ""))

    @property
    def _client(self) -> str:
        return str(self.config.get("client_id") or "").strip()

    @property
    def _host(self) -> str:
        return urlsplit(self.ctx.http.base_url).netloc

    def _login(self) -> HttpClient:
        """A client for Entra ID's token endpoint: Microsoft's sign-in host beside Graph's, or the same address when
        ``VECTIS_VENDOR_URLS`` points Graph elsewhere (the simulator is both). Same policy and rate bucket."""
        api = urlsplit(self.ctx.http.base_url)
        base = URL_TEMPLATE.format(host=LOGIN_HOST) if api.netloc == GRAPH_HOST else self.ctx.http.base_url
        return dataclasses.replace(self.ctx.http, base_url=base, requests_made=0, _session=requests.Session())

    # --- authentication ---------------------------------------------------------------------------

    def _token_key(self, tenant: str) -> str:
        return token_key(self.ctx, "m365", tenant, self._client, str(self.config.get("client_secret")))

    def _reach(self, exc: ConnectorError, host: str) -> ConnectorError:
        if exc.message.startswith("Connection timed out") or "did not answer in time" in exc.message:
            return ConnectorError(MESSAGES["timeout"].format(host=host), permanent=False)
        if exc.message.startswith("Connection") or "could not be found" in exc.message:
            return ConnectorError(MESSAGES["unreachable"].format(host=host), permanent=exc.permanent)
        return exc

    def _grant(self, tenant: str) -> dict[str, Any]:
        login = self._login()
        try:
            return sign_in(
                login, tenant, client=self._client, secret=self.config["client_secret"], scope=SCOPE,
                api="Microsoft Graph",
            )  # fmt: skip
        except AppRefused:
            raise  # the app's own secret refused: no tenant can be read, so the sync stops and says so
        except ConnectorError as exc:
            if exc.status is not None:  # 429 or 5xx after every retry: this tenant, this time
                raise SignInRefused(self._transient(exc)) from None
            raise self._reach(exc, urlsplit(login.base_url).netloc) from None
        finally:
            # The sign-in goes through the connection's rate bucket too: it counts among the sync's requests.
            self.ctx.http.requests_made += login.requests_made
            login.close()

    def _token(self, tenant: str, *, force: bool = False) -> str:
        return cached_token(
            self.ctx, self._token_key(tenant), lambda: self._grant(tenant), force=force, default_lifetime=3599
        )

    def forget_tokens(self) -> None:
        for tenant in self.tenants:
            self.ctx.redis.delete(self._token_key(tenant))

    # --- requests ---------------------------------------------------------------------------------

    @staticmethod
    def _transient(exc: ConnectorError) -> str:
        if exc.status == 429:
            return THROTTLED
        return f"Microsoft Graph answered HTTP {exc.status} after several tries; retrying at the next sync"

    def _get(self, tenant: str, path: str, params: dict[str, Any] | None, needs: tuple[str, ...]) -> tuple[int, Any]:
        """``GET path`` for ``tenant``; a token asked for again once if Graph no longer takes it. What Graph refuses
        for a reason of this tenant's raises :class:`PanelUnknown` with that reason in words."""
        for attempt in (1, 2):
            token = self._token(tenant, force=attempt == 2)
            try:
                response = self.ctx.http.request(
                    "GET",
                    path,
                    params=params,
                    headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                    retry=True,
                )
            except ConnectorError as exc:
                if exc.status is not None:
                    raise PanelUnknown(self._transient(exc)) from None
                raise self._reach(exc, self._host) from None
            status = response.status_code
            if status == 401 and attempt == 1:
                continue  # the token expired or consent was revoked mid-sync: ask for a new one, once
            body = json_or_none(response)
            if status in (200, 206) and isinstance(body, dict):
                return status, body
            raise PanelUnknown(self._refusal(status, body, needs))
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _refusal(status: int, body: Any, needs: tuple[str, ...]) -> str:
        error = object_of(object_of(body).get("error"))
        code, message = str(error.get("code") or ""), str(error.get("message") or "")
        lowered = message.lower()
        if code == "Authentication_RequestFromNonPremiumTenantOrB2CTenant" or "premium license" in lowered:
            return NEEDS_P1
        if "not applicable to target tenant" in lowered or "intune license" in lowered:
            return NEEDS_INTUNE
        if status == 403 or code in ("Authorization_RequestDenied", "Forbidden"):
            return f"permission {needs[0]} not granted"
        if status == 401:
            return "Microsoft Entra ID no longer accepts the app's token in this tenant (consent revoked?)"
        if body is None and status < 400:
            return "Microsoft Graph sent something that is not JSON; retrying at the next sync"
        return f"Microsoft Graph refused the read (HTTP {status}): {message or code or 'no reason given'}"

    @staticmethod
    def _path(link: Any) -> str | None:
        if not isinstance(link, str) or not link:
            return None
        parts = urlsplit(link)
        return f"{parts.path}?{parts.query}" if parts.query else parts.path

    def _list(
        self, tenant: str, path: str, params: dict[str, Any] | None, needs: tuple[str, ...], *, follow: bool = True
    ) -> Listing:
        """Every page of a list, following ``@odata.nextLink`` (only the first with ``follow=False``: the newest
        ``$top``); partial when any page came with 206."""
        listing = Listing([])
        next_path: str | None = f"{API}{path}"
        query = params
        while next_path is not None:
            status, body = self._get(tenant, next_path, query, needs)
            values = body.get("value")
            if not isinstance(values, list):
                raise PanelUnknown(f"Microsoft Graph sent {path} in an unexpected shape (no value)")
            listing.items.extend(v for v in values if isinstance(v, dict))
            listing.partial = listing.partial or status == 206
            next_path, query = (self._path(body.get("@odata.nextLink")) if follow else None), None
        return listing

    # --- test connection ------------------------------------------------------------------------

    def test_connection(self) -> str:
        tenants = self.tenants
        lines: list[str] = []
        signed_in = 0
        for tenant in tenants[:TESTED_TENANTS]:
            try:
                roles = roles_of(self._token(tenant, force=True))
            except SignInRefused as refused:
                lines.append(f"{tenant}: {refused.reason}.")
                continue
            signed_in += 1
            missing = missing_permissions(roles)
            if missing:
                named = ", ".join(f"{name} ({use})" for name, use in missing)
                lines.append(f"{tenant}: granted {', '.join(sorted(roles)) or 'nothing'}; missing {named}.")
            else:
                lines.append(f"{tenant}: every permission granted.")
        if not signed_in:
            raise ConnectorError(
                "Microsoft Entra ID refused the sign-in to every tenant tried. " + " ".join(lines), permanent=True
            )
        more = (
            f" The other {len(tenants) - TESTED_TENANTS:,} are checked at each sync."
            if len(tenants) > TESTED_TENANTS
            else ""
        )
        return (
            f"Connected to Microsoft 365: signed in to {signed_in} of {min(len(tenants), TESTED_TENANTS)} tenants. "
            + " ".join(lines)
            + more
        )

    # --- streams ----------------------------------------------------------------------------------

    def streams(self) -> list[Stream]:
        # One page per tenant: its customer and its four panels, committed together. The cursor names the last
        # tenant done, so a sync stopped midway resumes with the next; a complete pass starts again from the first.
        return [Stream("posture", f"{API}/organization", "id", lambda _item: None, cursor_field="tenant")]

    def read(self, stream: Stream, cursor: dict[str, Any] | None) -> Iterator[Page]:
        tenants = self.tenants
        after = (cursor or {}).get("after")
        start = tenants.index(after) + 1 if isinstance(after, str) and after in tenants else 0
        for position in range(start, len(tenants)):
            tenant = tenants[position]
            records = self.read_tenant(tenant)
            done = position == len(tenants) - 1
            # The connector's own record types, written by their sinks (vectis/m365/writer.py).
            yield Page(cast("list[Record]", records), {"after": None if done else tenant})

    def read_tenant(self, tenant: str) -> list[Any]:
        """A tenant's customer and its four panels; a panel that cannot be read is unknown, with the reason."""
        now = datetime.now(UTC)
        try:
            roles = roles_of(self._token(tenant))
        except SignInRefused as refused:
            return [self._unknown(tenant, panel, now, f"sign-in refused: {refused.reason}") for panel in PANELS]
        records: list[Any] = []
        try:
            org = self._list(tenant, "/organization", None, ("Organization.Read.All",)).items
            name = text_of(org[0].get("displayName")) if org else None
        except PanelUnknown:
            name = None  # unnamed this time: the customer link made before stays as it is
        if name:
            records.append(CustomerRecord(external_id=tenant, name=name))
        for panel, read in (
            ("intune", self._intune),
            ("secure_score", self._secure_score),
            ("conditional_access", self._conditional_access),
            ("admin_mfa", self._admin_mfa),
        ):
            lacking = [names[0] for names, use in PERMISSIONS if use == panel and not roles & set(names)]
            if lacking:
                records.append(self._unknown(tenant, panel, now, f"permission {lacking[0]} not granted"))
                continue
            try:
                records.append(read(tenant, now))
            except PanelUnknown as unknown:
                records.append(self._unknown(tenant, panel, now, unknown.reason))
            except (TypeError, ValueError, OverflowError, AttributeError, KeyError):
                # A value of a shape the parsers do not expect (a number where Graph sends a list): this panel is
                # unknown this time, the tenant's other panels and the sync go on.
                reason = f"Microsoft Graph sent the {PANEL_LABELS[panel]} data in an unexpected shape"
                records.append(self._unknown(tenant, panel, now, reason))
        return records

    @staticmethod
    def _unknown(tenant: str, panel: str, now: datetime, reason: str) -> PanelRecord:
        return PANEL_RECORDS[panel](f"{tenant}:{panel}", tenant, panel, "unknown", now, reason)

    @staticmethod
    def _state(*listings: Listing) -> tuple[str, str | None]:
        return ("partial", PARTIAL) if any(listing.partial for listing in listings) else ("known", None)

    def _secure_score(self, tenant: str, now: datetime) -> SecureScoreRecord:
        needs = ("SecurityEvents.Read.All",)
        scores = self._list(tenant, "/security/secureScores", {"$top": SCORE_DAYS}, needs, follow=False)
        profiles = self._list(tenant, "/security/secureScoreControlProfiles", {"$top": 200}, needs)
        days = parse_scores(scores.items)
        newest = max(scores.items, key=lambda s: str(s.get("createdDateTime") or ""), default=None)
        state, reason = self._state(scores, profiles)
        return SecureScoreRecord(
            f"{tenant}:secure_score", tenant, "secure_score", state, now, reason,
            days=days, actions=parse_actions(newest, profiles.items),
        )  # fmt: skip

    def _intune(self, tenant: str, now: datetime) -> IntuneRecord:
        needs = ("DeviceManagementManagedDevices.Read.All",)
        select = "id,deviceName,operatingSystem,complianceState,userPrincipalName,lastSyncDateTime"
        devices = self._list(tenant, "/deviceManagement/managedDevices", {"$select": select, "$top": 999}, needs)
        listings = [devices]
        parsed = []
        for item in devices.items:
            failing: tuple[str, ...] = ()
            if item.get("complianceState") == "noncompliant" and text_of(item.get("id")):
                states = self._list(
                    tenant, f"/deviceManagement/managedDevices/{item['id']}/deviceCompliancePolicyStates", None, needs
                )
                listings.append(states)
                failing = tuple(
                    text_of(s.get("displayName")) or "a compliance policy"
                    for s in states.items
                    if s.get("state") in FAILING
                )
            device = parse_device(item, failing)
            if device is not None:
                parsed.append(device)
        state, reason = self._state(*listings)
        return IntuneRecord(f"{tenant}:intune", tenant, "intune", state, now, reason, devices=tuple(parsed))

    def _conditional_access(self, tenant: str, now: datetime) -> ConditionalAccessRecord:
        policies = self._list(tenant, "/identity/conditionalAccess/policies", None, ("Policy.Read.All",))
        parsed = tuple(p for p in (parse_policy(i) for i in policies.items) if p is not None)
        state, reason = self._state(policies)
        return ConditionalAccessRecord(
            f"{tenant}:conditional_access", tenant, "conditional_access", state, now, reason, policies=parsed
        )

    def _admin_mfa(self, tenant: str, now: datetime) -> AdminMfaRecord:
        roles = self._list(tenant, "/directoryRoles", {"$expand": "members"}, ("RoleManagement.Read.Directory",))
        registrations = self._list(
            tenant,
            "/reports/authenticationMethods/userRegistrationDetails",
            {"$filter": "isAdmin eq true"},
            ("AuditLog.Read.All",),
        )
        state, reason = self._state(roles, registrations)
        admins = parse_admins(roles.items, registrations.items)
        return AdminMfaRecord(f"{tenant}:admin_mfa", tenant, "admin_mfa", state, now, reason, admins=admins)
