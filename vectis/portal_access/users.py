"""Portal accounts: one-time setup and password reset links, and passwords. Only hashes are stored (a token's
SHA-256, a password's bcrypt); the token itself exists in the link (and the sealed mail carrying it) and nowhere
else."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vectis.identity.accounts import password_problem
from vectis.identity.passwords import hash_password
from vectis.models import PortalUser

SETUP_LIFETIME = timedelta(hours=72)
SETUP_INVALID = "This setup link is not valid. Check that you copied all of it, or ask for a new invitation."
SETUP_EXPIRED = "This setup link has expired. Ask whoever invited you to send a new one."
# Short: a reset link in a mailbox is a way into the account for whoever reads the mailbox next.
RESET_LIFETIME = timedelta(hours=1)
RESET_INVALID = (
    "This password reset link is not valid: it was used already, a newer one was sent, or part of it is missing. "
    "Ask for a new one."
)
RESET_EXPIRED = "This password reset link has expired (they work for an hour). Ask for a new one."


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_setup_token(user: PortalUser) -> str:
    """A fresh one-time link token for ``user``; any earlier link stops working."""
    token = secrets.token_urlsafe(32)
    user.setup_token_hash = token_hash(token)
    user.setup_expires_at = datetime.now(UTC) + SETUP_LIFETIME
    return token


def new_reset_token(user: PortalUser) -> str:
    """A fresh one-time password reset token for ``user``; an earlier reset link stops working."""
    token = secrets.token_urlsafe(32)
    user.reset_token_hash = token_hash(token)
    user.reset_expires_at = datetime.now(UTC) + RESET_LIFETIME
    return token


def by_email(session: Session, email: str) -> PortalUser | None:
    return session.scalar(select(PortalUser).where(PortalUser.email == email.strip().lower()))


def by_setup_token(session: Session, token: str) -> tuple[PortalUser | None, str | None]:
    """The user a setup link is for, or why it cannot be used."""
    user = session.scalar(select(PortalUser).where(PortalUser.setup_token_hash == token_hash(token)).with_for_update())
    if user is None or not user.is_active:
        return None, SETUP_INVALID
    if user.setup_expires_at is None or user.setup_expires_at <= datetime.now(UTC):
        return None, SETUP_EXPIRED
    return user, None


def by_reset_token(session: Session, token: str) -> tuple[PortalUser | None, str | None, bool]:
    """The user a password reset link is for, or why it cannot be used, and whether that is because it expired.
    Looked up under the workspace's row-level security: another workspace's link is simply not found."""
    user = session.scalar(select(PortalUser).where(PortalUser.reset_token_hash == token_hash(token)).with_for_update())
    if user is None or not user.is_active:
        return None, RESET_INVALID, False
    if user.reset_expires_at is None or user.reset_expires_at <= datetime.now(UTC):
        return None, RESET_EXPIRED, True
    return user, None, False


def set_password(user: PortalUser, password: str, confirm: str) -> str | None:
    """Set the password from a setup or reset link: every link is spent and every earlier session ends. Returns the
    problem with the password instead, in words, and changes nothing."""
    problem = password_problem(password, confirm, email=user.email)
    if problem is not None:
        return problem
    user.password_hash = hash_password(password)
    user.setup_token_hash = user.reset_token_hash = None
    user.setup_expires_at = user.reset_expires_at = None
    user.session_version = (user.session_version or 1) + 1
    return None


def count_for(session: Session, customer_id: int) -> int:
    return session.scalar(select(func.count()).where(PortalUser.customer_id == customer_id)) or 0
