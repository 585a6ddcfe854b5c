"""Alert triggers: Vectis raises the alerts itself, whatever tool the condition came from."""

from __future__ import annotations

from vectis.events.fields import Field
from vectis.events.triggers import CUSTOMER_FIELDS, SOURCE, Trigger

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


ALERT_CREATED = Trigger(
    "alert.created",
    "Alert created",
    "alert",
    ALERT_FIELDS,
    help="Vectis opened an alert; one opened under a mute, when the mute ends. Once per alert.",
)
TRIGGERS = (ALERT_CREATED,)
