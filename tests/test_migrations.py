"""The schema changes only through Alembic: one head, and upgrade-from-empty equals the models."""

from __future__ import annotations

from dataclasses import replace

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from vectis.models import Base
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
