"""NinjaOne's alerts on a customer's Alerts tab, as a technician handles them in the browser: the row and its details
say what Vectis can do at NinjaOne; Acknowledge is recorded in Vectis only (NinjaOne has none, and still lists the
alert open); Resolve resets it at NinjaOne too (the simulator no longer lists it). Screenshots at desktop and phone
width, before and after."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import select

from tests.conftest import TenantFixture, pid
from tests.e2e.test_alerts import DESKTOP, both_widths
from tests.e2e.test_rules import settled
from tests.e2e.test_shell import sign_in
from tests.vendors.support import new_tenant, sync, vendor_url
from tests.vendors.test_ninjaone import Ninja, ninja_connection, serve
from vectis.models import Alert, Customer, Tenant, VendorAlert
from vectis.platform import db
from vectis.simulators.ninjaone import NinjaOneState


@dataclass
class Held:
    """One NinjaOne alert alone in its Vectis alert: its uid at NinjaOne and the Vectis alert's id."""

    uid: str
    alert_id: int


@dataclass
class World:
    tenant: TenantFixture
    tech: str
    ninja: Ninja
    customer_id: int
    customer: str
    acknowledged: Held
    resolved: Held


@pytest.fixture
def ninja_world(app: Flask, make_user: Any) -> Iterator[World]:
    """A workspace of its own whose only tool is NinjaOne (so its organisations are the customers), synced from the
    simulator; the simulator stays up, and Vectis pointed at it, for the actions the browser takes."""
    tenant_id = new_tenant(app)
    with app.app_context(), db.system_session() as s:
        slug = s.scalars(select(Tenant.slug).where(Tenant.id == tenant_id)).one()
    tenant = TenantFixture(tenant_id, slug, f"{slug}.localhost", "", {})
    tech = make_user(tenant, "technician").email
    for sim in serve(NinjaOneState.seeded()):
        with vendor_url(app, "ninjaone", sim.url):
            run = sync(app, ninja_connection(app, tenant_id))
            assert run.status == "succeeded", run.error
            customer_id, first, second = two_lone_alerts_of_one_customer(app, tenant_id)
            with app.app_context(), db.tenant_session(tenant_id) as s:
                name = s.scalars(select(Customer.name).where(Customer.id == customer_id)).one()
            yield World(tenant, tech, sim, customer_id, name, first, second)


def two_lone_alerts_of_one_customer(app: Flask, tenant_id: int) -> tuple[int, Held, Held]:
    """A customer with two NinjaOne alerts each alone in its Vectis alert (no other report merged in, so acting on the
    Vectis alert acts on exactly that one at NinjaOne)."""
    with app.app_context(), db.tenant_session(tenant_id) as s:
        rows = s.execute(
            select(VendorAlert.external_id, VendorAlert.alert_id, VendorAlert.cleared_at, Alert.customer_id)
            .join(Alert, Alert.id == VendorAlert.alert_id)
            .order_by(VendorAlert.external_id)
        ).all()
    per_alert = Counter(alert_id for _, alert_id, _, _ in rows)
    lone: dict[int, list[Held]] = {}
    for uid, alert_id, cleared_at, customer_id in rows:
        if per_alert[alert_id] == 1 and cleared_at is None and customer_id is not None:
            lone.setdefault(customer_id, []).append(Held(uid, alert_id))
    pairs = [(c, h) for c, h in sorted(lone.items()) if len(h) >= 2]
    assert pairs, "the seeded simulator has a customer with two alerts of its own"
    customer_id, held = pairs[0]
    return customer_id, held[0], held[1]


def row_of(page: Page, held: Held) -> Locator:
    return page.locator(f"#alert-{held.alert_id}")


def expand(page: Page, held: Held) -> Locator:
    """Open the alert's details, as a click on its title does, and return them."""
    row_of(page, held).locator("[data-alert-toggle]").click()
    detail = page.locator(f"#alert-{held.alert_id}-detail")
    expect(detail).to_be_visible()
    return detail


def in_sight(element: Locator) -> bool:
    """Would a click at the element's middle land on it, as things are on screen now? Playwright's own visibility
    ignores an ancestor's overflow clipping (and its click scrolls a clipped box to reach it), a person cannot."""
    return bool(
        element.evaluate(
            """el => { const r = el.getBoundingClientRect();
                       return el.contains(document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2)); }"""
        )
    )


def test_acknowledging_a_ninjaone_alert_is_recorded_in_vectis_only_and_resolving_resets_it_there(
    app: Flask, page: Page, live_server: int, ninja_world: World, screenshots_dir: Path
) -> None:
    w = ninja_world
    state = w.ninja.state
    base = f"http://{w.tenant.slug}.localhost:{live_server}"
    tab = f"/customers/{pid(app, 'customer', w.customer_id)}/alerts"
    page.set_viewport_size(DESKTOP)
    sign_in(page, app, live_server, w.tenant.slug, w.tech)
    page.goto(f"{base}{tab}")
    expect(page.get_by_role("heading", name=w.customer)).to_be_visible()
    hub = page.get_by_test_id("hub-alerts")
    expect(hub.get_by_role("link", name=re.compile("^Open"))).to_have_attribute("aria-current", "page")

    # Before: the row's Acknowledge button and its details say what NinjaOne does with each.
    ack_row = row_of(page, w.acknowledged)
    expect(ack_row).to_contain_text("NinjaOne")
    acknowledge = ack_row.get_by_role("button", name="Acknowledge", exact=True)
    expect(acknowledge).to_have_attribute(
        "title", "NinjaOne has no acknowledge: recorded in Vectis only, NinjaOne still shows it open"
    )
    detail = expand(page, w.acknowledged)
    expect(detail).to_contain_text("In NinjaOne")
    expect(detail).to_contain_text(
        "Resolving resets it in NinjaOne too; it resolves by itself when NinjaOne clears it. "
        "NinjaOne has no acknowledge: an acknowledge is recorded in Vectis only."
    )
    both_widths(page, screenshots_dir, "ninjaone-hub-alerts-before")

    # Acknowledge: Vectis records it; NinjaOne, which has no acknowledge, still lists the alert open.
    acknowledge.click()
    flash = page.locator("#flash")
    expect(flash).to_contain_text("Acknowledged: ")
    expect(flash).to_contain_text(
        "NinjaOne has no acknowledge, so it is recorded in Vectis only: NinjaOne still shows it open."
    )
    expect(page).to_have_url(f"{base}{tab}")  # back on the customer's tab
    expect(row_of(page, w.acknowledged)).to_have_count(0)
    assert w.acknowledged.uid in state.alerts
    assert w.acknowledged.uid in {a["uid"] for a in state.open_alerts()}
    hub.get_by_role("link", name=re.compile("^Acknowledged")).click()
    settled(page)
    expect(page).to_have_url(f"{base}{tab}?state=acknowledged")
    expect(row_of(page, w.acknowledged)).to_contain_text("Test Technician")
    detail = expand(page, w.acknowledged)
    expect(detail).to_contain_text("by Test Technician")
    expect(detail).to_contain_text("an acknowledge is recorded in Vectis only")
    both_widths(page, screenshots_dir, "ninjaone-hub-alerts-acknowledged")

    # Resolve another from the open list's menu: reset at NinjaOne too, and read back gone.
    hub.get_by_role("link", name=re.compile("^Open")).click()
    settled(page)
    resolving = row_of(page, w.resolved)
    resolving.get_by_label(re.compile("More actions")).click()
    menu = resolving.locator(".menu-panel")
    resolve = menu.get_by_role("button", name=re.compile("^Resolve"))
    expect(resolve).to_contain_text("Resets it in NinjaOne too. If the condition still holds there, it alerts again.")
    assert in_sight(resolve), "the menu hangs below the list's last row: nothing may clip it"
    page.screenshot(path=str(screenshots_dir / "ninjaone-hub-alerts-resolve-menu.png"))
    assert w.resolved.uid in state.alerts
    resolve.click()
    expect(flash).to_contain_text("Resolved: ")
    expect(flash).to_contain_text("Reset in NinjaOne too: it no longer lists the alert.")
    expect(page).to_have_url(f"{base}{tab}")
    expect(row_of(page, w.resolved)).to_have_count(0)
    assert w.resolved.uid not in state.alerts
    assert w.resolved.uid not in {a["uid"] for a in state.open_alerts()}
    assert w.acknowledged.uid in state.alerts  # the acknowledged one untouched at NinjaOne
    hub.get_by_role("link", name=re.compile("^Resolved")).click()
    settled(page)
    expect(page).to_have_url(f"{base}{tab}?state=resolved")
    expect(row_of(page, w.resolved)).to_contain_text("Test Technician")
    detail = expand(page, w.resolved)
    expect(detail).to_contain_text("Resolved")
    expect(detail).to_contain_text("by Test Technician")
    both_widths(page, screenshots_dir, "ninjaone-hub-alerts-resolved")
