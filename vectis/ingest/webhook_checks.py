"""Test deliveries: "Send test delivery" proves that a connection's public webhook address reaches this Vectis.

Vectis posts, over real HTTP, to the same URL the vendor is given, a delivery it signs itself: HMAC-SHA256 over
``<timestamp>.<body>`` with a key derived per connection from the installation's id key (so every web process has
it and another installation's differs), in ``X-Vectis-Test-Signature: t=<unix seconds>,v1=<hex>``. The receiver
checks it before any connector is asked, records the delivery as a test, answers 200 and processes nothing; a
forged or stale one is refused like any forged callback. The round trip counts only when the receiver's answer
names a test delivery that is in this workspace's log: something else answering 200 at that address is no proof.

A vendor whose callbacks Vectis can sign the vendor's way (``SignsTestCallbacks``) hands its own body and headers
to :func:`send` instead, and the receiver takes them through the vendor's verifier.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy.orm import Session

from vectis.models import Connection, WebhookDelivery
from vectis.platform import params, public_ids
from vectis.platform.http import Unreached, post_once

HEADER: Final = "X-Vectis-Test-Signature"
WINDOW: Final = 300  # seconds a signature's moment may be from the receiver's clock, either way
TIMEOUT: Final = 5.0  # seconds to connect, and as many to answer: a person is waiting
REASON: Final = "Test delivery from Vectis: this address reaches the receiver."
RECORD: Final = "test delivery"
OUTCOME: Final = "A test: nothing to process."
CHECK: Final = (
    "Check that this address is reachable from the Vectis server and that the reverse proxy in front of Vectis "
    "forwards /webhooks/ to it."
)


def _mac(connection_id: int, timestamp: str, body: bytes) -> str:
    key = public_ids.webhook_test_key(connection_id)
    return hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def signed(connection_id: int, *, now: datetime | None = None) -> tuple[bytes, dict[str, str]]:
    """A test delivery for the connection, and its headers."""
    moment = now or datetime.now(UTC)
    body = json.dumps(
        {
            "type": "vectis.test",
            "message_id": f"test-{uuid.uuid4()}",
            "connection_id": public_ids.encode("connection", connection_id),
            "sent_at": moment.isoformat(),
        }
    ).encode()
    timestamp = str(int(moment.timestamp()))
    signature = f"t={timestamp},v1={_mac(connection_id, timestamp, body)}"
    return body, {"Content-Type": "application/json", HEADER: signature}


def refusal(connection_id: int, body: bytes, signature: str, *, now: datetime | None = None) -> str | None:
    """Why a test delivery's signature does not hold, in words for the log; None when it does."""
    parts = dict(part.strip().partition("=")[::2] for part in signature.split(","))
    timestamp, mac = parts.get("t", ""), parts.get("v1", "")
    if params.integer(timestamp, high=10**12 - 1) is None or not mac:
        return "A test delivery whose signature cannot be read (it needs t=<time>,v1=<signature>): refused."
    moment = (now or datetime.now(UTC)).timestamp()
    if abs(moment - int(timestamp)) > WINDOW:
        return (
            "A test delivery signed more than 5 minutes from now (an old one sent again, or a clock is wrong): refused."
        )
    if not hmac.compare_digest(mac, _mac(connection_id, timestamp, body)):
        return "A test delivery whose signature does not match this connection's: it is not from this Vectis."
    return None


def message_id(body: bytes) -> str | None:
    """The id the test delivery carries (so a replay of it is recorded once); None when it names none."""
    try:
        found = json.loads(body).get("message_id")
    except (ValueError, AttributeError):
        return None
    return str(found)[:100] if found else None


@dataclass(frozen=True)
class Sent:
    """What became of a test delivery, in words for the person who sent it."""

    ok: bool
    message: str
    response: dict[str, Any] = field(default_factory=dict)  # for the audit row: status, time, the delivery


def shown(url: str) -> str:
    """The webhook URL without its token (the last part, a secret of its own): what messages and the log say."""
    return url.rsplit("/", 1)[0] + "/…"


def send(
    session: Session, connection: Connection, url: str, body: bytes, headers: Mapping[str, str], *,
    allow_loopback: bool,
) -> Sent:  # fmt: skip
    """Post the delivery to ``url`` and say what happened; the receiver's own record of it is the proof."""
    started = time.monotonic()
    try:
        response = post_once(url, body, headers, timeout=TIMEOUT, allow_loopback=allow_loopback)
    except Unreached as exc:
        return Sent(False, f"Vectis could not reach its own webhook address {shown(url)}: {exc.reason}. {CHECK}")
    elapsed = round((time.monotonic() - started) * 1000)
    status = response.status_code
    try:
        answer = response.json()
    except ValueError:
        answer = None
    said = answer if isinstance(answer, dict) else {}
    facts: dict[str, Any] = {"status": status, "ms": elapsed}
    delivery = _recorded(session, connection, said.get("delivery_id"))
    if status == 200 and delivery is not None:
        facts["delivery_id"] = delivery.id
        return Sent(True, f"Test delivery received in {elapsed} ms: the webhook address works.", facts)
    if 200 <= status < 300:
        return Sent(
            False,
            f"Something at {shown(url)} answered HTTP {status}, but this Vectis recorded no test delivery: the "
            f"address leads to another server. {CHECK}",
            facts,
        )
    return Sent(False, f"Vectis reached its own webhook address {shown(url)}, but {_trouble(status, said)}", facts)


def _recorded(session: Session, connection: Connection, public: object) -> WebhookDelivery | None:
    key = public_ids.decode("webhook_delivery", public) if isinstance(public, str) else None
    found = session.get(WebhookDelivery, key) if key is not None else None  # row-level security: this workspace's
    return found if found is not None and found.connection_id == connection.id and found.test else None


def _trouble(status: int, said: Mapping[str, Any]) -> str:
    """What an error status from the webhook address means, with what to check."""
    if status == 401:
        why = str(said.get("message") or "")[:300]
        return (
            f"the receiver refused the test signature ({why.rstrip('.')}). The address may lead to another Vectis "
            "installation, or this server's clock is wrong."
        )
    if status == 404:
        return (
            "it answered HTTP 404 (not found): the address does not lead to this connection's receiver. A proxy may "
            f"rewrite the path, or the address leads to another server. {CHECK}"
        )
    if status in (502, 503, 504):
        return f"it answered HTTP {status}: the reverse proxy in front of Vectis could not reach it. {CHECK}"
    return f"it answered HTTP {status}. {CHECK}"
