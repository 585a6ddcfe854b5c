"""Writes a PSA's contracts with their line items, set-based, one sync page at a time, for any PSA connector.

A contract read again unchanged is not rewritten, nor are its lines (``unless_same``): agreements are read again
whenever one of them is touched at the boundary second, and a rewrite of identical rows is only dead rows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, tuple_
from sqlalchemy.orm import Session

from vectis.connectors.base import ContractRecord
from vectis.contracts.value import monthly_value
from vectis.models import Connection, Contract, ContractLineItem, Linked
from vectis.platform.bulk import upsert

Account = Callable[[str | None], Linked]  # a vendor account id -> where its rows point

# What the vendor says about a contract; ``updated_at`` (when Vectis last wrote it) changes only with these.
_CONTRACT_FIELDS = (
    "customer_id",
    "customer_link_id",
    "name",
    "contract_type",
    "status",
    "vendor_status",
    "starts_on",
    "ends_on",
    "cancelled_on",
    "billing_cycle",
    "bill_amount",
    "monthly_value",
    "currency",
    "next_invoice_on",
    "vendor_updated_at",
)
_LINE_FIELDS = (
    "product",
    "description",
    "quantity",
    "unit_price",
    "amount",
    "recurring",
    "billable",
    "starts_on",
    "cancelled_on",
)


def _text(value: str | None, limit: int) -> str | None:
    return (value or "")[:limit] or None


def write_contracts(session: Session, connection: Connection, records: list[ContractRecord], account: Account) -> None:
    """Upsert the page's contracts on the customer their account is linked to, then their lines: a line the
    vendor no longer lists on a contract read here is gone from it (ConnectWise deletes additions entered by
    mistake; cancelled ones it keeps, with their date)."""
    if not records:
        return
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for r in records:
        linked = account(r.customer_external_id)
        rows.append(
            {
                "tenant_id": connection.tenant_id,
                "connection_id": connection.id,
                "external_id": r.external_id[:100],
                "customer_id": linked.customer_id,
                "customer_link_id": linked.link_id,
                "name": r.name[:300],
                "contract_type": _text(r.contract_type, 200),
                "status": r.status,
                "vendor_status": _text(r.vendor_status, 60),
                "starts_on": r.starts_on,
                "ends_on": r.ends_on,
                "cancelled_on": r.cancelled_on,
                "billing_cycle": _text(r.billing_cycle, 60),
                "bill_amount": r.bill_amount,
                "monthly_value": monthly_value(r.bill_amount, r.cycles_per_year),
                "currency": r.currency,
                "next_invoice_on": r.next_invoice_on,
                "vendor_updated_at": r.updated_at,
                "updated_at": now,
            }
        )
    db = session.connection()
    upsert(
        db,
        Contract.__table__,  # type: ignore[arg-type]
        rows,
        conflict=("tenant_id", "connection_id", "external_id"),
        update=(*_CONTRACT_FIELDS, "updated_at"),
        unless_same=_CONTRACT_FIELDS,
    )
    # Ids of the page's contracts, the unchanged ones too (the upsert returns only what it wrote).
    found = session.execute(
        select(Contract.external_id, Contract.id).where(
            Contract.connection_id == connection.id, Contract.external_id.in_([row["external_id"] for row in rows])
        )
    )
    ids: dict[str, int] = {external_id: contract_id for external_id, contract_id in found}
    lines = [
        {
            "tenant_id": connection.tenant_id,
            "contract_id": ids[r.external_id[:100]],
            "external_id": line.external_id[:100],
            "product": _text(line.product, 200),
            "description": line.description or None,
            "quantity": line.quantity,
            "unit_price": line.unit_price,
            "amount": line.amount,
            "recurring": line.recurring,
            "billable": line.billable,
            "starts_on": line.starts_on,
            "cancelled_on": line.cancelled_on,
        }
        for r in records
        for line in {line.external_id: line for line in r.lines}.values()  # a vendor listing one line twice
    ]
    upsert(
        db,
        ContractLineItem.__table__,  # type: ignore[arg-type]
        lines,
        conflict=("tenant_id", "contract_id", "external_id"),
        update=_LINE_FIELDS,
        unless_same=_LINE_FIELDS,
    )
    kept = [(line["contract_id"], line["external_id"]) for line in lines]
    gone = delete(ContractLineItem).where(ContractLineItem.contract_id.in_(list(ids.values())))
    if kept:
        gone = gone.where(tuple_(ContractLineItem.contract_id, ContractLineItem.external_id).not_in(kept))
    session.execute(gone)
