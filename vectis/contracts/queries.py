"""What the hub's Contracts tab reads: a customer's contracts (and its sites') with their line items, each with
its term in words ("renews in 12 days") and its value formatted, and a summary for the card's head."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import ColumnElement, case, exists, or_, select
from sqlalchemy.orm import Session

from vectis.connectors import registry
from vectis.models import Connection, Contract, ContractLineItem, Customer, CustomerLink
from vectis.platform import db
from vectis.platform.dates import calendar_day, days

# How soon a renewal needs someone's eye: within a month it is amber (time to talk to the customer), within two
# it is noted; further out it is plain.
SOON_DAYS = 30
NOTED_DAYS = 60
# Symbols technicians read at a glance; any other currency is written after the amount with its ISO code.
SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "CAD": "CA$", "AUD": "A$", "NZD": "NZ$"}


def money(amount: Decimal | None, currency: str | None) -> str:
    """``$3,200``, ``$1,412.50``, ``$0.0125``, ``-$50``, ``1,200 CHF``: cents only when there are any, and the
    fractions of a cent a unit price may carry."""
    if amount is None:
        return "—"
    places = 0 if amount == amount.to_integral_value() else 2 if amount == round(amount, 2) else 4
    digits = f"{abs(amount):,.{places}f}"
    sign = "-" if amount < 0 else ""
    code = (currency or "USD").upper()
    return f"{sign}{SYMBOLS[code]}{digits}" if code in SYMBOLS else f"{sign}{digits} {code}"


def quantity(value: Decimal) -> str:
    """``12``, ``2.5``: as many places as it has."""
    return f"{value.normalize():,f}" if value != value.to_integral_value() else f"{int(value):,}"


@dataclass(frozen=True)
class Term:
    words: str  # "Renews in 12 days", "Ended 20 days ago", "No end date", "Cancelled"
    detail: str  # "on 18 Dec 2026", "runs until cancelled"
    tone: str  # a badge tone: warn | info | ok | muted | bad
    ended: bool = False  # its end date has passed
    renews: str | None = None  # "in 12 days", "today", "tomorrow": when it has an end date still to come

    @classmethod
    def renewing(cls, left: int, on: str) -> Term:
        when = "today" if left == 0 else "tomorrow" if left == 1 else f"in {days(left)}"
        tone = "warn" if left <= SOON_DAYS else "info" if left <= NOTED_DAYS else "ok"
        return cls(f"Renews {when}", on, tone, renews=when)


def term(contract: Contract, today: date) -> Term:
    """Where the contract stands in its term, in the words a technician reads before a call."""
    if contract.status == "cancelled":
        return Term("Cancelled", f"on {calendar_day(contract.cancelled_on)}" if contract.cancelled_on else "", "muted")
    if contract.ends_on is None:
        return Term("No end date", "runs until cancelled", "ok" if contract.status == "active" else "muted")
    left = (contract.ends_on - today).days
    on = f"on {calendar_day(contract.ends_on)}"
    if left < 0:
        return Term(f"Ended {days(-left)} ago", on, "muted", ended=True)
    return Term.renewing(left, on)


@dataclass(frozen=True)
class Line:
    item: ContractLineItem
    quantity: str
    unit_price: str
    amount: str
    billing: str  # Recurring | One-off | No charge
    ended: bool  # cancelled before today: kept for the record, shown dimmed


@dataclass(frozen=True)
class ContractRow:
    contract: Contract
    site: str | None  # the site's name when it is a site's contract
    term: Term
    monthly: str | None  # "$1,880/mo"; None: no monthly value (bills once, or a cycle Vectis cannot read)
    billed: str | None  # "$5,640 quarterly"
    lines: list[Line]

    @property
    def active(self) -> bool:
        return self.contract.status == "active" and not self.term.ended


@dataclass(frozen=True)
class Summary:
    active: int
    monthly: list[str]  # the active contracts' monthly value, one per currency
    next_renewal: ContractRow | None


def _line(item: ContractLineItem, currency: str | None, today: date) -> Line:
    billing = "No charge" if not item.billable else "Recurring" if item.recurring else "One-off"
    return Line(
        item=item,
        quantity=quantity(item.quantity),
        unit_price=money(item.unit_price, currency),
        amount=money(item.amount, currency),
        billing=billing,
        ended=item.recurring and item.cancelled_on is not None and item.cancelled_on <= today,
    )


def for_customer(session: Session, customer_ids: list[int], *, today: date | None = None) -> list[ContractRow]:
    """The customer's contracts and its sites': in force first, the soonest renewal first (no end date after those
    with one), then ended and cancelled ones, most recent first. Lines in the vendor's order (its ids)."""
    today = today or datetime.now(UTC).date()
    ended = case((Contract.status == "cancelled", 2), (Contract.ends_on < today, 1), else_=0)
    rows = session.execute(
        select(Contract, Customer.name, Customer.id)
        .join(Customer, Customer.id == Contract.customer_id)
        .where(db.among(Contract.customer_id, customer_ids))
        .order_by(ended, Contract.ends_on.asc().nulls_last(), Contract.name, Contract.id)
    ).all()
    lines: dict[int, list[ContractLineItem]] = defaultdict(list)
    if rows:
        for item in session.scalars(
            select(ContractLineItem)
            .where(db.among(ContractLineItem.contract_id, [c.id for c, _, _ in rows]))
            .order_by(ContractLineItem.contract_id, ContractLineItem.id)
        ):
            lines[item.contract_id].append(item)
    found = []
    for contract, site_name, owner in rows:
        currency = contract.currency
        found.append(
            ContractRow(
                contract=contract,
                site=site_name if owner != customer_ids[0] else None,
                term=term(contract, today),
                monthly=f"{money(contract.monthly_value, currency)}/mo" if contract.monthly_value is not None else None,
                billed=(
                    f"{money(contract.bill_amount, currency)} {(contract.billing_cycle or '').lower()}".strip()
                    if contract.bill_amount is not None
                    else None
                ),
                lines=[_line(item, currency, today) for item in lines[contract.id]],
            )
        )
    # Those no longer in force, the most recently ended first: the statement above orders by end, oldest first.
    live = [r for r in found if r.active]
    done = sorted(
        (r for r in found if not r.active),
        key=lambda r: r.contract.cancelled_on or r.contract.ends_on or today,
        reverse=True,
    )
    return live + done


def summary(rows: list[ContractRow]) -> Summary:
    live = [r for r in rows if r.active]
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for r in live:
        if r.contract.monthly_value is not None:
            totals[r.contract.currency or "USD"] += r.contract.monthly_value
    renewing = [r for r in live if r.contract.ends_on is not None]
    return Summary(
        active=len(live),
        monthly=[f"{money(total, code)}/mo" for code, total in sorted(totals.items())],
        next_renewal=min(renewing, key=lambda r: r.contract.ends_on or date.max, default=None),
    )


def contract_vendors() -> list[str]:
    """The vendors whose connector reads contracts (a PSA's agreements)."""
    return [key for key, cls in registry.CONNECTORS.items() if cls.reads_contracts]


def has_contracts_or_a_reader(customer_ids: list[int]) -> ColumnElement[bool]:
    """The tab shows for a customer with contracts, or one linked to a connection that reads them (its contracts
    will arrive there: the empty state says how)."""
    linked = (
        exists()
        .where(db.among(CustomerLink.customer_id, customer_ids))
        .where(CustomerLink.connection_id == Connection.id, Connection.vendor.in_(contract_vendors()))
    )
    return or_(exists().where(db.among(Contract.customer_id, customer_ids)), linked)
