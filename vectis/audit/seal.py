"""What keeps the audit chain honest against whoever owns the database: seals and anchors.

The database links each entry to the one before it (sha256, trigger ``audit_log_chain``). That proves order
and content to anyone who trusts the database, but an owner can disable the triggers, edit a row and
recompute every later hash, or delete the newest rows. Two things catch that:

- **Seal.** Each entry gets ``HMAC-SHA256(VECTIS_AUDIT_KEY, row_hash)`` in ``audit_seal``, written by the app
  in the entry's own transaction. The key lives in the app's environment only; since ``row_hash`` covers
  every earlier entry, a rewritten entry leaves seals that no longer match from there on.
- **Anchor.** On a schedule the worker appends each tenant's newest link (seq, row_hash, seal) to a file
  outside the database (``VECTIS_AUDIT_ANCHOR``) and to its log. Deleting the newest entries, seals and all,
  leaves the chain shorter than its last anchor. A line's seal proves the line was written with the key.

Lines are tagged with the installation (a keyed digest of its id key), so a test run or a fresh demo
database sharing the file does not read another database's anchors.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

SEAL_CONTEXT = b"vectis.audit.seal.v1\x00"


def seal_of(key: bytes, row_hash: bytes) -> bytes:
    return hmac.new(key, SEAL_CONTEXT + row_hash, hashlib.sha256).digest()


def installation_tag(key: bytes, id_key: bytes) -> str:
    return hmac.new(key, b"vectis.audit.installation\x00" + id_key, hashlib.sha256).hexdigest()[:16]


@dataclass(frozen=True)
class Anchor:
    tenant_id: int
    seq: int
    row_hash: bytes
    mac: bytes
    at: datetime

    def line(self, installation: str) -> str:
        return json.dumps(
            {
                "installation": installation,
                "tenant_id": self.tenant_id,
                "seq": self.seq,
                "row_hash": self.row_hash.hex(),
                "seal": self.mac.hex(),
                "at": self.at.isoformat(),
            },
            separators=(",", ":"),
        )


def append(path: Path, installation: str, anchors: Iterable[Anchor]) -> None:
    """Append lines in one write (O_APPEND), then fsync: a crash leaves whole lines or none."""
    text = "".join(a.line(installation) + "\n" for a in anchors)
    if not text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class AnchorFile:
    newest: dict[int, Anchor]  # tenant id -> its newest authentic anchor for this installation
    forged: int  # lines for this installation whose seal was not made with the key
    other_installations: int  # lines written for another database


def read(path: Path, key: bytes, installation: str) -> AnchorFile:
    newest: dict[int, Anchor] = {}
    forged = other = 0
    if not path.exists():
        return AnchorFile(newest, 0, 0)
    with path.open(encoding="utf-8", errors="replace") as lines:
        for raw in lines:
            try:
                item = json.loads(raw)
                found = Anchor(
                    int(item["tenant_id"]),
                    int(item["seq"]),
                    bytes.fromhex(item["row_hash"]),
                    bytes.fromhex(item["seal"]),
                    datetime.fromisoformat(item["at"]),
                )
                tag = str(item["installation"])
            except (ValueError, KeyError, TypeError):
                forged += 1  # a torn or hand-made line is not evidence of anything
                continue
            if tag != installation:
                other += 1
            elif not hmac.compare_digest(found.mac, seal_of(key, found.row_hash)):
                forged += 1
            elif found.tenant_id not in newest or found.seq >= newest[found.tenant_id].seq:
                newest[found.tenant_id] = found
    return AnchorFile(newest, forged, other)
