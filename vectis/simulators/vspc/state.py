"""One simulated VSPC server: its data, credentials and issued tokens, fault knobs and request counters,
and the views of its data that the knobs change (renamed companies, removed jobs)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from vectis.simulators.base import BOOL, COUNT, SECONDS, FaultKnobs, Json, Rule, SimState, malformed_page_rule
from vectis.simulators.fixtures import BENCH_CUSTOMERS, BENCH_JOBS, DEMO_CUSTOMERS, Msp
from vectis.simulators.vspc.seed import Generator, VspcData
from vectis.simulators.vspc.vendor import (
    API,
    DEFAULT_SERVER_VERSION,
    DEMO_API_KEY,
    DEMO_PASSWORD,
    DEMO_USERNAME,
    SERVER_TZ,
)

# --- faults --------------------------------------------------------------------------------------------


@dataclass
class MalformedPage:
    """The page of ``path`` (relative to ``/api/v3``) at ``offset`` answers 200 with a cut-off JSON body."""

    path: str
    offset: int = 0


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
    "malformed_page": malformed_page_rule(
        MalformedPage,
        "offset",
        example='an object like {"path": "/infrastructure/backupServers/jobs", "offset": 500}',
        prefix=API,
        default=0,
        strict=False,
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
class VspcState(SimState[Faults], VspcData):
    """Seeded data (the ``VspcData`` tables), credentials, fault knobs and the runtime bookkeeping of one
    simulated VSPC server (a reset leaves the data and the issued tokens)."""

    users: dict[str, str] = field(default_factory=lambda: {DEMO_USERNAME: DEMO_PASSWORD})
    api_keys: set[str] = field(default_factory=lambda: {DEMO_API_KEY})
    faults: Faults = field(default_factory=Faults)
    tz: tzinfo = SERVER_TZ
    clock: Callable[[], float] = field(default=time.time, compare=False)  # token expiry reads this
    # Remember each filtered, sorted collection between pages (the benchmark's VSPC answers in tens of
    # milliseconds, as a real one does). Off by default: tests change rows in place between syncs.
    cache_pages: bool = field(default=False, compare=False)

    _access_tokens: dict[str, float] = field(default_factory=dict, init=False, repr=False, compare=False)
    _refresh_tokens: dict[str, float] = field(default_factory=dict, init=False, repr=False, compare=False)
    _known_paths: dict[str, dict[str, str]] = field(default_factory=dict, init=False, repr=False, compare=False)
    _pages: dict[tuple[str, ...], list[Json]] = field(default_factory=dict, init=False, repr=False, compare=False)

    # -- construction

    @classmethod
    def seeded(
        cls,
        companies: int = DEMO_CUSTOMERS,
        jobs_per_company: int = 6,
        alarms: int = 300,
        seed: int = 1,
        now: datetime | None = None,
    ) -> VspcState:
        """A small MSP: every job type and status, some agent jobs, alarms over the last 20 days."""
        return Generator(Msp.drawn(seed, companies), now).build(
            cls(),
            jobs=[jobs_per_company] * companies,
            agent_jobs=max(companies * 3 // 2, 1) if companies else 0,
            alarms=alarms,
            activity_logs=max(companies * 20, 50),
        )

    @classmethod
    def at_scale(
        cls,
        companies: int = BENCH_CUSTOMERS,
        jobs: int = BENCH_JOBS,
        alarms: int = 10000,
        seed: int = 1,
        now: datetime | None = None,
    ) -> VspcState:
        """A large MSP for benchmarks: ``jobs`` backup-server jobs spread unevenly (some big customers),
        plus a fifth as many agent jobs."""
        msp = Msp.drawn(seed, companies, jobs)
        return Generator(msp, now).build(
            cls(),
            jobs=msp.job_counts or [],
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

    # -- runtime

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
