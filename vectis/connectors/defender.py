"""Microsoft Defender for Business / Defender for Endpoint (the same API): every customer tenant the MSP's app was
consented in, their alerts as detections, and the response actions a technician takes from Vectis (isolate and release
a device, resolve an alert, classify one a false positive), each sent to the alert's own tenant.

Vendor facts: ``../shared/vendor-apis.md`` sections 9 and 8. What this module reads, and how it acts on what
Defender does:

- Defender is per customer tenant: one Entra tenant is one customer. One connection is the MSP's multi-tenant app
  registration (client id and secret) and the list of customer tenants it was consented in (GUIDs or
  ``.onmicrosoft.com`` domains, one a line), as for Microsoft 365 (:mod:`vectis.connectors.entra` holds what both
  share). Each tenant signs in on its own with client credentials at
  ``https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token`` with the scope
  ``https://api.securitycenter.microsoft.com/.default``; there is no refresh token, so each tenant's access token is
  cached (sealed, in Redis) until shortly before ``expires_in`` and asked for again. The API is
  ``https://api.securitycenter.microsoft.com/api``. Both hosts are derived, never typed: ``VECTIS_VENDOR_URLS``
  (``defender=http://127.0.0.1:18087``) sends both to the simulator, which stands in for Entra ID and Defender.
- Customers: one per tenant, named by the tenant as the technician typed it (its ``.onmicrosoft.com`` domain reads
  best). Defender's API has no call that names the organisation (that is Microsoft Graph's ``/organization``,
  another permission and another token), and the app-only token carries only the tenant's id: so the tenant waits in
  Customer matching until an admin links it, and stays linked.
- A tenant that cannot be read (nobody consented to the app there, no such tenant, the app's permissions missing
  there) is passed over and the others are read; the sync's run log says which and why (:meth:`sync_notes`; the
  alerts cursor keeps it too, as ``refused``), and Test connection names it. The app's secret refused or expired stops the sync with the reason, as does a tenant none of whose
  requests get through (429 or 5xx after every retry, Microsoft unreachable): what was read stays, and the next sync
  resumes each tenant from its own cursor.
- Ids: a detection's id is ``<tenant>:<alert id>`` and its device's ``<tenant>:<machine id>``, so an action knows
  which tenant's token to send; a tenant longer than :data:`MAX_TENANT_LENGTH` is refused at setup (use its GUID).
  An id read before this connection listed several tenants has no tenant: with one tenant listed it is that one's,
  otherwise the action asks for a re-sync.
- Alerts (``GET /api/alerts?$expand=evidence``) -> ``detections``, each tenant in turn, incremental on
  ``lastUpdateTime`` with a cursor per tenant: each sync asks ``$filter=lastUpdateTime gt <cursor>`` and pages by ``@odata.nextLink`` (``$top`` 1,000 of the 10,000 Defender
  allows). Defender documents no ``$orderby`` for alerts, so the cursor is the newest ``lastUpdateTime`` of the whole
  read, saved once its last page is written (a sync stopped earlier reads the same again). A tenant's first sync reads the alerts
  ``New`` and ``InProgress`` last updated before :data:`FIRST_WINDOW`, then every alert updated within it.
  Severity (:func:`severity_of`): ``High`` is high (critical when its category is Ransomware), ``Medium`` medium,
  ``Low`` and ``Informational`` low; Defender's word is kept. ``status`` New | InProgress | Resolved -> open |
  in_progress | resolved; ``classification`` TruePositive -> true_positive, FalsePositive and
  InformationalExpectedActivity (real but harmless: not a threat) -> false_positive, none or Unknown -> None. An
  alert does not say whether its device is isolated: that is read from the device's machine actions.
- Actions: isolate ``POST /api/machines/{id}/isolate`` ``{"Comment", "IsolationType": "Full"}`` (Full by default:
  the device talks to Defender only; ``Selective`` when asked, which keeps Outlook, Teams and Skype), release
  ``POST /api/machines/{id}/unisolate`` ``{"Comment"}``; each answers a MachineAction that is ``Pending`` until the
  device checks in, then ``Succeeded``. Read-back (:meth:`isolation_of`): the device's newest Isolate or Unisolate
  action that did not fail, from ``GET /api/machineactions?$filter=machineId eq '<id>'``. Resolve is
  ``PATCH /api/alerts/{id}`` ``{"status": "Resolved"}``; a false positive ``PATCH /api/alerts/{id}``
  ``{"classification": "FalsePositive", "determination": "Other", "comment": <reason>}``; read-back
  ``GET /api/alerts/{id}``.
- Limits: 100 calls a minute and 1,500 an hour per app and tenant: :attr:`default_rate_limit` keeps under the first
  (1.6 a second, across all the connection's tenants, so every tenant stays under its own), and a 429's
  ``Retry-After`` is honoured by the shared client.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests

from vectis.connectors.base import (
    ConfigField,
    Connector,
    ConnectorContext,
    CustomerRecord,
    DetectionRecord,
    Page,
    Record,
    Stream,
)
from vectis.connectors.capabilities import Request, RespondsOnEndpoints
from vectis.connectors.entra import (
    LOGIN_HOST,
    TENANTS_HELP,
    AppRefused,
    SignInRefused,
    clean_tenants,
    named_tenants,
    sign_in,
    tenant_of,
    tenants_of,
    token_key,
)
from vectis.connectors.token_cache import cached_token
from vectis.connectors.values import FILE_PATH_MAX, json_or_none, object_of, text_of
from vectis.platform.dates import parse_instant
from vectis.platform.http import ConnectorError, HttpClient, UncertainOutcome

API_HOST = "api.securitycenter.microsoft.com"
URL_TEMPLATE = "https://{host}"
SCOPE = f"https://{API_HOST}/.default"
# Defender gives up to 10,000 a page; 1,000 keeps each page's write short, and even 100,000 alerts are 100 calls.
ALERT_PAGE = 1_000
FIRST_WINDOW = timedelta(days=30)
ISOLATION_TYPE = "Full"
# "<tenant>:<machine id>" (a 40-character id) fits the 100 characters Vectis keeps of a tool's id; an
# .onmicrosoft.com domain has at most 44, and a GUID 36.
MAX_TENANT_LENGTH = 58
TESTED_TENANTS = 5  # Test connection reads this many (a sign-in and a paced call each: 3 s); a sync reads them all

MESSAGES = {
    403: "403 Forbidden — the app {client} may not {what} in this tenant. In the Entra admin center → App "
    "registrations → the app → API permissions, add the WindowsDefenderATP application permissions Alert.Read.All "
    "and Machine.Read.All (Alert.ReadWrite.All and Machine.Isolate to resolve alerts and isolate devices from "
    "Vectis), then grant admin consent for the customer's tenant.",
    "revoked": "Microsoft Defender no longer accepts the app {client}'s token in this tenant: was the admin consent "
    "removed? Grant it again in the customer's Entra admin center (Enterprise applications).",
    "unreachable": "Vectis couldn't reach Microsoft Defender at {host}. Check that {host} is reachable from wherever "
    "Vectis runs (a proxy or firewall may block it).",
    "timeout": "Connection timed out — Microsoft Defender at {host} did not answer in time. Try again; if it keeps "
    "happening, check that {host} is reachable from wherever Vectis runs.",
    "gone": "The customer tenant {tenant} is no longer in this connection's list (Admin → Integrations → Microsoft "
    "Defender → Customer tenants): add it again to act on its devices and alerts from Vectis.",
    "which": "Vectis cannot tell which customer tenant this was read from (it was read before this connection "
    "listed several tenants): re-sync Microsoft Defender (Admin → Integrations → Microsoft Defender → Sync now), "
    "then try again.",
}

# Defender's words -> Vectis's.
SEVERITY = {"High": "high", "Medium": "medium", "Low": "low", "Informational": "low"}
CRITICAL_CATEGORIES = frozenset({"ransomware"})
STATUS = {"New": "open", "InProgress": "in_progress", "Resolved": "resolved"}
VERDICT = {
    "TruePositive": "true_positive",
    "FalsePositive": "false_positive",
    # Real activity, but harmless (a line-of-business app, a security test): not a threat, as a false positive is.
    "InformationalExpectedActivity": "false_positive",
}
FAILED_ACTIONS = frozenset({"Failed", "TimeOut", "Cancelled"})
ISOLATION = {
    ("Isolate", "Pending"): "isolating", ("Isolate", "InProgress"): "isolating", ("Isolate", "Succeeded"): "isolated",
    ("Unisolate", "Pending"): "releasing", ("Unisolate", "InProgress"): "releasing",
    ("Unisolate", "Succeeded"): "connected",
}  # fmt: skip
KEPT = (
    "incidentId", "category", "determination", "classification", "detectionSource", "threatFamilyName",
    "assignedTo", "computerDnsName", "rbacGroupName", "mitreTechniques", "investigationState", "lastEventTime",
)  # fmt: skip


def parse_time(value: Any) -> datetime | None:
    """Defender's times are ISO 8601 in UTC, often with seven fractional digits (``…12.2500000Z``)."""
    if isinstance(value, str):
        head, dot, rest = value.strip().partition(".")
        if dot:
            digits = "".join(ch for ch in rest if ch.isdigit())
            value = f"{head}.{digits[:6]}{rest[len(digits) :]}"
    return parse_instant(value)


# --- pure parsers: vendor JSON -> records ------------------------------------------------------------


def scoped(tenant: str, vendor_id: str) -> str:
    """A Defender id as Vectis keeps it: with the tenant it lives in, so an action knows where to send it."""
    return f"{tenant}:{vendor_id}"


def unscoped(value: str) -> tuple[str | None, str]:
    """``<tenant>:<id>`` -> (tenant, id); an id kept before the tenant was part of it -> (None, id)."""
    tenant, colon, vendor_id = value.partition(":")
    return (tenant_of(tenant), vendor_id) if colon and tenant and vendor_id else (None, value)


def severity_of(alert: dict[str, Any]) -> str:
    """Defender's severity as Vectis's: **critical** for a High alert of the Ransomware category (it encrypts a
    customer's files while anyone watches), **high**, **medium** as Defender says, **low** for Low and Informational
    (and anything else: ``UnSpecified``)."""
    severity = SEVERITY.get(str(alert.get("severity") or ""), "low")
    if severity == "high" and str(alert.get("category") or "").strip().lower() in CRITICAL_CATEGORIES:
        return "critical"
    return severity


def _file(alert: dict[str, Any]) -> tuple[str | None, str | None]:
    """The first file evidence: its full path and its SHA-256 (else SHA-1)."""
    for item in alert.get("evidence") or []:
        if not isinstance(item, dict) or str(item.get("entityType") or "").lower() != "file":
            continue
        folder, name = text_of(item.get("filePath")), text_of(item.get("fileName"))
        separator = "/" if (folder or "").startswith("/") else "\\"
        path = f"{folder.rstrip(separator)}{separator}{name}" if folder and name else folder or name
        return (path or "")[:FILE_PATH_MAX] or None, text_of(item.get("sha256")) or text_of(item.get("sha1"))
    return None, None


def parse_alert(item: dict[str, Any], tenant: str) -> DetectionRecord | None:
    """An alert of ``tenant`` (as the connection lists it: the customer's external id)."""
    detected = parse_time(item.get("alertCreationTime"))
    if not text_of(item.get("id")) or detected is None:
        return None
    status = str(item.get("status") or "New")
    dns = text_of(item.get("computerDnsName"))
    path, digest = _file(item)
    machine = text_of(item.get("machineId"))
    return DetectionRecord(
        external_id=scoped(tenant, str(item["id"]).strip()),
        customer_external_id=tenant,
        device_external_id=scoped(tenant, machine) if machine else None,
        # The host name, as an RMM names the same machine (Defender gives the DNS name: gax-ws01.example.com).
        device_name=dns.split(".")[0] if dns else None,
        title=(text_of(item.get("title")) or text_of(item.get("category")) or "Defender alert")[:500],
        severity=severity_of(item),
        vendor_severity=text_of(item.get("severity")) or "UnSpecified",
        status=STATUS.get(status, "open"),
        vendor_status=status,
        detected_at=detected,
        updated_at=parse_time(item.get("lastUpdateTime")),
        verdict=VERDICT.get(str(item.get("classification") or "")),
        isolation=None,  # an alert does not say: isolation_of reads the device's machine actions
        classification=text_of(item.get("threatFamilyName")) or text_of(item.get("category")),
        file_path=path,
        file_hash=digest,
        details={key: item[key] for key in KEPT if item.get(key) not in (None, "", [])},
    )


def isolation_from(actions: list[dict[str, Any]]) -> str:
    """A device's network state from its machine actions: its newest Isolate or Unisolate that did not fail
    (pending: isolating or releasing; succeeded: isolated or connected). None such: it was never isolated."""
    relevant = [
        a for a in actions if a.get("type") in ("Isolate", "Unisolate") and a.get("status") not in FAILED_ACTIONS
    ]
    relevant.sort(key=lambda a: str(a.get("creationDateTimeUtc") or ""), reverse=True)
    for action in relevant:
        found = ISOLATION.get((str(action["type"]), str(action.get("status"))))
        if found:
            return found
    return "connected"


class TenantUnread(Exception):
    """One tenant that cannot be read for a reason of its own (its sign-in refused, a permission missing there): the
    other tenants are still read. ``reason`` in words, without a final full stop."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DefenderConnector(Connector, RespondsOnEndpoints):
    key = "defender"
    label = "Microsoft Defender"
    noun = "Microsoft Defender"
    category = "security"
    description = (
        "Microsoft Defender for Business / Endpoint, every customer tenant your multi-tenant app is consented in: "
        "their alerts as detections with their severity, status and classification, and devices isolated and "
        "released, alerts resolved and classified from Vectis."
    )
    # 100 calls a minute (and 1,500 an hour) per app and tenant: just under the minute's limit even were every call
    # to one tenant; the hourly cap is far above what a sync asks of a tenant (a few calls), and a 429's
    # Retry-After paces Vectis further.
    default_rate_limit = 1.6
    # A read-back is two calls (the machine, its actions): one every 15 s is 480 an hour while an isolation is
    # pending, a third of the hour's 1,500 for one endpoint, where every 3 s took them all.
    isolation_recheck_seconds = 15.0
    isolation_modes: ClassVar[Mapping[str, str]] = {
        "Full": "Full: the device talks to Defender only",
        "Selective": "Selective: Outlook, Teams and Skype keep working",
    }
    base_url_field = "client_id"  # another app is another identity to send the secret for: it must be typed again
    responses: ClassVar[dict[str, str | None]] = {
        "isolate": None,
        "release": None,
        "resolve": None,
        "false_positive": None,
    }
    fields = (
        ConfigField(
            "client_id",
            "Application (client) ID",
            placeholder="00000000-0000-0000-0000-000000000000",
            help="Your multi-tenant app registration, with the WindowsDefenderATP application permissions "
            "Alert.Read.All and Machine.Read.All (Alert.ReadWrite.All and Machine.Isolate to act from Vectis), "
            "admin-consented in each customer's tenant.",
        ),
        ConfigField("client_secret", "Client secret", kind="password", secret=True, help="The secret's Value."),
        ConfigField(
            "tenant_ids",
            "Customer tenants",
            kind="lines",
            placeholder="contoso.onmicrosoft.com = Contoso Ltd\n72f988bf-86f1-41af-91ab-2d7cd011db47 = Fabrikam Inc",
            help=f"{TENANTS_HELP} Defender's API does not name the organisation: give each tenant its customer's name "
            "after “=” and Vectis links it to the customer of that name; a tenant without one waits in Admin → "
            "Customer matching.",
        ),
    )

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        clean = super().validate_config(config)
        clean["tenant_ids"] = clean_tenants(clean["tenant_ids"])
        long = [t for t in tenants_of(clean["tenant_ids"]) if len(t) > MAX_TENANT_LENGTH]
        if long:
            raise ConnectorError(
                f"“{long[0]}” is longer than Vectis keeps for a tenant: use its Directory (tenant) ID (a GUID, Entra "
                "admin center → Overview) instead.",
                permanent=True,
            )
        return clean

    @classmethod
    def base_url(cls, config: dict[str, Any], template: str | None = None) -> str:
        return (template or URL_TEMPLATE).format(host=API_HOST)

    def __init__(self, config: dict[str, Any], context: ConnectorContext) -> None:
        super().__init__(config, context)
        self._passed_over: dict[str, str] = {}  # the tenants the last read of alerts could not read, and why

    @property
    def tenants(self) -> list[str]:
        """The customer tenants, in the order typed. A connection saved when Defender read one tenant (``tenant_id``)
        reads that one until it is edited."""
        listed = tenants_of(str(self.config.get("tenant_ids") or ""))
        if not listed and text_of(self.config.get("tenant_id")):
            listed = [tenant_of(str(self.config["tenant_id"]))]
        return listed

    @property
    def _client(self) -> str:
        return str(self.config.get("client_id") or "").strip()

    @property
    def _host(self) -> str:
        return urlsplit(self.ctx.http.base_url).netloc

    def _login(self) -> HttpClient:
        """A client for Entra ID's token endpoint: Microsoft's sign-in host beside Microsoft's API host, or the
        same address when ``VECTIS_VENDOR_URLS`` points the API elsewhere (the simulator is both). Same policy; its
        own session, so each host keeps its own pinned address. Not the API's rate bucket: Defender's 100 calls a
        minute and 1,500 an hour are the API's, and Entra ID throttles its sign-ins itself (a 429 is still waited
        out). A grant spent the API's budget for nothing: a sync paid a whole pacing interval for it."""
        api = urlsplit(self.ctx.http.base_url)
        base = URL_TEMPLATE.format(host=LOGIN_HOST) if api.netloc == API_HOST else self.ctx.http.base_url
        return dataclasses.replace(
            self.ctx.http, base_url=base, bucket=None, requests_made=0, _session=requests.Session()
        )

    # --- authentication ---------------------------------------------------------------------------

    def _token_key(self, tenant: str) -> str:
        return token_key(self.ctx, "defender", tenant, self._client, str(self.config.get("client_secret")))

    def _reach(self, exc: ConnectorError, host: str, *, reading: bool) -> ConnectorError:
        """A connection failure in words: a host that does not answer, or one that is too slow. An action that may
        have landed stays uncertain (the verb reads Defender back); a read that timed out is only slow."""
        if isinstance(exc, UncertainOutcome) and not reading:
            return exc
        if exc.message.startswith("Connection timed out") or isinstance(exc, UncertainOutcome):
            return ConnectorError(MESSAGES["timeout"].format(host=host), permanent=False)
        if exc.message.startswith("Connection") or "could not be found" in exc.message:
            return ConnectorError(MESSAGES["unreachable"].format(host=host), permanent=exc.permanent)
        return exc

    def _grant(self, tenant: str) -> dict[str, Any]:
        login = self._login()
        try:
            return sign_in(
                login, tenant, client=self._client, secret=self.config["client_secret"], scope=SCOPE,
                api="WindowsDefenderATP",
            )  # fmt: skip
        except (AppRefused, SignInRefused):
            raise
        except ConnectorError as exc:
            raise self._reach(exc, urlsplit(login.base_url).netloc, reading=True) from None
        finally:
            login.close()

    def _access_token(self, tenant: str, *, force: bool = False) -> str:
        try:
            return cached_token(
                self.ctx, self._token_key(tenant), lambda: self._grant(tenant), force=force, default_lifetime=3599
            )
        except SignInRefused as refused:
            raise TenantUnread(f"sign-in refused: {refused.reason}") from None

    def forget_tokens(self) -> None:
        for tenant in self.tenants:
            self.ctx.redis.delete(self._token_key(tenant))

    # --- requests ---------------------------------------------------------------------------------

    @staticmethod
    def _error(body: Any) -> tuple[str, str]:
        """Defender's ``{"error": {"code", "message"}}``: its code and message ("" when absent)."""
        error = object_of(object_of(body).get("error"))
        return str(error.get("code") or ""), str(error.get("message") or "")

    def _call(
        self,
        tenant: str,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        allow: int = 0,
    ) -> tuple[int, Any]:
        """``method path`` in ``tenant`` with its token, asked for again once if Defender no longer takes it;
        Defender's refusals in words (:class:`TenantUnread` for this tenant's own: its sign-in refused, consent
        revoked, a permission missing). ``allow``: a 4xx status the caller reads itself (a 404 of an unknown
        device). Its status and JSON."""
        reading = method == "GET"
        for attempt in (1, 2):
            token = self._access_token(tenant, force=attempt == 2)
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            if body is not None:
                headers["Content-Type"] = "application/json"
            try:
                response = self.ctx.http.request(
                    method,
                    path,
                    params=params,
                    data=json.dumps(body) if body is not None else None,
                    headers=headers,
                    retry=True,  # every call here reads or sets a state (another isolate of an isolated device)
                )
            except ConnectorError as exc:
                raise self._reach(exc, self._host, reading=reading) from None
            status = response.status_code
            if status == 401 and attempt == 1:
                continue  # the token expired or was revoked mid-sync: ask for a new one, once
            answer = json_or_none(response)
            if status == allow:
                return status, answer
            if status == 401:
                raise TenantUnread(MESSAGES["revoked"].format(client=self._client).rstrip("."))
            if status == 403:
                what = "read alerts and devices" if reading else "isolate devices or update alerts"
                raise TenantUnread(MESSAGES[403].format(client=self._client, what=what).rstrip("."))
            if status >= 400 or answer is None:
                code, message = self._error(answer)
                detail = message or code or f"HTTP {status}"
                raise ConnectorError(
                    f"Microsoft Defender refused {method} {path.split('?', maxsplit=1)[0]}: {detail}",
                    permanent=status in (400, 404, 405),
                    status=status,
                )
            return status, answer
        raise AssertionError("unreachable")  # pragma: no cover

    def _act(self, tenant: str, method: str, path: str, *, body: Any = None, allow: int = 0) -> tuple[int, Any]:
        """``_call`` for an action: a refusal of the tenant's is the action's refusal, in the same words."""
        try:
            return self._call(tenant, method, path, body=body, allow=allow)
        except TenantUnread as unread:
            raise ConnectorError(f"{unread.reason[:1].upper()}{unread.reason[1:]}.", permanent=True) from None

    def _next(self, link: Any) -> str | None:
        """``@odata.nextLink`` as a path and query on this connection's own host: the token goes nowhere else, even
        when Defender names a regional host of its own in the link [U: whether it does]."""
        if not isinstance(link, str) or not link:
            return None
        parts = urlsplit(link)
        return f"{parts.path}?{parts.query}" if parts.query else parts.path

    def _pages(self, tenant: str, path: str, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        """Every page of a list in ``tenant``, following ``@odata.nextLink`` (which carries the query itself)."""
        next_path: str | None = path
        query: dict[str, Any] | None = params
        while next_path is not None:
            _, body = self._call(tenant, "GET", next_path, params=query)
            values = object_of(body).get("value")
            if not isinstance(values, list):
                raise ConnectorError(
                    f"Microsoft Defender sent {path} in an unexpected shape (no value).", permanent=False
                )
            yield [item for item in values if isinstance(item, dict)]
            next_path, query = self._next(object_of(body).get("@odata.nextLink")), None

    # --- which tenant an id lives in ---------------------------------------------------------------

    def _where(self, value: str) -> tuple[str, str]:
        """(tenant, Defender's id) of an id Vectis keeps; an id without its tenant is the only tenant's, or refused
        with the advice to re-sync."""
        tenant, vendor_id = unscoped(value)
        tenants = self.tenants
        if tenant is None:
            if len(tenants) != 1:
                raise ConnectorError(MESSAGES["which"], permanent=True)
            tenant = tenants[0]
        elif tenant not in tenants:
            # Only where an admin still says: a tenant taken off the list gets nothing more from Vectis.
            raise ConnectorError(MESSAGES["gone"].format(tenant=tenant), permanent=True)
        return tenant, vendor_id

    # --- test connection ------------------------------------------------------------------------

    def test_connection(self) -> str:
        tenants = self.tenants
        lines: list[str] = []
        read = 0
        for tenant in tenants[:TESTED_TENANTS]:
            try:
                alerts = next(self._pages(tenant, "/api/alerts", {"$top": 1}), [])
            except TenantUnread as unread:
                lines.append(f"{tenant}: {unread.reason}.")
                continue
            read += 1
            lines.append(f"{tenant}: alerts readable{'' if alerts else ', none yet'}.")
        if not read:
            raise ConnectorError(
                "Microsoft Defender could be read in none of the tenants tried. " + " ".join(lines), permanent=True
            )
        more = (
            f" The other {len(tenants) - TESTED_TENANTS:,} are read at each sync."
            if len(tenants) > TESTED_TENANTS
            else ""
        )
        tried = min(len(tenants), TESTED_TENANTS)
        return f"Connected to Microsoft Defender: read {read} of {tried} tenants. " + " ".join(lines) + more

    # --- streams ----------------------------------------------------------------------------------

    def streams(self) -> list[Stream]:
        return [
            Stream("tenants", "/api/alerts", "id", lambda _item: None),
            Stream(
                "alerts",
                "/api/alerts",
                "id",
                lambda _item: None,
                cursor_field="lastUpdateTime",
                snapshot=False,
                page_size=ALERT_PAGE,
            ),
        ]

    def read(self, stream: Stream, cursor: dict[str, Any] | None) -> Iterator[Page]:
        if stream.name == "tenants":
            # Defender names no organisation: each tenant is an account by the name typed beside it, or as typed.
            names = named_tenants(str(self.config.get("tenant_ids") or ""))
            yield Page([CustomerRecord(external_id=t, name=names.get(t) or t) for t in self.tenants], None)
        else:
            yield from self._read_alerts(stream, cursor)

    def _cursors(self, cursor: dict[str, Any] | None) -> dict[str, str]:
        """Each tenant's ``updated_after``; a cursor saved when the connection read one tenant is that tenant's."""
        saved = (cursor or {}).get("tenants")
        if isinstance(saved, dict):
            return {str(k): str(v) for k, v in saved.items() if isinstance(v, str)}
        legacy = (cursor or {}).get("updated_after")
        tenants = self.tenants
        return {tenants[0]: legacy} if isinstance(legacy, str) and len(tenants) == 1 else {}

    def sync_notes(self) -> list[str]:
        return [f"Passed over the tenant {tenant}: {reason}." for tenant, reason in self._passed_over.items()]

    def _read_alerts(self, stream: Stream, cursor: dict[str, Any] | None) -> Iterator[Page]:
        tenants = self.tenants
        # A tenant taken off the list leaves its cursor behind; added again, it starts from its first window.
        done = {t: after for t, after in self._cursors(cursor).items() if t in tenants}
        refused = self._passed_over = {}
        for tenant in tenants:
            pages = self._tenant_alerts(stream, tenant, done.get(tenant))
            try:
                for records, newest in pages:
                    if newest is None:
                        yield Page(records, None)
                        continue
                    done[tenant] = newest
                    yield Page(records, {"tenants": dict(done), "refused": dict(refused)})
            except TenantUnread as unread:
                refused[tenant] = unread.reason
        if refused and len(refused) == len(tenants):
            said = " ".join(f"{tenant}: {reason}." for tenant, reason in refused.items())
            raise ConnectorError(f"Microsoft Defender could be read in none of the tenants. {said}", permanent=False)
        # The reasons a tenant was passed over this time, beside every tenant's cursor.
        yield Page([], {"tenants": dict(done), "refused": refused})

    def _tenant_alerts(
        self, stream: Stream, tenant: str, after: str | None
    ) -> Iterator[tuple[list[Record], str | None]]:
        """One tenant's alerts, page by page; the last with the newest ``lastUpdateTime`` read (else None)."""
        base: dict[str, Any] = {"$top": stream.page_size, "$expand": "evidence"}
        if not isinstance(after, str) or parse_time(after) is None:
            since = (datetime.now(UTC) - FIRST_WINDOW).strftime("%Y-%m-%dT%H:%M:%SZ")
            # The open alerts the window leaves out, with no cursor: a sync stopped here starts again.
            for status in ("New", "InProgress"):
                older = {**base, "$filter": f"status eq '{status}' and lastUpdateTime lt {since}"}
                for items in self._pages(tenant, stream.path, older):
                    yield self._alert_records(items, tenant), None
            window = f"lastUpdateTime ge {since}"
        else:
            window = f"lastUpdateTime gt {after}"
        newest: tuple[datetime, str] | None = None
        for items in self._pages(tenant, stream.path, {**base, "$filter": window}):
            for value in (i.get("lastUpdateTime") for i in items):
                moment = parse_time(value)
                if moment is not None and (newest is None or moment > newest[0]):
                    newest = (moment, str(value))
            # Written as soon as read: a page held back to carry the cursor left two pages to write after the
            # last request, where the vendor's pacing had given time for one.
            yield self._alert_records(items, tenant), None
        # Unordered pages: the newest time of the whole read is where the next sync resumes (as Defender wrote it),
        # saved once every page is in; none read: where it was.
        yield [], newest[1] if newest else after

    @staticmethod
    def _alert_records(items: list[dict[str, Any]], tenant: str) -> list[Record]:
        return [r for r in (parse_alert(i, tenant) for i in items) if r is not None]

    # --- response actions -------------------------------------------------------------------------

    # The request is the same whichever tenant it goes to (the tenant is in the token it carries), so a builder
    # never refuses: a dry run shows it even for an id read before the tenant was part of it.

    def isolate_request(self, device: str, *, comment: str, mode: str = "") -> Request:
        _, machine = unscoped(device)
        return Request(
            "POST", f"/api/machines/{machine}/isolate",
            {"Comment": comment or "Isolated from Vectis", "IsolationType": mode or ISOLATION_TYPE},
            what="the isolation", retry=True,
        )  # fmt: skip

    def isolate(self, device: str, *, comment: str, mode: str = "") -> None:
        request = self.isolate_request(device, comment=comment, mode=mode)
        self._machine_action(device, request, ("isolating", "isolated"))

    def release_request(self, device: str, *, comment: str) -> Request:
        _, machine = unscoped(device)
        return Request(
            "POST", f"/api/machines/{machine}/unisolate", {"Comment": comment or "Released from Vectis"},
            what="the release", retry=True,
        )  # fmt: skip

    def release(self, device: str, *, comment: str) -> None:
        self._machine_action(device, self.release_request(device, comment=comment), ("releasing", "connected"))

    def _machine_action(self, device: str, request: Request, done: tuple[str, str]) -> None:
        """Send an isolate or unisolate in the device's tenant. Defender refuses (400) one while the same is still
        pending: then the device is already on its way, which is what was asked."""
        tenant, _ = self._where(device)
        status, answer = self._act(tenant, request.method, request.path, body=request.body, allow=400)
        if status == 400 and self.isolation_of(device) not in done:
            _, message = self._error(answer)
            raise ConnectorError(f"Microsoft Defender refused {request.what}: {message}", permanent=True, status=400)

    def resolve_request(self, detection: str) -> Request:
        _, alert = unscoped(detection)
        # Only the status: the classification is the analyst's to give.
        return Request("PATCH", f"/api/alerts/{alert}", {"status": "Resolved"}, what="the resolution", retry=True)

    def resolve_detection(self, detection: str) -> None:
        request = self.resolve_request(detection)
        self._act(self._where(detection)[0], request.method, request.path, body=request.body)

    def false_positive_request(self, detection: str, *, reason: str) -> Request:
        _, alert = unscoped(detection)
        body: dict[str, Any] = {"classification": "FalsePositive", "determination": "Other"}
        if reason:
            body["comment"] = reason
        return Request("PATCH", f"/api/alerts/{alert}", body, what="the false-positive classification", retry=True)

    def mark_false_positive(self, detection: str, *, reason: str) -> None:
        request = self.false_positive_request(detection, reason=reason)
        self._act(self._where(detection)[0], request.method, request.path, body=request.body)

    def isolation_of(self, device: str) -> str | None:
        tenant, machine = self._where(device)
        status, _ = self._act(tenant, "GET", f"/api/machines/{machine}", allow=404)
        if status == 404:
            return None
        actions: list[dict[str, Any]] = []
        try:
            for items in self._pages(tenant, "/api/machineactions", {"$filter": f"machineId eq '{machine}'"}):
                actions.extend(items)
        except TenantUnread as unread:
            raise ConnectorError(f"{unread.reason[:1].upper()}{unread.reason[1:]}.", permanent=True) from None
        return isolation_from(actions)

    def get_detection(self, detection: str) -> DetectionRecord | None:
        tenant, alert = self._where(detection)
        status, body = self._act(tenant, "GET", f"/api/alerts/{alert}", allow=404)
        if status == 404 or not isinstance(body, dict):
            return None
        return parse_alert(body, tenant)
