"""Which board a new ticket goes on when nobody says: the customer's usual one, else the busiest. The hub's
New ticket form, a rule's "create ticket" and an alert's "Open as ticket" all use this one default."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from vectis.models import Ticket, TicketBoard
from vectis.platform import db


def default_board(session: Session, customer_id: int) -> int | None:
    """The board this customer's tickets usually go on, else the busiest: the same default as the hub's form."""
    return usual_boards(session, [customer_id])[customer_id]


def usual_boards(session: Session, customer_ids: Iterable[int]) -> dict[int, int | None]:
    """Each customer's most used board, in one query; customers without tickets get the busiest board."""
    wanted = sorted(set(customer_ids))
    count = func.count()
    found: dict[int, int | None] = {
        customer_id: board_id
        for customer_id, board_id in session.execute(
            select(Ticket.customer_id, Ticket.board_id)
            .where(Ticket.board_id.is_not(None), db.among(Ticket.customer_id, wanted))
            .group_by(Ticket.customer_id, Ticket.board_id)
            .order_by(Ticket.customer_id, count.desc(), Ticket.board_id)
            .ext(distinct_on(Ticket.customer_id))
        )
        if customer_id is not None
    }
    missing = [c for c in wanted if c not in found]
    if missing:
        busiest = session.scalar(
            select(Ticket.board_id)
            .where(Ticket.board_id.is_not(None))
            .group_by(Ticket.board_id)
            .order_by(count.desc())
            .limit(1)
        ) or session.scalar(
            select(TicketBoard.id).where(TicketBoard.inactive.is_(False)).order_by(TicketBoard.name).limit(1)
        )
        found.update(dict.fromkeys(missing, busiest))
    return found
