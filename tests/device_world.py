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

from vectis.alerts.dedupe import Report, raise_alert
from vectis.connectors.base import DeviceRecord, TicketRecord
from vectis.devices.writer import upsert_devices
from vectis.ingest.matching import Account, link_accounts, normalize_name
from vectis.models import Alert, AlertState, Connection, Customer, CustomerLink, Linked, TimelineEvent
from vectis.platform import db
from vectis.platform.bulk import upsert
from vectis.platform.crypto import Sealed
from vectis.tickets.writer import write_tickets

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
        # From the clock now, not the module's NOW: a test reading "1 min ago" may run minutes after the import.
        "last_contact_at": datetime.now(UTC) - timedelta(minutes=1),
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


def org_of(app: Flask, tenant_id: int, customer_id: int) -> Org:
    """The RMM organisation linked to ``customer_id``: the one there is, or a new one linked as a sync links it."""
    connection_id = rmm(app, tenant_id)
    with app.app_context(), db.tenant_session(tenant_id) as s:
        found = s.execute(
            select(CustomerLink.external_id, Customer.name)
            .join(Customer, Customer.id == CustomerLink.customer_id)
            .where(CustomerLink.connection_id == connection_id, CustomerLink.customer_id == customer_id)
        ).first()
    if found is not None:
        return Org(tenant_id, connection_id, customer_id, found.external_id, found.name)
    return org(app, tenant_id, existing=customer_id)


# The servers the ConnectWise simulator's tickets name ("Disk space low on FS01"), so the device page finds some.
SERVERS = ("FS01", "DC01", "SQL01", "HV01", "APP02")


def aldridge_devices(app: Flask, tenant_id: int) -> tuple[int, dict[str, int]]:
    """Aldridge's devices at the RMM, written as its sync writes them, with alerts and timeline entries on FS01: the
    customer and device id by name. Safe to call again (every write is keyed)."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    with app.app_context(), db.tenant_session(tenant_id) as s:
        customer_id = s.scalar(
            select(Customer.id).where(Customer.name.like("Aldridge%"), Customer.parent_id.is_(None)).limit(1)
        )
    assert customer_id is not None
    organisation = org_of(app, tenant_id, customer_id)
    servers = [
        device(
            name, organisation, external_id=f"e2e-{name}", device_class="server", vendor_class="WINDOWS_SERVER",
            os_name="Windows Server 2022 Standard", make="Dell Inc.", model="PowerEdge R650", serial=f"7X{n}Q2K3",
            site="Head office", online=name != "APP02",
            last_contact_at=now - (timedelta(hours=26) if name == "APP02" else timedelta(minutes=n + 1)),
        )
        for n, name in enumerate(SERVERS)
    ]  # fmt: skip
    kinds = [("ALD-WS", "workstation", "WINDOWS_WORKSTATION", "Windows 11 Pro"),
             ("ALD-LT", "laptop", "WINDOWS_WORKSTATION", "Windows 11 Pro"),
             ("ALD-MAC", "mac", "MAC", "macOS 15.1 Sequoia")]  # fmt: skip
    endpoints = [
        device(
            f"{prefix}{n:02d}", organisation, external_id=f"e2e-{prefix}{n:02d}", device_class=kind, vendor_class=vendor,
            os_name=os_name, online=n % 5 != 3, site="Head office" if n % 2 else "Leeds branch",
            last_contact_at=now - (timedelta(days=n) if n % 5 == 3 else timedelta(minutes=2 * n)),
        )
        for prefix, kind, vendor, os_name in kinds
        for n in range(1, 9 if kind != "mac" else 3)
    ]  # fmt: skip
    ids = {name: ident for name, ident in zip(
        [r.name for r in servers + endpoints], write(app, tenant_id, servers + endpoints).values(), strict=True)}  # fmt: skip
    fs01, app02 = ids["FS01"], ids["APP02"]
    # The RMM's own alert ids, fresh each call: an earlier call's alerts outlive its devices when its test removes them.
    base = uuid.uuid4().int % 10**9 * 10
    reports = [
        Report("NinjaOne", "PATCH_FAILED", "warning", "rmm_alert", base + 3, "FS01",
               "2 of 14 patches failed to install (KB5044284, KB5043936)", now - timedelta(days=2), customer_id, fs01),
        Report("NinjaOne", "CPU", "warning", "rmm_alert", base + 2, "FS01", "CPU above 90 % for 15 minutes",
               now - timedelta(hours=3), customer_id, fs01),
        Report("NinjaOne", "DISK_FREE_SPACE", "warning", "rmm_alert", base + 1, "FS01",
               "D: has 6 % free (24 GB of 400 GB)", now - timedelta(minutes=14), customer_id, fs01),
        Report("Disk watch", "low_disk", "critical", "device", fs01, "FS01", "D: below 8 % free on a file server",
               now - timedelta(minutes=4), customer_id, fs01),
        Report("NinjaOne", "DEVICE_DOWN", "critical", "rmm_alert", base + 4, "APP02",
               "No contact from the agent for 26 hours", now - timedelta(hours=25), customer_id, app02),
    ]  # fmt: skip
    with app.app_context(), db.tenant_session(tenant_id) as s:
        raised = [raise_alert(s, tenant_id, r).alert for r in reports]
        patch = s.get(Alert, raised[0].id)
        assert patch is not None
        patch.state, patch.resolved_at, patch.resolved_by = (
            AlertState.RESOLVED.value,
            now - timedelta(days=1),
            "NinjaOne",
        )
        entries = [
            ("rmm.patch", "Patch cycle completed: 12 of 14 patches installed", "2 failed: KB5044284, KB5043936", "warning", timedelta(days=2)),
            ("rmm.antivirus", "Antivirus definitions updated", "Bitdefender 7.9.14.226", None, timedelta(hours=9)),
            ("rmm.condition", "Condition triggered: Disk free space below 10 % on D:", None, "error", timedelta(minutes=14)),
        ]  # fmt: skip
        upsert(
            s.connection(),
            TimelineEvent.__table__,  # type: ignore[arg-type]
            [
                {
                    "tenant_id": tenant_id,
                    "customer_id": customer_id,
                    "connection_id": organisation.connection_id,
                    "device_id": fs01,
                    "source": "NinjaOne",
                    "kind": kind,
                    "occurred_at": now - ago,
                    "title": title,
                    "detail": detail,
                    "severity": severity,
                    "dedup_key": f"e2e:{kind}:{fs01}",
                }
                for kind, title, detail, severity, ago in entries
            ],
            conflict=("tenant_id", "connection_id", "dedup_key"),
        )
        # A ticket naming the server, as a PSA's sync writes it (the simulator's Aldridge has none that does).
        psa = s.scalar(select(Connection).where(Connection.vendor == "connectwise"))
        link = s.scalar(
            select(CustomerLink.id).where(CustomerLink.connection_id == (psa.id if psa else 0),
                                         CustomerLink.customer_id == customer_id)
        )  # fmt: skip
        if psa is not None:
            ticket = TicketRecord(
                f"e2e-{fs01}", None, "FS01: D: drive almost full, staff cannot save to the shared drive", None, None,
                "New", False, now - timedelta(minutes=12), now - timedelta(minutes=12),
            )  # fmt: skip
            write_tickets(s, psa, [ticket], lambda _: Linked(link, customer_id))
    return customer_id, ids
