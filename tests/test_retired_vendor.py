"""A connection whose vendor Vectis no longer has a connector for (a vendor removed in a later version, or test data
of a made-up one): its records stay readable, and everything that would reach the vendor says so in words instead
of failing with a 500: a verb, a detection card's poll, an inbound webhook, a sync."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import requests
from flask import Flask
from sqlalchemy import select

from jobs.sync import run_sync
from tests.conftest import MadeUser, login, pid, serving
from tests.security_world import detection, site, write
from tests.test_security import own_workspace_and_tech as workspace
from vectis.actions import Actor, Target, perform
from vectis.connectors.base import TicketRecord
from vectis.models import Connection, Linked, SyncRun, Ticket
from vectis.platform import db, public_ids
from vectis.platform.crypto import Sealed
from vectis.tickets.writer import write_tickets

RETIRED = "retired-edr"
SAM = Actor("user", None, "sam@msp.test", "technician")


def test_acting_on_a_detection_of_a_retired_vendor_says_so_and_changes_nothing(
    app: Flask, make_user: Callable[..., MadeUser]
) -> None:
    tenant, tech = workspace(app, make_user)
    where = site(app, tenant.id, vendor=RETIRED)
    (detection_id,) = write(app, where, [detection(where, "Old.Threat", isolation="isolating")]).values()
    with app.test_request_context(), db.tenant_session(tenant.id) as s:
        outcome = perform(
            "detection.resolve", Target("detection", str(detection_id), "detection"), {}, actor=SAM, surface="ui",
            session=s, tenant_id=tenant.id,
        )  # fmt: skip
    assert (outcome.result, outcome.message) == ("failed", "This integration has been removed.")
    client = login(app, tenant, tech)
    card = client.get(f"/detections/{pid(app, 'detection', detection_id)}/card")  # the pending card's poll
    assert card.status_code == 200


def test_replying_to_a_ticket_of_a_retired_psa_says_so(app: Flask, make_user: Callable[..., MadeUser]) -> None:
    tenant, _ = workspace(app, make_user)
    now = datetime.now(UTC)
    with app.app_context(), db.tenant_session(tenant.id) as s:
        psa = Connection(tenant_id=tenant.id, vendor="retired-psa", name="Old PSA", config=Sealed.seal(tenant.id, {}))
        s.add(psa)
        s.flush()
        record = TicketRecord("T-1", None, "Printer jams", None, None, "New", False, now, now)
        write_tickets(s, psa, [record], lambda _: Linked(None, None))
        ticket_id = s.scalars(select(Ticket.id).where(Ticket.connection_id == psa.id)).one()
    with app.test_request_context(), db.tenant_session(tenant.id) as s:
        outcome = perform(
            "ticket.reply", Target("ticket", str(ticket_id), "T-1"), {"text": "On our way."}, actor=SAM, surface="ui",
            session=s, tenant_id=tenant.id,
        )  # fmt: skip
    assert outcome.result == "failed" and "no longer has a connector for Old PSA" in outcome.message


def test_a_webhook_to_a_retired_vendors_connection_is_refused_in_words_and_its_sync_fails_in_words(
    app: Flask, make_user: Callable[..., MadeUser]
) -> None:
    tenant, _ = workspace(app, make_user)
    where = site(app, tenant.id, vendor=RETIRED)
    with app.app_context():
        path = f"/webhooks/{public_ids.encode('connection', where.connection_id)}/"
        path += public_ids.webhook_token(where.connection_id)
    with serving(app) as port:
        answer = requests.post(f"http://127.0.0.1:{port}{path}", data=b"{}", timeout=5,
                               headers={"Host": f"{tenant.slug}.localhost:{port}"})  # fmt: skip
    assert answer.status_code == 401
    with app.app_context():
        run_sync(tenant.id, where.connection_id)
    with app.app_context(), db.tenant_session(tenant.id) as s:
        run = s.scalars(select(SyncRun).where(SyncRun.connection_id == where.connection_id)).one()
        connection = s.get(Connection, where.connection_id)
        assert run.status == "failed" and "no longer has a connector for" in (run.error or "")
        assert connection is not None and connection.paused_reason == run.error  # not tried again every tick
