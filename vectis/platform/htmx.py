"""The one partial-or-page decision, and the HX-* response headers (CONVENTIONS #9).

htmx-flask gives us ``request.htmx``; its ``make_response`` rejects some valid swaps, so headers are set
here instead.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response, make_response, render_template
from htmx_flask import request


def wants_partial() -> bool:
    """A fragment only for htmx requests that are neither boosted nor a history restore: those two
    replace the whole page and must get the whole page."""
    htmx = request.htmx
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render(page: str, partial: str | None = None, /, *, status: int = 200, **context: Any) -> Response:
    """Render ``page``, or only ``partial`` (the file the page includes) for an htmx request."""
    template = partial if partial is not None and wants_partial() else page
    response = make_response(render_template(template, **context), status)
    response.vary.add("HX-Request")
    return response


def with_headers(
    response: Response,
    *,
    push_url: str | None = None,
    redirect: str | None = None,
    refresh: bool = False,
    retarget: str | None = None,
    reswap: str | None = None,
    trigger: str | dict[str, Any] | None = None,
) -> Response:
    if push_url is not None:
        response.headers["HX-Push-Url"] = push_url
    if redirect is not None:
        response.headers["HX-Redirect"] = redirect
    if refresh:
        response.headers["HX-Refresh"] = "true"
    if retarget is not None:
        response.headers["HX-Retarget"] = retarget
    if reswap is not None:
        response.headers["HX-Reswap"] = reswap
    if trigger is not None:
        response.headers["HX-Trigger"] = trigger if isinstance(trigger, str) else json.dumps(trigger)
    return response
