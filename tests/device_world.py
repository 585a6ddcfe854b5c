"""Devices for tests and benchmarks, written the way an RMM connector's sync writes them: organisations through
``link_accounts`` (the matching a sync does), devices through ``upsert_devices``. No raw SQL where a writer exists."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select

from vectis.connectors.base import DeviceRecord
from vectis.devices.writer import upsert_devices
from vectis.ingest.matching import Account, link_accounts, normalize_name
from vectis.models import Connection, Customer
from vectis.platform import db
from vectis.platform.crypto import Sealed

RMM_VENDOR = "ninjaone"
NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass(frozen=True)
class Org:
    """A customer and its organisation at the RMM."""

    tenant_id: int
    connection_id: int
    customer_id: int
    external_id: str
    name: str


def rmm(app: Flask, tenant_id: int) -> int:
    """The tenant's RMM connection (made once; it creates no customers, so organisations link by name)."""
    with app.app_context(), db.tenant_session(tenant_id) as s:
        found = s.scalar(select(Connection.id).where(Connection.vendor == RMM_VENDOR))
        if found is not None:
            return found
        connection = Connection(
            tenant_id=tenant_id, vendor=RMM_VENDOR, name="NinjaOne", config=Sealed.seal(tenant_id, {}),
            creates_customers=False,
        )  # fmt: skip
        s.add(connection)
        s.flush()
        return connection.id


def org(
    app: Flask, tenant_id: int, name: str | None = None, *, parent_id: int | None = None, existing: int | None = None
) -> Org:
    """An RMM organisation linked, as a sync links it (by name), to a fresh customer of the same name, or to the
    ``existing`` customer."""
    connection_id = rmm(app, tenant_id)
    with app.app_context(), db.tenant_session(tenant_id) as s:
        customer = s.get(Customer, existing) if existing else None
        if customer is None:
            name = name or f"Device Dental {uuid.uuid4().hex[:8]}"
            customer = Customer(
                tenant_id=tenant_id, name=name, normalized_name=normalize_name(name), parent_id=parent_id
            )
            s.add(customer)
            s.flush()
        name = customer.name
        connection = s.get(Connection, connection_id)
        assert connection is not None
        external_id = f"org-{uuid.uuid4().hex[:10]}"
        linked = link_accounts(s, connection, [Account(external_id, name)])
        assert linked[external_id].customer_id == customer.id
        return Org(tenant_id, connection_id, customer.id, external_id, name)


def device(name: str, organisation: Org | str | None, **fields: Any) -> DeviceRecord:
    """A device as an RMM lists it: online, contacted a minute ago, unless told otherwise."""
    external = organisation.external_id if isinstance(organisation, Org) else organisation
    values: dict[str, Any] = {
        "external_id": f"dev-{name}",
        "device_class": "workstation",
        "vendor_class": "WINDOWS_WORKSTATION",
        "os_name": "Windows 11 Pro",
        "online": True,
        "last_contact_at": NOW - timedelta(minutes=1),
        **fields,
    }
    return DeviceRecord(customer_external_id=external, name=name, **values)


def write(app: Flask, tenant_id: int, records: Sequence[DeviceRecord], *, run_id: int | None = None) -> dict[str, int]:
    """The RMM's page written as its sync writes it; returns device id by the RMM's id."""
    with app.app_context(), db.tenant_session(tenant_id) as s:
        connection = s.get(Connection, rmm(app, tenant_id))
        assert connection is not None
        return upsert_devices(s, connection, records, run_id=run_id)


def fleet(app: Flask, organisation: Org, count: int, *, offline_every: int = 7, prefix: str = "WS") -> dict[str, int]:
    """``count`` devices of one organisation (every ``offline_every``-th offline, a few servers and laptops)."""
    classes = ("workstation", "workstation", "laptop", "server", "mac", "virtual")
    records = [
        device(
            f"{prefix}-{n:04d}",
            organisation,
            external_id=f"{organisation.external_id}-{prefix}-{n}",
            device_class=classes[n % len(classes)],
            online=n % offline_every != 0,
            last_contact_at=NOW - timedelta(minutes=n % 600),
            serial=f"SN{n:06d}",
        )
        for n in range(1, count + 1)
    ]
    written: dict[str, int] = {}
    for start in range(0, len(records), 500):  # as a sync writes them: a page at a time
        written |= write(app, organisation.tenant_id, records[start : start + 500])
    return written
