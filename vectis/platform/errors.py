"""Error pages that say what happened in words, never a stack trace.

Every error answer carries ``X-Vectis-Error`` with the same one-line message, so an htmx request that
fails (htmx does not swap 4xx/5xx) can still show it: ``static/vectis.js`` puts it in the page banner.
"""

from __future__ import annotations

import json
import logging
import re

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError, MethodNotAllowed
from werkzeug.wrappers import Response

log = logging.getLogger(__name__)

MESSAGES: dict[int, tuple[str, str]] = {
    400: ("Bad request", "Vectis could not understand that request. Reload the page and try again."),
    401: ("Please sign in", "Your session has ended. Sign in again to continue."),
    403: ("Not allowed", "Your role does not allow this. Ask an admin of your workspace if you need it."),
    404: ("Not found", "There is nothing here. It may have been removed, or the link is wrong."),
    405: ("Not allowed", "That action is not available here."),
    413: ("Too large", "What you sent is too large."),
    429: ("Too many requests", "Slow down a little and try again in a minute."),
    500: (
        "Something went wrong",
        "Vectis hit an unexpected problem. Nothing was changed. Try again; if it keeps happening, tell your Vectis admin.",
    ),
}
CSRF_MESSAGE = "This form has expired. Please reload the page and try again."
UNKNOWN_WORKSPACE = "There is no Vectis workspace at this address. Check the link you were given."


API_PREFIX = "/api/"
# An HTTP header is Latin-1 on the wire: a message's typographic punctuation would stop the server from sending the
# answer at all (werkzeug and gunicorn refuse the header). The header gets plain equivalents; the page keeps them.
_PLAIN = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'", "…": "...", "—": "-", "–": "-", "→": "->", "·": "-"})


_CONTROLS = re.compile(r"[\x00-\x1f\x7f]+")


def header_text(message: str) -> str:
    """``message`` as a header value can carry it: typographic punctuation made plain, anything else outside
    Latin-1 replaced by "?", and line breaks and other control characters (a client's own text quoted back, which
    werkzeug refuses in a header) made one space."""
    return _CONTROLS.sub(" ", message.translate(_PLAIN)).encode("latin-1", "replace").decode("latin-1")


def problem_response(status: int, message: str, title: str | None = None, **extra: object) -> Response:
    """An API error as RFC 9457 problem details (``application/problem+json``)."""
    body = {"type": "about:blank", "title": title or MESSAGES.get(status, MESSAGES[500])[0], "status": status}
    body |= {"detail": message, **extra}
    response = Response(json.dumps(body), status=status, mimetype="application/problem+json")
    response.headers["X-Vectis-Error"] = header_text(message)
    return response


def error_response(status: int, message: str, title: str | None = None) -> Response:
    if request.path.startswith(API_PREFIX):
        return problem_response(status, message, title)
    title = title or MESSAGES.get(status, MESSAGES[500])[0]
    page = render_template("errors/error.html", status=status, title=title, message=message)
    response = Response(page, status=status, mimetype="text/html")
    response.headers["X-Vectis-Error"] = header_text(message)
    return response


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    if status == 404 and exc.description == "unknown_workspace":
        return error_response(404, UNKNOWN_WORKSPACE, "Unknown workspace")
    title, message = MESSAGES.get(status, (exc.name, exc.description or MESSAGES[500][1]))
    if exc.description and exc.description != type(exc).description:
        message = exc.description  # a view's own words (abort(400, description=...)) say more than the default
    response = error_response(status, message, title)
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


def _csrf_error(exc: CSRFError) -> Response:
    return error_response(400, CSRF_MESSAGE, "Form expired")


def _unexpected(exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        return _http_error(exc)
    log.exception("unhandled error")
    return error_response(500, MESSAGES[500][1])


def init_app(app: Flask) -> None:
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(InternalServerError, _unexpected)
    app.register_error_handler(Exception, _unexpected)
