"""The Graph simulator's HTTP side: Entra ID's client-credentials token endpoint, ``/v1.0`` with Bearer tokens (each
for one customer tenant, carrying the permissions granted there), Graph's OData envelope with ``$top``/``$skiptoken``
and ``@odata.nextLink`` paging, the posture lists, the fault knobs applied to every request, the ``/_sim`` controls
that change a tenant's posture; ``main`` serves it."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, Response, request
from werkzeug.exceptions import HTTPException

from vectis.simulators.base import Json, Simulator, json_response, received_body, route_pattern, serve_main, under
from vectis.simulators.fixtures import BENCH_CUSTOMERS
from vectis.simulators.graph.state import Caller, GraphState
from vectis.simulators.graph.vendor import (
    API,
    CA_POLICIES,
    COMPLIANCE_STATES,
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DIRECTORY_ROLES,
    MANAGED_DEVICES,
    ORGANIZATION,
    POLICY_STATES,
    REGISTRATION,
    SECURE_SCORES,
    TOKEN_SUFFIX,
    TOP_MAX,
    ApiError,
    OAuthError,
    bad_request,
    denied,
    forbidden,
    no_intune,
    not_premium,
)

api = Blueprint("graph_api", __name__)
simulator: Simulator[GraphState] = Simulator("graph", "vectis.simulators.graph", "Microsoft Graph")
controls = simulator.controls
_sim = simulator.state


def create_app(state: GraphState | None = None) -> Flask:
    """The simulator as a Flask app over ``state`` (a fresh ``GraphState.seeded()`` when omitted)."""
    return simulator.create_app(
        state if state is not None else GraphState.seeded(),
        api,
        errors={ApiError: _api_error, OAuthError: _oauth_error, HTTPException: _http_error},
        server_error=lambda: _api_error(ApiError(500, "generalException", "An unexpected error occurred.")),
    )


def _api_error(error: ApiError) -> Response:
    return json_response(error.body(), error.status, error.headers)


def _oauth_error(error: OAuthError) -> Response:
    return json_response(error.body(), error.status)


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    if status == 404:
        return _api_error(
            ApiError(404, "Request_ResourceNotFound", f"Resource not found for the segment {request.path}.")
        )
    if status == 405:
        return _api_error(ApiError(405, "Request_BadRequest", f"{request.method} is not allowed on {request.path}."))
    return _api_error(ApiError(status, "BadRequest", error.description or error.name))


def _token_request() -> bool:
    return request.path.endswith(TOKEN_SUFFIX)


def _kept(body: Any) -> Any:
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
        raise ApiError(429, "TooManyRequests", "Too many requests.", {"Retry-After": "1"})
    if under(API) and sim.take("throttle_next"):
        raise ApiError(429, "TooManyRequests", "Too many requests.", {"Retry-After": str(sim.faults.retry_after)})
    sim.pace()
    if sim.take("errors_5xx"):
        raise ApiError(sim.faults.error_status, "serviceNotAvailable", "The service is temporarily unavailable.")
    if under(API) and request.url_rule is not None:
        request.environ["graph.caller"] = sim.authorize(request.headers.get("Authorization", ""))
    return None


@api.after_app_request
def _finish(response: Response) -> Response:
    if under(API) or _token_request():
        _sim().record(f"{request.method} {route_pattern()}", response.status_code)
    return response


def _caller(needs: tuple[str, ...], refusal: Callable[[tuple[str, ...]], ApiError] = denied) -> Caller:
    caller: Caller = request.environ["graph.caller"]
    if not caller.roles & set(needs):
        raise refusal(needs)
    return caller


# --- Entra ID ------------------------------------------------------------------------------------------


@api.post(f"/<tenant>{TOKEN_SUFFIX}")
def token(tenant: str) -> Response:
    form = {key: str(value) for key, value in request.form.items()}
    return json_response(_sim().grant(tenant, form))


# --- lists: {"@odata.context", "value", "@odata.nextLink"?} -------------------------------------------

EQ = re.compile(r"^\s*(\w+)\s+eq\s+('(?:[^']|'')*'|true|false)\s*$", re.I)


def _test(filterable: set[str]) -> Callable[[Json], bool]:
    """``$filter=<field> eq <value>`` on a field Graph filters that list by; 400 for anything else."""
    text = request.args.get("$filter", "").strip()
    if not text:
        return lambda _row: True
    found = EQ.match(text)
    if found is None or found[1] not in filterable:
        raise bad_request(f"Invalid filter clause: {text}")
    name, raw = found[1], found[2]
    value: Any = raw[1:-1].replace("''", "'") if raw.startswith("'") else raw.lower() == "true"
    return lambda row: row.get(name) == value


def _listed(
    rows: list[Json], entity: str, *, filterable: frozenset[str] = frozenset(), expand: str | None = None
) -> Response:
    allowed = {"$top", "$skiptoken", "$filter", "$select", "$expand"}
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        raise bad_request(f"Query option '{unknown[0]}' is not supported.")
    if request.args.get("$expand") not in (None, expand):
        raise bad_request(f"Could not find a property named '{request.args['$expand']}' to expand.")
    test = _test(set(filterable))
    top_raw, skip_raw = request.args.get("$top", str(_sim().page_size)), request.args.get("$skiptoken", "0")
    if not top_raw.isdigit() or not 1 <= int(top_raw) <= TOP_MAX:
        raise bad_request(f"Invalid page size specified: '{top_raw}'. Must be between 1 and {TOP_MAX} inclusive.")
    if not skip_raw.isdigit():
        raise bad_request("Invalid $skiptoken.")
    top, skip = int(top_raw), int(skip_raw)
    chosen = [row for row in rows if test(row)]
    page = [GraphState.shown(row) for row in chosen[skip : skip + top]]
    status, headers = 200, {}
    if request.path.removeprefix(API) in _sim().faults.partial:
        # A provider behind Graph timed out: what came, and a warning that it is not all [C: secureScores can].
        page, status = page[: max(len(page) // 2, 1) if page else 0], 206
        headers["Warning"] = '199 - "Some providers did not respond in time; the results are partial."'
    body: Json = {"@odata.context": f"{request.url_root}v1.0/$metadata#{entity}", "value": page}
    if skip + top < len(chosen):
        query = {**request.args.to_dict(), "$skiptoken": str(skip + top), "$top": str(top)}
        body["@odata.nextLink"] = f"{request.url_root.rstrip('/')}{request.path}?{urlencode(query)}"
    return json_response(body, status, headers)


@api.get(f"{API}/organization")
def organization() -> Response:
    tenant = _caller(ORGANIZATION).tenant
    org = {
        "id": tenant["id"], "displayName": tenant["displayName"], "tenantType": "AAD",
        "verifiedDomains": [{"name": tenant["domain"], "isDefault": True, "isInitial": True, "type": "Managed"}],
    }  # fmt: skip
    return _listed([org], "organization")


@api.get(f"{API}/security/secureScores")
def secure_scores() -> Response:
    tenant = _caller(SECURE_SCORES, forbidden).tenant
    return _listed(tenant["scores"], "security/secureScores")


@api.get(f"{API}/security/secureScoreControlProfiles")
def control_profiles() -> Response:
    _caller(SECURE_SCORES, forbidden)
    return _listed(_sim().profiles, "security/secureScoreControlProfiles")


@api.get(f"{API}/deviceManagement/managedDevices")
def managed_devices() -> Response:
    tenant = _caller(MANAGED_DEVICES, forbidden).tenant
    if not _sim().has_intune(tenant):
        raise no_intune()
    return _listed(tenant["devices"], "deviceManagement/managedDevices", filterable=frozenset({"complianceState"}))


@api.get(f"{API}/deviceManagement/managedDevices/<device_id>/deviceCompliancePolicyStates")
def compliance_policy_states(device_id: str) -> Response:
    tenant = _caller(MANAGED_DEVICES, forbidden).tenant
    if not _sim().has_intune(tenant):
        raise no_intune()
    device = next((d for d in tenant["devices"] if d["id"] == device_id), None)
    if device is None:
        raise ApiError(404, "ResourceNotFound", f"Device {device_id} was not found.")
    rows = [{**p, "settingStates": [{"setting": p["_failing"], "state": "nonCompliant"}]} for p in device["_policies"]]
    return _listed(rows, "deviceCompliancePolicyStates")


@api.get(f"{API}/identity/conditionalAccess/policies")
def ca_policies() -> Response:
    tenant = _caller(CA_POLICIES).tenant
    if not _sim().has_p1(tenant):
        raise not_premium()
    return _listed(tenant["policies"], "identity/conditionalAccess/policies")


@api.get(f"{API}/directoryRoles")
def directory_roles() -> Response:
    tenant = _caller(DIRECTORY_ROLES).tenant
    users = {u["id"]: u for u in tenant["users"]}
    expand = request.args.get("$expand") == "members"
    rows = []
    for role in tenant["directoryRoles"]:
        row = dict(role)
        if expand:
            row["members"] = [
                {"@odata.type": "#microsoft.graph.user", **users[m]} for m in role["_members"] if m in users
            ]
        rows.append(row)
    return _listed(rows, "directoryRoles", expand="members")


@api.get(f"{API}/reports/authenticationMethods/userRegistrationDetails")
def registration_details() -> Response:
    tenant = _caller(REGISTRATION).tenant
    if not _sim().has_p1(tenant):
        raise not_premium()
    flags = frozenset({"isAdmin", "isMfaRegistered", "isMfaCapable", "isSsprRegistered", "isPasswordlessCapable"})
    return _listed(tenant["registrations"], "reports/authenticationMethods/userRegistrationDetails", filterable=flags)


# --- test controls -------------------------------------------------------------------------------------


def _control(change: Callable[[Json], Json]) -> Response:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return json_response({"error": "send a JSON object"}, 400)
    try:
        return json_response(GraphState.shown(change(body)))
    except (KeyError, StopIteration, TypeError):
        return json_response({"error": "no such tenant, device or policy"}, 404)


@controls.post("/compliance")
def sim_compliance() -> Response:
    """A device's compliance changes: ``{"tenant", "device" (its name), "state"}``."""

    def change(body: Json) -> Json:
        if body.get("state") not in COMPLIANCE_STATES:
            raise TypeError
        return _sim().set_compliance(body["tenant"], body["device"], body["state"])

    return _control(change)


@controls.post("/policy")
def sim_policy() -> Response:
    """A Conditional Access policy's state changes: ``{"tenant", "policy" (its name), "state"}``."""

    def change(body: Json) -> Json:
        if body.get("state") not in POLICY_STATES:
            raise TypeError
        return _sim().set_policy_state(body["tenant"], body["policy"], body["state"])

    return _control(change)


# --- the command line ----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    return serve_main(
        argv,
        prog="python -m vectis.simulators.graph",
        description="Microsoft Graph (and Entra ID token endpoint) simulator",
        default_port=18088,
        arguments=_arguments,
        build_state=_build_state,
        banner=_banner,
        create_app=create_app,
    )


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tenants", type=int, default=BENCH_CUSTOMERS, help="with --scale bench")


def _build_state(args: argparse.Namespace) -> GraphState:
    if args.scale == "demo":
        return GraphState.seeded(seed=args.seed)
    return GraphState.at_scale(tenants=args.tenants, seed=args.seed)


def _banner(state: GraphState, root: str) -> str:
    first = state.tenants[state.demo_tenant]
    return (
        f"Microsoft Graph simulator at {root} (stands for login.microsoftonline.com and graph.microsoft.com; "
        f"API under {API})\n"
        f"  App (client) ID: {DEMO_CLIENT_ID}   secret: {DEMO_CLIENT_SECRET}\n"
        f"  First tenant: {state.demo_tenant} ({first['displayName']}); {len(state.tenants)} tenants"
    )
