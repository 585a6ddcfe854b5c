"""Detections for tests, written the way an endpoint-security connector's sync writes them: sites linked through
``link_accounts`` (the matching a sync does), detections through ``write_detections``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select

from vectis.connectors.base import DetectionRecord
from vectis.devices.writer import links_of
from vectis.ingest.matching import Account, link_accounts, normalize_name
from vectis.models import Connection, Customer
from vectis.platform import db
from vectis.platform.crypto import Sealed
from vectis.security.writer import write_detections

EDR_VENDOR = "sentinelone"
NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass(frozen=True)
class Site:
    """A customer and its site at the endpoint-security tool."""

    tenant_id: int
    connection_id: int
    customer_id: int
    external_id: str
    name: str


def edr(app: Flask, tenant_id: int, config: dict[str, Any] | None = None, *, vendor: str = EDR_VENDOR) -> int:
    """The tenant's endpoint-security connection of ``vendor`` (made once; it creates no customers, so sites link by
    name)."""
    with app.app_context(), db.tenant_session(tenant_id) as s:
        found = s.scalar(select(Connection.id).where(Connection.vendor == vendor))
        if found is not None:
            return found
        connection = Connection(
            tenant_id=tenant_id, vendor=vendor, name=vendor.title(), config=Sealed.seal(tenant_id, config or {}),
            creates_customers=False,
        )  # fmt: skip
        s.add(connection)
        s.flush()
        return connection.id


def site(
    app: Flask, tenant_id: int, name: str | None = None, *, external_id: str | None = None, vendor: str = EDR_VENDOR
) -> Site:
    """A site (``external_id``, or a fresh one) linked, as a sync links it (by name), to a fresh customer of the same
    name."""
    connection_id = edr(app, tenant_id, vendor=vendor)
    with app.app_context(), db.tenant_session(tenant_id) as s:
        name = name or f"Shield Dental {uuid.uuid4().hex[:8]}"
        customer = Customer(tenant_id=tenant_id, name=name, normalized_name=normalize_name(name))
        s.add(customer)
        s.flush()
        connection = s.get(Connection, connection_id)
        assert connection is not None
        external_id = external_id or f"site-{uuid.uuid4().hex[:10]}"
        linked = link_accounts(s, connection, [Account(external_id, name)])
        assert linked[external_id].customer_id == customer.id
        return Site(tenant_id, connection_id, customer.id, external_id, name)


def detection(where: Site | None, title: str = "Trojan.GenericKD.4632", **fields: Any) -> DetectionRecord:
    """An open, high-severity detection on an endpoint of ``where``, detected an hour ago, unless told otherwise."""
    values: dict[str, Any] = {
        "external_id": uuid.uuid4().hex,
        "customer_external_id": where.external_id if where else None,
        "device_external_id": f"agent-{uuid.uuid4().hex[:8]}",
        "device_name": "FRONTDESK-01",
        "title": title,
        "severity": "high",
        "vendor_severity": "malicious",
        "status": "open",
        "vendor_status": "unresolved",
        "detected_at": NOW - timedelta(hours=1),
        "isolation": "connected",
        "classification": "Trojan",
        "file_path": r"C:\Users\reception\Downloads\invoice.exe",
        "file_hash": uuid.uuid4().hex + uuid.uuid4().hex,
        **fields,
    }
    return DetectionRecord(**values)


def write(app: Flask, where: Site, records: list[DetectionRecord]) -> dict[str, int]:
    """Write ``records`` as a sync of ``where``'s connection would."""
    with app.app_context(), db.tenant_session(where.tenant_id) as s:
        connection = s.get(Connection, where.connection_id)
        assert connection is not None
        return write_detections(s, connection, "SentinelOne", records, links_of(s, connection))
