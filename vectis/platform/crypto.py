"""Encrypted secrets: vendor credentials and MFA seeds at rest.

A secret is stored as a :class:`Sealed` value in a :class:`SealedType` column. It is sealed with a Fernet
key derived (HKDF) from each master key in ``VECTIS_ENCRYPTION_KEYS`` *and the row's tenant id*, so a
ciphertext copied into another tenant's row does not open there. ``MultiFernet`` gives rotation: the first
master key seals, every listed key opens, and ``flask vectis rotate-keys`` re-seals everything with the first.

The plaintext never sits on the model: code asks ``row.secret.open(row.tenant_id)`` at the moment it needs
it, and ``repr(sealed)`` shows no ciphertext either, so a stray log line leaks nothing.
"""

from __future__ import annotations

import base64
import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import LargeBinary
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from vectis.platform.config import ConfigError


class SecretUnreadable(Exception):
    """A sealed value does not open: wrong tenant, or sealed with a key no longer configured."""


def generate_key() -> str:
    return Fernet.generate_key().decode()


class Keyring:
    """The configured master keys, newest first."""

    def __init__(self, master_keys: tuple[str, ...]) -> None:
        if not master_keys:
            raise ConfigError("VECTIS_ENCRYPTION_KEYS is empty: give at least one key (flask vectis generate-key)")
        decoded: list[bytes] = []
        for index, key in enumerate(master_keys, start=1):
            try:
                raw = base64.urlsafe_b64decode(key.encode())
            except ValueError:
                raw = b""
            if len(raw) != 32:
                raise ConfigError(
                    f"VECTIS_ENCRYPTION_KEYS: key {index} is not a Fernet key (flask vectis generate-key makes one)"
                )
            decoded.append(raw)
        self._masters = tuple(decoded)

    @lru_cache(maxsize=1024)  # noqa: B019 - one keyring per app; the cache dies with it
    def for_tenant(self, tenant_id: int) -> MultiFernet:
        return MultiFernet([Fernet(_derive(master, tenant_id)) for master in self._masters])


def _derive(master: bytes, tenant_id: int) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"vectis/secret/tenant/{tenant_id}".encode())
    return base64.urlsafe_b64encode(hkdf.derive(master))


_keyring: Keyring | None = None


def install_keyring(keyring: Keyring) -> None:
    """Called by ``create_app``; the keyring is process-wide like the key material it holds."""
    global _keyring  # noqa: PLW0603 - process-wide, like the key material itself
    _keyring = keyring


def keyring() -> Keyring:
    if _keyring is None:
        raise RuntimeError("no encryption keys loaded: create the app first")
    return _keyring


class Sealed:
    """An encrypted JSON value. Opaque until opened with the tenant id of the row that holds it."""

    __slots__ = ("token",)

    def __init__(self, token: bytes) -> None:
        self.token = token

    @classmethod
    def seal(cls, tenant_id: int, value: Any) -> Sealed:
        plaintext = json.dumps(value, separators=(",", ":")).encode()
        return cls(keyring().for_tenant(tenant_id).encrypt(plaintext))

    def open(self, tenant_id: int) -> Any:
        try:
            plaintext = keyring().for_tenant(tenant_id).decrypt(self.token)
        except InvalidToken:
            raise SecretUnreadable(
                "a stored secret could not be decrypted: it belongs to another workspace, "
                "or was encrypted with a key that is no longer in VECTIS_ENCRYPTION_KEYS"
            ) from None
        return json.loads(plaintext)

    def rotated(self, tenant_id: int) -> Sealed:
        """The same secret sealed with the newest key (raises SecretUnreadable like :meth:`open`)."""
        try:
            return Sealed(keyring().for_tenant(tenant_id).rotate(self.token))
        except InvalidToken:
            raise SecretUnreadable("a stored secret could not be decrypted for re-encryption") from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sealed) and other.token == self.token

    def __hash__(self) -> int:
        return hash(self.token)

    def __repr__(self) -> str:
        return "<Sealed secret>"


class SealedType(TypeDecorator[Sealed]):
    """The column type for every secret. Stores the Fernet token; hands back :class:`Sealed`."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: Sealed | None, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        if not isinstance(value, Sealed):
            raise TypeError("secret columns take Sealed values: use Sealed.seal(tenant_id, value)")
        return value.token

    def process_result_value(self, value: bytes | None, dialect: Dialect) -> Sealed | None:
        return None if value is None else Sealed(bytes(value))
