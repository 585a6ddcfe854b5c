"""Server-side sessions in Redis that end after 8 hours without a request (a sliding window), for operators and
portal users alike, and how a person's change to their own sign-in ends their other sessions.

Flask-Session slides the window by writing the whole session back on every request: a Redis round trip that
was a tenth of a signed-in page's own cost (bench/hub.py, the per-request overhead). The window only needs to
move now and then, so an unchanged session is written back at most once a minute; one that changed is
written at once, as before.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, session
from flask_session.base import ServerSideSession
from flask_session.redis import RedisSessionInterface

from vectis.models import PortalUser, User

REFRESH_EVERY = 60  # seconds: the 8-hour window ends at most this much early
_SEEN = "_refreshed"


class SlidingSessions(RedisSessionInterface):  # type: ignore[misc]  # flask_session ships no types
    def should_set_storage(self, app: Flask, session: ServerSideSession) -> bool:
        now = int(time.time())
        if session.modified or now - int(session.get(_SEEN, 0)) >= REFRESH_EVERY:
            session[_SEEN] = now
            return True
        return False


def init_app(app: Flask, prefix: str) -> None:
    app.session_interface = SlidingSessions(
        app, client=app.extensions["vectis.redis"], key_prefix=prefix, permanent=True
    )


def retire_sessions(account: User | PortalUser) -> dict[str, Any]:
    """In the verb of a change to how a person signs in: every session of theirs ends, as its version is old now (the
    request that made the change keeps its own with ``end_other_sessions``). Returns what that change's audit row says
    about it."""
    account.session_version += 1
    return {"session_version": account.session_version, "signed_out_elsewhere": True}


def end_other_sessions(account: User | PortalUser) -> None:
    """After a person changed how they sign in to their own account (a password, their second factor or its recovery
    codes: the verb moved ``session_version`` on), every other session of theirs ends, as its version is old now; this
    one, which made the change and proved who it is doing so, carries on."""
    session["session_version"] = account.session_version
