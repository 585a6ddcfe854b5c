"""The request id every layer may log: taken from ``X-Request-ID`` when it is safe, made otherwise, and sent back."""

from __future__ import annotations

import re
import uuid

from flask import Flask, g, request
from werkzeug.wrappers import Response

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def _assign_request_id() -> None:
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex


def _echo_request_id(response: Response) -> Response:
    if "request_id" in g:
        response.headers["X-Request-ID"] = g.request_id
    return response


def init_app(app: Flask) -> None:
    app.before_request(_assign_request_id)
    app.after_request(_echo_request_id)
