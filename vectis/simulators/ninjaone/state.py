"""One simulated NinjaOne instance: its organisations, locations, devices, open alerts and activity log, the API
application it knows, the tokens it issued, its webhook and the deliveries made to it, fault knobs and request
counters; the views of its data that the knobs change, and the changes the API (or a technician, or a device,
through ``/_sim``) makes."""

from __future__ import annotations

import bisect
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from vectis.simulators.base import BOOL, COUNT, SECONDS, FaultKnobs, Json, Rule, SimState, is_count
from vectis.simulators.base.deliveries import Delivers
from vectis.simulators.fixtures import BENCH_CUSTOMERS
from vectis.simulators.ninjaone.query import Predicate
from vectis.simulators.ninjaone.seed import (
    CONDITIONS,
    Generator,
    NinjaOneData,
    activity,
    build_at_scale,
    build_demo,
    fits,
)
from vectis.simulators.ninjaone.vendor import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    NODE_CLASSES,
    PRIORITY_OF,
    SCOPES,
    SEVERITIES,
    TOKEN_LIFETIME,
    ApiError,
    bad_request,
    epoch,
    missing_scope,
    not_found,
    policy,
    role,
    unauthorized,
)

# --- faults --------------------------------------------------------------------------------------------


def _is_id_map(check_value: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, dict) and all(str(k).isdigit() and check_value(x) for k, x in v.items())


_KNOB_RULES: dict[str, Rule] = {
    "bad_client": BOOL,
    "missing_scope": (
        lambda v: v in ("", *SCOPES),
        'one of "monitoring", "management", "control" (or "" for none)',
        str,
    ),
    "rate_limit_per_second": COUNT,
    "errors_5xx": COUNT,
    "error_status": (lambda v: v in (500, 502, 503, 504) and not isinstance(v, bool), "500, 502, 503 or 504", int),
    "latency": SECONDS,
    "hang": SECONDS,
    "rename_organization": (
        _is_id_map(lambda name: isinstance(name, str) and bool(name.strip())),
        'an object of organization id to its new name, like {"3": "Coastal Logistics Ltd"}',
        lambda v: {str(k): name for k, name in v.items()},
    ),
    "move_device": (
        _is_id_map(is_count),
        'an object of device id to the organization id it moves to, like {"104": 2}',
        lambda v: {str(k): int(org) for k, org in v.items()},
    ),
    "cleared_alerts": (
        lambda v: isinstance(v, list) and all(isinstance(item, str) for item in v),
        "a list of alert uids",
        list,
    ),
}


@dataclass
class Faults(FaultKnobs):
    bad_client: bool = False  # every token request answers 401 "Client app not exist", as for a wrong region
    missing_scope: str = ""  # the API application lacks this scope: requests that need it answer 403
    rate_limit_per_second: int = 0  # 0: no throttling; over it: 429 with Retry-After: 1
    errors_5xx: int = 0  # the next N requests answer error_status
    error_status: int = 500
    latency: float = 0.0  # seconds added to every request
    hang: float = 0.0  # seconds to sleep before answering, to trip client timeouts
    rename_organization: dict[str, str] = field(default_factory=dict)  # organization id -> its name now
    move_device: dict[str, int] = field(default_factory=dict)  # device id -> the organization it is in now
    # alert uids reset in NinjaOne itself with nothing sent (no activity, no webhook): Vectis still shows them open
    cleared_alerts: list[str] = field(default_factory=list)

    RULES = _KNOB_RULES


# --- state ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiApp:
    """An "API Services (machine-to-machine)" client application and the scopes it was given."""

    secret: str
    scopes: frozenset[str]


@dataclass(frozen=True)
class Token:
    client_id: str
    scopes: frozenset[str]
    expires_at: float  # state.clock() seconds


def _epoch_of(moment: datetime | None) -> float | None:
    """Epoch seconds of ``moment`` (naive: UTC), as every simulator's ``seeded(now=...)`` takes a datetime."""
    if moment is None:
        return None
    return (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment).timestamp()


def _demo_apps() -> dict[str, ApiApp]:
    return {DEMO_CLIENT_ID: ApiApp(DEMO_CLIENT_SECRET, frozenset(SCOPES))}


BASIC_FIELDS = (
    "id", "uid", "organizationId", "locationId", "nodeClass", "nodeRoleId", "rolePolicyId", "approvalStatus",
    "offline", "displayName", "systemName", "dnsName", "netbiosName", "created", "lastContact", "lastUpdate",
)  # fmt: skip
DETAILED_FIELDS = (*BASIC_FIELDS, "ipAddresses", "macAddresses", "publicIP")


@dataclass
class NinjaOneState(SimState[Faults], NinjaOneData, Delivers):
    """Seeded data (``NinjaOneData``), the API application, tokens, the webhook, fault knobs and the runtime
    bookkeeping of one NinjaOne instance."""

    apps: dict[str, ApiApp] = field(default_factory=_demo_apps)
    token_lifetime: int = TOKEN_LIFETIME
    faults: Faults = field(default_factory=Faults)
    clock: Callable[[], float] = field(default=time.time, compare=False, repr=False)  # stamps what the API changes
    webhook: Json | None = field(default=None, compare=False)
    deliveries: list[Json] = field(default_factory=list, compare=False, repr=False)

    _tokens: dict[str, Token] = field(default_factory=dict, init=False, repr=False, compare=False)
    _senders: list[threading.Thread] = field(default_factory=list, init=False, repr=False, compare=False)
    _activity_ids: list[int] = field(default_factory=list, init=False, repr=False, compare=False)
    _locations_of: dict[int, list[int]] = field(default_factory=dict, init=False, repr=False, compare=False)
    _device_ids: list[int] = field(default_factory=list, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.indexed()

    def indexed(self) -> None:
        """Rebuild the lookups the pages use, after the data was filled."""
        self._activity_ids = [row["id"] for row in self.activities]
        self._device_ids = sorted(self.devices)
        self._locations_of = {}
        for location in self.locations.values():
            self._locations_of.setdefault(location["organizationId"], []).append(location["id"])

    # -- construction

    @classmethod
    def seeded(cls, seed: int = 1, now: datetime | None = None) -> NinjaOneState:
        """The demo MSP: its twelve customers as organisations (two named a little differently), 3-14 devices
        each, an open alert of every kind and severity, two devices offline, 14 days of activity."""
        state = cls()
        generator = build_demo(state, seed, _epoch_of(now))
        state.now = generator.now
        state.indexed()
        return state

    @classmethod
    def at_scale(
        cls,
        *,
        organizations: int = BENCH_CUSTOMERS,
        devices: int = 20_000,
        alerts: int = 5_000,
        activities: int = 50_000,
        seed: int = 1,
        now: datetime | None = None,
    ) -> NinjaOneState:
        """A large MSP for benchmarks (by default 500 organisations, 20,000 devices, 5,000 open alerts and
        50,000 activities over 30 days)."""
        state = cls()
        generator = build_at_scale(
            state,
            seed,
            _epoch_of(now),
            organizations=organizations,
            devices=devices,
            alerts=alerts,
            activities=activities,
        )
        state.now = generator.now
        state.indexed()
        return state

    # -- knobs

    def cleared(self) -> None:
        """A reset also clears the delivery log (the webhook stays registered)."""
        self.deliveries.clear()

    def rename_organization(self, organization_id: int, name: str) -> None:
        self.faults.rename_organization[str(organization_id)] = name

    def move_device(self, device_id: int, organization_id: int) -> None:
        self.faults.move_device[str(device_id)] = organization_id

    def clear_at_vendor(self, alert_uid: str) -> None:
        """The alert is reset in NinjaOne with nothing sent: it is gone from the alerts, and no activity says so."""
        if alert_uid not in self.faults.cleared_alerts:
            self.faults.cleared_alerts.append(alert_uid)

    # -- OAuth

    def issue_token(self, client_id: str, client_secret: str, scope: str | None) -> Json:
        """A client-credentials token carrying the asked scopes the application has (all of its own when none
        are asked); 401 ``Client app not exist`` for an unknown client or a wrong secret."""
        app = self.apps.get(client_id)
        if (
            self.faults.bad_client
            or app is None
            or not secrets.compare_digest(app.secret.encode(), client_secret.encode())
        ):
            raise ApiError(401, "Client app not exist")
        asked = set(scope.split()) if scope and scope.strip() else set(app.scopes)
        granted = frozenset(asked & app.scopes) - {self.faults.missing_scope}
        token = secrets.token_urlsafe(32)
        with self._lock:
            now = self.clock()
            self._tokens = {k: t for k, t in self._tokens.items() if t.expires_at > now}
            self._tokens[token] = Token(client_id, granted, now + self.token_lifetime)
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
            "scope": " ".join(s for s in SCOPES if s in granted),
        }

    def authorize(self, bearer: str | None, scope: str) -> Token:
        """The token behind ``bearer`` if it is valid and carries ``scope``: 401 otherwise, 403 without the
        scope (one the application has since lost, by the ``missing_scope`` knob, counts as lacking)."""
        if not bearer:
            raise unauthorized("Send an access token from /ws/oauth/token as 'Authorization: Bearer <token>'.")
        with self._lock:
            token = self._tokens.get(bearer)
        if token is None:
            raise unauthorized("The access token is not valid.")
        if token.expires_at <= self.clock():
            raise unauthorized("The access token has expired.")
        if scope not in token.scopes or scope == self.faults.missing_scope:
            raise missing_scope(scope)
        return token

    # -- views (knobs applied)

    def organization_name(self, organization_id: int) -> str:
        renamed = self.faults.rename_organization.get(str(organization_id))
        return renamed or str(self.organizations[organization_id]["name"])

    def organization_view(self, organization: Json, *, detailed: bool = False) -> Json:
        view = {**organization, "name": self.organization_name(organization["id"])}
        if detailed:
            view["locations"] = [self.location_view(self.locations[i]) for i in self.locations_of(organization["id"])]
            view["policies"] = [{"nodeRoleId": r, "policyId": p} for r, _, p, _ in NODE_CLASSES.values()]
        return view

    def locations_of(self, organization_id: int) -> list[int]:
        return self._locations_of.get(organization_id, [])

    def location_view(self, location: Json, *, with_organization: bool = False) -> Json:
        if with_organization:
            return dict(location)
        return {key: value for key, value in location.items() if key != "organizationId"}

    def device_facts(self, device: Json) -> Json:
        """The device as NinjaOne has it now: in the organisation the ``move_device`` knob put it in (at that
        organisation's first location)."""
        moved = self.faults.move_device.get(str(device["id"]))
        if moved is None or moved == device["organizationId"] or moved not in self.organizations:
            return device
        places = self.locations_of(moved)
        return {**device, "organizationId": moved, "locationId": places[0] if places else device["locationId"]}

    def device_view(self, device: Json, *, detailed: bool = False) -> Json:
        facts = self.device_facts(device)
        view = {key: facts[key] for key in (DETAILED_FIELDS if detailed else BASIC_FIELDS) if key in facts}
        if detailed:
            organization = self.organizations[facts["organizationId"]]
            view["references"] = {
                "organization": self.organization_view(organization),
                "location": self.location_view(self.locations[facts["locationId"]]),
                "role": role(facts["nodeClass"]),
                "rolePolicy": policy(facts["nodeClass"]),
            }
        return view

    def device(self, device_id: int) -> Json:
        found = self.devices.get(device_id)
        if found is None:
            raise not_found(f"Device {device_id} was not found.")
        return found

    def alert_view(self, alert: Json) -> Json:
        return {**alert, "device": self.device_view(self.devices[alert["deviceId"]])}

    def open_alerts(self) -> list[Json]:
        """The open alerts, oldest first (those the ``cleared_alerts`` knob reset at the vendor are gone)."""
        cleared = set(self.faults.cleared_alerts)
        with self._lock:
            found = [alert for uid, alert in self.alerts.items() if uid not in cleared]
        return sorted(found, key=lambda alert: (alert["createTime"], alert["uid"]))

    def devices_after(self, after: int, size: int | None, keep: Predicate) -> list[Json]:
        """Up to ``size`` devices (all without one) with an id above ``after`` that ``keep`` takes (it sees the
        device's facts), ids ascending."""
        found: list[Json] = []
        for device_id in self._device_ids[bisect.bisect_right(self._device_ids, after) :]:
            device = self.devices[device_id]
            if keep(self.device_facts(device)):
                found.append(device)
                if size is not None and len(found) >= size:
                    break
        return found

    def activities_page(
        self, *, newer_than: int | None, older_than: int | None, size: int, keep: Callable[[Json], bool]
    ) -> list[Json]:
        """A page of the log, newest first: with ``newer_than``, the ``size`` activities just after that id (the
        next page of a cursor that moves forward); otherwise the newest ``size`` before ``older_than`` (or
        before the end)."""
        with self._lock:
            ids, rows = self._activity_ids, self.activities
            end = bisect.bisect_left(ids, older_than) if older_than is not None else len(ids)
            found: list[Json] = []
            if newer_than is not None:
                for index in range(bisect.bisect_right(ids, newer_than), end):
                    if keep(rows[index]):
                        found.append(rows[index])
                        if len(found) >= size:
                            break
                found.reverse()
            else:
                for index in range(end - 1, -1, -1):
                    if keep(rows[index]):
                        found.append(rows[index])
                        if len(found) >= size:
                            break
            return found

    def last_activity_id(self) -> int:
        with self._lock:
            return self._activity_ids[-1] if self._activity_ids else 0

    def condition_uids(self) -> dict[tuple[str, str], str]:
        """The policy condition (``sourceConfigUid``) of each kind of alert on each node class."""
        return {
            (kind, node_class): uid
            for kind_class, uid in self.conditions.items()
            for kind, node_class in [kind_class.split(":")]
        }

    def organization_of(self, row: Json) -> int | None:
        """The organisation an activity or alert belongs to (through its device), if any."""
        device = self.devices.get(row.get("deviceId", -1))
        return None if device is None else int(self.device_facts(device)["organizationId"])

    # -- changes

    def log(self, row: Json) -> Json:
        """Add an activity (numbered after the last one) and deliver it to the webhook."""
        with self._lock:
            numbered = {"id": self.last_activity_id() + 1, **row}
            self.activities.append(numbered)
            self._activity_ids.append(numbered["id"])
        self.notify(numbered)
        return numbered

    def reset_alert(self, alert_uid: str, data: Json | None) -> Json:
        """``POST /v2/alert/{uid}/reset``: the alert is gone and a RESET activity of its series says so, with the
        caller's custom ``data``."""
        with self._lock:
            alert = self.alerts.get(alert_uid)
            if alert is None or alert_uid in self.faults.cleared_alerts:
                raise not_found(f"Alert {alert_uid} was not found: it may have been reset already.")
            del self.alerts[alert_uid]
        return self.log(
            activity(
                time_=self.clock(), activity_type="CONDITION", status_code="RESET", subject=alert["subject"],
                message=f"{alert['sourceName']}: reset through the API", device=self.devices[alert["deviceId"]],
                severity=alert["severity"], series=alert_uid, source_uid=alert["sourceConfigUid"],
                source_name=alert["sourceName"], data=data,
            )
        )  # fmt: skip

    def raise_alert(self, device_id: int, kind: str, severity: str) -> tuple[Json, Json]:
        """A condition triggers on a device (``/_sim/alerts``): the open alert and the activity that raised it."""
        if kind not in CONDITIONS:
            raise bad_request(f"kind must be one of {', '.join(CONDITIONS)}")
        if severity not in SEVERITIES:
            raise bad_request(f"severity must be one of {', '.join(SEVERITIES)}")
        device = self.device(device_id)
        if not fits(kind, device):
            raise bad_request(f"a {kind} condition cannot trigger on device {device_id}")
        generator = Generator(len(self.alerts) + len(self.activities), self.clock())
        generator.source_uids = self.condition_uids()  # the same policy conditions as the seeded alerts
        with self._lock:
            alert = generator.alert(self, device, kind, severity, generator.now)
            alert["createTime"] = alert["updateTime"] = epoch(self.clock())
            raised = generator.pending.pop()
            raised["activityTime"] = alert["createTime"]
        return alert, self.log(raised)

    def clear_alert(self, alert_uid: str) -> Json:
        """The condition is back to normal on the device (``/_sim/alerts/{uid}/clear``): the alert is gone and a
        RESET activity says so."""
        with self._lock:
            alert = self.alerts.pop(alert_uid, None)
        if alert is None:
            raise not_found(f"Alert {alert_uid} was not found.")
        return self.log(
            activity(
                time_=self.clock(), activity_type="CONDITION", status_code="RESET", subject=alert["subject"],
                message=f"{alert['sourceName']}: back to normal", device=self.devices[alert["deviceId"]],
                severity=alert["severity"], series=alert_uid, source_uid=alert["sourceConfigUid"],
                source_name=alert["sourceName"],
            )
        )  # fmt: skip

    def add_activity(self, body: Json) -> Json:
        """Any other activity (``/_sim/activities``): a patch run, a definitions update, a policy change."""
        device = None
        if body.get("deviceId") is not None:
            if not is_count(body["deviceId"]):
                raise bad_request("deviceId must be a device id")
            device = self.device(body["deviceId"])
        for name in ("activityType", "statusCode"):
            if not isinstance(body.get(name), str) or not body[name]:
                raise bad_request(f"{name} is required")
        severity = body.get("severity", "NONE")
        if severity not in PRIORITY_OF:
            raise bad_request(f"severity must be one of {', '.join(SEVERITIES)}")
        return self.log(
            activity(
                time_=self.clock(), activity_type=body["activityType"], status_code=body["statusCode"],
                subject=str(body.get("subject") or body["statusCode"].replace("_", " ").capitalize()),
                message=str(body.get("message") or ""), device=device, severity=severity,
                series=body.get("seriesUid"), result=body.get("activityResult"), data=body.get("data"),
            )
        )  # fmt: skip

    # -- the webhook

    def set_webhook(self, body: Any) -> None:
        """``PUT /v2/webhook``: the one webhook of this API application, replaced whole."""
        if not isinstance(body, dict):
            raise bad_request("Send the webhook configuration as a JSON object.")
        url = body.get("url")
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            raise bad_request("url must be an absolute http(s) URL.")
        activities = body.get("activities") or {}
        if not isinstance(activities, dict) or not all(
            isinstance(codes, list) and all(isinstance(code, str) for code in codes) for codes in activities.values()
        ):
            raise bad_request("activities must map an activity type to a list of status codes.")
        headers = body.get("headers") or []
        if not isinstance(headers, list) or not all(
            isinstance(h, dict) and isinstance(h.get("name"), str) and isinstance(h.get("value"), str) for h in headers
        ):
            raise bad_request("headers must be a list of {name, value}.")
        organizations = body.get("organizationIds") or []
        if not isinstance(organizations, list) or not all(is_count(o) for o in organizations):
            raise bad_request("organizationIds must be a list of organization ids.")
        expand = body.get("expand") or []
        if not isinstance(expand, list) or not all(isinstance(e, str) for e in expand):
            raise bad_request("expand must be a list of names.")
        with self._lock:
            self.webhook = {
                "url": url,
                "activities": {kind: list(codes) for kind, codes in activities.items()},
                "expand": list(expand),
                "headers": [{"name": h["name"], "value": h["value"]} for h in headers],
                "organizationIds": list(organizations),
            }

    def delete_webhook(self) -> None:
        with self._lock:
            self.webhook = None

    def webhook_summary(self) -> Json | None:
        """The registration without its header values (they authenticate the deliveries)."""
        with self._lock:
            if self.webhook is None:
                return None
            return {**self.webhook, "headers": [h["name"] for h in self.webhook["headers"]]}

    def _wanted(self, webhook: Json, row: Json) -> bool:
        kinds: dict[str, list[str]] = webhook["activities"]
        if kinds and (
            row["activityType"] not in kinds
            or (kinds[row["activityType"]] and row["statusCode"] not in kinds[row["activityType"]])
        ):
            return False
        organizations = webhook["organizationIds"]
        return not organizations or self.organization_of(row) in organizations

    def notify(self, row: Json) -> None:
        """POST the activity to the webhook, if it wants it, from a background thread."""
        with self._lock:
            webhook = self.webhook
            if webhook is None or not self._wanted(webhook, row):
                return
            payload = dict(row)
            device = self.devices.get(row.get("deviceId", -1))
            if device is not None and "device" in {e.lower() for e in webhook["expand"]}:
                payload["device"] = self.device_view(device)
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", **{h["name"]: h["value"] for h in webhook["headers"]}}
        self._in_background(self._send, webhook["url"], body, headers, row["id"])

    def _send(self, url: str, body: bytes, headers: dict[str, str], activity_id: int) -> None:
        entry: Json = {"url": url, "activityId": activity_id, "status": None, "error": None, "at": epoch(self.clock())}
        self._deliver(entry, url, body, headers)
