"""The audit log on the REST API, for a token with the ``admin`` scope: newest first, by action, actor and moment.

It lives here, not in ``vectis/audit``: the layers (.importlinter) put the audit package below the registry
(``vectis.actions.resources``, which itself imports ``vectis.audit.actors``), so the audit package cannot declare an
operation. Of the packages above the registry, ``vectis.events`` (the rules' event stream) is lower but unrelated;
identity is the next, and the log is about its things: its actors are identity's users, and the ``admin`` scope that
reads it is identity's tokens'.

An entry's ids go out as public ids where the kind has one; a row key of any other kind (a workspace's) is left out,
and so is the payload, whose ids are row keys in shapes only each verb knows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

from pydantic import Field
from sqlalchemy import select

from vectis.actions.resources import Call, KeysetQuery, Moment, Page, Schema, keyset, operation, page_of
from vectis.models import AuditEntry
from vectis.platform import params, public_ids

# An audit row's actor or target type -> the kind of public id its id is.
KINDS: Final = {
    "alert": "alert",
    "api_token": "token",
    "connection": "connection",
    "customer": "customer",
    "customer_link": "link",
    "customer_note": "note",
    "detection": "detection",
    "license_subscription": "subscription",
    "portal_user": "portal_user",
    "rule": "rule",
    "saved_query": "saved_query",
    "ticket": "ticket",
    "token": "token",
    "user": "user",
}
_ACTORS: Final = ("user", "rule", "token")


def _public(type_: str, key: str | None) -> str | None:
    """The public id of an audit row's actor or target; other text as written; None for a row key of no kind."""
    if key is None:
        return None
    number = params.integer(key, low=1)
    if number is None:
        return key  # a vendor's key, an email, a query's hash: no row key
    return public_ids.encode(KINDS[type_], number) if type_ in KINDS else None


class AuditEntryOut(Schema):
    seq: int = Field(description="The entry's number in this workspace's hash chain")
    occurred_at: datetime
    actor_type: str = Field(description="user, token, rule, system or anonymous")
    actor_id: str | None = Field(description="usr_… for a user, rul_… for a rule")
    actor: str = Field(description="Who: an email, a rule's name, Vectis, or what an anonymous visitor typed")
    surface: Literal["ui", "api", "mcp", "rule", "portal", "system"]
    action: str = Field(description="customer.create, api.list_tickets, login.failed, …")
    target_type: str
    target_id: str | None = Field(description="A public id where its kind has one")
    target: str = Field(description="What, in words")
    result: Literal["ok", "failed", "blocked", "dry_run", "unknown"]
    error: str | None
    vendor_status: int | None = Field(description="The vendor's HTTP status, for an action sent to a vendor")
    request_id: str | None


class AuditQuery(KeysetQuery):
    shape = (int,)
    action: str | None = Field(default=None, max_length=64, description="Exactly this action (api.list_tickets)")
    actor: str | None = Field(
        default=None, max_length=320, description="A user's or a rule's public id (usr_…, rul_…), or an actor's email"
    )
    since: Moment | None = Field(default=None, description="At or after this moment")


@operation(
    "GET", "/audit", scope="admin", summary="Read the audit log, newest first", tag="Audit", response=AuditEntryOut,
    query=AuditQuery, paged=True,
)  # fmt: skip
def list_audit(call: Call) -> Page[AuditEntryOut]:
    query: AuditQuery = call.query
    statement = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(query.limit + 1)
    if query.action:
        statement = statement.where(AuditEntry.action == query.action)
    if query.actor:
        by_id = next(
            ((kind, key) for kind in _ACTORS if (key := public_ids.decode(KINDS[kind], query.actor)) is not None), None
        )
        if by_id is not None:
            statement = statement.where(AuditEntry.actor_type == by_id[0], AuditEntry.actor_id == str(by_id[1]))
        else:
            statement = statement.where(AuditEntry.actor_label == query.actor)
    if query.since:
        statement = statement.where(AuditEntry.occurred_at >= query.since)
    if after := query.after:
        statement = statement.where(AuditEntry.seq < after[0])
    rows = [
        AuditEntryOut(
            seq=e.seq,
            occurred_at=e.occurred_at,
            actor_type=e.actor_type,
            actor_id=_public(e.actor_type, e.actor_id),
            actor=e.actor_label,
            surface=e.surface,  # type: ignore[arg-type]
            action=e.action,
            target_type=e.target_type,
            target_id=_public(e.target_type, e.target_id),
            target=e.target_label,
            result=e.result,  # type: ignore[arg-type]
            error=e.error,
            vendor_status=e.vendor_status,
            request_id=e.request_id,
        )
        for e in call.session.scalars(statement)
    ]
    return page_of(rows, query.limit, lambda e: keyset(e.seq))
