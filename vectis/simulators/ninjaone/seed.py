"""The NinjaOne simulator's data (``NinjaOneData``) and how it is filled: organisations (the MSP's customers, from
:mod:`vectis.simulators.fixtures`, two of them named a little differently), their locations, devices of several
classes online and offline, open alerts of every kind and severity, and the activity log behind them (patch
cycles, conditions triggered and reset, antivirus definition updates and scans, a few system and user events).

Everything is stored as NinjaOne sends it (field names, epoch-second times); ``state`` builds the views. The
benchmark scale makes tens of thousands of rows in one pass over a seeded ``random.Random``."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vectis.simulators.base import Json
from vectis.simulators.fixtures import BENCH_JOBS, DEMO_CUSTOMERS, Customer, Msp, spread, uid
from vectis.simulators.ninjaone.vendor import HEALTH_OF, NODE_CLASSES, PRIORITY_OF, WINDOWS, epoch

DAY = 86400.0


@dataclass
class NinjaOneData:
    """The data of one NinjaOne instance (``NinjaOneState`` adds the API application, knobs and bookkeeping)."""

    now: float = field(default_factory=lambda: float(int(time.time())))  # the data's own clock, epoch seconds
    organizations: dict[int, Json] = field(default_factory=dict)  # id -> {id, name, description, nodeApprovalMode}
    locations: dict[int, Json] = field(default_factory=dict)  # id -> Location fields + organizationId
    devices: dict[int, Json] = field(default_factory=dict)  # id -> Device fields (no references), ids ascending
    alerts: dict[str, Json] = field(default_factory=dict)  # uid -> Alert fields (no device): the open ones
    activities: list[Json] = field(default_factory=list)  # Activity as sent, ids (and times) ascending
    conditions: dict[str, str] = field(default_factory=dict)  # "kind:NODE_CLASS" -> its policy condition's uid


# --- how customers are spelt here ----------------------------------------------------------------------


def _abbreviated(name: str) -> str:
    """``Greyhaven Arch.``: the last word cut to four letters, as a technician types it into the RMM."""
    *head, last = name.split()
    return " ".join([*head, last[:4] + "."])


def _shortened(name: str) -> str:
    """``Dunmore Dental``: the last word left off."""
    return name.rsplit(" ", 1)[0]


def demo_names(customers: list[Customer]) -> list[str]:
    """The customers' names as the RMM has them: most as the VSPC simulator spells them (the first with "&"
    written "and", which still matches), and two a little differently, so they wait in Customer matching with a
    close suggestion: the first whose last word is long has it abbreviated, the first other one of three words
    or more has it left off."""
    names = [customer.name for customer in customers]
    ampersand = next((i for i, name in enumerate(names) if " & " in name), None)
    if ampersand is not None:
        names[ampersand] = names[ampersand].replace(" & ", " and ").rstrip(".")
    long_last = next((i for i, name in enumerate(names) if i != ampersand and len(name.split()[-1]) > 6), None)
    if long_last is not None:
        names[long_last] = _abbreviated(names[long_last])
    three_words = next(
        (i for i, name in enumerate(names) if i not in (ampersand, long_last) and len(name.split()) >= 3), None
    )
    if three_words is not None:
        names[three_words] = _shortened(names[three_words])
    return names


# --- conditions ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """A kind of alert: what NinjaOne calls its source, the policy condition behind it, and the activity that
    raises it (``ANTIVIRUS`` threats are raised by the antivirus, the rest by a ``CONDITION``)."""

    kind: str  # disk | cpu | av | patch | offline
    source_type: str  # Alert.sourceType
    condition_name: str
    source_name: str  # the policy condition's own name
    subject: str
    activity_type: str
    trigger_code: str  # the raising activity's statusCode
    describe: Callable[[random.Random, Json], tuple[str, Json]]  # (message, data) for a device


def _disk(rng: random.Random, device: Json) -> tuple[str, Json]:
    drive = (
        "/" if device["nodeClass"].startswith("LINUX") else ("Macintosh HD" if device["nodeClass"] == "MAC" else "C:")
    )
    size = rng.choice([118, 237, 476, 931])
    free = rng.randint(2, 9)
    message = f"{drive} has {free}% free space ({size * free / 100:.1f} GB of {size} GB) for more than 30 minutes"
    return message, {"drive": drive, "freePercent": free, "capacityGb": size}


def _cpu(rng: random.Random, device: Json) -> tuple[str, Json]:
    average = rng.randint(91, 100)
    return f"CPU utilisation averaged {average}% over the last 15 minutes", {"averagePercent": average}


_THREATS = ["Trojan.GenericKD.71234", "Gen:Variant.Razy.9931", "Adware.OpenCandy.Gen", "PUA.Bundler.Agent"]
_THREAT_PATHS = [
    r"C:\Users\Public\Downloads\invoice_0412.exe",
    r"C:\Users\reception\AppData\Local\Temp\setup_free.exe",
    r"C:\ProgramData\Updater\svchost32.dll",
]


def _threat(rng: random.Random, device: Json) -> tuple[str, Json]:
    threat, path = rng.choice(_THREATS), rng.choice(_THREAT_PATHS)
    return f"Threat {threat} found and quarantined: {path}", {"threat": threat, "path": path}


def _patch(rng: random.Random, device: Json) -> tuple[str, Json]:
    days = rng.randint(31, 75)
    return f"No operating system patch has been installed for {days} days", {"daysSinceLastInstall": days}


def _offline(rng: random.Random, device: Json) -> tuple[str, Json]:
    return f"{device['systemName']} has not checked in for more than 15 minutes", {"offlineMinutes": 15}


CONDITIONS: dict[str, Condition] = {
    c.kind: c
    for c in (
        Condition(
            "disk", "CONDITION_AGENT_DISK_FREE_SPACE", "Disk Free Space", "Disk space below 10%",
            "Disk space low", "CONDITION", "TRIGGERED", _disk,
        ),
        Condition(
            "cpu", "CONDITION_AGENT_CPU", "CPU", "CPU above 90% for 15 minutes", "High CPU usage", "CONDITION",
            "TRIGGERED", _cpu,
        ),
        Condition(
            "av", "AV_QUARANTINE_THREAT", "Antivirus Threat", "Threat quarantined", "Antivirus threat quarantined",
            "ANTIVIRUS", "BDAS_BITDEFENDER_THREAT_QUARANTINED", _threat,
        ),
        Condition(
            "patch", "CONDITION_AGENT_PATCH_LAST_INSTALLED", "Patch Last Installed", "No OS patches in 30 days",
            "Patches overdue", "CONDITION", "TRIGGERED", _patch,
        ),
        Condition(
            "offline", "AGENT_OFFLINE", "Device Down", "Device offline for 15 minutes", "Device offline",
            "CONDITION", "TRIGGERED", _offline,
        ),
    )
}  # fmt: skip
LINUX_DISK = "CONDITION_LINUX_DISK_FREE_SPACE"  # the disk condition of a Linux device
_TYPE_NAMES = {
    "CONDITION": "Condition",
    "ANTIVIRUS": "Antivirus",
    "PATCH_MANAGEMENT": "Patch Management",
    "SYSTEM": "System",
}
_STATUS_NAMES = {
    "TRIGGERED": "Triggered",
    "RESET": "Reset",
    "BDAS_BITDEFENDER_THREAT_QUARANTINED": "Threat quarantined",
    "PATCH_MANAGEMENT_APPLY_PATCH_COMPLETED": "Patches applied",
    "PATCH_MANAGEMENT_SCAN_COMPLETED": "Patch scan completed",
    "BITDEFENDER_DOWNLOAD_SUCCEEDED": "Definitions downloaded",
    "BITDEFENDER_SCAN_COMPLETED": "Scan completed",
    "POLICY_UPDATED": "Policy updated",
    "APP_USER_LOGGED_IN": "Technician signed in",
}


def source_type(condition: Condition, device: Json) -> str:
    if condition.kind == "disk" and device["nodeClass"].startswith("LINUX"):
        return LINUX_DISK
    return condition.source_type


def activity(
    *,
    time_: float,
    activity_type: str,
    status_code: str,
    subject: str,
    message: str,
    device: Json | None = None,
    severity: str = "NONE",
    series: str | None = None,
    source_uid: str | None = None,
    source_name: str | None = None,
    result: str | None = None,
    user: int | None = None,
    data: Json | None = None,
) -> Json:
    """One activity as NinjaOne sends it, with no id yet; a field it would leave out is not there."""
    row: Json = {"activityTime": epoch(time_)}
    if device is not None:
        row["deviceId"] = device["id"]
    row["severity"] = severity
    row["priority"] = PRIORITY_OF[severity]
    if series is not None:
        row["seriesUid"] = series
    row["activityType"] = activity_type
    row["statusCode"] = status_code
    row["status"] = _STATUS_NAMES.get(status_code, status_code.replace("_", " ").capitalize())
    if result is not None:
        row["activityResult"] = result
    if source_uid is not None:
        row["sourceConfigUid"] = source_uid
    if source_name is not None:
        row["sourceName"] = source_name
    row["subject"] = subject
    if user is not None:
        row["userId"] = user
    row["message"] = message
    row["type"] = _TYPE_NAMES.get(activity_type, activity_type.title())
    if data is not None:
        row["data"] = data
    return row


# --- the generator -------------------------------------------------------------------------------------

_CLASS_WEIGHTS = [
    ("WINDOWS_WORKSTATION", 58), ("MAC", 10), ("WINDOWS_SERVER", 16), ("LINUX_SERVER", 8), ("LINUX_WORKSTATION", 3),
    ("VMWARE_VM_HOST", 5),
]  # fmt: skip
_OTHER_LOCATIONS = ["Branch Office", "Warehouse", "Remote Workers", "Clinic 2", "Workshop"]
_STREETS = ["Quay Street", "Station Approach", "Mill Road", "Canal Walk", "Kings Parade"]
_SEVERITY_WEIGHTS = [("CRITICAL", 2), ("MAJOR", 3), ("MODERATE", 4), ("MINOR", 3)]
_TECHNICIANS = [11, 12, 13, 14]  # NinjaOne user ids of the MSP's technicians


@dataclass(frozen=True)
class Site:
    """Where an organisation's devices are: its id and locations, and what their names are made of."""

    organization: int
    locations: list[int]
    code: str  # three capitals from the customer's name (``GAX``)
    domain: str
    public_ip: str


class Generator:
    """All randomness comes from one ``random.Random(seed)`` in a fixed order, so a seed and a ``now`` give the
    same NinjaOne every time."""

    def __init__(self, seed: int, now: float | None) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - deterministic test data, not security
        self.now = float(int(now if now is not None else time.time()))
        # One policy condition per kind and node class: the alerts' and activities' sourceConfigUid.
        self.source_uids = {(kind, cls): uid(self.rng) for kind in CONDITIONS for cls in NODE_CLASSES}
        self.pending: list[Json] = []  # activities made so far, in no order, without ids

    def keep_conditions(self, data: NinjaOneData) -> None:
        data.conditions = {f"{kind}:{node_class}": uid_ for (kind, node_class), uid_ in self.source_uids.items()}

    def ago(self, low_days: float, high_days: float) -> float:
        return self.now - self.rng.uniform(low_days, high_days) * DAY

    # -- organisations, locations, devices

    def organizations(self, data: NinjaOneData, customers: list[Customer], names: list[str]) -> None:
        rng = self.rng
        for number, (customer, name) in enumerate(zip(customers, names, strict=True), start=1):
            data.organizations[number] = {
                "id": number,
                "name": name,
                "description": f"{customer.city}, {customer.country}",
                "nodeApprovalMode": "MANUAL" if number % 5 == 0 else "AUTOMATIC",
            }
            places = 1 + (rng.random() < 0.35) + (rng.random() < 0.1)
            for place in range(places):
                location_id = len(data.locations) + 1
                street = customer.street if place == 0 else f"{rng.randrange(1, 90)} {rng.choice(_STREETS)}"
                data.locations[location_id] = {
                    "id": location_id,
                    "name": "Head Office" if place == 0 else _OTHER_LOCATIONS[(number + place) % len(_OTHER_LOCATIONS)],
                    "address": f"{street}, {customer.city} {customer.zip_code}",
                    "description": "" if place == 0 else "Managed from the head office",
                    "organizationId": number,
                }

    def devices(self, data: NinjaOneData, customers: list[Customer], counts: list[int]) -> None:
        rng = self.rng
        classes, weights = zip(*_CLASS_WEIGHTS, strict=True)
        locations: dict[int, list[int]] = {}
        for location in data.locations.values():
            locations.setdefault(location["organizationId"], []).append(location["id"])
        device_id = 100
        for number, (customer, count) in enumerate(zip(customers, counts, strict=True), start=1):
            picked = ["WINDOWS_SERVER", *rng.choices(classes, weights=weights, k=max(count - 1, 0))][:count]
            site = Site(number, locations[number], customer.code, customer.domain, f"203.0.113.{rng.randrange(1, 254)}")
            seen: dict[str, int] = {}
            for node_class in picked:
                device_id += 1 + (rng.random() < 0.2) * rng.randrange(1, 4)  # ids are not contiguous
                seen[node_class] = seen.get(node_class, 0) + 1
                data.devices[device_id] = self.device(device_id, site, node_class, seen[node_class])

    def device(self, device_id: int, site: Site, node_class: str, ordinal: int) -> Json:
        """The ``ordinal``-th device of its class at ``site``, named from the customer's code (``GAX-WS03``)."""
        rng = self.rng
        role_id, _, policy_id, tag = NODE_CLASSES[node_class]
        if node_class.startswith("LINUX") or node_class == "VMWARE_VM_HOST":
            name = f"{site.code.lower()}-{tag.lower()}{ordinal:02d}"
        else:
            name = f"{site.code}-{tag}{ordinal:02d}"
        server = node_class in ("WINDOWS_SERVER", "LINUX_SERVER", "VMWARE_VM_HOST")
        offline = rng.random() < (0.05 if server else 0.25)
        last_contact = (
            self.now - rng.uniform(3600, 20 * DAY) if offline else self.now - rng.uniform(10, 240)
        )  # an online agent checks in every minute or so
        locations = site.locations
        location = locations[0] if len(locations) == 1 or rng.random() < 0.7 else rng.choice(locations)
        organization = site.organization
        device: Json = {
            "id": device_id,
            "uid": uid(rng),
            "organizationId": organization,
            "locationId": location,
            "nodeClass": node_class,
            "nodeRoleId": role_id,
            "rolePolicyId": policy_id,
            "approvalStatus": "APPROVED",
            "offline": offline,
            "displayName": name,
            "systemName": name,
            "dnsName": f"{name.lower()}.local" if node_class == "MAC" else f"{name.lower()}.{site.domain}",
            "created": epoch(self.ago(30, 900)),
            "lastContact": epoch(last_contact),
            "lastUpdate": epoch(last_contact - rng.uniform(0, 50)),
            "ipAddresses": [f"10.{organization % 250}.{location % 250}.{rng.randrange(2, 250)}"],
            "macAddresses": [":".join(f"{rng.randrange(256):02x}" for _ in range(6))],
            "publicIP": site.public_ip,
        }
        if node_class in WINDOWS:
            device["netbiosName"] = name.upper()[:15]
        return device

    # -- alerts and the activities behind them

    def alert(self, data: NinjaOneData, device: Json, kind: str, severity: str, created: float) -> Json:
        """An open alert on ``device``, and the activity that raised it."""
        rng = self.rng
        condition = CONDITIONS[kind]
        message, details = condition.describe(rng, device)
        series = uid(rng)
        source_uid = self.source_uids[(kind, device["nodeClass"])]
        alert = {
            "uid": series,
            "deviceId": device["id"],
            "message": message,
            "createTime": epoch(created),
            "updateTime": epoch(min(created + rng.uniform(0, 3600), self.now)),
            "sourceType": source_type(condition, device),
            "sourceConfigUid": source_uid,
            "sourceName": condition.source_name,
            "subject": condition.subject,
            "data": details,
            "priority": PRIORITY_OF[severity],
            "severity": severity,
            "conditionName": condition.condition_name,
            "conditionHealthStatus": HEALTH_OF[severity],
        }
        data.alerts[series] = alert
        self.pending.append(self.raised(condition, device, alert, created))
        return alert

    @staticmethod
    def raised(condition: Condition, device: Json, alert: Json, moment: float) -> Json:
        return activity(
            time_=moment,
            activity_type=condition.activity_type,
            status_code=condition.trigger_code,
            subject=alert["subject"],
            message=alert["message"],
            device=device,
            severity=alert["severity"],
            series=alert["uid"],
            source_uid=alert["sourceConfigUid"],
            source_name=alert["sourceName"],
            data=alert["data"],
        )

    def past_condition(self, device: Json, kind: str, severity: str, triggered: float) -> None:
        """A condition that triggered and has since reset: two activities of one series, no open alert."""
        rng = self.rng
        condition = CONDITIONS[kind]
        message, details = condition.describe(rng, device)
        series = uid(rng)
        source_uid = self.source_uids[(kind, device["nodeClass"])]
        common: dict[str, Any] = {
            "device": device,
            "severity": severity,
            "series": series,
            "source_uid": source_uid,
            "source_name": condition.source_name,
        }
        self.pending.append(
            activity(
                time_=triggered, activity_type=condition.activity_type, status_code=condition.trigger_code,
                subject=condition.subject, message=message, data=details, **common,
            )
        )  # fmt: skip
        cleared = min(triggered + rng.uniform(600, 6 * 3600), self.now - 60)
        self.pending.append(
            activity(
                time_=cleared, activity_type="CONDITION", status_code="RESET", subject=condition.subject,
                message=f"{condition.source_name}: back to normal", **common,
            )
        )  # fmt: skip

    # -- patching, antivirus, the rest

    def patch_run(self, device: Json, moment: float, series: str) -> None:
        rng = self.rng
        failed = rng.random() < 0.06
        count = rng.randint(2, 9)
        if failed:
            message = f"{count - 1} of {count} patches installed; KB5034441 failed (0x80070643)"
        else:
            message = f"{count} operating system patches installed"
        self.pending.append(
            activity(
                time_=moment, activity_type="PATCH_MANAGEMENT", status_code="PATCH_MANAGEMENT_APPLY_PATCH_COMPLETED",
                subject="Patch cycle", message=message, device=device, severity="MINOR" if failed else "NONE",
                series=series, result="FAILURE" if failed else "SUCCESS",
                data={"installed": count - failed, "failed": int(failed)},
            )
        )  # fmt: skip

    def definitions_update(self, device: Json, moment: float) -> None:
        """Antivirus definitions downloaded: the spec has no status code for a signature update, and NinjaOne's
        built-in antivirus is Bitdefender's, so it is ``ANTIVIRUS`` / ``BITDEFENDER_DOWNLOAD_SUCCEEDED``."""
        version = f"7.{96000 + int((moment - self.now + 60 * DAY) // 3600)}"
        self.pending.append(
            activity(
                time_=moment, activity_type="ANTIVIRUS", status_code="BITDEFENDER_DOWNLOAD_SUCCEEDED",
                subject="Antivirus definitions updated", message=f"Bitdefender definitions updated to {version}",
                device=device, result="SUCCESS", data={"definitions": version},
            )
        )  # fmt: skip

    def scan(self, device: Json, moment: float) -> None:
        self.pending.append(
            activity(
                time_=moment, activity_type="ANTIVIRUS", status_code="BITDEFENDER_SCAN_COMPLETED",
                subject="Antivirus scan", message="Quick scan completed: no threats found", device=device,
                result="SUCCESS",
            )
        )  # fmt: skip

    def system_event(self, moment: float, organization: Json) -> None:
        rng = self.rng
        if rng.random() < 0.5:
            self.pending.append(
                activity(
                    time_=moment, activity_type="SYSTEM", status_code="POLICY_UPDATED", subject="Policy updated",
                    message=f"Policy 'Windows Desktops and Laptops - Default' updated for {organization['name']}",
                )
            )  # fmt: skip
        else:
            user = rng.choice(_TECHNICIANS)
            self.pending.append(
                activity(
                    time_=moment, activity_type="SYSTEM", status_code="APP_USER_LOGGED_IN",
                    subject="Technician signed in", message="Signed in to the NinjaOne console", user=user,
                )
            )  # fmt: skip

    def number(self, data: NinjaOneData, first_id: int = 1_204_300) -> None:
        """Give the activities made so far their ids, oldest first; NinjaOne's are global, so they skip."""
        rng = self.rng
        self.pending.sort(key=lambda row: (row["activityTime"], row.get("deviceId", 0), row["statusCode"]))
        next_id = first_id
        for row in self.pending:
            next_id += 1 if rng.random() < 0.7 else rng.randrange(2, 6)
            data.activities.append({"id": next_id, **row})
        self.pending = []


def pick_severity(rng: random.Random) -> str:
    severities, weights = zip(*_SEVERITY_WEIGHTS, strict=True)
    return str(rng.choices(severities, weights=weights)[0])


def fits(kind: str, device: Json) -> bool:
    """Whether a condition of ``kind`` can be raised on ``device`` (offline only on an offline one; antivirus and
    patching on Windows and Macs; the rest on any online device)."""
    if kind == "offline":
        return bool(device["offline"])
    if device["offline"]:
        return False
    if kind in ("av", "patch"):
        return device["nodeClass"] in (*WINDOWS, "MAC")
    return True


def build_demo(data: NinjaOneData, seed: int, now: float | None) -> Generator:
    """The demo MSP: its twelve customers (two named a little differently), 3-14 devices each, an open alert of
    each kind (disk, CPU, antivirus, patching) at each severity and two devices reported offline, and 14 days of
    activity."""
    generator = Generator(seed, now)
    generator.keep_conditions(data)
    customers = Msp.drawn(seed, DEMO_CUSTOMERS).listed()
    generator.organizations(data, customers, demo_names(customers))
    counts = [3 + extra for extra in spread(generator.rng, 60, len(customers))]
    generator.devices(data, customers, [min(count, 14) for count in counts])
    devices = list(data.devices.values())
    rng = generator.rng
    for kind in ("disk", "cpu", "av", "patch"):
        candidates = [device for device in devices if fits(kind, device)]
        for severity, device in zip(("CRITICAL", "MAJOR", "MODERATE", "MINOR"), rng.sample(candidates, 4), strict=True):
            generator.alert(data, device, kind, severity, generator.ago(0.05, 3))
    offline = [device for device in devices if device["offline"]]
    for device in rng.sample(offline, min(2, len(offline))):
        generator.alert(data, device, "offline", "MAJOR", device["lastContact"] + 900)
    fill_history(generator, data, days=14, past_conditions=40, definitions_every=4.0, system_events=12)
    return generator


def build_at_scale(
    data: NinjaOneData, seed: int, now: float | None, *, organizations: int, devices: int, alerts: int, activities: int
) -> Generator:
    """A large MSP for benchmarks: ``organizations`` organisations named as the VSPC benchmark's companies,
    ``devices`` devices, ``alerts`` open alerts and about ``activities`` activities over 30 days."""
    generator = Generator(seed, now)
    generator.keep_conditions(data)
    customers = Msp.drawn(seed, organizations, BENCH_JOBS).listed()
    generator.organizations(data, customers, [customer.name for customer in customers])
    generator.devices(data, customers, spread(generator.rng, devices, organizations))
    rng = generator.rng
    rows = list(data.devices.values())
    online = [device for device in rows if not device["offline"]]
    endpoints = [device for device in online if device["nodeClass"] in (*WINDOWS, "MAC")]
    offline = [device for device in rows if device["offline"]]
    kinds = ["disk", "cpu", "av", "patch", "offline"]
    for _ in range(alerts):
        kind = rng.choices(kinds, weights=[30, 20, 15, 25, 10])[0]
        pool = offline if kind == "offline" else endpoints if kind in ("av", "patch") else online
        device = rng.choice(pool)
        created = device["lastContact"] + 900 if kind == "offline" else generator.ago(0.01, 30)
        generator.alert(data, device, kind, pick_severity(rng), min(created, generator.now - 60))
    left = max(activities - alerts, 0)
    fill_history(
        generator,
        data,
        days=30,
        past_conditions=left * 15 // 100,  # two activities each
        definitions=left * 30 // 100,
        scans=left * 10 // 100,
        system_events=left * 2 // 100,
        patch_budget=left - 2 * (left * 15 // 100) - left * 30 // 100 - left * 10 // 100 - left * 2 // 100,
    )
    return generator


def fill_history(
    generator: Generator,
    data: NinjaOneData,
    *,
    days: int,
    past_conditions: int,
    definitions_every: float | None = None,
    definitions: int = 0,
    scans: int = 0,
    system_events: int = 0,
    patch_budget: int | None = None,
) -> None:
    """The activity log of the last ``days`` days: weekly patch cycles per organisation (at most
    ``patch_budget`` device runs), conditions that triggered and reset, antivirus definition updates (every
    ``definitions_every`` days per device, or ``definitions`` in all) and scans, and a few system and user
    events; then every activity is numbered."""
    rng = generator.rng
    devices = list(data.devices.values())
    endpoints = [device for device in devices if device["nodeClass"] in (*WINDOWS, "MAC")]
    by_org: dict[int, list[Json]] = {}
    for device in endpoints:
        by_org.setdefault(device["organizationId"], []).append(device)
    patch_cycles(generator, by_org, days, patch_budget)
    kinds = ["disk", "cpu", "av", "patch"]
    online = [device for device in devices if not device["offline"]] or devices
    for _ in range(past_conditions):
        kind, device = rng.choice(kinds), rng.choice(online)
        generator.past_condition(
            device, kind if fits(kind, device) else "cpu", pick_severity(rng), generator.ago(0.3, days)
        )
    if definitions_every is not None:
        for device in endpoints:
            moment = generator.now - rng.uniform(0, definitions_every) * DAY
            while moment > generator.now - days * DAY:
                generator.definitions_update(device, moment)
                moment -= definitions_every * DAY
    for _ in range(definitions):
        generator.definitions_update(rng.choice(endpoints), generator.ago(0, days))
    for _ in range(scans):
        generator.scan(rng.choice(endpoints), generator.ago(0, days))
    organizations = list(data.organizations.values())
    for _ in range(system_events):
        generator.system_event(generator.ago(0, days), rng.choice(organizations))
    generator.number(data)


def patch_cycles(generator: Generator, by_org: dict[int, list[Json]], days: int, budget: int | None) -> None:
    """Each organisation's weekly patch cycle over the last ``days`` days, one run per device that existed then
    (``budget`` of them at most, drawn at random)."""
    rng = generator.rng
    runs: list[tuple[Json, float, str]] = []  # (device, when, the cycle's series)
    for organization, members in by_org.items():
        weekday_offset = (organization * 1.7) % 7  # each organisation patches on a day of its own, at night
        cycle = generator.now - weekday_offset * DAY - (generator.now % DAY) + 2 * 3600
        while cycle > generator.now - days * DAY:
            if cycle < generator.now:
                series = uid(rng)
                runs += [
                    (device, cycle + rng.uniform(60, 5400), series) for device in members if device["created"] < cycle
                ]
            cycle -= 7 * DAY
    if budget is not None and budget < len(runs):
        runs = rng.sample(runs, budget)
    for device, moment, series in runs:
        generator.patch_run(device, min(moment, generator.now - 1), series)
