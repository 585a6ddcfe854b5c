"""Cross-system predicates: conditions that look beyond the triggering record ("no open ticket for this
customer in the last N hours", "no existing suppression"). They read Postgres, so a ``Resolver`` serves one
batch of events: each predicate loads what it needs for the whole batch once, then answers from memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from vectis.connectors import registry
from vectis.connectors.capabilities import WritesTickets, supports
from vectis.events.fields import Field
from vectis.models import AlertMute, Connection, SyncRun, Ticket
from vectis.models.security import Detection, Suppression
from vectis.platform import db
from vectis.platform.dates import when
from vectis.rules.conditions import PredicateSpec

PREDICATES: dict[str, PredicateSpec] = {
    p.key: p
    for p in (
        PredicateSpec(
            "no_open_ticket",
            "No open ticket for this customer opened in the last N hours",
            (Field("hours", "Hours", "number"),),
        ),
        PredicateSpec(
            "no_suppression",
            "No existing suppression: a mute of this condition for this customer, or for a detection a false "
            "positive's suppression of its file, endpoint or customer",
            (Field("condition", "Condition (empty: the alert's own)", "text"),),
        ),
    )
}


def parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


# The alert condition a backup trigger corresponds to, for "no existing suppression" on backup events.
TRIGGER_CONDITIONS = {"backup.failed": "backup_failed", "backup.stale": "backup_stale"}


class Resolver:
    """Answers predicates for the events of one batch (their customers are known up front)."""

    def __init__(
        self,
        session: Session,
        customer_ids: Iterable[int | None],
        now: datetime | None = None,
        *,
        as_of_event: bool = False,
    ) -> None:
        """``as_of_event``: windows end at each event's time (a backtest asks about the past); otherwise
        they end now, so a ticket opened between the event and its evaluation counts."""
        self.session = session
        self.customer_ids = sorted({c for c in customer_ids if c is not None})
        self.now = now or datetime.now(UTC)
        self.as_of_event = as_of_event
        self._open_tickets: dict[int, list[tuple[str, datetime]]] | None = None
        self._mutes: dict[tuple[int, str], datetime] | None = None
        self._psa_ready: bool | None = None

    def __call__(self, name: str, params: Mapping[str, Any], record: Mapping[str, Any]) -> tuple[bool | None, Any]:
        customer_id = record.get("customer.id")
        if name == "no_open_ticket":
            return self.no_open_ticket(customer_id, float(params.get("hours") or 24), record)
        if name == "no_suppression" and record.get("event.subject_type") == "detection":
            return self.no_detection_suppression(record.get("event.subject_id"))
        if name == "no_suppression":
            condition = str(
                params.get("condition")
                or record.get("alert.condition")
                or TRIGGER_CONDITIONS.get(str(record.get("event.trigger")), "")
            )
            return self.no_suppression(customer_id, condition)
        raise LookupError(f"No predicate called {name!r}.")

    def _psa_synced(self) -> bool:
        """Whether any PSA connection has finished a sync: until one has, "no open ticket" is not known."""
        if self._psa_ready is None:
            vendors = [key for key, cls in registry.CONNECTORS.items() if supports(cls, WritesTickets)]
            self._psa_ready = bool(
                self.session.scalar(
                    select(SyncRun.id)
                    .join(Connection, Connection.id == SyncRun.connection_id)
                    .where(Connection.vendor.in_(vendors), SyncRun.status == "succeeded")
                    .limit(1)
                )
            )
        return self._psa_ready

    def no_open_ticket(self, customer_id: Any, hours: float, record: Mapping[str, Any]) -> tuple[bool | None, Any]:
        if not self._psa_synced():
            return None, "no PSA has finished a sync yet, so Vectis cannot tell"
        if self._open_tickets is None:
            self._open_tickets = {}
            for customer, number, opened in self.session.execute(
                select(Ticket.customer_id, Ticket.external_id, Ticket.opened_at)
                .where(db.among(Ticket.customer_id, self.customer_ids), Ticket.closed.is_(False))
                .order_by(Ticket.opened_at.desc())
            ):
                if customer is not None:
                    self._open_tickets.setdefault(customer, []).append((number, opened))
        end = (parse_time(record.get("event.occurred_at")) if self.as_of_event else None) or self.now
        start = end - timedelta(hours=hours)
        for number, opened in self._open_tickets.get(customer_id, []):
            if start <= opened <= end + timedelta(minutes=5):
                return False, f"#{number} opened {when(opened)}"
        return True, "no ticket opened in that window"

    def no_suppression(self, customer_id: Any, condition: str) -> tuple[bool, Any]:
        if self._mutes is None:
            self._mutes = {
                (c, cond): until
                for c, cond, until in self.session.execute(
                    select(AlertMute.customer_id, AlertMute.condition, AlertMute.until).where(
                        db.among(AlertMute.customer_id, self.customer_ids), AlertMute.until > self.now
                    )
                )
            }
        until = self._mutes.get((customer_id, condition))
        return (True, "no mute") if until is None else (False, f"muted until {when(until)}")

    def no_detection_suppression(self, detection_id: Any) -> tuple[bool, Any]:
        """Whether a false positive's suppression covers the detection: the same file hash or path at the same
        customer, the same endpoint, or the whole customer; expired ones do not count."""
        found = self.session.get(Detection, int(detection_id)) if str(detection_id or "").isdigit() else None
        if found is None:
            return True, "the detection is gone"
        by = [
            (scope, value)
            for scope, value in (
                ("hash", found.file_hash),
                ("path", found.file_path),
                ("device", found.device_external_id),
                ("customer", str(found.customer_id) if found.customer_id else None),
            )
            if value
        ]
        if not by:
            return True, "nothing to match a suppression by"
        suppression = self.session.scalars(
            select(Suppression)
            .where(
                or_(*(and_(Suppression.scope == scope, Suppression.value == value) for scope, value in by)),
                or_(Suppression.customer_id.is_(None), Suppression.customer_id == found.customer_id),
                or_(Suppression.expires_at.is_(None), Suppression.expires_at > self.now),
            )
            .order_by(Suppression.id)
            .limit(1)
        ).first()
        if suppression is None:
            return True, "no suppression"
        return False, f"suppressed by {suppression.created_by}: {suppression.reason}"
