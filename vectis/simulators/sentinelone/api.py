"""The SentinelOne simulator's HTTP side: ``/web/api/v2.1`` with API-token auth, S1's envelope and cursor paging,
its filters, the agent and threat actions, the fault knobs applied to every request, and the ``/_sim`` control that
stands for an agent detecting a threat; ``main`` serves it."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

from flask import Blueprint, Flask, Response, request
from werkzeug.exceptions import HTTPException

from vectis.simulators.base import Json, Simulator, json_response, received_body, route_pattern, serve_main, under
from vectis.simulators.fixtures import BENCH_CUSTOMERS
from vectis.simulators.sentinelone.state import SentinelOneState
from vectis.simulators.sentinelone.vendor import (
    API,
    CONFIDENCE_LEVELS,
    DEMO_API_TOKEN,
    INCIDENT_STATUSES,
    LIMIT_DEFAULT,
    LIMIT_MAX,
    NETWORK_STATUSES,
    TOKEN_DETAILS,
    VERDICTS,
    ApiError,
    bad_request,
    iso,
    parse_iso,
)

api = Blueprint("sentinelone_api", __name__)
simulator: Simulator[SentinelOneState] = Simulator("sentinelone", "vectis.simulators.sentinelone", "SentinelOne")
controls = simulator.controls  # the shared /_sim routes, and the test control below
_sim = simulator.state


def create_app(state: SentinelOneState | None = None) -> Flask:
    """The simulator as a Flask app over ``state`` (a fresh ``SentinelOneState.seeded()`` when omitted)."""
    return simulator.create_app(
        state if state is not None else SentinelOneState.seeded(),
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


def _kept(body: Any) -> Any:
    """What the received log keeps of a body: an API token in it (what api-token-details is asked about, in
    ``data`` or sent wrongly beside it) is not kept."""
    if not isinstance(body, dict):
        return body
    kept = {key: "(hidden)" if key == "apiToken" else value for key, value in body.items()}
    if isinstance(kept.get("data"), dict):
        kept["data"] = _kept(kept["data"])
    return kept


@api.before_app_request
def _faults_then_auth() -> Response | None:
    if not under(API):
        return None
    sim = _sim()
    sim.receive(request.method, request.path, request.args.to_dict(), _kept(received_body()))
    if sim.throttled():
        raise ApiError(429, "Too many requests; retry in a second.", {"Retry-After": "1"})
    sim.pace()
    if sim.take("errors_5xx"):
        raise ApiError(sim.faults.error_status, "Try again later.")
    if request.url_rule is not None:
        # api-token-details reads only: a Viewer may ask when its own token expires.
        write = request.method != "GET" and request.path != TOKEN_DETAILS
        sim.authorize(request.headers.get("Authorization", ""), write=write)
    sim.settle()
    return None


@api.after_app_request
def _finish(response: Response) -> Response:
    if under(API):
        _sim().record(f"{request.method} {route_pattern(API)}", response.status_code)
    return response


# --- query arguments -----------------------------------------------------------------------------------

PAGING = {"cursor", "limit", "sortBy", "sortOrder"}


def _only(allowed: set[str]) -> None:
    """S1 answers 400 to a filter it does not know (rather than ignoring it and returning everything)."""
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        raise bad_request(f"Unknown filter: {', '.join(unknown)}.")


def _limit() -> int:
    raw = request.args.get("limit", str(LIMIT_DEFAULT))
    if not raw.isdigit() or not 1 <= int(raw) <= LIMIT_MAX:
        raise bad_request(f"limit: must be between 1 and {LIMIT_MAX}.")
    return int(raw)


def _listed(name: str) -> set[str] | None:
    """A comma-separated filter (``ids=1,2``); None when absent."""
    raw = request.args.get(name)
    if raw is None:
        return None
    found = {part.strip() for part in raw.split(",") if part.strip()}
    if not found:
        raise bad_request(f"{name}: give at least one value.")
    return found


def _choices(name: str, allowed: Sequence[str]) -> set[str] | None:
    found = _listed(name)
    if found is not None and found - set(allowed):
        raise bad_request(f"{name}: each must be one of {', '.join(allowed)}.")
    return found


def _boolean(name: str) -> bool | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    if raw.lower() not in ("true", "false"):
        raise bad_request(f"{name}: must be true or false.")
    return raw.lower() == "true"


def _sort(allowed: dict[str, Callable[[Json], Any]], default: str) -> tuple[Callable[[Json], list[Any]], bool]:
    """``sortBy`` (one of ``allowed``) then the id, so the order is total and cursor paging stable; ``sortOrder``."""
    by = request.args.get("sortBy", default)
    if by not in allowed:
        raise bad_request(f"sortBy: must be one of {', '.join(allowed)}.")
    order = request.args.get("sortOrder", "asc")
    if order not in ("asc", "desc"):
        raise bad_request("sortOrder: must be asc or desc.")
    field = allowed[by]
    return (lambda row: [field(row), int(row["id"])]), order == "desc"


COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}


def _time_filters(name: str) -> list[Callable[[str], bool]]:
    """``<name>__gt``, ``__gte``, ``__lt``, ``__lte`` (ISO 8601) as checks on a row's ISO time."""
    tests: list[Callable[[str], bool]] = []
    for suffix, compare in COMPARISONS.items():
        raw = request.args.get(f"{name}__{suffix}")
        if raw is None:
            continue
        bound = parse_iso(raw)
        if bound is None:
            raise bad_request(f"{name}__{suffix}: not an ISO 8601 time.")
        tests.append(_comparing(compare, bound))
    return tests


def _comparing(compare: Callable[[float, float], bool], bound: float) -> Callable[[str], bool]:
    return lambda value: compare(parse_iso(value) or 0.0, bound)


def _paged(rows: list[Json], key: Callable[[Json], list[Any]], reverse: bool) -> tuple[list[Json], Json]:
    chosen, cursor, total = SentinelOneState.page(rows, key, request.args.get("cursor"), _limit(), reverse=reverse)
    return chosen, {"totalItems": total, "nextCursor": cursor}


# --- the token -----------------------------------------------------------------------------------------


@api.post(TOKEN_DETAILS)
def api_token_details() -> Response:
    body = request.get_json(silent=True)
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("apiToken"), str):
        raise bad_request('Send {"data": {"apiToken": "<token>"}}.')
    return json_response({"data": _sim().token_details(data["apiToken"])})


# --- sites ---------------------------------------------------------------------------------------------


@api.get(f"{API}/sites")
def sites() -> Response:
    _only(PAGING | {"siteIds", "accountIds", "accountId", "state", "name"})
    sim = _sim()
    ids, accounts = _listed("siteIds"), _listed("accountIds") or _listed("accountId")
    state, name = request.args.get("state"), request.args.get("name")
    rows = [
        site
        for site in sim.sites.values()
        if (ids is None or site["id"] in ids)
        and (accounts is None or site["accountId"] in accounts)
        and (state is None or site["state"] == state)
        and (name is None or site["name"] == name)
    ]
    key, reverse = _sort({"id": lambda r: 0, "name": lambda r: r["name"], "createdAt": lambda r: r["createdAt"]}, "id")
    chosen, pagination = _paged(rows, key, reverse)
    every = list(sim.sites.values())
    totals = {
        "activeLicenses": sum(site["activeLicenses"] for site in every),
        "totalLicenses": sum(site["totalLicenses"] for site in every),
    }
    return json_response({"data": {"allSites": totals, "sites": chosen}, "pagination": pagination})


# --- agents --------------------------------------------------------------------------------------------


@api.get(f"{API}/agents")
def agents() -> Response:
    _only(PAGING | {"ids", "siteIds", "accountIds", "networkStatuses", "computerName", "isActive"})
    sim = _sim()
    ids, site_ids, accounts = _listed("ids"), _listed("siteIds"), _listed("accountIds")
    statuses = _choices("networkStatuses", NETWORK_STATUSES)
    name, active = request.args.get("computerName"), _boolean("isActive")
    rows = [
        agent
        for agent in sim.agents.values()
        if (ids is None or agent["id"] in ids)
        and (site_ids is None or agent["siteId"] in site_ids)
        and (accounts is None or agent["accountId"] in accounts)
        and (statuses is None or agent["networkStatus"] in statuses)
        and (name is None or agent["computerName"] == name)
        and (active is None or agent["isActive"] is active)
    ]
    key, reverse = _sort({"id": lambda r: 0, "computerName": lambda r: r["computerName"]}, "id")
    chosen, pagination = _paged(rows, key, reverse)
    return json_response({"data": [sim.agent_view(agent) for agent in chosen], "pagination": pagination})


# --- threats -------------------------------------------------------------------------------------------

THREAT_FILTERS = {
    "ids", "siteIds", "accountIds", "agentIds", "resolved", "incidentStatuses", "analystVerdicts",
    "confidenceLevels", "classifications",
    *(f"{name}__{op}" for name in ("createdAt", "updatedAt") for op in ("gt", "gte", "lt", "lte")),
}  # fmt: skip


@api.get(f"{API}/threats")
def threats() -> Response:
    _only(PAGING | THREAT_FILTERS)
    sim = _sim()
    ids, site_ids, accounts, agent_ids = _listed("ids"), _listed("siteIds"), _listed("accountIds"), _listed("agentIds")
    statuses = _choices("incidentStatuses", INCIDENT_STATUSES)
    verdicts = _choices("analystVerdicts", VERDICTS)
    levels = _choices("confidenceLevels", CONFIDENCE_LEVELS)
    classes, resolved = _listed("classifications"), _boolean("resolved")
    created, updated = _time_filters("createdAt"), _time_filters("updatedAt")

    def keep(threat: Json) -> bool:
        info, agent = threat["threatInfo"], threat["agentRealtimeInfo"]
        return (
            (ids is None or threat["id"] in ids)
            and (site_ids is None or agent["siteId"] in site_ids)
            and (accounts is None or agent["accountId"] in accounts)
            and (agent_ids is None or agent["agentId"] in agent_ids)
            and (statuses is None or info["incidentStatus"] in statuses)
            and (verdicts is None or info["analystVerdict"] in verdicts)
            and (levels is None or info["confidenceLevel"] in levels)
            and (classes is None or info["classification"] in classes)
            and (resolved is None or (info["incidentStatus"] == "resolved") is resolved)
            and all(test(info["createdAt"]) for test in created)
            and all(test(info["updatedAt"]) for test in updated)
        )

    with sim._lock:
        rows = [threat for threat in sim.threats.values() if keep(threat)]
    key, reverse = _sort(
        {
            "id": lambda r: 0,
            "createdAt": lambda r: r["threatInfo"]["createdAt"],
            "updatedAt": lambda r: r["threatInfo"]["updatedAt"],
        },
        "id",
    )
    chosen, pagination = _paged(rows, key, reverse)
    with sim._lock:  # only the page's threats are given their agent's live state
        return json_response({"data": [sim.threat_view(threat) for threat in chosen], "pagination": pagination})


# --- actions: {"filter": {...}, "data": {...}} -> {"data": {"affected": N}} ----------------------------


def _action_body(allowed_filters: set[str]) -> tuple[Json, Json]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("filter"), dict):
        raise bad_request('Send {"filter": {...}, "data": {...}}.')
    chosen, data = body["filter"], body.get("data", {})
    if not isinstance(data, dict):
        raise bad_request("data: must be an object.")
    unknown = sorted(set(chosen) - allowed_filters)
    if unknown:
        raise bad_request(f"filter: unknown field(s) {', '.join(unknown)}.")
    for name, value in chosen.items():
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            raise bad_request(f"filter.{name}: must be a non-empty list of ids (strings).")
    if not chosen:
        # An empty filter would act on every agent or threat of the console: refused, as a guard.
        raise bad_request("filter: name the ids (or sites) to act on.")
    return chosen, data


def _matching(rows: dict[str, Json], chosen: Json, site_of: Callable[[Json], str]) -> list[str]:
    ids, sites = set(chosen.get("ids", [])) or None, set(chosen.get("siteIds", [])) or None
    return [
        key for key, row in rows.items() if (ids is None or key in ids) and (sites is None or site_of(row) in sites)
    ]


def _affected(count: int) -> Response:
    return json_response({"data": {"affected": count}})


def _network(action: str) -> Response:
    chosen, _ = _action_body({"ids", "siteIds"})
    sim = _sim()
    return _affected(sim.network(_matching(sim.agents, chosen, lambda a: a["siteId"]), action))


@api.post(f"{API}/agents/actions/disconnect")
def disconnect() -> Response:
    return _network("disconnect")


@api.post(f"{API}/agents/actions/connect")
def connect() -> Response:
    return _network("connect")


def _threat_ids(chosen: Json) -> list[str]:
    sim = _sim()
    return _matching(sim.threats, chosen, lambda t: t["agentRealtimeInfo"]["siteId"])


@api.post(f"{API}/threats/incident")
def incident() -> Response:
    chosen, data = _action_body({"ids", "siteIds"})
    status, verdict = data.get("incidentStatus"), data.get("analystVerdict")
    if status not in INCIDENT_STATUSES:
        raise bad_request(f"data.incidentStatus: must be one of {', '.join(INCIDENT_STATUSES)}.")
    if verdict is not None and verdict not in VERDICTS:
        raise bad_request(f"data.analystVerdict: must be one of {', '.join(VERDICTS)}.")
    return _affected(_sim().set_incident(_threat_ids(chosen), str(status), verdict))


@api.post(f"{API}/threats/analyst-verdict")
def analyst_verdict() -> Response:
    chosen, data = _action_body({"ids", "siteIds"})
    verdict = data.get("analystVerdict")
    if verdict not in VERDICTS:
        raise bad_request(f"data.analystVerdict: must be one of {', '.join(VERDICTS)}.")
    return _affected(_sim().set_verdict(_threat_ids(chosen), str(verdict)))


# --- test controls -------------------------------------------------------------------------------------


@controls.post("/threats")
def sim_add_threat() -> Response:
    """An agent detects a threat now: ``{"agentId", "classification"?, "confidenceLevel"?, "threatName"?}``."""
    body = request.get_json(silent=True) or {}
    try:
        if not isinstance(body, dict) or not isinstance(body.get("agentId"), str):
            raise bad_request("agentId is required (a string).")
        threat = _sim().add_threat(
            body["agentId"],
            classification=body.get("classification"),
            confidence=body.get("confidenceLevel"),
            name=body.get("threatName"),
        )
    except ApiError as error:
        return _api_error(error)
    return json_response({"data": _sim().threat_view(threat)}, 201)


# --- the command line ----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    return serve_main(
        argv,
        prog="python -m vectis.simulators.sentinelone",
        description="SentinelOne (Management API v2.1) simulator",
        default_port=18084,
        arguments=_arguments,
        build_state=_build_state,
        banner=_banner,
        create_app=create_app,
    )


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sites", type=int, default=BENCH_CUSTOMERS, help="with --scale bench")
    parser.add_argument("--threats", type=int, default=5_000, help="with --scale bench")


def _build_state(args: argparse.Namespace) -> SentinelOneState:
    if args.scale == "demo":
        return SentinelOneState.seeded(seed=args.seed)
    return SentinelOneState.at_scale(sites=args.sites, threats=args.threats, seed=args.seed)


def _banner(state: SentinelOneState, root: str) -> str:
    token = state.tokens[DEMO_API_TOKEN]
    return (
        f"SentinelOne simulator at {root} (stands for https://<tenant>.sentinelone.net; API under {API})\n"
        f"  API token: {DEMO_API_TOKEN}   (expires {iso(token.expires_at)})\n"
        f"  {len(state.sites)} sites, {len(state.agents)} agents, {len(state.threats)} threats"
    )
