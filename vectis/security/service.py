"""Reading an endpoint's isolation again while it is pending: the card asks every few seconds until the tool
confirms. A read, not a write-back, so it does not go through ``vectis/actions``; it only stores what the tool says."""

from __future__ import annotations

import hashlib

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy.orm import Session

from vectis.connectors import registry
from vectis.connectors.capabilities import RespondsOnEndpoints, as_capability, supports
from vectis.connectors.factory import VendorRetired, build_connector
from vectis.models import Connection
from vectis.models.security import ISOLATION_STATES, Detection
from vectis.platform.http import ConnectorError
from vectis.platform.queues import redis
from vectis.security.writer import set_isolation

PENDING = frozenset({"isolating", "releasing"})


def refresh_isolation(session: Session, detection: Detection) -> str | None:
    """The endpoint's state as the tool says it now, stored on every detection of that endpoint; None when the tool
    could not be read (the card keeps asking) or is not pending."""
    if detection.isolation not in PENDING or not detection.device_external_id:
        return None
    connection = session.get(Connection, detection.connection_id)
    if connection is None or not _may_ask(connection, detection.device_external_id):
        return None
    state = _isolation_now(connection, detection.device_external_id)
    if state not in ISOLATION_STATES or state == detection.isolation:
        return None
    set_isolation(session, detection, state)
    return state


def _may_ask(connection: Connection, device: str) -> bool:
    """Whether the tool may be asked about ``device`` now: once per its recheck interval, whoever asks (each card
    polls every few seconds; two technicians on one card, or the hub and the Security page, would double it)."""
    try:
        seconds = getattr(registry.get(connection.vendor), "isolation_recheck_seconds", 3.0)
    except LookupError:
        return True  # a retired vendor: _isolation_now says so without a call
    digest = hashlib.sha256(device.encode()).hexdigest()[:32]
    try:
        return bool(
            redis().set(f"vectis:isolation-asked:{connection.id}:{digest}", "1", nx=True, px=int(seconds * 1000))
        )
    except RedisError:
        return False  # Redis away: the card shows what it knows and asks again at its next poll, not an error


def _isolation_now(connection: Connection, device: str) -> str | None:
    """What the tool says of the endpoint now; None when it cannot be asked (no connector for its vendor any more,
    no such capability) or did not answer: the card keeps what the tool last said."""
    try:
        connector = build_connector(connection, redis(), current_app.config["VECTIS_SETTINGS"], interactive=True)
    except VendorRetired:
        return None
    try:
        if not supports(connector, RespondsOnEndpoints):
            return None
        return as_capability(connector, RespondsOnEndpoints).isolation_of(device)
    except ConnectorError:
        return None
    finally:
        connector.ctx.http.close()
