"""Service level agreements on the simulated tickets: which SLA a ticket is under, when it was responded to, how
long its clock stood still, and what ConnectWise says of it (``sla``, ``isInSla``, ``slaStatus``, the stage dates
and minutes), worked out from the ticket whenever it is read.

ConnectWise's SLA moves a ticket through stages (respond, plan, resolve) as its status changes; each board status
names the stage it stands for (``escalationStatus``). A status that stands for "do not escalate" (here: Waiting on
Client) stops the clock. ``isInSla`` turns false once a stage is missed and stays false. The simulator keeps it
simple where ConnectWise's own rules are not published [U]: hours are wall-clock hours (ConnectWise counts the
SLA's business hours), the plan stage is met together with the response (as in ConnectWise's own sample ticket,
whose ``dateResplan`` equals its ``dateResponded``), and the deadline in ``slaStatus`` is written in the server's
zone (UTC-05, Eastern Standard Time) without a year, as ConnectWise writes it.

Seeded tickets get a response time and a waiting time from a generator of their own (the main generator's draws
are left as they were): about one in twelve was responded to late and about one in ten went past its resolution
target, so a customer's SLA shows breaches beside tickets in SLA. Projects and the MSP's own tickets have no SLA.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from vectis.simulators.base import Json
from vectis.simulators.connectwise.vendor import Ticket, iso, parse_iso

OWN_COMPANY = 2  # the MSP itself: its internal tickets are under no SLA
PROJECTS_BOARD = 2
NOT_RESPONDED, WAITING = "NotResponded", "NoEscalation"  # board statuses' escalationStatus
SERVER_ZONE = timezone(timedelta(hours=-5), "UTC-05")
# id -> (name, priority id -> (respond within hours, resolve within hours))
SLAS: dict[int, tuple[str, dict[int, tuple[float, float]]]] = {
    1: ("Standard SLA", {1: (1, 8), 2: (2, 24), 3: (4, 72), 4: (8, 120)}),
    2: ("Premium SLA", {1: (0.5, 4), 2: (1, 8), 3: (2, 24), 4: (4, 72)}),
}
LATE_RESPONSE, LATE_RESOLUTION = 0.08, 0.10


def _moment(text: str | None) -> datetime | None:
    """A stored time, or None for one this SLA cannot be worked out from (a fault knob plants year 1)."""
    try:
        return parse_iso(text) if text else None
    except OverflowError:
        return None


def sla_for(company_id: int, board_id: int) -> int | None:
    """The SLA a new ticket is under: none for the MSP's own tickets and for projects; Premium for every fifth
    company (by id), Standard for the rest."""
    if company_id == OWN_COMPANY or board_id == PROJECTS_BOARD:
        return None
    return 2 if company_id % 5 == 0 else 1


def _targets(ticket: Ticket) -> tuple[timedelta, timedelta] | None:
    sla = SLAS.get(ticket.sla_id) if ticket.sla_id is not None else None
    if sla is None:
        return None
    respond, resolve = sla[1].get(ticket.priority_id, sla[1][3])
    return timedelta(hours=respond), timedelta(hours=resolve)


def _judged_at(ticket: Ticket, status: Json, now: datetime) -> datetime:
    """The moment the clock stands at: when it was resolved; when it last changed, for a ticket waiting on the
    client (the clock stopped then); else now."""
    if ticket.closed and ticket.closed_date:
        return _moment(ticket.closed_date) or now
    if status.get("escalationStatus") == WAITING:
        return _moment(ticket.last_updated) or now
    return now


def seed_sla(ticket: Ticket, status: Json, now: datetime, seed: int) -> None:
    """A seeded ticket's SLA, its response (unless its status says it has had none) and the time its clock stood
    still, drawn so that most tickets met their SLA and some did not."""
    ticket.sla_id = sla_for(ticket.company_id, ticket.board_id)
    targets = _targets(ticket)
    entered = _moment(ticket.date_entered)
    if targets is None or entered is None:
        return
    respond, resolve = targets
    rng = random.Random(f"connectwise-sla:{seed}:{ticket.id}")  # noqa: S311 - test data
    at = _judged_at(ticket, status, now)
    if ticket.closed or status.get("escalationStatus") != NOT_RESPONDED:
        late = rng.random() < LATE_RESPONSE
        took = respond * (rng.uniform(1.1, 2.5) if late else rng.uniform(0.05, 0.9))
        ticket.date_responded = iso(min(entered + took, at))
    late = rng.random() < LATE_RESOLUTION
    counted = resolve * (rng.uniform(1.05, 1.6) if late else rng.uniform(0.3, 0.95))
    ticket.waiting_minutes = max(0, int((at - entered - counted).total_seconds() // 60))


def _minutes(start: datetime, end: datetime) -> int:
    return max(0, int((end - start).total_seconds() // 60))


def _server_time(moment: datetime) -> str:
    return moment.astimezone(SERVER_ZONE).strftime("%a %m/%d %I:%M %p UTC-05")


def sla_view(ticket: Ticket, status: Json, now: datetime) -> Json:
    """ConnectWise's SLA fields of a ticket as read at ``now`` (nothing for a ticket under no SLA)."""
    targets = _targets(ticket)
    entered = _moment(ticket.date_entered)
    if targets is None or entered is None or ticket.sla_id is None:
        return {}
    respond, resolve = targets
    at = _judged_at(ticket, status, now)
    responded = _moment(ticket.date_responded)
    respond_by, resolve_by = entered + respond, entered + resolve + timedelta(minutes=ticket.waiting_minutes)
    in_sla = (responded or at) <= respond_by and at <= resolve_by
    if ticket.closed:
        words = "Resolved"
    elif status.get("escalationStatus") == WAITING:
        words = "Waiting"
    elif responded is None:
        words = f"Respond by {_server_time(respond_by)}"
    else:
        words = f"Resolve by {_server_time(resolve_by)}"
    return {
        "dateResponded": ticket.date_responded,
        "dateResplan": ticket.date_responded,
        "dateResolved": ticket.closed_date if ticket.closed else None,
        "respondMinutes": _minutes(entered, responded) if responded else 0,
        "resPlanMinutes": 0,
        "resolveMinutes": max(0, _minutes(entered, at) - ticket.waiting_minutes) if ticket.closed else 0,
        "isInSla": in_sla,
        "sla": {"id": ticket.sla_id, "name": SLAS[ticket.sla_id][0]},
        "slaStatus": words,
        "minutesWaiting": ticket.waiting_minutes,
    }


def responded_now(ticket: Ticket, status: Json, moment: str) -> None:
    """A ticket moved to a status past the response stage has been responded to, then and for good."""
    if ticket.date_responded is None and status.get("escalationStatus") != NOT_RESPONDED:
        ticket.date_responded = moment
