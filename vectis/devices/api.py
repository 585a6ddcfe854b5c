"""Devices on the REST API (and so as MCP tools): every RMM's devices by name, and one device with its alerts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field
from sqlalchemy import Row, select, tuple_

from vectis.actions.resources import Call, KeysetQuery, Page, Schema, id_shape, keyset, operation, page_of
from vectis.devices.queries import ALERTS_SHOWN, STATE_ORDER, URGENCY, open_alerts, source_label
from vectis.models import Alert, Connection, Customer, Device
from vectis.platform import public_ids

DeviceClass = Literal["workstation", "server", "laptop", "mac", "linux", "network", "virtual", "other"]


class DeviceOut(Schema):
    id: str = Field(description="Public id, dev_…")
    name: str
    customer_id: str | None = Field(description="cus_…; null while its RMM organisation is linked to no customer")
    customer_name: str | None
    site: str | None = Field(description="Its location within the organisation, as the RMM names it")
    device_class: DeviceClass = Field(description="Vectis's word for its kind, whatever the RMM calls it")
    vendor_class: str | None = Field(description="The RMM's own word for its kind (WINDOWS_SERVER, MAC, …)")
    os_name: str | None
    online: bool
    last_contact_at: datetime | None = Field(description="When it last checked in with its RMM")
    serial: str | None
    make: str | None
    model: str | None
    source: str = Field(description="The RMM it comes from, as people name it")
    open_alerts: int = Field(description="Its alerts in the open state")
    first_seen_at: datetime = Field(description="When Vectis first listed it")
    removed_at: datetime | None = Field(description="When its RMM stopped listing it; null while it still does")


class DeviceAlertOut(Schema):
    id: str = Field(description="Public id, alr_…")
    condition: str
    condition_class: str = Field(description="disk, cpu, memory, av, patch, offline, backup, network, service, other")
    severity: Literal["critical", "warning", "info"]
    status: Literal["open", "acknowledged", "muted", "resolved"]
    message: str
    sources: list[str] = Field(description="Every tool that reported it (alerts from several collapse into one)")
    first_seen_at: datetime
    last_seen_at: datetime


class DeviceDetailOut(DeviceOut):
    details: dict[str, Any] = Field(description="What the RMM tells beyond the fields above, as it said it")
    alerts: list[DeviceAlertOut] = Field(description=f"Open first, then by severity and newest; at most {ALERTS_SHOWN}")


class DeviceQuery(KeysetQuery):
    shape = (str, "device")
    customer_id: Annotated[str, id_shape("customer")] | None = Field(
        default=None, description="Only this customer's devices (cus_…)"
    )
    online: bool | None = Field(default=None, description="true: only those online; false: only those offline")
    device_class: DeviceClass | None = Field(default=None, description="Only devices of this class")
    removed: bool = Field(default=False, description="true: also those their RMM no longer lists")


_SHOWN = (
    Device.id, Device.name, Device.customer_id, Device.site, Device.device_class, Device.vendor_class, Device.os_name,
    Device.online, Device.last_contact_at, Device.serial, Device.make, Device.model, Device.first_seen_at,
    Device.removed_at, Connection.vendor, Connection.name.label("connection_name"), Customer.name.label("customer_name"),
)  # fmt: skip


def _out(d: Row[Any], alerts: int) -> dict[str, Any]:
    return {
        "id": public_ids.encode("device", d.id),
        "name": d.name,
        "customer_id": public_ids.encode("customer", d.customer_id) if d.customer_id else None,
        "customer_name": d.customer_name,
        "site": d.site,
        "device_class": d.device_class,
        "vendor_class": d.vendor_class,
        "os_name": d.os_name,
        "online": d.online,
        "last_contact_at": d.last_contact_at,
        "serial": d.serial,
        "make": d.make,
        "model": d.model,
        "source": source_label(d.vendor, d.connection_name),
        "open_alerts": alerts,
        "first_seen_at": d.first_seen_at,
        "removed_at": d.removed_at,
    }


def _read() -> Any:
    return (
        select(*_SHOWN)
        .join(Connection, Connection.id == Device.connection_id)
        .outerjoin(Customer, Customer.id == Device.customer_id)
    )


@operation(
    "GET", "/devices", scope="read", summary="List devices from every RMM, by name", tag="Devices",
    response=DeviceOut, query=DeviceQuery, paged=True,
)  # fmt: skip
def list_devices(call: Call) -> Page[DeviceOut]:
    """Each with its customer, class, OS, online state, last contact and open alert count; filter by customer,
    online state and class."""
    query: DeviceQuery = call.query
    statement = _read().order_by(Device.name, Device.id).limit(query.limit + 1)
    if query.customer_id:
        customer = public_ids.decode("customer", query.customer_id)
        if customer is None:
            return Page[DeviceOut](data=[], next_cursor=None)  # no such customer here: no devices of it
        statement = statement.where(Device.customer_id == customer)
    if query.online is not None:
        statement = statement.where(Device.online.is_(query.online))
    if query.device_class:
        statement = statement.where(Device.device_class == query.device_class)
    if not query.removed:
        statement = statement.where(Device.removed_at.is_(None))
    if after := query.after:
        statement = statement.where(tuple_(Device.name, Device.id) > tuple_(*after))
    found = call.session.execute(statement).all()
    counts = open_alerts(call.session, [d.id for d in found])
    rows = [DeviceOut(**_out(d, counts.get(d.id, (0, None))[0])) for d in found]
    return page_of(rows, query.limit, lambda d: keyset(d.name, d.id))


@operation(
    "GET", "/devices/{device_id}", scope="read", summary="Get a device with its alerts", tag="Devices",
    response=DeviceDetailOut,
)  # fmt: skip
def get_device(call: Call, device_id: int) -> DeviceDetailOut:
    """Its facts, what the RMM told beyond them, and its alerts, open first."""
    device = call.get(Device, device_id, "device")
    found = call.session.execute(_read().where(Device.id == device.id)).one()
    alerts = call.session.scalars(
        select(Alert)
        .where(Alert.device_id == device_id)
        .order_by(STATE_ORDER, URGENCY, Alert.last_seen_at.desc(), Alert.id.desc())
        .limit(ALERTS_SHOWN)
    ).all()
    listed = [
        DeviceAlertOut(
            id=public_ids.encode("alert", a.id),
            condition=a.condition,
            condition_class=a.condition_class,
            severity=a.severity,  # type: ignore[arg-type]
            status=a.state,  # type: ignore[arg-type]
            message=a.message,
            sources=list(a.details.get("sources") or [a.source]),
            first_seen_at=a.first_seen_at,
            last_seen_at=a.last_seen_at,
        )
        for a in alerts
    ]
    counted = open_alerts(call.session, [device.id]).get(device.id, (0, None))[0]
    return DeviceDetailOut(**_out(found, counted), details=dict(device.details or {}), alerts=listed)
