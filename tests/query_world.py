"""A small, exactly known world for the query builder's tests, in both tenants.

Every customer's name starts with the same marker, so a test's conditions can keep to this world however many
other rows earlier tests left in the worker's database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from flask import Flask
from sqlalchemy import delete, func, select

from vectis.models import (
    BackupConnector,
    BackupConnectorStatus,
    BackupRun,
    Connection,
    Contract,
    ContractLineItem,
    Customer,
    Ticket,
    TicketNote,
)
from vectis.platform import db
from vectis.platform.crypto import Sealed

MARK = "QW "
NOW = datetime.now(UTC).replace(microsecond=0)
TODAY = NOW.date()


@dataclass(frozen=True)
class World:
    tenant_id: int
    customers: dict[str, int]  # name without the marker -> id


def _connection(s: db.TenantSession, tenant_id: int, vendor: str) -> int:
    found = s.scalar(select(Connection.id).where(Connection.vendor == vendor))
    if found is not None:
        return found
    connection = Connection(tenant_id=tenant_id, vendor=vendor, name=vendor.title(), config=Sealed.seal(tenant_id, {}))
    s.add(connection)
    s.flush()
    return connection.id


def _contract(
    s: db.TenantSession,
    tenant_id: int,
    psa: int,
    customer_id: int,
    name: str,
    ends_in: int,
    monthly: str,
    **more: object,
) -> Contract:
    contract = Contract(
        tenant_id=tenant_id,
        connection_id=psa,
        customer_id=customer_id,
        external_id=f"{customer_id}-{name}",
        name=name,
        contract_type="Managed Services",
        status=more.pop("status", "active"),
        starts_on=TODAY - timedelta(days=300),
        ends_on=TODAY + timedelta(days=ends_in),
        billing_cycle="Monthly",
        bill_amount=Decimal(monthly),
        monthly_value=Decimal(monthly),
        currency="USD",
        vendor_updated_at=NOW,
    )
    s.add(contract)
    s.flush()
    return contract


def _job(
    s: db.TenantSession, tenant_id: int, backup: int, customer_id: int, name: str, runs: list[tuple[int, str]]
) -> None:
    """A job with its runs ``(days ago, state)``; its status is its latest run."""
    job = BackupConnector(
        tenant_id=tenant_id,
        connection_id=backup,
        customer_id=customer_id,
        external_id=f"{customer_id}-{name}",
        name=name,
        kind="Backup",
        vendor_type="BackupVm",
    )
    s.add(job)
    s.flush()
    for n, (days_ago, state) in enumerate(runs):
        started = NOW - timedelta(days=days_ago)
        s.add(
            BackupRun(
                tenant_id=tenant_id,
                backup_connector_id=job.id,
                run_key=f"run-{n}",
                state=state,
                vendor_status=state.title(),
                started_at=started,
                ended_at=started + timedelta(minutes=30),
                duration_seconds=1800,
            )
        )
    latest_days, latest_state = min(runs)
    s.add(
        BackupConnectorStatus(
            tenant_id=tenant_id,
            backup_connector_id=job.id,
            state=latest_state,
            vendor_status=latest_state.title(),
            last_attempt_at=NOW - timedelta(days=latest_days),
            consecutive_failures=1 if latest_state == "failed" else 0,
        )
    )


def _ticket(
    s: db.TenantSession,
    tenant_id: int,
    psa: int,
    customer_id: int,
    number: str,
    summary: str,
    *,
    closed: bool,
    days_ago: int,
) -> Ticket:
    opened = NOW - timedelta(days=days_ago)
    ticket = Ticket(
        tenant_id=tenant_id,
        connection_id=psa,
        customer_id=customer_id,
        external_id=number,
        summary=summary,
        status_name="Closed" if closed else "In Progress",
        closed=closed,
        priority="P3",
        opened_at=opened,
        closed_at=opened + timedelta(hours=5) if closed else None,
        vendor_updated_at=opened,
    )
    s.add(ticket)
    s.flush()
    return ticket


def world(app: Flask, tenant_id: int, secret: bool = False) -> World:
    """Three customers (or, with ``secret``, the other tenant's one customer whose rows must never show): made once,
    and made again after a vendor test has removed the tenant's connections and customers (``forget_synced``)."""
    names = ["Northwind Secret"] if secret else ["Aldridge & Co.", "Bayside Bistro", "Coast Logistics"]
    with app.app_context(), db.tenant_session(tenant_id) as s:
        found: dict[str, int] = dict(
            s.execute(select(Customer.name, Customer.id).where(Customer.name.in_([MARK + n for n in names]))).all()
        )
        whole = s.scalar(
            select(func.count()).select_from(Connection).where(Connection.vendor.in_(["qw-psa", "qw-backup"]))
        )
        if len(found) == len(names) and whole == 2:
            return World(tenant_id, {n: found[MARK + n] for n in names})
        # Half a world (a test removed the tenant's connections, and with them the contracts, jobs and tickets):
        # made again from nothing.
        s.execute(delete(Customer).where(Customer.id.in_(list(found.values()))))
        s.execute(delete(Connection).where(Connection.vendor.in_(["qw-psa", "qw-backup"])))
        # Connections of their own: a vendor test may add the tenant's one ConnectWise or Veeam connection later.
        psa, backup = _connection(s, tenant_id, "qw-psa"), _connection(s, tenant_id, "qw-backup")
        ids: dict[str, int] = {}
        for name in names:
            customer = Customer(
                tenant_id=tenant_id, name=MARK + name, normalized_name=(MARK + name).lower(), location="Leeds"
            )
            s.add(customer)
            s.flush()
            ids[name] = customer.id
        if secret:
            c = ids["Northwind Secret"]
            _contract(s, tenant_id, psa, c, "Secret MSA", 5, "99999")
            _job(s, tenant_id, backup, c, "Secret DC", [(1, "failed")])
            _ticket(s, tenant_id, psa, c, "NW-1", "Secret printer", closed=False, days_ago=1)
            return World(tenant_id, ids)
        a, b, c = ids["Aldridge & Co."], ids["Bayside Bistro"], ids["Coast Logistics"]
        msa = _contract(s, tenant_id, psa, a, "Aldridge MSA", 12, "3200")
        _contract(s, tenant_id, psa, a, "Aldridge Backup", 40, "1000")
        _contract(s, tenant_id, psa, b, "Bayside MSA", 21, "1400")
        _contract(s, tenant_id, psa, b, "Bayside Old", -30, "500", status="expired")
        s.add_all(
            [
                ContractLineItem(tenant_id=tenant_id, contract_id=msa.id, external_id="l1", product="Managed seat",
                                 quantity=Decimal(20), unit_price=Decimal("150"), amount=Decimal("3000")),
                ContractLineItem(tenant_id=tenant_id, contract_id=msa.id, external_id="l2", product="Onboarding",
                                 quantity=Decimal(1), unit_price=Decimal("200"), amount=Decimal("200"), recurring=False),
            ]
        )  # fmt: skip
        _job(s, tenant_id, backup, a, "Aldridge FS01", [(1, "success"), (2, "failed"), (4, "failed")])
        _job(s, tenant_id, backup, b, "Bayside POS", [(1, "success"), (3, "success")])
        _job(s, tenant_id, backup, c, "Coast DC01", [(1, "failed"), (8, "warning")])
        first = _ticket(s, tenant_id, psa, a, "QW-1", "Printer offline", closed=False, days_ago=2)
        _ticket(s, tenant_id, psa, a, "QW-2", "New starter_account 100%", closed=False, days_ago=10)
        _ticket(s, tenant_id, psa, a, "QW-3", "VPN drops", closed=True, days_ago=40)
        _ticket(s, tenant_id, psa, b, "QW-4", "Till frozen", closed=True, days_ago=3)
        s.add(TicketNote(tenant_id=tenant_id, ticket_id=first.id, external_id="n1", body="Rebooted the spooler",
                         author="Sam", written_at=NOW - timedelta(days=1)))  # fmt: skip
        return World(tenant_id, ids)


def only_world(*items: dict[str, object]) -> dict[str, object]:
    """A top group keeping to the world's customers, with ``items`` beside that condition."""
    return {
        "type": "group",
        "match": "all",
        "items": [{"type": "leaf", "field": "customers.name", "op": "starts_with", "value": MARK}, *items],
    }


def day(offset: int) -> date:
    return TODAY + timedelta(days=offset)
