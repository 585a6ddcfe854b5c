"""What one portal user may see: their customer, and its sites, or only the sites they are limited to.

Everything a portal page reads is filtered by :attr:`Scope.customer_ids`; anything outside it is "not found" (404),
never "forbidden": a site-limited user must not learn that another site's ticket exists."""

from __future__ import annotations

from dataclasses import dataclass

from flask import abort
from sqlalchemy import select
from sqlalchemy.orm import Session

from vectis.audit.actors import Actor
from vectis.models import Customer, PortalRole, PortalUser, PortalUserSite


@dataclass(frozen=True)
class Site:
    id: int
    name: str


@dataclass(frozen=True)
class Scope:
    user_id: int
    customer_id: int
    customer_name: str
    role: PortalRole
    sites: tuple[Site, ...]  # the sites this user sees (all of the customer's unless limited)
    limited: bool  # limited to some sites: the parent customer's own records are not theirs either

    @property
    def customer_ids(self) -> list[int]:
        site_ids = [site.id for site in self.sites]
        return site_ids if self.limited else [self.customer_id, *site_ids]

    @property
    def is_rollup(self) -> bool:
        """A parent customer's view: more than one place to count tickets in."""
        return len(self.customer_ids) > 1

    def allows(self, customer_id: int | None) -> bool:
        return customer_id is not None and customer_id in self.customer_ids

    @property
    def can_act(self) -> bool:
        return self.role in (PortalRole.ADMIN, PortalRole.MEMBER)

    @property
    def can_invite(self) -> bool:
        return self.role is PortalRole.ADMIN

    def name_of(self, customer_id: int | None) -> str:
        for site in self.sites:
            if site.id == customer_id:
                return site.name
        return self.customer_name


def sites_of(session: Session, customer_id: int) -> list[Site]:
    rows = session.execute(
        select(Customer.id, Customer.name).where(Customer.parent_id == customer_id).order_by(Customer.name, Customer.id)
    ).all()
    return [Site(row.id, row.name) for row in rows]


def scope_of(session: Session, user: PortalUser) -> Scope:
    customer = session.get(Customer, user.customer_id)
    if customer is None:  # the customer was removed: its portal users go with it (CASCADE); fail closed regardless
        abort(404)
    every_site = sites_of(session, customer.id)
    chosen = set(session.scalars(select(PortalUserSite.customer_id).where(PortalUserSite.portal_user_id == user.id)))
    sites = tuple(site for site in every_site if site.id in chosen) if chosen else tuple(every_site)
    return Scope(user.id, customer.id, customer.name, user.role_enum, sites, limited=bool(chosen))


def portal_actor(user: PortalUser) -> Actor:
    """The audit log's name for a portal user: their own type, so an operator role is never read into it."""
    return Actor("portal_user", str(user.id), user.email, user.role)
