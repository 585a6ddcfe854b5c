"""TOTP (RFC 6238: 30 s steps, 6 digits) and one-time recovery codes."""

from __future__ import annotations

import hashlib
import hmac
import io
import secrets
import time
from datetime import UTC, datetime

import pyotp
import segno
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from vectis.models import RecoveryCode, User
from vectis.platform.crypto import Sealed

ISSUER = "Vectis"
RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: codes get read aloud and typed


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str, workspace: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=f"{ISSUER} ({workspace})")


def qr_svg(uri: str) -> str:
    """The enrolment QR code as inline SVG, rendered server-side (no image request, no JS)."""
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(
        buffer, kind="svg", scale=5, border=2, xmldecl=False, svgns=True, title="Scan with your authenticator app"
    )
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


def verify_user_code(user: User, code: str) -> bool:
    """Check a code against the user's enrolled secret and remember its step, so it cannot be replayed."""
    if user.totp_secret is None:
        return False
    step = matching_step(user.totp_secret.open(user.tenant_id), code, after_step=user.totp_last_step)
    if step is None:
        return False
    user.totp_last_step = step
    return True


def enrol(user: User, secret: str, step: int) -> None:
    """Store the confirmed secret; the step that confirmed it is spent."""
    user.totp_secret = Sealed.seal(user.tenant_id, secret)
    user.totp_last_step = step
    user.mfa_enrolled_at = datetime.now(UTC)


def _hash_code(user_id: int, code: str) -> str:
    normalised = code.strip().lower().replace(" ", "").replace("-", "")
    return hashlib.sha256(f"{user_id}:{normalised}".encode()).hexdigest()


def replace_recovery_codes(session: Session, user: User) -> list[str]:
    """Void every earlier code and make ``RECOVERY_CODE_COUNT`` new ones (80 bits each). Only hashes are
    kept; the returned codes are the only copy."""
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(16))
        code = "-".join(raw[i : i + 4] for i in range(0, 16, 4))
        codes.append(code)
        session.add(RecoveryCode(tenant_id=user.tenant_id, user_id=user.id, code_hash=_hash_code(user.id, code)))
    return codes


def use_recovery_code(session: Session, user: User, code: str) -> bool:
    row = session.scalar(
        select(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _hash_code(user.id, code),
            RecoveryCode.used_at.is_(None),
        )
        .with_for_update()
    )
    if row is None:
        return False
    row.used_at = datetime.now(UTC)
    return True


def remaining_recovery_codes(session: Session, user: User) -> int:
    return len(
        session.scalars(
            select(RecoveryCode.id).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
        ).all()
    )


def reset(session: Session, user: User) -> None:
    user.totp_secret = None
    user.totp_last_step = None
    user.mfa_enrolled_at = None
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
