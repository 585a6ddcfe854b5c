"""The fault harness every connector runs through (``test_faults.py``): a vendor is described once by a
:class:`Vendor` (its simulator, a connection to it, its 5xx knob, a size that takes a few seconds to sync) and
gets the same faults as every other: a worker SIGKILLed mid-sync, a 429 storm, a 5xx burst, its lock expiring
during a slow page. A new vendor adds one ``Vendor`` to :data:`VENDORS`.

"The same end state" is :func:`end_state`: every row a sync and the rules refresh after it write for the tenant,
in every table they touch, without the ids and moments that differ between two tenants (row ids, foreign keys,
when a row was written or last seen). Two syncs of the same simulator data into two tenants must give equal end
states; a duplicate, a lost row or a wrong field shows as a difference.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Flask
from sqlalchemy import Column, DateTime, select

from jobs import rules
from tests.vendors.support import Setup, add_connection, new_tenant, serve_app, vendor_url
from vectis.demo.seed import DEMO_KEEPIT
from vectis.models import Base, SyncRun
from vectis.platform import db
from vectis.platform.config import ROOT, Settings
from vectis.platform.crypto import SealedType
from vectis.simulators import connectwise, defender, eset, graph, keepit, ninjaone, pax8, sentinelone, vspc
from vectis.simulators import huntress as huntress_sim
from vectis.simulators.base.state import SimState

# Every table a sync or the rules refresh after it writes for a tenant.
SYNCED_TABLES = (
    "customers", "customer_links", "contacts", "backup_connectors", "backup_connector_status", "backup_runs",
    "backup_audit_events", "timeline_events", "ticket_boards", "ticket_statuses", "ticket_priorities", "tickets",
    "ticket_notes", "ticket_status_changes", "ticket_related", "alerts", "rule_events", "stream_cursors",
    "psa_members", "contracts", "contract_line_items", "devices", "vendor_alerts", "detections", "m365_panels",
    "m365_secure_scores", "m365_managed_devices", "m365_ca_policies", "m365_privileged_users",
    "license_subscriptions", "license_usage",
)  # fmt: skip
# Moments Vectis notes about its own work (when it wrote or last saw a row), not facts from the vendor.
OBSERVED = {
    "created_at", "updated_at", "decided_at", "first_seen_at", "last_seen_at", "evaluated_at", "observed_at",
    "refreshed_at", "synced_at", "removed_at", "changed_at", "opened_at_vectis", "last_fired_at", "resolved_at",
    "announced_at",
}  # fmt: skip
# Keys that carry another tenant's ids or a moment of the run (dedup keys name row ids; cursors a page time).
OPAQUE = {"dedup_key", "data", "cursor", "payload", "details", "raw"}
# Columns whose value depends on when the rules refresh ran, not on what was synced: an alert's message says
# "5 days" or "4 days" by the clock; an alert's own rule event happens when the alert is raised.
OBSERVED_IN = {"alerts": {"message"}}


def _observed_row(table: str, row: dict[str, Any]) -> dict[str, Any]:
    if table == "rule_events" and row.get("subject_type") == "alert":
        return {**row, "occurred_at": None}
    return row


def _kept(table: str, column: Column[Any]) -> bool:
    name = column.name
    if name in ("id", "tenant_id") or name in OPAQUE or name in OBSERVED_IN.get(table, ()):
        return False
    if isinstance(column.type, SealedType):
        return False
    if name.endswith("_id") and not name.endswith("external_id") and name != "message_id":
        return False  # a row id of this tenant's
    return not (isinstance(column.type, DateTime) and name in OBSERVED)


def _as_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def end_state(app: Flask, setup: Setup) -> dict[str, list[tuple[Any, ...]]]:
    """Each synced table's rows (duplicates kept, order not), as comparable across tenants."""
    state: dict[str, list[tuple[Any, ...]]] = {}
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        for name in SYNCED_TABLES:
            table = Base.metadata.tables[name]
            columns = [c for c in table.columns if _kept(name, c)]
            rows = (_observed_row(name, dict(row._mapping)) for row in s.execute(select(*columns)))
            state[name] = sorted((tuple(_as_value(v) for v in row.values()) for row in rows), key=repr)
    return state


def differences(got: dict[str, list[tuple[Any, ...]]], expected: dict[str, list[tuple[Any, ...]]]) -> list[str]:
    """What differs, table by table, in words a failing assertion can show."""
    out = []
    for table, rows in expected.items():
        mine = got.get(table, [])
        if mine != rows:
            missing = [r for r in rows if r not in mine][:3]
            extra = [r for r in mine if r not in rows][:3]
            out.append(f"{table}: {len(mine)} rows, expected {len(rows)}; missing {missing}; extra {extra}")
    return out


def assert_same(got: dict[str, list[tuple[Any, ...]]], expected: dict[str, list[tuple[Any, ...]]]) -> None:
    found = differences(got, expected)
    if found:
        raise AssertionError("the end state differs from an undisturbed sync's:\n" + "\n".join(found))


HUGE = "x" * (10 * 1024 * 1024)  # 10 MB in one field
NEVER = "0001-01-01T00:00:00+14:00"  # 1 BC once in UTC: PostgreSQL stores it, the driver cannot read it back
NEVER_EPOCH = -62_135_596_800.0  # NinjaOne's times are epoch seconds: year 1
# A lone UTF-16 surrogate: JSON may carry one as an escape (the simulators write it so), UTF-8 cannot.
BROKEN = "Trojan \ud800 dropper"


@dataclass(frozen=True)
class Vendor:
    name: str
    small: Callable[[datetime], SimState[Any]]  # the simulator's data for the storm: the same for the same moment
    large: Callable[[datetime], SimState[Any]]  # enough pages that a kill lands mid-sync at ``latency``
    wsgi: Callable[[Any], Flask]  # create_app(state) of its simulator
    config: Callable[[str], dict[str, str]]  # the connection's config for a simulator at this URL
    five_xx: str  # the knob that makes its next N requests fail with a 5xx
    latency: float  # seconds per request for the kill test
    killed_after: int  # records committed before the kill
    storm_limit: int  # the vendor's requests a second in the storm: low enough that its small sync meets 429s
    poison: Callable[[Any], None] = lambda _state: None  # NUL bytes, 10 MB strings, dates out of range, surrogates
    url_templates: Callable[[str], dict[str, str]] = lambda _url: {}  # VECTIS_VENDOR_URLS for a host it derives
    out_of_range: str = repr(NEVER)  # how the log names the poison's date out of range

    @contextmanager
    def serving(self, app: Flask, state: SimState[Any]) -> Iterator[str]:
        """The simulator on loopback, and the app pointed at it (Keepit's region host is derived)."""
        for url in serve_app(self.wsgi(state)):
            templates = self.url_templates(url)
            if not templates:
                yield url
                continue
            ((vendor, template),) = templates.items()
            with vendor_url(app, vendor, template):
                yield url

    def connect(self, app: Flask, url: str, *, rate: float = 500.0) -> Setup:
        return add_connection(app, new_tenant(app), self.name, self.config(url), rate=rate)


def poison_veeam(state: Any) -> None:
    state.companies[0]["name"] = "Null\x00 Byte Ltd"
    state.alarms[0]["lastActivation"]["message"] = HUGE
    state.server_jobs[0]["name"] = "Job\x00 with a NUL"
    state.server_jobs[1]["lastRun"] = NEVER  # (an alarm's time would not pass VSPC's own time filter)
    state.server_jobs[2]["name"] = BROKEN


def poison_keepit(state: Any) -> None:
    # XML cannot carry a NUL byte at all (Keepit could not send one), so: a huge text and a date out of range.
    state.audit[0]["message"] = HUGE
    state.faults.odd_snapshot_time = [next(iter(state.snapshots))]


def poison_connectwise(state: Any) -> None:
    tickets = state.tickets if isinstance(state.tickets, list) else list(state.tickets.values())
    tickets[0].summary = "Printer\x00 jam"
    tickets[1].detail = HUGE
    tickets[2].date_entered = NEVER
    tickets[3].summary = BROKEN


def poison_ninjaone(state: Any) -> None:
    state.organizations[1]["name"] = "Null\x00 Byte Ltd"
    state.activities[-1]["message"] = HUGE
    state.activities[-2]["subject"] = "Patch\x00 cycle"
    state.activities[-3]["activityTime"] = NEVER_EPOCH
    next(iter(state.devices.values()))["displayName"] = "FS\x0001"
    next(iter(state.alerts.values()))["message"] = HUGE
    state.activities[-4]["subject"] = BROKEN


def poison_sentinelone(state: Any) -> None:
    next(iter(state.sites.values()))["name"] = "Null\x00 Byte Ltd"
    threats = list(state.threats.values())
    threats[0]["threatInfo"]["threatName"] = "lb3\x00.exe"
    threats[1]["threatInfo"]["filePath"] = HUGE
    threats[2]["threatInfo"]["createdAt"] = NEVER  # (its updatedAt stays: S1's own filters and sort read that)
    threats[3]["threatInfo"]["threatName"] = BROKEN


def poison_eset(state: Any) -> None:
    customer = next(
        g for g in state.groups.values() if g["parentGroupUuid"] == state.root_uuid and "&" not in g["displayName"]
    )
    customer["displayName"] = "Null\x00 Byte Ltd"
    detections = list(state.detections.values())
    detections[0]["displayName"] = "Win32/\x00Filecoder"
    detections[1]["objectUrl"] = HUGE
    next(iter(state.devices.values()))["displayName"] = "GAX\x00-WS01"
    detections[2]["occurTime"], detections[2]["resolved"] = NEVER, False  # an open one: the first sync reads it
    detections[3]["displayName"] = BROKEN


def poison_huntress(state: Any) -> None:
    next(iter(state.organizations.values()))["name"] = "Null\x00 Byte Ltd"
    reports = list(state.reports.values())
    reports[0]["subject"] = "HIGH\x00 - Incident"
    reports[1]["summary"] = HUGE
    reports[2]["created_at"] = NEVER  # (its updated_at stays: Huntress's sort reads that)
    reports[3]["subject"] = BROKEN


def poison_defender(state: Any) -> None:
    alerts = [a for a in state.alerts.values() if a["_tenant"] == defender.DEMO_TENANT_ID]
    alerts[0]["title"] = "Ransomware\x00 behavior"
    alerts[1]["description"] = HUGE
    alerts[2]["evidence"] = [{"entityType": "File", "filePath": HUGE, "fileName": "x.exe", "sha256": "ab"}]
    alerts[3]["alertCreationTime"] = NEVER  # (its lastUpdateTime stays: Defender's own filter reads that)
    alerts[4]["title"] = BROKEN


# Defender reads every tenant the connection lists: the large simulator's two (a kill lands in one tenant's alerts and
# the resumed sync goes on from each tenant's cursor); the small one knows the first only, so the second is passed
# over (its sign-in refused: an unknown tenant).
DEFENDER_TENANTS = 2


def defender_config(_url: str) -> dict[str, str]:
    ids = list(defender.DefenderState.at_scale(tenants=DEFENDER_TENANTS, alerts=0).tenants)
    return {
        "client_id": defender.DEMO_CLIENT_ID,
        "client_secret": defender.DEMO_CLIENT_SECRET,
        "tenant_ids": "\n".join(ids),
    }


def poison_m365(state: Any) -> None:
    tenant = next(iter(state.tenants.values()))
    tenant["displayName"] = "Null\x00 Byte Ltd"
    tenant["devices"][0]["deviceName"] = "GAX\x00-WS01"
    tenant["devices"][1]["userPrincipalName"] = HUGE
    tenant["devices"][2]["lastSyncDateTime"] = NEVER
    tenant["devices"][3]["deviceName"] = BROKEN


# Microsoft 365 reads every tenant the connection lists: the kill test's six (a few requests each), of which the small
# simulator keeps two, so the other four are refused at sign-in (an unknown tenant, one request each) and the storm
# and the slow-page test stay short.
M365_TENANTS = 6


def m365_small(now: datetime) -> graph.GraphState:
    state = graph.GraphState.at_scale(tenants=M365_TENANTS, now=now)
    for tenant in list(state.tenants)[2:]:
        del state.tenants[tenant]
    return state


def m365_config(_url: str) -> dict[str, str]:
    ids = list(graph.GraphState.at_scale(tenants=M365_TENANTS).tenants)
    return {"client_id": graph.DEMO_CLIENT_ID, "client_secret": graph.DEMO_CLIENT_SECRET, "tenant_ids": "\n".join(ids)}


def poison_pax8(state: Any) -> None:
    next(iter(state.companies.values()))["name"] = "Null\x00 Byte Ltd"
    next(iter(state.products.values()))["name"] = HUGE
    subscriptions = list(state.subscriptions.values())
    subscriptions[0]["updatedDate"] = NEVER
    subscriptions[1]["billingTerm"] = "Annual\x00"
    list(state.products.values())[1]["name"] = BROKEN


VENDORS = (
    Vendor(
        "veeam",
        small=lambda now: vspc.VspcState.seeded(now=now),
        large=lambda now: vspc.VspcState.at_scale(companies=20, jobs=2500, alarms=200, now=now),
        wsgi=vspc.create_app,
        config=lambda url: {
            "base_url": url,
            "username": vspc.DEMO_USERNAME,
            "password": vspc.DEMO_PASSWORD,
            "api_key": "",
        },
        five_xx="errors_520",
        latency=0.4,
        killed_after=1000,
        storm_limit=2,
        poison=poison_veeam,
    ),
    Vendor(
        "keepit",
        small=lambda now: keepit.KeepitState.seeded(now=now),
        large=lambda now: keepit.KeepitState.at_scale(
            accounts=40, connectors_per_account=3, audit_records=500, now=now
        ),
        wsgi=keepit.create_app,
        config=lambda _url: dict(DEMO_KEEPIT),
        five_xx="errors_5xx",
        latency=0.1,
        killed_after=20,
        storm_limit=8,
        poison=poison_keepit,
        url_templates=lambda url: {"keepit": url + "/{region}"},
    ),
    Vendor(
        "connectwise",
        small=lambda now: connectwise.ConnectWiseState.seeded(now=now),
        large=lambda now: connectwise.ConnectWiseState.seeded(now=now),
        wsgi=connectwise.create_app,
        config=lambda url: {
            "site_url": url,
            "company_id": connectwise.DEMO_COMPANY_ID,
            "public_key": connectwise.DEMO_PUBLIC_KEY,
            "private_key": connectwise.DEMO_PRIVATE_KEY,
            "client_id": "",
        },
        five_xx="errors_5xx",
        latency=0.05,
        killed_after=40,
        storm_limit=8,
        poison=poison_connectwise,
    ),
    Vendor(
        "ninjaone",
        small=lambda now: ninjaone.NinjaOneState.seeded(now=now),
        large=lambda now: ninjaone.NinjaOneState.at_scale(
            organizations=20, devices=200, alerts=10, activities=3000, now=now
        ),
        wsgi=ninjaone.create_app,
        config=lambda _url: {
            "client_id": ninjaone.DEMO_CLIENT_ID,
            "client_secret": ninjaone.DEMO_CLIENT_SECRET,
            "region": "app",
        },
        five_xx="errors_5xx",
        latency=0.3,
        killed_after=20,
        storm_limit=2,
        poison=poison_ninjaone,
        url_templates=lambda url: {"ninjaone": url},
        out_of_range=repr(NEVER_EPOCH),
    ),
    Vendor(
        "sentinelone",
        small=lambda now: sentinelone.SentinelOneState.seeded(now=now),
        large=lambda now: sentinelone.SentinelOneState.at_scale(sites=20, threats=3000, now=now),
        wsgi=sentinelone.create_app,
        config=lambda url: {"console_url": url, "api_token": sentinelone.DEMO_API_TOKEN},
        five_xx="errors_5xx",
        latency=0.5,
        killed_after=1000,  # the sites and the first page of threats (1,000 a page)
        storm_limit=1,  # its small sync is three requests: only one a second meets a 429
        poison=poison_sentinelone,
    ),
    Vendor(
        "eset",
        small=lambda now: eset.EsetState.seeded(now=now),
        large=lambda now: eset.EsetState.at_scale(customers=20, detections=3000, now=now),
        wsgi=eset.create_app,
        config=lambda _url: {"region": "eu", "username": eset.DEMO_USERNAME, "password": eset.DEMO_PASSWORD},
        five_xx="errors_5xx",
        latency=0.5,
        killed_after=1000,
        storm_limit=1,
        poison=poison_eset,
        url_templates=lambda url: {"eset": url},
    ),
    Vendor(
        "huntress",
        small=lambda now: huntress_sim.HuntressState.seeded(now=now),
        large=lambda now: huntress_sim.HuntressState.at_scale(organizations=20, reports=3000, now=now),
        wsgi=huntress_sim.create_app,
        config=lambda url: {
            "api_key": huntress_sim.DEMO_API_KEY,
            "api_secret": huntress_sim.DEMO_API_SECRET,
            "api_url": url,
        },
        five_xx="errors_5xx",
        latency=0.5,
        killed_after=1000,  # the organizations and the first two pages of reports (500 a page)
        storm_limit=1,
        poison=poison_huntress,
    ),
    Vendor(
        "defender",
        small=lambda now: defender.DefenderState.seeded(now=now),
        large=lambda now: defender.DefenderState.at_scale(tenants=DEFENDER_TENANTS, alerts=3000, now=now),
        wsgi=defender.create_app,
        config=defender_config,
        five_xx="errors_5xx",
        latency=0.5,
        killed_after=1000,
        storm_limit=1,
        poison=poison_defender,
        url_templates=lambda url: {"defender": url},
    ),
    Vendor(
        "m365",
        small=m365_small,
        large=lambda now: graph.GraphState.at_scale(tenants=M365_TENANTS, now=now),
        wsgi=graph.create_app,
        config=m365_config,
        five_xx="errors_5xx",
        latency=0.3,
        killed_after=10,  # two tenants: their customers and panels
        storm_limit=2,
        poison=poison_m365,
        url_templates=lambda url: {"m365": url},
    ),
    Vendor(
        "pax8",
        small=lambda now: pax8.Pax8State.seeded(now=now),
        large=lambda now: pax8.Pax8State.at_scale(companies=20, subscriptions=3000, now=now),
        wsgi=pax8.create_app,
        config=lambda _url: {"client_id": pax8.DEMO_CLIENT_ID, "client_secret": pax8.DEMO_CLIENT_SECRET},
        five_xx="errors_5xx",
        latency=0.4,
        killed_after=1000,
        storm_limit=1,
        poison=poison_pax8,
        url_templates=lambda url: {"pax8": url},
    ),
)


def settle(app: Flask, setup: Setup) -> None:
    """What runs after a sync in production: the rules refresh (alerts, rule events evaluated)."""
    with app.app_context():
        rules.refresh(setup.tenant_id)


def latest_run(app: Flask, setup: Setup) -> SyncRun | None:
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        run = s.scalar(
            select(SyncRun).where(SyncRun.connection_id == setup.connection_id).order_by(SyncRun.id.desc()).limit(1)
        )
        if run is not None:
            s.expunge(run)
        return run


def runs(app: Flask, setup: Setup) -> list[tuple[str, str | None]]:
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        return [tuple(r) for r in s.execute(select(SyncRun.status, SyncRun.error).order_by(SyncRun.id))]  # type: ignore[misc]


def committed(app: Flask, setup: Setup) -> int:
    run = latest_run(app, setup)
    return sum(run.counts.values()) if run is not None and run.status == "running" else 0


@contextmanager
def worker_process(settings: Settings, vendor: Vendor, url: str, setup: Setup) -> Iterator[subprocess.Popen[bytes]]:
    """A real worker process running this connection's sync, as ``rq worker sync`` would."""
    env = {
        **os.environ,
        "VECTIS_ENV": "test",
        "VECTIS_VAR_DIR": str(settings.var_dir),
        "VECTIS_AUDIT_ANCHOR": str(settings.audit_anchor),
        "DATABASE_URL": settings.database_url,
        "DATABASE_APP_URL": settings.database_app_url,
        "REDIS_URL": settings.redis_url,
        "VECTIS_VENDOR_URLS": ",".join(f"{k}={v}" for k, v in vendor.url_templates(url).items()),
    }
    code = f"from jobs.sync import run_sync; run_sync({setup.tenant_id}, {setup.connection_id})"
    process = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def wait_until(condition: Callable[[], bool], timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def busiest_second(answers: list[tuple[float, int]]) -> int:
    """Most requests answered within one of the simulator's one-second rate windows."""
    per_second: dict[int, int] = {}
    for at, _status in answers:
        per_second[int(at)] = per_second.get(int(at), 0) + 1
    return max(per_second.values(), default=0)
