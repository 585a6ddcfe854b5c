"""The alerts tools hold open (an RMM's conditions on devices): raised as a sync lists them, cleared as they clear.

A sync's alerts stream lists every alert open at the tool (``AlertRecord``). One not seen before is raised through
the dedupe (``vectis/alerts/dedupe.py``), so it may land in a row another tool, or an earlier report, already opened;
``vendor_alerts`` remembers which. One seen before is only marked as listed again: the tool's own updates to it do not
reopen what a technician handled. After a complete read, those the tool no longer lists have cleared there, and a
Vectis alert whose every tool alert has cleared resolves itself, saying where.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from datetime import UTC, datetime
from itertools import accumulate

from sqlalchemy import ColumnElement, select, true, update
from sqlalchemy.orm import Session

from vectis.alerts.dedupe import Report, raise_alerts
from vectis.alerts.service import AlertFacts, alert_event
from vectis.connectors.base import AlertRecord, DeviceRecord
from vectis.devices.writer import device_ids, links_of
from vectis.events.stream import emit
from vectis.ingest.lanes import ANY_LOCK, Part
from vectis.ingest.sync import Writer, sink_for
from vectis.models import Alert, AlertState, Connection, Device, Linked, VendorAlert
from vectis.platform import db
from vectis.platform.bulk import upsert


def write_vendor_alerts(
    session: Session,
    connection: Connection,
    source: str,
    records: Sequence[AlertRecord],
    account: Callable[[str | None], Linked],
    *,
    run_id: int | None = None,
    devices_known: Mapping[str, int] | None = None,
) -> int:
    """Raise the alerts of ``records`` Vectis has not seen (oldest first, as the tool raised them); mark the others as
    listed by ``run_id``. Returns how many were new. ``devices_known``: the devices this sync run wrote."""
    by_id = {r.external_id[:100]: r for r in records}
    if not by_id:
        return 0
    known = dict(
        session.execute(
            select(VendorAlert.external_id, VendorAlert.id).where(
                VendorAlert.connection_id == connection.id, db.among_text(VendorAlert.external_id, list(by_id))
            )
        ).all()
    )
    if known and run_id is not None:
        session.execute(
            update(VendorAlert).where(db.among(VendorAlert.id, list(known.values()))).values(last_seen_run_id=run_id)
        )
    new = sorted((r for uid, r in by_id.items() if uid not in known), key=lambda r: (r.raised_at, r.external_id))
    if not new:
        return 0
    devices = device_ids(
        session, connection, [r.device_external_id for r in new if r.device_external_id], devices_known
    )
    reports = [_report(connection, source, r, devices.get(r.device_external_id or ""), account) for r in new]
    raised = raise_alerts(session, connection.tenant_id, reports)
    announce(session, [done.alert for done in raised if done.new and done.alert.announced_at is not None])
    upsert(
        session.connection(),
        VendorAlert.__table__,  # type: ignore[arg-type]
        [
            {
                "tenant_id": connection.tenant_id,
                "connection_id": connection.id,
                "alert_id": done.alert.id,
                "external_id": r.external_id[:100],
                "condition": r.condition[:60],
                "raised_at": r.raised_at,
                "last_seen_run_id": run_id,
            }
            for r, done in zip(new, raised, strict=True)
        ],
        conflict=("tenant_id", "connection_id", "external_id"),
    )
    return len(new)


def announce(session: Session, alerts: Sequence[AlertFacts]) -> None:
    """``rmm.alert_created`` for each alert an RMM's report opened (besides its ``alert.created``): what the rules'
    "RMM alert created" trigger hears, with the device it is on."""
    if not alerts:
        return
    devices = {
        d.id: d
        for d in session.execute(
            select(Device.id, Device.name, Device.device_class).where(
                db.among(Device.id, [a.device_id for a in alerts if a.device_id is not None])
            )
        )
    }
    events = []
    for alert in alerts:
        device = devices.get(alert.device_id or 0)
        more = {
            "alert.class": alert.condition_class,
            "device.name": device.name if device else alert.subject_label,
            "device.class": device.device_class if device else "other",
        }
        events.append(alert_event(alert, "rmm.alert_created", more))
    emit(session, events)


def _report(
    connection: Connection,
    source: str,
    record: AlertRecord,
    device_id: int | None,
    account: Callable[[str | None], Linked],
) -> Report:
    name = record.device_name or record.device_external_id or source
    return Report(
        source=source,
        condition=record.condition,
        severity=record.severity,
        # On its device; a device the RMM did not list (yet) leaves it on the connection, under the device's name.
        subject_type="device" if device_id is not None else "connection",
        subject_id=device_id if device_id is not None else connection.id,
        subject_label=name,
        message=record.message or record.condition,
        at=record.raised_at,
        customer_id=account(record.customer_external_id).customer_id,
        device_id=device_id,
        connection_id=connection.id,
        details={**record.details, "vendor_alert": record.external_id},
    )


def clear_unlisted(session: Session, connection: Connection, run_id: int, source: str) -> int:
    """After a complete read of the tool's open alerts in sync run ``run_id``: those it did not list have cleared
    there. Each Vectis alert left with no tool alert open resolves itself (unless a technician already did). Returns
    how many resolved."""
    return _clear(
        session, connection, (VendorAlert.last_seen_run_id != run_id) | VendorAlert.last_seen_run_id.is_(None), source
    )


def refresh_open_alerts(session: Session, connection: Connection, records: Sequence[AlertRecord], source: str) -> str:
    """Every alert open at the tool now (read when its webhook said one was raised or cleared, outside a sync): the
    new ones raised, those no longer listed cleared. Returns what changed, in words, for the delivery log."""
    new = write_vendor_alerts(session, connection, source, records, links_of(session, connection))
    listed = [r.external_id[:100] for r in records]
    resolved = _clear(
        session, connection, ~db.among_text(VendorAlert.external_id, listed) if listed else true(), source
    )
    return f"{len(records)} alerts open in {source}: {new} new, {resolved} resolved."


def _clear(session: Session, connection: Connection, unlisted: ColumnElement[bool], source: str) -> int:
    now = datetime.now(UTC)
    cleared = session.scalars(
        update(VendorAlert)
        .where(VendorAlert.connection_id == connection.id, VendorAlert.cleared_at.is_(None), unlisted)
        .values(cleared_at=now)
        .returning(VendorAlert.alert_id)
    ).all()
    return resolve_cleared(session, sorted(set(cleared)), f"{source} (cleared there)", now)


def resolve_cleared(session: Session, alert_ids: Sequence[int], by: str, now: datetime) -> int:
    """Resolve those of ``alert_ids`` still live whose tool alerts have all cleared."""
    if not alert_ids:
        return 0
    still_open = select(VendorAlert.alert_id).where(
        db.among(VendorAlert.alert_id, alert_ids), VendorAlert.cleared_at.is_(None)
    )
    done = session.execute(
        update(Alert)
        .where(
            db.among(Alert.id, alert_ids),
            Alert.state != AlertState.RESOLVED.value,
            Alert.id.not_in(still_open),
        )
        .values(state=AlertState.RESOLVED.value, resolved_at=now, resolved_by=by[:320])
    )
    return int(done.rowcount)  # type: ignore[attr-defined]


def open_at_tool(session: Session, alert: Alert) -> list[VendorAlert]:
    """The tool alerts ``alert`` holds that have not cleared, oldest first: what resolving it resets there."""
    return list(
        session.scalars(
            select(VendorAlert)
            .where(VendorAlert.alert_id == alert.id, VendorAlert.cleared_at.is_(None))
            .order_by(VendorAlert.raised_at, VendorAlert.id)
        )
    )


@sink_for(AlertRecord, side_by_side=True)
class _FromSyncs:
    """Every sync's alert pages, and what a complete read of a tool's open alerts says has cleared."""

    def parts(self, writer: Writer, records: list[AlertRecord]) -> list[Part]:
        """A page in two parts by device, to be written at once (``vectis.ingest.lanes``): the dedupe reads and
        updates the live alerts of a report's device under that device's lock, so each device's reports go in one
        part, the part committing first holding the higher device ids (the locks are taken in ascending order).
        Reports on a device this run did not write may be on one the dedupe finds in the database, or on none
        (then on the connection, with every such report): a page holding one is a single part that waits for, and
        holds up, any other alerts."""
        page = list({r.external_id[:100]: r for r in records}.values())  # the last of an id, as the writer keeps
        on: dict[int, list[AlertRecord]] = {}
        for r in page:
            device = writer.devices.get(r.device_external_id or "")
            if device is None:
                return [Part(page, _held(page), ANY_LOCK)]
            on.setdefault(device, []).append(r)
        devices = sorted(on, reverse=True)
        cut = next(i for i, taken in enumerate(accumulate(len(on[d]) for d in devices), 1) if taken >= len(page) / 2)
        groups = [set(devices[:cut]), set(devices[cut:])]
        return [
            Part(part, _held(part), (min(group), max(group)))
            for group in groups
            if group and (part := [r for r in page if writer.devices[r.device_external_id or ""] in group])
        ]

    def write(self, writer: Writer, records: list[AlertRecord]) -> None:
        write_vendor_alerts(
            writer.session,
            writer.connection,
            writer.source,
            records,
            writer.account,
            run_id=writer.run.id,
            devices_known=writer.devices,
        )

    def listed(self, writer: Writer) -> None:
        clear_unlisted(writer.session, writer.connection, writer.run.id, writer.source)


def _held(records: list[AlertRecord]) -> frozenset[Hashable]:
    """What a part of alerts holds while written: its tool alerts, and its devices as a device page holds them (a
    device's page updates the live alerts on it)."""
    return frozenset(
        # The tool's id as stored (its first 100 characters), which two parts must not both insert.
        [(AlertRecord, r.external_id[:100]) for r in records] + [(DeviceRecord, r.device_external_id) for r in records]
    )
