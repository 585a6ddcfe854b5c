"""Daily metrics and SLA snapshots: exact counts on a hand-made day, the SLA as a ConnectWise sync brings it,
a day computed again replacing its rows, one tenant's data never counted for another, the nightly job, and the
demo's ninety days."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from time import sleep
from typing import Any

import pytest
from flask import Flask
from rq import SimpleWorker
from rq.cron import _job_data_registry
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

import jobs.schedule  # noqa: F401 - registers the cron entries
from jobs import metrics as metrics_job
from tests.conftest import TenantFixture
from tests.vendors.support import add_connection, new_tenant, serve_app, sync
from vectis.demo.datagen import generate_demo
from vectis.demo.history import METRICS_DAYS, backfill_after_first_sync, backfill_metrics
from vectis.demo.seed import DEMO_VSPC
from vectis.metrics.daily import backfill, compute_day, compute_days, today
from vectis.models import (
    Alert,
    BackupConnector,
    BackupRun,
    Connection,
    Customer,
    DailyMetrics,
    SlaSnapshot,
    Tenant,
    Ticket,
)
from vectis.platform import db
from vectis.platform.crypto import Sealed
from vectis.platform.queues import queue, redis
from vectis.simulators.connectwise import (
    DEMO_COMPANY_ID,
    DEMO_PRIVATE_KEY,
    DEMO_PUBLIC_KEY,
    ConnectWiseState,
    create_app,
    parse_iso,
)

DAY = date(2024, 3, 10)  # far from every other test's data, so only this module's rows fall on it


def at(day_offset: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime.combine(DAY + timedelta(days=day_offset), time(hour, minute, second), UTC)


@dataclass(frozen=True)
class Place:
    tenant_id: int
    connection_id: int
    customer_id: int  # the customer with the hand-made day
    quiet_id: int  # a customer with nothing at all


def _customer(s: Session, tenant_id: int, name: str) -> int:
    customer = Customer(tenant_id=tenant_id, name=name, normalized_name=name.lower())
    s.add(customer)
    s.flush()
    return customer.id


def _place(s: Session, tenant_id: int) -> Place:
    tag = uuid.uuid4().hex[:8]
    connection = s.scalar(select(Connection).where(Connection.vendor == "test-metrics"))  # one a vendor
    if connection is None:
        connection = Connection(
            tenant_id=tenant_id, vendor="test-metrics", name="Metrics PSA", config=Sealed.seal(tenant_id, {})
        )
        s.add(connection)
        s.flush()
    return Place(
        tenant_id,
        connection.id,
        _customer(s, tenant_id, f"Metrics Dental {tag}"),
        _customer(s, tenant_id, f"Quiet Bakery {tag}"),
    )


def _ticket(s: Session, p: Place, customer_id: int | None, opened: datetime, **columns: Any) -> Ticket:
    ticket = Ticket(
        tenant_id=p.tenant_id,
        connection_id=p.connection_id,
        customer_id=customer_id,
        external_id=uuid.uuid4().hex[:12],
        summary="Printer offline",
        status_name="Closed" if columns.get("closed") else "New",
        opened_at=opened,
        vendor_updated_at=columns.pop("vendor_updated_at", opened),
        **columns,
    )
    s.add(ticket)
    s.flush()
    return ticket


def _job(s: Session, p: Place, customer_id: int | None) -> int:
    job = BackupConnector(
        tenant_id=p.tenant_id, connection_id=p.connection_id, customer_id=customer_id,
        external_id=uuid.uuid4().hex, name="FS01 Daily", kind="Backup", vendor_type="BackupVm",
    )  # fmt: skip
    s.add(job)
    s.flush()
    return job.id


def _run(s: Session, p: Place, job_id: int, state: str, started: datetime) -> None:
    s.add(
        BackupRun(
            tenant_id=p.tenant_id, backup_connector_id=job_id, run_key=uuid.uuid4().hex, state=state,
            vendor_status=state.title(), started_at=started,
        )
    )  # fmt: skip


def _alert(s: Session, p: Place, customer_id: int | None, first_seen: datetime) -> None:
    s.add(
        Alert(
            tenant_id=p.tenant_id, customer_id=customer_id, source="Veeam", condition=f"test:{uuid.uuid4().hex[:8]}",
            severity="critical", subject_type="backup_job", subject_id=1, subject_label="FS01 Daily",
            message="failed", first_seen_at=first_seen, last_seen_at=first_seen,
        )
    )  # fmt: skip


SLA = "Standard SLA"


def _hand_made_day(s: Session, p: Place) -> dict[str, int]:
    """A customer's tickets, runs and alerts around ``DAY`` (UTC); the ids of the tickets a test changes."""
    x = p.customer_id
    first = _ticket(s, p, x, at(0, 9), sla_name=SLA, in_sla=True)  # opened; open at the end, not responded
    _ticket(s, p, x, at(-1, 10), closed=True, closed_at=at(0, 12), sla_name=SLA, in_sla=False,
            responded_at=at(-1, 11), resolved_at=at(0, 12))  # fmt: skip # closed; breached, resolved that day
    _ticket(s, p, x, at(-5, 8), closed=True, closed_at=at(1, 1), sla_name=SLA, in_sla=True,
            responded_at=at(0, 10))  # fmt: skip # open at the end; responded that day
    _ticket(s, p, x, at(0, 8), closed=True, closed_at=at(0, 18), in_sla=True, responded_at=at(0, 9),
            resolved_at=at(0, 18))  # fmt: skip # opened and closed; "in SLA" but under none: without
    _ticket(s, p, x, at(-3, 8), closed=True, closed_at=at(-1, 9), sla_name=SLA, in_sla=True)  # gone before
    _ticket(s, p, x, at(1, 0), sla_name=SLA, in_sla=True)  # opened the next day, to the second
    _ticket(s, p, x, at(-2, 8), closed=True, vendor_updated_at=at(0, 15), sla_name=SLA,
            in_sla=False)  # fmt: skip # closed without a date: when the PSA last changed it
    _ticket(s, p, x, at(-10, 8), closed_at=at(-4, 8), sla_name=SLA, in_sla=True,
            responded_at=at(-9, 8))  # fmt: skip # reopened: open
    _ticket(s, p, None, at(0, 9), sla_name=SLA, in_sla=False)  # no customer: counts nowhere

    job, unlinked = _job(s, p, x), _job(s, p, None)
    for state, started in (
        ("success", at(0, 2)), ("warning", at(0, 3)), ("failed", at(0, 4)), ("running", at(0, 5)),
        ("stopped", at(0, 6)), ("success", at(-1, 23, 59, 59)), ("success", at(1, 0)),
    ):  # fmt: skip
        _run(s, p, job, state, started)
    _run(s, p, unlinked, "failed", at(0, 2))

    for customer, seen in ((x, at(0, 10)), (x, at(0, 23, 59)), (x, at(-1, 10)), (None, at(0, 10))):
        _alert(s, p, customer, seen)
    s.flush()
    return {"first": first.id}


@pytest.fixture
def places(app: Flask, acme: TenantFixture, northwind: TenantFixture) -> Iterator[tuple[Place, Place]]:
    with app.app_context():
        with db.tenant_session(acme.id) as s:
            mine = _place(s, acme.id)
        with db.tenant_session(northwind.id) as s:
            theirs = _place(s, northwind.id)
    yield mine, theirs


def metrics_of(app: Flask, tenant_id: int, customer_id: int, day: date = DAY) -> DailyMetrics:
    with app.app_context(), db.tenant_session(tenant_id) as s:
        row = s.scalar(select(DailyMetrics).where(DailyMetrics.customer_id == customer_id, DailyMetrics.day == day))
        assert row is not None
        s.expunge(row)
        return row


def snapshot_of(app: Flask, tenant_id: int, customer_id: int, day: date = DAY) -> SlaSnapshot:
    with app.app_context(), db.tenant_session(tenant_id) as s:
        row = s.scalar(select(SlaSnapshot).where(SlaSnapshot.customer_id == customer_id, SlaSnapshot.day == day))
        assert row is not None
        s.expunge(row)
        return row


def daily(row: DailyMetrics) -> tuple[Any, ...]:
    return (
        row.tickets_opened, row.tickets_closed, row.tickets_open_at_end, row.backup_runs, row.backup_runs_succeeded,
        row.backup_runs_warning, row.backup_success_rate, row.alerts_opened,
    )  # fmt: skip


def sla(row: SlaSnapshot) -> tuple[Any, ...]:
    return (
        row.tickets_in_sla, row.tickets_out_of_sla, row.tickets_without_sla, row.in_sla_rate, row.tickets_responded,
        row.tickets_resolved, row.tickets_resolved_out_of_sla, row.tickets_awaiting_response,
    )  # fmt: skip


def test_it_counts_a_customers_day_exactly(app: Flask, places: tuple[Place, Place]) -> None:
    mine, _ = places
    with app.app_context(), db.tenant_session(mine.tenant_id) as s:
        _hand_made_day(s, mine)
        s.commit()
        done = compute_days(s, DAY - timedelta(days=1), DAY)
        customers = s.scalar(select(func.count()).select_from(Customer)) or 0
    assert done.rows == 2 * customers  # every customer, every day, zeros included

    # opened: 09:00 and 08:00; closed: at 12:00, at 18:00 and (no date) when last changed at 15:00; open at the
    # end: opened at 09:00, closed the next day, reopened. Runs: a success, a warning (a restore point: succeeded)
    # and a failure; running and stopped ones say nothing. Alerts: 10:00 and 23:59.
    assert daily(metrics_of(app, mine.tenant_id, mine.customer_id)) == (2, 3, 3, 3, 2, 1, Decimal("66.67"), 2)
    assert daily(metrics_of(app, mine.tenant_id, mine.customer_id, DAY - timedelta(days=1))) == (
        1, 1, 4, 1, 1, 0, Decimal("100.00"), 1,
    )  # fmt: skip
    # Alive that day: 3 in SLA, 2 breached, 1 under no SLA; responded: 2, resolved: 2 (one breached); awaiting a
    # response at the end: the one opened at 09:00.
    assert sla(snapshot_of(app, mine.tenant_id, mine.customer_id)) == (3, 2, 1, Decimal("60.00"), 2, 2, 1, 1)
    quiet = metrics_of(app, mine.tenant_id, mine.quiet_id)
    assert daily(quiet) == (0, 0, 0, 0, 0, 0, None, 0)  # no run is not 0% success
    assert sla(snapshot_of(app, mine.tenant_id, mine.quiet_id)) == (0, 0, 0, None, 0, 0, 0, 0)


def test_a_day_computed_again_replaces_its_rows(app: Flask, places: tuple[Place, Place]) -> None:
    mine, _ = places
    with app.app_context(), db.tenant_session(mine.tenant_id) as s:
        ids = _hand_made_day(s, mine)
        s.commit()
        compute_day(s, DAY)
        s.commit()
        first = metrics_of(app, mine.tenant_id, mine.customer_id)
        compute_day(s, DAY)  # the same data: the same row, the same values
        s.commit()
        assert daily(metrics_of(app, mine.tenant_id, mine.customer_id)) == daily(first)
        s.execute(update(Ticket).where(Ticket.id == ids["first"]).values(closed=True, closed_at=at(0, 20)))
        compute_day(s, DAY)  # the data changed: the row follows
        rows = s.scalar(
            select(func.count()).select_from(DailyMetrics).where(DailyMetrics.customer_id == mine.customer_id)
        )
        snapshots = s.scalar(
            select(func.count()).select_from(SlaSnapshot).where(SlaSnapshot.customer_id == mine.customer_id)
        )
    assert (rows, snapshots) == (1, 1)
    again = metrics_of(app, mine.tenant_id, mine.customer_id)
    assert (again.tickets_closed, again.tickets_open_at_end, again.id) == (4, 2, first.id)
    assert again.computed_at >= first.computed_at
    assert snapshot_of(app, mine.tenant_id, mine.customer_id).tickets_awaiting_response == 0


def test_another_tenants_data_is_never_counted(app: Flask, places: tuple[Place, Place]) -> None:
    mine, theirs = places
    with app.app_context(), db.tenant_session(mine.tenant_id) as s:
        _hand_made_day(s, mine)
    with app.app_context(), db.system_session() as s:
        # Theirs: a day of their own, and rows that name my customer (a foreign key does not check the tenant).
        _hand_made_day(s, theirs)
        _ticket(s, theirs, mine.customer_id, at(0, 9), sla_name=SLA, in_sla=False)
        job = _job(s, theirs, mine.customer_id)
        _run(s, theirs, job, "failed", at(0, 2))
        _alert(s, theirs, mine.customer_id, at(0, 9))
    for place in (mine, theirs):
        with app.app_context(), db.tenant_session(place.tenant_id) as s:
            compute_day(s, DAY)
    assert daily(metrics_of(app, mine.tenant_id, mine.customer_id)) == (2, 3, 3, 3, 2, 1, Decimal("66.67"), 2)
    assert sla(snapshot_of(app, mine.tenant_id, mine.customer_id))[:3] == (3, 2, 1)
    assert daily(metrics_of(app, theirs.tenant_id, theirs.customer_id)) == (2, 3, 3, 3, 2, 1, Decimal("66.67"), 2)
    with app.app_context(), db.tenant_session(theirs.tenant_id) as s:  # none of my customers became theirs
        assert s.scalar(select(DailyMetrics).where(DailyMetrics.customer_id == mine.customer_id)) is None
        tenants = set(s.scalars(select(DailyMetrics.tenant_id).distinct()))
    assert tenants == {theirs.tenant_id}


def test_it_computes_only_in_a_tenants_session(app: Flask) -> None:
    with app.app_context(), db.system_session() as s, pytest.raises(RuntimeError, match="tenant"):
        compute_day(s, DAY)
    with app.app_context(), db.unbound_session() as s, pytest.raises(RuntimeError, match="tenant"):
        compute_day(s, DAY)


def test_a_backfill_writes_every_customer_each_day_in_one_go(app: Flask) -> None:
    tenant_id = new_tenant(app)
    with app.app_context(), db.tenant_session(tenant_id) as s:
        place = _place(s, tenant_id)
        _ticket(s, place, place.customer_id, datetime.now(UTC) - timedelta(days=10))
        done = backfill(s, 90)
        s.commit()
        days = s.execute(
            select(DailyMetrics.customer_id, func.count(), func.min(DailyMetrics.day), func.max(DailyMetrics.day))
            .group_by(DailyMetrics.customer_id)
            .order_by(DailyMetrics.customer_id)
        ).all()
        open_days = s.scalar(
            select(func.count()).where(
                DailyMetrics.customer_id == place.customer_id, DailyMetrics.tickets_open_at_end == 1
            )
        )
    first = today() - timedelta(days=89)
    assert (done.first, done.last, done.rows) == (first, today(), 180)
    assert [tuple(row) for row in days] == [
        (place.customer_id, 90, first, today()),
        (place.quiet_id, 90, first, today()),
    ]
    assert open_days == 11  # opened ten days ago, open at the end of each day since


def test_an_operator_computes_a_workspaces_last_days_from_the_command_line(app: Flask) -> None:
    tenant_id = new_tenant(app)
    with app.app_context(), db.tenant_session(tenant_id) as s:
        place = _place(s, tenant_id)
        slug = s.scalar(select(Tenant.slug).where(Tenant.id == tenant_id))
    result = app.test_cli_runner().invoke(args=["vectis", "metrics", "--days", "30", "--tenant", str(slug)])
    assert result.exit_code == 0, result.output
    assert result.output == f"{slug}: 60 customer-day(s) from {today() - timedelta(days=29)} to {today()}\n"
    assert metrics_of(app, tenant_id, place.quiet_id, today() - timedelta(days=29)).tickets_opened == 0
    unknown = app.test_cli_runner().invoke(args=["vectis", "metrics", "--tenant", "no-such-workspace"])
    assert unknown.exit_code != 0 and "No workspace is called 'no-such-workspace'" in unknown.output


# --- the SLA as a ConnectWise sync brings it ----------------------------------------------------------------


def _alive_today(view: dict[str, Any], starts: datetime, ends: datetime) -> bool:
    opened = parse_iso(view["dateEntered"])
    closed = parse_iso(view["closedDate"]) if view.get("closedFlag") else None
    return opened is not None and opened < ends and (closed is None or closed >= starts)


def test_a_connectwise_syncs_sla_is_classified_as_connectwise_says(app: Flask) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    state = ConnectWiseState.seeded(now=now)
    state.clock = lambda: now  # the simulator's SLA clock stands still, so a deadline cannot pass mid-test
    starts = datetime.combine(now.date(), time(), UTC)
    ends = starts + timedelta(days=1)
    expected: dict[str, Counter[str]] = {}
    for view in (state.ticket_view(t) for t in state.tickets.values()):
        if not _alive_today(view, starts, ends):
            continue
        counts = expected.setdefault(view["company"]["name"], Counter())
        under = "sla" in view
        counts["in" if under and view["isInSla"] else "out" if under else "without"] += 1
        open_at_end = not view["closedFlag"]
        counts["awaiting"] += under and open_at_end and "dateResponded" not in view
        resolved = view.get("dateResolved", "") >= starts.strftime("%Y-%m-%dT%H:%M:%SZ")
        counts["resolved"] += resolved
        counts["resolved_out"] += resolved and under and not view["isInSla"]
    for url in serve_app(create_app(state)):
        setup = add_connection(
            app, new_tenant(app), "connectwise",
            {"site_url": url, "company_id": DEMO_COMPANY_ID, "public_key": DEMO_PUBLIC_KEY,
             "private_key": DEMO_PRIVATE_KEY, "client_id": ""},
        )  # fmt: skip
        run = sync(app, setup)
        assert run.status == "succeeded", run.error
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        assert s.scalar(select(func.count()).where(Ticket.in_sla.is_(False))), "the sync stored no breach"
        assert s.scalar(select(func.count()).where(Ticket.sla_name == "Premium SLA"))
        compute_day(s, now.date())
        s.commit()
        rows = s.execute(select(Customer.name, SlaSnapshot).join(Customer, Customer.id == SlaSnapshot.customer_id))
        found = {
            name: Counter(
                {
                    "in": row.tickets_in_sla, "out": row.tickets_out_of_sla, "without": row.tickets_without_sla,
                    "awaiting": row.tickets_awaiting_response, "resolved": row.tickets_resolved,
                    "resolved_out": row.tickets_resolved_out_of_sla,
                }
            )
            for name, row in rows
        }  # fmt: skip
    expected = {name: +counts for name, counts in expected.items() if +counts}
    assert {name: +counts for name, counts in found.items() if +counts} == expected
    assert sum(c["in"] + c["out"] for c in expected.values()) > 0


# --- the nightly job ----------------------------------------------------------------------------------------


def test_the_nightly_job_is_scheduled_enqueued_once_a_day_and_computes_yesterday_and_today(
    app: Flask, places: tuple[Place, Place]
) -> None:
    assert any(entry["func"] is metrics_job.tick and entry["cron"] == "20 0 * * *" for entry in _job_data_registry)
    mine, theirs = places
    with app.app_context():
        sync_queue = queue(metrics_job.QUEUE)
        sync_queue.empty()  # type: ignore[no-untyped-call]
        counted = metrics_job.tick()
        metrics_job.tick()  # a second tick that day (or a second cron by mistake) adds nothing
        jobs = sync_queue.get_jobs()
        assert counted >= 2 and len(jobs) == counted
        SimpleWorker([sync_queue], connection=redis()).work(burst=True)
        assert {job.get_status(refresh=True) for job in jobs} == {"finished"}
    for place in (mine, theirs):
        for day in (today() - timedelta(days=1), today()):
            assert metrics_of(app, place.tenant_id, place.customer_id, day).tickets_opened == 0
    with app.app_context():  # run again (a retried job): the same rows, none added
        with db.tenant_session(mine.tenant_id) as s:
            before = s.scalar(select(func.count()).select_from(DailyMetrics))
        metrics_job.compute(mine.tenant_id)
        with db.tenant_session(mine.tenant_id) as s:
            assert s.scalar(select(func.count()).select_from(DailyMetrics)) == before


# --- the demo -----------------------------------------------------------------------------------------------


def test_the_generated_demo_msp_gets_its_last_ninety_days_with_its_backup_runs_counted(app: Flask) -> None:
    tenant_id = new_tenant(app)
    with app.app_context():
        counts = generate_demo(tenant_id)
        written = backfill_metrics(tenant_id)
    customers = counts["customers"] + counts["sites"]
    assert written == customers * METRICS_DAYS
    with app.app_context(), db.tenant_session(tenant_id) as s:
        runs, days = s.execute(
            select(func.sum(DailyMetrics.backup_runs), func.count(DailyMetrics.day.distinct()))
        ).one()
        rates = s.scalar(select(func.count()).where(DailyMetrics.backup_success_rate.is_not(None)))
    assert days == METRICS_DAYS and runs > counts["jobs"] and rates


def test_the_demo_computes_its_metrics_once_every_connection_has_synced(app: Flask) -> None:
    tenant_id = new_tenant(app)
    with app.app_context(), db.system_session() as s:
        slug = s.scalar(select(Tenant.slug).where(Tenant.id == tenant_id))
    setup = add_connection(app, tenant_id, "veeam", dict(DEMO_VSPC))
    with app.app_context(), db.tenant_session(tenant_id) as s:
        place = _place(s, tenant_id)
        _ticket(s, place, place.customer_id, datetime.now(UTC) - timedelta(days=30))
        veeam = s.get(Connection, setup.connection_id)
        assert veeam is not None
        veeam.last_sync_at, veeam.last_status = datetime.now(UTC), "succeeded"
        waiting = s.get(Connection, place.connection_id)
        assert waiting is not None
        waiting.enabled = True  # a connection that has not synced yet holds the metrics back
    thread = backfill_after_first_sync(app, str(slug), timeout=30, every=0.05)
    sleep(0.3)
    with app.app_context(), db.tenant_session(tenant_id) as s:
        assert s.scalar(select(func.count()).select_from(DailyMetrics)) == 0
        s.execute(update(Connection).where(Connection.id == place.connection_id).values(last_status="failed"))
    thread.join(timeout=30)
    with app.app_context(), db.tenant_session(tenant_id) as s:
        open_days = s.scalar(
            select(func.count()).where(
                DailyMetrics.customer_id == place.customer_id, DailyMetrics.tickets_open_at_end == 1
            )
        )
        assert s.scalar(select(func.count()).select_from(DailyMetrics)) == 2 * METRICS_DAYS
    assert open_days == 31
