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
from functools import cache

from sqlalchemy import Dialect, text, update
from sqlalchemy.orm import Session

from vectis.connectors.base import DetectionRecord
from vectis.connectors.clean import clean_records
from vectis.devices.writer import links_of
from vectis.events.stream import horizon, stamped
from vectis.ingest.sync import Writer, sink_for
from vectis.models import Connection, Linked, RuleEvent, TimelineEvent
from vectis.models.security import DETECTION_STATUSES, ISOLATION_STATES, SEVERITIES, VERDICTS, Detection
from vectis.platform.bulk import clipped, param, recordset

Account = Callable[[str | None], Linked]
_FROM_THE_TOOL = (
    "customer_id", "customer_link_id", "device_external_id", "device_name", "title", "severity", "vendor_severity",
    "status", "vendor_status", "verdict", "classification", "file_path", "file_hash", "detected_at",
    "vendor_updated_at", "details", "updated_at",
)  # fmt: skip
# The timeline's word for how bad a detection is (the timeline has four).
_TIMELINE_SEVERITY = {"critical": "error", "high": "error", "medium": "warning", "low": "info"}


def _one_of(value: str | None, allowed: Sequence[str], default: str | None) -> str | None:
    return value if value in allowed else default


def write_detections(
    session: Session, connection: Connection, source: str, records: Sequence[DetectionRecord], account: Account
) -> dict[str, int]:
    """Insert or update ``records`` (the last of an id wins); returns each one's detection id by the tool's id.

    One statement a page: the detections' upsert, each on its RMM device, and for each one it inserted a timeline
    entry and a rule event. As five statements (the upsert, the device links, the timeline's rows, the retention
    horizon, the events) a page of a thousand new detections took three documents to build, encode and parse, five
    round trips, and a second version of each row whose device link changed."""
    by_id = {r.external_id[:100]: r for r in records}
    if not by_id:
        return {}
    now = datetime.now(UTC)
    rows = []
    for external_id, r in by_id.items():
        linked = account(r.customer_external_id)
        resolved = r.status == "resolved"
        where = f" on {r.device_name}" if r.device_name else ""
        rows.append(
            {
                "tenant_id": connection.tenant_id,
                "connection_id": connection.id,
                "external_id": external_id,
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
                "resolved_at": now if resolved else None,
                "updated_at": now,
                # How it is announced if the statement inserts it. Most rows of a later sync are updates, whose
                # announcement goes unused: making it costs less than asking PostgreSQL which rows are new first.
                "announce_title": f"{source} detected {r.title}{where}"[:500],
                # A path may be as long as Windows allows (32,767): the timeline shows a line, the card the rest.
                "announce_detail": ", ".join(x for x in (r.classification, r.vendor_severity, r.file_path) if x)[:1000]
                or None,
                "announce_severity": "resolved" if resolved else _TIMELINE_SEVERITY.get(r.severity, "warning"),
                "announce_key": f"detection:{r.external_id}"[:300],
                # Already resolved when first read (a first sync's history): the timeline only, no rule event.
                "event_data": None
                if resolved
                else stamped(
                    {
                        "detection.severity": r.severity,
                        "detection.title": r.title,
                        "detection.classification": r.classification or "",
                        "device.name": r.device_name or "",
                        "source": source,
                    }
                ),
            }
        )
    db_connection = session.connection()
    written = db_connection.execute(
        text(_statement(db_connection.dialect)),
        {**param(rows), "source": source, "horizon": horizon(session, connection.tenant_id)},
    )
    return {external_id: detection_id for external_id, detection_id in written}


def store_detection(session: Session, connection: Connection, source: str, record: DetectionRecord) -> None:
    """One detection just read again from the tool (a callback said it changed), cleaned and written as a sync page
    is."""
    cleaned, _ = clean_records([record])
    if cleaned:
        write_detections(session, connection, source, cleaned, links_of(session, connection))


# Every column the tool's rows give (the rest: the id, the device link the statement finds, Vectis's own notes).
_WRITTEN = tuple(
    c.name for c in Detection.__table__.c if c.name not in ("id", "device_id", "resolved_by", "first_seen_at")
)
# What a new detection is announced with, typed as the columns they go to.
_ANNOUNCED = {
    "announce_title": TimelineEvent.__table__.c.title,
    "announce_detail": TimelineEvent.__table__.c.detail,
    "announce_severity": TimelineEvent.__table__.c.severity,
    "announce_key": TimelineEvent.__table__.c.dedup_key,
    "event_data": RuleEvent.__table__.c.data,
}


@cache
def _statement(dialect: Dialect) -> str:
    columns = ", ".join(_WRITTEN)
    rows = recordset(dialect, {**{name: Detection.__table__.c[name] for name in _WRITTEN}, **_ANNOUNCED})
    from_the_tool = ", ".join(f"{name} = excluded.{name}" for name in _FROM_THE_TOOL)
    return f"""
WITH x AS MATERIALIZED (SELECT * FROM {rows}),
written AS (
    INSERT INTO detections AS t ({columns}, device_id)
    SELECT {columns}, (
        -- The RMM's device of the same name at the same customer: the detection's card links to it.
        SELECT min(d.id) FROM devices d
         WHERE d.customer_id = x.customer_id AND lower(d.name) = lower(x.device_name) AND d.removed_at IS NULL
    )
    FROM x
    ON CONFLICT (tenant_id, connection_id, external_id) DO UPDATE SET {from_the_tool},
        -- Resolved from Vectis: keep who and when; resolved at the tool: when Vectis first saw it so; reopened:
        -- neither. No such device at the RMM (gone, renamed) leaves the link as it was.
        resolved_at = CASE WHEN excluded.status = 'resolved' THEN coalesce(t.resolved_at, excluded.resolved_at) END,
        resolved_by = CASE WHEN excluded.status = 'resolved' THEN t.resolved_by END,
        -- A tool whose detections do not say (Defender's alerts, ESET's without the device) leaves the endpoint's
        -- state as its last read-back gave it: an isolated machine keeps its Release.
        isolation = coalesce(excluded.isolation, t.isolation),
        device_id = coalesce(excluded.device_id, t.device_id)
    RETURNING t.external_id, t.id, (t.xmax = 0) AS inserted
),
timeline AS (
    INSERT INTO timeline_events (tenant_id, customer_id, customer_link_id, connection_id, source, kind, occurred_at,
                                 title, detail, severity, dedup_key)
    SELECT x.tenant_id, x.customer_id, x.customer_link_id, x.connection_id, :source, 'security.detection',
           x.detected_at, x.announce_title, x.announce_detail, x.announce_severity, x.announce_key
      FROM written JOIN x USING (external_id)
     WHERE written.inserted
    ON CONFLICT (tenant_id, connection_id, dedup_key) DO NOTHING
),
events AS (
    -- As events.stream.emit writes them: none older than the workspace keeps rule activity (a resync of old
    -- history must not make again the events the purge removed), none twice.
    INSERT INTO rule_events (tenant_id, trigger, customer_id, connection_id, subject_type, subject_id, title, data,
                             dedup_key, occurred_at)
    SELECT x.tenant_id, 'security.detection_created', x.customer_id, x.connection_id, 'detection', written.id,
           x.announce_title, x.event_data, 'security.detection_created:' || written.id, x.detected_at
      FROM written JOIN x USING (external_id)
     WHERE written.inserted AND x.event_data IS NOT NULL AND x.detected_at >= :horizon
    ON CONFLICT (tenant_id, dedup_key) DO NOTHING
)
SELECT external_id, id FROM written"""


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


@sink_for(DetectionRecord, side_by_side=True)
class _FromSyncs:
    """Every sync's detection pages. Detection streams are incremental (what changed since the cursor), so a
    complete read says nothing about what is gone: :meth:`listed` has nothing to do."""

    def write(self, writer: Writer, records: list[DetectionRecord]) -> None:
        write_detections(writer.session, writer.connection, writer.source, records, writer.account)

    def listed(self, writer: Writer) -> None:
        return None
