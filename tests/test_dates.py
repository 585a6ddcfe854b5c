"""Every stored moment is read one way and range-checked (issue 15, finding 2); every moment and span a person
reads is shown one way, in UTC, and the database hands moments back in UTC whatever its own zone."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

from vectis.connectors import connectwise, keepit, veeam
from vectis.platform.dates import (
    ago,
    clock,
    day,
    parse_instant,
    span,
    span_to_the_second,
    when,
    when_in_full,
    within_range,
)
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


# --- moments and spans as a person reads them (issue 17 review, finding 2) -----------------------------------

PARIS = timezone(timedelta(hours=1))


def test_a_moment_is_shown_in_utc_whatever_zone_it_arrives_in() -> None:
    # 00:30 on 7 Dec in Paris is 23:30 on 6 Dec UTC: the pages say UTC, so the hour and the day are UTC's.
    paris = datetime(2026, 12, 7, 0, 30, tzinfo=PARIS)
    assert when(paris) == "6 Dec 23:30"
    assert day(paris) == "6 Dec"
    assert when_in_full(paris) == "6 Dec 2026 23:30 UTC"
    assert clock(paris) == "23:30 UTC"
    naive = datetime(2026, 12, 6, 23, 30)  # UTC already, never this machine's local time
    assert (when(naive), when_in_full(naive), clock(naive)) == ("6 Dec 23:30", "6 Dec 2026 23:30 UTC", "23:30 UTC")


def test_spans_are_as_coarse_as_a_glance_needs_or_to_the_second_while_someone_waits() -> None:
    minute, hour = timedelta(minutes=1), timedelta(hours=1)
    assert [span(d) for d in (timedelta(0), 59 * minute, hour, 71 * hour, 72 * hour)] == [
        "1 min",
        "59 min",
        "1 h",
        "71 h",
        "3 days",
    ]
    assert [
        span_to_the_second(d) for d in (timedelta(seconds=-3), timedelta(seconds=12), 4 * minute, 245 * minute / 60)
    ] == [
        "0 s",
        "12 s",
        "4 min",
        "4 min 5 s",
    ]
    assert span_to_the_second(80 * minute) == "1 h 20 min"
    now = datetime(2026, 12, 6, 18, 0, tzinfo=UTC)
    assert ago(now - 3 * hour, now) == "3 h ago" and ago(None, now) == ""


def test_templates_show_moments_through_the_same_formatters(app: Flask) -> None:
    with app.app_context():
        shown = app.jinja_env.from_string("{{ m|when }} · {{ m|day }} · {{ m|when_in_full }}").render(
            m=datetime(2026, 12, 7, 0, 30, tzinfo=PARIS)
        )
    assert shown == "6 Dec 23:30 · 6 Dec · 6 Dec 2026 23:30 UTC"


# Where Python code may still format a moment itself, and why: each is not something a person reads as a time.
OWN_FORMATS = {
    "connectors/keepit.py": "the vendor's wire format",
    "connectors/connectwise.py": "the vendor's wire format",
    "connectors/defender.py": "the vendor's wire format (OData's)",
    "connectors/eset.py": "the vendor's wire format",
    "views/admin.py": "an export's file name",
    "query/exports.py": "an export's file name",
    "rules/conditions.py": "a date a rule's author typed, echoed in the ISO form they typed it in",
    "customers/timeline.py": "calendar days of the timeline's filter (dates, not moments: no zone to convert)",
}


def test_nothing_under_vectis_formats_a_moment_by_itself() -> None:
    root = Path(__file__).resolve().parent.parent / "vectis"
    found = []
    for path in root.rglob("*.py"):
        name = path.relative_to(root).as_posix()
        if name == "platform/dates.py" or name.startswith("simulators/") or name in OWN_FORMATS:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"strftime\(|\{[^{}]*:%[a-zA-Z]", line):
                found.append(f"{name}:{number}: {line.strip()}")
    assert found == [], "format moments with vectis.platform.dates:\n" + "\n".join(found)
