"""Contracts on the REST API, the soonest renewal first (those with no end date last), each with its line items."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import Field
from sqlalchemy import and_, or_, select, tuple_

from vectis.actions.resources import Call, Day, KeysetQuery, Page, Schema, keyset, operation, page_of
from vectis.models import Contract, ContractLineItem, Customer
from vectis.platform import public_ids

Status = Literal["active", "cancelled", "expired", "inactive"]  # vectis.models.contracts.STATUSES


class LineItemOut(Schema):
    product: str | None
    description: str | None
    quantity: Decimal
    unit_price: Decimal | None = Field(description="Per billing cycle of the contract")
    amount: Decimal | None
    recurring: bool
    billable: bool
    starts_on: date | None
    cancelled_on: date | None


class ContractOut(Schema):
    id: str = Field(description="Public id, ctr_…")
    name: str
    customer_id: str | None = Field(description="cus_…; null while its PSA account is linked to no customer")
    customer_name: str | None
    contract_type: str | None
    status: Status
    vendor_status: str | None = Field(description="The status as the PSA names it")
    starts_on: date | None
    ends_on: date | None = Field(description="When its term ends, which is when it renews; null: runs until cancelled")
    cancelled_on: date | None
    billing_cycle: str | None
    bill_amount: Decimal | None = Field(description="Per billing cycle, as the PSA bills it")
    monthly_value: Decimal | None = Field(description="The bill brought to a month; null: it does not repeat")
    currency: str | None
    next_invoice_on: date | None
    updated_at: datetime = Field(description="When the PSA last changed it")
    lines: list[LineItemOut] = Field(description="In the PSA's order")


class ContractQuery(KeysetQuery):
    shape = (date | None, "contract")
    customer_id: str | None = Field(default=None, description="Only this customer's contracts (cus_…)")
    status: Status | None = None
    renews_before: Day | None = Field(default=None, description="Only those whose term ends before this day")


def _line(item: ContractLineItem) -> LineItemOut:
    return LineItemOut(
        product=item.product,
        description=item.description,
        quantity=item.quantity,
        unit_price=item.unit_price,
        amount=item.amount,
        recurring=item.recurring,
        billable=item.billable,
        starts_on=item.starts_on,
        cancelled_on=item.cancelled_on,
    )


@operation(
    "GET", "/contracts", scope="read", summary="List contracts with their line items, soonest renewal first",
    tag="Contracts", response=ContractOut, query=ContractQuery, paged=True,
)  # fmt: skip
def list_contracts(call: Call) -> Page[ContractOut]:
    query: ContractQuery = call.query
    statement = (
        select(Contract, Customer.name)
        .outerjoin(Customer, Customer.id == Contract.customer_id)
        .order_by(Contract.ends_on.asc().nulls_last(), Contract.id)
        .limit(query.limit + 1)
    )
    if query.customer_id:
        customer = public_ids.decode("customer", query.customer_id)
        if customer is None:
            return Page[ContractOut](data=[], next_cursor=None)  # no such customer here: no contracts of it
        statement = statement.where(Contract.customer_id == customer)
    if query.status:
        statement = statement.where(Contract.status == query.status)
    if query.renews_before:
        statement = statement.where(Contract.ends_on < query.renews_before)
    if after := query.after:
        ends_on, key = after
        no_end = Contract.ends_on.is_(None)
        statement = statement.where(
            and_(no_end, Contract.id > key)
            if ends_on is None
            else or_(no_end, tuple_(Contract.ends_on, Contract.id) > tuple_(ends_on, key))
        )
    rows = call.session.execute(statement).all()
    lines: dict[int, list[LineItemOut]] = defaultdict(list)
    if rows:
        for item in call.session.scalars(
            select(ContractLineItem)
            .where(ContractLineItem.contract_id.in_([c.id for c, _ in rows]))
            .order_by(ContractLineItem.contract_id, ContractLineItem.id)
        ):
            lines[item.contract_id].append(_line(item))
    found = [
        ContractOut(
            id=public_ids.encode("contract", c.id),
            name=c.name,
            customer_id=public_ids.encode("customer", c.customer_id) if c.customer_id else None,
            customer_name=name,
            contract_type=c.contract_type,
            status=c.status,  # type: ignore[arg-type]
            vendor_status=c.vendor_status,
            starts_on=c.starts_on,
            ends_on=c.ends_on,
            cancelled_on=c.cancelled_on,
            billing_cycle=c.billing_cycle,
            bill_amount=c.bill_amount,
            monthly_value=c.monthly_value,
            currency=c.currency,
            next_invoice_on=c.next_invoice_on,
            updated_at=c.vendor_updated_at,
            lines=lines[c.id],
        )
        for c, name in rows
    ]
    return page_of(found, query.limit, lambda c: keyset(c.ends_on, c.id))
