"""Every stored moment is read one way and range-checked (issue 15, finding 2)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from vectis.connectors import connectwise, keepit, veeam
from vectis.platform.dates import parse_instant, within_range


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
