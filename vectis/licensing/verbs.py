"""What a technician (or a rule) does about a licence subscription, at the distributor that holds it: change its seats,
schedule a reduction for its renewal, ask for a quote. Each goes through the distributor's ``ChangesLicences``
capability and ``vectis/actions`` (rate limit, dry run, audit with the exact request and answer), and what Vectis
stores afterwards is what the distributor answered, not what was asked.

A committed term (Annual, 2- or 3-year: Microsoft's NCE) only goes down at renewal: the seat change refuses such a
reduction before anything is sent, with the renewal date in words, and offers to schedule it; the distributor enforces
the same rule, and its refusal reads the same. A scheduled change is sent once, on its day, by the cron job
(``jobs/licensing.py``), through the seat change itself.

Setting seats replaces a value, so it is safe to send again. A quote is not: it carries a reference of Vectis's, the
distributor is asked for that reference before the quote is sent (the same form submitted again finds the first one),
and after an outcome nobody can know it is read back instead of being sent twice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update

from vectis.actions.base import ActionFailed, Applied, Context, Outcome, RateLimit, Sending, Target, Verb
from vectis.actions.registry import register
from vectis.actions.vendor import connection_rate, connector_for, vendor_refused, write_once
from vectis.connectors.capabilities import ChangesLicences, NewQuote, ReductionRefused
from vectis.devices.writer import links_of
from vectis.licensing import renewals
from vectis.licensing.queries import new_reference, reduction_refusal, reduction_window
from vectis.licensing.writer import write_subscriptions
from vectis.models import Connection, CustomerLink, Role
from vectis.models.licensing import MAX_SEATS, LicenseScheduledChange, LicenseSubscription
from vectis.platform import params
from vectis.platform.dates import calendar_day
from vectis.platform.http import ConnectorError

__all__ = ["MAX_SEATS", "AdjustSeats", "CancelScheduledSeats", "CreateQuote", "ScheduleSeats", "seats_of"]

WRITERS = frozenset({Role.ADMIN, Role.TECHNICIAN})


def _found(ctx: Context, target: Target, *, lock: bool = False) -> LicenseSubscription | None:
    key = params.integer(target.id)
    return ctx.session.get(LicenseSubscription, key, with_for_update=lock or None) if key is not None else None


def subscription_of(ctx: Context, target: Target, *, lock: bool = False) -> LicenseSubscription:
    found = _found(ctx, target, lock=lock)
    if found is None or found.removed_at is not None:
        raise ActionFailed("That subscription no longer exists. Reload the page.")
    return found


def connection_of(ctx: Context, subscription: LicenseSubscription) -> Connection:
    connection = ctx.session.get(Connection, subscription.connection_id)
    if connection is None:
        raise ActionFailed("The integration that reported this subscription has been removed.")
    return connection


def seats_of(payload: dict[str, Any]) -> int:
    # params.integer, not str.isdigit: "²" or "٣" pass isdigit, and 5,000 digits make int() raise.
    found = params.integer(payload.get("quantity"), low=1, high=MAX_SEATS)
    if found is None or isinstance(payload.get("quantity"), bool):
        raise ActionFailed(f"Give the number of seats as a whole number from 1 to {MAX_SEATS:,}.")
    return found


class SubscriptionVerb(Verb):
    target_type = "license_subscription"
    roles = WRITERS

    def rate_limit(self, ctx: Context, target: Target, payload: dict[str, Any]) -> RateLimit | None:
        subscription = _found(ctx, target)
        connection = ctx.session.get(Connection, subscription.connection_id) if subscription is not None else None
        return connection_rate(ctx, connection) if connection is not None else None


@register
class AdjustSeats(SubscriptionVerb):
    """Set a subscription's seats at its distributor, then store what the distributor answered."""

    name = "license.adjust_seats"
    label = "Adjust licence seats"

    def unchanged(self, ctx: Context, target: Target, payload: dict[str, Any]) -> str | None:
        subscription = _found(ctx, target)
        quantity = params.integer(str(payload.get("quantity") or ""))
        if subscription is None or quantity is None or quantity != subscription.quantity:
            return None
        return f"{subscription.product_name} already has {quantity} seats; nothing was sent."

    def precheck(self, ctx: Context, target: Target, payload: dict[str, Any]) -> None:
        # The NCE refusal needs only what Vectis stored: said now, not after waiting for the rate limit.
        self._checked(ctx, subscription_of(ctx, target), payload)

    def settle(self, ctx: Context, target: Target, payload: dict[str, Any], outcome: Outcome) -> None:
        # A scheduled change the rate limit deferred: the queued send's outcome is the change's.
        key = params.integer(str(payload.get("scheduled_change_id") or ""))
        change = ctx.session.get(LicenseScheduledChange, key) if key is not None else None
        if change is not None and change.state == "queued" and str(change.subscription_id) == target.id:
            renewals.settle(change, outcome)

    def _checked(
        self, ctx: Context, subscription: LicenseSubscription, payload: dict[str, Any]
    ) -> tuple[int, Connection]:
        quantity = seats_of(payload)
        connection = connection_of(ctx, subscription)
        today = datetime.now(UTC).date()
        refusal = reduction_refusal(subscription, quantity, today, reduction_window(connection.vendor))
        if refusal:
            raise ActionFailed(refusal)
        return quantity, connection

    def would_send(self, ctx: Context, target: Target, payload: dict[str, Any]) -> list[Sending] | None:
        subscription = subscription_of(ctx, target)
        quantity, connection = self._checked(ctx, subscription, payload)
        with connector_for(ctx, connection, ChangesLicences, doing="change licences in") as tool:
            return [Sending(tool.noun, tool.seats_request(subscription.external_id, quantity))]

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        subscription = subscription_of(ctx, target, lock=True)
        quantity, connection = self._checked(ctx, subscription, payload)  # refused here, before anything is sent
        was = subscription.quantity
        with connector_for(ctx, connection, ChangesLicences, doing="change licences in") as tool:
            request, noun = tool.seats_request(subscription.external_id, quantity), tool.noun

            def read_back() -> Any:
                found = tool.get_subscription(subscription.external_id)
                return found if found is not None and found.quantity == quantity else None

            try:
                answer = write_once(
                    lambda: tool.set_seats(subscription.external_id, quantity),
                    read_back,
                    vendor=noun,
                    what=f"{quantity} seats on {subscription.product_name}",
                )
            except ReductionRefused as exc:
                raise ActionFailed(exc.reason, vendor_status=422) from None
            except ConnectorError as exc:
                raise vendor_refused(noun, exc) from None
        if answer is not None:
            write_subscriptions(ctx.session, connection, noun, [answer], links_of(ctx.session, connection))
            ctx.session.refresh(subscription)
        now = subscription.quantity
        said = f"{subscription.product_name}: {was} → {now} seats in {noun}."
        if now != quantity:
            said = f"Sent to {noun}, which answered {now} seats for {subscription.product_name} (asked {quantity})."
        return Applied(
            said,
            response={
                "sent": request.shown(),
                "answer": {"quantity": now, "status": subscription.vendor_status,
                           "commitment_ends_on": str(subscription.commitment_ends_on or "") or None},
                "quantity_before": was,
            },
        )  # fmt: skip


@register
class ScheduleSeats(SubscriptionVerb):
    """A reduction a committed term cannot take now, kept for its renewal: the cron job sends it once, on the new
    term's first day (``renewals.send_day``), through ``license.adjust_seats``. A second schedule for the same
    subscription replaces the first."""

    name = "license.schedule_seats"
    label = "Schedule a seat change for renewal"
    reaches_vendor = False

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        subscription = subscription_of(ctx, target, lock=True)
        quantity = seats_of(payload)
        if subscription.commitment_ends_on is None:
            raise ActionFailed("This subscription has no commitment: change its seats now instead.")
        if quantity == subscription.quantity:
            raise ActionFailed(f"{subscription.product_name} already has {quantity} seats.")
        due = renewals.send_day(subscription.commitment_ends_on)
        replaced = ctx.session.execute(
            update(LicenseScheduledChange)
            .where(
                LicenseScheduledChange.subscription_id == subscription.id, LicenseScheduledChange.state == "pending"
            )
            .values(state="cancelled", result=f"Replaced by {ctx.actor.label}'s change to {quantity} seats.",
                    done_at=datetime.now(UTC))
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]  # fmt: skip
        change = LicenseScheduledChange(
            tenant_id=ctx.tenant_id,
            subscription_id=subscription.id,
            quantity=quantity,
            due_on=due,
            state="pending",
            requested_by=ctx.actor.label,
        )
        ctx.session.add(change)
        ctx.session.flush()
        instead = " It replaces the change scheduled before." if replaced else ""
        return Applied(
            f"Scheduled for renewal: {subscription.product_name} goes from {subscription.quantity} to {quantity} seats "
            f"on {calendar_day(due)}. Vectis sends it then.{instead}",
            response={"scheduled_change_id": change.id, "due_on": due.isoformat(), "quantity": quantity},
        )


@register
class CancelScheduledSeats(SubscriptionVerb):
    name = "license.cancel_scheduled"
    label = "Cancel a scheduled seat change"
    reaches_vendor = False

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        subscription = subscription_of(ctx, target)
        done = ctx.session.execute(
            update(LicenseScheduledChange)
            .where(LicenseScheduledChange.subscription_id == subscription.id, LicenseScheduledChange.state == "pending")
            .values(state="cancelled", result=f"Cancelled by {ctx.actor.label}.", done_at=datetime.now(UTC))
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        if not done:
            raise ActionFailed("No change is scheduled for this subscription.")
        return Applied(f"The scheduled change of {subscription.product_name} is cancelled.")


def _given_reference(payload: dict[str, Any]) -> bool:
    return bool(str(payload.get("reference") or "").strip())


@register
class CreateQuote(SubscriptionVerb):
    """A quote at the distributor for seats of a subscription's product, for its customer's company there."""

    name = "license.create_quote"
    label = "Create a licence quote"
    repeatable = False  # a second POST is a second quote: read back by reference instead

    def _quote(self, ctx: Context, subscription: LicenseSubscription, payload: dict[str, Any]) -> NewQuote:
        quantity = seats_of(payload)
        if not subscription.product_external_id:
            raise ActionFailed(
                "The distributor did not say which product this subscription is, so it cannot be quoted."
            )
        link = ctx.session.get(CustomerLink, subscription.customer_link_id) if subscription.customer_link_id else None
        company = link.external_id if link is not None else None
        if company is None:
            raise ActionFailed("This customer is not linked to a company at the distributor: link it first.")
        reference = str(payload.get("reference") or "").strip()[:60] or new_reference()
        notes = str(payload.get("notes") or "").strip()[:2000]
        return NewQuote(company, reference, ((subscription.product_external_id, quantity),), notes)

    def would_send(self, ctx: Context, target: Target, payload: dict[str, Any]) -> list[Sending] | None:
        subscription = subscription_of(ctx, target)
        quote = self._quote(ctx, subscription, payload)
        with connector_for(ctx, connection_of(ctx, subscription), ChangesLicences, doing="ask for quotes in") as tool:
            sending = [Sending(tool.noun, tool.quote_request(quote))]
            if _given_reference(payload):
                sending.insert(0, Sending(tool.noun, tool.quote_lookup_request(quote)))
            return sending

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        subscription = subscription_of(ctx, target)
        quote = self._quote(ctx, subscription, payload)
        with connector_for(ctx, connection_of(ctx, subscription), ChangesLicences, doing="ask for quotes in") as tool:
            request, noun = tool.quote_request(quote), tool.noun
            try:
                # A reference the caller gives may have been sent already (the form shown again after an unknown
                # outcome, a retried API call): the distributor is asked for it first, and it is never sent twice.
                found = tool.find_quote(quote) if _given_reference(payload) else None
                if found is not None:
                    return Applied(
                        f"Quote {quote.reference} already exists in {noun}; nothing was sent again.",
                        response={"quote_id": found, "reference": quote.reference, "already": True},
                    )
                quote_id = write_once(
                    lambda: tool.create_quote(quote), lambda: tool.find_quote(quote), vendor=noun, what="the quote"
                )
            except ConnectorError as exc:
                raise vendor_refused(noun, exc) from None
        (_, seats), = quote.lines  # fmt: skip
        return Applied(
            f"Quote created in {noun} for {seats} × {subscription.product_name} (reference {quote.reference}).",
            response={"sent": request.shown(), "quote_id": quote_id, "reference": quote.reference},
        )

    def confirm(self, ctx: Context, target: Target, payload: dict[str, Any], since: datetime) -> Applied | None:
        if not payload.get("reference"):
            return None
        subscription = subscription_of(ctx, target)
        quote = self._quote(ctx, subscription, payload)
        with connector_for(ctx, connection_of(ctx, subscription), ChangesLicences, doing="ask for quotes in") as tool:
            found = tool.find_quote(quote)
        if found is None:
            return None
        return Applied(f"Quote {quote.reference} is in the distributor's list.", response={"quote_id": found})
