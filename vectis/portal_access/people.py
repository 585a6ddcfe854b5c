"""A customer's portal users as the hub's Portal users tab shows them, with the invitation form's choices."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flask import g
from sqlalchemy import select
from sqlalchemy.orm import Session

from vectis.models import Customer, PortalRole, PortalUser, PortalUserSite
from vectis.portal_access.hosts import portal_url
from vectis.portal_access.scope import Site, sites_of


@dataclass(frozen=True)
class Invitation:
    """What the last invitation from this page came to: a link to show once, or why it was refused, and the form
    as it was sent (refused, it is shown again so nothing typed is lost)."""

    link: str | None = None
    error: str | None = None
    form: dict[str, str] = field(default_factory=dict)
    site_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Person:
    id: int
    name: str
    email: str
    role: PortalRole
    sites: tuple[str, ...]  # empty: every site
    state: str  # Invited | Active | Deactivated
    last_signed_in_at: datetime | None
    mfa: bool  # signs in with a second factor


@dataclass(frozen=True)
class PortalTab:
    people: list[Person]
    sites: list[Site]
    roles: list[PortalRole]
    portal_url: str
    invitation: Invitation


def _state(user: PortalUser) -> str:
    if not user.is_active:
        return "Deactivated"
    return "Active" if user.password_hash else "Invited"


def tab(session: Session, customer: Customer, invitation: Invitation | None) -> PortalTab:
    sites = sites_of(session, customer.id)
    names = {site.id: site.name for site in sites}
    users = session.scalars(
        select(PortalUser).where(PortalUser.customer_id == customer.id).order_by(PortalUser.name, PortalUser.id)
    ).all()
    limits: dict[int, list[str]] = {}
    for row in session.execute(
        select(PortalUserSite.portal_user_id, PortalUserSite.customer_id).where(
            PortalUserSite.portal_user_id.in_([u.id for u in users])
        )
    ):
        limits.setdefault(row.portal_user_id, []).append(names.get(row.customer_id, "a removed site"))
    people = [
        Person(
            u.id,
            u.name,
            u.email,
            u.role_enum,
            tuple(sorted(limits.get(u.id, []))),
            _state(u),
            u.last_signed_in_at,
            u.mfa_enrolled,
        )
        for u in users
    ]
    return PortalTab(people, sites, list(PortalRole), portal_url(g.tenant.slug, "/"), invitation or Invitation())
