"""What the hub's Licensing tab reads: a customer's licence subscriptions (and its sites'), each with its seats, unit
cost, monthly cost, term and renewal, its seats over the last weeks, a seat change scheduled for its renewal, and the
revenue the customer's PSA contracts bill for the same product beside it (the margin per SKU); and the preflight a
seat change shows before it is confirmed.

Revenue is matched by product: a contract line whose description or product id, normalised (letters and digits, lower
case), is the subscription's product name or SKU. A product billed on no active contract shows "—", not a zero."""

from __future__ import annotations

import calendar
import re
import secrets
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.orm import Session

from vectis.connectors import registry
from vectis.contracts.queries import money
from vectis.models import Contract, ContractLineItem
from vectis.models.licensing import (
    COMMITTED_TERMS,
    MAX_SEATS,
    LicenseScheduledChange,
    LicenseSubscription,
    LicenseUsage,
)
from vectis.platform import db
from vectis.platform.dates import calendar_day, days

CENT = Decimal("0.01")
REFERENCE_PREFIX = "vectis-"
USAGE_WEEKS = 8
NO_CURRENCY = "XXX"  # ISO 4217's "no currency": money() writes it as a suffix, which shown_money drops
REDUCTION_WINDOW_DAYS = 7  # Microsoft's NCE window after a committed term (re)starts, Vectis's own check
RUN_TIMEOUT = timedelta(minutes=10)  # the renewals job's timeout: a change "running" longer than this is stuck
TERM_MONTHS = {"annual": 12, "2-year": 24, "3-year": 36}
TERM_LABELS = {"monthly": "Monthly", "annual": "Annual", "2-year": "2-year", "3-year": "3-year",
               "one-time": "One-time", "trial": "Trial", "other": "Other"}  # fmt: skip


def new_reference() -> str:
    """A quote's reference: what finds it again at the distributor (``license.create_quote``)."""
    return REFERENCE_PREFIX + secrets.token_hex(6)


def normalised(text: str | None) -> str:
    return re.sub(r"[^a-z0-9]", "", (text or "").lower())


def months_before(end: date, months: int) -> date:
    """The day ``months`` before ``end`` (the 31st falls back to the month's last day): when a term began."""
    year, month = divmod(end.month - 1 - months, 12)
    year += end.year
    return date(year, month + 1, min(end.day, calendar.monthrange(year, month + 1)[1]))


@dataclass(frozen=True)
class Scheduled:
    id: int
    quantity: int
    due_on: date

    @property
    def words(self) -> str:
        return f"{self.quantity} seats from {calendar_day(self.due_on)}"


@dataclass(frozen=True)
class Attention:
    """The last scheduled change of a subscription when it did not simply happen: it failed, its outcome is
    unknown, it is stuck in a run that stopped, or it waits for the rate limit. ``urgent``: a person must look."""

    state: str  # failed | unknown | stuck | queued
    quantity: int
    on: date
    result: str | None
    vendor: str

    @property
    def urgent(self) -> bool:
        return self.state != "queued"

    @property
    def words(self) -> str:
        head, day = f"Scheduled change to {self.quantity} seats", calendar_day(self.on)
        if self.state == "failed":
            return f"{head} failed on {day}: {self.result or 'no reason was given.'}"
        if self.state == "unknown":
            return f"{head} was sent on {day} — outcome unknown, check {self.vendor} before changing seats again."
        if self.state == "stuck":
            return (f"{head} started on {day} and never finished: it may or may not have reached {self.vendor}. "
                    f"Check {self.vendor} before changing seats again.")  # fmt: skip
        return f"{head} is waiting for {self.vendor}'s rate limit (since {day}); Vectis sends it shortly."


def attention_of(change: LicenseScheduledChange, subscription: LicenseSubscription, now: datetime) -> Attention | None:
    """What the tab says about ``change``, the subscription's latest scheduled change; None when nothing is owed
    (pending is shown as scheduled, done or cancelled is over, and seats already at the change's are settled)."""
    state = change.state
    if state == "running" and change.claimed_at is not None and now - change.claimed_at > RUN_TIMEOUT:
        state = "stuck"
    if state not in ("failed", "unknown", "stuck", "queued") or subscription.quantity == change.quantity:
        return None
    when = change.done_at or change.claimed_at or change.created_at
    return Attention(state, change.quantity, when.date(), change.result, registry.label(subscription.vendor))


@dataclass(frozen=True)
class Row:
    id: int
    vendor: str  # "Pax8"
    product_name: str
    sku: str | None
    quantity: int
    unit_cost: Decimal | None
    currency: str | None
    billing_term: str
    vendor_term: str
    status: str
    vendor_status: str
    commitment_ends_on: date | None
    revenue: Decimal | None = None  # a month, from the PSA's contracts; None: no contract bills it
    scheduled: Scheduled | None = None
    usage: tuple[int, ...] = ()  # seats a week, oldest first
    attention: Attention | None = None  # the last scheduled change, when it did not simply happen

    @property
    def monthly_cost(self) -> Decimal | None:
        return None if self.unit_cost is None else (self.unit_cost * self.quantity).quantize(CENT)

    @property
    def margin(self) -> Decimal | None:
        cost = self.monthly_cost
        return None if self.revenue is None or cost is None else self.revenue - cost

    @property
    def margin_percent(self) -> int | None:
        margin = self.margin
        if margin is None or not self.revenue:
            return None
        return int((margin * 100 / self.revenue).to_integral_value())

    @property
    def committed(self) -> bool:
        return self.billing_term in COMMITTED_TERMS

    @property
    def term_label(self) -> str:
        label = TERM_LABELS.get(self.billing_term, self.vendor_term)
        return f"{label} (NCE)" if self.committed else label

    def renewal_words(self, today: date) -> str:
        if self.commitment_ends_on is None:
            return "Month to month" if self.billing_term == "monthly" else "—"
        return calendar_day(self.commitment_ends_on)

    def renewal_in(self, today: date) -> str:
        """``in 199 days``, ``today``, ``tomorrow``: how far off the renewal is ("" without one, or once passed)."""
        if self.commitment_ends_on is None or self.commitment_ends_on < today:
            return ""
        left = (self.commitment_ends_on - today).days
        return "today" if left == 0 else "tomorrow" if left == 1 else f"in {days(left)}"

    def shown(self, amount: Decimal | None) -> str:
        return shown_money(amount, self.currency)


def shown_money(amount: Decimal | None, currency: str | None) -> str:
    """``money`` in ``currency``; without one (the distributor named none), the amount with no symbol rather than
    a dollar sign Vectis would have invented."""
    if currency or amount is None:
        return money(amount, currency)
    return money(amount, NO_CURRENCY).removesuffix(f" {NO_CURRENCY}")


@dataclass(frozen=True)
class Totals:
    """What the tab's rows in one currency add up to a month (None: nothing of that kind to add)."""

    currency: str | None
    cost: Decimal | None
    revenue: Decimal | None
    margin: Decimal | None

    def shown(self, amount: Decimal | None) -> str:
        said = f"{shown_money(amount, self.currency)}/mo"
        return said if self.currency else f"{said} (currency not given)"


def totals_of(rows: list[Row]) -> list[Totals]:
    """One total per currency, never a sum across currencies: the currency of most rows first, the rows naming
    none last."""
    by_currency: dict[str | None, list[Row]] = defaultdict(list)
    for row in rows:
        by_currency[row.currency].append(row)
    found = []
    for currency in sorted(by_currency, key=lambda c: (c is None, -len(by_currency[c]), c or "")):
        mine = by_currency[currency]
        costs = [r.monthly_cost for r in mine if r.monthly_cost is not None]
        billed = [r for r in mine if r.revenue is not None]
        found.append(
            Totals(
                currency,
                sum(costs, Decimal(0)) if costs else None,
                sum((r.revenue or Decimal(0) for r in billed), Decimal(0)) if billed else None,
                sum((r.margin or Decimal(0) for r in billed), Decimal(0)) if billed else None,
            )
        )
    return found


@dataclass(frozen=True)
class Tab:
    rows: list[Row]
    today: date
    totals: list[Totals] = field(default_factory=list)  # one per currency

    @property
    def has_revenue(self) -> bool:
        return any(r.revenue is not None for r in self.rows)

    @property
    def needing_attention(self) -> int:
        return sum(1 for r in self.rows if r.attention is not None and r.attention.urgent)


def has_subscriptions(customer_ids: list[int]) -> ColumnElement[bool]:
    return exists().where(
        db.among(LicenseSubscription.customer_id, customer_ids), LicenseSubscription.removed_at.is_(None)
    )


def tab(session: Session, customer_ids: list[int], *, today: date | None = None) -> Tab:
    """Every subscription of the customer and its sites, by product, with revenue and margin beside each."""
    today = today or datetime.now(UTC).date()
    subscriptions = session.scalars(
        select(LicenseSubscription)
        .where(db.among(LicenseSubscription.customer_id, customer_ids), LicenseSubscription.removed_at.is_(None))
        .order_by(LicenseSubscription.product_name, LicenseSubscription.id)
    ).all()
    ids = [s.id for s in subscriptions]
    scheduled = {
        c.subscription_id: Scheduled(c.id, c.quantity, c.due_on)
        for c in session.scalars(
            select(LicenseScheduledChange).where(
                db.among(LicenseScheduledChange.subscription_id, ids), LicenseScheduledChange.state == "pending"
            )
        )
    }
    attention = _attention(session, subscriptions)
    usage: dict[int, list[int]] = defaultdict(list)
    since = today - timedelta(weeks=USAGE_WEEKS)
    for subscription_id, quantity in session.execute(
        select(LicenseUsage.subscription_id, LicenseUsage.quantity)
        .where(db.among(LicenseUsage.subscription_id, ids), LicenseUsage.week >= since)
        .order_by(LicenseUsage.subscription_id, LicenseUsage.week)
    ):
        usage[subscription_id].append(quantity)
    revenue = _revenue(session, customer_ids, today)
    seats_by_key: dict[str, int] = defaultdict(int)
    for s in subscriptions:
        seats_by_key[_key_of(s, revenue)] += s.quantity
    rows = []
    for s in subscriptions:
        key = _key_of(s, revenue)
        billed = revenue.get(key)
        # Two subscriptions of one product share what the contract bills for it, by their seats.
        share = None if billed is None else (billed * s.quantity / max(seats_by_key[key], 1)).quantize(CENT)
        rows.append(
            Row(
                id=s.id, vendor=registry.label(s.vendor), product_name=s.product_name, sku=s.sku, quantity=s.quantity,
                unit_cost=s.unit_cost, currency=s.currency, billing_term=s.billing_term, vendor_term=s.vendor_term,
                status=s.status, vendor_status=s.vendor_status, commitment_ends_on=s.commitment_ends_on,
                revenue=share, scheduled=scheduled.get(s.id), usage=tuple(usage.get(s.id, ())),
                attention=attention.get(s.id),
            )
        )  # fmt: skip
    return Tab(rows, today, totals_of(rows))


def _attention(session: Session, subscriptions: Sequence[LicenseSubscription]) -> dict[int, Attention]:
    """Each subscription's latest scheduled change (a cancelled one aside), when the tab owes words about it."""
    by_id = {s.id: s for s in subscriptions}
    latest: dict[int, LicenseScheduledChange] = {}
    for change in session.scalars(
        select(LicenseScheduledChange)
        .where(
            db.among(LicenseScheduledChange.subscription_id, list(by_id)), LicenseScheduledChange.state != "cancelled"
        )
        .order_by(LicenseScheduledChange.id.desc())
    ):
        latest.setdefault(change.subscription_id, change)
    now = datetime.now(UTC)
    found = {k: attention_of(c, by_id[k], now) for k, c in latest.items()}
    return {k: v for k, v in found.items() if v is not None}


def needing_attention(session: Session, customer_ids: Iterable[int]) -> Counter[int]:
    """How many subscriptions of each customer have a scheduled change a person must look at (failed, outcome
    unknown, stuck): the hub's header badge, counted as the Licensing tab counts them."""
    latest = (
        select(func.max(LicenseScheduledChange.id).label("id"))
        .where(LicenseScheduledChange.state != "cancelled")
        .group_by(LicenseScheduledChange.subscription_id)
        .scalar_subquery()
    )
    rows = session.execute(
        select(LicenseScheduledChange, LicenseSubscription)
        .join(LicenseSubscription, LicenseSubscription.id == LicenseScheduledChange.subscription_id)
        .where(
            db.among(LicenseSubscription.customer_id, list(customer_ids)),
            LicenseSubscription.removed_at.is_(None),
            LicenseScheduledChange.state.in_(("failed", "unknown", "running")),
            LicenseScheduledChange.id.in_(latest),
        )
    ).all()
    now = datetime.now(UTC)
    found: Counter[int] = Counter()
    for change, subscription in rows:
        said = attention_of(change, subscription, now)
        if said is not None and said.urgent and subscription.customer_id is not None:
            found[subscription.customer_id] += 1
    return found


def _key_of(subscription: LicenseSubscription, revenue: dict[str, Decimal]) -> str:
    for key in (normalised(subscription.product_name), normalised(subscription.sku)):
        if key and key in revenue:
            return key
    return normalised(subscription.product_name)


def _revenue(session: Session, customer_ids: list[int], today: date) -> dict[str, Decimal]:
    """What the customer's active PSA contracts bill a month for each product, by normalised description and
    product id: a line's amount per cycle brought to a month as its contract's value is."""
    found: dict[str, Decimal] = defaultdict(Decimal)
    rows = session.execute(
        select(
            ContractLineItem.description, ContractLineItem.product, ContractLineItem.amount,
            ContractLineItem.quantity, ContractLineItem.unit_price, ContractLineItem.cancelled_on,
            Contract.bill_amount, Contract.monthly_value, Contract.billing_cycle,
        )
        .join(Contract, Contract.id == ContractLineItem.contract_id)
        .where(
            db.among(Contract.customer_id, customer_ids), Contract.status == "active",
            ContractLineItem.recurring.is_(True), ContractLineItem.billable.is_(True),
        )
    )  # fmt: skip
    for description, product, amount, quantity, unit_price, cancelled_on, bill, monthly, cycle in rows:
        if cancelled_on is not None and cancelled_on <= today:
            continue
        per_cycle = amount if amount is not None else (unit_price * quantity if unit_price is not None else None)
        if bill:
            factor: Decimal | None = (monthly or Decimal(0)) / bill if monthly is not None else None
        else:
            factor = Decimal(1) if "month" in (cycle or "").lower() else None
        if per_cycle is None or factor is None:
            continue
        value = (per_cycle * factor).quantize(CENT)
        for key in {normalised(description), normalised(product)} - {""}:
            found[key] += value
    return dict(found)


@dataclass(frozen=True)
class Preflight:
    """What a seat change would do, shown before it is confirmed: the term, the commitment's end, the unit cost and
    the monthly delta; ``refusal`` when a committed term cannot go down now (then it can be scheduled for renewal)."""

    row: Row
    quantity: int
    refusal: str | None
    renews_on: date | None

    @property
    def delta(self) -> int:
        return self.quantity - self.row.quantity

    @property
    def monthly_delta(self) -> Decimal | None:
        return None if self.row.unit_cost is None else (self.row.unit_cost * self.delta).quantize(CENT)

    @property
    def delta_words(self) -> str:
        amount = self.monthly_delta
        if amount is None:
            return "—"
        sign = "+" if amount > 0 else "−" if amount < 0 else ""
        return f"{sign}{shown_money(abs(amount), self.row.currency)}/mo"


def reduction_refusal(
    subscription: LicenseSubscription, quantity: int, today: date, window: int | None = REDUCTION_WINDOW_DAYS
) -> str | None:
    """Words saying why a reduction of a committed term cannot be made now, with the renewal date; None when it can
    (an increase, a term with no commitment, within ``window`` days of the term's start, or at its end)."""
    months = TERM_MONTHS.get(subscription.billing_term)
    end = subscription.commitment_ends_on
    if quantity >= subscription.quantity or months is None or end is None or today >= end:
        return None
    if window is not None and (today - months_before(end, months)).days <= window:
        return None
    return (
        f"Seats on this {TERM_LABELS[subscription.billing_term].lower()} (NCE) subscription can only go down at "
        f"renewal, on {calendar_day(end)}. Schedule the change for renewal instead."
    )


def row_of(session: Session, subscription: LicenseSubscription) -> Row:
    pending = session.scalar(
        select(LicenseScheduledChange).where(
            LicenseScheduledChange.subscription_id == subscription.id, LicenseScheduledChange.state == "pending"
        )
    )
    found = tab(session, [subscription.customer_id]) if subscription.customer_id else None
    for row in found.rows if found else []:
        if row.id == subscription.id:
            return row
    return Row(
        id=subscription.id, vendor=registry.label(subscription.vendor), product_name=subscription.product_name,
        sku=subscription.sku, quantity=subscription.quantity, unit_cost=subscription.unit_cost,
        currency=subscription.currency, billing_term=subscription.billing_term, vendor_term=subscription.vendor_term,
        status=subscription.status, vendor_status=subscription.vendor_status,
        commitment_ends_on=subscription.commitment_ends_on,
        scheduled=Scheduled(pending.id, pending.quantity, pending.due_on) if pending else None,
    )  # fmt: skip


def reduction_window(vendor: str) -> int | None:
    """How many days after a committed term starts the distributor still takes a reduction (its connector says)."""
    try:
        window: int | None = getattr(registry.get(vendor), "reduction_window_days", REDUCTION_WINDOW_DAYS)
    except LookupError:
        return REDUCTION_WINDOW_DAYS
    return window


def preflight(
    session: Session, subscription: LicenseSubscription, quantity: int, *, today: date | None = None
) -> Preflight:
    today = today or datetime.now(UTC).date()
    refusal = reduction_refusal(subscription, quantity, today, reduction_window(subscription.vendor))
    return Preflight(
        row_of(session, subscription), quantity, refusal, subscription.commitment_ends_on if refusal else None
    )


@dataclass(frozen=True)
class Opened:
    """A subscription's panel open on the tab as a page (no scripts): the preflight of a seat change, or the quote
    form; what the htmx answers render beneath the row."""

    subscription_id: int
    panel: str  # preflight | quote
    preflight: Preflight | None = None
    reference: str = ""  # the quote form's


def opened(
    session: Session, shown: Tab, panel: str | None, subscription_id: int | None, quantity: int | None
) -> Opened | None:
    """The panel the tab's URL asks to open, for a subscription it shows; None for anything else."""
    if subscription_id is None or panel not in ("preflight", "quote"):
        return None
    if subscription_id not in {r.id for r in shown.rows}:
        return None
    if panel == "quote":
        return Opened(subscription_id, panel, reference=new_reference())
    subscription = session.get(LicenseSubscription, subscription_id)
    if subscription is None or quantity is None or not 1 <= quantity <= MAX_SEATS:
        return None  # the form's bounds: a URL's quintillion seats opens nothing
    return Opened(subscription_id, panel, preflight(session, subscription, quantity, today=shown.today))
