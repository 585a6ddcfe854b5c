"""The rules' triggers for Microsoft 365 posture: what changed in a customer tenant since the last good read (the same
changes the timeline shows), so a rule can open a ticket when a device falls out of compliance, a Conditional Access
policy is turned off, or the Secure Score drops."""

from __future__ import annotations

from vectis.events.fields import Field
from vectis.events.triggers import CUSTOMER_FIELDS, SOURCE, Trigger

POLICY_STATES = (("enabled", "On (enforcing)"), ("report-only", "Report-only"), ("disabled", "Off"))
DEVICE_NONCOMPLIANT = Trigger(
    "m365.device_noncompliant",
    "Device no longer compliant (Intune)",
    "m365_device",
    (
        Field("device.name", "Device name", "text"),
        Field("device.os", "Operating system", "text"),
        Field("device.user", "User", "text"),
        Field("device.failing_policies", "Failing policies", "text"),
        SOURCE,
        *CUSTOMER_FIELDS,
    ),
    help="A device Intune had as compliant (or in its grace period) is now not compliant. Not on a tenant's first "
    "read: there is nothing to compare with.",
)
POLICY_CHANGED = Trigger(
    "m365.policy_changed",
    "Conditional Access policy changed state",
    "m365_policy",
    (
        Field("policy.name", "Policy", "text"),
        Field("policy.state", "State now", "enum", POLICY_STATES),
        Field("policy.was", "State before", "enum", POLICY_STATES),
        Field("policy.for_admins", "Applies to administrators", "boolean"),
        SOURCE,
        *CUSTOMER_FIELDS,
    ),
    help="A Conditional Access policy was turned on, off or to report-only (only an enabled policy enforces anything).",
)
SCORE_CHANGED = Trigger(
    "m365.secure_score_changed",
    "Secure Score moved",
    "m365_secure_score",
    (
        Field("score.current", "Score now", "number"),
        Field("score.change", "Change in points (negative: it fell)", "number"),
        Field("score.percent", "Score now, % of the maximum", "number"),
        SOURCE,
        *CUSTOMER_FIELDS,
    ),
    help="A tenant's Secure Score moved by 5 points or more from the day before.",
)
TRIGGERS = (DEVICE_NONCOMPLIANT, POLICY_CHANGED, SCORE_CHANGED)
