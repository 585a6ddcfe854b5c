"""Tickets in the browser: reply from the hub with a status change, then find it in /tickets; status, owner and
priority without a reply; search; My tickets and the member an admin chooses; a reply in the technician's name;
New ticket from /tickets; a ticket on no customer; the Related panel's severities. Desktop and 390 px."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page, ViewportSize, expect
from sqlalchemy import Select, select

from tests.conftest import TenantFixture, pid
from tests.e2e.test_shell import sign_in
from tests.vendors.support import add_connection, forget_synced, serve_app, sync
from tests.vendors.test_connectwise import config as connectwise_config
from vectis.models import (
    Connection,
    Contact,
    Customer,
    CustomerLink,
    Ticket,
    TicketNote,
    TicketRelated,
    TimelineEvent,
)
from vectis.platform import db
from vectis.platform.queues import redis
from vectis.platform.ratelimit import TokenBucket
from vectis.simulators import connectwise


@pytest.fixture
def psa_northwind(app: Flask, northwind: TenantFixture) -> Iterator[connectwise.ConnectWiseState]:
    state = connectwise.ConnectWiseState.seeded()
    for url in serve_app(connectwise.create_app(state)):
        config = connectwise_config(url)
        assert sync(app, add_connection(app, northwind.id, "connectwise", config)).status == "succeeded"
        yield state
    forget_synced(app, northwind.id)


def synced_tickets() -> Select[Ticket]:
    """The tickets psa_northwind's sync wrote. Other tests' rows may share the worker's tenant (the query builder's
    world leaves an open "NW-1" on no board), so a test that takes "the first open ticket" takes it from here."""
    return (
        select(Ticket).join(Connection, Connection.id == Ticket.connection_id).where(Connection.vendor == "connectwise")
    )


def test_a_technician_replies_from_the_hub_and_sees_it_in_the_queue(
    app: Flask,
    page: Page,
    live_server: int,
    northwind: TenantFixture,
    psa_northwind: connectwise.ConnectWiseState,
    screenshots_dir: Path,
) -> None:
    with app.app_context(), db.tenant_session(northwind.id) as s:
        ticket = s.scalar(
            synced_tickets().where(Ticket.closed.is_(False), Ticket.customer_id.is_not(None)).order_by(Ticket.id)
        )
        assert ticket is not None
        customer_id, number, summary, ticket_id = ticket.customer_id, ticket.external_id, ticket.summary, ticket.id
    sign_in(page, app, live_server, "northwind", "admin@northwind.test")
    page.goto(f"http://northwind.localhost:{live_server}/customers/{pid(app, 'customer', customer_id)}/tickets")
    row = page.get_by_test_id("hub-ticket").filter(has_text=f"#{number}")
    row.locator("summary").click()
    detail = row.get_by_test_id("ticket-detail")
    expect(detail).to_be_visible()
    detail.get_by_label("Reply").fill("We replaced the toner; please try printing again.")
    status = detail.get_by_label("Status after sending")
    chosen = status.locator("option").nth(1).inner_text()
    status.select_option(label=chosen)
    page.screenshot(path=str(screenshots_dir / "hub-tickets.png"), full_page=True)
    detail.get_by_role("button", name="Send").click()
    updated = page.get_by_test_id("hub-ticket").filter(has_text=f"#{number}").get_by_test_id("ticket-detail")
    expect(updated).to_contain_text("sent to ConnectWise")
    expect(updated.get_by_label("Status", exact=True).locator("option:checked")).to_have_text(chosen)
    expect(updated).to_contain_text("We replaced the toner")
    expect(page.locator(f"#ticket-{ticket_id}-status")).to_have_text(chosen)  # the row's header follows
    page.screenshot(path=str(screenshots_dir / "hub-ticket-replied.png"), full_page=True)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Tickets").click()
    expect(page.get_by_role("heading", name="Tickets", exact=True)).to_be_visible()
    page.wait_for_load_state("load")  # htmx is deferred: a change before it loads would go unheard
    page.get_by_label("Status").select_option(label=chosen)
    expect(page).to_have_url(re.compile(r"status="))
    expect(page.get_by_test_id("ticket-queue")).to_contain_text(summary)
    page.screenshot(path=str(screenshots_dir / "tickets.png"), full_page=True)


def test_a_technician_creates_a_ticket_with_priority_and_contact(
    app: Flask,
    page: Page,
    live_server: int,
    northwind: TenantFixture,
    psa_northwind: connectwise.ConnectWiseState,
    screenshots_dir: Path,
) -> None:
    with app.app_context(), db.tenant_session(northwind.id) as s:
        contact = s.scalars(select(Contact).where(Contact.customer_id.is_not(None)).order_by(Contact.id)).first()
        assert contact is not None
        customer_id, person = contact.customer_id, contact.name
    before = len(psa_northwind.tickets)
    sign_in(page, app, live_server, "northwind", "admin@northwind.test")
    page.goto(f"http://northwind.localhost:{live_server}/customers/{pid(app, 'customer', customer_id)}/tickets")
    form = page.get_by_test_id("new-ticket")
    expect(form.get_by_label("Priority")).to_have_value(re.compile(r"\d+"))  # ConnectWise's default is chosen
    form.get_by_label("Summary").fill("Scanner drops off the network")
    form.get_by_label("Priority").select_option(label="Priority 2 - High")
    choice = form.get_by_label("Contact").locator("option", has_text=person).first
    form.get_by_label("Contact").select_option(value=choice.get_attribute("value"))
    page.screenshot(path=str(screenshots_dir / "hub-new-ticket.png"), full_page=True)
    form.get_by_role("button", name="Create in ConnectWise").click()
    expect(page.get_by_role("heading", name=re.compile("Scanner drops off the network"))).to_be_visible()
    expect(page.locator("main")).to_contain_text("Priority 2 - High")
    expect(page.locator("main")).to_contain_text(person)
    assert len(psa_northwind.tickets) == before + 1


def console_errors(page: Page) -> list[str]:
    """What the page logs as errors from here on (htmx reports a swap it could not do there)."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def test_a_reply_on_the_tickets_own_page_leaves_no_console_error(
    app: Flask,
    page: Page,
    live_server: int,
    northwind: TenantFixture,
    psa_northwind: connectwise.ConnectWiseState,
) -> None:
    with app.app_context(), db.tenant_session(northwind.id) as s:
        ticket = s.scalar(synced_tickets().where(Ticket.closed.is_(False)).order_by(Ticket.id.desc()))
        assert ticket is not None
        ticket_id = ticket.id
    sign_in(page, app, live_server, "northwind", "admin@northwind.test")
    errors = console_errors(page)
    page.goto(f"http://northwind.localhost:{live_server}/tickets/{pid(app, 'ticket', ticket_id)}")
    page.wait_for_load_state("load")
    detail = page.get_by_test_id("ticket-detail")
    detail.get_by_label("Reply").fill("Checking the logs now.")
    detail.get_by_role("button", name="Send").click()
    expect(page.get_by_test_id("ticket-detail")).to_contain_text("sent to ConnectWise")
    expect(page.get_by_test_id("ticket-detail")).to_contain_text("Checking the logs now.")
    assert errors == []


PHONE: ViewportSize = {"width": 390, "height": 844}


def shots(page: Page, directory: Path, name: str) -> None:
    """The page at desktop width and at 390 px, where nothing may scroll sideways."""
    page.screenshot(path=str(directory / f"{name}.png"), full_page=True)
    desktop = page.viewport_size
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(directory / f"{name}-390.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1, f"{name} scrolls sideways"
    if desktop:
        page.set_viewport_size(desktop)


def open_ticket_page(app: Flask, page: Page, port: int, tenant_id: int, *, customer: bool = True) -> Ticket:
    with app.app_context(), db.tenant_session(tenant_id) as s:
        found = s.scalar(
            synced_tickets()
            .where(Ticket.closed.is_(False), Ticket.board_id.is_not(None), Ticket.customer_id.is_not(None) == customer)
            .order_by(Ticket.id)
        )
        assert found is not None
        s.expunge(found)
    page.goto(f"http://northwind.localhost:{port}/tickets/{pid(app, 'ticket', found.id)}")
    page.wait_for_load_state("load")  # htmx is deferred
    return found


def test_a_technician_moves_assigns_and_reprioritises_a_ticket_without_writing_a_reply(
    app: Flask,
    page: Page,
    live_server: int,
    northwind: TenantFixture,
    psa_northwind: connectwise.ConnectWiseState,
    screenshots_dir: Path,
) -> None:
    sign_in(page, app, live_server, "northwind", "admin@northwind.test")
    errors = console_errors(page)
    ticket = open_ticket_page(app, page, live_server, northwind.id)
    number, state = int(ticket.external_id), page.locator(f"#ticket-{ticket.id}-state")
    facts = page.get_by_test_id("ticket-facts")
    facts.get_by_label("Status", exact=True).select_option(label="Waiting on Client")
    facts.get_by_role("button", name="Change").first.click()
    expect(page.get_by_role("status")).to_contain_text("to Waiting on Client")
    expect(state).to_contain_text("Waiting on Client")  # the header follows, as the hub's row does
    assert psa_northwind.statuses[psa_northwind.tickets[number].status_id]["name"] == "Waiting on Client"

    facts = page.get_by_test_id("ticket-facts")
    facts.get_by_label("Assignee").select_option(label="Dana Brennan")
    facts.get_by_role("button", name="Assign", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("is assigned to Dana Brennan")
    expect(state).to_contain_text("Dana Brennan")
    assert psa_northwind.tickets[number].owner_id == 176

    facts = page.get_by_test_id("ticket-facts")
    facts.get_by_label("Priority").select_option(label="Priority 1 - Emergency")
    facts.get_by_role("button", name="Change").nth(1).click()
    expect(page.get_by_role("status")).to_contain_text("is now Priority 1 - Emergency")
    expect(state).to_contain_text("Priority 1 - Emergency")
    assert psa_northwind.tickets[number].priority_id == 1
    shots(page, screenshots_dir, "ticket-controls")
    assert errors == []


def test_a_reply_waiting_for_connectwise_is_said_queued_and_asking_for_the_current_owner_sends_nothing(
    app: Flask,
    page: Page,
    live_server: int,
    northwind: TenantFixture,
    psa_northwind: connectwise.ConnectWiseState,
    screenshots_dir: Path,
) -> None:
    sign_in(page, app, live_server, "northwind", "admin@northwind.test")
    ticket = open_ticket_page(app, page, live_server, northwind.id)
    facts = page.get_by_test_id("ticket-facts")
    owner = facts.get_by_label("Assignee").locator("option:checked").inner_text()
    facts.get_by_role("button", name="Assign", exact=True).click()
    expect(page.get_by_role("status").first).to_have_text(
        f"Already assigned to {owner}: nothing was sent to ConnectWise."
    )

    # ConnectWise's requests are spent for now (a sync just used them): the reply waits for the worker.
    with app.app_context(), db.tenant_session(northwind.id) as s:
        connection = s.get(Connection, ticket.connection_id)
        assert connection is not None
        connection.rate_limit_per_second = 0.01
    with app.app_context():
        bucket = TokenBucket(redis(), f"connection:{northwind.id}:{ticket.connection_id}", 0.01, 1)
        while bucket.try_take() == 0:
            pass
    detail = page.get_by_test_id("ticket-detail")
    detail.get_by_label("Reply").fill("The replacement router ships today.")
    detail.get_by_role("button", name="Send").click()
    notice = page.get_by_role("status").first
    expect(notice).to_have_text("Queued — ConnectWise is busy; Vectis will send it shortly.")
    assert "flash-info" in (notice.get_attribute("class") or "")
    expect(page.get_by_test_id("ticket-detail").get_by_label("Reply")).to_have_value("")
    shots(page, screenshots_dir, "ticket-reply-queued")


def test_my_tickets_says_how_to_fix_a_missing_member_and_an_admins_choice_puts_replies_in_that_name(
    app: Flask,
    page: Page,
    live_server: int,
    northwind: TenantFixture,
    psa_northwind: connectwise.ConnectWiseState,
    screenshots_dir: Path,
) -> None:
    base = f"http://northwind.localhost:{live_server}"
    sign_in(page, app, live_server, "northwind", "admin@northwind.test")
    page.goto(f"{base}/tickets?mine=1")
    empty = page.get_by_test_id("no-member")
    expect(empty).to_contain_text("no active member has your e-mail, admin@northwind.test")
    shots(page, screenshots_dir, "tickets-mine-no-member")

    empty.get_by_role("link", name="Admin → Users → Nora Admin").click()
    card = page.get_by_test_id("psa-member")
    expect(card.get_by_test_id("psa-member-now")).to_contain_text("Not matched")
    card.get_by_label("Member").select_option(label="Jordan Hughes · jhughes@summit-msp.example")
    card.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").first).to_contain_text("Nora Admin at Connectwise writes as Jordan Hughes.")
    expect(page.get_by_test_id("psa-member-now")).to_contain_text("set by an admin")
    shots(page, screenshots_dir, "admin-user-psa-member")

    page.goto(f"{base}/tickets?mine=1")
    queue = page.get_by_test_id("ticket-queue")
    expect(queue).to_be_visible()
    assert set(queue.locator("td[data-label=Assignee]").all_inner_texts()) == {"Jordan Hughes"}
    shots(page, screenshots_dir, "tickets-mine")

    queue.get_by_role("link").first.click()
    detail = page.get_by_test_id("ticket-detail")
    expect(detail.get_by_test_id("reply-author")).to_contain_text("Goes to ConnectWise as Jordan Hughes")
    detail.get_by_label("Reply").fill("I'll call you at 3 pm.")
    detail.get_by_role("button", name="Send").click()
    expect(page.get_by_role("status").first).to_contain_text("as Jordan Hughes")
    expect(page.locator(".thread li").last).to_contain_text("Jordan Hughes")
    assert any(
        n.get("member", {}).get("id") == 148 and n["text"] == "I'll call you at 3 pm."
        for ns in psa_northwind.notes.values()
        for n in ns
    )

    # ConnectWise refuses: the reply goes signed, and the page says why and until when.
    psa_northwind.faults.refuse_note_member = True
    detail = page.get_by_test_id("ticket-detail")
    detail.get_by_label("Reply").fill("Parts ordered.")
    detail.get_by_role("button", name="Send").click()
    expect(page.get_by_role("status").first).to_contain_text("Signed “— Nora Admin via Vectis”: ConnectWise refused")
    expect(page.get_by_test_id("reply-author")).to_contain_text("refuses notes written as its members")
    shots(page, screenshots_dir, "ticket-reply-signed")
    page.goto(f"{base}/admin/users")
    expect(page.locator("#users-table")).to_contain_text("Jordan Hughes")
    page.get_by_role("link", name="Nora Admin").click()
    refused = page.get_by_test_id("psa-refused")
    expect(refused).to_contain_text("refuses notes written as its members")
    shots(page, screenshots_dir, "admin-user-psa-refused")
    psa_northwind.faults.refuse_note_member = False
    refused.get_by_role("button", name="Try members again now").click()
    expect(page.get_by_test_id("psa-refused")).to_have_count(0)


def test_search_finds_a_ticket_by_number_or_by_words_of_its_notes(
    app: Flask,
    page: Page,
    live_server: int,
    northwind: TenantFixture,
    psa_northwind: connectwise.ConnectWiseState,
    screenshots_dir: Path,
) -> None:
    with app.app_context(), db.tenant_session(northwind.id) as s:
        ticket = s.scalar(synced_tickets().where(Ticket.closed.is_(False)).order_by(Ticket.id.desc()))
        assert ticket is not None
        number, summary = ticket.external_id, ticket.summary
        s.add(TicketNote(tenant_id=northwind.id, ticket_id=ticket.id, external_id="e2e-note", body="The Zebrafax 9000 jams on tray 2.", internal=True, written_at=ticket.opened_at))  # fmt: skip
    sign_in(page, app, live_server, "northwind", "admin@northwind.test")
    page.goto(f"http://northwind.localhost:{live_server}/tickets")
    page.wait_for_load_state("load")
    page.get_by_label("Search").fill(f"#{number}")
    # The URL moves when the answer is swapped in: on a machine running the whole suite, later than Playwright's 5 s.
    expect(page).to_have_url(re.compile(rf"q=%23{number}"), timeout=20_000)
    rows = page.get_by_test_id("ticket-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(summary)
    expect(page.get_by_label("Search")).to_be_focused()  # typing on is not interrupted by the swap

    page.get_by_label("Search").fill("zebrafax")
    expect(page).to_have_url(re.compile(r"q=zebrafax"))
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(number)
    shots(page, screenshots_dir, "tickets-search")

    page.get_by_label("Search").fill("zebrafax nowhere")
    expect(page.get_by_role("heading", name="No tickets match “zebrafax nowhere”")).to_be_visible()


def test_new_ticket_from_the_queue_offers_the_chosen_customers_boards_and_opens_in_connectwise(
    app: Flask,
    page: Page,
    live_server: int,
    northwind: TenantFixture,
    psa_northwind: connectwise.ConnectWiseState,
    screenshots_dir: Path,
) -> None:
    with app.app_context(), db.tenant_session(northwind.id) as s:
        first, other = s.scalars(
            select(Customer)
            .where(Customer.id.in_(synced_tickets().with_only_columns(Ticket.customer_id)))
            .order_by(Customer.name)
            .limit(2)
        ).all()
        name, other_name = first.name, other.name
    before = len(psa_northwind.tickets)
    sign_in(page, app, live_server, "northwind", "admin@northwind.test")
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    page.goto(f"http://northwind.localhost:{live_server}/tickets")
    page.get_by_role("link", name="New ticket").click()
    page.wait_for_load_state("load")
    form = page.get_by_test_id("new-ticket")
    form.get_by_label("Customer").select_option(label=other_name)
    expect(form.get_by_label("Board")).to_be_visible()
    form.get_by_label("Summary").fill("Projector in the boardroom shows no signal")
    form.get_by_label("Details").fill("Since the move, HDMI input 2 shows nothing.")
    # Another customer: its form comes back with what was typed, which never travels in a URL.
    form.get_by_label("Customer").select_option(label=name)
    expect(form.get_by_label("Customer").locator("option:checked")).to_have_text(name)
    expect(form.get_by_label("Summary")).to_have_value("Projector in the boardroom shows no signal")
    expect(form.get_by_label("Details")).to_have_value("Since the move, HDMI input 2 shows nothing.")
    expect(form.get_by_label("Board").locator("option:checked")).not_to_have_text("")
    assert not [u for u in urls if "Projector" in u or "HDMI" in u]
    shots(page, screenshots_dir, "tickets-new")
    form.get_by_role("button", name="Create in ConnectWise").click()
    expect(page.get_by_role("heading", name=re.compile("Projector in the boardroom"))).to_be_visible()
    expect(page.locator(".crumbs")).to_contain_text(name)
    assert len(psa_northwind.tickets) == before + 1


def test_a_ticket_on_no_customer_names_its_connectwise_company_and_related_records_say_how_bad(
    app: Flask,
    page: Page,
    live_server: int,
    northwind: TenantFixture,
    psa_northwind: connectwise.ConnectWiseState,
    screenshots_dir: Path,
) -> None:
    with app.app_context(), db.tenant_session(northwind.id) as s:
        ticket = s.scalar(synced_tickets().where(Ticket.closed.is_(False)).order_by(Ticket.id))
        assert ticket is not None
        link = s.get(CustomerLink, ticket.customer_link_id)
        assert link is not None
        company, number = link.external_name, ticket.external_id
        # An admin kept this account apart: its tickets belong to no customer.
        link.customer_id, link.status = None, "separate"
        for t in s.scalars(select(Ticket).where(Ticket.customer_link_id == link.id)):
            t.customer_id = None
        for severity, title in (
            ("error", "BBX - SQL servers 04 failed"),
            ("warning", "BBX - Files 02 finished with warnings"),
        ):
            event = TimelineEvent(tenant_id=northwind.id, source="Veeam", kind="backup.job_run", occurred_at=ticket.opened_at, title=title, severity=severity, dedup_key=f"e2e:{severity}:{ticket.id}")  # fmt: skip
            s.add(event)
            s.flush()
            s.add(TicketRelated(tenant_id=northwind.id, ticket_id=ticket.id, kind="timeline_event", record_id=event.id, attached_by="auto"))  # fmt: skip
        ticket_id = ticket.id
    sign_in(page, app, live_server, "northwind", "admin@northwind.test")
    page.goto(f"http://northwind.localhost:{live_server}/tickets?q={number}")
    row = page.get_by_test_id("ticket-row").first
    expect(row.get_by_test_id("ticket-company")).to_have_text(company)
    expect(row).to_contain_text("ConnectWise company, not linked")
    shots(page, screenshots_dir, "tickets-unlinked")

    page.goto(f"http://northwind.localhost:{live_server}/tickets/{pid(app, 'ticket', ticket_id)}")
    expect(page.get_by_test_id("ticket-company")).to_contain_text(company)
    related = page.get_by_test_id("ticket-related")
    expect(
        related.get_by_test_id("related-event").filter(has_text="SQL servers 04").get_by_test_id("related-severity")
    ).to_have_text("Failed")
    expect(
        related.get_by_test_id("related-event").filter(has_text="Files 02").get_by_test_id("related-severity")
    ).to_have_text("Warning")
    failed = related.get_by_test_id("related-severity").filter(has_text="Failed")
    assert "badge-bad" in (failed.get_attribute("class") or "")
    shots(page, screenshots_dir, "ticket-related-severity")
