"""Security headers on every answer. The policy allows scripts and style sheets from Vectis itself only (htmx and
``vectis.js`` are files; no inline handler, script or style element is left in a template), no framing, no
sniffing, and a signed-in page is never kept in a cache. ``tests/e2e`` fails on any violation a screen causes."""

from __future__ import annotations

from flask import Flask, request
from flask_login import current_user
from werkzeug.wrappers import Response

POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        # htmx settles a swapped element's style attribute; an attribute cannot load or run anything.
        "style-src-attr 'unsafe-inline'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)


def _secure(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if not request.path.startswith("/static/") and current_user and current_user.is_authenticated:
        response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    app.after_request(_secure)
