"""Signed inbound webhooks, for any vendor whose connector declares ``VerifiesCallbacks``.

``receive`` reads the raw body and has the connector prove it came from the vendor with a key it has cached
(a forged one is logged and answered 401, nothing processed). When the callback names a signing key Vectis has
not fetched yet, the body waits, sealed, and a job fetches the key and verifies it: the web request never waits
on the vendor. A verified delivery is recorded once per vendor message id (a replay is answered 200 and not
processed again) and its work is enqueued: the same read-and-upsert path a sync takes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vectis.connectors.base import Connector
from vectis.connectors.capabilities import (
    TEST_CALLBACK,
    Callback,
    CallbackRefused,
    KeyNotCached,
    VerifiesCallbacks,
    as_capability,
    supports,
)
from vectis.connectors.factory import VendorRetired, build_connector
from vectis.ingest import webhook_checks
from vectis.models import Connection, WebhookDelivery
from vectis.platform import jobs
from vectis.platform.crypto import Sealed
from vectis.platform.http import ConnectorError
from vectis.platform.queues import redis

LOG_LIMIT = 20
WAITING = "Waiting for the signing key: Vectis fetches it and then checks the signature."
TEST_RECEIVED = "Test delivery received: this address reaches Vectis."


@dataclass(frozen=True)
class Answer:
    status: int
    message: str
    delivery_id: int | None = None
    test: bool = False  # a test delivery, recorded: its id may go back to the sender, which signed it


def _connector(connection: Connection) -> Connector:
    return build_connector(connection, redis(), current_app.config["VECTIS_SETTINGS"], interactive=True)


def receive(session: Session, connection: Connection, body: bytes, headers: Mapping[str, str]) -> Answer:
    """``headers`` with lower-case names."""
    test_signature = headers.get(webhook_checks.HEADER.lower())
    if test_signature is not None:
        refused = webhook_checks.refusal(connection.id, body, test_signature)
        if refused is not None:
            return _refuse(session, connection, refused)
        test = Callback(webhook_checks.message_id(body) or "", TEST_CALLBACK, "", "sent")
        return _accept(session, connection, test)
    try:
        connector = _connector(connection)
    except VendorRetired as exc:
        return _refuse(session, connection, exc.message)
    try:
        if not supports(connector, VerifiesCallbacks):
            raise CallbackRefused(f"{connection.name} does not send callbacks to Vectis.")
        callback = as_capability(connector, VerifiesCallbacks).verify_callback(body, headers)
    except KeyNotCached:
        pending = WebhookDelivery(
            tenant_id=connection.tenant_id,
            connection_id=connection.id,
            reason=WAITING,
            pending_body=Sealed.seal(connection.tenant_id, {"body": body.decode("utf-8", "replace"), **headers}),
        )
        session.add(pending)
        session.commit()
        jobs.CALLBACK_KEY.enqueue(connection.tenant_id, pending.id)
        return Answer(202, "Accepted; the signature is checked once Vectis has the signing key.", pending.id)
    except CallbackRefused as exc:
        return _refuse(session, connection, exc.reason)
    finally:
        connector.ctx.http.close()
    return _accept(session, connection, callback)


def verify_pending(session: Session, delivery: WebhookDelivery, connection: Connection) -> str:
    """The job's half: fetch the key the callback names, verify it as ``receive`` would have, then accept it."""
    sealed = delivery.pending_body
    delivery.pending_body = None
    if sealed is None:
        return "nothing to verify"
    kept = dict(sealed.open(delivery.tenant_id))
    body = str(kept.pop("body")).encode()
    connector = _connector(connection)
    try:
        verifier = as_capability(connector, VerifiesCallbacks)  # only such a connector made it pending
        verifier.fetch_callback_key(body)
        callback = verifier.verify_callback(body, kept)
    except (CallbackRefused, KeyNotCached, ConnectorError) as exc:
        delivery.reason = _why(exc)
        delivery.processed_at, delivery.outcome = datetime.now(UTC), "Refused: nothing was processed."
        session.commit()
        return "refused"
    finally:
        connector.ctx.http.close()
    answer = _accept(session, connection, callback, delivery=delivery)
    return "accepted" if answer.delivery_id is not None else "duplicate"


def _why(exc: Exception) -> str:
    if isinstance(exc, CallbackRefused):
        return exc.reason
    if isinstance(exc, ConnectorError):
        return f"Could not check the signature: {exc.message}"
    return "The signing key could not be fetched."


def _refuse(session: Session, connection: Connection, reason: str) -> Answer:
    session.add(WebhookDelivery(tenant_id=connection.tenant_id, connection_id=connection.id, reason=reason))
    session.commit()
    return Answer(401, reason)


def _accept(
    session: Session, connection: Connection, callback: Callback, *, delivery: WebhookDelivery | None = None
) -> Answer:
    message_id = callback.message_id[:100] or None
    seen = message_id is not None and session.scalar(
        select(WebhookDelivery.id).where(
            WebhookDelivery.connection_id == connection.id,
            WebhookDelivery.message_id == message_id,
            WebhookDelivery.verified.is_(True),
        )
    )
    if seen:
        if delivery is not None:
            delivery.processed_at, delivery.outcome = datetime.now(UTC), "Already received; not processed again."
            session.commit()
        return Answer(200, "Already received; not processed again.")
    row = delivery or WebhookDelivery(tenant_id=connection.tenant_id, connection_id=connection.id)
    row.message_id, row.verified = message_id, True
    test = callback.kind == TEST_CALLBACK
    if test:  # the proof is that it was recorded: there is nothing to read again
        row.test, row.reason, row.record = True, webhook_checks.REASON, webhook_checks.RECORD
        row.processed_at, row.outcome = datetime.now(UTC), webhook_checks.OUTCOME
    else:
        row.reason = "Signature verified."
        row.record = f"{callback.kind} {callback.external_id} {callback.action}"[:100]
    session.add(row)
    try:
        session.commit()
    except IntegrityError:  # the same message verified by a concurrent request a moment ago
        session.rollback()
        return Answer(200, "Already received; not processed again.")
    if test:
        return Answer(200, TEST_RECEIVED, row.id, test=True)
    jobs.CALLBACK.enqueue(connection.tenant_id, row.id)
    return Answer(202, "Accepted.", row.id)


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
