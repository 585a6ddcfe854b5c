"""Writing vendor entries that live on the timeline alone (``TimelineRecord``): one set-based upsert per page,
keyed by the connection's dedup key, so a page read twice never makes a second entry."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy.orm import Session

from vectis.connectors.base import TimelineRecord
from vectis.devices.writer import device_ids
from vectis.models import Connection, Linked, TimelineEvent
from vectis.platform.bulk import upsert


def write_timeline(
    session: Session,
    connection: Connection,
    source: str,
    records: list[TimelineRecord],
    account: Callable[[str | None], Linked],
    *,
    devices_known: Mapping[str, int] | None = None,
) -> None:
    """``devices_known``: the devices this sync run wrote (the RMM's id -> Vectis's), so naming one costs no lookup."""
    named = [r.device_external_id for r in records if r.device_external_id]
    devices = device_ids(session, connection, named, devices_known)
    rows = []
    for r in records:
        linked = account(r.customer_external_id)
        rows.append(
            {
                "tenant_id": connection.tenant_id,
                "customer_id": linked.customer_id,
                "customer_link_id": linked.link_id,
                "connection_id": connection.id,
                "source": source,
                "kind": r.kind[:60],
                "occurred_at": r.occurred_at,
                "title": r.title[:500],
                "detail": r.detail,
                "severity": r.severity,
                "dedup_key": r.external_id[:300],
                "device_id": devices.get(r.device_external_id or ""),
            }
        )
    upsert(
        session.connection(),
        TimelineEvent.__table__,  # type: ignore[arg-type]
        rows,
        conflict=("tenant_id", "connection_id", "dedup_key"),
    )
