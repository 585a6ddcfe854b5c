"""The contract every vendor connector fulfils (ARCHITECTURE "Connectors and simulators").

A connector declares its config fields and streams (and, in ``capabilities.py``, what else it can do), tests a connection with a message a
person can read, and reads each stream page by page. Parsers are pure functions from vendor JSON to the
record types below; the sync engine (``vectis/sync.py``) writes those records, so every vendor lands in
the same tables the same way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from redis import Redis

from vectis.platform.http import ConnectorError, HttpClient, vendor_url

CATEGORIES = ("psa", "rmm", "backup", "security", "m365", "licensing", "billing")
CATEGORY_LABELS = {
    "psa": "PSA",
    "rmm": "RMM",
    "backup": "Backup",
    "security": "Endpoint security",
    "m365": "Microsoft 365",
    "licensing": "Licensing",
    "billing": "Billing",
}


@dataclass(frozen=True)
class ConfigField:
    name: str
    label: str
    kind: str = "text"  # text | url | password | number | lines (one value a line: a textarea)
    secret: bool = False
    required: bool = True
    help: str = ""
    placeholder: str = ""
    default: str = ""


# --- records: what parsers produce -------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerRecord:
    external_id: str
    name: str
    # What the vendor knows about the customer; fills the customer's empty fields, never overwrites.
    contact_name: str | None = None
    contact_email: str | None = None
    contact_phone: str | None = None
    location: str | None = None


@dataclass(frozen=True)
class BackupRunRecord:
    """One run of a job: its outcome, its own state, not the job's."""

    run_id: str  # the vendor's id of the run (a Keepit job's guid)
    state: str  # success | warning | failed | running | stopped | unknown
    vendor_status: str
    started_at: datetime
    ended_at: datetime | None = None
    message: str | None = None


@dataclass(frozen=True)
class BackupJobRecord:
    external_id: str
    customer_external_id: str | None
    name: str
    kind: str  # Backup | BackupCopy | Replica | Tape | Other (or a Keepit workload)
    vendor_type: str
    state: str  # success | warning | failed | running | stopped | unknown
    vendor_status: str
    last_attempt_at: datetime | None
    last_end_at: datetime | None = None
    duration_seconds: int | None = None
    message: str | None = None
    protected_object: str | None = None
    # When the vendor knows it (Keepit's latest snapshot); otherwise derived from the runs we observe.
    last_success_at: datetime | None = None
    # Recent runs, newest first, from a vendor that lists them (Keepit); for one that reports only the
    # latest run (VSPC) the writer keeps that run, from the fields above.
    runs: tuple[BackupRunRecord, ...] = ()


@dataclass(frozen=True)
class BackupEventRecord:
    external_id: str
    customer_external_id: str | None
    occurred_at: datetime
    category: str
    severity: str  # info | warning | error | resolved
    title: str
    detail: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TimelineRecord:
    """Something that happened at a customer that lands on the timeline only (an RMM's activity log: a patch
    cycle, a condition triggered or reset, an antivirus update), vendor-neutral: any vendor's log parses into it."""

    external_id: str
    customer_external_id: str | None
    occurred_at: datetime
    kind: str  # "<area>.<what>", e.g. "rmm.patching": what the timeline's "hide" filter offers
    severity: str  # info | warning | error | resolved
    title: str
    detail: str | None = None
    device_external_id: str | None = None  # the RMM's id of the device it happened on


@dataclass(frozen=True)
class TicketStatusRecord:
    external_id: str
    name: str
    closed: bool
    sort_order: int = 0


@dataclass(frozen=True)
class TicketBoardRecord:
    """A PSA board (queue) with its own statuses."""

    external_id: str
    name: str
    inactive: bool = False
    statuses: tuple[TicketStatusRecord, ...] = ()


@dataclass(frozen=True)
class TicketNoteRecord:
    external_id: str
    body: str
    internal: bool
    author: str | None
    written_at: datetime
    by_customer: bool = False  # written by the customer's contact (a reply received), not by a technician


@dataclass(frozen=True)
class TicketRecord:
    external_id: str
    customer_external_id: str | None
    summary: str
    board_external_id: str | None
    status_external_id: str | None
    status_name: str
    closed: bool
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None
    priority: str | None = None
    contact_name: str | None = None
    contact_email: str | None = None
    assignee: str | None = None
    notes: tuple[TicketNoteRecord, ...] | None = None  # None: not read this time, keep what is stored
    assignee_id: str | None = None  # the owner's member id at the vendor (a PsaMemberRecord's external_id)
    priority_id: str | None = None
    # The PSA's SLA: its name (None: no SLA), whether the ticket is within it now (None: the PSA does not say),
    # the PSA's own words for where it stands, and when it was first responded to and resolved.
    sla_name: str | None = None
    in_sla: bool | None = None
    sla_status: str | None = None
    responded_at: datetime | None = None
    resolved_at: datetime | None = None


@dataclass(frozen=True)
class TicketPriorityRecord:
    external_id: str
    name: str
    sort_order: int = 0
    default: bool = False


@dataclass(frozen=True)
class ContactRecord:
    """A person at a customer (a PSA contact): whom a ticket is for."""

    external_id: str
    customer_external_id: str | None
    name: str
    email: str | None = None
    inactive: bool = False


@dataclass(frozen=True)
class PsaMemberRecord:
    """A person of the MSP at its PSA (a ConnectWise member): who owns tickets and writes notes."""

    external_id: str
    name: str
    identifier: str | None = None
    email: str | None = None
    inactive: bool = False


@dataclass(frozen=True)
class ContractLineRecord:
    """One line of a contract (a ConnectWise agreement addition): what is billed, how many, at what price."""

    external_id: str
    product: str | None  # the vendor's product identifier ("MS-WKS")
    description: str | None
    quantity: Decimal
    unit_price: Decimal | None  # per billing cycle of the contract, in its currency
    amount: Decimal | None  # quantity × unit price as the vendor bills it (less what the contract includes)
    # Billed every cycle while in effect, or once (a set-up fee). Vendor-neutral: Autotask's contract charges and
    # HaloPSA's one-off lines are the one-offs there.
    recurring: bool = True
    billable: bool = True  # False: listed on the contract but not charged (ConnectWise's DoNotBill, NoCharge)
    starts_on: date | None = None
    cancelled_on: date | None = None


@dataclass(frozen=True)
class ContractRecord:
    """A customer's contract at a PSA (a ConnectWise agreement), vendor-neutral: Autotask and HaloPSA
    contracts parse into the same record, so they land in the same tables."""

    external_id: str
    customer_external_id: str | None
    name: str
    contract_type: str | None  # the vendor's type ("Managed Services")
    status: str  # active | cancelled | expired | inactive
    vendor_status: str | None  # as the vendor says it
    starts_on: date | None
    ends_on: date | None  # None: no end date (runs until cancelled)
    updated_at: datetime
    cancelled_on: date | None = None
    billing_cycle: str | None = None  # the vendor's own name for it ("Quarterly")
    # How many times a year that cycle bills (12 monthly, 4 quarterly, 1 yearly, 52 weekly); None when it does
    # not repeat (one time) or the vendor's name for it is unknown: then there is no monthly value to derive.
    cycles_per_year: Decimal | None = None
    bill_amount: Decimal | None = None  # per billing cycle, as the vendor bills it
    currency: str | None = None  # ISO 4217 code
    next_invoice_on: date | None = None
    lines: tuple[ContractLineRecord, ...] = ()


@dataclass(frozen=True)
class DeviceRecord:
    """A device an RMM manages (NinjaOne's devices-detailed), vendor-neutral: every RMM parses into this record, so
    every RMM's devices land in the same table the same way (``vectis/devices/writer.py``)."""

    external_id: str  # the RMM's id of the device
    customer_external_id: str | None  # its organisation at the RMM (a CustomerRecord's external_id)
    name: str
    # One of vectis.models.devices.DEVICE_CLASSES (workstation, server, laptop, mac, linux, network, virtual, other):
    # the connector maps its own classes to these; any other word is stored as "other".
    device_class: str
    vendor_class: str | None = None  # the RMM's own word for it (WINDOWS_SERVER, VMWARE_VM_GUEST, …)
    site: str | None = None  # the RMM's location within the organisation, by name
    os_name: str | None = None
    online: bool = False
    last_contact_at: datetime | None = None
    serial: str | None = None
    make: str | None = None
    model: str | None = None
    details: dict[str, Any] = field(default_factory=dict)  # what else the RMM gives, kept as it said it


@dataclass(frozen=True)
class AlertRecord:
    """An alert a tool holds open (an RMM's condition on a device), vendor-neutral. A stream of them lists every
    alert open at the tool: one it no longer lists has cleared there (``vectis/alerts/vendor.py``)."""

    external_id: str  # the tool's id of the alert (NinjaOne's uid)
    customer_external_id: str | None  # its device's organisation at the tool
    device_external_id: str | None
    device_name: str | None
    condition: str  # the tool's name for the condition (CONDITION_AGENT_DISK_FREE_SPACE): the dedupe classifies it
    severity: str  # critical | warning | info
    message: str
    raised_at: datetime
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DetectionRecord:
    """A threat an endpoint-security tool detected (SentinelOne's threat, Huntress's incident report, Defender's
    alert, ESET's detection), vendor-neutral: every such tool parses into this record, so every detection lands in
    the same table the same way (``vectis/security/writer.py``)."""

    external_id: str  # the tool's id of the detection
    customer_external_id: str | None  # its site / organisation at the tool (a CustomerRecord's external_id)
    device_external_id: str | None  # the tool's id of the endpoint (SentinelOne's agent id): what isolate takes
    device_name: str | None
    title: str  # what was found ("Trojan.GenericKD.4632", "Ransomware behaviour")
    severity: str  # critical | high | medium | low
    vendor_severity: str  # the tool's own word for it, kept as it said it ("malicious")
    status: str  # open | in_progress | resolved
    vendor_status: str  # the tool's own word ("unresolved")
    detected_at: datetime
    updated_at: datetime | None = None
    verdict: str | None = None  # true_positive | false_positive | suspicious; None: nobody has judged it
    # The endpoint's network state as the tool reported it with this detection: connected | isolating | isolated |
    # releasing; None when the tool does not say.
    isolation: str | None = None
    classification: str | None = None  # the tool's kind of threat ("Ransomware", "Trojan")
    file_path: str | None = None
    file_hash: str | None = None  # SHA-256 where the tool gives it, else SHA-1
    details: dict[str, Any] = field(default_factory=dict)  # what else the tool gives, kept as it said it


@dataclass(frozen=True)
class LicenceSubscriptionRecord:
    """A licence subscription a distributor holds for a customer (a Pax8 subscription), vendor-neutral: Sherweb's,
    Ingram's or TD SYNNEX's parse into the same record, so every distributor's land in the same table the same way
    (``vectis/licensing/writer.py``)."""

    external_id: str  # the distributor's id of the subscription
    customer_external_id: str | None  # its company at the distributor (a CustomerRecord's external_id)
    product_name: str
    product_external_id: str | None  # the distributor's id of the product (what a quote names)
    sku: str | None  # the distributor's SKU, else the vendor's
    quantity: int
    unit_cost: Decimal | None  # what the distributor charges the MSP a seat a billing period
    unit_price: Decimal | None  # the suggested retail price a seat a billing period
    currency: str | None  # ISO 4217
    billing_term: str  # monthly | annual | 2-year | 3-year | one-time | trial | other
    vendor_term: str  # the distributor's own word ("Annual")
    status: str  # active | pending | cancelled | trial | other
    vendor_status: str
    commitment_ends_on: date | None = None  # the end of the committed term running now (NCE); None: no commitment
    starts_on: date | None = None
    updated_at: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)


Record = (
    CustomerRecord
    | BackupJobRecord
    | BackupEventRecord
    | TimelineRecord
    | TicketBoardRecord
    | TicketPriorityRecord
    | ContactRecord
    | PsaMemberRecord
    | TicketRecord
    | ContractRecord
    | DeviceRecord
    | AlertRecord
    | DetectionRecord
    | LicenceSubscriptionRecord
)


@dataclass(frozen=True)
class Stream:
    """``snapshot`` streams list everything each time (a row not seen in a complete pass was removed at the
    vendor); the others are incremental and resume from their cursor."""

    name: str
    path: str
    primary_key: str
    parse: Callable[[Any], Record | None]  # vendor JSON (a dict) or XML (an Element) -> a record
    cursor_field: str | None = None
    snapshot: bool = True
    page_size: int = 500
    max_records: int | None = None  # per sync; the rest waits for the next tick
    # A snapshot stream whose complete read lists every open record of this type, even when there are none (an
    # RMM's open alerts): the writer then clears what it no longer lists.
    lists: type[Any] | None = None


@dataclass
class Page:
    records: list[Record]
    cursor: dict[str, Any] | None  # where to resume after this page; saved with its records


@dataclass
class ConnectorContext:
    """What a connector may use: its HTTP client (rate-limited, guarded) and Redis for token caches."""

    tenant_id: int
    connection_id: int | None
    http: HttpClient
    redis: Redis
    product_id: str | None = None  # Vectis's own id at the vendor (ConnectWise's clientId), from settings


class Connector(ABC):
    key: ClassVar[str]
    label: ClassVar[str]
    category: ClassVar[str]
    description: ClassVar[str]
    fields: ClassVar[tuple[ConfigField, ...]]
    default_rate_limit: ClassVar[float] = 2.0  # requests per second per connection
    base_url_field: ClassVar[str] = "base_url"
    # Whether it reads customers' contracts (a PSA's agreements): the hub offers the Contracts tab to a customer
    # linked to such a connection even before any contract arrived.
    reads_contracts: ClassVar[bool] = False
    # The header the vendor dedupes writes by, if it has one: a write sent with it may be repeated safely.
    idempotency_header: ClassVar[str | None] = None

    def __init__(self, config: dict[str, Any], context: ConnectorContext) -> None:
        self.config = config
        self.ctx = context

    @classmethod
    def base_url(cls, config: dict[str, Any], template: str | None = None) -> str:
        """Where the vendor lives for this config. ``template`` comes from ``VECTIS_VENDOR_URLS`` (demo and
        tests: the simulators) for vendors whose host is derived rather than typed in."""
        return str(config[cls.base_url_field])

    @classmethod
    def console_url(cls, base_url: str, *, job: str, account: str | None) -> str | None:
        """Where a person opens this job (``job``: its external id; ``account``: its customer's account at the
        vendor) in the vendor's own web console, given :meth:`base_url`; None when it has no console."""
        return None

    @classmethod
    def secret_fields(cls) -> frozenset[str]:
        return frozenset(f.name for f in cls.fields if f.secret)

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """Trimmed values; raises ConnectorError naming the first missing field."""
        clean = {f.name: str(config.get(f.name, "") or "").strip() for f in cls.fields}
        for f in cls.fields:
            if f.required and not clean[f.name]:
                raise ConnectorError(f"{f.label} is required.", permanent=True)
            if f.kind == "url" and clean[f.name]:
                try:
                    vendor_url(clean[f.name])  # the same parser the connection will use
                except ConnectorError as exc:
                    raise ConnectorError(f"{f.label}: {exc.message}", permanent=True) from None
        return clean

    def before_sync(self) -> None:  # noqa: B027 - optional hook, most vendors need none
        """Checks to pass before anything is written (a version gate); raises ConnectorError."""

    def sync_notes(self) -> list[str]:
        """What a sync that succeeded still has to say, in words, read once every stream is done (Defender: a
        customer tenant it passed over, and why). None by default."""
        return []

    @abstractmethod
    def test_connection(self) -> str:
        """A one-line success message, or ConnectorError with the vendor's problem in words."""

    @abstractmethod
    def streams(self) -> list[Stream]: ...

    @abstractmethod
    def read(self, stream: Stream, cursor: dict[str, Any] | None) -> Iterator[Page]: ...
