"""Which portal surfaces are on. The workspace's switch and the customer's both have to be on; a site follows its
parent customer's row (a site's people are the parent's). No row at all: on, and no board chosen yet."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from vectis.models import Customer, PortalSettings, TicketBoard

SURFACES = ("tickets", "assets", "backups")
LABELS = {"tickets": "Tickets", "assets": "Assets", "backups": "Backups"}


@dataclass(frozen=True)
class Surfaces:
    tickets: bool = True
    assets: bool = True
    backups: bool = True

    def on(self, surface: str) -> bool:
        return bool(getattr(self, surface))


def workspace_row(session: Session) -> PortalSettings | None:
    return session.scalar(select(PortalSettings).where(PortalSettings.customer_id.is_(None)))


def customer_row(session: Session, customer_id: int) -> PortalSettings | None:
    return session.scalar(select(PortalSettings).where(PortalSettings.customer_id == customer_id))


def _switches(row: PortalSettings | None) -> Surfaces:
    return Surfaces() if row is None else Surfaces(row.tickets, row.assets, row.backups)


def workspace(session: Session) -> Surfaces:
    return _switches(workspace_row(session))


def requires_mfa(session: Session) -> bool:
    """Does the workspace require two-factor sign-in of every portal user (Admin → Portal → Sign-in)?"""
    return bool(session.scalar(select(PortalSettings.require_mfa).where(PortalSettings.customer_id.is_(None))))


def for_customer(session: Session, customer_id: int) -> Surfaces:
    """What a customer's portal users get: on only where both the workspace and the customer say on."""
    tenant, own = workspace(session), _switches(customer_row(session, customer_id))
    return Surfaces(*(tenant.on(s) and own.on(s) for s in SURFACES))


def board_for(session: Session, customer_id: int) -> TicketBoard | None:
    """The board a customer's new portal tickets land on: its own row's, else its parent's (a site's)."""
    row = customer_row(session, customer_id)
    if row is not None and row.board_id is not None:
        return session.get(TicketBoard, row.board_id)
    customer = session.get(Customer, customer_id)
    if customer is not None and customer.parent_id is not None:
        return board_for(session, customer.parent_id)
    return None
