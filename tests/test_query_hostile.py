"""Hostile query specs, generated: names outside the allowlist, injection strings in values, unknown operators,
deep nesting, wrong types. Every one is either refused with its reasons before any SQL exists, or is a spec made
only of allowlisted names that runs in the tenant's session and returns the tenant's rows only."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event

from tests.conftest import TenantFixture, login
from tests.query_world import MARK, world
from vectis.platform import db
from vectis.query import form, run
from vectis.query.allowlist import EDGES, TABLES
from vectis.query.operators import AGGREGATES, OPERATORS
from vectis.query.spec import SpecError, parse

INJECTIONS = [
    "'; DROP TABLE customers; --",
    '" OR 1=1 --',
    "%' OR tenant_id <> 0 --",
    "\\",
    "\x00",
    "customers.name); SELECT * FROM users; --",
    "🙂" * 50,
    "a" * 5000,
]
FORBIDDEN_TABLES = ["users", "audit_log", "connections", "tenants", "secrets", "pg_user", "customers;", "Customers", ""]
FORBIDDEN_COLUMNS = ["tenant_id", "id", "password_hash", "totp_secret", "config", "name; --", "*"]
TABLE_NAMES = st.sampled_from([*TABLES, *FORBIDDEN_TABLES])
FIELDS = st.one_of(
    st.sampled_from([f"{t.key}.{c.key}" for t in TABLES.values() for c in t.columns]),
    st.builds(lambda t, c: f"{t}.{c}", TABLE_NAMES, st.sampled_from(FORBIDDEN_COLUMNS)),
    st.text(max_size=40),
)
OPS = st.sampled_from(sorted({o.key for ops in OPERATORS.values() for o in ops} | {"like", "raw", "; delete", ""}))
VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=True),
        st.sampled_from(INJECTIONS),
        st.text(max_size=30),
    ),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
LEAVES = st.fixed_dictionaries({"type": st.just("leaf"), "field": FIELDS, "op": OPS, "value": VALUES})
GROUPS = st.recursive(
    LEAVES,
    lambda inner: st.fixed_dictionaries(
        {
            "type": st.just("group"),
            "match": st.sampled_from(["all", "any", "none", 1]),
            "items": st.lists(inner, max_size=4),
        }
    ),
    max_leaves=12,
)
JOINS = st.lists(
    st.one_of(
        st.sampled_from([{"from": e.left, "to": e.right, "mode": "all"} for e in EDGES.values()]),
        st.fixed_dictionaries(
            {"from": TABLE_NAMES, "to": TABLE_NAMES, "mode": st.sampled_from(["all", "with", "without", "cross"])}
        ),
    ),
    max_size=4,
)
COLUMNS = st.lists(
    st.fixed_dictionaries(
        {"field": FIELDS},
        optional={"agg": st.sampled_from([*AGGREGATES, "drop", "sum(1)"]), "label": st.sampled_from(INJECTIONS)},
    ),
    max_size=5,
)
SPECS = st.fixed_dictionaries(
    {"base": TABLE_NAMES},
    optional={
        "joins": JOINS,
        "columns": COLUMNS,
        "where": GROUPS,
        "sort": st.lists(st.dictionaries(st.sampled_from(["column", "dir"]), VALUES), max_size=2),
        "limit": VALUES,
    },
)


@st.composite
def _plausible(draw: st.DrawFn) -> dict[str, Any]:
    """A spec of allowlisted names only, joined along real edges, with hostile values where values go."""
    base = draw(st.sampled_from(list(TABLES)))
    present, joins = [base], []
    for _ in range(draw(st.integers(0, 3))):
        choices = [e for e in EDGES.values() if e.left in present and e.right not in present]
        if not choices:
            break
        edge = draw(st.sampled_from(choices))
        joins.append({"from": edge.left, "to": edge.right, "mode": draw(st.sampled_from(["all", "with"]))})
        present.append(edge.right)
    columns = []
    for table in draw(st.lists(st.sampled_from(present), min_size=1, max_size=4)):
        column = draw(st.sampled_from(TABLES[table].columns))
        aggregates = [a.key for a in AGGREGATES.values() if column.kind in a.kinds]
        columns.append(
            {
                "field": f"{table}.{column.key}",
                **({"agg": draw(st.sampled_from(aggregates))} if draw(st.booleans()) else {}),
            }
        )
    leaves = []
    for table in draw(st.lists(st.sampled_from(present), max_size=4)):
        column = draw(st.sampled_from(TABLES[table].columns))
        op = draw(st.sampled_from(OPERATORS[column.kind]))
        value: Any = draw(st.sampled_from(INJECTIONS[:6]))
        if op.arity == "days":
            value = draw(st.integers(-5, 4000))
        elif op.arity == "many":
            value = draw(st.lists(st.sampled_from([*column.choices, *INJECTIONS[:2]]), max_size=3))
        elif op.arity == "two":
            value = [draw(st.sampled_from(["2026-01-01", "1", "x"])), draw(st.sampled_from(["2027-01-01", "9", value]))]
        elif column.kind.value in ("number", "money"):
            value = draw(st.sampled_from([value, "12.5", "-3", "1e400", "NaN"]))
        elif column.kind.value in ("date", "datetime"):
            value = draw(st.sampled_from([value, "2026-12-01", "2026-02-30"]))
        leaves.append({"type": "leaf", "field": f"{table}.{column.key}", "op": op.key, "value": value})
    where = {"type": "group", "match": draw(st.sampled_from(["all", "any"])), "items": leaves}
    return {
        "base": base,
        "joins": joins,
        "columns": columns,
        "where": where,
        "limit": draw(st.sampled_from([None, 1, 50])),
    }


def _deep(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "leaf", "field": "customers.name", "op": "is", "value": "x"}
    for _ in range(depth):
        node = {"type": "group", "match": "all", "items": [node]}
    return node


@pytest.fixture
def tenants_with_rows(app: Flask, acme: TenantFixture, northwind: TenantFixture) -> Iterator[tuple[int, int]]:
    world(app, acme.id)
    world(app, northwind.id, secret=True)
    yield acme.id, northwind.id


# Derandomised: CI explores the same 400 specs on every run, so it never turns red on a new draw; a developer
# hunting for more sets derandomize=False here for a local run.
@settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(raw=st.one_of(SPECS, _plausible()))
def test_a_generated_spec_is_refused_or_names_only_the_allowlist_and_runs_for_its_tenant(
    app: Flask, tenants_with_rows: tuple[int, int], raw: dict[str, Any]
) -> None:
    try:
        spec = parse(raw)
    except SpecError as refused:
        assert refused.problems and all(isinstance(p, str) and 0 < len(p) < 400 for p in refused.problems)
        return
    named = {spec.base.key, *(j.edge.right for j in spec.joins), *(c.table.key for c in spec.columns)}
    assert named <= set(TABLES)
    assert all(c.column is None or c.column in c.table.columns for c in spec.columns)
    acme_id, _ = tenants_with_rows
    with app.app_context(), db.tenant_session(acme_id) as s:
        preview = run.preview(s, spec, limit=20)
    assert all("Secret" not in str(value) for row in preview.rows for value in row)


@pytest.mark.parametrize("depth", [5, 50, 400])
def test_nesting_deeper_than_allowed_is_refused_without_recursing_into_it(depth: int) -> None:
    with pytest.raises(SpecError) as refused:
        parse({"base": "customers", "columns": [{"field": "customers.name"}], "where": _deep(depth)})
    assert "Groups nest at most 4 levels deep." in refused.value.problems


def test_a_refused_spec_answers_422_with_its_reasons_and_reads_no_table(app: Flask, acme: TenantFixture) -> None:
    client = login(app, acme)
    hostile = {
        "base": "customers",
        "joins": [{"from": "customers", "to": "users", "mode": "all"}],
        "columns": [{"field": "users.password_hash"}],
        "where": {
            "type": "group",
            "items": [{"type": "leaf", "field": "customers.name", "op": "is", "value": "'; DROP TABLE customers; --"}],
        },
    }
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    with app.app_context():
        engine = db.database().app_engine
        event.listen(engine, "before_cursor_execute", seen)
        try:
            page = client.get(f"/queries/new?q={form.encode(hostile)}")
        finally:
            event.remove(engine, "before_cursor_execute", seen)
    html = page.get_data(as_text=True)
    assert page.status_code == 422
    assert "“customers” cannot be joined to “users”" in html and "Not ready to run yet" in html
    catalogue = [f"FROM {name}" for name in ("customers", "tickets", "ticket_notes", "contracts", "backup_connectors")]
    assert not [s for s in statements for table in catalogue if table in s], "a refused spec reached a table"
    assert MARK not in html


@pytest.mark.parametrize("number", ["²", "٣", "1" * 30])
def test_a_form_number_that_is_not_ascii_digits_is_not_a_number(number: str) -> None:
    """``str.isdigit`` says yes to "²" and "٣", and ``int`` then fails: the builder's form was a 500."""
    from werkzeug.datastructures import MultiDict  # noqa: PLC0415

    draft = form.from_form(MultiDict({"base": "customers", "sort.column": number, "limit": number}))
    assert draft["sort"] == [] and draft["limit"] == number
