"""The ESET connector against the ESET simulator, over real HTTP on loopback: the Test button's messages, the
parsers, each response action's exact request and its read-back, 429s, and (through the real sync job) customer
groups linked to customers and detections landing incrementally; the false-positive verb refuses with ESET's reason."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from tests.vendors.support import Setup, add_connection, new_tenant, serve_app, sync, vendor_url
from vectis.actions.base import Outcome, Target
from vectis.actions.perform import perform
from vectis.audit.actors import Actor
from vectis.connectors.base import DetectionRecord
from vectis.connectors.capabilities import Request, RespondsOnEndpoints, supports
from vectis.connectors.eset import (
    EsetConnector,
    customer_of,
    host_for,
    parse_detection,
    severity_of,
    top_level_groups,
)
from vectis.connectors.factory import build_connector
from vectis.ingest.integrations import try_connection
from vectis.models import Connection
from vectis.models.security import Detection
from vectis.platform import db
from vectis.platform.http import ConnectorError
from vectis.platform.queues import redis
from vectis.simulators.eset import DEMO_PASSWORD, DEMO_USERNAME, EsetState, create_app

Json = dict[str, Any]
CONFIG = {"region": "eu", "username": DEMO_USERNAME, "password": DEMO_PASSWORD}


@dataclass
class Eset:
    state: EsetState
    url: str

    def requests(self, pattern: str) -> int:
        return int(self.state.stats()["paths"].get(pattern, 0))


@pytest.fixture
def es(app: Flask) -> Iterator[Eset]:
    state = EsetState.seeded()
    for url in serve_app(create_app(state)):
        with vendor_url(app, "eset", url):
            yield Eset(state, url)


def connector(app: Flask, **config: str) -> EsetConnector:
    with app.app_context():
        probe = Connection(tenant_id=new_tenant(app), vendor="eset", name="ESET")
        probe.rate_limit_per_second = 200.0
        built = build_connector(probe, redis(), app.config["VECTIS_SETTINGS"], config={**CONFIG, **config})
    assert isinstance(built, EsetConnector)
    return built


def check(app: Flask, **overrides: str) -> tuple[bool, str]:
    tenant_id = new_tenant(app)
    with app.test_request_context(), db.tenant_session(tenant_id) as s:
        return try_connection(s, tenant_id, EsetConnector, {**CONFIG, **overrides})


# --- configuration and parsing ------------------------------------------------------------------------


def test_regions_hosts_and_the_matrix() -> None:
    assert EsetConnector.validate_config({**CONFIG, "region": " EU "})["region"] == "eu"
    with pytest.raises(ConnectorError, match="not an ESET region"):
        EsetConnector.validate_config({**CONFIG, "region": "mars"})
    assert EsetConnector.base_url(CONFIG) == "https://eu.device-management.eset.systems"
    assert host_for("https://jpn.device-management.eset.systems", "automation") == "https://jpn.automation.eset.systems"
    assert host_for("http://127.0.0.1:18085", "automation") == "http://127.0.0.1:18085"
    assert EsetConnector.secret_fields() == {"password"}
    assert supports(EsetConnector, RespondsOnEndpoints)
    assert EsetConnector.responses["isolate"] is None and EsetConnector.responses["resolve"] is None
    assert "no false-positive verdict" in str(EsetConnector.responses["false_positive"])
    assert EsetConnector.default_rate_limit == 2.0


GROUPS: list[Json] = [
    {"uuid": "root", "displayName": "All", "parentGroupUuid": None},
    {"uuid": "lf", "displayName": "Lost & found", "parentGroupUuid": "root"},
    {"uuid": "gax", "displayName": "Greyhaven Architects", "parentGroupUuid": "root"},
    {"uuid": "srv", "displayName": "Servers", "parentGroupUuid": "gax"},
]


def test_top_level_groups_are_the_customers_and_devices_follow_their_ancestors() -> None:
    assert list(top_level_groups(GROUPS)) == ["gax"]
    assert customer_of(GROUPS) == {"gax": "gax", "srv": "gax"}


def test_detections_parse_with_severity_status_and_isolation() -> None:
    item = {
        "uuid": "d-1", "category": "DETECTION_CATEGORY_ANTIVIRUS", "typeName": "Trojan",
        "displayName": "Win32/PSW.Fareit.A", "severityLevel": "SEVERITY_LEVEL_MEDIUM", "occurTime": "2025-03-14T09:30:12Z",
        "objectUrl": r"C:\x.exe", "objectHashSha1": "A" * 40, "resolved": False,
        "context": {"deviceUuid": "dev-1", "userName": "pc\\user", "process": {"path": r"C:\Windows\explorer.exe"}},
    }  # fmt: skip
    record = parse_detection(item, {"dev-1": {"name": "GAX-WS01", "customer": "gax", "isolation": "isolated"}})
    assert isinstance(record, DetectionRecord)
    assert (record.severity, record.vendor_severity, record.status, record.verdict) == (
        "medium", "SEVERITY_LEVEL_MEDIUM", "open", None,
    )  # fmt: skip
    assert (record.customer_external_id, record.device_name, record.isolation) == ("gax", "GAX-WS01", "isolated")
    assert record.file_hash == "A" * 40 and record.details["process"] == r"C:\Windows\explorer.exe"
    assert parse_detection({**item, "resolved": True}).status == "resolved"  # type: ignore[union-attr]
    assert [severity_of(f"SEVERITY_LEVEL_{w}") for w in ("HIGH", "LOW", "DIAGNOSTIC", "UNSPECIFIED")] == [
        "high", "low", "low", "low",
    ]  # fmt: skip
    assert parse_detection({"uuid": "x"}) is None


def test_each_request_is_built_as_eset_connect_takes_it() -> None:
    built = EsetConnector.__new__(EsetConnector)
    isolate = built.isolate_request("dev-1", comment="ransomware on it")
    assert (isolate.method, isolate.path) == ("POST", "/v1/device_tasks")
    assert isolate.body["task"]["action"] == {"name": "StartNetworkIsolation"}
    assert isolate.body["task"]["targets"] == {"devicesUuids": ["dev-1"]}
    assert isolate.body["task"]["description"] == "ransomware on it"
    assert built.release_request("dev-1", comment="").body["task"]["action"] == {"name": "EndNetworkIsolation"}
    assert built.resolve_request("d-1") == Request(
        "POST", "/v2/detections/d-1:resolve", {"note": "Resolved from Vectis."}, what="the resolution", retry=True
    )
    with pytest.raises(ConnectorError, match="no false-positive verdict"):
        built.false_positive_request("d-1", reason="")


# --- the Test button ----------------------------------------------------------------------------------


def test_the_test_button_says_what_it_found_or_what_is_wrong(app: Flask, es: Eset) -> None:
    ok, message = check(app)
    assert ok and "12 customer groups" in message, message
    es.state.merge_faults({"bad_credentials": True})
    ok, message = check(app)
    assert not ok and "did not accept this API user" in message
    es.state.reset()
    es.state.merge_faults({"forbidden": "all"})
    ok, message = check(app)
    assert not ok and "may not read devices and detections" in message


def test_an_unreachable_region_says_to_check_it(app: Flask) -> None:
    with vendor_url(app, "eset", "http://127.0.0.1:9"):
        ok, message = check(app)
    assert not ok and "Check the region" in message, message


def test_the_token_is_cached_then_refreshed_when_eset_expires_it(app: Flask, es: Eset) -> None:
    built = connector(app)
    built.isolation_of(next(iter(es.state.devices)))
    built.isolation_of(next(iter(es.state.devices)))
    assert es.requests("POST /oauth/token") == 1
    es.state.expire_tokens()
    built.isolation_of(next(iter(es.state.devices)))
    grants = [r["body"]["grant_type"] for r in es.state.received() if r["path"] == "/oauth/token"]
    assert grants == ["password", "refresh_token"]


# --- actions ------------------------------------------------------------------------------------------


def test_isolate_is_pending_then_confirmed_release_mirrors_and_resolve_reads_back(app: Flask, es: Eset) -> None:
    es.state.transition_seconds = 0.3
    built = connector(app)
    device = next(u for u, d in es.state.devices.items() if d["networkIsolationState"].endswith("NOT_ISOLATED"))
    built.isolate(device, comment="contain")
    assert built.isolation_of(device) == "isolating"
    time.sleep(0.4)
    assert built.isolation_of(device) == "isolated"
    built.release(device, comment="")
    time.sleep(0.4)
    assert built.isolation_of(device) == "connected"
    detection = next(u for u, d in es.state.detections.items() if not d["resolved"])
    built.resolve_detection(detection)
    found = built.get_detection(detection)
    assert found is not None and found.status == "resolved" and found.customer_external_id
    assert built.get_detection("00000000-0000-4000-8000-000000000000") is None


def test_429s_are_waited_out(app: Flask, es: Eset) -> None:
    es.state.merge_faults({"rate_limit_per_second": 2})
    built = connector(app)
    for _ in range(5):
        built.isolation_of(next(iter(es.state.devices)))
    assert es.state.stats()["statuses"].get("429", 0) >= 1


# --- sync and verbs -----------------------------------------------------------------------------------


def detections(app: Flask, setup: Setup) -> dict[str, Detection]:
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        rows = {r.external_id: r for r in s.scalars(select(Detection))}
        for row in rows.values():
            s.expunge(row)
        return rows


def test_a_sync_lands_groups_and_detections_then_reads_again_from_the_oldest_still_open(app: Flask, es: Eset) -> None:
    """ESET filters detections by when they occurred, not by when they changed: each later sync reads again from the
    oldest one open at the last read, so one resolved in ESET PROTECT since is resolved in Vectis too."""
    setup = add_connection(app, new_tenant(app), "eset", CONFIG)
    first = sync(app, setup)
    assert first.status == "succeeded", first.error
    rows = detections(app, setup)
    assert set(rows) == set(es.state.detections)
    for uuid, item in es.state.detections.items():
        row = rows[uuid]
        device = es.state.devices[item["context"]["deviceUuid"]]
        assert row.device_name == device["displayName"] and row.vendor_severity == item["severityLevel"]
        assert row.status == ("resolved" if item["resolved"] else "open")
    assert "isolated" in {r.isolation for r in rows.values()}
    still_open = sorted((i["occurTime"], uuid) for uuid, i in es.state.detections.items() if not i["resolved"])
    oldest_open = still_open[0][0]
    second = sync(app, setup)
    since = [u for u, i in es.state.detections.items() if i["occurTime"] >= oldest_open]
    assert second.status == "succeeded" and second.counts.get("detections", 0) == len(since)
    # Resolved in ESET PROTECT by someone there (no Vectis action): the next sync reads it again, resolved.
    resolved_there = still_open[0][1]
    es.state.detections[resolved_there]["resolved"] = True
    device_uuid = next(iter(es.state.devices))
    new = es.state.add_detection(device_uuid, kind_name=None, severity="SEVERITY_LEVEL_HIGH")
    third = sync(app, setup)
    assert third.status == "succeeded"
    after = detections(app, setup)
    assert new["uuid"] in after and after[resolved_there].status == "resolved"
    # Now read from the next oldest still open: fewer than before.
    fourth = sync(app, setup)
    assert fourth.status == "succeeded" and fourth.counts.get("detections", 0) < third.counts.get("detections", 0)


def test_a_stopped_or_older_cursor_reads_again_from_the_windows_start_and_never_skips_what_is_new(
    app: Flask, es: Eset
) -> None:
    """A first sync stopped after a page, or a cursor saved before Vectis kept where the open detections start: the
    next read goes back to the 30 days' start, so what was open there is read again. A cursor older than that (a
    connection paused for weeks) reads from the cursor: nothing that occurred since is skipped."""
    edr = connector(app)
    (stream,) = [s for s in edr.streams() if s.name == "detections"]
    when = {d["uuid"]: datetime.fromisoformat(d["occurTime"]) for d in es.state.detections.values()}
    ordered = sorted(when, key=when.__getitem__)
    middle = es.state.detections[ordered[len(ordered) // 2]]["occurTime"]

    def since(moment: datetime) -> set[str]:
        return {uuid for uuid, at in when.items() if at >= moment}

    window = since(datetime.now(UTC) - timedelta(days=30) + timedelta(minutes=1))
    for cursor, expected in (
        ({"occurred_after": middle}, window),  # saved before open_since was kept: back to the window's start
        ({"occurred_after": middle, "open_since": middle}, since(datetime.fromisoformat(middle))),
    ):
        pages = list(edr.read(stream, cursor))
        assert {r.external_id for page in pages for r in page.records} >= expected
        assert pages[-1].records == [] and set(pages[-1].cursor or {}) == {"occurred_after", "open_since"}
    long_ago = datetime.now(UTC) - timedelta(days=45)
    written = long_ago.strftime("%Y-%m-%dT%H:%M:%SZ")
    pages = list(edr.read(stream, {"occurred_after": written, "open_since": written}))
    assert {r.external_id for page in pages for r in page.records} == since(long_ago.replace(microsecond=0))


SAM = Actor("user", None, "sam@msp.test", "technician")


def act(app: Flask, setup: Setup, verb: str, detection_id: int, payload: Json | None = None) -> Outcome:
    with app.test_request_context(), db.tenant_session(setup.tenant_id) as s:
        return perform(
            verb, Target("detection", str(detection_id), "detection"), payload or {}, actor=SAM, surface="ui",
            dry_run=False, session=s, tenant_id=setup.tenant_id,
        )  # fmt: skip


def test_resolve_through_the_verb_and_false_positive_refuses_with_esets_reason(app: Flask, es: Eset) -> None:
    setup = add_connection(app, new_tenant(app), "eset", CONFIG)
    assert sync(app, setup).status == "succeeded"
    open_one = next(r for r in detections(app, setup).values() if r.status == "open")
    refused = act(app, setup, "detection.false_positive", open_one.id, {"reason": "ours"})
    assert not refused.ok and "no false-positive verdict" in refused.message, refused.message
    resolved = act(app, setup, "detection.resolve", open_one.id)
    assert resolved.ok, resolved.message
    assert detections(app, setup)[open_one.external_id].status == "resolved"
    assert es.state.detections[open_one.external_id]["resolved"] is True
