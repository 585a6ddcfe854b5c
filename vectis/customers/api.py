"""Customers on the REST API: the list (with a name search) and one customer."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field
from sqlalchemy import select

from vectis.actions.resources import Call, NotFound, Page, PageQuery, Schema, Text, operation, page_of
from vectis.models import Customer
from vectis.platform import public_ids


class CustomerOut(Schema):
    id: str = Field(description="Public id, cus_…")
    name: str
    parent_id: str | None = Field(description="The customer this one is a site of")
    location: str | None
    contact_name: str | None
    contact_email: str | None
    contact_phone: str | None
    tags: list[str]
    created_at: datetime

    @classmethod
    def of(cls, c: Customer) -> CustomerOut:
        return cls(
            id=public_ids.encode("customer", c.id),
            name=c.name,
            parent_id=public_ids.encode("customer", c.parent_id) if c.parent_id else None,
            location=c.location,
            contact_name=c.contact_name,
            contact_email=c.contact_email,
            contact_phone=c.contact_phone,
            tags=list(c.tags or []),
            created_at=c.created_at,
        )


class CustomerQuery(PageQuery):
    q: Text | None = Field(default=None, max_length=100, description="Words of the name, matched anywhere")


@operation(
    "GET", "/customers", scope="read", summary="List customers", tag="Customers", response=CustomerOut,
    query=CustomerQuery, paged=True,
)  # fmt: skip
def list_customers(call: Call) -> Page[CustomerOut]:
    query: CustomerQuery = call.query
    statement = select(Customer).order_by(Customer.id).limit(query.limit + 1)
    after = public_ids.decode("customer", query.cursor) if query.cursor else None
    if after is not None:
        statement = statement.where(Customer.id > after)
    for word in (query.q or "").split()[:5]:
        statement = statement.where(
            Customer.name.ilike(
                "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%", escape="\\"
            )
        )
    rows = [CustomerOut.of(c) for c in call.session.scalars(statement)]
    return page_of(rows, query.limit, lambda c: c.id)


@operation(
    "GET", "/customers/{customer_id}", scope="read", summary="Get a customer", tag="Customers", response=CustomerOut
)
def get_customer(call: Call, customer_id: int) -> CustomerOut:
    customer = call.session.get(Customer, customer_id)
    if customer is None:
        raise NotFound("customer")
    return CustomerOut.of(customer)
