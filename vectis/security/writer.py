"""Writes the detections any endpoint-security tool reports, set-based, one page at a time: what a connector's sync
calls (through the sync engine's sink for ``DetectionRecord``), and what an action's read-back calls for one.

Idempotent: keyed by (connection, the tool's id), so reading the same page twice leaves one row per detection, as the
tool last said it. A detection Vectis has not seen before that is still open at the tool is announced once: on the
timeline and to the rules (``security.detection_created``). One already resolved when first read (a first sync's
history) goes to the timeline only: no rule should act on what the tool closed long ago.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.orm import Session, aliased

from vectis.connectors.base import DetectionRecord
from vectis.connectors.clean import clean_records
from vectis.devices.writer import links_of
from vectis.events.stream import emit, row
from vectis.ingest.sync import Writer, sink_for
from vectis.models import Connection, Device, Linked, TimelineEvent
from vectis.models.security import DETECTION_STATUSES, ISOLATION_STATES, SEVERITIES, VERDICTS, Detection
from vectis.platform import db
from vectis.platform.bulk import clipped, upsert

Account = Callable[[str | None], Linked]
_FROM_THE_TOOL = (
    "customer_id", "customer_link_id", "device_external_id", "device_name", "title", "severity", "vendor_severity",
    "status", "vendor_status", "verdict", "isolation", "classification", "file_path", "file_hash", "detected_at",
    "vendor_updated_at", "details", "updated_at",
)  # fmt: skip
# The timeline's word for how bad a detection is (the timeline has four).
_TIMELINE_SEVERITY = {"critical": "error", "high": "error", "medium": "warning", "low": "info"}


def _one_of(value: str | None, allowed: Sequence[str], default: str | None) -> str | None:
    return value if value in allowed else default


def write_detections(
    session: Session, connection: Connection, source: str, records: Sequence[DetectionRecord], account: Account
) -> dict[str, int]:
    """Insert or update ``records`` (the last of an id wins); returns each one's detection id by the tool's id."""
    by_id = {r.external_id: r for r in records}
    if not by_id:
        return {}
    now = datetime.now(UTC)
    rows = []
    for r in by_id.values():
        linked = account(r.customer_external_id)
        rows.append(
            {
                "tenant_id": connection.tenant_id,
                "connection_id": connection.id,
                "external_id": r.external_id[:100],
                "customer_id": linked.customer_id,
                "customer_link_id": linked.link_id,
                "device_external_id": clipped(r.device_external_id, 100),
                "device_name": clipped(r.device_name, 300),
                "title": (r.title or "Detection")[:500],
                "severity": _one_of(r.severity, SEVERITIES, "medium"),
                "vendor_severity": (r.vendor_severity or r.severity)[:60],
                "status": _one_of(r.status, DETECTION_STATUSES, "open"),
                "vendor_status": (r.vendor_status or r.status)[:60],
                "verdict": _one_of(r.verdict, VERDICTS, None),
                "isolation": _one_of(r.isolation, ISOLATION_STATES, None),
                "classification": clipped(r.classification, 100),
                "file_path": r.file_path,
                "file_hash": clipped(r.file_hash, 128),
                "detected_at": r.detected_at,
                "vendor_updated_at": r.updated_at,
                "details": r.details,
                "resolved_at": now if r.status == "resolved" else None,
                "updated_at": now,
            }
        )
    written = upsert(
        session.connection(),
        Detection.__table__,  # type: ignore[arg-type]
        rows,
        conflict=("tenant_id", "connection_id", "external_id"),
        update=_FROM_THE_TOOL,
        # Resolved from Vectis: keep who and when; resolved at the tool: when Vectis first saw it so; reopened: neither.
        merge={
            "resolved_at": "CASE WHEN excluded.status = 'resolved' THEN coalesce(t.resolved_at, excluded.resolved_at) END",
            "resolved_by": "CASE WHEN excluded.status = 'resolved' THEN t.resolved_by END",
        },
        returning=("external_id", "id", "(xmax = 0) AS inserted"),
    )
    ids = {w.external_id: w.id for w in written}
    _link_devices(session, list(ids.values()))
    new = [by_id[w.external_id] for w in written if w.inserted]
    if new:
        _announce(session, connection, source, new, ids=ids, account=account)
    return ids


def store_detection(session: Session, connection: Connection, source: str, record: DetectionRecord) -> None:
    """One detection just read again from the tool (a callback said it changed), cleaned and written as a sync page
    is."""
    cleaned, _ = clean_records([record])
    if cleaned:
        write_detections(session, connection, source, cleaned, links_of(session, connection))


def _link_devices(session: Session, detection_ids: list[int]) -> None:
    """Each detection on the RMM's device of the same name at the same customer: its card links to that device. Only
    rows whose device changes are written (rewriting a page of rows that have none cost more than the page's upsert)."""
    device = aliased(Device)
    session.execute(
        update(Detection)
        .where(
            db.among(Detection.id, detection_ids),
            device.customer_id == Detection.customer_id,
            func.lower(device.name) == func.lower(Detection.device_name),
            device.removed_at.is_(None),
            Detection.device_id.is_distinct_from(device.id),
        )
        .values(device_id=device.id)
        .execution_options(synchronize_session=False)
    )


def _announce(
    session: Session,
    connection: Connection,
    source: str,
    new: list[DetectionRecord],
    *,
    ids: dict[str, int],
    account: Account,
) -> None:
    timeline: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for r in new:
        customer = account(r.customer_external_id)
        where = f" on {r.device_name}" if r.device_name else ""
        title = f"{source} detected {r.title}{where}"
        timeline.append(
            {
                "tenant_id": connection.tenant_id,
                "customer_id": customer.customer_id,
                "customer_link_id": customer.link_id,
                "connection_id": connection.id,
                "source": source,
                "kind": "security.detection",
                "occurred_at": r.detected_at,
                "title": title[:500],
                # A path may be as long as Windows allows (32,767): the timeline shows a line, the card the rest.
                "detail": ", ".join(x for x in (r.classification, r.vendor_severity, r.file_path) if x)[:1000] or None,
                "severity": "resolved" if r.status == "resolved" else _TIMELINE_SEVERITY.get(r.severity, "warning"),
                "dedup_key": f"detection:{r.external_id}"[:300],
                "device_id": None,
            }
        )
        if r.status == "resolved":
            continue
        detection_id = ids[r.external_id[:100]]
        events.append(
            row(
                connection.tenant_id,
                "security.detection_created",
                customer_id=customer.customer_id,
                connection_id=connection.id,
                subject=("detection", detection_id),
                title=title,
                data={
                    "detection.severity": r.severity,
                    "detection.title": r.title,
                    "detection.classification": r.classification or "",
                    "device.name": r.device_name or "",
                    "source": source,
                },
                dedup_key=f"security.detection_created:{detection_id}",
                occurred_at=r.detected_at,
            )
        )
    upsert(
        session.connection(),
        TimelineEvent.__table__,  # type: ignore[arg-type]
        timeline,
        conflict=("tenant_id", "connection_id", "dedup_key"),
    )
    if events:
        emit(session, events)


def set_isolation(session: Session, detection: Detection, state: str | None) -> None:
    """Every detection on the same endpoint of the same tool takes the network state the tool gave."""
    session.execute(
        update(Detection)
        .where(
            Detection.connection_id == detection.connection_id,
            Detection.device_external_id == detection.device_external_id,
        )
        .values(isolation=state, updated_at=datetime.now(UTC))
        .execution_options(synchronize_session="fetch")
    )


@sink_for(DetectionRecord)
class _FromSyncs:
    """Every sync's detection pages. Detection streams are incremental (what changed since the cursor), so a
    complete read says nothing about what is gone: :meth:`listed` has nothing to do."""

    def write(self, writer: Writer, records: list[DetectionRecord]) -> None:
        write_detections(writer.session, writer.connection, writer.source, records, writer.account)

    def listed(self, writer: Writer) -> None:
        return None
