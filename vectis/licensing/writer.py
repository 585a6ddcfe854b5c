"""Writes the licence subscriptions any distributor reports, set-based, one page at a time: what a sync calls (through
the sync engine's sink for ``LicenceSubscriptionRecord``), and what a seat change's read-back and a webhook call for one.

Idempotent: keyed by (connection, the distributor's id), so reading the same page twice leaves one row per
subscription, as the distributor last said it. Each write also keeps this week's seats (``license_usage``, one row a
subscription a week, the last read wins). A subscription Vectis has not seen before, and a change of seats, go to the
timeline; a complete read marks what the distributor no longer lists removed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from vectis.connectors.base import LicenceSubscriptionRecord
from vectis.events.stream import emit, row
from vectis.ingest.sync import Writer, sink_for
from vectis.models import Connection, Linked, TimelineEvent
from vectis.models.licensing import BILLING_TERMS, SUBSCRIPTION_STATUSES, LicenseSubscription, LicenseUsage
from vectis.platform import db
from vectis.platform.bulk import clipped, upsert

Account = Callable[[str | None], Linked]
_FROM_THE_VENDOR = (
    "customer_id", "customer_link_id", "product_name", "product_external_id", "sku", "quantity", "unit_cost",
    "unit_price", "currency", "billing_term", "vendor_term", "status", "vendor_status", "commitment_ends_on",
    "starts_on", "vendor_updated_at", "details", "removed_at", "updated_at",
)  # fmt: skip
TERM_WORDS = {"monthly": "Monthly", "annual": "Annual (NCE)", "2-year": "2-year (NCE)", "3-year": "3-year (NCE)",
              "one-time": "One-time", "trial": "Trial", "other": "Other"}  # fmt: skip


def week_of(day: date) -> date:
    """The Monday that starts ``day``'s week: the key of a weekly snapshot."""
    return day - timedelta(days=day.weekday())


def _one_of(value: str, allowed: Sequence[str]) -> str:
    return value if value in allowed else "other"


def write_subscriptions(
    session: Session,
    connection: Connection,
    source: str,
    records: Sequence[LicenceSubscriptionRecord],
    account: Account,
    *,
    run_id: int | None = None,
) -> dict[str, int]:
    """Insert or update ``records`` (the last of an id wins); returns each one's row id by the distributor's id."""
    by_id = {r.external_id[:100]: r for r in records}
    if not by_id:
        return {}
    before = dict(
        session.execute(
            select(LicenseSubscription.external_id, LicenseSubscription.quantity).where(
                LicenseSubscription.connection_id == connection.id,
                db.among_text(LicenseSubscription.external_id, by_id),
            )
        ).all()
    )
    now = datetime.now(UTC)
    rows = []
    for external_id, r in by_id.items():
        linked = account(r.customer_external_id)
        rows.append(
            {
                "tenant_id": connection.tenant_id,
                "connection_id": connection.id,
                "vendor": connection.vendor,
                "external_id": external_id,
                "customer_id": linked.customer_id,
                "customer_link_id": linked.link_id,
                "product_name": (r.product_name or "Subscription")[:300],
                "product_external_id": clipped(r.product_external_id, 100),
                "sku": clipped(r.sku, 100),
                "quantity": max(int(r.quantity), 0),
                "unit_cost": r.unit_cost,
                "unit_price": r.unit_price,
                "currency": clipped(r.currency, 3),
                "billing_term": _one_of(r.billing_term, BILLING_TERMS),
                "vendor_term": (r.vendor_term or r.billing_term)[:60],
                "status": _one_of(r.status, SUBSCRIPTION_STATUSES),
                "vendor_status": (r.vendor_status or r.status)[:60],
                "commitment_ends_on": r.commitment_ends_on,
                "starts_on": r.starts_on,
                "vendor_updated_at": r.updated_at,
                "details": r.details,
                "last_seen_run_id": run_id,
                "removed_at": None,
                "updated_at": now,
            }
        )
    written = upsert(
        session.connection(),
        LicenseSubscription.__table__,  # type: ignore[arg-type]
        rows,
        conflict=("tenant_id", "connection_id", "external_id"),
        update=_FROM_THE_VENDOR,
        # A read-back or a webhook is no run: it keeps the run that last listed the row.
        merge={"last_seen_run_id": "coalesce(excluded.last_seen_run_id, t.last_seen_run_id)"},
        returning=("external_id", "id"),
    )
    ids = {w.external_id: w.id for w in written}
    week = week_of(now.date())
    upsert(
        session.connection(),
        LicenseUsage.__table__,  # type: ignore[arg-type]
        [
            {
                "tenant_id": connection.tenant_id,
                "subscription_id": ids[e],
                "week": week,
                "quantity": stored["quantity"],
                "observed_at": now,
            }
            for e, stored in zip(by_id, rows, strict=True)
        ],
        conflict=("tenant_id", "subscription_id", "week"),
        update=("quantity", "observed_at"),
    )
    _announce(session, connection, source, by_id, before=before, account=account, ids=ids)
    return ids


def _announce(
    session: Session,
    connection: Connection,
    source: str,
    by_id: dict[str, LicenceSubscriptionRecord],
    *,
    before: dict[str, int],
    account: Account,
    ids: dict[str, int],
) -> None:
    """A new subscription, and a change of seats, on the customer's timeline; a change of seats to the rules too."""
    timeline: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for external_id, r in by_id.items():
        was = before.get(external_id)
        if was is not None and was == r.quantity:
            continue
        customer = account(r.customer_external_id)
        seats = f"{r.quantity} seat{'s' if r.quantity != 1 else ''}"
        if was is None:
            title = f"{source} subscription: {r.product_name}, {seats}"
            started = datetime.combine(r.starts_on, time(), UTC) if r.starts_on else None
            moment, key, severity = started or r.updated_at or datetime.now(UTC), f"subscription:{external_id}", "info"
        else:
            title = f"{r.product_name}: seats changed from {was} to {r.quantity} in {source}"
            moment = r.updated_at or datetime.now(UTC)
            key, severity = f"subscription:{external_id}:seats:{moment.isoformat()}:{r.quantity}", "info"
            events.append(
                row(
                    connection.tenant_id,
                    "licensing.seats_changed",
                    customer_id=customer.customer_id,
                    connection_id=connection.id,
                    subject=("license_subscription", ids[external_id]),
                    title=title,
                    data={
                        "subscription.product": r.product_name, "subscription.sku": r.sku or "",
                        "subscription.seats": r.quantity, "subscription.seats_before": was,
                        "subscription.change": r.quantity - was, "subscription.term": r.billing_term,
                        "source": source,
                    },
                    dedup_key=f"licensing.seats_changed:{ids[external_id]}:{moment.isoformat()}:{r.quantity}",
                    occurred_at=moment,
                )
            )  # fmt: skip
        timeline.append(
            {
                "tenant_id": connection.tenant_id,
                "customer_id": customer.customer_id,
                "customer_link_id": customer.link_id,
                "connection_id": connection.id,
                "source": source,
                "kind": "licensing.subscription",
                "occurred_at": moment,
                "title": title[:500],
                "detail": ", ".join(x for x in (TERM_WORDS.get(r.billing_term), r.vendor_status, r.sku) if x)[:1000],
                "severity": severity,
                "dedup_key": key[:300],
                "device_id": None,
            }
        )
    if timeline:
        upsert(
            session.connection(),
            TimelineEvent.__table__,  # type: ignore[arg-type]
            timeline,
            conflict=("tenant_id", "connection_id", "dedup_key"),
        )
    if events:
        emit(session, events)


def mark_unlisted(session: Session, connection: Connection, run_id: int) -> int:
    """After a complete read: the subscriptions the distributor no longer lists are removed (kept, not shown)."""
    result = session.execute(
        update(LicenseSubscription)
        .where(
            LicenseSubscription.connection_id == connection.id,
            LicenseSubscription.removed_at.is_(None),
            LicenseSubscription.last_seen_run_id.is_distinct_from(run_id),
        )
        .values(removed_at=datetime.now(UTC))
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


@sink_for(LicenceSubscriptionRecord)
class _FromSyncs:
    """Every sync's subscription pages; subscription streams list every subscription, so a complete read says which
    are gone."""

    def write(self, writer: Writer, records: list[LicenceSubscriptionRecord]) -> None:
        write_subscriptions(
            writer.session, writer.connection, writer.source, records, writer.account, run_id=writer.run.id
        )

    def listed(self, writer: Writer) -> None:
        mark_unlisted(writer.session, writer.connection, writer.run.id)
