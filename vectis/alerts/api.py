"""Alerts on the REST API: the list, by status and severity, newest first."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter
from sqlalchemy import BigInteger, DateTime, Executable, Integer, String, bindparam, select, tuple_

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


_ROWS: TypeAdapter[list[AlertOut]] = TypeAdapter(list[AlertOut])


def _cursor(alert: AlertOut) -> str:
    return keyset(alert.last_seen_at, alert.id)


# The columns the answer shows, not the entity (its JSON details, decoded for nothing, cost more than the query).
_SHOWN = (
    Alert.id, Alert.subject_label, Alert.message, Alert.condition, Alert.customer_id, Alert.severity, Alert.state,
    Alert.source, Alert.first_seen_at, Alert.last_seen_at, Alert.ticket_id, Customer.name,
)  # fmt: skip


@functools.cache
def _listing(status: bool, severity: bool, customer: bool, after: bool) -> Executable:
    """The list's statement for one set of filters, made once, its values parameters: the same statement at each
    call lets SQLAlchemy reuse its compiled form and its result's columns, where one built anew cost the call more
    than PostgreSQL spends on its rows (bench/api.py)."""
    statement = (
        select(*_SHOWN)
        .outerjoin(Customer, Customer.id == Alert.customer_id)
        .order_by(Alert.last_seen_at.desc(), Alert.id.desc())
        .limit(bindparam("limit", type_=Integer))
    )
    if status:
        statement = statement.where(Alert.state == bindparam("status", type_=String))
    if severity:
        statement = statement.where(Alert.severity == bindparam("severity", type_=String))
    if customer:
        statement = statement.where(Alert.customer_id == bindparam("customer", type_=BigInteger))
    if after:
        at, key = bindparam("after_at", type_=DateTime(timezone=True)), bindparam("after_id", type_=BigInteger)
        statement = statement.where(tuple_(Alert.last_seen_at, Alert.id) < tuple_(at, key))
    return statement


@operation(
    "GET", "/alerts", scope="read", summary="List alerts, newest first", tag="Alerts", response=AlertOut,
    query=AlertQuery, paged=True,
)  # fmt: skip
def list_alerts(call: Call) -> Page[AlertOut]:
    """Each with its title, customer name, severity, status and source."""
    query: AlertQuery = call.query
    values: dict[str, Any] = {"limit": query.limit + 1, "status": query.status, "severity": query.severity}
    if query.customer_id:
        values["customer"] = public_ids.decode("customer", query.customer_id)
        if values["customer"] is None:
            return Page[AlertOut](data=[], next_cursor=None)  # no such customer here: no alerts of it
    if after := query.after:
        values["after_at"], values["after_id"] = after
    statement = _listing(bool(query.status), bool(query.severity), bool(query.customer_id), after is not None)
    encode = public_ids.codec().encode  # once, not three times a row through the app context
    # The page's rows as plain values, checked into models by one call: fifty models made one by one, their columns
    # read by name, cost a call more than PostgreSQL spends on its rows (bench/api.py).
    found: Sequence[Any] = call.rows(statement, values).all()
    rows = _ROWS.validate_python(
        [
            {
                "id": encode("alert", key),
                "title": f"{label}: {message.splitlines()[0][:200] if message else condition}",
                "customer_id": encode("customer", customer) if customer else None,
                "customer_name": name,
                "severity": severity,
                "status": state,
                "source": source,
                "condition": condition,
                "message": message,
                "first_seen_at": first_seen,
                "last_seen_at": last_seen,
                "ticket_id": encode("ticket", ticket) if ticket else None,
            }
            for key, label, message, condition, customer, severity, state, source, first_seen, last_seen, ticket, name in found
        ]
    )
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
