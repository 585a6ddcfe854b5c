"""How a verb reaches a vendor: the connection's connector, by the capability the verb needs, and a write
that lands at most once.

``connector_for`` builds the connector and checks it declares the capability (never its class). A verb asked
by a person in the browser gets the interactive HTTP policy: short timeouts and no waiting in the request.
``write_once`` sends a write; when nobody can know whether the vendor acted on it (a timeout, a reset, a
5xx) it reads the vendor back instead of sending again, and if that cannot tell either, the action's outcome
is "unknown" with words that say where to look.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from flask import current_app

from vectis.actions.base import ActionFailed, Context, RateLimit
from vectis.connectors import registry
from vectis.connectors.base import Connector
from vectis.connectors.capabilities import as_capability, supports
from vectis.connectors.factory import VendorRetired, build_connector
from vectis.models import Connection
from vectis.platform.http import ConnectorError, UncertainOutcome
from vectis.platform.queues import redis

C = TypeVar("C")
T = TypeVar("T")

# Surfaces a person waits on: the request must answer within seconds.
INTERACTIVE = frozenset({"ui", "api", "mcp", "portal"})


class OutcomeUnknown(ActionFailed):
    """The vendor may or may not have done it, and reading it back could not tell. Recorded as ``unknown``."""


@contextmanager
def connector_for(ctx: Context, connection: Connection, capability: type[C], *, doing: str) -> Iterator[C]:
    """The connection's connector, as the capability; closed afterwards. ``doing`` words the refusal:
    "write tickets back to"."""
    try:
        connector = build_connector(
            connection, redis(), current_app.config["VECTIS_SETTINGS"], interactive=ctx.surface in INTERACTIVE
        )
    except VendorRetired as exc:
        raise ActionFailed(exc.message) from None
    try:
        if not supports(connector, capability):
            raise ActionFailed(f"Vectis cannot {doing} {connection.name}.")
        yield as_capability(connector, capability)
    finally:
        connector.ctx.http.close()


def write_once(send: Callable[[], T], read_back: Callable[[], T | None], *, vendor: str, what: str) -> T:
    """``send()`` once. After an uncertain outcome, ``read_back()`` says whether the vendor has it (its
    result, or None). When the vendor answered an error (a 5xx) and has nothing, it did not act, so one more
    ``send()`` cannot make a duplicate; after a timeout it may still be working, so nothing is sent again."""
    sent = 0
    while True:
        sent += 1
        try:
            return send()
        except UncertainOutcome as exc:
            found = _read(read_back, vendor, what, exc)
            if found is not None:
                return found
            if exc.status is None or sent == 2:  # a timeout, or a second 5xx: stop, and say so
                raise OutcomeUnknown(
                    f"Unknown — check {vendor}: {exc.message} Vectis did not find {what} there and did not send "
                    "it again, so it is not sent twice."
                ) from None


def _read(read_back: Callable[[], T | None], vendor: str, what: str, cause: UncertainOutcome) -> T | None:
    try:
        return read_back()
    except ConnectorError as exc:
        raise OutcomeUnknown(
            f"Unknown — check {vendor}: {cause.message} Reading it back failed too ({exc.message}), so Vectis "
            f"cannot tell whether {what} arrived and did not send it again."
        ) from None


def noun(connection: Connection) -> str:
    """How people name the connection's vendor in a sentence: "ConnectWise" (a vendor Vectis no longer has a
    connector for: the connection's own name)."""
    try:
        cls = registry.get(connection.vendor)
    except LookupError:
        return connection.name
    return str(getattr(cls, "noun", None) or cls.label)


def connection_rate(ctx: Context, connection: Connection) -> RateLimit:
    """The bucket every write to ``connection`` takes from, shared by all processes."""
    try:
        default = registry.get(connection.vendor).default_rate_limit
    except LookupError:  # nothing will be sent: the verb says so once it builds the connector
        default = Connector.default_rate_limit
    rate = connection.rate_limit_per_second or default
    return RateLimit(
        f"connection:{ctx.tenant_id}:{connection.id}", rate, burst=max(1, round(rate)), vendor=noun(connection)
    )


def vendor_refused(vendor: str, exc: ConnectorError) -> ActionFailed:
    return ActionFailed(f"{vendor} did not accept it: {exc.message}", vendor_status=exc.status)
