"""The Huntress simulator's HTTP side: ``/v1`` with HTTP Basic auth, resource-keyed answers with a ``pagination``
object and page tokens, its filters, isolation and resolution, the fault knobs applied to every request, and the
``/_sim`` control that stands for Huntress's SOC sending a new incident report; ``main`` serves it."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from flask import Blueprint, Flask, Response, request
from werkzeug.exceptions import HTTPException

from vectis.simulators.base import Json, Simulator, json_response, received_body, route_pattern, serve_main, under
from vectis.simulators.fixtures import BENCH_CUSTOMERS
from vectis.simulators.huntress.state import HuntressState
from vectis.simulators.huntress.vendor import (
    API,
    DEMO_API_KEY,
    DEMO_API_SECRET,
    INDICATOR_TYPES,
    LIMIT_DEFAULT,
    LIMIT_MAX,
    PLATFORMS,
    SEVERITIES,
    STATUSES,
    ApiError,
    bad_request,
)

api = Blueprint("huntress_api", __name__)
simulator: Simulator[HuntressState] = Simulator("huntress", "vectis.simulators.huntress", "Huntress")
controls = simulator.controls  # the shared /_sim routes, and the test control below
_sim = simulator.state


def create_app(state: HuntressState | None = None) -> Flask:
    """The simulator as a Flask app over ``state`` (a fresh ``HuntressState.seeded()`` when omitted)."""
    return simulator.create_app(
        state if state is not None else HuntressState.seeded(),
        api,
        errors={ApiError: _api_error, HTTPException: _http_error},
        server_error=lambda: _api_error(ApiError(500, "An unexpected error occurred.")),
    )


def _api_error(error: ApiError) -> Response:
    return json_response(error.body(), error.status, error.headers)


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    if status == 404:
        return _api_error(ApiError(404, f"No resource at {request.path}."))
    if status == 405:
        return _api_error(ApiError(405, f"{request.method} is not allowed on {request.path}."))
    return _api_error(ApiError(status, error.description or error.name))


@api.before_app_request
def _faults_then_auth() -> Response | None:
    if not under(API):
        return None
    sim = _sim()
    # The Authorization header is not kept: what came in is only the method, path, query and body.
    sim.receive(request.method, request.path, request.args.to_dict(), received_body())
    if sim.throttled():
        # Huntress allows 60 requests a minute [T]; the knob counts per second so tests stay fast.
        raise ApiError(429, "Rate limit exceeded.", {"Retry-After": "1"})
    sim.pace()
    if sim.take("errors_5xx"):
        raise ApiError(sim.faults.error_status, "Try again later.")
    if request.url_rule is not None:
        sim.authorize(request.headers.get("Authorization", ""), write=request.method != "GET")
    sim.settle()
    return None


@api.after_app_request
def _finish(response: Response) -> Response:
    if under(API):
        _sim().record(f"{request.method} {route_pattern(API)}", response.status_code)
    return response


# --- query arguments -----------------------------------------------------------------------------------

PAGING = {"limit", "page_token", "sort_field", "sort_direction"}


def _only(allowed: set[str]) -> None:
    """A query argument the endpoint does not know answers 400 (that Huntress refuses rather than ignores them is
    [U]: it keeps a connector's typo from passing as "every row")."""
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        raise bad_request(f"Unknown parameter: {', '.join(unknown)}.")


def _limit() -> int:
    raw = request.args.get("limit", str(LIMIT_DEFAULT))
    if not raw.isdigit() or not 1 <= int(raw) <= LIMIT_MAX:
        raise bad_request(f"limit: must be between 1 and {LIMIT_MAX}.")
    return int(raw)


def _integer(name: str) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    if not raw.isdigit():
        raise bad_request(f"{name}: must be an integer.")
    return int(raw)


def _choice(name: str, allowed: Sequence[str]) -> str | None:
    raw = request.args.get(name)
    if raw is not None and raw not in allowed:
        raise bad_request(f"{name}: must be one of {', '.join(allowed)}.")
    return raw


def _paged(resource: str, rows: list[Json]) -> Response:
    """``sort_field`` (``id``, ``created_at``, ``updated_at``) then the id, so the order is total and page tokens
    stable; ``sort_direction`` ``desc`` by default, as Huntress's."""
    by = _choice("sort_field", ("id", "created_at", "updated_at")) or "id"
    reverse = (_choice("sort_direction", ("asc", "desc")) or "desc") == "desc"

    def key(row: Json) -> list[Any]:
        return [row[by] if by != "id" else 0, row["id"]]

    chosen, token = HuntressState.page(rows, key, request.args.get("page_token"), _limit(), reverse=reverse)
    url = None
    if token:
        query = {**request.args.to_dict(), "page_token": token}
        url = request.base_url + "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return json_response({resource: chosen, "pagination": {"next_page_token": token, "next_page_url": url}})


# --- the account and organizations ---------------------------------------------------------------------


@api.get(f"{API}/account")
def account() -> Response:
    return json_response({"account": _sim().account})


@api.get(f"{API}/organizations")
def organizations() -> Response:
    _only(PAGING)
    return _paged("organizations", list(_sim().organizations.values()))


# --- agents --------------------------------------------------------------------------------------------


@api.get(f"{API}/agents")
def agents() -> Response:
    _only(PAGING | {"organization_id", "platform", "hostname"})
    organization, platform = _integer("organization_id"), _choice("platform", ("windows", "darwin", "linux"))
    hostname = request.args.get("hostname")
    rows = [
        dict(agent)
        for agent in _sim().agents.values()
        if (organization is None or agent["organization_id"] == organization)
        and (platform is None or agent["platform"] == platform)
        and (hostname is None or agent["hostname"] == hostname)
    ]
    return _paged("agents", rows)


@api.get(f"{API}/agents/<int:agent_id>")
def agent(agent_id: int) -> Response:
    return json_response({"agent": dict(_sim().agent_or_404(agent_id))})


@api.post(f"{API}/agents/<int:agent_id>/isolation")
def isolate(agent_id: int) -> Response:
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    if not isinstance(body.get("reason", ""), str) or not isinstance(body.get("strict_isolation", False), bool):
        raise bad_request("reason: must be text; strict_isolation: true or false.")
    return json_response({"agent": dict(_sim().firewall(agent_id, "Pending Isolation"))}, 201)


@api.delete(f"{API}/agents/<int:agent_id>/isolation")
def release(agent_id: int) -> Response:
    _sim().firewall(agent_id, "Pending Release")
    return Response(status=204)


# --- incident reports ----------------------------------------------------------------------------------


def _report_rows(organization: int | None) -> list[Json]:
    status, severity = _choice("status", STATUSES), _choice("severity", SEVERITIES)
    platform, indicator = _choice("platform", PLATFORMS), _choice("indicator_type", INDICATOR_TYPES)
    agent_id = _integer("agent_id")
    sim = _sim()
    with sim._lock:
        return [
            {**report, "remediations": dict(report["remediations"])}
            for report in sim.reports.values()
            if (organization is None or report["organization_id"] == organization)
            and (agent_id is None or report["agent_id"] == agent_id)
            and (status is None or report["status"] == status)
            and (severity is None or report["severity"] == severity)
            and (platform is None or report["platform"] == platform)
            and (indicator is None or indicator in report["indicator_types"])
        ]


REPORT_FILTERS = {"status", "severity", "platform", "indicator_type", "agent_id"}


@api.get(f"{API}/incident_reports")
def incident_reports() -> Response:
    _only(PAGING | REPORT_FILTERS | {"organization_id"})
    return _paged("incident_reports", _report_rows(_integer("organization_id")))


@api.get(f"{API}/organizations/<int:organization_id>/incident_reports")
def organization_incident_reports(organization_id: int) -> Response:
    _only(PAGING | REPORT_FILTERS)
    return _paged("incident_reports", _report_rows(organization_id))


@api.get(f"{API}/incident_reports/<int:report_id>")
def incident_report(report_id: int) -> Response:
    report = _sim().reports.get(report_id)
    if report is None:
        raise ApiError(404, "Incident Report not found.")
    return json_response({"incident_report": dict(report)})


@api.post(f"{API}/incident_reports/<int:report_id>/resolution")
def resolution(report_id: int) -> Response:
    return json_response({"incident_report": dict(_sim().resolve(report_id))}, 201)


# --- test controls -------------------------------------------------------------------------------------


@controls.post("/incident_reports")
def sim_add_report() -> Response:
    """Huntress's SOC sends a new incident report now: ``{"agent_id", "severity"?, "kind"?}`` (``kind``: an index
    into ``seed.KINDS``)."""
    body = request.get_json(silent=True) or {}
    try:
        if not isinstance(body, dict) or not isinstance(body.get("agent_id"), int):
            raise bad_request("agent_id is required (an integer).")
        report = _sim().add_report(body["agent_id"], severity=body.get("severity"), kind_index=body.get("kind"))
    except ApiError as error:
        return _api_error(error)
    return json_response({"incident_report": report}, 201)


@controls.post("/webhook_endpoints")
def sim_add_endpoint() -> Response:
    """An admin adds an endpoint in the Huntress portal (Settings → Webhooks): ``{"url", "filter_types"?,
    "secret"?}``; the answer carries the signing secret the portal shows."""
    body = request.get_json(silent=True) or {}
    url, types = (
        body.get("url") if isinstance(body, dict) else None,
        body.get("filter_types") if isinstance(body, dict) else None,
    )
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return _api_error(bad_request("url is required (http or https)."))
    if types is not None and not (isinstance(types, list) and all(isinstance(t, str) for t in types)):
        return _api_error(bad_request("filter_types: a list of event types."))
    secret = body.get("secret")
    return json_response(_sim().add_endpoint(url, types, secret if isinstance(secret, str) else None), 201)


@controls.get("/deliveries")
def sim_deliveries() -> Response:
    sim = _sim()
    sim.drain()
    with sim._lock:
        return json_response(list(sim.deliveries))


# --- the command line ----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    return serve_main(
        argv,
        prog="python -m vectis.simulators.huntress",
        description="Huntress (API v1) simulator",
        default_port=18086,
        arguments=_arguments,
        build_state=_build_state,
        banner=_banner,
        create_app=create_app,
    )


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--organizations", type=int, default=BENCH_CUSTOMERS, help="with --scale bench")
    parser.add_argument("--reports", type=int, default=5_000, help="with --scale bench")


def _build_state(args: argparse.Namespace) -> HuntressState:
    if args.scale == "demo":
        return HuntressState.seeded(seed=args.seed)
    return HuntressState.at_scale(organizations=args.organizations, reports=args.reports, seed=args.seed)


def _banner(state: HuntressState, root: str) -> str:
    return (
        f"Huntress simulator at {root} (stands for https://api.huntress.io; API under {API})\n"
        f"  API key: {DEMO_API_KEY}   API secret: {DEMO_API_SECRET}\n"
        f"  {len(state.organizations)} organizations, {len(state.agents)} agents, "
        f"{len(state.reports)} incident reports"
    )
