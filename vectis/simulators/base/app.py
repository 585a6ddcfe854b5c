"""The Flask side every simulator shares: the ``/_sim`` control routes, the app factory that wires a vendor's
own error envelope, a compact JSON response, and the helpers its request hooks use."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

import orjson
from flask import Blueprint, Flask, Response, current_app, request

from vectis.simulators.base.state import SimState

S = TypeVar("S", bound=SimState[Any])
ErrorHandler = Callable[[Any], Any]  # an exception -> its response (Flask's error handler)


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """Compact UTF-8 JSON, as VSPC and ConnectWise answer. orjson: a simulator stands for another company's
    servers, so the CPU it spends on a page of a thousand threats (2.7 MB) is not the sync's to pay for on a
    shared machine (json took 40 ms for it)."""
    try:
        text: str | bytes = orjson.dumps(body)
    except orjson.JSONEncodeError:
        # An integer past 64 bits, a key that is not text, a lone UTF-16 surrogate: what json still writes. In ASCII,
        # so the surrogate goes out as JSON's escape (``\ud800``), as a vendor's server sends one; UTF-8 has none.
        text = json.dumps(body, separators=(",", ":"))
    response = Response(
        text,
        status=status,
        content_type="application/json; charset=utf-8",
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def under(prefix: str) -> bool:
    """Whether this request's path is ``prefix`` or below it."""
    return request.path == prefix or request.path.startswith(prefix + "/")


def route_pattern(prefix: str = "", fallback: str | None = None) -> str:
    """The matched route with ``{name}`` for each variable (``/users/{guid}``), relative to ``prefix``;
    without a match, ``fallback`` (default: the path)."""
    rule = request.url_rule.rule.removeprefix(prefix) if request.url_rule is not None else fallback or request.path
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)


def cut_in_half(response: Response, *, as_text: bool = False) -> None:
    """The malformed-page knob: the body cut off mid-way, so it no longer parses; the status stays.
    ``as_text`` halves the characters rather than the bytes (VSPC's way)."""
    body: str | bytes = response.get_data(as_text=True) if as_text else response.get_data()
    response.set_data(body[: max(len(body) // 2, 1)])


def is_chosen_page(knob_path: str, chosen: int | None, path: str, arg: str, default: str) -> bool:
    """Whether this request, on ``path``, is the page a malformed-page knob names: ``knob_path`` (trailing
    slashes aside) and ``chosen`` compared with the query argument ``arg`` (``default`` when absent);
    ``chosen`` ``None`` names every page."""
    return path.rstrip("/") == knob_path.rstrip("/") and (
        chosen is None or request.args.get(arg, default) == str(chosen)
    )


def received_body() -> Any:
    """This request's body as a simulator keeps it: its JSON, or a form's fields with each file by its name and
    size; None without one. The file is read and rewound, so the handler still reads all of it."""
    if request.is_json:
        return request.get_json(silent=True)
    if not request.form and not request.files:
        return request.get_data(as_text=True) or None
    body: dict[str, Any] = dict(request.form.items())
    for key, upload in request.files.items():
        size = len(upload.stream.read())
        upload.stream.seek(0)
        body[key] = {"name": upload.filename, "bytes": size}
    return body


def add_fault_controls(controls: Blueprint, state: Callable[[], SimState[Any]]) -> None:
    """``GET/POST /_sim/faults`` (a JSON merge patch), ``POST /_sim/reset``, ``GET /_sim/stats`` and
    ``GET /_sim/received`` (the latest requests as they came in), the same for every simulator. ``state`` returns
    the simulator's state for the current request."""

    def reply(body: Any, status: int = 200) -> Response:
        return Response(json.dumps(body, separators=(",", ":")), status=status, content_type="application/json")

    @controls.get("/faults")
    def get_faults() -> Response:
        return reply(state().faults.to_json())

    @controls.post("/faults")
    def set_faults() -> Response:
        patch = request.get_json(silent=True)
        if not isinstance(patch, dict):
            return reply({"error": "send a JSON object: a merge patch (RFC 7386) of the fault knobs"}, 400)
        try:
            return reply(state().merge_faults(patch).to_json())
        except ValueError as error:
            return reply({"error": str(error)}, 400)

    @controls.post("/reset")
    def reset() -> Response:
        sim = state()
        sim.reset()
        return reply(sim.faults.to_json())

    @controls.get("/stats")
    def stats() -> Response:
        return reply(state().stats())

    @controls.get("/received")
    def received() -> Response:
        return reply(state().received())


class Simulator(Generic[S]):
    """One simulator's Flask wiring. ``name`` keys its state on the app and names its ``/_sim`` blueprint
    (``controls``: the shared routes, and any a simulator adds); ``package`` is the app's import name;
    ``label`` is how a server error is logged."""

    def __init__(self, name: str, package: str, label: str) -> None:
        self.key, self.package, self.label = f"{name}_state", package, label
        # never faulted, no auth: loopback tooling
        self.controls = Blueprint(f"{name}_sim", package, url_prefix="/_sim")
        add_fault_controls(self.controls, self.state)

    def state(self) -> S:
        """The state of the app serving this request."""
        found: S = current_app.extensions[self.key]
        return found

    def create_app(
        self,
        state: S,
        api: Blueprint,
        *,
        errors: Mapping[type[Exception], ErrorHandler],
        server_error: Callable[[], Response],
        strict_slashes: bool = True,
        config: Mapping[str, Any] | None = None,
    ) -> Flask:
        """The app over ``state``: ``api`` and the controls, ``errors`` (the vendor's own error and
        ``HTTPException``, in its envelope) and, for anything else, ``server_error()`` after logging it."""
        app = Flask(self.package)
        if not strict_slashes:
            app.url_map.strict_slashes = False
        app.config.update(config or {})
        app.extensions[self.key] = state
        app.register_blueprint(api)
        app.register_blueprint(self.controls)
        label = self.label

        @app.get("/")
        def console() -> Response:
            # Where Vectis's "Open in <vendor>" lands in the demo: the real vendor shows its console here.
            page = (
                f"<!doctype html><title>{label} simulator</title><body style='font:15px system-ui;margin:3em'>"
                f"<h1>{label} simulator</h1><p>This stands in for {label} in the Vectis demo. With a real "
                f"{label}, this link opens its console.</p><p><a href='/_sim/stats'>What it has served</a></p>"
            )
            return Response(page, content_type="text/html; charset=utf-8")

        for kind, handler in errors.items():
            app.register_error_handler(kind, handler)

        def failed(error: Exception) -> Response:
            current_app.logger.exception("%s simulator failed", self.label, exc_info=error)
            return server_error()

        app.register_error_handler(Exception, failed)
        return app
