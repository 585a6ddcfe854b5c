"""Licence subscriptions for tests, written the way a distributor's sync writes them: the company linked through
``link_accounts`` (as a sync links it), the subscription through ``write_subscriptions``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from flask import Flask

from tests.security_world import site
from vectis.connectors.base import LicenceSubscriptionRecord
from vectis.devices.writer import links_of
from vectis.licensing.writer import write_subscriptions
from vectis.models import Connection
from vectis.platform import db


def a_subscription(app: Flask, tenant_id: int) -> int:
    """An active annual (NCE) subscription of a fresh customer's Pax8 company, for object-route tests to share."""
    where = site(app, tenant_id, vendor="pax8")
    record = LicenceSubscriptionRecord(
        external_id=f"route-{where.customer_id}", customer_external_id=where.external_id,
        product_name="Microsoft 365 Business Premium", product_external_id="product-route", sku="MST-M365-BP",
        quantity=10, unit_cost=Decimal("19.80"), unit_price=Decimal("22.00"), currency="USD", billing_term="annual",
        vendor_term="Annual", status="active", vendor_status="Active",
        commitment_ends_on=datetime.now(UTC).date() + timedelta(days=200),
    )  # fmt: skip
    with app.app_context(), db.tenant_session(tenant_id) as s:
        connection = s.get(Connection, where.connection_id)
        assert connection is not None
        return write_subscriptions(s, connection, "Pax8", [record], links_of(s, connection))[record.external_id]
