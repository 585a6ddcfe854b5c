"""Server-side sessions in Redis that end after 8 hours without a request (a sliding window).

Flask-Session slides the window by writing the whole session back on every request: a Redis round trip that
was a tenth of a signed-in page's own cost (bench/hub.py, the per-request overhead). The window only needs to
move now and then, so an unchanged session is written back at most once a minute; one that changed is
written at once, as before.
"""

from __future__ import annotations

import time

from flask import Flask
from flask_session.base import ServerSideSession
from flask_session.redis import RedisSessionInterface

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
