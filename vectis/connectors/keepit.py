"""Keepit: SaaS backup (Microsoft 365, Entra ID, Google Workspace, Salesforce, ...). Read-only (guide ``001_*``).

Vendor facts: ``../shared/vendor-apis.md`` section 2. XML over HTTP Basic on the account's own regional
host (``https://<region>.keepit.com``); ids are three base-36 groups, not UUIDs. What this module reads:

- child accounts of the parent GUID (``GET /users/{parent}/users``, v3, ``X-Total-Count``) -> customers;
- per account its connectors (``/devices``, v4), and per connector its health with reason, latest
  snapshot (v1) and its last :data:`RUN_HISTORY` backup jobs -> ``backup_connectors`` +
  ``backup_connector_status`` + ``backup_runs`` (the run-history strip starts full);
- the audit log of the parent and its children (``PUT /audit/filter/pretty``, v4, ``next-offset``) on a
  rolling 14-day window, resumed from the last record seen -> ``backup_audit_events`` + the timeline.

A person opens a connector in Keepit's own web app at the customer's account (``/users/<account>`` on the
regional host, the address Keepit's guides tell partners to read their GUID from); Keepit publishes no address
for one connector or its Job Monitor, so the account is as deep as the link goes.

The guide's audit categories (user, account, connector, connection, recovery, reporting, security,
compliance) are Vectis's own classification of Keepit's ``area``/``action`` (vendor-apis.md, discrepancy
5): anything unknown is "other", never dropped.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element, ParseError

from defusedxml.ElementTree import fromstring

from vectis.connectors.base import (
    BackupEventRecord,
    BackupJobRecord,
    BackupRunRecord,
    ConfigField,
    Connector,
    CustomerRecord,
    Page,
    Record,
    Stream,
)
from vectis.platform.dates import parse_instant
from vectis.platform.http import ConnectorError
from vectis.platform.params import integer

REGIONS = {
    "ws": "Denmark",
    "dk-co": "Denmark (Copenhagen)",
    "de-fr": "Germany (Frankfurt)",
    "ch-zh": "Switzerland (Zurich)",
    "uk-ld": "United Kingdom (London)",
    "us-dc": "USA",
    "ca-tr": "Canada (Toronto)",
    "au-sy": "Australia (Sydney)",
}
URL_TEMPLATE = "https://{region}.keepit.com"
GUID = re.compile(r"^[0-9a-z]{4,8}-[0-9a-z]{4,8}-[0-9a-z]{4,8}$")
KEEPIT_URL = re.compile(
    r"^(?:https?://)?(?P<region>[a-z0-9-]+)\.keepit\.com(?:/(?:.*/)?users/(?P<guid>[0-9a-z]+-[0-9a-z]+-[0-9a-z]+))?",
    re.I,
)
EVENT_WINDOW = timedelta(days=14)
PAGE_SIZE = 500
RUN_HISTORY = 14  # backup jobs read per connector: the latest run's state, and the run-history strip
ACCOUNTS_PER_PAGE = 25  # connectors of this many accounts are written per transaction

MESSAGES = {
    "credentials": "401 Unauthorized — Keepit rejected the username and password. Use your Keepit master admin "
    "login, or fill both API token fields.",
    "token": "401 Unauthorized — Keepit rejected the API token login and password. Check both were pasted whole "
    "(token logins contain characters such as % + , ? !), or create a new token in Keepit → Users → Edit User → "
    "Security → Add API token.",
    "region": "404 at {host} — that does not look like your Keepit region. The region is the start of the "
    "address you sign in at: us-dc in https://us-dc.keepit.com.",
    "guid": "Account GUID {guid} is not visible to these credentials. Use your MSP's parent account: the value "
    "after /users/ in your Keepit URL while viewing your account list.",
    "audit_rights": "The credentials can list accounts but not read the audit log (Keepit answered 403). Give the "
    "API token the AuditFilter right, or use the master admin login.",
    "timeout": "Connection timed out — Vectis couldn't reach {host}. Check the region, and that Keepit is "
    "reachable from wherever Vectis runs.",
}

# Keepit's type codes, as people call them.
WORKLOADS = {
    "o365-admin": "Microsoft 365",
    "o365": "Microsoft 365",
    "azure-ad": "Entra ID",
    "gsuite": "Google Workspace",
    "sforce": "Salesforce",
    "dynamics365": "Dynamics 365",
    "powerbi": "Power BI",
    "zendesk": "Zendesk",
    "azure-do": "Azure DevOps",
    "okta": "Okta",
    "jira": "Jira",
    "confluence": "Confluence",
    "bamboohr": "BambooHR",
    "dsl": "Other SaaS",
}
HEALTH_REASONS = {
    "OK": "",
    "GENERIC": "Keepit reports a problem with this connector",
    "NOCHECKIN": "no backup has checked in",
    "CLOUDNOCHECKIN": "the cloud service has not checked in",
    "BADLOGIN": "Keepit cannot sign in to the service: its credentials were rejected",
    "NONADMINLOGIN": "the account Keepit signs in with is no longer an admin",
    "BADTOKEN": "the service's access token for Keepit is no longer valid",
    "QUOTAVIOLATED": "the Keepit storage quota is exceeded",
}

# (area or action keyword, category), first match wins: actions say more than areas.
_CATEGORY_RULES = (
    (("login", "logout", "password", "mfa", "2fa", "token", "acl", "permission", "auth", "sso"), "security"),
    (("restore", "recover", "download", "zip", "export", "pstrestore", "srestore"), "recovery"),
    (("report",), "reporting"),
    (("retention", "compliance", "gdpr", "legal", "hold", "purge", "deletion-deadline"), "compliance"),
    (("connection", "oauth", "consent", "reauth"), "connection"),
    (("connector", "device", "backup", "snapshot", "job"), "connector"),
    (("user", "admin", "member", "role"), "user"),
    (("account", "subscription", "product", "billing", "company"), "account"),
)
CATEGORIES = ("user", "account", "connector", "connection", "recovery", "reporting", "security", "compliance")
# A person signing in or out, and it working: most of an audit log, worth hiding on the timeline without hiding
# the security events (a failed sign-in, a new token) that stay "security".
SIGN_IN_ACTIONS = frozenset({"login", "logout", "signin", "signout"})


def parse_keepit_url(text: str) -> tuple[str, str] | None:
    """``https://us-dc.keepit.com/users/y17hbi-i620pk-80q5x2`` -> ``("us-dc", "y17hbi-i620pk-80q5x2")``."""
    found = KEEPIT_URL.match(text.strip())
    if not found:
        return None
    return found["region"].lower(), (found["guid"] or "").lower()


def parse_time(value: str | None) -> datetime | None:
    return parse_instant(value)


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(element: Element | None, path: str) -> str:
    found = element.find(path) if element is not None else None
    return (found.text or "").strip() if found is not None else ""


def workload(device_type: str, agent_type: str = "") -> str:
    code = agent_type if device_type == "dsl" and agent_type else device_type
    return WORKLOADS.get(code, code.replace("-", " ").title() or "SaaS connector")


def classify(area: str, action: str, *, succeeded: bool = True) -> str:
    if succeeded and action.lower() in SIGN_IN_ACTIONS:
        return "sign-in"
    words = f"{action} {area}".lower()
    for keywords, category in _CATEGORY_RULES:
        if any(k in words for k in keywords):
            return category
    return area.lower() if area.lower() in CATEGORIES else "other"


# --- pure parsers: vendor XML -> records --------------------------------------------------------------


def parse_account(user: Element) -> CustomerRecord | None:
    guid = _text(user, "id")
    if not guid:
        return None
    name = (
        _text(user, "contact/companyname")
        or _text(user, "company_name")
        or _text(user, "contact/fullname")
        or _text(user, "full_name")
        or _text(user, "contact/email")
        or _text(user, "email")
        or guid
    )
    place = ", ".join(part for part in (_text(user, "contact/state"), _text(user, "contact/country")) if part)
    return CustomerRecord(
        external_id=guid,
        name=name,
        contact_name=_text(user, "contact/fullname") or _text(user, "full_name") or None,
        contact_email=_text(user, "contact/email") or _text(user, "email") or None,
        contact_phone=_text(user, "contact/phone") or None,
        location=place or None,
    )


def job_outcome(job: Element | None) -> tuple[str, datetime | None, datetime | None]:
    """A Keepit job's state is in which timestamp is set: (state, started, ended)."""
    if job is None:
        return "unknown", None, None
    started = parse_time(_text(job, "started")) or parse_time(_text(job, "start"))
    for tag, state in (("failed", "failed"), ("cancelled", "stopped"), ("succeeded", "success")):
        ended = parse_time(_text(job, tag))
        if ended is not None:
            return state, started, ended
    if _text(job, "active").lower() == "true":
        return "running", started, None
    return "unknown", started, None


# How a job ended, as the timestamp Keepit set says it (jobs have no status word).
_JOB_STATUS = {"success": "succeeded", "failed": "failed", "stopped": "cancelled", "running": "active"}


def parse_run(job: Element) -> BackupRunRecord | None:
    """One backup job as a run; None for one not started yet (queued) or without an id."""
    guid = _text(job, "guid")
    state, started, ended = job_outcome(job)
    if not guid or started is None or state not in _JOB_STATUS:
        return None
    return BackupRunRecord(
        run_id=guid, state=state, vendor_status=_JOB_STATUS[state], started_at=started, ended_at=ended
    )


def parse_connector(
    account: str, device: Element, health: Element | None, latest: Element | None, jobs: list[Element]
) -> BackupJobRecord | None:
    """``jobs``: the connector's recent backup jobs, newest first."""
    guid = _text(device, "guid")
    if not guid:
        return None
    device_type, agent_type = _text(device, "type"), _text(device, "agent-type")
    name = workload(device_type, agent_type)
    state, started, ended = job_outcome(jobs[0] if jobs else None)
    snapshot = parse_time(_text(latest, "backup/tstamp"))
    level, reason = _text(health, "health").lower(), _text(health, "reason").upper()
    if state == "unknown" and snapshot is None:
        pass  # never backed up and no job on record: the hub shows it as never run
    elif state in ("success", "unknown") and level in ("unhealthy", "critical"):
        state = "warning" if level == "unhealthy" else "failed"
    elif state == "unknown":
        state = "success"  # no job on record, but a snapshot exists: the last backup succeeded
    words = HEALTH_REASONS.get(reason, reason.title())
    message = f"Health {level}" + (f": {words}" if words else "") if level and level != "healthy" else None
    return BackupJobRecord(
        external_id=guid,
        customer_external_id=account,
        name=_text(device, "name") or name,
        kind=name,
        vendor_type=device_type if not agent_type else f"{device_type}:{agent_type}",
        state=state,
        vendor_status=(level or "unknown")[:40],
        last_attempt_at=started or snapshot,
        last_end_at=ended,
        duration_seconds=int((ended - started).total_seconds()) if started and ended else None,
        message=message,
        protected_object=_text(device, "orglink") or None,
        last_success_at=snapshot,
        runs=tuple(run for run in map(parse_run, jobs) if run is not None),
    )


def parse_connector_parts(parts: dict[str, Any]) -> BackupJobRecord | None:
    """The stream's parser: one connector is read from four answers (device, health, snapshot, jobs)."""
    return parse_connector(parts["account"], parts["device"], parts["health"], parts["latest"], parts["jobs"])


def parse_audit(record: Element) -> BackupEventRecord | None:
    when = parse_time(_text(record, "time"))
    if when is None:
        return None
    area, action = _text(record, "area"), _text(record, "action")
    message = _text(record, "message") or f"{area} {action}".strip() or "Keepit audit record"
    succeeded = _text(record, "succeeded").lower() != "false" and _text(record, "allowed").lower() != "false"
    failed_action = "fail" in action.lower()
    severity = "error" if not succeeded or failed_action else "info"
    fields = ("time", "account", "device", "area", "action", "method", "message", "token", "client-ip")
    identity = "\0".join(_text(record, f) for f in fields)
    detail = " · ".join(
        part
        for part in (
            f"by {_text(record, 'token')}" if _text(record, "token") else "",
            f"from {_text(record, 'client-ip')}" if _text(record, "client-ip") else "",
            f"{area}/{action}" if area or action else "",
        )
        if part
    )
    return BackupEventRecord(
        # Keepit's records carry no id: what they say, when and about what is the identity.
        external_id=f"audit:{hashlib.sha256(identity.encode()).hexdigest()[:40]}",
        customer_external_id=_text(record, "account") or None,
        occurred_at=when,
        category=classify(area, action, succeeded=severity != "error"),
        severity=severity,
        title=message[:500],
        detail=detail or None,
        raw={child.tag: (child.text or "").strip() for child in record if len(child) == 0},
    )


class KeepitConnector(Connector):
    key = "keepit"
    label = "Keepit"
    category = "backup"
    description = "Keepit SaaS backup: child accounts, every connector's health and latest backup, and the audit log."
    default_rate_limit = 10.0
    base_url_field = "region"
    fields = (
        ConfigField(
            "username",
            "Username",
            required=False,
            placeholder="you@your-msp.com",
            help="Your Keepit master admin login.",
        ),
        ConfigField("password", "Password", kind="password", secret=True, required=False),
        ConfigField(
            "region",
            "Region",
            placeholder="us-dc",
            help="The start of your Keepit address: https://[region].keepit.com/users/[account-guid]. "
            "You can paste that whole URL here to fill region and account GUID.",
        ),
        ConfigField(
            "account_guid",
            "Account GUID",
            placeholder="y17hbi-i620pk-80q5x2",
            help="Your MSP's parent account: the value after /users/ in your Keepit URL while viewing your account list.",
        ),
        ConfigField(
            "token_login",
            "API token login (optional)",
            kind="password",
            secret=True,
            required=False,
            help="From Keepit → Users → Edit User → Security → Add API token. When both token fields are filled, "
            "they are used instead of the username and password.",
        ),
        ConfigField("token_password", "API token password (optional)", kind="password", secret=True, required=False),
    )

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        raw = dict(config)
        # A pasted Keepit URL (in either field) fills both.
        for name in ("region", "account_guid"):
            parsed = parse_keepit_url(str(raw.get(name) or ""))
            if parsed:
                raw["region"] = parsed[0]
                if parsed[1]:
                    raw["account_guid"] = parsed[1]
                elif name == "account_guid":
                    raw["account_guid"] = ""
        clean = super().validate_config(raw)
        clean["region"], clean["account_guid"] = clean["region"].lower(), clean["account_guid"].lower()
        if clean["region"] not in REGIONS:
            valid = ", ".join(REGIONS)
            raise ConnectorError(
                f"“{clean['region']}” is not a Keepit region. Valid regions: {valid}.",
                permanent=True,
            )
        if not GUID.match(clean["account_guid"]):
            raise ConnectorError(
                "The account GUID is three groups of letters and digits joined by dashes, such as "
                "y17hbi-i620pk-80q5x2 (the value after /users/ in your Keepit URL).",
                permanent=True,
            )
        if not cls._uses_token(clean) and not (clean["username"] and clean["password"]):
            raise ConnectorError(
                "Enter your Keepit username and password, or both API token fields.",
                permanent=True,
            )
        return clean

    @classmethod
    def base_url(cls, config: dict[str, Any], template: str | None = None) -> str:
        return (template or URL_TEMPLATE).format(region=config["region"])

    @classmethod
    def console_url(cls, base_url: str, *, job: str, account: str | None) -> str | None:
        # No published address for a connector or its Job Monitor: the customer's account in the web app.
        return f"{base_url}/users/{account}" if account else base_url

    @staticmethod
    def _uses_token(config: dict[str, Any]) -> bool:
        return bool(config.get("token_login") and config.get("token_password"))

    # --- requests ---------------------------------------------------------------------------------

    @property
    def _authorization(self) -> str:
        # Token logins contain % + , ? !: Basic is built from the raw bytes, never URL-encoded.
        if self._uses_token(self.config):
            pair = f"{self.config['token_login']}:{self.config['token_password']}"
        else:
            pair = f"{self.config['username']}:{self.config['password']}"
        return "Basic " + base64.b64encode(pair.encode()).decode()

    @property
    def _host(self) -> str:
        return urlsplit(self.ctx.http.base_url).netloc or f"{self.config['region']}.keepit.com"

    def call(
        self,
        method: str,
        path: str,
        *,
        version: int,
        params: dict[str, Any] | None = None,
        body: str | None = None,
        what: str = "",
    ) -> tuple[Element, dict[str, str]]:
        headers = {"Authorization": self._authorization, "Accept": f"application/vnd.keepit.v{version}+xml"}
        if body is not None:
            headers["Content-Type"] = "application/xml"
        try:
            # Vectis only reads Keepit (its PUT is a search), so every call can be sent again.
            response = self.ctx.http.request(method, path, params=params, data=body, headers=headers, retry=True)
        except ConnectorError as exc:
            if exc.message.startswith("Connection"):
                raise ConnectorError(MESSAGES["timeout"].format(host=self._host), permanent=exc.permanent) from None
            raise
        status = response.status_code
        if status == 401:
            raise ConnectorError(
                MESSAGES["token" if self._uses_token(self.config) else "credentials"], permanent=True, status=401
            )
        if status == 403:
            if path.startswith("/audit"):
                raise ConnectorError(MESSAGES["audit_rights"], permanent=True, status=403)
            raise ConnectorError(MESSAGES["guid"].format(guid=self.config["account_guid"]), permanent=True, status=403)
        if status == 404:
            raise ConnectorError(f"Keepit has no {what or path} (HTTP 404).", permanent=True, status=404)
        if status >= 400:
            raise ConnectorError(f"Keepit refused {what or path} with HTTP {status}.", permanent=False, status=status)
        try:
            return fromstring(response.content), dict(response.headers)
        except ParseError:
            raise ConnectorError(
                f"Keepit sent {what or path} in a form Vectis could not read (malformed XML).", permanent=False
            ) from None

    def test_connection(self) -> str:
        try:
            who, _ = self.call("GET", "/users/", version=0, what="the signed-in account")
        except ConnectorError as exc:
            if exc.status == 404:
                raise ConnectorError(MESSAGES["region"].format(host=self._host), permanent=True, status=404) from None
            raise
        guid = self.config["account_guid"]
        if _text(who, "id").lower() != guid:
            self.call("GET", f"/users/{guid}", version=1, what="the parent account")  # 403 if not visible
        _, headers = self.call(
            "GET", f"/users/{guid}/users", version=3, params={"all": 1, "limit": 1}, what="the child accounts"
        )
        total = int(headers.get("X-Total-Count") or headers.get("x-total-count") or 0)
        now = datetime.now(UTC)
        self._audit_page(guid, now - timedelta(minutes=1), now, offset=0, limit=1)  # the AuditFilter right
        return f"Connected — {total} customer accounts visible under your parent account"

    def before_sync(self) -> None:
        try:
            self.call("GET", "/users/", version=0, what="the signed-in account")
        except ConnectorError as exc:
            if exc.status == 404:
                raise ConnectorError(MESSAGES["region"].format(host=self._host), permanent=True, status=404) from None
            raise

    # --- streams ----------------------------------------------------------------------------------

    def streams(self) -> list[Stream]:
        return [
            Stream("accounts", "/users/{parent}/users", "id", parse_account),
            Stream("connectors", "/users/{account}/devices", "guid", parse_connector_parts),
            Stream("audit", "/audit/filter/pretty", "time", parse_audit, cursor_field="time", snapshot=False),
        ]

    _accounts: list[str] | None = None

    def read(self, stream: Stream, cursor: dict[str, Any] | None) -> Iterator[Page]:
        if stream.name == "accounts":
            yield from self._read_accounts(stream)
        elif stream.name == "connectors":
            yield from self._read_connectors(stream)
        else:
            yield from self._read_audit(stream, cursor)

    def _read_accounts(self, stream: Stream) -> Iterator[Page]:
        parent, offset = self.config["account_guid"], 0
        seen: list[str] = []
        while True:
            root, headers = self.call(
                "GET",
                f"/users/{parent}/users",
                version=3,
                params={"all": 1, "include_contact_details": 1, "limit": PAGE_SIZE, "offset": offset},
                what="the child accounts",
            )
            users = root.findall("user")  # one <user> or many: findall reads both the same
            records: list[Record] = [r for r in (stream.parse(u) for u in users) if r is not None]
            seen.extend(r.external_id for r in records if isinstance(r, CustomerRecord))
            offset += len(users)
            yield Page(records, None)
            total = int(headers.get("X-Total-Count") or 0)
            if not users or offset >= total:
                break
        self._accounts = seen

    def _read_connectors(self, stream: Stream) -> Iterator[Page]:
        accounts = self._accounts or []
        for start in range(0, len(accounts), ACCOUNTS_PER_PAGE):
            records: list[Record] = []
            for account in accounts[start : start + ACCOUNTS_PER_PAGE]:
                records.extend(self._connectors_of(stream, account))
            yield Page(records, None)

    def _connectors_of(self, stream: Stream, account: str) -> list[Record]:
        devices, _ = self.call("GET", f"/users/{account}/devices", version=4, what="an account's connectors")
        records: list[Record] = []
        for device in list(devices):
            guid = _text(device, "guid")
            if not guid:
                continue
            base = f"/users/{account}/devices/{guid}"
            health, _ = self.call(
                "GET", f"{base}/health", version=0, params={"reason": "true"}, what="connector health"
            )
            latest, _ = self.call("GET", f"{base}/history/latest", version=1, what="the latest snapshot")
            jobs, _ = self.call(
                "PUT",
                f"{base}/jobs",
                version=0,
                body=f"<filter><limit>{RUN_HISTORY}</limit><reverse>true</reverse>"
                "<types><type>backup</type></types></filter>",
                what="the recent backup jobs",
            )
            parts = {
                "account": account, "device": device, "health": health, "latest": latest, "jobs": jobs.findall("job"),
            }  # fmt: skip
            record = stream.parse(parts)
            if record is not None:
                records.append(record)
        return records

    def _audit_page(
        self, account: str, since: datetime, until: datetime, *, offset: int, limit: int = PAGE_SIZE
    ) -> tuple[Element, dict[str, str]]:
        body = (
            f"<filter><account>{account}</account><from>{format_time(since)}</from>"
            f"<to>{format_time(until)}</to><recursive>true</recursive></filter>"
        )
        return self.call(
            "PUT",
            "/audit/filter/pretty",
            version=4,
            params={"limit": limit, "offset": offset},
            body=body,
            what="a page of the audit log",
        )

    def _read_audit(self, stream: Stream, cursor: dict[str, Any] | None) -> Iterator[Page]:
        now = datetime.now(UTC)
        since = parse_time((cursor or {}).get("since")) or now - EVENT_WINDOW
        since = max(since, now - EVENT_WINDOW)  # a rolling window: never further back than 14 days
        offset: int | None = 0
        while offset is not None:
            root, headers = self._audit_page(self.config["account_guid"], since, now, offset=offset)
            records: list[Record] = [r for r in (stream.parse(x) for x in root.findall("record")) if r is not None]
            # Records come oldest first: everything up to the newest one on this page has been read, so
            # the next sync may resume there (inclusive; the boundary second is read again, deduplicated).
            newest = max([since, *(r.occurred_at for r in records if isinstance(r, BackupEventRecord))])
            following = headers.get("next-offset") or headers.get("Next-Offset")
            offset = integer(following)
            yield Page(records, {"since": format_time(newest)})
