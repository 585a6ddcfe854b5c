"""One simulated ConnectWise site: companies, contacts, members, boards and their statuses, tickets and their
notes, documents and callbacks, the keys it accepts, fault knobs and request counters; the changes the API
(or a technician, through ``/_sim``) makes, and the signed callbacks they send."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from vectis.simulators.base import BOOL, COUNT, SECONDS, FaultKnobs, Json, Rule, SimState, is_count, malformed_page_rule
from vectis.simulators.base.deliveries import Delivers
from vectis.simulators.connectwise.seed import (
    ConnectWiseData,
    Generator,
    bench_customers,
    demo_customers,
    seed_agreements,
    write_notes,
)
from vectis.simulators.connectwise.sla import responded_now, sla_for, sla_view
from vectis.simulators.connectwise.vendor import (
    API,
    API_MEMBER,
    ATTACHMENT_CAP,
    DEMO_COMPANY_ID,
    SIGNATURE_HEADER,
    ApiError,
    ApiKey,
    Ticket,
    compact,
    invalid,
    iso,
    sign,
)
from vectis.simulators.fixtures import BENCH_CUSTOMERS

# --- faults --------------------------------------------------------------------------------------------


@dataclass
class MalformedPage:
    """Responses on ``path`` (relative to the API base) answer 200 with the JSON cut in half: only page
    ``page`` when set, every response otherwise."""

    path: str
    page: int | None = None


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
    "refuse_note_member": BOOL,
    "malformed_page": malformed_page_rule(
        MalformedPage,
        "page",
        example='an object like {"path": "/service/tickets", "page": 2} (page optional)',
        prefix=API,
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
    # The API member's security role may not enter notes as another member: a note naming ``member`` answers 403.
    refuse_note_member: bool = False
    malformed_page: MalformedPage | None = None

    RULES = _KNOB_RULES


# --- state ---------------------------------------------------------------------------------------------


@dataclass
class ConnectWiseState(SimState[Faults], ConnectWiseData, Delivers):
    """Seeded data (``ConnectWiseData``), credentials, callbacks, fault knobs and the runtime bookkeeping of one
    ConnectWise site."""

    public_url: str = ""  # base for key_url and FromUrl; empty: the URL the request came in on
    faults: Faults = field(default_factory=Faults)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC), compare=False, repr=False)
    # Remember each filtered, sorted list between pages (the benchmark's 200,000 tickets); any change through
    # the API clears it. Off by default: tests change rows in place.
    cache_pages: bool = field(default=False, compare=False)
    deliveries: list[Json] = field(default_factory=list, compare=False, repr=False)

    _pages: dict[tuple[str, ...], list[Any]] = field(default_factory=dict, init=False, repr=False, compare=False)
    _senders: list[threading.Thread] = field(default_factory=list, init=False, repr=False, compare=False)
    _next_ids: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    # -- construction

    @classmethod
    def seeded(cls, seed: int = 1, now: datetime | None = None) -> ConnectWiseState:
        """A small MSP: the VSPC simulator's companies (two spelt a little differently), the MSP itself and a
        customer only ConnectWise has; ~150 tickets over 60 days with 1-5 notes each; 2-3 agreements per customer."""

        generator = Generator(seed, now)
        state = generator.build(
            cls(now=generator.now, seed=seed), demo_customers(seed), tickets=150, days=60, eager_notes=True
        )
        seed_agreements(state, seed)  # a few per customer: renewals soon, one expired, one cancelled, some open-ended
        return state

    @classmethod
    def at_scale(
        cls, companies: int = BENCH_CUSTOMERS, tickets: int = 200_000, seed: int = 1, now: datetime | None = None
    ) -> ConnectWiseState:
        """A large MSP for benchmarks: the VSPC benchmark's company names, ``tickets`` tickets over a year;
        notes are generated when a ticket's notes are first read."""

        generator = Generator(seed, now)
        customers = bench_customers(seed, companies)
        state = generator.build(
            cls(now=generator.now, seed=seed), customers, tickets=tickets, days=365, eager_notes=False
        )
        state.cache_pages = True
        return state

    # -- knobs

    def cleared(self) -> None:
        """A reset also clears the delivery log."""
        self.deliveries.clear()

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
        return compact({**view, "defaultContact": self.contact_ref(company.get("defaultContactId"))})

    def ticket_view(self, ticket: Ticket) -> Json:
        board = self.boards[ticket.board_id]
        status = self.statuses[ticket.status_id]
        company = self.companies[ticket.company_id]
        contact = self.contacts.get(ticket.contact_id) if ticket.contact_id is not None else None
        priority = self.priorities[ticket.priority_id]
        return compact(
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
                **sla_view(ticket, status, self.clock()),
                "_info": {
                    "lastUpdated": ticket.last_updated,
                    "updatedBy": ticket.updated_by,
                    "dateEntered": ticket.date_entered,
                    "enteredBy": ticket.entered_by,
                },
            }
        )

    def agreement(self, agreement_id: int) -> Json:
        found = self.agreements.get(agreement_id)
        if found is None:
            raise ApiError(404, "NotFound", f"Agreement with id {agreement_id} was not found.")
        return found

    def touch_agreement(self, agreement_id: int, changes: Json, who: str) -> Json:
        """Someone edits an agreement in ConnectWise: its fields change and ``_info.lastUpdated`` moves on. Adding,
        changing or cancelling an addition is taken to touch its agreement as well [U: ConnectWise's docs do not
        say], so ``additions`` (the whole new list) may come with it."""
        with self._lock:
            agreement = self.agreement(agreement_id)
            additions = changes.pop("additions", None)
            if additions is not None:
                self.additions[agreement_id] = [compact(a) for a in additions]
            agreement.update(changes)
            agreement["_info"] = {**agreement.get("_info", {}), "lastUpdated": iso(self.clock()), "updatedBy": who}
            self.agreements[agreement_id] = compact(agreement)
            self.changed()
            return self.agreements[agreement_id]

    def ticket(self, ticket_id: int) -> Ticket:
        ticket = self.tickets.get(ticket_id)
        if ticket is None:
            raise ApiError(404, "NotFound", f"Ticket with id {ticket_id} was not found.")
        return ticket

    def ticket_notes(self, ticket: Ticket) -> list[Json]:
        with self._lock:
            notes = self.notes.get(ticket.id)
            if notes is None:
                notes = self.notes[ticket.id] = write_notes(self, ticket)
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
            raise invalid(
                f"Status {status_id}{known} is not a status of board {board['name']} (id {board['id']}); "
                f"use one of {sorted(s['id'] for s in self.board_statuses(ticket.board_id))}.",
                "status",
            )
        before = self.statuses[ticket.status_id]
        ticket.status_id = status_id
        moment = max(iso(self.clock()), ticket.last_updated)
        responded_now(ticket, status, moment)
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
            raise invalid(f"The path {operation['path']!r} cannot be patched here.", path.split("/")[0])
        setter(ticket, value, who)

    @staticmethod
    def _set_summary(ticket: Ticket, value: Any, who: str) -> None:
        if not isinstance(value, str) or not value.strip():
            raise invalid("Summary is required.", "summary")
        if len(value) > 100:
            raise invalid("Summary may be at most 100 characters.", "summary")
        ticket.summary = value

    def _set_priority(self, ticket: Ticket, value: Any, who: str) -> None:
        priority = _int_value(value, "priority")
        if priority not in self.priorities:
            raise invalid(f"Priority {priority} does not exist.", "priority")
        ticket.priority_id = priority

    def _set_owner(self, ticket: Ticket, value: Any, who: str) -> None:
        member = None if value is None else _int_value(value, "owner")
        if member is not None and member not in self.members:
            raise invalid(f"Member {member} does not exist.", "owner")
        ticket.owner_id = member

    def _set_contact(self, ticket: Ticket, value: Any, who: str) -> None:
        contact = _int_value(value, "contact")
        if self.contacts.get(contact, {}).get("companyId") != ticket.company_id:
            raise invalid(f"Contact {contact} is not a contact of this ticket's company.", "contact")
        ticket.contact_id = contact

    def create_contact(self, body: Any) -> Json:
        """A new contact of a company, its e-mail the first Email communication item (ConnectWise's shape)."""
        if not isinstance(body, dict):
            raise ApiError(400, "InvalidRequest", "Send the contact as a JSON object.")
        first = body.get("firstName")
        if not isinstance(first, str) or not first.strip():
            raise invalid("First Name is required.", "firstName")
        given = body.get("communicationItems")
        items: list[Any] = given if isinstance(given, list) else []
        email = next(
            (
                str(i.get("value"))
                for i in items
                if isinstance(i, dict) and (i.get("type") or {}).get("name") == "Email"
            ),
            "",
        )
        with self._lock:
            company = self._company_of(body.get("company"))
            contact_id = max(self.contacts, default=1000) + 1
            last = str(body.get("lastName") or "")
            self.contacts[contact_id] = {
                "id": contact_id,
                "firstName": first.strip(),
                "lastName": last,
                "name": f"{first.strip()} {last}".strip(),
                "email": email,
                "companyId": company["id"],
            }
        self.changed()
        return self.contacts[contact_id]

    def create_ticket(self, body: Any, who: str) -> Ticket:
        if not isinstance(body, dict):
            raise ApiError(400, "InvalidRequest", "Send the ticket as a JSON object.")
        summary = body.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            raise invalid("Summary is required.", "summary")
        with self._lock:
            board_id = _ref_id(body.get("board"), "board")
            board = self.boards.get(board_id) if board_id is not None else None
            if board is None:
                raise invalid("A valid board is required." if board_id else "Board is required.", "board")
            company = self._company_of(body.get("company"))
            statuses = self.board_statuses(board["id"])
            status_id = _ref_id(body.get("status"), "status")
            if status_id is None:
                status_id = next((s["id"] for s in statuses if s["defaultFlag"]), statuses[0]["id"])
            elif status_id not in {s["id"] for s in statuses}:
                raise invalid(f"Status {status_id} is not a status of board {board['name']}.", "status")
            priority_id = _ref_id(body.get("priority"), "priority") or 3
            if priority_id not in self.priorities:
                raise invalid(f"Priority {priority_id} does not exist.", "priority")
            contact_id = _ref_id(body.get("contact"), "contact")
            if contact_id is not None and self.contacts.get(contact_id, {}).get("companyId") != company["id"]:
                raise invalid(f"Contact {contact_id} is not a contact of {company['name']}.", "contact")
            owner_id = _ref_id(body.get("owner"), "owner")
            if owner_id is not None and owner_id not in self.members:
                raise invalid(f"Member {owner_id} does not exist.", "owner")
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
                sla_id=sla_for(company["id"], board["id"]),
            )
            responded_now(ticket, self.statuses[status_id], moment)
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
                raise invalid(f"Company {ref['identifier']!r} does not exist.", "company")
            return found
        company_id = _ref_id(ref, "company")
        if company_id is None:
            raise invalid("Company is required.", "company")
        if company_id not in self.companies:
            raise invalid(f"Company {company_id} does not exist.", "company")
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
        author: Json | None = None,
    ) -> Json:
        member = author or next((m for m in self.members.values() if m["identifier"] == who), None)
        moment = iso(self.clock())
        return compact(
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
            raise invalid("Text is required.", "text", resource="ticketNote")
        flags = {
            name: bool(body.get(name)) for name in ("detailDescriptionFlag", "internalAnalysisFlag", "resolutionFlag")
        }
        if not any(flags.values()):
            raise invalid(
                "Set at least one of detailDescriptionFlag, internalAnalysisFlag or resolutionFlag.",
                "detailDescriptionFlag",
                resource="ticketNote",
            )
        with self._lock:
            ticket = self.ticket(ticket_id)
            author = self._author(body.get("member"))
            notes = self.ticket_notes(ticket)
            note = self._note(
                ticket,
                text,
                who,
                detail=flags["detailDescriptionFlag"],
                internal=flags["internalAnalysisFlag"],
                resolution=flags["resolutionFlag"],
                author=author,
            )
            notes.append(note)
            self._stamp(ticket, who)
            self.changed()
            return note

    def _author(self, ref: Any) -> Json | None:
        """The member a note names as its author (``member{id}`` or ``member{identifier}``), if the API member's
        role allows naming one."""
        if ref is None:
            return None
        if self.faults.refuse_note_member:
            raise ApiError(
                403,
                "Forbidden",
                "You do not have permission to perform this action: the API member's security role may not enter "
                "notes as another member (Service Tickets - notes of other members, Add Level).",
            )
        if isinstance(ref, dict) and isinstance(ref.get("identifier"), str) and ref.get("id") is None:
            found = next((m for m in self.members.values() if m["identifier"] == ref["identifier"]), None)
        else:
            member_id = _ref_id(ref, "member")
            found = self.members.get(member_id) if member_id is not None else None
        if found is None or found["inactiveFlag"]:
            raise invalid("Member does not exist or is inactive.", "member", resource="ticketNote")
        return found

    def add_document(
        self, record_type: str, record_id: str, *, name: str, title: str, size: int, private: bool
    ) -> Json:
        if record_type.lower() != "ticket":
            raise invalid(f"recordType {record_type!r} is not supported here: use Ticket.", "recordType", "document")
        if not record_id.isdigit():
            raise invalid("recordId must be the ticket's id.", "recordId", "document")
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
            raise invalid("url must be an absolute http(s) URL.", "url", "callback")
        kind = body.get("type")
        if not isinstance(kind, str) or not kind:
            raise invalid("type is required (e.g. Ticket).", "type", "callback")
        level = body.get("level")
        if not isinstance(level, str) or level.lower() not in ("owner", "board", "status", "company", "ticket"):
            raise invalid("level must be Owner, Board, Status, Company or Ticket.", "level", "callback")
        object_id = body.get("objectId", 1)
        if not is_count(object_id):
            raise invalid("objectId must be a number.", "objectId", "callback")
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
        self._in_background(self._send, messages, key, action, ticket.id)

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
            headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, key)}
            self._deliver(entry, callback["url"], body, headers)


def _int_value(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise invalid(f"{name} must be an id (a number).", name)
    return int(value)


def _ref_id(ref: Any, name: str) -> int | None:
    if ref is None:
        return None
    if isinstance(ref, dict):
        return None if ref.get("id") is None else _int_value(ref["id"], name)
    return _int_value(ref, name)
