"""What a connector can do besides reading its streams, one Protocol per capability.

A connector **declares** a capability by naming its Protocol among its bases
(``class ConnectWiseConnector(Connector, WritesTickets, VerifiesCallbacks)``); :func:`supports` reads that
declaration and never probes for methods. Actions, jobs and the webhook receiver dispatch on the capability,
never on a vendor class, and every method reads back typed records, never raw vendor JSON. So a second PSA
is its own connector module declaring ``WritesTickets``: nothing outside its files changes.

Writes reach the vendor at most once (``vectis/platform/http.py``): every write method here has a read-back
beside it (``find_note`` for ``add_note``) that the action calls after an outcome nobody can know.

Every write is built apart from being sent: ``note_request`` makes the :class:`Request` that ``add_note`` sends, and
a dry run shows that same request without sending it, so what a dry run shows cannot drift from what goes out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar, Protocol, TypeVar, cast

from vectis.connectors.base import AlertRecord, DetectionRecord, LicenceSubscriptionRecord, TicketRecord


@dataclass(frozen=True)
class Request:
    """One write as it goes to the vendor: method, path from the connection's base URL, and body (JSON; for an
    upload, the form fields beside ``files``). Credentials are no part of it: the connector adds its auth headers
    as it sends, so a request can be shown, logged and audited as it is. ``what`` names it in a refusal ("the
    reply"); ``retry``: may it be sent again after a timeout or a 5xx (it replaces a value)."""

    method: str
    path: str
    body: Any = None
    files: Mapping[str, tuple[str, bytes]] | None = field(default=None, compare=False)
    what: str = ""
    retry: bool = False

    def shown(self) -> dict[str, Any]:
        """As a dry run shows it: method, path and JSON body; a file by its name and size, never its bytes."""
        body = self.body
        if self.files:
            files = {key: {"name": name, "bytes": len(content)} for key, (name, content) in self.files.items()}
            body = {**(body or {}), **files}
        return {"method": self.method, "path": self.path, "body": body}


@dataclass(frozen=True)
class NewTicket:
    """A ticket to open, in the vendor's own ids (Vectis maps its rows to them before asking)."""

    company: str  # the customer's account at the PSA
    board: str
    summary: str
    priority: str | None = None
    contact: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class Callback:
    """A verified inbound callback: which record changed; the work is to read it again and store it."""

    message_id: str
    kind: str  # e.g. "ticket"
    external_id: str
    action: str  # added | updated | deleted


class CallbackRefused(Exception):
    """An inbound callback that is not provably from the vendor. ``reason`` is in words, for the log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class KeyNotCached(Exception):
    """The callback names a signing key Vectis has not fetched yet: verifying it waits for a job, so the web
    request never waits on the vendor."""


class WritesTickets(Protocol):
    """A PSA Vectis writes tickets back to: notes and replies, status, new tickets, attachments."""

    noun: ClassVar[str]  # how people name the vendor in a sentence: "ConnectWise"
    attachment_limit: ClassVar[int]  # bytes

    def note_request(self, ticket: str, text: str, *, internal: bool) -> Request:
        """The request ``add_note`` sends."""
        ...

    def add_note(self, ticket: str, text: str, *, internal: bool) -> None: ...

    def find_note(self, ticket: str, text: str, *, internal: bool, since: datetime) -> bool:
        """Read-back: is a note with exactly this text on the ticket, written at or after ``since``?"""
        ...

    def upload_request(self, ticket: str, name: str, content: bytes) -> Request:
        """The request ``upload`` sends."""
        ...

    def upload(self, ticket: str, name: str, content: bytes) -> None: ...

    def status_request(self, ticket: str, status: str) -> Request:
        """The request ``set_status`` sends."""
        ...

    def set_status(self, ticket: str, status: str) -> None:
        """Replace the status: the same call twice leaves one change, so it may be repeated."""
        ...

    def create_request(self, new: NewTicket) -> Request:
        """The request ``create_ticket`` sends."""
        ...

    def create_ticket(self, new: NewTicket) -> str:
        """The new ticket's id at the vendor."""
        ...

    def find_ticket(self, new: NewTicket, *, since: datetime) -> str | None:
        """Read-back: the id of a ticket opened at or after ``since`` with this summary for this company."""
        ...

    def get_ticket(self, ticket: str) -> TicketRecord | None:
        """The ticket with its notes, as a sync would store it (None: the vendor sent something unreadable)."""
        ...


class CreatesContacts(Protocol):
    """A PSA Vectis can add a person to (a customer's contact): the portal files a new ticket under the person who
    wrote it, making them a contact first when the PSA has none with their e-mail."""

    def contact_request(self, company: str, name: str, email: str) -> Request:
        """The request ``create_contact`` sends."""
        ...

    def create_contact(self, company: str, name: str, email: str) -> str:
        """The new contact's id at the vendor."""
        ...

    def find_contact(self, company: str, email: str) -> str | None:
        """Read-back: the id of the company's contact with this e-mail, if there is one."""
        ...


class ResetsAlerts(Protocol):
    """A tool whose open alerts Vectis can clear (NinjaOne's reset: gone until the condition triggers again). Resetting
    an alert already gone changes nothing, so a reset may be repeated."""

    noun: ClassVar[str]

    def reset_request(self, alert: str) -> Request:
        """The request ``reset_alert`` sends."""
        ...

    def reset_alert(self, alert: str) -> None: ...

    def open_alert_ids(self) -> set[str]:
        """Read-back: the ids of the alerts open at the tool now."""
        ...

    def open_alerts(self) -> list[AlertRecord]:
        """Every alert open at the tool now, as a sync reads them (a callback said one was raised or cleared)."""
        ...


class AuthorRefused(Exception):
    """The vendor refused a write because it named a member as the author. A refusal stored nothing, so the
    write may be sent again without the member. ``reason`` in words; ``any_member``: the vendor takes no member
    at all (the API member's security role), not only this one (inactive, unknown)."""

    def __init__(self, reason: str, *, any_member: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.any_member = any_member


class WritesAsMembers(Protocol):
    """A PSA that records which of its members wrote a note and lets Vectis name that member, so a reply Vectis
    sends carries the technician who wrote it instead of the API account."""

    def note_as_request(self, ticket: str, text: str, *, internal: bool, member: str) -> Request:
        """The request ``add_note_as`` sends."""
        ...

    def add_note_as(self, ticket: str, text: str, *, internal: bool, member: str) -> None:
        """``add_note`` authored by ``member`` (its id at the vendor); AuthorRefused when the vendor will not."""
        ...


class TriagesTickets(Protocol):
    """A PSA whose tickets Vectis can hand to a member and re-prioritise. Both replace a value, so either call
    may be repeated."""

    def assign_request(self, ticket: str, member: str | None) -> Request:
        """The request ``assign`` sends."""
        ...

    def assign(self, ticket: str, member: str | None) -> None:
        """Make ``member`` the ticket's owner (None: nobody)."""
        ...

    def priority_request(self, ticket: str, priority: str) -> Request:
        """The request ``set_priority`` sends."""
        ...

    def set_priority(self, ticket: str, priority: str) -> None: ...


class VerifiesCallbacks(Protocol):
    """A vendor that calls Vectis back when a record changes, and proves it sent what it sends (a signature, or a
    secret header Vectis chose). Its words say on the integration's page what instant updates are for it."""

    callback_when: ClassVar[str]  # when it calls: "a ticket changes"
    callback_check: ClassVar[str]  # how a call is checked and what is read: "each call is signed and checked …"
    callback_off: ClassVar[str]  # how to turn them off at the vendor; "{id}" is the callback's id there
    # For a vendor Vectis cannot ask to call it (no ``RegistersCallbacks``): how an admin adds Vectis's address at the
    # vendor by hand, shown beside that address. Empty for a vendor Vectis registers with itself.
    callback_setup: ClassVar[str] = ""

    def verify_callback(self, body: bytes, headers: Mapping[str, str]) -> Callback:
        """From cached keys only: raises CallbackRefused, or KeyNotCached when a key must be fetched first."""
        ...

    def fetch_callback_key(self, body: bytes) -> None:
        """Fetch and cache the signing key ``body`` names (in a job), so ``verify_callback`` can check it."""
        ...


class RegistersCallbacks(Protocol):
    """A vendor Vectis can ask, through its API, to call Vectis's address ("Turn on instant updates"). A vendor whose
    callbacks are set up only in its own portal (Huntress's Svix endpoints) declares ``VerifiesCallbacks`` alone and
    says how in ``callback_setup``."""

    def callback_request(self, url: str) -> Request:
        """The request ``register_callback`` sends."""
        ...

    def register_callback(self, url: str) -> str | None:
        """Ask the vendor to call ``url``; the callback's id there."""
        ...


TEST_CALLBACK = "test"  # the ``Callback.kind`` of a test the vendor signed: recorded, never processed


class SignsTestCallbacks(Protocol):
    """A vendor whose callbacks Vectis can sign as the vendor does (a key Vectis holds, not one fetched from the
    vendor), so "Send test delivery" proves the vendor's own signature path too. Without it Vectis signs the test
    its own way (``vectis/ingest/webhook_checks.py``). The connector must also declare ``VerifiesCallbacks``."""

    def test_callback(self) -> tuple[bytes, dict[str, str]]:
        """A body and headers as the vendor would send them, which ``verify_callback`` accepts as a ``Callback`` of
        kind ``TEST_CALLBACK``."""
        ...


class AcknowledgesAlerts(Protocol):
    """An RMM or monitoring tool whose alerts Vectis can acknowledge and resolve."""

    def acknowledge_alert(self, alert: str) -> None: ...

    def resolve_alert(self, alert: str) -> None: ...


ENDPOINT_ACTIONS = ("isolate", "release", "resolve", "false_positive")


class RespondsOnEndpoints(Protocol):
    """Endpoint security that takes response actions from Vectis: isolate an endpoint from the network and release
    it, resolve a detection, mark one a false positive. Each is safe to repeat (isolating an isolated endpoint changes
    nothing at the tool), and each has its read-back: :meth:`isolation_of` and :meth:`get_detection`.

    ``responses`` is the tool's capability matrix: for each of :data:`ENDPOINT_ACTIONS`, None when its API does it,
    or the reason in words when it cannot ("Huntress's SOC isolates hosts; its API cannot."): the button is then
    disabled with that reason, and the verb refuses with it."""

    noun: ClassVar[str]
    responses: ClassVar[Mapping[str, str | None]]
    # While an isolation or release is pending, the tool is asked again about that endpoint at most this often, however
    # many cards poll it: a tool with an hourly budget (Defender's 1,500 calls) sets more.
    isolation_recheck_seconds: ClassVar[float] = 3.0
    # The ways the tool isolates, when it offers a choice (Defender: Full or Selective): mode -> what it means. Empty:
    # one way only, and ``mode`` is always "".
    isolation_modes: ClassVar[Mapping[str, str]] = {}

    def isolate_request(self, device: str, *, comment: str, mode: str = "") -> Request:
        """The request ``isolate`` sends (``device``: the tool's id of the endpoint; ``mode``: one of
        :attr:`isolation_modes`, or "" for the tool's default)."""
        ...

    def isolate(self, device: str, *, comment: str, mode: str = "") -> None: ...

    def release_request(self, device: str, *, comment: str) -> Request:
        """The request ``release`` sends."""
        ...

    def release(self, device: str, *, comment: str) -> None: ...

    def resolve_request(self, detection: str) -> Request:
        """The request ``resolve_detection`` sends."""
        ...

    def resolve_detection(self, detection: str) -> None: ...

    def false_positive_request(self, detection: str, *, reason: str) -> Request:
        """The request ``mark_false_positive`` sends."""
        ...

    def mark_false_positive(self, detection: str, *, reason: str) -> None: ...

    def isolation_of(self, device: str) -> str | None:
        """Read-back: the endpoint's network state now (connected | isolating | isolated | releasing); None when
        the tool no longer knows the endpoint."""
        ...

    def get_detection(self, detection: str) -> DetectionRecord | None:
        """Read-back: the detection as the tool holds it now; None when the tool no longer has it."""
        ...


@dataclass(frozen=True)
class NewQuote:
    """A quote to ask a distributor for, in its own ids. ``reference`` is Vectis's, carried in the quote so a
    read-back can find it after an uncertain outcome (a quote is not safe to send twice)."""

    company: str  # the customer's company at the distributor
    reference: str
    lines: tuple[tuple[str, int], ...]  # (the distributor's product id, quantity)
    notes: str = ""


class ReductionRefused(Exception):
    """The distributor will not reduce seats now: a committed term (Microsoft's NCE) only goes down at renewal.
    ``renews_on``: when it can (None when the distributor did not say)."""

    def __init__(self, reason: str, *, renews_on: date | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.renews_on = renews_on


class ChangesLicences(Protocol):
    """A distributor whose subscriptions Vectis can change and quote (Pax8; Sherweb, Ingram, TD SYNNEX later).

    Setting a quantity replaces a value, so it may be repeated; a quote adds one, so it is looked for by its
    ``reference`` (:meth:`find_quote`) before it is sent and after an outcome nobody can know, and sent once."""

    noun: ClassVar[str]
    # How many days after a committed term (re)starts its seats may still go down (Microsoft's NCE: 7); None: never.
    reduction_window_days: ClassVar[int | None]

    def seats_request(self, subscription: str, quantity: int) -> Request:
        """The request ``set_seats`` sends."""
        ...

    def set_seats(self, subscription: str, quantity: int) -> LicenceSubscriptionRecord | None:
        """Set the subscription's quantity; the subscription as the distributor answers it (None: unreadable).
        Raises ReductionRefused when a committed term will not go down now."""
        ...

    def get_subscription(self, subscription: str) -> LicenceSubscriptionRecord | None:
        """Read-back: the subscription as the distributor holds it now; None when it no longer has it."""
        ...

    def quote_request(self, quote: NewQuote) -> Request:
        """The request ``create_quote`` sends."""
        ...

    def create_quote(self, quote: NewQuote) -> str:
        """The new quote's id at the distributor."""
        ...

    def quote_lookup_request(self, quote: NewQuote) -> Request:
        """The request ``find_quote`` sends (a GET: what a dry run shows before the quote's POST)."""
        ...

    def find_quote(self, quote: NewQuote) -> str | None:
        """Read-back: the id of the quote carrying ``quote.reference`` for that company, if the distributor has one."""
        ...


C = TypeVar("C")


def supports(connector: Any, capability: type[Any]) -> bool:
    """Whether the connector (or its class) declares ``capability`` among its bases."""
    cls = connector if isinstance(connector, type) else type(connector)
    return capability in cls.__mro__


def as_capability(connector: Any, capability: type[C]) -> C:
    """The connector as the capability it declares (a TypeError if it does not: a caller's mistake)."""
    if not supports(connector, capability):
        raise TypeError(f"{type(connector).__name__} does not declare {capability.__name__}")
    return cast(C, connector)


def declared(connector: type[Any]) -> tuple[type[Any], ...]:
    """Every capability the connector class declares, for the admin page and the registry test."""
    return tuple(c for c in CAPABILITIES if supports(connector, c))


CAPABILITIES: tuple[type[Any], ...] = (
    WritesTickets,
    WritesAsMembers,
    TriagesTickets,
    VerifiesCallbacks,
    RegistersCallbacks,
    SignsTestCallbacks,
    AcknowledgesAlerts,
    RespondsOnEndpoints,
    ChangesLicences,
)
