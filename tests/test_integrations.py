"""Admin -> Integrations without a vendor: cards, the form with masked secrets, validation in words."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from rq import SimpleWorker
from sqlalchemy import select, update

from tests.conftest import HostClient, TenantFixture, csrf_token, login
from tests.vendors.support import add_connection
from tests.vendors.test_veeam import Vspc
from tests.vendors.test_veeam import serve as serve_vspc
from vectis.connectors.factory import vendor_address
from vectis.ingest import runlog
from vectis.ingest.integrations import MASK, SyncProgress, sync_progress
from vectis.models import AuditEntry, Connection, SyncRun
from vectis.platform import db
from vectis.platform.config import Settings
from vectis.platform.crypto import Sealed
from vectis.platform.queues import queue, redis
from vectis.simulators.vspc import DEMO_PASSWORD, DEMO_USERNAME, VspcState


@pytest.fixture
def northwind_admin(app: Flask, northwind: TenantFixture) -> Iterator[HostClient]:
    client = login(app, northwind)
    yield client
    with app.app_context(), db.system_session() as s:
        for connection in s.scalars(select(Connection).where(Connection.tenant_id == northwind.id)):
            s.delete(connection)


def test_it_shows_a_card_per_vendor_configured_or_not(
    app: Flask, northwind: TenantFixture, northwind_admin: HostClient
) -> None:
    page = northwind_admin.get("/admin/integrations/").get_data(as_text=True)
    assert 'data-vendor="veeam"' in page and "Not configured" in page


def test_it_saves_settings_masks_secrets_and_keeps_them_when_the_mask_comes_back(
    app: Flask, northwind: TenantFixture, northwind_admin: HostClient
) -> None:
    client = northwind_admin
    form = {
        "base_url": "https://vspc.northwind.example:1280",
        "username": "vectis-svc",
        "password": "hunter2-secret",
        "api_key": "",
        "sync_interval_minutes": "30",
        "rate_limit_per_second": "",
    }
    token = csrf_token(client, "/admin/integrations/veeam")
    response = client.post("/admin/integrations/veeam", data={**form, "csrf_token": token})
    assert response.status_code == 302
    page = client.get("/admin/integrations/veeam").get_data(as_text=True)
    assert "hunter2-secret" not in page and MASK in page and "Veeam settings saved" in page
    client.post(
        "/admin/integrations/veeam", data={**form, "password": MASK, "sync_interval_minutes": "20", "csrf_token": token}
    )
    with app.app_context(), db.tenant_session(northwind.id) as s:
        connection = s.scalar(select(Connection).where(Connection.vendor == "veeam"))
        assert connection is not None and connection.read_config()["password"] == "hunter2-secret"
        assert connection.sync_interval_minutes == 20
        assert connection.base_url == "https://vspc.northwind.example:1280"  # in clear, for the console links
        payloads = [
            str(p) for p in s.scalars(select(AuditEntry.payload).where(AuditEntry.action == "integration.update"))
        ]
    assert payloads and all("hunter2" not in p for p in payloads)


def test_it_says_what_is_missing(app: Flask, northwind_admin: HostClient) -> None:
    client = northwind_admin
    token = csrf_token(client, "/admin/integrations/veeam")
    client.post(
        "/admin/integrations/veeam",
        data={"base_url": "https://vspc.example.com:1280", "username": "u", "csrf_token": token},
    )
    page = client.get("/admin/integrations/veeam").get_data(as_text=True)
    assert "Enter the username and password of the VSPC user, or a REST API key." in page


def test_it_answers_404_for_an_unknown_vendor(northwind_admin: HostClient) -> None:
    assert northwind_admin.get("/admin/integrations/nope").status_code == 404


def test_a_stored_secret_is_never_sent_to_a_new_address(
    app: Flask, northwind: TenantFixture, northwind_admin: HostClient
) -> None:
    client = northwind_admin
    token = csrf_token(client, "/admin/integrations/veeam")
    form = {
        "base_url": "https://vspc.northwind.example:1280",
        "username": "vectis-svc",
        "password": "hunter2-secret",
        "api_key": "",
        "csrf_token": token,
    }
    client.post("/admin/integrations/veeam", data=form)
    moved = {**form, "base_url": "https://attacker.example:1280", "password": MASK}
    tested = client.post("/admin/integrations/veeam/test", data=moved, headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert "enter the password again" in tested
    client.post("/admin/integrations/veeam", data=moved)
    with app.app_context(), db.tenant_session(northwind.id) as s:
        connection = s.scalar(select(Connection).where(Connection.vendor == "veeam"))
        assert connection is not None and connection.read_config()["base_url"] == "https://vspc.northwind.example:1280"


# --- the run log in words, Sync now on every card, instant updates (issue 16) ------------------------------


def test_the_run_log_reads_as_sentences() -> None:
    log: list[Any] = []
    log = runlog.stream_page(log, "agent_jobs", records=500, odd={}, cursor=None)
    progress = runlog.sentences(log, running=True)
    assert progress == ["Agent jobs: 1 page, 500 records so far."]
    odd = {"records skipped for a date outside 1970-2200": 2}
    log = runlog.stream_page(log, "agent_jobs", records=12, odd=odd, cursor=None)
    log = runlog.stream_done(log, "agent_jobs", seconds=1.234, cursor=None)
    log = runlog.stream_done(log, "events", seconds=0.2, cursor={"since": "2026-11-24T05:56:00Z"})
    log = runlog.stream_page(log, "activity", records=40, odd={"NUL bytes removed": 1}, cursor={"offset": 9})
    log = runlog.removed(log, 3)
    log = runlog.stopped(log, "VSPC answered 503 three times.")
    assert json.loads(json.dumps(log)) == log  # stored as JSON, read back the same
    assert runlog.sentences([*log, "jobs: 4 records in 0.1 s"]) == [
        "Agent jobs: fetched 2 pages, 512 records in 1.2 s; odd vendor data: records skipped for a date outside "
        "1970-2200 (2).",
        "Events: fetched 0 pages, 0 records in 0.2 s, new since 24 Nov 2026 05:56 UTC.",
        "Activity: 1 page, 40 records before the sync stopped, picking up where the last sync left off; odd vendor "
        "data: NUL bytes removed (1).",
        "3 backup jobs or connectors no longer at the vendor: marked removed.",
        "Stopped: VSPC answered 503 three times.",
        "jobs: 4 records in 0.1 s",  # a run logged before entries were data reads as it was written
    ]


@pytest.fixture
def veeam_northwind(app: Flask, northwind: TenantFixture, northwind_admin: HostClient) -> Iterator[Vspc]:
    """Northwind's Veeam connected to a VSPC simulator, not synced yet. One left by a test before on this worker
    (a workspace has one Veeam connection) goes first, as ``northwind_admin`` removes every one after."""
    with app.app_context(), db.system_session() as s:
        for connection in s.scalars(
            select(Connection).where(Connection.tenant_id == northwind.id, Connection.vendor == "veeam")
        ):
            s.delete(connection)
    for vspc in serve_vspc(VspcState.seeded()):
        config = {"base_url": vspc.url, "username": DEMO_USERNAME, "password": DEMO_PASSWORD, "api_key": ""}
        add_connection(app, northwind.id, "veeam", config)
        yield vspc


def run_worker(app: Flask) -> None:
    with app.app_context():
        SimpleWorker([queue("sync")], connection=redis()).work(burst=True)


HTMX = {"HX-Request": "true"}


def test_every_card_syncs_now_polls_while_running_and_stops_when_done(
    app: Flask, northwind_admin: HostClient, veeam_northwind: Vspc
) -> None:
    client = northwind_admin
    page = client.get("/admin/integrations/").get_data(as_text=True)
    veeam, keepit = card_of(page, "veeam"), card_of(page, "keepit")
    assert "Sync now" in veeam and "Never" in veeam and "every 2s" not in veeam
    assert "Sync now" not in keepit  # not configured: nothing to sync yet
    token = csrf_token(client, "/admin/integrations/")
    started = client.post("/admin/integrations/veeam/sync", data={"view": "card", "csrf_token": token}, headers=HTMX)
    shown = started.get_data(as_text=True)
    assert shown.lstrip().startswith('<section id="card-veeam"')  # the card itself, swapped in place
    assert "Queued " in shown and 'hx-trigger="every 2s"' in shown
    assert "Sync now" not in shown and ">Syncing<" in shown
    run_worker(app)
    done = client.get("/admin/integrations/veeam/sync?view=card", headers=HTMX).get_data(as_text=True)
    assert "hx-trigger" not in done and "Sync now" in done  # the poll stops by not rendering its trigger
    assert "· succeeded" in done and ">Enabled<" in done
    # Without JavaScript the button is a form: it starts the sync and comes back to the cards.
    plain = client.post("/admin/integrations/veeam/sync", data={"view": "card", "csrf_token": token})
    assert plain.status_code == 302 and plain.headers["Location"].endswith("/admin/integrations/")
    assert "Veeam sync started." in client.get("/admin/integrations/").get_data(as_text=True)
    run_worker(app)


def card_of(page: str, vendor: str) -> str:
    start = page.index(f'<section id="card-{vendor}"')
    return page[start : page.index("</section>", start)]


def test_a_sync_that_cannot_start_says_why_in_its_own_card(
    app: Flask, northwind: TenantFixture, northwind_admin: HostClient
) -> None:
    token = csrf_token(northwind_admin, "/admin/integrations/")
    answer = northwind_admin.post(
        "/admin/integrations/keepit/sync", data={"view": "card", "csrf_token": token}, headers=HTMX
    ).get_data(as_text=True)
    assert answer.lstrip().startswith('<section id="card-keepit"') and "<html" not in answer
    assert "Configure and save Keepit before syncing." in answer


def test_the_configure_page_refreshes_recent_runs_and_tells_the_run_log_in_words(
    app: Flask, northwind_admin: HostClient, veeam_northwind: Vspc
) -> None:
    client = northwind_admin
    token = csrf_token(client, "/admin/integrations/veeam")
    started = client.post("/admin/integrations/veeam/sync", data={"view": "page", "csrf_token": token}, headers=HTMX)
    running = started.get_data(as_text=True)
    assert 'hx-trigger="every 1s"' in running and 'data-testid="recent-runs"' in running
    assert ">queued<" in running  # the run is in Recent runs from the start
    run_worker(app)
    done = client.get("/admin/integrations/veeam/sync?view=page", headers=HTMX).get_data(as_text=True)
    assert "hx-trigger" not in done
    runs = done[done.index('data-testid="recent-runs"') :]
    assert ">succeeded<" in runs and ">queued<" not in runs  # the finished run, without a reload
    assert "agent jobs" in runs and "agent_jobs" not in runs
    log = done[done.index('data-testid="run-log"') : done.index("</details>")]
    assert "Companies: fetched 1 page, 12 records in " in log
    assert "Events: fetched " in log and "{" not in log and "stream" not in log


def test_the_webhook_block_says_when_instant_updates_were_turned_on_and_how_to_turn_them_off(
    app: Flask, northwind: TenantFixture, northwind_admin: HostClient
) -> None:
    with app.app_context(), db.tenant_session(northwind.id) as s:
        s.add(
            Connection(
                tenant_id=northwind.id, vendor="connectwise", name="ConnectWise", config=Sealed.seal(northwind.id, {})
            )
        )
    off = northwind_admin.get("/admin/integrations/connectwise").get_data(as_text=True)
    assert "Instant updates off" in off and "Turn on instant updates" in off and "Instant updates on" not in off
    when = datetime(2026, 11, 24, 9, 12, tzinfo=UTC)
    with app.app_context(), db.tenant_session(northwind.id) as s:
        s.execute(
            update(Connection)
            .where(Connection.vendor == "connectwise")
            .values(callback_id="7", callback_since=when, callback_by="admin@northwind.test")
        )
    on = northwind_admin.get("/admin/integrations/connectwise").get_data(as_text=True)
    assert "Instant updates on" in on and "Turn on instant updates" not in on
    assert "Turned on 24 Nov 2026, 09:12 UTC by admin@northwind.test." in on
    assert "To turn them off, delete callback 7 in ConnectWise PSA" in on


def test_a_running_sync_says_how_long_and_how_far() -> None:
    now = datetime(2026, 12, 6, 10, 0, 0, tzinfo=UTC)
    log = runlog.stream_done([], "companies", seconds=0.4, cursor=None)
    log = runlog.stream_page(log, "jobs", records=500, odd={}, cursor=None)
    log = runlog.stream_page(log, "jobs", records=500, odd={}, cursor=None)
    run = SyncRun(status="running", created_at=now - timedelta(seconds=20), started_at=now - timedelta(seconds=12))
    run.log = log
    assert sync_progress(run, now=now) == SyncProgress(
        True, "Syncing… started 12 s ago", "Jobs: 2 pages, 1,000 records so far."
    )
    run.started_at = now - timedelta(minutes=4, seconds=5)
    assert sync_progress(run, now=now).words == "Syncing… started 4 min 5 s ago"
    queued = SyncRun(status="queued", created_at=now - timedelta(seconds=3))
    assert sync_progress(queued, now=now).words == "Queued 3 s ago, waiting for a worker to start it…"
    assert sync_progress(SyncRun(status="succeeded", created_at=now), now=now) == SyncProgress(False)


def test_the_address_kept_in_clear_never_carries_a_user_or_password(settings: Settings) -> None:
    """connections.base_url is linked on pages ("Open in Veeam"): credentials typed into the URL stay sealed."""
    typed = {"base_url": "https://svc-vectis:S3cret@vspc.example.com:1280/", "username": "u", "password": "p"}
    assert vendor_address("veeam", typed, settings) == "https://vspc.example.com:1280"
    assert vendor_address("veeam", {"base_url": "https://vspc.example.com"}, settings) == "https://vspc.example.com"
