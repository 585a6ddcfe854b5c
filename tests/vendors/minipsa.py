"""A second PSA, for tests only: its connector and its simulator in one file, to prove that a ticketing vendor
plugs in by adding its own files (issue 14). Nothing in ``vectis/`` knows it: the test adds one registry entry.

MiniPSA's API (JSON, ``X-Api-Key``): ``GET /companies``, ``GET /boards`` (with their statuses), ``GET /tickets``
(``?since=`` ISO time, ordered by ``updated``), ``GET /tickets/<id>`` (with its notes), ``POST /tickets``,
``POST /tickets/<id>/notes``, ``PUT /tickets/<id>/status``. It dedupes writes by ``Idempotency-Key`` (``errors_after_write`` stores a write and answers
503 anyway) and signs
callbacks with ``X-Signature: hex(HMAC-SHA256(api key, body))``.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from flask import Flask, Response, abort, jsonify, request

from vectis.connectors.base import (
    ConfigField,
    Connector,
    CustomerRecord,
    Page,
    Record,
    Stream,
    TicketBoardRecord,
    TicketNoteRecord,
    TicketRecord,
    TicketStatusRecord,
)
from vectis.connectors.capabilities import (
    TEST_CALLBACK,
    Callback,
    CallbackRefused,
    NewTicket,
    RegistersCallbacks,
    Request,
    SignsTestCallbacks,
    VerifiesCallbacks,
    WritesTickets,
)
from vectis.platform.http import ConnectorError

API_KEY = "minipsa-test-key"
Json = dict[str, Any]


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


# --- the connector -----------------------------------------------------------------------------------


def parse_ticket(item: Json) -> TicketRecord:
    return TicketRecord(
        external_id=str(item["id"]),
        customer_external_id=str(item["company"]),
        summary=item["summary"],
        board_external_id=str(item["board"]),
        status_external_id=str(item["status"]),
        status_name=item["status_name"],
        closed=item["closed"],
        opened_at=_time(item["opened"]),
        updated_at=_time(item["updated"]),
        notes=tuple(
            TicketNoteRecord(str(n["id"]), n["text"], n["internal"], n["author"], _time(n["at"]))
            for n in item.get("notes", [])
        )
        if "notes" in item
        else None,
    )


class MiniPsaConnector(Connector, WritesTickets, VerifiesCallbacks, RegistersCallbacks, SignsTestCallbacks):
    key = "minipsa"
    label = "MiniPSA"
    noun = "MiniPSA"
    category = "psa"
    description = "A second PSA, for tests."
    attachment_limit: ClassVar[int] = 1024 * 1024
    idempotency_header = "Idempotency-Key"
    fields = (
        ConfigField("base_url", "URL", kind="url"),
        ConfigField("api_key", "API key", kind="password", secret=True),
    )

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        retry: bool,
        key: str | None = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        response = self.ctx.http.request(
            method,
            path,
            params=params,
            data=None if body is None else json.dumps(body),
            headers={"X-Api-Key": self.config["api_key"], "Content-Type": "application/json"},
            retry=retry,
            idempotency_key=key,
        )
        if response.status_code >= 400:
            raise ConnectorError(f"MiniPSA refused {path} (HTTP {response.status_code}).", permanent=False)
        return response.json() if response.content else None

    def test_connection(self) -> str:
        return f"Connected to MiniPSA: {len(self._call('GET', '/companies', retry=True))} companies"

    def streams(self) -> list[Stream]:
        return [
            Stream("companies", "/companies", "id", lambda i: CustomerRecord(str(i["id"]), i["name"])),
            Stream("boards", "/boards", "id", self._board),
            Stream("tickets", "/tickets", "id", parse_ticket, cursor_field="updated", snapshot=False),
        ]

    @staticmethod
    def _board(item: Json) -> TicketBoardRecord:
        statuses = tuple(
            TicketStatusRecord(str(s["id"]), s["name"], s["closed"], n) for n, s in enumerate(item["statuses"])
        )
        return TicketBoardRecord(str(item["id"]), item["name"], statuses=statuses)

    def read(self, stream: Stream, cursor: dict[str, Any] | None) -> Iterator[Page]:
        since = (cursor or {}).get("since", "")
        items = self._call(
            "GET", stream.path, retry=True, params={"since": since} if stream.name == "tickets" else None
        )
        records: list[Record] = [r for r in map(stream.parse, items) if r is not None]
        if stream.name != "tickets":
            yield Page(records, None)
            return
        yield Page(records, {"since": max((i["updated"] for i in items), default=since)})

    # --- WritesTickets: every add is sent with an idempotency key, so MiniPSA drops a repeat ------------

    def send(self, request: Request) -> Any:
        """A write as its builder made it; an add (not repeatable by itself) carries a fresh idempotency key."""
        key = None if request.retry else str(uuid.uuid4())
        return self._call(request.method, request.path, body=request.body, retry=request.retry, key=key)

    def note_request(self, ticket: str, text: str, *, internal: bool) -> Request:
        return Request("POST", f"/tickets/{ticket}/notes", {"text": text, "internal": internal})

    def add_note(self, ticket: str, text: str, *, internal: bool) -> None:
        self.send(self.note_request(ticket, text, internal=internal))

    def find_note(self, ticket: str, text: str, *, internal: bool, since: datetime) -> bool:
        notes = self._call("GET", f"/tickets/{ticket}", retry=True).get("notes", [])
        return any(n["text"] == text and n["internal"] == internal and _time(n["at"]) >= since for n in notes)

    def upload_request(self, ticket: str, name: str, content: bytes) -> Request:
        raise ConnectorError("MiniPSA takes no attachments.", permanent=True)

    def upload(self, ticket: str, name: str, content: bytes) -> None:
        self.send(self.upload_request(ticket, name, content))

    def status_request(self, ticket: str, status: str) -> Request:
        return Request("PUT", f"/tickets/{ticket}/status", {"status": int(status)}, retry=True)

    def set_status(self, ticket: str, status: str) -> None:
        self.send(self.status_request(ticket, status))

    def create_request(self, new: NewTicket) -> Request:
        return Request(
            "POST", "/tickets", {"company": int(new.company), "board": int(new.board), "summary": new.summary}
        )

    def create_ticket(self, new: NewTicket) -> str:
        return str(self.send(self.create_request(new))["id"])

    def find_ticket(self, new: NewTicket, *, since: datetime) -> str | None:
        for item in self._call("GET", "/tickets", retry=True, params={"since": ""}):
            if (
                item["summary"] == new.summary
                and str(item["company"]) == new.company
                and _time(item["opened"]) >= since
            ):
                return str(item["id"])
        return None

    def get_ticket(self, ticket: str) -> TicketRecord | None:
        return parse_ticket(self._call("GET", f"/tickets/{ticket}", retry=True))

    # --- VerifiesCallbacks: signed with the API key, so there is no key to fetch --------------------

    def verify_callback(self, body: bytes, headers: Mapping[str, str]) -> Callback:
        expected = sign(body, self.config["api_key"])
        if not hmac.compare_digest(expected, headers.get("x-signature", "")):
            raise CallbackRefused("Its signature does not match MiniPSA's.")
        payload = json.loads(body)
        if payload.get("test"):
            return Callback(str(payload["message"]), TEST_CALLBACK, "", "sent")
        return Callback(str(payload["message"]), "ticket", str(payload["ticket"]), "updated")

    def fetch_callback_key(self, body: bytes) -> None:
        return None

    def callback_request(self, url: str) -> Request:
        return Request("POST", "/callbacks", {"url": url})

    def register_callback(self, url: str) -> str | None:
        return str(self.send(self.callback_request(url))["id"])

    # --- SignsTestCallbacks: Vectis holds the key MiniPSA signs with, so it can sign a test as MiniPSA ---------

    def test_callback(self) -> tuple[bytes, dict[str, str]]:
        body = json.dumps({"message": f"test-{uuid.uuid4()}", "test": True}).encode()
        return body, {"Content-Type": "application/json", "X-Signature": sign(body, self.config["api_key"])}


def sign(body: bytes, key: str) -> str:
    return hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


# --- the simulator -----------------------------------------------------------------------------------


@dataclass
class MiniPsaState:
    companies: list[Json] = field(default_factory=lambda: [{"id": 1, "name": "Harbor Dental"}])
    boards: list[Json] = field(
        default_factory=lambda: [
            {
                "id": 10,
                "name": "Help desk",
                "statuses": [{"id": 100, "name": "New", "closed": False}, {"id": 101, "name": "Done", "closed": True}],
            }
        ]
    )
    tickets: dict[int, Json] = field(default_factory=dict)
    callbacks: list[str] = field(default_factory=list)
    seen_keys: dict[str, Json] = field(default_factory=dict)
    errors_after_write: int = 0  # the next N writes are stored, then answered 503 as if they were not
    posts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(500))

    def __post_init__(self) -> None:
        at = _now()
        self.tickets[1] = {
            "id": 1,
            "company": 1,
            "board": 10,
            "summary": "Printer jams",
            "status": 100,
            "status_name": "New",
            "closed": False,
            "opened": at,
            "updated": at,
            "notes": [],
        }


def create_app(state: MiniPsaState) -> Flask:
    app = Flask("minipsa")

    @app.before_request
    def auth() -> None:
        if request.headers.get("X-Api-Key") != API_KEY:
            abort(401)

    def write(answer: Json) -> Response:
        """Dedupe by Idempotency-Key; a write may be stored and then answered with an error."""
        with state.lock:
            state.posts += 1
            failed = state.errors_after_write > 0
            state.errors_after_write -= 1 if failed else 0
        if failed:
            return Response('{"error": "busy"}', status=503, headers={"Retry-After": "0"}, mimetype="application/json")
        return jsonify(answer)

    def once(make: Any) -> Response:
        key = request.headers.get("Idempotency-Key", "")
        with state.lock:
            done = state.seen_keys.get(key) if key else None
            if done is None:
                done = make()
                if key:
                    state.seen_keys[key] = done
        return write(done)

    @app.get("/companies")
    def companies() -> Response:
        return jsonify(state.companies)

    @app.get("/boards")
    def boards() -> Response:
        return jsonify(state.boards)

    @app.get("/tickets")
    def tickets() -> Response:
        since = request.args.get("since", "")
        items = sorted((t for t in state.tickets.values() if t["updated"] > since), key=lambda t: t["updated"])
        return jsonify([{k: v for k, v in t.items() if k != "notes"} for t in items])

    @app.get("/tickets/<int:ticket_id>")
    def ticket(ticket_id: int) -> Response:
        return jsonify(state.tickets[ticket_id])

    @app.post("/tickets/<int:ticket_id>/notes")
    def add_note(ticket_id: int) -> Response:
        def make() -> Json:
            body, ticket = request.get_json(), state.tickets[ticket_id]
            note = {
                "id": next(state.ids),
                "text": body["text"],
                "internal": body["internal"],
                "author": "Vectis",
                "at": _now(),
            }
            ticket["notes"].append(note)
            ticket["updated"] = note["at"]
            return note

        return once(make)

    @app.put("/tickets/<int:ticket_id>/status")
    def set_status(ticket_id: int) -> Response:
        ticket, status = state.tickets[ticket_id], request.get_json()["status"]
        named = next(s for b in state.boards for s in b["statuses"] if s["id"] == status)
        ticket.update(status=status, status_name=named["name"], closed=named["closed"], updated=_now())
        return jsonify(ticket)

    @app.post("/tickets")
    def create() -> Response:
        def make() -> Json:
            body, at = request.get_json(), _now()
            ticket = {
                "id": next(state.ids),
                **body,
                "status": 100,
                "status_name": "New",
                "closed": False,
                "opened": at,
                "updated": at,
                "notes": [],
            }
            state.tickets[ticket["id"]] = ticket
            return {"id": ticket["id"]}

        return once(make)

    @app.post("/callbacks")
    def register() -> Response:
        state.callbacks.append(request.get_json()["url"])
        return jsonify({"id": f"cb-{len(state.callbacks)}"})

    return app
