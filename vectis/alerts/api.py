"""Alerts on the REST API: the list, by status and severity, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field
from sqlalchemy import select, tuple_

from vectis.actions.resources import (
    ActionOut,
    ActionQuery,
    Call,
    KeysetQuery,
    Page,
    Schema,
    act,
    id_shape,
    keyset,
    operation,
    page_of,
)
from vectis.audit.actors import Target
from vectis.models import Alert, Customer
from vectis.platform import public_ids


class AlertOut(Schema):
    id: str = Field(description="Public id, alr_…")
    title: str = Field(description="What is wrong, on what")
    customer_id: str | None
    customer_name: str | None
    severity: Literal["critical", "warning", "info"]
    status: Literal["open", "acknowledged", "muted", "resolved"]
    source: str
    condition: str
    message: str
    first_seen_at: datetime
    last_seen_at: datetime
    ticket_id: str | None


class AlertQuery(KeysetQuery):
    shape = (datetime, "alert")

    status: Literal["open", "acknowledged", "muted", "resolved"] | None = None
    severity: Literal["critical", "warning", "info"] | None = None
    customer_id: Annotated[str, id_shape("customer")] | None = Field(
        default=None, description="Only this customer's alerts"
    )


def _cursor(alert: AlertOut) -> str:
    return keyset(alert.last_seen_at, alert.id)


# The columns the answer shows, not the entity (its JSON details, decoded for nothing, cost more than the query),
# built once: each call adds its filters and its limit.
_SHOWN = (
    Alert.id, Alert.subject_label, Alert.message, Alert.condition, Alert.customer_id, Alert.severity, Alert.state,
    Alert.source, Alert.first_seen_at, Alert.last_seen_at, Alert.ticket_id, Customer.name,
)  # fmt: skip
_LISTED = (
    select(*_SHOWN)
    .outerjoin(Customer, Customer.id == Alert.customer_id)
    .order_by(Alert.last_seen_at.desc(), Alert.id.desc())
)


@operation(
    "GET", "/alerts", scope="read", summary="List alerts, newest first", tag="Alerts", response=AlertOut,
    query=AlertQuery, paged=True,
)  # fmt: skip
def list_alerts(call: Call) -> Page[AlertOut]:
    """Each with its title, customer name, severity, status and source."""
    query: AlertQuery = call.query
    statement = _LISTED.limit(query.limit + 1)
    if query.status:
        statement = statement.where(Alert.state == query.status)
    if query.severity:
        statement = statement.where(Alert.severity == query.severity)
    if query.customer_id:
        customer = public_ids.decode("customer", query.customer_id)
        if customer is None:
            return Page[AlertOut](data=[], next_cursor=None)  # no such customer here: no alerts of it
        statement = statement.where(Alert.customer_id == customer)
    if after := query.after:
        statement = statement.where(tuple_(Alert.last_seen_at, Alert.id) < tuple_(*after))
    encode = public_ids.codec().encode  # once, not three times a row through the app context
    rows = [
        AlertOut(
            id=encode("alert", a.id),
            title=f"{a.subject_label}: {a.message.splitlines()[0][:200] if a.message else a.condition}",
            customer_id=encode("customer", a.customer_id) if a.customer_id else None,
            customer_name=a.name,
            severity=a.severity,
            status=a.state,
            source=a.source,
            condition=a.condition,
            message=a.message,
            first_seen_at=a.first_seen_at,
            last_seen_at=a.last_seen_at,
            ticket_id=encode("ticket", a.ticket_id) if a.ticket_id else None,
        )
        for a in call.rows(statement)
    ]
    return page_of(rows, query.limit, _cursor)


def _alert_action(call: Call, verb: str, alert_id: int) -> ActionOut:
    alert = call.get(Alert, alert_id, "alert")
    return act(call, verb, Target("alert", str(alert.id), alert.subject_label), {})


@operation(
    "POST", "/alerts/{alert_id}/acknowledge", scope="write:alerts", summary="Acknowledge an alert", tag="Alerts",
    response=ActionOut, query=ActionQuery,
)  # fmt: skip
def acknowledge_alert(call: Call, alert_id: int) -> ActionOut:
    return _alert_action(call, "alert.acknowledge", alert_id)


@operation(
    "POST", "/alerts/{alert_id}/resolve", scope="write:alerts", summary="Resolve an alert", tag="Alerts",
    response=ActionOut, query=ActionQuery,
)  # fmt: skip
def resolve_alert(call: Call, alert_id: int) -> ActionOut:
    return _alert_action(call, "alert.resolve", alert_id)
