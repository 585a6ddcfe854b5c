"""The Defender simulator's HTTP side: Entra ID's client-credentials token endpoint, ``/api`` with Bearer tokens
(each for one customer tenant), Defender's OData envelope with ``$top``/``$skip`` and ``@odata.nextLink`` paging, the
alert and machine-action lists with their ``$filter``, the isolate/unisolate actions and the alert PATCH, the fault
knobs applied to every request, and the ``/_sim`` control that raises an alert; ``main`` serves it."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, Response, request
from werkzeug.exceptions import HTTPException

from vectis.simulators.base import Json, Simulator, json_response, received_body, route_pattern, serve_main, under
from vectis.simulators.defender.state import DefenderState, parse_filter
from vectis.simulators.defender.vendor import (
    API,
    CLASSIFICATIONS,
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DETERMINATIONS,
    STATUSES,
    TOP_DEFAULT,
    TOP_MAX,
    ApiError,
    OAuthError,
    bad_request,
)
from vectis.simulators.fixtures import BENCH_CUSTOMERS

api = Blueprint("defender_api", __name__)
simulator: Simulator[DefenderState] = Simulator("defender", "vectis.simulators.defender", "Microsoft Defender")
controls = simulator.controls
_sim = simulator.state
TOKEN_SUFFIX = "/oauth2/v2.0/token"  # noqa: S105 - a path, not a password


def create_app(state: DefenderState | None = None) -> Flask:
    """The simulator as a Flask app over ``state`` (a fresh ``DefenderState.seeded()`` when omitted)."""
    return simulator.create_app(
        state if state is not None else DefenderState.seeded(),
        api,
        errors={ApiError: _api_error, OAuthError: _oauth_error, HTTPException: _http_error},
        server_error=lambda: _api_error(ApiError(500, "InternalServerError", "An unexpected error occurred.")),
    )


def _api_error(error: ApiError) -> Response:
    return json_response(error.body(), error.status, error.headers)


def _oauth_error(error: OAuthError) -> Response:
    return json_response(error.body(), error.status)


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    if status == 404:
        return _api_error(ApiError(404, "ResourceNotFound", f"No resource at {request.path}."))
    if status == 405:
        return _api_error(ApiError(405, "MethodNotAllowed", f"{request.method} is not allowed on {request.path}."))
    return _api_error(ApiError(status, "BadRequest", error.description or error.name))


def _token_request() -> bool:
    return request.path.endswith(TOKEN_SUFFIX)


def _kept(body: Any) -> Any:
    """What the received log keeps of a body: a client secret is never kept."""
    if not isinstance(body, dict):
        return body
    return {key: "(hidden)" if key in ("client_secret", "client_assertion") else value for key, value in body.items()}


@api.before_app_request
def _faults_then_auth() -> Response | None:
    if not (under(API) or _token_request()):
        return None
    sim = _sim()
    sim.receive(request.method, request.path, request.args.to_dict(), _kept(received_body()))
    if sim.throttled():
        raise ApiError(429, "TooManyRequests", "Rate limit is exceeded. Try again in 1 seconds.", {"Retry-After": "1"})
    sim.pace()
    if sim.take("errors_5xx"):
        raise ApiError(sim.faults.error_status, "InternalServerError", "Try again later.")
    if under(API) and request.url_rule is not None:
        tenant = sim.authorize(request.headers.get("Authorization", ""), write=request.method != "GET")
        request.environ["defender.tenant"] = tenant
        with sim._lock:
            sim.served.append(f"{tenant} {request.method} {request.path}")
    sim.settle()
    return None


@api.after_app_request
def _finish(response: Response) -> Response:
    if under(API) or _token_request():
        _sim().record(f"{request.method} {route_pattern()}", response.status_code)
    return response


def _tenant() -> str:
    return str(request.environ["defender.tenant"])


# --- Entra ID ------------------------------------------------------------------------------------------


@api.post(f"/<tenant>{TOKEN_SUFFIX}")
def token(tenant: str) -> Response:
    form = {key: str(value) for key, value in request.form.items()}
    return json_response(_sim().grant(tenant, form))


# --- lists: {"@odata.context", "value", "@odata.nextLink"?} -------------------------------------------


def _listed(
    rows: list[Json],
    entity: str,
    filterable: set[str],
    allowed: set[str],
    *,
    order: str,
    shape: Callable[[Json], Json] = DefenderState.shown,
) -> Response:
    """A page of ``rows`` as Defender lists them: filtered, in a stable order (``order``, then id), ``$skip`` and
    ``$top``. Only the page's rows are shaped for the answer (``shape``): copying every row of a tenant for each page
    was most of a page's time at 5,000 alerts."""
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        raise bad_request(f"Query option(s) not supported: {', '.join(unknown)}.")
    test = parse_filter(request.args.get("$filter", ""), filterable)
    top_raw, skip_raw = request.args.get("$top", str(TOP_DEFAULT)), request.args.get("$skip", "0")
    if not top_raw.isdigit() or not 1 <= int(top_raw) <= TOP_MAX:
        raise bad_request(f"$top must be between 1 and {TOP_MAX}.")
    if not skip_raw.isdigit():
        raise bad_request("$skip must be a whole number.")
    top, skip = int(top_raw), int(skip_raw)
    # Defender's order is its own; the simulator's is stable (creation time, then id) so $skip pages hold still.
    chosen = sorted((row for row in rows if test(row)), key=lambda r: (r.get(order) or "", r["id"]))
    body: Json = {
        "@odata.context": f"{request.url_root}api/$metadata#{entity}",
        "value": [shape(row) for row in chosen[skip : skip + top]],
    }
    if skip + top < len(chosen):
        query = {**request.args.to_dict(), "$skip": str(skip + top), "$top": str(top)}
        body["@odata.nextLink"] = f"{request.url_root.rstrip('/')}{request.path}?{urlencode(query)}"
    return json_response(body)


ALERT_FILTERS = {
    "alertCreationTime", "lastUpdateTime", "incidentId", "investigationId", "id", "assignedTo", "detectionSource",
    "lastEventTime", "status", "severity", "category", "machineId",
}  # fmt: skip


@api.get(f"{API}/alerts")
def alerts() -> Response:
    sim = _sim()
    expand = request.args.get("$expand")
    if expand not in (None, "evidence"):
        raise bad_request("$expand supports evidence only.")
    tenant = _tenant()
    with sim._lock:
        rows = [alert for alert in sim.alerts.values() if alert["_tenant"] == tenant]

    def shape(alert: Json) -> Json:
        shown = DefenderState.shown(alert)
        return shown if expand else {**shown, "evidence": []}

    allowed = {"$filter", "$top", "$skip", "$expand"}
    return _listed(rows, "Alerts", ALERT_FILTERS, allowed, order="alertCreationTime", shape=shape)


@api.get(f"{API}/alerts/<alert_id>")
def alert(alert_id: str) -> Response:
    return json_response(DefenderState.shown(_sim().alert_in(_tenant(), alert_id)))


@api.patch(f"{API}/alerts/<alert_id>")
def update_alert(alert_id: str) -> Response:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not body:
        raise bad_request("Send a JSON object of the properties to update.")
    unknown = sorted(set(body) - {"status", "assignedTo", "classification", "determination", "comment"})
    if unknown:
        raise bad_request(f"Properties that cannot be updated: {', '.join(unknown)}.")
    for name, allowed in (("status", STATUSES), ("classification", CLASSIFICATIONS), ("determination", DETERMINATIONS)):
        if name in body and body[name] not in allowed:
            raise bad_request(f"{name} must be one of {', '.join(allowed)}.")
    return json_response(DefenderState.shown(_sim().update_alert(_tenant(), alert_id, body)))


@api.get(f"{API}/machines")
def machines() -> Response:
    sim = _sim()
    rows = [m for m in sim.machines.values() if m["_tenant"] == _tenant()]
    return _listed(
        rows,
        "Machines",
        {"computerDnsName", "id", "healthStatus", "osPlatform"},
        {"$filter", "$top", "$skip"},
        order="firstSeen",
    )


@api.get(f"{API}/machines/<machine_id>")
def machine(machine_id: str) -> Response:
    return json_response(DefenderState.shown(_sim().machine_in(_tenant(), machine_id)))


# --- machine actions -----------------------------------------------------------------------------------


def _comment(body: Any) -> str:
    if not isinstance(body, dict) or not isinstance(body.get("Comment"), str) or not body["Comment"].strip():
        raise bad_request("Comment is required.")
    return str(body["Comment"])


@api.post(f"{API}/machines/<machine_id>/isolate")
def isolate(machine_id: str) -> Response:
    body = request.get_json(silent=True)
    comment = _comment(body)
    kind = body.get("IsolationType", "Full") if isinstance(body, dict) else None
    if kind not in ("Full", "Selective"):
        raise bad_request("IsolationType must be Full or Selective.")
    action = _sim().machine_action(_tenant(), machine_id, "Isolate", comment, kind)
    return json_response(DefenderState.shown(action), 201)


@api.post(f"{API}/machines/<machine_id>/unisolate")
def unisolate(machine_id: str) -> Response:
    action = _sim().machine_action(_tenant(), machine_id, "Unisolate", _comment(request.get_json(silent=True)), None)
    return json_response(DefenderState.shown(action), 201)


@api.get(f"{API}/machineactions")
def machine_actions() -> Response:
    sim = _sim()
    rows = [a for a in sim.actions.values() if a["_tenant"] == _tenant()]
    filterable = {"id", "status", "machineId", "type", "requestor", "creationDateTimeUtc"}
    return _listed(rows, "MachineActions", filterable, {"$filter", "$top", "$skip"}, order="creationDateTimeUtc")


@api.get(f"{API}/machineactions/<action_id>")
def machine_action(action_id: str) -> Response:
    found = _sim().actions.get(action_id)
    if found is None or found["_tenant"] != _tenant():
        raise ApiError(404, "ResourceNotFound", f"Machine action {action_id} was not found.")
    return json_response(DefenderState.shown(found))


# --- test controls -------------------------------------------------------------------------------------


@controls.post("/alerts")
def sim_add_alert() -> Response:
    """A machine raises an alert now: ``{"machineId", "severity"?, "title"?}``."""
    body = request.get_json(silent=True) or {}
    try:
        if not isinstance(body, dict) or not isinstance(body.get("machineId"), str):
            raise bad_request("machineId is required (a string).")
        raised = _sim().add_alert(body["machineId"], severity=body.get("severity"), title=body.get("title"))
    except ApiError as error:
        return _api_error(error)
    return json_response(DefenderState.shown(raised), 201)


# --- the command line ----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    return serve_main(
        argv,
        prog="python -m vectis.simulators.defender",
        description="Microsoft Defender for Endpoint API (and Entra ID token endpoint) simulator",
        default_port=18087,
        arguments=_arguments,
        build_state=_build_state,
        banner=_banner,
        create_app=create_app,
    )


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tenants", type=int, default=BENCH_CUSTOMERS, help="with --scale bench")
    parser.add_argument("--alerts", type=int, default=5_000, help="with --scale bench")


def _build_state(args: argparse.Namespace) -> DefenderState:
    if args.scale == "demo":
        return DefenderState.seeded(seed=args.seed)
    return DefenderState.at_scale(tenants=args.tenants, alerts=args.alerts, seed=args.seed)


def _banner(state: DefenderState, root: str) -> str:
    first = state.tenants[state.demo_tenant]
    return (
        f"Microsoft Defender simulator at {root} (stands for login.microsoftonline.com and "
        f"api.securitycenter.microsoft.com; API under {API})\n"
        f"  App (client) ID: {DEMO_CLIENT_ID}   secret: {DEMO_CLIENT_SECRET}\n"
        f"  First tenant: {state.demo_tenant} ({first['name']}, {first['initial_domain']})\n"
        f"  {len(state.tenants)} tenants, {len(state.machines)} machines, {len(state.alerts)} alerts"
    )
