"""The VSPC simulator's HTTP side: Veeam's envelope, errors, paging and query parameters, authentication
and the fault knobs applied to every request under ``/api/v3``; ``main`` serves it."""

from __future__ import annotations

import argparse
import json
import secrets
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from flask import Blueprint, Flask, Response, request
from werkzeug.exceptions import HTTPException

from vectis.simulators.base import Json, Simulator, cut_in_half, json_response, serve_main, under
from vectis.simulators.fixtures import BENCH_CUSTOMERS, BENCH_JOBS
from vectis.simulators.vspc.query import Query, int_param, json_param
from vectis.simulators.vspc.state import VspcState
from vectis.simulators.vspc.vendor import (
    API,
    API_VERSION,
    BAD_CREDENTIALS,
    DEFAULT_PAGE_SIZE,
    DEMO_API_KEY,
    DEMO_PASSWORD,
    DEMO_USERNAME,
    MAX_PAGE_SIZE,
    ApiError,
    parse_ticks,
)

api = Blueprint("vspc_api", __name__, url_prefix=API)
simulator: Simulator[VspcState] = Simulator("vspc", "vectis.simulators.vspc", "VSPC")
_sim = simulator.state

_WRONG_HOST_PAGE = (
    "<!DOCTYPE html><html><head><title>404 Not Found</title></head>"
    "<body><h1>Not Found</h1><p>The requested URL was not found on this server.</p></body></html>"
)


def create_app(state: VspcState | None = None) -> Flask:
    """The simulator as a Flask app over ``state`` (a fresh ``VspcState.seeded()`` when omitted)."""
    return simulator.create_app(
        state if state is not None else VspcState.seeded(),
        api,
        errors={ApiError: _api_error, HTTPException: _http_error},
        # Veeam answers every server error (>=500) as 520
        server_error=lambda: _errors(520, "Unspecified cause of error.", kind="unspecified", code=500),
    )


def _in_api() -> bool:
    return under(API)


def _errors(status: int, message: str, *, kind: str, code: int | None = None, **extra: Any) -> Response:
    return json_response({"errors": [{"message": message, "type": kind, "code": code or status, **extra}]}, status)


def _oauth_error(error: str, description: str) -> Response:
    return json_response({"error": error, "error_description": description, "error_uri": None}, 400)


def _api_error(error: ApiError) -> Response:
    return json_response({"errors": [error.body]}, error.status)


def _http_error(error: HTTPException) -> Response | HTTPException:
    if not _in_api():
        return error
    status = error.code or 500
    message = "Requested resource does not exist." if status == 404 else (error.description or error.name)
    return _errors(status, message, kind="logical")


@api.before_app_request
def _count() -> None:
    if _in_api():
        _sim().record(request.path)  # before the answer, which may hang


@api.after_app_request
def _count_status(response: Response) -> Response:
    if _in_api():
        _sim().record(status=response.status_code)
    return response


@api.before_request
def _faults_then_auth() -> Response | None:
    sim = _sim()
    return _fault_response(sim) or (None if request.path == f"{API}/token" else _auth_response(sim))


def _fault_response(sim: VspcState) -> Response | None:
    faults = sim.faults
    if faults.wrong_host:
        return Response(_WRONG_HOST_PAGE, status=404, content_type="text/html; charset=utf-8")
    if sim.throttled():
        # No Retry-After header: Veeam documents retryAfter in the body only. One-second windows, so
        # the next period always begins within a second.
        return _errors(429, "Number of requests exceeds throttling limitations.", kind="transport", retryAfter=1)
    sim.pace()
    if sim.take("errors_520"):
        return _errors(520, "Unspecified cause of error.", kind="unspecified", code=500)
    return None


def _auth_response(sim: VspcState) -> Response | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and sim.authorized(token.strip()):
        return None
    response = _errors(401, "Authorization has been denied for this request.", kind="security")
    response.headers["WWW-Authenticate"] = "Bearer"
    return response


def _forbid() -> None:
    if _sim().faults.forbidden:
        raise ApiError(403, "Access to the requested resource is forbidden.", kind="security")


def _paging() -> tuple[int, int]:
    return int_param("limit", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE), int_param("offset", 0, 0, 2**31 - 1)


def _page(
    key: str, rows: Callable[[], list[Json]], *, known_rows: Callable[[], Iterable[Json]] | None = None
) -> Response:
    limit, offset = _paging()
    sim = _sim()
    filters, sorts, selects = json_param("filter"), json_param("sort"), json_param("select")
    cache_key = (key, request.path, json.dumps([filters, sorts, sim.faults.to_json()], sort_keys=True))
    found = sim._pages.get(cache_key) if sim.cache_pages else None
    query = Query(sim.known_paths(key, known_rows or rows))
    if found is None:
        found = query.sort(query.filter(rows(), filters), sorts)
        if sim.cache_pages:
            sim._pages[cache_key] = found
    return _envelope(len(found), offset, query.select(found[offset : offset + limit], selects))


def _envelope(total: int, offset: int, data: list[Json]) -> Response:
    paging = {"total": total, "count": len(data), "offset": offset}
    body = {"meta": {"pagingInfo": paging}, "data": data, "errors": None}
    response = json_response(body)
    broken = _sim().faults.malformed_page
    if broken and request.path == API + broken.path and offset == broken.offset:
        cut_in_half(response, as_text=True)  # invalid JSON with status 200
    return response


def _single(data: Json) -> Response:
    return json_response({"meta": None, "data": data, "errors": None})


def _expand_organization() -> bool:
    values: list[str] = []
    for raw in request.args.getlist("expand"):
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = raw
        if isinstance(parsed, list):
            values.extend(str(value) for value in parsed)
        else:
            values.extend(str(parsed).split(","))
    values = [v.strip() for v in values if v.strip()]
    for value in values:
        if value != "Organization":
            raise ApiError(400, f"The value '{value}' is not valid for expand.", parameter="expand")
    return bool(values)


def _check_uid(value: str, parameter: str) -> None:
    try:
        uuid.UUID(value)
    except ValueError:
        raise ApiError(400, f"The value '{value}' is not valid.", parameter=parameter) from None


def _password_grant(sim: VspcState) -> Response:
    username, password = request.form.get("username", ""), request.form.get("password", "")
    expected = sim.users.get(username)
    if sim.faults.wrong_credentials or expected is None or not secrets.compare_digest(expected, password):
        return _oauth_error("invalid_request", BAD_CREDENTIALS)
    return json_response(sim.issue_tokens())


def _refresh_grant(sim: VspcState) -> Response:
    if not sim.use_refresh_token(request.form.get("refresh_token", "")):
        return _oauth_error("invalid_grant", "The refresh token is invalid or expired.")
    return json_response(sim.issue_tokens())


_GRANTS: dict[str, Callable[[VspcState], Response]] = {"password": _password_grant, "refresh_token": _refresh_grant}


@api.post("/token")
def token() -> Response:
    grant = request.form.get("grant_type")
    if not grant:
        return _oauth_error("invalid_request", "The grant_type parameter is required.")
    handler = _GRANTS.get(grant)
    if handler is None:  # authorization_code, public_key, mfa and as exist in Veeam but not here
        return _oauth_error("unsupported_grant_type", f"The grant type '{grant}' is not supported.")
    return handler(_sim())


@api.get("/about")
def about() -> Response:
    sim = _sim()
    version = sim.faults.server_version
    return _single(
        {
            **sim.about,
            "actualVawVersion": "6.3.0.177",
            "actualValVersion": "6.3.0.10",
            "actualVamVersion": "2.1.0.229",
            "serverVersion": version,
            "windowsManagementAgentVersion": version,
            "linuxManagementAgentVersion": version,
            "macManagementAgentVersion": version,
        }
    )


@api.get("/organizations/companies")
def companies() -> Response:
    _forbid()
    expand = _expand_organization()
    return _page(f"companies:{expand}", lambda: _sim().company_views(expand))


@api.get("/organizations/companies/<company_uid>")
def company(company_uid: str) -> Response:
    _forbid()
    _check_uid(company_uid, "companyUid")
    for view in _sim().company_views(_expand_organization()):
        if view["instanceUid"] == company_uid.lower():
            return _single(view)
    raise ApiError(404, f"Company with UID {company_uid} does not exist.")


@api.get("/infrastructure/backupServers/jobs")
def server_jobs() -> Response:
    _forbid()
    sim = _sim()
    return _page("server_jobs", sim.server_job_views, known_rows=lambda: sim.server_jobs)


@api.get("/infrastructure/backupAgents/jobs")
def agent_jobs() -> Response:
    _forbid()
    sim = _sim()
    return _page("agent_jobs", sim.agent_job_views, known_rows=lambda: sim.agent_jobs)


@api.get("/alarms/active")
def alarms() -> Response:
    _forbid()
    return _page("alarms", lambda: _sim().alarms)


@api.get("/alarms/active/<alarm_uid>/history")
def alarm_history(alarm_uid: str) -> Response:
    _forbid()
    _check_uid(alarm_uid, "activeAlarmUid")
    sim = _sim()
    history = sim.alarm_history.get(alarm_uid.lower())
    if history is None:
        raise ApiError(404, f"Active alarm with UID {alarm_uid} does not exist.")
    return _page(
        "alarm_history",
        lambda: history,
        known_rows=lambda: (row for rows in sim.alarm_history.values() for row in rows),
    )


def _choice(name: str, allowed: tuple[str, ...], default: str | None = None) -> str | None:
    value = request.args.get(name, default)
    if value is not None and value not in allowed:
        raise ApiError(400, f"The value '{value}' is not valid.", parameter=name)
    return value


def _moment(name: str) -> int | None:
    raw = request.args.get(name)
    ticks = None if raw is None else parse_ticks(raw)
    if raw is not None and ticks is None:
        raise ApiError(400, f"The value '{raw}' is not a valid date-time.", parameter=name)
    return ticks


@api.get("/eventLogs/activityLogs")
def activity_logs() -> Response:
    """Veeam's spec gives this operation its own parameters and no ``filter``/``sort``."""
    _forbid()
    limit, offset = _paging()
    low, high = _moment("from"), _moment("to")
    kind = _choice("activityLogKind", ("Internal", "External"))
    direction = _choice("dateSortingDirection", ("ascending", "descending"), "descending")
    wanted = {
        field: value.lower()
        for field, value in (
            ("organizationUid", request.args.get("organizationUid")),
            ("userUid", request.args.get("userUid")),
        )
        if value
    }

    def keep(row: Json) -> bool:
        moment = parse_ticks(row["date"]) or 0
        return (
            (low is None or moment >= low)
            and (high is None or moment <= high)
            and (kind is None or row["activityKind"] == kind)
            and all((row[field] or "").lower() == value for field, value in wanted.items())
        )

    rows = [row for row in _sim().activity_logs if keep(row)]
    if direction == "descending":
        rows.reverse()
    return _envelope(len(rows), offset, rows[offset : offset + limit])


def main(argv: Sequence[str] | None = None) -> int:
    return serve_main(
        argv,
        prog="python -m vectis.simulators.vspc",
        description="Veeam Service Provider Console REST API v3 simulator",
        default_port=18080,
        arguments=_arguments,
        build_state=_build_state,
        banner=_banner,
        create_app=create_app,
    )


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--companies", type=int, default=BENCH_CUSTOMERS, help="with --scale bench")
    parser.add_argument("--jobs", type=int, default=BENCH_JOBS, help="with --scale bench")
    parser.add_argument("--alarms", type=int, default=10000, help="with --scale bench")


def _build_state(args: argparse.Namespace) -> VspcState:
    state = (
        VspcState.seeded(seed=args.seed)
        if args.scale == "demo"
        else VspcState.at_scale(companies=args.companies, jobs=args.jobs, alarms=args.alarms, seed=args.seed)
    )
    state.cache_pages = args.scale == "bench"
    return state


def _banner(state: VspcState, root: str) -> str:
    return (
        f"VSPC simulator (REST API {API_VERSION}, serverVersion {state.faults.server_version}) at {root}{API}\n"
        f"  username: {DEMO_USERNAME}   password: {DEMO_PASSWORD}\n"
        f"  API key:  {DEMO_API_KEY}\n"
        f"  {len(state.companies)} companies, {len(state.server_jobs)} backup server jobs, "
        f"{len(state.agent_jobs)} agent jobs, {len(state.alarms)} active alarms"
    )
