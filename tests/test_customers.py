"""Customers, the hub and the timeline: list, tabs, derived backup states, notes, filters, paging, gaps."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import event, select

from tests.conftest import MadeUser, TenantFixture, csrf_token, login, pid
from tests.vendors.support import add_connection, new_tenant
from vectis.backups import runs
from vectis.backups.state import derive
from vectis.backups.writer import write_runs
from vectis.connectors.base import BackupRunRecord
from vectis.connectors.keepit import KeepitConnector
from vectis.customers.phones import phone
from vectis.demo.history import Latest, backfill, strip_of
from vectis.demo.seed import DEMO_VSPC
from vectis.models import (
    Alert,
    AlertState,
    AuditEntry,
    BackupConnector,
    BackupConnectorStatus,
    BackupRun,
    Connection,
    Contact,
    Customer,
    CustomerLink,
    CustomerNote,
    SyncRun,
    Tenant,
    Ticket,
    TimelineEvent,
)
from vectis.platform import db
from vectis.platform.crypto import Sealed
from vectis.platform.dates import when

NOW = datetime(2026, 5, 4, 7, 10, tzinfo=UTC)
H = timedelta(hours=1)


# --- the one derivation of backup states ------------------------------------------------------------


@pytest.mark.parametrize(
    ("vendor", "attempt", "success", "duration", "removed", "state", "reason"),
    [
        ("success", NOW - 2 * H, NOW - 2 * H, 600, None, "success", "last success 4 May 05:10"),
        ("warning", NOW - 2 * H, NOW - 2 * H, 600, None, "warning", "finished with warnings 4 May 05:10"),
        ("failed", NOW - 2 * H, NOW - 20 * H, 600, None, "failed", "failed 4 May 05:10"),
        ("running", NOW - 10 * 60 * timedelta(seconds=1), NOW - 20 * H, 600, None, "running", "running since"),
        ("stopped", NOW - 2 * H, NOW - 2 * H, 600, None, "stopped", "not running"),
        (
            "failed",
            NOW - 2 * H,
            NOW - 52 * H,
            600,
            None,
            "failed",  # issue 16, finding 1: a failed last run is failed, however long ago the last success
            "failed 4 May 05:10",
        ),
        (
            "success",
            NOW - 60 * H,
            NOW - 60 * H,
            600,
            None,
            "silent",
            "no attempt since 1 May 19:10 — 60 h, threshold 48 h",
        ),
        (
            "running",
            NOW - 9 * H,
            NOW - 30 * H,
            40 * 60,
            None,
            "stuck",
            "running for 9 h since 3 May 22:10, usually 40 min",
        ),
        (None, None, None, None, None, "never", "no run on record yet"),
        ("success", NOW - H, NOW - H, 60, NOW - 3 * H, "removed", "removed at the vendor on 4 May 04:10"),
        ("failed", NOW - H, None, 60, None, "failed", "failed 4 May 06:10"),
        ("success", NOW - 60 * H, NOW - 59 * H, 600, None, "silent", "no attempt since 1 May 19:10"),
    ],
)
def test_every_derived_backup_state_says_why(
    vendor: str | None,
    attempt: datetime | None,
    success: datetime | None,
    duration: int | None,
    removed: datetime | None,
    state: str,
    reason: str,
) -> None:
    health = derive(
        vendor,
        last_attempt_at=attempt,
        last_success_at=success,
        last_duration_seconds=duration,
        removed_at=removed,
        now=NOW,
    )
    assert health.state == state
    assert reason in health.reason, health.reason


# --- fixtures: a customer with a backup job, events, notes ----------------------------------------


def make_customer(app: Flask, tenant: TenantFixture, *, backups: bool = True, name: str | None = None) -> int:
    name = name or f"Hub Test {uuid.uuid4().hex[:6]}"
    with app.app_context(), db.tenant_session(tenant.id) as s:
        customer = Customer(tenant_id=tenant.id, name=name, normalized_name=name.lower(), location="Leeds, UK")
        s.add(customer)
        s.flush()
        if backups:
            connection = s.scalar(select(Connection).where(Connection.vendor == "veeam"))
            assert connection is not None
            job = BackupConnector(
                tenant_id=tenant.id,
                connection_id=connection.id,
                customer_id=customer.id,
                external_id=f"job-{customer.id}",
                name="SQL01 Nightly",
                kind="Backup",
                vendor_type="BackupVm",
            )
            s.add(job)
            s.flush()
            s.add(
                BackupConnectorStatus(
                    tenant_id=tenant.id,
                    backup_connector_id=job.id,
                    state="failed",
                    vendor_status="Failed",
                    last_attempt_at=datetime.now(UTC) - H,
                    last_success_at=datetime.now(UTC) - 52 * H,
                )
            )
        return customer.id


def add_events(app: Flask, tenant: TenantFixture, customer_id: int, count: int, *, start: datetime) -> None:
    with app.app_context(), db.tenant_session(tenant.id) as s:
        s.add_all(
            TimelineEvent(
                tenant_id=tenant.id,
                customer_id=customer_id,
                source="Veeam" if i % 2 else "Keepit",
                kind="backup.test",
                occurred_at=start + timedelta(minutes=i),
                title=f"event {uuid.uuid4().hex[:8]}",
                dedup_key=uuid.uuid4().hex,
            )
            for i in range(count)
        )


def titles(html: str) -> list[str]:
    return re.findall(r'<p class="entry-title">(event [0-9a-f]{8})</p>', html)


# --- list, palette, hub ------------------------------------------------------------------------------


def test_a_workspace_without_customers_says_how_to_get_them(app: Flask, make_user: Callable[..., MadeUser]) -> None:
    with app.app_context(), db.system_session() as s:
        tenant = Tenant(slug=f"e{uuid.uuid4().hex[:10]}", name="Empty MSP")
        s.add(tenant)
        s.flush()
        fixture = TenantFixture(tenant.id, tenant.slug, f"{tenant.slug}.localhost", "", {})
    admin = make_user(fixture, "admin")
    page = login(app, fixture, admin.email).get("/customers").get_data(as_text=True)
    assert "No customers yet" in page and "Connect an integration" in page
    timeline = login(app, fixture, admin.email).get("/timeline").get_data(as_text=True)
    assert "Nothing on the timeline yet" in timeline


def test_the_list_finds_customers_by_what_a_vendor_calls_them_and_shows_badges(app: Flask, acme: TenantFixture) -> None:
    customer_id = make_customer(app, acme, name="Greyhaven Architects Ltd")
    with app.app_context(), db.tenant_session(acme.id) as s:
        connection = s.scalar(select(Connection).where(Connection.vendor == "veeam"))
        assert connection is not None
        s.add(
            CustomerLink(
                tenant_id=acme.id,
                connection_id=connection.id,
                customer_id=customer_id,
                external_id=f"x-{customer_id}",
                external_name="GREYHAVEN ARCH (old name)",
            )
        )
        s.add(
            Customer(
                tenant_id=acme.id, name="Greyhaven — York", normalized_name="greyhaven york", parent_id=customer_id
            )
        )
    client = login(app, acme)
    page = client.get("/customers?q=ARCH (old").get_data(as_text=True)
    assert "Greyhaven Architects Ltd" in page and "1 site" in page and "1 failed" in page  # failed, not stale
    partial = client.get("/customers?q=Greyhaven", headers={"HX-Request": "true"})
    assert "<html" not in partial.get_data(as_text=True) and "Greyhaven Architects Ltd" in partial.get_data(
        as_text=True
    )
    assert client.get("/customers?q=no-such-customer-anywhere").get_data(as_text=True).count("No customer matches") == 1
    palette = client.get("/customers/palette?q=greyhaven", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert f'href="/customers/{pid(app, "customer", customer_id)}"' in palette


def test_tabs_show_only_with_data_and_their_urls_survive_reload(app: Flask, acme: TenantFixture) -> None:
    with_backups, without = make_customer(app, acme), make_customer(app, acme, backups=False)
    client = login(app, acme)
    page = client.get(f"/customers/{pid(app, 'customer', with_backups)}/backups")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "HX-Request" in page.headers.get("Vary", "")
    assert 'aria-current="page">Backups</a>' in html and "SQL01 Nightly" in html and "<html" in html
    assert "failed" in html and "no success for 52 h" in html  # the state says why, the second line how long
    tab = client.get(
        f"/customers/{pid(app, 'customer', with_backups)}/timeline", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert "<html" not in tab and 'id="hub-body"' in tab and 'aria-current="page">Timeline</a>' in tab
    assert (
        client.get(f"/customers/{pid(app, 'customer', without)}/backups").status_code == 404
    )  # no backup data: no Backups tab
    bare = client.get(f"/customers/{pid(app, 'customer', without)}").get_data(as_text=True)
    assert ">Backups</a>" not in bare and 'aria-current="page">Timeline</a>' in bare


def test_timeline_filters_round_trip_through_the_url(app: Flask, acme: TenantFixture) -> None:
    customer_id = make_customer(app, acme)
    add_events(app, acme, customer_id, 6, start=datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    client = login(app, acme)
    html = client.get(f"/customers/{pid(app, 'customer', customer_id)}/timeline?day=2026-03-02&source=Veeam").get_data(
        as_text=True
    )
    assert len(titles(html)) == 3  # Veeam's half of that day
    assert "Day: 02 Mar 2026" in html and "Source: Veeam" in html
    assert 'value="2026-03-02"' in html and 'value="Veeam" checked' in html
    # Each chip links to the same view without its own filter.
    assert f'href="/customers/{pid(app, "customer", customer_id)}/timeline?source=Veeam"' in html
    assert f'href="/customers/{pid(app, "customer", customer_id)}/timeline?day=2026-03-02"' in html
    assert (
        len(
            titles(
                client.get(f"/customers/{pid(app, 'customer', customer_id)}/timeline?day=2026-03-03").get_data(
                    as_text=True
                )
            )
        )
        == 0
    )


def test_load_older_neither_skips_nor_repeats_while_new_events_arrive(app: Flask, acme: TenantFixture) -> None:
    customer_id = make_customer(app, acme, backups=False)
    add_events(app, acme, customer_id, 120, start=datetime.now(UTC) - timedelta(days=3))
    client = login(app, acme)
    first = client.get(f"/customers/{pid(app, 'customer', customer_id)}/timeline").get_data(as_text=True)
    older = re.search(r'hx-get="([^"]*before=[^"]*)"', first)
    assert older is not None
    add_events(app, acme, customer_id, 15, start=datetime.now(UTC) - timedelta(minutes=30))  # newer, meanwhile
    rest = []
    url: str | None = older.group(1).replace("&amp;", "&")
    while url:
        more = client.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)
        rest += titles(more)
        found = re.search(r'hx-get="([^"]*before=[^"]*)"', more)
        url = found.group(1).replace("&amp;", "&") if found else None
    seen = titles(first) + rest
    assert len(seen) == len(set(seen)) == 120


def test_gap_markers_show_where_a_source_was_not_syncing(app: Flask, acme: TenantFixture) -> None:
    customer_id = make_customer(app, acme, backups=False)
    now = datetime.now(UTC)
    with app.app_context(), db.tenant_session(acme.id) as s:
        connection = Connection(
            tenant_id=acme.id, vendor=f"gap{uuid.uuid4().hex[:6]}", name="GapSource", config=Sealed.seal(acme.id, {})
        )
        s.add(connection)
        s.flush()
        s.add(
            CustomerLink(
                tenant_id=acme.id,
                connection_id=connection.id,
                customer_id=customer_id,
                external_id="g",
                external_name="g",
            )
        )
        for finished in (now - 10 * H, now - 10 * H + timedelta(minutes=15), now - 2 * H):  # 7 h 45 min without a sync
            s.add(
                SyncRun(
                    tenant_id=acme.id,
                    connection_id=connection.id,
                    trigger="schedule",
                    status="succeeded",
                    started_at=finished,
                    finished_at=finished,
                )
            )
    html = login(app, acme).get(f"/customers/{pid(app, 'customer', customer_id)}/timeline").get_data(as_text=True)
    assert html.count('data-testid="sync-gap"') == 1 and "GapSource was not syncing from" in html


# --- notes -------------------------------------------------------------------------------------------


def test_notes_interleave_and_only_their_author_changes_them(
    app: Flask, acme: TenantFixture, make_user: Callable[..., MadeUser]
) -> None:
    customer_id = make_customer(app, acme, backups=False)
    add_events(app, acme, customer_id, 3, start=datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    author, other = make_user(acme), make_user(acme)
    writer = login(app, acme, author.email)
    token = csrf_token(writer, f"/customers/{pid(app, 'customer', customer_id)}/timeline")
    posted = writer.post(
        f"/customers/{pid(app, 'customer', customer_id)}/notes",
        data={"csrf_token": token, "body": "Talked to their CIO at 4pm", "occurred_at": "2026-03-02T09:01:30"},
    )
    assert posted.status_code == 302
    html = writer.get(f"/customers/{pid(app, 'customer', customer_id)}/timeline").get_data(as_text=True)
    entries = re.findall(r'data-testid="(note|event)"', html)
    assert entries == ["event", "note", "event", "event"]  # newest first: 09:02, the note at 09:01:30, 09:01, 09:00
    with app.app_context(), db.tenant_session(acme.id) as s:
        note = s.scalar(select(CustomerNote).where(CustomerNote.customer_id == customer_id))
        assert note is not None
        note_id = note.id
    refused = writer.post(
        f"/customers/{pid(app, 'customer', customer_id)}/notes", data={"csrf_token": token, "body": "   "}
    )
    assert refused.status_code == 422 and "Write the note first." in refused.get_data(as_text=True)

    stranger = login(app, acme, other.email)
    their_token = csrf_token(stranger, f"/customers/{pid(app, 'customer', customer_id)}/timeline")
    stranger.post(
        f"/customers/{pid(app, 'customer', customer_id)}/notes/{pid(app, 'note', note_id)}",
        data={"csrf_token": their_token, "body": "rewritten"},
    )
    assert "Edit or delete" not in stranger.get(f"/customers/{pid(app, 'customer', customer_id)}/timeline").get_data(
        as_text=True
    )
    writer.post(
        f"/customers/{pid(app, 'customer', customer_id)}/notes/{pid(app, 'note', note_id)}",
        data={"csrf_token": token, "body": "Talked to the CIO"},
    )
    writer.post(
        f"/customers/{pid(app, 'customer', customer_id)}/notes/{pid(app, 'note', note_id)}/delete",
        data={"csrf_token": token},
    )
    with app.app_context(), db.tenant_session(acme.id) as s:
        assert s.get(CustomerNote, note_id) is None
        assert s.scalar(select(TimelineEvent).where(TimelineEvent.note_id == note_id)) is None
        results = [
            tuple(row)
            for row in s.execute(
                select(AuditEntry.action, AuditEntry.result, AuditEntry.actor_id)
                .where(AuditEntry.target_type == "customer_note", AuditEntry.target_id == str(note_id))
                .order_by(AuditEntry.seq)
            )
        ]
    assert results == [
        ("note.edit", "failed", str(other.id)),  # not the author
        ("note.edit", "ok", str(author.id)),
        ("note.delete", "ok", str(author.id)),
    ]
    viewer = login(app, acme, "viewer@acme.test")
    blocked = viewer.post(
        f"/customers/{pid(app, 'customer', customer_id)}/notes",
        data={
            "csrf_token": csrf_token(viewer, f"/customers/{pid(app, 'customer', customer_id)}/timeline"),
            "body": "hi",
        },
    )
    assert blocked.status_code == 403


def test_a_note_pinned_to_year_one_is_refused_and_the_hub_keeps_working(app: Flask, acme: TenantFixture) -> None:
    """Issue 15, finding 2: 0001-01-01T00:00:00+14:00 is 1 BC in UTC, which the driver cannot read back."""
    customer_id = make_customer(app, acme, backups=False)
    writer = login(app, acme)
    timeline = f"/customers/{pid(app, 'customer', customer_id)}/timeline"
    token = csrf_token(writer, timeline)
    for moment in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1969-12-31T23:59:59"):
        refused = writer.post(
            f"/customers/{pid(app, 'customer', customer_id)}/notes",
            data={"csrf_token": token, "body": "from another era", "occurred_at": moment},
        )
        assert refused.status_code == 422, moment
        assert "between 1970 and now" in refused.get_data(as_text=True)
    assert writer.get(timeline).status_code == 200
    with app.app_context(), db.tenant_session(acme.id) as s:
        assert s.scalar(select(CustomerNote).where(CustomerNote.customer_id == customer_id)) is None


def test_a_failed_job_says_how_long_it_has_gone_without_a_success_on_a_second_line() -> None:
    """Issue 16, finding 1: failed, not stale, with "no success for 52 h" beneath."""
    failed = derive("failed", last_attempt_at=NOW - 2 * H, last_success_at=NOW - 52 * H, last_duration_seconds=600,
                    removed_at=None, now=NOW)  # fmt: skip
    assert (failed.state, failed.detail) == ("failed", "no success for 52 h (since 2 May 03:10)")
    never = derive("failed", last_attempt_at=NOW - 60 * H, last_success_at=None, last_duration_seconds=600,
                   removed_at=None, now=NOW)  # fmt: skip
    assert (never.state, never.detail) == ("failed", "no success on record · no attempt for 60 h")
    recent = derive("failed", last_attempt_at=NOW - H, last_success_at=NOW - 20 * H, last_duration_seconds=600,
                    removed_at=None, now=NOW)  # fmt: skip
    assert recent.detail is None


def test_a_vendor_time_in_the_future_is_flagged_not_shown_as_fact() -> None:
    """Issue 16, finding 2: at 18:27 a job showed "last success 20:09 today"."""
    health = derive("success", last_attempt_at=NOW + 2 * H, last_success_at=NOW + 2 * H, last_duration_seconds=60,
                    removed_at=None, now=NOW)  # fmt: skip
    assert health.state == "unknown" and "later than now" in health.reason and health.detail
    skew = derive("success", last_attempt_at=NOW + timedelta(minutes=2), last_success_at=NOW, last_duration_seconds=60,
                  removed_at=None, now=NOW)  # fmt: skip
    assert skew.state == "success"  # a couple of minutes of clock skew is not an error


# --- issue 16: counts, contact, phones, run history, console links -------------------------------------


def add_tickets_and_alerts(app: Flask, tenant: TenantFixture, customer_id: int, *, tickets: int, alerts: int) -> None:
    """``tickets`` open tickets and ``alerts`` open alerts, plus one closed ticket and one acknowledged alert
    that must not count."""
    now = datetime.now(UTC)
    with app.app_context(), db.tenant_session(tenant.id) as s:
        psa = s.scalar(select(Connection).where(Connection.vendor == "connectwise"))
        if psa is None:
            psa = Connection(tenant_id=tenant.id, vendor="connectwise", name="CW", config=Sealed.seal(tenant.id, {}))
            s.add(psa)
            s.flush()
        for n in range(tickets + 1):
            s.add(
                Ticket(
                    tenant_id=tenant.id, connection_id=psa.id, customer_id=customer_id,
                    external_id=f"c{customer_id}-{n}-{uuid.uuid4().hex[:6]}", summary=f"Ticket {n}",
                    status_name="Closed" if n == tickets else "New", closed=n == tickets, opened_at=now,
                    vendor_updated_at=now,
                )
            )  # fmt: skip
        for n in range(alerts + 1):
            s.add(
                Alert(
                    tenant_id=tenant.id, customer_id=customer_id, source="Veeam", condition=f"test:{uuid.uuid4().hex}",
                    severity="critical", subject_type="backup_job", subject_id=customer_id * 100 + n,
                    subject_label="Job", message="failed", first_seen_at=now, last_seen_at=now,
                    state=AlertState.ACKNOWLEDGED.value if n == alerts else AlertState.OPEN.value,
                )
            )  # fmt: skip


def other_workspace(app: Flask) -> TenantFixture:
    """A workspace of its own (northwind's customers are the browser tests' to count)."""
    tenant_id = new_tenant(app)
    return TenantFixture(tenant_id, f"t{tenant_id}", f"t{tenant_id}.localhost", "", {})


def test_the_list_and_the_hub_header_count_open_tickets_and_alerts_with_their_sites(
    app: Flask, acme: TenantFixture
) -> None:
    name = f"Counted {uuid.uuid4().hex[:6]}"
    parent = make_customer(app, acme, backups=False, name=name)
    with app.app_context(), db.tenant_session(acme.id) as s:
        site = Customer(tenant_id=acme.id, name=f"{name} — Leeds", normalized_name=f"{name} leeds", parent_id=parent)
        s.add(site)
        s.flush()
        site_id = site.id
    add_tickets_and_alerts(app, acme, parent, tickets=2, alerts=1)
    add_tickets_and_alerts(app, acme, site_id, tickets=1, alerts=1)  # a site's roll up to its customer
    elsewhere = other_workspace(app)
    stranger = make_customer(app, elsewhere, backups=False, name=name)  # the same name, another workspace
    add_tickets_and_alerts(app, elsewhere, stranger, tickets=5, alerts=5)
    client = login(app, acme)
    row = client.get(f"/customers?q={name}").get_data(as_text=True).split('data-testid="open-counts"', 1)[1]
    row = row.split("</td>", 1)[0]
    assert f'href="/customers/{pid(app, "customer", parent)}/tickets">3 tickets</a>' in row
    assert f'href="/customers/{pid(app, "customer", parent)}/alerts">2 alerts</a>' in row
    hub = client.get(f"/customers/{pid(app, 'customer', parent)}").get_data(as_text=True)
    header = hub.split('data-testid="hub-badges"', 1)[1].split("</div>", 1)[0]
    assert "3 open tickets" in header and "2 open alerts" in header and "Nothing needs attention" not in header
    assert f'href="/customers/{pid(app, "customer", parent)}/tickets"' in header
    quiet = make_customer(app, acme, backups=False)
    quiet_row = client.get(f"/customers?q={quiet_name(app, acme, quiet)}").get_data(as_text=True)
    cell = quiet_row.split('data-testid="open-counts"', 1)[1].split("</td>", 1)[0]
    assert '<span class="muted">—</span>' in cell and "ticket" not in cell


def quiet_name(app: Flask, tenant: TenantFixture, customer_id: int) -> str:
    with app.app_context(), db.tenant_session(tenant.id) as s:
        found = s.get(Customer, customer_id)
        assert found is not None
        return found.name


def test_the_customer_list_counts_in_a_fixed_number_of_statements(app: Flask, acme: TenantFixture) -> None:
    """The counts are one set-based query whatever the page holds, not one per row."""
    tag = uuid.uuid4().hex[:6]
    one = make_customer(app, acme, name=f"Statements {tag} one")
    add_tickets_and_alerts(app, acme, one, tickets=1, alerts=1)
    for n in range(4):
        more = make_customer(app, acme, name=f"Statements {tag} many {n}")
        add_tickets_and_alerts(app, acme, more, tickets=2, alerts=1)
    client = login(app, acme)
    engine = app.extensions["vectis.platform.db"].app_engine

    def statements(path: str) -> int:
        seen: list[str] = []

        def record(conn: object, cursor: object, statement: str, *args: object) -> None:
            seen.append(statement)

        event.listen(engine, "before_cursor_execute", record)
        try:
            assert client.get(path).status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", record)
        return len(seen)

    statements(f"/customers?q=Statements+{tag}")  # warm
    assert statements(f"/customers?q=Statements+{tag}+one") == statements(f"/customers?q=Statements+{tag}+many")


@pytest.mark.parametrize(
    ("raw", "location", "text", "tel"),
    [
        ("2075550100", "Portland, Northeast, USA", "+1 207-555-0100", "+12075550100"),  # ConnectWise: digits only
        ("+44 113 496 0123", "Leeds, United Kingdom", "+44 113 496 0123", "+441134960123"),  # Keepit, Veeam
        ("0113 496 0123", "Leeds, England, United Kingdom", "+44 113 496 0123", "+441134960123"),
        ("020 7946 0958", "London, GB", "+44 20 7946 0958", "+442079460958"),
        ("(916) 555-0147", None, "(916) 555-0147", "9165550147"),  # no country known: as written
        ("ask for Bob", "Leeds, United Kingdom", "ask for Bob", None),
        ("12", "USA", "12", None),
    ],
)
def test_phone_numbers_read_in_the_customers_country_or_stay_as_written(
    raw: str, location: str | None, text: str, tel: str | None
) -> None:
    shown = phone(raw, location)
    assert shown is not None and (shown.text, shown.tel) == (text, tel)
    assert phone("  ", location) is None


def test_the_hub_header_mails_and_calls_the_primary_contact(app: Flask, acme: TenantFixture) -> None:
    customer_id = make_customer(app, acme, backups=False)
    with app.app_context(), db.tenant_session(acme.id) as s:
        customer = s.get(Customer, customer_id)
        assert customer is not None
        customer.contact_name, customer.contact_phone = "Alex Clarke", "2075550100"
        customer.location = "Portland, Northeast, USA"
        psa = s.scalar(select(Connection).where(Connection.vendor == "connectwise"))
        assert psa is not None
        for n, (name, email) in enumerate((("Sam Hale", "sam@x.example"), ("alex clarke", "alex@x.example"))):
            s.add(
                Contact(
                    tenant_id=acme.id, connection_id=psa.id, customer_id=customer_id,
                    external_id=f"{customer_id}-{n}", name=name, email=email,
                )
            )  # fmt: skip
    html = login(app, acme).get(f"/customers/{pid(app, 'customer', customer_id)}").get_data(as_text=True)
    contact = html.split('data-testid="hub-contact"', 1)[1].split("</div>", 1)[0]
    assert "Alex Clarke" in contact and '<a href="mailto:alex@x.example">alex@x.example</a>' in contact
    assert '<a href="tel:+12075550100">+1 207-555-0100</a>' in html


def add_runs(app: Flask, tenant: TenantFixture, job_id: int, states: list[str], start: datetime) -> None:
    runs = tuple(
        BackupRunRecord(f"run-{n}", state, state.title(), start + n * 24 * H, start + n * 24 * H + H)
        for n, state in enumerate(states)
    )
    with app.app_context(), db.tenant_session(tenant.id) as s:
        write_runs(s, tenant.id, {job_id: runs})


def test_the_backups_tab_shows_the_last_fourteen_runs_oldest_first_and_opens_the_vendors_console(
    app: Flask, acme: TenantFixture
) -> None:
    customer_id = make_customer(app, acme)
    with app.app_context(), db.tenant_session(acme.id) as s:
        job_id = s.scalar(select(BackupConnector.id).where(BackupConnector.customer_id == customer_id))
        assert job_id is not None
    states = ["success"] * 10 + ["warning", "success", "failed", "failed", "success", "failed"]
    add_runs(app, acme, job_id, states, datetime(2026, 3, 1, 22, 0, tzinfo=UTC))
    html = login(app, acme).get(f"/customers/{pid(app, 'customer', customer_id)}/backups").get_data(as_text=True)
    strip = html.split('data-testid="run-strip"', 1)[1].split("</ol>", 1)[0]
    assert re.findall(r'data-state="(\w+)"', strip) == states[-14:]  # the newest 14, oldest on the left
    assert "16 Mar 22:00 · Failed · took 1 h" in strip and "Last 14 runs, oldest first" in html
    link = re.search(r'<a class="console-link" href="([^"]+)" target="_blank" rel="noopener noreferrer"', html)
    with app.app_context(), db.tenant_session(acme.id) as s:
        job = s.get(BackupConnector, job_id)
        assert job is not None
        console = s.get(Connection, job.connection_id).read_config()["base_url"]  # type: ignore[union-attr]
    assert link is not None and link.group(1) == console.rstrip("/")  # VSPC has no deeper address

    fresh = make_customer(app, acme)  # a job seen once: the strip keeps its length, the run sits on the right
    with app.app_context(), db.tenant_session(acme.id) as s:
        fresh_job = s.scalar(select(BackupConnector.id).where(BackupConnector.customer_id == fresh))
        assert fresh_job is not None
    add_runs(app, acme, fresh_job, ["running"], datetime.now(UTC) - H)
    one = login(app, acme).get(f"/customers/{pid(app, 'customer', fresh)}/backups").get_data(as_text=True)
    cells = one.split('data-testid="run-strip"', 1)[1].split("</ol>", 1)[0]
    assert (
        cells.count("run-none") == 13
        and cells.rstrip().endswith('data-state="running"><span class="sr-only">') is False
    )
    assert re.findall(r'data-state="(\w+)"', cells) == ["running"]


def test_a_runs_cell_is_drawn_from_its_row_as_it_is_now(app: Flask, acme: TenantFixture) -> None:
    """Cells are made once per distinct run row (runs.strips caches them): a run the vendor dates in the future
    is never cached as fact, and a running run that settles is drawn anew, never from its earlier cell."""
    customer_id = make_customer(app, acme)
    with app.app_context(), db.tenant_session(acme.id) as s:
        job_id = s.scalar(select(BackupConnector.id).where(BackupConnector.customer_id == customer_id))
        assert job_id is not None
        started = datetime.now(UTC).replace(microsecond=0) - H
        write_runs(s, acme.id, {job_id: (BackupRunRecord("r1", "running", "Running", started),)})
        ahead = datetime.now(UTC) + 5 * H
        write_runs(s, acme.id, {job_id: (BackupRunRecord("r2", "success", "Success", ahead, ahead + H),)})
        first = runs.strips(s, [job_id])[job_id]
        assert [c.state for c in first.runs] == ["running", "success"]
        assert first.runs[1].title.endswith("the vendor reports a start later than now")
        # Seen from after that start, the same row is an ordinary past run.
        again = runs.strips(s, [job_id], now=ahead + 2 * H)[job_id]
        assert again.runs[1].title == f"{when(ahead)} · Success · took 1 h"
        write_runs(
            s, acme.id, {job_id: (BackupRunRecord("r1", "failed", "Failed", started, started + H, "Disk full"),)}
        )
        settled = runs.strips(s, [job_id])[job_id]
        assert settled.runs[0].title == f"{when(started)} · Failed · took 1 h · Disk full"
        assert 'data-state="failed"' in settled.html() and 'data-state="running"' not in settled.html()


def test_a_run_read_again_is_one_run_and_a_running_one_takes_its_outcome_once(app: Flask, acme: TenantFixture) -> None:
    customer_id = make_customer(app, acme)
    start = datetime(2026, 3, 1, 22, 0, tzinfo=UTC)
    with app.app_context(), db.tenant_session(acme.id) as s:
        job_id = s.scalar(select(BackupConnector.id).where(BackupConnector.customer_id == customer_id))
        assert job_id is not None
        write_runs(s, acme.id, {job_id: (BackupRunRecord("r1", "running", "Running", start),)})
        write_runs(s, acme.id, {job_id: (BackupRunRecord("r1", "running", "Running", start),) * 2})
        write_runs(s, acme.id, {job_id: (BackupRunRecord("r1", "failed", "Failed", start, start + H, "disk full"),)})
        write_runs(s, acme.id, {job_id: (BackupRunRecord("r1", "stopped", "Idle", start),)})  # gone idle since
        rows = s.execute(
            select(BackupRun.state, BackupRun.ended_at, BackupRun.duration_seconds, BackupRun.message).where(
                BackupRun.backup_connector_id == job_id
            )
        ).all()
    assert [tuple(r) for r in rows] == [("failed", start + H, 3600, "disk full")]


def test_the_backups_tab_links_the_console_without_opening_the_connections_secrets(
    app: Flask, make_user: Callable[..., MadeUser]
) -> None:
    # The link is built from where the vendor lives, kept in clear beside the sealed config: a config that
    # cannot be opened at all (sealed under a key long rotated away) still gives its jobs their link.
    tenant_id = new_tenant(app)
    veeam = add_connection(app, tenant_id, "veeam", {}).connection_id
    with app.app_context(), db.tenant_session(tenant_id) as s:
        connection = s.get(Connection, veeam)
        assert connection is not None
        connection.config, connection.base_url = (
            Sealed(b"not a token this keyring can open"),
            "https://vspc.harbor.test",
        )
        customer = Customer(tenant_id=tenant_id, name="Harbor Dental", normalized_name="harbor dental")
        s.add(customer)
        s.flush()
        s.add(
            BackupConnector(
                tenant_id=tenant_id, connection_id=veeam, customer_id=customer.id, external_id="job-1",
                name="SQL01 Nightly", kind="Backup", vendor_type="BackupVm",
            )
        )  # fmt: skip
        customer_id = customer.id
    with app.app_context(), db.system_session() as s:
        slug = s.scalars(select(Tenant.slug).where(Tenant.id == tenant_id)).one()
    tenant = TenantFixture(tenant_id, slug, f"{slug}.localhost", "", {})
    client = login(app, tenant, make_user(tenant, "technician").email)
    html = client.get(f"/customers/{pid(app, 'customer', customer_id)}/backups").get_data(as_text=True)
    link = re.search(r'<a class="console-link" href="([^"]+)"', html)
    assert link is not None and link.group(1) == "https://vspc.harbor.test"


def test_keepit_links_the_customers_account_in_its_web_app() -> None:
    base = "https://us-dc.keepit.com"
    assert KeepitConnector.console_url(base, job="dev1", account="abc123-def456-ghi789") == (
        "https://us-dc.keepit.com/users/abc123-def456-ghi789"
    )
    assert KeepitConnector.console_url(base, job="dev1", account=None) == base


def test_demo_history_fills_the_days_before_a_jobs_only_run_and_agrees_with_its_status(app: Flask) -> None:
    tenant_id = new_tenant(app)
    now = datetime.now(UTC)
    setup = add_connection(app, tenant_id, "veeam", dict(DEMO_VSPC))
    with app.app_context():
        assert backfill(tenant_id) is None  # not synced yet: nothing to fill, ask again later
    with app.app_context(), db.tenant_session(tenant_id) as s:
        s.get(Connection, setup.connection_id).last_sync_at = now  # type: ignore[union-attr]
        job = BackupConnector(
            tenant_id=tenant_id, connection_id=setup.connection_id, external_id="job-1", name="SQL01",
            kind="Backup", vendor_type="BackupVm",
        )  # fmt: skip
        s.add(job)
        s.flush()
        s.add(
            BackupConnectorStatus(
                tenant_id=tenant_id, backup_connector_id=job.id, state="failed", vendor_status="Failed",
                last_attempt_at=now - 2 * H, last_success_at=now - 52 * H, last_duration_seconds=600,
            )
        )  # fmt: skip
        write_runs(s, tenant_id, {job.id: (BackupRunRecord("seen", "failed", "Failed", now - 2 * H),)})
        job_id = job.id
    with app.app_context():
        assert backfill(tenant_id) == 1
        assert backfill(tenant_id) == 0  # filled once: a restart adds nothing
    with app.app_context(), db.tenant_session(tenant_id) as s:
        runs = s.execute(
            select(BackupRun.run_key, BackupRun.state, BackupRun.started_at)
            .where(BackupRun.backup_connector_id == job_id)
            .order_by(BackupRun.started_at)
        ).all()
    assert len(runs) == 14 and all(r.run_key.startswith("demo-history:") for r in runs[:-1])
    successes = [r.started_at for r in runs if r.state in ("success", "warning")]
    assert max(successes) == now - 52 * H  # no success after the last one, and that one is on the strip
    assert all(r.state == "failed" for r in runs if r.started_at > now - 52 * H)


# --- issue 16: the timeline's event-type and customer filters, and notes that keep the filters ------------


def add_kinds(app: Flask, tenant: TenantFixture, customer_id: int, kinds: list[str], *, start: datetime) -> None:
    with app.app_context(), db.tenant_session(tenant.id) as s:
        s.add_all(
            TimelineEvent(
                tenant_id=tenant.id, customer_id=customer_id, source="Keepit", kind=kind,
                occurred_at=start + timedelta(minutes=i), title=f"event {uuid.uuid4().hex[:8]}", dedup_key=uuid.uuid4().hex,
            )
            for i, kind in enumerate(kinds)
        )  # fmt: skip


def test_hiding_an_event_type_leaves_it_out_of_every_page(app: Flask, acme: TenantFixture) -> None:
    customer_id = make_customer(app, acme, backups=False)
    kinds = ["backup.sign-in", "backup.sign-in", "backup.security"] * 40  # 80 sign-ins among 120
    add_kinds(app, acme, customer_id, kinds, start=datetime.now(UTC) - timedelta(days=2))
    client = login(app, acme)
    base = f"/customers/{pid(app, 'customer', customer_id)}/timeline"
    first = client.get(f"{base}?hide=backup.sign-in").get_data(as_text=True)
    assert "Hiding: Sign-ins" in first  # the chip, in words
    assert f'href="{base}"' in first  # ... that removes the filter
    assert re.search(r'value="backup.sign-in" checked> Sign-ins', first)
    assert 'value="backup.security" >' in first and "Security (failed sign-ins, tokens, MFA)" in first
    seen, url = titles(first), re.search(r'hx-get="([^"]*before=[^"]*)"', first)
    assert url is None  # 40 left: one page
    assert len(seen) == 40
    everything = titles(client.get(base).get_data(as_text=True))
    assert len(everything) == 50  # a full first page without the filter
    with app.app_context(), db.tenant_session(acme.id) as s:
        hidden = set(
            s.scalars(
                select(TimelineEvent.title).where(
                    TimelineEvent.customer_id == customer_id, TimelineEvent.kind == "backup.sign-in"
                )
            )
        )
    assert not hidden & set(seen)


def test_the_global_timeline_shows_one_customer_and_its_sites(app: Flask, acme: TenantFixture) -> None:
    parent = make_customer(app, acme, backups=False)
    with app.app_context(), db.tenant_session(acme.id) as s:
        site = Customer(tenant_id=acme.id, name="Filter site", normalized_name="filter site", parent_id=parent)
        s.add(site)
        s.flush()
        site_id = site.id
    other = make_customer(app, acme, backups=False)
    start = datetime(2025, 1, 7, 9, 0, tzinfo=UTC)  # a day no other test writes to
    for customer_id in (parent, site_id, other):
        add_events(app, acme, customer_id, 2, start=start)
    client = login(app, acme)
    html = client.get(f"/timeline?customer={pid(app, 'customer', parent)}&day={start.date()}").get_data(as_text=True)
    assert len(titles(html)) == 4  # the customer's and its site's, not the other customer's
    name = quiet_name(app, acme, parent)
    assert f"Customer: {name}" in html
    assert f'<option value="{pid(app, "customer", parent)}" selected>{name}</option>' in html
    assert f'href="/timeline?day={start.date()}"' in html  # the chip drops the customer
    # Another workspace's customer is no filter here: it drops out, as if never asked for.
    foreign = make_customer(app, other_workspace(app), backups=False)
    elsewhere = client.get(f"/timeline?customer={pid(app, 'customer', foreign)}&day={start.date()}")
    assert elsewhere.status_code == 200 and len(titles(elsewhere.get_data(as_text=True))) >= 6
    assert "Customer: " not in elsewhere.get_data(as_text=True)


def test_adding_a_note_keeps_the_timelines_filters_and_says_when_they_hide_it(app: Flask, acme: TenantFixture) -> None:
    customer_id = make_customer(app, acme, backups=False)
    base = f"/customers/{pid(app, 'customer', customer_id)}/timeline"
    client = login(app, acme)
    page = client.get(f"{base}?source=Keepit&hide=backup.sign-in").get_data(as_text=True)
    form = page.split('data-testid="note-form"', 1)[1].split("</form>", 1)[0]
    kept = re.findall(r'<input type="hidden" name="(\w+)" value="([^"]+)">', form)
    assert ("source", "Keepit") in kept and ("hide", "backup.sign-in") in kept
    posted = client.post(
        f"/customers/{pid(app, 'customer', customer_id)}/notes",
        data={"csrf_token": csrf_token(client, base), "body": "Rebooted the NAS", **dict(kept)},
    )
    assert posted.status_code == 302
    assert posted.headers["Location"] == f"{base}?source=Keepit&hide=backup.sign-in"
    after = client.get(posted.headers["Location"]).get_data(as_text=True)
    assert "The filters above hide it: remove them to see it." in after  # Keepit only: the note is not shown
    plain = client.post(
        f"/customers/{pid(app, 'customer', customer_id)}/notes",
        data={"csrf_token": csrf_token(client, base), "body": "Called the office", "hide": "backup.sign-in"},
    )
    assert plain.headers["Location"] == f"{base}?hide=backup.sign-in"
    shown = client.get(plain.headers["Location"]).get_data(as_text=True)
    assert "Note added to" in shown and "hide it" not in shown and "Called the office" in shown
    refused = client.post(
        f"/customers/{pid(app, 'customer', customer_id)}/notes",
        data={"csrf_token": csrf_token(client, base), "body": " ", "source": "Keepit"},
    )
    assert refused.status_code == 422 and 'value="Keepit" checked' in refused.get_data(as_text=True)


@pytest.mark.parametrize("hours_back", [12 * n + 1 for n in range(1, 30)])
def test_demo_history_never_repeats_a_run_wherever_the_last_success_falls(hours_back: int) -> None:
    now = datetime(2026, 5, 4, 7, 10, tzinfo=UTC)
    for key in ("a", "b", "c", "d"):
        job = Latest(key, "failed", now - H, now - hours_back * H, 600)
        runs = strip_of(job, now)
        assert len({r.run_id for r in runs}) == len(runs) == 14
        assert all(r.started_at <= now - hours_back * H for r in runs if r.state == "success")
