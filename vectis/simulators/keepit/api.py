"""The Keepit simulator's HTTP side: XML bodies chosen by ``Accept``, plain-text errors, Basic auth from raw
bytes, one datacenter per region, and the fault knobs applied to every request; ``main`` serves it."""

from __future__ import annotations

import argparse
import base64
import binascii
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from vectis.simulators.base import Json, Simulator, cut_in_half, is_chosen_page, route_pattern, serve_main, under
from vectis.simulators.keepit.state import Credential, KeepitState
from vectis.simulators.keepit.vendor import (
    DEFAULT_PAGE_SIZE,
    DEFAULT_REGION,
    DEMO_PASSWORD,
    DEMO_TOKEN_LOGIN,
    DEMO_TOKEN_PASSWORD,
    DEMO_USERNAME,
    MAX_PAGE_SIZE,
    PARENT_COMPANY,
    PARENT_GUID,
    REALM,
    REGIONS,
    XML,
    iso,
    parse_iso,
)

# --- XML -----------------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return iso(value)
    return str(value)


def _add(parent: ET.Element, tag: str, value: Any = None) -> ET.Element:
    """A child element; ``value`` None leaves it empty."""
    child = ET.SubElement(parent, tag)
    if value is not None:
        child.text = _text(value)
    return child


def _fields(parent: ET.Element, row: Mapping[str, Any], names: Sequence[str]) -> None:
    """One child per name whose value is set (absent, as Keepit omits it, when None)."""
    for name in names:
        if row.get(name) is not None:
            _add(parent, name, row[name])


def _xml(root: ET.Element, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    response = Response(body, status=status, content_type=XML)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _plain(message: str, status: int) -> Response:
    return Response(message + "\n", status=status, content_type="text/plain; charset=utf-8")


class KeepitError(Exception):
    """A plain-text error answer, as Keepit's API gives them."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _version() -> int:
    """The schema version from ``Accept: application/vnd.keepit.v<N>[+xml]``; 0 without one."""
    match = re.search(r"application/vnd\.keepit\.v(\d+)", request.headers.get("Accept", ""))
    return int(match.group(1)) if match else 0


def _body() -> ET.Element:
    try:
        return ET.fromstring(request.get_data())  # noqa: S314 - the simulator parses its own test clients' XML
    except ET.ParseError as error:
        raise KeepitError(400, f"Bad Request: malformed XML body ({error})") from None


def _flag(element: ET.Element | None) -> bool:
    """``<reverse/>`` and ``<reverse>true</reverse>`` are on; ``false``/``0`` and absence are off."""
    if element is None:
        return False
    return (element.text or "").strip().lower() not in ("false", "0")


def _child_text(root: ET.Element, tag: str) -> str | None:
    element = root.find(tag)
    if element is None or element.text is None or not element.text.strip():
        return None
    return element.text.strip()


def _moment(root: ET.Element, tag: str) -> datetime | None:
    text = _child_text(root, tag)
    if text is None:
        return None
    moment = parse_iso(text)
    if moment is None:
        raise KeepitError(400, f"Bad Request: {tag} is not an ISO 8601 time: {text}")
    return moment


def _int_arg(name: str, default: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit():
        raise KeepitError(400, f"Bad Request: {name} must be a non-negative integer")
    return min(int(raw), high)


def _truthy(raw: str | None) -> bool:
    return (raw or "").strip().lower() in ("1", "true", "yes")


# --- the app -------------------------------------------------------------------------------------------

api = Blueprint("keepit_api", __name__, url_prefix="/<region>")
simulator: Simulator[KeepitState] = Simulator("keepit", "vectis.simulators.keepit", "Keepit")
_sim = simulator.state


def create_app(state: KeepitState | None = None) -> Flask:
    """The simulator as a Flask app over ``state`` (a fresh ``KeepitState.seeded()`` when omitted)."""
    return simulator.create_app(
        state if state is not None else KeepitState.seeded(),
        api,
        errors={KeepitError: _keepit_error, HTTPException: _http_error},
        server_error=lambda: _plain("500 Internal Server Error", 500),
        strict_slashes=False,
    )


def _in_controls() -> bool:
    """The simulator's own pages (its controls, the page at its root): no region, no auth, never faulted."""
    return under("/_sim") or request.path == "/"


def _keepit_error(error: KeepitError) -> Response:
    return _plain(error.message, error.status)


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    return _plain(f"{status} {error.name}", status)


def _basic_credentials() -> tuple[str, str] | None:
    """The login and password of a Basic header, from raw bytes: nothing is URL-decoded."""
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        raw = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    login, colon, password = raw.partition(b":")
    if not colon:
        return None
    return login.decode("utf-8", "replace"), password.decode("utf-8", "replace")


def _unauthorized() -> Response:
    response = _plain("401 Unauthorized", 401)
    response.headers["WWW-Authenticate"] = REALM
    return response


def _region_path() -> tuple[str, str]:
    """``("us-dc", "/users/")`` for ``/us-dc/users/``."""
    _, _, rest = request.path.partition("/")
    region, slash, path = rest.partition("/")
    return region, slash + path


@api.url_value_preprocessor
def _drop_region(endpoint: str | None, values: dict[str, Any] | None) -> None:
    if values is not None:
        values.pop("region", None)


@api.before_app_request
def _faults_then_auth() -> Response | None:
    if _in_controls():
        return None
    sim = _sim()
    credentials = _basic_credentials()
    g.keepit_login = credentials[0] if credentials else "(none)"
    region, _ = _region_path()
    if sim.faults.unknown_region or region not in REGIONS:
        return _plain("404 Not Found", 404)
    if sim.throttled():
        response = _plain("429 Too Many Requests", 429)
        response.headers["Retry-After"] = "1"
        return response
    sim.pace()
    if sim.take("errors_5xx"):
        return _plain("503 Service Unavailable", 503)
    credential = sim.authenticate(*credentials) if credentials else None
    if credential is None or region != sim.region:
        return _unauthorized()
    g.keepit_credential = credential
    return None


@api.after_app_request
def _finish(response: Response) -> Response:
    if _in_controls():
        return response
    sim = _sim()
    broken = sim.faults.malformed_xml
    if broken and response.status_code == 200 and response.mimetype == XML:
        _, path = _region_path()
        if is_chosen_page(broken.path, broken.offset, path, "offset", "0"):
            cut_in_half(response)  # cut off mid-element: invalid XML, status 200
    sim.record(route_pattern(), response.status_code, logins=g.get("keepit_login", "(none)"))
    return response


def _caller() -> Credential:
    credential: Credential = g.keepit_credential
    return credential


def _visible(guid: str) -> Json:
    """The account, when the caller may see it; 403 otherwise (unknown accounts included)."""
    sim = _sim()
    if not sim.can_see(_caller().account, guid):
        raise KeepitError(403, "Access denied")
    return sim.accounts[guid]


def _visible_device(guid: str, dev: str) -> Json:
    _visible(guid)
    device = _sim().device(guid, dev)
    if device is None:
        raise KeepitError(404, "Device not found")
    return device


@api.get("/users/")
def who_am_i() -> Response:
    root = ET.Element("user")
    _add(root, "id", _caller().account)
    return _xml(root)


@api.get("/users/<guid>")
def account_settings(guid: str) -> Response:
    account = _visible(guid)
    root = ET.Element("user")
    _add(root, "id", account["id"])
    _fields(
        root,
        {**account, "parent": account["parent_id"]},
        ("enabled", "created", "product", "parent", "subscribed"),
    )
    return _xml(root)


@api.get("/users/<guid>/users")
def child_accounts(guid: str) -> Response:
    _visible(guid)
    sim = _sim()
    limit = _int_arg("limit", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    offset = _int_arg("offset", 0, 2**31 - 1)
    children = sim.children_of(guid)
    page = children[offset : offset + limit] if limit else []
    version = _version()
    contacts = _truthy(request.args.get("include_contact_details"))
    root = ET.Element("users")
    for account in page:
        company = sim.company(account["id"])
        if version == 0:
            _add(root, "id", account["id"])
            continue
        user = _add(root, "user")
        _fields(user, account, ("id", "created", "parent_id"))
        if version < 3:
            _add(user, "email", account["email"])
            _add(user, "full_name", account["fullname"])
            _add(user, "company_name", company)
        elif contacts:
            contact = _add(user, "contact")
            for name in ("email", "companyname", "fullname", "phone", "vatnumber", "country", "state"):
                _add(contact, name, company if name == "companyname" else account[name] or None)
    return _xml(root, headers={"X-Total-Count": str(len(children))})


@api.get("/users/<guid>/devices")
def devices(guid: str) -> Response:
    _visible(guid)
    root = ET.Element("devices")
    for device in _sim().device_views(guid):
        cloud = _add(root, "cloud")
        _fields(
            cloud,
            device,
            (
                "guid",
                "name",
                "type",
                "agent-type",
                "created",
                "accessible",
                "orglink",
                "backup-retention",
                "backup-retention-updated",
            ),
        )
    return _xml(root)


@api.get("/users/<guid>/devices/<dev>/health")
def device_health(guid: str, dev: str) -> Response:
    device = _visible_device(guid, dev)
    health, reason = _sim().health(device["guid"])
    root = ET.Element("devhealth")
    _add(root, "health", health)
    if _truthy(request.args.get("reason")):
        _add(root, "reason", reason)
    return _xml(root)


ODD_TIME = "0001-01-01T00:00:00+14:00"


@api.get("/users/<guid>/devices/<dev>/history/latest")
def latest_snapshot(guid: str, dev: str) -> Response:
    device = _visible_device(guid, dev)
    root = ET.Element("history")
    snapshot = _sim().latest_snapshot(device["guid"])
    if snapshot is not None:
        backup = _add(root, "backup")
        _fields(backup, snapshot, ("tstamp", "root", "type", "size", "account"))
        stamp = backup.find("tstamp")
        if stamp is not None and device["guid"] in _sim().faults.odd_snapshot_time:
            stamp.text = ODD_TIME
    return _xml(root)


_JOB_FIELDS = (
    "guid", "description", "type", "priority", "active", "start", "scheduled", "dispatched", "started",
    "succeeded", "failed", "cancelled",
)  # fmt: skip


@api.route("/users/<guid>/devices/<dev>/jobs", methods=["GET", "PUT"])
def device_jobs(guid: str, dev: str) -> Response:
    device = _visible_device(guid, dev)
    jobs = _sim().job_views(device["guid"])
    if request.method == "GET":
        if _truthy(request.headers.get("active-jobs-only")):
            jobs = [job for job in jobs if job["active"]]
    else:
        jobs = _filter_jobs(jobs, _body())
    root = ET.Element("jobs")
    for job in jobs:
        _fields(_add(root, "job"), job, _JOB_FIELDS)
    return _xml(root)


def _filter_jobs(jobs: list[Json], spec: ET.Element) -> list[Json]:
    if spec.tag != "filter":
        raise KeepitError(400, "Bad Request: expected a <filter> body")
    low, high = _moment(spec, "from-time"), _moment(spec, "to-time")
    types = {t.text.strip() for t in spec.iterfind("types/type") if t.text and t.text.strip()}
    single = _child_text(spec, "type")
    if single:
        types.add(single)
    limit_text = _child_text(spec, "limit")
    if limit_text is not None and not limit_text.isdigit():
        raise KeepitError(400, "Bad Request: limit must be a non-negative integer")
    active_only, failed_only = _flag(spec.find("active-only")), _flag(spec.find("failed-only"))
    kept = [
        job
        for job in jobs
        if (low is None or job["start"] >= low)
        and (high is None or job["start"] <= high)
        and (not types or job["type"] in types)
        and (not active_only or job["active"])
        and (not failed_only or job["failed"] is not None)
    ]
    if _flag(spec.find("reverse")):
        kept.reverse()
    return kept if limit_text is None else kept[: int(limit_text)]


_AUDIT_FIELDS = (
    "time", "account", "company", "device", "area", "action", "method", "message", "acl", "allowed", "succeeded",
    "client-ip", "token",
)  # fmt: skip


@api.put("/audit/filter/pretty")
def audit_log() -> Response:
    sim, caller = _sim(), _caller()
    if sim.faults.token_without_audit and caller.kind == "token":
        raise KeepitError(403, "Access denied")
    limit = _int_arg("limit", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    offset = _int_arg("offset", 0, 2**31 - 1)
    spec = _body()
    if spec.tag != "filter":
        raise KeepitError(400, "Bad Request: expected a <filter> body")
    account = _child_text(spec, "account") or caller.account
    _visible(account)
    low, high = _moment(spec, "from"), _moment(spec, "to")
    scope = set(sim.subtree(account)) if _flag(spec.find("recursive")) else {account}
    records = [
        record
        for record in sim.audit
        if record["account"] in scope
        and (low is None or record["time"] >= low)
        and (high is None or record["time"] <= high)
    ]
    page = records[offset : offset + limit] if limit else []
    root = ET.Element("audit")
    for record in page:
        element = _add(root, "record")
        _fields(element, {**record, "token": record["token"] or ""}, _AUDIT_FIELDS)
        if record["metadata"]:
            metadata = _add(element, "metadata")
            for key, value in record["metadata"]:
                parameter = _add(metadata, "parameter")
                _add(parameter, "key", key)
                _add(parameter, "value", value)
    headers = {}
    if offset + len(page) < len(records) and page:
        headers["next-offset"] = str(offset + len(page))
    return _xml(root, headers=headers)


def main(argv: Sequence[str] | None = None) -> int:
    return serve_main(
        argv,
        prog="python -m vectis.simulators.keepit",
        description="Keepit REST API simulator",
        default_port=18081,
        arguments=_arguments,
        build_state=_build_state,
        banner=_banner,
        create_app=create_app,
    )


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--region", choices=sorted(REGIONS), default=DEFAULT_REGION, help="where the accounts live")
    parser.add_argument("--accounts", type=int, default=300, help="with --scale bench")
    parser.add_argument("--connectors", type=int, default=4, help="per account, with --scale bench")
    parser.add_argument("--audit-records", type=int, default=20000, help="with --scale bench")


def _build_state(args: argparse.Namespace) -> KeepitState:
    state = (
        KeepitState.seeded(seed=args.seed)
        if args.scale == "demo"
        else KeepitState.at_scale(
            accounts=args.accounts,
            connectors_per_account=args.connectors,
            audit_records=args.audit_records,
            seed=args.seed,
        )
    )
    state.region = args.region
    return state


def _banner(state: KeepitState, root: str) -> str:
    connectors = sum(len(devices) for devices in state.devices.values())
    return (
        f"Keepit simulator at {root}/<region> (https://<region>.keepit.com); accounts live in {state.region}: "
        f"{root}/{state.region}\n"
        f"  username: {DEMO_USERNAME}   password: {DEMO_PASSWORD}\n"
        f"  API token login: {DEMO_TOKEN_LOGIN}   token password: {DEMO_TOKEN_PASSWORD}\n"
        f"  parent account GUID: {PARENT_GUID} ({PARENT_COMPANY})\n"
        f"  {len(state.accounts) - 1} child accounts, {connectors} connectors, {len(state.audit)} audit records\n"
        f"  regions: {', '.join(REGIONS)}"
    )
