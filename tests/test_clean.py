"""Vendor records made safe to store (``vectis/connectors/clean.py``): a NUL byte or a huge text anywhere in a record,
its vendor JSON included, however deep, is cleaned and counted; a record with nothing to clean is kept as it came."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
import requests

from vectis.connectors.base import DetectionRecord
from vectis.connectors.clean import TEXT_CAP, clean_records
from vectis.connectors.values import json_of, json_or_none

AT = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def threat(details: dict[str, Any], **fields: Any) -> DetectionRecord:
    values: dict[str, Any] = {
        "external_id": "t-1",
        "customer_external_id": "site-1",
        "device_external_id": "agent-1",
        "device_name": "FRONTDESK-01",
        "title": "Trojan.GenericKD",
        "severity": "high",
        "vendor_severity": "malicious",
        "status": "open",
        "vendor_status": "unresolved",
        "detected_at": AT,
        "details": details,
        **fields,
    }
    return DetectionRecord(**values)


def test_it_keeps_a_record_with_nothing_to_clean_as_it_came() -> None:
    record = threat({"engines": ["SentinelOne Cloud"], "storyline": {"id": "A1", "depth": 3}, "isFileless": False})
    (kept,), changes = clean_records([record])
    assert kept is record and not changes


@pytest.mark.parametrize(
    ("details", "expected"),
    [
        ({"engines": ["Cloud", "On\x00Write"]}, {"engines": ["Cloud", "OnWrite"]}),
        ({"process": {"user": {"name": "svc\x00backup"}}}, {"process": {"user": {"name": "svcbackup"}}}),
        ({"bad\x00key": 1}, {"badkey": 1}),
        ({1: "one\x00", "counts": [1, 2]}, {"1": "one", "counts": [1, 2]}),  # a key that is not text, as JSON writes it
        ({"big": 2**70, "name": "a\x00b"}, {"big": 2**70, "name": "ab"}),  # past 64 bits
    ],
)
def test_it_removes_a_nul_byte_however_deep_in_the_vendors_json(
    details: dict[Any, Any], expected: dict[str, Any]
) -> None:
    (kept,), changes = clean_records([threat(details)])
    assert kept.details == expected
    assert changes == {"NUL bytes removed": 1}


def test_it_shortens_a_huge_text_in_the_vendors_json_and_only_that() -> None:
    huge = "x" * (TEXT_CAP + 10)
    (kept,), changes = clean_records([threat({"commandLine": huge, "nearly": "y" * (TEXT_CAP - 10)})])
    assert len(kept.details["commandLine"]) == TEXT_CAP and kept.details["commandLine"].endswith("…")
    assert kept.details["nearly"] == "y" * (TEXT_CAP - 10)
    assert changes == {"texts shortened to 64 KB": 1}


def test_a_json_document_longer_than_the_cap_with_short_texts_is_kept_as_it_came() -> None:
    record = threat({f"k{i}": "z" * 100 for i in range(TEXT_CAP // 50)})
    (kept,), changes = clean_records([record])
    assert kept is record and not changes


def test_it_skips_a_record_whose_required_moment_is_out_of_range_and_empties_an_optional_one() -> None:
    far = datetime(2301, 1, 1, tzinfo=UTC)
    odd_zone = (AT + timedelta(hours=2)).astimezone(timezone(timedelta(hours=2)))  # in range, not in UTC: kept as is
    kept, changes = clean_records([threat({}, detected_at=far), threat({}, external_id="t-2", updated_at=far),
                                   threat({}, external_id="t-3", updated_at=odd_zone)])  # fmt: skip
    assert [(r.external_id, r.updated_at) for r in kept] == [("t-2", None), ("t-3", odd_zone)]
    assert changes == {"records skipped for a date outside 1970-2200": 1, "dates outside 1970-2200 left empty": 1}


def _answer(body: bytes, content_type: str = "application/json") -> requests.Response:
    response = requests.Response()
    response._content = body
    response.status_code = 200
    response.headers["Content-Type"] = content_type
    return response


@pytest.mark.parametrize(
    ("body", "content_type", "read"),
    [
        (
            b'{"id": "S1", "n": 3, "big": 18446744073709551615}',
            "application/json",
            {"id": "S1", "n": 3, "big": 2**64 - 1},
        ),
        # What the fast reader refuses and JSON allows: read as before, not called malformed.
        (b'{"id": "S1", "limit": Infinity}', "application/json", {"id": "S1", "limit": float("inf")}),
        ('{"name": "Müller"}'.encode("latin-1"), "application/json; charset=iso-8859-1", {"name": "Müller"}),
    ],
)
def test_a_vendors_answer_is_read_as_json_whatever_its_numbers_and_charset(
    body: bytes, content_type: str, read: Any
) -> None:
    assert json_of(_answer(body, content_type)) == read
    assert json_or_none(_answer(body, content_type)) == read


def test_an_answer_that_is_not_json_is_said_so() -> None:
    with pytest.raises(ValueError):
        json_of(_answer(b"<html>Bad gateway</html>", "text/html"))
    assert json_or_none(_answer(b"<html>Bad gateway</html>", "text/html")) is None


def test_a_broken_character_from_the_vendors_json_is_replaced_so_the_page_can_be_stored() -> None:
    """A lone UTF-16 surrogate (JSON's ``"\\ud800"``, which Python reads and no UTF-8 writer takes) in a field or deep
    in the vendor's JSON: the replacement character, counted, where it failed the whole page at its write."""
    body = b'{"title": "Trojan \\ud800 dropper", "details": {"path": ["C:\\\\x\\udfff.exe"]}}'
    read = json_of(_answer(body))
    (kept,), changes = clean_records([threat(read["details"], title=read["title"])])
    assert kept.title == "Trojan \ufffd dropper"
    assert kept.details == {"path": ["C:\\x\ufffd.exe"]}
    assert changes == {"broken characters replaced": 2}
    orjson.dumps([kept.title, kept.details])  # as the writers send a page: it no longer raises
