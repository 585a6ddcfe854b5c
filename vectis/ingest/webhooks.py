"""Signed inbound webhooks, for any vendor whose connector can verify its callbacks.

``receive`` reads the raw body, has the connector prove it came from the vendor (a forged one is logged and
answered 401, nothing processed), records the delivery once per vendor message id (a replay is answered
200 and not processed again) and enqueues the work: the same read-and-upsert path a sync takes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from vectis.connectors.base import CallbackRefused
from vectis.connectors.factory import build_connector
from vectis.models import Connection, WebhookDelivery
from vectis.platform import jobs
from vectis.platform.http import ConnectorError
from vectis.platform.queues import redis

LOG_LIMIT = 20


@dataclass(frozen=True)
class Answer:
    status: int
    message: str
    delivery_id: int | None = None


def receive(session: Session, connection: Connection, body: bytes, headers: Mapping[str, str]) -> Answer:

    connector = build_connector(connection, redis(), current_app.config["VECTIS_SETTINGS"])
    verify = getattr(connector, "verify_callback", None)
    try:
        if verify is None:
            raise CallbackRefused(f"{connection.name} does not send callbacks to Vectis.")
        callback = verify(body, headers)
    except (CallbackRefused, ConnectorError) as exc:
        reason = exc.reason if isinstance(exc, CallbackRefused) else f"Could not check the signature: {exc.message}"
        session.add(WebhookDelivery(tenant_id=connection.tenant_id, connection_id=connection.id, reason=reason))
        session.commit()
        return Answer(401, reason)
    finally:
        connector.ctx.http.close()
    row = session.execute(
        insert(WebhookDelivery)
        .values(
            tenant_id=connection.tenant_id,
            connection_id=connection.id,
            message_id=callback.message_id[:100] or None,
            verified=True,
            reason="Signature verified.",
            record=f"{callback.kind} {callback.external_id} {callback.action}"[:100],
        )
        .on_conflict_do_nothing(
            index_elements=["tenant_id", "connection_id", "message_id"], index_where=text("verified")
        )
        .returning(WebhookDelivery.id)
    ).scalar()
    session.commit()
    if row is None:
        return Answer(200, "Already received; not processed again.")
    jobs.CALLBACK.enqueue(connection.tenant_id, row)
    return Answer(202, "Accepted.", row)


def recent(session: Session, connection: Connection | None) -> list[WebhookDelivery]:
    if connection is None:
        return []
    return list(
        session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.connection_id == connection.id)
            .order_by(WebhookDelivery.id.desc())
            .limit(LOG_LIMIT)
        )
    )
