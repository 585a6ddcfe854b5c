"""The Pax8 simulator's HTTP side: the token endpoint, ``/v1`` with Bearer tokens, Pax8's ``{content, page}`` envelope
with ``page``/``size`` paging, the subscription quantity change with the NCE rule, quotes, webhook registration, the
fault knobs applied to every request, and the ``/_sim`` controls a test steps the data with; ``main`` serves it."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, Response, request
from werkzeug.exceptions import HTTPException

from vectis.simulators.base import (
    Json,
    Simulator,
    cut_in_half,
    is_chosen_page,
    json_response,
    received_body,
    route_pattern,
    serve_main,
    under,
)
from vectis.simulators.fixtures import BENCH_CUSTOMERS
from vectis.simulators.pax8.state import Pax8State
from vectis.simulators.pax8.vendor import (
    API,
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    LEGACY_TOKEN_PATH,
    SIZE_DEFAULT,
    SIZE_MAX,
    TOKEN_PATH,
    ApiError,
    TokenError,
    bad_request,
    not_found,
)

WEBHOOKS = "/api/v2/webhooks"
api = Blueprint("pax8_api", __name__)
simulator: Simulator[Pax8State] = Simulator("pax8", "vectis.simulators.pax8", "Pax8")
controls = simulator.controls
_sim = simulator.state


def create_app(state: Pax8State | None = None) -> Flask:
    """The simulator as a Flask app over ``state`` (a fresh ``Pax8State.seeded()`` when omitted)."""
    return simulator.create_app(
        state if state is not None else Pax8State.seeded(),
        api,
        errors={ApiError: _api_error, TokenError: _token_error, HTTPException: _http_error},
        server_error=lambda: _api_error(ApiError(500, "InternalServerError", "An unexpected error occurred.")),
    )


def _api_error(error: ApiError) -> Response:
    return json_response(error.body(request.path), error.status, error.headers)


def _token_error(error: TokenError) -> Response:
    return json_response(error.body(), error.status)


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    if status == 404:
        return _api_error(not_found(f"No resource at {request.path}"))
    if status == 405:
        return _api_error(ApiError(405, "MethodNotAllowed", f"{request.method} is not allowed on {request.path}"))
    return _api_error(ApiError(status, "BadRequest", error.description or error.name))


def _ours() -> bool:
    return under(API) or under(WEBHOOKS) or request.path == LEGACY_TOKEN_PATH


def _kept(body: Any) -> Any:
    """What the received log keeps of a body: a client secret or a webhook's authorization is never kept."""
    if not isinstance(body, dict):
        return body
    hidden = ("client_secret", "clientSecret", "authorization")
    return {key: "(hidden)" if key in hidden else value for key, value in body.items()}


@api.before_app_request
def _faults_then_auth() -> Response | None:
    if not _ours():
        return None
    sim = _sim()
    sim.receive(request.method, request.path, request.args.to_dict(), _kept(received_body()))
    if sim.throttled():
        raise ApiError(429, "TooManyRequests", "Rate limit exceeded. Try again later.", {"Retry-After": "1"})
    sim.pace()
    if sim.take("errors_5xx"):
        raise ApiError(sim.faults.error_status, "InternalServerError", "Something went wrong. Try again later.")
    token = request.path in (TOKEN_PATH, LEGACY_TOKEN_PATH)
    if not token and request.url_rule is not None:
        sim.authorize(request.headers.get("Authorization", ""), write=request.method != "GET")
    return None


@api.after_app_request
def _finish(response: Response) -> Response:
    if not _ours():
        return response
    sim = _sim()
    knob = sim.faults.malformed_page
    reading = response.status_code == 200 and request.method == "GET"
    if (
        reading
        and knob is not None
        and is_chosen_page(knob.path, knob.page, request.path.removeprefix(API), "page", "0")
    ):
        cut_in_half(response)
    writing = request.method in ("PUT", "POST", "DELETE") and response.status_code < 300 and request.path != TOKEN_PATH
    if writing and sim.take("lose_write_answers"):
        sim.record(f"{request.method} {route_pattern()}", 502)
        return json_response({"type": "BadGateway", "message": "Bad gateway", "status": 502}, 502)
    sim.record(f"{request.method} {route_pattern()}", response.status_code)
    return response


# --- the token ---------------------------------------------------------------------------------------------


def _json_body() -> Json:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise bad_request("Send a JSON object.")
    return body


@api.post(TOKEN_PATH)
def token() -> Response:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise TokenError(400, "invalid_request", "Send the client credentials as a JSON object.")
    return json_response(_sim().grant(body))


@api.post(LEGACY_TOKEN_PATH)
def legacy_token() -> Response:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise TokenError(400, "invalid_request", "Send the client credentials as a JSON object.")
    return json_response(_sim().grant(body, legacy=True))


# --- lists: {"content": [...], "page": {"size", "totalElements", "totalPages", "number"}} ------------------


def _number(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name, str(default))
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise bad_request(f"{name} must be a whole number from {low} to {high}.", {name: raw})
    return int(raw)


def _page(rows: list[Json], allowed: set[str], order: Callable[[Json], Any]) -> Response:
    unknown = sorted(set(request.args) - allowed - {"page", "size", "sort"})
    if unknown:
        raise bad_request(f"Unknown query parameter(s): {', '.join(unknown)}")
    size = _number("size", SIZE_DEFAULT, 1, SIZE_MAX)
    number = _number("page", 0, 0, 10_000_000)
    chosen = sorted(rows, key=order)
    total = len(chosen)
    return json_response(
        {
            "content": [Pax8State.shown(row) for row in chosen[number * size : (number + 1) * size]],
            "page": {"size": size, "totalElements": total, "totalPages": -(-total // size), "number": number},
        }
    )


def _matches(row: Json, filters: dict[str, str]) -> bool:
    return all(request.args.get(arg) in (None, str(row.get(key))) for arg, key in filters.items())


@api.get(f"{API}/companies")
def companies() -> Response:
    sim = _sim()
    with sim._lock:
        rows = [c for c in sim.companies.values() if _matches(c, {"status": "status"})]
    return _page(rows, {"status"}, lambda c: (c["name"].lower(), c["id"]))


@api.get(f"{API}/companies/<company_id>")
def company(company_id: str) -> Response:
    found = _sim().companies.get(company_id)
    if found is None:
        raise not_found(f"Company {company_id} not found")
    return json_response(Pax8State.shown(found))


@api.get(f"{API}/products")
def products() -> Response:
    sim = _sim()
    rows = [p for p in sim.products.values() if _matches(p, {"vendorName": "vendorName"})]
    return _page(rows, {"vendorName"}, lambda p: (p["name"], p["id"]))


@api.get(f"{API}/products/<product_id>")
def product(product_id: str) -> Response:
    found = _sim().products.get(product_id)
    if found is None:
        raise not_found(f"Product {product_id} not found")
    return json_response(Pax8State.shown(found))


SUBSCRIPTION_FILTERS = {"companyId": "companyId", "productId": "productId", "status": "status",
                        "billingTerm": "billingTerm"}  # fmt: skip


@api.get(f"{API}/subscriptions")
def subscriptions() -> Response:
    sim = _sim()
    with sim._lock:
        rows = [s for s in sim.subscriptions.values() if _matches(s, SUBSCRIPTION_FILTERS)]
    return _page(rows, set(SUBSCRIPTION_FILTERS), lambda s: (s["createdDate"], s["id"]))


@api.get(f"{API}/subscriptions/<subscription_id>")
def subscription(subscription_id: str) -> Response:
    return json_response(Pax8State.shown(_sim().subscription(subscription_id)))


@api.put(f"{API}/subscriptions/<subscription_id>")
def update_subscription(subscription_id: str) -> Response:
    return json_response(Pax8State.shown(_sim().set_quantity(subscription_id, request.get_json(silent=True))))


@api.delete(f"{API}/subscriptions/<subscription_id>")
def cancel_subscription(subscription_id: str) -> Response:
    return json_response(Pax8State.shown(_sim().cancel(subscription_id)))


@api.get(f"{API}/quotes")
def quotes() -> Response:
    sim = _sim()
    with sim._lock:
        rows = [q for q in sim.quotes.values() if _matches(q, {"companyId": "companyId", "reference": "reference"})]
    return _page(rows, {"companyId", "reference"}, lambda q: (q["createdDate"], q["id"]))


@api.post(f"{API}/quotes")
def create_quote() -> Response:
    return json_response(_sim().create_quote(request.get_json(silent=True)), 201)


@api.get(f"{API}/quotes/<quote_id>")
def quote(quote_id: str) -> Response:
    found = _sim().quotes.get(quote_id)
    if found is None:
        raise not_found(f"Quote {quote_id} not found")
    return json_response(found)


@api.post(WEBHOOKS)
def register_webhook() -> Response:
    hook = _sim().register_webhook(request.get_json(silent=True))
    return json_response({k: v for k, v in hook.items() if k != "authorization"}, 201)


# --- test controls -----------------------------------------------------------------------------------------


def _control(action: Callable[[], Json], status: int = 200) -> Response:
    try:
        return json_response(action(), status)
    except ApiError as error:
        return _api_error(error)


@controls.post("/subscriptions")
def sim_add_subscription() -> Response:
    """A subscription ordered at Pax8 now: ``{"companyId", "productId", "quantity"}`` (a webhook announces it)."""
    body = request.get_json(silent=True) or {}
    return _control(
        lambda: Pax8State.shown(
            _sim().add_subscription(
                str(body.get("companyId")), str(body.get("productId")), int(body.get("quantity") or 1)
            )
        ),
        201,
    )


@controls.patch("/subscriptions/<subscription_id>")
def sim_patch_subscription(subscription_id: str) -> Response:
    """Set fields of a subscription as they stand at Pax8 (``{"commitment": {"endDate": "2026-12-07"}}``), with no
    webhook: how a test puts a renewal in reach."""

    def patch() -> Json:
        sim = _sim()
        body = _json_body()
        with sim._lock:
            row = sim.subscription(subscription_id)
            for key, value in body.items():
                row[key] = {**(row.get(key) or {}), **value} if isinstance(value, dict) else value
        return Pax8State.shown(row)

    return _control(patch)


@controls.post("/subscriptions/<subscription_id>/cancel")
def sim_cancel(subscription_id: str) -> Response:
    return _control(lambda: Pax8State.shown(_sim().cancel(subscription_id)))


@controls.get("/deliveries")
def sim_deliveries() -> Response:
    sim = _sim()
    with sim._lock:
        return json_response(list(sim.deliveries))


# --- the command line --------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    return serve_main(
        argv,
        prog="python -m vectis.simulators.pax8",
        description="Pax8 partner API simulator",
        default_port=18089,
        arguments=_arguments,
        build_state=_build_state,
        banner=_banner,
        create_app=create_app,
    )


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--companies", type=int, default=BENCH_CUSTOMERS, help="with --scale bench")
    parser.add_argument("--subscriptions", type=int, default=5_000, help="with --scale bench")


def _build_state(args: argparse.Namespace) -> Pax8State:
    if args.scale == "demo":
        return Pax8State.seeded(seed=args.seed)
    return Pax8State.at_scale(companies=args.companies, subscriptions=args.subscriptions, seed=args.seed)


def _banner(state: Pax8State, root: str) -> str:
    return (
        f"Pax8 simulator at {root} (stands for api.pax8.com; API under {API}, token at {TOKEN_PATH})\n"
        f"  Client ID: {DEMO_CLIENT_ID}   secret: {DEMO_CLIENT_SECRET}\n"
        f"  {len(state.companies)} companies, {len(state.products)} products, {len(state.subscriptions)} "
        f"subscriptions (as of {state.now.astimezone(UTC):%Y-%m-%d}; {datetime.now(UTC):%H:%M} UTC)"
    )
