"""Personal access tokens: making one, recognising one, and what it lets its holder do.

A token reads ``vct_pat_`` + 43 base62 characters (256 random bits) + 6 base62 characters of checksum (the CRC-32
of the random part), like GitHub's: a secret scanner can tell a real token from a look-alike by its checksum, and
Vectis turns away a mistyped or made-up one before it touches the database. Only its SHA-256 is stored; the raw
value is shown once, to the person who made it.

**Scopes** are never wider than the owner's role, when the token is made and on every use: a technician demoted to
read-only keeps their tokens, which from then on read only.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from vectis.audit.actors import Actor
from vectis.models import ApiToken, Role, User

PREFIX: Final = "vct_pat_"
_ALPHABET: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BODY: Final = 43  # 62**43 > 2**256
_CHECK: Final = 6  # 62**6 > 2**32
_SHAPE: Final = re.compile(rf"{PREFIX}[0-9A-Za-z]{{{_BODY + _CHECK}}}")
SHOWN: Final = len(PREFIX) + 8  # the start a list or an audit row shows: "vct_pat_7Hq2xR9a"
DEFAULT_DAYS: Final = 90
# How often a token's "last used" moves: a busy integration calling every second writes it once a minute.
LAST_USED_EVERY: Final = timedelta(minutes=1)

SCOPES: Final[dict[str, str]] = {
    "read": "Read customers, tickets, alerts, backups, the timeline, contracts, rules and saved queries",
    "write:tickets": "Reply to, create and update tickets, and add notes",
    "write:alerts": "Acknowledge and resolve alerts",
    "write:rules": "Enable and pause rules (a live rule sends its actions)",
    "write:security": "Isolate and release endpoints, resolve detections",
    "write:licensing": "Change licence seats and create quotes",
    "admin": "Read the audit log and the webhook deliveries, and manage the workspace",
}
_WRITES: Final = tuple(s for s in SCOPES if s.startswith("write:"))
ROLE_SCOPES: Final[dict[str, tuple[str, ...]]] = {
    Role.ADMIN.value: tuple(SCOPES),
    Role.TECHNICIAN.value: ("read", *_WRITES),
    Role.READ_ONLY.value: ("read",),
}


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        digits.append(_ALPHABET[digit])
    return "".join(reversed(digits))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), _CHECK)


def generate() -> str:
    """A new raw token."""
    body = _base62(secrets.randbits(256), _BODY)
    return PREFIX + body + _checksum(body)


def well_formed(raw: str) -> bool:
    """The shape and the checksum are right: it may be a token (only the database can say whose)."""
    if not _SHAPE.fullmatch(raw):
        return False
    body, check = raw[len(PREFIX) : -_CHECK], raw[-_CHECK:]
    return hmac.compare_digest(_checksum(body), check)


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def shown(raw: str) -> str:
    return raw[:SHOWN]


def scopes_for(role: str | None) -> tuple[str, ...]:
    return ROLE_SCOPES.get(role or "", ())


@dataclass(frozen=True)
class Principal:
    """Who a valid token speaks for, and what it may do now."""

    token_id: int
    tenant_id: int
    user_id: int
    email: str
    role: str
    scopes: frozenset[str]
    prefix: str

    def allows(self, scope: str) -> bool:
        return scope in self.scopes


Refusal = Literal["malformed", "unknown", "other_tenant", "revoked", "expired", "inactive"]

REFUSALS: Final[dict[str, str]] = {
    "malformed": "That is not a Vectis token: check it was copied whole.",
    "unknown": "That token is not known here: it may have been deleted, or belong to another Vectis.",
    "other_tenant": "That token belongs to another workspace: use it at that workspace's own address.",
    "revoked": "That token was revoked. Make a new one under Account → Tokens.",
    "expired": "That token has expired. Make a new one under Account → Tokens.",
    "inactive": "The account this token belongs to is deactivated.",
}


@dataclass(frozen=True)
class Refused:
    reason: Refusal
    other_tenant_id: int | None = None  # for "other_tenant": whose token it is

    @property
    def message(self) -> str:
        return REFUSALS[self.reason]


def authenticate(session: Session, raw: str, now: datetime) -> Principal | Refused:
    """The principal ``raw`` speaks for at the session's tenant, or why not. Moves its "last used" (at most once a
    minute) in the session's transaction: the caller's commit writes it with the call's own audit row."""
    if not well_formed(raw):
        return Refused("malformed")
    hashed = digest(raw)
    found = session.connection().execute(_PRESENTED, {"hashed": hashed}).first()  # Core: see _PRESENTED
    if found is None:
        owner = session.scalar(select(func.api_token_tenant(hashed)))
        return Refused("other_tenant", int(owner)) if owner is not None else Refused("unknown")
    if found.revoked_at is not None:
        return Refused("revoked")
    if now >= found.expires_at:
        return Refused("expired")
    if found.user_id is None or not found.is_active:
        return Refused("inactive")
    if found.last_used_at is None or now - found.last_used_at >= LAST_USED_EVERY:
        session.execute(update(ApiToken).where(ApiToken.id == found.id).values(last_used_at=now))
    return Principal(
        token_id=found.id,
        tenant_id=found.tenant_id,
        user_id=found.user_id,
        email=found.email,
        role=found.role,
        scopes=frozenset(found.scopes) & frozenset(scopes_for(found.role)),
        prefix=found.prefix,
    )


# The token and its owner in one round trip, the columns the check reads and no entities, run as Core runs it (not
# through the ORM's execution): every API and MCP call asks this first, and loading two entities cost more than
# PostgreSQL spends on the query (bench/api.py).
_PRESENTED = (
    select(
        ApiToken.id, ApiToken.tenant_id, ApiToken.prefix, ApiToken.scopes, ApiToken.expires_at,
        ApiToken.last_used_at, ApiToken.revoked_at, User.id.label("user_id"), User.email, User.role, User.is_active,
    )
    .outerjoin(User, User.id == ApiToken.user_id)
    .where(ApiToken.token_hash == bindparam("hashed"))
)  # fmt: skip


@dataclass(frozen=True)
class Listed:
    token: ApiToken
    owner: str  # the owner's e-mail: an admin's list holds everyone's

    def state(self, now: datetime) -> str:
        if self.token.revoked_at is not None:
            return "revoked"
        return "expired" if now >= self.token.expires_at else "active"


def listing(session: Session, actor: Actor) -> list[Listed]:
    """The actor's own tokens; an admin's list holds every token of the workspace. Newest first."""
    statement = select(ApiToken, User.email).join(User, User.id == ApiToken.user_id)
    if actor.role != Role.ADMIN.value:
        statement = statement.where(ApiToken.user_id == actor.user_id)
    rows = session.execute(statement.order_by(ApiToken.created_at.desc(), ApiToken.id.desc()).limit(500)).all()
    return [Listed(token, email) for token, email in rows]
