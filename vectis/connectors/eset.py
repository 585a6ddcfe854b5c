"""ESET PROTECT Cloud through ESET Connect: customer groups matched to customers, detections, and the response
actions ESET's API takes (isolate and release an endpoint through an automation device task, resolve a detection).

Vendor facts: ``../shared/vendor-apis.md`` section 13. What this module reads, and how:

- ESET serves each API from its own host per region: ``https://<region>.<domain>.eset.systems`` with the domains
  ``device-management``, ``incident-management`` and ``automation``, and the token from
  ``https://<region>.business-account.iam.eset.systems`` (regions ``eu, de, us, jpn, ca``). The connection's
  address (:meth:`EsetConnector.base_url`) is the device-management host; the others are derived from it, one
  guarded HTTP client each, sharing the connection's rate limit. Demo and tests point ``VECTIS_VENDOR_URLS`` at one
  simulator serving every path: an address that is not ESET's is used for every domain.
- Auth: a dedicated API user (ESET PROTECT Hub / ESET Business Account → Users → API user). ``POST /oauth/token``
  with ``grant_type=password`` gives a bearer token for 60 minutes and a refresh token; both are cached sealed in
  Redis, the access token used until two minutes before its end, then refreshed (``grant_type=refresh_token``), or
  asked for again with the password when the refresh is refused. A 401 mid-sync asks once more.
- Lists page by ``pageSize`` and ``pageToken``; ``nextPageToken`` is empty (or absent) on the last page.
- Customers: ESET PROTECT's device groups (``GET /v1/device_groups``). An MSP keeps one static group per customer
  directly under the root group "All" [U], so the top-level groups are the customers; "Lost & found" and dynamic
  (security) groups are not. A device belongs to the top-level group its group sits under, at any depth.
- Detections: ``GET /v2/detections?startTime=&endTime=`` (incident-management) → ``detections``, incremental on
  ``occurTime``: the cursor is the newest ``occurTime`` read, and the next sync asks ``startTime`` it (inclusive:
  the detections of that second are read again, and written again unchanged). The first sync reads everything
  before :data:`FIRST_WINDOW` keeping only unresolved detections (ESET Connect has no filter on ``resolved`` [U]),
  then the window. Device names and customers come from ``GET /v1/devices`` read alongside. ESET's API filters by
  ``occurTime`` only, not by when a detection changed, so each sync reads again from the oldest detection that was
  still open when last read (``open_since`` in the cursor; never more than :data:`FIRST_WINDOW` back): one
  resolved in ESET PROTECT since shows as resolved after the next sync, and the open counts stay true.
- Severity: ESET's ``severityLevel``, kept as the vendor's word: ``SEVERITY_LEVEL_HIGH`` → high, ``…_MEDIUM`` →
  medium, ``…_LOW``, ``…_DIAGNOSTIC`` and ``…_UNSPECIFIED`` → low. ESET has no level above high, so Vectis's
  critical is never used. Status: ``resolved`` true → resolved, else open (ESET has no in-progress state). Verdict:
  ESET gives none, so None. Isolation: the device's ``networkIsolationState`` [U] (``…_NOT_ISOLATED`` → connected,
  ``…_ISOLATING`` → isolating, ``…_ISOLATED`` → isolated, ``…_RELEASING`` → releasing).
- Actions: isolate and release are automation device tasks (``POST /v1/device_tasks``, actions
  ``StartNetworkIsolation`` / ``EndNetworkIsolation`` [T]) carrying the technician's comment as their description;
  resolve is ``POST /v2/detections/{uuid}:resolve`` with a ``note`` [T]. Each sets a state, so each may be sent
  again. Read-backs: ``GET /v1/devices/{uuid}`` and ``GET /v2/detections/{uuid}``. ESET's API has no false-positive
  verdict (ESET handles one with an exclusion in the console): that button is disabled with the reason.
- Rate limits are not published [U]: :attr:`EsetConnector.default_rate_limit` is a cautious 2 a second, and a 429's
  ``Retry-After`` is honoured by the shared client.
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

from vectis.connectors.base import ConfigField, Connector, CustomerRecord, DetectionRecord, Page, Record, Stream
from vectis.connectors.capabilities import Request, RespondsOnEndpoints
from vectis.connectors.values import file_path_of, json_of, object_of, text_of
from vectis.platform.crypto import Sealed
from vectis.platform.dates import parse_instant
from vectis.platform.http import ConnectorError, HttpClient, UncertainOutcome

REGIONS = ("eu", "de", "us", "jpn", "ca")
URL_TEMPLATE = "https://{region}.{domain}.eset.systems"
AUTH_DOMAIN = "business-account.iam"
DEVICES_DOMAIN, INCIDENTS_DOMAIN, AUTOMATION_DOMAIN = "device-management", "incident-management", "automation"
ESET_HOST = re.compile(r"^(?P<region>[a-z]+)\.device-management\.eset\.systems$")
TOKEN_PATH = "/oauth/token"  # noqa: S105 - a path, not a password
GROUPS, DEVICES, DETECTIONS, TASKS = "/v1/device_groups", "/v1/devices", "/v2/detections", "/v1/device_tasks"
PAGE = 500  # [U]: ESET publishes no page maximum; clients ask for 100-500
FIRST_WINDOW = timedelta(days=30)
TOKEN_MARGIN = timedelta(seconds=120)
NOT_CUSTOMERS = frozenset({"lost & found"})

MESSAGES = {
    401: "ESET did not accept this API user's username and password (region {region}). Check both in ESET PROTECT "
    "Hub (or ESET Business Account) → Users: the API user must have API access enabled, and the region must be the "
    "one your ESET PROTECT Cloud runs in.",
    "expired": "ESET's access token expired and a new one could not be obtained. Check the API user's password in "
    "ESET PROTECT Hub → Users (a changed or expired password stops the integration), then test again.",
    403: "403 Forbidden — ESET's API user may not {what}. In ESET PROTECT Hub → Users, give the API user a "
    "permission set with read access to devices and detections (and write access to tasks and detections to "
    "isolate endpoints and resolve detections from Vectis).",
    "unreachable": "Vectis couldn't reach ESET at {host}. Check the region: eu, de, us, jpn or ca, the one your ESET "
    "PROTECT Cloud console runs in.",
    "timeout": "Connection timed out — ESET at {host} did not answer in time. Check the region, and that it is "
    "reachable from wherever Vectis runs.",
    "not_eset": "Something answered at {host}, but not ESET Connect (no {path} there). Check the region.",
}

SEVERITY = {
    "SEVERITY_LEVEL_HIGH": "high",
    "SEVERITY_LEVEL_MEDIUM": "medium",
    "SEVERITY_LEVEL_LOW": "low",
    "SEVERITY_LEVEL_DIAGNOSTIC": "low",
    "SEVERITY_LEVEL_UNSPECIFIED": "low",
}
ISOLATION = {
    "NETWORK_ISOLATION_STATE_NOT_ISOLATED": "connected",
    "NETWORK_ISOLATION_STATE_ISOLATING": "isolating",
    "NETWORK_ISOLATION_STATE_ISOLATED": "isolated",
    "NETWORK_ISOLATION_STATE_RELEASING": "releasing",
}
KEPT = ("category", "typeName", "objectTypeName", "objectName", "responses", "note")
KEPT_CONTEXT = ("userName", "circumstances")


def parse_time(value: Any) -> datetime | None:
    """ESET's times are RFC 3339 in UTC (``2023-10-26T13:36:53Z``)."""
    return parse_instant(value)


def region_of(text: str) -> str:
    """``EU``, ``eu.device-management.eset.systems`` or an ESET address → ``eu``."""
    text = text.strip().lower()
    host = urlsplit(text if "://" in text else f"https://{text}").hostname or text
    return host.split(".", 1)[0]


def host_for(base_url: str, domain: str) -> str:
    """The address of ESET's ``domain`` API beside the device-management one; anything else (a simulator) serves
    every domain itself."""
    parts = urlsplit(base_url)
    found = ESET_HOST.match(parts.hostname or "")
    if not found:
        return base_url
    return f"{parts.scheme}://{found['region']}.{domain}.eset.systems"


# --- pure parsers ------------------------------------------------------------------------------------


def top_level_groups(groups: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The customer groups: static groups directly under the root (the group without a parent), but "Lost &
    found"."""
    roots = {str(g.get("uuid")) for g in groups if not g.get("parentGroupUuid")}
    return {
        str(g["uuid"]): g
        for g in groups
        if text_of(g.get("uuid"))
        and str(g.get("parentGroupUuid") or "") in roots
        and not g.get("isSecurityGroup")
        and str(g.get("displayName") or "").strip().lower() not in NOT_CUSTOMERS
    }


def parse_group(item: dict[str, Any]) -> CustomerRecord | None:
    """A customer group (one :func:`top_level_groups` chose) → a customer."""
    if not text_of(item.get("uuid")) or not text_of(item.get("displayName")):
        return None
    return CustomerRecord(external_id=str(item["uuid"]).strip(), name=str(item["displayName"]).strip())


def customer_of(groups: list[dict[str, Any]]) -> dict[str, str]:
    """Each group's customer group (itself or the top-level group above it), by uuid."""
    parent = {str(g.get("uuid")): str(g.get("parentGroupUuid") or "") for g in groups}
    customers = top_level_groups(groups)
    found: dict[str, str] = {}
    for uuid in parent:
        seen, node = set(), uuid
        while node and node not in customers and node not in seen:
            seen.add(node)
            node = parent.get(node, "")
        if node in customers:
            found[uuid] = node
    return found


def severity_of(level: Any) -> str:
    return SEVERITY.get(str(level or ""), "low")


def _moment(written: str) -> datetime:
    """A moment ESET wrote (or Vectis wrote for it), for comparing; one that does not read sorts first."""
    return parse_time(written) or datetime.min.replace(tzinfo=UTC)


def parse_detection(item: dict[str, Any], devices: dict[str, dict[str, Any]] | None = None) -> DetectionRecord | None:
    """A v2 detection → a record; ``devices`` (uuid → {name, customer, isolation}) names its device and customer."""
    context = object_of(item.get("context"))
    detected = parse_time(item.get("occurTime"))
    if not text_of(item.get("uuid")) or detected is None:
        return None
    device_uuid = text_of(context.get("deviceUuid")) or text_of(object_of(item.get("device")).get("uuid"))
    known = (devices or {}).get(device_uuid or "", {})
    level = text_of(item.get("severityLevel")) or "SEVERITY_LEVEL_UNSPECIFIED"
    resolved = item.get("resolved") is True
    details: dict[str, Any] = {key: item[key] for key in KEPT if item.get(key) not in (None, "", [], [{}])}
    details.update({key: context[key] for key in KEPT_CONTEXT if context.get(key) not in (None, "")})
    process = text_of(object_of(context.get("process")).get("path"))
    if process:
        details["process"] = process
    return DetectionRecord(
        external_id=str(item["uuid"]).strip(),
        customer_external_id=known.get("customer"),
        device_external_id=device_uuid,
        device_name=text_of(object_of(item.get("device")).get("displayName")) or known.get("name"),
        title=(text_of(item.get("displayName")) or text_of(item.get("typeName")) or "ESET detection")[:500],
        severity=severity_of(level),
        vendor_severity=level,
        status="resolved" if resolved else "open",
        vendor_status="resolved" if resolved else "unresolved",
        detected_at=detected,
        updated_at=None,
        verdict=None,  # ESET gives no verdict
        isolation=known.get("isolation"),
        classification=text_of(item.get("typeName")),
        file_path=file_path_of(item.get("objectUrl")),
        file_hash=text_of(item.get("objectHashSha1")),
        details=details,
    )


class EsetConnector(Connector, RespondsOnEndpoints):
    key = "eset"
    label = "ESET"
    noun = "ESET"
    category = "security"
    description = (
        "ESET PROTECT Cloud (ESET Connect): customer groups matched to customers, detections with their severity and "
        "status, endpoints isolated and released and detections resolved from Vectis."
    )
    # ESET publishes no rate limits [U]: a cautious 2 a second; a 429's Retry-After paces Vectis further.
    default_rate_limit = 2.0
    base_url_field = "region"
    responses: ClassVar[dict[str, str | None]] = {
        "isolate": None,
        "release": None,
        "resolve": None,
        "false_positive": "ESET's API has no false-positive verdict: mark it in ESET PROTECT (create an exclusion "
        "from the detection).",
    }
    fields = (
        ConfigField(
            "region",
            "Region",
            placeholder="eu",
            default="eu",
            help="Where your ESET PROTECT Cloud runs: eu, de, us, jpn or ca (the start of its console's address).",
        ),
        ConfigField(
            "username",
            "API user",
            placeholder="vectis-api@example.com",
            help="A dedicated API user: in ESET PROTECT Hub (or ESET Business Account) → Users → New user, with "
            "Integrations/API access enabled and a permission set that reads devices and detections.",
        ),
        ConfigField("password", "Password", kind="password", secret=True),
    )

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        clean = super().validate_config(config)
        clean["region"] = region_of(clean["region"])
        if clean["region"] not in REGIONS:
            raise ConnectorError(
                f"“{clean['region']}” is not an ESET region. Valid regions: {', '.join(REGIONS)}.", permanent=True
            )
        return clean

    @classmethod
    def base_url(cls, config: dict[str, Any], template: str | None = None) -> str:
        region = region_of(str(config["region"]))
        return (template or URL_TEMPLATE).format(region=region, domain=DEVICES_DOMAIN)

    # --- hosts --------------------------------------------------------------------------------------

    _clients: dict[str, HttpClient]

    def _client(self, domain: str) -> HttpClient:
        """The guarded client for ``domain``'s host (the connection's own for device-management)."""
        address = host_for(self.ctx.http.base_url, domain)
        if address == self.ctx.http.base_url:
            return self.ctx.http
        clients = self.__dict__.setdefault("_clients", {})
        if domain not in clients:
            # The same policy and rate limit, its own pinned session (each host is checked and pinned apart).
            clients[domain] = dataclasses.replace(
                self.ctx.http, base_url=address, requests_made=0, _session=requests.Session()
            )
        client: HttpClient = clients[domain]
        return client

    @staticmethod
    def _domain(path: str) -> str:
        if path == TOKEN_PATH:
            return AUTH_DOMAIN
        if path.startswith(("/v1/detections", DETECTIONS)):
            return INCIDENTS_DOMAIN
        if path.startswith(TASKS):
            return AUTOMATION_DOMAIN
        return DEVICES_DOMAIN

    @property
    def _region(self) -> str:
        return region_of(str(self.config.get("region") or "eu"))

    def _host(self, path: str) -> str:
        return urlsplit(self._client(self._domain(path)).base_url).netloc

    def _reach(self, exc: ConnectorError, path: str, *, reading: bool) -> ConnectorError:
        if isinstance(exc, UncertainOutcome) and not reading:
            return exc
        if exc.message.startswith("Connection timed out") or isinstance(exc, UncertainOutcome):
            return ConnectorError(MESSAGES["timeout"].format(host=self._host(path)), permanent=False)
        if exc.message.startswith("Connection") or "could not be found" in exc.message:
            return ConnectorError(MESSAGES["unreachable"].format(host=self._host(path)), permanent=exc.permanent)
        return exc

    # --- the token ----------------------------------------------------------------------------------

    @property
    def _token_key(self) -> str:
        identity = "\0".join(
            (self.ctx.http.base_url, str(self.config.get("username")), str(self.config.get("password")))
        )
        fingerprint = hashlib.sha256(identity.encode()).hexdigest()[:24]
        return f"vectis:eset-token:{self.ctx.tenant_id}:{self.ctx.connection_id or 'unsaved'}:{fingerprint}"

    def _grant(self, form: dict[str, str]) -> dict[str, Any] | None:
        """A token grant; None when ESET refuses it (400/401: wrong credentials, or a spent refresh token)."""
        try:
            # A grant changes nothing at ESET: safe to send again.
            response = self._client(AUTH_DOMAIN).request("POST", TOKEN_PATH, data=form, retry=True)
        except ConnectorError as exc:
            raise self._reach(exc, TOKEN_PATH, reading=True) from None
        status = response.status_code
        if status in (400, 401):
            return None
        if status in (404, 405) or 300 <= status < 400:
            raise ConnectorError(
                MESSAGES["not_eset"].format(host=self._host(TOKEN_PATH), path=TOKEN_PATH), permanent=True, status=status
            )
        if status != 200:
            raise ConnectorError(f"ESET answered HTTP {status} to the sign-in request.", permanent=False, status=status)
        try:
            body = json.loads(response.text)
        except ValueError:
            body = None
        if not isinstance(body, dict) or not body.get("access_token"):
            raise ConnectorError("ESET's sign-in answer had no access token.", permanent=False)
        return body

    def _store(self, body: dict[str, Any]) -> str:
        lifetime = int(body.get("expires_in") or 3600)
        entry = {
            "access": body["access_token"],
            "refresh": body.get("refresh_token"),
            "expires_at": datetime.now(UTC).timestamp() + lifetime,
        }
        # Sealed like every secret; kept a day so its refresh token can outlive the hour [U: its lifetime].
        self.ctx.redis.set(self._token_key, Sealed.seal(self.ctx.tenant_id, entry).token, ex=86_400)
        return str(body["access_token"])

    def _access_token(self, *, force: bool = False) -> str:
        raw = self.ctx.redis.get(self._token_key)
        entry: dict[str, Any] = {}
        if raw is not None:
            try:
                entry = Sealed(raw if isinstance(raw, bytes) else str(raw).encode()).open(self.ctx.tenant_id)
            except Exception:  # an unreadable cache entry is asked for again
                entry = {}
        left = float(entry.get("expires_at") or 0) - datetime.now(UTC).timestamp()
        if entry.get("access") and not force and left > TOKEN_MARGIN.total_seconds():
            return str(entry["access"])
        body = None
        if entry.get("refresh"):
            body = self._grant({"grant_type": "refresh_token", "refresh_token": str(entry["refresh"])})
        if body is None:
            body = self._grant(
                {"grant_type": "password", "username": self.config["username"], "password": self.config["password"]}
            )
        if body is None:
            raise ConnectorError(MESSAGES[401].format(region=self._region), permanent=True, status=401)
        return self._store(body)

    def forget_token(self) -> None:
        self.ctx.redis.delete(self._token_key)

    # --- requests -----------------------------------------------------------------------------------

    def _call(self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        """``method path`` on its domain's host with a token (asked for again once if ESET no longer takes it);
        ESET's refusals in words; the answer's JSON."""
        reading = method == "GET"
        for attempt in (1, 2):
            token = self._access_token(force=attempt == 2)
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            if body is not None:
                headers["Content-Type"] = "application/json"
            try:
                response = self._client(self._domain(path)).request(
                    method,
                    path,
                    params=params,
                    data=json.dumps(body) if body is not None else None,
                    headers=headers,
                    retry=True,  # every call here reads, or sets a state (isolated, resolved)
                )
            except ConnectorError as exc:
                raise self._reach(exc, path, reading=reading) from None
            status = response.status_code
            if status == 401 and attempt == 1:
                continue  # the token expired or was revoked mid-sync: ask for a new one, once
            if status == 401:
                raise ConnectorError(MESSAGES["expired"], permanent=True, status=401)
            if status == 403:
                what = "read devices and detections" if reading else "run tasks or resolve detections"
                raise ConnectorError(MESSAGES[403].format(what=what), permanent=True, status=403)
            if status == 404 and method == "GET" and path.count("/") > 2:
                return None  # one device or detection ESET no longer has
            if status in (404, 405) or 300 <= status < 400:
                raise ConnectorError(
                    MESSAGES["not_eset"].format(host=self._host(path), path=path), permanent=True, status=status
                )
            if status >= 400:
                try:
                    detail = str(object_of(json.loads(response.text)).get("message") or "")
                except ValueError:
                    detail = ""
                raise ConnectorError(
                    f"ESET refused {path}: {detail or f'HTTP {status}'}", permanent=False, status=status
                )
            try:
                return json_of(response) if response.content else {}
            except ValueError:
                raise ConnectorError(
                    MESSAGES["not_eset"].format(host=self._host(path), path=path), permanent=True, status=status
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _pages(self, path: str, key: str, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        """Every page of a list, following ``nextPageToken``."""
        token = ""
        while True:
            body = object_of(self._call("GET", path, params={**params, **({"pageToken": token} if token else {})}))
            items = body.get(key)
            if items is None and key not in body and "nextPageToken" not in body:
                raise ConnectorError(f"ESET sent {path} in an unexpected shape (no {key}).", permanent=False)
            yield [item for item in items or [] if isinstance(item, dict)]
            token = str(body.get("nextPageToken") or "")
            if not token:
                return

    def _groups(self) -> list[dict[str, Any]]:
        return [group for page in self._pages(GROUPS, "deviceGroups", {"pageSize": PAGE}) for group in page]

    def _devices(self) -> dict[str, dict[str, Any]]:
        """uuid → the device's name, customer group and isolation, for the detections' records."""
        customers = customer_of(self._groups())
        found: dict[str, dict[str, Any]] = {}
        for page in self._pages(DEVICES, "devices", {"pageSize": PAGE}):
            for device in page:
                if text_of(device.get("uuid")):
                    found[str(device["uuid"])] = {
                        "name": text_of(device.get("displayName")),
                        "customer": customers.get(str(device.get("parentGroupUuid") or "")),
                        "isolation": ISOLATION.get(str(device.get("networkIsolationState") or "")),
                    }
        return found

    def test_connection(self) -> str:
        self.forget_token()  # the credentials as typed, not a token cached for earlier ones
        customers = top_level_groups(self._groups())
        self._call("GET", DETECTIONS, params={"pageSize": 1})  # the detections are readable too
        count = len(customers)
        return (
            f"Connected to ESET PROTECT ({self._region}): {count} customer group{'' if count == 1 else 's'} under All."
        )

    # --- streams ------------------------------------------------------------------------------------

    def streams(self) -> list[Stream]:
        return [
            Stream("groups", GROUPS, "uuid", parse_group, page_size=PAGE),
            Stream(
                "detections", DETECTIONS, "uuid", parse_detection, cursor_field="occurTime", snapshot=False,
                page_size=PAGE,
            ),
        ]  # fmt: skip

    def read(self, stream: Stream, cursor: dict[str, Any] | None) -> Iterator[Page]:
        if stream.name == "groups":
            groups = self._groups()
            records: list[Record] = [r for r in map(parse_group, top_level_groups(groups).values()) if r]
            yield Page(records, None)
        else:
            yield from self._read_detections(stream, cursor)

    def _read_detections(self, stream: Stream, cursor: dict[str, Any] | None) -> Iterator[Page]:
        devices = self._devices()
        after, open_since = (cursor or {}).get("occurred_after"), (cursor or {}).get("open_since")
        params: dict[str, Any] = {"pageSize": stream.page_size}
        earliest = (datetime.now(UTC) - FIRST_WINDOW).strftime("%Y-%m-%dT%H:%M:%SZ")
        still_open: list[tuple[datetime, str]] = []  # (moment, as ESET wrote it) of each unresolved detection read
        if not isinstance(after, str) or parse_time(after) is None:
            after = None
            # The unresolved detections the window leaves out, with no cursor: a sync stopped here starts again.
            for items in self._pages(stream.path, "detections", {**params, "endTime": earliest}):
                older = [parse_detection(i, devices) for i in items if i.get("resolved") is not True]
                yield Page([r for r in older if r is not None], None)
            params["startTime"] = open_since = earliest
        else:
            # From the oldest detection open at the last read (a cursor saved before Vectis kept it: the window's
            # start), to see what was resolved in ESET since; never later than the cursor, so nothing new is skipped.
            if not isinstance(open_since, str) or parse_time(open_since) is None:
                open_since = earliest
            reread = max(open_since, earliest, key=_moment)
            params["startTime"] = open_since = min(after, reread, key=_moment)
        newest: str | None = after
        newest_moment = parse_time(after) if after else None
        for items in self._pages(stream.path, "detections", params):
            parsed = [parse_detection(i, devices) for i in items]
            read_times = False
            for item in items:
                written, moment = item.get("occurTime"), parse_time(item.get("occurTime"))
                if moment is None:
                    continue
                read_times = True
                if newest_moment is None or moment >= newest_moment:
                    newest, newest_moment = str(written), moment  # as ESET wrote it: compared its own way next time
                if item.get("resolved") is not True:
                    still_open.append((moment, str(written)))
            # A sync stopped here reads again from where this one started: not all of it is re-read yet.
            kept = {"occurred_after": newest, "open_since": open_since}
            yield Page([r for r in parsed if r is not None], kept if read_times else None)
        if newest is not None:
            yield Page([], {"occurred_after": newest, "open_since": min(still_open)[1] if still_open else newest})

    # --- response actions ---------------------------------------------------------------------------

    def _task(self, action: str, device: str, comment: str, name: str) -> Request:
        # triggers: a manual trigger runs the task at once; ESET's clients send createTime or expireTime in it,
        # which are optional [U].
        task = {
            "action": {"name": action},
            "displayName": name,
            "description": (comment or f"{name} from Vectis")[:500],
            "triggers": [{"manual": {}}],
            "targets": {"devicesUuids": [device]},
        }
        what = "the isolation" if action == "StartNetworkIsolation" else "the release"
        return Request("POST", TASKS, {"task": task}, what=what, retry=True)

    def isolate_request(self, device: str, *, comment: str, mode: str = "") -> Request:
        return self._task("StartNetworkIsolation", device, comment, "Isolate from network (Vectis)")

    def isolate(self, device: str, *, comment: str, mode: str = "") -> None:
        self._send(self.isolate_request(device, comment=comment))

    def release_request(self, device: str, *, comment: str) -> Request:
        return self._task("EndNetworkIsolation", device, comment, "End network isolation (Vectis)")

    def release(self, device: str, *, comment: str) -> None:
        self._send(self.release_request(device, comment=comment))

    def resolve_request(self, detection: str) -> Request:
        return Request(
            "POST", f"{DETECTIONS}/{detection}:resolve", {"note": "Resolved from Vectis."},
            what="the resolution", retry=True,
        )  # fmt: skip

    def resolve_detection(self, detection: str) -> None:
        self._send(self.resolve_request(detection))

    def false_positive_request(self, detection: str, *, reason: str) -> Request:
        raise ConnectorError(str(self.responses["false_positive"]), permanent=True)

    def mark_false_positive(self, detection: str, *, reason: str) -> None:
        raise ConnectorError(str(self.responses["false_positive"]), permanent=True)

    def _send(self, request: Request) -> Any:
        return self._call(request.method, request.path, body=request.body)

    def isolation_of(self, device: str) -> str | None:
        found = object_of(self._call("GET", f"{DEVICES}/{device}"))
        return ISOLATION.get(str(object_of(found.get("device")).get("networkIsolationState") or ""))

    def get_detection(self, detection: str) -> DetectionRecord | None:
        found = object_of(object_of(self._call("GET", f"{DETECTIONS}/{detection}")).get("detection"))
        if not found:
            return None
        device_uuid = text_of(object_of(found.get("context")).get("deviceUuid"))
        devices: dict[str, dict[str, Any]] = {}
        if device_uuid:
            device = object_of(object_of(self._call("GET", f"{DEVICES}/{device_uuid}")).get("device"))
            if device:
                customers = customer_of(self._groups())
                devices[device_uuid] = {
                    "name": text_of(device.get("displayName")),
                    "customer": customers.get(str(device.get("parentGroupUuid") or "")),
                    "isolation": ISOLATION.get(str(device.get("networkIsolationState") or "")),
                }
        return parse_detection(found, devices)
