"""The timeline in the browser (issue 16): a note added under filters keeps them, an event type (Keepit's
"User … logged in") can be hidden, and the global timeline shows one customer."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from tests.e2e.test_hub import PHONE
from tests.e2e.test_shell import sign_in

pytestmark = pytest.mark.usefixtures("synced_northwind")


def filters_in(url: str) -> list[tuple[str, str]]:
    """The filters a URL carries (htmx also sends the empty date fields)."""
    return sorted((k, v) for k, v in parse_qsl(urlsplit(url).query) if v)


def open_timeline_of(page: Page, name: str) -> None:
    page.get_by_role("link", name=re.compile(f"^{name}")).first.click()
    page.get_by_role("navigation", name=page.get_by_role("heading", level=1).inner_text()).get_by_role(
        "link", name="Timeline"
    ).click()
    expect(page.get_by_test_id("timeline")).to_be_visible()


def test_adding_a_note_keeps_the_filters(
    app: Flask,
    page: Page,
    live_server: int,
    screenshots_dir: Path,
) -> None:
    sign_in(page, app, live_server, "northwind", "admin@northwind.test")
    open_timeline_of(page, "Aldridge")
    page.get_by_label("Keepit").check()
    expect(page.get_by_test_id("filter-chips")).to_contain_text("Source: Keepit")
    page.get_by_text("Hide event types").click()
    page.get_by_label("Sign-ins", exact=True).check()
    expect(page.get_by_test_id("filter-chips")).to_contain_text("Hiding: Sign-ins")
    filtered = page.url
    assert "source=Keepit" in filtered and "hide=backup.sign-in" in filtered

    page.get_by_label("Note", exact=True).fill("Checked the Keepit connectors with their admin: all re-authorised.")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator("#flash")).to_contain_text("The filters above hide it")
    chips = page.get_by_test_id("filter-chips")
    expect(chips).to_contain_text("Source: Keepit")  # still filtered, as the technician left it
    expect(chips).to_contain_text("Hiding: Sign-ins")
    assert filters_in(page.url) == filters_in(filtered)
    expect(page.get_by_role("checkbox", name="Keepit")).to_be_checked()
    page.screenshot(path=str(screenshots_dir / "timeline-note-keeps-filters.png"), full_page=True)

    chips.get_by_role("link", name="Remove filter: Source: Keepit").click()  # the note shows once allowed
    expect(page.get_by_test_id("note").first).to_contain_text("all re-authorised")
    expect(page.get_by_test_id("filter-chips")).to_contain_text("Hiding: Sign-ins")
    page.set_viewport_size({"width": PHONE, "height": 844})
    page.screenshot(path=str(screenshots_dir / "timeline-note-keeps-filters-390.png"), full_page=True)


def test_sign_ins_can_be_hidden_and_one_customer_picked_on_the_global_timeline(
    app: Flask,
    page: Page,
    live_server: int,
    screenshots_dir: Path,
) -> None:
    sign_in(page, app, live_server, "northwind", "admin@northwind.test")
    page.goto(f"http://northwind.localhost:{live_server}/timeline?source=Keepit")
    entries = page.get_by_test_id("event")
    expect(entries.filter(has_text="logged in").first).to_be_visible()  # the noise, before
    page.get_by_text("Hide event types").click()
    page.get_by_label("Sign-ins", exact=True).check()
    expect(page.get_by_test_id("filter-chips")).to_contain_text("Hiding: Sign-ins")
    expect(entries.first).to_be_visible()
    expect(entries.filter(has_text="logged in")).to_have_count(0)
    expect(entries.filter(has_text="Failed login").first).to_be_visible()  # security events stay
    page.screenshot(path=str(screenshots_dir / "timeline-hide-sign-ins.png"), full_page=True)

    picker = page.get_by_test_id("customer-filter")
    picker.select_option(label="Aldridge & Co.")
    expect(page.get_by_test_id("filter-chips")).to_contain_text("Customer: Aldridge & Co.")
    assert re.search(r"customer=cus_[0-9a-z]{13}", page.url) and "hide=backup.sign-in" in page.url
    expect(entries.first).to_be_visible()
    names = set(entries.locator(".entry-head a.small").all_inner_texts())
    assert names == {"Aldridge & Co."}, names
    page.reload()  # a URL that can be shared
    expect(page.get_by_test_id("customer-filter")).to_have_value(re.compile(r"^cus_"))
    page.screenshot(path=str(screenshots_dir / "timeline-customer.png"), full_page=True)
    page.set_viewport_size({"width": PHONE, "height": 844})
    page.screenshot(path=str(screenshots_dir / "timeline-customer-390.png"), full_page=True)

    page.get_by_test_id("filter-chips").get_by_role("link", name="Remove filter: Hiding: Sign-ins").click()
    expect(page.get_by_test_id("filter-chips")).not_to_contain_text("Hiding")
    expect(page.get_by_test_id("filter-chips")).to_contain_text("Customer: Aldridge & Co.")
