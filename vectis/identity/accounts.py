"""Operator accounts: password rules and invitations."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from vectis.models import Invite, User

INVITE_LIFETIME = timedelta(hours=72)
MIN_PASSWORD_LENGTH = 12


def password_problem(password: str, confirm: str | None = None, *, email: str = "") -> str | None:
    """Why a new password is not acceptable, in words; None when it is fine."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Use at least {MIN_PASSWORD_LENGTH} characters."
    if len(password.encode()) > 72:
        return "Use at most 72 bytes (bcrypt ignores the rest)."
    if email and password.strip().lower() == email.strip().lower():
        return "Do not use your email address as your password."
    if confirm is not None and password != confirm:
        return "The two passwords do not match."
    return None


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_invite(session: Session, user: User, invited_by: int | None) -> tuple[Invite, str]:
    """A one-time setup link token for ``user`` (returned once, stored only as a hash)."""
    token = secrets.token_urlsafe(32)
    invite = Invite(
        tenant_id=user.tenant_id,
        user_id=user.id,
        invited_by=invited_by,
        token_hash=_token_hash(token),
        expires_at=datetime.now(UTC) + INVITE_LIFETIME,
    )
    session.add(invite)
    return invite, token


@dataclass(frozen=True)
class InviteLookup:
    invite: Invite | None
    problem: str | None  # None when the invite can be used


def find_invite(session: Session, token: str) -> InviteLookup:
    invite = session.scalar(select(Invite).where(Invite.token_hash == _token_hash(token)).with_for_update())
    if invite is None:
        return InviteLookup(None, "This invite link is not valid. Check that you copied all of it.")
    if invite.used_at is not None:
        return InviteLookup(invite, "This invite link has already been used.")
    if invite.expires_at <= datetime.now(UTC):
        return InviteLookup(invite, "This invite link has expired.")
    return InviteLookup(invite, None)
