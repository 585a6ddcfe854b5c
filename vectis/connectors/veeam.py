"""Veeam Service Provider Console (VSPC), REST API v3. Read-only (product guide ``000_*``).

Vendor facts: ``../shared/vendor-apis.md`` section 1. What the guide says that Veeam does not, and how
this module acts on it:

- Tokens live for ``expires_in`` (3600 s by default), not 15 minutes: we cache the token (sealed, in
  Redis) until shortly before it expires, refresh with the refresh grant, and fall back to the password.
- The version gate reads ``GET /about`` -> ``serverVersion`` and refuses majors below 7.
- VSPC has no event stream: events are the triggered alarms (``/alarms/active``), read by their last
  activation time, 14 days back on the first sync, at most 10,000 per sync.
- An API key (Veeam's recommendation for integrations) is sent as a bearer token and used instead of the
  password when given.
- Companies are read with ``expand=Organization``: the organization carries the company's phone, city and
  country, which fill a customer's empty contact fields (its e-mail is the company's, not a person's: not used).
- VSPC reports a job's latest session only (no session id either): the writer keeps each session it sees,
  keyed by its start, for the run-history strip.
- VSPC's web console has no published address for a job or for its jobs view (its routes are client-side and
  undocumented), so a job links to the console itself.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from vectis.connectors.base import (
    BackupEventRecord,
    BackupJobRecord,
    ConfigField,
    Connector,
    CustomerRecord,
    Page,
    Record,
    Stream,
)
from vectis.connectors.values import json_of
from vectis.platform.crypto import Sealed
from vectis.platform.dates import parse_instant
from vectis.platform.http import ConnectorError

API = "/api/v3"
CLIENT_VERSION = "3.6.1"
MIN_MAJOR_VERSION = 7
EVENT_WINDOW = timedelta(days=14)
EVENT_CAP = 10_000
TOKEN_MARGIN = timedelta(seconds=60)  # refresh this long before the token would expire

MESSAGES = {
    401: "401 Unauthorized — Username / password pair is wrong. The user must be a VSPC portal user, not a local account on a backup server.",
    403: "403 Forbidden — The user authenticated but lacks a role that can read companies or jobs. Assign a read-only role that covers Companies + Monitoring and retry.",
    404: "404 on /api/v3/about — The endpoint isn't available at that URL. Confirm the VSPC host (not a backup-server host) and that the deployment is VSPC v7 or later.",
    "version": "Version refused — Vectis detected VSPC {version}, older than v7. Upgrade VSPC before connecting.",
    "timeout": "Connection timed out — Vectis couldn't reach the VSPC host. VSPC is self-hosted per MSP; make sure the host is reachable from wherever Vectis runs (public DNS or peered internal network).",
    "api_key": "401 Unauthorized — The REST API key was not accepted. Check that it is a VSPC REST API key and that it has not been revoked.",
}

KIND_BY_TYPE = {
    **dict.fromkeys(
        (
            "BackupVm",
            "AgentBackupJob",
            "AgentPolicy",
            "BackupFile",
            "ObjectStorageBackup",
            "AzureBackupJob",
            "AwsBackupJob",
            "GoogleBackupJob",
        ),
        "Backup",
    ),
    **dict.fromkeys(
        ("BackupCopy", "SimpleBackupCopy", "BackupFileCopy", "ObjectStorageBackupCopy", "CopyVm", "CopyFile"),
        "BackupCopy",
    ),
    **dict.fromkeys(("ReplicationVM", "CdpReplicationVM"), "Replica"),
    **dict.fromkeys(("BackupToTape", "FileToTape"), "Tape"),
}
STATE_BY_STATUS = {
    "Success": "success",
    "Warning": "warning",
    "Failed": "failed",
    **dict.fromkeys(("Running", "Starting", "Stopping", "WaitingTape", "WaitingRepository"), "running"),
    **dict.fromkeys(("Idle", "None", "Enabling", "Disabling", "Stopped"), "stopped"),
}
SEVERITY_BY_STATUS = {
    "Error": "error",
    "Warning": "warning",
    "Info": "info",
    "Resolved": "resolved",
    "Acknowledged": "info",
}


def parse_time(value: Any) -> datetime | None:
    """VSPC dates carry 7 fractional digits (``2023-01-16T16:30:09.4952609+01:00``); its "never" is year 1."""
    return parse_instant(value)


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- pure parsers: vendor JSON -> records ------------------------------------------------------------


def parse_company(item: dict[str, Any]) -> CustomerRecord | None:
    uid, name = item.get("instanceUid"), item.get("name")
    if not uid or not name:
        return None
    organization = (item.get("_embedded") or {}).get("organization") or {}
    place = ", ".join(str(v) for v in (organization.get("city"), organization.get("countryName")) if v)
    return CustomerRecord(
        external_id=str(uid),
        name=str(name),
        contact_phone=str(organization.get("phone") or "").strip() or None,
        location=place or None,
    )


def _job(
    item: dict[str, Any], *, external_id: str, customer: Any, name: str, kind: str, vendor_type: str
) -> BackupJobRecord:
    """What server jobs and agent jobs share: the latest run's status, times and failure message."""
    status = str(item.get("status") or "Unknown")
    duration = item.get("lastDuration")
    return BackupJobRecord(
        external_id=external_id,
        customer_external_id=customer,
        name=name,
        kind=kind,
        vendor_type=vendor_type,
        state=STATE_BY_STATUS.get(status, "unknown"),
        vendor_status=status,
        last_attempt_at=parse_time(item.get("lastRun")),
        last_end_at=parse_time(item.get("lastEndTime")),
        duration_seconds=int(duration) if isinstance(duration, int | float) else None,
        message=item.get("failureMessage") or None,
        protected_object=item.get("destination") or None,
    )


def parse_server_job(item: dict[str, Any]) -> BackupJobRecord | None:
    uid = item.get("instanceUid")
    if not uid:
        return None
    vendor_type = str(item.get("type") or "Unknown")
    return _job(
        item,
        external_id=str(uid),
        # The company the job is assigned to; the VBR server's owner only when it is not assigned.
        customer=item.get("mappedOrganizationUid") or item.get("organizationUid"),
        name=str(item.get("name") or "Unnamed job"),
        kind=KIND_BY_TYPE.get(vendor_type, "Other"),
        vendor_type=vendor_type,
    )


def parse_agent_job(item: dict[str, Any]) -> BackupJobRecord | None:
    uid = item.get("instanceUid")
    if not uid:
        return None
    return _job(
        item,
        external_id=f"agent:{uid}",  # agent and server job UIDs live in different namespaces
        customer=item.get("organizationUid"),
        name=str(item.get("name") or item.get("backupPolicyName") or "Agent job"),
        kind="Backup",
        vendor_type="BackupAgentJob",
    )


def parse_alarm(item: dict[str, Any]) -> BackupEventRecord | None:
    activation = item.get("lastActivation") or {}
    occurred = parse_time(activation.get("time"))
    if not item.get("instanceUid") or occurred is None:
        return None
    obj = item.get("object") or {}
    status = str(activation.get("status") or "Unknown")
    object_name = obj.get("objectName") or obj.get("computerName") or "VSPC"
    message = str(activation.get("message") or "Alarm")
    return BackupEventRecord(
        external_id=f"{item['instanceUid']}:{activation.get('instanceUid') or format_time(occurred)}",
        customer_external_id=obj.get("organizationUid"),
        occurred_at=occurred,
        category=str(obj.get("type") or "alarm"),
        severity=SEVERITY_BY_STATUS.get(status, "info"),
        title=f"{object_name}: {message}"[:500],
        detail=activation.get("remark") or None,
        raw=item,
    )


# The portal's activity log (``/eventLogs/activityLogs``) is an audit log of the portal, not of backups:
# these are the entries a technician looking at one customer cares about. Routine sign-ins (a good part
# of the log, Vectis's own included, once per sync) are left out.
ACTIVITY_CATEGORY = {
    "LoginFailed": ("security", "warning"),
    "CompanyUserCreated": ("user", "info"),
    "CompanyUserDeleted": ("user", "warning"),
    "CompanyUserModified": ("user", "info"),
    "CompanyCreated": ("account", "info"),
    "CompanyModified": ("account", "info"),
    "CompanyDeleted": ("account", "warning"),
    "BackupPolicyModified": ("connector", "info"),
    "ManagementAgentConnected": ("connection", "info"),
    "ManagementAgentDisconnected": ("connection", "warning"),
    "LicenseUpdated": ("account", "info"),
}
SKIPPED_ACTIVITY = frozenset({"LoginSuccessful"})


def parse_activity(item: dict[str, Any]) -> BackupEventRecord | None:
    kind = str(item.get("activityLogType") or "")
    occurred = parse_time(item.get("date"))
    if occurred is None or kind in SKIPPED_ACTIVITY:
        return None
    category, severity = ACTIVITY_CATEGORY.get(kind, ("other", "info"))
    message = str(item.get("message") or kind or "Portal activity")
    # Activity entries carry no id of their own: what they say, when and about whom is the identity.
    identity = "\0".join(str(item.get(k) or "") for k in ("date", "activityLogType", "organizationUid", "userUid"))
    digest = hashlib.sha256(f"{identity}\0{message}".encode()).hexdigest()[:32]
    return BackupEventRecord(
        external_id=f"activity:{digest}",
        customer_external_id=item.get("organizationUid"),
        occurred_at=occurred,
        category=category,
        severity=severity,
        title=message[:500],
        raw=item,
    )


class VeeamConnector(Connector):
    key = "veeam"
    label = "Veeam"
    category = "backup"
    description = "Veeam Service Provider Console: companies, every backup job's latest run, and triggered alarms."
    default_rate_limit = 2.0
    _events_read = 0  # this sync's events so far, against EVENT_CAP (one connector per sync)
    fields = (
        ConfigField(
            "base_url",
            "VSPC base URL",
            kind="url",
            placeholder="https://vspc.example.com:1280",
            help="Including the port if it is not 443. The default VSPC portal port is 1280.",
        ),
        ConfigField(
            "username",
            "Username",
            required=False,
            placeholder="vectis-svc",
            help="A dedicated VSPC portal user with a read-only role (Companies, Backup Jobs, Monitoring).",
        ),
        ConfigField("password", "Password", kind="password", secret=True, required=False),
        ConfigField(
            "api_key",
            "REST API key (optional)",
            kind="password",
            secret=True,
            required=False,
            help="Veeam recommends API keys for integrations. When given, it is used instead of the password.",
        ),
    )

    @classmethod
    def console_url(cls, base_url: str, *, job: str, account: str | None) -> str | None:
        return base_url  # the console itself: VSPC publishes no address for a job (see the module's notes)

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        clean = super().validate_config(config)
        if not clean["api_key"] and not (clean["username"] and clean["password"]):
            raise ConnectorError("Enter the username and password of the VSPC user, or a REST API key.", permanent=True)
        if not clean["base_url"].startswith(("https://", "http://")):
            raise ConnectorError(
                "The VSPC base URL must start with https:// and include the port, e.g. https://vspc.example.com:1280.",
                permanent=True,
            )
        return clean

    # --- authentication ---------------------------------------------------------------------------

    @property
    def _token_key(self) -> str:
        # The credentials are part of the key: a token is only ever sent back to the server, and for the
        # user, that issued it (a changed URL or password in Test or Save never reuses it).
        identity = "\0".join(str(self.config.get(k, "")) for k in ("base_url", "username", "password", "api_key"))
        fingerprint = hashlib.sha256(identity.encode()).hexdigest()[:24]
        return f"vectis:vspc-token:{self.ctx.tenant_id}:{self.ctx.connection_id or 'unsaved'}:{fingerprint}"

    def _grant(self, form: dict[str, str]) -> dict[str, Any] | None:
        # A token grant changes nothing at the vendor: safe to send again.
        response = self.ctx.http.request("POST", f"{API}/token", data=form, retry=True)
        if response.status_code in (400, 401):
            return None
        if response.status_code == 403:
            raise ConnectorError(MESSAGES[403], permanent=True, status=403)
        if response.status_code == 404:
            raise ConnectorError(MESSAGES[404], permanent=True, status=404)
        if response.status_code != 200:
            raise ConnectorError(
                f"VSPC answered HTTP {response.status_code} to the sign-in request.",
                permanent=False,
                status=response.status_code,
            )
        body = self._json(response, "the sign-in answer")
        if not body.get("access_token"):
            raise ConnectorError("VSPC's sign-in answer had no access token.", permanent=False)
        return body

    def _store(self, body: dict[str, Any]) -> str:
        lifetime = int(body.get("expires_in") or 3600)
        entry = {
            "access": body["access_token"],
            "refresh": body.get("refresh_token"),
            "expires_at": (datetime.now(UTC) + timedelta(seconds=lifetime)).timestamp(),
        }
        # Sealed like every secret; expires in Redis with the token itself.
        self.ctx.redis.set(self._token_key, Sealed.seal(self.ctx.tenant_id, entry).token, ex=max(lifetime, 1))
        return str(body["access_token"])

    def _cached(self) -> dict[str, Any] | None:
        raw = self.ctx.redis.get(self._token_key)
        if raw is None:
            return None
        try:
            entry: dict[str, Any] = Sealed(raw if isinstance(raw, bytes) else str(raw).encode()).open(
                self.ctx.tenant_id
            )
        except Exception:
            return None
        return entry

    def _access_token(self, *, force: bool = False) -> str:
        if self.config.get("api_key"):
            return str(self.config["api_key"])
        entry = None if force else self._cached()
        now = datetime.now(UTC).timestamp()
        if entry and entry["expires_at"] - now > TOKEN_MARGIN.total_seconds():
            return str(entry["access"])
        if entry and entry.get("refresh"):
            body = self._grant({"grant_type": "refresh_token", "refresh_token": entry["refresh"]})
            if body is not None:
                return self._store(body)
        body = self._grant(
            {"grant_type": "password", "username": self.config["username"], "password": self.config["password"]}
        )
        if body is None:
            raise ConnectorError(MESSAGES[401], permanent=True, status=401)
        return self._store(body)

    def forget_token(self) -> None:
        self.ctx.redis.delete(self._token_key)

    # --- requests ---------------------------------------------------------------------------------

    @staticmethod
    def _json(response: requests.Response, what: str) -> dict[str, Any]:
        try:
            body = json_of(response)
        except ValueError:
            raise ConnectorError(
                f"VSPC sent {what} in a form Vectis could not read (malformed JSON).", permanent=False
            ) from None
        if not isinstance(body, dict):
            raise ConnectorError(f"VSPC sent {what} in an unexpected shape.", permanent=False)
        return body

    def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        headers = {"X-Client-Version": CLIENT_VERSION, "Accept": "application/json"}
        for attempt in (1, 2):
            token = self._access_token(force=attempt == 2)
            response = self.ctx.http.request(
                "GET",
                f"{API}{path}",
                params=params,
                headers={**headers, "Authorization": f"Bearer {token}"},
                retry=True,
            )
            if response.status_code == 401 and attempt == 1 and not self.config.get("api_key"):
                continue  # the token expired or was revoked mid-sync: sign in again, once
            if response.status_code == 401:
                raise ConnectorError(
                    MESSAGES["api_key" if self.config.get("api_key") else 401], permanent=True, status=401
                )
            if response.status_code == 403:
                raise ConnectorError(MESSAGES[403], permanent=True, status=403)
            if response.status_code == 404:
                raise ConnectorError(
                    MESSAGES[404] if path == "/about" else f"VSPC has no {path} (HTTP 404).", permanent=True, status=404
                )
            if response.status_code == 202:
                raise ConnectorError(
                    "VSPC answered later (asynchronous action); the next sync tries again.", permanent=False, status=202
                )
            if response.status_code >= 400:
                raise ConnectorError(
                    f"VSPC refused {path} with HTTP {response.status_code}.",
                    permanent=False,
                    status=response.status_code,
                )
            return self._json(response, f"a page of {path}")
        raise AssertionError("unreachable")  # pragma: no cover

    def server_version(self) -> str:
        try:
            about = self.get("/about")
        except ConnectorError as exc:
            if exc.message.startswith("Connection"):
                raise ConnectorError(MESSAGES["timeout"], permanent=exc.permanent) from None
            raise
        version = str((about.get("data") or {}).get("serverVersion") or "")
        try:
            major = int(version.split(".", 1)[0])
        except ValueError:
            major = 0
        if major < MIN_MAJOR_VERSION:
            raise ConnectorError(MESSAGES["version"].format(version=version or "of unknown version"), permanent=True)
        return version

    def before_sync(self) -> None:
        self.server_version()

    def test_connection(self) -> str:
        version = self.server_version()
        page = self.get("/organizations/companies", {"limit": 1, "offset": 0})
        total = int(((page.get("meta") or {}).get("pagingInfo") or {}).get("total") or 0)
        return f"Connected to Veeam VSPC {version} — {total} companies visible"

    # --- streams ----------------------------------------------------------------------------------

    def streams(self) -> list[Stream]:
        return [
            Stream("companies", "/organizations/companies", "instanceUid", parse_company),
            Stream("jobs", "/infrastructure/backupServers/jobs", "instanceUid", parse_server_job),
            Stream("agent_jobs", "/infrastructure/backupAgents/jobs", "instanceUid", parse_agent_job),
            Stream(
                "events",
                "/alarms/active",
                "instanceUid",
                parse_alarm,
                cursor_field="lastActivation.time",
                snapshot=False,
                max_records=EVENT_CAP,
            ),
            Stream(
                "activity",
                "/eventLogs/activityLogs",
                "date",
                parse_activity,
                cursor_field="date",
                snapshot=False,
                max_records=EVENT_CAP,
            ),
        ]

    def _since(self, stream: Stream, since: datetime) -> dict[str, Any]:
        """Both event streams are read oldest first from the resume point, inclusive: events sharing the
        boundary are read again and deduplicated, never skipped."""
        if stream.path == "/eventLogs/activityLogs":  # Veeam gives this one from/to, not filter/sort
            return {"from": format_time(since), "dateSortingDirection": "ascending"}
        return {
            "filter": json.dumps(
                [{"property": stream.cursor_field, "operation": "greaterThanOrEqual", "value": format_time(since)}]
            ),
            "sort": json.dumps([{"property": stream.cursor_field, "direction": "ascending"}]),
        }

    def read(self, stream: Stream, cursor: dict[str, Any] | None) -> Iterator[Page]:
        params: dict[str, Any] = {"limit": stream.page_size}
        if stream.name == "companies":
            params["expand"] = "Organization"  # the company's phone and place
        since: datetime | None = None
        if not stream.snapshot:
            since = parse_time((cursor or {}).get("since")) or datetime.now(UTC) - EVENT_WINDOW
            params.update(self._since(stream, since))
        # The event cap is per sync, shared by the alarm and activity streams: what is over it waits for
        # the next tick, from the resume point of what was taken.
        left = None if stream.max_records is None else stream.max_records - self._events_read
        offset = 0
        while left is None or left > 0:
            body = self.get(stream.path, {**params, "offset": offset})
            items = body.get("data")
            if not isinstance(items, list):
                raise ConnectorError(f"VSPC sent a page of {stream.path} without a data list.", permanent=False)
            offset += len(items)
            if left is not None:
                items = items[:left]
                left -= len(items)
                self._events_read += len(items)
            records: list[Record] = [
                r for r in (stream.parse(item) for item in items if isinstance(item, dict)) if r is not None
            ]
            cursor_after = None
            if since is not None:
                times = [r.occurred_at for r in records if isinstance(r, BackupEventRecord)]
                since = max([since, *times])
                cursor_after = {"since": format_time(since)}
            yield Page(records, cursor_after)
            total = int(((body.get("meta") or {}).get("pagingInfo") or {}).get("total") or 0)
            if not items or offset >= total:
                return
