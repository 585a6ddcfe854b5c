"""NinjaOne RMM, Public API 2.0 (product guide ``002_*``): organisations, devices, open alerts (reset from Vectis) and
the activity log.

Vendor facts: ``../shared/vendor-apis.md`` section 4 and NinjaOne's published OpenAPI document. What this module
reads, and how it acts on what NinjaOne does:

- NinjaOne runs one instance per region (``https://<region>.ninjarmm.com``) and an API application exists only on
  the instance it was made on, so the region is part of the credentials: a wrong one answers like an unknown client.
- OAuth client credentials at ``/ws/oauth/token`` with the scopes ``monitoring management``; there is no refresh
  token, so the access token is cached (sealed, in Redis) until shortly before ``expires_in`` and asked for again.
- Organisations (``/v2/organizations``, paged by ``after``: the last id of the previous page) -> customer accounts,
  matched to customers through Customer matching. Their description is where the organisation is ("City,
  Country" in the demo): it fills a customer's empty location.
- Devices (``/v2/devices-detailed``, paged by ``after``) -> ``devices``: name, class (``nodeClass`` mapped to Vectis's
  classes), online, last contact, and the location's name as its site (``references.location``: Vectis has no sites
  of its own yet, so locations are not read apart). That list carries no OS version, serial, make or model (NinjaOne
  keeps those in its ``/v2/queries/*`` reports): the OS is the family ``nodeClass`` names, the rest stays empty.
- Open alerts (``/v2/alerts``: every open one at once, unpaged) -> ``alerts`` through the dedupe, severity
  CRITICAL/MAJOR critical, MODERATE/MINOR warning, NONE info. An alert no longer listed has cleared at NinjaOne and
  resolves in Vectis; resolving one in Vectis resets it there (``POST /v2/alert/{uid}/reset``, then the list is read
  again to see it gone). NinjaOne has no acknowledge: one is recorded in Vectis only.
- Activities (``/v2/activities``) -> the timeline: patch cycles, conditions triggered and reset, antivirus updates,
  policy changes. Ids grow with time, so the cursor is the newest id read and the next sync asks ``newerThan`` it.
  The first sync walks back from the newest :data:`EVENT_WINDOW`; every sync takes at most :data:`EVENT_CAP`.
  An activity names its device, not its organisation: the devices list (``/v2/devices``, ids only kept in memory)
  says which organisation each device is in. Technicians signing in to NinjaOne are left out.
- Every time NinjaOne sends is epoch seconds as a number.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests

from vectis.connectors.base import (
    AlertRecord,
    ConfigField,
    Connector,
    CustomerRecord,
    DeviceRecord,
    Page,
    Record,
    Stream,
    TimelineRecord,
)
from vectis.connectors.capabilities import (
    Callback,
    CallbackRefused,
    RegistersCallbacks,
    Request,
    ResetsAlerts,
    VerifiesCallbacks,
)
from vectis.connectors.token_cache import cached_token
from vectis.connectors.values import json_of
from vectis.platform import public_ids
from vectis.platform.ahead import prefetched
from vectis.platform.dates import parse_epoch
from vectis.platform.http import ConnectorError, UncertainOutcome

TOKEN_PATH = "/ws/oauth/token"  # noqa: S105 - a path, not a password
SCOPES = ("monitoring", "management")
REGIONS = {"app": "US", "us2": "US2", "eu": "EU", "ca": "Canada", "oc": "Oceania"}  # host prefix -> its name
URL_TEMPLATE = "https://{region}.ninjarmm.com"
NINJA_HOST = re.compile(r"^(?:https?://)?(?P<region>[a-z0-9]+)\.ninjarmm\.com(?:[/:].*)?$", re.I)
PAGE_SIZE = 500  # organisations per page
DEVICE_PAGE = 1000
ACTIVITY_PAGE = 1000  # the most NinjaOne gives per page
EVENT_WINDOW = timedelta(days=14)
EVENT_CAP = 10_000  # activities per sync: the rest waits for the next one

MESSAGES = {
    401: "401 Unauthorized — NinjaOne ({region}) did not accept this client ID and secret. Copy both again from "
    "NinjaOne → Administration → Apps → API → Client App IDs. If they are right, check the region: an API app "
    "exists only on the NinjaOne instance it was made on (the address you sign in at, such as eu.ninjarmm.com).",
    403: "403 Forbidden — the NinjaOne API app lacks the {scope} scope. In NinjaOne → Administration → Apps → API, "
    "edit the app and tick both Monitoring and Management under Scopes (and Client Credentials under Allowed "
    "Grant Types), then test again.",
    "region": "Vectis couldn't reach NinjaOne at {host}. Check the region: it is the start of the address you sign "
    "in to NinjaOne at (app.ninjarmm.com is US; us2, eu, ca and oc are the others).",
    "timeout": "Connection timed out — NinjaOne at {host} did not answer in time. Check the region, and that "
    "ninjarmm.com is reachable from wherever Vectis runs.",
}

# activityType -> the timeline kind, for the "hide" filter.
KINDS = {
    "PATCH_MANAGEMENT": "rmm.patching",
    "CONDITION": "rmm.condition",
    "ANTIVIRUS": "rmm.antivirus",
    "SYSTEM": "rmm.system",
}
# nodeClass -> Vectis's device class, and the OS family it names (the list carries no OS version).
DEVICE_CLASS = {
    "WINDOWS_SERVER": "server", "WINDOWS_WORKSTATION": "workstation", "LINUX_WORKSTATION": "linux",
    "LINUX_SERVER": "server", "MAC": "mac", "MAC_SERVER": "mac", "VMWARE_VM_HOST": "server",
    "HYPERV_VMM_HOST": "server", "VMWARE_VM_GUEST": "virtual", "HYPERV_VMM_GUEST": "virtual",
    "NMS_VIRTUAL_MACHINE": "virtual", "NMS_VM_HOST": "server", "NMS_SERVER": "server", "NMS_COMPUTER": "workstation",
}  # fmt: skip
OS_FAMILY = {
    "WINDOWS_SERVER": "Windows Server", "WINDOWS_WORKSTATION": "Windows", "HYPERV_VMM_HOST": "Windows Server",
    "LINUX_WORKSTATION": "Linux", "LINUX_SERVER": "Linux", "MAC": "macOS", "MAC_SERVER": "macOS",
    "VMWARE_VM_HOST": "VMware ESXi", "ANDROID": "Android", "APPLE_IOS": "iOS", "APPLE_IPADOS": "iPadOS",
}  # fmt: skip
CALLBACK_HEADER = "X-Vectis-Secret"
# The activities that raise or clear an alert: conditions triggered and reset, and the antivirus's threats.
CALLBACK_ACTIVITIES = {"CONDITION": ["TRIGGERED", "RESET"], "ANTIVIRUS": ["BDAS_BITDEFENDER_THREAT_QUARANTINED"]}
SECRET_SHOWN = "(a secret Vectis derives for this connection; never shown)"  # noqa: S105 - a placeholder
ALERT_SEVERITY = {"CRITICAL": "critical", "MAJOR": "critical", "MODERATE": "warning", "MINOR": "warning"}
SEVERITIES = {"CRITICAL": "error", "MAJOR": "error", "MODERATE": "warning", "MINOR": "warning", "NONE": "info"}
# Routine: a technician signing in to NinjaOne (Vectis's own API use is not even logged there).
SKIPPED_STATUS = frozenset({"APP_USER_LOGGED_IN"})


def region_of(text: str) -> str:
    """``eu``, ``EU``, ``eu.ninjarmm.com`` or ``https://eu.ninjarmm.com/#/dashboard`` -> ``eu``."""
    text = text.strip()
    found = NINJA_HOST.match(text)
    return (found["region"] if found else text).lower()


def parse_time(value: Any) -> datetime | None:
    """NinjaOne's times are epoch seconds as a number (the spec's ``double``)."""
    return parse_epoch(value)


# --- pure parsers: vendor JSON -> records ------------------------------------------------------------


def parse_organization(item: dict[str, Any]) -> CustomerRecord | None:
    if not isinstance(item.get("id"), int) or not str(item.get("name") or "").strip():
        return None
    return CustomerRecord(
        external_id=str(item["id"]),
        name=str(item["name"]).strip(),
        location=str(item.get("description") or "").strip()[:200] or None,
    )


def device_class(node_class: str) -> str:
    if node_class in DEVICE_CLASS:
        return DEVICE_CLASS[node_class]
    return "network" if node_class.startswith("NMS_") else "other"


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _device_name(item: dict[str, Any]) -> str:
    return str(item.get("displayName") or item.get("systemName") or item.get("dnsName") or item.get("id") or "")


def parse_device(item: dict[str, Any]) -> DeviceRecord | None:
    if not isinstance(item.get("id"), int):
        return None
    organization = item.get("organizationId")
    location = _object(_object(item.get("references")).get("location"))
    node_class = str(item.get("nodeClass") or "")
    kept = ("organizationId", "locationId", "approvalStatus", "dnsName", "ipAddresses", "publicIP")
    return DeviceRecord(
        external_id=str(item["id"]),
        customer_external_id=str(organization) if isinstance(organization, int) else None,
        name=_device_name(item).strip() or f"Device {item['id']}",
        device_class=device_class(node_class),
        vendor_class=node_class or None,
        site=str(location.get("name") or "").strip() or None,
        os_name=OS_FAMILY.get(node_class),
        online=item.get("offline") is False,
        last_contact_at=parse_time(item.get("lastContact")),
        details={key: item[key] for key in kept if item.get(key) not in (None, "", [])},
    )


def parse_alert(item: dict[str, Any]) -> AlertRecord | None:
    raised = parse_time(item.get("createTime"))
    if not isinstance(item.get("uid"), str) or not item["uid"] or raised is None:
        return None
    device = _object(item.get("device"))
    device_id = item.get("deviceId")
    organization = device.get("organizationId")
    condition = str(item.get("sourceType") or item.get("conditionName") or "NINJAONE_ALERT")
    subject = str(item.get("subject") or "").strip()
    message = str(item.get("message") or "").strip()
    kept = ("sourceName", "conditionName", "sourceConfigUid", "priority", "severity")
    return AlertRecord(
        external_id=item["uid"],
        customer_external_id=str(organization) if isinstance(organization, int) else None,
        device_external_id=str(device_id) if isinstance(device_id, int) else None,
        device_name=_device_name(device).strip() or None,
        condition=condition,
        severity=ALERT_SEVERITY.get(str(item.get("severity") or ""), "info"),
        message=message or subject or condition,
        raised_at=raised,
        details={key: item[key] for key in kept if item.get(key) not in (None, "")},
    )


def severity_of(item: dict[str, Any]) -> str:
    if item.get("statusCode") == "RESET":
        return "resolved"
    severity = SEVERITIES.get(str(item.get("severity") or "NONE"), "info")
    if item.get("activityResult") == "FAILURE" and severity == "info":
        return "warning"
    return severity


def parse_activity(parts: dict[str, Any]) -> TimelineRecord | None:
    """``parts``: the ``activity`` as NinjaOne sends it, its device's ``organization`` id and ``device`` name (None
    for an activity of no device, or of a device no longer listed)."""
    item: dict[str, Any] = parts["activity"]
    when = parse_time(item.get("activityTime"))
    if not isinstance(item.get("id"), int) or when is None or item.get("statusCode") in SKIPPED_STATUS:
        return None
    activity_type = str(item.get("activityType") or "")
    subject = str(item.get("subject") or item.get("status") or activity_type.title() or "NinjaOne activity")
    if item.get("statusCode") == "RESET":
        subject = f"{subject}: back to normal"
    device = parts.get("device")
    return TimelineRecord(
        external_id=f"activity:{item['id']}",
        customer_external_id=str(parts["organization"]) if parts.get("organization") is not None else None,
        occurred_at=when,
        kind=KINDS.get(activity_type, f"rmm.{activity_type.lower() or 'other'}"),
        severity=severity_of(item),
        title=(f"{device}: {subject}" if device else subject)[:500],
        detail=str(item.get("message") or "").strip() or None,
        device_external_id=str(item["deviceId"]) if isinstance(item.get("deviceId"), int) else None,
    )


class NinjaOneConnector(Connector, ResetsAlerts, VerifiesCallbacks, RegistersCallbacks):
    key = "ninjaone"
    label = "NinjaOne"
    noun = "NinjaOne"
    category = "rmm"
    callback_when = "an alert is raised or cleared"
    callback_check = (
        "each call carries a secret header only Vectis and NinjaOne know, checked before Vectis reads the open alerts "
        "again"
    )
    callback_off = "remove the webhook of the API app in NinjaOne (DELETE /v2/webhook with its credentials)"
    description = (
        "NinjaOne RMM: organisations matched to customers, devices on the hub's Devices tab, open alerts (resolved in "
        "Vectis, reset in NinjaOne), and the activity log (patching, conditions, antivirus) on the timeline."
    )
    default_rate_limit = 5.0
    base_url_field = "region"
    fields = (
        ConfigField(
            "client_id",
            "Client ID",
            placeholder="VCTSDEMO7K2M9Q4R8T1W",
            help="From NinjaOne → Administration → Apps → API → Client App IDs: an “API Services (machine-to-machine)” "
            "app with the Monitoring and Management scopes and the Client Credentials grant.",
        ),
        ConfigField("client_secret", "Client Secret", kind="password", secret=True),
        ConfigField(
            "region",
            "Region / instance",
            placeholder="app",
            default="app",
            help="The start of the address you sign in to NinjaOne at: app (app.ninjarmm.com, US), us2, eu, ca or "
            "oc. You can paste the address itself.",
        ),
    )

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        clean = super().validate_config(config)
        clean["region"] = region_of(clean["region"])
        if clean["region"] not in REGIONS:
            raise ConnectorError(
                f"“{clean['region']}” is not a NinjaOne region. Valid regions: {', '.join(REGIONS)} "
                "(app is the US instance, app.ninjarmm.com).",
                permanent=True,
            )
        return clean

    @classmethod
    def base_url(cls, config: dict[str, Any], template: str | None = None) -> str:
        return (template or URL_TEMPLATE).format(region=region_of(str(config["region"])))

    @property
    def _region(self) -> str:
        region = region_of(str(self.config.get("region") or "app"))
        return REGIONS.get(region, region)

    @property
    def _host(self) -> str:
        return urlsplit(self.ctx.http.base_url).netloc or URL_TEMPLATE.format(region=self._region)

    # --- authentication ---------------------------------------------------------------------------

    @property
    def _token_key(self) -> str:
        # The credentials and where they go are part of the key: a token is only sent back where it came from.
        identity = "\0".join(
            (self.ctx.http.base_url, str(self.config.get("client_id")), str(self.config.get("client_secret")))
        )
        fingerprint = hashlib.sha256(identity.encode()).hexdigest()[:24]
        return f"vectis:ninjaone-token:{self.ctx.tenant_id}:{self.ctx.connection_id or 'unsaved'}:{fingerprint}"

    def _reach(self, exc: ConnectorError) -> ConnectorError:
        """A connection failure in NinjaOne's words: a region that does not answer, or one that is too slow."""
        if exc.message.startswith("Connection timed out") or isinstance(exc, UncertainOutcome):
            return ConnectorError(MESSAGES["timeout"].format(host=self._host), permanent=False)
        if exc.message.startswith("Connection") or "could not be found" in exc.message:
            return ConnectorError(MESSAGES["region"].format(host=self._host), permanent=exc.permanent)
        return exc

    def _grant(self) -> dict[str, Any]:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.config["client_id"],
            "client_secret": self.config["client_secret"],
            "scope": " ".join(SCOPES),
        }
        try:
            # A token grant changes nothing at NinjaOne: safe to send again.
            response = self.ctx.http.request("POST", TOKEN_PATH, data=form, retry=True)
        except ConnectorError as exc:
            raise self._reach(exc) from None
        status = response.status_code
        if status in (400, 401):
            raise ConnectorError(MESSAGES[401].format(region=self._region), permanent=True, status=401)
        if status in (404, 405) or 300 <= status < 400:
            # Something answers there, but not NinjaOne's token endpoint.
            raise ConnectorError(MESSAGES["region"].format(host=self._host), permanent=True, status=status)
        if status != 200:
            raise ConnectorError(
                f"NinjaOne answered HTTP {status} to the sign-in request.", permanent=False, status=status
            )
        body = self._json(response, "the sign-in answer")
        if not isinstance(body, dict) or not body.get("access_token"):
            raise ConnectorError("NinjaOne's sign-in answer had no access token.", permanent=False)
        granted = set(str(body.get("scope") or " ".join(SCOPES)).split())
        for scope in SCOPES:
            if scope not in granted:
                raise ConnectorError(MESSAGES[403].format(scope=scope.title()), permanent=True, status=403)
        return body

    def _access_token(self, *, force: bool = False) -> str:
        return cached_token(self.ctx, self._token_key, self._grant, force=force)

    def forget_token(self) -> None:
        self.ctx.redis.delete(self._token_key)

    # --- requests ---------------------------------------------------------------------------------

    @staticmethod
    def _json(response: requests.Response, what: str) -> Any:
        try:
            return json_of(response)
        except ValueError:
            raise ConnectorError(
                f"NinjaOne sent {what} in a form Vectis could not read (malformed JSON).", permanent=False
            ) from None

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        response = self._call("GET", path, params=params)
        return self._json(response, f"a page of {path}")

    def _call(self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        """``method path`` with a token, asked for again once if NinjaOne no longer takes it; NinjaOne's refusals
        in words. A 404 is the caller's to read (a reset of an alert already gone)."""
        for attempt in (1, 2):
            token = self._access_token(force=attempt == 2)
            try:
                headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
                if body is not None:
                    headers["Content-Type"] = "application/json"
                response = self.ctx.http.request(
                    method,
                    path,
                    params=params,
                    data=json.dumps(body) if body is not None else None,
                    headers=headers,
                    retry=True,  # every call here reads, or resets (repeating a reset changes nothing)
                )
            except ConnectorError as exc:
                raise self._reach(exc) from None
            status = response.status_code
            if status == 401 and attempt == 1:
                continue  # the token expired or was revoked mid-sync: ask for a new one, once
            if status == 401:
                raise ConnectorError(MESSAGES[401].format(region=self._region), permanent=True, status=401)
            if status == 403:
                found = re.search(r'scope="([a-z]+)"', response.headers.get("WWW-Authenticate", ""))
                scope = (found[1] if found else "Monitoring").title()
                raise ConnectorError(MESSAGES[403].format(scope=scope), permanent=True, status=403)
            if status == 404 and method == "GET":
                raise ConnectorError(f"NinjaOne has no {path} (HTTP 404).", permanent=True, status=404)
            if status >= 400 and status != 404:
                raise ConnectorError(f"NinjaOne refused {path} with HTTP {status}.", permanent=False, status=status)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _list(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        body = self.get(path, params)
        if not isinstance(body, list):
            raise ConnectorError(f"NinjaOne sent {path} in an unexpected shape (not a list).", permanent=False)
        return [item for item in body if isinstance(item, dict)]

    def test_connection(self) -> str:
        organizations = self._list("/v2/organizations", {})
        self.get("/v2/activities", {"pageSize": 10})  # the activity log is readable too
        return f"Connected to NinjaOne ({self._region}) — {len(organizations)} organizations visible"

    # --- streams ----------------------------------------------------------------------------------

    def streams(self) -> list[Stream]:
        return [
            Stream("organizations", "/v2/organizations", "id", parse_organization, page_size=PAGE_SIZE),
            Stream("devices", "/v2/devices-detailed", "id", parse_device, page_size=DEVICE_PAGE),
            Stream("alerts", "/v2/alerts", "uid", parse_alert, lists=AlertRecord),
            Stream(
                "activities",
                "/v2/activities",
                "id",
                parse_activity,
                cursor_field="id",
                snapshot=False,
                page_size=ACTIVITY_PAGE,
                max_records=EVENT_CAP,
            ),
        ]

    def read(self, stream: Stream, cursor: dict[str, Any] | None) -> Iterator[Page]:
        if stream.name == "organizations":
            yield from self._read_organizations(stream)
        elif stream.name == "devices":
            yield from self._read_detailed_devices(stream)
        elif stream.name == "alerts":
            items = self._list(stream.path, {})
            yield Page([r for r in map(stream.parse, items) if r is not None], None)
        else:
            yield from self._read_activities(stream, cursor)

    def _read_organizations(self, stream: Stream) -> Iterator[Page]:
        for items in self._after_pages(stream):
            records: list[Record] = [r for r in map(stream.parse, items) if r is not None]
            yield Page(records, None)

    def _read_detailed_devices(self, stream: Stream) -> Iterator[Page]:
        """Every device, a page at a time; what the activity log needs of each (organisation, name) is kept."""
        devices: dict[int, tuple[int | None, str]] = {}
        for items in self._after_pages(stream):
            for item in items:
                if isinstance(item.get("id"), int):
                    organization = item.get("organizationId")
                    devices[item["id"]] = (organization if isinstance(organization, int) else None, _device_name(item))
            yield Page([r for r in map(stream.parse, items) if r is not None], None)
        self._devices = devices

    def _after_pages(self, stream: Stream) -> Iterator[list[dict[str, Any]]]:
        """Every page of a list NinjaOne pages by ``after`` (the last id read): the next page is asked for as soon as
        that id is known, while the caller makes this one's records."""
        return prefetched(self._follow(stream.path, stream.page_size), depth=2, name="ninjaone-pages")

    def _follow(self, path: str, page_size: int) -> Iterator[list[dict[str, Any]]]:
        after = 0
        while True:
            items = self._list(path, {"pageSize": page_size, "after": after})
            yield items
            ids = [item["id"] for item in items if isinstance(item.get("id"), int)]
            if len(items) < page_size or not ids:
                return
            after = max(ids)

    _devices: dict[int, tuple[int | None, str]] | None = None  # device id -> (organisation id, name)
    _device_reads = 0  # this sync's reads of the devices list (one connector per sync)

    def _read_devices(self) -> dict[int, tuple[int | None, str]]:
        devices: dict[int, tuple[int | None, str]] = {}
        after = 0
        while True:
            items = self._list("/v2/devices", {"pageSize": DEVICE_PAGE, "after": after})
            for item in items:
                if isinstance(item.get("id"), int):
                    organization = item.get("organizationId")
                    devices[item["id"]] = (organization if isinstance(organization, int) else None, _device_name(item))
            if len(items) < DEVICE_PAGE or not devices:
                return devices
            after = max(devices)

    def _device(self, device_id: Any) -> tuple[int | None, str | None]:
        """The organisation a device is in, and its name. The devices list is read once per sync, and once more
        when an activity names a device it did not have (one added since)."""
        if not isinstance(device_id, int):
            return None, None
        if self._devices is None or (device_id not in self._devices and self._device_reads < 2):
            self._devices = self._read_devices()
            self._device_reads += 1
        organization, name = self._devices.get(device_id, (None, ""))
        return organization, name or None

    def _parse(self, stream: Stream, items: list[dict[str, Any]]) -> list[Record]:
        records: list[Record] = []
        for item in items:
            organization, device = self._device(item.get("deviceId")) if "deviceId" in item else (None, None)
            record = stream.parse({"activity": item, "organization": organization, "device": device})
            if record is not None:
                records.append(record)
        return records

    def _activities(self, params: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
        body = self.get("/v2/activities", params)
        if not isinstance(body, dict) or not isinstance(body.get("activities"), list):
            raise ConnectorError("NinjaOne sent the activity log in an unexpected shape.", permanent=False)
        items = [a for a in body["activities"] if isinstance(a, dict) and isinstance(a.get("id"), int)]
        last = body.get("lastActivityId")
        return items, last if isinstance(last, int) else max((a["id"] for a in items), default=0)

    def _read_activities(self, stream: Stream, cursor: dict[str, Any] | None) -> Iterator[Page]:
        newer_than = (cursor or {}).get("newer_than")
        if not isinstance(newer_than, int):
            yield from self._backfill(stream)
            return
        left = stream.max_records or EVENT_CAP
        while left > 0:
            items, _ = self._activities({"pageSize": stream.page_size, "newerThan": newer_than})
            # The page is the activities just after the cursor, newest first: take the oldest ones, so that
            # what the cap leaves out is all newer than the saved cursor and read next time.
            items = sorted(items, key=lambda a: a["id"])
            full = len(items) >= stream.page_size
            items = items[:left]
            left -= len(items)
            if not items:
                return
            newer_than = max(newer_than, items[-1]["id"])
            yield Page(self._parse(stream, items), {"newer_than": newer_than})
            if not full:
                return

    def _backfill(self, stream: Stream) -> Iterator[Page]:
        """The first sync: newest first, back to :data:`EVENT_WINDOW` or :data:`EVENT_CAP`. Its pages save no
        cursor until the walk is done (a sync stopped halfway starts again, the rows already written are not
        written twice); then the cursor is the newest activity there was when it began."""
        since = datetime.now(UTC) - EVENT_WINDOW
        left = stream.max_records or EVENT_CAP
        older_than: int | None = None
        newest: int | None = None
        while left > 0:
            params: dict[str, Any] = {"pageSize": stream.page_size}
            if older_than is not None:
                params["olderThan"] = older_than
            items, last = self._activities(params)
            newest = last if newest is None else newest
            items = sorted(items, key=lambda a: -a["id"])
            recent = [a for a in items if (parse_time(a.get("activityTime")) or since) >= since][:left]
            left -= len(recent)
            if recent:
                yield Page(self._parse(stream, recent), None)
            if len(recent) < len(items) or len(items) < stream.page_size:
                break
            older_than = items[-1]["id"]
        yield Page([], {"newer_than": newest or 0})

    # --- resetting alerts -------------------------------------------------------------------------

    def reset_request(self, alert: str) -> Request:
        return Request("POST", f"/v2/alert/{alert}/reset", None, what="the reset", retry=True)

    def reset_alert(self, alert: str) -> None:
        """Gone from NinjaOne's open alerts, and a RESET activity in its log. One already gone answers 404: then
        it was reset, or cleared, before; the read-back says which alerts are still open."""
        request = self.reset_request(alert)
        self._call(request.method, request.path, body=request.body)

    def open_alert_ids(self) -> set[str]:
        return {str(item["uid"]) for item in self._list("/v2/alerts", {}) if isinstance(item.get("uid"), str)}

    def open_alerts(self) -> list[AlertRecord]:
        return [r for r in map(parse_alert, self._list("/v2/alerts", {})) if r is not None]

    # --- instant updates (NinjaOne's webhook) ------------------------------------------------------

    def _callback_secret(self) -> str:
        """What the webhook's secret header carries. NinjaOne signs nothing (its spec has no signature scheme), so
        Vectis hands it a secret to send back: derived from this installation's key for this connection, so it is
        never stored, never shown (a dry run shows a placeholder), and every web process can check it."""
        return public_ids.codec().secret("ninjaone-webhook", self.ctx.connection_id or 0)

    def callback_request(self, url: str) -> Request:
        body = {
            "url": url,
            # What raises and clears alerts; the rest of the log waits for the next sync.
            "activities": CALLBACK_ACTIVITIES,
            "expand": ["device"],
            "headers": [{"name": CALLBACK_HEADER, "value": SECRET_SHOWN}],
        }
        return Request("PUT", "/v2/webhook", body, what="the webhook registration", retry=True)

    def register_callback(self, url: str) -> str | None:
        request = self.callback_request(url)
        body = {**request.body, "headers": [{"name": CALLBACK_HEADER, "value": self._callback_secret()}]}
        self._call(request.method, request.path, body=body)
        return "webhook"  # NinjaOne keeps one webhook per API app: it has no id of its own

    def verify_callback(self, body: bytes, headers: Mapping[str, str]) -> Callback:
        sent = headers.get(CALLBACK_HEADER.lower()) or headers.get(CALLBACK_HEADER) or ""
        if not sent:
            raise CallbackRefused(f"It has no {CALLBACK_HEADER} header.")
        if not hmac.compare_digest(sent.encode(), self._callback_secret().encode()):
            raise CallbackRefused(f"Its {CALLBACK_HEADER} header is not the secret Vectis gave NinjaOne.")
        try:
            activity = json.loads(body)
        except ValueError:
            raise CallbackRefused("The body is not JSON.") from None
        if not isinstance(activity, dict) or not isinstance(activity.get("id"), int):
            raise CallbackRefused("The body is not a NinjaOne activity.")
        alerting = activity.get("activityType") == "CONDITION" or bool(activity.get("seriesUid"))
        return Callback(
            message_id=f"activity:{activity['id']}",
            kind="alert" if alerting else "activity",
            external_id=str(activity.get("seriesUid") or activity["id"]),
            action=str(activity.get("statusCode") or "updated").lower(),
        )

    def fetch_callback_key(self, body: bytes) -> None:
        """No key to fetch: the secret header is checked from what Vectis derived itself."""
