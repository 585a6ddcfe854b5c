"""The NinjaOne simulator's HTTP side: the OAuth token endpoint, the ``/v2`` resources with bearer tokens and
scopes, NinjaOne's paging and device filter, the fault knobs applied to every request, and the ``/_sim`` controls
that stand for a device or a technician; ``main`` serves it."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from flask import Blueprint, Flask, Response, request
from werkzeug.exceptions import HTTPException

from vectis.simulators.base import Json, Simulator, json_response, received_body, route_pattern, serve_main, under
from vectis.simulators.fixtures import BENCH_CUSTOMERS
from vectis.simulators.ninjaone.query import DeviceFilterError, Predicate, parse_device_filter
from vectis.simulators.ninjaone.state import NinjaOneState
from vectis.simulators.ninjaone.vendor import (
    ACTIVITY_CLASSES,
    ACTIVITY_PAGE_DEFAULT,
    ACTIVITY_PAGE_MAX,
    ACTIVITY_PAGE_MIN,
    API,
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    READ_SCOPE,
    REGIONS,
    TOKEN_PATH,
    WRITE_SCOPE,
    ApiError,
    bad_request,
    not_found,
)

# --- the app -------------------------------------------------------------------------------------------

api = Blueprint("ninjaone_api", __name__)
simulator: Simulator[NinjaOneState] = Simulator("ninjaone", "vectis.simulators.ninjaone", "NinjaOne")
controls = simulator.controls  # the shared /_sim routes, and the test controls below
_sim = simulator.state


def create_app(state: NinjaOneState | None = None) -> Flask:
    """The simulator as a Flask app over ``state`` (a fresh ``NinjaOneState.seeded()`` when omitted)."""
    return simulator.create_app(
        state if state is not None else NinjaOneState.seeded(),
        api,
        errors={ApiError: _api_error, HTTPException: _http_error},
        server_error=lambda: _api_error(ApiError(500, "INTERNAL_SERVER_ERROR", "An unexpected error occurred.")),
    )


def _in_api() -> bool:
    return under(API) or request.path == TOKEN_PATH


def _api_error(error: ApiError) -> Response:
    return json_response(error.body(), error.status, error.headers)


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    if status == 404:
        return _api_error(not_found(f"No resource at {request.path}."))
    if status == 405:
        return _api_error(ApiError(405, "METHOD_NOT_ALLOWED", f"{request.method} is not allowed on {request.path}."))
    return _api_error(ApiError(status, error.name.upper().replace(" ", "_"), error.description or error.name))


def _bearer() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _kept(body: Any) -> Any:
    """What the received log keeps of a body: a token request's client secret is not kept."""
    if isinstance(body, dict) and "client_secret" in body:
        return {**body, "client_secret": "(hidden)"}
    return body


@api.before_app_request
def _faults_then_auth() -> Response | None:
    if not _in_api():
        return None
    sim = _sim()
    sim.receive(request.method, request.path, request.args.to_dict(), _kept(received_body()))
    if sim.throttled():
        raise ApiError(429, "TOO_MANY_REQUESTS", "Too many requests; retry in a second.", {"Retry-After": "1"})
    sim.pace()
    if sim.take("errors_5xx"):
        status = sim.faults.error_status
        raise ApiError(status, "INTERNAL_SERVER_ERROR" if status == 500 else "SERVICE_UNAVAILABLE", "Try again later.")
    if request.path != TOKEN_PATH and request.url_rule is not None:
        sim.authorize(_bearer(), READ_SCOPE if request.method == "GET" else WRITE_SCOPE)
    return None


@api.after_app_request
def _finish(response: Response) -> Response:
    if _in_api():
        _sim().record(f"{request.method} {route_pattern()}", response.status_code)
    return response


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isdigit():
        raise bad_request(f"{name} must be a non-negative integer.")
    return int(raw)


def _count(name: str, default: int) -> int:
    found = _int_arg(name)
    return default if found is None else found


def _device_filter() -> Predicate:
    try:
        return parse_device_filter(request.args.get("df", ""))
    except DeviceFilterError as error:
        raise bad_request(f"Invalid device filter: {error}.") from None


def _after_page(rows: dict[int, Json]) -> list[Json]:
    """NinjaOne's ``after`` (the last id of the previous page) and ``pageSize`` (all without it) over ``rows``,
    ids ascending."""
    after, size = _count("after", 0), _int_arg("pageSize")
    if size is not None and size < 1:
        raise bad_request("pageSize must be at least 1.")
    chosen = [rows[key] for key in sorted(rows) if key > after]
    return chosen if size is None else chosen[:size]


# --- OAuth ---------------------------------------------------------------------------------------------


@api.post(TOKEN_PATH)
def token() -> Response:
    """Client credentials, form-encoded, as an "API Services (machine-to-machine)" application gets its token."""
    form = request.form
    if not form:
        raise ApiError(400, "Send the token request form-encoded (application/x-www-form-urlencoded)")
    if form.get("grant_type") != "client_credentials":
        raise ApiError(400, "Unsupported grant type")
    issued = _sim().issue_token(form.get("client_id", ""), form.get("client_secret", ""), form.get("scope"))
    return json_response(issued, headers={"Cache-Control": "no-store"})


# --- organizations and locations -----------------------------------------------------------------------


@api.get(f"{API}/organizations")
def organizations() -> Response:
    sim = _sim()
    return json_response([sim.organization_view(org) for org in _after_page(sim.organizations)])


@api.get(f"{API}/organizations-detailed")
def organizations_detailed() -> Response:
    sim = _sim()
    return json_response([sim.organization_view(org, detailed=True) for org in _after_page(sim.organizations)])


def _organization(organization_id: int) -> Json:
    found = _sim().organizations.get(organization_id)
    if found is None:
        raise not_found(f"Organization {organization_id} was not found.")
    return found


@api.get(f"{API}/organization/<int:id>")
def organization(id: int) -> Response:
    return json_response(_sim().organization_view(_organization(id), detailed=True))


@api.get(f"{API}/locations")
def locations() -> Response:
    sim = _sim()
    return json_response([sim.location_view(loc, with_organization=True) for loc in _after_page(sim.locations)])


@api.get(f"{API}/organization/<int:id>/locations")
def organization_locations(id: int) -> Response:
    sim = _sim()
    _organization(id)
    return json_response([sim.location_view(sim.locations[i]) for i in sim.locations_of(id)])


# --- devices -------------------------------------------------------------------------------------------


def _devices(*, detailed: bool) -> Response:
    sim = _sim()
    size = _int_arg("pageSize")
    if size is not None and size < 1:
        raise bad_request("pageSize must be at least 1.")
    rows = sim.devices_after(_count("after", 0), size, _device_filter())
    return json_response([sim.device_view(device, detailed=detailed) for device in rows])


@api.get(f"{API}/devices")
def devices() -> Response:
    return _devices(detailed=False)


@api.get(f"{API}/devices-detailed")
def devices_detailed() -> Response:
    return _devices(detailed=True)


@api.get(f"{API}/device/<int:id>")
def device(id: int) -> Response:
    sim = _sim()
    return json_response(sim.device_view(sim.device(id), detailed=True))


# --- alerts --------------------------------------------------------------------------------------------


@api.get(f"{API}/alerts")
def alerts() -> Response:
    """Every open alert (not paged), oldest first, narrowed by ``sourceType`` and ``df``."""
    sim = _sim()
    source, keep = request.args.get("sourceType", ""), _device_filter()
    found = [
        sim.alert_view(alert)
        for alert in sim.open_alerts()
        if (not source or alert["sourceType"] == source) and keep(sim.device_facts(sim.devices[alert["deviceId"]]))
    ]
    return json_response(found)


@api.post(f"{API}/alert/<uid>/reset")
def reset_alert(uid: str) -> Response:
    data = request.get_json(silent=True) if request.get_data() else None
    if request.get_data() and not isinstance(data, dict):
        raise bad_request("The body, when sent, is a JSON object: custom data for the reset's activity.")
    _sim().reset_alert(uid, data)
    return Response(status=204)


# --- activities ----------------------------------------------------------------------------------------


def _activity_filter() -> Any:
    sim = _sim()
    kind = (request.args.get("class") or "ALL").upper()
    if kind not in ACTIVITY_CLASSES:
        raise bad_request(f"class must be one of {', '.join(ACTIVITY_CLASSES)}.")
    activity_type = request.args.get("type", "")
    statuses = {s.strip() for s in request.args.get("status", "").split(",") if s.strip()}
    series, source = request.args.get("seriesUid", ""), request.args.get("sourceConfigUid", "")
    devices = None if not request.args.get("df") else _device_filter()

    def keep(row: Json) -> bool:
        has_device = "deviceId" in row
        own = "DEVICE" if has_device else "USER" if "userId" in row else "SYSTEM"
        if kind not in ("ALL", own):
            return False
        if (activity_type and row["activityType"] != activity_type) or (statuses and row["statusCode"] not in statuses):
            return False
        if (series and row.get("seriesUid") != series) or (source and row.get("sourceConfigUid") != source):
            return False
        if devices is None:
            return True
        device = sim.devices.get(row["deviceId"]) if has_device else None
        return device is not None and devices(sim.device_facts(device))

    return keep


@api.get(f"{API}/activities")
def activities() -> Response:
    """The activity log, newest first: ``newerThan`` pages forward from a cursor, ``olderThan`` back."""
    sim = _sim()
    size = _count("pageSize", ACTIVITY_PAGE_DEFAULT)
    if not ACTIVITY_PAGE_MIN <= size <= ACTIVITY_PAGE_MAX:
        raise bad_request(f"pageSize must be between {ACTIVITY_PAGE_MIN} and {ACTIVITY_PAGE_MAX}.")
    rows = sim.activities_page(
        newer_than=_int_arg("newerThan"), older_than=_int_arg("olderThan"), size=size, keep=_activity_filter()
    )
    return json_response({"lastActivityId": sim.last_activity_id(), "activities": rows})


# --- the webhook ---------------------------------------------------------------------------------------


@api.put(f"{API}/webhook")
def put_webhook() -> Response:
    _sim().set_webhook(request.get_json(silent=True))
    return Response(status=204)


@api.delete(f"{API}/webhook")
def delete_webhook() -> Response:
    _sim().delete_webhook()
    return Response(status=204)


# --- test controls -------------------------------------------------------------------------------------


def _control_body() -> Json:
    body = request.get_json(silent=True) or {}
    if not isinstance(body, dict):
        raise bad_request("Send a JSON object.")
    return body


@controls.get("/deliveries")
def deliveries() -> Response:
    sim = _sim()
    with sim._lock:
        return json_response(list(sim.deliveries))


@controls.get("/webhook")
def webhook() -> Response:
    return json_response(_sim().webhook_summary())


@controls.post("/alerts")
def sim_raise_alert() -> Response:
    """A condition triggers on a device: ``{"deviceId", "kind": disk|cpu|av|patch|offline, "severity"}``."""
    try:
        body = _control_body()
        device_id = body.get("deviceId")
        if not isinstance(device_id, int):
            raise bad_request("deviceId is required")
        alert, raised = _sim().raise_alert(device_id, str(body.get("kind", "disk")), str(body.get("severity", "MAJOR")))
    except ApiError as error:
        return _api_error(error)
    return json_response({"alert": _sim().alert_view(alert), "activity": raised}, 201)


@controls.post("/alerts/<uid>/clear")
def sim_clear_alert(uid: str) -> Response:
    """The condition is back to normal on the device: the alert goes and a RESET activity is sent."""
    try:
        return json_response(_sim().clear_alert(uid))
    except ApiError as error:
        return _api_error(error)


@controls.post("/activities")
def sim_add_activity() -> Response:
    """Any other activity: ``{"activityType", "statusCode", "deviceId"?, "subject"?, "message"?, "severity"?,
    "activityResult"?, "seriesUid"?, "data"?}``."""
    try:
        return json_response(_sim().add_activity(_control_body()), 201)
    except ApiError as error:
        return _api_error(error)


# --- the command line ----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    return serve_main(
        argv,
        prog="python -m vectis.simulators.ninjaone",
        description="NinjaOne RMM (Public API 2.0) simulator",
        default_port=18083,
        arguments=_arguments,
        build_state=_build_state,
        banner=_banner,
        create_app=create_app,
    )


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--organizations", type=int, default=BENCH_CUSTOMERS, help="with --scale bench")
    parser.add_argument("--devices", type=int, default=20_000, help="with --scale bench")
    parser.add_argument("--alerts", type=int, default=5_000, help="with --scale bench")
    parser.add_argument("--activities", type=int, default=50_000, help="with --scale bench")


def _build_state(args: argparse.Namespace) -> NinjaOneState:
    if args.scale == "demo":
        return NinjaOneState.seeded(seed=args.seed)
    return NinjaOneState.at_scale(
        organizations=args.organizations,
        devices=args.devices,
        alerts=args.alerts,
        activities=args.activities,
        seed=args.seed,
    )


def _banner(state: NinjaOneState, root: str) -> str:
    return (
        f"NinjaOne simulator at {root} (stands for https://<region>.ninjarmm.com; regions {', '.join(REGIONS)})\n"
        f"  client id: {DEMO_CLIENT_ID}   client secret: {DEMO_CLIENT_SECRET}   scope: monitoring management\n"
        f"  {len(state.organizations)} organizations, {len(state.locations)} locations, {len(state.devices)} devices, "
        f"{len(state.alerts)} open alerts, {len(state.activities)} activities"
    )
