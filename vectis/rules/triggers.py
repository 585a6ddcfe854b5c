"""What a rule can trigger on. A connector declares the triggers it emits (``Connector.triggers``), so a new
vendor adds its triggers in its own module; the engine only reads this catalog.

Each trigger names the fields of its triggering record that conditions may test. An event's ``data`` holds
exactly those keys, frozen when the event happened. Time-based triggers (a backup gone stale, a ticket left
waiting) are not emitted by a sync: the cron tick scans for them, per rule, with the rule's own parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vectis.models.backups import KINDS, STATES
from vectis.rules.conditions import Field

CUSTOMER_FIELDS = (
    Field("customer.name", "Customer name", "text"),
    Field("customer.location", "Customer location", "text"),
)
SOURCE = Field("source", "Source tool", "text")

BACKUP_FIELDS = (
    Field("job.name", "Job name", "text"),
    Field("job.kind", "Job kind", "enum", tuple((k, k) for k in KINDS)),
    Field("job.vendor_type", "Job type at the vendor", "text"),
    Field("job.protected_object", "Protected object", "text"),
    Field("job.state", "Last run state", "enum", tuple((s, s) for s in STATES)),
    Field("job.consecutive_failures", "Failed runs in a row", "number"),
    Field("job.last_success_at", "Last success", "date"),
    Field("job.last_attempt_at", "Last attempt", "date"),
    Field("job.hours_since_success", "Hours since last success", "number"),
    Field("job.message", "Vendor message", "text"),
    SOURCE,
    *CUSTOMER_FIELDS,
)

TICKET_FIELDS = (
    Field("ticket.number", "Ticket number", "text"),
    Field("ticket.summary", "Summary", "text"),
    Field("ticket.status", "Status", "text"),
    Field("ticket.previous_status", "Previous status", "text"),
    Field("ticket.board", "Board", "text"),
    Field("ticket.priority", "Priority", "text"),
    Field("ticket.assignee", "Assignee", "text"),
    Field("ticket.contact", "Contact", "text"),
    Field("ticket.closed", "Closed", "boolean"),
    Field("ticket.opened_at", "Opened", "date"),
    Field("ticket.updated_at", "Last updated", "date"),
    Field("ticket.days_unchanged", "Days since last update", "number"),
    SOURCE,
    *CUSTOMER_FIELDS,
)

SEVERITIES = (("critical", "Critical"), ("warning", "Warning"), ("info", "Info"))
ALERT_CONDITIONS = (
    ("backup_stale", "Backup stale"),
    ("backup_failed", "Backup failed"),
    ("backup_silent", "Backup silent"),
    ("backup_stuck", "Backup stuck"),
)
ALERT_FIELDS = (
    Field("alert.condition", "Alert condition", "enum", ALERT_CONDITIONS),
    Field("alert.severity", "Alert severity", "enum", SEVERITIES),
    Field("alert.subject", "Job or record", "text"),
    Field("alert.message", "Alert message", "text"),
    SOURCE,
    *CUSTOMER_FIELDS,
)


@dataclass(frozen=True)
class Trigger:
    key: str
    label: str
    subject: str  # what the event is about: backup_job | ticket | alert
    fields: tuple[Field, ...]
    help: str = ""
    # Time-based: scanned by the cron tick for each rule, with these parameters (defaults in ``defaults``).
    params: tuple[Field, ...] = ()
    defaults: dict[str, float] = field(default_factory=dict)

    @property
    def time_based(self) -> bool:
        return bool(self.params)

    @property
    def field_map(self) -> dict[str, Field]:
        return {f.key: f for f in self.fields}


BACKUP_FAILED = Trigger(
    "backup.failed",
    "Backup run failed",
    "backup_job",
    BACKUP_FIELDS,
    help="Each failed run of a backup job or protected connector, as a sync sees it.",
)
BACKUP_STALE = Trigger(
    "backup.stale",
    "Backup stale",
    "backup_job",
    BACKUP_FIELDS,
    help="No successful backup within the threshold. Checked every minute; fires once per job until it succeeds.",
    params=(Field("threshold_hours", "Threshold (hours)", "number"),),
    defaults={"threshold_hours": 48},
)
BACKUP_TRIGGERS = (BACKUP_FAILED, BACKUP_STALE)

TICKET_OPENED = Trigger("ticket.opened", "Ticket opened", "ticket", TICKET_FIELDS, help="A new ticket in the PSA.")
TICKET_STATUS_CHANGED = Trigger(
    "ticket.status_changed", "Ticket status changed", "ticket", TICKET_FIELDS, help="A ticket moved to another status."
)
TICKET_IDLE = Trigger(
    "ticket.idle",
    "Ticket unchanged for N days",
    "ticket",
    TICKET_FIELDS,
    help="An open ticket nobody has touched for the number of days. Checked every minute; fires once per quiet spell.",
    params=(Field("days", "Days", "number"),),
    defaults={"days": 7},
)
TICKET_TRIGGERS = (TICKET_OPENED, TICKET_STATUS_CHANGED, TICKET_IDLE)

ALERT_CREATED = Trigger(
    "alert.created", "Alert created", "alert", ALERT_FIELDS, help="Vectis opened an alert (not a muted one)."
)
ENGINE_TRIGGERS = (ALERT_CREATED,)


def catalog() -> dict[str, Trigger]:
    """Every trigger: the engine's own and those the registered connectors declare."""
    from vectis.connectors import registry

    found = {t.key: t for t in ENGINE_TRIGGERS}
    for connector in registry.CONNECTORS.values():
        for trigger in connector.triggers:
            found.setdefault(trigger.key, trigger)
    return found


def get(key: str) -> Trigger:
    try:
        return catalog()[key]
    except KeyError:
        raise LookupError(f"No trigger called {key!r}.") from None
