"""The Huntress simulator's data (``HuntressData``) and how it is filled: one account (the MSP), an organization per
customer (from :mod:`vectis.simulators.fixtures`, named as the VSPC simulator names them), agents in each named as an
RMM names the same machines (``GAX-SRV01``, ``GAX-WS02``: the NinjaOne and SentinelOne simulators' scheme, so the
tools describe the same endpoints), and incident reports across severities and statuses, each with the remediations
Huntress's SOC proposed.

Everything is stored as Huntress sends it (field names, integer ids, ISO times). The benchmark scale makes thousands
of rows in one pass over a seeded ``random.Random``."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from vectis.simulators.base import Json
from vectis.simulators.fixtures import BENCH_JOBS, DEMO_CUSTOMERS, Customer, Msp
from vectis.simulators.huntress.vendor import iso

DAY = 86400.0
ACCOUNT_NAME = "Summit IT"  # the MSP's own account: every organization is under it


@dataclass
class HuntressData:
    """The data of one Huntress account (``HuntressState`` adds the keys, knobs and bookkeeping)."""

    now: float = field(default_factory=lambda: float(int(time.time())))  # the data's own clock, epoch seconds
    account: Json = field(default_factory=dict)
    organizations: dict[int, Json] = field(default_factory=dict)  # id -> Organization as sent
    agents: dict[int, Json] = field(default_factory=dict)  # id -> Agent as sent
    reports: dict[int, Json] = field(default_factory=dict)  # id -> IncidentReport as sent


@dataclass(frozen=True)
class Kind:
    """A kind of incident: what Huntress's SOC found, how it rates it and what it asks the partner to do."""

    indicator: str  # the indicator type that found it
    severity: str  # low | high | critical
    what: str  # how the summary names it
    remediation: str  # the action the SOC proposes
    parameter: str  # what the remediation acts on
    platform: str = "windows"


KINDS = (
    Kind("ransomware_canaries", "critical", "ransomware encrypting files (a canary file was modified)",
         "Isolate Host", "host"),
    Kind("process_detections", "critical", "a Cobalt Strike beacon running from PowerShell", "Kill Process",
         r"C:\ProgramData\svc\beacon.ps1"),
    Kind("footholds", "high", "a malicious scheduled task persisting a remote access tool", "Delete Scheduled Task",
         r"c:\windows\system32\tasks\OneDriveUpdater"),
    Kind("antivirus_detections", "high", "Trojan:Win32/Qakbot quarantined by Microsoft Defender, with a foothold left",
         "Delete File", r"C:\Users\accounts\AppData\Roaming\Qakbot\qbot.dll"),
    Kind("behavioral_detections", "high", "credential dumping from LSASS with comsvcs.dll", "Reset Password",
         "Administrator"),
    Kind("monitored_files", "low", "an unapproved remote access tool (AnyDesk) installed by a user", "Uninstall",
         r"C:\Program Files (x86)\AnyDesk\AnyDesk.exe"),
    Kind("footholds", "low", "a potentially unwanted browser extension started at logon", "Delete Registry Value",
         r"HKCU\Software\Microsoft\Windows\CurrentVersion\Run\SearchHelper"),
    Kind("process_detections", "high", "a malicious LaunchAgent downloading an infostealer (Atomic Stealer)",
         "Delete File", "/Users/design/Library/LaunchAgents/com.update.plist", "darwin"),
)  # fmt: skip

# The demo's fourteen incident reports: (kind index, status, days ago, remediations approved). The first is the
# newest ransomware and its host is already isolated; one is still being auto-remediated; three are closed, one
# dismissed by Huntress and one by the partner (false positives); two wait on the partner's approval.
DEMO_REPORTS = (
    (0, "sent", 0.2, True),
    (1, "auto_remediating", 0.5, True),
    (2, "sent", 1.1, True),
    (3, "sent", 1.8, False),
    (4, "sent", 2.6, True),
    (5, "sent", 3.3, True),
    (6, "sent", 4.4, False),
    (7, "sent", 5.2, True),
    (2, "closed", 6.9, True),
    (5, "dismissed", 8.1, True),
    (3, "closed", 9.4, True),
    (6, "partner_dismissed", 10.7, True),
    (4, "closed", 12.0, True),
    (1, "sent", 13.3, True),
)

_OS = {
    "server": ("Windows Server 2022 Standard", "windows", "20348"),
    "workstation": ("Windows 11 Pro", "windows", "22631"),
    "mac": ("macOS 14.4.1", "darwin", "23E224"),
    "linux": ("Ubuntu 22.04.4 LTS", "linux", "5.15.0"),
}
AGENT_VERSION, EDR_VERSION = "0.13.176", "0.3.20"


class Generator:
    """All randomness comes from one ``random.Random(seed)`` in a fixed order, so a seed and a ``now`` give the
    same account every time. Ids count up, as Huntress's integer ids do."""

    def __init__(self, seed: int, now: float | None, first_id: int = 1000) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - deterministic test data, not security
        self.now = float(int(now if now is not None else time.time()))
        self._next = first_id

    def ago(self, low_days: float, high_days: float) -> float:
        return self.now - self.rng.uniform(low_days, high_days) * DAY

    def next_id(self) -> int:
        self._next += self.rng.randint(1, 9)
        return self._next

    def account(self, data: HuntressData) -> None:
        data.account = {
            "id": 4217, "name": ACCOUNT_NAME, "subdomain": "summitit", "status": "enabled",
            "created_at": iso(self.now - 900 * DAY), "updated_at": iso(self.now - 30 * DAY),
        }  # fmt: skip

    def organizations(self, data: HuntressData, customers: list[Customer]) -> list[Json]:
        made = []
        for customer in customers:
            created = self.ago(100, 900)
            organization = {
                "id": self.next_id(),
                "account_id": data.account["id"],
                "name": customer.name,
                "key": customer.slug,
                "notify_emails": [f"it@{customer.domain}"],
                "agents_count": 0,
                "incident_reports_count": 0,
                "logs_sources_count": 0,
                "microsoft_365_users_count": 0,
                "created_at": iso(created),
                "updated_at": iso(created + self.rng.uniform(0, 90) * DAY),
            }
            data.organizations[organization["id"]] = organization
            made.append(organization)
        return made

    def agent(self, data: HuntressData, organization: Json, name: str, kind: str) -> Json:
        rng = self.rng
        os_name, platform, build = _OS[kind]
        created = self.ago(30, 700)
        agent = {
            "id": self.next_id(),
            "account_id": data.account["id"],
            "organization_id": organization["id"],
            "hostname": name,
            "platform": platform,
            "os": os_name,
            "os_build_version": build,
            "arch": "x86_64" if platform != "darwin" else "arm64",
            "domain_name": "WORKGROUP",
            "ipv4_address": f"10.{rng.randrange(1, 250)}.{rng.randrange(1, 250)}.{rng.randrange(2, 250)}",
            "external_ip": f"203.0.113.{rng.randrange(1, 254)}",
            "mac_addresses": [":".join(f"{rng.randrange(256):02x}" for _ in range(6))],
            "version": AGENT_VERSION,
            "edr_version": EDR_VERSION if platform != "linux" else None,
            "firewall_status": "Enabled",
            "defender_status": "Healthy" if platform == "windows" else None,
            "last_callback_at": iso(self.now - rng.uniform(10, 3600)),
            "created_at": iso(created),
            "updated_at": iso(created + rng.uniform(0, 20) * DAY),
        }
        data.agents[agent["id"]] = agent
        organization["agents_count"] += 1
        return agent

    def agents_for(self, data: HuntressData, organization: Json, customer: Customer, workstations: int) -> None:
        """An organization's endpoints, named as an RMM names the same machines (``{code}-SRV01``, ``{code}-WS01``,
        ``{code}-MAC01``, ``{code}-lnx01``)."""
        code = customer.code
        self.agent(data, organization, f"{code}-SRV01", "server")
        for number in range(1, workstations + 1):
            self.agent(data, organization, f"{code}-WS{number:02d}", "workstation")
        if self.rng.random() < 0.4:
            self.agent(data, organization, f"{code}-MAC01", "mac")
        if self.rng.random() < 0.2:
            self.agent(data, organization, f"{code.lower()}-lnx01", "linux")

    def report(
        self, data: HuntressData, agent: Json, kind: Kind, *, status: str, approved: bool, created: float
    ) -> Json:
        rng = self.rng
        organization = data.organizations[agent["organization_id"]]
        sent = created + rng.uniform(600, 3 * 3600)
        finished = status not in ("sent", "auto_remediating")
        updated = min(sent + rng.uniform(3600, 36 * 3600), self.now - 30) if finished else sent
        remediation_status = "completed" if finished or status == "auto_remediating" else "approved"
        if not approved:
            remediation_status = "unapproved"
        report: Json = {
            "id": self.next_id(),
            "account_id": data.account["id"],
            "organization_id": organization["id"],
            "agent_id": agent["id"],
            "platform": agent["platform"],
            "severity": kind.severity,
            "status": status,
            "subject": f"{kind.severity.upper()} - Incident on {agent['hostname']} ({organization['name']})",
            "summary": f"Huntress detected {kind.what} on {agent['hostname']}. We recommend the remediation steps "
            "below.",
            "body": f"<p>Huntress's SOC investigated {kind.what} on {agent['hostname']}.</p>",
            "indicator_types": [kind.indicator],
            "indicator_counts": {kind.indicator: rng.randint(1, 4)},
            "remediations": {
                "total_count": 1,
                "has_more": False,
                "items": [
                    {
                        "id": self.next_id(),
                        "type": "assisted" if kind.remediation != "Reset Password" else "manual",
                        "action": kind.remediation,
                        "parameters": [{"name": "path", "description": kind.parameter}],
                        "status": remediation_status,
                        "approved_at": iso(sent + 300) if remediation_status != "unapproved" else None,
                        "completed_at": iso(updated) if remediation_status == "completed" else None,
                    }
                ],
            },
            "created_at": iso(created),
            "sent_at": iso(sent),
            "closed_at": iso(updated) if status == "closed" else None,
            "status_updated_at": iso(updated),
            "updated_at": iso(updated),
        }
        data.reports[report["id"]] = report
        organization["incident_reports_count"] += 1
        return report


def build_demo(data: HuntressData, seed: int, now: float | None) -> Generator:
    """The demo MSP: its twelve customers as organizations, 2-6 agents each, and :data:`DEMO_REPORTS` on them over
    the last two weeks; the ransomware's host is isolated."""
    generator = Generator(seed, now)
    generator.account(data)
    customers = Msp.drawn(seed, DEMO_CUSTOMERS).listed()
    rng = generator.rng
    for organization, customer in zip(generator.organizations(data, customers), customers, strict=True):
        generator.agents_for(data, organization, customer, workstations=rng.randint(1, 3))
    agents = list(data.agents.values())
    windows = [a for a in agents if a["platform"] == "windows"]
    macs = [a for a in agents if a["platform"] == "darwin"] or windows
    for index, status, days, approved in DEMO_REPORTS:
        kind = KINDS[index]
        agent = rng.choice(macs if kind.platform == "darwin" else windows)
        generator.report(data, agent, kind, status=status, approved=approved, created=generator.now - days * DAY)
    first = data.reports[next(iter(data.reports))]
    data.agents[first["agent_id"]]["firewall_status"] = "Isolated"
    return generator


def build_at_scale(data: HuntressData, seed: int, now: float | None, *, organizations: int, reports: int) -> Generator:
    """A large MSP for benchmarks: ``organizations`` named as the VSPC benchmark's companies, about ten agents each,
    and ``reports`` incident reports over the last four weeks (inside a first sync's 30-day window however late that
    day it runs), most closed, a few hosts isolated."""
    generator = Generator(seed, now)
    generator.account(data)
    customers = Msp.drawn(seed, organizations, BENCH_JOBS).listed()
    rng = generator.rng
    for organization, customer in zip(generator.organizations(data, customers), customers, strict=True):
        generator.agents_for(data, organization, customer, workstations=rng.randint(3, 14))
    agents = list(data.agents.values())
    windows = [a for a in agents if a["platform"] == "windows"]
    macs = [a for a in agents if a["platform"] == "darwin"] or windows
    statuses = ["sent", "auto_remediating", "closed", "dismissed", "partner_dismissed"]
    for _ in range(reports):
        kind = rng.choice(KINDS)
        status = rng.choices(statuses, weights=[30, 5, 55, 6, 4])[0]
        agent = rng.choice(macs if kind.platform == "darwin" else windows)
        generator.report(data, agent, kind, status=status, approved=rng.random() < 0.8, created=generator.ago(0.01, 28))
    for agent in rng.sample(agents, max(len(agents) // 200, 1)):
        agent["firewall_status"] = "Isolated"
    return generator
