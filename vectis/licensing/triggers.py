"""The rules' trigger for licensing: a subscription's seats changed at the distributor (from Vectis, from its portal,
from a renewal), whatever the distributor."""

from __future__ import annotations

from vectis.events.fields import Field
from vectis.events.triggers import CUSTOMER_FIELDS, SOURCE, Trigger

TERM_CHOICES = (
    ("monthly", "Monthly"), ("annual", "Annual (NCE)"), ("2-year", "2-year (NCE)"), ("3-year", "3-year (NCE)"),
    ("one-time", "One-time"), ("trial", "Trial"), ("other", "Other"),
)  # fmt: skip
SUBSCRIPTION_FIELDS = (
    Field("subscription.product", "Product", "text"),
    Field("subscription.sku", "SKU", "text"),
    Field("subscription.seats", "Seats now", "number"),
    Field("subscription.seats_before", "Seats before", "number"),
    Field("subscription.change", "Change in seats", "number"),
    Field("subscription.term", "Term", "enum", TERM_CHOICES),
    SOURCE,
    *CUSTOMER_FIELDS,
)
SEATS_CHANGED = Trigger(
    "licensing.seats_changed",
    "Licence seats changed",
    "license_subscription",
    SUBSCRIPTION_FIELDS,
    help="A distributor (Pax8) reports a subscription with a different number of seats than Vectis last read: changed "
    "from Vectis, in the distributor's portal, or at a renewal. Not for a subscription Vectis sees for the first time.",
)
TRIGGERS = (SEATS_CHANGED,)
