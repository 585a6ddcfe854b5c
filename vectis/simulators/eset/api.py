"""The ESET simulator's HTTP side: the token endpoint, and the device-management, incident-management and automation
APIs on one host (ESET serves them from ``<region>.<domain>.eset.systems``; their paths do not overlap), with
bearer auth, page tokens, the detection resolve and isolation device tasks, the fault knobs, and the ``/_sim``
control that stands for a device detecting something; ``main`` serves it."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from flask import Blueprint, Flask, Response, request
from werkzeug.exceptions import HTTPException

from vectis.simulators.base import Json, Simulator, json_response, received_body, route_pattern, serve_main
from vectis.simulators.eset.state import EsetState
from vectis.simulators.eset.vendor import (
    DEMO_PASSWORD,
    DEMO_USERNAME,
    PAGE_DEFAULT,
    PAGE_MAX,
    SEVERITY_LEVELS,
    TOKEN_PATH,
    ApiError,
    bad_request,
    parse_iso,
)
from vectis.simulators.fixtures import BENCH_CUSTOMERS

api = Blueprint("eset_api", __name__)
simulator: Simulator[EsetState] = Simulator("eset", "vectis.simulators.eset", "ESET")
controls = simulator.controls
_sim = simulator.state
PREFIXES = ("/v1/", "/v2/", TOKEN_PATH)
SECRET_FIELDS = frozenset({"password", "refresh_token"})


def create_app(state: EsetState | None = None) -> Flask:
    """The simulator as a Flask app over ``state`` (a fresh ``EsetState.seeded()`` when omitted)."""
    return simulator.create_app(
        state if state is not None else EsetState.seeded(),
        api,
        errors={ApiError: _api_error, HTTPException: _http_error},
        server_error=lambda: _api_error(ApiError(500, "Internal error.")),
    )


def _api_error(error: ApiError) -> Response:
    return json_response(error.body(), error.status, error.headers)


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    if status == 404:
        return _api_error(ApiError(404, f"Not Found: {request.path}"))
    if status == 405:
        return _api_error(ApiError(405, f"Method Not Allowed: {request.method} {request.path}"))
    return _api_error(ApiError(status, error.description or error.name))


def _ours() -> bool:
    return request.path.startswith(PREFIXES)


def _kept(body: Any) -> Any:
    """What the received log keeps of a body: never the API user's password nor a refresh token."""
    if not isinstance(body, dict):
        return body
    return {key: "(hidden)" if key in SECRET_FIELDS else value for key, value in body.items()}


@api.before_app_request
def _faults_then_auth() -> Response | None:
    if not _ours():
        return None
    sim = _sim()
    body = request.form.to_dict() if request.path == TOKEN_PATH else received_body()
    sim.receive(request.method, request.path, request.args.to_dict(), _kept(body))
    if sim.throttled():
        raise ApiError(429, "Too many requests.", {"Retry-After": "1"})
    sim.pace()
    if sim.take("errors_5xx"):
        raise ApiError(sim.faults.error_status, "Service temporarily unavailable.")
    if request.url_rule is not None and request.path != TOKEN_PATH:
        sim.authorize(request.headers.get("Authorization", ""), write=request.method != "GET")
    sim.settle()
    return None


@api.after_app_request
def _finish(response: Response) -> Response:
    if _ours():
        _sim().record(f"{request.method} {route_pattern()}", response.status_code)
    return response


def _page_size() -> int:
    raw = request.args.get("pageSize", str(PAGE_DEFAULT))
    if not raw.isdigit() or not 1 <= int(raw) <= PAGE_MAX:
        raise bad_request(f"pageSize: must be between 1 and {PAGE_MAX}.")
    return int(raw)


def _only(allowed: set[str]) -> None:
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        raise bad_request(f"Unknown query parameter: {', '.join(unknown)}.")


# --- the token -----------------------------------------------------------------------------------------


@api.post(TOKEN_PATH)
def token() -> Response:
    if not request.content_type or not request.content_type.startswith("application/x-www-form-urlencoded"):
        raise ApiError(400, "Send the grant as application/x-www-form-urlencoded.", oauth="invalid_request")
    return json_response(_sim().grant(request.form.to_dict()))


# --- device management ---------------------------------------------------------------------------------


@api.get("/v1/device_groups")
def device_groups() -> Response:
    _only({"pageSize", "pageToken"})
    chosen, token = EsetState.page(
        _sim().groups.values(), lambda g: [g["uuid"]], request.args.get("pageToken"), _page_size()
    )
    return json_response({"deviceGroups": chosen, "nextPageToken": token})


@api.get("/v1/devices")
def devices() -> Response:
    _only({"pageSize", "pageToken"})
    chosen, token = EsetState.page(
        _sim().devices.values(), lambda d: [d["uuid"]], request.args.get("pageToken"), _page_size()
    )
    return json_response({"devices": [dict(d) for d in chosen], "nextPageToken": token})


@api.get("/v1/devices/<device_uuid>")
def device(device_uuid: str) -> Response:
    found = _sim().devices.get(device_uuid)
    if found is None:
        raise ApiError(404, f"Device {device_uuid} not found.")
    return json_response({"device": dict(found)})


# --- incident management -------------------------------------------------------------------------------


@api.get("/v2/detections")
def detections() -> Response:
    """``startTime`` (inclusive) and ``endTime`` (exclusive) bound ``occurTime``; oldest first, then by uuid."""
    _only({"pageSize", "pageToken", "startTime", "endTime"})
    bounds: dict[str, float] = {}
    for name in ("startTime", "endTime"):
        raw = request.args.get(name)
        if raw is not None:
            moment = parse_iso(raw)
            if moment is None:
                raise bad_request(f"{name}: not an RFC 3339 time.")
            bounds[name] = moment
    sim = _sim()
    start, end = bounds.get("startTime"), bounds.get("endTime")
    with sim._lock:
        rows = [
            sim.detection_view(d)
            for d in sim.detections.values()
            if (start is None or (parse_iso(d["occurTime"]) or 0) >= start)
            and (end is None or (parse_iso(d["occurTime"]) or 0) < end)
        ]
    chosen, token = EsetState.page(
        rows, lambda d: [d["occurTime"], d["uuid"]], request.args.get("pageToken"), _page_size()
    )
    return json_response({"detections": chosen, "nextPageToken": token})


@api.get("/v2/detections/<detection_uuid>")
def detection(detection_uuid: str) -> Response:
    sim = _sim()
    found = sim.detections.get(detection_uuid)
    if found is None:
        raise ApiError(404, f"Detection {detection_uuid} not found.")
    return json_response({"detection": sim.detection_view(found)})


@api.post("/v2/detections/<detection_uuid>:resolve")
def resolve(detection_uuid: str) -> Response:
    body = request.get_json(silent=True)
    if body is not None and not isinstance(body, dict):
        raise bad_request('Send a JSON object ({"note": "..."}).')
    note = (body or {}).get("note", "")
    if not isinstance(note, str):
        raise bad_request("note: must be a string.")
    return json_response({"detection": _sim().resolve(detection_uuid, note)})


# --- automation ----------------------------------------------------------------------------------------


@api.post("/v1/device_tasks")
def device_tasks() -> Response:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("task"), dict):
        raise bad_request('Send {"task": {"action": {"name"}, "targets": {"devicesUuids"}, "triggers"}}.')
    return json_response({"task": _sim().create_task(body["task"])})


# --- test controls -------------------------------------------------------------------------------------


@controls.post("/detections")
def sim_add_detection() -> Response:
    """A device detects something now: ``{"deviceUuid", "displayName"?, "severityLevel"?}``."""
    body = request.get_json(silent=True) or {}
    try:
        if not isinstance(body, dict) or not isinstance(body.get("deviceUuid"), str):
            raise bad_request("deviceUuid is required (a string).")
        severity = body.get("severityLevel")
        if severity is not None and severity not in SEVERITY_LEVELS:
            raise bad_request(f"severityLevel must be one of {', '.join(SEVERITY_LEVELS)}.")
        found: Json = _sim().add_detection(body["deviceUuid"], kind_name=body.get("displayName"), severity=severity)
    except ApiError as error:
        return _api_error(error)
    return json_response({"detection": found}, 201)


# --- the command line ----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    return serve_main(
        argv,
        prog="python -m vectis.simulators.eset",
        description="ESET Connect (ESET PROTECT Cloud) simulator",
        default_port=18085,
        arguments=_arguments,
        build_state=_build_state,
        banner=_banner,
        create_app=create_app,
    )


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--customers", type=int, default=BENCH_CUSTOMERS, help="with --scale bench")
    parser.add_argument("--detections", type=int, default=5_000, help="with --scale bench")


def _build_state(args: argparse.Namespace) -> EsetState:
    if args.scale == "demo":
        return EsetState.seeded(seed=args.seed)
    return EsetState.at_scale(customers=args.customers, detections=args.detections, seed=args.seed)


def _banner(state: EsetState, root: str) -> str:
    return (
        f"ESET simulator at {root} (stands for https://<region>.<domain>.eset.systems: business-account.iam, "
        "device-management, incident-management, automation)\n"
        f"  API user: {DEMO_USERNAME}   password: {DEMO_PASSWORD}\n"
        f"  {len(state.groups)} groups, {len(state.devices)} devices, {len(state.detections)} detections"
    )
