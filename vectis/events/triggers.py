"""What a rule can trigger on. Each capability declares the triggers of its category (``backups/triggers.py``,
``tickets/triggers.py``, ``alerts/triggers.py``), so any vendor of that category emits them and connectors
import nothing from rules; ``vectis/rules/triggers.py`` gathers them into the catalog.

Each trigger names the fields of its triggering record that conditions may test. An event's ``data`` holds
exactly those keys, frozen when the event happened. Time-based triggers (a backup gone stale, a ticket left
waiting) are not emitted by a sync: the cron tick scans for them, per rule, with the rule's own parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vectis.events.fields import Field

CUSTOMER_FIELDS = (
    Field("customer.name", "Customer name", "text"),
    Field("customer.location", "Customer location", "text"),
)
SOURCE = Field("source", "Source tool", "text")


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
