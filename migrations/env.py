"""Alembic environment: runs as the schema owner (DATABASE_URL) and knows the runtime role to grant to."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool

from vectis.models import Base
from vectis.platform import config as vectis_config

alembic_config = context.config
if alembic_config.config_file_name is not None and not alembic_config.attributes.get("quiet"):
    fileConfig(alembic_config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = alembic_config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = alembic_config.attributes.get("database_url")
    if url is None:  # plain `alembic upgrade head` from a shell: settings from the environment
        settings = vectis_config.load()
        url = settings.database_url
        alembic_config.attributes.setdefault("app_role", settings.app_role)
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        _run(conn)


def _run(connection: object) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)  # type: ignore[arg-type]
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported: RLS policies need a live database")
run_migrations_online()
