"""A simulator of ConnectWise PSA (Manage) REST, the other side of the ConnectWise connector.

It follows ``shared/vendor-apis.md`` section 3: JSON bodies under ``/v4_6_release/apis/3.0``, Basic auth with
``companyId+publicKey:privateKey`` and a ``clientId`` header on every request, ``conditions``/``orderBy``/
``page``/``pageSize`` queries with a ``Link`` header, JSON-Patch updates and signed callbacks. ConnectWise
leaves null fields out of its JSON, and so does this simulator.

Authentication
    ``Authorization: Basic base64("<companyId>+<publicKey>:<privateKey>")``; the company id is case-sensitive.
    The demo pair is ``DEMO_COMPANY_ID`` + ``DEMO_PUBLIC_KEY``/``DEMO_PRIVATE_KEY`` (the API member
    ``VectisAPI``), and ``clientId: DEMO_CLIENT_ID`` (``state.client_ids`` holds the accepted ones). The clientId
    is checked first: missing or unknown answers 400 ``{"code":"InvalidRequest","message":"clientId header is
    required"}`` (or ``"... is not a registered clientId"``); bad keys answer 401 ``{"code":"Unauthorized",…}``.
    Errors are always ``{"code","message"[,"errors":[{"code","message","resource","field"}]]}``.

Endpoints (under ``/v4_6_release/apis/3.0``)
    ``GET /system/info`` → ``{version,isCloud,serverTimeZone,cloudRegion}``.
    ``GET /company/companies[/{id}]``, ``GET /company/contacts``, ``GET /system/members[/{id}]``, ``GET /service/boards[/{id}]``,
    ``GET /service/boards/{id}/statuses``, ``GET /service/priorities``, ``GET /service/tickets[/count]``,
    ``GET /service/tickets/{id}/notes``, ``GET /system/documents``, ``GET /system/callbacks[/{id}]``.
    Every list takes ``conditions`` (``field op value`` with ``= != < > <= >= like contains in``, ``and``/``or``,
    parentheses; strings in double quotes, dates in square brackets, ``true``/``false``/``null``; nested fields
    as ``company/id``, ``_info/lastUpdated``), ``orderBy`` (``"lastUpdated asc, id asc"``; default ``id asc``),
    ``fields`` (``id,summary,board/name``), ``page`` (1-based) and ``pageSize`` (default 25, over 1000 → 400),
    and answers a bare JSON array with a navigable ``Link`` header (``rel="first"/"prev"/"next"/"last"``).
    With the header ``pagination-type: forward-only`` it pages by ``pageId`` (acts as ``id > pageId``, order id
    ascending) and ``Link`` carries only ``rel="next"``.
    ``POST /service/tickets`` (``summary``, ``board{id}``, ``company{id|identifier}``, optional ``priority{id}``,
    ``status{id}``, ``contact{id}``, ``owner{id}``, ``initialDescription``) → 201 ticket.
    ``PATCH /service/tickets/{id}`` with a JSON-Patch array (``replace``/``add`` on ``status/id``, ``summary``,
    ``priority/id``, ``owner/id``, ``contact/id``; ``remove`` on ``owner``) → 200 ticket; a status of another
    board → 400 ``InvalidObject`` naming the board; closing statuses set ``closedFlag``/``closedDate``.
    ``POST /service/tickets/{id}/notes`` (``text``, ``detailDescriptionFlag``, ``internalAnalysisFlag``,
    ``resolutionFlag``) → 201 note. ``POST /system/documents`` (multipart ``recordType=Ticket``, ``recordId``,
    ``file``, optional ``title``, ``privateFlag``) → 201 document; a file over 10 MB → 413.
    ``POST /system/callbacks`` (``url``, ``objectId``, ``type``, ``level``, ``description``, ``inactiveFlag``)
    → 201; ``DELETE /system/callbacks/{id}`` → 204. ``GET /system/callbackkeys/{keyId}`` → ``{"signing_key"}``
    (no auth, as a callback receiver fetches it).

Callbacks
    A ticket added or updated (through the API, or through the ``/_sim/tickets`` controls that stand for a
    technician working in ConnectWise) is POSTed, in a background thread, to every active ``ticket``
    callback whose level matches (``owner``: all; ``board``/``status``/``company``: ``objectId`` is that id;
    ``ticket``: that ticket). Body keys: ``MessageId, FromUrl, CompanyId, MemberId, Action ("added"|"updated"),
    Type ("ticket"), ID, ProductInstanceId, PartnerId, Entity`` (the ticket as a JSON string),
    ``Metadata{key_url}``, ``CallbackObjectRecId``; header ``x-content-signature`` =
    ``base64(HMAC-SHA256(key=SHA256(signing_key).digest(), msg=raw body))`` (``sign()``). ``state.deliveries``
    logs each attempt (url, status, error).

Data
    ``ConnectWiseState.seeded()``: the VSPC simulator's twelve companies (ten spelt the same, two a little
    differently) plus the MSP itself and one customer only ConnectWise knows; three boards (and an inactive
    one) with their statuses; ~150 tickets over 60 days, open and closed, a few from the last day, each with
    1-5 notes. ``ConnectWiseState.at_scale()``: 500 companies (the VSPC benchmark's names) and 200,000
    tickets whose notes are generated when first read. Both are deterministic for a given ``seed`` and
    ``now``; changes made through the API are stamped with ``state.clock()`` (wall time).

Fault knobs
    ``state.faults`` (a ``Faults``), read on every request; set from Python or with ``POST /_sim/faults`` (a JSON
    merge patch, RFC 7386). ``POST /_sim/reset`` restores every knob and clears counters and the delivery log;
    ``GET /_sim/stats`` counts requests per ``METHOD pattern`` (relative to the API base) and per status.
    Knobs: ``bad_keys`` (every login 401), ``missing_client_id_check`` (every clientId treated as missing: 400),
    ``forbidden_paths`` (path prefixes answering 403 naming the security-role permission),
    ``rate_limit_per_second`` (429, ``Retry-After: 1``), ``errors_503`` (the next N answer 503,
    ``Retry-After: 1``), ``errors_5xx`` (the next N answer 500), ``latency``/``hang`` (seconds),
    ``hang_after_writes`` (the next N writes are stored, then answered ``write_answer_delay`` s late), ``fail_patch``
    (the next N PATCHes, or ``true`` for one, answer 400 ``InvalidObject``), ``malformed_page``
    (``{"path": "/service/tickets", "page": 2}``, without ``page`` every page: 200 with the JSON cut off).
    ``/_sim/*`` is never faulted. Test controls: ``POST /_sim/tickets`` (a technician creates a ticket),
    ``POST /_sim/tickets/{id}/touch`` (``{"status": id, "summary": …, "member": identifier}``, all optional),
    ``GET /_sim/tickets/{id}/history`` (status changes), ``GET /_sim/deliveries``.

Run it: ``python -m vectis.simulators.connectwise --host 127.0.0.1 --port 18082 [--scale demo|bench]``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import itertools
import json
import operator
import random
import re
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException
from werkzeug.serving import run_simple

from vectis.simulators.knobs import (
    BOOL,
    COUNT,
    SECONDS,
    FaultKnobs,
    Rule,
    add_fault_controls,
    is_count,
    json_merge_patch,
)
from vectis.simulators.vspc import VspcState

Json = dict[str, Any]

API = "/v4_6_release/apis/3.0"
DEMO_COMPANY_ID = "summitmsp"
DEMO_PUBLIC_KEY = "Xq3vB7nL2kTw9RdP"
DEMO_PRIVATE_KEY = "m4Hc8ZsJ1yQe6UfA"  # the simulator's published demo credential
DEMO_CLIENT_ID = "5f1d2c7a-9b3e-4e8a-a6d4-2c0b7e91f35d"
API_MEMBER = "VectisAPI"  # the API member the demo keys belong to
SIGNATURE_HEADER = "x-content-signature"
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 1000
ATTACHMENT_CAP = 10 * 1024 * 1024  # ConnectWise's document limit
SYSTEM_INFO: Json = {
    "version": "v2025.1.10431",
    "isCloud": True,
    "serverTimeZone": "Eastern Standard Time",
    "cloudRegion": "NA",
}
PERMISSIONS: dict[str, str] = {  # path prefix -> the security-role module a 403 names
    "/service/tickets": "Service Tickets",
    "/service/boards": "Service Desk - Service Board Setup",
    "/service/priorities": "Service Desk - Table Setup",
    "/company": "Companies - Company Maintenance",
    "/system/members": "System - Member Maintenance",
    "/system/callbacks": "System - Table Setup",
    "/system/documents": "Companies - Company Maintenance (documents)",
    "/system/info": "System - System Reports",
}
_LEVELS = {"GET": "Inquire", "POST": "Add", "PATCH": "Edit", "PUT": "Edit", "DELETE": "Delete"}


# --- time and signing ----------------------------------------------------------------------------------


def iso(moment: datetime) -> str:
    """``2025-03-14T09:30:12Z``: UTC, whole seconds (string order is time order)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def sign(body: bytes, signing_key: str) -> str:
    """ConnectWise's callback signature: ``base64(HMAC-SHA256(key=SHA256(signing_key), msg=body))``."""
    key = hashlib.sha256(signing_key.encode()).digest()
    return base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()


# --- faults --------------------------------------------------------------------------------------------


@dataclass
class MalformedPage:
    """Responses on ``path`` (relative to the API base) answer 200 with the JSON cut in half: only page
    ``page`` when set, every response otherwise."""

    path: str
    page: int | None = None


def _is_malformed_page(value: Any) -> bool:
    if isinstance(value, MalformedPage):
        return True
    if not isinstance(value, dict) or not isinstance(value.get("path"), str) or set(value) - {"path", "page"}:
        return False
    page = value.get("page")
    return page is None or is_count(page)


def _to_malformed_page(value: Any) -> MalformedPage:
    if isinstance(value, MalformedPage):
        return value
    return MalformedPage("/" + value["path"].removeprefix(API).lstrip("/"), value.get("page"))


_KNOB_RULES: dict[str, Rule] = {
    "bad_keys": BOOL,
    "missing_client_id_check": BOOL,
    "forbidden_paths": (
        lambda v: isinstance(v, list) and all(isinstance(p, str) for p in v),
        'a list of path prefixes like ["/service/tickets"]',
        lambda v: ["/" + p.removeprefix(API).lstrip("/") for p in v],
    ),
    "rate_limit_per_second": COUNT,
    "errors_503": COUNT,
    "errors_5xx": COUNT,
    "latency": SECONDS,
    "hang": SECONDS,
    "hang_after_writes": COUNT,
    "write_answer_delay": SECONDS,
    "fail_patch": (lambda v: isinstance(v, bool) or is_count(v), "true, false or a count of PATCHes", int),
    "malformed_page": (
        _is_malformed_page,
        'an object like {"path": "/service/tickets", "page": 2} (page optional)',
        _to_malformed_page,
    ),
}


@dataclass
class Faults(FaultKnobs):
    bad_keys: bool = False  # every login fails (401)
    missing_client_id_check: bool = False  # every clientId is treated as missing (400)
    forbidden_paths: list[str] = field(default_factory=list)  # path prefixes answering 403
    rate_limit_per_second: int = 0  # 0: no throttling; over it: 429 with Retry-After: 1
    errors_503: int = 0  # the next N requests answer 503 with Retry-After: 1
    errors_5xx: int = 0  # the next N requests answer 500
    latency: float = 0.0  # seconds added to every request
    hang: float = 0.0  # seconds to sleep before answering, to trip client timeouts
    # The next N writes (POST, PATCH, PUT, DELETE) are carried out, then answered ``write_answer_delay`` seconds
    # late: the client times out on a change ConnectWise did make.
    hang_after_writes: int = 0
    write_answer_delay: float = 5.0
    fail_patch: int = 0  # the next N PATCH requests answer 400 InvalidObject (true: one)
    malformed_page: MalformedPage | None = None

    RULES = _KNOB_RULES


# --- state ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiKey:
    company_id: str
    private_key: str
    member_id: int


@dataclass(slots=True)
class Ticket:
    """A service ticket, kept compact (views are built on demand); refs are ids into the state's tables."""

    id: int
    summary: str
    board_id: int
    status_id: int
    company_id: int
    contact_id: int | None
    priority_id: int
    owner_id: int | None
    closed: bool
    date_entered: str
    entered_by: str
    closed_date: str | None
    closed_by: str | None
    last_updated: str
    updated_by: str
    topic: int = -1  # seeded tickets: the template their notes are written from
    detail: str = ""  # seeded tickets: the host or person the summary names


class ApiError(Exception):
    """An error answer in ConnectWise's shape."""

    def __init__(self, status: int, code: str, message: str, errors: list[Json] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> Json:
        body: Json = {"code": self.code, "message": self.message}
        if self.errors:
            body["errors"] = self.errors
        return body


def _invalid(message: str, field_name: str, resource: str = "ticket", code: str = "InvalidField") -> ApiError:
    return ApiError(
        400,
        "InvalidObject",
        message,
        [{"code": code, "message": message, "resource": resource, "field": field_name}],
    )


def _demo_keys() -> dict[str, ApiKey]:
    return {DEMO_PUBLIC_KEY: ApiKey(DEMO_COMPANY_ID, DEMO_PRIVATE_KEY, 0)}


@dataclass
class ConnectWiseState:
    """Seeded data, credentials, callbacks, fault knobs and the runtime bookkeeping of one ConnectWise site."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))
    seed: int = 1
    companies: dict[int, Json] = field(default_factory=dict)  # id -> company (stored shape, id order)
    contacts: dict[int, Json] = field(default_factory=dict)  # id -> {id, firstName, lastName, email, company}
    members: dict[int, Json] = field(default_factory=dict)  # id -> {id, identifier, firstName, lastName, ...}
    boards: dict[int, Json] = field(default_factory=dict)  # id -> {id, name, inactiveFlag}
    statuses: dict[int, Json] = field(default_factory=dict)  # id -> {id, name, boardId, closedStatus, ...}
    priorities: dict[int, Json] = field(default_factory=dict)  # id -> {id, name, sortOrder}
    tickets: dict[int, Ticket] = field(default_factory=dict)  # id order
    notes: dict[int, list[Json]] = field(default_factory=dict)  # ticket id -> notes (absent: not generated yet)
    documents: list[Json] = field(default_factory=list)
    callbacks: dict[int, Json] = field(default_factory=dict)
    status_history: dict[int, list[Json]] = field(default_factory=dict)  # ticket id -> status changes
    api_keys: dict[str, ApiKey] = field(default_factory=_demo_keys)  # public key -> owner
    client_ids: set[str] = field(default_factory=lambda: {DEMO_CLIENT_ID})
    signing_keys: dict[str, str] = field(default_factory=dict)  # key id -> signing key
    key_id: str = ""  # the key callbacks are signed with now
    product_instance_id: str = ""
    partner_id: str = ""
    public_url: str = ""  # base for key_url and FromUrl; empty: the URL the request came in on
    faults: Faults = field(default_factory=Faults)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC), compare=False, repr=False)
    # Remember each filtered, sorted list between pages (the benchmark's 200,000 tickets); any change through
    # the API clears it. Off by default: tests change rows in place.
    cache_pages: bool = field(default=False, compare=False)
    deliveries: list[Json] = field(default_factory=list, compare=False, repr=False)

    _lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False, compare=False)
    _paths: Counter[str] = field(default_factory=Counter, init=False, repr=False, compare=False)
    _statuses: Counter[str] = field(default_factory=Counter, init=False, repr=False, compare=False)
    _window: list[int] = field(default_factory=lambda: [-1, 0], init=False, repr=False, compare=False)
    _pages: dict[tuple[str, ...], list[Any]] = field(default_factory=dict, init=False, repr=False, compare=False)
    _senders: list[threading.Thread] = field(default_factory=list, init=False, repr=False, compare=False)
    _next_ids: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    # -- construction

    @classmethod
    def seeded(cls, seed: int = 1, now: datetime | None = None) -> ConnectWiseState:
        """A small MSP: the VSPC simulator's companies (two spelt a little differently), the MSP itself and a
        customer only ConnectWise has; ~150 tickets over 60 days with 1-5 notes each."""

        generator = _Generator(seed, now)
        vspc = VspcState.seeded(seed=seed, now=generator.now)
        places = [_place_of(vspc.organizations[c["instanceUid"]], c["status"]) for c in vspc.companies]
        names = _respell([c["name"] for c in vspc.companies])
        customers = [*zip(names, places, strict=True), ("Copperfield Vineyards", None)]
        return generator.build(customers, tickets=150, days=60, eager_notes=True)

    @classmethod
    def at_scale(
        cls, companies: int = 500, tickets: int = 200_000, seed: int = 1, now: datetime | None = None
    ) -> ConnectWiseState:
        """A large MSP for benchmarks: the VSPC benchmark's company names, ``tickets`` tickets over a year;
        notes are generated when a ticket's notes are first read."""

        generator = _Generator(seed, now)
        # the benchmark's names (jobs left at VSPC's default: its generator draws them before the names)
        vspc = VspcState.at_scale(companies=companies, alarms=0, seed=seed, now=generator.now)
        customers: list[tuple[str, Json | None]] = [
            (c["name"], _place_of(vspc.organizations[c["instanceUid"]], c["status"])) for c in vspc.companies
        ]
        state = generator.build(customers, tickets=tickets, days=365, eager_notes=False)
        state.cache_pages = True
        return state

    # -- knobs

    def merge_faults(self, patch: Mapping[str, Any]) -> Faults:
        with self._lock:
            self.faults = Faults.from_json(json_merge_patch(self.faults.to_json(), dict(patch)))
            return self.faults

    def reset(self) -> None:
        """Every knob back to its default, the counters and the delivery log cleared; the data stays."""
        with self._lock:
            self.faults = Faults()
            self._paths.clear()
            self._statuses.clear()
            self._window[:] = [-1, 0]
            self.deliveries.clear()

    def stats(self) -> Json:
        with self._lock:
            return {"total": sum(self._paths.values()), "paths": dict(self._paths), "statuses": dict(self._statuses)}

    def record(self, pattern: str, status: int) -> None:
        with self._lock:
            self._paths[pattern] += 1
            self._statuses[str(status)] += 1

    def throttled(self) -> bool:
        """A fixed one-second window."""
        limit = self.faults.rate_limit_per_second
        if not limit:
            return False
        second = int(time.monotonic())
        with self._lock:
            if self._window[0] != second:
                self._window[:] = [second, 0]
            if self._window[1] >= limit:
                return True
            self._window[1] += 1
            return False

    def take(self, knob: str) -> bool:
        """Count a count-down knob (``errors_503``, ``errors_5xx``, ``fail_patch``) down by one, if set."""
        with self._lock:
            left: int = getattr(self.faults, knob)
            if left > 0:
                setattr(self.faults, knob, left - 1)
                return True
            return False

    def authenticate(self, company: str, public: str, private: str) -> ApiKey | None:
        key = self.api_keys.get(public)
        if key is None or self.faults.bad_keys or key.company_id != company:  # the company id is case-sensitive
            return None
        return key if secrets.compare_digest(key.private_key.encode(), private.encode()) else None

    # -- lookups and views

    def next_id(self, kind: str) -> int:
        with self._lock:
            value = self._next_ids.get(kind)
            if value is None:
                value = {
                    "ticket": max(self.tickets, default=0) + 1,
                    "note": 10 * (max(self.tickets, default=0) + 1),
                    "document": max((d["id"] for d in self.documents), default=1000) + 1,
                    "callback": max(self.callbacks, default=0) + 1,
                }[kind]
            self._next_ids[kind] = value + 1
            return value

    def changed(self) -> None:
        with self._lock:
            self._pages.clear()

    def member_ref(self, member_id: int | None) -> Json | None:
        member = self.members.get(member_id) if member_id is not None else None
        if member is None:
            return None
        return {"id": member["id"], "identifier": member["identifier"], "name": member["name"]}

    def contact_ref(self, contact_id: int | None) -> Json | None:
        contact = self.contacts.get(contact_id) if contact_id is not None else None
        return {"id": contact["id"], "name": contact["name"]} if contact else None

    def contact_view(self, contact: Json) -> Json:
        """ConnectWise's contact shape: the e-mail is one of the ``communicationItems``."""
        company = self.companies.get(contact["companyId"], {})
        return {
            "id": contact["id"],
            "firstName": contact["firstName"],
            "lastName": contact["lastName"],
            "company": {"id": company.get("id"), "identifier": company.get("identifier"), "name": company.get("name")},
            "inactiveFlag": bool(contact.get("inactiveFlag")),
            "communicationItems": [
                {
                    "id": contact["id"] * 10,
                    "type": {"id": 1, "name": "Email"},
                    "value": contact["email"],
                    "defaultFlag": True,
                    "communicationType": "Email",
                }
            ],
            "_info": {"lastUpdated": iso(self.now), "updatedBy": "jhughes"},
        }

    def company_view(self, company: Json) -> Json:
        view = {key: value for key, value in company.items() if key != "defaultContactId"}
        return _compact({**view, "defaultContact": self.contact_ref(company.get("defaultContactId"))})

    def ticket_view(self, ticket: Ticket) -> Json:
        board = self.boards[ticket.board_id]
        status = self.statuses[ticket.status_id]
        company = self.companies[ticket.company_id]
        contact = self.contacts.get(ticket.contact_id) if ticket.contact_id is not None else None
        priority = self.priorities[ticket.priority_id]
        return _compact(
            {
                "id": ticket.id,
                "summary": ticket.summary,
                "recordType": "ServiceTicket",
                "board": {"id": board["id"], "name": board["name"]},
                "status": {"id": status["id"], "name": status["name"], "sort": status["sortOrder"]},
                "company": {"id": company["id"], "identifier": company["identifier"], "name": company["name"]},
                "contact": {"id": contact["id"], "name": contact["name"]} if contact else None,
                "contactName": contact["name"] if contact else None,
                "contactEmailAddress": contact["email"] if contact else None,
                "priority": {"id": priority["id"], "name": priority["name"], "sort": priority["sortOrder"]},
                "owner": self.member_ref(ticket.owner_id),
                "severity": "Medium",
                "impact": "Medium",
                "closedFlag": ticket.closed,
                "closedDate": ticket.closed_date,
                "closedBy": ticket.closed_by,
                "dateEntered": ticket.date_entered,
                "enteredBy": ticket.entered_by,
                "_info": {
                    "lastUpdated": ticket.last_updated,
                    "updatedBy": ticket.updated_by,
                    "dateEntered": ticket.date_entered,
                    "enteredBy": ticket.entered_by,
                },
            }
        )

    def ticket(self, ticket_id: int) -> Ticket:
        ticket = self.tickets.get(ticket_id)
        if ticket is None:
            raise ApiError(404, "NotFound", f"Ticket with id {ticket_id} was not found.")
        return ticket

    def ticket_notes(self, ticket: Ticket) -> list[Json]:
        with self._lock:
            notes = self.notes.get(ticket.id)
            if notes is None:
                notes = self.notes[ticket.id] = _write_notes(self, ticket)
            return notes

    # -- changes (the API's and a technician's)

    def _stamp(self, ticket: Ticket, who: str) -> None:
        moment = iso(self.clock())
        ticket.last_updated = max(moment, ticket.last_updated)
        ticket.updated_by = who

    def _set_status(self, ticket: Ticket, status_id: int, who: str) -> None:
        status = self.statuses.get(status_id)
        board = self.boards[ticket.board_id]
        if status is None or status["boardId"] != ticket.board_id:
            known = f" ({status['name']}, on another board)" if status else ""
            raise _invalid(
                f"Status {status_id}{known} is not a status of board {board['name']} (id {board['id']}); "
                f"use one of {sorted(s['id'] for s in self.board_statuses(ticket.board_id))}.",
                "status",
            )
        before = self.statuses[ticket.status_id]
        ticket.status_id = status_id
        moment = max(iso(self.clock()), ticket.last_updated)
        if status["closedStatus"] and not ticket.closed:
            ticket.closed, ticket.closed_date, ticket.closed_by = True, moment, who
        elif not status["closedStatus"] and ticket.closed:
            ticket.closed, ticket.closed_date, ticket.closed_by = False, None, None
        self.status_history.setdefault(ticket.id, []).append(
            {
                "from": {"id": before["id"], "name": before["name"]},
                "to": {"id": status["id"], "name": status["name"]},
                "at": moment,
                "by": who,
            }
        )

    def board_statuses(self, board_id: int) -> list[Json]:
        return sorted((s for s in self.statuses.values() if s["boardId"] == board_id), key=lambda s: s["sortOrder"])

    def patch_ticket(self, ticket_id: int, operations: Any, who: str) -> Ticket:
        if not isinstance(operations, list) or not operations:
            raise ApiError(400, "InvalidRequest", 'Send a JSON-Patch array: [{"op":"replace","path":...,"value":...}].')
        with self._lock:
            ticket = self.ticket(ticket_id)
            work = Ticket(**{name: getattr(ticket, name) for name in Ticket.__slots__})  # all or nothing
            history = len(self.status_history.get(ticket_id, []))
            try:
                for operation in operations:
                    self._apply(work, operation, who)
            except ApiError:
                if ticket_id in self.status_history:
                    del self.status_history[ticket_id][history:]
                raise
            for name in Ticket.__slots__:
                setattr(ticket, name, getattr(work, name))
            self._stamp(ticket, who)
            self.changed()
            return ticket

    def _apply(self, ticket: Ticket, operation: Any, who: str) -> None:
        if not isinstance(operation, dict) or not isinstance(operation.get("path"), str):
            raise ApiError(400, "InvalidRequest", "Each JSON-Patch operation needs op, path and value.")
        op = str(operation.get("op", "")).lower()
        path = operation["path"].strip("/").lower()
        value = operation.get("value")
        if op == "remove" and path in ("owner", "owner/id"):
            ticket.owner_id = None
            return
        if op not in ("replace", "add"):
            raise ApiError(400, "InvalidRequest", f"Unsupported JSON-Patch op {op!r}: use replace.")
        if isinstance(value, dict) and path in ("status", "priority", "owner", "contact"):
            path, value = f"{path}/id", value.get("id")
        setters: dict[str, Callable[[Ticket, Any, str], None]] = {
            "summary": self._set_summary,
            "status/id": lambda t, v, w: self._set_status(t, _int_value(v, "status"), w),
            "priority/id": self._set_priority,
            "owner/id": self._set_owner,
            "contact/id": self._set_contact,
        }
        setter = setters.get(path)
        if setter is None:
            raise _invalid(f"The path {operation['path']!r} cannot be patched here.", path.split("/")[0])
        setter(ticket, value, who)

    @staticmethod
    def _set_summary(ticket: Ticket, value: Any, who: str) -> None:
        if not isinstance(value, str) or not value.strip():
            raise _invalid("Summary is required.", "summary")
        if len(value) > 100:
            raise _invalid("Summary may be at most 100 characters.", "summary")
        ticket.summary = value

    def _set_priority(self, ticket: Ticket, value: Any, who: str) -> None:
        priority = _int_value(value, "priority")
        if priority not in self.priorities:
            raise _invalid(f"Priority {priority} does not exist.", "priority")
        ticket.priority_id = priority

    def _set_owner(self, ticket: Ticket, value: Any, who: str) -> None:
        member = None if value is None else _int_value(value, "owner")
        if member is not None and member not in self.members:
            raise _invalid(f"Member {member} does not exist.", "owner")
        ticket.owner_id = member

    def _set_contact(self, ticket: Ticket, value: Any, who: str) -> None:
        contact = _int_value(value, "contact")
        if self.contacts.get(contact, {}).get("companyId") != ticket.company_id:
            raise _invalid(f"Contact {contact} is not a contact of this ticket's company.", "contact")
        ticket.contact_id = contact

    def create_ticket(self, body: Any, who: str) -> Ticket:
        if not isinstance(body, dict):
            raise ApiError(400, "InvalidRequest", "Send the ticket as a JSON object.")
        summary = body.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            raise _invalid("Summary is required.", "summary")
        with self._lock:
            board_id = _ref_id(body.get("board"), "board")
            board = self.boards.get(board_id) if board_id is not None else None
            if board is None:
                raise _invalid("A valid board is required." if board_id else "Board is required.", "board")
            company = self._company_of(body.get("company"))
            statuses = self.board_statuses(board["id"])
            status_id = _ref_id(body.get("status"), "status")
            if status_id is None:
                status_id = next((s["id"] for s in statuses if s["defaultFlag"]), statuses[0]["id"])
            elif status_id not in {s["id"] for s in statuses}:
                raise _invalid(f"Status {status_id} is not a status of board {board['name']}.", "status")
            priority_id = _ref_id(body.get("priority"), "priority") or 3
            if priority_id not in self.priorities:
                raise _invalid(f"Priority {priority_id} does not exist.", "priority")
            contact_id = _ref_id(body.get("contact"), "contact")
            if contact_id is not None and self.contacts.get(contact_id, {}).get("companyId") != company["id"]:
                raise _invalid(f"Contact {contact_id} is not a contact of {company['name']}.", "contact")
            owner_id = _ref_id(body.get("owner"), "owner")
            if owner_id is not None and owner_id not in self.members:
                raise _invalid(f"Member {owner_id} does not exist.", "owner")
            moment = iso(self.clock())
            ticket = Ticket(
                id=self.next_id("ticket"),
                summary=summary[:100],
                board_id=board["id"],
                status_id=status_id,
                company_id=company["id"],
                contact_id=contact_id if contact_id is not None else company.get("defaultContactId"),
                priority_id=priority_id,
                owner_id=owner_id,
                closed=False,
                date_entered=moment,
                entered_by=who,
                closed_date=None,
                closed_by=None,
                last_updated=moment,
                updated_by=who,
            )
            self.tickets[ticket.id] = ticket
            self.notes[ticket.id] = []
            description = body.get("initialDescription")
            if isinstance(description, str) and description.strip():
                self.notes[ticket.id].append(self._note(ticket, description, who, detail=True))
            self.changed()
            return ticket

    def _company_of(self, ref: Any) -> Json:
        if isinstance(ref, dict) and isinstance(ref.get("identifier"), str) and ref.get("id") is None:
            found = next((c for c in self.companies.values() if c["identifier"] == ref["identifier"]), None)
            if found is None:
                raise _invalid(f"Company {ref['identifier']!r} does not exist.", "company")
            return found
        company_id = _ref_id(ref, "company")
        if company_id is None:
            raise _invalid("Company is required.", "company")
        if company_id not in self.companies:
            raise _invalid(f"Company {company_id} does not exist.", "company")
        return self.companies[company_id]

    def _note(
        self,
        ticket: Ticket,
        text: str,
        who: str,
        *,
        detail: bool = False,
        internal: bool = False,
        resolution: bool = False,
    ) -> Json:
        member = next((m for m in self.members.values() if m["identifier"] == who), None)
        moment = iso(self.clock())
        return _compact(
            {
                "id": self.next_id("note"),
                "ticketId": ticket.id,
                "text": text,
                "detailDescriptionFlag": detail,
                "internalAnalysisFlag": internal,
                "resolutionFlag": resolution,
                "issueFlag": False,
                "member": self.member_ref(member["id"]) if member else None,
                "dateCreated": moment,
                "createdBy": who,
                "internalFlag": internal,
                "externalFlag": detail,
                "_info": {"lastUpdated": moment, "updatedBy": who},
            }
        )

    def add_note(self, ticket_id: int, body: Any, who: str) -> Json:
        if not isinstance(body, dict):
            raise ApiError(400, "InvalidRequest", "Send the note as a JSON object.")
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _invalid("Text is required.", "text", resource="ticketNote")
        flags = {
            name: bool(body.get(name)) for name in ("detailDescriptionFlag", "internalAnalysisFlag", "resolutionFlag")
        }
        if not any(flags.values()):
            raise _invalid(
                "Set at least one of detailDescriptionFlag, internalAnalysisFlag or resolutionFlag.",
                "detailDescriptionFlag",
                resource="ticketNote",
            )
        with self._lock:
            ticket = self.ticket(ticket_id)
            notes = self.ticket_notes(ticket)
            note = self._note(
                ticket,
                text,
                who,
                detail=flags["detailDescriptionFlag"],
                internal=flags["internalAnalysisFlag"],
                resolution=flags["resolutionFlag"],
            )
            notes.append(note)
            self._stamp(ticket, who)
            self.changed()
            return note

    def add_document(
        self, record_type: str, record_id: str, *, name: str, title: str, size: int, private: bool
    ) -> Json:
        if record_type.lower() != "ticket":
            raise _invalid(f"recordType {record_type!r} is not supported here: use Ticket.", "recordType", "document")
        if not record_id.isdigit():
            raise _invalid("recordId must be the ticket's id.", "recordId", "document")
        if size > ATTACHMENT_CAP:
            raise ApiError(
                413,
                "InvalidObject",
                f"The file is {size / 1024 / 1024:.1f} MB; ConnectWise accepts documents up to 10 MB.",
                [
                    {
                        "code": "FileTooLarge",
                        "message": "The maximum file size is 10 MB.",
                        "resource": "document",
                        "field": "file",
                    }
                ],
            )
        with self._lock:
            ticket = self.ticket(int(record_id))
            moment = iso(self.clock())
            document = {
                "id": self.next_id("document"),
                "title": title or name,
                "fileName": name,
                "serverFileName": f"{uuid.uuid4()}{'.' + name.rsplit('.', 1)[1] if '.' in name else ''}",
                "recordType": "Ticket",
                "recordId": ticket.id,
                "owner": API_MEMBER,
                "linkFlag": False,
                "imageFlag": name.lower().endswith((".png", ".jpg", ".jpeg", ".gif")),
                "publicFlag": not private,
                "readOnlyFlag": False,
                "size": size,
                "urlFlag": False,
                "createdOnDate": moment,
                "documentDate": moment,
                "_info": {"lastUpdated": moment, "updatedBy": API_MEMBER},
            }
            self.documents.append(document)
            return document

    def add_callback(self, body: Any) -> Json:
        if not isinstance(body, dict):
            raise ApiError(400, "InvalidRequest", "Send the callback as a JSON object.")
        url = body.get("url")
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            raise _invalid("url must be an absolute http(s) URL.", "url", "callback")
        kind = body.get("type")
        if not isinstance(kind, str) or not kind:
            raise _invalid("type is required (e.g. Ticket).", "type", "callback")
        level = body.get("level")
        if not isinstance(level, str) or level.lower() not in ("owner", "board", "status", "company", "ticket"):
            raise _invalid("level must be Owner, Board, Status, Company or Ticket.", "level", "callback")
        object_id = body.get("objectId", 1)
        if not is_count(object_id):
            raise _invalid("objectId must be a number.", "objectId", "callback")
        with self._lock:
            moment = iso(self.clock())
            callback = {
                "id": self.next_id("callback"),
                "description": str(body.get("description") or ""),
                "url": url,
                "objectId": object_id,
                "type": kind,
                "level": level,
                "memberId": 0,
                "payloadVersion": str(body.get("payloadVersion") or "2025.1"),
                "inactiveFlag": bool(body.get("inactiveFlag", False)),
                "isSoapCallbackFlag": False,
                "isSelfSuppressedFlag": False,
                "_info": {"lastUpdated": moment, "updatedBy": API_MEMBER},
            }
            self.callbacks[callback["id"]] = callback
            self.changed()
            return callback

    # -- callbacks

    def _matches(self, callback: Json, ticket: Ticket) -> bool:
        if callback["inactiveFlag"] or callback["type"].lower() not in ("ticket", "serviceticket"):
            return False
        level, target = callback["level"].lower(), callback["objectId"]
        return bool(
            {
                "owner": True,
                "board": ticket.board_id == target,
                "status": ticket.status_id == target,
                "company": ticket.company_id == target,
                "ticket": ticket.id == target,
            }.get(level, False)
        )

    def notify(self, action: str, ticket: Ticket, who: str, base: str) -> None:
        """POST the change to every matching callback, signed, in a background thread."""
        base = (self.public_url or base).rstrip("/")
        with self._lock:
            entity = json.dumps(self.ticket_view(ticket), separators=(",", ":"))
            targets = [dict(c) for c in self.callbacks.values() if self._matches(c, ticket)]
            if self.key_id not in self.signing_keys:  # a bare state: make a key on first use
                self.key_id = self.key_id or str(uuid.uuid4())
                self.signing_keys[self.key_id] = base64.b64encode(secrets.token_bytes(32)).decode()
            key = self.signing_keys[self.key_id]
            key_url = f"{base}{API}/system/callbackkeys/{self.key_id}"
        messages = []
        for callback in targets:
            payload = {
                "MessageId": str(uuid.uuid4()),
                "FromUrl": urlsplit(base).netloc,
                "CompanyId": DEMO_COMPANY_ID,
                "MemberId": who,
                "Action": action,
                "Type": "ticket",
                "ID": ticket.id,
                "ProductInstanceId": self.product_instance_id,
                "PartnerId": self.partner_id,
                "Entity": entity,
                "Metadata": {"key_url": key_url},
                "CallbackObjectRecId": callback["objectId"],
            }
            messages.append((callback, json.dumps(payload, separators=(",", ":")).encode()))
        if not messages:
            return
        sender = threading.Thread(target=self._send, args=(messages, key, action, ticket.id), daemon=True)
        with self._lock:
            self._senders = [t for t in self._senders if t.is_alive()]
            self._senders.append(sender)
        sender.start()

    def _send(self, messages: list[tuple[Json, bytes]], key: str, action: str, ticket_id: int) -> None:

        for callback, body in messages:
            entry: Json = {
                "callbackId": callback["id"],
                "url": callback["url"],
                "action": action,
                "ticketId": ticket_id,
                "messageId": json.loads(body)["MessageId"],
                "status": None,
                "error": None,
                "at": iso(self.clock()),
            }
            try:
                response = requests.post(
                    callback["url"],
                    data=body,
                    headers={"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, key)},
                    timeout=10,
                )
                entry["status"] = response.status_code
                if response.status_code >= 400:
                    entry["error"] = f"HTTP {response.status_code}"
            except requests.RequestException as error:
                entry["error"] = f"{type(error).__name__}: {error}"
            with self._lock:
                self.deliveries.append(entry)

    def drain(self, timeout: float = 10.0) -> None:
        """Wait for the callbacks under way to be delivered (tests)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            senders = list(self._senders)
        for sender in senders:
            sender.join(max(deadline - time.monotonic(), 0))


# --- seeded data ---------------------------------------------------------------------------------------

_MEMBERS = [  # id, identifier, first, last, title
    (148, "jhughes", "Jordan", "Hughes", "Service Manager"),
    (152, "ppatel", "Priya", "Patel", "Senior Engineer"),
    (157, "tokafor", "Tom", "Okafor", "Service Desk Engineer"),
    (163, "ejensen", "Elena", "Jensen", "Service Desk Engineer"),
    (171, "cmoreau", "Chris", "Moreau", "Project Engineer"),
    (176, "dbrennan", "Dana", "Brennan", "Service Desk Engineer"),
]
_API_MEMBER_ID = 190
_BOARDS = [  # id, name, inactive, statuses (name, closed, default)
    (
        1,
        "Service Desk",
        False,
        [("New", False, True), ("In Progress", False, False), ("Waiting on Client", False, False),
         ("Scheduled", False, False), ("Resolved", True, False), ("Closed", True, False)],
    ),
    (
        2,
        "Projects",
        False,
        [("New", False, True), ("Scheduled", False, False), ("In Progress", False, False),
         ("Waiting on Client", False, False), ("Closed", True, False)],
    ),
    (3, "Alerts", False, [("New", False, True), ("In Progress", False, False), ("Resolved", True, False), ("Closed", True, False)]),
    (4, "Legacy Helpdesk", True, [("New", False, True), ("Closed", True, False)]),
]  # fmt: skip
_PRIORITIES = [
    (1, "Priority 1 - Emergency"),
    (2, "Priority 2 - High"),
    (3, "Priority 3 - Normal"),
    (4, "Priority 4 - Low"),
]
_BOARD_WEIGHTS = [(1, 65), (3, 25), (2, 10)]
_PRIORITY_WEIGHTS = {1: [3, 17, 60, 20], 2: [0, 10, 50, 40], 3: [12, 38, 50, 0]}
_OPEN_WEIGHTS = {"New": 25, "In Progress": 35, "Waiting on Client": 25, "Scheduled": 15}
_HOSTS = ["FS01", "DC01", "SQL01", "RDS01", "APP02", "HV01", "PRINT01"]
_TOPICS: dict[int, list[tuple[str, str, str]]] = {  # board -> (summary, first note, resolution)
    1: [
        ("Outlook keeps asking for password", "Since this morning Outlook keeps popping up a password prompt. I type it in and it comes back a minute later.", "Cleared cached credentials and re-created the Outlook profile; modern auth prompt now completes."),
        ("New starter: laptop setup for {detail}", "{detail} starts on Monday. Please set up a laptop with Microsoft 365, Teams and access to the shared drives.", "Laptop imaged, enrolled in Intune and handed over; user signed in and MFA registered."),
        ("Printer on 2nd floor not printing", "The Ricoh on the second floor shows jobs in the queue but nothing comes out.", "Restarted the print spooler on PRINT01 and cleared the stuck job; test page printed."),
        ("VPN disconnects every few minutes", "Working from home, the VPN drops every 5-10 minutes and I lose my mapped drives.", "Updated the VPN client and moved the user to the new gateway profile; stable for 2 days."),
        ("Reset MFA for {detail}", "{detail} has a new phone and can no longer approve sign-ins.", "MFA methods reset; user re-registered Authenticator on the new phone."),
        ("Shared mailbox access for {detail}", "Please give {detail} full access and send-as on the accounts@ shared mailbox.", "Full access and send-as granted; mailbox appeared in Outlook after restart."),
        ("Teams calls dropping", "Teams calls drop after about 20 minutes, for several people in the office.", "Firewall UDP session timeout raised for Teams media ranges; calls stable."),
        ("OneDrive not syncing", "OneDrive shows a red cross and files I saved yesterday are not on my other PC.", "Unlinked and relinked OneDrive; resolved a path-too-long file blocking the sync."),
        ("Leaver: disable account for {detail}", "{detail} leaves on Friday. Disable the account, convert the mailbox to shared and give the manager access.", "Account disabled, mailbox converted to shared, licence removed, manager granted access."),
        ("Cannot open attachments in Outlook", "PDF attachments open as a blank window since the last update.", "Repaired Office and reset the default PDF handler."),
        ("Wi-Fi in meeting room keeps dropping", "Guests in the meeting room lose the Wi-Fi constantly during calls.", "Access point in the meeting room replaced; signal and roaming checked."),
        ("Request: Adobe Acrobat licence for {detail}", "{detail} needs Acrobat Pro to edit contracts.", "Licence assigned and Acrobat Pro deployed."),
        ("Email bouncing from supplier domain", "Emails from our main supplier bounce back with a 550 error.", "Supplier's domain was caught by a spoofing rule; rule adjusted and mail flowing."),
        ("Slow PC - {detail}", "{detail}'s PC takes 10 minutes to start and freezes when opening Excel.", "Replaced failing HDD with an SSD and re-imaged; boots in under a minute."),
        ("Password reset for {detail}", "{detail} is locked out after holiday and cannot remember the password.", "Password reset with identity verified by phone; account unlocked."),
    ],
    2: [
        ("Migrate file server to SharePoint", "Project: move departmental shares from FS01 to SharePoint Online sites.", "All shares migrated and FS01 set read-only; project closed."),
        ("Windows 11 rollout - phase 2", "Upgrade the remaining Windows 10 devices to Windows 11.", "All devices on Windows 11 23H2."),
        ("Firewall replacement", "Replace the end-of-life firewall at the main office.", "New firewall in place, rules migrated, old unit wiped."),
        ("Onboard new office site", "Network, Wi-Fi and printers for the new branch office.", "Branch office live; documentation updated."),
        ("Microsoft 365 licence review", "Review licence assignments and remove unused ones before renewal.", "Removed 7 unused licences; renewal adjusted."),
        ("Server 2012 R2 decommission ({detail})", "Move the remaining roles off {detail} and decommission it.", "Roles migrated and {detail} powered off and removed from AD."),
    ],
    3: [
        ("Backup job failed on {detail}", "Veeam: job 'Daily VM backup' finished with Failed for {detail}: the snapshot could not be created.", "Removed orphaned snapshot; re-ran the job successfully."),
        ("Disk space low on {detail} (C: 6% free)", "RMM alert: free space on C: below 10% on {detail}.", "Cleared old logs and Windows Update cache; 38% free."),
        ("Server {detail} offline", "RMM alert: agent on {detail} has not checked in for 15 minutes.", "Host rebooted after a hung update; agent checking in."),
        ("Veeam: backup copy job warning", "Backup copy job finished with Warning: restore point is older than the RPO.", "Copy job window extended; next run succeeded."),
        ("Antivirus threat quarantined on {detail}", "EDR quarantined a PUA installer on {detail}.", "Confirmed quarantine and full scan clean; user reminded of the policy."),
        ("UPS on battery at main office", "UPS reported on-battery for 4 minutes.", "Short power cut confirmed by the client; UPS self-test passed."),
        ("CPU over 95% on {detail} for 15 min", "RMM alert: sustained CPU above 95% on {detail}.", "Runaway antivirus scan process restarted; CPU normal."),
        ("Certificate expiring in 14 days on {detail}", "The TLS certificate on {detail} expires in 14 days.", "Certificate renewed and bound; monitoring green."),
        ("Keepit: Microsoft 365 backup failed", "Keepit reports the Microsoft 365 connector failed its last backup.", "Re-authorized the connector; backup completed."),
    ],
}  # fmt: skip
_INTERNAL = [
    "Called the user, could not reproduce while on the phone. Will check logs.",
    "Checked the event log: errors started after last night's updates.",
    "Remoted in; issue confirmed. Escalating to {owner}.",
    "Waiting for the client to confirm a time for the visit.",
    "Vendor case opened, reference VC-{number}.",
    "Applied the fix from the knowledge base article; monitoring.",
    "Ordered replacement part, ETA two working days.",
]
_REPLIES = [
    "Hi {contact}, we are looking into this now and will update you within the hour.",
    "Hi {contact}, could you let us know a good time to connect remotely?",
    "Hi {contact}, we've made a change; please try again and let us know if it works.",
    "Thanks {contact}, that's confirmed working on our side too.",
]
_FIRST = ["Alex", "Sam", "Jordan", "Morgan", "Grace", "Luis", "Fatima", "Noah", "Olivia", "Ravi", "Sofia", "Ben"]
_LAST = ["Clarke", "Nguyen", "Murphy", "Schmidt", "Rossi", "Walsh", "Khan", "Evans", "Lopez", "Byrne", "Hale"]
_OWN_PLACE: Json = {"city": "Portland", "state": "Northeast", "country": "USA", "zip": "04101", "phone": "2075550100"}
_COPPERFIELD: Json = {"city": "Sacramento", "state": "West", "country": "USA", "zip": "95814", "phone": "9165550147"}


def _place_of(organization: Json, status: str) -> Json:
    return {
        "city": organization.get("city"),
        "state": organization.get("regionName"),
        "country": organization.get("countryName"),
        "zip": organization.get("zipCode"),
        "phone": re.sub(r"\D", "", organization.get("phone") or ""),
        "street": organization.get("street"),
        "website": organization.get("website"),
        "active": status == "Active",
    }


def _respell(names: list[str]) -> list[str]:
    """Most names as the VSPC simulator spells them; the first with "&" and the seventh a little differently
    (each still equal under vectis.matching.normalize_name)."""
    out = list(names)
    ampersand = next((i for i, name in enumerate(out) if " & " in name), None)
    if ampersand is not None:
        out[ampersand] = out[ampersand].replace(" & ", " and ")
    other = 6 if ampersand != 6 else 5
    if other < len(out):
        out[other] = f"{out[other]} Ltd"
    return out


def _identifier(name: str, taken: set[str]) -> str:
    base = "".join(word[:1].upper() + word[1:] for word in re.findall(r"[A-Za-z0-9]+", name))[:25] or "Company"
    identifier, number = base, 2
    while identifier in taken:
        identifier = f"{base[:22]}{number}"
        number += 1
    taken.add(identifier)
    return identifier


class _Generator:
    """All randomness comes from one ``random.Random(seed)`` in a fixed order (notes from one per ticket), so
    a seed and a ``now`` give the same site every time."""

    def __init__(self, seed: int, now: datetime | None) -> None:
        self.seed = seed
        self.rng = random.Random(seed)  # noqa: S311 - deterministic test data, not security
        moment = now or datetime.now(UTC)
        self.now = (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)).replace(
            microsecond=0
        )

    def guid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def build(
        self, customers: list[tuple[str, Json | None]], *, tickets: int, days: int, eager_notes: bool
    ) -> ConnectWiseState:
        rng = self.rng
        state = ConnectWiseState(now=self.now, seed=self.seed)
        state.product_instance_id = self.guid()
        state.partner_id = self.guid()
        state.key_id = self.guid()
        state.signing_keys[state.key_id] = base64.b64encode(rng.randbytes(32)).decode()
        state.api_keys = {DEMO_PUBLIC_KEY: ApiKey(DEMO_COMPANY_ID, DEMO_PRIVATE_KEY, _API_MEMBER_ID)}
        created = iso(self.now - timedelta(days=900))
        for member_id, identifier, first, last, title in [
            *_MEMBERS,
            (_API_MEMBER_ID, API_MEMBER, "Vectis", "API", "API Member"),
        ]:
            state.members[member_id] = {
                "id": member_id,
                "identifier": identifier,
                "firstName": first,
                "lastName": last,
                "name": f"{first} {last}",
                "title": title,
                "officeEmail": f"{identifier.lower()}@summit-msp.example",
                "inactiveFlag": False,
                "licenseClass": "A" if identifier != API_MEMBER else "X",
                "_info": {"lastUpdated": created, "updatedBy": "jhughes"},
            }
        status_id = 1
        for board_id, name, inactive, statuses in _BOARDS:
            state.boards[board_id] = {
                "id": board_id,
                "name": name,
                "location": {"id": 2, "name": "Main"},
                "department": {"id": 10, "identifier": "Services", "name": "Services"},
                "inactiveFlag": inactive,
                "projectFlag": name == "Projects",
                "_info": {"lastUpdated": created, "updatedBy": "jhughes"},
            }
            for order, (status_name, closed, default) in enumerate(statuses):
                state.statuses[status_id] = {
                    "id": status_id,
                    "name": status_name,
                    "board": {"id": board_id, "name": name},
                    "boardId": board_id,
                    "sortOrder": order,
                    "displayOnBoard": True,
                    "inactive": False,
                    "closedStatus": closed,
                    "timeEntryNotAllowed": closed,
                    "defaultFlag": default,
                    "escalationStatus": "NotResponded" if default else ("Resolved" if closed else "Responded"),
                    "_info": {"lastUpdated": created, "updatedBy": "jhughes"},
                }
                status_id += 1
        for priority_id, name in _PRIORITIES:
            state.priorities[priority_id] = {
                "id": priority_id,
                "name": name,
                "sortOrder": priority_id * 2,
                "defaultFlag": priority_id == 3,
                "color": ["Red", "Orange", "Green", "Blue"][priority_id - 1],
            }

        self.company(state, 2, "Summit MSP", _OWN_PLACE, owner=True)
        company_id = 250
        for name, place in customers:
            company_id += rng.randint(1, 9)
            self.company(state, company_id, name, place or _COPPERFIELD)
        self.tickets(state, tickets, days)
        if eager_notes:
            for ticket in state.tickets.values():
                state.notes[ticket.id] = _write_notes(state, ticket)
        return state

    def company(self, state: ConnectWiseState, company_id: int, name: str, place: Json, owner: bool = False) -> None:
        rng = self.rng
        taken = {c["identifier"] for c in state.companies.values()}
        domain = re.sub(r"[^a-z0-9]", "", name.lower())[:24] + ".example.com"
        contact_ids = []
        for _ in range(rng.randint(2, 4)):
            contact_id = max(state.contacts, default=1000) + rng.randint(1, 6)
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            state.contacts[contact_id] = {
                "id": contact_id,
                "firstName": first,
                "lastName": last,
                "name": f"{first} {last}",
                "email": f"{first.lower()}.{last.lower()}@{domain}",
                "companyId": company_id,
            }
            contact_ids.append(contact_id)
        entered = self.now - timedelta(days=rng.randint(120, 1500))
        updated = entered + (self.now - entered) * rng.random()
        state.companies[company_id] = {
            "id": company_id,
            "identifier": "SummitMSP" if owner else _identifier(name, taken),
            "name": name,
            "status": {"id": 1, "name": "Active"} if place.get("active", True) else {"id": 2, "name": "Inactive"},
            "types": [{"id": 5, "name": "Owner"}] if owner else [{"id": 1, "name": "Client"}],
            "addressLine1": place.get("street") or f"{rng.randint(1, 200)} Main Street",
            "city": place.get("city"),
            "state": place.get("state"),
            "zip": place.get("zip"),
            "country": {"id": 1, "name": place["country"]} if place.get("country") else None,
            "phoneNumber": place.get("phone") or None,
            "website": place.get("website") or f"www.{domain}",
            "defaultContactId": contact_ids[0],
            "deletedFlag": False,
            "dateAcquired": iso(entered),
            "_info": {
                "lastUpdated": iso(updated),
                "updatedBy": "jhughes",
                "dateEntered": iso(entered),
                "enteredBy": "jhughes",
            },
        }

    def tickets(self, state: ConnectWiseState, count: int, days: int) -> None:
        rng = self.rng
        span = days * 86400
        customers = [c["id"] for c in state.companies.values() if c["id"] != 2]
        weights = list(itertools.accumulate(rng.lognormvariate(0, 0.8) for _ in customers))
        board_ids, board_weights = (
            [b for b, _ in _BOARD_WEIGHTS],
            list(itertools.accumulate(w for _, w in _BOARD_WEIGHTS)),
        )
        priority_weights = {b: list(itertools.accumulate(w)) for b, w in _PRIORITY_WEIGHTS.items()}
        technicians = [m[0] for m in _MEMBERS]
        by_board = {b: state.board_statuses(b) for b in state.boards}
        contacts_of: dict[int, list[int]] = {}
        for person in state.contacts.values():
            contacts_of.setdefault(person["companyId"], []).append(person["id"])
        ages = sorted(
            (rng.randrange(300, 86400) if rng.random() < 0.05 else rng.randrange(86400, span) for _ in range(count)),
            reverse=True,
        )
        ticket_id = 48210 if count < 10_000 else 10_001
        for age in ages:
            ticket_id += rng.randint(1, 3) if count < 10_000 else 1
            entered = self.now - timedelta(seconds=age)
            board = rng.choices(board_ids, cum_weights=board_weights)[0]
            company = 2 if rng.random() < 0.03 else rng.choices(customers, cum_weights=weights)[0]
            topic = rng.randrange(len(_TOPICS[board]))
            summary_template = _TOPICS[board][topic][0]
            contact = rng.choice(contacts_of[company]) if board != 3 else None
            detail = rng.choice(_HOSTS) if board != 1 else f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
            if board == 1 and "{detail}" not in summary_template:
                detail = state.contacts[contact]["firstName"] if contact else ""
            days_old = age / 86400
            closed_chance = 0.8 if days_old > 21 else 0.45 if days_old > 3 else 0.15
            closed = rng.random() < closed_chance
            statuses = by_board[board]
            if closed:
                options = [s for s in statuses if s["closedStatus"]]
                status = rng.choices(options, weights=[70 if s["name"] == "Closed" else 30 for s in options])[0]
                closed_at = min(
                    entered + timedelta(seconds=int(min(age * 0.9, rng.uniform(1800, 6 * 86400)))), self.now
                )
                updated = closed_at + timedelta(seconds=rng.randrange(0, 600))
                owner: int | None = rng.choice(technicians)
            else:
                options = [s for s in statuses if not s["closedStatus"]]
                status = rng.choices(options, weights=[_OPEN_WEIGHTS.get(s["name"], 10) for s in options])[0]
                closed_at = None
                recent = rng.random() < 0.3
                lag = rng.uniform(0, min(age, 86400)) if recent else rng.uniform(0, age)
                updated = self.now - timedelta(seconds=int(lag))
                owner = rng.choice(technicians) if status["name"] != "New" or rng.random() < 0.3 else None
            entered_by = (
                "Automate" if board == 3 else rng.choice(["EmailConnector", "Portal", *[m[1] for m in _MEMBERS]])
            )
            owner_identifier = state.members[owner]["identifier"] if owner else entered_by
            state.tickets[ticket_id] = Ticket(
                id=ticket_id,
                summary=summary_template.format(detail=detail)[:100],
                board_id=board,
                status_id=status["id"],
                company_id=company,
                contact_id=contact,
                priority_id=rng.choices([1, 2, 3, 4], cum_weights=priority_weights[board])[0],
                owner_id=owner,
                closed=closed,
                date_entered=iso(entered),
                entered_by=entered_by,
                closed_date=iso(closed_at) if closed_at else None,
                closed_by=owner_identifier if closed_at else None,
                last_updated=iso(min(max(updated, entered), self.now)),  # nothing is updated in the future
                updated_by=owner_identifier,
                topic=topic,
                detail=detail,
            )


def _write_notes(state: ConnectWiseState, ticket: Ticket) -> list[Json]:
    """A seeded ticket's 1-5 notes, from a generator of its own (so they can be written lazily)."""
    if ticket.topic < 0:
        return []
    rng = random.Random(f"connectwise-notes:{state.seed}:{ticket.id}")  # noqa: S311 - test data
    _, description, resolution = _TOPICS[ticket.board_id][ticket.topic]
    start, end = parse_iso(ticket.date_entered), parse_iso(ticket.last_updated)
    assert start is not None and end is not None
    count = rng.randint(1, 5)
    contact = state.contacts.get(ticket.contact_id) if ticket.contact_id is not None else None
    owner = state.member_ref(ticket.owner_id) or state.member_ref(rng.choice(_MEMBERS)[0])
    assert owner is not None
    notes = []
    for number in range(count):
        moment = iso(start + (end - start) * (number / max(count - 1, 1))) if number else ticket.date_entered
        author: Json | None = owner
        author_contact: Json | None = None
        detail, internal, resolved = False, False, False
        if number == 0:
            text = description.format(detail=ticket.detail)
            detail = True
            author_contact = {"id": contact["id"], "name": contact["name"]} if contact else None
            author = None
        elif number == count - 1 and ticket.closed:
            text, resolved = resolution.format(detail=ticket.detail), True
        elif contact and rng.random() < 0.4:
            text, detail = rng.choice(_REPLIES).format(contact=contact["firstName"]), True
        else:
            text = rng.choice(_INTERNAL).format(owner=owner["name"], number=rng.randrange(100000, 999999))
            internal = True
        created_by = author["identifier"] if author else ("Automate" if ticket.board_id == 3 else ticket.entered_by)
        notes.append(
            _compact(
                {
                    "id": ticket.id * 10 + number,
                    "ticketId": ticket.id,
                    "text": text,
                    "detailDescriptionFlag": detail,
                    "internalAnalysisFlag": internal,
                    "resolutionFlag": resolved,
                    "issueFlag": False,
                    "member": author,
                    "contact": author_contact,
                    "dateCreated": moment,
                    "createdBy": created_by,
                    "internalFlag": internal,
                    "externalFlag": detail,
                    "_info": {"lastUpdated": moment, "updatedBy": created_by},
                }
            )
        )
    return notes


# --- queries -------------------------------------------------------------------------------------------

Getter = Callable[[Any, str], Any]
Predicate = Callable[[Any], bool]


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _strip(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_strip(item) for item in value]
    return value


def _compact(row: Json) -> Json:
    """ConnectWise leaves null fields out."""
    out: Json = _strip(row)
    return out


def _dig(row: Any, path: str) -> Any:
    """``company/id`` in a JSON row, case-insensitively; ``lastUpdated`` also finds ``_info/lastUpdated``."""
    value = row
    parts = path.split("/")
    for part in parts:
        if not isinstance(value, dict):
            return None
        if part in value:
            value = value[part]
            continue
        lowered = part.lower()
        key = next((k for k in value if k.lower() == lowered), None)
        if key is None:
            if len(parts) == 1 and isinstance(row.get("_info"), dict):
                return _dig(row["_info"], path)
            return None
        value = value[key]
    return value


_TICKET_FIELDS: dict[str, Callable[[Ticket], Any]] = {
    "id": lambda t: t.id,
    "summary": lambda t: t.summary,
    "lastupdated": lambda t: t.last_updated,
    "_info/lastupdated": lambda t: t.last_updated,
    "dateentered": lambda t: t.date_entered,
    "_info/dateentered": lambda t: t.date_entered,
    "closedflag": lambda t: t.closed,
    "closeddate": lambda t: t.closed_date,
    "board/id": lambda t: t.board_id,
    "status/id": lambda t: t.status_id,
    "company/id": lambda t: t.company_id,
    "contact/id": lambda t: t.contact_id,
    "priority/id": lambda t: t.priority_id,
    "owner/id": lambda t: t.owner_id,
}


def _ticket_getter(state: ConnectWiseState) -> Getter:
    def get(ticket: Any, path: str) -> Any:
        fast = _TICKET_FIELDS.get(path.lower())
        return fast(ticket) if fast is not None else _dig(state.ticket_view(ticket), path)

    return get


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>"(?:[^"\\]|\\.)*")
    | (?P<date>\[[^\]]*\])
    | (?P<op>>=|<=|!=|<>|=|<|>)
    | (?P<punct>[(),])
    | (?P<number>-?\d+(?:\.\d+)?(?![\w/]))
    | (?P<word>[A-Za-z_][\w/]*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "like", "contains", "in", "true", "false", "null"}


class _Conditions:
    """A recursive-descent reader of ConnectWise ``conditions``: or > and > (…) | field op value."""

    def __init__(self, text: str, get: Getter) -> None:
        self.get = get
        self.tokens: list[tuple[str, Any]] = []
        position = 0
        text = text.rstrip()
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None or match.end() == position:
                raise self.error(f"unexpected text at {text[position : position + 20]!r}")
            position = match.end()
            kind = match.lastgroup or ""
            raw = match.group(kind)
            if kind == "word" and raw.lower() in _KEYWORDS:
                self.tokens.append(("kw", raw.lower()))
            elif kind == "string":
                self.tokens.append(("value", re.sub(r"\\(.)", r"\1", raw[1:-1])))
            elif kind == "date":
                moment = parse_iso(raw[1:-1])
                if moment is None:
                    raise self.error(f"{raw} is not a date")
                self.tokens.append(("value", iso(moment)))
            elif kind == "number":
                self.tokens.append(("value", float(raw) if "." in raw else int(raw)))
            else:
                self.tokens.append((kind, raw))
        self.index = 0

    @staticmethod
    def error(message: str) -> ApiError:
        return ApiError(400, "InvalidRequest", f"conditions could not be parsed: {message}.")

    def peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> tuple[str, Any]:
        token = self.peek()
        if token is None:
            raise self.error("unexpected end")
        self.index += 1
        return token

    def parse(self) -> Predicate:
        predicate = self.disjunction()
        extra = self.peek()
        if extra is not None:
            raise self.error(f"unexpected {extra[1]!r}")
        return predicate

    def disjunction(self) -> Predicate:
        parts = [self.conjunction()]
        while self.peek() == ("kw", "or"):
            self.index += 1
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else (lambda row: any(p(row) for p in parts))

    def conjunction(self) -> Predicate:
        parts = [self.factor()]
        while self.peek() == ("kw", "and"):
            self.index += 1
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else (lambda row: all(p(row) for p in parts))

    def factor(self) -> Predicate:
        if self.peek() == ("punct", "("):
            self.index += 1
            inner = self.disjunction()
            if self.take() != ("punct", ")"):
                raise self.error("missing )")
            return inner
        kind, path = self.take()
        if kind != "word":
            raise self.error(f"expected a field name, found {path!r}")
        negate = False
        kind, op = self.take()
        if (kind, op) == ("kw", "not"):
            negate, (kind, op) = True, self.take()
        if kind == "op":
            test = _comparison("!=" if op == "<>" else op, self.value())
        elif (kind, op) in (("kw", "like"), ("kw", "contains")):
            wanted = self.value()
            if not isinstance(wanted, str):
                raise self.error(f"{op} needs a quoted string")
            test = _like(wanted if op == "like" else f"%{wanted}%")
        elif (kind, op) == ("kw", "in"):
            test = self.membership()
        else:
            raise self.error(f"unknown operator {op!r}")
        get = self.get
        if negate:
            return lambda row: not test(get(row, path))
        return lambda row: test(get(row, path))

    def value(self) -> Any:
        kind, raw = self.take()
        if kind == "value":
            return raw
        if kind == "kw" and raw in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[raw]
        raise self.error(f"expected a value, found {raw!r}")

    def membership(self) -> Callable[[Any], bool]:
        if self.take() != ("punct", "("):
            raise self.error("in needs (…)")
        values = [self.value()]
        while self.peek() == ("punct", ","):
            self.index += 1
            values.append(self.value())
        if self.take() != ("punct", ")"):
            raise self.error("missing )")
        wanted = [_fold(v) for v in values]
        return lambda actual: _fold(actual) in wanted


def _fold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


_ORDERED: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
}


def _comparison(op: str, wanted: Any) -> Callable[[Any], bool]:
    wanted = _fold(wanted)
    if op == "=":
        return lambda actual: _fold(actual) == wanted
    if op == "!=":
        return lambda actual: _fold(actual) != wanted
    compare = _ORDERED[op]

    def ordered(actual: Any) -> bool:
        actual = _fold(actual)
        if actual is None or wanted is None or isinstance(actual, bool) != isinstance(wanted, bool):
            return False
        try:
            return bool(compare(actual, wanted))
        except TypeError:
            return False

    return ordered


def _like(pattern: str) -> Callable[[Any], bool]:
    regex = re.compile(
        "".join(".*" if c in "%*" else "." if c == "_" else re.escape(c) for c in pattern), re.IGNORECASE | re.DOTALL
    )
    return lambda actual: isinstance(actual, str) and regex.fullmatch(actual) is not None


def _order(text: str) -> list[tuple[str, bool]]:
    """``"lastUpdated asc, id desc"`` -> [(path, descending)]."""
    order = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        words = part.split()
        direction = words[1].lower() if len(words) > 1 else "asc"
        if len(words) > 2 or direction not in ("asc", "desc") or not re.fullmatch(r"[A-Za-z_][\w/]*", words[0]):
            raise ApiError(400, "InvalidRequest", f"orderBy could not be parsed at {part!r}: use 'field asc|desc'.")
        order.append((words[0], direction == "desc"))
    return order


def _sort_key(value: Any) -> tuple[int, Any, str]:
    """Nulls first, then numbers, then text (case-insensitive): any two values compare."""
    value = _fold(value)
    if value is None:
        return (0, 0, "")
    if isinstance(value, bool | int | float):
        return (1, value, "")
    return (2, 0, json.dumps(value) if isinstance(value, dict | list) else str(value))


def _sort(rows: list[Any], order: list[tuple[str, bool]], get: Getter) -> list[Any]:
    for path, descending in reversed(order):

        def key(row: Any, path: str = path) -> tuple[int, Any, str]:
            return _sort_key(get(row, path))

        rows = sorted(rows, key=key, reverse=descending)
    return rows


def _project(row: Json, fields: list[str]) -> Json:
    """``fields=id,summary,board/name``: only those, nested paths kept nested."""
    out: Json = {}
    for path in fields:
        value = _dig(row, path)
        if value is None:
            continue
        parts = path.split("/")
        target = out
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return out


def _int_value(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise _invalid(f"{name} must be an id (a number).", name)
    return int(value)


def _ref_id(ref: Any, name: str) -> int | None:
    if ref is None:
        return None
    if isinstance(ref, dict):
        return None if ref.get("id") is None else _int_value(ref["id"], name)
    return _int_value(ref, name)


# --- the app -------------------------------------------------------------------------------------------

api = Blueprint("connectwise_api", __name__, url_prefix=API)
controls = Blueprint("connectwise_sim", __name__, url_prefix="/_sim")  # never faulted, no auth: loopback tooling


def create_app(state: ConnectWiseState | None = None) -> Flask:
    """The simulator as a Flask app over ``state`` (a fresh ``ConnectWiseState.seeded()`` when omitted)."""
    app = Flask(__name__)
    app.url_map.strict_slashes = False
    app.config["MAX_CONTENT_LENGTH"] = 4 * ATTACHMENT_CAP  # larger bodies are cut off with 413
    app.extensions["connectwise_state"] = state if state is not None else ConnectWiseState.seeded()
    app.register_blueprint(api)
    app.register_blueprint(controls)
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _server_error)
    return app


def _sim() -> ConnectWiseState:
    state: ConnectWiseState = current_app.extensions["connectwise_state"]
    return state


def _in_api() -> bool:
    return request.path == API or request.path.startswith(API + "/")


def _relative() -> str:
    return request.path[len(API) :] or "/"


def _json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    response = Response(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        status=status,
        content_type="application/json; charset=utf-8",
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _error(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return _json({"code": code, "message": message}, status, headers)


def _api_error(error: ApiError) -> Response:
    return _json(error.body(), error.status)


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    if status == 404:
        return _error(404, "NotFound", f"The resource {request.path} was not found.")
    if status == 405:
        return _error(405, "MethodNotAllowed", f"{request.method} is not allowed on {request.path}.")
    if status == 413:
        return _error(413, "InvalidObject", "The request is too large; ConnectWise accepts documents up to 10 MB.")
    return _error(status, error.name.replace(" ", ""), error.description or error.name)


def _server_error(error: Exception) -> Response:
    current_app.logger.exception("ConnectWise simulator failed", exc_info=error)
    return _error(500, "UnexpectedServerError", "An unexpected error occurred.")


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
    if _relative().startswith("/system/callbackkeys/"):
        return _fault_response(sim)  # fetched by callback receivers, who hold no API keys
    return _fault_response(sim) or _auth_response(sim) or _forbidden_response(sim)


def _fault_response(sim: ConnectWiseState) -> Response | None:
    if sim.throttled():
        return _error(429, "TooManyRequests", "Too many requests; slow down.", {"Retry-After": "1"})
    if sim.faults.hang:
        time.sleep(sim.faults.hang)
    if sim.faults.latency:
        time.sleep(sim.faults.latency)
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
    if broken and response.status_code == 200 and response.mimetype == "application/json":
        page = request.args.get("page", "1")
        if _relative().rstrip("/") == broken.path.rstrip("/") and (broken.page is None or page == str(broken.page)):
            body = response.get_data()
            response.set_data(body[: max(len(body) // 2, 1)])  # cut off mid-body: invalid JSON, status 200
    rule = request.url_rule.rule.removeprefix(API) if request.url_rule is not None else _relative()
    pattern = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)
    sim.record(f"{request.method} {pattern}", response.status_code)
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


def _list(key: str, rows: Callable[[], Iterable[Any]], view: Callable[[Any], Json], get: Getter = _dig) -> Response:
    """A ConnectWise list: conditions, orderBy, fields, page/pageSize (or forward-only pageId), Link."""
    sim = _sim()
    size = _int_arg("pageSize", DEFAULT_PAGE_SIZE)
    if size > MAX_PAGE_SIZE:
        raise ApiError(400, "InvalidRequest", f"pageSize {size} is over the maximum of {MAX_PAGE_SIZE}.")
    if size < 1:
        raise ApiError(400, "InvalidRequest", "pageSize must be at least 1.")
    forward = request.headers.get("pagination-type", "").strip().lower() == "forward-only"
    conditions = request.args.get("conditions", "").strip()
    order = _order(request.args.get("orderBy", "")) or [("id", False)]
    if forward:
        order = [("id", False)]
    cache_key = (key, request.path, conditions, json.dumps(order))
    found = sim._pages.get(cache_key) if sim.cache_pages else None
    if found is None:
        selected = list(rows())
        if conditions:
            predicate = _Conditions(conditions, get).parse()
            selected = [row for row in selected if predicate(row)]
        found = _sort(selected, order, get)
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
    body = [_project(view(row), fields) if fields else view(row) for row in chosen]
    return _json(body, headers={"Link": ", ".join(links)} if links else None)


def _one(row: Json) -> Response:
    fields = [f.strip() for f in request.args.get("fields", "").split(",") if f.strip()]
    return _json(_project(row, fields) if fields else row)


def _body() -> Any:
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, "InvalidRequest", "The request body is not valid JSON.")
    return body


@api.get("/system/info")
def system_info() -> Response:
    return _json(SYSTEM_INFO)


@api.get("/company/companies")
def companies() -> Response:
    sim = _sim()
    return _list("companies", sim.companies.values, sim.company_view)


@api.get("/company/contacts")
def contacts() -> Response:
    sim = _sim()
    return _list("contacts", sim.contacts.values, sim.contact_view)


@api.get("/company/companies/<int:company_id>")
def company(company_id: int) -> Response:
    sim = _sim()
    found = sim.companies.get(company_id)
    if found is None:
        raise ApiError(404, "NotFound", f"Company with id {company_id} was not found.")
    return _one(sim.company_view(found))


@api.get("/system/members")
def members() -> Response:
    return _list("members", _sim().members.values, dict)


@api.get("/system/members/<int:member_id>")
def member(member_id: int) -> Response:
    found = _sim().members.get(member_id)
    if found is None:
        raise ApiError(404, "NotFound", f"Member with id {member_id} was not found.")
    return _one(found)


@api.get("/service/boards")
def boards() -> Response:
    return _list("boards", _sim().boards.values, dict)


@api.get("/service/boards/<int:board_id>")
def board(board_id: int) -> Response:
    found = _sim().boards.get(board_id)
    if found is None:
        raise ApiError(404, "NotFound", f"Board with id {board_id} was not found.")
    return _one(found)


@api.get("/service/boards/<int:board_id>/statuses")
def board_statuses(board_id: int) -> Response:
    sim = _sim()
    if board_id not in sim.boards:
        raise ApiError(404, "NotFound", f"Board with id {board_id} was not found.")
    return _list(f"statuses:{board_id}", lambda: sim.board_statuses(board_id), dict)


@api.get("/service/priorities")
def priorities() -> Response:
    return _list("priorities", _sim().priorities.values, dict)


@api.get("/service/tickets")
def tickets() -> Response:
    sim = _sim()
    return _list("tickets", sim.tickets.values, sim.ticket_view, _ticket_getter(sim))


@api.get("/service/tickets/count")
def ticket_count() -> Response:
    sim = _sim()
    rows: list[Any] = list(sim.tickets.values())
    conditions = request.args.get("conditions", "").strip()
    if conditions:
        predicate = _Conditions(conditions, _ticket_getter(sim)).parse()
        rows = [row for row in rows if predicate(row)]
    return _json({"count": len(rows)})


@api.post("/service/tickets")
def create_ticket() -> Response:
    sim, who = _sim(), _who()
    ticket = sim.create_ticket(_body(), who)
    sim.notify("added", ticket, who, _base())
    return _json(sim.ticket_view(ticket), 201)


@api.get("/service/tickets/<int:ticket_id>")
def ticket(ticket_id: int) -> Response:
    sim = _sim()
    return _one(sim.ticket_view(sim.ticket(ticket_id)))


@api.patch("/service/tickets/<int:ticket_id>")
def patch_ticket(ticket_id: int) -> Response:
    sim, who = _sim(), _who()
    sim.ticket(ticket_id)
    if sim.take("fail_patch"):
        raise _invalid("ticket object is invalid: the status could not be changed (simulated failure).", "status")
    ticket = sim.patch_ticket(ticket_id, _body(), who)
    sim.notify("updated", ticket, who, _base())
    return _json(sim.ticket_view(ticket))


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
    return _json(note, 201)


@api.post("/system/documents")
def upload_document() -> Response:
    sim = _sim()
    upload = request.files.get("file")
    if upload is None:
        raise _invalid("file is required (multipart/form-data).", "file", "document")
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
    return _json(document, 201)


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
    return _json(_sim().add_callback(_body()), 201)


@api.get("/system/callbacks/<int:callback_id>")
def callback(callback_id: int) -> Response:
    found = _sim().callbacks.get(callback_id)
    if found is None:
        raise ApiError(404, "NotFound", f"Callback with id {callback_id} was not found.")
    return _one(found)


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
    return _json({"signing_key": key})


# --- test controls -------------------------------------------------------------------------------------


add_fault_controls(controls, _sim)


@controls.get("/deliveries")
def deliveries() -> Response:
    sim = _sim()
    with sim._lock:
        return _json(list(sim.deliveries))


def _technician(body: Json) -> str:
    sim = _sim()
    who = body.get("member") or _MEMBERS[2][1]
    if not any(m["identifier"] == who for m in sim.members.values()):
        raise ApiError(400, "InvalidRequest", f"No member {who!r}.")
    return str(who)


@controls.post("/tickets")
def sim_create_ticket() -> Response:
    """A technician creates a ticket in ConnectWise itself (callbacks fire with Action "added")."""
    sim = _sim()
    body = request.get_json(silent=True) or {}
    if not isinstance(body, dict):
        return _json({"error": "send a JSON object"}, 400)
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
        return _json(error.body(), error.status)
    sim.notify("added", ticket, who, _base())
    return _json(sim.ticket_view(ticket), 201)


@controls.post("/tickets/<int:ticket_id>/touch")
def sim_touch_ticket(ticket_id: int) -> Response:
    """A technician changes a ticket in ConnectWise itself (callbacks fire with Action "updated")."""
    sim = _sim()
    body = request.get_json(silent=True) or {}
    if not isinstance(body, dict):
        return _json({"error": "send a JSON object"}, 400)
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
        return _json(error.body(), error.status)
    sim.notify("updated", found, who, _base())
    return _json(sim.ticket_view(found))


@controls.get("/tickets/<int:ticket_id>/history")
def sim_ticket_history(ticket_id: int) -> Response:
    return _json(_sim().status_history.get(ticket_id, []))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vectis.simulators.connectwise", description="ConnectWise PSA (Manage) REST simulator"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18082)
    parser.add_argument("--scale", choices=["demo", "bench"], default="demo")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--companies", type=int, default=500, help="with --scale bench")
    parser.add_argument("--tickets", type=int, default=200_000, help="with --scale bench")
    parser.add_argument("--public-url", default="", help="the URL callback receivers reach this simulator on")
    args = parser.parse_args(argv)

    state = (
        ConnectWiseState.seeded(seed=args.seed)
        if args.scale == "demo"
        else ConnectWiseState.at_scale(companies=args.companies, tickets=args.tickets, seed=args.seed)
    )
    state.public_url = args.public_url
    root = f"http://{args.host}:{args.port}"
    print(
        f"ConnectWise PSA simulator ({SYSTEM_INFO['version']}) at {root}{API} (site URL: {root})\n"
        f"  company ID: {DEMO_COMPANY_ID}   public key: {DEMO_PUBLIC_KEY}   private key: {DEMO_PRIVATE_KEY}\n"
        f"  clientId: {DEMO_CLIENT_ID}\n"
        f"  {len(state.companies)} companies, {len(state.boards)} boards, {len(state.tickets)} tickets\n"
        f"  fault knobs: POST {root}/_sim/faults (JSON merge patch), POST {root}/_sim/reset, GET {root}/_sim/stats",
        flush=True,
    )
    run_simple(args.host, args.port, create_app(state), threaded=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
