"""Every stored moment is read one way and range-checked (issue 15, finding 2)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

from vectis.connectors import connectwise, keepit, veeam
from vectis.platform.dates import parse_instant, within_range
from vectis.platform.db import Database


@pytest.mark.parametrize("parse", [parse_instant, veeam.parse_time, keepit.parse_time, connectwise.parse_time])
def test_every_vendors_times_are_read_the_same_way_and_out_of_range_ones_are_none(
    parse: Callable[[Any], datetime | None],
) -> None:
    read = parse
    assert read("2023-01-16T16:30:09.4952609+01:00") == datetime(2023, 1, 16, 15, 30, 9, 495260, tzinfo=UTC)
    assert read("2023-01-16T16:30:09Z") == datetime(2023, 1, 16, 16, 30, 9, tzinfo=UTC)
    assert read("2023-01-16T16:30:09") == datetime(2023, 1, 16, 16, 30, 9, tzinfo=UTC)  # no zone: UTC
    for hostile in ("0001-01-01T00:00:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "nonsense", ""):
        assert read(hostile) is None, hostile
    assert read(None) is None


def test_the_range_is_judged_in_utc() -> None:
    assert within_range(datetime(1970, 1, 1, 0, 30, tzinfo=UTC)) is not None
    assert within_range(datetime.fromisoformat("1970-01-01T00:30:00+01:00")) is None  # 23:30 the day before in UTC


def test_every_session_reads_moments_in_utc_whatever_the_databases_own_time_zone(app: Flask) -> None:
    # A server initialised with the machine's zone (Debian's initdb does) or a database set to one hands
    # timestamptz back in that zone; Vectis's sessions pin UTC, and keep whatever options the URL gave.
    settings = app.config["VECTIS_SETTINGS"]
    name = make_url(settings.database_url).database
    owner = create_engine(settings.database_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with owner.connect() as c:
        c.execute(text(f"ALTER DATABASE \"{name}\" SET timezone = 'America/New_York'"))
    try:
        app_url = make_url(settings.database_app_url).update_query_dict({"options": "-c statement_timeout=7s"})
        database = Database.from_settings(
            dataclasses.replace(settings, database_app_url=app_url.render_as_string(hide_password=False))
        )
        try:
            for engine in (database.app_engine, database.owner_engine):
                with engine.connect() as c:
                    assert c.execute(text("SHOW timezone")).scalar() == "UTC"
                    moment = c.execute(text("SELECT timestamptz '2026-12-06 18:30+00'")).scalar_one()
                    assert moment.utcoffset() == timedelta(0)
            with database.app_engine.connect() as c:
                assert c.execute(text("SHOW statement_timeout")).scalar() == "7s"
        finally:
            database.dispose()
    finally:
        with owner.connect() as c:
            c.execute(text(f'ALTER DATABASE "{name}" RESET timezone'))
        owner.dispose()
