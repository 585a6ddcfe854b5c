"""ConnectWise PSA against its simulator over real HTTP: test connection, full and incremental sync,
write-back through vectis/actions (reply, internal note, status, create, attachment cap), auto-attach."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select

from jobs.actions import run_queued
from tests.conftest import _test_env, client_for
from tests.vendors import support
from tests.vendors.support import Setup, add_connection, count, new_tenant, serve_app, sync, work
from vectis.actions import Actor, Target, perform
from vectis.alerts import as_ticket
from vectis.connectors.base import TicketNoteRecord, TicketRecord
from vectis.connectors.connectwise import MESSAGES, ConnectWiseConnector, parse_note, parse_ticket
from vectis.customers import timeline
from vectis.ingest.integrations import try_connection
from vectis.models import (
    Alert,
    AuditEntry,
    BackupConnector,
    BackupConnectorStatus,
    Connection,
    Contact,
    Customer,
    CustomerLink,
    QueuedAction,
    RuleEvent,
    Tenant,
    Ticket,
    TicketBoard,
    TicketNote,
    TicketPriority,
    TicketRelated,
    TicketStatus,
    TicketStatusChange,
    TimelineEvent,
    WebhookDelivery,
)
from vectis.platform import db, public_ids
from vectis.platform.config import ROOT, Settings
from vectis.platform.crypto import Sealed
from vectis.platform.dates import when
from vectis.simulators.connectwise import (
    DEMO_CLIENT_ID,
    DEMO_COMPANY_ID,
    DEMO_PRIVATE_KEY,
    DEMO_PUBLIC_KEY,
    ConnectWiseState,
    MalformedPage,
    create_app,
    sign,
)
from vectis.tickets import queries as tickets
from vectis.tickets.boards import default_board
from vectis.tickets.correlate import attach_events
from vectis.tickets.writer import store_ticket


class Sim:
    def __init__(self, state: ConnectWiseState, url: str) -> None:
        self.state, self.url = state, url


@pytest.fixture
def cw() -> Iterator[Sim]:
    state = ConnectWiseState.seeded()
    for url in serve_app(create_app(state)):
        yield Sim(state, url)


def config(url: str, **overrides: str) -> dict[str, str]:
    return {
        "site_url": url,
        "company_id": DEMO_COMPANY_ID,
        "public_key": DEMO_PUBLIC_KEY,
        "private_key": DEMO_PRIVATE_KEY,
        "client_id": "",
        **overrides,
    }


def connect(app: Flask, sim: Sim) -> Setup:
    return add_connection(app, new_tenant(app), "connectwise", config(sim.url))


def check(app: Flask, **values: str) -> tuple[bool, str]:
    tenant_id = new_tenant(app)
    with app.test_request_context(), db.tenant_session(tenant_id) as s:
        return try_connection(s, tenant_id, ConnectWiseConnector, values)


ADMIN = Actor("user", "1", "tech@test", "admin")


def act(app: Flask, setup: Setup, verb: str, target: Target, payload: dict[str, Any]) -> tuple[str, str]:
    with app.test_request_context(), db.tenant_session(setup.tenant_id) as s:
        outcome = perform(verb, target, payload, actor=ADMIN, surface="ui", session=s, tenant_id=setup.tenant_id)
        return outcome.result, outcome.message


def a_ticket(app: Flask, setup: Setup, *, closed: bool = False) -> Ticket:
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        ticket = s.scalar(
            select(Ticket).where(Ticket.closed.is_(closed), Ticket.board_id.is_not(None)).order_by(Ticket.id)
        )
        assert ticket is not None
        s.expunge(ticket)
        return ticket


# --- the Test button ---------------------------------------------------------------------------------


def test_it_reports_the_version_and_normalises_the_site_url(app: Flask, cw: Sim) -> None:
    ok, message = check(app, **config(cw.url + "/v4_6_release/apis/3.0/"))
    assert len(cw.state.companies) == 14
    assert ok and message == f"Connected to ConnectWise v2025.1.10431 at {cw.url} — 14 companies visible"
    newest = cw.state.companies[max(cw.state.companies)]
    cw.state.companies[9999] = {**newest, "id": 9999, "identifier": "Newcomer", "name": "Newcomer Bakery"}
    assert check(app, **config(cw.url))[1].endswith("— 15 companies visible")


@pytest.mark.parametrize(
    ("fault", "value", "expected"),
    [
        ("bad_keys", True, MESSAGES[401]),
        ("missing_client_id_check", True, "400 — ConnectWise refused the request because of the clientId"),
        ("forbidden_paths", ["/service/tickets"], "403 Forbidden on /service/tickets"),
    ],
)
def test_it_explains_each_error(app: Flask, cw: Sim, fault: str, value: Any, expected: str) -> None:
    setattr(cw.state.faults, fault, value)
    ok, message = check(app, **config(cw.url))
    assert not ok and message.startswith(expected), message


def test_a_closed_port_says_connection_timed_out(app: Flask) -> None:
    ok, message = check(app, **config("http://127.0.0.1:9"))
    assert not ok and message.startswith("Connection timed out — Vectis couldn't reach 127.0.0.1:9")


# --- syncing -----------------------------------------------------------------------------------------


def test_a_full_then_an_incremental_sync(app: Flask, cw: Sim) -> None:
    setup = connect(app, cw)
    first = sync(app, setup)
    assert first.status == "succeeded", first.error
    assert first.counts["tickets"] == len(cw.state.tickets) and first.counts["companies"] == 14
    assert count(app, setup, Customer) == 14  # the first tool connected: its companies are the customers
    assert count(app, setup, TicketNote) > len(cw.state.tickets)
    assert count(app, setup, TicketStatus) > 6
    assert count(app, setup, TicketPriority) == len(cw.state.priorities)
    # Every contact is on the customer its company became.
    assert count(app, setup, Contact, Contact.customer_id.is_not(None)) == len(cw.state.contacts)
    open_tickets = count(app, setup, Ticket, Ticket.closed.is_(False))
    assert 0 < open_tickets < len(cw.state.tickets)
    # A technician changes one ticket in ConnectWise: the next sync reads that one (and the boundary tie).
    ticket = a_ticket(app, setup)
    requests.post(
        f"{cw.url}/_sim/tickets/{ticket.external_id}/touch", json={"summary": "Renamed in ConnectWise"}, timeout=5
    )
    second = sync(app, setup)
    assert second.status == "succeeded" and 1 <= second.counts["tickets"] <= 3
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        assert s.scalar(select(Ticket.summary).where(Ticket.id == ticket.id)) == "Renamed in ConnectWise"


# --- write-back --------------------------------------------------------------------------------------


def test_reply_internal_note_and_status_change_reach_connectwise_with_one_audit_row_each(app: Flask, cw: Sim) -> None:
    setup = connect(app, cw)
    sync(app, setup)
    ticket = a_ticket(app, setup)
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        other = s.scalar(
            select(TicketStatus).where(
                TicketStatus.board_id == ticket.board_id,
                TicketStatus.id != ticket.status_id,
                TicketStatus.closed.is_(False),
            )
        )
        assert other is not None
        other_id, other_name = other.id, other.name
    target = Target("ticket", str(ticket.id), f"#{ticket.external_id}")
    result, message = act(app, setup, "ticket.reply", target, {"text": "We are on it.", "status_id": other_id})
    assert result == "ok", message
    result, _ = act(app, setup, "ticket.reply", target, {"text": "Checked the NAS logs.", "internal": True})
    assert result == "ok"
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        stored = s.get(Ticket, ticket.id)
        assert stored is not None and stored.status_name == other_name
        texts = {(n.body, n.internal) for n in s.scalars(select(TicketNote).where(TicketNote.ticket_id == ticket.id))}
        assert {("We are on it.", False), ("Checked the NAS logs.", True)} <= texts
        changes = select(func.count()).select_from(TicketStatusChange).where(TicketStatusChange.ticket_id == ticket.id)
        assert (s.scalar(changes) or 0) >= 2  # as first synced, then as moved
        rows = s.execute(
            select(AuditEntry.action, AuditEntry.result, AuditEntry.payload)
            .where(AuditEntry.target_id == str(ticket.id))
            .order_by(AuditEntry.seq)  # in the order they were written: a heap scan promises no order
        ).all()
    assert [(a, r) for a, r, _ in rows] == [("ticket.reply", "ok"), ("ticket.reply", "ok")]
    assert rows[0][2]["request"]["text"] == "We are on it." and rows[0][2]["response"]["vendor"]["note"] == {
        "internal": False
    }


# --- a write reaches ConnectWise at most once ---------------------------------------------------------


def _notes_with(sim: Sim, external_id: str, text: str) -> int:
    ticket = sim.state.ticket(int(external_id))
    return sum(1 for note in sim.state.ticket_notes(ticket) if note.get("text") == text)


NOTES_PATTERN = "POST /service/tickets/{ticket_id}/notes"


def _posts(sim: Sim) -> int:
    return int(sim.state.stats()["paths"].get(NOTES_PATTERN, 0))


def _audit(app: Flask, setup: Setup, ticket_id: int) -> list[tuple[str, str | None]]:
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        rows = s.execute(
            select(AuditEntry.result, AuditEntry.error)
            .where(AuditEntry.target_id == str(ticket_id), AuditEntry.action == "ticket.reply")
            .order_by(AuditEntry.id)
        )
        return [(r, e) for r, e in rows]


def test_a_note_answered_503_once_is_read_back_then_sent_once_more_so_there_is_exactly_one(app: Flask, cw: Sim) -> None:
    setup = connect(app, cw)
    sync(app, setup)
    ticket = a_ticket(app, setup)
    cw.state.faults.errors_503 = 1  # answered before ConnectWise stored anything
    result, message = act(app, setup, "ticket.reply", Target("ticket", str(ticket.id), "t"), {"text": "Once, please."})
    assert result == "ok", message
    assert _notes_with(cw, ticket.external_id, "Once, please.") == 1
    assert _posts(cw) == 2  # the 503, then the one that stored it


def test_a_note_stored_then_answered_too_late_is_found_by_reading_back_and_not_sent_again(app: Flask, cw: Sim) -> None:
    setup = connect(app, cw)
    sync(app, setup)
    ticket = a_ticket(app, setup)
    cw.state.faults.hang_after_writes, cw.state.faults.write_answer_delay = 1, 6.0  # past the 5 s read timeout
    result, message = act(app, setup, "ticket.reply", Target("ticket", str(ticket.id), "t"), {"text": "Only one."})
    assert result == "ok", message
    assert _notes_with(cw, ticket.external_id, "Only one.") == 1
    assert _posts(cw) == 1


def test_a_worker_killed_after_connectwise_stored_the_note_does_not_send_it_again(
    app: Flask, cw: Sim, settings: Settings
) -> None:
    setup = connect(app, cw)
    sync(app, setup)
    ticket = a_ticket(app, setup)
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        queued = QueuedAction(  # a rule's reply that waited for the rate limit, as perform() leaves it
            tenant_id=setup.tenant_id,
            verb="ticket.reply",
            target=Target("ticket", str(ticket.id), "t").to_json(),
            actor=ADMIN.to_json(),
            surface="rule",
            payload=Sealed.seal(setup.tenant_id, {"text": "Sent by a worker that dies."}),
        )
        s.add(queued)
        s.commit()
        queued_id = queued.id
    # ConnectWise stores the note and answers a minute late: the worker is killed while it waits.
    cw.state.faults.hang_after_writes, cw.state.faults.write_answer_delay = 1, 60.0
    env = {**os.environ, **_test_env(settings.database_url, settings.redis_url)}
    worker = subprocess.Popen(
        [sys.executable, "-c", f"from jobs.actions import run_queued; run_queued({setup.tenant_id}, {queued_id})"],
        env=env,
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 60
        while _notes_with(cw, ticket.external_id, "Sent by a worker that dies.") == 0:
            assert worker.poll() is None and time.monotonic() < deadline, "the worker never reached ConnectWise"
            time.sleep(0.1)
    finally:
        worker.kill()
        worker.wait()

    # The job runs again, as RQ runs an abandoned job: it reads back instead of sending a second note.
    with app.app_context():
        assert run_queued(setup.tenant_id, queued_id) == "ok"
    assert _notes_with(cw, ticket.external_id, "Sent by a worker that dies.") == 1
    assert _posts(cw) == 1
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        entry = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "ticket.reply").order_by(AuditEntry.id.desc())
        ).first()
        assert entry is not None and entry.result == "ok" and entry.payload["recovered"] is True


def test_a_timeout_with_nothing_stored_is_unknown_and_never_sent_twice(app: Flask, cw: Sim) -> None:
    setup = connect(app, cw)
    sync(app, setup)
    ticket = a_ticket(app, setup)
    cw.state.faults.hang = 6.0  # every request waits past the read timeout, the note's read-back too
    try:
        result, message = act(app, setup, "ticket.reply", Target("ticket", str(ticket.id), "t"), {"text": "Lost?"})
    finally:
        cw.state.faults.hang = 0.0
    assert result == "unknown" and message.startswith("Unknown — check ConnectWise"), message
    assert _posts(cw) == 1
    assert _audit(app, setup, ticket.id)[-1][0] == "unknown"


def test_a_refused_status_change_is_a_failed_audit_row_and_changes_nothing(app: Flask, cw: Sim) -> None:
    setup = connect(app, cw)
    sync(app, setup)
    ticket = a_ticket(app, setup)
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        other = s.scalar(
            select(TicketStatus.id).where(TicketStatus.board_id == ticket.board_id, TicketStatus.id != ticket.status_id)
        )
    cw.state.faults.fail_patch = True
    result, message = act(
        app, setup, "ticket.update_status", Target("ticket", str(ticket.id), "t"), {"status_id": other}
    )
    assert result == "failed" and message.startswith("ConnectWise did not accept it:")
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        assert s.scalar(select(Ticket.status_name).where(Ticket.id == ticket.id)) == ticket.status_name
        audit = s.execute(
            select(AuditEntry.result, AuditEntry.vendor_status).where(AuditEntry.target_id == str(ticket.id))
        ).one()
    assert audit == ("failed", 400)


def test_a_reply_whose_status_change_is_refused_is_still_a_sent_reply(app: Flask, cw: Sim) -> None:
    """The note is in ConnectWise: told as refused, the reply would be kept as a draft and sent a second time."""
    setup = connect(app, cw)
    sync(app, setup)
    ticket = a_ticket(app, setup)
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        other = s.scalar(
            select(TicketStatus.name).where(
                TicketStatus.board_id == ticket.board_id, TicketStatus.id != ticket.status_id
            )
        )
        other_id = s.scalar(
            select(TicketStatus.id).where(TicketStatus.board_id == ticket.board_id, TicketStatus.name == other)
        )
    notes = len(cw.state.notes.get(int(ticket.external_id), []))
    cw.state.faults.fail_patch = True
    result, message = act(
        app, setup, "ticket.reply", Target("ticket", str(ticket.id), "t"), {"text": "On my way.", "status_id": other_id}
    )
    assert result == "ok", message
    assert (
        f"ConnectWise refused the status change to {other}" in message
        and f"so it is still {ticket.status_name}" in message
    )
    assert len(cw.state.notes[int(ticket.external_id)]) == notes + 1
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        assert s.scalar(select(Ticket.status_name).where(Ticket.id == ticket.id)) == ticket.status_name


def test_attachments_over_ten_megabytes_are_refused_with_the_cap(app: Flask, cw: Sim) -> None:
    setup = connect(app, cw)
    sync(app, setup)
    ticket = a_ticket(app, setup)
    big = base64.b64encode(b"x" * (10 * 1024 * 1024 + 1)).decode()
    payload = {"text": "Logs attached", "attachment_name": "logs.zip", "attachment_content": big}
    result, message = act(app, setup, "ticket.reply", Target("ticket", str(ticket.id), "t"), payload)
    assert result == "failed" and "up to 10 MB" in message
    small = base64.b64encode(b"log line\n" * 100).decode()
    result, message = act(
        app, setup, "ticket.reply", Target("ticket", str(ticket.id), "t"), {**payload, "attachment_content": small}
    )
    assert result == "ok", message


def test_create_ticket_from_the_hub_with_priority_and_contact(app: Flask, cw: Sim) -> None:
    setup = connect(app, cw)
    sync(app, setup)
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        contact = s.scalars(select(Contact).order_by(Contact.id)).first()
        assert contact is not None and contact.customer_id is not None
        customer = s.get(Customer, contact.customer_id)
        assert customer is not None
        form = tickets.new_ticket_form(s, customer, [customer.id])
        stranger = s.scalar(select(Contact.id).where(Contact.customer_id != customer.id))
        urgent = s.scalar(select(TicketPriority).where(TicketPriority.name.like("%1%")))
        assert urgent is not None and form.board_id is not None
        assert form.priority_id is not None and form.priority_id != urgent.id  # ConnectWise's default first
        assert contact.id in {c.id for c in form.contacts} and stranger not in {c.id for c in form.contacts}
        target = Target("customer", str(customer.id), customer.name)
        payload: dict[str, Any] = {
            "summary": "VPN drops every hour",
            "board_id": form.board_id,
            "priority_id": urgent.id,
        }
        expected_contact = (int(contact.external_id), contact.name)
        contact_id, priority = contact.id, (int(urgent.external_id), urgent.name)
    before = len(cw.state.tickets)

    # Someone else's contact is refused before anything reaches ConnectWise.
    result, message = act(app, setup, "ticket.create", target, {**payload, "contact_id": stranger})
    assert result == "failed" and "Choose the contact again" in message
    assert len(cw.state.tickets) == before

    result, message = act(app, setup, "ticket.create", target, {**payload, "contact_id": contact_id})
    assert result == "ok", message
    created = max(cw.state.tickets.values(), key=lambda t: t.id)
    assert len(cw.state.tickets) == before + 1
    assert (created.contact_id, created.priority_id) == (expected_contact[0], priority[0])
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        stored = s.scalar(select(Ticket).where(Ticket.summary == "VPN drops every hour"))
        assert stored is not None
        assert (stored.priority, stored.contact_name) == (priority[1], expected_contact[1])


def test_a_write_that_landed_is_said_to_have_landed_when_reading_the_ticket_back_fails(app: Flask, cw: Sim) -> None:
    """Told "ConnectWise did not accept it", a technician sends it again: a second ticket, a second reply."""
    setup = connect(app, cw)
    sync(app, setup)
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        customer = s.scalar(select(Customer).join(Ticket, Ticket.customer_id == Customer.id).limit(1))
        assert customer is not None
        form = tickets.new_ticket_form(s, customer, [customer.id])
        target = Target("customer", str(customer.id), customer.name)
    before = len(cw.state.tickets)
    cw.state.faults.forbidden_paths = ["/service/tickets/"]  # creating works; reading one ticket back does not
    result, message = act(app, setup, "ticket.create", target, {"summary": "Wi-Fi slow", "board_id": form.board_id})
    created = max(cw.state.tickets)
    assert len(cw.state.tickets) == before + 1
    assert result == "ok", message
    assert message.startswith(f"Created ConnectWise ticket #{created}: Wi-Fi slow."), message
    assert "Refreshing it from ConnectWise failed" in message and "did not accept" not in message
    cw.state.faults.forbidden_paths = []

    ticket = a_ticket(app, setup)
    cw.state.faults.malformed_page = MalformedPage(f"/service/tickets/{ticket.external_id}")
    result, message = act(app, setup, "ticket.reply", Target("ticket", str(ticket.id), "t"), {"text": "On my way."})
    assert result == "ok", message
    assert message.startswith(f"Reply sent to ConnectWise ticket #{ticket.external_id}."), message
    assert "Refreshing it from ConnectWise failed" in message
    assert _notes_with(cw, ticket.external_id, "On my way.") == 1


# --- auto-attach -------------------------------------------------------------------------------------


def backup_event(app: Flask, backups: Setup, customer_id: int, when: datetime, key: str) -> int:
    """A failed-backup entry from the tenant's backup connection (``backups``)."""
    with app.app_context(), db.tenant_session(backups.tenant_id) as s:
        event = TimelineEvent(
            tenant_id=backups.tenant_id,
            connection_id=backups.connection_id,
            customer_id=customer_id,
            source="Veeam",
            kind="backup.BackupServerJob",
            occurred_at=when,
            title="FS01 Daily: job failed",
            severity="error",
            dedup_key=key,
        )
        s.add(event)
        s.flush()
        return event.id


def test_backup_events_attach_to_open_tickets_both_ways_without_duplicates(app: Flask, cw: Sim) -> None:

    setup = connect(app, cw)
    sync(app, setup)
    ticket = a_ticket(app, setup)
    assert ticket.customer_id is not None
    veeam = add_connection(app, setup.tenant_id, "veeam", {})
    now = datetime.now(UTC)
    # Event first: it is stored before the ticket changes; the ticket's next sync attaches it.
    earlier = backup_event(app, veeam, ticket.customer_id, now - timedelta(minutes=2), "earlier")
    outside = backup_event(app, veeam, ticket.customer_id, ticket.opened_at - timedelta(hours=1), "outside")
    requests.post(f"{cw.url}/_sim/tickets/{ticket.external_id}/touch", json={"summary": "Backups failing"}, timeout=5)
    sync(app, setup)
    # Ticket first: an event inside its window arrives and attaches as it is written.
    later = backup_event(app, veeam, ticket.customer_id, now - timedelta(minutes=1), "later")
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        attach_events(s, veeam.connection_id, now - timedelta(minutes=1), now)
    sync(app, setup)  # a re-sync adds nothing twice
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        related = list(s.scalars(select(TicketRelated.record_id).where(TicketRelated.ticket_id == ticket.id)))
    assert sorted(related) == sorted([earlier, later]) and outside not in related


# --- signed callbacks --------------------------------------------------------------------------------


def callback_body(sim: Sim, ticket_id: str, message_id: str, *, key_url: str | None = None) -> bytes:
    key = f"{sim.url}/v4_6_release/apis/3.0/system/callbackkeys/{sim.state.key_id}"
    payload = {
        "MessageId": message_id,
        "Action": "updated",
        "Type": "ticket",
        "ID": int(ticket_id),
        "Entity": "{}",
        "Metadata": {"key_url": key_url or key},
    }
    return json.dumps(payload).encode()


def post_callback(app: Flask, setup: Setup, body: bytes, signature: str) -> tuple[int, str]:
    with app.app_context(), db.system_session() as s:
        slug = s.scalar(select(Tenant.slug).where(Tenant.id == setup.tenant_id))
    client = client_for(app, f"{slug}.localhost")
    response = client.post(
        webhook_path(app, setup.connection_id),
        data=body,
        headers={"Content-Type": "application/json", "x-content-signature": signature},
    )
    return response.status_code, response.get_json()["message"]


def webhook_path(app: Flask, connection_id: int, token: str | None = None) -> str:
    with app.app_context():
        token = token or public_ids.webhook_token(connection_id)
        return f"/webhooks/{public_ids.encode('connection', connection_id)}/{token}"


def test_a_webhook_url_without_its_connections_token_is_not_found(app: Flask, cw: Sim) -> None:
    setup = connect(app, cw)
    with app.app_context(), db.system_session() as s:
        slug = s.scalar(select(Tenant.slug).where(Tenant.id == setup.tenant_id))
    client = client_for(app, f"{slug}.localhost")
    guessed = client.post(webhook_path(app, setup.connection_id, "0" * 32), data=b"{}")
    assert guessed.status_code == 404
    sequential = client.post(f"/webhooks/{setup.connection_id}", data=b"{}")
    assert sequential.status_code == 404
    assert deliveries(app, setup) == []  # nothing recorded for a stranger


def deliveries(app: Flask, setup: Setup) -> list[tuple[bool, str | None]]:
    return [(d.verified, d.outcome) for d in support.deliveries(app, setup)]


def test_a_signed_callback_is_processed_once_and_a_forged_one_changes_nothing(app: Flask, cw: Sim) -> None:
    setup = connect(app, cw)
    sync(app, setup)
    ticket = a_ticket(app, setup)
    requests.post(
        f"{cw.url}/_sim/tickets/{ticket.external_id}/touch", json={"summary": "Changed, then called back"}, timeout=5
    )
    signing_key = cw.state.signing_keys[cw.state.key_id]

    # The first callback names a key Vectis has not fetched: the request does not wait on ConnectWise, a job
    # fetches the key and checks the signature, and a forged one is refused there.
    forged = callback_body(cw, ticket.external_id, "m-forged")
    status, message = post_callback(app, setup, forged, sign(forged, "not-the-key"))
    assert status == 202 and "once Vectis has the signing key" in message
    work(app)
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        assert s.scalar(select(Ticket.summary).where(Ticket.id == ticket.id)) == ticket.summary  # nothing processed
        refused = s.scalar(select(WebhookDelivery).where(WebhookDelivery.connection_id == setup.connection_id))
        assert refused is not None and refused.reason.startswith("Its signature does not match")
        assert refused.pending_body is None and not refused.verified

    # The key is cached now: a forged one is refused in the request, a good one accepted once.
    assert post_callback(app, setup, forged, sign(forged, "not-the-key"))[0] == 401
    body = callback_body(cw, ticket.external_id, "m-1")
    assert post_callback(app, setup, body, sign(body, signing_key)) == (202, "Accepted.")
    assert post_callback(app, setup, body, sign(body, signing_key)) == (200, "Already received; not processed again.")
    work(app)
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        assert s.scalar(select(Ticket.summary).where(Ticket.id == ticket.id)) == "Changed, then called back"
    assert deliveries(app, setup) == [
        (False, "Refused: nothing was processed."),
        (False, None),
        (True, f"Ticket #{ticket.external_id} stored."),
    ]


def test_a_callback_waiting_for_its_key_is_verified_and_processed_by_the_job(app: Flask, cw: Sim) -> None:
    setup = connect(app, cw)
    sync(app, setup)
    ticket = a_ticket(app, setup)
    requests.post(f"{cw.url}/_sim/tickets/{ticket.external_id}/touch", json={"summary": "Called back"}, timeout=5)
    body = callback_body(cw, ticket.external_id, "m-first")
    assert post_callback(app, setup, body, sign(body, cw.state.signing_keys[cw.state.key_id]))[0] == 202
    work(app)
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        assert s.scalar(select(Ticket.summary).where(Ticket.id == ticket.id)) == "Called back"
    assert deliveries(app, setup) == [(True, f"Ticket #{ticket.external_id} stored.")]


def test_a_key_url_on_another_host_is_refused_without_being_fetched(app: Flask, cw: Sim) -> None:
    setup = connect(app, cw)
    sync(app, setup)
    ticket = a_ticket(app, setup)
    body = callback_body(cw, ticket.external_id, "m-evil", key_url="https://attacker.example/key")
    status, message = post_callback(app, setup, body, sign(body, "attacker-key"))
    assert status == 401 and "is not on 127.0.0.1" in message
    assert deliveries(app, setup) == [(False, None)]


def test_the_configured_client_id_is_sent_and_a_connection_override_wins(app: Flask, cw: Sim) -> None:
    settings = app.config["VECTIS_SETTINGS"]
    app.config["VECTIS_SETTINGS"] = settings.with_overrides({"product_ids": {"connectwise": "not-registered"}})
    try:
        ok, message = check(app, **config(cw.url))
        assert not ok and "not-registered" in message
        ok, message = check(app, **config(cw.url, client_id=DEMO_CLIENT_ID))
        assert ok, message
    finally:
        app.config["VECTIS_SETTINGS"] = settings


# --- rule events and alerts ----------------------------------------------------------------------------


def test_a_first_sync_emits_no_ticket_events_and_a_status_change_later_does(app: Flask, cw: Sim) -> None:
    setup = connect(app, cw)
    sync(app, setup)
    assert count(app, setup, RuleEvent) == 0  # years of history are not news
    ticket = a_ticket(app, setup)
    other = next(
        st
        for st in cw.state.statuses.values()
        if st["boardId"] == int(ticket_board(app, setup, ticket)) and st["name"] != ticket.status_name
    )
    requests.post(f"{cw.url}/_sim/tickets/{ticket.external_id}/touch", json={"status": other["id"]}, timeout=5)
    sync(app, setup)
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        event = s.scalars(select(RuleEvent).where(RuleEvent.trigger == "ticket.status_changed")).one()
        assert (event.subject_id, event.data["ticket.status"], event.data["ticket.previous_status"]) == (
            ticket.id,
            other["name"],
            ticket.status_name,
        )
        assert event.data["ticket.board"] and event.customer_id == ticket.customer_id


def ticket_board(app: Flask, setup: Setup, ticket: Ticket) -> str:

    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        return str(s.scalar(select(TicketBoard.external_id).where(TicketBoard.id == ticket.board_id)))


def test_an_alert_opened_as_a_ticket_is_linked_both_ways(app: Flask, cw: Sim) -> None:

    setup = connect(app, cw)
    sync(app, setup)
    veeam = add_connection(app, setup.tenant_id, "veeam", {}).connection_id
    now = datetime.now(UTC)
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        customer_id = s.scalar(select(Ticket.customer_id).where(Ticket.customer_id.is_not(None)).limit(1))
        customer = s.get(Customer, customer_id)
        assert customer is not None
        job = BackupConnector(
            tenant_id=setup.tenant_id, connection_id=veeam, customer_id=customer_id, external_id="j1",
            name="FS01 Daily", kind="Backup", vendor_type="BackupVm", protected_object="FS01",
        )  # fmt: skip
        s.add(job)
        s.flush()
        s.add(
            BackupConnectorStatus(
                tenant_id=setup.tenant_id, backup_connector_id=job.id, state="failed", vendor_status="Failed",
                last_attempt_at=now - timedelta(hours=3), last_success_at=now - timedelta(hours=52),
                consecutive_failures=2, message="Disk full on repository REPO-02",
            )
        )  # fmt: skip
        alert = Alert(
            tenant_id=setup.tenant_id, customer_id=customer_id, connection_id=veeam, source="Veeam",
            condition="backup_failed", severity="critical", subject_type="backup_job", subject_id=job.id,
            subject_label="FS01 Daily", message="failed 23 Nov 02:00: Disk full", first_seen_at=now, last_seen_at=now,
        )  # fmt: skip
        s.add(alert)
        s.flush()
        alert_id, customer_name = alert.id, customer.name
    before = len(cw.state.tickets)
    link = "http://acme.localhost/alerts/alr_0123456789abc"
    result, message = act(app, setup, "alert.open_ticket", Target("alert", str(alert_id), "FS01 Daily"), {"link": link})
    assert result == "ok", message
    assert "(Priority 2 - High, matching a critical alert)" in message
    assert len(cw.state.tickets) == before + 1
    created = max(cw.state.tickets.values(), key=lambda t: t.id)
    # ConnectWise's priorities: 1 Emergency, 2 High, 3 Normal (its default). Critical goes one above normal.
    assert created.priority_id == 2
    body = cw.state.notes[created.id][0]["text"]
    for evidence in (
        "Backup failed: FS01 Daily (critical, from Veeam)",
        f"Customer: {customer_name}",
        "Job: FS01 Daily (Veeam backup, protects FS01)",
        f"Last attempt: {when(now - timedelta(hours=3))} UTC",
        f"Last success: {when(now - timedelta(hours=52))} UTC",
        "Failed runs in a row: 2",
        "Veeam's message: Disk full on repository REPO-02",
        "First seen: ",
        f"Opened from Vectis alert {link}",
    ):
        assert evidence in body, (evidence, body)
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        linked = s.get(Alert, alert_id)
        assert linked is not None and linked.ticket_id is not None
        ticket = s.get(Ticket, linked.ticket_id)
        assert ticket is not None and "FS01 Daily" in ticket.summary
        assert (
            s.scalar(
                select(func.count())
                .select_from(TicketRelated)
                .where(
                    TicketRelated.ticket_id == ticket.id,
                    TicketRelated.kind == "alert",
                    TicketRelated.record_id == alert_id,
                )
            )
            == 1
        )
        assert [a.id for a in tickets.detail(s, ticket).alerts] == [alert_id]
    result, message = act(app, setup, "alert.open_ticket", Target("alert", str(alert_id), "FS01 Daily"), {})
    assert result == "failed" and "already has a ticket" in message


def a_failed_backup_alert(app: Flask, setup: Setup) -> tuple[int, str, str]:
    """An open critical alert on a customer linked to ConnectWise: (alert, the ConnectWise company and board a
    ticket for it goes on)."""
    now = datetime.now(UTC)
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        veeam = s.scalar(select(Connection.id).where(Connection.vendor == "veeam"))
    veeam = veeam or add_connection(app, setup.tenant_id, "veeam", {}).connection_id
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        link = s.scalars(
            select(CustomerLink)
            .join(Ticket, Ticket.customer_id == CustomerLink.customer_id)
            .where(CustomerLink.connection_id == setup.connection_id)
            .order_by(CustomerLink.id)
        ).first()
        assert link is not None and link.customer_id is not None
        board = s.get(TicketBoard, default_board(s, link.customer_id))
        assert board is not None
        alert = Alert(
            tenant_id=setup.tenant_id, customer_id=link.customer_id, connection_id=veeam, source="Veeam",
            condition="backup_failed", severity="critical", subject_type="backup_job", subject_id=now.microsecond,
            subject_label=f"FS{now.microsecond} Daily", message="failed: Disk full", first_seen_at=now, last_seen_at=now,
        )  # fmt: skip
        s.add(alert)
        s.flush()
        return alert.id, link.external_id, board.external_id


def queue_attempted(app: Flask, setup: Setup, verb: str, target: Target, payload: dict[str, Any]) -> int:
    """An action a worker took from the queue, committed that it was calling ConnectWise, then died."""
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        queued = QueuedAction(
            tenant_id=setup.tenant_id, verb=verb, target=target.to_json(), actor=ADMIN.to_json(), surface="rule",
            attempted_at=datetime.now(UTC) - timedelta(seconds=5), payload=Sealed.seal(setup.tenant_id, payload),
        )  # fmt: skip
        s.add(queued)
        s.commit()
        return queued.id


def test_an_alert_ticket_whose_worker_died_is_found_by_reading_back_and_never_opened_twice(app: Flask, cw: Sim) -> None:
    setup = connect(app, cw)
    sync(app, setup)
    alert_id, company, board = a_failed_backup_alert(app, setup)
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        alert = s.get(Alert, alert_id)
        assert alert is not None
        summary = as_ticket.summary(alert)
    target = Target("alert", str(alert_id), "FS01 Daily")
    queued_id = queue_attempted(app, setup, "alert.open_ticket", target, {})
    # What the worker sent arrived before it died.
    sent = cw.state.create_ticket(
        {"summary": summary, "board": {"id": int(board)}, "company": {"id": int(company)}}, "VectisAPI"
    )
    before = len(cw.state.tickets)

    with app.app_context():
        assert run_queued(setup.tenant_id, queued_id) == "ok"
    assert len(cw.state.tickets) == before  # read back, not opened again
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        alert = s.get(Alert, alert_id)
        assert alert is not None and alert.ticket_id is not None
        assert s.scalar(select(Ticket.external_id).where(Ticket.id == alert.ticket_id)) == str(sent.id)
        entry = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "alert.open_ticket").order_by(AuditEntry.id.desc())
        ).first()
        assert entry is not None and entry.result == "ok" and entry.payload["recovered"] is True

    # Nothing arrived: Vectis cannot tell, so it says so and sends nothing.
    alert_id, _, _ = a_failed_backup_alert(app, setup)
    queued_id = queue_attempted(app, setup, "alert.open_ticket", Target("alert", str(alert_id), "FS02"), {})
    with app.app_context():
        assert run_queued(setup.tenant_id, queued_id) == "unknown"
    assert len(cw.state.tickets) == before
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        assert s.scalar(select(Alert.ticket_id).where(Alert.id == alert_id)) is None


def test_a_new_ticket_whose_worker_died_is_found_by_reading_back_and_never_opened_twice(app: Flask, cw: Sim) -> None:
    setup = connect(app, cw)
    sync(app, setup)
    _, company, board = a_failed_backup_alert(app, setup)
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        link = s.scalar(select(CustomerLink).where(CustomerLink.external_id == company))
        board_id = s.scalar(select(TicketBoard.id).where(TicketBoard.external_id == board))
        assert link is not None and link.customer_id is not None
        target = Target("customer", str(link.customer_id), "a customer")
    payload = {"summary": "Rule: backups failing three nights running", "board_id": board_id}
    queued_id = queue_attempted(app, setup, "ticket.create", target, payload)
    sent = cw.state.create_ticket(
        {"summary": payload["summary"], "board": {"id": int(board)}, "company": {"id": int(company)}}, "VectisAPI"
    )
    before = len(cw.state.tickets)
    with app.app_context():
        assert run_queued(setup.tenant_id, queued_id) == "ok"
    assert len(cw.state.tickets) == before
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        assert s.scalar(select(Ticket.summary).where(Ticket.external_id == str(sent.id))) == payload["summary"]


# --- the receiver is cheap to run and hard to abuse (issue 15, finding 4) ------------------------------


def test_a_key_url_elsewhere_on_connectwises_own_site_is_refused_without_being_fetched(app: Flask, cw: Sim) -> None:
    setup = connect(app, cw)
    ticket = a_ticket_external_id(cw)
    before = cw.state.stats()["total"]
    body = callback_body(cw, ticket, "m-path", key_url=f"{cw.url}/v4_6_release/apis/3.0/company/companies")
    status, message = post_callback(app, setup, body, sign(body, "whatever"))
    assert status == 401 and "system/callbackkeys" in message
    assert cw.state.stats()["total"] == before  # nothing was fetched from ConnectWise


def test_a_callback_without_a_message_id_is_refused(app: Flask, cw: Sim) -> None:
    setup = connect(app, cw)
    body = callback_body(cw, a_ticket_external_id(cw), "")
    status, message = post_callback(app, setup, body, sign(body, cw.state.signing_keys[cw.state.key_id]))
    assert status == 401 and "MessageId" in message


def test_an_oversized_callback_is_refused_before_it_is_read(app: Flask, cw: Sim) -> None:
    setup = connect(app, cw)
    with app.app_context(), db.system_session() as s:
        slug = s.scalar(select(Tenant.slug).where(Tenant.id == setup.tenant_id))
    answer = client_for(app, f"{slug}.localhost").post(webhook_path(app, setup.connection_id), data=b"x" * 300_000)
    assert answer.status_code == 413
    assert deliveries(app, setup) == []


def a_ticket_external_id(sim: Sim) -> str:
    return str(next(iter(sim.state.tickets)))


# --- tickets on the timeline (issue 16, finding 3) ------------------------------------------------------


def _ticket_entries(app: Flask, setup: Setup, ticket_id: int) -> list[tuple[str, str]]:
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        return [
            (kind, title)
            for kind, title in s.execute(
                select(TimelineEvent.kind, TimelineEvent.title)
                .where(TimelineEvent.ticket_id == ticket_id)
                .order_by(TimelineEvent.occurred_at, TimelineEvent.id)
            )
        ]


def test_tickets_reach_the_timeline_from_syncs_and_from_our_own_replies_once_each(app: Flask, cw: Sim) -> None:
    """Ticking ConnectWise PSA on a timeline found nothing while the Tickets tab listed seven tickets."""
    setup = connect(app, cw)
    sync(app, setup)
    ticket = a_ticket(app, setup)
    entries = _ticket_entries(app, setup, ticket.id)
    assert entries[0] == ("ticket.opened", f"Ticket #{ticket.external_id} opened: {ticket.summary}")
    assert {kind for kind, _ in entries} <= {
        "ticket.opened", "ticket.reply_received", "ticket.reply_sent", "ticket.internal_note", "ticket.closed",
    }  # fmt: skip
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        closed = s.scalar(
            select(Ticket.id).where(Ticket.closed.is_(True), Ticket.closed_at.is_not(None)).order_by(Ticket.id).limit(1)
        )
    # Closed once; a reply after closing (a customer's "thanks") may follow it, so it need not be the last entry.
    assert closed is not None and [k for k, _ in _ticket_entries(app, setup, closed)].count("ticket.closed") == 1

    target = Target("ticket", str(ticket.id), f"#{ticket.external_id}")
    assert act(app, setup, "ticket.reply", target, {"text": "We are on it."})[0] == "ok"
    after_reply = _ticket_entries(app, setup, ticket.id)
    assert len(after_reply) == len(entries) + 1 and after_reply[-1][0] == "ticket.reply_sent"  # at once
    sync(app, setup)
    assert _ticket_entries(app, setup, ticket.id) == after_reply  # the next sync adds no second entry

    assert ticket.customer_id is not None
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:  # what ticking "ConnectWise PSA" shows
        shown = timeline.page(s, timeline.Filters(sources=("ConnectWise PSA",)), customer_ids=[ticket.customer_id])
        titles = [item.event.title for item in shown.items if hasattr(item, "event")]
    assert f"Ticket #{ticket.external_id} opened: {ticket.summary}" in titles


def test_a_note_a_contact_wrote_is_a_reply_received_and_a_members_is_a_reply_sent() -> None:
    base = {"id": 1, "text": "Still broken", "detailDescriptionFlag": True, "dateCreated": "2026-11-20T10:00:00Z"}
    by_contact = parse_note({**base, "contact": {"id": 7, "name": "Ravi Lopez"}})
    by_member = parse_note({**base, "member": {"id": 3, "identifier": "ejensen", "name": "Erin Jensen"}})
    assert by_contact is not None and by_contact.by_customer and by_contact.author == "Ravi Lopez"
    assert by_member is not None and not by_member.by_customer


def test_a_tickets_sla_is_read_as_connectwise_words_it() -> None:
    base = {"id": 3186, "summary": "Printer", "dateEntered": "2026-08-09T15:22:36Z"}
    base["_info"] = {"lastUpdated": "2026-08-10T17:40:00Z"}
    resolved = parse_ticket(
        {
            **base, "closedFlag": True, "closedDate": "2026-08-10T17:39:20Z", "sla": {"id": 3, "name": "Gold SLA"},
            "isInSla": False, "slaStatus": "Resolved", "dateResponded": "2026-08-09T15:22:30Z",
            "dateResplan": "2026-08-09T15:22:30Z", "dateResolved": "2026-08-10T17:39:12Z", "resolveMinutes": 306,
        }
    )  # fmt: skip
    assert resolved is not None
    assert (resolved.sla_name, resolved.in_sla, resolved.sla_status) == ("Gold SLA", False, "Resolved")
    assert resolved.responded_at == datetime(2026, 8, 9, 15, 22, 30, tzinfo=UTC)
    assert resolved.resolved_at == datetime(2026, 8, 10, 17, 39, 12, tzinfo=UTC)
    # No SLA (ConnectWise leaves null fields out): nothing to be in or out of, whatever a flag says.
    bare = parse_ticket({**base, "isInSla": True})
    assert bare is not None and (bare.sla_name, bare.in_sla, bare.sla_status, bare.responded_at) == (None,) * 4


def test_a_ticket_read_back_after_a_write_is_cleaned_as_a_sync_page_is(app: Flask, cw: Sim) -> None:
    """A NUL byte in a ticket fetched after a reply or a callback failed the write-back's transaction."""
    setup = connect(app, cw)
    now = datetime.now(UTC)
    record = TicketRecord(
        external_id="990001", customer_external_id=None, summary="Printer\x00 jam", board_external_id=None,
        status_external_id=None, status_name="New", closed=False, opened_at=now, updated_at=now,
        notes=(TicketNoteRecord("9900011", "x" * 100_000, internal=False, author="Ravi", written_at=now),),
    )  # fmt: skip
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        stored = store_ticket(s, s.get(Connection, setup.connection_id), record)  # type: ignore[arg-type]
        body = s.scalar(select(TicketNote.body).where(TicketNote.ticket_id == stored.id))
        assert stored.summary == "Printer jam" and body is not None and len(body) <= 65_536
