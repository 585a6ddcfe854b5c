"""A believable MSP at any scale, for the demo's second tenant and for the benchmarks.

:func:`generate` fills one tenant with customers (some with sites), one Veeam and one Keepit connection
(disabled, so nothing tries to sync them), their vendor accounts, backup jobs / connectors with a latest
state covering every case the hub derives (success, warning, failed, running, stuck, stopped, stale,
silent, never run, removed), a sync history with one deliberate gap, internal notes, and the bulk: timeline
events over the last 90 days, denser recently and heavier on big customers.

Everything random comes from ``random.Random`` seeded from ``seed``, one stream per part, so a seed and a
``now`` give the same MSP every time (database ids aside). Rows are written with PostgreSQL ``COPY`` as
the schema owner (:func:`vectis.db.system_session`); the timeline goes in batches of
:data:`BATCH` rows, each its own transaction, oldest first, as a real sync would have written them.
"""

from __future__ import annotations

import json
import random
import string
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Any, cast

import psycopg
from flask import current_app
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from vectis.connectors.factory import seal_config
from vectis.connectors.veeam import KIND_BY_TYPE
from vectis.demo.history import Latest, strip_of
from vectis.ingest import runlog
from vectis.ingest.matching import normalize_name
from vectis.models import Connection, Customer, User
from vectis.platform.db import system_session
from vectis.simulators.fixtures import company_names

BATCH = 200_000  # timeline rows per transaction
HISTORY = timedelta(days=90)  # how far back the timeline goes
RUNS_SPAN = timedelta(days=2)  # how far back the sync history goes
PROVIDER_SHARE = 0.005  # timeline rows about the MSP itself (no customer)
AUDIT_SHARE = 0.02  # timeline rows that also get a backup_audit_events row
MSP_DOMAIN = "summit-it.co.uk"
TECHS = ("tom", "priya", "jamie", "alex", "sam", "maria")

Progress = Callable[[str], None]


# --- word lists ---------------------------------------------------------------------------------------

_FIRST = (
    "Olivia", "James", "Amelia", "Oliver", "Isla", "Harry", "Ava", "Jack", "Mia", "George", "Sophie", "Noah",
    "Grace", "Liam", "Emily", "Ethan", "Chloe", "Lucas", "Hannah", "Daniel", "Niamh", "Sean", "Anna", "Pieter",
    "Megan", "Ryan", "Lauren", "Connor", "Fatima", "Ravi", "Zoe", "Tom", "Priya", "Marcus", "Ellen", "Kofi",
)  # fmt: skip
_LAST = (
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Davies", "Evans", "Thomas", "Johnson", "Walsh",
    "Murphy", "Kelly", "O'Brien", "Byrne", "de Vries", "Jansen", "Bakker", "Miller", "Garcia", "Clarke", "Patel",
    "Khan", "Wright", "Hughes", "Edwards", "Green", "Hall", "Wood", "Harris", "Lewis", "Martin", "Cooper", "King",
)  # fmt: skip
# (city, country, phone prefix, mail domain ending)
_CITIES = (
    ("Leeds", "United Kingdom", "+44 113 496 0", "co.uk"),
    ("Bristol", "United Kingdom", "+44 117 496 0", "co.uk"),
    ("Manchester", "United Kingdom", "+44 161 496 0", "co.uk"),
    ("Glasgow", "United Kingdom", "+44 141 496 0", "co.uk"),
    ("Edinburgh", "United Kingdom", "+44 131 496 0", "co.uk"),
    ("Cardiff", "United Kingdom", "+44 29 2018 0", "co.uk"),
    ("Norwich", "United Kingdom", "+44 1603 96 0", "co.uk"),
    ("York", "United Kingdom", "+44 1904 96 0", "co.uk"),
    ("Dublin", "Ireland", "+353 1 555 0", "ie"),
    ("Cork", "Ireland", "+353 21 555 0", "ie"),
    ("Sacramento", "USA", "+1 916 555 0", "com"),
    ("Portland", "USA", "+1 207 555 0", "com"),
    ("Haarlem", "Netherlands", "+31 23 555 0", "nl"),
    ("Utrecht", "Netherlands", "+31 30 555 0", "nl"),
)
_SERVERS = ("FS01", "FS02", "DC01", "DC02", "SQL01", "SQL02", "APP01", "EXCH01", "RDS01", "ERP01", "WEB01", "PRINT01")
_SCHEDULES = ("Daily", "Nightly", "Hourly", "Weekly", "Every 4 h")
# (vendor type, weight, name template, destination)
_VEEAM_TYPES: tuple[tuple[str, float, str, str | None], ...] = (
    ("BackupVm", 40, "{server} {schedule}", "NAS01 repository"),
    ("AgentBackupJob", 12, "{server} agent backup", "Cloud Connect repository"),
    ("BackupCopy", 10, "{server} copy to cloud", "Cloud Connect repository"),
    ("SimpleBackupCopy", 4, "{server} copy to NAS", "NAS02 repository"),
    ("ReplicationVM", 7, "{server} replica to DR site", "DR-ESX01"),
    ("CdpReplicationVM", 2, "CDP replica - {server}", "DR-ESX01"),
    ("BackupToTape", 5, "Weekly full to tape", "Tape library LTO-8"),
    ("FileToTape", 2, "File shares to tape", "Tape library LTO-8"),
    ("SureBackup", 3, "SureBackup - verify {server}", None),
    ("SqlLogBackup", 3, "{server} transaction logs", "NAS01 repository"),
    ("ObjectStorageBackup", 2, "{server} object storage backup", "Wasabi bucket"),
)
# (kind as people call it, Keepit type code, weight)
_KEEPIT_TYPES: tuple[tuple[str, str, float], ...] = (
    ("Microsoft 365", "o365-admin", 50),
    ("Entra ID", "azure-ad", 20),
    ("Google Workspace", "gsuite", 10),
    ("Salesforce", "sforce", 7),
    ("Dynamics 365", "dynamics365", 5),
    ("Power BI", "powerbi", 4),
    ("Zendesk", "zendesk", 4),
)
_GUID_ALPHABET = string.ascii_lowercase + string.digits

# state -> share of jobs (success takes the rest); "stuck" is a running job that runs far too long.
_STATE_SHARES = {
    "warning": 0.10,
    "failed": 0.08,
    "running": 0.05,
    "stuck": 0.015,
    "stopped": 0.03,
    "stale": 0.05,
    "silent": 0.04,
    "never": 0.03,
    "removed": 0.01,
}
_VEEAM_STATUS = {
    "success": "Success",
    "warning": "Warning",
    "failed": "Failed",
    "running": "Running",
    "stopped": "Idle",
    "unknown": "None",
}
_KEEPIT_STATUS = {
    "success": "healthy",
    "warning": "unhealthy",
    "failed": "critical",
    "running": "healthy",
    "stopped": "healthy",
    "unknown": "unknown",
}
_VEEAM_WARNINGS = (
    "Changed block tracking cannot be enabled on one or more virtual disks",
    "1 of 12 VMs processed with warnings: VSS snapshot took longer than expected",
    "Free space on repository 'NAS01' is below 10%",
)
_VEEAM_ERRORS = (
    "Error: Failed to connect to host vcenter01: the RPC server is unavailable",
    "Error: Not enough free space on repository 'NAS01'",
    "Error: Access is denied: the credentials for DC01 were rejected",
    "Error: Unable to allocate processing resources: the job reached the maximum number of tasks",
)
_KEEPIT_WARNINGS = (
    "Health unhealthy: no backup has checked in",
    "Health unhealthy: the cloud service has not checked in",
)
_KEEPIT_ERRORS = (
    "Health critical: Keepit cannot sign in to the service: its credentials were rejected",
    "Health critical: the service's access token for Keepit is no longer valid",
    "Health critical: the Keepit storage quota is exceeded",
)
_SYNC_ERRORS = {
    "veeam": (
        "Connection timed out — Vectis couldn't reach the VSPC host. VSPC is self-hosted per MSP; make sure the "
        "host is reachable from wherever Vectis runs (public DNS or peered internal network).",
        "VSPC answered 520 (internal server error) three times in a row on /infrastructure/backupServers/jobs; "
        "the next run retries.",
    ),
    "keepit": (
        "Connection timed out — Vectis couldn't reach uk-ld.keepit.com. Check the region, and that Keepit is "
        "reachable from wherever Vectis runs.",
        "Keepit answered 503 (service unavailable) on /audit/filter/pretty; the next run resumes from the cursor.",
    ),
}
_NOTES = (
    "Called {contact} about the failed {job} job: they are replacing the NAS next week.",
    "Quarterly review with {contact}. Happy with the service; asked for a quote for offsite copies.",
    "{contact} asked us to add the new finance share to the backups.",
    "Restored a deleted folder for {contact} from last night's backup. Took 20 minutes.",
    "Renewal due next month. {contact} wants Microsoft 365 backup included.",
    "On-site visit: swapped the failing disk in the backup NAS.\nRebuild finished overnight, jobs green again.",
    "{contact} reported slow VPN in the mornings; not backup related, passed to the network team.",
    "Reminder: their Keepit admin consent expires in March, ask {contact} to re-approve.",
)


# --- event templates ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Template:
    kind: str  # "" = the job's own kind (Veeam job alarms)
    severity: str
    title: str
    detail: str | None
    fields: tuple[str, ...]


def _template(kind: str, severity: str, title: str, detail: str | None = None) -> _Template:
    names = {name for part in (title, detail or "") for _, name, _, _ in string.Formatter().parse(part) if name}
    return _Template(kind, severity, title, detail, tuple(sorted(names)))


# (template, weight when the job is healthy, weight when it is in trouble)
_VEEAM_JOB_EVENTS = (
    (_template("", "info", "{job}: Job finished successfully", "Processed {n} VMs, {gb} GB read, {tgb} GB transferred"), 40, 8),
    (_template("", "resolved", "{job}: Job state has changed to Success"), 14, 8),
    (_template("", "warning", "{job}: Job finished with warning", "{warning}"), 9, 20),
    (_template("", "error", "{job}: Job failed", "{error}"), 3, 26),
    (_template("", "warning", "{job}: Job exceeded the backup window", "Running for {h} h; the window ends at 06:00"), 3, 9),
    (_template("", "warning", "{job}: Repository is running low on free space ({pct}% left)"), 2, 6),
    (_template("", "info", "{job}: Retry 1 of 3 succeeded"), 4, 6),
    (_template("", "error", "{job}: Backup file is corrupted; run an active full backup"), 0.3, 2),
)  # fmt: skip
_KEEPIT_JOB_EVENTS = (
    (_template("backup.connector", "info", "{job}: Backup completed", "Snapshot of {items} items in {h} h"), 40, 10),
    (_template("backup.connector", "info", "{job}: Snapshot created"), 12, 6),
    (_template("backup.connector", "warning", "{job}: Health unhealthy: no backup has checked in"), 4, 16),
    (_template("backup.connector", "error", "{job}: Backup failed", "{error}"), 2, 20),
    (_template("backup.connector", "resolved", "{job}: Health is back to healthy"), 6, 8),
    (_template("backup.recovery", "info", "Restore of {items} items started by {tech}", "{job} · from {ip}"), 5, 5),
    (_template("backup.recovery", "info", "Restore of {items} items finished", "{job}"), 4, 4),
    (_template("backup.recovery", "info", "Export of {user}'s mailbox to PST started by {tech}", "{job}"), 1, 1),
    (_template("backup.compliance", "info", "Retention of {job} changed to {years} years by {tech}"), 0.5, 0.5),
)  # fmt: skip
_VEEAM_ACCOUNT_EVENTS = (
    (_template("backup.security", "warning", "{user} account failed to log in from {ip}"), 10),
    (_template("backup.user", "info", 'User "{user}" was created for company "{company}" by {tech}'), 4),
    (_template("backup.account", "info", 'Company "{company}" was modified by {tech}'), 6),
    (_template("backup.connector", "info", 'Backup policy "{server} - Entire computer" was modified by {tech}'), 5),
    (_template("backup.connection", "info", 'Management agent on "{server}" connected'), 10),
    (_template("backup.connection", "warning", 'Management agent on "{server}" disconnected'), 8),
    (_template("backup.BackupServer", "error", "{server}-VBR01: Backup server is not responding"), 2),
    (_template("backup.BackupServer", "resolved", "{server}-VBR01: Backup server is available again"), 2),
)
_KEEPIT_ACCOUNT_EVENTS = (
    (_template("backup.security", "info", "{user} signed in", "from {ip}"), 14),
    (_template("backup.security", "error", "Login failed for {user}", "from {ip}"), 3),
    (_template("backup.security", "info", "API token created by {tech}"), 1),
    (_template("backup.user", "info", "Admin role granted to {user} by {tech}"), 2),
    (_template("backup.connection", "warning", "Microsoft 365 consent for {company} expires in {days} days"), 2),
    (_template("backup.reporting", "info", "Monthly backup report sent to {user}"), 3),
    (_template("backup.account", "info", "Subscription of {company} changed to {seats} seats by {tech}"), 1),
)
_PROVIDER_EVENTS = {
    "veeam": (
        (_template("backup.account", "warning", "License usage reached {pct}% of 2,000 points"), 3),
        (_template("backup.CloudConnectRepository", "warning", "CC-REPO-01: Repository is {pct}% full"), 3),
        (_template("backup.security", "warning", "administrator account failed to log in from {ip}"), 3),
        (_template("backup.BackupServer", "info", "SUMMIT-VBR-HOSTED: Configuration backup finished"), 4),
    ),
    "keepit": (
        (_template("backup.security", "info", "{tech} signed in", "from {ip}"), 6),
        (_template("backup.account", "info", "New child account created by {tech}"), 1),
        (_template("backup.reporting", "info", "Weekly partner report sent to {tech}"), 2),
    ),
}


# --- the plan: everything decided in Python first, ids assigned when written --------------------------


@dataclass
class _Customer:
    name: str
    parent: _Customer | None
    weight: float
    domain: str
    contact: tuple[str, str, str] | None  # name, email, phone
    location: str | None
    created_at: datetime
    users: tuple[str, ...]
    id: int = 0
    links: dict[str, int] = field(default_factory=dict)  # vendor -> customer_links.id
    jobs: list[_Job] = field(default_factory=list)


@dataclass
class _Job:
    vendor: str
    customer: _Customer
    external_id: str
    name: str
    kind: str
    vendor_type: str
    protected_object: str | None
    state: str = "success"  # what the hub should derive
    id: int = 0

    @property
    def event_kind(self) -> str:
        return "backup.BackupAgentJob" if self.vendor_type == "AgentBackupJob" else "backup.BackupServerJob"

    @property
    def troubled(self) -> bool:
        return self.state in ("warning", "failed", "stuck", "stale", "silent")


def _rng(seed: int, part: str) -> random.Random:
    """One stream per part, so a change in how one part draws leaves the others as they were."""
    return random.Random(f"{seed}:{part}")  # noqa: S311 - deterministic test data, not security


def _uid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _guid(rng: random.Random) -> str:
    """A Keepit GUID: three groups of six lower-case letters and digits."""
    return "-".join("".join(rng.choices(_GUID_ALPHABET, k=6)) for _ in range(3))


def _person(rng: random.Random, domain: str) -> tuple[str, str]:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    local = f"{first}.{last}".lower().replace("'", "").replace(" ", "")
    return f"{first} {last}", f"{local}@{domain}"


def _customers(rng: random.Random, count: int, now: datetime) -> list[_Customer]:
    """``count`` customers, about a tenth of them with 2–4 sites (extra customers after them)."""
    mains: list[_Customer] = []
    sites: list[_Customer] = []
    for name in company_names(rng, count):
        city, country, phone, tld = rng.choice(_CITIES)
        domain = f"{normalize_name(name).replace(' ', '')[:24] or 'customer'}.{tld}"
        contact = None
        if rng.random() < 0.9:
            person, email = _person(rng, domain)
            contact = (person, email, f"{phone}{rng.randint(100, 999)}")
        location = f"{city}, {country}" if rng.random() < 0.92 else None
        users = tuple(_person(rng, domain)[1] for _ in range(3))
        created = now - timedelta(days=rng.uniform(95, 1500))
        customer = _Customer(name, None, rng.lognormvariate(0, 1.0), domain, contact, location, created, users)
        mains.append(customer)
        if rng.random() < 0.1:
            cities = rng.sample([c for c in _CITIES if c[0] != city], rng.randint(2, 4))
            for site_city, site_country, site_phone, _ in cities:
                site_contact = None
                if rng.random() < 0.8:
                    person, email = _person(rng, domain)
                    site_contact = (person, email, f"{site_phone}{rng.randint(100, 999)}")
                sites.append(
                    _Customer(
                        f"{name} — {site_city}",
                        customer,
                        customer.weight * rng.uniform(0.2, 0.6),
                        domain,
                        site_contact,
                        f"{site_city}, {site_country}",
                        created + timedelta(days=rng.uniform(0, 60)),
                        users,
                    )
                )
    return mains + sites


def _states(rng: random.Random, count: int) -> list[str]:
    """Every state at its share, at least one of each once there are 20 jobs; the rest succeed."""
    states: list[str] = []
    for state, share in _STATE_SHARES.items():
        states += [state] * (max(1, round(share * count)) if count >= 20 else round(share * count))
    states = states[:count]
    states += ["success"] * (count - len(states))
    rng.shuffle(states)
    return states


def _jobs(rng: random.Random, customers: list[_Customer], count: int) -> list[_Job]:
    """Jobs spread by customer weight (a few big customers have many); 70 % Veeam, 30 % Keepit (main customers)."""
    cum = list(accumulate(c.weight for c in customers))
    veeam_cum = list(accumulate(t[1] for t in _VEEAM_TYPES))
    keepit_cum = list(accumulate(t[2] for t in _KEEPIT_TYPES))
    jobs: list[_Job] = []
    for customer, state in zip(rng.choices(customers, cum_weights=cum, k=count), _states(rng, count), strict=True):
        if rng.random() < 0.7:
            vendor_type, _, template, destination = rng.choices(_VEEAM_TYPES, cum_weights=veeam_cum)[0]
            name = template.format(server=rng.choice(_SERVERS), schedule=rng.choice(_SCHEDULES))
            agent = vendor_type == "AgentBackupJob"
            job = _Job(
                "veeam",
                customer,
                f"agent:{_uid(rng)}" if agent else _uid(rng),
                name,
                "Backup" if agent else KIND_BY_TYPE.get(vendor_type, "Other"),
                vendor_type,
                destination,
            )
        else:
            owner = customer.parent or customer  # a SaaS tenant belongs to the company, not to a site
            kind, code, _ = rng.choices(_KEEPIT_TYPES, cum_weights=keepit_cum)[0]
            org = owner.domain.split(".")[0]
            job = _Job("keepit", owner, _guid(rng), kind, kind, code, f"{org}.onmicrosoft.com")
        job.state = state
        job.customer.jobs.append(job)
        jobs.append(job)
    return jobs


@dataclass(frozen=True)
class _Status:
    state: str
    vendor_status: str
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    duration: int | None
    message: str | None
    removed_at: datetime | None


def _usual_duration(rng: random.Random, job: _Job) -> int:
    low, high = {
        "Backup": (600, 3 * 3600),
        "BackupCopy": (1800, 6 * 3600),
        "Replica": (300, 3600),
        "Tape": (2 * 3600, 10 * 3600),
        "Other": (120, 1800),
    }.get(job.kind, (1200, 4 * 3600))
    return int(rng.uniform(low, high))


def _status(rng: random.Random, job: _Job, now: datetime) -> _Status:  # noqa: PLR0911 - a branch per state
    hour, day = timedelta(hours=1), timedelta(days=1)
    veeam = job.vendor == "veeam"
    words = _VEEAM_STATUS if veeam else _KEEPIT_STATUS
    warn = rng.choice(_VEEAM_WARNINGS if veeam else _KEEPIT_WARNINGS)
    error = rng.choice(_VEEAM_ERRORS if veeam else _KEEPIT_ERRORS)
    duration = _usual_duration(rng, job)
    took = timedelta(seconds=duration)
    recent = now - took - hour * rng.uniform(0.2, 20)  # a run that started and ended within the last day

    def status(state: str, attempt: datetime | None, success: datetime | None, message: str | None = None) -> _Status:
        return _Status(state, words[state], attempt, success, duration if attempt else None, message, None)

    match job.state:
        case "warning":
            return status("warning", recent, recent + took, warn)
        case "failed":
            return status("failed", recent, max(recent - hour * rng.uniform(18, 26), now - hour * 44), error)
        case "running":
            started = now - timedelta(minutes=rng.uniform(3, 50))
            return status("running", started, started - hour * rng.uniform(20, 26) + took)
        case "stuck":  # hours into a run that usually takes minutes
            started = now - hour * rng.uniform(5, 30)
            duration = int(rng.uniform(300, 1500))
            return _Status("running", words["running"], started, started - day, duration, None, None)
        case "stopped":
            attempt = now - hour * rng.uniform(2, 40)
            return status("stopped", attempt, attempt - hour * rng.uniform(0, 4))
        case "stale":  # runs, but no success for days
            state = rng.choice(("failed", "success"))
            success = now - day * rng.uniform(3, 6)
            return status(state, recent, success, error if state == "failed" else None)
        case "silent":  # no attempt at all for days
            state = rng.choice(("success", "success", "failed"))
            attempt = now - day * rng.uniform(3, 10)
            success = attempt + took if state == "success" else attempt - day
            return status(state, attempt, success, error if state == "failed" else None)
        case "never":
            return _Status("unknown", words["unknown"], None, None, None, None, None)
        case "removed":
            removed = now - day * rng.uniform(1, 20)
            attempt = removed - hour * rng.uniform(2, 24)
            return _Status("success", words["success"], attempt, attempt + took, duration, None, removed)
        case _:
            return status("success", recent, recent + took)


# --- writing ------------------------------------------------------------------------------------------


def _driver(s: Session) -> psycopg.Connection[Any]:
    return cast("psycopg.Connection[Any]", s.connection().connection.driver_connection)


def _copy(s: Session, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    written = 0
    with _driver(s).cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            written += 1
    return written


def _reserve(s: Session, table: str, count: int) -> list[int]:
    """``count`` ids from the table's identity sequence, ascending: rows can then reference each other in COPY."""
    if count == 0:
        return []
    ids = s.scalars(
        text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :count)"),
        {"table": table, "count": count},
    ).all()
    return sorted(int(i) for i in ids)


def _connection(s: Session, tenant_id: int, vendor: str, now: datetime, rng: random.Random) -> Connection:
    """The tenant's connection to ``vendor``: the existing one, or a disabled one with believable config."""
    found = s.scalar(select(Connection).where(Connection.tenant_id == tenant_id, Connection.vendor == vendor))
    if found is not None:
        return found
    if vendor == "veeam":
        config: dict[str, str] = {
            "base_url": "https://vspc.summit-it.co.uk:1280",
            "username": "vectis-svc",
            "password": "".join(rng.choices(_GUID_ALPHABET, k=20)),
            "api_key": "",
        }
    else:
        config = {
            "username": f"backup-admin@{MSP_DOMAIN}",
            "password": "".join(rng.choices(_GUID_ALPHABET, k=20)),
            "region": "uk-ld",
            "account_guid": _guid(rng),
            "token_login": "",
            "token_password": "",
        }
    connection = Connection(
        tenant_id=tenant_id,
        vendor=vendor,
        name={"veeam": "Veeam", "keepit": "Keepit"}[vendor],
        enabled=False,  # generated data: nothing should try to sync it
        sync_interval_minutes=15,
        creates_customers=vendor == "veeam",
        created_at=now - timedelta(days=120 if vendor == "veeam" else 100),
    )
    seal_config(connection, config, current_app.config["VECTIS_SETTINGS"])
    s.add(connection)
    s.flush()
    return connection


@dataclass(frozen=True)
class _Run:
    vendor: str
    started_at: datetime
    finished_at: datetime
    trigger: str
    status: str
    error: str | None
    counts: dict[str, int]
    requests: int
    log: list[Any]


def _runs(rng: random.Random, now: datetime, customers: list[_Customer], jobs: list[_Job]) -> list[_Run]:
    """A run every 15 minutes over the last two days per connection, oldest first; Keepit's has a gap of
    about three hours yesterday (10:00–13:00 UTC), right after a failed run."""
    veeam_jobs = [j for j in jobs if j.vendor == "veeam"]
    keepit_jobs = [j for j in jobs if j.vendor == "keepit"]
    accounts = sum(1 for c in customers if "keepit" in {j.vendor for j in c.jobs})
    yesterday = (now - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    gap = (yesterday + timedelta(hours=10), yesterday + timedelta(hours=13))
    slots = int(RUNS_SPAN / timedelta(minutes=15))
    runs: list[_Run] = []
    for vendor, offset in (("veeam", rng.uniform(1, 12)), ("keepit", rng.uniform(1, 12))):
        for k in range(slots, 0, -1):
            started = now - timedelta(minutes=15 * (k - 1) + offset)
            if vendor == "keepit" and gap[0] <= started < gap[1]:
                continue
            just_before_gap = vendor == "keepit" and gap[0] - timedelta(minutes=15) <= started < gap[0]
            failed = just_before_gap or rng.random() < 0.03
            if vendor == "veeam":
                took = rng.uniform(8, 40)
                counts = {
                    "companies": len(customers),
                    "jobs": sum(1 for j in veeam_jobs if j.vendor_type != "AgentBackupJob"),
                    "agent_jobs": sum(1 for j in veeam_jobs if j.vendor_type == "AgentBackupJob"),
                    "events": rng.randint(0, 40),
                    "activity": rng.randint(0, 12),
                }
                requests = 3 + (len(customers) + len(veeam_jobs)) // 100
            else:
                took = rng.uniform(60, 300)
                counts = {"accounts": accounts, "connectors": len(keepit_jobs), "audit": rng.randint(0, 60)}
                requests = 2 + accounts + 3 * len(keepit_jobs) // 10
            error = rng.choice(_SYNC_ERRORS[vendor]) if failed else None
            if failed:
                streams = list(counts)
                counts = dict(list(counts.items())[: rng.randint(0, len(streams) - 1)])
                took = rng.uniform(20, 90)
            log: list[Any] = []
            for name, count in counts.items():
                for page in range(0, max(count, 1), 500):  # the vendors' page size
                    log = runlog.stream_page(log, name, records=min(500, count - page), odd={}, cursor=None)
                log = runlog.stream_done(log, name, seconds=took / max(len(counts), 1), cursor=None)
            if error:
                log = runlog.stopped(log, error)
            runs.append(
                _Run(
                    vendor,
                    started,
                    started + timedelta(seconds=took),
                    "manual" if rng.random() < 0.02 else "schedule",
                    "failed" if failed else "succeeded",
                    error,
                    counts,
                    requests,
                    log,
                )
            )
    runs.sort(key=lambda r: r.started_at)
    return runs


def _note_title(body: str) -> str:
    first = body.splitlines()[0]
    return first if len(first) <= 140 else first[:139] + "…"


def _write_setup(
    s: Session,
    tenant_id: int,
    *,
    seed: int,
    now: datetime,
    customers: list[_Customer],
    jobs: list[_Job],
) -> tuple[dict[str, int], dict[str, int]]:
    """Everything but the bulk of the timeline, in one transaction."""
    counts: dict[str, int] = {}
    conns = {vendor: _connection(s, tenant_id, vendor, now, _rng(seed, vendor)) for vendor in ("veeam", "keepit")}

    for customer, customer_id in zip(customers, _reserve(s, "customers", len(customers)), strict=True):
        customer.id = customer_id
    counts["customers"] = sum(1 for c in customers if c.parent is None)
    counts["sites"] = len(customers) - counts["customers"]
    _copy(
        s,
        "customers",
        (
            "id",
            "tenant_id",
            "name",
            "normalized_name",
            "parent_id",
            "contact_name",
            "contact_email",
            "contact_phone",
            "location",
            "created_at",
        ),
        (
            (
                c.id,
                tenant_id,
                c.name,
                normalize_name(c.name),
                c.parent.id if c.parent else None,
                *(c.contact or (None, None, None)),
                c.location,
                c.created_at,
            )
            for c in customers
        ),
    )

    # Vendor accounts: a Veeam company for every customer and site, a Keepit account for each with connectors.
    rng = _rng(seed, "links")
    wanted = [(c, "veeam") for c in customers] + [
        (c, "keepit") for c in customers if any(j.vendor == "keepit" for j in c.jobs)
    ]
    link_rows = []
    for (customer, vendor), link_id in zip(wanted, _reserve(s, "customer_links", len(wanted)), strict=True):
        customer.links[vendor] = link_id
        external_id = _uid(rng) if vendor == "veeam" else _guid(rng)
        decided = customer.created_at + timedelta(hours=rng.uniform(0, 48)) if vendor == "keepit" else None
        link_rows.append(
            (link_id, tenant_id, customer.id, "linked", decided, conns[vendor].id, external_id, customer.name, now)
        )
    counts["customer_links"] = _copy(
        s,
        "customer_links",
        (
            "id",
            "tenant_id",
            "customer_id",
            "status",
            "decided_at",
            "connection_id",
            "external_id",
            "external_name",
            "updated_at",
        ),
        link_rows,
    )

    runs = _runs(_rng(seed, "runs"), now, customers, jobs)
    run_ids = _reserve(s, "sync_runs", len(runs))
    counts["sync_runs"] = _copy(
        s,
        "sync_runs",
        (
            "id",
            "tenant_id",
            "connection_id",
            "trigger",
            "status",
            "started_at",
            "finished_at",
            "counts",
            "requests_made",
            "error",
            "log",
            "created_at",
        ),
        (
            (
                run_id,
                tenant_id,
                conns[r.vendor].id,
                r.trigger,
                r.status,
                r.started_at,
                r.finished_at,
                json.dumps(r.counts),
                r.requests,
                r.error,
                json.dumps(r.log),
                r.started_at,
            )
            for r, run_id in zip(runs, run_ids, strict=True)
        ),
    )
    last_seen: dict[str, int] = {}
    synced: dict[str, datetime] = {}
    for r, run_id in zip(runs, run_ids, strict=True):  # in time order: the latest run per vendor wins
        conn = conns[r.vendor]
        conn.last_sync_at, conn.last_status, conn.last_error = r.finished_at, r.status, r.error
        conn.failure_count = 1 if r.status == "failed" else 0
        if r.status == "succeeded":
            last_seen[r.vendor], synced[r.vendor] = run_id, r.finished_at

    rng = _rng(seed, "statuses")
    for job, job_id in zip(jobs, _reserve(s, "backup_connectors", len(jobs)), strict=True):
        job.id = job_id
    statuses = [_status(rng, job, now) for job in jobs]
    counts["jobs"] = _copy(
        s,
        "backup_connectors",
        (
            "id",
            "tenant_id",
            "connection_id",
            "customer_id",
            "customer_link_id",
            "external_id",
            "name",
            "kind",
            "vendor_type",
            "protected_object",
            "last_seen_run_id",
            "removed_at",
            "updated_at",
        ),
        (
            (
                j.id,
                tenant_id,
                conns[j.vendor].id,
                j.customer.id,
                j.customer.links[j.vendor],
                j.external_id,
                j.name,
                j.kind,
                j.vendor_type,
                j.protected_object,
                None if st.removed_at else last_seen.get(j.vendor),
                st.removed_at,
                st.removed_at or synced.get(j.vendor, now),
            )
            for j, st in zip(jobs, statuses, strict=True)
        ),
    )
    counts["removed_jobs"] = sum(1 for st in statuses if st.removed_at)
    _copy(
        s,
        "backup_connector_status",
        (
            "tenant_id",
            "backup_connector_id",
            "state",
            "vendor_status",
            "last_attempt_at",
            "last_success_at",
            "last_duration_seconds",
            "message",
            "updated_at",
        ),
        (
            (
                tenant_id,
                j.id,
                st.state,
                st.vendor_status,
                st.last_attempt_at,
                st.last_success_at,
                st.duration,
                st.message,
                st.removed_at or synced.get(j.vendor, now),
            )
            for j, st in zip(jobs, statuses, strict=True)
        ),
    )

    # Each job's run-history strip, agreeing with its status (the demo's runs: vectis/demo/history.py).
    counts["backup_runs"] = _copy(
        s,
        "backup_runs",
        (
            "tenant_id",
            "backup_connector_id",
            "run_key",
            "state",
            "vendor_status",
            "started_at",
            "ended_at",
            "duration_seconds",
            "message",
            "created_at",
        ),
        (
            (
                tenant_id,
                j.id,
                run.run_id,
                run.state,
                run.vendor_status,
                run.started_at,
                run.ended_at,
                int((run.ended_at - run.started_at).total_seconds()) if run.ended_at else None,
                run.message,
                run.ended_at or run.started_at,
            )
            for j, st in zip(jobs, statuses, strict=True)
            for run in strip_of(
                Latest(j.external_id, st.state, st.last_attempt_at, st.last_success_at, st.duration, st.removed_at),
                now,
            )
        ),
    )
    counts.update(_write_notes(s, tenant_id, seed, now, customers))
    return {vendor: c.id for vendor, c in conns.items()}, counts


def _write_notes(s: Session, tenant_id: int, seed: int, now: datetime, customers: list[_Customer]) -> dict[str, int]:
    rng = _rng(seed, "notes")
    authors: list[int | None] = [None]
    authors += list(s.scalars(select(User.id).where(User.tenant_id == tenant_id, User.is_active).order_by(User.id)))
    notes: list[tuple[_Customer, int | None, str, datetime]] = []
    for customer in customers:
        if customer.parent is not None or rng.random() < 0.3:
            continue
        contact = customer.contact[0].split()[0] if customer.contact else "the office manager"
        for _ in range(rng.randint(1, 4)):
            job = rng.choice(customer.jobs).name if customer.jobs else "nightly"
            body = rng.choice(_NOTES).format(contact=contact, job=job)
            occurred = now - HISTORY * rng.random() ** 1.5
            notes.append((customer, rng.choice(authors), body, occurred))
    ids = _reserve(s, "customer_notes", len(notes))
    _copy(
        s,
        "customer_notes",
        ("id", "tenant_id", "customer_id", "author_id", "body", "occurred_at", "created_at", "updated_at"),
        ((i, tenant_id, c.id, a, body, at, at, at) for (c, a, body, at), i in zip(notes, ids, strict=True)),
    )
    _copy(
        s,
        "timeline_events",
        (
            "tenant_id",
            "customer_id",
            "connection_id",
            "source",
            "kind",
            "occurred_at",
            "title",
            "detail",
            "dedup_key",
            "note_id",
            "created_at",
        ),
        (
            (tenant_id, c.id, None, "Note", "note", at, _note_title(body), body, f"note:{i}", i, at)
            for (c, _, body, at), i in zip(notes, ids, strict=True)
        ),
    )
    return {"notes": len(notes)}


_Field = Callable[[random.Random, "_Customer | None", "_Job | None"], str]
# How each placeholder of an event template is filled in.
_FIELDS: dict[str, _Field] = {
    "job": lambda rng, customer, job: job.name if job else "Backup job",
    "user": lambda rng, customer, job: rng.choice(customer.users) if customer else f"administrator@{MSP_DOMAIN}",
    "tech": lambda rng, customer, job: f"{rng.choice(TECHS)}@{MSP_DOMAIN}",
    "ip": lambda rng, customer, job: (
        f"{rng.choice((81, 86, 92, 185, 212))}.{rng.randint(1, 254)}.{rng.randint(1, 254)}.{rng.randint(1, 254)}"
    ),
    "company": lambda rng, customer, job: customer.name if customer else "Summit IT",
    "server": lambda rng, customer, job: rng.choice(_SERVERS),
    "warning": lambda rng, customer, job: rng.choice(_VEEAM_WARNINGS),
    "error": lambda rng, customer, job: rng.choice(_KEEPIT_ERRORS if job and job.vendor == "keepit" else _VEEAM_ERRORS),
    "n": lambda rng, customer, job: str(rng.randint(1, 40)),
    "items": lambda rng, customer, job: f"{rng.randint(1, 25_000):,}",
    "gb": lambda rng, customer, job: f"{rng.uniform(20, 900):.1f}",
    "tgb": lambda rng, customer, job: f"{rng.uniform(2, 90):.1f}",
    "h": lambda rng, customer, job: str(rng.randint(1, 9)),
    "pct": lambda rng, customer, job: str(rng.randint(3, 97)),
    "years": lambda rng, customer, job: str(rng.choice((1, 3, 5, 7, 10))),
    "days": lambda rng, customer, job: str(rng.randint(3, 30)),
    "seats": lambda rng, customer, job: str(rng.randint(5, 400)),
}


class _Events:
    """The bulk of the timeline: ``count`` rows, oldest first, as syncs would have written them."""

    def __init__(self, seed: int, now: datetime, customers: list[_Customer], conns: dict[str, int]) -> None:
        self.rng = _rng(seed, "events")
        self.now = now
        self.customers = customers
        self.cum = list(accumulate(c.weight for c in customers))
        self.conns = conns
        Table = tuple[list[_Template], list[float]]
        self.tables: dict[tuple[str, bool], Table] = {}
        for vendor, weighted in (("veeam", _VEEAM_JOB_EVENTS), ("keepit", _KEEPIT_JOB_EVENTS)):
            for troubled in (False, True):
                templates = [t for t, _, _ in weighted]
                self.tables[vendor, troubled] = (
                    templates,
                    list(accumulate(bad if troubled else good for _, good, bad in weighted)),
                )
        self.accounts: dict[str, Table] = {}
        self.provider: dict[str, Table] = {}
        for target, tables in (
            (self.accounts, {"veeam": _VEEAM_ACCOUNT_EVENTS, "keepit": _KEEPIT_ACCOUNT_EVENTS}),
            (self.provider, _PROVIDER_EVENTS),
        ):
            for vendor, pairs in tables.items():
                target[vendor] = ([t for t, _ in pairs], list(accumulate(w for _, w in pairs)))
        self.audit: list[tuple[Any, ...]] = []

    def ages(self, count: int) -> list[float]:
        """Seconds before ``now``, oldest first; density grows towards now (age ~ 90 days × u^1.8)."""
        span = HISTORY.total_seconds()
        rng = self.rng
        ages = [span * rng.random() ** 1.8 for _ in range(count)]
        ages.sort(reverse=True)
        return ages

    def rows(self, tenant_id: int, start: int, stop: int, ages: list[float]) -> Iterator[tuple[Any, ...]]:
        rng, now = self.rng, self.now
        picks = rng.choices(self.customers, cum_weights=self.cum, k=stop - start)
        for i, customer_pick in zip(range(start, stop), picks, strict=True):
            occurred = now - timedelta(seconds=ages[i])
            customer: _Customer | None = customer_pick
            job: _Job | None = None
            if rng.random() < PROVIDER_SHARE:
                customer, vendor = None, "veeam" if rng.random() < 0.6 else "keepit"
                templates, cum = self.provider[vendor]
            elif customer_pick.jobs and rng.random() < 0.78:
                job = customer_pick.jobs[int(rng.random() * len(customer_pick.jobs))]
                vendor = job.vendor
                templates, cum = self.tables[vendor, job.troubled]
            else:
                vendor = "keepit" if "keepit" in customer_pick.links and rng.random() < 0.45 else "veeam"
                templates, cum = self.accounts[vendor]
            template = rng.choices(templates, cum_weights=cum)[0]
            values = {name: _FIELDS[name](rng, customer, job) for name in template.fields}
            title = template.title.format(**values)
            detail = template.detail.format(**values) if template.detail and rng.random() < 0.6 else None
            kind = template.kind or (job.event_kind if job else "backup.BackupServerJob")
            if vendor == "veeam":
                source = "Veeam"
                key = f"{job.external_id}:{i:08x}" if job else f"activity:{i:032x}"
            else:
                source = "Keepit"
                key = f"audit:{i:040x}"
            link = customer.links.get(vendor) if customer else None
            connection = self.conns[vendor]
            customer_id = customer.id if customer else None
            if rng.random() < AUDIT_SHARE:
                raw = {"time": occurred.isoformat(), "message": title, "severity": template.severity}
                self.audit.append(
                    (
                        tenant_id,
                        connection,
                        customer_id,
                        link,
                        key,
                        occurred,
                        kind[7:],
                        template.severity,
                        title,
                        detail,
                        json.dumps(raw),
                    )
                )
            yield (
                tenant_id,
                customer_id,
                link,
                connection,
                source,
                kind,
                occurred,
                title,
                detail,
                template.severity,
                key,
            )


_TIMELINE_COLUMNS = (
    "tenant_id", "customer_id", "customer_link_id", "connection_id", "source", "kind", "occurred_at", "title",
    "detail", "severity", "dedup_key",
)  # fmt: skip
_AUDIT_COLUMNS = (
    "tenant_id", "connection_id", "customer_id", "customer_link_id", "external_id", "occurred_at", "category",
    "severity", "title", "detail", "raw",
)  # fmt: skip


def generate(
    tenant_id: int,
    *,
    customers: int,
    jobs: int,
    events: int,
    seed: int = 1,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Fill ``tenant_id`` (which must have no customers yet) with a believable MSP; returns row counts.

    ``customers`` main customers (plus sites for about a tenth of them), ``jobs`` backup jobs / connectors
    with their latest state, ``events`` vendor timeline rows (notes add their own). Needs an app context.
    """
    now = now or datetime.now(UTC)
    say = progress or (lambda _message: None)
    plan = _rng(seed, "plan")
    people = _customers(plan, customers, now)
    backups = _jobs(plan, people, jobs)
    with system_session() as s:
        if s.scalar(select(func.count()).select_from(Customer).where(Customer.tenant_id == tenant_id)):
            raise ValueError(f"tenant {tenant_id} already has customers: generate into a fresh tenant")
        conns, counts = _write_setup(s, tenant_id, seed=seed, now=now, customers=people, jobs=backups)
    say(
        f"{counts['customers']} customers + {counts['sites']} sites, {counts['jobs']} jobs, "
        f"{counts['notes']} notes, {counts['sync_runs']} sync runs"
    )
    bulk = _Events(seed, now, people, conns)
    ages = bulk.ages(events)
    written = audit = 0
    for start in range(0, events, BATCH):
        stop = min(start + BATCH, events)
        with system_session() as s:
            s.execute(text("SET LOCAL synchronous_commit = off"))  # a crash mid-load means generating again
            written += _copy(s, "timeline_events", _TIMELINE_COLUMNS, bulk.rows(tenant_id, start, stop, ages))
            audit += _copy(s, "backup_audit_events", _AUDIT_COLUMNS, bulk.audit)
        bulk.audit.clear()
        say(f"timeline: {written:,} / {events:,}")
    counts["events"] = written
    counts["audit_events"] = audit
    counts["timeline_events"] = written + counts["notes"]
    with system_session() as s:  # fresh statistics, so the first queries after a big load plan well
        for table in ("customers", "customer_links", "backup_connectors", "backup_connector_status", "backup_runs",
                      "timeline_events", "backup_audit_events", "customer_notes", "sync_runs"):  # fmt: skip
            s.execute(text(f"ANALYZE {table}"))
    return counts


DEMO_CUSTOMERS, DEMO_JOBS, DEMO_EVENTS = 40, 400, 6_000


def generate_demo(tenant_id: int) -> dict[str, int]:
    """The demo's second MSP: small, and only once (an empty dict when the tenant already has customers)."""
    with system_session() as s:
        if s.scalar(select(func.count()).select_from(Customer).where(Customer.tenant_id == tenant_id)):
            return {}
    return generate(tenant_id, customers=DEMO_CUSTOMERS, jobs=DEMO_JOBS, events=DEMO_EVENTS)
