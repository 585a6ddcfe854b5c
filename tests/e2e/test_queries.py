"""The query builder in the browser: the product tour's question (customers with their last backup failure, days
until renewal and contract value) built click by click, its trail and fan-out note read, and saved for the team."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path

import openpyxl
from flask import Flask
from playwright.sync_api import Locator, Page, expect
from rq import SimpleWorker

from tests.conftest import TenantFixture, pid
from tests.e2e.test_shell import sign_in
from tests.query_world import MARK, world
from vectis.audit.actors import Actor
from vectis.models import QueryExport
from vectis.platform import db
from vectis.platform.queues import queue, redis
from vectis.query import examples, exports
from vectis.query.spec import parse


def _step(page: Page, action: Callable[[], object]) -> None:
    """One builder change: the action, then the builder redrawn from the server's answer."""
    with page.expect_response(lambda r: "/queries/build" in r.url and r.request.method == "POST"):
        action()
    expect(page.locator(".htmx-request, .htmx-swapping, .htmx-settling")).to_have_count(0)


def _type(page: Page, field: Locator, text: str) -> None:
    """Type into a builder input and leave it: its change redraws the builder."""
    field.fill(text)
    _step(page, partial(field.press, "Tab"))


def _last_condition(page: Page) -> Locator:
    return page.get_by_test_id("query-condition").last


def test_a_technician_builds_the_tours_question_and_saves_it(
    app: Flask,
    page: Page,
    live_server: int,
    acme: TenantFixture,
    northwind: TenantFixture,
    screenshots_dir: Path,
    tmp_path: Path,
) -> None:
    world(app, northwind.id, secret=True)
    world(app, acme.id)
    sign_in(page, app, live_server, acme.slug, acme.admin)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Queries").click()
    page.get_by_role("link", name="New query").first.click()
    builder = page.get_by_test_id("query-builder")
    expect(builder).to_be_visible()

    for edge in ("customers.backup_jobs", "backup_jobs.backup_runs", "customers.contracts"):
        page.get_by_label("Table to join").select_option(edge)
        _step(page, lambda: page.get_by_role("button", name="+ Join").click())
    expect(page.get_by_test_id("query-join")).to_have_count(3)

    # The joins ticked each table's first column; keep the runs' start, swap the rest for renewal and value.
    _step(page, lambda: page.get_by_test_id("query-columns-backup_jobs").get_by_label("Backup job").uncheck())
    _step(page, lambda: page.get_by_test_id("query-columns-contracts").get_by_label("Contract", exact=True).uncheck())
    _step(page, lambda: page.get_by_test_id("query-columns-contracts").get_by_label("Renews in (days)").check())
    _step(page, lambda: page.get_by_test_id("query-columns-contracts").get_by_label("Monthly value").check())
    for column, summary, name in (
        ("Started", "Most recent", "Last backup failure"),
        ("Renews in (days)", "Lowest", "Renews in"),
        ("Monthly value", "Total", "Contract value"),
    ):
        _step(page, partial(page.get_by_label(f"Summary of {column}").select_option, label=summary))
        chosen = page.get_by_test_id("query-chosen").locator("li").filter(has_text=column)
        _type(page, chosen.locator("input.qb-label"), name)

    def condition(field: str, op: str | None = None) -> None:
        _step(page, page.get_by_role("button", name="+ Condition").first.click)
        _step(page, partial(_last_condition(page).get_by_label("Column").select_option, label=field))
        if op:
            _step(page, partial(_last_condition(page).get_by_label("Operator").select_option, label=op))

    condition("Result")
    _step(page, _last_condition(page).get_by_label("failed", exact=True).check)
    condition("Status")
    _step(page, _last_condition(page).get_by_label("active", exact=True).check)
    condition("Customer", "starts with")
    _type(page, _last_condition(page).get_by_label("Value"), MARK)

    results = page.get_by_test_id("query-results")
    expect(results).to_contain_text("Aldridge & Co.")
    expect(results.locator("thead")).to_contain_text("Last backup failure")
    expect(results.locator("tbody tr")).to_have_count(1)
    expect(results.locator("tbody tr").first).to_contain_text("4,200.00")
    expect(results.locator("tbody tr").first).to_contain_text("12")
    expect(page.get_by_test_id("query-trail")).to_contain_text("in the result")
    expect(page.get_by_test_id("query-fanout").first).to_contain_text("not multiplied")
    expect(page).to_have_url(re.compile(r"/queries/new\?q=[\w-]+$"))
    page.screenshot(path=str(screenshots_dir / "query-builder-tour.png"), full_page=True)
    page.get_by_role("heading", level=1).scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots_dir / "query-builder-top.png"))

    with page.expect_download() as exported:
        page.get_by_role("button", name="Export to Excel").click()
    saved = tmp_path / exported.value.suggested_filename
    exported.value.save_as(saved)
    assert saved.suffix == ".xlsx"
    book = openpyxl.load_workbook(saved, read_only=True)
    rows = list(book["Results"].iter_rows(values_only=True))
    assert rows[0] == ("Customer", "Last backup failure (UTC)", "Renews in", "Contract value")
    assert rows[1][0] == MARK + "Aldridge & Co." and rows[1][2:] == (12, 4200) and len(rows) == 2
    assert isinstance(rows[1][1], datetime)
    assert any("Last backup failure" in str(line) for line in book["Query"].iter_rows(values_only=True))

    page.get_by_text("Save…").click()
    page.get_by_role("textbox", name="Name", exact=True).fill("Renewals at risk, this week")
    page.get_by_role("button", name="Save query").click()
    expect(page.get_by_role("heading", name="Renewals at risk, this week")).to_be_visible()
    expect(page.get_by_test_id("query-results")).to_contain_text("4,200.00")
    page.get_by_role("link", name="Queries").first.click()
    expect(page.get_by_test_id("saved-queries")).to_contain_text("Renewals at risk, this week")
    page.screenshot(path=str(screenshots_dir / "query-list.png"), full_page=True)


def test_a_large_export_shows_its_progress_then_its_download(
    app: Flask, page: Page, live_server: int, acme: TenantFixture, screenshots_dir: Path
) -> None:
    world(app, acme.id)
    with app.app_context(), db.tenant_session(acme.id) as s:
        admin = Actor("user", str(acme.users[acme.admin]), acme.admin, "admin")
        queued = exports.start(
            s,
            tenant_id=acme.id,
            actor=admin,
            spec=parse(examples.RENEWALS_WITH_FAILING_BACKUPS),
            fmt="xlsx",
            inline_rows=0,
        )
        assert isinstance(queued, QueryExport)
        export_id = queued.id
    sign_in(page, app, live_server, acme.slug, acme.admin)
    page.goto(f"http://{acme.host}:{live_server}/queries/exports/{pid(app, 'export', export_id)}")
    progress = page.get_by_test_id("export-progress")
    expect(progress).to_contain_text("Waiting for a worker")
    page.screenshot(path=str(screenshots_dir / "query-export-waiting.png"))
    with app.app_context():
        SimpleWorker([queue("exports")], connection=redis()).work(burst=True)
    expect(page.get_by_test_id("export-download")).to_be_visible()  # the page polled its way there
    expect(progress).to_contain_text("kept until")
    page.screenshot(path=str(screenshots_dir / "query-export-ready.png"))
    with page.expect_download() as downloaded:
        page.get_by_test_id("export-download").click()
    assert downloaded.value.suggested_filename.endswith(".xlsx")
