"""The query builder's engine: specs checked against the allowlist, compiled to SQL, run in the tenant's session.

Runs against :mod:`tests.query_world`: three customers of acme with contracts, backup runs and tickets whose every
count is known, and one customer of northwind whose rows must never appear.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Table as SqlTable
from sqlalchemy import select, text
from sqlalchemy.sql import visitors

from tests.conftest import TenantFixture
from tests.query_world import MARK, NOW, TODAY, World, day, only_world, world
from vectis.metrics import daily
from vectis.models import SavedQuery
from vectis.platform import db
from vectis.query import examples, run
from vectis.query.allowlist import EDGES, TABLES
from vectis.query.spec import SpecError, parse


@pytest.fixture
def acme_world(app: Flask, acme: TenantFixture, northwind: TenantFixture) -> Iterator[World]:
    world(app, northwind.id, secret=True)
    with app.app_context():
        yield world(app, acme.id)


def ask(app: Flask, tenant_id: int, raw: dict[str, Any]) -> run.Preview:
    with app.app_context(), db.tenant_session(tenant_id) as s:
        return run.preview(s, parse(raw), now=NOW, limit=200)


def names(preview: run.Preview, column: int = 0) -> list[Any]:
    return [row[column].removeprefix(MARK) if isinstance(row[column], str) else row[column] for row in preview.rows]


def in_world(raw: dict[str, Any]) -> dict[str, Any]:
    """``raw`` kept to the world's customers: its top conditions beside the world's own."""
    return {**raw, "where": only_world(*raw["where"]["items"])}


# The tour's question, as the demo saves it.
TOUR = in_world(examples.RENEWALS_WITH_FAILING_BACKUPS)


def test_the_tours_example_sums_each_contract_once_however_many_runs_failed(app: Flask, acme_world: World) -> None:
    preview = ask(app, acme_world.tenant_id, TOUR)
    # Aldridge: two failed runs and two active contracts joined = four rows; the value is 3,200 + 1,000 once each.
    assert [(r[0].removeprefix(MARK), r[2], r[3]) for r in preview.rows] == [("Aldridge & Co.", 12, Decimal("4200.00"))]
    assert preview.rows[0][1] == NOW - timedelta(days=2)
    assert preview.trail.result == 1
    assert any("each backup run and each contract" in w for w in preview.warnings)


def _tickets(app: Flask, tenant_id: int, *leaves: dict[str, Any], match: str = "all") -> list[str]:
    preview = ask(
        app,
        tenant_id,
        {
            "base": "tickets",
            "joins": [{"from": "tickets", "to": "customers", "mode": "with"}],
            "columns": [{"field": "tickets.number"}],
            "where": only_world({"type": "group", "match": match, "items": list(leaves)}),
            "sort": [{"column": 0, "dir": "asc"}],
        },
    )
    return [row[0] for row in preview.rows]


def _contracts(app: Flask, tenant_id: int, leaf: dict[str, Any]) -> list[str]:
    preview = ask(
        app,
        tenant_id,
        {
            "base": "contracts",
            "joins": [{"from": "contracts", "to": "customers", "mode": "with"}],
            "columns": [{"field": "contracts.name"}],
            "where": only_world(leaf),
            "sort": [{"column": 0, "dir": "asc"}],
        },
    )
    return [row[0] for row in preview.rows]


def leaf(field: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"type": "leaf", "field": field, "op": op, **({"value": value} if value is not None else {})}


def _this_month(offsets: dict[str, int]) -> list[str]:
    return sorted(name for name, offset in offsets.items() if day(offset).replace(day=1) == TODAY.replace(day=1))


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("is", "printer OFFLINE", ["QW-1"]),
        ("is_not", "Printer offline", ["QW-2", "QW-3", "QW-4"]),
        ("contains", "100%", ["QW-2"]),  # % is a character here, not a wildcard
        ("contains", "_", ["QW-2"]),
        ("contains", "o", ["QW-1", "QW-2", "QW-3", "QW-4"]),
        ("starts_with", "v", ["QW-3"]),
    ],
)
def test_every_text_operator(app: Flask, acme_world: World, op: str, value: str, expected: list[str]) -> None:
    assert _tickets(app, acme_world.tenant_id, leaf("tickets.summary", op, value)) == expected


def test_empty_text_is_missing_or_blank(app: Flask, acme_world: World) -> None:
    assert _tickets(app, acme_world.tenant_id, leaf("tickets.assignee", "is_empty")) == ["QW-1", "QW-2", "QW-3", "QW-4"]
    assert _tickets(app, acme_world.tenant_id, leaf("tickets.assignee", "is_not_empty")) == []


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("eq", 3200, ["Aldridge MSA"]),
        ("ne", "3200", ["Aldridge Backup", "Bayside MSA", "Bayside Old"]),
        ("lt", 1000, ["Bayside Old"]),
        ("lte", "1,000", ["Aldridge Backup", "Bayside Old"]),
        ("gt", 1400, ["Aldridge MSA"]),
        ("gte", 1400.0, ["Aldridge MSA", "Bayside MSA"]),
        ("between", [1000, "1400"], ["Aldridge Backup", "Bayside MSA"]),
        ("is_empty", None, []),
    ],
)
def test_every_money_operator(app: Flask, acme_world: World, op: str, value: Any, expected: list[str]) -> None:
    assert _contracts(app, acme_world.tenant_id, leaf("contracts.monthly_value", op, value)) == expected


ENDS = {"Aldridge MSA": 12, "Aldridge Backup": 40, "Bayside MSA": 21, "Bayside Old": -30}


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("next_days", 30, ["Aldridge MSA", "Bayside MSA"]),
        ("last_days", "31", ["Bayside Old"]),
        ("this_month", None, _this_month(ENDS)),
        ("on", day(12).isoformat(), ["Aldridge MSA"]),
        ("before", day(0).isoformat(), ["Bayside Old"]),
        ("after", day(21).isoformat(), ["Aldridge Backup"]),
        ("between", [day(12).isoformat(), day(21).isoformat()], ["Aldridge MSA", "Bayside MSA"]),
        ("is_empty", None, []),
        ("is_not_empty", None, sorted(ENDS)),
    ],
)
def test_every_date_operator(app: Flask, acme_world: World, op: str, value: Any, expected: list[str]) -> None:
    assert _contracts(app, acme_world.tenant_id, leaf("contracts.ends_on", op, value)) == expected


OPENED = {"QW-1": -2, "QW-2": -10, "QW-3": -40, "QW-4": -3}


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("last_days", 7, ["QW-1", "QW-4"]),
        ("next_days", 7, []),
        ("this_month", None, _this_month(OPENED)),
        ("on", day(-2).isoformat(), ["QW-1"]),
        ("before", day(-10).isoformat(), ["QW-3"]),
        ("after", day(-3).isoformat(), ["QW-1"]),
        ("between", [day(-10).isoformat(), day(-3).isoformat()], ["QW-2", "QW-4"]),
    ],
)
def test_every_instant_operator(app: Flask, acme_world: World, op: str, value: Any, expected: list[str]) -> None:
    assert _tickets(app, acme_world.tenant_id, leaf("tickets.opened_at", op, value)) == expected


def test_enum_and_boolean_operators(app: Flask, acme_world: World) -> None:
    tenant = acme_world.tenant_id
    assert _contracts(app, tenant, leaf("contracts.status", "in", ["expired", "cancelled"])) == ["Bayside Old"]
    assert _contracts(app, tenant, leaf("contracts.status", "not_in", ["active"])) == ["Bayside Old"]
    assert _contracts(app, tenant, leaf("contracts.status", "is_empty")) == []
    assert _tickets(app, tenant, leaf("tickets.closed", "is_true")) == ["QW-3", "QW-4"]
    assert _tickets(app, tenant, leaf("tickets.closed", "is_false")) == ["QW-1", "QW-2"]


def test_nested_and_or_groups(app: Flask, acme_world: World) -> None:
    # (open AND opened in the last 7 days) OR summary starts with "VPN"
    recent_open = {
        "type": "group",
        "match": "all",
        "items": [leaf("tickets.closed", "is_false"), leaf("tickets.opened_at", "last_days", 7)],
    }
    either = [recent_open, leaf("tickets.summary", "starts_with", "vpn")]
    assert _tickets(app, acme_world.tenant_id, *either, match="any") == ["QW-1", "QW-3"]
    assert _tickets(app, acme_world.tenant_id, *either, match="all") == []
    # An empty group filters nothing, at any depth.
    empty = {"type": "group", "match": "any", "items": []}
    assert _tickets(app, acme_world.tenant_id, empty) == ["QW-1", "QW-2", "QW-3", "QW-4"]


FAILING_WITHOUT_OPEN_TICKET = in_world(examples.FAILING_BACKUP_NO_OPEN_TICKET)


def test_only_without_keeps_the_rows_with_no_matching_row(app: Flask, acme_world: World) -> None:
    # Aldridge's job succeeded last; Coast's failed and Coast has no ticket at all. Bayside: succeeded.
    assert names(ask(app, acme_world.tenant_id, FAILING_WITHOUT_OPEN_TICKET)) == ["Coast Logistics"]
    # Without the state condition: Bayside's only ticket is closed, so it has no open ticket either.
    raw = {**FAILING_WITHOUT_OPEN_TICKET, "where": only_world(leaf("tickets.closed", "is_false"))}
    assert sorted(names(ask(app, acme_world.tenant_id, raw))) == ["Bayside Bistro", "Coast Logistics"]


def test_summaries_count_latest_and_average_per_group(app: Flask, acme_world: World) -> None:
    preview = ask(
        app,
        acme_world.tenant_id,
        {
            "base": "customers",
            "joins": [
                {"from": "customers", "to": "backup_jobs", "mode": "all"},
                {"from": "backup_jobs", "to": "backup_runs", "mode": "all"},
                {"from": "customers", "to": "tickets", "mode": "all"},
            ],
            "columns": [
                {"field": "customers.name"},
                {"field": "backup_runs.*", "agg": "count"},
                {"field": "backup_runs.state", "agg": "latest"},
                {"field": "tickets.*", "agg": "count"},
                {"field": "backup_runs.duration_seconds", "agg": "avg"},
            ],
            "where": only_world(),
            "sort": [{"column": 0, "dir": "asc"}],
        },
    )
    # Aldridge: 3 runs x 3 tickets = 9 joined rows, still 3 runs and 3 tickets.
    assert [(n.removeprefix(MARK), runs, latest, tickets, avg) for n, runs, latest, tickets, avg in preview.rows] == [
        ("Aldridge & Co.", 3, "success", 3, Decimal("1800.00")),
        ("Bayside Bistro", 2, "success", 1, Decimal("1800.00")),
        ("Coast Logistics", 2, "failed", 0, Decimal("1800.00")),
    ]
    assert {h.label for h in preview.headers} >= {"Number of backup runs", "Latest result", "Number of tickets"}
    assert preview.warnings == [  # backup runs and tickets both repeat
        f"Joins repeat each backup run and each ticket before the summary ({preview.trail.joined:,} joined rows from "
        f"{preview.trail.base:,} customers). Totals and counts take each one once, so they are not multiplied."
    ]


def test_the_row_count_trail_and_a_listing_crossed_with_another(app: Flask, acme_world: World) -> None:
    preview = ask(
        app,
        acme_world.tenant_id,
        {
            "base": "customers",
            "joins": [
                {"from": "customers", "to": "tickets", "mode": "all"},
                {"from": "customers", "to": "contracts", "mode": "all"},
            ],
            "columns": [{"field": "customers.name"}, {"field": "tickets.number"}, {"field": "contracts.name"}],
            "where": only_world(leaf("contracts.status", "in", ["active"])),
            "limit": 3,
        },
    )
    trail = preview.trail
    assert trail.base >= 3 and trail.joined >= 3 * 2 + 1 * 2 + 1  # the tenant's other customers count too
    assert trail.filtered == 3 * 2 + 1 * 1  # Aldridge: 3 tickets x 2 active contracts; Bayside: 1 x 1
    assert trail.result == 3 and preview.shown == 3  # the limit
    assert preview.warnings == [
        "Tickets and Contracts are both joined to the same rows: each ticket is listed once for every contract "
        f"({trail.joined:,} rows). Summarise one of them, or ask two questions."
    ]


def test_the_other_tenants_rows_never_appear(app: Flask, acme_world: World, northwind: TenantFixture) -> None:
    everything = {
        "base": "customers",
        "joins": [{"from": "customers", "to": "contracts", "mode": "all"}],
        "columns": [{"field": "customers.name"}, {"field": "contracts.monthly_value", "agg": "sum"}],
        "where": {
            "type": "group",
            "match": "any",
            "items": [leaf("customers.name", "contains", "Secret"), leaf("contracts.name", "contains", "")],
        },
    }
    seen = ask(app, acme_world.tenant_id, {**everything, "where": {"type": "group", "match": "all", "items": []}})
    assert all("Secret" not in str(row[0]) for row in seen.rows)
    assert (
        ask(
            app, acme_world.tenant_id, {**everything, "where": only_world(leaf("customers.name", "contains", "Secret"))}
        ).rows
        == []
    )
    # The same question in northwind's session finds its own customer.
    theirs = ask(app, northwind.id, {**everything, "where": only_world()})
    assert [(n.removeprefix(MARK), v) for n, v in theirs.rows] == [("Northwind Secret", Decimal("99999.00"))]


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"base": "users", "columns": []}, "There is no table “users” to start from"),
        (
            {"base": "customers", "columns": [{"field": "customers.password_hash"}]},
            "Customers has no column “password_hash”",
        ),
        ({"base": "customers", "columns": [{"field": "customers.tenant_id"}]}, "Customers has no column “tenant_id”"),
        ({"base": "customers", "columns": [{"field": "audit_log.action"}]}, "is not in a table of this query"),
        (
            {
                "base": "customers",
                "joins": [{"from": "customers", "to": "users"}],
                "columns": [{"field": "customers.name"}],
            },
            "cannot be joined",
        ),
        (
            {
                "base": "customers",
                "joins": [{"from": "customers", "to": "backup_runs"}],
                "columns": [{"field": "customers.name"}],
            },
            "cannot be joined",
        ),
        ({"base": "customers", "columns": [{"field": "customers.name", "agg": "drop"}]}, "is not a summary"),
        (
            {"base": "customers", "columns": [{"field": "customers.name", "agg": "sum"}]},
            "cannot be summarised as total",
        ),
        (
            {
                "base": "customers",
                "columns": [{"field": "customers.name"}],
                "where": {"type": "group", "items": [leaf("customers.name", "like", "x")]},
            },
            "is not an operator",
        ),
        (
            {
                "base": "customers",
                "columns": [{"field": "customers.name"}],
                "where": {"type": "group", "items": [leaf("contracts.name", "is", "x")]},
            },
            "is not a column of a table in this query",
        ),
        (
            {"base": "customers", "columns": [{"field": "customers.name"}], "sort": [{"column": 4}]},
            "Sort by a column the query shows",
        ),
        ({"base": "customers", "columns": [{"field": "customers.name"}], "limit": 2_000_000}, "The row limit"),
        (
            {"base": "customers", "columns": [{"field": "customers.name"}], "sql": "select 1"},
            "Unknown part of a query: sql",
        ),
        # Found by the generated specs: a NUL byte reached PostgreSQL (a 500) from inside a link's packed query.
        (
            {
                "base": "customers",
                "columns": [{"field": "customers.name"}],
                "where": {"type": "group", "items": [leaf("customers.name", "is", "a\x00b")]},
            },
            "NUL byte",
        ),
        ({"base": "customers", "columns": [{"field": "customers.name", "label": "x\x00"}]}, "a column's name is text"),
    ],
)
def test_anything_outside_the_allowlist_is_refused_with_a_reason(raw: dict[str, Any], problem: str) -> None:
    with pytest.raises(SpecError) as refused:
        parse(raw)
    assert any(problem in p for p in refused.value.problems), refused.value.problems


def test_a_canonical_spec_reads_back_the_same_and_hashes_the_same() -> None:
    spec = parse(TOUR)
    again = parse(spec.raw)
    assert again.raw == spec.raw and again.hash == spec.hash
    assert parse({**TOUR, "limit": 5}).hash != spec.hash


def test_the_demos_shared_questions_run_and_answer_from_the_data(app: Flask, acme_world: World) -> None:
    renewals = ask(app, acme_world.tenant_id, examples.RENEWALS_WITH_FAILING_BACKUPS)
    found = {str(row[0]).removeprefix(MARK): row for row in renewals.rows}
    assert found["Aldridge & Co."][2:] == (12, Decimal("4200.00"))
    assert "Coast Logistics" not in found  # failing, but no contract
    unattended = ask(app, acme_world.tenant_id, examples.FAILING_BACKUP_NO_OPEN_TICKET)
    jobs = {(str(row[0]).removeprefix(MARK), row[1]) for row in unattended.rows}
    assert ("Coast Logistics", "Coast DC01") in jobs
    assert not any(name.startswith("Aldridge") for name, _ in jobs)
    with app.app_context(), db.tenant_session(acme_world.tenant_id) as s:
        shared = s.scalars(select(SavedQuery.name).where(SavedQuery.audience == "everyone")).all()
    assert {name for name, _, _ in examples.SHARED} <= set(shared)  # the demo seed saved both


def test_a_query_past_its_time_limit_is_stopped_and_says_what_to_do(app: Flask, acme_world: World) -> None:
    """Another session holds the customers table, so the query waits on it until the statement timeout stops it."""
    spec = parse({"base": "customers", "columns": [{"field": "customers.name"}]})
    with app.app_context():
        with db.database().owner_engine.connect() as holder:
            holder.exec_driver_sql("LOCK TABLE customers IN ACCESS EXCLUSIVE MODE")
            with db.tenant_session(acme_world.tenant_id) as s, pytest.raises(run.QueryTimeout) as stopped:
                run.preview(s, spec, timeout_ms=300)
            holder.rollback()
        assert "was stopped. Add a condition" in str(stopped.value)
        with db.tenant_session(acme_world.tenant_id) as s:  # the connection went back to the pool usable
            assert run.preview(s, spec).trail.base >= 3


REACHABLE = {
    "customers", "tickets", "ticket_notes", "contracts", "contract_line_items",
    "backup_connectors", "backup_connector_status", "backup_runs", "daily_metrics", "sla_snapshots",
}  # fmt: skip


def test_the_catalogue_reaches_only_capability_tables_and_no_internal_column() -> None:
    def tables_in(element: Any) -> set[str]:
        found = set()
        for e in visitors.iterate(element):
            table = e if isinstance(e, SqlTable) else getattr(e, "table", None)
            if isinstance(table, SqlTable):
                found.add(table.name)
        return found

    reached: set[str] = set()
    for table in TABLES.values():
        reached |= tables_in(table.source())
        for col in table.columns:
            sql = col.sql()
            reached |= tables_in(sql)
            names = {c.name for c in visitors.iterate(sql) if hasattr(c, "table") and hasattr(c, "name")}
            assert not names & {"tenant_id", "id", "config", "raw", "password_hash", "totp_secret"}, (
                table.key,
                col.key,
            )
    for edge in EDGES.values():
        reached |= tables_in(edge.on())
    assert reached <= REACHABLE, reached - REACHABLE
    assert {"customers", "tickets", "backup_connector_status", "contract_line_items"} <= reached  # the walk sees


def test_a_trend_question_reads_the_daily_metrics(app: Flask, acme_world: World) -> None:
    with app.app_context(), db.tenant_session(acme_world.tenant_id) as s:
        daily.backfill(s, 14)
    preview = ask(
        app,
        acme_world.tenant_id,
        {
            "base": "customers",
            "joins": [{"from": "customers", "to": "daily_metrics", "mode": "with"}],
            "columns": [
                {"field": "customers.name"},
                {"field": "daily_metrics.tickets_opened", "agg": "sum"},
                {"field": "daily_metrics.backup_runs", "agg": "sum"},
                {"field": "daily_metrics.*", "agg": "count"},
            ],
            "where": only_world(leaf("daily_metrics.day", "last_days", 7)),
            "sort": [{"column": 0, "dir": "asc"}],
        },
    )
    # The last 7 days and today: Aldridge opened QW-1 (2 days ago), Bayside QW-4 (3 days ago); runs as seeded.
    assert [(str(n).removeprefix(MARK), opened, runs, days) for n, opened, runs, days in preview.rows] == [
        ("Aldridge & Co.", 1, 3, 8),
        ("Bayside Bistro", 1, 2, 8),
        ("Coast Logistics", 0, 1, 8),
    ]


def test_a_question_is_always_planned_for_its_own_values(app: Flask, acme_world: World) -> None:
    """Found by bench/query.py: once psycopg had prepared the tour's question (its sixth run on a connection),
    PostgreSQL's generic plan took ten times as long as the one made for its values."""
    with app.app_context(), db.tenant_session(acme_world.tenant_id) as s:
        run.preview(s, parse(TOUR))
        assert s.scalar(text("SELECT current_setting('plan_cache_mode')")) == "force_custom_plan"
    with app.app_context(), db.tenant_session(acme_world.tenant_id) as s:  # the next transaction: the server's own
        assert s.scalar(text("SELECT current_setting('plan_cache_mode')")) == "auto"
