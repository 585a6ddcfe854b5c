"""The ticket queue's search and "My tickets" against real PostgreSQL, two tenants each: a number with or without
"#", words by prefix in summaries and notes, only ever the bound tenant's tickets, and the page's words."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import array
from sqlalchemy.exc import DBAPIError
from werkzeug.datastructures import MultiDict

from tests.conftest import TenantFixture, login
from tests.vendors.support import new_tenant
from vectis.models import Connection, PsaMember, Ticket, TicketNote, User
from vectis.platform import db
from vectis.platform.crypto import Sealed
from vectis.tickets import members
from vectis.tickets import queries as tickets


@dataclass(frozen=True)
class Desk:
    tenant_id: int
    numbers: dict[str, str]  # summary -> ticket number


def a_desk(app: Flask, tenant_id: int | None = None, *, vendor: str = "connectwise") -> Desk:
    """A tenant's PSA with four tickets, one note mentioning a host, and one owned by member 201."""
    tenant_id = tenant_id or new_tenant(app)
    now = datetime.now(UTC)
    numbers = {}
    with app.app_context(), db.tenant_session(tenant_id) as s:
        connection = s.scalar(select(Connection).where(Connection.vendor == vendor))
        if connection is None:
            connection = Connection(
                tenant_id=tenant_id, vendor=vendor, name="ConnectWise", config=Sealed.seal(tenant_id, {})
            )
            s.add(connection)
            s.flush()
        tag = uuid.uuid4().int % 10**8
        for i, summary in enumerate(
            (
                "Printer on 2nd floor not printing",
                "Outlook keeps asking for password",
                "Backup failed on SQL01",
                "VPN drops",
            )
        ):
            ticket = Ticket(
                tenant_id=tenant_id, connection_id=connection.id, external_id=str(tag + i), summary=summary,
                status_name="New", opened_at=now - timedelta(days=i), vendor_updated_at=now - timedelta(hours=i),
                assignee="Bench Tech" if i == 1 else None, assignee_external_id="201" if i == 1 else None,
            )  # fmt: skip
            s.add(ticket)
            s.flush()
            numbers[summary] = ticket.external_id
            if i == 3:
                s.add(TicketNote(tenant_id=tenant_id, ticket_id=ticket.id, external_id="n1", body="Rebooted FW-ZEBRA02 twice.", internal=True, written_at=now))  # fmt: skip
        return Desk(tenant_id, numbers)


def found(app: Flask, desk: Desk, members_of: list[tuple[int, str]] | None = None, **args: str) -> list[str]:
    """The summaries the queue lists with these URL arguments; ``members_of``: the user's (connection, member)."""
    with app.app_context(), db.tenant_session(desk.tenant_id) as s:
        filters = tickets.Filters.from_args(MultiDict({"state": "all", **args}))
        page = tickets.queue(s, filters, mine=members_of or [])
        return [t.summary for t, *_ in page.tickets]


@pytest.fixture(scope="module")
def desks(app: Flask) -> tuple[Desk, Desk]:
    return a_desk(app), a_desk(app)


def test_it_finds_a_ticket_by_its_number_with_or_without_the_hash(app: Flask, desks: tuple[Desk, Desk]) -> None:
    desk, _ = desks
    number = desk.numbers["Outlook keeps asking for password"]
    assert found(app, desk, q=number) == ["Outlook keeps asking for password"]
    assert found(app, desk, q=f"#{number}") == found(app, desk, q=f"# {number}") == found(app, desk, q=number)


def test_it_finds_words_by_prefix_in_summaries_and_notes(app: Flask, desks: tuple[Desk, Desk]) -> None:
    desk, _ = desks
    assert found(app, desk, q="print") == ["Printer on 2nd floor not printing"]
    assert found(app, desk, q="OUTLOOK password") == ["Outlook keeps asking for password"]
    assert found(app, desk, q="fw-zebra") == ["VPN drops"]  # a word of an internal note
    assert found(app, desk, q="outlook zebra") == []  # every word must be there
    assert found(app, desk, q="!!! ( & :*") == found(app, desk)  # no words: no search, no error


def test_a_ticket_found_by_its_summary_and_by_notes_is_listed_once(app: Flask) -> None:
    desk = a_desk(app)
    with app.app_context(), db.tenant_session(desk.tenant_id) as s:
        ticket = s.scalar(select(Ticket).where(Ticket.summary == "VPN drops"))
        assert ticket is not None
        for n in (2, 3):
            s.add(TicketNote(tenant_id=desk.tenant_id, ticket_id=ticket.id, external_id=f"n{n}", body=f"VPN drops again ({n})", internal=False, written_at=ticket.opened_at))  # fmt: skip
    assert found(app, desk, q="vpn drops") == ["VPN drops"]  # summary and two notes: one row
    assert found(app, desk, q="again") == ["VPN drops"]  # two notes, not the summary: one row
    assert found(app, desk, q="zebra") == ["VPN drops"]


def test_a_search_only_ever_finds_the_bound_tenants_tickets(app: Flask, desks: tuple[Desk, Desk]) -> None:
    mine, theirs = desks
    assert found(app, mine, q="printer") == ["Printer on 2nd floor not printing"]
    assert found(app, mine, q=theirs.numbers["VPN drops"]) == []
    with app.app_context(), db.tenant_session(mine.tenant_id) as s:
        matched = func.ticket_search(array(["printer"])).table_valued("id", "vendor_updated_at")
        ids = set(s.scalars(select(matched.c.id)))
        owners = set(s.scalars(select(Ticket.tenant_id).where(Ticket.id.in_(ids))))
        assert len(ids) == 1 and owners == {mine.tenant_id}
    # No tenant bound: it refuses rather than guess.
    with app.app_context(), db.system_session() as s, pytest.raises(DBAPIError):
        s.execute(text("SELECT * FROM ticket_search(ARRAY['printer'])")).all()


def test_my_tickets_are_the_members_and_without_a_member_none(app: Flask, desks: tuple[Desk, Desk]) -> None:
    desk, _ = desks
    with app.app_context(), db.tenant_session(desk.tenant_id) as s:
        connection_id = s.scalar(select(Connection.id).where(Connection.vendor == "connectwise"))
        assert connection_id is not None
    theirs = [(connection_id, "201")]
    assert found(app, desk, theirs) == found(app, desk)  # the URL asks for My tickets, not the list
    assert found(app, desk, theirs, mine="1") == ["Outlook keeps asking for password"]
    assert found(app, desk, [], mine="1") == []
    assert found(app, desk, theirs, mine="1", q="printer") == []


def test_the_queue_page_searches_and_says_what_to_do_without_a_member(app: Flask, acme: TenantFixture) -> None:
    desk = a_desk(app, acme.id)
    tech = login(app, acme, "tech@acme.test")
    number = desk.numbers["Backup failed on SQL01"]
    page = tech.get(f"/tickets?q=%23{number}&state=all").get_data(as_text=True)
    assert "Backup failed on SQL01" in page and "Printer on 2nd floor" not in page
    nothing = tech.get("/tickets?q=zzqx&state=all").get_data(as_text=True)
    assert "No tickets match “zzqx”" in nothing
    with app.app_context(), db.tenant_session(acme.id) as s:
        user = s.get(User, acme.users["tech@acme.test"])
        assert user is not None and members.mine(s, user) == []  # no member has Taylor's e-mail in this tenant
    lonely = tech.get("/tickets?mine=1").get_data(as_text=True)
    assert "Vectis does not know which tickets are yours yet" in lonely and "tech@acme.test" in lonely
    assert "Ask an admin to choose your member in Admin → Users" in lonely


def test_a_member_with_the_users_email_in_other_letters_is_theirs(app: Flask, acme: TenantFixture) -> None:
    desk = a_desk(app, new_tenant(app))
    with app.app_context(), db.tenant_session(desk.tenant_id) as s:
        connection = s.scalar(select(Connection).where(Connection.vendor == "connectwise"))
        assert connection is not None
        user = User(tenant_id=desk.tenant_id, email="bench.tech@example.test", name="Bench Tech", role="technician")
        s.add_all([user, PsaMember(tenant_id=desk.tenant_id, connection_id=connection.id, external_id="201", name="Bench Tech", email="Bench.Tech@EXAMPLE.test")])  # fmt: skip
        s.flush()
        assert members.mine(s, user) == [(connection.id, "201")]
        s.add(PsaMember(tenant_id=desk.tenant_id, connection_id=connection.id, external_id="7", name="Old", email="bench.tech@example.test", inactive=True))  # fmt: skip
        s.flush()
        assert members.mine(s, user) == [(connection.id, "201")]  # an inactive member never matches


def test_load_more_pages_a_search_by_time_without_gaps_or_repeats(app: Flask) -> None:
    tenant_id = new_tenant(app)
    desk = a_desk(app, tenant_id)
    now = datetime.now(UTC)
    with app.app_context(), db.tenant_session(tenant_id) as s:
        connection_id = s.scalar(select(Connection.id))
        assert connection_id is not None
        s.add_all(
            Ticket(
                tenant_id=tenant_id,
                connection_id=connection_id,
                external_id=f"9{n:03d}",
                summary=f"Printer jam {n}",
                status_name="New",
                opened_at=now,
                vendor_updated_at=now - timedelta(minutes=n // 2),
            )
            for n in range(tickets.PAGE_SIZE + 5)
        )
    seen: list[str] = []
    after = None
    with app.app_context(), db.tenant_session(desk.tenant_id) as s:
        for _ in range(3):
            page = tickets.queue(s, tickets.Filters.from_args(MultiDict({"q": "printer"})), after=after)
            seen += [t.external_id for t, *_ in page.tickets]
            after = page.next_after
            if after is None:
                break
    assert after is None and len(seen) == len(set(seen)) == tickets.PAGE_SIZE + 6  # the 55 jams and the desk's printer


def test_a_search_reads_each_note_once_even_when_the_statistics_say_the_tables_are_empty(app: Flask) -> None:
    """CI, 7 Dec: a search of 1,800 tickets and 3,600 notes ran for minutes. The statistics, taken while the tables
    were nearly empty, made every ticket of the tenant read every note's words again (tickets x notes). Whatever the
    planner believes, a search reads each summary and each note's words at most once: as many ``tenant_words`` calls
    as there are rows, not their product."""
    desk = a_desk(app)
    with app.app_context(), db.tenant_session(desk.tenant_id) as s:
        ticket_ids = list(s.scalars(select(Ticket.id)))
        s.add_all(
            TicketNote(tenant_id=desk.tenant_id, ticket_id=ticket_ids[i % len(ticket_ids)], external_id=f"bulk{i}",
                       body=f"Checked the switch port {i}", internal=False, written_at=datetime.now(UTC))
            for i in range(40)
        )  # fmt: skip
    with app.app_context(), db.system_session() as s:
        rows = s.scalar(text("SELECT (SELECT count(*) FROM tickets) + (SELECT count(*) FROM ticket_notes)"))
        # As an ANALYZE of nearly empty tables leaves them: many pages, hardly a row, so every estimate is one row.
        s.execute(
            text("UPDATE pg_class SET reltuples = 1, relpages = 100000 WHERE relname IN ('tickets', 'ticket_notes')")
        )
        s.execute(text("SET LOCAL track_functions = 'all'"))
        # No index either, as a planner that believes the tables empty may well choose: through the words' index no
        # row's words are computed at all (0 calls: CI, 7 Dec, once the tables had grown a few pages), which proves
        # nothing; read row by row, every summary and note is worked out, and must be at most once.
        s.execute(text("SET LOCAL enable_indexscan = off"))
        s.execute(text("SET LOCAL enable_bitmapscan = off"))
        s.execute(text("SET LOCAL ROLE " + app.config["VECTIS_SETTINGS"].app_role))
        s.execute(text("SELECT set_config('vectis.tenant_id', :t, true)"), {"t": str(desk.tenant_id)})
        assert s.scalar(text("SELECT count(*) FROM ticket_search(ARRAY['zebrafax'])")) == 0
        s.execute(text("RESET ROLE"))
        calls = s.scalar(
            text("SELECT coalesce(sum(calls), 0) FROM pg_stat_xact_user_functions WHERE funcname = 'tenant_words'")
        )
        s.rollback()  # the statistics as they were
    assert 0 < calls <= rows, f"{calls} calls of tenant_words for {rows} rows"
