"""Admin verbs of Admin -> Customer matching: what a vendor account is. Each one is a decision that
later syncs respect (``decided_at``), and each points the account's rows at its customer, or at none."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from vectis.actions.base import ActionFailed, Applied, Context, Target, Verb
from vectis.actions.registry import register
from vectis.ingest.matching import normalize_name, repoint
from vectis.models import Customer, CustomerLink, LinkStatus
from vectis.platform import params


def _link(ctx: Context, target: Target) -> CustomerLink:
    link = ctx.session.get(CustomerLink, int(target.id or 0), with_for_update=True)
    if link is None:
        raise ActionFailed("That vendor account no longer exists. Reload the page.")
    return link


def _decide(ctx: Context, link: CustomerLink, customer_id: int | None, status: LinkStatus) -> dict[str, Any]:
    before = {"customer_id": link.customer_id, "status": link.status}
    link.customer_id, link.status, link.decided_at = customer_id, status.value, datetime.now(UTC)
    ctx.session.flush()
    repoint(ctx.session, [link.id])
    return {"before": before, "after": {"customer_id": customer_id, "status": status.value}}


@register
class LinkAccount(Verb):
    name = "customer_link.link"
    label = "Link vendor account to customer"
    target_type = "customer_link"

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        link = _link(ctx, target)
        try:
            customer = ctx.session.get(Customer, params.integer(payload.get("customer_id")) or 0)
        except (TypeError, ValueError):
            customer = None
        if customer is None:
            raise ActionFailed("Choose the customer this account belongs to.")
        change = _decide(ctx, link, customer.id, LinkStatus.LINKED)
        return Applied(f"{link.external_name} is now linked to {customer.name}.", response=change)


@register
class CreateCustomerFromAccount(Verb):
    name = "customer_link.create_customer"
    label = "Create customer from vendor account"
    target_type = "customer_link"

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        link = _link(ctx, target)
        name = str(payload.get("name") or link.external_name).strip()[:300]
        if not name:
            raise ActionFailed("Enter the new customer's name.")
        customer = Customer(tenant_id=ctx.tenant_id, name=name, normalized_name=normalize_name(name)[:300])
        ctx.session.add(customer)
        ctx.session.flush()
        change = _decide(ctx, link, customer.id, LinkStatus.LINKED)
        return Applied(f"Created the customer {name} from {link.external_name}.", response=change)


@register
class KeepAccountSeparate(Verb):
    name = "customer_link.keep_separate"
    label = "Keep vendor account separate"
    target_type = "customer_link"

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        link = _link(ctx, target)
        change = _decide(ctx, link, None, LinkStatus.SEPARATE)
        return Applied(
            f"{link.external_name} is kept separate: its data shows on no customer, and syncs leave it so.",
            response=change,
        )


@register
class UnlinkAccount(Verb):
    name = "customer_link.unlink"
    label = "Unlink vendor account"
    target_type = "customer_link"

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        link = _link(ctx, target)
        change = _decide(ctx, link, None, LinkStatus.UNLINKED)
        return Applied(f"{link.external_name} is unlinked and waits to be matched again.", response=change)
