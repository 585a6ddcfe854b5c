"""The ConnectWise simulator's data (``ConnectWiseData``) and how it is filled: the MSP's customers (from
:mod:`vectis.simulators.fixtures`, as the VSPC simulator lists them) as companies with contacts, the members,
boards, statuses and priorities, and tickets over the last days with notes written from templates (at
benchmark scale, when first read)."""

from __future__ import annotations

import base64
import itertools
import random
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TypeVar

from vectis.simulators.base import Json
from vectis.simulators.connectwise.sla import NOT_RESPONDED, WAITING, seed_sla
from vectis.simulators.connectwise.vendor import (
    API_MEMBER,
    DEMO_CLIENT_ID,
    DEMO_COMPANY_ID,
    DEMO_PRIVATE_KEY,
    DEMO_PUBLIC_KEY,
    ApiKey,
    Ticket,
    compact,
    iso,
    parse_iso,
)
from vectis.simulators.fixtures import BENCH_JOBS, DEMO_CUSTOMERS, Customer, Msp, uid


def _demo_keys() -> dict[str, ApiKey]:
    return {DEMO_PUBLIC_KEY: ApiKey(DEMO_COMPANY_ID, DEMO_PRIVATE_KEY, 0)}


@dataclass
class ConnectWiseData:
    """The data of one ConnectWise site (``ConnectWiseState`` adds the knobs, bookkeeping and the changes)."""

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
    agreements: dict[int, Json] = field(default_factory=dict)  # id -> agreement (its JSON, id order)
    additions: dict[int, list[Json]] = field(default_factory=dict)  # agreement id -> its additions
    api_keys: dict[str, ApiKey] = field(default_factory=_demo_keys)  # public key -> owner
    client_ids: set[str] = field(default_factory=lambda: {DEMO_CLIENT_ID})
    signing_keys: dict[str, str] = field(default_factory=dict)  # key id -> signing key
    key_id: str = ""  # the key callbacks are signed with now
    product_instance_id: str = ""
    partner_id: str = ""

    def member_ref(self, member_id: int | None) -> Json | None:
        member = self.members.get(member_id) if member_id is not None else None
        if member is None:
            return None
        return {"id": member["id"], "identifier": member["identifier"], "name": member["name"]}

    def board_statuses(self, board_id: int) -> list[Json]:
        return sorted((s for s in self.statuses.values() if s["boardId"] == board_id), key=lambda s: s["sortOrder"])


D = TypeVar("D", bound=ConnectWiseData)

MEMBERS = [  # id, identifier, first, last, title
    (148, "jhughes", "Jordan", "Hughes", "Service Manager"),
    (152, "ppatel", "Priya", "Patel", "Senior Engineer"),
    (157, "tokafor", "Tom", "Okafor", "Service Desk Engineer"),
    (163, "ejensen", "Elena", "Jensen", "Service Desk Engineer"),
    (171, "cmoreau", "Chris", "Moreau", "Project Engineer"),
    (176, "dbrennan", "Dana", "Brennan", "Service Desk Engineer"),
]
# The demo's own operators (vectis/demo/seed.py) work at the MSP too: their member e-mails are their Vectis
# sign-in addresses, so Vectis maps them to these members by e-mail. They are not in MEMBERS, whose order
# the generated tickets draw from; a few open tickets are handed to them afterwards (``_hand_to_operators``).
OPERATORS = [  # id, identifier, first, last, title, e-mail
    (181, "aadmin", "Avery", "Admin", "Service Desk Lead", "admin@acme.test"),
    (184, "ttech", "Taylor", "Tech", "Service Desk Engineer", "tech@acme.test"),
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


def _escalation(status: str, *, closed: bool, default: bool) -> str:
    """The SLA stage a status stands for: waiting on the client stops the clock ("do not escalate")."""
    if default:
        return NOT_RESPONDED
    if closed:
        return "Resolved"
    return WAITING if status == "Waiting on Client" else "Responded"


def _place_of(customer: Customer) -> Json:
    return {
        "city": customer.city,
        "state": customer.region,
        "country": customer.country,
        "zip": customer.zip_code,
        "phone": re.sub(r"\D", "", customer.phone),
        "street": customer.street,
        "website": customer.website,
        "active": customer.active,
    }


def demo_customers(seed: int) -> list[tuple[str, Json | None]]:
    """The demo MSP's customers as VSPC lists them (two spelt a little differently) and one only ConnectWise
    has (``None``: its own place)."""
    listed = Msp.drawn(seed, DEMO_CUSTOMERS).listed()
    names = _respell([customer.name for customer in listed])
    return [*zip(names, map(_place_of, listed), strict=True), ("Copperfield Vineyards", None)]


def bench_customers(seed: int, companies: int) -> list[tuple[str, Json | None]]:
    """The benchmark MSP's customers, as VSPC lists them (its jobs drawn before them, as VSPC draws them)."""
    return [(customer.name, _place_of(customer)) for customer in Msp.drawn(seed, companies, BENCH_JOBS).listed()]


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


class Generator:
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
        return uid(self.rng)

    def build(
        self,
        state: D,
        customers: list[tuple[str, Json | None]],
        *,
        tickets: int,
        days: int,
        eager_notes: bool,
    ) -> D:
        rng = self.rng
        state.product_instance_id = self.guid()
        state.partner_id = self.guid()
        state.key_id = self.guid()
        state.signing_keys[state.key_id] = base64.b64encode(rng.randbytes(32)).decode()
        state.api_keys = {DEMO_PUBLIC_KEY: ApiKey(DEMO_COMPANY_ID, DEMO_PRIVATE_KEY, _API_MEMBER_ID)}
        created = iso(self.now - timedelta(days=900))
        for member_id, identifier, first, last, title, email in [
            *((*m, f"{m[1]}@summit-msp.example") for m in MEMBERS),
            *OPERATORS,
            (_API_MEMBER_ID, API_MEMBER, "Vectis", "API", "API Member", "vectis-api@summit-msp.example"),
        ]:
            state.members[member_id] = {
                "id": member_id,
                "identifier": identifier,
                "firstName": first,
                "lastName": last,
                "name": f"{first} {last}",
                "title": title,
                "primaryEmail": email,
                "officeEmail": email,
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
                    "escalationStatus": _escalation(status_name, closed=closed, default=default),
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
        _hand_to_operators(state, self.seed)
        if eager_notes:
            for ticket in state.tickets.values():
                state.notes[ticket.id] = write_notes(state, ticket)
        return state

    def company(self, state: ConnectWiseData, company_id: int, name: str, place: Json, owner: bool = False) -> None:
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

    def tickets(self, state: ConnectWiseData, count: int, days: int) -> None:
        rng = self.rng
        span = days * 86400
        customers = [c["id"] for c in state.companies.values() if c["id"] != 2]
        weights = list(itertools.accumulate(rng.lognormvariate(0, 0.8) for _ in customers))
        board_ids, board_weights = (
            [b for b, _ in _BOARD_WEIGHTS],
            list(itertools.accumulate(w for _, w in _BOARD_WEIGHTS)),
        )
        priority_weights = {b: list(itertools.accumulate(w)) for b, w in _PRIORITY_WEIGHTS.items()}
        technicians = [m[0] for m in MEMBERS]
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
                "Automate" if board == 3 else rng.choice(["EmailConnector", "Portal", *[m[1] for m in MEMBERS]])
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
            seed_sla(state.tickets[ticket_id], status, self.now, self.seed)  # a generator of its own


def _hand_to_operators(state: ConnectWiseData, seed: int) -> None:
    """About one open, owned ticket in five goes to a demo operator, so "My tickets" has something to show. A
    generator of its own keeps every other ticket as the main one drew it."""
    rng = random.Random(f"connectwise-operators:{seed}")  # noqa: S311 - test data
    for ticket in state.tickets.values():
        if ticket.closed or ticket.owner_id is None or rng.random() >= 0.2:
            continue
        member = state.members[rng.choice(OPERATORS)[0]]
        ticket.owner_id, ticket.updated_by = member["id"], member["identifier"]


def write_notes(state: ConnectWiseData, ticket: Ticket) -> list[Json]:
    """A seeded ticket's 1-5 notes, from a generator of its own (so they can be written lazily)."""
    if ticket.topic < 0:
        return []
    rng = random.Random(f"connectwise-notes:{state.seed}:{ticket.id}")  # noqa: S311 - test data
    _, description, resolution = _TOPICS[ticket.board_id][ticket.topic]
    start, end = parse_iso(ticket.date_entered), parse_iso(ticket.last_updated)
    assert start is not None and end is not None
    count = rng.randint(1, 5)
    contact = state.contacts.get(ticket.contact_id) if ticket.contact_id is not None else None
    owner = state.member_ref(ticket.owner_id) or state.member_ref(rng.choice(MEMBERS)[0])
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
            compact(
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


# --- agreements ------------------------------------------------------------------------------------------

# type id, type name, billing cycle (id, name, months it covers; 0: bills once), its lines: (product identifier,
# description, quantity range, unit price a month, billCustomer). The Managed Services lines add a set-up fee
# and a no-charge review; every price is per month and multiplied out to the agreement's cycle.
_CYCLES = {"Monthly": (1, 1), "Quarterly": (2, 3), "Annually": (4, 12), "One Time": (6, 0)}
_AGREEMENT_TYPES: dict[str, tuple[int, str, list[tuple[str, str, tuple[int, int], str, str]]]] = {
    "Managed Services": (1, "Monthly", [
        ("MS-WKS", "Managed workstation (monitoring, patching, helpdesk)", (8, 60), "45.00", "Billable"),
        ("MS-SRV", "Managed server", (1, 6), "150.00", "Billable"),
        ("MS-NET", "Network device monitoring", (2, 10), "20.00", "Billable"),
        ("QBR", "Quarterly business review", (1, 1), "0.00", "NoCharge"),
    ]),
    "Backup as a Service": (2, "Quarterly", [
        ("BK-VM", "Veeam VM backup (per protected VM)", (2, 12), "35.00", "Billable"),
        ("BK-M365", "Keepit Microsoft 365 backup (per user)", (10, 80), "3.50", "Billable"),
        ("BK-CLOUD", "Offsite cloud storage (per TB)", (1, 8), "40.00", "Billable"),
    ]),
    "Microsoft 365": (3, "Monthly", [
        ("M365-BP", "Microsoft 365 Business Premium", (8, 60), "22.00", "Billable"),
        ("M365-EXO", "Exchange Online (Plan 1)", (2, 10), "4.00", "Billable"),
    ]),
    "Security Bundle": (4, "Annually", [
        ("SEC-EDR", "SentinelOne Control (per endpoint)", (10, 70), "6.50", "Billable"),
        ("SEC-SAT", "Security awareness training (per user)", (10, 60), "2.50", "Billable"),
        ("SEC-DNS", "DNS filtering (per user)", (10, 60), "1.75", "Billable"),
    ]),
    "Block Hours": (5, "One Time", [
        ("BLK-20", "Block of 20 support hours", (1, 1), "2400.00", "Billable"),
    ]),
}  # fmt: skip
_TIERS = ("Silver", "Gold", "Platinum")
# Per customer, in the order the simulator lists them: (type, days from today to the end of its term; None for no
# end date; "cancelled"). The first few make the demo's story: renewals within 60 days, one expired, one cancelled,
# Microsoft 365 month to month; the rest draw their end from the generator.
_STORY: list[list[tuple[str, int | str | None]]] = [
    [("Managed Services", 12), ("Microsoft 365", None), ("Backup as a Service", 240)],
    [("Managed Services", 27), ("Security Bundle", 300)],
    [("Managed Services", 410), ("Block Hours", "cancelled")],
    [("Managed Services", 190), ("Security Bundle", 45), ("Microsoft 365", None)],
    [("Managed Services", 330), ("Backup as a Service", 58)],
    [("Managed Services", -20), ("Managed Services", 345)],
]
_USD: Json = {"id": 1, "symbol": "$", "currencyCode": "USD", "name": "US Dollars"}


def _months_later(day: date, months: int) -> date:
    year, month = divmod(day.month - 1 + months, 12)
    return date(day.year + year, month + 1, 1) + timedelta(days=min(day.day, 28) - 1)


def _midnight(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def seed_agreements(state: ConnectWiseData, seed: int) -> None:
    """A few agreements per customer company with their additions, from a generator of their own (so the tickets
    keep the draws they had). Each agreement's ``billAmount`` is what its recurring, billable additions come to per
    billing cycle (a one-time agreement: its whole price)."""
    rng = random.Random(f"connectwise-agreements:{seed}")  # noqa: S311 - test data
    today = state.now.date()
    agreement_id, addition_id = 300, 9000
    customers = [c for c in state.companies.values() if c["id"] != 2]
    for index, company in enumerate(customers):
        plan: list[tuple[str, int | str | None]] = (
            _STORY[index]
            if index < len(_STORY)
            else [("Managed Services", rng.randint(75, 700))]
            + [(kind, rng.randint(75, 700)) for kind in rng.sample(["Backup as a Service", "Security Bundle"], 1)]
            + ([("Microsoft 365", None)] if rng.random() < 0.5 else [])
        )
        contact = state.contacts.get(company.get("defaultContactId") or 0)
        seats = rng.randint(8, 60)
        for kind, ends in plan:
            agreement_id += rng.randint(1, 4)
            type_id, cycle, lines = _AGREEMENT_TYPES[kind]
            cycle_id, months = _CYCLES[cycle]
            if isinstance(ends, int):
                end: date | None = today + timedelta(days=ends)
                term = 36 if kind == "Managed Services" and rng.random() < 0.4 else 12
                start = _months_later(end, -term) if end else today
                start = min(start, today - timedelta(days=rng.randint(30, 200)))
            else:
                end, start = None, today - timedelta(days=rng.randint(60, 900))
            cancelled = ends == "cancelled"
            expired = end is not None and end < today
            additions = []
            total = Decimal(0)
            for product, description, (low, high), monthly, bill in lines:
                addition_id += rng.randint(1, 3)
                quantity = seats if product in ("MS-WKS", "M365-BP", "SEC-SAT", "SEC-DNS") else rng.randint(low, high)
                unit = Decimal(monthly) * (months or 1)
                extended = (unit * quantity).quantize(Decimal("0.01")) if bill == "Billable" else Decimal(0)
                total += extended
                additions.append(
                    _addition(
                        addition_id,
                        agreement_id,
                        product=product,
                        description=description,
                        quantity=quantity,
                        unit=unit,
                        extended=extended,
                        bill=bill,
                        start=start,
                    )
                )
            if kind == "Managed Services" and index % 3 == 0:
                # A one-off: entered as an addition cancelled within the month it took effect, so it bills once.
                addition_id += 1
                setup = _addition(
                    addition_id,
                    agreement_id,
                    product="ONB-SETUP",
                    description="Onboarding and documentation (one-off)",
                    quantity=1,
                    unit=Decimal("750.00"),
                    extended=Decimal("750.00"),
                    bill="Billable",
                    start=start,
                )
                setup["cancelledDate"] = _midnight(start + timedelta(days=20))
                additions.append(setup)
            updated = state.now - timedelta(seconds=rng.randrange(3600, 90 * 86400))
            state.agreements[agreement_id] = compact(
                {
                    "id": agreement_id,
                    "name": f"{kind} – {_TIERS[seats * len(_TIERS) // 61]}" if kind == "Managed Services" else kind,
                    "type": {"id": type_id, "name": kind},
                    "company": {"id": company["id"], "identifier": company["identifier"], "name": company["name"]},
                    "contact": {"id": contact["id"], "name": contact["name"]} if contact else None,
                    "site": {"id": 1, "name": "Main"},
                    "startDate": _midnight(start),
                    "endDate": _midnight(end) if end else None,
                    "noEndingDateFlag": end is None,
                    "cancelledFlag": cancelled,
                    "dateCancelled": _midnight(today - timedelta(days=40)) if cancelled else None,
                    "billingCycle": {"id": cycle_id, "name": cycle},
                    "billAmount": float(total),
                    "billStartDate": _midnight(start),
                    "nextInvoiceDate": None
                    if cancelled or expired or not months
                    else _midnight(_months_later(today.replace(day=1), 1)),
                    "agreementStatus": "Cancelled" if cancelled else "Expired" if expired else "Active",
                    "currency": _USD,
                    "_info": {"lastUpdated": iso(updated), "updatedBy": "jhughes", "dateEntered": _midnight(start)},
                }
            )
            state.additions[agreement_id] = additions


def _addition(
    addition_id: int,
    agreement_id: int,
    *,
    product: str,
    description: str,
    quantity: int,
    unit: Decimal,
    extended: Decimal,
    bill: str,
    start: date,
) -> Json:
    return compact(
        {
            "id": addition_id,
            "agreementId": agreement_id,
            "product": {"id": sum(map(ord, product)), "identifier": product},
            "description": description,
            "quantity": quantity,
            "lessIncluded": 0,
            "unitPrice": float(unit),
            "unitCost": float((unit * Decimal("0.55")).quantize(Decimal("0.01"))),
            "extPrice": float(extended),
            "extCost": float((extended * Decimal("0.55")).quantize(Decimal("0.01"))),
            "margin": float((extended * Decimal("0.45")).quantize(Decimal("0.01"))),
            "billCustomer": bill,
            "effectiveDate": _midnight(start),
            "agreementStatus": "Active",
            "uom": "Each",
            "_info": {"lastUpdated": _midnight(start), "updatedBy": "jhughes"},
        }
    )
