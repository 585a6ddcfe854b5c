"""Licence subscriptions (and the PSA contracts that bill them) for tests, written the way the syncs write them: the company linked through
``link_accounts`` (as a sync links it), the subscription through ``write_subscriptions``."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from flask import Flask
from sqlalchemy import select

from tests.security_world import site
from vectis.connectors.base import ContractLineRecord, ContractRecord, LicenceSubscriptionRecord
from vectis.contracts.writer import write_contracts
from vectis.devices.writer import links_of
from vectis.ingest.matching import Account, link_accounts
from vectis.licensing.writer import write_subscriptions
from vectis.models import Connection, CustomerLink
from vectis.platform import db
from vectis.platform.crypto import Sealed


def a_contract_billing(
    app: Flask, tenant_id: int, customer_link_id: int | None, product: str, seats: int, amount: str
) -> None:
    """A PSA contract billing ``seats`` of ``product`` a month for the customer a subscription's company is linked to,
    written as a PSA sync writes it: what the Licensing tab finds the revenue beside the cost in."""
    with app.app_context(), db.tenant_session(tenant_id) as s:
        psa = s.scalar(select(Connection).where(Connection.vendor == "connectwise"))
        if psa is None:
            psa = Connection(tenant_id=tenant_id, vendor="connectwise", name="ConnectWise",
                             config=Sealed.seal(tenant_id, {}), creates_customers=False)  # fmt: skip
            s.add(psa)
            s.flush()
        name = s.scalar(select(CustomerLink.external_name).where(CustomerLink.id == customer_link_id))
        link_accounts(s, psa, [Account(f"cw-{customer_link_id}", str(name))])
        record = ContractRecord(
            f"agr-{customer_link_id}", f"cw-{customer_link_id}", "Microsoft 365", "Managed", "active", "Active",
            date(2026, 1, 1), None, datetime.now(UTC), billing_cycle="Monthly", cycles_per_year=Decimal(12),
            bill_amount=Decimal(amount), currency="USD",
            lines=(ContractLineRecord(f"line-{customer_link_id}", "M365-BP", product, Decimal(seats), None,
                                      Decimal(amount)),),
        )  # fmt: skip
        write_contracts(s, psa, [record], links_of(s, psa))


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
