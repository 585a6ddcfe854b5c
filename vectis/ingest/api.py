"""The webhook delivery log on the REST API, for a token with the ``admin`` scope: every callback a vendor (or a test
delivery from Vectis) made to this workspace's webhook addresses, newest first, with what became of it.

A delivery waiting for its signing key holds the callback's body, sealed; the API never returns it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field
from sqlalchemy import select, tuple_
from sqlalchemy.orm import defer

from vectis.actions.resources import Call, KeysetQuery, Moment, Page, Schema, id_shape, keyset, operation, page_of
from vectis.models import Connection, WebhookDelivery
from vectis.platform import public_ids


class WebhookDeliveryOut(Schema):
    id: str = Field(description="Public id, whd_…")
    connection_id: str = Field(description="The connection whose webhook address it came to, con_…")
    connection: str = Field(description="The connection's name")
    vendor: str = Field(description="The vendor's key: connectwise, veeam, …")
    received_at: datetime
    message_id: str | None = Field(description="The sender's id for the message; a repeat of it is not processed")
    verified: bool = Field(description="Its signature held (a refused one is kept to show who tried)")
    reason: str = Field(description="Why it was accepted or refused, in words")
    record: str | None = Field(description="What it is about: ticket 48222 updated, test delivery")
    processed_at: datetime | None
    outcome: str | None = Field(description="What was done with it; null while it waits")
    test: bool = Field(description="A test delivery Vectis sent itself (Send test delivery): never processed")


class WebhookDeliveryQuery(KeysetQuery):
    shape = (datetime, "webhook_delivery")
    connection_id: Annotated[str, id_shape("connection")] | None = Field(
        default=None, description="Only deliveries to this connection's address"
    )
    verified: bool | None = Field(default=None, description="Only verified (true) or refused (false) deliveries")
    test: bool | None = Field(default=None, description="Only test deliveries (true), or only the vendors' (false)")
    since: Moment | None = Field(default=None, description="Received at or after this moment")


@operation(
    "GET", "/webhook-deliveries", scope="admin", summary="Read the webhook delivery log, newest first",
    tag="Webhooks", response=WebhookDeliveryOut, query=WebhookDeliveryQuery, paged=True,
)  # fmt: skip
def list_webhook_deliveries(call: Call) -> Page[WebhookDeliveryOut]:
    query: WebhookDeliveryQuery = call.query
    statement = (
        select(WebhookDelivery, Connection.name, Connection.vendor)
        .join(Connection, Connection.id == WebhookDelivery.connection_id)
        .options(defer(WebhookDelivery.pending_body))  # never read, never returned
        .order_by(WebhookDelivery.received_at.desc(), WebhookDelivery.id.desc())
        .limit(query.limit + 1)
    )
    if query.connection_id:
        connection = public_ids.decode("connection", query.connection_id)
        if connection is None:
            return Page[WebhookDeliveryOut](data=[], next_cursor=None)  # no such connection: nothing came to it
        statement = statement.where(WebhookDelivery.connection_id == connection)
    if query.verified is not None:
        statement = statement.where(WebhookDelivery.verified.is_(query.verified))
    if query.test is not None:
        statement = statement.where(WebhookDelivery.test.is_(query.test))
    if query.since:
        statement = statement.where(WebhookDelivery.received_at >= query.since)
    if after := query.after:
        statement = statement.where(tuple_(WebhookDelivery.received_at, WebhookDelivery.id) < tuple_(*after))
    rows = [
        WebhookDeliveryOut(
            id=public_ids.encode("webhook_delivery", d.id),
            connection_id=public_ids.encode("connection", d.connection_id),
            connection=name,
            vendor=vendor,
            received_at=d.received_at,
            message_id=d.message_id,
            verified=d.verified,
            reason=d.reason,
            record=d.record,
            processed_at=d.processed_at,
            outcome=d.outcome,
            test=d.test,
        )
        for d, name, vendor in call.session.execute(statement)
    ]
    return page_of(rows, query.limit, lambda d: keyset(d.received_at, d.id))
