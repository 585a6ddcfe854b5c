"""Verifying the audit chain (``flask vectis audit-verify``) and anchoring its newest links (the worker).

See ``vectis.audit.seal`` for why both exist. Verification recomputes every link with the very function the
insert trigger used, checks each entry's seal with the key, then holds the chain against its newest anchor.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, select, text
from sqlalchemy.orm import Session

from vectis.audit import seal
from vectis.models import Installation, Tenant
from vectis.platform.config import Settings
from vectis.platform.dates import when_in_full

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    reason: str


@dataclass(frozen=True)
class Verdict:
    checked: int
    problem: ChainBreak | None
    anchored: seal.Anchor | None  # the newest anchor the chain was held against


_WALK = text(
    """
    SELECT a.seq, a.prev_hash, a.row_hash, s.mac,
           sha256(a.prev_hash || convert_to(audit_log_canonical(a), 'UTF8')) AS expected,
           lag(a.row_hash) OVER (ORDER BY a.seq) AS previous_row_hash,
           lag(a.seq) OVER (ORDER BY a.seq) AS previous_seq
      FROM audit_log a
      LEFT JOIN audit_seal s ON s.tenant_id = a.tenant_id AND s.seq = a.seq
     WHERE a.tenant_id = :tenant_id
     ORDER BY a.seq
    """
)


def installation(session: Session, settings: Settings) -> str:
    id_key = session.scalar(select(Installation.id_key).where(Installation.id == 1))
    return seal.installation_tag(settings.audit_key, id_key or b"")


def _row_problem(row: Row[Any], key: bytes) -> str | None:
    """What is wrong with one entry in the walk, in the words audit-verify prints."""
    expected_seq = 1 if row.previous_seq is None else row.previous_seq + 1
    if row.seq != expected_seq:
        return f"entries {expected_seq}–{row.seq - 1} are missing"
    expected_prev = b"" if row.previous_seq is None else bytes(row.previous_row_hash)
    if bytes(row.prev_hash) != expected_prev:
        return "it does not link to the entry before it (an entry was removed or replaced)"
    if bytes(row.row_hash) != bytes(row.expected):
        return "its content was changed after it was written"
    if row.mac is None:
        return "its seal is missing (it was not written by Vectis)"
    if not hmac.compare_digest(bytes(row.mac), seal.seal_of(key, bytes(row.row_hash))):
        return "its seal does not match: it or an entry before it was rewritten and rehashed"
    return None


def _anchor_problem(anchor: seal.Anchor, last_seq: int, at_anchor: bytes | None) -> ChainBreak | None:
    when = when_in_full(anchor.at)
    if last_seq < anchor.seq:
        return ChainBreak(
            last_seq + 1,
            f"entries {last_seq + 1}–{anchor.seq} were removed: entry {anchor.seq} was anchored outside "
            f"the database at {when}",
        )
    if at_anchor != anchor.row_hash:
        return ChainBreak(anchor.seq, f"it differs from the copy anchored outside the database at {when}")
    return None


def _walk(session: Session, tenant_id: int, key: bytes, anchor: seal.Anchor | None) -> tuple[int, ChainBreak | None]:
    checked, last_seq, at_anchor = 0, 0, None
    for row in session.execute(_WALK, {"tenant_id": tenant_id}):
        checked += 1
        problem = _row_problem(row, key)
        if problem is not None:
            return checked, ChainBreak(row.seq, problem)
        last_seq = row.seq
        if anchor is not None and row.seq == anchor.seq:
            at_anchor = bytes(row.row_hash)
    return checked, None if anchor is None else _anchor_problem(anchor, last_seq, at_anchor)


def verify_chain(
    session: Session, tenant_id: int, settings: Settings, anchors: seal.AnchorFile | None = None
) -> Verdict:
    """Walks one tenant's chain; the verdict names the first broken link, if any."""
    if anchors is None:
        anchors = seal.read(settings.audit_anchor, settings.audit_key, installation(session, settings))
    anchor = anchors.newest.get(tenant_id)
    checked, problem = _walk(session, tenant_id, settings.audit_key, anchor)
    return Verdict(checked, problem, anchor)


_NEWEST = text(
    """
    SELECT a.seq, a.row_hash, s.mac
      FROM audit_log a JOIN audit_seal s ON s.tenant_id = a.tenant_id AND s.seq = a.seq
     WHERE a.tenant_id = :tenant_id
     ORDER BY a.seq DESC
     LIMIT 1
    """
)


def anchor_newest(session: Session, settings: Settings, already: dict[int, int] | None = None) -> list[seal.Anchor]:
    """Append each tenant's newest sealed link to the anchor file and the log; returns what was written.

    ``already`` maps tenant id -> the seq anchored last time, so an idle tenant adds no line."""
    already = already or {}
    now = datetime.now(UTC)
    written: list[seal.Anchor] = []
    for tenant_id in session.scalars(select(Tenant.id).order_by(Tenant.id)):
        row = session.execute(_NEWEST, {"tenant_id": tenant_id}).first()
        if row is None or already.get(tenant_id) == row.seq:
            continue
        if not hmac.compare_digest(bytes(row.mac), seal.seal_of(settings.audit_key, bytes(row.row_hash))):
            # Anchoring a tampered link would vouch for it; say so where an operator will look.
            log.error(
                "audit anchor: tenant %s entry %s has a seal that does not match; run audit-verify", tenant_id, row.seq
            )
            continue
        written.append(seal.Anchor(tenant_id, row.seq, bytes(row.row_hash), bytes(row.mac), now))
    tag = installation(session, settings)
    seal.append(settings.audit_anchor, tag, written)
    for a in written:
        log.info(
            "audit anchor: installation=%s tenant=%s seq=%s row_hash=%s", tag, a.tenant_id, a.seq, a.row_hash.hex()
        )
    return written
