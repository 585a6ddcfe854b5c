"""Anchoring the audit chain outside the database, every five minutes (``vectis.audit.seal``)."""

from __future__ import annotations

from flask import current_app

from jobs.context import app_context
from vectis.audit.chain import anchor_newest, installation
from vectis.platform import db
from vectis.platform.queues import redis


def anchor() -> str:
    with app_context(), db.system_session() as s:
        settings = current_app.config["VECTIS_SETTINGS"]
        # tenant id -> the seq anchored last, so an idle tenant adds no line; losing it only repeats a line.
        key = f"vectis:audit:anchored:{installation(s, settings)}"
        store = redis()
        already = {int(k): int(v) for k, v in store.hgetall(key).items()}
        written = anchor_newest(s, settings, already)
        if written:
            store.hset(key, mapping={str(a.tenant_id): str(a.seq) for a in written})
        return f"anchored {len(written)} tenant(s)"
