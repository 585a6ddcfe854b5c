"""The rules' trigger for endpoint security: any EDR tool's new detection, whatever the vendor."""

from __future__ import annotations

from vectis.events.fields import Field
from vectis.events.triggers import CUSTOMER_FIELDS, SOURCE, Trigger

SEVERITY_CHOICES = (("critical", "Critical"), ("high", "High"), ("medium", "Medium"), ("low", "Low"))
DETECTION_FIELDS = (
    Field("detection.severity", "Detection severity", "enum", SEVERITY_CHOICES),
    Field("detection.title", "Threat", "text"),
    Field("detection.classification", "Kind of threat (as the tool names it)", "text"),
    Field("device.name", "Endpoint name", "text"),
    SOURCE,
    *CUSTOMER_FIELDS,
)
DETECTION_CREATED = Trigger(
    "security.detection_created",
    "Detection created",
    "detection",
    DETECTION_FIELDS,
    help="An endpoint-security tool (SentinelOne, ESET, Huntress, Microsoft Defender) reported a detection Vectis had "
    "not seen. Once per detection; not "
    "for one the tool had already resolved when Vectis first read it.",
)
TRIGGERS = (DETECTION_CREATED,)
