"""Saved queries on the REST API: the list a token's owner may run, and running one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field
from sqlalchemy import select

from vectis.actions.resources import (
    Call,
    KeysetQuery,
    NotFound,
    Page,
    Problem,
    Schema,
    Text,
    keyset,
    operation,
    page_of,
)
from vectis.models import SavedQuery
from vectis.platform import public_ids
from vectis.query import run, saved
from vectis.query.spec import SpecError, parse


class SavedQueryOut(Schema):
    id: str = Field(description="Public id, qry_…")
    name: str
    description: str
    owner: str
    audience: str = Field(description="everyone | technician | admin: who may run it")
    spec_hash: str
    run_count: int
    last_run_at: datetime | None


class SavedQueryList(KeysetQuery):
    shape = ("saved_query",)

    q: Text | None = Field(default=None, max_length=100, description="Words of the name or the description")


class RunBody(Schema):
    limit: int = Field(default=100, ge=1, le=1000, description="Rows to return (the trail counts them all)")


class ResultColumn(Schema):
    label: str
    kind: str


class Trail(Schema):
    base: int
    joined: int
    filtered: int
    result: int


class RunOut(Schema):
    columns: list[ResultColumn]
    rows: list[list[Any]]
    trail: Trail
    warnings: list[str]
    milliseconds: int


def _out(q: SavedQuery) -> SavedQueryOut:
    return SavedQueryOut(
        id=public_ids.encode("saved_query", q.id), name=q.name, description=q.description, owner=q.owner_label,
        audience=q.audience, spec_hash=q.spec_hash, run_count=q.run_count, last_run_at=q.last_run_at,
    )  # fmt: skip


@operation(
    "GET", "/saved-queries", scope="read", summary="List the saved queries you may run", tag="Saved queries",
    response=SavedQueryOut, query=SavedQueryList, paged=True,
)  # fmt: skip
def list_saved_queries(call: Call) -> Page[SavedQueryOut]:
    query: SavedQueryList = call.query
    statement = (
        select(SavedQuery)
        .where(saved.visible_to(call.actor), *saved.matching(query.q or ""))
        .order_by(SavedQuery.id)
        .limit(query.limit + 1)
    )
    if after := query.after:
        statement = statement.where(SavedQuery.id > after[0])
    rows = [_out(q) for q in call.session.scalars(statement)]
    return page_of(rows, query.limit, lambda q: keyset(q.id))


@operation(
    "POST", "/saved-queries/{saved_query_id}/run", scope="read", summary="Run a saved query", tag="Saved queries",
    response=RunOut, body=RunBody,
)  # fmt: skip
def run_saved_query(call: Call, saved_query_id: int) -> RunOut:
    query = call.session.get(SavedQuery, saved_query_id)
    if query is None or not saved.can_run(query, call.actor):
        raise NotFound("saved query")
    body: RunBody = call.body or RunBody()
    try:
        spec = parse(query.spec)
    except SpecError as error:  # saved before the catalogue changed: say so, run nothing
        raise NotFound(f"runnable query: {error.problems[0]}") from None
    shown, stopped = run.audited_preview(
        call.session,
        spec,
        tenant_id=call.tenant_id,
        actor=call.actor,
        saved=query,
        surface=call.surface,
        limit=body.limit,
    )
    if shown is None:
        raise Problem(504, stopped or "The query did not finish.")
    return RunOut(
        columns=[ResultColumn(label=h.label, kind=h.kind.value) for h in shown.headers],
        rows=[list(row) for row in shown.rows],
        trail=Trail(**shown.trail.__dict__),
        warnings=shown.warnings,
        milliseconds=shown.milliseconds,
    )
