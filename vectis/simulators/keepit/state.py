"""One simulated Keepit: its accounts, connectors, snapshots, jobs and audit log, the logins it accepts, fault
knobs and request counters, and the views of its data that the knobs change."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from vectis.simulators.base import BOOL, COUNT, SECONDS, FaultKnobs, Json, Rule, SimState, malformed_page_rule
from vectis.simulators.fixtures import DEMO_CUSTOMERS, Msp
from vectis.simulators.keepit.seed import Generator, KeepitData
from vectis.simulators.keepit.vendor import (
    AUTH_FAILURE_REASONS,
    DEMO_PASSWORD,
    DEMO_TOKEN_LOGIN,
    DEMO_TOKEN_PASSWORD,
    DEMO_USERNAME,
    PARENT_GUID,
)

# --- faults --------------------------------------------------------------------------------------------


@dataclass
class MalformedXml:
    """Responses on ``path`` (after the region, e.g. ``/audit/filter/pretty``) answer 200 with the XML cut
    in half: only the page at ``offset`` when it is set, every response otherwise."""

    path: str
    offset: int | None = None


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
    "malformed_xml": malformed_page_rule(
        MalformedXml,
        "offset",
        example='an object like {"path": "/audit/filter/pretty", "offset": 500} (offset optional)',
    ),
    "rename_account": (
        lambda v: isinstance(v, dict) and all(isinstance(k, str) and isinstance(n, str) for k, n in v.items()),
        "an object of account guid to new company name",
        dict,
    ),
    "remove_connector": (_is_guid_list, "a list of device guids", list),
    "stale_connector": (_is_guid_list, "a list of device guids", list),
    "odd_snapshot_time": (_is_guid_list, "a list of device guids", list),
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
    # device guids whose latest snapshot says 0001-01-01T00:00:00+14:00 (1 BC in UTC), as a broken export might
    odd_snapshot_time: list[str] = field(default_factory=list)

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
class KeepitState(SimState[Faults], KeepitData):
    """Seeded data (``KeepitData``), credentials, fault knobs and the runtime bookkeeping of one simulated
    Keepit (requests are also counted per login sent)."""

    credentials: dict[str, Credential] = field(default_factory=_demo_credentials)
    faults: Faults = field(default_factory=Faults)

    TALLIES = ("logins",)  # stats() per login sent: decoded from the Basic header, "(none)" without one

    # -- construction

    @classmethod
    def seeded(cls, seed: int = 1, now: datetime | None = None) -> KeepitState:
        """A small MSP: seven of the VSPC simulator's companies (spelt differently), three accounts no other
        tool has, 2-5 connectors each (one unhealthy, one critical on BADLOGIN, one never backed up) and
        twenty days of audit records."""

        generator = Generator(seed, now)
        vspc = [customer.name for customer in Msp.drawn(seed, DEMO_CUSTOMERS).listed()][:7]  # as VSPC lists them
        names = [*generator.respell(vspc), "Summit MSP Internal IT", "NOC Test Tenant", "Bellweather Dental Group"]
        connectors = [generator.rng.randint(2, 5) for _ in names]
        scenarios = {(1, 1): "unhealthy", (3, 0): "badlogin", (5, connectors[5] - 1): "never"}
        return generator.build(cls(now=generator.now), names, connectors, scenarios, audit_records=420, audit_days=20)

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
        generator = Generator(seed, now)
        names = generator.names(accounts)
        connectors = [connectors_per_account] * accounts
        scenarios: dict[tuple[int, int], str] = {}
        kinds = ["unhealthy", "badlogin", "badtoken", "never", "quota", "critical"]
        for index in range(accounts):
            if connectors_per_account and index % 7 == 3:
                scenarios[(index, generator.rng.randrange(connectors_per_account))] = kinds[(index // 7) % len(kinds)]
        return generator.build(
            cls(now=generator.now), names, connectors, scenarios, audit_records=audit_records, audit_days=14
        )

    # -- knobs

    def rename_account(self, guid: str, name: str) -> None:
        self.faults.rename_account[guid] = name

    def remove_connector(self, guid: str) -> None:
        if guid not in self.faults.remove_connector:
            self.faults.remove_connector.append(guid)

    def stale_connector(self, guid: str) -> None:
        if guid not in self.faults.stale_connector:
            self.faults.stale_connector.append(guid)

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
