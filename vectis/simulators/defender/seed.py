"""The Defender simulator's data (``DefenderData``) and how it is filled: a customer tenant per customer of the MSP
(from :mod:`vectis.simulators.fixtures`, named as the VSPC simulator names them), onboarded machines in each named as
an RMM names the same machines (``GAX-SRV01``, ``GAX-WS02``: the NinjaOne and SentinelOne simulators' scheme), and
alerts across severities, statuses and classifications.

Everything is stored as Defender sends it (field names, ISO times); ``state`` adds what is live (a machine action
that settles). The benchmark scale makes thousands of rows in one pass over a seeded ``random.Random``."""

from __future__ import annotations

import hashlib
import random
import re
import time
import uuid
from dataclasses import dataclass, field

from vectis.simulators.base import Json
from vectis.simulators.defender.vendor import iso
from vectis.simulators.fixtures import BENCH_JOBS, DEMO_CUSTOMERS, Customer, Msp

DAY = 86400.0
# The demo connection's tenant: the first customer's, fixed so the demo's config can name it.
DEMO_TENANT_ID = "8d3f2a61-4c7e-4b19-9e05-6a2d1f7c3b48"
DEMO_CUSTOMER_NAME = Msp.drawn(1, DEMO_CUSTOMERS).listed()[0].name  # its customer, as the demo seed draws them


@dataclass
class DefenderData:
    """Every customer tenant's Defender data (``DefenderState`` adds the app registration, knobs, bookkeeping)."""

    now: float = field(default_factory=lambda: float(int(time.time())))
    tenants: dict[str, Json] = field(default_factory=dict)  # tenant id -> {id, name, domain}
    machines: dict[str, Json] = field(default_factory=dict)  # machine id -> Machine as sent, plus "_tenant"
    alerts: dict[str, Json] = field(default_factory=dict)  # alert id -> Alert as sent, plus "_tenant"
    actions: dict[str, Json] = field(default_factory=dict)  # machine action id -> MachineAction, plus "_tenant"


@dataclass(frozen=True)
class Kind:
    """A kind of alert: its title, Defender's category and severity, what it found and where."""

    title: str
    category: str
    severity: str  # Informational | Low | Medium | High
    file: str | None  # the evidence file's path and name
    threat_family: str | None = None
    os: str = "Windows11"


KINDS = (
    Kind("Ransomware behavior detected in the file system", "Ransomware", "High", r"C:\Users\Public\Music\lb3.exe",
         "LockBit"),
    Kind("'Emotet' malware was prevented", "Malware", "Medium", r"C:\Users\reception\Downloads\invoice_0412.doc",
         "Emotet"),
    Kind("Suspicious credential dump from LSASS", "CredentialAccess", "High", r"C:\Windows\Temp\procdump64.exe"),
    Kind("'RedLine' stealer was detected", "Malware", "High",
         r"C:\Users\accounts\AppData\Local\Temp\RedLine.exe", "RedLine"),
    Kind("Suspicious PowerShell command line", "Execution", "Medium", None),
    Kind("An active 'Mimikatz' hacktool was blocked", "CredentialAccess", "High", r"C:\Users\admin\Desktop\mk.exe",
         "Mimikatz"),
    Kind("'OpenCandy' unwanted software was detected", "UnwantedSoftware", "Low",
         r"C:\Program Files (x86)\FreePDF\OpenCandy.dll", "OpenCandy"),
    Kind("Suspicious use of PsExec", "LateralMovement", "Medium", r"C:\Users\admin\Desktop\Tools\PsExec64.exe"),
    Kind("Anomalous scheduled task created", "Persistence", "Low", r"C:\ProgramData\Updater\task.xml"),
    Kind("Microsoft Defender Antivirus protection turned off", "DefenseEvasion", "Medium", None),
    Kind("'Keygen' hacktool was detected", "UnwantedSoftware", "Informational",
         r"C:\Users\design\Downloads\keygen_2024.exe"),
    Kind("Suspicious Mac launch agent", "Persistence", "Medium", "/Users/Shared/.updater/com.apple.updated", None,
         "macOS"),
)  # fmt: skip

# The demo tenant's fourteen alerts: (kind index, status, classification, determination, days ago).
DEMO_ALERTS = (
    (0, "New", None, None, 0.2),
    (1, "InProgress", "TruePositive", "Malware", 1.5),
    (2, "New", None, None, 0.6),
    (3, "InProgress", "TruePositive", "Malware", 2.2),
    (4, "New", None, None, 3.1),
    (5, "New", None, None, 4.0),
    (6, "New", None, None, 5.3),
    (7, "Resolved", "FalsePositive", "SecurityTesting", 9.5),
    (8, "New", None, None, 6.8),
    (9, "InProgress", None, None, 7.4),
    (10, "New", None, None, 2.9),
    (11, "New", None, None, 8.2),
    (1, "Resolved", "TruePositive", "Malware", 12.0),
    (6, "Resolved", "InformationalExpectedActivity", "LineOfBusinessApplication", 13.5),
)
_OS = {"server": ("WindowsServer2022", "10.0.20348"), "workstation": ("Windows11", "10.0.22631"),
       "mac": ("macOS", "14.4.1"), "linux": ("Linux", "5.15.0")}  # fmt: skip
_USERS = ["reception", "accounts", "admin", "design", "manager", "frontdesk"]


def _initial_domain(data: DefenderData, customer: Customer) -> str:
    """``<name>.onmicrosoft.com`` as Entra makes it when a tenant is created (letters and digits, at most 27), with a
    number when another tenant has it."""
    stem = re.sub(r"[^a-z0-9]", "", customer.name.lower())[:25] or "tenant"
    taken = {t["initial_domain"] for t in data.tenants.values()}
    domain, number = f"{stem}.onmicrosoft.com", 1
    while domain in taken:
        number += 1
        domain = f"{stem}{number}.onmicrosoft.com"
    return domain


class Generator:
    """All randomness comes from one ``random.Random(seed)`` in a fixed order: a seed and a ``now`` give the same
    tenants every time."""

    def __init__(self, seed: int, now: float | None) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - deterministic test data, not security
        self.now = float(int(now if now is not None else time.time()))

    def guid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def hex(self, length: int) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(length))

    def tenant(self, data: DefenderData, customer: Customer) -> Json:
        """A customer's tenant; the first is :data:`DEMO_TENANT_ID` (the demo's, and the benchmark connection's)."""
        drawn = self.guid()
        tenant = {
            "id": drawn if data.tenants else DEMO_TENANT_ID,
            "name": customer.name,
            "domain": customer.domain,
            # The domain Entra gives every tenant, which a technician may type instead of its id.
            "initial_domain": _initial_domain(data, customer),
        }
        data.tenants[tenant["id"]] = tenant
        return tenant

    def machine(self, data: DefenderData, tenant: Json, name: str, kind: str) -> Json:
        rng = self.rng
        platform, version = _OS[kind]
        online = rng.random() < 0.85
        machine = {
            "id": self.hex(40),
            "computerDnsName": f"{name.lower()}.{tenant['domain']}",
            "firstSeen": iso(self.now - rng.uniform(60, 700) * DAY),
            "lastSeen": iso(self.now - (rng.uniform(60, 900) if online else rng.uniform(3600, 9 * DAY))),
            "osPlatform": platform,
            "osVersion": version,
            "osProcessor": "x64",
            "lastIpAddress": f"10.{rng.randrange(1, 250)}.{rng.randrange(1, 250)}.{rng.randrange(2, 250)}",
            "lastExternalIpAddress": f"203.0.113.{rng.randrange(1, 254)}",
            "agentVersion": "10.8760.22621.1105",
            "healthStatus": "Active" if online else "Inactive",
            "onboardingStatus": "Onboarded",
            "deviceValue": "High" if kind == "server" else "Normal",
            "rbacGroupName": "UnassignedGroup",
            "riskScore": "None",
            "exposureLevel": rng.choice(["Low", "Medium", "High"]),
            "isAadJoined": kind == "workstation",
            "machineTags": [],
            "_tenant": tenant["id"],
            "_name": name,
        }
        data.machines[machine["id"]] = machine
        return machine

    def machines_for(self, data: DefenderData, tenant: Json, customer: Customer, workstations: int) -> None:
        """A customer's endpoints, named as an RMM names them (``{code}-SRV01``, ``{code}-WS01``, ``{code}-MAC01``)."""
        code = customer.code
        self.machine(data, tenant, f"{code}-SRV01", "server")
        for number in range(1, workstations + 1):
            self.machine(data, tenant, f"{code}-WS{number:02d}", "workstation")
        if self.rng.random() < 0.4:
            self.machine(data, tenant, f"{code}-MAC01", "mac")

    def alert(
        self, data: DefenderData, machine: Json, kind: Kind, *, status: str, classification: str | None,
        determination: str | None, created: float,
    ) -> Json:  # fmt: skip
        rng = self.rng
        alert_id = f"da{self.hex(18)}_{rng.randrange(10**9, 10**10)}"
        updated = min(created + rng.uniform(60, 36 * 3600), self.now - 30) if status != "New" else created + 5
        evidence: list[Json] = []
        if kind.file:
            sep = "/" if kind.file.startswith("/") else "\\"
            folder, _, name = kind.file.rpartition(sep)
            evidence.append({
                "entityType": "File", "evidenceCreationTime": iso(created), "sha1": hashlib.sha1(  # noqa: S324
                    f"{kind.title}:{alert_id}".encode()).hexdigest(),
                "sha256": hashlib.sha256(f"{kind.title}:{alert_id}".encode()).hexdigest(),
                "fileName": name, "filePath": folder, "processId": None, "detectionStatus": "Prevented",
            })  # fmt: skip
        user = rng.choice(_USERS)
        alert: Json = {
            "id": alert_id,
            "incidentId": rng.randrange(1000, 99_999),
            "investigationId": None,
            "assignedTo": None if status == "New" else "soc@summit-it.example",
            "severity": kind.severity,
            "status": status,
            "classification": classification,
            "determination": determination,
            "investigationState": "Benign" if classification == "FalsePositive" else "Queued",
            "detectionSource": "WindowsDefenderAv" if kind.threat_family else "WindowsDefenderAtp",
            "detectorId": self.guid(),
            "category": kind.category,
            "threatFamilyName": kind.threat_family,
            "title": kind.title,
            "description": f"{kind.title} on {machine['_name']}.",
            "alertCreationTime": iso(created),
            "firstEventTime": iso(created - rng.uniform(5, 120)),
            "lastEventTime": iso(created - rng.uniform(0, 5)),
            "lastUpdateTime": iso(updated),
            "resolvedTime": iso(updated) if status == "Resolved" else None,
            "machineId": machine["id"],
            "computerDnsName": machine["computerDnsName"],
            "rbacGroupName": machine["rbacGroupName"],
            "aadTenantId": machine["_tenant"],
            "threatName": kind.threat_family,
            "mitreTechniques": [],
            "relatedUser": {"userName": user, "domainName": machine["_name"].split("-")[0]},
            "comments": [],
            "evidence": evidence,
            "_tenant": machine["_tenant"],
        }
        data.alerts[alert_id] = alert
        return alert


def build_demo(data: DefenderData, seed: int, now: float | None) -> Generator:
    """The demo MSP: a tenant per customer, 3-6 machines each; the first customer's tenant (the demo connection's)
    has :data:`DEMO_ALERTS` over the last two weeks, the others one or two alerts each."""
    generator = Generator(seed, now)
    customers = Msp.drawn(seed, DEMO_CUSTOMERS).listed()
    rng = generator.rng
    tenants = []
    for customer in customers:
        tenant = generator.tenant(data, customer)
        generator.machines_for(data, tenant, customer, workstations=rng.randint(2, 4))
        tenants.append(tenant)
    for position, tenant in enumerate(tenants):
        machines = [m for m in data.machines.values() if m["_tenant"] == tenant["id"]]
        windows = [m for m in machines if m["osPlatform"] != "macOS"]
        macs = [m for m in machines if m["osPlatform"] == "macOS"] or windows
        plan = DEMO_ALERTS if position == 0 else DEMO_ALERTS[position % 4 :: 7]
        for index, status, classification, determination, days in plan:
            kind = KINDS[index]
            generator.alert(
                data, rng.choice(macs if kind.os == "macOS" else windows), kind, status=status,
                classification=classification, determination=determination, created=generator.now - days * DAY,
            )  # fmt: skip
    return generator


def demo_tenant_ids(seed: int = 1) -> list[str]:
    """The demo MSP's tenant ids, in order (what the demo's connection lists): the same for every ``now``."""
    data = DefenderData()
    build_demo(data, seed, 0.0)
    return list(data.tenants)


def demo_tenant_domains(seed: int = 1) -> list[str]:
    """The same tenants by their ``.onmicrosoft.com`` domains, each with its customer's name after ``=``, as an MSP
    types them (Defender names no organisation)."""
    data = DefenderData()
    build_demo(data, seed, 0.0)
    return [f"{t['initial_domain']} = {t['name']}" for t in data.tenants.values()]


def build_at_scale(data: DefenderData, seed: int, now: float | None, *, tenants: int, alerts: int) -> Generator:
    """A large MSP for benchmarks: ``tenants`` customer tenants, about ten machines each, and ``alerts`` alerts over
    four weeks spread across them (inside a first sync's 30-day window however late that day it runs)."""
    generator = Generator(seed, now)
    customers = Msp.drawn(seed, tenants, BENCH_JOBS).listed()
    rng = generator.rng
    for customer in customers:
        generator.machines_for(data, generator.tenant(data, customer), customer, workstations=rng.randint(3, 14))
    machines = list(data.machines.values())
    for _ in range(alerts):
        kind = rng.choice(KINDS)
        status = rng.choices(["New", "InProgress", "Resolved"], weights=[60, 15, 25])[0]
        classification = None
        if status != "New":
            classification = rng.choices(["TruePositive", "FalsePositive", None], weights=[75, 12, 13])[0]
        generator.alert(
            data, rng.choice(machines), kind, status=status, classification=classification,
            determination={"TruePositive": "Malware", "FalsePositive": "Other"}.get(classification or ""),
            created=generator.now - rng.uniform(0.01, 28) * DAY,
        )  # fmt: skip
    return generator
