"""Per-request facts every layer may need: the request id (also sent back as ``X-Request-ID``) and what
the signed-in user may do, for templates that hide what a role cannot use."""

from __future__ import annotations

import re
import uuid
from typing import Any

from flask import Flask, g, request
from flask_login import current_user
from werkzeug.wrappers import Response

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def _assign_request_id() -> None:
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex


def _echo_request_id(response: Response) -> Response:
    if "request_id" in g:
        response.headers["X-Request-ID"] = g.request_id
    return response


def _template_helpers() -> dict[str, Any]:
    def can(verb_name: str) -> bool:
        from vectis.actions import VERBS
        from vectis.actions.base import Actor, Target

        if not current_user.is_authenticated:
            return False
        actor = Actor.for_user(current_user)
        return VERBS[verb_name].permitted(actor, Target("user", actor.id, actor.label))

    return {"can": can}


def init_app(app: Flask) -> None:
    app.before_request(_assign_request_id)
    app.after_request(_echo_request_id)
    app.context_processor(_template_helpers)
