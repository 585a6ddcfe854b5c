"""Writes the devices any RMM lists, set-based, one page at a time: what a connector's sync calls (through the sync
engine, ``vectis/ingest/sync.py``) for its ``DeviceRecord`` pages, and what a test or a webhook calls directly.

Idempotent: keyed by (connection, the RMM's id), so writing the same page twice leaves one row per device, as it was.
A device's customer is its organisation's (``customer_links``), read afresh on every write: a device moved to another
organisation moves customer at the next write, and its alerts still open go with it (they are about the device as it
is now, and the new customer's hub is where someone will act on them); its history (resolved alerts, timeline
entries) stays where it happened.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from vectis.connectors.base import DeviceRecord
from vectis.models import DEVICE_CLASSES, Alert, AlertState, Connection, CustomerLink, Device, Linked
from vectis.platform import db
from vectis.platform.bulk import clipped, upsert

Account = Callable[[str | None], Linked]  # an RMM organisation's id -> where its rows point
_UPDATED = (
    "customer_id", "customer_link_id", "name", "site", "device_class", "vendor_class", "os_name", "online",
    "last_contact_at", "serial", "make", "model", "details", "last_seen_run_id", "removed_at", "updated_at",
)  # fmt: skip


def links_of(session: Session, connection: Connection) -> Account:
    """Where each organisation of ``connection`` points now, read once: for a write outside a sync run."""
    known = {
        external_id: Linked(link_id, customer_id)
        for external_id, link_id, customer_id in session.execute(
            select(CustomerLink.external_id, CustomerLink.id, CustomerLink.customer_id).where(
                CustomerLink.connection_id == connection.id
            )
        )
    }
    return lambda external_id: known.get(external_id or "", Linked(None, None))


def upsert_devices(
    session: Session,
    connection: Connection,
    records: Sequence[DeviceRecord],
    *,
    account: Account | None = None,
    run_id: int | None = None,
) -> dict[str, int]:
    """Insert or update ``records`` (the last of an id wins); returns each one's device id by the RMM's id.

    ``account`` says where an organisation's rows point (the sync engine passes what its run has linked); without it
    the connection's links are read here. ``run_id``: the sync run listing them, so :func:`retire_devices` can tell
    which devices the RMM no longer lists; a device listed again after that is back."""
    by_id = {r.external_id: r for r in records}
    if not by_id:
        return {}
    where = account or links_of(session, connection)
    now = datetime.now(UTC)
    rows = []
    for r in by_id.values():
        linked = where(r.customer_external_id)
        rows.append(
            {
                "tenant_id": connection.tenant_id,
                "connection_id": connection.id,
                "external_id": r.external_id[:100],
                "customer_id": linked.customer_id,
                "customer_link_id": linked.link_id,
                "name": (r.name or r.external_id)[:300],
                "site": clipped(r.site, 200),
                "device_class": r.device_class if r.device_class in DEVICE_CLASSES else "other",
                "vendor_class": clipped(r.vendor_class, 100),
                "os_name": clipped(r.os_name, 300),
                "online": r.online,
                "last_contact_at": r.last_contact_at,
                "serial": clipped(r.serial, 200),
                "make": clipped(r.make, 200),
                "model": clipped(r.model, 200),
                "details": r.details,
                "last_seen_run_id": run_id,
                "removed_at": None,
                "updated_at": now,
            }
        )
    written = upsert(
        session.connection(),
        Device.__table__,  # type: ignore[arg-type]
        rows,
        conflict=("tenant_id", "connection_id", "external_id"),
        update=_UPDATED,
        returning=("external_id", "id"),
    )
    # Not "which moved" read first: right after a first sync's pages the statistics still call the table empty, and
    # that lookup of a thousand ids then filtered every device of the connection (0.25 s a page, bench/ninja_sync.py).
    follow_device(session, [row.id for row in written])
    return {row.external_id: row.id for row in written}


def follow_device(session: Session, device_ids: list[int]) -> None:
    """The alerts still live on these devices move to the device's customer now, where it differs (the RMM moved
    it): only those are written."""
    _follow(session, db.among(Alert.device_id, device_ids))


def follow_links(session: Session, link_ids: list[int]) -> None:
    """The alerts still live on the devices of these organisations follow them to their customer now (an admin
    linked, relinked or unlinked the organisation; ``vectis.ingest.matching.repoint`` has moved the devices)."""
    _follow(session, Alert.device_id.in_(select(Device.id).where(db.among(Device.customer_link_id, link_ids))))


def _follow(session: Session, devices: ColumnElement[bool]) -> None:
    owner = select(Device.customer_id).where(Device.id == Alert.device_id).scalar_subquery()
    session.execute(
        update(Alert)
        .where(devices, Alert.state != AlertState.RESOLVED.value, Alert.customer_id.is_distinct_from(owner))
        .values(customer_id=owner)
    )


def retire_devices(session: Session, connection: Connection, run_id: int) -> int:
    """After a complete sync run that listed devices: those of ``connection`` it did not list are gone at the RMM
    (deleted or decommissioned there). They are kept, marked removed, so their alerts and history stay readable;
    the Devices tab no longer lists them. Returns how many were marked."""
    result = session.execute(
        update(Device)
        .where(
            Device.connection_id == connection.id,
            Device.removed_at.is_(None),
            (Device.last_seen_run_id != run_id) | Device.last_seen_run_id.is_(None),
        )
        .values(removed_at=datetime.now(UTC))
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def device_ids(
    session: Session, connection: Connection, external_ids: Sequence[str], known: Mapping[str, int] | None = None
) -> dict[str, int]:
    """The RMM's device id -> Vectis's, for a connector's other records (an alert, an activity) that name a device.
    ``known``: what this sync run wrote already (``Writer.devices``); only the others are looked up."""
    known = known or {}
    found = {e: known[e] for e in external_ids if e in known}
    missing = [e for e in external_ids if e not in known]
    if not missing:
        return found
    return found | dict(
        session.execute(
            select(Device.external_id, Device.id).where(
                Device.connection_id == connection.id, db.among_text(Device.external_id, missing)
            )
        ).all()
    )
