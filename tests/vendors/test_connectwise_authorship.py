"""What Vectis writes to ConnectWise carries the technician who wrote it, against the simulator over real HTTP:
members synced, users matched by e-mail or chosen by an admin, notes and new tickets written as the member, a
refusal answered once by signing the text and remembered, assignment and priority written back."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, func, select

from jobs.actions import run_queued
from tests.conftest import MadeUser, TenantFixture, login
from tests.vendors.support import Setup, add_connection, new_tenant, serve_app, sync
from vectis.actions import Actor, Outcome, Target, perform
from vectis.models import (
    AuditEntry,
    Customer,
    PsaAuthorship,
    PsaMember,
    QueuedAction,
    Role,
    Tenant,
    Ticket,
    TicketBoard,
    TicketNote,
    TicketPriority,
    TicketStatus,
    User,
)
from vectis.platform import db
from vectis.platform.crypto import Sealed
from vectis.simulators.connectwise import (
    DEMO_COMPANY_ID,
    DEMO_PRIVATE_KEY,
    DEMO_PUBLIC_KEY,
    ConnectWiseState,
    create_app,
)
from vectis.tickets import members
from vectis.tickets import queries as tickets

AVERY, TAYLOR = 181, 184  # the simulator's members with the demo operators' e-mails


@dataclass
class Psa:
    state: ConnectWiseState
    setup: Setup
    users: dict[str, Actor]  # by name: Avery (admin), Taylor (her e-mail in other letters), Robin (no member)


@pytest.fixture
def psa(app: Flask) -> Iterator[Psa]:
    state = ConnectWiseState.seeded()
    for url in serve_app(create_app(state)):
        tenant_id = new_tenant(app)
        config = {
            "site_url": url,
            "company_id": DEMO_COMPANY_ID,
            "public_key": DEMO_PUBLIC_KEY,
            "private_key": DEMO_PRIVATE_KEY,
            "client_id": "",
        }
        setup = add_connection(app, tenant_id, "connectwise", config)
        actors = {}
        with app.app_context(), db.system_session() as s:
            for name, email, role in (
                ("Avery Admin", "admin@acme.test", Role.ADMIN),
                ("Taylor Tech", "Tech@ACME.test", Role.TECHNICIAN),
                ("Robin Newhire", "robin@acme.test", Role.TECHNICIAN),
            ):
                user = User(tenant_id=tenant_id, email=email, name=name, role=role.value)
                s.add(user)
                s.flush()
                actors[name.split()[0]] = Actor.for_user(user)
        assert sync(app, setup).status == "succeeded"
        yield Psa(state, setup, actors)


def act(app: Flask, psa: Psa, who: str, verb: str, target: Target, payload: dict[str, Any]) -> Outcome:
    with app.test_request_context(), db.tenant_session(psa.setup.tenant_id) as s:
        return perform(
            verb, target, payload, actor=psa.users[who], surface="ui", session=s, tenant_id=psa.setup.tenant_id
        )


def an_open_ticket(app: Flask, psa: Psa) -> tuple[Target, str]:
    with app.app_context(), db.tenant_session(psa.setup.tenant_id) as s:
        ticket = s.scalar(
            select(Ticket).where(Ticket.closed.is_(False), Ticket.board_id.is_not(None)).order_by(Ticket.id)
        )
        assert ticket is not None
        return Target("ticket", str(ticket.id), f"#{ticket.external_id}"), ticket.external_id


def who_is(app: Flask, psa: Psa, name: str) -> tuple[str | None, str | None]:
    """(member name, how it was decided) of a user at the connection."""
    with app.app_context(), db.tenant_session(psa.setup.tenant_id) as s:
        user = s.get(User, psa.users[name].user_id)
        connection = members.psa_connections(s)[0]
        assert user is not None
        found = members.mapping(s, user, connection)
        return (found.member.name if found.member else None), found.how


def member_row(app: Flask, psa: Psa, external_id: int) -> int:
    with app.app_context(), db.tenant_session(psa.setup.tenant_id) as s:
        found = s.scalar(select(PsaMember.id).where(PsaMember.external_id == str(external_id)))
        assert found is not None
        return found


def notes_posted(psa: Psa) -> int:
    return int(psa.state.stats()["paths"].get("POST /service/tickets/{ticket_id}/notes", 0))


def last_audit(app: Flask, psa: Psa, action: str) -> AuditEntry:
    with app.app_context(), db.tenant_session(psa.setup.tenant_id) as s:
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id.desc()).limit(1))
        assert entry is not None
        s.expunge(entry)
        return entry


def test_a_sync_brings_the_members_and_users_are_matched_by_email_whatever_the_case(app: Flask, psa: Psa) -> None:
    with app.app_context(), db.tenant_session(psa.setup.tenant_id) as s:
        stored = {m.external_id: (m.name, m.email, m.identifier) for m in s.scalars(select(PsaMember))}
    assert len(stored) == len(psa.state.members)
    assert stored[str(AVERY)] == ("Avery Admin", "admin@acme.test", "aadmin")
    assert who_is(app, psa, "Avery") == ("Avery Admin", members.BY_EMAIL)
    assert who_is(app, psa, "Taylor") == ("Taylor Tech", members.BY_EMAIL)
    assert who_is(app, psa, "Robin") == (None, None)


def test_members_deleted_or_made_inactive_in_connectwise_are_inactive_after_a_sync(app: Flask, psa: Psa) -> None:
    target, _ = an_open_ticket(app, psa)
    del psa.state.members[TAYLOR]  # deleted in ConnectWise
    psa.state.members[AVERY]["inactiveFlag"] = True
    assert sync(app, psa.setup).status == "succeeded"

    def offered() -> set[str]:
        with app.app_context(), db.tenant_session(psa.setup.tenant_id) as s:
            ticket = s.get(Ticket, int(target.id or 0))
            assert ticket is not None
            return {m.external_id for m in tickets.detail(s, ticket).members}

    def inactive() -> set[str]:
        with app.app_context(), db.tenant_session(psa.setup.tenant_id) as s:
            return set(s.scalars(select(PsaMember.external_id).where(PsaMember.inactive.is_(True))))

    assert {str(TAYLOR), str(AVERY)} <= inactive()
    assert str(TAYLOR) not in offered() and str(AVERY) not in offered() and offered()
    assert who_is(app, psa, "Taylor") == (None, None)  # no active member has her e-mail now

    # A sync that may not read the members at all tells nothing about them: nobody is made inactive for it.
    was_inactive, was_offered = inactive(), offered()
    psa.state.faults.forbidden_paths = ["/system/members"]
    assert sync(app, psa.setup).status == "succeeded"
    assert (inactive(), offered()) == (was_inactive, was_offered)


def test_the_users_page_finds_every_users_member_in_a_fixed_number_of_statements(
    app: Flask, psa: Psa, make_user: Callable[..., MadeUser]
) -> None:
    with app.app_context(), db.system_session() as s:
        slug = s.scalar(select(Tenant.slug).where(Tenant.id == psa.setup.tenant_id))
    workspace = TenantFixture(psa.setup.tenant_id, str(slug), f"{slug}.localhost", "", {})
    admin = login(app, workspace, make_user(workspace, "admin").email)
    engine = app.extensions["vectis.platform.db"].app_engine

    def statements() -> tuple[int, str]:
        seen: list[str] = []

        def record(conn: object, cursor: object, statement: str, *args: object) -> None:
            seen.append(statement)

        event.listen(engine, "before_cursor_execute", record)
        try:
            response = admin.get("/admin/users")
        finally:
            event.remove(engine, "before_cursor_execute", record)
        assert response.status_code == 200
        return len(seen), " ".join(response.get_data(as_text=True).split())

    few, _ = statements()
    taylor = Target("user", psa.users["Taylor"].id, "Tech@ACME.test")
    choice = {"connection_id": str(psa.setup.connection_id), "member_id": member_row(app, psa, 148)}
    assert act(app, psa, "Avery", "psa_member.choose", taylor, choice).ok
    for _ in range(4):
        make_user(workspace)
    many, page = statements()
    assert many == few
    assert 'Avery Admin <span class="muted small">by e-mail</span>' in page
    assert 'Jordan Hughes <span class="muted small">set by an admin</span>' in page


def test_an_admins_choice_outlives_every_sync_and_automatic_hands_it_back_to_the_email(app: Flask, psa: Psa) -> None:
    taylor = Target("user", psa.users["Taylor"].id, "Tech@ACME.test")
    connection = str(psa.setup.connection_id)
    chose = act(
        app,
        psa,
        "Avery",
        "psa_member.choose",
        taylor,
        {"connection_id": connection, "member_id": member_row(app, psa, 148)},
    )
    assert chose.ok and chose.message == "Taylor Tech at Connectwise writes as Jordan Hughes.", chose.message
    psa.state.members[148]["primaryEmail"] = "someone-else@acme.test"
    assert sync(app, psa.setup).status == "succeeded"
    assert who_is(app, psa, "Taylor") == ("Jordan Hughes", members.BY_ADMIN)
    audit = last_audit(app, psa, "psa_member.choose")
    assert audit.actor_label == "admin@acme.test" and audit.result == "ok"
    assert audit.payload["response"]["before"] == {"member": "Taylor Tech", "member_id": str(TAYLOR), "how": "email"}

    nobody = act(app, psa, "Avery", "psa_member.choose", taylor, {"connection_id": connection, "member_id": "none"})
    assert nobody.ok and who_is(app, psa, "Taylor") == (None, members.BY_ADMIN)
    back = act(app, psa, "Avery", "psa_member.choose", taylor, {"connection_id": connection, "member_id": "auto"})
    assert back.ok and who_is(app, psa, "Taylor") == ("Taylor Tech", members.BY_EMAIL)

    refused = act(app, psa, "Taylor", "psa_member.choose", taylor, {"connection_id": connection, "member_id": "none"})
    assert refused.result == "blocked"  # a technician does not choose, not even for themselves
    assert (
        act(app, psa, "Avery", "psa_member.choose", taylor, {"connection_id": "0", "member_id": "none"}).result
        == "failed"
    )


def test_a_reply_goes_as_its_writers_member_and_the_audit_names_both(app: Flask, psa: Psa) -> None:
    target, number = an_open_ticket(app, psa)
    outcome = act(app, psa, "Avery", "ticket.reply", target, {"text": "On site at 2 pm.", "internal": False})
    assert outcome.ok and outcome.message == f"Reply sent to ConnectWise ticket #{number} as Avery Admin.", (
        outcome.message
    )
    note = psa.state.notes[int(number)][-1]
    assert note["text"] == "On site at 2 pm." and note["member"]["id"] == AVERY
    with app.app_context(), db.tenant_session(psa.setup.tenant_id) as s:
        stored = s.scalar(select(TicketNote).where(TicketNote.body == "On site at 2 pm."))
        assert stored is not None and stored.author == "Avery Admin"
    audit = last_audit(app, psa, "ticket.reply")
    assert audit.actor_label == "admin@acme.test"
    assert audit.payload["response"]["author"] == {"as": "member", "member": "Avery Admin", "member_id": str(AVERY)}

    internal = act(app, psa, "Taylor", "ticket.reply", target, {"text": "Checked the logs.", "internal": True})
    assert internal.ok and psa.state.notes[int(number)][-1]["member"]["id"] == TAYLOR
    assert psa.state.notes[int(number)][-1]["internalAnalysisFlag"] is True


def test_a_user_without_a_member_signs_the_text(app: Flask, psa: Psa) -> None:
    target, number = an_open_ticket(app, psa)
    outcome = act(app, psa, "Robin", "ticket.reply", target, {"text": "Rebooted the printer."})
    assert (
        outcome.ok
        and outcome.message
        == f"Reply sent to ConnectWise ticket #{number}. Signed “— Robin Newhire via Vectis”: Robin Newhire has no ConnectWise member in Vectis."
    )
    note = psa.state.notes[int(number)][-1]
    assert (
        note["text"] == "Rebooted the printer.\n\n— Robin Newhire via Vectis"
        and note["member"]["identifier"] == "VectisAPI"
    )
    assert last_audit(app, psa, "ticket.reply").payload["response"]["author"]["as"] == "signed as text"


def test_a_refused_member_is_sent_once_more_signed_and_the_refusal_is_remembered(app: Flask, psa: Psa) -> None:
    target, number = an_open_ticket(app, psa)
    psa.state.faults.refuse_note_member = True
    before = notes_posted(psa)
    first = act(app, psa, "Avery", "ticket.reply", target, {"text": "Replacing the toner."})
    assert first.ok, first.message
    assert (
        "Signed “— Avery Admin via Vectis”: ConnectWise refused a note written as one of its members" in first.message
        and "may not enter notes for other members" in first.message
    )
    assert notes_posted(psa) == before + 2  # refused (nothing stored), then signed
    texts = [n["text"] for n in psa.state.notes[int(number)]]
    assert texts.count("Replacing the toner.\n\n— Avery Admin via Vectis") == 1 and "Replacing the toner." not in texts
    with app.app_context(), db.tenant_session(psa.setup.tenant_id) as s:
        remembered = s.scalar(select(PsaAuthorship))
        assert remembered is not None and remembered.refused_at is not None and remembered.retry_at is not None

    second = act(app, psa, "Taylor", "ticket.reply", target, {"text": "Toner arrived."})
    assert second.ok and "ConnectWise refuses notes written as its members" in second.message
    assert notes_posted(psa) == before + 3  # no second try-and-fail

    psa.state.faults.refuse_note_member = False
    connection = Target("connection", str(psa.setup.connection_id), "ConnectWise")
    assert act(app, psa, "Avery", "psa_authorship.retry", connection, {}).ok
    third = act(app, psa, "Taylor", "ticket.reply", target, {"text": "All printing again."})
    assert third.ok and third.message.endswith("as Taylor Tech."), third.message


def test_a_refusal_is_remembered_even_when_the_rest_of_that_write_fails(app: Flask, psa: Psa) -> None:
    """The refusal is what ConnectWise said about itself: a status change refused after the signed note must not
    make Vectis forget it, or every next reply is refused first again."""
    target, _ = an_open_ticket(app, psa)
    with app.app_context(), db.tenant_session(psa.setup.tenant_id) as s:
        ticket = s.get(Ticket, int(target.id or 0))
        assert ticket is not None
        other = s.scalar(
            select(TicketStatus.id).where(TicketStatus.board_id == ticket.board_id, TicketStatus.id != ticket.status_id)
        )
    psa.state.faults.refuse_note_member, psa.state.faults.fail_patch = True, 1
    first = act(app, psa, "Avery", "ticket.reply", target, {"text": "Swapping the drum.", "status_id": str(other)})
    assert first.ok and "refused the status change" in first.message, first.message  # the signed note went in
    with app.app_context(), db.tenant_session(psa.setup.tenant_id) as s:
        remembered = s.scalar(select(PsaAuthorship))
        assert remembered is not None and remembered.refused_at is not None
    before = notes_posted(psa)
    second = act(app, psa, "Taylor", "ticket.reply", target, {"text": "Drum swapped."})
    assert second.ok and "ConnectWise refuses notes written as its members" in second.message, second.message
    assert notes_posted(psa) == before + 1  # signed at once, not refused first


def test_an_inactive_member_signs_that_write_without_blaming_the_connection(app: Flask, psa: Psa) -> None:
    target, number = an_open_ticket(app, psa)
    psa.state.members[AVERY]["inactiveFlag"] = True  # made inactive in ConnectWise since the last sync
    outcome = act(app, psa, "Avery", "ticket.reply", target, {"text": "Looking at it now."})
    assert outcome.ok and psa.state.notes[int(number)][-1]["text"].endswith("— Avery Admin via Vectis")
    with app.app_context(), db.tenant_session(psa.setup.tenant_id) as s:
        assert s.scalar(select(PsaAuthorship)) is None
    assert act(app, psa, "Taylor", "ticket.reply", target, {"text": "Taking over."}).message.endswith("as Taylor Tech.")


def new_ticket_payload(app: Flask, psa: Psa, **extra: str) -> tuple[Target, dict[str, Any]]:
    with app.app_context(), db.tenant_session(psa.setup.tenant_id) as s:
        customer = s.scalar(select(Customer).order_by(Customer.name).limit(1))
        board = s.scalar(select(TicketBoard).where(TicketBoard.name == "Service Desk"))
        assert customer is not None and board is not None
        target = Target("customer", str(customer.id), customer.name)
        return target, {"summary": "Scanner drops off the network", "board_id": str(board.id), **extra}


def test_a_new_tickets_description_is_written_by_the_member(app: Flask, psa: Psa) -> None:
    target, payload = new_ticket_payload(app, psa, description="Since Monday the scanner loses its IP.")
    outcome = act(app, psa, "Taylor", "ticket.create", target, payload)
    assert (
        outcome.ok
        and outcome.message
        == f"Created ConnectWise ticket #{outcome.response['vendor']['id']} as Taylor Tech: Scanner drops off the network"
    ), outcome.message
    created = int(outcome.response["vendor"]["id"])
    [description] = psa.state.notes[created]
    assert description["text"] == "Since Monday the scanner loses its IP."
    assert description["detailDescriptionFlag"] is True and description["member"]["id"] == TAYLOR

    # Refused the first time: the ticket stays, its description follows signed.
    psa.state.faults.refuse_note_member = True
    target, payload = new_ticket_payload(app, psa)
    refused = act(app, psa, "Avery", "ticket.create", target, payload)
    assert refused.ok, refused.message
    [signed] = psa.state.notes[int(refused.response["vendor"]["id"])]
    assert signed["text"] == "Scanner drops off the network\n\n— Avery Admin via Vectis"

    # Remembered: the next ticket carries its signed description itself, in one request.
    target, payload = new_ticket_payload(app, psa, description="Label printer offline.")
    third = act(app, psa, "Avery", "ticket.create", target, payload)
    [inline] = psa.state.notes[int(third.response["vendor"]["id"])]
    assert (
        inline["text"] == "Label printer offline.\n\n— Avery Admin via Vectis"
        and inline["member"]["identifier"] == "VectisAPI"
    )


def test_assigning_and_prioritising_reach_connectwise_and_are_read_back(app: Flask, psa: Psa) -> None:
    target, number = an_open_ticket(app, psa)
    taylor = member_row(app, psa, TAYLOR)
    assigned = act(app, psa, "Avery", "ticket.assign", target, {"member_id": str(taylor)})
    assert assigned.ok and assigned.message == f"Ticket #{number} is assigned to Taylor Tech.", assigned.message
    assert psa.state.tickets[int(number)].owner_id == TAYLOR
    with app.app_context(), db.tenant_session(psa.setup.tenant_id) as s:
        ticket = s.get(Ticket, int(target.id or 0))
        high = s.scalar(select(TicketPriority).where(TicketPriority.name == "Priority 2 - High"))
        assert ticket is not None and high is not None
        assert (ticket.assignee, ticket.assignee_external_id) == ("Taylor Tech", str(TAYLOR))
        high_id = high.id

    raised = act(app, psa, "Taylor", "ticket.set_priority", target, {"priority_id": str(high_id)})
    assert raised.ok and raised.message.startswith(f"Ticket #{number} is now Priority 2 - High (was ")
    assert psa.state.tickets[int(number)].priority_id == 2
    audit = last_audit(app, psa, "ticket.set_priority")
    assert audit.actor_label == "Tech@ACME.test" and audit.payload["response"]["after"] == "Priority 2 - High"

    nobody = act(app, psa, "Avery", "ticket.assign", target, {"member_id": "none"})
    assert nobody.ok and nobody.message == f"Ticket #{number} is no longer assigned to anyone."
    assert psa.state.tickets[int(number)].owner_id is None
    wrong = act(app, psa, "Avery", "ticket.set_priority", target, {"priority_id": "0"})
    assert wrong.result == "failed" and wrong.message == "Choose one of Connectwise's priorities."


def test_a_rules_note_stays_the_api_members_unsigned(app: Flask, psa: Psa) -> None:
    target, number = an_open_ticket(app, psa)
    rule = Actor("rule", "7", "Waiting 7 days → note", Role.ADMIN.value)
    with app.test_request_context(), db.tenant_session(psa.setup.tenant_id) as s:
        outcome = perform(
            "ticket.reply", target, {"text": "No reply in 7 days.", "internal": True}, actor=rule, surface="rule",
            session=s, tenant_id=psa.setup.tenant_id,
        )  # fmt: skip
    assert outcome.ok and outcome.message == f"Internal note sent to ConnectWise ticket #{number}."
    assert psa.state.notes[int(number)][-1]["text"] == "No reply in 7 days."


def test_a_signed_reply_whose_worker_died_is_found_by_reading_back_and_not_sent_again(app: Flask, psa: Psa) -> None:
    target, number = an_open_ticket(app, psa)
    with app.app_context(), db.tenant_session(psa.setup.tenant_id) as s:
        queued = QueuedAction(  # attempted: the worker committed that it was calling ConnectWise, then died
            tenant_id=psa.setup.tenant_id, verb="ticket.reply", target=target.to_json(),
            actor=psa.users["Robin"].to_json(), surface="ui", attempted_at=datetime.now(UTC) - timedelta(seconds=5),
            payload=Sealed.seal(psa.setup.tenant_id, {"text": "Coming back on Monday."}),
        )  # fmt: skip
        s.add(queued)
        s.commit()
        queued_id = queued.id
    # What that worker sent arrived: the signed text, since Robin has no member.
    signed = "Coming back on Monday.\n\n— Robin Newhire via Vectis"
    psa.state.add_note(int(number), {"text": signed, "detailDescriptionFlag": True}, "VectisAPI")
    before = notes_posted(psa)
    with app.app_context():
        assert run_queued(psa.setup.tenant_id, queued_id) == "ok"
    assert notes_posted(psa) == before
    assert [n["text"] for n in psa.state.notes[int(number)]].count(signed) == 1


def test_a_role_that_may_not_read_members_still_syncs_tickets_and_nobody_is_matched(app: Flask) -> None:
    state = ConnectWiseState.seeded()
    state.faults.forbidden_paths = ["/system/members"]
    for url in serve_app(create_app(state)):
        tenant_id = new_tenant(app)
        config = {"site_url": url, "company_id": DEMO_COMPANY_ID, "public_key": DEMO_PUBLIC_KEY, "private_key": DEMO_PRIVATE_KEY, "client_id": ""}  # fmt: skip
        setup = add_connection(app, tenant_id, "connectwise", config)
        run = sync(app, setup)
        assert run.status == "succeeded", run.error
        with app.app_context(), db.tenant_session(tenant_id) as s:
            assert s.scalar(select(func.count()).select_from(PsaMember)) == 0
            assert (s.scalar(select(func.count()).select_from(Ticket)) or 0) == len(state.tickets)
