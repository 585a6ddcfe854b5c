"""Detections on the REST API (and so as MCP tools): every endpoint-security tool's detections, newest first, and the
response actions on one (isolate its endpoint, release it, resolve it, mark it a false positive), each through the
same verb the Security page uses."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field
from sqlalchemy import Row, select, tuple_

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
from vectis.connectors import registry
from vectis.models import Connection, Customer
from vectis.models.security import Detection
from vectis.platform import public_ids
from vectis.security.queries import remediation_label, remediations_of

Severity = Literal["critical", "high", "medium", "low"]
Status = Literal["open", "in_progress", "resolved"]


class RemediationOut(Schema):
    action: str = Field(description="What it does, in the tool's words")
    type: str | None = Field(description="The tool's kind of remediation (file, registry, scheduled_task, …)")
    status: str | None = Field(description="At the tool: unapproved (awaits your approval there), approved, completed")


class DetectionOut(Schema):
    id: str = Field(description="Public id, det_…")
    title: str = Field(description="What the tool found")
    severity: Severity = Field(description="Vectis's word for how bad, whatever the tool calls it")
    vendor_severity: str = Field(description="The tool's own word for it (SentinelOne's confidence: malicious, …)")
    status: Status
    vendor_status: str
    verdict: Literal["true_positive", "false_positive", "suspicious"] | None = Field(
        description="The analyst verdict at the tool; null while nobody has judged it"
    )
    isolation: Literal["connected", "isolating", "isolated", "releasing"] | None = Field(
        description="Its endpoint's network state as last read: isolating and releasing wait for the tool to confirm"
    )
    device_name: str | None
    device_id: str | None = Field(description="dev_…: the RMM device of the same name at the same customer")
    customer_id: str | None = Field(description="cus_…; null while the tool's site is linked to no customer")
    customer_name: str | None
    classification: str | None
    file_path: str | None
    file_hash: str | None
    source: str = Field(description="The tool it comes from, as people name it")
    detected_at: datetime
    remediations: list[RemediationOut] = Field(
        default_factory=list,
        description="What the tool's analysts propose doing on the endpoint (Huntress); resolving waits for approval",
    )


class DetectionQuery(KeysetQuery):
    shape = (datetime, "detection")
    status: Status | None = Field(default=None, description="Only detections in this status")
    severity: Severity | None = None
    customer_id: Annotated[str, id_shape("customer")] | None = Field(
        default=None, description="Only this customer's detections (cus_…)"
    )


class IsolateIn(Schema):
    comment: str = Field(default="", max_length=500, description="Sent to the tool with the request")
    mode: Literal["Full", "Selective"] | None = Field(
        default=None,
        description="Microsoft Defender only: Full (its default: the device talks to Defender only) or Selective "
        "(Outlook, Teams and Skype keep working); the other tools isolate one way",
    )


class FalsePositiveIn(Schema):
    reason: str = Field(min_length=1, max_length=2000, description="Why it is not a threat: kept with the suppression")
    scope: Literal["hash", "path", "device", "customer"] | None = Field(
        default=None,
        description="What the suppression matches: the file hash (the default when there is one), the file path, "
        "the endpoint, or every detection of the customer",
    )
    days: int | None = Field(default=None, ge=1, le=365, description="How long it lasts; null: until removed")


_SHOWN = (
    Detection.id, Detection.title, Detection.severity, Detection.vendor_severity, Detection.status,
    Detection.vendor_status, Detection.verdict, Detection.isolation, Detection.device_name, Detection.device_id,
    Detection.customer_id, Detection.classification, Detection.file_path, Detection.file_hash, Detection.detected_at,
    Connection.vendor, Customer.name.label("customer_name"), Detection.details["remediations"].label("remediations"),
)  # fmt: skip


def _out(d: Row[Any]) -> DetectionOut:
    return DetectionOut(
        id=public_ids.encode("detection", d.id),
        title=d.title,
        severity=d.severity,
        vendor_severity=d.vendor_severity,
        status=d.status,
        vendor_status=d.vendor_status,
        verdict=d.verdict,
        isolation=d.isolation,
        device_name=d.device_name,
        device_id=public_ids.encode("device", d.device_id) if d.device_id else None,
        customer_id=public_ids.encode("customer", d.customer_id) if d.customer_id else None,
        customer_name=d.customer_name,
        classification=d.classification,
        file_path=d.file_path,
        file_hash=d.file_hash,
        source=registry.label(d.vendor),
        detected_at=d.detected_at,
        remediations=_remediations(d),
    )


def _remediations(row: Row[Any]) -> list[RemediationOut]:
    return [
        RemediationOut(action=remediation_label(r), type=r.get("type"), status=r.get("status"))
        for r in remediations_of(row)
    ]


def _read() -> Any:
    return (
        select(*_SHOWN)
        .join(Connection, Connection.id == Detection.connection_id)
        .outerjoin(Customer, Customer.id == Detection.customer_id)
    )


@operation(
    "GET", "/detections", scope="read", summary="List endpoint-security detections, newest first", tag="Security",
    response=DetectionOut, query=DetectionQuery, paged=True,
)  # fmt: skip
def list_detections(call: Call) -> Page[DetectionOut]:
    """Each with its severity (critical, high, medium, low), vendor, endpoint, customer, status and the endpoint's
    isolation; filter by status, severity and customer."""
    query: DetectionQuery = call.query
    statement = _read().order_by(Detection.detected_at.desc(), Detection.id.desc()).limit(query.limit + 1)
    if query.customer_id:
        customer = public_ids.decode("customer", query.customer_id)
        if customer is None:
            return Page[DetectionOut](data=[], next_cursor=None)
        statement = statement.where(Detection.customer_id == customer)
    if query.status:
        statement = statement.where(Detection.status == query.status)
    if query.severity:
        statement = statement.where(Detection.severity == query.severity)
    if after := query.after:
        statement = statement.where(tuple_(Detection.detected_at, Detection.id) < tuple_(*after))
    rows = [_out(d) for d in call.session.execute(statement)]
    return page_of(rows, query.limit, lambda d: keyset(d.detected_at, d.id))


@operation(
    "GET", "/detections/{detection_id}", scope="read", summary="Get a detection", tag="Security",
    response=DetectionOut,
)  # fmt: skip
def get_detection(call: Call, detection_id: int) -> DetectionOut:
    found = call.get(Detection, detection_id, "detection")
    return _out(call.session.execute(_read().where(Detection.id == found.id)).one())


def _detection_action(call: Call, verb: str, detection_id: int, payload: dict[str, Any]) -> ActionOut:
    found = call.get(Detection, detection_id, "detection")
    on = f" on {found.device_name}" if found.device_name else ""
    return act(call, verb, Target("detection", str(found.id), f"{found.title}{on}"), payload)


@operation(
    "POST", "/detections/{detection_id}/isolate", scope="write:security", summary="Isolate the detection's endpoint",
    tag="Security", response=ActionOut, query=ActionQuery, body=IsolateIn, tool="isolate_endpoint",
)  # fmt: skip
def isolate_endpoint(call: Call, detection_id: int) -> ActionOut:
    """Cut the endpoint off the network at the tool that reported the detection; nothing is sent for one already
    isolated or pending. The tool confirms in its own time: get_detection shows isolating, then isolated."""
    body: IsolateIn = call.body or IsolateIn()
    payload = {"comment": body.comment, **({"mode": body.mode} if body.mode else {})}
    return _detection_action(call, "detection.isolate", detection_id, payload)


@operation(
    "POST", "/detections/{detection_id}/release", scope="write:security", summary="Release an isolated endpoint",
    tag="Security", response=ActionOut, query=ActionQuery, body=IsolateIn, tool="release_endpoint",
)  # fmt: skip
def release_endpoint(call: Call, detection_id: int) -> ActionOut:
    body: IsolateIn = call.body
    return _detection_action(call, "detection.release", detection_id, {"comment": body.comment})


@operation(
    "POST", "/detections/{detection_id}/resolve", scope="write:security", summary="Resolve a detection",
    tag="Security", response=ActionOut, query=ActionQuery,
)  # fmt: skip
def resolve_detection(call: Call, detection_id: int) -> ActionOut:
    return _detection_action(call, "detection.resolve", detection_id, {})


@operation(
    "POST", "/detections/{detection_id}/false-positive", scope="write:security",
    summary="Mark a detection a false positive", tag="Security", response=ActionOut, query=ActionQuery,
    body=FalsePositiveIn,
)  # fmt: skip
def mark_false_positive(call: Call, detection_id: int) -> ActionOut:
    """At the tool, and Vectis keeps a suppression with the reason, which rules read ("no existing suppression")."""
    body: FalsePositiveIn = call.body
    payload = {"reason": body.reason, "scope": body.scope or "", "days": str(body.days or "")}
    return _detection_action(call, "detection.false_positive", detection_id, payload)
