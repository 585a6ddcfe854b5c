"""The schema changes only through Alembic: one head, and upgrade-from-empty equals the models."""

from __future__ import annotations

from dataclasses import replace

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from vectis.models import Base
from vectis.platform import db
from vectis.platform.bootstrap import alembic_config, migrate, recreate_database
from vectis.platform.config import Settings


def test_it_has_exactly_one_head(settings: Settings) -> None:
    assert len(ScriptDirectory.from_config(alembic_config(settings)).get_heads()) == 1


def test_it_builds_exactly_the_models_schema_from_an_empty_database(settings: Settings) -> None:
    url = make_url(settings.database_url)
    scratch = replace(settings, database_url=url.set(database=f"{url.database}_migrations").render_as_string(False))
    recreate_database(scratch.database_url)
    migrate(scratch, quiet=True)
    engine = create_engine(scratch.database_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


# Tables whose rows go by the thousand at once: a PSA connection's tickets and contracts, a backup connection's jobs,
# an RMM connection's devices.
REMOVED_IN_BULK = {"tickets", "backup_connectors", "contracts", "devices"}


def test_rows_that_go_with_a_bulk_removed_parent_are_found_by_an_index() -> None:
    """PostgreSQL finds a removed row's children by the referencing column alone: without an index leading with
    it, every removed ticket or job reads its children's whole table (removing a connection never finishes)."""
    unindexed = []
    for table in Base.metadata.sorted_tables:
        leading = {index.expressions[0].name for index in table.indexes if hasattr(index.expressions[0], "name")}
        for key in table.foreign_key_constraints:
            if key.referred_table.name in REMOVED_IN_BULK and key.column_keys[0] not in leading:
                unindexed.append(f"{table.name}.{key.column_keys[0]}")
    assert unindexed == []


def test_an_id_a_foreign_key_checks_is_found_by_the_primary_key_alone() -> None:
    """PostgreSQL checks each new row's parent with "id = $1", planned by the statistics. Any other index holding the
    parent's key can answer that by reading itself whole, and when the statistics say the parent table is empty (a new
    installation, a table emptied and vacuumed) every index looks free: it took the tickets' order index, 0.9 ms a
    check, and a first sync of 600,000 notes would have taken hours (issue 17, migration 0023)."""
    also_holding = []
    for table in Base.metadata.sorted_tables:
        for key in table.foreign_key_constraints:
            parent, columns = key.referred_table, {element.column.name for element in key.elements}
            for index in parent.indexes:
                names = {getattr(e, "name", None) for e in index.expressions}
                if columns <= names and index.dialect_options["postgresql"]["where"] is None:
                    also_holding.append(f"{index.name} ({table.name}.{key.name})")
    assert sorted(set(also_holding)) == []


def test_the_rule_tables_json_payloads_get_no_planner_statistics(app: Flask) -> None:
    """Nothing filters on them, and computing their statistics was most of every ANALYZE the rules engine
    runs between batches of a backlog (0024)."""
    with app.app_context(), db.system_session() as s:
        targets: dict[str, int] = dict(
            s.execute(
                text(
                    "SELECT attrelid::regclass::text || '.' || attname, attstattarget FROM pg_attribute "
                    "WHERE (attrelid::regclass::text, attname) IN (('rule_events', 'data'), ('rule_fires', 'leaves'),"
                    " ('rule_dispatches', 'target'), ('rule_dispatches', 'payload'))"
                )
            ).all()
        )
    assert targets == dict.fromkeys(
        ("rule_events.data", "rule_fires.leaves", "rule_dispatches.target", "rule_dispatches.payload"), 0
    )
