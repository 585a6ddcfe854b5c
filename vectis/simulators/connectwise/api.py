"""The ConnectWise simulator's HTTP side: JSON lists with ``Link`` paging, errors in ConnectWise's shape,
``clientId`` and Basic key checks, the fault knobs applied to every request under the API base, and the
``/_sim`` test controls that stand for a technician; ``main`` serves it."""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

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
from vectis.simulators.connectwise.query import Conditions, Getter, dig, parse_order, project, sort_rows, ticket_getter
from vectis.simulators.connectwise.seed import MEMBERS
from vectis.simulators.connectwise.state import ConnectWiseState
from vectis.simulators.connectwise.vendor import (
    API,
    API_MEMBER,
    ATTACHMENT_CAP,
    DEFAULT_PAGE_SIZE,
    DEMO_CLIENT_ID,
    DEMO_COMPANY_ID,
    DEMO_PRIVATE_KEY,
    DEMO_PUBLIC_KEY,
    MAX_PAGE_SIZE,
    PERMISSIONS,
    SYSTEM_INFO,
    ApiError,
    invalid,
)
from vectis.simulators.fixtures import BENCH_CUSTOMERS

_LEVELS = {"GET": "Inquire", "POST": "Add", "PATCH": "Edit", "PUT": "Edit", "DELETE": "Delete"}

# --- the app -------------------------------------------------------------------------------------------

api = Blueprint("connectwise_api", __name__, url_prefix=API)
simulator: Simulator[ConnectWiseState] = Simulator("connectwise", "vectis.simulators.connectwise", "ConnectWise")
controls = simulator.controls  # the shared /_sim routes, and the test controls below
_sim = simulator.state


def create_app(state: ConnectWiseState | None = None) -> Flask:
    """The simulator as a Flask app over ``state`` (a fresh ``ConnectWiseState.seeded()`` when omitted)."""
    return simulator.create_app(
        state if state is not None else ConnectWiseState.seeded(),
        api,
        errors={ApiError: _api_error, HTTPException: _http_error},
        server_error=lambda: _error(500, "UnexpectedServerError", "An unexpected error occurred."),
        strict_slashes=False,
        config={"MAX_CONTENT_LENGTH": 4 * ATTACHMENT_CAP},  # larger bodies are cut off with 413
    )


def _in_api() -> bool:
    return under(API)


def _relative() -> str:
    return request.path[len(API) :] or "/"


def _error(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return json_response({"code": code, "message": message}, status, headers)


def _api_error(error: ApiError) -> Response:
    return json_response(error.body(), error.status)


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    if status == 404:
        return _error(404, "NotFound", f"The resource {request.path} was not found.")
    if status == 405:
        return _error(405, "MethodNotAllowed", f"{request.method} is not allowed on {request.path}.")
    if status == 413:
        return _error(413, "InvalidObject", "The request is too large; ConnectWise accepts documents up to 10 MB.")
    return _error(status, error.name.replace(" ", ""), error.description or error.name)


def _base() -> str:
    return _sim().public_url or request.host_url


def _credentials() -> tuple[str, str, str] | None:
    """``(companyId, publicKey, privateKey)`` from ``Basic base64(companyId+publicKey:privateKey)``."""
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        raw = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user, colon, private = raw.partition(":")
    company, plus, public = user.partition("+")
    if not colon or not plus:
        return None
    return company, public, private


def _who() -> str:
    """The identifier of the API member making this request."""
    sim = _sim()
    credentials = _credentials()
    key = sim.api_keys.get(credentials[1]) if credentials else None
    member = sim.members.get(key.member_id) if key else None
    return str(member["identifier"]) if member else API_MEMBER


@api.before_app_request
def _faults_then_auth() -> Response | None:
    if not _in_api():
        return None
    sim = _sim()
    sim.receive(request.method, request.path, request.args.to_dict(), received_body())
    if _relative().startswith("/system/callbackkeys/"):
        return _fault_response(sim)  # fetched by callback receivers, who hold no API keys
    return _fault_response(sim) or _auth_response(sim) or _forbidden_response(sim)


def _fault_response(sim: ConnectWiseState) -> Response | None:
    if sim.throttled():
        return _error(429, "TooManyRequests", "Too many requests; slow down.", {"Retry-After": "1"})
    sim.pace()
    if sim.take("errors_503"):
        return _error(503, "ServiceUnavailable", "The service is temporarily unavailable.", {"Retry-After": "1"})
    if sim.take("errors_5xx"):
        return _error(500, "UnexpectedServerError", "An unexpected error occurred.")
    return None


def _auth_response(sim: ConnectWiseState) -> Response | None:
    """The clientId first (400), then the keys (401)."""
    client_id = request.headers.get("clientId", "").strip()
    if not client_id or sim.faults.missing_client_id_check:
        return _error(400, "InvalidRequest", "clientId header is required")
    if client_id not in sim.client_ids:
        return _error(400, "InvalidRequest", f"clientId {client_id} is not a registered clientId")
    credentials = _credentials()
    if credentials is None or sim.authenticate(*credentials) is None:
        return _error(
            401,
            "Unauthorized",
            "Authentication failed: check the company id (case-sensitive), public key and private key.",
        )
    return None


def _forbidden_response(sim: ConnectWiseState) -> Response | None:
    path = _relative()
    for prefix in sim.faults.forbidden_paths:
        if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
            permission = next((v for k, v in PERMISSIONS.items() if path.startswith(k)), prefix)
            level = _LEVELS.get(request.method, "Inquire")
            return _error(
                403,
                "Forbidden",
                f"You do not have permission to perform this action: the API member's security role needs "
                f"{permission} ({level} Level).",
            )
    return None


@api.after_app_request
def _finish(response: Response) -> Response:
    if not _in_api():
        return response
    sim = _sim()
    broken = sim.faults.malformed_page
    json_ok = response.status_code == 200 and response.mimetype == "application/json"
    if broken and json_ok and is_chosen_page(broken.path, broken.page, _relative(), "page", "1"):
        cut_in_half(response)  # cut off mid-body: invalid JSON, status 200
    sim.record(f"{request.method} {route_pattern(API, _relative())}", response.status_code)
    if request.method != "GET" and response.status_code < 400 and sim.take("hang_after_writes"):
        time.sleep(sim.faults.write_answer_delay)
    return response


def _int_arg(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit():
        raise ApiError(400, "InvalidRequest", f"{name} must be a positive integer.")
    return int(raw)


def _link(**changes: Any) -> str:
    args = [(k, v) for k, v in request.args.items(multi=True) if k not in changes]
    args += [(k, str(v)) for k, v in changes.items()]
    return f"{request.base_url}?{urlencode(args)}"


def _list(key: str, rows: Callable[[], Iterable[Any]], view: Callable[[Any], Json], get: Getter = dig) -> Response:
    """A ConnectWise list: conditions, orderBy, fields, page/pageSize (or forward-only pageId), Link."""
    sim = _sim()
    size = _int_arg("pageSize", DEFAULT_PAGE_SIZE)
    if size > MAX_PAGE_SIZE:
        raise ApiError(400, "InvalidRequest", f"pageSize {size} is over the maximum of {MAX_PAGE_SIZE}.")
    if size < 1:
        raise ApiError(400, "InvalidRequest", "pageSize must be at least 1.")
    forward = request.headers.get("pagination-type", "").strip().lower() == "forward-only"
    conditions = request.args.get("conditions", "").strip()
    order = parse_order(request.args.get("orderBy", "")) or [("id", False)]
    if forward:
        order = [("id", False)]
    cache_key = (key, request.path, conditions, json.dumps(order))
    found = sim._pages.get(cache_key) if sim.cache_pages else None
    if found is None:
        selected = list(rows())
        if conditions:
            predicate = Conditions(conditions, get).parse()
            selected = [row for row in selected if predicate(row)]
        found = sort_rows(selected, order, get)
        if sim.cache_pages:
            with sim._lock:
                sim._pages[cache_key] = found
    links: list[str] = []
    if forward:
        after = _int_arg("pageId", 0)
        start = next((i for i, row in enumerate(found) if get(row, "id") > after), len(found))
        chosen = found[start : start + size]
        if start + size < len(found) and chosen:
            links.append(f'<{_link(pageId=get(chosen[-1], "id"), pageSize=size)}>; rel="next"')
    else:
        page = _int_arg("page", 1)
        if page < 1:
            raise ApiError(400, "InvalidRequest", "page must be at least 1.")
        last = max((len(found) + size - 1) // size, 1)
        chosen = found[(page - 1) * size : page * size]
        if page > 1:
            links.append(f'<{_link(page=1, pageSize=size)}>; rel="first"')
            links.append(f'<{_link(page=min(page - 1, last), pageSize=size)}>; rel="prev"')
        if page < last:
            links.append(f'<{_link(page=page + 1, pageSize=size)}>; rel="next"')
            links.append(f'<{_link(page=last, pageSize=size)}>; rel="last"')
    fields = [f.strip() for f in request.args.get("fields", "").split(",") if f.strip()]
    body = [project(view(row), fields) if fields else view(row) for row in chosen]
    return json_response(body, headers={"Link": ", ".join(links)} if links else None)


def _one(row: Json) -> Response:
    fields = [f.strip() for f in request.args.get("fields", "").split(",") if f.strip()]
    return json_response(project(row, fields) if fields else row)


def _found(rows: Mapping[int, Json], key: int, kind: str) -> Json:
    """``rows[key]``, or ConnectWise's 404 naming the ``kind`` of record."""
    found = rows.get(key)
    if found is None:
        raise ApiError(404, "NotFound", f"{kind} with id {key} was not found.")
    return found


def _body() -> Any:
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, "InvalidRequest", "The request body is not valid JSON.")
    return body


@api.get("/system/info")
def system_info() -> Response:
    return json_response(SYSTEM_INFO)


@api.get("/company/companies")
def companies() -> Response:
    sim = _sim()
    return _list("companies", sim.companies.values, sim.company_view)


@api.get("/company/companies/count")
def company_count() -> Response:
    sim = _sim()
    rows: list[Any] = list(sim.companies.values())
    conditions = request.args.get("conditions", "").strip()
    if conditions:
        predicate = Conditions(conditions, dig).parse()
        rows = [row for row in rows if predicate(sim.company_view(row))]
    return json_response({"count": len(rows)})


@api.get("/company/contacts")
def contacts() -> Response:
    sim = _sim()
    return _list("contacts", sim.contacts.values, sim.contact_view)


@api.post("/company/contacts")
def create_contact() -> Response:
    sim = _sim()
    return json_response(sim.contact_view(sim.create_contact(_body())), 201)


@api.get("/company/companies/<int:company_id>")
def company(company_id: int) -> Response:
    sim = _sim()
    return _one(sim.company_view(_found(sim.companies, company_id, "Company")))


@api.get("/system/members")
def members() -> Response:
    return _list("members", _sim().members.values, dict)


@api.get("/system/members/<int:member_id>")
def member(member_id: int) -> Response:
    return _one(_found(_sim().members, member_id, "Member"))


@api.get("/service/boards")
def boards() -> Response:
    return _list("boards", _sim().boards.values, dict)


@api.get("/service/boards/<int:board_id>")
def board(board_id: int) -> Response:
    return _one(_found(_sim().boards, board_id, "Board"))


@api.get("/service/boards/<int:board_id>/statuses")
def board_statuses(board_id: int) -> Response:
    sim = _sim()
    _found(sim.boards, board_id, "Board")
    return _list(f"statuses:{board_id}", lambda: sim.board_statuses(board_id), dict)


@api.get("/service/priorities")
def priorities() -> Response:
    return _list("priorities", _sim().priorities.values, dict)


@api.get("/service/tickets")
def tickets() -> Response:
    sim = _sim()
    return _list("tickets", sim.tickets.values, sim.ticket_view, ticket_getter(sim))


@api.get("/service/tickets/count")
def ticket_count() -> Response:
    sim = _sim()
    rows: list[Any] = list(sim.tickets.values())
    conditions = request.args.get("conditions", "").strip()
    if conditions:
        predicate = Conditions(conditions, ticket_getter(sim)).parse()
        rows = [row for row in rows if predicate(row)]
    return json_response({"count": len(rows)})


@api.post("/service/tickets")
def create_ticket() -> Response:
    sim, who = _sim(), _who()
    ticket = sim.create_ticket(_body(), who)
    sim.notify("added", ticket, who, _base())
    return json_response(sim.ticket_view(ticket), 201)


@api.get("/service/tickets/<int:ticket_id>")
def ticket(ticket_id: int) -> Response:
    sim = _sim()
    return _one(sim.ticket_view(sim.ticket(ticket_id)))


@api.patch("/service/tickets/<int:ticket_id>")
def patch_ticket(ticket_id: int) -> Response:
    sim, who = _sim(), _who()
    sim.ticket(ticket_id)
    if sim.take("fail_patch"):
        raise invalid("ticket object is invalid: the status could not be changed (simulated failure).", "status")
    ticket = sim.patch_ticket(ticket_id, _body(), who)
    sim.notify("updated", ticket, who, _base())
    return json_response(sim.ticket_view(ticket))


@api.get("/service/tickets/<int:ticket_id>/notes")
def ticket_notes(ticket_id: int) -> Response:
    sim = _sim()
    found = sim.ticket(ticket_id)
    return _list(f"notes:{ticket_id}", lambda: sim.ticket_notes(found), dict)


@api.post("/service/tickets/<int:ticket_id>/notes")
def add_note(ticket_id: int) -> Response:
    sim, who = _sim(), _who()
    note = sim.add_note(ticket_id, _body(), who)
    sim.notify("updated", sim.ticket(ticket_id), who, _base())
    return json_response(note, 201)


@api.get("/finance/agreements")
def agreements() -> Response:
    return _list("agreements", _sim().agreements.values, dict)


@api.get("/finance/agreements/count")
def agreement_count() -> Response:
    rows: list[Any] = list(_sim().agreements.values())
    conditions = request.args.get("conditions", "").strip()
    if conditions:
        predicate = Conditions(conditions, dig).parse()
        rows = [row for row in rows if predicate(row)]
    return json_response({"count": len(rows)})


@api.get("/finance/agreements/<int:agreement_id>")
def agreement(agreement_id: int) -> Response:
    return _one(_sim().agreement(agreement_id))


@api.get("/finance/agreements/<int:agreement_id>/additions")
def agreement_additions(agreement_id: int) -> Response:
    sim = _sim()
    sim.agreement(agreement_id)
    return _list(f"additions:{agreement_id}", lambda: sim.additions.get(agreement_id, []), dict)


@api.post("/system/documents")
def upload_document() -> Response:
    sim = _sim()
    upload = request.files.get("file")
    if upload is None:
        raise invalid("file is required (multipart/form-data).", "file", "document")
    size = 0
    while chunk := upload.stream.read(1024 * 1024):
        size += len(chunk)
    document = sim.add_document(
        request.form.get("recordType", ""),
        request.form.get("recordId", ""),
        name=upload.filename or "attachment",
        title=request.form.get("title", ""),
        size=size,
        private=request.form.get("privateFlag", "").lower() == "true",
    )
    return json_response(document, 201)


@api.get("/system/documents")
def documents() -> Response:
    sim = _sim()
    kind, record = request.args.get("recordType", ""), request.args.get("recordId", "")
    return _list(
        "documents",
        lambda: [
            d
            for d in sim.documents
            if (not kind or d["recordType"].lower() == kind.lower()) and (not record or str(d["recordId"]) == record)
        ],
        dict,
    )


@api.get("/system/callbacks")
def callbacks() -> Response:
    return _list("callbacks", _sim().callbacks.values, dict)


@api.post("/system/callbacks")
def add_callback() -> Response:
    return json_response(_sim().add_callback(_body()), 201)


@api.get("/system/callbacks/<int:callback_id>")
def callback(callback_id: int) -> Response:
    return _one(_found(_sim().callbacks, callback_id, "Callback"))


@api.delete("/system/callbacks/<int:callback_id>")
def delete_callback(callback_id: int) -> Response:
    sim = _sim()
    with sim._lock:
        if sim.callbacks.pop(callback_id, None) is None:
            raise ApiError(404, "NotFound", f"Callback with id {callback_id} was not found.")
        sim.changed()
    return Response(status=204)


@api.get("/system/callbackkeys/<key_id>")
def callback_key(key_id: str) -> Response:
    key = _sim().signing_keys.get(key_id)
    if key is None:
        raise ApiError(404, "NotFound", "Callback key not found.")
    return json_response({"signing_key": key})


# --- test controls -------------------------------------------------------------------------------------


@controls.get("/deliveries")
def deliveries() -> Response:
    sim = _sim()
    with sim._lock:
        return json_response(list(sim.deliveries))


def _technician(body: Json) -> str:
    sim = _sim()
    who = body.get("member") or MEMBERS[2][1]
    if not any(m["identifier"] == who for m in sim.members.values()):
        raise ApiError(400, "InvalidRequest", f"No member {who!r}.")
    return str(who)


@controls.post("/tickets")
def sim_create_ticket() -> Response:
    """A technician creates a ticket in ConnectWise itself (callbacks fire with Action "added")."""
    sim = _sim()
    body = request.get_json(silent=True) or {}
    if not isinstance(body, dict):
        return json_response({"error": "send a JSON object"}, 400)
    first = next(c for c in sim.companies.values() if c["id"] != 2)
    spec = {
        "summary": body.get("summary") or "Phone call: printer jammed again",
        "board": {"id": body.get("board", 1)},
        "company": {"id": body.get("company", first["id"])},
        "priority": {"id": body.get("priority", 3)},
        "initialDescription": body.get("initialDescription") or "Logged from a phone call.",
    }
    try:
        who = _technician(body)
        ticket = sim.create_ticket(spec, who)
    except ApiError as error:
        return json_response(error.body(), error.status)
    sim.notify("added", ticket, who, _base())
    return json_response(sim.ticket_view(ticket), 201)


@controls.post("/tickets/<int:ticket_id>/touch")
def sim_touch_ticket(ticket_id: int) -> Response:
    """A technician changes a ticket in ConnectWise itself (callbacks fire with Action "updated")."""
    sim = _sim()
    body = request.get_json(silent=True) or {}
    if not isinstance(body, dict):
        return json_response({"error": "send a JSON object"}, 400)
    operations: list[Json] = []
    if body.get("status") is not None:
        operations.append({"op": "replace", "path": "status/id", "value": body["status"]})
    if body.get("summary") is not None:
        operations.append({"op": "replace", "path": "summary", "value": body["summary"]})
    try:
        who = _technician(body)
        if operations:
            found = sim.patch_ticket(ticket_id, operations, who)
        else:
            with sim._lock:
                found = sim.ticket(ticket_id)
                sim._stamp(found, who)
                sim.changed()
    except ApiError as error:
        return json_response(error.body(), error.status)
    sim.notify("updated", found, who, _base())
    return json_response(sim.ticket_view(found))


@controls.get("/tickets/<int:ticket_id>/history")
def sim_ticket_history(ticket_id: int) -> Response:
    return json_response(_sim().status_history.get(ticket_id, []))


@controls.post("/agreements/<int:agreement_id>/touch")
def sim_touch_agreement(agreement_id: int) -> Response:
    """Someone edits an agreement in ConnectWise itself: the JSON body's fields replace the agreement's
    (``additions``: its new list of additions), and ``lastUpdated`` moves on."""
    sim = _sim()
    body = request.get_json(silent=True) or {}
    if not isinstance(body, dict):
        return json_response({"error": "send a JSON object"}, 400)
    who = str(body.pop("member", "jhughes"))
    try:
        return json_response(sim.touch_agreement(agreement_id, body, who))
    except ApiError as error:
        return json_response(error.body(), error.status)


def main(argv: Sequence[str] | None = None) -> int:
    return serve_main(
        argv,
        prog="python -m vectis.simulators.connectwise",
        description="ConnectWise PSA (Manage) REST simulator",
        default_port=18082,
        arguments=_arguments,
        build_state=_build_state,
        banner=_banner,
        create_app=create_app,
    )


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--companies", type=int, default=BENCH_CUSTOMERS, help="with --scale bench")
    parser.add_argument("--tickets", type=int, default=200_000, help="with --scale bench")
    parser.add_argument("--public-url", default="", help="the URL callback receivers reach this simulator on")


def _build_state(args: argparse.Namespace) -> ConnectWiseState:
    state = (
        ConnectWiseState.seeded(seed=args.seed)
        if args.scale == "demo"
        else ConnectWiseState.at_scale(companies=args.companies, tickets=args.tickets, seed=args.seed)
    )
    state.public_url = args.public_url
    return state


def _banner(state: ConnectWiseState, root: str) -> str:
    return (
        f"ConnectWise PSA simulator ({SYSTEM_INFO['version']}) at {root}{API} (site URL: {root})\n"
        f"  company ID: {DEMO_COMPANY_ID}   public key: {DEMO_PUBLIC_KEY}   private key: {DEMO_PRIVATE_KEY}\n"
        f"  clientId: {DEMO_CLIENT_ID}\n"
        f"  {len(state.companies)} companies, {len(state.boards)} boards, {len(state.tickets)} tickets, "
        f"{len(state.agreements)} agreements"
    )
