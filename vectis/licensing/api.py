"""Licence subscriptions on the REST API (and so as MCP tools): every distributor's subscriptions with their seats,
cost, term and renewal, and the writes on one (change its seats, schedule a reduction for renewal, ask for a quote),
each through the same verb the hub's Licensing tab uses."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field
from sqlalchemy import Row, select, tuple_

from vectis.actions.resources import (
    ActionOut,
    ActionQuery,
    Call,
    KeysetQuery,
    Page,
    Schema,
    act,
    id_shape,
    keyset,
    operation,
    page_of,
)
from vectis.audit.actors import Target
from vectis.connectors import registry
from vectis.licensing.queries import new_reference
from vectis.licensing.verbs import MAX_SEATS
from vectis.models import Customer
from vectis.models.licensing import LicenseSubscription
from vectis.platform import public_ids

Term = Literal["monthly", "annual", "2-year", "3-year", "one-time", "trial", "other"]


class SubscriptionOut(Schema):
    id: str = Field(description="Public id, lic_…")
    product_name: str
    sku: str | None
    quantity: int = Field(description="Seats")
    unit_cost: Decimal | None = Field(description="What the distributor charges a seat a month")
    monthly_cost: Decimal | None = Field(description="Seats × unit cost")
    currency: str | None
    billing_term: Term = Field(description="annual, 2-year and 3-year are committed (NCE): seats go down at renewal")
    commitment_ends_on: date | None = Field(description="When the committed term renews; null without one")
    status: Literal["active", "pending", "cancelled", "trial", "other"]
    vendor_status: str
    customer_id: str | None = Field(description="cus_…; null while the distributor's company is linked to none")
    customer_name: str | None
    source: str = Field(description="The distributor, as people name it (Pax8)")


class SubscriptionQuery(KeysetQuery):
    shape = (str, "subscription")
    customer_id: Annotated[str, id_shape("customer")] | None = Field(
        default=None, description="Only this customer's subscriptions (cus_…)"
    )


class SeatsIn(Schema):
    quantity: int = Field(ge=1, le=MAX_SEATS, description="The seats it should have")


class QuoteIn(Schema):
    quantity: int = Field(ge=1, le=MAX_SEATS, description="Seats of the subscription's product to quote")
    notes: str = Field(default="", max_length=2000)
    reference: str = Field(
        default="", max_length=60, description="Yours, to find the quote again; Vectis makes one when empty"
    )


_SHOWN = (
    LicenseSubscription.id, LicenseSubscription.product_name, LicenseSubscription.sku, LicenseSubscription.quantity,
    LicenseSubscription.unit_cost, LicenseSubscription.currency, LicenseSubscription.billing_term,
    LicenseSubscription.commitment_ends_on, LicenseSubscription.status, LicenseSubscription.vendor_status,
    LicenseSubscription.customer_id, LicenseSubscription.vendor, Customer.name.label("customer_name"),
)  # fmt: skip


def _out(r: Row[Any]) -> SubscriptionOut:
    return SubscriptionOut(
        id=public_ids.encode("subscription", r.id),
        product_name=r.product_name,
        sku=r.sku,
        quantity=r.quantity,
        unit_cost=r.unit_cost,
        monthly_cost=None if r.unit_cost is None else (r.unit_cost * r.quantity).quantize(Decimal("0.01")),
        currency=r.currency,
        billing_term=r.billing_term,
        commitment_ends_on=r.commitment_ends_on,
        status=r.status,
        vendor_status=r.vendor_status,
        customer_id=public_ids.encode("customer", r.customer_id) if r.customer_id else None,
        customer_name=r.customer_name,
        source=registry.label(r.vendor),
    )


def _read() -> Any:
    return (
        select(*_SHOWN)
        .outerjoin(Customer, Customer.id == LicenseSubscription.customer_id)
        .where(LicenseSubscription.removed_at.is_(None))
    )


@operation(
    "GET", "/licence-subscriptions", scope="read", summary="List licence subscriptions, by product", tag="Licensing",
    response=SubscriptionOut, query=SubscriptionQuery, paged=True,
)  # fmt: skip
def list_subscriptions(call: Call) -> Page[SubscriptionOut]:
    """Each with its seats, unit and monthly cost, term and renewal date; filter by customer."""
    query: SubscriptionQuery = call.query
    statement = _read().order_by(LicenseSubscription.product_name, LicenseSubscription.id).limit(query.limit + 1)
    if query.customer_id:
        customer = public_ids.decode("customer", query.customer_id)
        if customer is None:
            return Page[SubscriptionOut](data=[], next_cursor=None)
        statement = statement.where(LicenseSubscription.customer_id == customer)
    if after := query.after:
        statement = statement.where(tuple_(LicenseSubscription.product_name, LicenseSubscription.id) > tuple_(*after))
    rows = [_out(r) for r in call.session.execute(statement)]
    return page_of(rows, query.limit, lambda s: keyset(s.product_name, s.id))


@operation(
    "GET", "/licence-subscriptions/{subscription_id}", scope="read", summary="Get a licence subscription",
    tag="Licensing", response=SubscriptionOut,
)  # fmt: skip
def get_subscription(call: Call, subscription_id: int) -> SubscriptionOut:
    found = call.get(LicenseSubscription, subscription_id, "subscription")
    return _out(call.session.execute(_read().where(LicenseSubscription.id == found.id)).one())


def _on(call: Call, verb: str, subscription_id: int, payload: dict[str, Any]) -> ActionOut:
    found = call.get(LicenseSubscription, subscription_id, "subscription")
    return act(call, verb, Target("license_subscription", str(found.id), found.product_name), payload)


@operation(
    "POST", "/licence-subscriptions/{subscription_id}/seats", scope="write:licensing",
    summary="Change a subscription's seats", tag="Licensing", response=ActionOut, query=ActionQuery, body=SeatsIn,
    tool="adjust_licence_seats",
)  # fmt: skip
def adjust_seats(call: Call, subscription_id: int) -> ActionOut:
    """At the distributor. A reduction of a committed (NCE) term is refused with its renewal date: schedule it."""
    body: SeatsIn = call.body
    return _on(call, "license.adjust_seats", subscription_id, {"quantity": body.quantity})


@operation(
    "POST", "/licence-subscriptions/{subscription_id}/scheduled-seats", scope="write:licensing",
    summary="Schedule a seat change for the subscription's renewal", tag="Licensing", response=ActionOut,
    query=ActionQuery, body=SeatsIn,
)  # fmt: skip
def schedule_seats(call: Call, subscription_id: int) -> ActionOut:
    """Vectis sends it once, on the renewal date; a second schedule replaces the first."""
    body: SeatsIn = call.body
    return _on(call, "license.schedule_seats", subscription_id, {"quantity": body.quantity})


@operation(
    "POST", "/licence-subscriptions/{subscription_id}/quotes", scope="write:licensing",
    summary="Create a quote for seats of the subscription's product", tag="Licensing", response=ActionOut,
    query=ActionQuery, body=QuoteIn, tool="create_licence_quote",
)  # fmt: skip
def create_quote(call: Call, subscription_id: int) -> ActionOut:
    """For the subscription's customer at the distributor. Sent once: after an unclear answer, Vectis looks for the
    quote by its reference instead of sending it again."""
    body: QuoteIn = call.body
    payload = {"quantity": body.quantity, "notes": body.notes, "reference": body.reference or new_reference()}
    return _on(call, "license.create_quote", subscription_id, payload)
