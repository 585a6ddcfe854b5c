"""Rules and alerts in the browser: build a rule in the builder and test it, watch its dry-run History,
enable it and find the ticket it created in ConnectWise; acknowledge an alert."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Dialog, Page, expect
from sqlalchemy import select, update

from jobs import rules as rules_job
from tests.conftest import TenantFixture, pid
from tests.e2e.test_shell import sign_in
from tests.e2e.test_tickets import psa_northwind  # noqa: F401 - the ConnectWise fixture, shared
from tests.vendors.support import add_connection
from vectis.models import BackupConnector, BackupConnectorStatus, Connection, CustomerLink, Rule
from vectis.platform import db
from vectis.simulators import connectwise


@pytest.fixture
def failing_job(
    app: Flask,
    northwind: TenantFixture,
    psa_northwind: connectwise.ConnectWiseState,  # noqa: F811
) -> Iterator[tuple[int, int]]:
    """(customer id, job id): a Veeam job of a ConnectWise customer whose last run failed."""
    veeam = add_connection(app, northwind.id, "veeam", {}).connection_id
    now = datetime.now(UTC)
    with app.app_context(), db.tenant_session(northwind.id) as s:
        customer_id = s.scalar(
            select(CustomerLink.customer_id).where(CustomerLink.customer_id.is_not(None)).order_by(CustomerLink.id)
        )
        assert customer_id is not None
        job = BackupConnector(
            tenant_id=northwind.id, connection_id=veeam, customer_id=customer_id, external_id="e2e-fs01",
            name="FS01 Daily", kind="Backup", vendor_type="BackupVm",
        )  # fmt: skip
        s.add(job)
        s.flush()
        s.add(
            BackupConnectorStatus(
                tenant_id=northwind.id,
                backup_connector_id=job.id,
                state="failed",
                vendor_status="Failed",
                last_attempt_at=now - timedelta(hours=2),
                last_success_at=now - timedelta(hours=26),
                consecutive_failures=2,
                message="Disk full on repository",
            )
        )
        job_id = job.id
    yield customer_id, job_id
    with app.app_context(), db.system_session() as s:
        for rule in s.scalars(select(Rule).where(Rule.tenant_id == northwind.id)):
            s.delete(rule)
        connection = s.get(Connection, veeam)
        if connection is not None:
            s.delete(connection)


def settled(page: Page) -> None:
    """Wait until htmx has swapped a response in and wired the new elements: a change made before that
    would be lost (a person is never that fast; a robot is)."""
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')"
    )
    page.wait_for_timeout(50)


def fail_again(app: Flask, tenant_id: int, job_id: int) -> None:
    """Another failed run, as the next sync would record it; then the worker's alerts-and-rules job."""
    with app.app_context(), db.tenant_session(tenant_id) as s:
        s.execute(
            update(BackupConnectorStatus)
            .where(BackupConnectorStatus.backup_connector_id == job_id)
            .values(
                last_attempt_at=datetime.now(UTC),
                consecutive_failures=BackupConnectorStatus.consecutive_failures + 1,
            )
        )
    with app.app_context():
        rules_job.refresh(tenant_id)


def test_a_technician_builds_a_rule_watches_its_dry_run_enables_it_and_finds_its_ticket(
    app: Flask,
    page: Page,
    live_server: int,
    northwind: TenantFixture,
    psa_northwind: connectwise.ConnectWiseState,  # noqa: F811
    failing_job: tuple[int, int],
    screenshots_dir: Path,
) -> None:
    customer_id, job_id = failing_job
    with app.app_context():
        rules_job.refresh(northwind.id)  # the failed run is an event and an alert before any rule exists
    base = f"http://northwind.localhost:{live_server}"
    sign_in(page, app, live_server, "northwind", "admin@northwind.test")

    # The alert it raised, on the Alerts page.
    page.goto(f"{base}/alerts")
    row = page.get_by_test_id("alert-row").filter(has_text="FS01 Daily")
    expect(row).to_contain_text("Backup failed")
    page.screenshot(path=str(screenshots_dir / "alerts.png"), full_page=True)

    # Build: backup run failed, failed runs in a row ≥ 2, no ticket opened in the last hour → create a ticket.
    page.goto(f"{base}/rules/new")
    page.get_by_label("Name").fill("Failed backup → ticket")
    builder = page.locator("#rule-builder")
    builder.get_by_role("button", name="+ Condition").first.click()
    settled(page)
    leaf = builder.get_by_test_id("cond-leaf").first
    leaf.get_by_label("Field").select_option(label="Failed runs in a row")
    expect(leaf.get_by_label("Operator")).to_have_value("eq")  # the number operators replaced the text ones
    settled(page)
    leaf.get_by_label("Operator").select_option(label="≥")
    settled(page)
    leaf.get_by_label("Failed runs in a row").fill("2")
    builder.get_by_role("button", name="+ Cross-system check").first.click()
    settled(page)
    builder.get_by_test_id("cond-predicate").first.get_by_label("Hours").fill("1")
    action = builder.get_by_test_id("rule-action").first
    action.get_by_label("Summary").fill("Backup failed: {job.name}")
    action.get_by_label("Board").select_option(label="Service Desk")
    action.get_by_label("Priority").select_option(label="Priority 2 - High")
    action.get_by_label("Details").fill("Last success: {job.last_success_at}. Vendor: {job.message}")
    page.get_by_test_id("test-rule").click()
    trial = page.get_by_test_id("trial").filter(has_text="FS01 Daily")
    expect(trial).to_contain_text("Would fire")
    expect(trial).to_contain_text("Failed runs in a row ≥ 2")
    # Issue 16: the action in words, with the PSA's names, and the texts as they will be sent.
    said = trial.get_by_test_id("dispatch-action")
    expect(said).to_contain_text("Create a ticket for ")
    expect(said).to_contain_text(" on Service Desk, Priority 2 - High: “Backup failed: FS01 Daily”")
    expect(trial.get_by_test_id("dispatch-details")).to_contain_text("Vendor: Disk full on repository")
    expect(trial.get_by_test_id("dispatch-details")).to_contain_text(re.compile(r"Last success: \d+ \w+ \d{4}"))
    page.screenshot(path=str(screenshots_dir / "rule-builder.png"), full_page=True)
    page.get_by_role("button", name="Save in dry-run").click()
    expect(page.get_by_test_id("rule-mode")).to_have_text("Dry-run")

    # Dry-run: the next failed run is recorded with its exact payload, nothing reaches ConnectWise.
    tickets_before = len(psa_northwind.tickets)
    fail_again(app, northwind.id, job_id)
    page.reload()
    fire = page.get_by_test_id("fire").first
    expect(fire).to_contain_text("Would fire (dry-run)")
    expect(fire.get_by_test_id("dispatch-state")).to_have_text("Would send (dry-run)")
    expect(fire.get_by_test_id("dispatch-action")).to_contain_text("Backup failed: FS01 Daily")
    # Issue 19: the request it would send to ConnectWise, exactly as it would go out, made by the code that sends it.
    expect(fire.get_by_test_id("would-send-request")).to_have_text(
        "ConnectWise would get POST /v4_6_release/apis/3.0/service/tickets"
    )
    expect(fire.get_by_test_id("would-send-body")).to_contain_text('"summary": "Backup failed: FS01 Daily"')
    expect(fire.get_by_test_id("would-send-body")).to_contain_text('"initialDescription": "Last success: ')
    assert len(psa_northwind.tickets) == tickets_before
    page.screenshot(path=str(screenshots_dir / "rule-history.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(screenshots_dir / "rule-history-390.png"), full_page=True)
    page.set_viewport_size({"width": 1360, "height": 860})

    # Live: the next failed run opens a ticket in ConnectWise, visible in Vectis.
    page.get_by_role("button", name="Enable").click()
    expect(page.get_by_test_id("rule-mode")).to_have_text("Live")
    fail_again(app, northwind.id, job_id)
    page.reload()
    expect(page.get_by_test_id("fire").first.get_by_test_id("dispatch-state")).to_have_text("Sent")
    assert len(psa_northwind.tickets) == tickets_before + 1
    expect(page.get_by_test_id("rule-history")).not_to_contain_text("board_id")
    # The actions read in words (the dry run's request beneath its action is JSON, as it would go out).
    for words in page.get_by_test_id("dispatch-action").all_inner_texts():
        assert "{" not in words, words
    expect(page.get_by_test_id("rule-definition")).to_contain_text(
        "Then 1: Create a ticket on Service Desk, Priority 2 - High: “Backup failed: {job.name}”"
    )
    page.goto(f"{base}/customers/{pid(app, 'customer', customer_id)}/tickets")
    expect(page.get_by_test_id("hub-tickets")).to_contain_text("Backup failed: FS01 Daily")
    page.goto(f"{base}/rules")
    expect(page.get_by_test_id("rule-list")).to_contain_text("Failed backup → ticket")
    expect(page.get_by_test_id("rule-actions")).to_have_text(
        "Create a ticket on Service Desk, Priority 2 - High: “Backup failed: {job.name}”"
    )
    page.screenshot(path=str(screenshots_dir / "rules.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(screenshots_dir / "rules-390.png"), full_page=True)
    page.set_viewport_size({"width": 1360, "height": 860})

    # The versions tab after an edit shows what changed.
    page.goto(f"{base}/customers/{pid(app, 'customer', customer_id)}/alerts")
    alert = page.get_by_test_id("alert-row").filter(has_text="FS01 Daily")
    alert.get_by_role("button", name="Acknowledge").click()
    expect(page.locator("#flash")).to_contain_text(re.compile("Acknowledged"))
    page.screenshot(path=str(screenshots_dir / "hub-alerts.png"), full_page=True)


def test_a_template_lands_as_a_draft_and_an_edit_shows_as_a_version_diff(
    app: Flask,
    page: Page,
    live_server: int,
    northwind: TenantFixture,
    failing_job: tuple[int, int],
    screenshots_dir: Path,
) -> None:
    with app.app_context():
        rules_job.refresh(northwind.id)
    base = f"http://northwind.localhost:{live_server}"
    sign_in(page, app, live_server, "northwind", "admin@northwind.test")
    customer_id, _ = failing_job
    page.goto(f"{base}/customers/{pid(app, 'customer', customer_id)}")
    tags = page.get_by_test_id("hub-tags")
    tags.locator("summary").click()
    tags.get_by_label("Tags, comma-separated").fill("Managed, VIP")
    tags.get_by_role("button", name="Save tags").click()
    expect(page.get_by_test_id("hub-tags")).to_contain_text("managed")
    page.screenshot(path=str(screenshots_dir / "hub-tags.png"))
    page.goto(f"{base}/rules/templates")
    stale = page.get_by_test_id("rule-template").filter(has_text="Backup stale → open a ticket")
    expect(stale.get_by_test_id("template-actions")).to_have_text(
        "Then: Create a ticket on the customer's usual board, default priority: “Backup stale: {job.name}”"
    )
    page.screenshot(path=str(screenshots_dir / "rule-templates.png"), full_page=True)
    card = page.get_by_test_id("rule-template").filter(has_text="Backup failed 3 runs in a row")
    card.get_by_role("button", name="Use this template").click()
    expect(page.get_by_test_id("rule-mode")).to_have_text("Dry-run")
    expect(page.get_by_test_id("rule-definition")).to_contain_text("Failed runs in a row ≥ 3")

    page.get_by_role("link", name="Edit").click()
    leaf = page.locator("#rule-builder").get_by_test_id("cond-leaf").first
    leaf.get_by_label("Failed runs in a row").fill("2")
    page.locator("input[name=scope][value=tag]").check()
    page.get_by_label("Tag", exact=True).select_option("managed")
    page.get_by_role("button", name="Save as version 2").click()
    version = page.get_by_test_id("rule-version").first
    expect(version).to_contain_text("Version 2")
    expect(version.locator(".diff .add").first).to_contain_text("Failed runs in a row ≥ 2")
    expect(version.locator(".diff .del").first).to_contain_text("Failed runs in a row ≥ 3")
    expect(version.locator(".diff .add").last).to_contain_text("customers tagged “managed”")
    page.screenshot(path=str(screenshots_dir / "rule-versions.png"), full_page=True)

    page.get_by_role("link", name="Backtest").click()
    hit = page.get_by_test_id("backtest-hit").filter(has_text="Backup failing: FS01 Daily").first
    expect(hit).to_contain_text("Backup failing: FS01 Daily")
    page.screenshot(path=str(screenshots_dir / "rule-backtest.png"), full_page=True)

    page.get_by_role("link", name="Versions").click()
    # Roll back: version 1 becomes version 3, the rule stays in dry-run, and the page says so.
    older = page.get_by_test_id("rule-version").filter(has_text="Version 1")
    expect(older).to_contain_text("Saved as version 3. The rule stays in dry-run")
    asked: list[str] = []

    def confirm(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", confirm)
    older.get_by_role("button", name="Restore this version").click()
    expect(page.locator("#flash")).to_contain_text(
        "Restored version 1 of “Backup failed 3 runs in a row → open a ticket” as version 3. It stays in dry-run"
    )
    assert asked and asked[0].startswith("Restore version 1? Vectis saves its definition as version 3")
    newest = page.get_by_test_id("rule-version").first
    expect(newest).to_contain_text("Version 3")
    expect(newest).to_contain_text("restored from version 1")
    expect(newest.locator(".diff .add").first).to_contain_text("Failed runs in a row ≥ 3")
    expect(page.get_by_test_id("rule-mode")).to_have_text("Dry-run")
    expect(page.get_by_test_id("rule-definition")).to_contain_text("Failed runs in a row ≥ 3")
    page.screenshot(path=str(screenshots_dir / "rule-restored.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(screenshots_dir / "rule-restored-390.png"), full_page=True)
    page.set_viewport_size({"width": 1360, "height": 860})
