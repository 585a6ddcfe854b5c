"""Backup triggers: any backup vendor's jobs and protected connectors emit them."""

from __future__ import annotations

from vectis.events.fields import Field
from vectis.events.triggers import CUSTOMER_FIELDS, SOURCE, Trigger
from vectis.models.backups import KINDS, STATES

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
TRIGGERS = (BACKUP_FAILED, BACKUP_STALE)
