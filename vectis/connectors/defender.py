"""Microsoft Defender for Business / Defender for Endpoint (the same API): one customer's Entra tenant, its alerts as
detections, and the response actions a technician takes from Vectis (isolate and release a device, resolve an
alert, classify one a false positive).

Vendor facts: ``../shared/vendor-apis.md`` sections 9 and 8. What this module reads, and how it acts on what
Defender does:

- Defender is per customer tenant: one Entra tenant is one customer, so a connection is one customer's tenant id,
  an app registration's client id and secret (a multi-tenant app the customer's admin consented to, or one made in
  their tenant). A workspace holds one connection per vendor, so today that is one customer's tenant; several
  customers' tenants (a connection each, or Lighthouse/GDAP) are not supported yet.
- OAuth client credentials at ``https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token`` with the scope
  ``https://api.securitycenter.microsoft.com/.default``; there is no refresh token, so the access token is cached
  (sealed, in Redis) until shortly before ``expires_in`` and asked for again. The API is
  ``https://api.securitycenter.microsoft.com/api``. Both hosts are derived, never typed: ``VECTIS_VENDOR_URLS``
  (``defender=http://127.0.0.1:18087``) sends both to the simulator, which stands in for Entra ID and Defender.
- Customers: the connection's one tenant, named by the connection's "Customer name" field. Defender's API has no
  call that names the organisation (that is Microsoft Graph's ``/organization``, another permission and token),
  and the app-only token names only the tenant's id: so the technician says who the customer is, and Customer
  matching links it as it links any account.
- Alerts (``GET /api/alerts?$expand=evidence``) -> ``detections``, incremental on ``lastUpdateTime``: each sync
  asks ``$filter=lastUpdateTime gt <cursor>`` and pages by ``@odata.nextLink`` (``$top`` 1,000 of the 10,000 Defender
  allows). Defender documents no ``$orderby`` for alerts, so the cursor is the newest ``lastUpdateTime`` of the whole
  read, saved with its last page (a sync stopped earlier reads the same again). The first sync reads the alerts
  ``New`` and ``InProgress`` last updated before :data:`FIRST_WINDOW`, then every alert updated within it.
  Severity (:func:`severity_of`): ``High`` is high (critical when its category is Ransomware), ``Medium`` medium,
  ``Low`` and ``Informational`` low; Defender's word is kept. ``status`` New | InProgress | Resolved -> open |
  in_progress | resolved; ``classification`` TruePositive -> true_positive, FalsePositive and
  InformationalExpectedActivity (real but harmless: not a threat) -> false_positive, none or Unknown -> None. An
  alert does not say whether its device is isolated: that is read from the device's machine actions.
- Actions: isolate ``POST /api/machines/{id}/isolate`` ``{"Comment", "IsolationType": "Full"}`` (Full by default:
  the device talks to Defender only; Selective, which keeps Outlook, Teams and Skype, is a later option), release
  ``POST /api/machines/{id}/unisolate`` ``{"Comment"}``; each answers a MachineAction that is ``Pending`` until the
  device checks in, then ``Succeeded``. Read-back (:meth:`isolation_of`): the device's newest Isolate or Unisolate
  action that did not fail, from ``GET /api/machineactions?$filter=machineId eq '<id>'``. Resolve is
  ``PATCH /api/alerts/{id}`` ``{"status": "Resolved"}``; a false positive ``PATCH /api/alerts/{id}``
  ``{"classification": "FalsePositive", "determination": "Other", "comment": <reason>}``; read-back
  ``GET /api/alerts/{id}``.
- Limits: 100 calls a minute and 1,500 an hour per app and tenant: :attr:`default_rate_limit` keeps under the first
  (1.6 a second), and a 429's ``Retry-After`` is honoured by the shared client.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests

from vectis.connectors.base import (
    ConfigField,
    Connector,
    CustomerRecord,
    DetectionRecord,
    Page,
    Record,
    Stream,
)
from vectis.connectors.capabilities import Request, RespondsOnEndpoints
from vectis.connectors.token_cache import cached_token
from vectis.connectors.values import FILE_PATH_MAX, object_of, text_of
from vectis.platform.dates import parse_instant
from vectis.platform.http import ConnectorError, HttpClient, UncertainOutcome

API_HOST = "api.securitycenter.microsoft.com"
LOGIN_HOST = "login.microsoftonline.com"
URL_TEMPLATE = "https://{host}"
SCOPE = f"https://{API_HOST}/.default"
TOKEN_PATH = "/{tenant}/oauth2/v2.0/token"  # noqa: S105 - a path, not a password
# Defender gives up to 10,000 a page; 1,000 keeps each page's write short, and even 100,000 alerts are 100 calls.
ALERT_PAGE = 1_000
FIRST_WINDOW = timedelta(days=30)
ISOLATION_TYPE = "Full"
# A GUID, or a verified domain of the tenant (Entra takes either in the token URL).
TENANT = re.compile(r"^(?:[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}|[a-z0-9-]+(?:\.[a-z0-9-]+)+)$")

MESSAGES = {
    "secret": "401 Unauthorized — Microsoft Entra ID did not accept this client secret for the app {client}. Copy "
    "the secret's Value again (not its Secret ID; it is shown once, when it is made): Entra admin center → App "
    "registrations → the app → Certificates & secrets → New client secret.",
    "expired": "The client secret of the app {client} has expired. Make a new one in the Entra admin center (App "
    "registrations → the app → Certificates & secrets → New client secret) and paste its Value here.",
    "consent": "The app {client} is not in the customer's tenant {tenant}: either the Application (client) ID is "
    "wrong, or an administrator of that tenant has not consented to it. In the customer's Entra admin center, "
    "Enterprise applications must list it (grant admin consent to its WindowsDefenderATP permissions).",
    "tenant": "Microsoft Entra ID knows no tenant “{tenant}”. Use the customer's Directory (tenant) ID from the Entra "
    "admin center → Overview (or its .onmicrosoft.com domain).",
    403: "403 Forbidden — the app {client} may not {what} in this tenant. In the Entra admin center → App "
    "registrations → the app → API permissions, add the WindowsDefenderATP application permissions Alert.Read.All "
    "and Machine.Read.All (Alert.ReadWrite.All and Machine.Isolate to resolve alerts and isolate devices from "
    "Vectis), then grant admin consent for the customer's tenant.",
    "unreachable": "Vectis couldn't reach Microsoft Defender at {host}. Check that {host} is reachable from wherever "
    "Vectis runs (a proxy or firewall may block it).",
    "timeout": "Connection timed out — Microsoft Defender at {host} did not answer in time. Try again; if it keeps "
    "happening, check that {host} is reachable from wherever Vectis runs.",
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


def tenant_of(text: str) -> str:
    """A tenant as typed (or pasted in braces) -> Entra's spelling: lower case, trimmed."""
    return text.strip().strip("{}").lower()


# --- pure parsers: vendor JSON -> records ------------------------------------------------------------


def parse_tenant(config: dict[str, Any]) -> CustomerRecord | None:
    """The connection's tenant is its one customer, by the name the technician gave it."""
    tenant, name = text_of(config.get("tenant_id")), text_of(config.get("customer_name"))
    if not tenant or not name:
        return None
    return CustomerRecord(external_id=tenant_of(tenant), name=name)


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


def parse_alert(item: dict[str, Any], *, tenant: str | None = None) -> DetectionRecord | None:
    """An alert; ``tenant``: the connection's (the customer), else the alert's own ``aadTenantId``."""
    detected = parse_time(item.get("alertCreationTime"))
    if not text_of(item.get("id")) or detected is None:
        return None
    status = str(item.get("status") or "New")
    dns = text_of(item.get("computerDnsName"))
    path, digest = _file(item)
    owner = tenant or text_of(item.get("aadTenantId"))
    return DetectionRecord(
        external_id=str(item["id"]).strip(),
        customer_external_id=tenant_of(owner) if owner else None,
        device_external_id=text_of(item.get("machineId")),
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


class DefenderConnector(Connector, RespondsOnEndpoints):
    key = "defender"
    label = "Microsoft Defender"
    noun = "Microsoft Defender"
    category = "security"
    description = (
        "Microsoft Defender for Business / Endpoint, one customer tenant per connection: its alerts as detections "
        "with their severity, status and classification, and devices isolated and released, alerts resolved and "
        "classified from Vectis."
    )
    # 100 calls a minute (and 1,500 an hour) per app and tenant: just under the minute's limit; the hourly cap is
    # far above what a sync of one tenant asks (a few calls), and a 429's Retry-After paces Vectis further.
    default_rate_limit = 1.6
    base_url_field = "tenant_id"  # a new tenant is a new place to send the secret: it must be typed again
    responses: ClassVar[dict[str, str | None]] = {
        "isolate": None,
        "release": None,
        "resolve": None,
        "false_positive": None,
    }
    fields = (
        ConfigField(
            "tenant_id",
            "Directory (tenant) ID",
            placeholder="00000000-0000-0000-0000-000000000000",
            help="The customer's Entra tenant: Entra admin center → Overview → Tenant ID (or its .onmicrosoft.com "
            "domain). One connection per customer tenant.",
        ),
        ConfigField(
            "client_id",
            "Application (client) ID",
            placeholder="00000000-0000-0000-0000-000000000000",
            help="An app registration with the WindowsDefenderATP application permissions Alert.Read.All and "
            "Machine.Read.All (Alert.ReadWrite.All and Machine.Isolate to act from Vectis), admin-consented in the "
            "customer's tenant.",
        ),
        ConfigField("client_secret", "Client secret", kind="password", secret=True, help="The secret's Value."),
        ConfigField(
            "customer_name",
            "Customer name",
            placeholder="Greyhaven Architects",
            help="Who this tenant belongs to, as Vectis should match it to a customer (Defender's API does not name "
            "the organisation).",
        ),
    )

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        clean = super().validate_config(config)
        clean["tenant_id"] = tenant_of(clean["tenant_id"])
        if not TENANT.match(clean["tenant_id"]):
            raise ConnectorError(
                f"“{clean['tenant_id']}” is not a tenant ID: it is a GUID such as "
                "72f988bf-86f1-41af-91ab-2d7cd011db47 (Entra admin center → Overview), or the tenant's "
                ".onmicrosoft.com domain.",
                permanent=True,
            )
        return clean

    @classmethod
    def base_url(cls, config: dict[str, Any], template: str | None = None) -> str:
        return (template or URL_TEMPLATE).format(host=API_HOST)

    @property
    def _tenant(self) -> str:
        return tenant_of(str(self.config.get("tenant_id") or ""))

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

    @property
    def _token_key(self) -> str:
        # The credentials and where they go are part of the key: a token is only sent back where it came from.
        identity = "\0".join(
            (self.ctx.http.base_url, self._tenant, self._client, str(self.config.get("client_secret")))
        )
        fingerprint = hashlib.sha256(identity.encode()).hexdigest()[:24]
        return f"vectis:defender-token:{self.ctx.tenant_id}:{self.ctx.connection_id or 'unsaved'}:{fingerprint}"

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

    def _grant(self) -> dict[str, Any]:
        login = self._login()
        form = {
            "grant_type": "client_credentials",
            "client_id": self._client,
            "client_secret": self.config["client_secret"],
            "scope": SCOPE,
        }
        try:
            # A token grant changes nothing: safe to send again.
            response = login.request("POST", TOKEN_PATH.format(tenant=self._tenant), data=form, retry=True)
        except ConnectorError as exc:
            raise self._reach(exc, urlsplit(login.base_url).netloc, reading=True) from None
        finally:
            login.close()
        body = self._json(response.text)
        said = object_of(body)
        raw_codes = said.get("error_codes")
        codes: list[Any] = raw_codes if isinstance(raw_codes, list) else []
        words = {"client": self._client, "tenant": self._tenant}
        if response.status_code != 200:
            if 7000222 in codes:
                raise ConnectorError(MESSAGES["expired"].format(**words), permanent=True, status=401)
            if 7000215 in codes or said.get("error") == "invalid_client":
                raise ConnectorError(MESSAGES["secret"].format(**words), permanent=True, status=401)
            if 700016 in codes or said.get("error") == "unauthorized_client":
                raise ConnectorError(MESSAGES["consent"].format(**words), permanent=True, status=400)
            if 90002 in codes or 900023 in codes:
                raise ConnectorError(MESSAGES["tenant"].format(**words), permanent=True, status=400)
            detail = str(said.get("error_description") or f"HTTP {response.status_code}").split("\r\n")[0]
            raise ConnectorError(
                f"Microsoft Entra ID refused the sign-in: {detail}",
                permanent=400 <= response.status_code < 500,
                status=response.status_code,
            )
        if not said.get("access_token"):
            raise ConnectorError("Microsoft Entra ID's sign-in answer had no access token.", permanent=False)
        return said

    def _access_token(self, *, force: bool = False) -> str:
        return cached_token(self.ctx, self._token_key, self._grant, force=force, default_lifetime=3599)

    def forget_token(self) -> None:
        self.ctx.redis.delete(self._token_key)

    # --- requests ---------------------------------------------------------------------------------

    @staticmethod
    def _json(text: str) -> Any:
        try:
            return json.loads(text)
        except ValueError:
            return None

    @staticmethod
    def _error(body: Any) -> tuple[str, str]:
        """Defender's ``{"error": {"code", "message"}}``: its code and message ("" when absent)."""
        error = object_of(object_of(body).get("error"))
        return str(error.get("code") or ""), str(error.get("message") or "")

    def _call(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None, allow: int = 0
    ) -> tuple[int, Any]:
        """``method path`` with a token, asked for again once if Defender no longer takes it; Defender's refusals
        in words. ``allow``: a 4xx status the caller reads itself (a 404 of an unknown device). Its status and JSON."""
        reading = method == "GET"
        for attempt in (1, 2):
            token = self._access_token(force=attempt == 2)
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
            answer = self._json(response.text)
            if status == allow:
                return status, answer
            if status == 401:
                raise ConnectorError(MESSAGES["secret"].format(client=self._client), permanent=True, status=401)
            if status == 403:
                what = "read alerts and devices" if reading else "isolate devices or update alerts"
                raise ConnectorError(MESSAGES[403].format(client=self._client, what=what), permanent=True, status=403)
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

    def _next(self, link: Any) -> str | None:
        """``@odata.nextLink`` as a path and query on this connection's own host: the token goes nowhere else, even
        when Defender names a regional host of its own in the link [U: whether it does]."""
        if not isinstance(link, str) or not link:
            return None
        parts = urlsplit(link)
        return f"{parts.path}?{parts.query}" if parts.query else parts.path

    def _pages(self, path: str, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        """Every page of a list, following ``@odata.nextLink`` (which carries the query itself)."""
        next_path: str | None = path
        query: dict[str, Any] | None = params
        while next_path is not None:
            _, body = self._call("GET", next_path, params=query)
            values = object_of(body).get("value")
            if not isinstance(values, list):
                raise ConnectorError(
                    f"Microsoft Defender sent {path} in an unexpected shape (no value).", permanent=False
                )
            yield [item for item in values if isinstance(item, dict)]
            next_path, query = self._next(object_of(body).get("@odata.nextLink")), None

    def test_connection(self) -> str:
        alerts = next(self._pages("/api/alerts", {"$top": 1}), [])
        machines = next(self._pages("/api/machines", {"$top": 1}), [])  # devices are readable too (isolation)
        name = self.config.get("customer_name") or self._tenant
        said = "no devices onboarded yet" if not machines else "devices onboarded"
        latest = f"; its latest alert: “{alerts[0].get('title')}”" if alerts else "; no alerts"
        return f"Connected to Microsoft Defender for {name} (tenant {self._tenant}): {said}{latest}."

    # --- streams ----------------------------------------------------------------------------------

    def streams(self) -> list[Stream]:
        return [
            Stream("tenant", "/api/machines", "id", parse_tenant),
            Stream(
                "alerts",
                "/api/alerts",
                "id",
                parse_alert,
                cursor_field="lastUpdateTime",
                snapshot=False,
                page_size=ALERT_PAGE,
            ),
        ]

    def read(self, stream: Stream, cursor: dict[str, Any] | None) -> Iterator[Page]:
        if stream.name == "tenant":
            found = parse_tenant(self.config)
            yield Page([found] if found else [], None)
        else:
            yield from self._read_alerts(stream, cursor)

    def _alert_records(self, items: list[dict[str, Any]]) -> list[Record]:
        return [r for r in (parse_alert(i, tenant=self._tenant) for i in items) if r is not None]

    def _read_alerts(self, stream: Stream, cursor: dict[str, Any] | None) -> Iterator[Page]:
        after = (cursor or {}).get("updated_after")
        base: dict[str, Any] = {"$top": stream.page_size, "$expand": "evidence"}
        if not isinstance(after, str) or parse_time(after) is None:
            since = (datetime.now(UTC) - FIRST_WINDOW).strftime("%Y-%m-%dT%H:%M:%SZ")
            # The open alerts the window leaves out, with no cursor: a sync stopped here starts again.
            for status in ("New", "InProgress"):
                older = {**base, "$filter": f"status eq '{status}' and lastUpdateTime lt {since}"}
                for items in self._pages(stream.path, older):
                    yield Page(self._alert_records(items), None)
            window = f"lastUpdateTime ge {since}"
        else:
            window = f"lastUpdateTime gt {after}"
        newest: tuple[datetime, str] | None = None
        held: list[Record] | None = None
        for items in self._pages(stream.path, {**base, "$filter": window}):
            if held is not None:
                yield Page(held, None)
            for value in (i.get("lastUpdateTime") for i in items):
                moment = parse_time(value)
                if moment is not None and (newest is None or moment > newest[0]):
                    newest = (moment, str(value))
            held = self._alert_records(items)
        # Unordered pages: the newest time of the whole read is where the next sync resumes (as Defender wrote it),
        # saved with the last page only.
        yield Page(held or [], {"updated_after": newest[1]} if newest else None)

    # --- response actions -------------------------------------------------------------------------

    def isolate_request(self, device: str, *, comment: str) -> Request:
        return Request(
            "POST", f"/api/machines/{device}/isolate",
            {"Comment": comment or "Isolated from Vectis", "IsolationType": ISOLATION_TYPE},
            what="the isolation", retry=True,
        )  # fmt: skip

    def isolate(self, device: str, *, comment: str) -> None:
        self._machine_action(self.isolate_request(device, comment=comment), ("isolating", "isolated"))

    def release_request(self, device: str, *, comment: str) -> Request:
        return Request(
            "POST", f"/api/machines/{device}/unisolate", {"Comment": comment or "Released from Vectis"},
            what="the release", retry=True,
        )  # fmt: skip

    def release(self, device: str, *, comment: str) -> None:
        self._machine_action(self.release_request(device, comment=comment), ("releasing", "connected"))

    def _machine_action(self, request: Request, done: tuple[str, str]) -> None:
        """Send an isolate or unisolate. Defender refuses (400) one while the same is still pending: then the
        device is already on its way, which is what was asked."""
        status, answer = self._call(request.method, request.path, body=request.body, allow=400)
        if status == 400:
            device = request.path.split("/")[3]
            if self.isolation_of(device) not in done:
                _, message = self._error(answer)
                raise ConnectorError(
                    f"Microsoft Defender refused {request.what}: {message}", permanent=True, status=400
                )

    def resolve_request(self, detection: str) -> Request:
        # Only the status: the classification is the analyst's to give.
        return Request("PATCH", f"/api/alerts/{detection}", {"status": "Resolved"}, what="the resolution", retry=True)

    def resolve_detection(self, detection: str) -> None:
        request = self.resolve_request(detection)
        self._call(request.method, request.path, body=request.body)

    def false_positive_request(self, detection: str, *, reason: str) -> Request:
        body: dict[str, Any] = {"classification": "FalsePositive", "determination": "Other"}
        if reason:
            body["comment"] = reason
        return Request("PATCH", f"/api/alerts/{detection}", body, what="the false-positive classification", retry=True)

    def mark_false_positive(self, detection: str, *, reason: str) -> None:
        request = self.false_positive_request(detection, reason=reason)
        self._call(request.method, request.path, body=request.body)

    def isolation_of(self, device: str) -> str | None:
        status, _ = self._call("GET", f"/api/machines/{device}", allow=404)
        if status == 404:
            return None
        actions: list[dict[str, Any]] = []
        for items in self._pages("/api/machineactions", {"$filter": f"machineId eq '{device}'"}):
            actions.extend(items)
        return isolation_from(actions)

    def get_detection(self, detection: str) -> DetectionRecord | None:
        status, body = self._call("GET", f"/api/alerts/{detection}", allow=404)
        if status == 404 or not isinstance(body, dict):
            return None
        return parse_alert(body, tenant=self._tenant)
