"""Alert triggers: Vectis raises the alerts itself, whatever tool the condition came from; an RMM's own have theirs."""

from __future__ import annotations

from vectis.events.fields import Field
from vectis.events.triggers import CUSTOMER_FIELDS, SOURCE, Trigger
from vectis.models import DEVICE_CLASSES as DEVICE_CLASS_NAMES
from vectis.models.alerts import CONDITION_CLASSES, OTHER

CONDITION_CLASS_NAMES = (*(name for name, _ in CONDITION_CLASSES), OTHER)

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
DEVICE_CLASSES = tuple((c, c.title()) for c in DEVICE_CLASS_NAMES)
RMM_ALERT_FIELDS = (
    Field("alert.condition", "RMM condition (as the RMM names it)", "text"),
    Field("alert.class", "Kind of trouble", "enum", tuple((c, c.title()) for c in CONDITION_CLASS_NAMES)),
    Field("alert.severity", "Alert severity", "enum", SEVERITIES),
    Field("alert.message", "Alert message", "text"),
    Field("device.name", "Device name", "text"),
    Field("device.class", "Device class", "enum", DEVICE_CLASSES),
    SOURCE,
    *CUSTOMER_FIELDS,
)
RMM_ALERT_CREATED = Trigger(
    "rmm.alert_created",
    "RMM alert created",
    "alert",
    RMM_ALERT_FIELDS,
    help="An RMM (NinjaOne) raised an alert on a device and Vectis opened an alert for it. Once per alert; not for a "
    "report that landed in an alert already open (the dedupe).",
)
TRIGGERS = (ALERT_CREATED, RMM_ALERT_CREATED)
