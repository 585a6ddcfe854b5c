"""The work behind a verified callback: read the record again from the vendor and store it, as a sync does."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app

from jobs.context import app_context
from vectis import db
from vectis.queues import queue, redis

QUEUE = "sync"


def enqueue(tenant_id: int, delivery_id: int) -> None:
    queue(QUEUE).enqueue(process, tenant_id, delivery_id, job_timeout=300)


def process(tenant_id: int, delivery_id: int) -> str:
    from vectis.connectors.connectwise import ConnectWiseConnector, parse_ticket
    from vectis.correlate import attach_to_tickets
    from vectis.matching import Linked
    from vectis.models import Connection, CustomerLink, WebhookDelivery
    from vectis.sync import build_connector
    from vectis.ticket_writer import write_tickets

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

        def account(external: str | None) -> Linked:
            row = s.execute(
                CustomerLink.__table__.select()
                .with_only_columns(CustomerLink.id, CustomerLink.customer_id)
                .where(CustomerLink.connection_id == connection.id, CustomerLink.external_id == (external or ""))
            ).first()
            return Linked(row[0], row[1]) if row else Linked(None, None)

        attach_to_tickets(s, write_tickets(s, connection, [record], account))
        delivery.processed_at, delivery.outcome = datetime.now(UTC), f"Ticket #{external_id} stored."
        return "processed"
