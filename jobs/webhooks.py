"""The work behind a verified callback: read the record again from the vendor and store it, as a sync does."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app

from jobs.context import app_context
from vectis.connectors.connectwise import ConnectWiseConnector, parse_ticket
from vectis.connectors.factory import build_connector
from vectis.models import Connection, WebhookDelivery
from vectis.platform import db
from vectis.platform import jobs as wire
from vectis.platform.queues import queue, redis
from vectis.tickets.writer import store_ticket

QUEUE, TIMEOUT = wire.CALLBACK.queue, wire.CALLBACK.timeout


def enqueue(tenant_id: int, delivery_id: int) -> None:
    queue(QUEUE).enqueue(process, tenant_id, delivery_id, job_timeout=TIMEOUT)


def process(tenant_id: int, delivery_id: int) -> str:

    with app_context(), db.tenant_session(tenant_id) as s:
        delivery = s.get(WebhookDelivery, delivery_id)
        if delivery is None or delivery.processed_at is not None:
            return "nothing to do"
        connection = s.get(Connection, delivery.connection_id)
        kind, _, rest = (delivery.record or "").partition(" ")
        external_id = rest.split(" ", 1)[0]
        if connection is None or kind != "ticket" or not external_id:
            delivery.processed_at, delivery.outcome = datetime.now(UTC), "Ignored: not a ticket callback."
            return "ignored"
        connector = build_connector(connection, redis(), current_app.config["VECTIS_SETTINGS"])
        try:
            assert isinstance(connector, ConnectWiseConnector)
            item, notes = connector.get_ticket(external_id)
        finally:
            connector.ctx.http.close()
        record = parse_ticket(item, notes)
        if record is None:
            delivery.processed_at, delivery.outcome = (
                datetime.now(UTC),
                "ConnectWise sent a ticket Vectis could not read.",
            )
            return "unreadable"

        store_ticket(s, connection, record)
        delivery.processed_at, delivery.outcome = datetime.now(UTC), f"Ticket #{external_id} stored."
        return "processed"
