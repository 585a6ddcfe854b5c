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

from sqlalchemy import and_, func, select, true
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, aliased

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


def _vendors() -> list[str]:
    return [key for key, cls in CONNECTORS.items() if supports(cls, WritesAsMembers)]


def psa_connections(session: Session) -> list[Connection]:
    """The connections whose vendor keeps members Vectis can write as (ConnectWise), by name."""
    return list(session.scalars(select(Connection).where(Connection.vendor.in_(_vendors())).order_by(Connection.name)))


@dataclass(frozen=True)
class Mapping:
    """A user at one PSA connection: ``member`` (None: none), and ``how`` it was decided (None: no match)."""

    connection: Connection
    member: PsaMember | None
    how: str | None
    chosen_by: str | None = None  # the admin who chose, for the page
    chosen_at: datetime | None = None


def mapping(session: Session, user: User, connection: Connection) -> Mapping:
    return _mappings(session, [user.id], connection.id)[user.id][0]


def mappings(session: Session, users: Sequence[User]) -> dict[int, list[Mapping]]:
    """Each user's mapping at each PSA whose members Vectis writes as (by the connection's name), by user id:
    one query however many users the page lists."""
    return _mappings(session, [u.id for u in users], None)


def _mappings(session: Session, user_ids: list[int], connection_id: int | None) -> dict[int, list[Mapping]]:
    """An admin's choice where there is one, else the first active member with the user's e-mail
    (case-insensitive), for every (user, connection) pair in one statement."""
    chosen, admin = aliased(PsaMember), aliased(User)
    by_email = aliased(
        PsaMember,
        select(PsaMember)
        .where(
            PsaMember.connection_id == Connection.id,
            func.lower(PsaMember.email) == func.lower(func.trim(User.email)),
            PsaMember.inactive.is_(False),
        )
        .order_by(PsaMember.id)
        .limit(1)
        .lateral(),
    )
    which = Connection.id == connection_id if connection_id is not None else Connection.vendor.in_(_vendors())
    rows = session.execute(
        select(
            User.id,
            Connection,
            PsaMemberChoice.id.is_not(None),  # outer joined: whether an admin chose
            PsaMemberChoice.chosen_at,
            chosen,
            admin.name,
            by_email,
        )
        .select_from(User)
        .join(Connection, which)
        .outerjoin(
            PsaMemberChoice,
            and_(PsaMemberChoice.user_id == User.id, PsaMemberChoice.connection_id == Connection.id),
        )
        .outerjoin(chosen, chosen.id == PsaMemberChoice.member_id)
        .outerjoin(admin, admin.id == PsaMemberChoice.chosen_by)
        .outerjoin(by_email, true())
        .where(User.id.in_(user_ids))
        .order_by(Connection.name, Connection.id)
    )
    found: dict[int, list[Mapping]] = {user_id: [] for user_id in user_ids}
    for user_id, connection, made, chosen_at, member, admin_name, matched in rows:
        if made:
            found[user_id].append(Mapping(connection, member, BY_ADMIN, admin_name, chosen_at))
        else:
            found[user_id].append(Mapping(connection, matched, BY_EMAIL if matched else None))
    return found


def members(session: Session, connection_id: int) -> Sequence[PsaMember]:
    """A connection's members for a choice: active ones first, by name."""
    return session.scalars(
        select(PsaMember)
        .where(PsaMember.connection_id == connection_id)
        .order_by(PsaMember.inactive, PsaMember.name, PsaMember.id)
    ).all()


def mine(session: Session, user: User) -> list[tuple[int, str]]:
    """(connection, member external id) for each PSA where the user is a member: what "My tickets" shows."""
    return [(m.connection.id, m.member.external_id) for m in mappings(session, [user])[user.id] if m.member]


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
