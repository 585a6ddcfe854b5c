"""The one typed way to read what a request sends: numbers, days and keyset cursors from query strings and forms.

``str.isdigit`` says yes to ``²`` and to a thousand digits, ``int`` then fails or PostgreSQL's bigint overflows, and
``date.fromisoformat("9999-12-31")`` is a day whose next day does not exist: each was a 500. These read the ASCII
digits a person types, within the range the column holds, and answer None for anything else, so a view answers
with its default or a 4xx. ``refuse_nul`` turns away a NUL byte anywhere in a query or form (PostgreSQL cannot store
one in text) with a 400 that says so, before any view runs.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from flask import Flask, abort, request

from vectis.platform.dates import EARLIEST, LATEST, within_range

MAX_BIGINT = 2**63 - 1
_DIGITS = re.compile(r"[0-9]{1,19}")
NUL_MESSAGE = "The request contains a character Vectis cannot store (a NUL byte). Remove it and try again."


def integer(value: object, *, low: int = 0, high: int = MAX_BIGINT) -> int | None:
    """ASCII digits within ``low``..``high``, else None."""
    text = str(value).strip() if value is not None else ""
    if not _DIGITS.fullmatch(text):
        return None
    number = int(text)
    return number if low <= number <= high else None


def day(value: object) -> date | None:
    """``YYYY-MM-DD`` of a day Vectis can store and page around, else None."""
    try:
        found = date.fromisoformat(str(value or "").strip())
    except ValueError:
        return None
    return found if EARLIEST.date() < found < LATEST.date() else None


def cursor(value: object) -> tuple[datetime, int] | None:
    """A keyset cursor ``<ISO time>_<id>`` as pages write them, else None (a garbage one starts from the top)."""
    moment, _, ident = str(value or "").rpartition("_")
    key = integer(ident, low=1)
    try:
        at = within_range(datetime.fromisoformat(moment)) if moment else None
    except ValueError:
        return None
    return (at, key) if at is not None and key is not None else None


def holds_nul(value: object) -> bool:
    """Parsed JSON with a NUL character anywhere in its strings (``"\\u0000"`` is valid JSON; PostgreSQL's text and
    JSONB cannot hold it, so it would fail at the first write: the audit row)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(holds_nul(k) or holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(holds_nul(v) for v in value)
    return False


def _refuse_nul() -> None:
    if "\x00" in request.query_string.decode("latin-1").replace("%00", "\x00"):
        abort(400, description=NUL_MESSAGE)
    if request.method in ("POST", "PUT", "PATCH") and request.mimetype in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        for values in request.form.listvalues():
            if any("\x00" in v for v in values):
                abort(400, description=NUL_MESSAGE)


def init_app(app: Flask) -> None:
    app.before_request(_refuse_nul)
