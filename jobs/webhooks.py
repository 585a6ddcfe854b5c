"""The work behind a callback: verify one that waited for its signing key, and read a verified one's record
again from the vendor and store it, as a sync does."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from flask import current_app
from sqlalchemy.orm import Session

from jobs.context import app_context
from vectis.alerts.vendor import refresh_open_alerts
from vectis.connectors import registry
from vectis.connectors.base import Connector
from vectis.connectors.capabilities import (
    ChangesLicences,
    ResetsAlerts,
    RespondsOnEndpoints,
    WritesTickets,
    as_capability,
    supports,
)
from vectis.connectors.factory import build_connector
from vectis.devices.writer import links_of
from vectis.ingest.webhooks import verify_pending
from vectis.licensing.writer import write_subscriptions
from vectis.models import Connection, WebhookDelivery
from vectis.platform import db
from vectis.platform import jobs as wire
from vectis.platform.http import ConnectorError
from vectis.platform.queues import redis
from vectis.security.writer import store_detection
from vectis.tickets.writer import store_ticket

QUEUE, TIMEOUT = wire.CALLBACK.queue, wire.CALLBACK.timeout


def verify(tenant_id: int, delivery_id: int) -> str:
    with app_context(), db.tenant_session(tenant_id) as s:
        delivery = s.get(WebhookDelivery, delivery_id, with_for_update=True)
        connection = s.get(Connection, delivery.connection_id) if delivery else None
        if delivery is None or connection is None or delivery.pending_body is None:
            return "nothing to do"
        return verify_pending(s, delivery, connection)


def process(tenant_id: int, delivery_id: int) -> str:
    with app_context(), db.tenant_session(tenant_id) as s:
        delivery = s.get(WebhookDelivery, delivery_id)
        if delivery is None or delivery.processed_at is not None:
            return "nothing to do"
        connection = s.get(Connection, delivery.connection_id)
        kind, _, rest = (delivery.record or "").partition(" ")
        external_id = rest.split(" ", 1)[0]
        handler = _HANDLERS.get(kind)
        if connection is None or handler is None:
            return _said(delivery, f"Ignored: Vectis does not read {kind or 'such'} callbacks.", "ignored")
        return handler(s, delivery, connection, external_id)


def _ticket(session: Session, delivery: WebhookDelivery, connection: Connection, external_id: str) -> str:
    if not external_id:
        return _said(delivery, "Ignored: the callback names no ticket.", "ignored")
    with _connector(connection) as connector:
        if not supports(connector, WritesTickets):
            return _said(delivery, "Ignored: not a ticketing tool.", "ignored")
        psa = as_capability(connector, WritesTickets)
        record = psa.get_ticket(external_id)
    if record is None:
        return _said(delivery, f"{psa.noun} sent a ticket Vectis could not read.", "unreadable")
    store_ticket(session, connection, record)
    return _said(delivery, f"Ticket #{external_id} stored.", "processed")


def _detection(session: Session, delivery: WebhookDelivery, connection: Connection, external_id: str) -> str:
    """A tool said a detection was raised or changed: read it again and store it, as a sync page would (a new one
    reaches the timeline and the rules once, whichever way it came first)."""
    if not external_id:
        return _said(delivery, "Ignored: the callback names no detection.", "ignored")
    with _connector(connection) as connector:
        if not supports(connector, RespondsOnEndpoints):
            return _said(delivery, "Ignored: not an endpoint-security tool.", "ignored")
        tool = as_capability(connector, RespondsOnEndpoints)
        try:
            record = tool.get_detection(external_id)
        except ConnectorError as exc:
            # Left unprocessed: the next sync reads it anyway.
            delivery.outcome = f"Reading {tool.noun}'s detection {external_id} failed: {exc.message}"[:300]
            return "failed"
    if record is None:
        return _said(delivery, f"{tool.noun} no longer has detection {external_id}.", "gone")
    store_detection(session, connection, tool.noun, record)
    return _said(delivery, f"Detection {external_id} stored.", "processed")


def _alerts(session: Session, delivery: WebhookDelivery, connection: Connection) -> str:
    """A tool said an alert was raised or cleared: read its open alerts again, as a sync's alerts stream does."""
    with _connector(connection) as connector:
        if not supports(connector, ResetsAlerts):
            return _said(delivery, "Ignored: not a tool with alerts.", "ignored")
        tool = as_capability(connector, ResetsAlerts)
        try:
            records = tool.open_alerts()
        except ConnectorError as exc:
            # Left unprocessed: the next sync reads the same list.
            delivery.outcome = f"Reading {tool.noun}'s open alerts failed: {exc.message}"
            return "failed"
    said = refresh_open_alerts(session, connection, records, registry.get(connection.vendor).label)
    return _said(delivery, said, "processed")


def _subscription(session: Session, delivery: WebhookDelivery, connection: Connection, external_id: str) -> str:
    """A distributor said a subscription was created, changed or cancelled: read it again, as a sync does."""
    if not external_id:
        return _said(delivery, "Ignored: the call named no subscription.", "ignored")
    with _connector(connection) as connector:
        if not supports(connector, ChangesLicences):
            return _said(delivery, "Ignored: not a licence distributor.", "ignored")
        distributor = as_capability(connector, ChangesLicences)
        try:
            record = distributor.get_subscription(external_id)
        except ConnectorError as exc:
            # Left unprocessed: the next sync reads every subscription again.
            delivery.outcome = f"Reading the subscription from {distributor.noun} failed: {exc.message}"[:300]
            return "failed"
        noun = distributor.noun
    if record is None:
        return _said(
            delivery, f"{noun} no longer has subscription {external_id}; the next sync marks it removed.", "gone"
        )
    write_subscriptions(session, connection, noun, [record], links_of(session, connection))
    return _said(delivery, f"Subscription {record.product_name} stored: {record.quantity} seats.", "processed")


_HANDLERS: dict[str, Callable[[Session, WebhookDelivery, Connection, str], str]] = {
    "ticket": _ticket,
    "alert": lambda session, delivery, connection, _id: _alerts(session, delivery, connection),
    "detection": _detection,
    "subscription": _subscription,
}


@contextmanager
def _connector(connection: Connection) -> Iterator[Connector]:
    connector = build_connector(connection, redis(), current_app.config["VECTIS_SETTINGS"])
    try:
        yield connector
    finally:
        connector.ctx.http.close()


def _said(delivery: WebhookDelivery, outcome: str, result: str) -> str:
    """The delivery processed, with what came of it in words for the log; ``result`` for the job's own log."""
    delivery.processed_at, delivery.outcome = datetime.now(UTC), outcome[:300]
    return result
