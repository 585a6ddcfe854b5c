"""TOTP (RFC 6238: 30 s steps, 6 digits) and one-time recovery codes, for both kinds of account: operators
(``User``, codes in ``recovery_codes``) and customer portal users (``PortalUser``, codes in ``portal_recovery_codes``).
Both keep the secret sealed per tenant and the last step accepted, under the same column names."""

from __future__ import annotations

import hashlib
import hmac
import io
import secrets
import time
from datetime import UTC, datetime
from typing import Any

import pyotp
import segno
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from vectis.models import PortalRecoveryCode, PortalUser, RecoveryCode, User
from vectis.platform.crypto import Sealed

ISSUER = "Vectis"
Account = User | PortalUser
RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: codes get read aloud and typed


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str, workspace: str, *, issuer: str | None = None) -> str:
    """What the QR code says: the account's email under ``issuer`` (the name the authenticator app lists it by;
    an operator's "Vectis (workspace)", a portal user's the MSP's own)."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=issuer or f"{ISSUER} ({workspace})")


def qr_svg(uri: str) -> str:
    """The enrolment QR code as inline SVG, rendered server-side (no image request, no JS). With a viewBox and no
    fixed size, so the page's box scales it: a longer address (a portal's issuer and email) has more modules, and at a
    fixed size its right and bottom edges were cut off, which no app can scan."""
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(
        buffer, kind="svg", scale=5, border=2, xmldecl=False, svgns=True, omitsize=True,
        title="Scan with your authenticator app",
    )  # fmt: skip
    return buffer.getvalue().decode()


def matching_step(secret: str, code: str, *, after_step: int | None = None, now: float | None = None) -> int | None:
    """The time step ``code`` belongs to, if it is the previous, current or next one (clock drift),
    and later than ``after_step`` (a code works once). ``None`` otherwise."""
    code = "".join(ch for ch in code if ch.isdigit())
    if len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    current = int((time.time() if now is None else now) // totp.interval)
    for step in (current - 1, current, current + 1):
        if after_step is not None and step <= after_step:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def current_code(secret: str) -> str:
    return pyotp.TOTP(secret).now()


def verify_user_code(user: Account, code: str) -> bool:
    """Check a code against the user's enrolled secret and remember its step, so it cannot be replayed."""
    if user.totp_secret is None:
        return False
    step = matching_step(user.totp_secret.open(user.tenant_id), code, after_step=user.totp_last_step)
    if step is None:
        return False
    user.totp_last_step = step
    return True


def enrol(user: Account, secret: str, step: int) -> None:
    """Store the confirmed secret; the step that confirmed it is spent."""
    user.totp_secret = Sealed.seal(user.tenant_id, secret)
    user.totp_last_step = step
    user.mfa_enrolled_at = datetime.now(UTC)


def _hash_code(user_id: int, code: str) -> str:
    normalised = code.strip().lower().replace(" ", "").replace("-", "")
    return hashlib.sha256(f"{user_id}:{normalised}".encode()).hexdigest()


def _codes(user: Account) -> tuple[type[RecoveryCode] | type[PortalRecoveryCode], Any]:
    """The table ``user``'s recovery codes live in, and its column naming their owner."""
    if isinstance(user, PortalUser):
        return PortalRecoveryCode, PortalRecoveryCode.portal_user_id
    return RecoveryCode, RecoveryCode.user_id


def replace_recovery_codes(session: Session, user: Account) -> list[str]:
    """Void every earlier code and make ``RECOVERY_CODE_COUNT`` new ones (80 bits each). Only hashes are
    kept; the returned codes are the only copy."""
    table, owner = _codes(user)
    session.execute(delete(table).where(owner == user.id))
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(16))
        code = "-".join(raw[i : i + 4] for i in range(0, 16, 4))
        codes.append(code)
        row = table(tenant_id=user.tenant_id, code_hash=_hash_code(user.id, code))
        setattr(row, owner.key, user.id)
        session.add(row)
    return codes


def use_recovery_code(session: Session, user: Account, code: str) -> bool:
    """Spend one of ``user``'s unused codes; False when ``code`` is none of them. One statement: of two requests
    racing with the same code, one spends it."""
    table, owner = _codes(user)
    spent = session.scalar(
        update(table)
        .where(owner == user.id, table.code_hash == _hash_code(user.id, code), table.used_at.is_(None))
        .values(used_at=datetime.now(UTC))
        .returning(table.id)
    )
    return spent is not None


def remaining_recovery_codes(session: Session, user: Account) -> int:
    table, owner = _codes(user)
    return len(session.scalars(select(table.id).where(owner == user.id, table.used_at.is_(None))).all())


def reset(session: Session, user: Account) -> None:
    user.totp_secret = None
    user.totp_last_step = None
    user.mfa_enrolled_at = None
    table, owner = _codes(user)
    session.execute(delete(table).where(owner == user.id))
