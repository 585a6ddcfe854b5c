"""Opaque public ids: what a URL (and later the REST API) says instead of a row's bigint key.

``cus_k3v9q2m7x1r0a`` is the customer with key 1042, enciphered: a 64-bit Feistel permutation keyed with this
installation's id key (made once by migration 0013 and kept in the ``installation`` table, so ids are permanent
for as long as the database is), with the kind in the key, so a ticket's id never opens a customer. Keys stay
bigints inside; nobody can count customers or guess a neighbour's id from a URL. Every string decodes to some
number, so a made-up id is simply not found (404), the same as another tenant's.

Routes say ``<pid(customer):customer_id>`` and receive the int; ``url_for(..., customer_id=customer.id)`` writes
the public form. Query strings and templates use :func:`encode` / :func:`decode` (the ``pid`` filter).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from typing import Any

from flask import Flask, current_app
from sqlalchemy import text
from werkzeug.routing import BaseConverter, Map, ValidationError

PREFIXES = {
    "alert": "alr",
    "connection": "con",
    "customer": "cus",
    "export": "exp",
    "link": "lnk",
    "mail": "eml",
    "note": "not",
    "portal_user": "ptu",
    "rule": "rul",
    "saved_query": "qry",
    "token": "tok",
    "ticket": "tkt",
    "user": "usr",
    "board": "brd",
    "backup_job": "bkj",
    "contract": "ctr",
    "detection": "det",
    "subscription": "lic",
    "device": "dev",
    "timeline_event": "evt",
    "webhook_delivery": "whd",
}
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford's base32, lowercase: no i, l, o, u
_ROUNDS = 4
_MASK32 = 0xFFFFFFFF
_LENGTH = 13  # 64 bits in base32


class Codec:
    def __init__(self, key: bytes) -> None:
        self._key = key
        # Keyed BLAKE2 per kind is the round function: a MAC like HMAC, several times cheaper, and a page
        # with 500 customers in a filter encodes 500 ids. Encodings repeat from page to page: cached.
        self._keyed = {kind: hashlib.blake2b(key=key, digest_size=4, person=kind.encode()) for kind in PREFIXES}
        self.encode = functools.lru_cache(maxsize=65_536)(self._encode)  # type: ignore[method-assign]

    def _round(self, kind: str, number: int, half: int) -> int:
        mac = self._keyed[kind].copy()
        mac.update(bytes((number,)) + half.to_bytes(4, "big"))
        return int.from_bytes(mac.digest(), "big")

    def _permute(self, kind: str, value: int, rounds: range) -> int:
        left, right = value >> 32, value & _MASK32
        for number in rounds:
            left, right = right, left ^ self._round(kind, number, right)
        return (left << 32) | right

    def encode(self, kind: str, key: int) -> str:
        return self._encode(kind, key)

    def _encode(self, kind: str, key: int) -> str:
        if not 0 < key < 2**63:
            raise ValueError(f"not a row key: {key}")
        value = self._permute(kind, key, range(_ROUNDS))
        digits = []
        for _ in range(_LENGTH):
            value, digit = divmod(value, 32)
            digits.append(_ALPHABET[digit])
        return f"{PREFIXES[kind]}_{''.join(reversed(digits))}"

    def secret(self, purpose: str, key: int) -> str:
        """An unguessable, stable token for one row and purpose (a connection's webhook URL)."""
        return hmac.new(self._key, f"secret:{purpose}:{key}".encode(), hashlib.sha256).hexdigest()[:32]

    def key(self, purpose: str, key: int) -> bytes:
        """A stable 256-bit key for one row and purpose (signing a connection's test deliveries): never shown."""
        return hmac.new(self._key, f"key:{purpose}:{key}".encode(), hashlib.sha256).digest()

    def decode(self, kind: str, public: str) -> int | None:
        prefix, _, body = public.partition("_")
        if prefix != PREFIXES[kind] or len(body) != _LENGTH or any(c not in _ALPHABET for c in body):
            return None
        value = 0
        for char in body:
            value = value * 32 + _ALPHABET.index(char)
        if value >= 2**64:
            return None
        # The inverse runs the rounds backwards with the halves swapped.
        left, right = value >> 32, value & _MASK32
        for number in reversed(range(_ROUNDS)):
            left, right = right ^ self._round(kind, number, left), left
        key = (left << 32) | right
        return key if 0 < key < 2**63 else None


def codec() -> Codec:
    """This installation's codec, read once per process from the ``installation`` table."""
    found: Codec | None = current_app.extensions.get("vectis.public_ids")
    if found is None:
        # The owner's small pool, not the requests': reading the key never waits for a request's connection.
        engine = current_app.extensions["vectis.platform.db"].owner_engine
        with engine.connect() as connection:
            key = connection.execute(text("SELECT id_key FROM installation WHERE id = 1")).scalar_one()
        found = current_app.extensions["vectis.public_ids"] = Codec(bytes(key))
    return found


def encode(kind: str, key: int | None) -> str:
    return "" if key is None else codec().encode(kind, key)


def decode(kind: str, public: str | None) -> int | None:
    return codec().decode(kind, public) if public else None


def webhook_token(connection_id: int) -> str:
    return codec().secret("webhook", connection_id)


def is_webhook_token(connection_id: int, token: str) -> bool:
    return hmac.compare_digest(webhook_token(connection_id), token)


def webhook_test_key(connection_id: int) -> bytes:
    """What Vectis signs a connection's test deliveries with: derived, like the webhook token, from this
    installation's id key, so every web process has it and nothing new is stored; another installation's is other."""
    return codec().key("webhook-test", connection_id)


class PublicId(BaseConverter):
    """``<pid(customer):customer_id>``: the view gets the row key; a malformed id is a 404."""

    regex = r"[a-z]{3}_[0-9a-z]{13}"

    def __init__(self, url_map: Map, kind: str) -> None:
        super().__init__(url_map)
        if kind not in PREFIXES:
            raise ValueError(f"no public id kind {kind!r}")
        self.kind = kind

    def to_python(self, value: str) -> int:
        key = decode(self.kind, value)
        if key is None:
            raise ValidationError()
        return key

    def to_url(self, value: Any) -> str:
        return encode(self.kind, int(value))


def init_app(app: Flask) -> None:
    app.url_map.converters["pid"] = PublicId
    app.add_template_filter(lambda key, kind: encode(kind, key), "pid")
