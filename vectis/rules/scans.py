"""Time-based triggers: nothing at a vendor changes when a backup goes stale or a ticket sits untouched, so
the cron tick looks for them, once per rule, with that rule's own parameters. Each finding is an event for
that rule only, keyed by the spell it belongs to (the last success, the last update), so it fires once per
spell and again only after the job succeeds or the ticket moves.

One SQL statement per rule finds the new spells (the key test runs in the database), so checking 5,000
jobs costs one indexed scan, not 5,000 round trips.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, String, cast, exists, func, literal, or_, select
from sqlalchemy.orm import Session

from vectis.backups.events import backup_data
from vectis.connectors.registry import label as registry_label
from vectis.events.stream import row
from vectis.models import BackupConnector, BackupConnectorStatus, Connection, RuleEvent, Ticket, TicketBoard
from vectis.platform.dates import day, when
from vectis.tickets.events import ticket_data


def _epoch(column: Any) -> Any:
    return func.coalesce(cast(cast(func.floor(func.extract("epoch", column)), BigInteger), String), "never")


def _spell_key(prefix: str, rule_id: int, subject: Any, moment: Any) -> Any:
    return literal(f"{prefix}:{rule_id}:") + cast(subject, String) + literal(":") + _epoch(moment)


def _key(prefix: str, rule_id: int, subject_id: int, moment: datetime | None) -> str:
    return f"{prefix}:{rule_id}:{subject_id}:{int(moment.timestamp()) if moment else 'never'}"


def stale_backups(
    session: Session, tenant_id: int, rule_id: int, params: Mapping[str, Any], now: datetime, *, new_only: bool = True
) -> list[dict[str, Any]]:
    threshold = now - timedelta(hours=float(params.get("threshold_hours") or 48))
    success = BackupConnectorStatus.last_success_at
    query = (
        select(BackupConnector, BackupConnectorStatus, Connection.vendor)
        .join(BackupConnectorStatus, BackupConnectorStatus.backup_connector_id == BackupConnector.id)
        .join(Connection, Connection.id == BackupConnector.connection_id)
        .where(
            BackupConnector.removed_at.is_(None),
            # Never succeeded but tried: stale from the start, as the backup-state derivation says.
            or_(success < threshold, success.is_(None) & BackupConnectorStatus.last_attempt_at.is_not(None)),
        )
    )
    if new_only:
        key = _spell_key("backup.stale", rule_id, BackupConnector.id, BackupConnectorStatus.last_success_at)
        query = query.where(~exists().where(RuleEvent.dedup_key == key))
    events = []
    for job, status, vendor in session.execute(query):
        data = backup_data(
            source=registry_label(vendor),
            name=job.name,
            kind=job.kind,
            vendor_type=job.vendor_type,
            protected_object=job.protected_object,
            state=status.state,
            consecutive_failures=status.consecutive_failures,
            last_success_at=status.last_success_at,
            last_attempt_at=status.last_attempt_at,
            message=status.message,
            now=now,
        )
        since = status.last_success_at
        title = f"no successful backup since {when(since)}" if since else "no successful backup on record"
        events.append(
            row(
                tenant_id,
                "backup.stale",
                customer_id=job.customer_id,
                connection_id=job.connection_id,
                subject=("backup_job", job.id),
                title=f"{job.name}: {title}",
                data=data,
                dedup_key=_key("backup.stale", rule_id, job.id, since),
                occurred_at=now,
                rule_id=rule_id,
            )
        )
    return events


def idle_tickets(
    session: Session, tenant_id: int, rule_id: int, params: Mapping[str, Any], now: datetime, *, new_only: bool = True
) -> list[dict[str, Any]]:
    cutoff = now - timedelta(days=float(params.get("days") or 7))
    query = (
        select(Ticket, TicketBoard.name, Connection.vendor)
        .join(Connection, Connection.id == Ticket.connection_id)
        .outerjoin(TicketBoard, TicketBoard.id == Ticket.board_id)
        .where(Ticket.closed.is_(False), Ticket.vendor_updated_at < cutoff)
    )
    if new_only:
        key = _spell_key("ticket.idle", rule_id, Ticket.id, Ticket.vendor_updated_at)
        query = query.where(~exists().where(RuleEvent.dedup_key == key))
    events = []
    for ticket, board, vendor in session.execute(query):
        data = ticket_data(
            source=registry_label(vendor),
            number=ticket.external_id,
            summary=ticket.summary,
            status=ticket.status_name,
            previous_status=None,
            board=board,
            priority=ticket.priority,
            assignee=ticket.assignee,
            contact=ticket.contact_name,
            closed=ticket.closed,
            opened_at=ticket.opened_at,
            updated_at=ticket.vendor_updated_at,
            now=now,
        )
        events.append(
            row(
                tenant_id,
                "ticket.idle",
                customer_id=ticket.customer_id,
                connection_id=ticket.connection_id,
                subject=("ticket", ticket.id),
                title=f"#{ticket.external_id} {ticket.summary}: unchanged since {day(ticket.vendor_updated_at)}",
                data=data,
                dedup_key=_key("ticket.idle", rule_id, ticket.id, ticket.vendor_updated_at),
                occurred_at=now,
                rule_id=rule_id,
            )
        )
    return events


SCANS = {"backup.stale": stale_backups, "ticket.idle": idle_tickets}


def _at_least(key: str, param: str, default: float) -> Callable[[Mapping[str, Any], Mapping[str, Any]], bool]:
    def qualifies(data: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
        value = data.get(key)
        return value is None or float(value) >= float(params.get(param) or default)

    return qualifies


# Whether a finding stored earlier (by any rule's scan) would also have been found with these parameters:
# what a backtest of a time-based draft replays besides what the scan finds now.
QUALIFIES = {
    "backup.stale": _at_least("job.hours_since_success", "threshold_hours", 48),
    "ticket.idle": _at_least("ticket.days_unchanged", "days", 7),
}
