"""A faithful simulator of the Veeam Service Provider Console (VSPC) REST API v3 (API 3.6.1 = VSPC 9.1).

It is the other side of the Veeam connector: every body follows the schemas of Veeam's published OpenAPI
document (``shared/vendor-specs/veeam-vspc/vspc_rest_3_6_1.json``) and ``tests/vendors`` validates them
against it. Only fields that the schemas define are emitted.

Endpoints (under ``/api/v3``)
    ``POST /token`` (form: ``grant_type=password`` with ``username``/``password``, or
    ``grant_type=refresh_token``) → ``OAuth2Result``, or HTTP 400 ``OAuth2Error``. A refresh token is
    single-use: refreshing hands out a new pair and forgets the old refresh token (Veeam does not say;
    single-use is the stricter reading, so a connector that passes here stores the new one).
    Everything else needs ``Authorization: Bearer <access token or API key>``, otherwise 401.
    ``GET /about``, ``/organizations/companies[/{companyUid}]`` (``expand=Organization``),
    ``/infrastructure/backupServers/jobs``, ``/infrastructure/backupAgents/jobs``, ``/alarms/active``,
    ``/alarms/active/{activeAlarmUid}/history``: the ``{"meta":{"pagingInfo":…},"data":…,"errors":null}``
    envelope with ``limit`` (1–500, default 100), ``offset``, and the JSON ``filter``, ``sort`` and
    ``select`` query parameters. ``/eventLogs/activityLogs`` takes what Veeam's spec gives that operation
    instead: ``from``, ``to``, ``organizationUid``, ``userUid``, ``activityLogKind`` and
    ``dateSortingDirection`` (it has no ``filter``/``sort``, so they are ignored there, as ASP.NET does).
    Errors use Veeam's ``{"errors":[{"message","type","code",…}]}`` body; server errors are HTTP 520.
    Default order is by ``instanceUid`` so offset paging never skips or repeats.

Data
    ``VspcState.seeded()`` builds a small believable MSP (demo, tests); ``VspcState.at_scale()`` a large
    one (benchmarks). Both are deterministic for a given ``seed`` and ``now``. Times are RFC 3339 with
    7 fractional digits and the server's offset (``VspcState.tz``, +01:00), as Veeam writes them.
    A company's organization UID equals its ``instanceUid`` here; jobs carry the company's
    ``instanceUid`` in ``mappedOrganizationUid``; every fourth company's jobs run on the provider's hosted
    VBR server, so their ``organizationUid`` is the provider's. Agent jobs (``BackupAgentJob``) name their
    company in ``organizationUid``.

Fault knobs
    All knobs live in one ``Faults`` dataclass at ``state.faults`` and are read on every request, so a
    test sets one from Python (``state.faults.forbidden = True``) or over HTTP
    (``POST /_sim/faults`` with a JSON merge patch, RFC 7386: ``{"errors_520": 2}``; ``null`` puts a knob
    back to its default). ``POST /_sim/reset`` restores every knob and clears the counters (data and
    issued tokens stay); ``GET /_sim/stats`` counts requests per path and status. Renames and removals
    are knobs too (``rename_company``, ``remove_job``), applied when a response is built, so a reset
    undoes them; ``state.rename_company(uid, name)`` and ``state.remove_job(uid)`` just set them.
    As RFC 7386 says, objects merge (``rename_company``, ``malformed_page``) and lists are replaced whole
    (``remove_job``). ``malformed_page`` and the other switches stay on until cleared; ``errors_520``
    counts down. ``wrong_host`` answers an HTML 404 (another web server, not VSPC); 429 carries
    ``retryAfter`` in the body and no ``Retry-After`` header, as Veeam documents; 520 carries code 500.
    Token expiry reads ``state.clock`` (``time.time``), so a test can move time instead of sleeping.
    ``/_sim/*`` itself is never faulted.

Run it: ``python -m vectis.simulators.vspc --host 127.0.0.1 --port 18080 [--scale demo|bench]``.
"""

from __future__ import annotations

import argparse
import calendar
import json
import random
import re
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException
from werkzeug.serving import run_simple

from vectis.simulators.knobs import (
    BOOL,
    COUNT,
    SECONDS,
    FaultKnobs,
    Rule,
    add_fault_controls,
    is_count,
    json_merge_patch,
)

Json = dict[str, Any]

API = "/api/v3"
API_VERSION = "3.6.1"
DEFAULT_SERVER_VERSION = "9.1.0.30713"  # VSPC 9.1 speaks API 3.6.1; the build number is made up
DEMO_USERNAME = "vectis-svc"
DEMO_PASSWORD = "demo-password"  # noqa: S105 - the simulator's published demo credential
DEMO_API_KEY = "vspc-demo-api-key"
MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 100
SERVER_TZ = timezone(timedelta(hours=1))
BAD_CREDENTIALS = "Cannot complete login due to incorrect username or password, or no sufficient rights."
TICKS = 10_000_000  # .NET ticks per second: Veeam writes 7 fractional digits


# --- time ----------------------------------------------------------------------------------------------


def format_ticks(ticks: int, tz: tzinfo = SERVER_TZ) -> str:
    """``2023-01-16T16:30:09.4952609+01:00`` from 100-ns ticks since the Unix epoch."""
    seconds, fraction = divmod(ticks, TICKS)
    text = datetime.fromtimestamp(seconds, tz).isoformat()  # whole seconds: "2023-01-16T16:30:09+01:00"
    return f"{text[:19]}.{fraction:07d}{text[19:]}"


def ticks_of(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return calendar.timegm(moment.utctimetuple()) * TICKS + moment.microsecond * 10


_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?\s*(Z|z|[+-]\d{2}:?\d{2})?"
)


@lru_cache(maxsize=131072)
def parse_ticks(text: str) -> int | None:
    """Ticks for an RFC 3339 / ISO 8601 string (no offset means UTC, as .NET reads it), else None.
    Kept at tick precision so two of Veeam's 7-digit times never compare equal by truncation."""
    match = _DATE_TIME.fullmatch(text)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    tz: tzinfo = UTC
    if offset and offset not in ("Z", "z"):
        digits = offset.replace(":", "")
        delta = timedelta(hours=int(digits[1:3]), minutes=int(digits[3:5]))
        tz = timezone(-delta if digits[0] == "-" else delta)
    try:
        moment = datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), tzinfo=tz
        )
    except ValueError:
        return None
    return calendar.timegm(moment.utctimetuple()) * TICKS + int((fraction or "")[:7].ljust(7, "0"))


# --- faults --------------------------------------------------------------------------------------------


@dataclass
class MalformedPage:
    """The page of ``path`` (relative to ``/api/v3``) at ``offset`` answers 200 with a cut-off JSON body."""

    path: str
    offset: int = 0


def _is_malformed_page(value: Any) -> bool:
    if isinstance(value, MalformedPage):
        return True
    offset = value.get("offset", 0) if isinstance(value, dict) else None
    return isinstance(value, dict) and isinstance(value.get("path"), str) and is_count(offset)


def _to_malformed_page(value: Any) -> MalformedPage:
    if isinstance(value, MalformedPage):
        return value
    return MalformedPage("/" + value["path"].removeprefix(API).lstrip("/"), value.get("offset", 0))


_KNOB_RULES: dict[str, Rule] = {
    "wrong_credentials": BOOL,
    "forbidden": BOOL,
    "wrong_host": BOOL,
    "server_version": (lambda v: isinstance(v, str), "a string", str),
    "token_lifetime": COUNT,
    "refresh_token_lifetime": COUNT,
    "rate_limit_per_second": COUNT,
    "errors_520": COUNT,
    "latency": SECONDS,
    "hang": SECONDS,
    "malformed_page": (
        _is_malformed_page,
        'an object like {"path": "/infrastructure/backupServers/jobs", "offset": 500}',
        _to_malformed_page,
    ),
    "rename_company": (
        lambda v: isinstance(v, dict) and all(isinstance(k, str) and isinstance(n, str) for k, n in v.items()),
        "an object of company uid to new name",
        dict,
    ),
    "remove_job": (
        lambda v: isinstance(v, list) and all(isinstance(uid, str) for uid in v),
        "a list of job uids",
        list,
    ),
}


@dataclass
class Faults(FaultKnobs):
    wrong_credentials: bool = False  # the password grant fails as bad credentials
    forbidden: bool = False  # 403 on every data resource (not /token, not /about)
    wrong_host: bool = False  # 404 with a non-VSPC HTML page on everything, as another web server would
    server_version: str = DEFAULT_SERVER_VERSION  # /about serverVersion
    token_lifetime: int = 3600  # access token seconds (expires_in); Veeam's default is one hour
    refresh_token_lifetime: int = 86400  # Veeam does not publish it; long enough for any test or demo
    rate_limit_per_second: int = 0  # 0: no throttling; over it: 429 with retryAfter in the body
    errors_520: int = 0  # the next N API requests answer 520
    latency: float = 0.0  # seconds added to every API request
    hang: float = 0.0  # seconds to sleep before answering, to trip client timeouts
    malformed_page: MalformedPage | None = None
    rename_company: dict[str, str] = field(default_factory=dict)  # company uid -> new name
    remove_job: list[str] = field(default_factory=list)  # job instanceUids gone from both job lists

    RULES = _KNOB_RULES


# --- state ---------------------------------------------------------------------------------------------


@dataclass
class VspcState:
    """Seeded data, credentials, fault knobs and the runtime bookkeeping of one simulated VSPC server."""

    companies: list[Json] = field(default_factory=list)
    organizations: dict[str, Json] = field(default_factory=dict)  # company uid -> Organization
    server_jobs: list[Json] = field(default_factory=list)  # BackupServerJob
    agent_jobs: list[Json] = field(default_factory=list)  # BackupAgentJob
    alarms: list[Json] = field(default_factory=list)  # ActiveAlarm
    alarm_history: dict[str, list[Json]] = field(default_factory=dict)  # alarm uid -> AlarmActivation
    activity_logs: list[Json] = field(default_factory=list)  # ActivityLog, oldest first
    about: Json = field(default_factory=dict)  # About, without serverVersion (a knob)
    provider_uid: str = ""
    users: dict[str, str] = field(default_factory=lambda: {DEMO_USERNAME: DEMO_PASSWORD})
    api_keys: set[str] = field(default_factory=lambda: {DEMO_API_KEY})
    faults: Faults = field(default_factory=Faults)
    tz: tzinfo = SERVER_TZ
    clock: Callable[[], float] = field(default=time.time, compare=False)  # token expiry reads this
    # Remember each filtered, sorted collection between pages (the benchmark's VSPC answers in tens of
    # milliseconds, as a real one does). Off by default: tests change rows in place between syncs.
    cache_pages: bool = field(default=False, compare=False)

    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)
    _access_tokens: dict[str, float] = field(default_factory=dict, init=False, repr=False, compare=False)
    _refresh_tokens: dict[str, float] = field(default_factory=dict, init=False, repr=False, compare=False)
    _paths: Counter[str] = field(default_factory=Counter, init=False, repr=False, compare=False)
    _statuses: Counter[str] = field(default_factory=Counter, init=False, repr=False, compare=False)
    _window: list[int] = field(default_factory=lambda: [-1, 0], init=False, repr=False, compare=False)
    _known_paths: dict[str, dict[str, str]] = field(default_factory=dict, init=False, repr=False, compare=False)
    _pages: dict[tuple[str, ...], list[Json]] = field(default_factory=dict, init=False, repr=False, compare=False)

    # -- construction

    @classmethod
    def seeded(
        cls,
        companies: int = 12,
        jobs_per_company: int = 6,
        alarms: int = 300,
        seed: int = 1,
        now: datetime | None = None,
    ) -> VspcState:
        """A small MSP: every job type and status, some agent jobs, alarms over the last 20 days."""
        return _Generator(seed, now).build(
            companies=companies,
            jobs=[jobs_per_company] * companies,
            agent_jobs=max(companies * 3 // 2, 1) if companies else 0,
            alarms=alarms,
            activity_logs=max(companies * 20, 50),
        )

    @classmethod
    def at_scale(
        cls, companies: int = 500, jobs: int = 5000, alarms: int = 10000, seed: int = 1, now: datetime | None = None
    ) -> VspcState:
        """A large MSP for benchmarks: ``jobs`` backup-server jobs spread unevenly (some big customers),
        plus a fifth as many agent jobs."""
        generator = _Generator(seed, now)
        return generator.build(
            companies=companies,
            jobs=generator.spread(jobs, companies),
            agent_jobs=jobs // 5,
            alarms=alarms,
            activity_logs=companies * 10,
        )

    # -- knobs

    @property
    def token_lifetime(self) -> int:
        return self.faults.token_lifetime

    @token_lifetime.setter
    def token_lifetime(self, seconds: int) -> None:
        self.faults.token_lifetime = seconds

    def rename_company(self, uid: str, name: str) -> None:
        self.faults.rename_company[uid] = name

    def remove_job(self, uid: str) -> None:
        if uid not in self.faults.remove_job:
            self.faults.remove_job.append(uid)

    def merge_faults(self, patch: Mapping[str, Any]) -> Faults:
        with self._lock:
            self.faults = Faults.from_json(json_merge_patch(self.faults.to_json(), dict(patch)))
            return self.faults

    def reset(self) -> None:
        """Every knob back to its default and the counters cleared; data and issued tokens stay."""
        with self._lock:
            self.faults = Faults()
            self._paths.clear()
            self._statuses.clear()
            self._window[:] = [-1, 0]

    def stats(self) -> Json:
        with self._lock:
            return {
                "total": sum(self._paths.values()),
                "paths": dict(self._paths),
                "statuses": dict(self._statuses),
            }

    # -- runtime

    def record(self, path: str) -> None:
        with self._lock:
            self._paths[path] += 1

    def record_status(self, status: int) -> None:
        with self._lock:
            self._statuses[str(status)] += 1

    def throttled(self) -> bool:
        """A fixed one-second window, like the per-time-unit limit Veeam describes."""
        limit = self.faults.rate_limit_per_second
        if not limit:
            return False
        second = int(time.monotonic())
        with self._lock:
            if self._window[0] != second:
                self._window[:] = [second, 0]
            if self._window[1] >= limit:
                return True
            self._window[1] += 1
            return False

    def take_520(self) -> bool:
        with self._lock:
            if self.faults.errors_520 > 0:
                self.faults.errors_520 -= 1
                return True
            return False

    def issue_tokens(self) -> Json:
        now = self.clock()
        access, refresh = secrets.token_urlsafe(96), secrets.token_urlsafe(96)
        with self._lock:
            for store in (self._access_tokens, self._refresh_tokens):
                for token in [t for t, expires in store.items() if expires <= now]:
                    del store[token]
            self._access_tokens[access] = now + self.faults.token_lifetime
            self._refresh_tokens[refresh] = now + self.faults.refresh_token_lifetime
        return {
            "access_token": access,
            "token_type": "bearer",
            "refresh_token": refresh,
            "mfa_token": None,
            "encrypted_code": None,
            "expires_in": self.faults.token_lifetime,
        }

    def use_refresh_token(self, token: str) -> bool:
        with self._lock:
            expires = self._refresh_tokens.pop(token, None)
        return expires is not None and expires > self.clock()

    def authorized(self, token: str) -> bool:
        if token in self.api_keys:
            return True
        with self._lock:
            expires = self._access_tokens.get(token)
        return expires is not None and expires > self.clock()

    def known_paths(self, key: str, rows: Callable[[], Iterable[Json]]) -> dict[str, str]:
        """Lower-cased dot path -> the path as spelled in the data, for case-insensitive filter/sort
        properties (Veeam's server is .NET) and a 400 on a property that does not exist."""
        found = self._known_paths.get(key)
        if found is None:
            found = {}
            for row in rows():
                _collect_paths(row, "", found)
            self._known_paths[key] = found
        return found

    # -- views (knobs applied)

    def company_views(self, expand_organization: bool) -> list[Json]:
        renames = self.faults.rename_company
        views = []
        for company in self.companies:
            uid = company["instanceUid"]
            view = dict(company)
            organization = None
            if expand_organization:
                organization = dict(self.organizations[uid])
            if uid in renames:
                view["name"] = renames[uid]
                if organization is not None:
                    organization["name"] = renames[uid]
            view["_embedded"] = {"organization": organization}
            views.append(view)
        return views

    def server_job_views(self) -> list[Json]:
        removed = set(self.faults.remove_job)
        return [job for job in self.server_jobs if job["instanceUid"] not in removed]

    def agent_job_views(self) -> list[Json]:
        removed = set(self.faults.remove_job)
        return [job for job in self.agent_jobs if job["instanceUid"] not in removed]


def _collect_paths(value: Any, prefix: str, found: dict[str, str]) -> None:
    if not isinstance(value, dict):
        return
    for key, child in value.items():
        path = f"{prefix}{key}"
        found.setdefault(path.lower(), path)
        _collect_paths(child, path + ".", found)


# --- seeded data ---------------------------------------------------------------------------------------

_CURATED_NAMES = [
    "Aldridge & Co.",
    "Bayside Bistro",
    "Coast Logistics",
    "Dunmore Dental Practice",
    "Eastfield Veterinary Clinic",
    "Fenwick Legal LLP",
    "Greyhaven Architects",
    "Harbour Lights Hotel",
    "Ironbridge Engineering",
    "Juniper Accountancy",
    "Kestrel Print Works",
    "Larkspur Florists",
    "Millbrook Surgery",
    "Northfield Builders",
    "Oakridge Primary School",
    "Pembroke Motors",
    "Quayside Marine",
    "Redwood Property Group",
    "Saltmarsh Brewery",
    "Thornbury Opticians",
    "Upland Farms Cooperative",
    "Vale Physiotherapy",
    "Westbrook Pharmacy",
    "Yarrow Interiors",
    "Zephyr Travel",
    "Ashcombe Insurance Brokers",
    "Brightwater Nursery",
    "Castleton Estate Agents",
    "Driftwood Cafe",
    "Elmstead Care Home",
    "Foxglove Garden Centre",
    "Granite Quarry Supplies",
]
_PLACES = [
    "Aldridge", "Bayside", "Coast", "Dunmore", "Eastfield", "Fenwick", "Greyhaven", "Harbour", "Ironbridge",
    "Juniper", "Kestrel", "Larkspur", "Millbrook", "Northfield", "Oakridge", "Pembroke", "Quayside", "Redwood",
    "Saltmarsh", "Thornbury", "Upland", "Vale", "Westbrook", "Yarrow", "Ashcombe", "Brightwater", "Castleton",
    "Driftwood", "Elmstead", "Foxglove", "Granite", "Hollin", "Kingsmead", "Lowther", "Marston", "Newhaven",
    "Orchard", "Penrose", "Riverside", "Stanway",
]  # fmt: skip
_TRADES = [
    "Bistro", "Logistics", "Dental", "Legal", "Architects", "Hotel", "Engineering", "Accountancy", "Print",
    "Florists", "Surgery", "Builders", "Motors", "Marine", "Property", "Brewery", "Opticians", "Farms",
    "Physio", "Pharmacy", "Interiors", "Travel", "Insurance", "Nursery", "Estates", "Cafe", "Care Home",
    "Plumbing", "Electrical", "Joinery",
]  # fmt: skip
_SUFFIXES = ["", "", "", " Ltd", " & Sons", " Group", " LLP", " & Co."]
_PLACES_OF_BUSINESS = [
    ("United Kingdom", "England", "Leeds", "LS1 4AP", "+44 113 496 0"),
    ("United Kingdom", "England", "Bristol", "BS1 5TR", "+44 117 496 0"),
    ("United Kingdom", "Scotland", "Glasgow", "G2 1DY", "+44 141 496 0"),
    ("Ireland", "Leinster", "Dublin", "D02 X285", "+353 1 555 0"),
    ("USA", "West", "Sacramento", "95814", "+1 916 555 0"),
    ("USA", "Northeast", "Portland", "04101", "+1 207 555 0"),
    ("Netherlands", "Noord-Holland", "Haarlem", "2011 VB", "+31 23 555 0"),
]
_STREETS = ["High Street", "Station Road", "Mill Lane", "Church Street", "Harbour Road", "Market Square"]

_JOB_KINDS: list[tuple[str, list[str], int]] = [  # type, names, weight
    ("BackupVm", ["Daily VM backup", "File servers", "SQL servers", "Domain controllers", "App servers"], 30),
    ("BackupCopy", ["Backup copy to cloud", "Offsite backup copy"], 10),
    ("SimpleBackupCopy", ["Copy to NAS", "Copy to secondary repository"], 5),
    ("ReplicationVM", ["Replica to DR site", "Cloud replica"], 6),
    ("CdpReplicationVM", ["CDP replica - ERP", "CDP replica - SQL"], 4),
    ("BackupToTape", ["Weekly full to tape", "Monthly archive to tape"], 4),
    ("FileToTape", ["File shares to tape"], 3),
    ("AgentBackupJob", ["Physical servers (agent)", "Laptops (agent)"], 8),
    ("SureBackup", ["SureBackup - verify DCs"], 3),
    ("SqlLogBackup", ["SQL transaction log backup"], 2),
]
_JOB_NAMES = {kind: names for kind, names, _ in _JOB_KINDS}
_SERVER_JOB_FIELDS = (
    "instanceUid", "uniqueUid", "name", "createdBy", "creationTime", "backupServerUid", "locationUid", "siteUid",
    "organizationUid", "mappedOrganizationUid", "status", "type", "lastRun", "lastEndTime", "lastDuration",
    "processingRate", "avgDuration", "transferredData", "backupChainSize", "bottleneck", "isEnabled", "scheduleType",
    "schedule", "failureMessage", "targetType", "destination", "retentionLimit", "retentionLimitType",
    "isGfsOptionEnabled", "lastSessionTasks",
)  # fmt: skip
_WEEK = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_JOB_STATUSES = [("Success", 60), ("Warning", 12), ("Failed", 10), ("Running", 6), ("Idle", 6), ("None", 4)]
_FAILURES = {
    "Failed": [
        "Error: Failed to connect to the host: The operation has timed out.\n",
        "Error: There is not enough space on the disk. Failed to write data to the file.\n",
        "Error: Operation was canceled by user SYSTEM.\n",
        "Error: Unable to truncate transaction logs: access denied.\n",
    ],
    "Warning": [
        "Warning: Changed block tracking cannot be enabled: one or more VM snapshots present.\n",
        "Warning: Unable to allocate processing resources. Retrying.\n",
        "Warning: Free space on the backup repository is below 10%.\n",
    ],
}
_TASK_ROLES = ["DC", "FS", "SQL", "APP", "EXCH", "WEB", "RDS", "PRINT"]
_AGENT_STATUSES = [("Success", 60), ("Warning", 12), ("Failed", 12), ("Running", 5), ("None", 8), ("Unknown", 3)]
_AGENT_POLICIES = [
    ("Windows server - Entire computer", "Server", "EntireComputer", "Windows"),
    ("Windows workstation - Personal files", "Workstation", "File", "Windows"),
    ("Linux server - Volume level", "Server", "Volume", "Linux"),
    ("Mac workstation - Personal files", "Workstation", "File", "Mac"),
]
_ALARM_STATUSES = [("Error", 35), ("Warning", 25), ("Resolved", 25), ("Acknowledged", 10), ("Info", 5)]
_ACTIVITY = [  # activityLogType, activityKind, message template, weight
    ("LoginSuccessful", "External", "{user} account logged in from {ip} using Company account authentication type", 40),
    ("LoginFailed", "External", "{user} account failed to log in from {ip}", 6),
    ("CompanyModified", "External", 'Company "{company}" was modified by {user}', 8),
    ("BackupPolicyModified", "External", 'Backup policy "{policy}" was modified by {user}', 5),
    ("CompanyUserCreated", "External", 'User "{login}" was created for company "{company}" by {user}', 3),
    ("ManagementAgentConnected", "Internal", 'Management agent on "{computer}" connected', 10),
    ("ManagementAgentDisconnected", "Internal", 'Management agent on "{computer}" disconnected', 8),
    ("LicenseUpdated", "Internal", "License was updated automatically", 2),
]


def _weighted(rng: random.Random, options: Sequence[tuple[Any, ...]]) -> Any:
    return rng.choices([o[0] for o in options], weights=[o[-1] for o in options])[0]


class _Generator:
    """All randomness comes from one ``random.Random(seed)``, in a fixed order, so a seed and a ``now``
    give the same MSP every time (the demo's company UIDs survive a restart)."""

    def __init__(self, seed: int, now: datetime | None) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - deterministic test data, not security
        self.now = ticks_of(now or datetime.now(UTC))
        self.tz = SERVER_TZ
        self.site_uid = self.uid()  # the provider's Cloud Connect site
        self.vspc_user_uid = self.uid()  # the provider's own portal user (ours)
        self.plans = [self.uid() for _ in range(3)]
        self.policies = [(self.uid(), *policy) for policy in _AGENT_POLICIES]

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def time(self, ticks: int) -> str:
        return format_ticks(ticks, self.tz)

    def ago(self, low_seconds: float, high_seconds: float) -> int:
        return self.now - int(self.rng.uniform(low_seconds, high_seconds) * TICKS)

    def spread(self, total: int, buckets: int) -> list[int]:
        """``total`` split over ``buckets``, at least one each when possible, skewed like real customers."""
        if buckets <= 0:
            return []
        counts = [1 if total >= buckets else 0] * buckets
        weights = [self.rng.lognormvariate(0, 1) for _ in range(buckets)]
        for index in self.rng.choices(range(buckets), weights=weights, k=total - sum(counts)):
            counts[index] += 1
        return counts

    def names(self, count: int) -> list[str]:
        names = _CURATED_NAMES[:count]
        taken = set(names)
        combos = [(p, t) for p in _PLACES for t in _TRADES]
        self.rng.shuffle(combos)
        for place, trade in combos:
            if len(names) >= count:
                break
            name = f"{place} {trade}{self.rng.choice(_SUFFIXES)}"
            if name not in taken:
                taken.add(name)
                names.append(name)
        number = 2
        while len(names) < count:  # beyond ~1,200 companies the word lists run out: number the rest
            names.append(f"{_CURATED_NAMES[len(names) % len(_CURATED_NAMES)]} {number}")
            number += 1
        return names

    # -- build

    def build(self, *, companies: int, jobs: list[int], agent_jobs: int, alarms: int, activity_logs: int) -> VspcState:
        state = VspcState(tz=self.tz)
        state.provider_uid = self.uid()
        state.about = {
            "installationId": self.uid(),
            "installationDate": self.time(self.ago(400 * 86400, 500 * 86400)),
        }
        hosted_server = {"uid": self.uid(), "name": "SUMMIT-VBR-HOSTED", "location": self.uid()}
        templates = {kind: self.uid() for kind in ("BackupServerJob", "BackupAgent", "Company", "CompanyQuota")}

        infos = []
        for index, name in enumerate(self.names(companies)):
            company, organization, info = self.company(index, name)
            state.companies.append(company)
            state.organizations[company["instanceUid"]] = organization
            infos.append(info)
        for index, info in enumerate(infos):
            # Every fourth customer is backed up on the provider's hosted VBR server (organizationUid is
            # then the provider's), so a connector must attribute by mappedOrganizationUid.
            server = hosted_server if index % 4 == 3 else info["server"]
            owner = state.provider_uid if index % 4 == 3 else info["uid"]
            for number in range(jobs[index] if index < len(jobs) else 0):
                state.server_jobs.append(self.server_job(info, server, owner, number))
        self.finish(state.server_jobs)
        if infos:
            for number in range(agent_jobs):
                state.agent_jobs.append(self.agent_job(infos[self.rng.randrange(len(infos))], number))
            self.finish_agents(state.agent_jobs)
        by_uid = {info["uid"]: info for info in infos}
        for _ in range(alarms if infos else 0):
            alarm, history = self.alarm(state, by_uid, templates)
            state.alarms.append(alarm)
            state.alarm_history[alarm["instanceUid"]] = history
        if infos:
            state.activity_logs = sorted(
                (self.activity(infos, state.provider_uid) for _ in range(activity_logs)),
                key=lambda row: parse_ticks(row["date"]) or 0,
            )
        for rows in (state.companies, state.server_jobs, state.agent_jobs, state.alarms):
            rows.sort(key=lambda row: row["instanceUid"])
        return state

    def company(self, index: int, name: str) -> tuple[Json, Json, Json]:
        rng = self.rng
        uid = self.uid()
        slug = re.sub(r"[^a-z0-9]", "", name.lower())[:24] or f"company{index}"
        code = re.sub(r"[^A-Z]", "", name.title())[:3].ljust(3, "X")
        country, region, city, zip_code, phone = rng.choice(_PLACES_OF_BUSINESS)
        company = {
            "instanceUid": uid,
            "name": name,
            "status": "Disabled" if index % 11 == 10 else "Active",
            "resellerUid": None,
            "subscriptionPlanUid": rng.choice([*self.plans, None]),
            "isRestAccessEnabled": rng.random() < 0.2,
            "isAlarmDetectEnabled": True,
            "companyServices": {
                "hostedServices": {"isVbPublicCloudManagementEnabled": False},
                "remoteServices": {
                    "isBackupResourcesEnabled": True,
                    "backupAgentsManagement": {
                        "workstationAgentsQuota": rng.choice([10, 20, 50]),
                        "serverAgentsQuota": rng.choice([5, 10, 20]),
                    },
                    "backupServersManagement": {"backupServerQuota": rng.choice([1, 2, 5])},
                    "vb365ServersManagement": None,
                    "isVbPublicCloudManagementEnabled": False,
                },
            },
            "loginUrl": None,
            "ownerCredentials": {"userName": f"{slug}-owner", "password": None},
        }
        domain = f"{slug}.example.com"
        organization = {
            "instanceUid": uid,
            "name": name,
            "alias": slug[:32],
            "type": "Company",
            "taxId": None,
            "email": f"it@{domain}",
            "phone": f"{phone}{rng.randrange(100, 999)}",
            "country": None,
            "state": None,
            "countryName": country,
            "regionName": region,
            "city": city,
            "street": f"{rng.randrange(1, 200)} {rng.choice(_STREETS)}",
            "locationAdmin0Code": None,
            "locationAdmin1Code": None,
            "locationAdmin2Code": None,
            "notes": None,
            "zipCode": zip_code,
            "website": f"www.{domain}",
            "veeamTenantId": None,
            "companyId": None,
        }
        location = self.uid()
        info: Json = {
            "uid": uid,
            "name": name,
            "code": code,
            "location": location,
            "server": {"uid": self.uid(), "name": f"{code}-VBR01", "location": location},
            "agent_uid": self.uid(),
            "users": [self.uid() for _ in range(2)],
            "login": f"{slug[:12]}.admin",
        }
        return company, organization, info

    def server_job(self, info: Json, server: Json, owner: str, number: int) -> Json:
        rng = self.rng
        kind = _weighted(rng, _JOB_KINDS)
        status = _weighted(rng, _JOB_STATUSES)
        job: Json = dict.fromkeys(_SERVER_JOB_FIELDS)  # Veeam's order; session() fills in the rest
        job |= {
            "instanceUid": self.uid(),
            "uniqueUid": self.uid(),
            "name": "",
            "createdBy": f"{info['code']}-VBR01\\Administrator",
            "creationTime": self.time(self.ago(60 * 86400, 900 * 86400)),
            "backupServerUid": server["uid"],
            "locationUid": server["location"],
            "siteUid": None,
            "organizationUid": owner,
            "mappedOrganizationUid": info["uid"],
            "type": kind,
            "isEnabled": rng.random() > 0.05,
            "_info": info,
            "_number": number,
        }
        self.session(job, status)
        return job

    def last_run(self, status: str, stale: bool | None, longest: int) -> tuple[int | None, int | None, int | None]:
        """Start, end and duration of the latest session. A tenth of the finished ones are days old,
        because the backup-stale rules need jobs that stopped running."""
        rng = self.rng
        if stale is None:
            stale = rng.random() < 0.1
        if status in ("None", "Unknown"):
            return None, None, None
        if status == "Running":
            return self.ago(60, 3 * 3600), None, None
        start = self.ago(3 * 86400, 12 * 86400) if stale else self.ago(600, 30 * 3600)
        duration = int(rng.uniform(90, longest))
        return start, start + duration * TICKS + rng.randrange(TICKS), duration

    def session(self, job: Json, status: str, stale: bool | None = None) -> None:
        """The name and the fields that follow from the type, and the latest session, coherent with
        ``status``."""
        rng = self.rng
        kind, info = job["type"], job["_info"]
        job["name"] = f"{info['code']} - {rng.choice(_JOB_NAMES[kind])} {job['_number'] + 1:02d}"
        job["siteUid"] = self.site_uid if kind in ("BackupCopy", "ReplicationVM") else None
        job["status"] = status
        start, end, duration = self.last_run(status, stale, 3 * 3600)
        tasks: list[Json] = []
        if start is not None:
            cursor = start + 5 * TICKS
            for slot in range(rng.randint(1, 3)):
                task_status = {"Running": "Running" if slot == 0 else "Pending", "Idle": "Success", "None": "Unknown"}
                this = task_status.get(status, status if slot == 0 else "Success")
                span = max(int((duration or 600) / 3), 30)
                task_end = None if this in ("Running", "Pending") else cursor + span * TICKS
                read = rng.randrange(2, 400) * 2**28
                tasks.append(
                    {
                        "instanceUid": self.uid(),
                        "objectUid": self.uid(),
                        "objectName": f"{info['code']}-{rng.choice(_TASK_ROLES)}{rng.randint(1, 4):02d}",
                        "totalObjects": rng.choice([None, rng.randint(1, 12)]),
                        "processedObjects": None,
                        "readDataSize": read,
                        "transferredDataSize": read // rng.randint(2, 8),
                        "startTime": None if this == "Pending" else self.time(cursor),
                        "endTime": None if task_end is None else self.time(task_end),
                        "duration": None if task_end is None else span,
                        "failureMessages": [rng.choice(_FAILURES[this]).strip()] if this in _FAILURES else [],
                        "status": this,
                    }
                )
                tasks[-1]["processedObjects"] = tasks[-1]["totalObjects"]
                if task_end is not None:
                    cursor = task_end + TICKS
        transferred = sum(t["transferredDataSize"] for t in tasks) if tasks else None
        schedule_type = {
            "BackupCopy": "Continuously",
            "CdpReplicationVM": "Continuously",
            "SimpleBackupCopy": "Chained",
            "SureBackup": "Chained",
            "SqlLogBackup": "Periodically",
            "BackupToTape": "Monthly",
        }.get(kind, rng.choice(["Daily", "Daily", "Daily", "Periodically", "NotScheduled"]))
        job.update(
            {
                "lastRun": None if start is None else self.time(start),
                "lastEndTime": None if end is None else self.time(end),
                "lastDuration": duration,
                "processingRate": None if not duration or transferred is None else round(transferred / duration, 1),
                "avgDuration": None if duration is None else int(duration * rng.uniform(0.8, 1.2)),
                "transferredData": transferred,
                "backupChainSize": 0 if start is None else rng.randrange(1, 4000) * 2**30,
                "bottleneck": "None" if start is None else rng.choice(["Source", "Target", "Network", "Proxy"]),
                "scheduleType": schedule_type,
                "schedule": self.schedule(schedule_type),
                "failureMessage": rng.choice(_FAILURES[status]) if status in _FAILURES else None,
                "targetType": {"BackupCopy": "Cloud", "ReplicationVM": rng.choice(["Cloud", "Local"])}.get(
                    kind, "None" if kind == "SureBackup" else "Local"
                ),
                "destination": {
                    "BackupCopy": "Summit Cloud Repository",
                    "SimpleBackupCopy": "NAS Repository",
                    "ReplicationVM": "DR Host Cluster",
                    "CdpReplicationVM": "DR Host Cluster",
                    "BackupToTape": "Tape Media Pool",
                    "FileToTape": "Tape Media Pool",
                    "SureBackup": None,
                }.get(kind, "Default Backup Repository"),
                "retentionLimit": None if kind == "SureBackup" else rng.choice([7, 14, 30]),
                "retentionLimitType": "None" if kind == "SureBackup" else rng.choice(["Days", "RestorePoints"]),
                "isGfsOptionEnabled": kind in ("BackupCopy", "BackupVm") and rng.random() < 0.3,
                "lastSessionTasks": tasks,
            }
        )

    def schedule(self, schedule_type: str) -> Json | None:
        """A ``BackupServerJobSchedule`` whose ``startDateTime`` is the next run."""
        if schedule_type == "NotScheduled":
            return None
        rng = self.rng
        hour = rng.choice([19, 20, 21, 22, 23])
        offset = self.tz.utcoffset(None) or timedelta(0)
        utc_hour = (hour - int(offset.total_seconds() // 3600)) % 24
        day = 86400 * TICKS
        upcoming = self.now - self.now % day + utc_hour * 3600 * TICKS
        if schedule_type == "Monthly":
            upcoming += rng.randint(1, 27) * day  # the last Saturday is never more than four weeks away
        elif schedule_type == "Periodically":
            upcoming = self.now + rng.randint(60, 4 * 3600) * TICKS
        elif upcoming <= self.now:
            upcoming += day
        # Continuous and chained jobs have no next start: they run when data arrives or after another job.
        timed = schedule_type not in ("Continuously", "Chained")
        times = {"time": f"{hour:02d}:00", "timeUtc": f"{utc_hour:02d}:00"}
        return {
            "startDateTime": self.time(upcoming) if timed else None,
            "startDateTimeUtc": format_ticks(upcoming, UTC) if timed else None,
            "dailyScheduleOptions": {"kind": "Everyday", "days": list(_WEEK), **times}
            if schedule_type == "Daily"
            else None,
            "monthlyScheduleOptions": {
                **times,
                "dayNumberInMonth": "Last",
                "dayOfWeek": "Saturday",
                "months": list(_MONTHS),
            }
            if schedule_type == "Monthly"
            else None,
            "periodicallyScheduleOptions": {"kind": "Hours", "fullPeriod": 4, "schedule": None}
            if schedule_type == "Periodically"
            else None,
            "backupWindowOptions": None,
            "continuousScheduleEnabled": schedule_type == "Continuously",
            "chainingOptions": {"previousJobId": None, "previousJobName": None} if schedule_type == "Chained" else None,
        }

    def finish(self, jobs: list[Json]) -> None:
        """Every kind and every status at least once, so each mapping branch has data; chained jobs
        point at a backup job of the same company."""
        untouched = list(range(len(jobs)))
        self.rng.shuffle(untouched)
        for kind, _, _ in _JOB_KINDS:
            if untouched and not any(job["type"] == kind for job in jobs):
                job = jobs[untouched.pop()]
                job["type"] = kind
                self.session(job, job["status"])
        for status, _ in _JOB_STATUSES:
            if untouched and not any(job["status"] == status for job in jobs):
                self.session(jobs[untouched.pop()], status)
        if untouched and not any(self.is_stale(job) for job in jobs):
            self.session(jobs[untouched.pop()], "Success", stale=True)
        backups: dict[str, list[Json]] = {}
        for job in jobs:
            if job["type"] == "BackupVm":
                backups.setdefault(job["mappedOrganizationUid"], []).append(job)
        for job in jobs:
            if job["scheduleType"] == "Chained":
                candidates = backups.get(job["mappedOrganizationUid"])
                if candidates:
                    previous = self.rng.choice(candidates)
                    job["schedule"]["chainingOptions"] = {
                        "previousJobId": previous["instanceUid"],
                        "previousJobName": previous["name"],
                    }
                else:
                    job["scheduleType"], job["schedule"] = "NotScheduled", None
            del job["_info"], job["_number"]

    def is_stale(self, job: Json) -> bool:
        return bool(job["lastEndTime"]) and (parse_ticks(job["lastRun"]) or 0) < self.now - 3 * 86400 * TICKS

    def agent_job(self, info: Json, number: int) -> Json:
        rng = self.rng
        policy_uid, policy, mode, backup_mode, system = rng.choice(self.policies)
        computer = f"{info['code']}-{'SRV' if mode == 'Server' else 'LT'}{rng.randint(1, 40):03d}"
        managed_by_policy = rng.random() < 0.7
        job: Json = {
            "instanceUid": self.uid(),
            "originalUid": self.uid(),
            "backupAgentUid": self.uid(),
            "organizationUid": info["uid"],
            "name": f"{policy}_{computer}" if managed_by_policy else f"Agent backup {number + 1} - {computer}",
            "configUid": self.uid(),
            "systemType": system,
            "backupPolicyUid": policy_uid if managed_by_policy else None,
            "backupPolicyName": policy if managed_by_policy else None,
            "backupPolicyAssignStatus": "Assigned" if managed_by_policy else None,
            "backupPolicyFailureMessage": None,
            "status": None,
            "operationMode": mode,
            "destination": rng.choice(["Summit Cloud Repository", "\\\\nas01\\backups", "D:\\Backups\\"]),
            "restorePoints": None,
            "lastRun": None,
            "lastEndTime": None,
            "lastDuration": None,
            "nextRun": self.time(self.now + int(rng.uniform(600, 86400)) * TICKS),
            "avgDuration": None,
            "backupMode": backup_mode,
            "targetType": rng.choice(["CloudRepository", "SharedFolder", "LocalFolder", "BackupRepository"]),
            "isEnabled": True,
            "scheduleType": "Daily",
            "scheduleDisplayName": f"Daily at {rng.choice(['12:30', '18:00', '21:00', '23:30'])}",
            "lastModifiedDate": self.time(self.ago(5 * 86400, 200 * 86400)),
            "lastModifiedBy": "SUMMIT\\vectis-svc" if rng.random() < 0.2 else "SUMMIT\\Administrator",
            "failureMessage": None,
            "backedUpSize": None,
            "freeSpace": None,
        }
        self.agent_session(job, _weighted(rng, _AGENT_STATUSES))
        return job

    def agent_session(self, job: Json, status: str, stale: bool | None = None) -> None:
        rng = self.rng
        start, end, duration = self.last_run(status, stale, 5400)
        job |= {
            "status": status,
            "restorePoints": None if start is None else rng.randint(1, 30),
            "lastRun": None if start is None else self.time(start),
            "lastEndTime": None if end is None else self.time(end),
            "lastDuration": duration,
            "avgDuration": None if duration is None else int(duration * rng.uniform(0.8, 1.2)),
            "failureMessage": rng.choice(_FAILURES[status]) if status in _FAILURES else None,
            "backedUpSize": None if start is None else rng.randrange(1, 900) * 2**30,
            "freeSpace": None if start is None else rng.randrange(20, 2000) * 2**30,
        }

    def finish_agents(self, jobs: list[Json]) -> None:
        untouched = list(range(len(jobs)))
        self.rng.shuffle(untouched)
        for status, _ in _AGENT_STATUSES:
            if untouched and not any(job["status"] == status for job in jobs):
                self.agent_session(jobs[untouched.pop()], status)
        if untouched and not any(self.is_stale(job) for job in jobs):
            self.agent_session(jobs[untouched.pop()], "Success", stale=True)

    def alarm(self, state: VspcState, by_uid: dict[str, Json], templates: dict[str, str]) -> tuple[Json, list[Json]]:
        rng = self.rng
        kind = rng.choices(["BackupServerJob", "BackupAgent", "Company"], weights=[60, 25, 15])[0]
        if kind == "BackupAgent" and not state.agent_jobs:
            kind = "BackupServerJob"
        if kind == "BackupServerJob" and not state.server_jobs:
            kind = "Company"
        status = _weighted(rng, _ALARM_STATUSES)
        if kind == "BackupServerJob":
            job = rng.choice(state.server_jobs)
            company = by_uid[job["mappedOrganizationUid"]]
            status = {"Failed": "Error", "Warning": "Warning", "Success": "Resolved"}.get(job["status"], status)
            obj = {
                "instanceUid": job["backupServerUid"],
                "type": "BackupServerJob",
                "organizationUid": company["uid"],
                "locationUid": job["locationUid"],
                "managementAgentUid": company["agent_uid"],
                "computerName": f"{company['code']}-VBR01",
                "objectUid": job["instanceUid"],
                "objectName": job["name"],
            }
            template = templates["BackupServerJob"]
            subject = f'Job session for "{job["name"]}"'
        elif kind == "BackupAgent":
            job = rng.choice(state.agent_jobs)
            company = by_uid[job["organizationUid"]]
            obj = {
                "instanceUid": job["backupAgentUid"],
                "type": "BackupAgent",
                "organizationUid": company["uid"],
                "locationUid": company["location"],
                "managementAgentUid": company["agent_uid"],
                "computerName": job["name"].rsplit("_", 1)[-1].rsplit(" - ", 1)[-1],
                "objectUid": job["instanceUid"],
                "objectName": job["name"],
            }
            template = templates["BackupAgent"]
            subject = f'Job session for "{job["name"]}"'
        else:
            company = by_uid[rng.choice(state.companies)["instanceUid"]]
            obj = {
                "instanceUid": company["uid"],
                "type": "Company",
                "organizationUid": company["uid"],
                "locationUid": None,
                "managementAgentUid": None,
                "computerName": "SUMMIT-VSPC01",
                "objectUid": company["uid"],
                "objectName": company["name"],
            }
            template = templates["Company"]
            subject = f'Cloud repository quota of company "{company["name"]}"'
        repeat = rng.choices([1, 2, 3, 4, 5], weights=[40, 25, 15, 10, 10])[0]
        last = self.ago(300, 20 * 86400 - 300)  # activations spread over the last 20 days
        earliest = self.now - 20 * 86400 * TICKS
        times = sorted([last] + [rng.randint(earliest, last - 1) for _ in range(repeat - 1)])
        history = []
        for index, moment in enumerate(times):
            this = status if index == len(times) - 1 else rng.choice(["Error", "Warning", "Resolved"])
            history.append(
                {
                    "instanceUid": self.uid(),
                    "time": self.time(moment),
                    "status": this,
                    "message": self.alarm_message(kind, subject, this),
                    "remark": "Looking into it.\n" if this == "Acknowledged" else "\n",
                }
            )
        alarm = {
            "instanceUid": self.uid(),
            "alarmTemplateUid": template,
            "repeatCount": repeat,
            "object": obj,
            "lastActivation": dict(history[-1]),
            "area": "vspc",
        }
        return alarm, history

    @staticmethod
    def alarm_message(kind: str, subject: str, status: str) -> str:
        if kind == "Company":
            usage = {"Error": 100, "Warning": 90, "Resolved": 70, "Acknowledged": 100, "Info": 80}[status]
            return f"{subject} has reached {usage}% usage.\n"
        outcome = {
            "Error": "error",
            "Warning": "warning",
            "Resolved": "success",
            "Acknowledged": "error",
            "Info": "success",
        }[status]
        return f"{subject} finished with {outcome}.\n"

    def activity(self, infos: list[Json], provider_uid: str) -> Json:
        rng = self.rng
        kind, activity_kind, template, _ = rng.choices(_ACTIVITY, weights=[a[3] for a in _ACTIVITY])[0]
        company = rng.choice(infos)
        provider_side = kind in ("LicenseUpdated",) or rng.random() < 0.3
        user_uid = (
            None if activity_kind == "Internal" else (self.vspc_user_uid if provider_side else company["users"][0])
        )
        message = template.format(
            user="vectis-svc" if provider_side else company["login"],
            ip=f"203.0.113.{rng.randint(2, 250)}",
            company=company["name"],
            policy=rng.choice(_AGENT_POLICIES)[0],
            login=f"{company['login'][:-6]}.tech",
            computer=f"{company['code']}-SRV{rng.randint(1, 40):03d}",
        )
        return {
            "message": message,
            "activityLogType": kind,
            "activityKind": activity_kind,
            "date": self.time(self.ago(30, 20 * 86400)),
            "userUid": user_uid,
            "organizationUid": provider_uid if kind == "LicenseUpdated" else company["uid"],
        }


# --- query parameters: paging, filter, sort, select ----------------------------------------------------


class ApiError(Exception):
    """A Veeam error body: ``{"errors":[{"message","type","code"[, parameterName]}]}``."""

    def __init__(
        self, status: int, message: str, *, kind: str = "logical", code: int | None = None, parameter: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: Json = {"message": message, "type": kind, "code": code if code is not None else status}
        if parameter:
            self.body["parameterName"] = parameter


_COLLATIONS = {"ordinal", "ignorecase", "lexicographic", None}


def _json_param(name: str) -> list[Any]:
    raw = request.args.get(name)
    if raw is None or raw.strip() == "":
        return []
    try:
        value = json.loads(raw)
    except ValueError:
        raise ApiError(400, f"Parameter {name} is not a valid JSON array.", parameter=name) from None
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ApiError(400, f"Parameter {name} must be a JSON array of objects.", parameter=name)
    return value


def _int_param(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"The value '{raw}' is not valid for {name}.", parameter=name) from None
    if value < low:
        raise ApiError(400, f"Property value must be larger or equal to {low}.", parameter=name)
    if value > high:
        raise ApiError(400, f"Property value must be less or equal to {high}.", parameter=name)
    return value


def _lookup(row: Json, path: str) -> Any:
    value: Any = row
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _natural(text: str) -> tuple[tuple[int, Any], ...]:
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part.casefold()) for part in re.split(r"(\d+)", text) if part
    )


def _normal(value: Any, collation: str | None) -> Any:
    """What a value compares as: dates as ticks, strings per collation, the rest as they are."""
    if isinstance(value, str):
        ticks = parse_ticks(value)
        if ticks is not None:
            return ticks
        if collation == "ignorecase":
            return value.casefold()
        if collation == "lexicographic":
            return _natural(value)
    return value


def _equal(left: Any, right: Any, collation: str | None) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right or (isinstance(right, str) and str(left).lower() == right.lower())
    return bool(_normal(left, collation) == _normal(right, collation))


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "lessThan": lambda a, b: bool(a < b),
    "lessThanOrEqual": lambda a, b: bool(a <= b),
    "greaterThan": lambda a, b: bool(a > b),
    "greaterThanOrEqual": lambda a, b: bool(a >= b),
}


def _ordered(left: Any, right: Any, collation: str | None, operation: str) -> bool:
    if left is None or right is None:
        return False
    try:
        return _ORDER[operation](_normal(left, collation), _normal(right, collation))
    except TypeError:
        raise ApiError(400, f"The value {right!r} cannot be compared with this property.", parameter="filter") from None


def _contains(value: Any, wanted: Any, collation: str | None) -> bool:
    if isinstance(value, list):
        return any(_equal(element, wanted, collation) for element in value)
    if isinstance(value, str) and isinstance(wanted, str):
        if collation in ("ignorecase", "lexicographic"):
            return wanted.casefold() in value.casefold()
        return wanted in value
    return False


def _subset(value: Any, wanted: Any, collation: str | None, *, reverse: bool = False) -> bool:
    have = value if isinstance(value, list) else [] if value is None else [value]
    inner, outer = (wanted, have) if reverse else (have, wanted)
    return all(any(_equal(x, y, collation) for y in outer) for x in inner)


_GROUPS: dict[str, Callable[[list[bool]], bool]] = {
    "and": all,
    "or": any,
    "exclusiveOr": lambda results: results.count(True) == 1,
    "not": lambda results: not all(results),  # Veeam: "do not match all filter expressions"
}
_OPERATIONS: dict[str, Callable[[Any, Any, str | None], bool]] = {
    "equals": _equal,
    "notEquals": lambda value, wanted, collation: not _equal(value, wanted, collation),
    "in": lambda value, wanted, collation: any(_equal(value, option, collation) for option in wanted),
    "contains": _contains,
    "subset": _subset,
    "superset": lambda value, wanted, collation: _subset(value, wanted, collation, reverse=True),
    "lessThan": lambda value, wanted, collation: _ordered(value, wanted, collation, "lessThan"),
    "lessThanOrEqual": lambda value, wanted, collation: _ordered(value, wanted, collation, "lessThanOrEqual"),
    "greaterThan": lambda value, wanted, collation: _ordered(value, wanted, collation, "greaterThan"),
    "greaterThanOrEqual": lambda value, wanted, collation: _ordered(value, wanted, collation, "greaterThanOrEqual"),
}


class _Query:
    """Veeam's ``filter``/``sort``/``select`` over one collection, with properties checked against the
    fields that exist (case-insensitively, as the .NET server binds them)."""

    def __init__(self, known: dict[str, str]) -> None:
        self.known = known

    def path(self, prop: Any, parameter: str) -> str:
        if not isinstance(prop, str) or not prop:
            raise ApiError(400, "Property name is required.", parameter=parameter)
        if not self.known:
            return prop
        found = self.known.get(prop.lower())
        if found is None:
            raise ApiError(400, f"Property '{prop}' does not exist.", parameter=parameter)
        return found

    def check(self, expression: Json) -> None:
        operation = expression.get("operation")
        if operation in _GROUPS:
            items = expression.get("items")
            if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
                raise ApiError(400, f"Operation '{operation}' needs a list of items.", parameter="filter")
            for item in items:
                self.check(item)
            return
        if operation not in _OPERATIONS:
            raise ApiError(400, f"Operation '{operation}' is not supported.", parameter="filter")
        if expression.get("collation") not in _COLLATIONS:
            raise ApiError(400, f"Collation '{expression.get('collation')}' is not supported.", parameter="filter")
        expression["property"] = self.path(expression.get("property"), "filter")
        if operation in ("in", "subset", "superset") and not isinstance(expression.get("value"), list):
            raise ApiError(400, f"Operation '{operation}' needs an array value.", parameter="filter")

    def matches(self, row: Json, expression: Json) -> bool:
        operation = expression["operation"]
        if operation in _GROUPS:
            return _GROUPS[operation]([self.matches(row, item) for item in expression["items"]])
        value = _lookup(row, expression["property"])
        return _OPERATIONS[operation](value, expression.get("value"), expression.get("collation"))

    def filter(self, rows: list[Json], expressions: list[Json]) -> list[Json]:
        for expression in expressions:
            self.check(expression)
        if not expressions:
            return rows
        return [row for row in rows if all(self.matches(row, e) for e in expressions)]

    def sort(self, rows: list[Json], expressions: list[Json]) -> list[Json]:
        # instanceUid first, then each key from the last to the first: Python's sort is stable, so the
        # result is ordered by the keys with instanceUid breaking ties, and offset paging stays exact.
        rows = sorted(rows, key=lambda row: str(row.get("instanceUid") or ""))
        for expression in reversed(expressions):
            path = self.path(expression.get("property"), "sort")
            direction = expression.get("direction", "ascending")
            if direction not in ("ascending", "descending"):
                raise ApiError(400, f"Sort direction '{direction}' is not supported.", parameter="sort")
            collation = expression.get("collation")
            if collation not in _COLLATIONS:
                raise ApiError(400, f"Collation '{collation}' is not supported.", parameter="sort")
            rows.sort(key=lambda row: _sort_key(_lookup(row, path), collation), reverse=direction == "descending")
        return rows

    def select(self, rows: list[Json], expressions: list[Json]) -> list[Json]:
        if not expressions:
            return rows
        paths = [self.path(e.get("propertyPath"), "select") for e in expressions]
        selected = []
        for row in rows:
            out: Json = {}
            for path in paths:
                target, parts = out, path.split(".")
                for part in parts[:-1]:
                    target = target.setdefault(part, {})
                target[parts[-1]] = _lookup(row, path)
            selected.append(out)
        return selected


def _sort_key(value: Any, collation: str | None) -> tuple[int, Any]:
    # Nulls first when ascending, as SQL Server (VSPC's database) orders them.
    if value is None:
        return (0, 0)
    if isinstance(value, bool | int | float):
        return (1, value)
    if isinstance(value, str):
        ticks = parse_ticks(value)
        if ticks is not None:
            return (2, ticks)
        return (3, _normal(value, collation))
    return (4, json.dumps(value, sort_keys=True))


# --- the app -------------------------------------------------------------------------------------------

api = Blueprint("vspc_api", __name__, url_prefix=API)
controls = Blueprint("vspc_sim", __name__, url_prefix="/_sim")  # never faulted, no auth: loopback tooling

_WRONG_HOST_PAGE = (
    "<!DOCTYPE html><html><head><title>404 Not Found</title></head>"
    "<body><h1>Not Found</h1><p>The requested URL was not found on this server.</p></body></html>"
)


def create_app(state: VspcState | None = None) -> Flask:
    """The simulator as a Flask app over ``state`` (a fresh ``VspcState.seeded()`` when omitted)."""
    app = Flask(__name__)
    app.extensions["vspc_state"] = state if state is not None else VspcState.seeded()
    app.register_blueprint(api)
    app.register_blueprint(controls)
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _server_error)
    return app


def _sim() -> VspcState:
    state: VspcState = current_app.extensions["vspc_state"]
    return state


def _in_api() -> bool:
    return request.path == API or request.path.startswith(API + "/")


def _json(body: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        status=status,
        content_type="application/json; charset=utf-8",
    )


def _errors(status: int, message: str, *, kind: str, code: int | None = None, **extra: Any) -> Response:
    return _json({"errors": [{"message": message, "type": kind, "code": code or status, **extra}]}, status)


def _oauth_error(error: str, description: str) -> Response:
    return _json({"error": error, "error_description": description, "error_uri": None}, 400)


def _api_error(error: ApiError) -> Response:
    return _json({"errors": [error.body]}, error.status)


def _http_error(error: HTTPException) -> Response | HTTPException:
    if not _in_api():
        return error
    status = error.code or 500
    message = "Requested resource does not exist." if status == 404 else (error.description or error.name)
    return _errors(status, message, kind="logical")


def _server_error(error: Exception) -> Response:
    current_app.logger.exception("VSPC simulator failed", exc_info=error)
    return _errors(520, "Unspecified cause of error.", kind="unspecified", code=500)  # Veeam: all >=500 as 520


@api.before_app_request
def _count() -> None:
    if _in_api():
        _sim().record(request.path)


@api.after_app_request
def _count_status(response: Response) -> Response:
    if _in_api():
        _sim().record_status(response.status_code)
    return response


@api.before_request
def _faults_then_auth() -> Response | None:
    sim = _sim()
    return _fault_response(sim) or (None if request.path == f"{API}/token" else _auth_response(sim))


def _fault_response(sim: VspcState) -> Response | None:
    faults = sim.faults
    if faults.wrong_host:
        return Response(_WRONG_HOST_PAGE, status=404, content_type="text/html; charset=utf-8")
    if sim.throttled():
        # No Retry-After header: Veeam documents retryAfter in the body only. One-second windows, so
        # the next period always begins within a second.
        return _errors(429, "Number of requests exceeds throttling limitations.", kind="transport", retryAfter=1)
    if faults.hang:
        time.sleep(faults.hang)
    if faults.latency:
        time.sleep(faults.latency)
    if sim.take_520():
        return _errors(520, "Unspecified cause of error.", kind="unspecified", code=500)
    return None


def _auth_response(sim: VspcState) -> Response | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and sim.authorized(token.strip()):
        return None
    response = _errors(401, "Authorization has been denied for this request.", kind="security")
    response.headers["WWW-Authenticate"] = "Bearer"
    return response


def _forbid() -> None:
    if _sim().faults.forbidden:
        raise ApiError(403, "Access to the requested resource is forbidden.", kind="security")


def _paging() -> tuple[int, int]:
    return _int_param("limit", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE), _int_param("offset", 0, 0, 2**31 - 1)


def _page(
    key: str, rows: Callable[[], list[Json]], *, known_rows: Callable[[], Iterable[Json]] | None = None
) -> Response:
    limit, offset = _paging()
    sim = _sim()
    filters, sorts, selects = _json_param("filter"), _json_param("sort"), _json_param("select")
    cache_key = (key, request.path, json.dumps([filters, sorts, sim.faults.to_json()], sort_keys=True))
    found = sim._pages.get(cache_key) if sim.cache_pages else None
    query = _Query(sim.known_paths(key, known_rows or rows))
    if found is None:
        found = query.sort(query.filter(rows(), filters), sorts)
        if sim.cache_pages:
            sim._pages[cache_key] = found
    return _envelope(len(found), offset, query.select(found[offset : offset + limit], selects))


def _envelope(total: int, offset: int, data: list[Json]) -> Response:
    paging = {"total": total, "count": len(data), "offset": offset}
    body = {"meta": {"pagingInfo": paging}, "data": data, "errors": None}
    response = _json(body)
    broken = _sim().faults.malformed_page
    if broken and request.path == API + broken.path and offset == broken.offset:
        text = response.get_data(as_text=True)
        response.set_data(text[: max(len(text) // 2, 1)])  # cut off mid-body: invalid JSON with status 200
    return response


def _single(data: Json) -> Response:
    return _json({"meta": None, "data": data, "errors": None})


def _expand_organization() -> bool:
    values: list[str] = []
    for raw in request.args.getlist("expand"):
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = raw
        if isinstance(parsed, list):
            values.extend(str(value) for value in parsed)
        else:
            values.extend(str(parsed).split(","))
    values = [v.strip() for v in values if v.strip()]
    for value in values:
        if value != "Organization":
            raise ApiError(400, f"The value '{value}' is not valid for expand.", parameter="expand")
    return bool(values)


def _check_uid(value: str, parameter: str) -> None:
    try:
        uuid.UUID(value)
    except ValueError:
        raise ApiError(400, f"The value '{value}' is not valid.", parameter=parameter) from None


def _password_grant(sim: VspcState) -> Response:
    username, password = request.form.get("username", ""), request.form.get("password", "")
    expected = sim.users.get(username)
    if sim.faults.wrong_credentials or expected is None or not secrets.compare_digest(expected, password):
        return _oauth_error("invalid_request", BAD_CREDENTIALS)
    return _json(sim.issue_tokens())


def _refresh_grant(sim: VspcState) -> Response:
    if not sim.use_refresh_token(request.form.get("refresh_token", "")):
        return _oauth_error("invalid_grant", "The refresh token is invalid or expired.")
    return _json(sim.issue_tokens())


_GRANTS: dict[str, Callable[[VspcState], Response]] = {"password": _password_grant, "refresh_token": _refresh_grant}


@api.post("/token")
def token() -> Response:
    grant = request.form.get("grant_type")
    if not grant:
        return _oauth_error("invalid_request", "The grant_type parameter is required.")
    handler = _GRANTS.get(grant)
    if handler is None:  # authorization_code, public_key, mfa and as exist in Veeam but not here
        return _oauth_error("unsupported_grant_type", f"The grant type '{grant}' is not supported.")
    return handler(_sim())


@api.get("/about")
def about() -> Response:
    sim = _sim()
    version = sim.faults.server_version
    return _single(
        {
            **sim.about,
            "actualVawVersion": "6.3.0.177",
            "actualValVersion": "6.3.0.10",
            "actualVamVersion": "2.1.0.229",
            "serverVersion": version,
            "windowsManagementAgentVersion": version,
            "linuxManagementAgentVersion": version,
            "macManagementAgentVersion": version,
        }
    )


@api.get("/organizations/companies")
def companies() -> Response:
    _forbid()
    expand = _expand_organization()
    return _page(f"companies:{expand}", lambda: _sim().company_views(expand))


@api.get("/organizations/companies/<company_uid>")
def company(company_uid: str) -> Response:
    _forbid()
    _check_uid(company_uid, "companyUid")
    for view in _sim().company_views(_expand_organization()):
        if view["instanceUid"] == company_uid.lower():
            return _single(view)
    raise ApiError(404, f"Company with UID {company_uid} does not exist.")


@api.get("/infrastructure/backupServers/jobs")
def server_jobs() -> Response:
    _forbid()
    sim = _sim()
    return _page("server_jobs", sim.server_job_views, known_rows=lambda: sim.server_jobs)


@api.get("/infrastructure/backupAgents/jobs")
def agent_jobs() -> Response:
    _forbid()
    sim = _sim()
    return _page("agent_jobs", sim.agent_job_views, known_rows=lambda: sim.agent_jobs)


@api.get("/alarms/active")
def alarms() -> Response:
    _forbid()
    return _page("alarms", lambda: _sim().alarms)


@api.get("/alarms/active/<alarm_uid>/history")
def alarm_history(alarm_uid: str) -> Response:
    _forbid()
    _check_uid(alarm_uid, "activeAlarmUid")
    sim = _sim()
    history = sim.alarm_history.get(alarm_uid.lower())
    if history is None:
        raise ApiError(404, f"Active alarm with UID {alarm_uid} does not exist.")
    return _page(
        "alarm_history",
        lambda: history,
        known_rows=lambda: (row for rows in sim.alarm_history.values() for row in rows),
    )


def _choice(name: str, allowed: tuple[str, ...], default: str | None = None) -> str | None:
    value = request.args.get(name, default)
    if value is not None and value not in allowed:
        raise ApiError(400, f"The value '{value}' is not valid.", parameter=name)
    return value


def _moment(name: str) -> int | None:
    raw = request.args.get(name)
    ticks = None if raw is None else parse_ticks(raw)
    if raw is not None and ticks is None:
        raise ApiError(400, f"The value '{raw}' is not a valid date-time.", parameter=name)
    return ticks


@api.get("/eventLogs/activityLogs")
def activity_logs() -> Response:
    """Veeam's spec gives this operation its own parameters and no ``filter``/``sort``."""
    _forbid()
    limit, offset = _paging()
    low, high = _moment("from"), _moment("to")
    kind = _choice("activityLogKind", ("Internal", "External"))
    direction = _choice("dateSortingDirection", ("ascending", "descending"), "descending")
    wanted = {
        field: value.lower()
        for field, value in (
            ("organizationUid", request.args.get("organizationUid")),
            ("userUid", request.args.get("userUid")),
        )
        if value
    }

    def keep(row: Json) -> bool:
        moment = parse_ticks(row["date"]) or 0
        return (
            (low is None or moment >= low)
            and (high is None or moment <= high)
            and (kind is None or row["activityKind"] == kind)
            and all((row[field] or "").lower() == value for field, value in wanted.items())
        )

    rows = [row for row in _sim().activity_logs if keep(row)]
    if direction == "descending":
        rows.reverse()
    return _envelope(len(rows), offset, rows[offset : offset + limit])


add_fault_controls(controls, _sim)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vectis.simulators.vspc", description="Veeam Service Provider Console REST API v3 simulator"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18080)
    parser.add_argument("--scale", choices=["demo", "bench"], default="demo")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--companies", type=int, default=500, help="with --scale bench")
    parser.add_argument("--jobs", type=int, default=5000, help="with --scale bench")
    parser.add_argument("--alarms", type=int, default=10000, help="with --scale bench")
    args = parser.parse_args(argv)

    state = (
        VspcState.seeded(seed=args.seed)
        if args.scale == "demo"
        else VspcState.at_scale(companies=args.companies, jobs=args.jobs, alarms=args.alarms, seed=args.seed)
    )
    state.cache_pages = args.scale == "bench"
    root = f"http://{args.host}:{args.port}"
    print(
        f"VSPC simulator (REST API {API_VERSION}, serverVersion {state.faults.server_version}) at {root}{API}\n"
        f"  username: {DEMO_USERNAME}   password: {DEMO_PASSWORD}\n"
        f"  API key:  {DEMO_API_KEY}\n"
        f"  {len(state.companies)} companies, {len(state.server_jobs)} backup server jobs, "
        f"{len(state.agent_jobs)} agent jobs, {len(state.alarms)} active alarms\n"
        f"  fault knobs: POST {root}/_sim/faults (JSON merge patch), POST {root}/_sim/reset, GET {root}/_sim/stats",
        flush=True,
    )
    run_simple(args.host, args.port, create_app(state), threaded=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
