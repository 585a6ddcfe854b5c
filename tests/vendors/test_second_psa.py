"""A second PSA plugs in with its own files only (``tests/vendors/minipsa.py``: connector and simulator) and one
registry entry, and gets sync, reply, status, create and signed callbacks through the same actions, views and
jobs as ConnectWise. Nothing in ``vectis/`` names it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from rq import SimpleWorker
from sqlalchemy import select

from tests.conftest import HostClient, MadeUser, TenantFixture, csrf_token, login, pid, serving
from tests.vendors.minipsa import API_KEY, MiniPsaConnector, MiniPsaState, create_app, sign
from tests.vendors.support import Setup, add_connection, new_tenant, serve, sync
from vectis.actions import Actor, Target, perform
from vectis.connectors import registry
from vectis.ingest import webhook_checks
from vectis.models import Customer, Tenant, Ticket, TicketBoard, TicketNote, TicketStatus, WebhookDelivery
from vectis.platform import db, public_ids
from vectis.platform.queues import queue, redis


@dataclass
class Psa:
    state: MiniPsaState
    setup: Setup
    tenant: TenantFixture
    admin: HostClient


@pytest.fixture
def psa(app: Flask, monkeypatch: pytest.MonkeyPatch, make_user: object) -> Iterator[Psa]:
    monkeypatch.setitem(registry.CONNECTORS, MiniPsaConnector.key, MiniPsaConnector)  # the one registry line
    state = MiniPsaState()
    url, stop = serve(create_app(state))
    tenant_id = new_tenant(app)
    with app.app_context(), db.system_session() as s:
        slug = s.scalar(select(Tenant.slug).where(Tenant.id == tenant_id)) or ""
    tenant = TenantFixture(tenant_id, slug, f"{slug}.localhost", "", {})
    admin: MadeUser = make_user(tenant, "admin")  # type: ignore[operator]
    setup = add_connection(app, tenant_id, "minipsa", {"base_url": url, "api_key": API_KEY})
    try:
        yield Psa(state, setup, tenant, login(app, tenant, admin.email))
    finally:
        stop()


def _ticket(app: Flask, psa: Psa, summary: str) -> Ticket:
    with app.app_context(), db.tenant_session(psa.setup.tenant_id) as s:
        ticket = s.scalar(select(Ticket).where(Ticket.summary == summary))
        assert ticket is not None
        s.expunge(ticket)
        return ticket


def test_a_second_psa_syncs_and_takes_replies_status_changes_and_new_tickets(app: Flask, psa: Psa) -> None:
    run = sync(app, psa.setup)
    assert run.status == "succeeded", run.error
    ticket = _ticket(app, psa, "Printer jams")
    assert ticket.status_name == "New"

    # A reply through the hub's own form, the same view and verb as ConnectWise's.
    path = f"/tickets/{pid(app, 'ticket', ticket.id)}/reply"
    token = csrf_token(psa.admin, f"/tickets/{pid(app, 'ticket', ticket.id)}")
    answer = psa.admin.post(path, data={"csrf_token": token, "text": "On our way."}, headers={"HX-Request": "true"})
    # MiniPSA keeps no author per note: the reply carries its writer in its text.
    said = (
        "Reply sent to MiniPSA ticket #1. Signed “— Test Admin via Vectis”: MiniPSA does not record who wrote a note."
    )
    assert answer.status_code == 200 and said in answer.get_data(as_text=True)
    signed = "On our way.\n\n— Test Admin via Vectis"
    assert [n["text"] for n in psa.state.tickets[1]["notes"]] == [signed]
    with app.app_context(), db.tenant_session(psa.setup.tenant_id) as s:
        assert s.scalars(select(TicketNote.body).where(TicketNote.ticket_id == ticket.id)).all() == [signed]
        done = s.scalar(select(TicketStatus).where(TicketStatus.name == "Done"))
        board = s.scalar(select(TicketBoard.id))
        customer = s.scalar(select(Customer.id).where(Customer.name == "Harbor Dental"))
        assert done is not None and board is not None and customer is not None
        done_id = done.id

    actor = Actor("user", "0", "tech@minipsa.test", "admin")
    with app.test_request_context(), db.tenant_session(psa.setup.tenant_id) as s:
        moved = perform(
            "ticket.update_status",
            Target("ticket", str(ticket.id), "t"),
            {"status_id": done_id},
            actor=actor,
            surface="ui",
            session=s,
            tenant_id=psa.setup.tenant_id,
        )
        created = perform(
            "ticket.create",
            Target("customer", str(customer), "Harbor Dental"),
            {"summary": "New laptop for reception", "board_id": board},
            actor=actor,
            surface="ui",
            session=s,
            tenant_id=psa.setup.tenant_id,
        )
    assert moved.ok and moved.message == "Ticket #1 moved from New to Done.", moved.message
    assert created.ok and created.message.startswith("Created MiniPSA ticket #"), created.message
    assert psa.state.tickets[1]["status_name"] == "Done"
    assert [t["summary"] for t in psa.state.tickets.values()] == ["Printer jams", "New laptop for reception"]


def test_a_write_answered_503_after_it_was_stored_is_resent_with_its_key_and_lands_once(app: Flask, psa: Psa) -> None:
    """A rule's write (the worker's policy: retries) goes again with the same key; MiniPSA keeps one."""
    sync(app, psa.setup)
    ticket = _ticket(app, psa, "Printer jams")
    psa.state.errors_after_write = 1  # stored, then answered 503
    with app.test_request_context(), db.tenant_session(psa.setup.tenant_id) as s:
        outcome = perform(
            "ticket.reply",
            Target("ticket", str(ticket.id), "t"),
            {"text": "Just once."},
            actor=Actor("user", "0", "tech@minipsa.test", "admin"),
            surface="rule",
            session=s,
            tenant_id=psa.setup.tenant_id,
        )
    assert outcome.ok, outcome.message
    assert [n["text"] for n in psa.state.tickets[1]["notes"]] == ["Just once."]
    assert psa.state.posts == 2  # sent twice with one key; MiniPSA kept one


def test_a_second_psas_signed_callback_is_stored_through_the_same_receiver_and_job(app: Flask, psa: Psa) -> None:
    sync(app, psa.setup)
    psa.state.tickets[1].update(summary="Printer fixed", updated="2100-01-01T00:00:00+00:00")
    body = json.dumps({"message": str(uuid.uuid4()), "ticket": 1}).encode()
    with app.app_context():
        url = (
            f"/webhooks/{public_ids.encode('connection', psa.setup.connection_id)}/"
            f"{public_ids.webhook_token(psa.setup.connection_id)}"
        )
    forged = psa.admin.post(url, data=body, headers={"X-Signature": sign(body, "not-the-key")})
    assert forged.status_code == 401
    accepted = psa.admin.post(url, data=body, headers={"X-Signature": sign(body, API_KEY)})
    assert accepted.status_code == 202, accepted.get_json()
    with app.app_context():
        SimpleWorker([queue("interactive"), queue("sync")], connection=redis()).work(burst=True)
    assert _ticket(app, psa, "Printer fixed").external_id == "1"


def test_send_test_delivery_signs_as_the_psa_when_its_connector_can(app: Flask, psa: Psa) -> None:
    """MiniPSA declares SignsTestCallbacks: the test goes through its own signature and verifier, not Vectis's."""
    with app.app_context():
        waiting = queue("sync").count
    with serving(app) as port:
        psa.admin.host = f"{psa.tenant.slug}.localhost:{port}"
        token = csrf_token(psa.admin, "/admin/integrations/minipsa")
        answer = psa.admin.post(
            "/admin/integrations/minipsa/webhooks/test", data={"csrf_token": token}, headers={"HX-Request": "true"}
        )
    assert answer.status_code == 200
    assert "the webhook address works." in answer.get_data(as_text=True), answer.get_data(as_text=True)
    with app.app_context(), db.tenant_session(psa.setup.tenant_id) as s:
        rows = s.scalars(select(WebhookDelivery).where(WebhookDelivery.connection_id == psa.setup.connection_id)).all()
        assert [(r.verified, r.test, r.record, r.outcome) for r in rows] == [
            (True, True, webhook_checks.RECORD, webhook_checks.OUTCOME)
        ]
        assert rows[0].message_id and rows[0].message_id.startswith("test-")
        assert queue("sync").count == waiting  # no callback job: nothing to process


def _card(html: str, marker: str) -> str:
    start = html.index(marker)
    return " ".join(html[start : html.index("</section>", start)].split())


def test_the_new_ticket_forms_name_the_psa_that_is_connected(app: Flask, psa: Psa) -> None:
    waiting = _card(psa.admin.get("/tickets/new").get_data(as_text=True), 'data-testid="new-ticket"')
    assert "once MiniPSA has synced" in waiting and "ConnectWise" not in waiting

    sync(app, psa.setup)
    with app.app_context(), db.tenant_session(psa.setup.tenant_id) as s:
        customer = s.scalar(select(Customer.id).where(Customer.name == "Harbor Dental"))
    hub = psa.admin.get(f"/customers/{pid(app, 'customer', customer)}/tickets").get_data(as_text=True)
    chosen = psa.admin.post(
        "/tickets/new/customer",
        data={"customer": pid(app, "customer", customer), "csrf_token": csrf_token(psa.admin, "/tickets/new")},
        headers={"HX-Request": "true"},
    ).get_data(as_text=True)
    for card in (_card(hub, 'data-testid="new-ticket"'), _card(chosen, 'data-testid="new-ticket"')):
        assert "Create in MiniPSA" in card and "ConnectWise" not in card, card
        assert "MiniPSA has no contacts for Harbor Dental" in card
