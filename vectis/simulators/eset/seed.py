"""The ESET simulator's data (``EsetData``) and how it is filled: ESET PROTECT's group tree (the root "All", "Lost &
found", and one static group per customer of the MSP from :mod:`vectis.simulators.fixtures`, some with a "Servers"
subgroup), devices in those groups named as an RMM names the same machines (``GAX-SRV01``, ``GAX-WS02``: the NinjaOne
and SentinelOne simulators' scheme), and detections across ESET's categories and severity levels.

Everything is stored as ESET Connect sends it (field names, enum words, RFC 3339 times)."""

from __future__ import annotations

import hashlib
import random
import time
import uuid
from dataclasses import dataclass, field

from vectis.simulators.base import Json
from vectis.simulators.eset.vendor import iso
from vectis.simulators.fixtures import BENCH_JOBS, DEMO_CUSTOMERS, Customer, Msp

DAY = 86400.0


@dataclass
class EsetData:
    """One ESET PROTECT Cloud instance's data (``EsetState`` adds the tokens, knobs and bookkeeping)."""

    now: float = field(default_factory=lambda: float(int(time.time())))
    groups: dict[str, Json] = field(default_factory=dict)  # uuid -> DeviceGroup as sent
    devices: dict[str, Json] = field(default_factory=dict)  # uuid -> Device as sent
    detections: dict[str, Json] = field(default_factory=dict)  # uuid -> Detection as sent (its device's name aside)
    tasks: dict[str, Json] = field(default_factory=dict)  # uuid -> DeviceTask as created
    root_uuid: str = ""


@dataclass(frozen=True)
class Kind:
    category: str
    type_name: str  # ESET's kind of detection ("Trojan")
    display_name: str  # the detection's name ("Win32/Filecoder.LockBit.A")
    severity: str
    object_url: str
    process: str
    os: str = "windows"


KINDS = (
    Kind("DETECTION_CATEGORY_ANTIVIRUS", "Trojan", "Win32/Filecoder.LockBit.A", "SEVERITY_LEVEL_HIGH",
         r"C:\Users\Public\Music\lb3.exe", r"C:\Windows\explorer.exe"),
    Kind("DETECTION_CATEGORY_ANTIVIRUS", "Trojan", "Win32/PSW.Fareit.A", "SEVERITY_LEVEL_HIGH",
         r"C:\Users\accounts\AppData\Local\Temp\invoice_0412.exe", r"C:\Windows\explorer.exe"),
    Kind("DETECTION_CATEGORY_ANTIVIRUS", "Trojan", "MSIL/Spy.RedLine.B", "SEVERITY_LEVEL_HIGH",
         r"C:\Users\accounts\Downloads\RedLine.exe", r"C:\Program Files\Google\Chrome\Application\chrome.exe"),
    Kind("DETECTION_CATEGORY_NETWORK_INTRUSION", "TCP Port scanning attack", "TCP Port scanning attack",
         "SEVERITY_LEVEL_MEDIUM", "", r"C:\Windows\System32\svchost.exe"),
    Kind("DETECTION_CATEGORY_ANTIVIRUS", "Worm", "Win32/Bundpil.A", "SEVERITY_LEVEL_MEDIUM",
         r"E:\autorun\usbspread.exe", r"C:\Windows\explorer.exe"),
    Kind("DETECTION_CATEGORY_ANTIVIRUS", "Trojan", "OSX/Adload.AG", "SEVERITY_LEVEL_MEDIUM",
         "/Users/Shared/.updater/com.apple.updated", "/sbin/launchd", "mac"),
    Kind("DETECTION_CATEGORY_ANTIVIRUS", "Potentially unwanted application", "Win32/OpenCandy.A",
         "SEVERITY_LEVEL_LOW", r"C:\Users\reception\AppData\Local\Temp\setup_free.exe", r"C:\Windows\explorer.exe"),
    Kind("DETECTION_CATEGORY_HIPS_RULE", "Potentially unsafe application", "Win64/RemoteAdmin.PsExec.A",
         "SEVERITY_LEVEL_LOW", r"C:\Users\admin\Desktop\Tools\PsExec64.exe", r"C:\Windows\System32\cmd.exe"),
    Kind("DETECTION_CATEGORY_VULNERABILITY", "Exploit", "Win32/Exploit.CVE-2017-11882.A", "SEVERITY_LEVEL_HIGH",
         r"C:\Users\manager\Documents\quote.rtf", r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE"),
    Kind("DETECTION_CATEGORY_ANTIVIRUS", "Test file", "Eicar", "SEVERITY_LEVEL_DIAGNOSTIC",
         r"C:\Temp\eicar.com", r"C:\Windows\explorer.exe"),
)  # fmt: skip

# The demo's fourteen detections: (kind index, resolved, days ago). The first's device is isolated from the network.
DEMO_DETECTIONS = (
    (0, False, 0.2), (1, False, 0.7), (2, True, 1.4), (3, False, 2.1), (4, False, 3.0), (5, False, 3.8),
    (6, False, 4.6), (7, True, 5.5), (8, False, 6.9), (9, True, 8.0), (6, True, 9.3), (1, True, 11.2),
    (3, False, 12.5), (7, False, 13.6),
)  # fmt: skip

_OS = {
    "server": ("Microsoft Windows Server 2022 Standard", 1, "DEVICE_TYPE_SERVER"),
    "workstation": ("Microsoft Windows 11 Pro", 1, "DEVICE_TYPE_DESKTOP"),
    "mac": ("macOS Sonoma", 2, "DEVICE_TYPE_LAPTOP"),
}
_USERS = ["reception", "accounts", "admin", "design", "manager", "frontdesk"]


class Generator:
    """All randomness from one ``random.Random(seed)`` in a fixed order: a seed and a ``now`` give the same data."""

    def __init__(self, seed: int, now: float | None) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - deterministic test data
        self.now = float(int(now if now is not None else time.time()))

    def ago(self, low_days: float, high_days: float) -> float:
        return self.now - self.rng.uniform(low_days, high_days) * DAY

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def group(self, data: EsetData, name: str, parent: str | None) -> Json:
        group: Json = {
            "uuid": self.uuid(),
            "displayName": name,
            "parentGroupUuid": parent,
            "isSecurityGroup": False,
            "linkedEntityType": "",
            "etag": self.uuid()[:8],
        }
        data.groups[group["uuid"]] = group
        return group

    def tree(self, data: EsetData) -> Json:
        root = self.group(data, "All", None)
        data.root_uuid = root["uuid"]
        self.group(data, "Lost & found", root["uuid"])
        return root

    def device(self, data: EsetData, group: Json, customer: Customer, name: str, kind: str) -> Json:
        rng = self.rng
        os_name, family, device_type = _OS[kind]
        device = {
            "uuid": self.uuid(),
            "displayName": name,
            "originalDisplayName": f"{name.lower()}.{customer.domain}",
            "description": "",
            "deviceType": device_type,
            "parentGroupUuid": group["uuid"],
            "operatingSystem": {"displayName": os_name, "familyId": family},
            "primaryLocalIpAddress": f"10.{rng.randrange(1, 250)}.{rng.randrange(1, 250)}.{rng.randrange(2, 250)}",
            "publicIpAddress": f"203.0.113.{rng.randrange(1, 254)}",
            "lastSyncTime": iso(self.now - rng.uniform(30, 3 * 3600)),
            "functionalityStatus": "DEVICE_FUNCTIONALITY_STATUS_OK",
            "isMobile": False,
            "isMuted": False,
            "tags": [],
            "networkIsolationState": "NETWORK_ISOLATION_STATE_NOT_ISOLATED",  # [U] see vendor.ISOLATION_STATES
        }
        data.devices[device["uuid"]] = device
        return device

    def customer(self, data: EsetData, root: Json, customer: Customer, workstations: int) -> None:
        """A customer's static group with its endpoints; at some, the servers sit in a "Servers" subgroup (an MSP
        keeps its own tree under each customer's group)."""
        group = self.group(data, customer.name, root["uuid"])
        servers = self.group(data, "Servers", group["uuid"]) if self.rng.random() < 0.4 else group
        self.device(data, servers, customer, f"{customer.code}-SRV01", "server")
        for number in range(1, workstations + 1):
            self.device(data, group, customer, f"{customer.code}-WS{number:02d}", "workstation")
        if self.rng.random() < 0.3:
            self.device(data, group, customer, f"{customer.code}-MAC01", "mac")

    def detection(self, data: EsetData, device: Json, kind: Kind, *, resolved: bool, occurred: float) -> Json:
        detection_uuid = self.uuid()
        sha1 = hashlib.sha1(f"{kind.display_name}:{detection_uuid}".encode()).hexdigest().upper()  # noqa: S324
        user = self.rng.choice(_USERS)
        detection: Json = {
            "uuid": detection_uuid,
            "category": kind.category,
            "typeName": kind.type_name,
            "displayName": kind.display_name,
            "severityLevel": kind.severity,
            "occurTime": iso(occurred),
            "objectName": kind.object_url.replace("\\", "/").rsplit("/", 1)[-1],
            "objectTypeName": "File" if kind.object_url else "Network",
            "objectUrl": kind.object_url,
            "objectHashSha1": sha1 if kind.object_url else "",
            "context": {
                "deviceUuid": device["uuid"],
                "userName": f"{device['displayName'].lower()}\\{user}",
                "process": {"path": kind.process},
                "circumstances": f"Detected by real-time file system protection: {kind.display_name}",
            },
            "responses": [{"displayName": "Cleaned by deleting", "protectionName": "Real-time file system protection",
                           "deviceRestartRequired": False}],
            "resolved": resolved,
            "note": "",
        }  # fmt: skip
        data.detections[detection_uuid] = detection
        return detection


def build_demo(data: EsetData, seed: int, now: float | None) -> Generator:
    """The demo MSP: its twelve customers as static groups, 3-6 devices each, :data:`DEMO_DETECTIONS` over the
    last two weeks; the newest detection's device is isolated."""
    generator = Generator(seed, now)
    root = generator.tree(data)
    for customer in Msp.drawn(seed, DEMO_CUSTOMERS).listed():
        generator.customer(data, root, customer, workstations=generator.rng.randint(1, 3))
    windows = [d for d in data.devices.values() if d["operatingSystem"]["familyId"] == 1]
    macs = [d for d in data.devices.values() if d["operatingSystem"]["familyId"] == 2] or windows
    for index, resolved, days in DEMO_DETECTIONS:
        kind = KINDS[index]
        device = generator.rng.choice(macs if kind.os == "mac" else windows)
        generator.detection(data, device, kind, resolved=resolved, occurred=generator.now - days * DAY)
    first = next(iter(data.detections.values()))
    data.devices[first["context"]["deviceUuid"]]["networkIsolationState"] = "NETWORK_ISOLATION_STATE_ISOLATED"
    return generator


def build_at_scale(data: EsetData, seed: int, now: float | None, *, customers: int, detections: int) -> Generator:
    """A large MSP for benchmarks: ``customers`` groups (the VSPC benchmark's names), about ten devices each, and
    ``detections`` over four weeks (a quarter resolved)."""
    generator = Generator(seed, now)
    root = generator.tree(data)
    for customer in Msp.drawn(seed, customers, BENCH_JOBS).listed():
        generator.customer(data, root, customer, workstations=generator.rng.randint(3, 14))
    windows = [d for d in data.devices.values() if d["operatingSystem"]["familyId"] == 1]
    macs = [d for d in data.devices.values() if d["operatingSystem"]["familyId"] == 2] or windows
    rng = generator.rng
    for _ in range(detections):
        kind = rng.choice(KINDS)
        device = rng.choice(macs if kind.os == "mac" else windows)
        generator.detection(data, device, kind, resolved=rng.random() < 0.25, occurred=generator.ago(0.01, 28))
    for device in rng.sample(list(data.devices.values()), max(len(data.devices) // 200, 1)):
        device["networkIsolationState"] = "NETWORK_ISOLATION_STATE_ISOLATED"
    return generator
