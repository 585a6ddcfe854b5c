"""A faithful simulator of Keepit's REST API (the SaaS backup vendor), one process for every datacenter.

It is the other side of the Keepit connector and follows ``shared/vendor-apis.md`` section 2 (Keepit's API
help pages and Keepit's own MCP server): XML bodies, HTTP Basic on every request, response schemas chosen
with ``Accept: application/vnd.keepit.v<N>+xml``, account ids that are not UUIDs.

Hosts and regions
    Keepit runs one datacenter per region (``https://us-dc.keepit.com``). Here the region is the first path
    segment: ``https://us-dc.keepit.com/users/`` is ``http://127.0.0.1:<port>/us-dc/users/``. ``REGIONS``
    lists the known codes. The seeded accounts live in ``state.region`` (default ``us-dc``); another known
    region answers 401 (the login does not exist in that datacenter), an unknown one a plain-text 404
    (a host that is not Keepit).

Authentication
    ``Authorization: Basic base64(login:password)``, decoded from raw bytes (token logins contain
    ``%+,?!``; nothing is URL-decoded). Two pairs are valid, both on the parent account ``PARENT_GUID``:
    the master admin login (``DEMO_USERNAME``/``DEMO_PASSWORD``) and an API token
    (``DEMO_TOKEN_LOGIN``/``DEMO_TOKEN_PASSWORD``). Anything else: 401, plain text,
    ``WWW-Authenticate: Basic realm="Keepit"``.

Endpoints (under ``/<region>``; bodies ``application/xml``; errors plain text)
    ``GET /users/`` → ``<user><id/></user>`` (who am I).
    ``GET /users/{guid}`` → ``<user><id/><enabled/><created/><product/><parent/><subscribed/></user>``.
    ``GET /users/{guid}/users[?all=1&include_contact_details=1]`` → direct children, paged by ``limit``
    (default 100, max 500) and ``offset``, total in ``X-Total-Count``; v0 ``<users><id/>…``, v1/v2
    ``<users><user><id/><created/><parent_id/><email/><full_name/><company_name/></user>…``, v3+
    ``<users><user><id/><created/><parent_id/>[<contact><email/><companyname/><fullname/><phone/>
    <vatnumber/><country/><state/></contact>]</user>…`` (contact only with ``include_contact_details=1``).
    ``GET /users/{guid}/devices`` → ``<devices><cloud><guid/><name/><type/>[<agent-type/>]<created/>
    <accessible/><orglink/><backup-retention/><backup-retention-updated/></cloud>…</devices>``.
    ``GET /users/{guid}/devices/{dev}/health[?reason=true]`` → ``<devhealth><health/>[<reason/>]</devhealth>``.
    ``GET /users/{guid}/devices/{dev}/history/latest`` → ``<history><backup><tstamp/><root/><type/><size/>
    <account/></backup></history>``, or ``<history/>`` for a connector never backed up.
    ``GET …/jobs`` (header ``active-jobs-only: true|false``) and ``PUT …/jobs`` with a ``<filter>`` body
    (``from-time``, ``to-time``, ``type``, ``types/type``, ``limit``, ``reverse``, ``active-only``,
    ``failed-only``) → ``<jobs><job><guid/><description/><type/><priority/><active/><start/><scheduled/>
    [<dispatched/><started/>(<succeeded/>|<failed/>|<cancelled/>)]</job>…</jobs>``, oldest first
    (``reverse``: newest first). The outcome is only in which timestamp is set.
    ``PUT /audit/filter/pretty?limit=N&offset=M`` (limit default 100, max 500) with
    ``<filter><account/><from/><to/>[<recursive>true</recursive>]</filter>`` →
    ``<audit><record><time/><account/><company/>[<device/>]<area/><action/><method/><message/><acl/>
    <allowed/><succeeded/><client-ip/><token/>[<metadata><parameter><key/><value/></parameter>…</metadata>]
    </record>…</audit>``, oldest first, both bounds inclusive, header ``next-offset`` while more remain.
    A GUID that is neither the caller's account nor below it answers 403 ``Access denied``; an unknown
    path 404, a known path with another method 405, a bad query or body 400 (all plain text).

Data
    ``KeepitState.seeded()`` is a small MSP ("Summit MSP", ten child accounts: seven of the VSPC
    simulator's companies spelt the way another tool would, plus an internal account, a NOC test tenant and
    a customer no other tool knows) with 2-5 connectors each, three days of jobs and twenty days of audit
    records; ``KeepitState.at_scale()`` a large one for benchmarks. Both are deterministic for a given
    ``seed`` and ``now``. Health is judged against ``state.now`` (the data's own clock) with Keepit's rule:
    unhealthy without a successful or active backup in 24 h, critical after 48 h, critical on
    ``BADLOGIN``/``BADTOKEN``. Times are UTC, ``2025-03-14T09:30:12Z``.

Fault knobs
    All knobs live in one ``Faults`` dataclass at ``state.faults``, read on every request: set one from
    Python (``state.faults.errors_5xx = 2``) or over HTTP (``POST /_sim/faults`` with a JSON merge patch,
    RFC 7386; ``null`` puts a knob back to its default). ``POST /_sim/reset`` restores every knob and
    clears the counters; ``GET /_sim/stats`` counts requests per path pattern, per status and per login
    sent (decoded from the Basic header, ``(none)`` without one). Knobs: ``wrong_credentials`` (every
    login fails), ``token_without_audit`` (token logins get 403 on the audit endpoint only),
    ``unknown_region`` (404 everywhere, as a host that does not exist), ``rate_limit_per_second`` (429 with
    ``Retry-After: 1``), ``errors_5xx`` (the next N requests answer 503), ``latency`` and ``hang``
    (seconds), ``malformed_xml`` (``{"path": "/audit/filter/pretty", "offset": 500}`` or without
    ``offset`` for every page: the body cut in half with status 200; the path is the one after the region),
    ``rename_account`` ({guid: company name}), ``remove_connector`` ([device guids]) and
    ``stale_connector`` ([device guids]: latest snapshot and last successful job three days old, health
    critical/NOCHECKIN). ``/_sim/*`` itself is never faulted.

Run it: ``python -m vectis.simulators.keepit --host 127.0.0.1 --port 18081 [--scale demo|bench]``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import random
import re
import secrets
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request
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
from vectis.simulators.vspc import VspcState

Json = dict[str, Any]

REGIONS: dict[str, str] = {
    "ws": "Denmark",
    "dk-co": "Denmark (Copenhagen)",
    "de-fr": "Germany (Frankfurt)",
    "ch-zh": "Switzerland (Zurich)",
    "uk-ld": "United Kingdom (London)",
    "us-dc": "USA",
    "ca-tr": "Canada (Toronto)",
    "au-sy": "Australia (Sydney)",
}
DEFAULT_REGION = "us-dc"
PARENT_GUID = "y17hbi-i620pk-80q5x2"  # the example in Vectis' own Keepit guide
PARENT_COMPANY = "Summit MSP"
DEMO_USERNAME = "admin@summit-msp.example"
DEMO_PASSWORD = "keepit-demo-password"  # noqa: S105 - the simulator's published demo credential
DEMO_TOKEN_LOGIN = "k7Q%x2+Lmv,9Tz?Rb!4wEp"  # noqa: S105 - token logins carry %, +, ',', ? and !
DEMO_TOKEN_PASSWORD = "Zp8!vQ2m+Ks%Lt7,Wx?e3Rb"  # noqa: S105
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 500
XML = "application/xml"
REALM = 'Basic realm="Keepit"'
AUTH_FAILURE_REASONS = ("BADLOGIN", "BADTOKEN")
DEVICE_TYPES: dict[str, str] = {  # type -> the product's label in job descriptions
    "o365-admin": "Microsoft 365",
    "azure-ad": "Entra ID",
    "gsuite": "Google Workspace",
    "sforce": "Salesforce",
    "dynamics365": "Dynamics 365",
    "powerbi": "Power BI",
    "zendesk": "Zendesk",
    "azure-do": "Azure DevOps",
    "dsl": "",  # generic: the product is in agent-type
}
DSL_AGENTS: dict[str, str] = {"okta": "Okta", "jira": "Jira", "confluence": "Confluence", "miro": "Miro"}
_GUID_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


# --- time ----------------------------------------------------------------------------------------------


def iso(moment: datetime) -> str:
    """``2025-03-14T09:30:12Z``: UTC, whole seconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime | None:
    """An ISO 8601 date or date-time (no offset means UTC), else None."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# --- faults --------------------------------------------------------------------------------------------


@dataclass
class MalformedXml:
    """Responses on ``path`` (after the region, e.g. ``/audit/filter/pretty``) answer 200 with the XML cut
    in half: only the page at ``offset`` when it is set, every response otherwise."""

    path: str
    offset: int | None = None


def _is_malformed_xml(value: Any) -> bool:
    if isinstance(value, MalformedXml):
        return True
    if not isinstance(value, dict) or not isinstance(value.get("path"), str) or set(value) - {"path", "offset"}:
        return False
    offset = value.get("offset")
    return offset is None or is_count(offset)


def _to_malformed_xml(value: Any) -> MalformedXml:
    if isinstance(value, MalformedXml):
        return value
    return MalformedXml("/" + value["path"].lstrip("/"), value.get("offset"))


def _is_guid_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


_KNOB_RULES: dict[str, Rule] = {
    "wrong_credentials": BOOL,
    "token_without_audit": BOOL,
    "unknown_region": BOOL,
    "rate_limit_per_second": COUNT,
    "errors_5xx": COUNT,
    "latency": SECONDS,
    "hang": SECONDS,
    "malformed_xml": (
        _is_malformed_xml,
        'an object like {"path": "/audit/filter/pretty", "offset": 500} (offset optional)',
        _to_malformed_xml,
    ),
    "rename_account": (
        lambda v: isinstance(v, dict) and all(isinstance(k, str) and isinstance(n, str) for k, n in v.items()),
        "an object of account guid to new company name",
        dict,
    ),
    "remove_connector": (_is_guid_list, "a list of device guids", list),
    "stale_connector": (_is_guid_list, "a list of device guids", list),
}


@dataclass
class Faults(FaultKnobs):
    wrong_credentials: bool = False  # every login fails (401)
    token_without_audit: bool = False  # token logins get 403 on the audit endpoint only (no AuditFilter ACL)
    unknown_region: bool = False  # plain 404 on everything, as if the host did not exist
    rate_limit_per_second: int = 0  # 0: no throttling; over it: 429 with Retry-After: 1
    errors_5xx: int = 0  # the next N requests answer 503
    latency: float = 0.0  # seconds added to every request
    hang: float = 0.0  # seconds to sleep before answering, to trip client timeouts
    malformed_xml: MalformedXml | None = None
    rename_account: dict[str, str] = field(default_factory=dict)  # account guid -> new company name
    remove_connector: list[str] = field(default_factory=list)  # device guids gone from the account
    stale_connector: list[str] = field(default_factory=list)  # device guids last backed up three days ago

    RULES = _KNOB_RULES


# --- state ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Credential:
    """A Basic login: the master admin's own (``user``) or an API token's (``token``)."""

    password: str
    account: str
    kind: str  # "user" | "token"


def _demo_credentials() -> dict[str, Credential]:
    return {
        DEMO_USERNAME: Credential(DEMO_PASSWORD, PARENT_GUID, "user"),
        DEMO_TOKEN_LOGIN: Credential(DEMO_TOKEN_PASSWORD, PARENT_GUID, "token"),
    }


@dataclass
class KeepitState:
    """Seeded data, credentials, fault knobs and the runtime bookkeeping of one simulated Keepit."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))
    region: str = DEFAULT_REGION
    # account guid -> {id, parent_id, created, enabled, product, subscribed, email, fullname, companyname,
    # phone, vatnumber, country, state}; the parent first, children in creation order
    accounts: dict[str, Json] = field(default_factory=dict)
    devices: dict[str, list[Json]] = field(default_factory=dict)  # account guid -> devices (cloud kind)
    snapshots: dict[str, Json] = field(default_factory=dict)  # device guid -> latest snapshot (absent: never)
    jobs: dict[str, list[Json]] = field(default_factory=dict)  # device guid -> jobs, oldest first
    problems: dict[str, str] = field(default_factory=dict)  # device guid -> BADLOGIN | BADTOKEN | QUOTAVIOLATED
    audit: list[Json] = field(default_factory=list)  # oldest first
    credentials: dict[str, Credential] = field(default_factory=_demo_credentials)
    faults: Faults = field(default_factory=Faults)

    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)
    _paths: Counter[str] = field(default_factory=Counter, init=False, repr=False, compare=False)
    _statuses: Counter[str] = field(default_factory=Counter, init=False, repr=False, compare=False)
    _logins: Counter[str] = field(default_factory=Counter, init=False, repr=False, compare=False)
    _window: list[int] = field(default_factory=lambda: [-1, 0], init=False, repr=False, compare=False)

    # -- construction

    @classmethod
    def seeded(cls, seed: int = 1, now: datetime | None = None) -> KeepitState:
        """A small MSP: seven of the VSPC simulator's companies (spelt differently), three accounts no other
        tool has, 2-5 connectors each (one unhealthy, one critical on BADLOGIN, one never backed up) and
        twenty days of audit records."""

        generator = _Generator(seed, now)
        vspc = [c["name"] for c in VspcState.seeded(seed=seed, now=generator.now).companies][:7]
        names = [*generator.respell(vspc), "Summit MSP Internal IT", "NOC Test Tenant", "Bellweather Dental Group"]
        connectors = [generator.rng.randint(2, 5) for _ in names]
        scenarios = {(1, 1): "unhealthy", (3, 0): "badlogin", (5, connectors[5] - 1): "never"}
        return generator.build(names, connectors, scenarios, audit_records=420, audit_days=20)

    @classmethod
    def at_scale(
        cls,
        accounts: int = 300,
        connectors_per_account: int = 4,
        audit_records: int = 20000,
        seed: int = 1,
        now: datetime | None = None,
    ) -> KeepitState:
        """A large MSP for benchmarks: generated names, a few percent of connectors in each failure state,
        ``audit_records`` records over the last 14 days."""
        generator = _Generator(seed, now)
        names = generator.names(accounts)
        connectors = [connectors_per_account] * accounts
        scenarios: dict[tuple[int, int], str] = {}
        kinds = ["unhealthy", "badlogin", "badtoken", "never", "quota", "critical"]
        for index in range(accounts):
            if connectors_per_account and index % 7 == 3:
                scenarios[(index, generator.rng.randrange(connectors_per_account))] = kinds[(index // 7) % len(kinds)]
        return generator.build(names, connectors, scenarios, audit_records=audit_records, audit_days=14)

    # -- knobs

    def rename_account(self, guid: str, name: str) -> None:
        self.faults.rename_account[guid] = name

    def remove_connector(self, guid: str) -> None:
        if guid not in self.faults.remove_connector:
            self.faults.remove_connector.append(guid)

    def stale_connector(self, guid: str) -> None:
        if guid not in self.faults.stale_connector:
            self.faults.stale_connector.append(guid)

    def merge_faults(self, patch: Mapping[str, Any]) -> Faults:
        with self._lock:
            self.faults = Faults.from_json(json_merge_patch(self.faults.to_json(), dict(patch)))
            return self.faults

    def reset(self) -> None:
        """Every knob back to its default and the counters cleared; the data stays."""
        with self._lock:
            self.faults = Faults()
            self._paths.clear()
            self._statuses.clear()
            self._logins.clear()
            self._window[:] = [-1, 0]

    def stats(self) -> Json:
        with self._lock:
            return {
                "total": sum(self._paths.values()),
                "paths": dict(self._paths),
                "statuses": dict(self._statuses),
                "logins": dict(self._logins),
            }

    # -- runtime

    def record(self, pattern: str, status: int, login: str) -> None:
        with self._lock:
            self._paths[pattern] += 1
            self._statuses[str(status)] += 1
            self._logins[login] += 1

    def throttled(self) -> bool:
        """A fixed one-second window."""
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

    def take_5xx(self) -> bool:
        with self._lock:
            if self.faults.errors_5xx > 0:
                self.faults.errors_5xx -= 1
                return True
            return False

    def authenticate(self, login: str, password: str) -> Credential | None:
        credential = self.credentials.get(login)
        if credential is None or self.faults.wrong_credentials:
            return None
        if not secrets.compare_digest(credential.password.encode(), password.encode()):
            return None
        return credential

    # -- hierarchy

    @property
    def parent(self) -> Json:
        return self.accounts[PARENT_GUID]

    def children_of(self, guid: str) -> list[Json]:
        return [account for account in self.accounts.values() if account["parent_id"] == guid]

    def subtree(self, guid: str) -> list[str]:
        """``guid`` and every account below it, depth first."""
        found = [guid]
        for child in self.children_of(guid):
            found += self.subtree(child["id"])
        return found

    def can_see(self, caller: str, guid: str) -> bool:
        while guid in self.accounts:
            if guid == caller:
                return True
            guid = self.accounts[guid]["parent_id"] or ""
        return False

    # -- views (knobs applied)

    def company(self, guid: str) -> str:
        name: str = self.faults.rename_account.get(guid) or self.accounts[guid]["companyname"]
        return name

    def device_views(self, account: str) -> list[Json]:
        removed = set(self.faults.remove_connector)
        return [device for device in self.devices.get(account, []) if device["guid"] not in removed]

    def device(self, account: str, guid: str) -> Json | None:
        return next((device for device in self.device_views(account) if device["guid"] == guid), None)

    def job_views(self, device: str) -> list[Json]:
        jobs = self.jobs.get(device, [])
        if device not in self.faults.stale_connector:
            return jobs
        done = [job for job in jobs if not job["active"]]
        last = max((job["succeeded"] for job in done if job["succeeded"] and job["type"] == "backup"), default=None)
        if last is None:
            return done
        delta = last - (self.now - timedelta(days=3))
        return [
            {key: value - delta if isinstance(value, datetime) else value for key, value in job.items()} for job in done
        ]

    def latest_snapshot(self, device: str) -> Json | None:
        snapshot = self.snapshots.get(device)
        if snapshot is not None and device in self.faults.stale_connector:
            snapshot = {**snapshot, "tstamp": self.now - timedelta(days=3)}
        return snapshot

    def health(self, device: str) -> tuple[str, str]:
        """Keepit's rule: unhealthy without a successful or active backup in 24 h, critical after 48 h,
        critical on an authentication failure."""
        problem = self.problems.get(device)
        if problem in AUTH_FAILURE_REASONS:
            return "critical", problem
        backups = [job for job in self.job_views(device) if job["type"] == "backup"]
        snapshot = self.latest_snapshot(device)
        successes = [job["succeeded"] for job in backups if job["succeeded"]]
        if snapshot is not None:
            successes.append(snapshot["tstamp"])
        last = max(successes, default=None)
        if any(job["active"] for job in backups) or (last is not None and self.now - last <= timedelta(hours=24)):
            return ("unhealthy", problem) if problem else ("healthy", "OK")
        reason = "NOCHECKIN" if last is not None else "CLOUDNOCHECKIN"
        if last is not None and self.now - last <= timedelta(hours=48):
            return "unhealthy", reason
        return "critical", reason


# --- seeded data ---------------------------------------------------------------------------------------

_FIRST = ["Alex", "Sam", "Jordan", "Priya", "Morgan", "Chris", "Dana", "Elena", "Tom", "Fatima", "Grace", "Luis"]
_LAST = ["Hughes", "Patel", "Okafor", "Jensen", "Moreau", "Kowalski", "Brennan", "Lindqvist", "Nakamura", "Reyes"]
_PLACES = [
    ("USA", "VA", "", "+1 703 555 0"),
    ("USA", "CA", "", "+1 916 555 0"),
    ("USA", "NY", "", "+1 212 555 0"),
    ("Canada", "ON", "", "+1 416 555 0"),
    ("United Kingdom", "", "GB", "+44 117 496 0"),
    ("Ireland", "", "IE", "+353 1 555 0"),
]
_SCALE_PLACES = [
    "Ashford", "Birchwood", "Cedar", "Dover", "Elm", "Fairview", "Glen", "Hazel", "Iris", "Jasper", "Kent", "Linden",
    "Maple", "Norton", "Oak", "Pine", "Quarry", "Rowan", "Summit", "Tamar", "Union", "Valley", "Willow", "York",
]  # fmt: skip
_SCALE_TRADES = [
    "Dental", "Legal", "Logistics", "Motors", "Pharmacy", "Builders", "Accountants", "Clinic", "Realty", "Studios",
    "Engineering", "Foods", "Outfitters", "Insurance", "Academy", "Veterinary", "Printing", "Consulting",
]  # fmt: skip
_SCALE_SUFFIXES = ["", "", " Inc.", " LLC", " Ltd", " Group", " Co."]
# How another tool spells a company (each keeps vectis.sync.normalize_name equal): the first applies to
# names with "&", the rest are dealt out in turn.
_RESPELLINGS: list[Callable[[str], str]] = [
    lambda name: name.replace(" & ", " and ").rstrip("."),
    lambda name: name.upper(),
    lambda name: f"{name} Ltd",
    lambda name: name.lower(),
    lambda name: f"{name}, Inc.",
    lambda name: f"The {name}",
    lambda name: " ".join([name.split()[0], *(word.lower() for word in name.split()[1:])]),
    lambda name: f"{name} Limited",
]
_DEFAULT_TYPES = ["o365-admin", "azure-ad"]
_OTHER_TYPES = [("gsuite", 5), ("sforce", 4), ("dynamics365", 3), ("powerbi", 3), ("zendesk", 2), ("azure-do", 2)]
_RETENTIONS = ["P1Y", "P3Y", "P5Y", "P10Y", "P99Y"]
_AUDIT = [  # area, action, method, message, succeeded, needs a device, weight
    ("user", "login", "POST", "User {email} logged in", True, False, 40),
    ("user", "failed-login", "POST", "Failed login for {email}: wrong password", False, False, 6),
    ("user", "create", "POST", "User {email} created", True, False, 3),
    ("user", "update", "PUT", "User {email} updated", True, False, 4),
    ("user", "delete", "DELETE", "User {email} deleted", True, False, 1),
    ("account", "update", "PUT", "Account settings of {company} updated", True, False, 4),
    ("account", "create", "POST", "Sub-account {company} created", True, False, 1),
    ("connector", "create", "POST", "Connector {device} created", True, True, 2),
    ("connector", "update", "PUT", "Connector {device} settings updated", True, True, 5),
    ("connector", "delete", "DELETE", "Connector {device} deleted", True, True, 1),
    ("connection", "update", "PUT", "Connection of {device} re-authorized", True, True, 3),
    ("connection", "failed-login", "PUT", "Connection of {device} could not sign in to the service", False, True, 2),
    ("backup", "snapshot-failed", "PUT", "Backup of {device} failed: the service did not respond", False, True, 4),
    ("backup", "start", "PUT", "Manual backup of {device} started", True, True, 2),
    ("restore", "restore-started", "POST", "Restore of {items} items from {device} started", True, True, 4),
    ("restore", "restore-completed", "POST", "Restore of {items} items from {device} completed", True, True, 3),
    ("restore", "restore-failed", "POST", "Restore from {device} failed: target mailbox not found", False, True, 1),
    ("report", "export", "GET", "Backup report exported", True, False, 3),
    ("report", "create", "POST", "Scheduled report 'Weekly backup status' created", True, False, 1),
    ("security", "update", "PUT", "Two-factor authentication enabled for {email}", True, False, 2),
    ("security", "update", "PUT", "IP allowlist updated", True, False, 1),
    ("compliance", "export", "GET", "Compliance export of {device} prepared", True, True, 1),
    ("compliance", "update", "PUT", "Retention of {device} changed to P5Y", True, True, 1),
    ("token", "create", "POST", "API token 'Vectis sync' created", True, False, 1),
    ("token", "delete", "DELETE", "API token revoked", True, False, 1),
    ("billing", "update", "PUT", "Billing contact updated", True, False, 1),
    ("notification", "update", "PUT", "Email notification settings updated", True, False, 1),
]


class _Generator:
    """All randomness comes from one ``random.Random(seed)``, in a fixed order, so a seed and a ``now``
    give the same MSP every time."""

    def __init__(self, seed: int, now: datetime | None) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - deterministic test data, not security
        moment = now or datetime.now(UTC)
        self.now = (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)).replace(
            microsecond=0
        )
        self.taken: set[str] = {PARENT_GUID}

    def guid(self, groups: int = 3) -> str:
        """Keepit's shape: dash-separated base-36 groups of 5-6 characters (never a UUID)."""
        while True:
            text = "-".join(
                "".join(self.rng.choice(_GUID_ALPHABET) for _ in range(self.rng.choice((5, 6)))) for _ in range(groups)
            )
            if text not in self.taken:
                self.taken.add(text)
                return text

    def ago(self, low_hours: float, high_hours: float) -> datetime:
        return self.now - timedelta(seconds=int(self.rng.uniform(low_hours, high_hours) * 3600))

    def respell(self, names: list[str]) -> list[str]:
        out, turn = [], 1
        for name in names:
            if " & " in name:
                out.append(_RESPELLINGS[0](name))
                continue
            respelt = _RESPELLINGS[turn](name)
            turn = turn % (len(_RESPELLINGS) - 1) + 1
            out.append(respelt if respelt != name else f"{name} Ltd")
        return out

    def names(self, count: int) -> list[str]:
        combos = [(place, trade) for place in _SCALE_PLACES for trade in _SCALE_TRADES]
        self.rng.shuffle(combos)
        names = []
        for number in range(count):
            place, trade = combos[number % len(combos)]
            lap = number // len(combos)
            names.append(f"{place} {trade}{self.rng.choice(_SCALE_SUFFIXES)}" + (f" {lap + 1}" if lap else ""))
        return names

    # -- build

    def build(
        self,
        names: list[str],
        connectors: list[int],
        scenarios: dict[tuple[int, int], str],
        *,
        audit_records: int,
        audit_days: int,
    ) -> KeepitState:
        state = KeepitState(now=self.now)
        distributor = self.guid()
        state.accounts[PARENT_GUID] = self.account(
            PARENT_GUID, distributor, PARENT_COMPANY, self.ago(900 * 24, 1000 * 24), "partner"
        )
        for index, name in enumerate(names):
            guid = self.guid()
            created = self.ago(60 * 24, 800 * 24)
            account = self.account(guid, PARENT_GUID, name, created, "business")
            if len(names) > 25 and index % 25 == 24:
                account["enabled"] = False
            state.accounts[guid] = account
        children = list(state.accounts)[1:]
        for index, guid in enumerate(children):
            for number, kind in enumerate(self.device_types(connectors[index])):
                scenario = scenarios.get((index, number), "healthy")
                self.device(state, guid, kind, scenario)
        ordered = sorted(children, key=lambda g: state.accounts[g]["created"])
        state.accounts = {PARENT_GUID: state.accounts[PARENT_GUID], **{g: state.accounts[g] for g in ordered}}
        state.audit = self.audit(state, audit_records, audit_days)
        return state

    def account(self, guid: str, parent: str, name: str, created: datetime, product: str) -> Json:
        rng = self.rng
        slug = re.sub(r"[^a-z0-9]", "", name.lower())[:32] or "customer"
        country, region, vat_prefix, phone = rng.choice(_PLACES)
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        return {
            "id": guid,
            "parent_id": parent,
            "created": created,
            "enabled": True,
            "product": product,
            "subscribed": True,
            "email": f"{first.lower()}.{last.lower()}@{slug}.example",
            "fullname": f"{first} {last}",
            "companyname": name,
            "phone": f"{phone}{rng.randrange(100, 999)}",
            "vatnumber": f"{vat_prefix}{rng.randrange(10**8, 10**9)}" if vat_prefix else "",
            "country": country,
            "state": region,
            "domain": slug,
        }

    def device_types(self, count: int) -> list[str]:
        kinds = _DEFAULT_TYPES[:count]
        while len(kinds) < count:
            if self.rng.random() < 0.2:
                kind = "dsl:" + self.rng.choice(sorted(DSL_AGENTS))
            else:
                kind = self.rng.choices([k for k, _ in _OTHER_TYPES], weights=[w for _, w in _OTHER_TYPES])[0]
            if kind not in kinds:
                kinds.append(kind)
        return kinds

    def device(self, state: KeepitState, account: str, kind: str, scenario: str) -> None:
        rng = self.rng
        kind, _, agent = kind.partition(":")
        label = DSL_AGENTS[agent] if agent else DEVICE_TYPES[kind]
        domain = state.accounts[account]["domain"]
        orglink = {
            "o365-admin": f"{domain}.onmicrosoft.com",
            "azure-ad": f"{domain}.onmicrosoft.com",
            "gsuite": f"{domain}.example",
            "sforce": f"https://{domain}.my.salesforce.com",
            "dynamics365": f"https://{domain}.crm.dynamics.com",
            "powerbi": f"{domain}.onmicrosoft.com",
            "zendesk": f"https://{domain}.zendesk.com",
            "azure-do": f"https://dev.azure.com/{domain}",
        }.get(kind, f"https://{domain}.{agent}.com")
        guid = self.guid()
        created = self.ago(72, 400 * 24) if scenario != "never" else self.ago(60, 70)
        device: Json = {
            "guid": guid,
            "name": f"{label} - {state.accounts[account]['companyname']}",
            "type": kind,
            "agent-type": agent or None,
            "created": created,
            "accessible": True,
            "orglink": orglink,
            "backup-retention": rng.choice(_RETENTIONS),
            "backup-retention-updated": created + timedelta(minutes=rng.randrange(5, 120)),
        }
        state.devices.setdefault(account, []).append(device)
        if scenario == "badlogin":
            state.problems[guid] = "BADLOGIN"
        elif scenario == "badtoken":
            state.problems[guid] = "BADTOKEN"
        elif scenario == "quota":
            state.problems[guid] = "QUOTAVIOLATED"
        # the end of the last successful backup; None: never
        anchor = {
            "healthy": self.ago(0.5, 7),
            "quota": self.ago(0.5, 7),
            "unhealthy": self.now - timedelta(hours=26),
            "badlogin": self.now - timedelta(hours=30),
            "badtoken": self.now - timedelta(hours=20),
            "critical": self.ago(50, 60),
            "never": None,
        }[scenario]
        number = rng.randrange(1, 12)
        title = f"{label} Backup({number})"
        describe = f"[backup][bl][auto][{agent or kind}]{{{title}}}"
        jobs: list[Json] = []
        interval = timedelta(hours=rng.choice((4, 6, 8)))
        if anchor is not None:
            end = anchor
            while end > max(self.now - timedelta(hours=72), created):
                jobs.append(self.job(describe, end, "succeeded" if rng.random() < 0.92 or end == anchor else "failed"))
                end -= interval
            state.snapshots[guid] = {
                "tstamp": anchor,
                "root": "".join(rng.choice("0123456789abcdef") for _ in range(40)),
                "type": "c" if rng.random() < 0.85 else "p",
                "size": rng.randrange(2 * 10**9, 900 * 10**9),
                "account": account,
            }
        after = (anchor or created) + interval
        while scenario not in ("healthy", "quota") and after < self.now:  # failing since the last success
            jobs.append(self.job(describe, after, "failed"))
            after += interval
        if scenario == "healthy" and rng.random() < 0.3:
            jobs.append(self.job(describe, self.now - timedelta(minutes=rng.randrange(3, 40)), "active"))
        if scenario == "healthy" and rng.random() < 0.25:
            restore = f"[restore][bl][manual][{agent or kind}]{{{label} Restore({rng.randrange(1, 40)})}}"
            jobs.append(self.job(restore, self.ago(2, 60), "succeeded", kind="restore"))
        state.jobs[guid] = sorted(jobs, key=lambda job: (job["start"], job["guid"]))

    def job(self, description: str, end: datetime, outcome: str, kind: str = "backup") -> Json:
        rng = self.rng
        if outcome == "active":
            started = end
            end = self.now
        else:
            started = end - timedelta(seconds=rng.randrange(4 * 60, 95 * 60))
        scheduled = started - timedelta(seconds=rng.randrange(10, 90))
        return {
            "guid": self.guid(4),
            "description": description,
            "type": kind,
            "priority": 5 if kind == "backup" else 10,
            "active": outcome == "active",
            "start": scheduled,
            "scheduled": scheduled,
            "dispatched": scheduled + timedelta(seconds=rng.randrange(1, 8)),
            "started": started,
            "succeeded": end if outcome == "succeeded" else None,
            "failed": end if outcome == "failed" else None,
            "cancelled": end if outcome == "cancelled" else None,
        }

    def audit(self, state: KeepitState, count: int, days: int) -> list[Json]:
        rng = self.rng
        guids = list(state.accounts)
        weights = [len(guids) * 0.15 if guid == PARENT_GUID else 1.0 for guid in guids]
        token_users = {PARENT_GUID}
        records = []
        span = days * 86400
        for _ in range(count):
            guid = rng.choices(guids, weights=weights)[0]
            account = state.accounts[guid]
            area, action, method, template, succeeded, needs_device, _ = rng.choices(
                _AUDIT, weights=[row[-1] for row in _AUDIT]
            )[0]
            devices = state.devices.get(guid, [])
            if needs_device and not devices:
                area, action, method, template, succeeded, needs_device, _ = _AUDIT[0]
            device = rng.choice(devices) if needs_device else None
            by_token = guid in token_users and area in ("report", "connector", "backup") and rng.random() < 0.5
            metadata = []
            if area == "restore":
                metadata = [("job", self.guid(4)), ("items", str(rng.randrange(1, 400)))]
            elif area == "user":
                metadata = [("user-agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64)")]
            record: Json = {
                "time": self.now - timedelta(seconds=rng.randrange(1, span)),
                "account": guid,
                "company": account["companyname"],
                "device": device["guid"] if device else None,
                "area": area,
                "action": action,
                "method": method,
                "message": template.format(
                    email=account["email"],
                    company=account["companyname"],
                    device=device["name"] if device else "",
                    items=rng.randrange(1, 400),
                ),
                "acl": rng.choice(["MasterAdmin", "PartnerParent"]) if guid == PARENT_GUID else "Admin",
                "allowed": action != "failed-login" or area != "user",
                "succeeded": succeeded,
                "client-ip": f"{rng.choice(['203.0.113', '198.51.100', '192.0.2'])}.{rng.randrange(1, 255)}",
                "token": DEMO_TOKEN_LOGIN if by_token else "",
                "metadata": metadata,
            }
            records.append(record)
        records.sort(key=lambda r: (r["time"], r["account"], r["area"], r["action"]))
        return records


# --- XML -----------------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return iso(value)
    return str(value)


def _add(parent: ET.Element, tag: str, value: Any = None) -> ET.Element:
    """A child element; ``value`` None leaves it empty."""
    child = ET.SubElement(parent, tag)
    if value is not None:
        child.text = _text(value)
    return child


def _fields(parent: ET.Element, row: Mapping[str, Any], names: Sequence[str]) -> None:
    """One child per name whose value is set (absent, as Keepit omits it, when None)."""
    for name in names:
        if row.get(name) is not None:
            _add(parent, name, row[name])


def _xml(root: ET.Element, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    response = Response(body, status=status, content_type=XML)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _plain(message: str, status: int) -> Response:
    return Response(message + "\n", status=status, content_type="text/plain; charset=utf-8")


class KeepitError(Exception):
    """A plain-text error answer, as Keepit's API gives them."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _version() -> int:
    """The schema version from ``Accept: application/vnd.keepit.v<N>[+xml]``; 0 without one."""
    match = re.search(r"application/vnd\.keepit\.v(\d+)", request.headers.get("Accept", ""))
    return int(match.group(1)) if match else 0


def _body() -> ET.Element:
    try:
        return ET.fromstring(request.get_data())  # noqa: S314 - the simulator parses its own test clients' XML
    except ET.ParseError as error:
        raise KeepitError(400, f"Bad Request: malformed XML body ({error})") from None


def _flag(element: ET.Element | None) -> bool:
    """``<reverse/>`` and ``<reverse>true</reverse>`` are on; ``false``/``0`` and absence are off."""
    if element is None:
        return False
    return (element.text or "").strip().lower() not in ("false", "0")


def _child_text(root: ET.Element, tag: str) -> str | None:
    element = root.find(tag)
    if element is None or element.text is None or not element.text.strip():
        return None
    return element.text.strip()


def _moment(root: ET.Element, tag: str) -> datetime | None:
    text = _child_text(root, tag)
    if text is None:
        return None
    moment = parse_iso(text)
    if moment is None:
        raise KeepitError(400, f"Bad Request: {tag} is not an ISO 8601 time: {text}")
    return moment


def _int_arg(name: str, default: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit():
        raise KeepitError(400, f"Bad Request: {name} must be a non-negative integer")
    return min(int(raw), high)


def _truthy(raw: str | None) -> bool:
    return (raw or "").strip().lower() in ("1", "true", "yes")


# --- the app -------------------------------------------------------------------------------------------

api = Blueprint("keepit_api", __name__, url_prefix="/<region>")
controls = Blueprint("keepit_sim", __name__, url_prefix="/_sim")  # never faulted, no auth: loopback tooling


def create_app(state: KeepitState | None = None) -> Flask:
    """The simulator as a Flask app over ``state`` (a fresh ``KeepitState.seeded()`` when omitted)."""
    app = Flask(__name__)
    app.url_map.strict_slashes = False
    app.extensions["keepit_state"] = state if state is not None else KeepitState.seeded()
    app.register_blueprint(api)
    app.register_blueprint(controls)
    app.register_error_handler(KeepitError, _keepit_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _server_error)
    return app


def _sim() -> KeepitState:
    state: KeepitState = current_app.extensions["keepit_state"]
    return state


def _in_controls() -> bool:
    return request.path == "/_sim" or request.path.startswith("/_sim/")


def _keepit_error(error: KeepitError) -> Response:
    return _plain(error.message, error.status)


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    return _plain(f"{status} {error.name}", status)


def _server_error(error: Exception) -> Response:
    current_app.logger.exception("Keepit simulator failed", exc_info=error)
    return _plain("500 Internal Server Error", 500)


def _basic_credentials() -> tuple[str, str] | None:
    """The login and password of a Basic header, from raw bytes: nothing is URL-decoded."""
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        raw = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    login, colon, password = raw.partition(b":")
    if not colon:
        return None
    return login.decode("utf-8", "replace"), password.decode("utf-8", "replace")


def _unauthorized() -> Response:
    response = _plain("401 Unauthorized", 401)
    response.headers["WWW-Authenticate"] = REALM
    return response


def _region_path() -> tuple[str, str]:
    """``("us-dc", "/users/")`` for ``/us-dc/users/``."""
    _, _, rest = request.path.partition("/")
    region, slash, path = rest.partition("/")
    return region, slash + path


@api.url_value_preprocessor
def _drop_region(endpoint: str | None, values: dict[str, Any] | None) -> None:
    if values is not None:
        values.pop("region", None)


@api.before_app_request
def _faults_then_auth() -> Response | None:
    if _in_controls():
        return None
    sim = _sim()
    credentials = _basic_credentials()
    g.keepit_login = credentials[0] if credentials else "(none)"
    region, _ = _region_path()
    if sim.faults.unknown_region or region not in REGIONS:
        return _plain("404 Not Found", 404)
    if sim.throttled():
        response = _plain("429 Too Many Requests", 429)
        response.headers["Retry-After"] = "1"
        return response
    if sim.faults.hang:
        time.sleep(sim.faults.hang)
    if sim.faults.latency:
        time.sleep(sim.faults.latency)
    if sim.take_5xx():
        return _plain("503 Service Unavailable", 503)
    credential = sim.authenticate(*credentials) if credentials else None
    if credential is None or region != sim.region:
        return _unauthorized()
    g.keepit_credential = credential
    return None


@api.after_app_request
def _finish(response: Response) -> Response:
    if _in_controls():
        return response
    sim = _sim()
    broken = sim.faults.malformed_xml
    if broken and response.status_code == 200 and response.mimetype == XML:
        _, path = _region_path()
        offset = request.args.get("offset", "0")
        if path.rstrip("/") == broken.path.rstrip("/") and (broken.offset is None or offset == str(broken.offset)):
            body = response.get_data()
            response.set_data(body[: max(len(body) // 2, 1)])  # cut off mid-element: invalid XML, status 200
    rule = request.url_rule.rule if request.url_rule is not None else request.path
    pattern = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)
    sim.record(pattern, response.status_code, g.get("keepit_login", "(none)"))
    return response


def _caller() -> Credential:
    credential: Credential = g.keepit_credential
    return credential


def _visible(guid: str) -> Json:
    """The account, when the caller may see it; 403 otherwise (unknown accounts included)."""
    sim = _sim()
    if not sim.can_see(_caller().account, guid):
        raise KeepitError(403, "Access denied")
    return sim.accounts[guid]


def _visible_device(guid: str, dev: str) -> Json:
    _visible(guid)
    device = _sim().device(guid, dev)
    if device is None:
        raise KeepitError(404, "Device not found")
    return device


@api.get("/users/")
def who_am_i() -> Response:
    root = ET.Element("user")
    _add(root, "id", _caller().account)
    return _xml(root)


@api.get("/users/<guid>")
def account_settings(guid: str) -> Response:
    account = _visible(guid)
    root = ET.Element("user")
    _add(root, "id", account["id"])
    _fields(
        root,
        {**account, "parent": account["parent_id"]},
        ("enabled", "created", "product", "parent", "subscribed"),
    )
    return _xml(root)


@api.get("/users/<guid>/users")
def child_accounts(guid: str) -> Response:
    _visible(guid)
    sim = _sim()
    limit = _int_arg("limit", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    offset = _int_arg("offset", 0, 2**31 - 1)
    children = sim.children_of(guid)
    page = children[offset : offset + limit] if limit else []
    version = _version()
    contacts = _truthy(request.args.get("include_contact_details"))
    root = ET.Element("users")
    for account in page:
        company = sim.company(account["id"])
        if version == 0:
            _add(root, "id", account["id"])
            continue
        user = _add(root, "user")
        _fields(user, account, ("id", "created", "parent_id"))
        if version < 3:
            _add(user, "email", account["email"])
            _add(user, "full_name", account["fullname"])
            _add(user, "company_name", company)
        elif contacts:
            contact = _add(user, "contact")
            for name in ("email", "companyname", "fullname", "phone", "vatnumber", "country", "state"):
                _add(contact, name, company if name == "companyname" else account[name] or None)
    return _xml(root, headers={"X-Total-Count": str(len(children))})


@api.get("/users/<guid>/devices")
def devices(guid: str) -> Response:
    _visible(guid)
    root = ET.Element("devices")
    for device in _sim().device_views(guid):
        cloud = _add(root, "cloud")
        _fields(
            cloud,
            device,
            (
                "guid",
                "name",
                "type",
                "agent-type",
                "created",
                "accessible",
                "orglink",
                "backup-retention",
                "backup-retention-updated",
            ),
        )
    return _xml(root)


@api.get("/users/<guid>/devices/<dev>/health")
def device_health(guid: str, dev: str) -> Response:
    device = _visible_device(guid, dev)
    health, reason = _sim().health(device["guid"])
    root = ET.Element("devhealth")
    _add(root, "health", health)
    if _truthy(request.args.get("reason")):
        _add(root, "reason", reason)
    return _xml(root)


@api.get("/users/<guid>/devices/<dev>/history/latest")
def latest_snapshot(guid: str, dev: str) -> Response:
    device = _visible_device(guid, dev)
    root = ET.Element("history")
    snapshot = _sim().latest_snapshot(device["guid"])
    if snapshot is not None:
        _fields(_add(root, "backup"), snapshot, ("tstamp", "root", "type", "size", "account"))
    return _xml(root)


_JOB_FIELDS = (
    "guid", "description", "type", "priority", "active", "start", "scheduled", "dispatched", "started",
    "succeeded", "failed", "cancelled",
)  # fmt: skip


@api.route("/users/<guid>/devices/<dev>/jobs", methods=["GET", "PUT"])
def device_jobs(guid: str, dev: str) -> Response:
    device = _visible_device(guid, dev)
    jobs = _sim().job_views(device["guid"])
    if request.method == "GET":
        if _truthy(request.headers.get("active-jobs-only")):
            jobs = [job for job in jobs if job["active"]]
    else:
        jobs = _filter_jobs(jobs, _body())
    root = ET.Element("jobs")
    for job in jobs:
        _fields(_add(root, "job"), job, _JOB_FIELDS)
    return _xml(root)


def _filter_jobs(jobs: list[Json], spec: ET.Element) -> list[Json]:
    if spec.tag != "filter":
        raise KeepitError(400, "Bad Request: expected a <filter> body")
    low, high = _moment(spec, "from-time"), _moment(spec, "to-time")
    types = {t.text.strip() for t in spec.iterfind("types/type") if t.text and t.text.strip()}
    single = _child_text(spec, "type")
    if single:
        types.add(single)
    limit_text = _child_text(spec, "limit")
    if limit_text is not None and not limit_text.isdigit():
        raise KeepitError(400, "Bad Request: limit must be a non-negative integer")
    active_only, failed_only = _flag(spec.find("active-only")), _flag(spec.find("failed-only"))
    kept = [
        job
        for job in jobs
        if (low is None or job["start"] >= low)
        and (high is None or job["start"] <= high)
        and (not types or job["type"] in types)
        and (not active_only or job["active"])
        and (not failed_only or job["failed"] is not None)
    ]
    if _flag(spec.find("reverse")):
        kept.reverse()
    return kept if limit_text is None else kept[: int(limit_text)]


_AUDIT_FIELDS = (
    "time", "account", "company", "device", "area", "action", "method", "message", "acl", "allowed", "succeeded",
    "client-ip", "token",
)  # fmt: skip


@api.put("/audit/filter/pretty")
def audit_log() -> Response:
    sim, caller = _sim(), _caller()
    if sim.faults.token_without_audit and caller.kind == "token":
        raise KeepitError(403, "Access denied")
    limit = _int_arg("limit", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    offset = _int_arg("offset", 0, 2**31 - 1)
    spec = _body()
    if spec.tag != "filter":
        raise KeepitError(400, "Bad Request: expected a <filter> body")
    account = _child_text(spec, "account") or caller.account
    _visible(account)
    low, high = _moment(spec, "from"), _moment(spec, "to")
    scope = set(sim.subtree(account)) if _flag(spec.find("recursive")) else {account}
    records = [
        record
        for record in sim.audit
        if record["account"] in scope
        and (low is None or record["time"] >= low)
        and (high is None or record["time"] <= high)
    ]
    page = records[offset : offset + limit] if limit else []
    root = ET.Element("audit")
    for record in page:
        element = _add(root, "record")
        _fields(element, {**record, "token": record["token"] or ""}, _AUDIT_FIELDS)
        if record["metadata"]:
            metadata = _add(element, "metadata")
            for key, value in record["metadata"]:
                parameter = _add(metadata, "parameter")
                _add(parameter, "key", key)
                _add(parameter, "value", value)
    headers = {}
    if offset + len(page) < len(records) and page:
        headers["next-offset"] = str(offset + len(page))
    return _xml(root, headers=headers)


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status=status, content_type="application/json")


add_fault_controls(controls, _sim)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vectis.simulators.keepit", description="Keepit REST API simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18081)
    parser.add_argument("--scale", choices=["demo", "bench"], default="demo")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--region", choices=sorted(REGIONS), default=DEFAULT_REGION, help="where the accounts live")
    parser.add_argument("--accounts", type=int, default=300, help="with --scale bench")
    parser.add_argument("--connectors", type=int, default=4, help="per account, with --scale bench")
    parser.add_argument("--audit-records", type=int, default=20000, help="with --scale bench")
    args = parser.parse_args(argv)

    state = (
        KeepitState.seeded(seed=args.seed)
        if args.scale == "demo"
        else KeepitState.at_scale(
            accounts=args.accounts,
            connectors_per_account=args.connectors,
            audit_records=args.audit_records,
            seed=args.seed,
        )
    )
    state.region = args.region
    root = f"http://{args.host}:{args.port}"
    connectors = sum(len(devices) for devices in state.devices.values())
    print(
        f"Keepit simulator at {root}/<region> (https://<region>.keepit.com); accounts live in {state.region}: "
        f"{root}/{state.region}\n"
        f"  username: {DEMO_USERNAME}   password: {DEMO_PASSWORD}\n"
        f"  API token login: {DEMO_TOKEN_LOGIN}   token password: {DEMO_TOKEN_PASSWORD}\n"
        f"  parent account GUID: {PARENT_GUID} ({PARENT_COMPANY})\n"
        f"  {len(state.accounts) - 1} child accounts, {connectors} connectors, {len(state.audit)} audit records\n"
        f"  regions: {', '.join(REGIONS)}\n"
        f"  fault knobs: POST {root}/_sim/faults (JSON merge patch), POST {root}/_sim/reset, GET {root}/_sim/stats",
        flush=True,
    )
    run_simple(args.host, args.port, create_app(state), threaded=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
