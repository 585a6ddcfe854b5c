"""What the query builder can reach: a frozen catalogue of tables, their columns and the joins between them.

Nothing outside this module is reachable from a query spec. A table, column or join that is not written down
here does not exist to the builder, so internal tables (users, audit, secrets, connections) cannot be added by a
misclick, and no spec can name its way to them: :mod:`vectis.query.spec` rejects any name not found here before
any SQL is built, and the compiler only ever reads the SQL expressions held here.

Each capability's tables are listed once, with labels a technician reads and a type that decides the operators and
aggregates offered (``vectis.query.operators``). Internal keys (ids, tenant ids, foreign keys) are never columns:
joins use them, people do not. Tables that do not exist yet (invoices, payments, credit memos) are added by the
issue that creates them, by adding a ``Table`` and its ``Edge`` here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

from sqlalchemy import ColumnElement, FromClause, cast, func
from sqlalchemy import Integer as SqlInteger

from vectis.models import (
    BackupConnector,
    BackupConnectorStatus,
    BackupRun,
    Contract,
    ContractLineItem,
    Customer,
    DailyMetrics,
    SlaSnapshot,
    Ticket,
    TicketNote,
)
from vectis.models.backups import KINDS, STATES
from vectis.models.contracts import STATUSES


class Kind(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    MONEY = "money"
    DATE = "date"  # a calendar day
    DATETIME = "datetime"  # an instant (timestamptz)
    ENUM = "enum"
    BOOLEAN = "boolean"


@dataclass(frozen=True)
class Column:
    key: str  # "ends_on": unique within its table; a spec names it as "contracts.ends_on"
    label: str  # "Renews on"
    kind: Kind
    # Builds the SQL expression; a function, so every compile gets its own and nothing is shared between queries.
    sql: Callable[[], ColumnElement[Any]]
    choices: tuple[str, ...] = ()  # an enum's values, in the order offered
    help: str = ""


@dataclass(frozen=True)
class Table:
    key: str  # "contracts"
    label: str  # "Contracts": the plural, what a row count counts
    singular: str  # "contract"
    # What a query reads for this table: the table itself, or a table with its one-to-one companion
    # (a backup job with its latest status).
    source: Callable[[], FromClause]
    key_column: Callable[[], ColumnElement[Any]]  # its primary key: a row's identity when rows repeat (fan-out)
    # Which row is the latest, for the "latest" aggregate ("the latest run's state").
    recency: str
    columns: tuple[Column, ...]
    default_columns: tuple[str, ...]  # ticked when the table is first picked
    by_key: Mapping[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_key", MappingProxyType({c.key: c for c in self.columns}))


class Cardinality(StrEnum):
    ONE = "one"  # each row on the left has at most one on the right
    MANY = "many"  # ... any number: joining repeats the left row (fan-out)


@dataclass(frozen=True)
class Edge:
    """A join the builder may make, in one direction; every relation is declared both ways (``_both``)."""

    left: str  # table key
    right: str
    label: str  # "Tickets of the customer"
    cardinality: Cardinality
    on: Callable[[], ColumnElement[bool]]

    @property
    def key(self) -> str:
        return f"{self.left}.{self.right}"


def _c(key: str, label: str, kind: Kind, sql: Callable[[], ColumnElement[Any]], **more: Any) -> Column:
    return Column(key, label, kind, sql, **more)


_customers = Customer.__table__.c
_tickets = Ticket.__table__.c
_notes = TicketNote.__table__.c
_contracts = Contract.__table__.c
_lines = ContractLineItem.__table__.c
_jobs = BackupConnector.__table__.c
_status = BackupConnectorStatus.__table__.c
_runs = BackupRun.__table__.c
_daily = DailyMetrics.__table__.c
_sla = SlaSnapshot.__table__.c


def _days_until(column: ColumnElement[Any]) -> ColumnElement[Any]:
    # date - date is an integer number of days in PostgreSQL; negative once the day has passed.
    return cast(column - func.current_date(), SqlInteger)


TABLES: Final[Mapping[str, Table]] = MappingProxyType(
    {
        t.key: t
        for t in (
            Table(
                key="customers",
                label="Customers",
                singular="customer",
                source=lambda: Customer.__table__,
                key_column=lambda: _customers.id,
                recency="created_at",
                columns=(
                    _c("name", "Customer", Kind.TEXT, lambda: _customers.name),
                    _c("location", "Location", Kind.TEXT, lambda: _customers.location),
                    _c("contact_name", "Main contact", Kind.TEXT, lambda: _customers.contact_name),
                    _c("contact_email", "Contact email", Kind.TEXT, lambda: _customers.contact_email),
                    _c("contact_phone", "Contact phone", Kind.TEXT, lambda: _customers.contact_phone),
                    _c(
                        "tags",
                        "Tags",
                        Kind.TEXT,
                        lambda: func.array_to_string(_customers.tags, ", "),
                        help="The customer's tags, comma-separated",
                    ),
                    _c("created_at", "Added to Vectis", Kind.DATETIME, lambda: _customers.created_at),
                ),
                default_columns=("name",),
            ),
            Table(
                key="tickets",
                label="Tickets",
                singular="ticket",
                source=lambda: Ticket.__table__,
                key_column=lambda: _tickets.id,
                recency="opened_at",
                columns=(
                    _c("number", "Ticket #", Kind.TEXT, lambda: _tickets.external_id),
                    _c("summary", "Summary", Kind.TEXT, lambda: _tickets.summary),
                    _c("status", "Status", Kind.TEXT, lambda: _tickets.status_name),
                    _c("closed", "Closed", Kind.BOOLEAN, lambda: _tickets.closed),
                    _c("priority", "Priority", Kind.TEXT, lambda: _tickets.priority),
                    _c("assignee", "Assigned to", Kind.TEXT, lambda: _tickets.assignee),
                    _c("contact_name", "Contact", Kind.TEXT, lambda: _tickets.contact_name),
                    _c("opened_at", "Opened", Kind.DATETIME, lambda: _tickets.opened_at),
                    _c("closed_at", "Closed at", Kind.DATETIME, lambda: _tickets.closed_at),
                    _c("updated_at", "Last updated", Kind.DATETIME, lambda: _tickets.vendor_updated_at),
                    _c("sla", "SLA", Kind.TEXT, lambda: _tickets.sla_name),
                    _c("in_sla", "Within SLA", Kind.BOOLEAN, lambda: _tickets.in_sla, help="The PSA's answer now"),
                    _c("responded_at", "Responded", Kind.DATETIME, lambda: _tickets.responded_at),
                    _c("resolved_at", "Resolved", Kind.DATETIME, lambda: _tickets.resolved_at),
                ),
                default_columns=("number", "summary", "status", "opened_at"),
            ),
            Table(
                key="conversations",
                label="Conversations",
                singular="ticket note",
                source=lambda: TicketNote.__table__,
                key_column=lambda: _notes.id,
                recency="written_at",
                columns=(
                    _c("written_at", "Written", Kind.DATETIME, lambda: _notes.written_at),
                    _c("author", "Author", Kind.TEXT, lambda: _notes.author),
                    _c("internal", "Internal note", Kind.BOOLEAN, lambda: _notes.internal),
                    _c("body", "Text", Kind.TEXT, lambda: _notes.body),
                ),
                default_columns=("written_at", "author", "body"),
            ),
            Table(
                key="contracts",
                label="Contracts",
                singular="contract",
                source=lambda: Contract.__table__,
                key_column=lambda: _contracts.id,
                recency="starts_on",
                columns=(
                    _c("name", "Contract", Kind.TEXT, lambda: _contracts.name),
                    _c("type", "Type", Kind.TEXT, lambda: _contracts.contract_type),
                    _c("status", "Status", Kind.ENUM, lambda: _contracts.status, choices=STATUSES),
                    _c("starts_on", "Starts on", Kind.DATE, lambda: _contracts.starts_on),
                    _c("ends_on", "Renews on", Kind.DATE, lambda: _contracts.ends_on, help="When the term ends"),
                    _c(
                        "days_to_renewal",
                        "Renews in (days)",
                        Kind.NUMBER,
                        lambda: _days_until(_contracts.ends_on),
                        help="Days from today until the term ends; negative once it has ended",
                    ),
                    _c("billing_cycle", "Billing cycle", Kind.TEXT, lambda: _contracts.billing_cycle),
                    _c("bill_amount", "Amount per cycle", Kind.MONEY, lambda: _contracts.bill_amount),
                    _c("monthly_value", "Monthly value", Kind.MONEY, lambda: _contracts.monthly_value),
                    _c("next_invoice_on", "Next invoice", Kind.DATE, lambda: _contracts.next_invoice_on),
                ),
                default_columns=("name", "ends_on", "monthly_value"),
            ),
            Table(
                key="contract_lines",
                label="Contract line items",
                singular="line item",
                source=lambda: ContractLineItem.__table__,
                key_column=lambda: _lines.id,
                recency="starts_on",
                columns=(
                    _c("product", "Product", Kind.TEXT, lambda: _lines.product),
                    _c("description", "Description", Kind.TEXT, lambda: _lines.description),
                    _c("quantity", "Quantity", Kind.NUMBER, lambda: _lines.quantity),
                    _c("unit_price", "Unit price", Kind.MONEY, lambda: _lines.unit_price),
                    _c("amount", "Amount", Kind.MONEY, lambda: _lines.amount),
                    _c("recurring", "Recurring", Kind.BOOLEAN, lambda: _lines.recurring),
                    _c("billable", "Billable", Kind.BOOLEAN, lambda: _lines.billable),
                    _c("starts_on", "Starts on", Kind.DATE, lambda: _lines.starts_on),
                ),
                default_columns=("product", "quantity", "unit_price"),
            ),
            Table(
                key="backup_jobs",
                label="Backup jobs",
                singular="backup job",
                # A job and its latest status are one thing to a technician: one table here.
                source=lambda: BackupConnector.__table__.outerjoin(
                    BackupConnectorStatus.__table__, _status.backup_connector_id == _jobs.id
                ),
                key_column=lambda: _jobs.id,
                recency="last_attempt_at",
                columns=(
                    _c("name", "Backup job", Kind.TEXT, lambda: _jobs.name),
                    _c("kind", "Kind", Kind.ENUM, lambda: _jobs.kind, choices=KINDS),
                    _c("vendor_type", "Vendor type", Kind.TEXT, lambda: _jobs.vendor_type),
                    _c("protected_object", "Protects", Kind.TEXT, lambda: _jobs.protected_object),
                    _c("state", "State", Kind.ENUM, lambda: _status.state, choices=STATES),
                    _c("last_attempt_at", "Last run", Kind.DATETIME, lambda: _status.last_attempt_at),
                    _c("last_success_at", "Last success", Kind.DATETIME, lambda: _status.last_success_at),
                    _c(
                        "consecutive_failures",
                        "Failures in a row",
                        Kind.NUMBER,
                        lambda: _status.consecutive_failures,
                    ),
                    _c("removed", "Removed at the vendor", Kind.BOOLEAN, lambda: _jobs.removed_at.is_not(None)),
                ),
                default_columns=("name", "state", "last_attempt_at"),
            ),
            Table(
                key="backup_runs",
                label="Backup runs",
                singular="backup run",
                source=lambda: BackupRun.__table__,
                key_column=lambda: _runs.id,
                recency="started_at",
                columns=(
                    _c("started_at", "Started", Kind.DATETIME, lambda: _runs.started_at),
                    _c("ended_at", "Ended", Kind.DATETIME, lambda: _runs.ended_at),
                    _c("state", "Result", Kind.ENUM, lambda: _runs.state, choices=STATES),
                    _c("vendor_status", "Vendor status", Kind.TEXT, lambda: _runs.vendor_status),
                    _c("duration_seconds", "Duration (seconds)", Kind.NUMBER, lambda: _runs.duration_seconds),
                    _c("message", "Message", Kind.TEXT, lambda: _runs.message),
                ),
                default_columns=("started_at", "state"),
            ),
            Table(
                key="daily_metrics",
                label="Daily metrics",
                singular="day",
                source=lambda: DailyMetrics.__table__,
                key_column=lambda: _daily.id,
                recency="day",
                columns=(
                    _c("day", "Day", Kind.DATE, lambda: _daily.day, help="A UTC calendar day"),
                    _c("tickets_opened", "Tickets opened", Kind.NUMBER, lambda: _daily.tickets_opened),
                    _c("tickets_closed", "Tickets closed", Kind.NUMBER, lambda: _daily.tickets_closed),
                    _c("tickets_open_at_end", "Open at day's end", Kind.NUMBER, lambda: _daily.tickets_open_at_end),
                    _c("backup_runs", "Backup runs", Kind.NUMBER, lambda: _daily.backup_runs),
                    _c("backup_runs_succeeded", "Runs succeeded", Kind.NUMBER, lambda: _daily.backup_runs_succeeded),
                    _c(
                        "backup_success_rate",
                        "Backup success (%)",
                        Kind.NUMBER,
                        lambda: _daily.backup_success_rate,
                        help="Success or warning, of runs that finished; empty on a day with no runs",
                    ),
                    _c("alerts_opened", "Alerts opened", Kind.NUMBER, lambda: _daily.alerts_opened),
                ),
                default_columns=("day", "tickets_opened", "backup_success_rate"),
            ),
            Table(
                key="sla_snapshots",
                label="SLA snapshots",
                singular="day",
                source=lambda: SlaSnapshot.__table__,
                key_column=lambda: _sla.id,
                recency="day",
                columns=(
                    _c("day", "Day", Kind.DATE, lambda: _sla.day),
                    _c("tickets_in_sla", "Tickets within SLA", Kind.NUMBER, lambda: _sla.tickets_in_sla),
                    _c("tickets_out_of_sla", "Tickets out of SLA", Kind.NUMBER, lambda: _sla.tickets_out_of_sla),
                    _c("tickets_without_sla", "Tickets without an SLA", Kind.NUMBER, lambda: _sla.tickets_without_sla),
                    _c("in_sla_rate", "Within SLA (%)", Kind.NUMBER, lambda: _sla.in_sla_rate),
                    _c("tickets_responded", "Responded to", Kind.NUMBER, lambda: _sla.tickets_responded),
                    _c("tickets_resolved", "Resolved", Kind.NUMBER, lambda: _sla.tickets_resolved),
                    _c(
                        "tickets_resolved_out_of_sla",
                        "Resolved late",
                        Kind.NUMBER,
                        lambda: _sla.tickets_resolved_out_of_sla,
                    ),
                    _c(
                        "tickets_awaiting_response",
                        "Awaiting a response",
                        Kind.NUMBER,
                        lambda: _sla.tickets_awaiting_response,
                    ),
                ),
                default_columns=("day", "tickets_in_sla", "tickets_out_of_sla"),
            ),
        )
    }
)


def _both(
    left: str, right: str, on: Callable[[], ColumnElement[bool]], *, labels: tuple[str, str]
) -> tuple[Edge, Edge]:
    """A one-to-many relation as the two joins it allows: left to its many rights, and each right to its left."""
    return (
        Edge(left, right, labels[0], Cardinality.MANY, on),
        Edge(right, left, labels[1], Cardinality.ONE, on),
    )


EDGES: Final[Mapping[str, Edge]] = MappingProxyType(
    {
        e.key: e
        for pair in (
            _both(
                "customers",
                "tickets",
                lambda: _tickets.customer_id == _customers.id,
                labels=("Their tickets", "The ticket's customer"),
            ),
            _both(
                "tickets",
                "conversations",
                lambda: _notes.ticket_id == _tickets.id,
                labels=("The ticket's conversation", "The note's ticket"),
            ),
            _both(
                "customers",
                "contracts",
                lambda: _contracts.customer_id == _customers.id,
                labels=("Their contracts", "The contract's customer"),
            ),
            _both(
                "contracts",
                "contract_lines",
                lambda: _lines.contract_id == _contracts.id,
                labels=("The contract's line items", "The line item's contract"),
            ),
            _both(
                "customers",
                "backup_jobs",
                lambda: _jobs.customer_id == _customers.id,
                labels=("Their backup jobs", "The job's customer"),
            ),
            _both(
                "customers",
                "daily_metrics",
                lambda: _daily.customer_id == _customers.id,
                labels=("Their daily metrics", "The day's customer"),
            ),
            _both(
                "customers",
                "sla_snapshots",
                lambda: _sla.customer_id == _customers.id,
                labels=("Their SLA snapshots", "The snapshot's customer"),
            ),
            _both(
                "backup_jobs",
                "backup_runs",
                lambda: _runs.backup_connector_id == _jobs.id,
                labels=("The job's runs", "The run's job"),
            ),
        )
        for e in pair
    }
)


def edges_from(table: str) -> list[Edge]:
    return [e for e in EDGES.values() if e.left == table]


def column(ref: str) -> tuple[Table, Column] | None:
    """``"contracts.ends_on"`` -> its table and column; None for anything the catalogue does not hold."""
    table_key, _, column_key = ref.partition(".")
    table = TABLES.get(table_key)
    found = table.by_key.get(column_key) if table else None
    return (table, found) if table and found else None
