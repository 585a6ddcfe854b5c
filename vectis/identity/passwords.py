"""Password hashing with bcrypt (cost 12); hashes only, never the password, leave this module."""

from __future__ import annotations

import bcrypt

COST = 12
# Verified against when the email is unknown, so a wrong email costs the same time as a wrong password.
_DUMMY_HASH = bcrypt.hashpw(b"vectis-timing-equaliser", bcrypt.gensalt(COST))


def _encode(password: str) -> bytes:
    return password.encode()[:72]  # bcrypt's own limit; bcrypt 5 raises instead of truncating


def hash_password(password: str) -> str:
    return bcrypt.hashpw(_encode(password), bcrypt.gensalt(COST)).decode()


def verify_password(password: str, password_hash: str | None) -> bool:
    candidate = _encode(password)
    if not password_hash:
        bcrypt.checkpw(candidate, _DUMMY_HASH)
        return False
    return bcrypt.checkpw(candidate, password_hash.encode())
