"""The SentinelOne simulator's data (``SentinelOneData``) and how it is filled: one account (the MSP), a site per
customer (from :mod:`vectis.simulators.fixtures`, named as the VSPC simulator names them), agents on each site named
as an RMM names the same machines (``GAX-SRV01``, ``GAX-WS02``: the NinjaOne simulator's scheme, so the two tools
describe the same endpoints), and threats across classifications, confidence levels and incident states.

Everything is stored as S1 sends it (field names, ISO times); ``state`` adds what is live (an agent's network
status, a threat's agent as it is now). The benchmark scale makes thousands of rows in one pass over a seeded
``random.Random``."""

from __future__ import annotations

import hashlib
import random
import time
from dataclasses import dataclass, field

from vectis.simulators.base import Json
from vectis.simulators.fixtures import BENCH_JOBS, DEMO_CUSTOMERS, Customer, Msp
from vectis.simulators.sentinelone.vendor import DESCRIPTIONS, iso

DAY = 86400.0
ACCOUNT_NAME = "Summit IT"  # the MSP's own account: every site is under it


@dataclass
class SentinelOneData:
    """The data of one SentinelOne management console (``SentinelOneState`` adds the token, knobs and bookkeeping)."""

    now: float = field(default_factory=lambda: float(int(time.time())))  # the data's own clock, epoch seconds
    account: Json = field(default_factory=dict)  # {id, name}
    sites: dict[str, Json] = field(default_factory=dict)  # id -> Site as sent
    agents: dict[str, Json] = field(default_factory=dict)  # id -> Agent as sent
    threats: dict[str, Json] = field(default_factory=dict)  # id -> Threat as sent (its agent's live fields aside)


@dataclass(frozen=True)
class Kind:
    """A kind of threat: how S1 classifies it, how sure it is, what it found and where."""

    classification: str
    confidence: str  # malicious | suspicious | n/a
    name: str  # threatInfo.threatName: the file's name, or the engine's name for what it saw
    path: str  # threatInfo.filePath, as S1 writes a Windows path (the volume's device name)
    engine: str
    mitigation: str  # threatInfo.mitigationStatus: mitigated | active | blocked | marked_as_benign
    tactic: str  # the MITRE tactic its indicator names
    os_type: str = "windows"


_VOLUME = r"\Device\HarddiskVolume3"
KINDS = (
    Kind("Ransomware", "malicious", "lb3.exe", rf"{_VOLUME}\Users\Public\Music\lb3.exe", "On-Write Static AI",
         "mitigated", "Impact"),
    Kind("Ransomware", "malicious", "Behavioral AI: file encryption", rf"{_VOLUME}\Windows\System32\vssadmin.exe",
         "Behavioral AI", "mitigated", "Impact"),
    Kind("Trojan", "malicious", "invoice_0412.exe", rf"{_VOLUME}\Users\reception\Downloads\invoice_0412.exe",
         "On-Write Static AI", "mitigated", "Execution"),
    Kind("Infostealer", "malicious", "RedLine.exe", rf"{_VOLUME}\Users\accounts\AppData\Local\Temp\RedLine.exe",
         "Reputation", "mitigated", "Credential Access"),
    Kind("Malware", "malicious", "svchost32.dll", rf"{_VOLUME}\ProgramData\Updater\svchost32.dll",
         "On-Write Static AI", "active", "Persistence"),
    Kind("Worm", "malicious", "usbspread.exe", r"\Device\HarddiskVolume5\autorun\usbspread.exe", "On-Write Static AI",
         "mitigated", "Lateral Movement"),
    Kind("Trojan", "malicious", "com.apple.updated", "/Users/Shared/.updater/com.apple.updated", "Static AI",
         "mitigated", "Persistence", "macos"),
    Kind("PUA", "suspicious", "setup_free.exe", rf"{_VOLUME}\Users\reception\AppData\Local\Temp\setup_free.exe",
         "On-Write Static AI - Suspicious", "active", "Execution"),
    Kind("Hacktool", "suspicious", "PsExec64.exe", rf"{_VOLUME}\Users\admin\Desktop\Tools\PsExec64.exe",
         "Reputation", "active", "Lateral Movement"),
    Kind("PUA", "suspicious", "OpenCandy.dll", rf"{_VOLUME}\Program Files (x86)\FreePDF\OpenCandy.dll",
         "On-Write Static AI - Suspicious", "active", "Execution"),
    Kind("Exploit", "suspicious", "powershell.exe", rf"{_VOLUME}\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
         "Behavioral AI", "blocked", "Defense Evasion"),
    Kind("Generic.Heuristic", "n/a", "update_helper.exe", rf"{_VOLUME}\Users\Public\update_helper.exe",
         "Intrusion Detection", "active", "Discovery"),
    Kind("Malware", "suspicious", "keygen_2024.exe", rf"{_VOLUME}\Users\design\Downloads\keygen_2024.exe",
         "On-Write Static AI - Suspicious", "mitigated", "Execution"),
)  # fmt: skip

# The demo's fifteen threats: (kind index, incident status, analyst verdict, days ago). The first puts its agent
# off the network (S1's network quarantine, as a policy or a technician did); two are resolved as real threats, one
# as a false positive, and one has a verdict of "suspicious" while someone looks into it.
DEMO_THREATS = (
    (0, "unresolved", "undefined", 0.2),
    (1, "in_progress", "true_positive", 1.5),
    (2, "unresolved", "undefined", 0.6),
    (3, "in_progress", "true_positive", 2.2),
    (4, "unresolved", "undefined", 3.1),
    (5, "unresolved", "undefined", 4.0),
    (6, "unresolved", "undefined", 5.3),
    (7, "unresolved", "undefined", 1.1),
    (8, "unresolved", "undefined", 6.8),
    (9, "resolved", "false_positive", 9.5),
    (10, "unresolved", "undefined", 7.4),
    (11, "unresolved", "undefined", 2.9),
    (12, "in_progress", "suspicious", 8.2),
    (2, "resolved", "true_positive", 12.0),
    (4, "resolved", "true_positive", 13.5),
)

_OS = {
    "server": ("Windows Server 2022 Standard", "windows", "20348", "server"),
    "workstation": ("Windows 11 Pro", "windows", "22631", "desktop"),
    "laptop": ("Windows 11 Pro", "windows", "22631", "laptop"),
    "mac": ("macOS Sonoma", "macos", "14.4.1", "laptop"),
    "linux": ("Ubuntu 22.04.4 LTS", "linux", "5.15.0-105-generic", "server"),
}
_USERS = ["reception", "accounts", "admin", "design", "manager", "frontdesk", "nurse", "partner"]
AGENT_VERSION = "23.4.2.14"


class Generator:
    """All randomness comes from one ``random.Random(seed)`` in a fixed order, so a seed and a ``now`` give the
    same console every time."""

    def __init__(self, seed: int, now: float | None) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - deterministic test data, not security
        self.now = float(int(now if now is not None else time.time()))

    def ago(self, low_days: float, high_days: float) -> float:
        return self.now - self.rng.uniform(low_days, high_days) * DAY

    def object_id(self) -> str:
        """An S1 id: a 19-digit number, sent as a string."""
        return str(self.rng.randrange(10**18, 10**19))

    def hex(self, length: int) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(length))

    # -- the account, sites and agents

    def sites(self, data: SentinelOneData, customers: list[Customer]) -> list[Json]:
        data.account = {"id": self.object_id(), "name": ACCOUNT_NAME}
        made = []
        for customer in customers:
            created = self.ago(200, 900)
            site = {
                "id": self.object_id(),
                "name": customer.name,
                "accountId": data.account["id"],
                "accountName": ACCOUNT_NAME,
                "state": "active",
                "siteType": "Paid",
                "sku": "Complete",
                "suite": "Complete",
                "activeLicenses": 0,
                "totalLicenses": customer.workstation_quota + customer.server_quota,
                "unlimitedLicenses": False,
                "unlimitedExpiration": True,
                "expiration": None,
                "isDefault": False,
                "healthStatus": True,
                "description": f"{customer.city}, {customer.country}",
                "externalId": customer.code,
                "creator": "Summit IT Admin",
                "createdAt": iso(created),
                "updatedAt": iso(created + self.rng.uniform(0, 100) * DAY),
            }
            data.sites[site["id"]] = site
            made.append(site)
        return made

    def agent(self, data: SentinelOneData, site: Json, customer: Customer, name: str, kind: str) -> Json:
        rng = self.rng
        os_name, os_type, revision, machine = _OS[kind]
        online = rng.random() < (0.95 if machine == "server" else 0.8)
        last_active = self.now - (rng.uniform(10, 300) if online else rng.uniform(3600, 10 * DAY))
        registered = self.ago(60, 700)
        agent = {
            "id": self.object_id(),
            "uuid": self.hex(32),
            "computerName": name,
            "accountId": site["accountId"],
            "accountName": site["accountName"],
            "siteId": site["id"],
            "siteName": site["name"],
            "groupId": str(int(site["id"]) + 1),
            "groupName": "Default Group",
            "networkStatus": "connected",
            "osName": os_name,
            "osType": os_type,
            "osRevision": revision,
            "machineType": machine,
            "domain": customer.domain.split(".")[0].upper() if os_type == "windows" else "WORKGROUP",
            "externalIp": f"203.0.113.{rng.randrange(1, 254)}",
            "lastIpToMgmt": f"10.{rng.randrange(1, 250)}.{rng.randrange(1, 250)}.{rng.randrange(2, 250)}",
            "lastLoggedInUserName": rng.choice(_USERS) if machine != "server" else "Administrator",
            "lastActiveDate": iso(last_active),
            "isActive": online,
            "isDecommissioned": False,
            "isUpToDate": rng.random() < 0.9,
            "agentVersion": AGENT_VERSION,
            "mitigationMode": "protect",
            "mitigationModeSuspicious": "detect",
            "infected": False,
            "activeThreats": 0,
            "registeredAt": iso(registered),
            "createdAt": iso(registered),
            "updatedAt": iso(last_active),
        }
        data.agents[agent["id"]] = agent
        site["activeLicenses"] += 1
        return agent

    def agents_for(self, data: SentinelOneData, site: Json, customer: Customer, workstations: int) -> None:
        """A site's endpoints, named as an RMM names the same machines: its first server, its first workstations, a
        Mac and a Linux server at some sites (the NinjaOne simulator's scheme: ``{code}-SRV01``, ``{code}-WS01``,
        ``{code}-MAC01``, ``{code}-lnx01``)."""
        code = customer.code
        self.agent(data, site, customer, f"{code}-SRV01", "server")
        for number in range(1, workstations + 1):
            self.agent(data, site, customer, f"{code}-WS{number:02d}", "workstation")
        if self.rng.random() < 0.4:
            self.agent(data, site, customer, f"{code}-MAC01", "mac")
        if self.rng.random() < 0.2:
            self.agent(data, site, customer, f"{code.lower()}-lnx01", "linux")

    # -- threats

    def threat(
        self, data: SentinelOneData, agent: Json, kind: Kind, *, status: str, verdict: str, created: float
    ) -> Json:
        rng = self.rng
        threat_id = self.object_id()
        updated = min(created + rng.uniform(60, 36 * 3600), self.now - 30) if status != "unresolved" else created + 5
        sha1 = hashlib.sha1(f"{kind.name}:{threat_id}".encode()).hexdigest()  # noqa: S324 - a made-up file hash
        sha256 = hashlib.sha256(f"{kind.name}:{threat_id}".encode()).hexdigest()
        storyline = self.hex(16).upper()
        site = data.sites[agent["siteId"]]
        mitigation = "marked_as_benign" if verdict == "false_positive" else kind.mitigation
        actions = [] if mitigation in ("active", "marked_as_benign") else [
            {"action": "kill", "status": "success"},
            {"action": "quarantine", "status": "success"},
        ]  # fmt: skip
        threat: Json = {
            "id": threat_id,
            "threatInfo": {
                "threatId": threat_id,
                "threatName": kind.name,
                "classification": kind.classification,
                "classificationSource": "Engine" if kind.confidence != "n/a" else "Cloud",
                "confidenceLevel": kind.confidence,
                "mitigationStatus": mitigation,
                "mitigationStatusDescription": DESCRIPTIONS.get(mitigation, mitigation),
                "incidentStatus": status,
                "incidentStatusDescription": DESCRIPTIONS[status],
                "analystVerdict": verdict,
                "analystVerdictDescription": DESCRIPTIONS[verdict],
                "sha1": sha1,
                "sha256": sha256,
                "md5": None,
                "filePath": kind.path,
                "fileSize": rng.randrange(20_000, 8_000_000),
                "fileExtension": kind.name.rsplit(".", 1)[-1].upper() if "." in kind.name else None,
                "fileExtensionType": "Executable",
                "originatorProcess": "explorer.exe" if kind.os_type == "windows" else "launchd",
                "processUser": f"{agent['domain']}\\{agent['lastLoggedInUserName']}",
                "detectionType": "dynamic" if kind.engine == "Behavioral AI" else "static",
                "engines": [kind.engine],
                "detectionEngines": [{"key": kind.engine.lower().replace(" ", "_"), "title": kind.engine}],
                "initiatedBy": "agent_policy",
                "initiatedByDescription": "Agent Policy",
                "isFileless": kind.engine == "Behavioral AI",
                "storyline": storyline,
                "collectionId": self.object_id(),
                "identifiedAt": iso(created - rng.uniform(0, 5)),
                "createdAt": iso(created),
                "updatedAt": iso(updated),
            },
            "agentRealtimeInfo": {
                "agentId": agent["id"],
                "agentUuid": agent["uuid"],
                "agentComputerName": agent["computerName"],
                "agentDomain": agent["domain"],
                "agentOsName": agent["osName"],
                "agentOsType": agent["osType"],
                "agentMachineType": agent["machineType"],
                "agentVersion": agent["agentVersion"],
                "siteId": site["id"],
                "siteName": site["name"],
                "accountId": site["accountId"],
                "accountName": site["accountName"],
                "groupId": agent["groupId"],
                "groupName": agent["groupName"],
            },
            "agentDetectionInfo": {
                "agentUuid": agent["uuid"],
                "agentDomain": agent["domain"],
                "agentIpV4": agent["lastIpToMgmt"],
                "externalIp": agent["externalIp"],
                "agentLastLoggedInUserName": agent["lastLoggedInUserName"],
                "agentOsName": agent["osName"],
                "agentOsRevision": agent["osRevision"],
                "agentVersion": agent["agentVersion"],
                "agentMitigationMode": agent["mitigationMode"],
                "siteId": site["id"],
                "siteName": site["name"],
                "accountId": site["accountId"],
                "accountName": site["accountName"],
                "groupId": agent["groupId"],
                "groupName": agent["groupName"],
            },
            "mitigationStatus": [
                {**action, "mitigationStartedAt": iso(created + 1), "mitigationEndedAt": iso(created + 2)}
                for action in actions
            ],
            "indicators": [
                {
                    "category": "Malware" if kind.confidence == "malicious" else "General",
                    "description": f"{kind.classification} behaviour detected by {kind.engine}",
                    "ids": [rng.randrange(1, 400)],
                    "tactics": [{"name": kind.tactic, "source": "MITRE", "techniques": []}],
                }
            ],
            "whiteningOptions": ["hash", "path"],
        }
        data.threats[threat_id] = threat
        if status != "resolved":
            agent["infected"] = True
            agent["activeThreats"] += 1
        return threat


def build_demo(data: SentinelOneData, seed: int, now: float | None) -> Generator:
    """The demo MSP: its twelve customers as sites, 3-7 agents each, and :data:`DEMO_THREATS` on them over the last
    two weeks; the ransomware's agent is off the network."""
    generator = Generator(seed, now)
    customers = Msp.drawn(seed, DEMO_CUSTOMERS).listed()
    rng = generator.rng
    for site, customer in zip(generator.sites(data, customers), customers, strict=True):
        generator.agents_for(data, site, customer, workstations=rng.randint(1, 3))
    agents = list(data.agents.values())
    windows = [a for a in agents if a["osType"] == "windows" and a["isActive"]]
    macs = [a for a in agents if a["osType"] == "macos"] or windows
    for index, status, verdict, days in DEMO_THREATS:
        kind = KINDS[index]
        agent = rng.choice(macs if kind.os_type == "macos" else windows)
        generator.threat(data, agent, kind, status=status, verdict=verdict, created=generator.now - days * DAY)
    first = data.threats[next(iter(data.threats))]
    data.agents[first["agentRealtimeInfo"]["agentId"]]["networkStatus"] = "disconnected"
    return generator


def build_at_scale(data: SentinelOneData, seed: int, now: float | None, *, sites: int, threats: int) -> Generator:
    """A large MSP for benchmarks: ``sites`` sites named as the VSPC benchmark's companies, about ten agents each,
    and ``threats`` threats over the last four weeks (most unresolved, a quarter resolved), a few agents
    disconnected. Four weeks, not 30 days: every threat is inside a first sync's 30-day window however long after
    ``now`` it runs that day, so two syncs of the same data read the same threats."""
    generator = Generator(seed, now)
    customers = Msp.drawn(seed, sites, BENCH_JOBS).listed()
    rng = generator.rng
    for site, customer in zip(generator.sites(data, customers), customers, strict=True):
        generator.agents_for(data, site, customer, workstations=rng.randint(3, 14))
    agents = list(data.agents.values())
    windows = [a for a in agents if a["osType"] == "windows"]
    macs = [a for a in agents if a["osType"] == "macos"] or windows
    statuses = ["unresolved", "in_progress", "resolved"]
    for _ in range(threats):
        kind = rng.choice(KINDS)
        status = rng.choices(statuses, weights=[60, 15, 25])[0]
        verdict = "undefined"
        if status != "unresolved":
            verdict = rng.choices(["true_positive", "false_positive", "suspicious"], weights=[80, 12, 8])[0]
        agent = rng.choice(macs if kind.os_type == "macos" else windows)
        generator.threat(data, agent, kind, status=status, verdict=verdict, created=generator.ago(0.01, 28))
    for agent in rng.sample(agents, max(len(agents) // 200, 1)):
        agent["networkStatus"] = "disconnected"
    return generator
