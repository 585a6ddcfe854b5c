"""Who a Vectis user is at each PSA (a member), and how what they write there is authored.

A user is the member an admin chose for them, else the active member with their e-mail (case-insensitive):
worked out when it is needed, so a sync that brings new members or a changed e-mail never overrides an admin's
choice and never leaves a stale match behind. A write names that member where the vendor allows it
(``WritesAsMembers``); without a member, or where the vendor refused, the text is signed instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from vectis.connectors.capabilities import WritesAsMembers, supports
from vectis.connectors.registry import CONNECTORS
from vectis.models import Connection, PsaAuthorship, PsaMember, PsaMemberChoice, User

# A refusal is remembered this long: a role fixed in the PSA is tried again by the next day without anyone
# asking (an admin can ask sooner in Admin → Users).
REFUSAL_MEMORY = timedelta(hours=24)
BY_EMAIL, BY_ADMIN = "email", "admin"


def signature(name: str) -> str:
    return f"— {name} via Vectis"


def signed(text: str, name: str) -> str:
    return f"{text.rstrip()}\n\n{signature(name)}"


def psa_connections(session: Session) -> list[Connection]:
    """The connections whose vendor keeps members Vectis can write as (ConnectWise), by name."""
    vendors = [key for key, cls in CONNECTORS.items() if supports(cls, WritesAsMembers)]
    return list(session.scalars(select(Connection).where(Connection.vendor.in_(vendors)).order_by(Connection.name)))


@dataclass(frozen=True)
class Mapping:
    """A user at one PSA connection: ``member`` (None: none), and ``how`` it was decided (None: no match)."""

    connection: Connection
    member: PsaMember | None
    how: str | None
    chosen_by: str | None = None  # the admin who chose, for the page
    chosen_at: datetime | None = None


def _by_email(session: Session, connection_id: int, email: str) -> PsaMember | None:
    return session.scalar(
        select(PsaMember)
        .where(
            PsaMember.connection_id == connection_id,
            func.lower(PsaMember.email) == email.strip().lower(),
            PsaMember.inactive.is_(False),
        )
        .order_by(PsaMember.id)
        .limit(1)
    )


def mapping(session: Session, user: User, connection: Connection) -> Mapping:
    choice = session.scalar(
        select(PsaMemberChoice).where(
            PsaMemberChoice.user_id == user.id, PsaMemberChoice.connection_id == connection.id
        )
    )
    if choice is not None:
        member = session.get(PsaMember, choice.member_id) if choice.member_id else None
        admin = session.get(User, choice.chosen_by) if choice.chosen_by else None
        return Mapping(connection, member, BY_ADMIN, admin.name if admin else None, choice.chosen_at)
    member = _by_email(session, connection.id, user.email)
    return Mapping(connection, member, BY_EMAIL if member else None)


def mappings(session: Session, user: User) -> list[Mapping]:
    return [mapping(session, user, connection) for connection in psa_connections(session)]


def members(session: Session, connection_id: int) -> Sequence[PsaMember]:
    """A connection's members for a choice: active ones first, by name."""
    return session.scalars(
        select(PsaMember)
        .where(PsaMember.connection_id == connection_id)
        .order_by(PsaMember.inactive, PsaMember.name, PsaMember.id)
    ).all()


def mine(session: Session, user: User) -> list[tuple[int, str]]:
    """(connection, member external id) for each PSA where the user is a member: what "My tickets" shows."""
    return [(m.connection.id, m.member.external_id) for m in mappings(session, user) if m.member is not None]


# --- the vendor's answer on authorship ------------------------------------------------------------------


def refusal(session: Session, connection_id: int, now: datetime | None = None) -> PsaAuthorship | None:
    """The connection's refusal to take a member as author, while it is remembered."""
    row = session.scalar(select(PsaAuthorship).where(PsaAuthorship.connection_id == connection_id))
    moment = now or datetime.now(UTC)
    if row is None or row.refused_at is None or (row.retry_at is not None and row.retry_at <= moment):
        return None
    return row


def remember_refusal(session: Session, tenant_id: int, connection_id: int, reason: str) -> None:
    now = datetime.now(UTC)
    values = {"refused_at": now, "refused_reason": reason[:2000], "retry_at": now + REFUSAL_MEMORY}
    stmt = insert(PsaAuthorship).values(tenant_id=tenant_id, connection_id=connection_id, **values)
    session.execute(stmt.on_conflict_do_update(index_elements=["tenant_id", "connection_id"], set_=values))


def forget_refusal(session: Session, connection_id: int) -> bool:
    """Try members again on the next write; whether a refusal was remembered."""
    row = session.scalar(select(PsaAuthorship).where(PsaAuthorship.connection_id == connection_id))
    if row is None or row.refused_at is None:
        return False
    row.refused_at = row.refused_reason = row.retry_at = None
    return True


@dataclass(frozen=True)
class Authorship:
    """How a write to one PSA will be authored: as ``member`` (only ever set where the vendor takes one), else
    the text signed by ``name`` (None: a rule or the system writes, as the API member, unsigned). ``reason``:
    member, none, inactive, refused, unsupported or api; ``why`` in words, for the audit row."""

    member: PsaMember | None
    name: str | None
    reason: str
    why: str
    retry_at: datetime | None = None  # a refusal is remembered until then

    @property
    def signature(self) -> str | None:
        return signature(self.name) if self.name else None

    def sign(self, text: str) -> str:
        """``text`` as it goes when no member writes it: signed by the person, or as it is for a rule."""
        return signed(text, self.name) if self.name else text


def authorship(
    session: Session, user: User | None, connection: Connection, noun: str, *, writer: str = ""
) -> Authorship:
    """How ``user`` writes to ``connection``; without a user (``writer``: the rule or the system asking) the API
    member writes, unsigned, as it did before members existed. The one place that asks whether the vendor takes
    a member as author at all."""
    if user is None:
        return Authorship(None, None, "api", f"as the API member ({writer or 'Vectis'})")
    name = user.name
    if not supports(CONNECTORS.get(connection.vendor, object), WritesAsMembers):
        return Authorship(None, name, "unsupported", f"signed as text: {noun} does not record who wrote a note")
    found = mapping(session, user, connection).member
    if found is None:
        return Authorship(None, name, "none", f"signed as text: {name} has no {noun} member in Vectis")
    if found.inactive:
        return Authorship(None, name, "inactive", f"signed as text: {found.name} is inactive in {noun}")
    refused = refusal(session, connection.id)
    if refused is not None:
        why = f"signed as text: {noun} refuses notes written as its members"
        return Authorship(None, name, "refused", why, refused.retry_at)
    return Authorship(found, name, "member", f"as {noun} member {found.name}")
