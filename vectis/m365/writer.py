"""Writes what a Microsoft 365 sync read, one tenant's panel at a time (the sync engine's sinks for the connector's four
panel records), and puts on the timeline what changed since the last good read.

A panel is written whole or not at all: its status row and its rows go in the page's one transaction. ``known``
replaces the tenant's rows for the panel (what Graph no longer lists is gone); ``partial`` (Graph answered 206)
updates what came and removes nothing, since what did not come may still be there; ``unknown`` writes the status
and its reason only, so the last good rows stay on the tab with the time they were read.

Timeline and rules (the first read of a tenant says nothing: there is no "before" to compare with): a device that
became non-compliant, a Conditional Access policy that changed state, a Secure Score that moved by :data:`SCORE_STEP`
points or more from the day before. Each reaches the timeline and, once, the rules (``vectis/m365/triggers.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, select, true
from sqlalchemy.orm import Session

from vectis.connectors.m365 import (
    AdminMfaRecord,
    ConditionalAccessRecord,
    IntuneRecord,
    PanelRecord,
    SecureScoreRecord,
)
from vectis.events.stream import emit, row
from vectis.ingest.sync import Writer, sink_for
from vectis.models import Connection, Linked, TimelineEvent
from vectis.models.m365 import M365CaPolicy, M365ManagedDevice, M365Panel, M365PrivilegedUser, M365SecureScore
from vectis.platform.bulk import clipped, upsert

SCORE_STEP = 5.0  # points a day's Secure Score must move to make the timeline
POLICY_WORDS = {"enabled": "on", "disabled": "off", "enabledForReportingButNotEnforced": "report-only"}
RULE_STATES = {"enabled": "enabled", "disabled": "disabled", "enabledForReportingButNotEnforced": "report-only"}


def _table(model: type[Any]) -> Table:
    table: Table = model.__table__
    return table


def _panel(session: Session, connection: Connection, record: PanelRecord, summary: dict[str, Any] | None) -> bool:
    """The panel's status row; whether the tenant's panel had been read well before (so changes are news)."""
    known_before = session.scalar(
        select(M365Panel.refreshed_at).where(
            M365Panel.connection_id == connection.id,
            M365Panel.tenant_external_id == record.customer_external_id,
            M365Panel.panel == record.panel,
        )
    )
    fresh = record.state != "unknown"
    row = {
        "tenant_id": connection.tenant_id,
        "connection_id": connection.id,
        "tenant_external_id": record.customer_external_id[:100],
        "panel": record.panel,
        "state": record.state,
        "reason": record.reason,
        "observed_at": record.read_at,
        "refreshed_at": record.read_at if fresh else None,
        "summary": summary or {},
        "updated_at": record.read_at,
    }
    upsert(
        session.connection(),
        _table(M365Panel),
        [row],
        conflict=("tenant_id", "connection_id", "tenant_external_id", "panel"),
        update=("state", "reason", "observed_at", "updated_at"),
        # Unknown this time: the time and summary of the last good read stay with its rows.
        merge={
            "refreshed_at": "coalesce(excluded.refreshed_at, t.refreshed_at)",
            "summary": "CASE WHEN excluded.refreshed_at IS NULL THEN t.summary ELSE excluded.summary END",
        },
    )
    return known_before is not None


def _replace(
    session: Session,
    connection: Connection,
    record: PanelRecord,
    model: type[Any],
    rows: list[dict[str, Any]],
    *,
    key: str,
    columns: Sequence[str],
) -> None:
    """Upsert the panel's rows; when the read was complete, the tenant's rows it did not list go."""
    # One key twice in one upsert is an error in PostgreSQL ("cannot affect row a second time"), and Graph can list
    # an id on two pages while devices change (or two ids can match once cut to the column): the last one read wins.
    rows = list({r[key]: r for r in rows}.values())
    tenant = record.customer_external_id[:100]
    base = {"tenant_id": connection.tenant_id, "connection_id": connection.id, "tenant_external_id": tenant}
    upsert(
        session.connection(),
        _table(model),
        [{**base, **r, "updated_at": record.read_at} for r in rows],
        conflict=("tenant_id", "connection_id", "tenant_external_id", key),
        update=(*columns, "updated_at"),
        unless_same=columns,
    )
    if record.state == "known":
        listed = [r[key] for r in rows]
        session.execute(
            delete(model)
            .where(model.connection_id == connection.id, model.tenant_external_id == tenant)
            .where(getattr(model, key).not_in(listed) if listed else true())
            .execution_options(synchronize_session=False)
        )


def _timeline(
    session: Session, connection: Connection, source: str, linked: Linked, events: list[dict[str, Any]]
) -> None:
    if not events:
        return
    rows = [
        {
            "tenant_id": connection.tenant_id,
            "customer_id": linked.customer_id,
            "customer_link_id": linked.link_id,
            "connection_id": connection.id,
            "source": source,
            "device_id": None,
            **event,
        }
        for event in events
    ]
    upsert(
        session.connection(),
        _table(TimelineEvent),
        rows,
        conflict=("tenant_id", "connection_id", "dedup_key"),
    )


def _ids(session: Session, connection: Connection, model: Any, tenant: str, external_ids: list[str]) -> dict[str, int]:
    """The rows' ids by their Graph ids, for the rule events that name them."""
    if not external_ids:
        return {}
    found = session.execute(
        select(model.external_id, model.id).where(
            model.connection_id == connection.id,
            model.tenant_external_id == tenant,
            model.external_id.in_([e[:100] for e in external_ids]),
        )
    )
    return {external_id: row_id for external_id, row_id in found}


def _rules(session: Session, events: list[dict[str, Any]]) -> None:
    if events:
        emit(session, events)


def _event(kind: str, at: datetime, title: str, *, detail: str | None, severity: str, key: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "occurred_at": at,
        "title": title[:500],
        "detail": detail[:1000] if detail else None,
        "severity": severity,
        "dedup_key": key[:300],
    }


def write_intune(writer: Writer, record: IntuneRecord) -> None:
    session, connection = writer.session, writer.connection
    counts: dict[str, int] = {}
    for device in record.devices:
        counts[device.compliance] = counts.get(device.compliance, 0) + 1
    before = dict(
        session.execute(
            select(M365ManagedDevice.external_id, M365ManagedDevice.compliance_state).where(
                M365ManagedDevice.connection_id == connection.id,
                M365ManagedDevice.tenant_external_id == record.customer_external_id,
            )
        ).all()
    )
    read_before = _panel(session, connection, record, {"counts": counts} if record.state != "unknown" else None)
    if record.state == "unknown":
        return
    rows = [
        {
            "external_id": d.external_id[:100],
            "name": d.name[:300],
            "os": clipped(d.os, 100),
            "compliance_state": d.compliance[:30],
            "user_principal_name": clipped(d.user, 300),
            "last_sync_at": d.last_sync_at,
            "failing_policies": list(d.failing),
        }
        for d in record.devices
    ]
    columns = ("name", "os", "compliance_state", "user_principal_name", "last_sync_at", "failing_policies")
    _replace(session, connection, record, M365ManagedDevice, rows, key="external_id", columns=columns)
    if not read_before:
        return
    fell = [
        d
        for d in record.devices
        if d.compliance == "noncompliant" and before.get(d.external_id) not in (None, "noncompliant")
    ]
    events = [
        _event(
            "m365.compliance",
            record.read_at,
            f"{d.name} is no longer compliant in Intune",
            detail=", ".join(d.failing) or None,
            severity="warning",
            key=f"m365:noncompliant:{d.external_id}:{record.read_at.date().isoformat()}",
        )
        for d in fell
    ]
    linked = writer.account(record.customer_external_id)
    _timeline(session, connection, writer.source, linked, events)
    ids = _ids(session, connection, M365ManagedDevice, record.customer_external_id, [d.external_id for d in fell])
    _rules(session, [
        row(
            connection.tenant_id, "m365.device_noncompliant", customer_id=linked.customer_id,
            connection_id=connection.id, subject=("m365_device", ids[d.external_id]),
            title=f"{d.name} is no longer compliant in Intune",
            data={"device.name": d.name, "device.os": d.os or "", "device.user": d.user or "",
                  "device.failing_policies": ", ".join(d.failing), "source": writer.source},
            dedup_key=f"m365.device_noncompliant:{ids[d.external_id]}:{record.read_at.date().isoformat()}",
            occurred_at=record.read_at,
        )
        for d in fell
        if d.external_id in ids
    ])  # fmt: skip


def write_secure_score(writer: Writer, record: SecureScoreRecord) -> None:
    session, connection = writer.session, writer.connection
    actions = [
        {"name": a.name, "title": a.title, "category": a.category, "gain": a.gain, "max_score": a.max_score,
         "url": a.url}
        for a in record.actions
    ]  # fmt: skip
    read_before = _panel(session, connection, record, {"actions": actions} if record.state != "unknown" else None)
    if record.state == "unknown" or not record.days:
        return
    tenant = record.customer_external_id[:100]
    newest = record.days[0]
    previous = session.execute(
        select(M365SecureScore.day, M365SecureScore.current_score)
        .where(
            M365SecureScore.connection_id == connection.id,
            M365SecureScore.tenant_external_id == tenant,
            M365SecureScore.day < newest.day,
        )
        .order_by(M365SecureScore.day.desc())
        .limit(1)
    ).first()
    rows = [{"day": d.day, "current_score": d.current, "max_score": d.maximum} for d in record.days]
    base = {"tenant_id": connection.tenant_id, "connection_id": connection.id, "tenant_external_id": tenant}
    # A day's score only grows more exact: days Graph no longer returns (older than its window) stay for the sparkline.
    upsert(
        session.connection(),
        _table(M365SecureScore),
        [{**base, **r, "updated_at": record.read_at} for r in rows],
        conflict=("tenant_id", "connection_id", "tenant_external_id", "day"),
        update=("current_score", "max_score", "updated_at"),
        unless_same=("current_score", "max_score"),
    )
    if not read_before or previous is None:
        return
    moved = newest.current - float(previous.current_score)
    if abs(moved) < SCORE_STEP:
        return
    word = "rose" if moved > 0 else "fell"
    event = _event(
        "m365.secure_score",
        record.read_at,
        f"Secure Score {word} {abs(moved):.0f} points to {newest.current:.0f} / {newest.maximum:.0f}",
        detail=f"from {float(previous.current_score):.0f} on {previous.day.isoformat()}",
        severity="resolved" if moved > 0 else "warning",
        key=f"m365:score:{tenant}:{newest.day.isoformat()}",
    )
    linked = writer.account(record.customer_external_id)
    _timeline(session, connection, writer.source, linked, [event])
    score_id = session.scalar(
        select(M365SecureScore.id).where(
            M365SecureScore.connection_id == connection.id,
            M365SecureScore.tenant_external_id == tenant,
            M365SecureScore.day == newest.day,
        )
    )
    if score_id is not None:
        percent = round(100 * newest.current / newest.maximum) if newest.maximum else 0
        _rules(session, [
            row(
                connection.tenant_id, "m365.secure_score_changed", customer_id=linked.customer_id,
                connection_id=connection.id, subject=("m365_secure_score", score_id), title=event["title"],
                data={"score.current": round(newest.current), "score.change": round(moved), "score.percent": percent,
                      "source": writer.source},
                dedup_key=f"m365.secure_score_changed:{score_id}", occurred_at=record.read_at,
            )
        ])  # fmt: skip


def write_conditional_access(writer: Writer, record: ConditionalAccessRecord) -> None:
    session, connection = writer.session, writer.connection
    counts: dict[str, int] = {}
    for policy in record.policies:
        counts[policy.state] = counts.get(policy.state, 0) + 1
    before = dict(
        session.execute(
            select(M365CaPolicy.external_id, M365CaPolicy.state).where(
                M365CaPolicy.connection_id == connection.id,
                M365CaPolicy.tenant_external_id == record.customer_external_id,
            )
        ).all()
    )
    read_before = _panel(session, connection, record, {"counts": counts} if record.state != "unknown" else None)
    if record.state == "unknown":
        return
    rows = [
        {
            "external_id": p.external_id[:100],
            "name": p.name[:500],
            "state": p.state[:60],
            "controls": list(p.controls),
            "for_admins": p.for_admins,
            "modified_at": p.modified_at,
        }
        for p in record.policies
    ]
    columns = ("name", "state", "controls", "for_admins", "modified_at")
    _replace(session, connection, record, M365CaPolicy, rows, key="external_id", columns=columns)
    if not read_before:
        return
    changed = [(p, before[p.external_id]) for p in record.policies if before.get(p.external_id) not in (None, p.state)]
    events = [
        _event(
            "m365.conditional_access",
            p.modified_at or record.read_at,
            f"Conditional Access policy “{p.name}” turned {POLICY_WORDS.get(p.state, p.state)}",
            detail=f"was {POLICY_WORDS.get(old, old)}",
            severity="resolved" if p.state == "enabled" else "warning",
            key=f"m365:policy:{p.external_id}:{p.state}:{(p.modified_at or record.read_at).isoformat()}",
        )
        for p, old in changed
    ]
    linked = writer.account(record.customer_external_id)
    _timeline(session, connection, writer.source, linked, events)
    ids = _ids(session, connection, M365CaPolicy, record.customer_external_id, [p.external_id for p, _ in changed])
    _rules(session, [
        row(
            connection.tenant_id, "m365.policy_changed", customer_id=linked.customer_id, connection_id=connection.id,
            subject=("m365_policy", ids[p.external_id]), title=event["title"],
            data={"policy.name": p.name, "policy.state": RULE_STATES.get(p.state, p.state),
                  "policy.was": RULE_STATES.get(old, old), "policy.for_admins": bool(p.for_admins),
                  "source": writer.source},
            dedup_key=f"m365.policy_changed:{event['dedup_key']}", occurred_at=event["occurred_at"],
        )
        for (p, old), event in zip(changed, events, strict=True)
        if p.external_id in ids
    ])  # fmt: skip


def write_admin_mfa(writer: Writer, record: AdminMfaRecord) -> None:
    session, connection = writer.session, writer.connection
    summary = None
    if record.state != "unknown":
        summary = {
            "registered": sum(1 for a in record.admins if a.mfa_registered is True),
            "not_registered": sum(1 for a in record.admins if a.mfa_registered is False),
            "not_listed": sum(1 for a in record.admins if a.mfa_registered is None),
        }
    _panel(session, connection, record, summary)
    if record.state == "unknown":
        return
    rows = [
        {
            "external_id": a.external_id[:100],
            "name": a.name[:300],
            "user_principal_name": clipped(a.upn, 300),
            "roles": list(a.roles),
            "mfa_registered": a.mfa_registered,
            "methods": list(a.methods),
        }
        for a in record.admins
    ]
    columns = ("name", "user_principal_name", "roles", "mfa_registered", "methods")
    _replace(session, connection, record, M365PrivilegedUser, rows, key="external_id", columns=columns)


class _Panels:
    """The sink for one panel record type: each record is one tenant's panel, written whole (a tenant's records come
    in one page, one transaction). Snapshot per panel, not per stream: :meth:`listed` has nothing to do."""

    def write(self, writer: Writer, records: list[Any]) -> None:
        for record in records:
            self.write_one(writer, record)

    def write_one(self, writer: Writer, record: Any) -> None:
        raise NotImplementedError

    def listed(self, writer: Writer) -> None:
        return None


@sink_for(IntuneRecord)
class _Intune(_Panels):
    def write_one(self, writer: Writer, record: Any) -> None:
        write_intune(writer, record)


@sink_for(SecureScoreRecord)
class _SecureScore(_Panels):
    def write_one(self, writer: Writer, record: Any) -> None:
        write_secure_score(writer, record)


@sink_for(ConditionalAccessRecord)
class _ConditionalAccess(_Panels):
    def write_one(self, writer: Writer, record: Any) -> None:
        write_conditional_access(writer, record)


@sink_for(AdminMfaRecord)
class _AdminMfa(_Panels):
    def write_one(self, writer: Writer, record: Any) -> None:
        write_admin_mfa(writer, record)
