"""Getting a database ready: the runtime role, the schema (Alembic), and scratch databases for tests."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.pool import NullPool

from vectis.platform.config import ROOT, ConfigError, Settings


def alembic_config(settings: Settings, *, quiet: bool = False) -> AlembicConfig:
    cfg = AlembicConfig(str(Path(ROOT) / "alembic.ini"))
    cfg.attributes["app_role"] = settings.app_role
    cfg.attributes["database_url"] = settings.database_url
    cfg.attributes["quiet"] = quiet
    cfg.attributes["audit_key"] = settings.audit_key  # 0014 seals the entries written before seals existed
    return cfg


def ensure_app_role(settings: Settings) -> None:
    """Create the runtime role when the owner may, and give it what it needs to connect.

    In production the role is usually made by a DBA (set ``DATABASE_APP_URL``); when it exists already
    this only re-applies the connect/usage grants, which is harmless.
    """
    role = settings.app_role
    engine = create_engine(settings.database_url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            exists = conn.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role})
            if not exists:
                try:
                    # NOSUPERUSER NOBYPASSRLS is the default; spelled out because the whole design rests on it.
                    conn.execute(text(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE'))
                except ProgrammingError as exc:
                    raise ConfigError(
                        f"the runtime database role {role!r} does not exist and {make_url(settings.database_url).username!r} "
                        "may not create it: create it (LOGIN, no superuser, no BYPASSRLS) or set DATABASE_APP_URL"
                    ) from exc
            database = conn.scalar(text("SELECT current_database()"))
            conn.execute(text(f'GRANT CONNECT ON DATABASE "{database}" TO "{role}"'))
            conn.execute(text(f'GRANT USAGE ON SCHEMA public TO "{role}"'))
    finally:
        engine.dispose()


def migrate(settings: Settings, revision: str = "head", *, quiet: bool = False) -> None:
    ensure_app_role(settings)
    command.upgrade(alembic_config(settings, quiet=quiet), revision)


def recreate_database(url: str) -> None:
    """Drop and create the database named in ``url`` (tests and CI only), owned by the URL's user."""
    parsed = make_url(url)
    name = parsed.database
    if not name:
        raise ConfigError(f"no database name in {parsed.render_as_string()}")
    maintenance = create_engine(parsed.set(database="postgres"), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with maintenance.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        maintenance.dispose()


def ensure_database(url: str) -> None:
    """Create the database named in ``url`` if it is missing (the demo's first run)."""
    parsed = make_url(url)
    maintenance = create_engine(parsed.set(database="postgres"), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with maintenance.connect() as conn:
            if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database}):
                conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    finally:
        maintenance.dispose()
