"""ConnectWise PSA (Manage): companies, members, boards with their statuses, tickets with their notes, agreements
(contracts) with their additions.
Write-back (reply or note in a member's name, status, owner, priority, create) goes through
``vectis/tickets/verbs.py``, which calls this module.

Vendor facts: ``../shared/vendor-apis.md`` section 3. Basic auth with ``companyId+publicKey:privateKey``
and Vectis's own ``clientId`` header on every call (one per product, not per MSP: vendor-apis.md,
discrepancy 7); ``conditions`` for incremental reads; ``page``/``pageSize`` (at most 1,000); JSON-Patch.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from vectis.connectors.base import (
    ConfigField,
    Connector,
    ContactRecord,
    ContractLineRecord,
    ContractRecord,
    CustomerRecord,
    Page,
    PsaMemberRecord,
    Record,
    Stream,
    TicketBoardRecord,
    TicketNoteRecord,
    TicketPriorityRecord,
    TicketRecord,
    TicketStatusRecord,
)
from vectis.connectors.capabilities import (
    AuthorRefused,
    Callback,
    CallbackRefused,
    CreatesContacts,
    KeyNotCached,
    NewTicket,
    RegistersCallbacks,
    Request,
    TriagesTickets,
    VerifiesCallbacks,
    WritesAsMembers,
    WritesTickets,
)
from vectis.connectors.values import json_of
from vectis.platform.crypto import Sealed
from vectis.platform.dates import parse_instant
from vectis.platform.http import ConnectorError, UncertainOutcome

API = "/v4_6_release/apis/3.0"
PAGE_SIZE = 1000
# Vectis's registered ConnectWise clientId. VECTIS_CONNECTWISE_CLIENT_ID (settings) replaces it, and a
# connection's own override wins for on-prem partners.
VECTIS_CLIENT_ID = "5f1d2c7a-9b3e-4e8a-a6d4-2c0b7e91f35d"
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
NOTES_WINDOW = timedelta(days=30)  # the hub shows open tickets and those closed in the last 30 days
PERMISSIONS = {
    "/company/companies": "Companies (Company Maintenance: inquire)",
    "/company/contacts": "Companies (Contacts: inquire)",
    "/finance/agreements": "Finance (Agreements: inquire)",
    "/service/priorities": "Service Desk (Table Setup: inquire)",
    "/service/tickets": "Service Tickets (inquire)",
    "/service/boards": "Service Tickets (Service Board setup: inquire)",
    "/system/info": "System (inquire)",
    "/system/members": "System (Member Maintenance: inquire)",
}
MESSAGES = {
    401: "401 Unauthorized — ConnectWise rejected the company ID or the API keys. The company ID is case-sensitive; "
    "the keys are the API member's public and private key.",
    "client_id": "400 — ConnectWise refused the request because of the clientId: {detail}",
    "timeout": "Connection timed out — Vectis couldn't reach {host}. Check the Site URL and that ConnectWise is "
    "reachable from wherever Vectis runs.",
}


def parse_time(value: Any) -> datetime | None:
    return parse_instant(value)


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def normalize_site(text: str) -> str:
    """``api-na.myconnectwise.net/`` and ``https://api-na.myconnectwise.net/v4_6_release/apis/3.0`` both
    become ``https://api-na.myconnectwise.net``."""
    site = text.strip().rstrip("/")
    if site and "://" not in site:
        site = f"https://{site}"
    if API in site:
        site = site[: site.index(API)]
    return site.rstrip("/")


def _name(ref: Any) -> str | None:
    return str(ref.get("name")) if isinstance(ref, dict) and ref.get("name") else None


def _ref_id(ref: Any) -> str | None:
    return str(ref["id"]) if isinstance(ref, dict) and ref.get("id") is not None else None


def parse_company(item: dict[str, Any]) -> CustomerRecord | None:
    if item.get("id") is None or not item.get("name"):
        return None
    place = ", ".join(str(v) for v in (item.get("city"), item.get("state"), _name(item.get("country"))) if v)
    return CustomerRecord(
        external_id=str(item["id"]),
        name=str(item["name"]),
        contact_name=_name(item.get("defaultContact")),
        contact_phone=str(item.get("phoneNumber") or "") or None,
        location=place or None,
    )


def parse_board(item: dict[str, Any], statuses: list[dict[str, Any]]) -> TicketBoardRecord | None:
    if item.get("id") is None:
        return None
    return TicketBoardRecord(
        external_id=str(item["id"]),
        name=str(item.get("name") or f"Board {item['id']}"),
        inactive=bool(item.get("inactiveFlag")),
        statuses=tuple(
            TicketStatusRecord(
                external_id=str(s["id"]),
                name=str(s.get("name") or s["id"]),
                closed=bool(s.get("closedStatus")),
                sort_order=int(s.get("sortOrder") or 0),
            )
            for s in statuses
            if isinstance(s, dict) and s.get("id") is not None
        ),
    )


def parse_priority(item: dict[str, Any]) -> TicketPriorityRecord | None:
    if item.get("id") is None:
        return None
    return TicketPriorityRecord(
        external_id=str(item["id"]),
        name=str(item.get("name") or f"Priority {item['id']}"),
        sort_order=int(item.get("sortOrder") or 0),
        default=bool(item.get("defaultFlag")),
    )


def parse_contact(item: dict[str, Any]) -> ContactRecord | None:
    name = " ".join(str(item[k]).strip() for k in ("firstName", "lastName") if item.get(k)).strip()
    if item.get("id") is None or not name:
        return None
    emails = [
        c
        for c in item.get("communicationItems") or ()
        if isinstance(c, dict) and c.get("communicationType") == "Email" and c.get("value")
    ]
    email = next((c for c in emails if c.get("defaultFlag")), emails[0] if emails else {})
    return ContactRecord(
        external_id=str(item["id"]),
        customer_external_id=_ref_id(item.get("company")),
        name=name,
        email=str(email.get("value") or "") or None,
        inactive=bool(item.get("inactiveFlag")),
    )


def parse_member(item: dict[str, Any]) -> PsaMemberRecord | None:
    name = " ".join(str(item[k]).strip() for k in ("firstName", "lastName") if item.get(k)).strip()
    name = name or str(item.get("name") or item.get("identifier") or "")
    if item.get("id") is None or not name:
        return None
    email = item.get("primaryEmail") or item.get("officeEmail")
    return PsaMemberRecord(
        external_id=str(item["id"]),
        name=name,
        identifier=str(item.get("identifier") or "") or None,
        email=str(email).strip() or None if email else None,
        inactive=bool(item.get("inactiveFlag")),
    )


def parse_note(item: dict[str, Any]) -> TicketNoteRecord | None:
    if item.get("id") is None:
        return None
    author = _name(item.get("member")) or _name(item.get("contact")) or item.get("createdBy")
    return TicketNoteRecord(
        external_id=str(item["id"]),
        body=str(item.get("text") or ""),
        internal=bool(item.get("internalAnalysisFlag")) and not item.get("detailDescriptionFlag"),
        author=str(author) if author else None,
        written_at=parse_time(item.get("dateCreated")) or datetime.now(UTC),
        by_customer=item.get("contact") is not None and item.get("member") is None,
    )


def parse_ticket(item: dict[str, Any], notes: list[dict[str, Any]] | None = None) -> TicketRecord | None:
    info = item.get("_info") or {}
    updated = parse_time(info.get("lastUpdated")) or parse_time(item.get("lastUpdated"))
    opened = parse_time(item.get("dateEntered")) or parse_time(info.get("dateEntered")) or updated
    if item.get("id") is None or updated is None or opened is None:
        return None
    # The SLA the ticket is under (``sla{id,name}``) and ``isInSla``, ConnectWise's word on whether it has met it
    # so far: a missed response or resolution makes it false, for good once resolved. ``slaStatus`` is its own
    # words ("Respond by Tue 10/04 11:00 PM UTC-05", "Resolved", "Waiting"), kept as written: its deadline has no
    # year and is in the server's zone. The stage dates (``dateResponded``, ``dateResolved``) say when each was met.
    sla = _name(item.get("sla"))
    return TicketRecord(
        external_id=str(item["id"]),
        customer_external_id=_ref_id(item.get("company")),
        summary=str(item.get("summary") or f"Ticket #{item['id']}"),
        board_external_id=_ref_id(item.get("board")),
        status_external_id=_ref_id(item.get("status")),
        status_name=_name(item.get("status")) or "Unknown",
        closed=bool(item.get("closedFlag")),
        opened_at=opened,
        updated_at=updated,
        closed_at=parse_time(item.get("closedDate")),
        priority=_name(item.get("priority")),
        contact_name=_name(item.get("contact")),
        contact_email=str(item.get("contactEmailAddress") or "") or None,
        assignee=_name(item.get("owner")),
        notes=None if notes is None else tuple(n for n in (parse_note(x) for x in notes) if n is not None),
        assignee_id=_ref_id(item.get("owner")),
        priority_id=_ref_id(item.get("priority")),
        sla_name=sla,
        in_sla=item["isInSla"] if sla and isinstance(item.get("isInSla"), bool) else None,
        sla_status=str(item.get("slaStatus") or "").strip() or None,
        responded_at=parse_time(item.get("dateResponded")),
        resolved_at=parse_time(item.get("dateResolved")),
    )


# How often each of ConnectWise's billing cycles bills in a year, by its name with case, spaces and hyphens
# ignored (the names are the partner's own setup table, so spellings vary). A name not here has no monthly value
# rather than a guessed one: "Bi-Monthly" means every two months to some and twice a month to others.
CYCLES_PER_YEAR: dict[str, Decimal] = {
    "weekly": Decimal(52),
    "biweekly": Decimal(26),
    "fortnightly": Decimal(26),
    "semimonthly": Decimal(24),
    "monthly": Decimal(12),
    "quarterly": Decimal(4),
    "semiannual": Decimal(2),
    "semiannually": Decimal(2),
    "halfyearly": Decimal(2),
    "annual": Decimal(1),
    "annually": Decimal(1),
    "yearly": Decimal(1),
    "biennial": Decimal("0.5"),
    "biennially": Decimal("0.5"),
    "triennial": Decimal(1) / Decimal(3),
}
AGREEMENT_STATUSES = ("active", "cancelled", "expired", "inactive")
_MONEY_LIMIT = Decimal(10) ** 12  # what a Numeric(14, 2) column holds
_UNIT_LIMIT = Decimal(10) ** 10  # Numeric(14, 4)


def cycles_per_year(cycle: str | None) -> Decimal | None:
    """``Quarterly`` → 4; None for a cycle that does not repeat (``One Time``) or a name Vectis cannot read."""
    return CYCLES_PER_YEAR.get(re.sub(r"[\s_-]+", "", (cycle or "").lower()))


def _decimal(value: Any, limit: Decimal) -> Decimal | None:
    """A JSON number (or numeric text) as an exact Decimal: a float's shortest text, never its binary value."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() and abs(number) < limit else None


def _day(value: Any) -> date | None:
    """ConnectWise writes a calendar date as midnight (``2025-03-01T00:00:00Z``): the day as written, not moved
    to another zone; out of what Vectis stores (or ``0001-01-01``, .NET's "never") is no day."""
    if not isinstance(value, str) or len(value.strip()) < 10:
        return None
    try:
        day = date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None
    return day if 1970 <= day.year < 2200 else None


def _currency(value: Any) -> str | None:
    code = value.get("currencyCode") or value.get("currencyIdentifier") if isinstance(value, dict) else value
    code = str(code or "").strip().upper()
    return code if re.fullmatch(r"[A-Z]{3}", code) else None


def parse_addition(item: dict[str, Any], per_year: Decimal | None) -> ContractLineRecord | None:
    """An agreement addition as a contract line. ConnectWise has no one-off flag on additions: a one-off charge (a
    set-up fee) is entered as an addition cancelled within the billing cycle it took effect in, so it bills once;
    every other addition bills each cycle while in effect. On an agreement that bills one time, every line does."""
    if item.get("id") is None:
        return None
    quantity = _decimal(item.get("quantity"), _UNIT_LIMIT) or Decimal(0)
    unit_price = _decimal(item.get("unitPrice"), _UNIT_LIMIT)
    amount = _decimal(item.get("extPrice"), _MONEY_LIMIT)
    if amount is None and unit_price is not None:
        billed = quantity - (_decimal(item.get("lessIncluded"), _UNIT_LIMIT) or Decimal(0))
        amount = (max(billed, Decimal(0)) * unit_price).quantize(Decimal("0.01"))
    starts, cancelled = _day(item.get("effectiveDate")), _day(item.get("cancelledDate"))
    once = per_year is None or (
        starts is not None and cancelled is not None and (cancelled - starts).days < 366 / per_year
    )
    product = item.get("product")
    return ContractLineRecord(
        external_id=str(item["id"]),
        product=str(product.get("identifier") or "") or None if isinstance(product, dict) else None,
        description=str(item.get("description") or "") or None,
        quantity=quantity,
        unit_price=unit_price,
        amount=amount,
        recurring=not once,
        billable=str(item.get("billCustomer") or "Billable").lower() == "billable",
        starts_on=starts,
        cancelled_on=cancelled,
    )


def parse_agreement(item: dict[str, Any], additions: list[dict[str, Any]] | None = None) -> ContractRecord | None:
    """An agreement as a contract. Its end date is when it renews; ``noEndingDateFlag`` means it runs until
    cancelled. ``billAmount`` is per billing cycle: the writer brings it to a month."""
    updated = _updated(item)
    if item.get("id") is None or updated is None:
        return None
    vendor_status = str(item.get("agreementStatus") or "") or None
    status = (vendor_status or "active").lower()
    if item.get("cancelledFlag"):
        status = "cancelled"
    cycle = _name(item.get("billingCycle"))
    per_year = cycles_per_year(cycle)
    lines = (parse_addition(a, per_year) for a in additions or () if isinstance(a, dict))
    return ContractRecord(
        external_id=str(item["id"]),
        customer_external_id=_ref_id(item.get("company")),
        name=str(item.get("name") or f"Agreement {item['id']}"),
        contract_type=_name(item.get("type")),
        status=status if status in AGREEMENT_STATUSES else "active",
        vendor_status=vendor_status,
        starts_on=_day(item.get("startDate")),
        ends_on=None if item.get("noEndingDateFlag") else _day(item.get("endDate")),
        updated_at=updated,
        cancelled_on=_day(item.get("dateCancelled")),
        billing_cycle=cycle,
        cycles_per_year=per_year,
        bill_amount=_decimal(item.get("billAmount"), _MONEY_LIMIT),
        currency=_currency(item.get("currency")),
        next_invoice_on=_day(item.get("nextInvoiceDate")),
        lines=tuple(line for line in lines if line is not None),
    )


class ConnectWiseConnector(
    Connector, WritesTickets, WritesAsMembers, TriagesTickets, CreatesContacts, VerifiesCallbacks, RegistersCallbacks
):
    key = "connectwise"
    label = "ConnectWise PSA"
    category = "psa"
    callback_when = "a ticket changes"
    callback_check = "each call is signed and checked before Vectis reads the ticket again"
    callback_off = (
        "delete callback {id} in ConnectWise PSA (an API member with System access can, through /system/callbacks/{id})"
    )
    description = (
        "ConnectWise PSA (Manage): companies become customers with their contacts; members, boards, statuses, "
        "priorities and tickets with their notes; agreements (contracts) with their additions."
    )
    noun = "ConnectWise"
    attachment_limit = 10 * 1024 * 1024  # ConnectWise's document limit
    default_rate_limit = 10.0
    base_url_field = "site_url"
    reads_contracts = True
    fields = (
        ConfigField(
            "site_url",
            "Site URL",
            kind="url",
            placeholder="https://api-na.myconnectwise.net",
            help="With https://, no trailing slash: api-na / api-eu / api-au.myconnectwise.net, or your own host "
            "on-premises. Vectis adds /v4_6_release/apis/3.0 itself.",
        ),
        ConfigField("company_id", "Company ID", help="As you type it at sign-in. It is case-sensitive."),
        ConfigField(
            "public_key",
            "Public key",
            help="Of an API member (System → Members → API Members → API Keys) whose role can read Companies and "
            "Service Tickets.",
        ),
        ConfigField("private_key", "Private key", kind="password", secret=True),
        ConfigField(
            "client_id",
            "clientId override (optional)",
            required=False,
            help="Leave empty: Vectis sends its own registered clientId. On-prem partners who must use their own "
            "put it here.",
        ),
    )

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        clean = super().validate_config({**config, "site_url": normalize_site(str(config.get("site_url") or ""))})
        if not urlsplit(clean["site_url"]).hostname:
            raise ConnectorError("The Site URL should look like https://api-na.myconnectwise.net.", permanent=True)
        return clean

    # --- requests ---------------------------------------------------------------------------------

    @property
    def _headers(self) -> dict[str, str]:
        pair = f"{self.config['company_id']}+{self.config['public_key']}:{self.config['private_key']}"
        return {
            "Authorization": "Basic " + base64.b64encode(pair.encode()).decode(),
            "clientId": self.config.get("client_id") or self.ctx.product_id or VECTIS_CLIENT_ID,
            "Accept": "application/json",
        }

    @property
    def _host(self) -> str:
        return urlsplit(str(self.config["site_url"])).netloc

    def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        files: dict[str, tuple[str, bytes]] | None = None,
        what: str = "",
        retry: bool | None = None,
    ) -> tuple[Any, dict[str, str]]:
        """``path`` under the API base. ``retry``: may the request be sent again after a timeout or a 5xx? Reads
        may; a write says so itself (a POST that adds a note must not: the vendor may have stored it)."""
        request = Request(method, f"{API}{path}", body, files, what, _may_repeat(method, path, retry))
        return self._exchange(request, params)

    def send(self, request: Request) -> Any:
        """A write as its builder made it (``note_request``…), sent as it is: what a dry run shows is what goes."""
        answer, _ = self._exchange(request)
        return answer

    def _exchange(self, request: Request, params: dict[str, Any] | None = None) -> tuple[Any, dict[str, str]]:
        headers = dict(self._headers)
        data: Any = None
        if request.files is not None:
            data = request.body  # multipart: form fields beside the file
        elif request.body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(request.body)
        path, what = request.path.removeprefix(API), request.what
        try:
            response = self.ctx.http.request(
                request.method,
                request.path,
                params=params,
                data=data,
                files=request.files,
                headers=headers,
                retry=request.retry,
            )
        except UncertainOutcome:
            raise
        except ConnectorError as exc:
            if exc.message.startswith("Connection"):
                raise ConnectorError(MESSAGES["timeout"].format(host=self._host), permanent=exc.permanent) from None
            raise
        status = response.status_code
        detail = _message(response.text)
        if status == 401:
            raise ConnectorError(MESSAGES[401], permanent=True, status=401)
        if status == 403:
            area = next((p for p in PERMISSIONS if path.startswith(p)), path)
            raise ConnectorError(
                f"403 Forbidden on {area} — the API member's security role lacks {PERMISSIONS.get(area, area)}. "
                "Grant it in ConnectWise and test again.",
                permanent=True,
                status=403,
            )
        if status == 400 and "clientid" in detail.lower():
            raise ConnectorError(MESSAGES["client_id"].format(detail=detail), permanent=True, status=400)
        if status >= 400:
            raise ConnectorError(
                f"ConnectWise refused {what or path} (HTTP {status}){': ' + detail if detail else ''}.",
                permanent=status in (400, 404, 413),
                status=status,
            )
        if status == 204 or not response.content:
            return None, dict(response.headers)
        try:
            return json_of(response), dict(response.headers)
        except ValueError:
            raise ConnectorError(
                f"ConnectWise sent {what or path} in a form Vectis could not read (malformed JSON).", permanent=False
            ) from None

    def test_connection(self) -> str:
        info, _ = self.call("GET", "/system/info", what="the system information")
        for path in (
            "/company/companies",
            "/company/contacts",
            "/service/boards",
            "/service/priorities",
            "/service/tickets",
        ):
            self.call("GET", path, params={"pageSize": 1}, what=path)
        counted, _ = self.call("GET", "/company/companies/count", what="the companies")
        companies = counted.get("count") if isinstance(counted, dict) else None
        visible = f" — {companies} companies visible" if isinstance(companies, int) else ""
        version = (info or {}).get("version", "") if isinstance(info, dict) else ""
        return f"Connected to ConnectWise {version} at {self.config['site_url']}{visible}".replace("  ", " ")

    def before_sync(self) -> None:
        self.call("GET", "/system/info", what="the system information")

    # --- streams ----------------------------------------------------------------------------------

    def streams(self) -> list[Stream]:
        return [
            Stream("companies", "/company/companies", "id", parse_company, page_size=PAGE_SIZE),
            Stream("boards", "/service/boards", "id", lambda item: parse_board(item, item.get("_statuses", []))),
            Stream("priorities", "/service/priorities", "id", parse_priority),
            Stream("contacts", "/company/contacts", "id", parse_contact, page_size=PAGE_SIZE),
            Stream("members", "/system/members", "id", parse_member, page_size=PAGE_SIZE),
            Stream(
                "tickets",
                "/service/tickets",
                "id",
                lambda item: parse_ticket(item, item.get("_notes")),
                cursor_field="lastUpdated",
                snapshot=False,
                page_size=PAGE_SIZE,
            ),
            Stream(
                "agreements",
                "/finance/agreements",
                "id",
                lambda item: parse_agreement(item, item.get("_additions")),
                cursor_field="lastUpdated",
                snapshot=False,
                page_size=PAGE_SIZE,
            ),
        ]

    def _pages(self, path: str, params: dict[str, Any], what: str) -> Iterator[list[dict[str, Any]]]:
        page = 1
        while True:
            items, headers = self.call("GET", path, params={**params, "page": page, "pageSize": PAGE_SIZE}, what=what)
            if not isinstance(items, list):
                raise ConnectorError(f"ConnectWise sent {what} without a list.", permanent=False)
            yield [i for i in items if isinstance(i, dict)]
            if len(items) < PAGE_SIZE or 'rel="next"' not in headers.get("Link", headers.get("link", "")):
                return
            page += 1

    def read(self, stream: Stream, cursor: dict[str, Any] | None) -> Iterator[Page]:
        if stream.name in ("companies", "priorities", "contacts"):
            for items in self._pages(stream.path, {"orderBy": "id asc"}, f"the {stream.name}"):
                yield Page([r for r in map(stream.parse, items) if r is not None], None)
        elif stream.name == "members":
            yield Page(self._members(stream), None)
        elif stream.name == "boards":
            boards: list[Record] = []
            for items in self._pages(stream.path, {"orderBy": "id asc"}, "the boards"):
                for board in items:
                    statuses, _ = self.call(
                        "GET",
                        f"/service/boards/{board['id']}/statuses",
                        params={"pageSize": PAGE_SIZE},
                        what="a board's statuses",
                    )
                    record = stream.parse({**board, "_statuses": statuses if isinstance(statuses, list) else []})
                    if record is not None:
                        boards.append(record)
            yield Page(boards, None)
        elif stream.name == "agreements":
            yield from self._agreements(stream, cursor)
        else:
            yield from self._read_changed(stream, cursor, "tickets", self._with_notes)

    def _members(self, stream: Stream) -> list[Record]:
        """Every member. A role that may not read them (403) leaves the list empty rather than stopping the
        sync: tickets matter more than authorship, and Admin → Users says why nobody is matched."""
        members: list[Record] = []
        try:
            for items in self._pages(stream.path, {"orderBy": "id asc"}, "the members"):
                members += [r for r in map(stream.parse, items) if r is not None]
        except ConnectorError as exc:
            if exc.status != 403:
                raise
            return []
        return members

    def _agreements(self, stream: Stream, cursor: dict[str, Any] | None) -> Iterator[Page]:
        """Agreements changed since the cursor, each with its additions. A role that may not read agreements (403)
        reads none rather than stopping the sync: tickets matter more than contracts."""
        try:
            yield from self._read_changed(stream, cursor, "agreements", self._with_additions)
        except ConnectorError as exc:
            if exc.status != 403:
                raise

    def _read_changed(
        self,
        stream: Stream,
        cursor: dict[str, Any] | None,
        noun: str,
        with_detail: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> Iterator[Page]:
        """By ``lastUpdated`` from the resume point, inclusive. Records sharing the boundary second are
        remembered by id, so a tie is neither skipped nor read twice; a record updated while we page only
        moves later, where the next request finds it. ``with_detail`` adds what each item needs read
        besides (a ticket's notes, an agreement's additions)."""
        since = parse_time((cursor or {}).get("since")) or EPOCH
        # (id, lastUpdated) pairs already read at the boundary second: a tie read again is skipped, a
        # record changed since (a new lastUpdated) is not.
        seen = {str(i) for i in (cursor or {}).get("seen", [])}
        page = 1
        while True:
            params = {
                "conditions": f"lastUpdated>=[{format_time(since)}]",
                "orderBy": "lastUpdated asc, id asc",
                "page": page,
                "pageSize": stream.page_size,
            }
            items, _ = self.call("GET", stream.path, params=params, what=f"a page of {noun}")
            if not isinstance(items, list):
                raise ConnectorError(f"ConnectWise sent a page of {noun} without a list.", permanent=False)
            fresh = [i for i in items if isinstance(i, dict) and _seen_key(i) not in seen]
            records = [r for r in (stream.parse(with_detail(item)) for item in fresh) if r is not None]
            times = [r.updated_at for r in records if isinstance(r, TicketRecord | ContractRecord)]
            newest = max([since, *times])
            if newest > since:
                since, page = newest, 1
                seen = {_seen_key(i) for i in fresh if _updated(i) == newest}
            else:
                seen |= {_seen_key(i) for i in fresh}
                page += 1  # the whole page shares one second: read on past it
            yield Page(records, {"since": format_time(since), "seen": sorted(seen)})
            if len(items) < stream.page_size:
                return

    def _with_notes(self, item: dict[str, Any]) -> dict[str, Any]:
        """The conversation of open and recently changed tickets; old closed ones keep what is stored."""
        notes: Any = None
        if not item.get("closedFlag") or (_updated(item) or EPOCH) >= datetime.now(UTC) - NOTES_WINDOW:
            notes, _ = self.call(
                "GET", f"/service/tickets/{item['id']}/notes", params={"pageSize": PAGE_SIZE}, what="a ticket's notes"
            )
        return {**item, "_notes": notes if isinstance(notes, list) else None}

    def _with_additions(self, item: dict[str, Any]) -> dict[str, Any]:
        if item.get("id") is None:
            return item
        additions: list[dict[str, Any]] = []
        path = f"/finance/agreements/{item['id']}/additions"
        for found in self._pages(path, {"orderBy": "id asc"}, "an agreement's additions"):
            additions += found
        return {**item, "_additions": additions}

    # --- callbacks --------------------------------------------------------------------------------

    def verify_callback(self, body: bytes, headers: Mapping[str, str]) -> Callback:
        """Check a callback came from this connection's ConnectWise: its key_url is on our own site (an
        attacker's key server would sign anything), and the signature made with that key matches. Only a
        cached key is used: a key not fetched yet raises KeyNotCached and a job fetches it."""
        payload, key_path = self._callback_key_path(body)
        sent = headers.get(SIGNATURE_HEADER) or ""
        if not sent:
            raise CallbackRefused(f"It has no {SIGNATURE_HEADER} header.")
        key = self._cached_key(key_path)
        if key is None:
            raise KeyNotCached(key_path)
        if not hmac.compare_digest(signature(body, key), sent):
            raise CallbackRefused("Its signature does not match the signing key ConnectWise published.")
        return Callback(
            message_id=str(payload.get("MessageId") or ""),
            kind=str(payload.get("Type") or "").lower(),
            external_id=str(payload.get("ID") or ""),
            action=str(payload.get("Action") or "updated").lower(),
        )

    def fetch_callback_key(self, body: bytes) -> None:
        _, key_path = self._callback_key_path(body)
        response = self.ctx.http.request("GET", key_path, headers=self._headers, retry=True)
        try:
            key = str(response.json()["signing_key"]) if response.status_code == 200 else ""
        except (ValueError, KeyError, TypeError):
            key = ""
        if not key:
            raise CallbackRefused(f"ConnectWise did not hand out its signing key (HTTP {response.status_code}).")
        self.ctx.redis.set(self._key_cache(key_path), Sealed.seal(self.ctx.tenant_id, key).token, ex=KEY_CACHE_SECONDS)

    def _callback_key_path(self, body: bytes) -> tuple[dict[str, Any], str]:
        try:
            payload = json.loads(body)
        except ValueError:
            raise CallbackRefused("The body is not JSON.") from None
        if not isinstance(payload, dict):
            raise CallbackRefused("The body is not a ConnectWise callback.")
        if not str(payload.get("MessageId") or "").strip():
            raise CallbackRefused("It has no MessageId, so a replay could not be told apart: refused.")
        key_url = str((payload.get("Metadata") or {}).get("key_url") or "")
        site, key = urlsplit(self.config["site_url"]), urlsplit(key_url)
        if not key_url or (key.scheme, key.hostname, key.port) != (site.scheme, site.hostname, site.port):
            raise CallbackRefused(f"Its key_url is not on {site.netloc}: refused without fetching it.")
        # Only ConnectWise's own key endpoint: any other path on the site would be fetched on a stranger's word.
        if not KEY_PATH.fullmatch(key.path) or key.query or key.fragment:
            raise CallbackRefused(f"Its key_url is not ConnectWise's {API}/system/callbackkeys/<id>: refused.")
        return payload, key.path

    def _key_cache(self, path: str) -> str:
        digest = hashlib.sha256(path.encode()).hexdigest()[:24]
        return f"vectis:cw-signing-key:{self.ctx.tenant_id}:{self.ctx.connection_id}:{digest}"

    def _cached_key(self, path: str) -> str | None:
        cached = self.ctx.redis.get(self._key_cache(path))
        if not cached:
            return None
        return str(Sealed(cached if isinstance(cached, bytes) else str(cached).encode()).open(self.ctx.tenant_id))

    def callback_request(self, url: str) -> Request:
        body = {"url": url, "objectId": 1, "type": "Ticket", "level": "Owner", "description": "Vectis instant updates"}
        return _write("POST", "/system/callbacks", body, what="the callback registration")

    def register_callback(self, url: str) -> str | None:
        created = self.send(self.callback_request(url))
        return str(created.get("id") or "") or None if isinstance(created, dict) else None

    # --- write-back (called by vectis/tickets/verbs.py, through perform(), only) --------------------

    # Each write is a builder and a send: a dry run shows the builder's request, and the write sends that request.

    def note_request(self, ticket: str, text: str, *, internal: bool) -> Request:
        body = {"text": text, "detailDescriptionFlag": not internal, "internalAnalysisFlag": internal}
        return _write("POST", f"/service/tickets/{ticket}/notes", body, what="the reply")

    def add_note(self, ticket: str, text: str, *, internal: bool) -> None:
        self.send(self.note_request(ticket, text, internal=internal))

    def note_as_request(self, ticket: str, text: str, *, internal: bool, member: str) -> Request:
        body = {
            "text": text,
            "detailDescriptionFlag": not internal,
            "internalAnalysisFlag": internal,
            "member": {"id": int(member)},
        }
        return _write("POST", f"/service/tickets/{ticket}/notes", body, what="the reply")

    def add_note_as(self, ticket: str, text: str, *, internal: bool, member: str) -> None:
        try:
            self.send(self.note_as_request(ticket, text, internal=internal, member=member))
        except ConnectorError as exc:
            # A 403 here is about naming a member at all (the same role posts notes without one); a 400 naming the
            # member field is about this member (inactive, unknown). Either way nothing was stored.
            if exc.status == 403:
                raise AuthorRefused(
                    "ConnectWise refused a note written as one of its members (HTTP 403): the API member's security "
                    "role may not enter notes for other members.",
                    any_member=True,
                ) from None
            if exc.status == 400 and "member" in exc.message.lower():
                raise AuthorRefused(exc.message, any_member=False) from None
            raise

    def find_note(self, ticket: str, text: str, *, internal: bool, since: datetime) -> bool:
        notes, _ = self.call(
            "GET", f"/service/tickets/{ticket}/notes", params={"pageSize": PAGE_SIZE}, what="its notes"
        )
        for note in notes if isinstance(notes, list) else []:
            record = parse_note(note) if isinstance(note, dict) else None
            # ConnectWise stamps to the second: a note of this second counts.
            if record and record.body == text and record.internal == internal and record.written_at >= _second(since):
                return True
        return False

    def upload_request(self, ticket: str, name: str, content: bytes) -> Request:
        fields = {"recordType": "Ticket", "recordId": ticket, "title": name}
        return _write("POST", "/system/documents", fields, what="the attachment", files={"file": (name, content)})

    def upload(self, ticket: str, name: str, content: bytes) -> None:
        self.send(self.upload_request(ticket, name, content))

    def status_request(self, ticket: str, status: str) -> Request:
        patch = [{"op": "replace", "path": "status/id", "value": int(status)}]
        # Replacing the status with the same value twice leaves one change: safe to send again.
        return _write("PATCH", f"/service/tickets/{ticket}", patch, what="the status change", retry=True)

    def set_status(self, ticket: str, status: str) -> None:
        self.send(self.status_request(ticket, status))

    def assign_request(self, ticket: str, member: str | None) -> Request:
        patch: list[dict[str, Any]] = (
            [{"op": "replace", "path": "owner/id", "value": int(member)}]
            if member
            else [{"op": "remove", "path": "owner"}]
        )
        return _write("PATCH", f"/service/tickets/{ticket}", patch, what="the new owner", retry=True)

    def assign(self, ticket: str, member: str | None) -> None:
        self.send(self.assign_request(ticket, member))

    def priority_request(self, ticket: str, priority: str) -> Request:
        patch = [{"op": "replace", "path": "priority/id", "value": int(priority)}]
        return _write("PATCH", f"/service/tickets/{ticket}", patch, what="the priority", retry=True)

    def set_priority(self, ticket: str, priority: str) -> None:
        self.send(self.priority_request(ticket, priority))

    def create_request(self, new: NewTicket) -> Request:
        fields: dict[str, Any] = {
            "summary": new.summary[:100],
            "board": {"id": int(new.board)},
            "company": {"id": int(new.company)},
        }
        if new.priority:
            fields["priority"] = {"id": int(new.priority)}
        if new.contact:
            # A dry run may name a contact the same action creates first ("{new contact}"): shown as it is.
            fields["contact"] = {
                "id": int(new.contact) if new.contact.isascii() and new.contact.isdigit() else new.contact
            }
        if new.description:
            fields["initialDescription"] = new.description
        return _write("POST", "/service/tickets", fields, what="the new ticket")

    def create_ticket(self, new: NewTicket) -> str:
        created = self.send(self.create_request(new))
        if not isinstance(created, dict) or created.get("id") is None:
            raise ConnectorError("ConnectWise created the ticket but did not say its number.", permanent=False)
        return str(created["id"])

    def find_ticket(self, new: NewTicket, *, since: datetime) -> str | None:
        summary = new.summary[:100].replace('"', '\\"')
        conditions = (
            f'summary="{summary}" and company/id={int(new.company)} and board/id={int(new.board)} '
            f"and dateEntered>=[{format_time(_second(since))}]"
        )
        found, _ = self.call(
            "GET", "/service/tickets", params={"conditions": conditions, "orderBy": "id asc"}, what="the new ticket"
        )
        items = [i for i in found if isinstance(i, dict)] if isinstance(found, list) else []
        return str(items[0]["id"]) if items and items[0].get("id") is not None else None

    def contact_request(self, company: str, name: str, email: str) -> Request:
        first, _, last = name.strip().partition(" ")
        body = {
            "firstName": first[:30] or email.split("@", 1)[0][:30],
            "lastName": last[:60] or None,
            "company": {"id": int(company)},
            "communicationItems": [
                {"type": {"id": 1, "name": "Email"}, "value": email, "defaultFlag": True, "communicationType": "Email"}
            ],
        }
        return _write("POST", "/company/contacts", body, what="the new contact")

    def create_contact(self, company: str, name: str, email: str) -> str:
        created = self.send(self.contact_request(company, name, email))
        if not isinstance(created, dict) or created.get("id") is None:
            raise ConnectorError("ConnectWise created the contact but did not say its id.", permanent=False)
        return str(created["id"])

    def find_contact(self, company: str, email: str) -> str | None:
        found, _ = self.call(
            "GET",
            "/company/contacts",
            params={"conditions": f"company/id={int(company)}", "pageSize": PAGE_SIZE},
            what="the company's contacts",
        )
        wanted = email.strip().lower()
        for item in found if isinstance(found, list) else []:
            contact = parse_contact(item) if isinstance(item, dict) else None
            if contact is not None and (contact.email or "").lower() == wanted:
                return contact.external_id
        return None

    def get_ticket(self, ticket: str) -> TicketRecord | None:
        item, _ = self.call("GET", f"/service/tickets/{ticket}", what="the ticket")
        notes, _ = self.call(
            "GET", f"/service/tickets/{ticket}/notes", params={"pageSize": PAGE_SIZE}, what="its notes"
        )
        if not isinstance(item, dict):
            return None
        return parse_ticket(item, notes if isinstance(notes, list) else [])


SIGNATURE_HEADER = "x-content-signature"
KEY_PATH = re.compile(re.escape(API) + r"/system/callbackkeys/[A-Za-z0-9_-]{1,100}")
KEY_CACHE_SECONDS = 3600


def signature(body: bytes, signing_key: str) -> str:
    """ConnectWise's callback signature: base64 HMAC-SHA256 of the raw body, keyed with SHA-256 of the key."""
    key = hashlib.sha256(signing_key.encode()).digest()
    return base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()


def _write(
    method: str,
    path: str,
    body: Any,
    *,
    what: str,
    retry: bool = False,
    files: dict[str, tuple[str, bytes]] | None = None,
) -> Request:
    """A write under the API base. Not repeated after a timeout or a 5xx unless it replaces a value (``retry``):
    ConnectWise may have stored it."""
    return Request(method, f"{API}{path}", body, files, what, retry)


def _may_repeat(method: str, path: str, retry: bool | None) -> bool:
    if retry is None and method != "GET":
        raise TypeError(f"{method} {path}: say whether it may be sent twice (retry=)")
    return True if retry is None else retry


def _second(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)


def _updated(item: dict[str, Any]) -> datetime | None:
    return parse_time((item.get("_info") or {}).get("lastUpdated")) or parse_time(item.get("lastUpdated"))


def _seen_key(item: dict[str, Any]) -> str:
    updated = _updated(item)
    return f"{item.get('id')}@{format_time(updated) if updated else ''}"


def _message(text: str) -> str:
    try:
        body = json.loads(text)
    except ValueError:
        return text.strip()[:300]
    if isinstance(body, dict):
        return str(body.get("message") or body.get("code") or "")[:300]
    return ""
