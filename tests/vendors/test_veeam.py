"""The Veeam connector against the VSPC simulator, over real HTTP on loopback, through the real sync job."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Text, func, literal_column, select

from jobs.sync import INTERRUPTED, run_sync, tick
from tests.vendors.support import Setup, add_connection, count, new_tenant, serve_app, sync
from vectis.connectors.veeam import EVENT_CAP, MESSAGES, SKIPPED_ACTIVITY, STATE_BY_STATUS, VeeamConnector, parse_time
from vectis.ingest.integrations import check_state, run_test, start_test, try_connection
from vectis.ingest.matching import normalize_name
from vectis.models import (
    BackupAuditEvent,
    BackupConnector,
    BackupConnectorStatus,
    BackupRun,
    Connection,
    Customer,
    CustomerLink,
    StreamCursor,
    SyncRun,
    TimelineEvent,
)
from vectis.platform import db
from vectis.platform.config import ROOT, Settings
from vectis.platform.queues import queue, redis
from vectis.simulators.vspc import DEMO_PASSWORD, DEMO_USERNAME, MalformedPage, VspcState, create_app


@dataclass
class Vspc:
    state: VspcState
    url: str


def serve(state: VspcState) -> Iterator[Vspc]:
    for url in serve_app(create_app(state)):
        yield Vspc(state, url)


@pytest.fixture
def vspc() -> Iterator[Vspc]:
    yield from serve(VspcState.seeded())


def make_connection(app: Flask, base_url: str, *, rate: float = 200.0, **config: str) -> Setup:
    """A tenant of its own (so counts are exact) with a Veeam connection to ``base_url``."""
    values = {"base_url": base_url, "username": DEMO_USERNAME, "password": DEMO_PASSWORD, "api_key": "", **config}
    return add_connection(app, new_tenant(app), "veeam", values, rate=rate)


@pytest.fixture
def setup(app: Flask, vspc: Vspc) -> Setup:
    return make_connection(app, vspc.url)


def snapshot(app: Flask, setup: Setup) -> dict[str, Any]:
    """Everything a sync writes, comparable across tenants."""
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        return {
            "customers": sorted(s.scalars(select(Customer.name))),
            "links": sorted(s.scalars(select(CustomerLink.external_id))),
            "jobs": sorted(
                tuple(row)
                for row in s.execute(
                    select(
                        BackupConnector.external_id,
                        BackupConnector.kind,
                        BackupConnectorStatus.state,
                        BackupConnector.removed_at.is_(None),
                    ).join(BackupConnectorStatus, BackupConnectorStatus.backup_connector_id == BackupConnector.id)
                )
            ),
            "events": sorted(s.scalars(select(BackupAuditEvent.external_id))),
            "timeline": s.scalar(select(func.count()).select_from(TimelineEvent)),
            "cursor": s.scalar(select(StreamCursor.cursor).where(StreamCursor.stream == "events")),
        }


def in_window(state: VspcState, days: int = 14) -> int:
    since = datetime.now(UTC) - timedelta(days=days)
    return sum(1 for a in state.alarms if (parse_time(a["lastActivation"]["time"]) or since) >= since)


def activity_in_window(state: VspcState, days: int = 14) -> int:
    """The portal activity entries a sync keeps: the last 14 days, without routine sign-ins."""
    since = datetime.now(UTC) - timedelta(days=days)
    return sum(
        1
        for a in state.activity_logs
        if a["activityLogType"] not in SKIPPED_ACTIVITY and (parse_time(a["date"]) or since) >= since
    )


ALARMS = BackupAuditEvent.external_id.not_like("activity:%")


# --- the Test button ---------------------------------------------------------------------------------


def check(app: Flask, setup: Setup, **overrides: str) -> tuple[bool, str]:
    with app.test_request_context(), db.tenant_session(setup.tenant_id) as s:
        config = {"base_url": "", "username": DEMO_USERNAME, "password": DEMO_PASSWORD, "api_key": "", **overrides}
        return try_connection(s, setup.tenant_id, VeeamConnector, config)


def test_it_reports_success_with_the_version_and_company_count(app: Flask, vspc: Vspc, setup: Setup) -> None:
    ok, message = check(app, setup, base_url=vspc.url)
    assert (
        ok
        and message
        == f"Connected to Veeam VSPC {vspc.state.faults.server_version} — {len(vspc.state.companies)} companies visible"
    )
    ok, message = check(app, setup, base_url=vspc.url, username="", password="", api_key="vspc-demo-api-key")
    assert ok, message


@pytest.mark.parametrize(
    ("fault", "value", "expected"),
    [
        ("wrong_credentials", True, MESSAGES[401]),
        ("forbidden", True, MESSAGES[403]),
        ("wrong_host", True, MESSAGES[404]),
        (
            "server_version",
            "6.1.0.1234",
            "Version refused — Vectis detected VSPC 6.1.0.1234, older than v7. Upgrade VSPC before connecting.",
        ),
    ],
)
def test_it_explains_each_documented_error(
    app: Flask, vspc: Vspc, setup: Setup, fault: str, value: Any, expected: str
) -> None:
    setattr(vspc.state.faults, fault, value)
    assert check(app, setup, base_url=vspc.url) == (False, expected)


def test_it_says_connection_timed_out_for_an_unreachable_host(app: Flask, setup: Setup) -> None:
    with socket_closed_port() as port:
        ok, message = check(app, setup, base_url=f"http://127.0.0.1:{port}")
    assert (ok, message) == (False, MESSAGES["timeout"])


class socket_closed_port:
    def __enter__(self) -> int:

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()  # nothing listens there now
        return int(self.port)

    def __exit__(self, *exc: object) -> None:
        return None


# --- syncing -----------------------------------------------------------------------------------------


def test_it_syncs_companies_jobs_and_fourteen_days_of_events(app: Flask, vspc: Vspc, setup: Setup) -> None:
    run = sync(app, setup)
    assert run.status == "succeeded", run.error
    state = vspc.state
    assert run.counts == {
        "companies": len(state.companies),
        "jobs": len(state.server_jobs),
        "agent_jobs": len(state.agent_jobs),
        "events": in_window(state),
        "activity": activity_in_window(state),
    }
    assert 0 < in_window(state) < len(state.alarms)  # the fixture has older alarms too: the window matters
    assert 0 < activity_in_window(state) < len(state.activity_logs)
    assert count(app, setup, Customer) == len(state.companies)
    kinds = {k for (k,) in snapshot_kinds(app, setup)}
    assert {"Backup", "BackupCopy", "Replica", "Tape", "Other"} <= kinds
    events = in_window(state) + activity_in_window(state)
    assert count(app, setup, TimelineEvent, TimelineEvent.source == "Veeam") == events
    assert count(app, setup, BackupConnector, BackupConnector.customer_id.is_(None)) == 0
    assert [line["stream"] for line in run.log] == ["companies", "jobs", "agent_jobs", "events", "activity"]
    # A connection saved before Vectis kept its vendor's address in clear gets it from its next sync.
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        assert s.scalars(select(Connection.base_url)).one() == vspc.url.rstrip("/")


def test_portal_activity_lands_classified_on_the_customer_timeline(app: Flask, vspc: Vspc, setup: Setup) -> None:
    sync(app, setup)
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        rows = s.execute(
            select(BackupAuditEvent.category, BackupAuditEvent.severity, BackupAuditEvent.customer_id).where(
                BackupAuditEvent.external_id.like("activity:%")
            )
        ).all()
    assert {"security", "connection"} <= {r.category for r in rows}
    assert all(r.severity == "warning" for r in rows if r.category == "security")  # failed sign-ins
    assert sum(1 for r in rows if r.customer_id is not None) > len(rows) // 2
    second = sync(app, setup)
    assert second.counts["activity"] <= 5  # resumed from the last entry, boundary re-read only


def snapshot_kinds(app: Flask, setup: Setup) -> list[tuple[str, ...]]:
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        return [tuple(r) for r in s.execute(select(BackupConnector.kind).distinct())]


def test_it_derives_the_last_success_from_its_own_history(app: Flask, vspc: Vspc, setup: Setup) -> None:
    sync(app, setup)
    job = next(j for j in vspc.state.server_jobs if j["status"] == "Success")
    job["status"] = "Failed"  # the next run failed: VSPC now only knows the failure
    sync(app, setup)
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        status = s.execute(
            select(BackupConnectorStatus.state, BackupConnectorStatus.last_success_at)
            .join(BackupConnector, BackupConnector.id == BackupConnectorStatus.backup_connector_id)
            .where(BackupConnector.external_id == job["instanceUid"])
        ).one()
    assert status.state == "failed" and status.last_success_at is not None


def test_it_keeps_each_run_it_sees_once_and_a_running_one_gets_its_outcome(
    app: Flask, vspc: Vspc, setup: Setup
) -> None:
    """VSPC reports only the latest session: Vectis keeps every one it sees, keyed by its start."""
    sync(app, setup)
    running = next(j for j in vspc.state.server_jobs if j["status"] == "Running")
    done = next(j for j in vspc.state.server_jobs if j["status"] == "Success")
    sync(app, setup)  # the same sessions read again

    def runs_of(job: dict[str, Any]) -> list[tuple[str, datetime, datetime | None]]:
        with app.app_context(), db.tenant_session(setup.tenant_id) as s:
            return [
                (r.state, r.started_at, r.ended_at)
                for r in s.execute(
                    select(BackupRun.state, BackupRun.started_at, BackupRun.ended_at)
                    .join(BackupConnector, BackupConnector.id == BackupRun.backup_connector_id)
                    .where(BackupConnector.external_id == job["instanceUid"])
                    .order_by(BackupRun.started_at)
                )
            ]

    assert runs_of(running) == [("running", parse_time(running["lastRun"]), None)]
    assert runs_of(done) == [("success", parse_time(done["lastRun"]), parse_time(done["lastEndTime"]))]
    started = parse_time(running["lastRun"])
    assert started is not None
    running |= {"status": "Failed", "lastEndTime": (started + timedelta(minutes=9)).isoformat()}  # it ends
    later = started + timedelta(days=1)
    done |= {"status": "Warning", "lastRun": later.isoformat(), "lastEndTime": (later + timedelta(hours=1)).isoformat()}
    sync(app, setup)
    assert runs_of(running) == [("failed", started, started + timedelta(minutes=9))]
    assert [state for state, _, _ in runs_of(done)] == ["success", "warning"]
    jobs_seen = sum(
        1
        for j in vspc.state.server_jobs + vspc.state.agent_jobs
        if j.get("lastRun") and STATE_BY_STATUS.get(j["status"], "unknown") != "unknown"
    )
    assert count(app, setup, BackupRun) == jobs_seen + 1  # one run each, and the new session


def test_a_company_brings_its_phone_and_place(app: Flask, vspc: Vspc, setup: Setup) -> None:
    sync(app, setup)
    company = vspc.state.companies[0]
    organization = vspc.state.organizations[company["instanceUid"]]
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        found = s.execute(
            select(Customer.contact_phone, Customer.location, Customer.contact_email).where(
                Customer.name == company["name"]
            )
        ).one()
    assert found.contact_phone == organization["phone"]
    assert found.location == f"{organization['city']}, {organization['countryName']}"
    assert found.contact_email is None  # the organization's mailbox is not a person's


def test_a_sync_bringing_the_same_details_again_rewrites_no_customer(app: Flask, vspc: Vspc, setup: Setup) -> None:
    sync(app, setup)

    def versions() -> dict[int, str]:
        with app.app_context(), db.tenant_session(setup.tenant_id) as s:
            return {
                row.id: row.xmin
                for row in s.execute(select(Customer.id, literal_column("xmin::text", Text).label("xmin")))
            }

    before = versions()
    sync(app, setup)
    assert versions() == before  # every customer row as it was: the details were already there


def test_a_rename_at_the_vendor_creates_no_duplicate(app: Flask, vspc: Vspc, setup: Setup) -> None:
    sync(app, setup)
    company = vspc.state.companies[0]
    vspc.state.rename_company(company["instanceUid"], "Renamed Holdings")
    before = count(app, setup, Customer)
    sync(app, setup)
    assert count(app, setup, Customer) == before
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        assert (
            s.scalar(select(CustomerLink.external_name).where(CustomerLink.external_id == company["instanceUid"]))
            == "Renamed Holdings"
        )


def test_a_job_removed_at_the_vendor_is_marked_removed_not_deleted(app: Flask, vspc: Vspc, setup: Setup) -> None:
    sync(app, setup)
    gone = vspc.state.server_jobs[3]["instanceUid"]
    vspc.state.remove_job(gone)
    sync(app, setup)
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        removed = s.scalars(select(BackupConnector.external_id).where(BackupConnector.removed_at.is_not(None))).all()
    assert removed == [gone]


def test_it_resumes_events_from_the_last_seen_time_without_duplicates(app: Flask, vspc: Vspc, setup: Setup) -> None:
    sync(app, setup)
    first = snapshot(app, setup)
    newest = max(parse_time(a["lastActivation"]["time"]) or datetime.min.replace(tzinfo=UTC) for a in vspc.state.alarms)
    assert parse_time(first["cursor"]["since"]) == newest
    second_run = sync(app, setup)
    assert snapshot(app, setup)["events"] == first["events"]
    assert second_run.counts["events"] <= 5  # only the boundary events are read again, then deduplicated


def test_it_caps_events_at_ten_thousand_per_sync_and_takes_the_rest_next_time(app: Flask) -> None:
    for vspc in serve(VspcState.at_scale(companies=20, jobs=40, alarms=16_000)):
        setup = make_connection(app, vspc.url, rate=500)
        first = sync(app, setup)
        # One cap for both event streams: the alarms fill it, the activity log waits with them.
        assert first.status == "succeeded" and first.counts["events"] == EVENT_CAP
        assert first.counts.get("activity", 0) == 0
        assert count(app, setup, BackupAuditEvent) == EVENT_CAP
        sync(app, setup)
        assert count(app, setup, BackupAuditEvent, ALARMS) == in_window(vspc.state) > EVENT_CAP
        assert count(app, setup, BackupAuditEvent) == in_window(vspc.state) + activity_in_window(vspc.state)


def test_an_expired_token_mid_sync_is_invisible(app: Flask, vspc: Vspc, setup: Setup) -> None:
    start = vspc.state.clock()
    # Two hours pass on the VSPC side after a few requests: the cached token dies mid-sync.
    vspc.state.clock = lambda: start + (7200 if vspc.state.stats()["total"] > 4 else 0)
    run = sync(app, setup)
    assert run.status == "succeeded", run.error
    assert vspc.state.stats()["paths"].get("/api/v3/token", 0) >= 2


def test_a_429_and_520_storm_loses_nothing(app: Flask, setup: Setup) -> None:
    now = datetime.now(UTC)  # one clock for both: activity entries are identified by their dates
    clean = VspcState.seeded(now=now)
    for vspc in serve(VspcState.seeded(now=now)):
        reference = make_connection(app, vspc.url)
        sync(app, reference)
        expected = snapshot(app, reference)
    for vspc in serve(clean):
        stormy = make_connection(app, vspc.url, rate=100)
        vspc.state.faults.rate_limit_per_second = 2
        vspc.state.faults.errors_520 = 3
        run = sync(app, stormy)
        assert run.status == "succeeded", run.error
        assert vspc.state.stats()["statuses"].get("429", 0) > 0
        got = snapshot(app, stormy)
    assert {k: v for k, v in got.items() if k != "cursor"} == {k: v for k, v in expected.items() if k != "cursor"}


def test_a_sync_interrupted_after_page_k_ends_like_an_uninterrupted_one(app: Flask) -> None:
    """The worker dies (here: a malformed page) after committing page k; the next run completes it."""
    for vspc in serve(VspcState.at_scale(companies=30, jobs=1400, alarms=1500)):
        reference = make_connection(app, vspc.url, rate=500)
        sync(app, reference)
        expected = snapshot(app, reference)

        broken = make_connection(app, vspc.url, rate=500)
        vspc.state.faults.malformed_page = MalformedPage("/infrastructure/backupServers/jobs", 1000)
        failed = sync(app, broken)
        assert failed.status == "failed" and failed.error and "malformed JSON" in failed.error
        assert failed.log[-1] == {"stopped": failed.error}
        assert failed.counts["jobs"] == 1000  # pages 1 and 2 are kept
        vspc.state.faults.malformed_page = None
        assert sync(app, broken).status == "succeeded"
        assert snapshot(app, broken) == expected


def test_a_malformed_event_page_keeps_the_cursor_before_it(app: Flask) -> None:
    for vspc in serve(VspcState.at_scale(companies=10, jobs=20, alarms=1600)):
        setup = make_connection(app, vspc.url, rate=500)
        vspc.state.faults.malformed_page = MalformedPage("/alarms/active", 500)
        run = sync(app, setup)
        assert run.status == "failed" and run.counts["events"] == 500
        stuck = snapshot(app, setup)["cursor"]["since"]
        vspc.state.faults.malformed_page = None
        sync(app, setup)
        assert snapshot(app, setup)["cursor"]["since"] > stuck
        assert count(app, setup, BackupAuditEvent, ALARMS) == in_window(vspc.state)


def test_wrong_credentials_pause_the_connection_with_the_reason(app: Flask, vspc: Vspc, setup: Setup) -> None:
    vspc.state.faults.wrong_credentials = True
    run = sync(app, setup)
    assert run.status == "failed" and run.error == MESSAGES[401]
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        connection = s.get(Connection, setup.connection_id)
        assert connection is not None and connection.paused_reason == MESSAGES[401] and connection.failure_count == 1


def test_the_tick_enqueues_due_connections_once(app: Flask, setup: Setup) -> None:
    with app.app_context():
        sync_queue = queue("sync")
        sync_queue.empty()  # type: ignore[no-untyped-call]
        tick()
        tick()  # a second tick (or a second cron by mistake) must not enqueue it again
        mine = [job for job in sync_queue.get_jobs() if job.args[:2] == (setup.tenant_id, setup.connection_id)]
        assert len(mine) == 1
        sync_queue.empty()  # type: ignore[no-untyped-call]


def test_an_unlinked_account_joins_the_customer_with_the_same_name(app: Flask, vspc: Vspc, setup: Setup) -> None:
    company = vspc.state.companies[2]
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        existing = Customer(
            tenant_id=setup.tenant_id,
            name=f"{company['name']}, LLC",
            normalized_name=normalize_name(company["name"] + " LLC"),
        )
        s.add(existing)
        s.flush()
        existing_id = existing.id
    sync(app, setup)
    assert count(app, setup, Customer) == len(vspc.state.companies)
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        assert (
            s.scalar(select(CustomerLink.customer_id).where(CustomerLink.external_id == company["instanceUid"]))
            == existing_id
        )


def test_a_worker_killed_after_page_k_then_restarted_ends_like_an_uninterrupted_sync(
    app: Flask, settings: Settings
) -> None:
    """SIGKILL a real worker process mid-sync (after some pages are committed), then sync again."""
    for vspc in serve(VspcState.at_scale(companies=20, jobs=2500, alarms=200)):
        reference = make_connection(app, vspc.url, rate=500)
        sync(app, reference)
        expected = snapshot(app, reference)

        victim = make_connection(app, vspc.url, rate=500)
        vspc.state.faults.latency = 0.4  # slow pages, so the kill lands mid-stream
        env = {
            **os.environ,
            "VECTIS_ENV": "test",
            "VECTIS_VAR_DIR": str(settings.var_dir),
            "DATABASE_URL": settings.database_url,
            "DATABASE_APP_URL": settings.database_app_url,
            "REDIS_URL": settings.redis_url,
        }
        worker = subprocess.Popen(
            [
                sys.executable,
                "-c",
                f"from jobs.sync import run_sync; run_sync({victim.tenant_id}, {victim.connection_id})",
            ],
            cwd=ROOT,
            env=env,
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with app.app_context(), db.tenant_session(victim.tenant_id) as s:
                    jobs_done = s.scalar(
                        select(SyncRun.counts["jobs"].as_integer()).order_by(SyncRun.id.desc()).limit(1)
                    )
                if jobs_done and jobs_done >= 1000:
                    break
                time.sleep(0.05)
            worker.kill()  # SIGKILL: no cleanup, no rollback handler, the lock stays behind
        finally:
            worker.wait(timeout=30)
        assert jobs_done is not None and 1000 <= jobs_done < 2500
        vspc.state.faults.latency = 0.0
        with app.app_context():
            assert redis().exists(f"vectis:sync-lock:{victim.connection_id}")
            assert run_sync(victim.tenant_id, victim.connection_id) == "already running"  # nobody syncs twice
            redis().delete(f"vectis:sync-lock:{victim.connection_id}")  # what its 300 s TTL does
        restarted = sync(app, victim)
        assert restarted.status == "succeeded", restarted.error
        assert snapshot(app, victim) == expected
        with app.app_context(), db.tenant_session(victim.tenant_id) as s:
            statuses = list(s.scalars(select(SyncRun.status).order_by(SyncRun.id)))
            assert statuses == ["failed", "succeeded"]
            assert s.scalar(select(SyncRun.error).order_by(SyncRun.id).limit(1)) == INTERRUPTED


def test_a_slow_test_connection_is_still_testing_not_expired(app: Flask, vspc: Vspc) -> None:
    """Seen as a flaky browser test: the job took the settings before calling the vendor, so a page polling
    during a slow call read "This test has expired" and never saw the answer."""
    tenant_id = new_tenant(app)
    config = {"base_url": vspc.url, "username": DEMO_USERNAME, "password": DEMO_PASSWORD, "api_key": ""}
    with app.test_request_context(), db.tenant_session(tenant_id) as s:
        token = start_test(s, tenant_id, VeeamConnector, config)
    assert isinstance(token, str)
    vspc.state.faults.latency = 1.0
    answered: list[str] = []

    def job() -> None:
        with app.test_request_context(), db.tenant_session(tenant_id) as s:
            answered.append(run_test(s, tenant_id, VeeamConnector, token).message)

    worker = threading.Thread(target=job)
    worker.start()
    time.sleep(0.3)  # the job is inside the vendor call now
    with app.app_context():
        assert check_state(tenant_id, token).done is False  # still testing
    worker.join(timeout=30)
    with app.app_context():
        final = check_state(tenant_id, token)
    assert final.done and final.ok and final.message == answered[0]
