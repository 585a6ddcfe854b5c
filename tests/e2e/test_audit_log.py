"""Admin → Audit log in the browser: an entry holding a 50 KB unbroken value must not widen the page (issue 16:
one entry made the table 54,000 px wide), at desktop width and on a phone, with its details open too."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from tests.conftest import TenantFixture
from tests.e2e.test_shell import sign_in
from vectis.actions import Actor, Target
from vectis.audit.writer import record
from vectis.platform import db

UNBROKEN = "x" * 50_000  # what a pasted log line or a base64 attachment looks like to a browser: no break


@pytest.fixture
def huge_entry(app: Flask, northwind: TenantFixture) -> int:
    with app.app_context(), db.tenant_session(northwind.id) as s:
        entry = record(
            s,
            tenant_id=northwind.id,
            actor=Actor("user", str(northwind.users[northwind.admin]), "A" * 320, "admin"),
            surface="ui",
            action="ticket.reply",
            target=Target("ticket", "48283", "#" + "4" * 319),
            result="failed",
            payload={"request": {"text": UNBROKEN, "internal": True}, "response": {"vendor": {"id": 48283}}},
            error="ConnectWise answered 400: " + UNBROKEN,
        )
        return entry.seq  # the log is append-only: the entry stays, as any would


def widths(page: Page) -> tuple[int, int, int]:
    """(page's scroll width, viewport width, the table's width)."""
    found = page.evaluate(
        "() => [document.documentElement.scrollWidth, window.innerWidth,"
        " Math.ceil(document.querySelector('.audit-table').getBoundingClientRect().right)]"
    )
    return int(found[0]), int(found[1]), int(found[2])


@pytest.mark.parametrize("width", [1360, 390])
def test_a_50_kb_value_wraps_instead_of_widening_the_page(
    app: Flask, page: Page, live_server: int, huge_entry: int, width: int, screenshots_dir: Path
) -> None:
    page.set_viewport_size({"width": width, "height": 900 if width > 400 else 844})
    sign_in(page, app, live_server, "northwind", "admin@northwind.test")
    page.goto(f"http://northwind.localhost:{live_server}/admin/audit?action=ticket.reply")
    row = page.locator(".audit-row").first
    error = row.locator(".audit-error")
    expect(error).to_contain_text("ConnectWise answered 400")
    expect(error).to_contain_text("(49,786 more characters)")  # clamped at first, the rest one click away
    fits(page)
    page.screenshot(path=str(screenshots_dir / f"audit-long-{width}.png"), full_page=True)

    error.get_by_role("button", name="Show all").click()
    expect(error.get_by_role("button", name="Show less")).to_be_visible()
    expect(error.locator("[data-clamp-full]")).to_be_visible()
    expect(error.locator("[data-clamp-short]")).to_be_hidden()
    fits(page)

    detail = page.locator(".audit-detail").first
    expect(detail).to_be_hidden()  # details stay closed until asked for, on a phone too
    row.get_by_role("button", name="Details").click()
    expect(detail).to_be_visible()
    expect(detail.locator("pre:visible")).to_contain_text("… (48,000 more characters)")
    fits(page)
    page.locator(".audit-table").screenshot(path=str(screenshots_dir / f"audit-long-details-{width}.png"))
    detail.get_by_role("button", name=f"Show all of entry {huge_entry}").click()
    expect(detail.locator("pre[data-clamp-short]")).to_be_hidden()
    assert len(detail.locator("pre:visible").inner_text()) > 50_000
    fits(page)


def fits(page: Page) -> None:
    scroll, viewport, table = widths(page)
    assert scroll <= viewport and table <= viewport, (scroll, viewport, table)
