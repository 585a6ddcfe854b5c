"""The SentinelOne connector against the SentinelOne simulator, over real HTTP on loopback: the Test button's messages,
the parsers, each response action's exact request and its read-back, 429s within limits, and (through the real sync
job) sites linked to customers and threats landing as detections, incrementally."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, text

from tests.conftest import login
from tests.vendors.faults import busiest_second
from tests.vendors.support import Setup, add_connection, new_tenant, serve_app, sync, wait_for_the_hung_request
from vectis.actions.base import Outcome, Target
from vectis.actions.perform import perform
from vectis.audit.actors import Actor
from vectis.connectors import sentinelone
from vectis.connectors.base import CustomerRecord, DetectionRecord
from vectis.connectors.capabilities import ENDPOINT_ACTIONS, Request, RespondsOnEndpoints, supports
from vectis.connectors.factory import build_connector
from vectis.connectors.sentinelone import (
    FIRST_WINDOW,
    MESSAGES,
    SentinelOneConnector,
    console_root,
    parse_site,
    parse_threat,
    severity_of,
)
from vectis.demo.seed import DEMO_SENTINELONE
from vectis.ingest.integrations import try_connection
from vectis.models import Connection, Customer, CustomerLink, StreamCursor
from vectis.models.security import Detection
from vectis.platform import db
from vectis.platform.http import ConnectorError
from vectis.platform.queues import redis
from vectis.security.service import refresh_isolation
from vectis.simulators.sentinelone import API, DEMO_API_TOKEN, SentinelOneState, create_app

Json = dict[str, Any]


@dataclass
class S1:
    state: SentinelOneState
    url: str

    @property
    def config(self) -> dict[str, str]:
        return {"console_url": self.url, "api_token": DEMO_API_TOKEN}

    def requests(self, pattern: str) -> int:
        return int(self.state.stats()["paths"].get(pattern, 0))

    def threats_seen_by_a_first_sync(self) -> set[str]:
        since = (datetime.now(UTC) - FIRST_WINDOW).timestamp()
        return {
            threat_id
            for threat_id, t in self.state.threats.items()
            if t["threatInfo"]["incidentStatus"] != "resolved"
            or datetime.fromisoformat(t["threatInfo"]["updatedAt"]).timestamp() >= since
        }


@pytest.fixture
def s1() -> Iterator[S1]:
    state = SentinelOneState.seeded()
    for url in serve_app(create_app(state)):
        yield S1(state, url)


def connector(app: Flask, s1: S1, *, interactive: bool = False, **config: str) -> SentinelOneConnector:
    """The connector as a worker (or the Test button) builds it, for a connection of a tenant of its own."""
    with app.app_context():
        probe = Connection(tenant_id=new_tenant(app), vendor="sentinelone", name="SentinelOne")
        probe.rate_limit_per_second = 200.0
        built = build_connector(
            probe, redis(), app.config["VECTIS_SETTINGS"], config={**s1.config, **config}, interactive=interactive
        )
    assert isinstance(built, SentinelOneConnector)
    return built


def check(app: Flask, s1: S1 | None = None, **overrides: str) -> tuple[bool, str]:
    tenant_id = new_tenant(app)
    config = {**(s1.config if s1 else DEMO_SENTINELONE), **overrides}
    with app.test_request_context(), db.tenant_session(tenant_id) as s:
        return try_connection(s, tenant_id, SentinelOneConnector, config)


def last_received(s1: S1) -> Json:
    received: Json = s1.state.received()[-1]
    return received


def as_sent(request: Request) -> Json:
    return {"method": request.method, "path": request.path, "body": request.body}


# --- configuration and parsing ------------------------------------------------------------------------


def test_it_keeps_the_consoles_root_and_declares_every_response() -> None:
    assert (
        console_root("usea1-partners.sentinelone.net/dashboard#/incidents") == "https://usea1-partners.sentinelone.net"
    )
    clean = SentinelOneConnector.validate_config({"console_url": " https://x.sentinelone.net/login ", "api_token": "t"})
    assert clean == {"console_url": "https://x.sentinelone.net", "api_token": "t"}
    with pytest.raises(ConnectorError, match="API token is required"):
        SentinelOneConnector.validate_config({"console_url": "https://x.sentinelone.net", "api_token": " "})
    assert SentinelOneConnector.secret_fields() == {"api_token"}
    assert SentinelOneConnector.category == "security"
    assert SentinelOneConnector.validate_config(DEMO_SENTINELONE) == DEMO_SENTINELONE
    assert supports(SentinelOneConnector, RespondsOnEndpoints)
    assert dict(SentinelOneConnector.responses) == dict.fromkeys(ENDPOINT_ACTIONS)


THREAT: Json = {
    "id": "1765432109876543210",
    "threatInfo": {
        "threatName": "lb3.exe", "classification": "Ransomware", "confidenceLevel": "suspicious",
        "incidentStatus": "in_progress", "analystVerdict": "undefined", "mitigationStatus": "mitigated",
        "sha1": "a" * 40, "sha256": "b" * 64, "filePath": r"\Device\HarddiskVolume3\lb3.exe",
        "createdAt": "2025-03-14T09:30:12.250000Z", "updatedAt": "2025-03-14T10:00:00.000000Z", "storyline": "ABC",
    },
    "agentRealtimeInfo": {
        "agentId": "1111111111111111111", "agentComputerName": "GAX-WS01", "siteId": "2222222222222222222",
        "siteName": "Greyhaven Architects", "agentNetworkStatus": "disconnecting",
    },
}  # fmt: skip


def test_threats_parse_into_detections_with_severity_status_verdict_and_isolation() -> None:
    record = parse_threat(THREAT)
    assert record == DetectionRecord(
        external_id="1765432109876543210",
        customer_external_id="2222222222222222222",
        device_external_id="1111111111111111111",
        device_name="GAX-WS01",
        title="lb3.exe",
        severity="critical",  # ransomware, however sure S1 is
        vendor_severity="suspicious",
        status="in_progress",
        vendor_status="in_progress",
        detected_at=datetime(2025, 3, 14, 9, 30, 12, 250000, tzinfo=UTC),
        updated_at=datetime(2025, 3, 14, 10, 0, tzinfo=UTC),
        verdict=None,
        isolation="isolating",
        classification="Ransomware",
        file_path=r"\Device\HarddiskVolume3\lb3.exe",
        file_hash="b" * 64,
        details={
            "mitigationStatus": "mitigated", "confidenceLevel": "suspicious", "analystVerdict": "undefined",
            "incidentStatus": "in_progress", "storyline": "ABC", "sha1": "a" * 40, "siteName": "Greyhaven Architects",
        },
    )  # fmt: skip
    levels = {"malicious": "high", "suspicious": "medium", "n/a": "low", None: "low"}
    for level, severity in levels.items():
        assert severity_of({"classification": "Trojan", "confidenceLevel": level}) == severity
    info = THREAT["threatInfo"]
    for incident, status in (("unresolved", "open"), ("resolved", "resolved"), ("someday", "open")):
        parsed = parse_threat({**THREAT, "threatInfo": {**info, "incidentStatus": incident}})
        assert parsed is not None and parsed.status == status and parsed.vendor_status == incident
    for network, isolation in (("connected", "connected"), ("disconnected", "isolated"), ("connecting", "releasing")):
        agent = {**THREAT["agentRealtimeInfo"], "agentNetworkStatus": network}
        assert parse_threat({**THREAT, "agentRealtimeInfo": agent}).isolation == isolation  # type: ignore[union-attr]
    judged = parse_threat({**THREAT, "threatInfo": {**info, "analystVerdict": "false_positive", "sha256": None}})
    assert judged is not None and judged.verdict == "false_positive" and judged.file_hash == "a" * 40
    assert parse_threat({**THREAT, "threatInfo": {**info, "createdAt": None}}) is None
    assert parse_threat({"threatInfo": info}) is None
    assert parse_site({"id": "9", "name": " Bayside Bistro ", "state": "active"}) == CustomerRecord(
        "9", "Bayside Bistro"
    )
    assert parse_site({"id": "9", "name": "Gone Ltd", "state": "deleted"}) is None


def test_the_setup_page_asks_for_the_console_and_token_and_never_shows_the_token(app: Flask, tenants: Any) -> None:
    acme = tenants["acme"]
    client = login(app, acme, acme.admin)
    page = client.get("/admin/integrations/sentinelone").get_data(as_text=True)
    for words in ("Console URL", "API token", "Service Users", "usea1-partners.sentinelone.net"):
        assert words in page, words
    assert DEMO_API_TOKEN not in page


# --- the Test button ----------------------------------------------------------------------------------


def test_it_reports_the_sites_and_when_the_token_expires(app: Flask, s1: S1) -> None:
    expires = datetime.fromtimestamp(s1.state.tokens[DEMO_API_TOKEN].expires_at, UTC)
    day = f"{expires.day} {expires.strftime('%b')} {expires.year}"  # as every date Vectis shows: "3 Mar 2027"
    assert check(app, s1) == (True, f"Connected to SentinelOne: 12 sites; the API token expires on {day}.")
    s1.state.expire_demo_token_in(3.5)
    ok, message = check(app, s1)
    assert ok and message.endswith("That is in 3 days: make a new one before then."), message
    # The token went in the body of api-token-details and nowhere else; the log of what came in hides it.
    assert {"method": "POST", "path": f"{API}/users/api-token-details", "query": {}, "body": {
        "data": {"apiToken": "(hidden)"}}} in s1.state.received()  # fmt: skip


def test_a_wrong_expired_or_unprivileged_token_is_named_in_words(app: Flask, s1: S1) -> None:
    assert check(app, s1, api_token="not-the-token") == (False, MESSAGES[401])
    assert "Service Users" in MESSAGES[401]
    s1.state.faults.token_expired = True
    assert check(app, s1) == (False, MESSAGES["expired"])
    s1.state.faults.token_expired = False
    s1.state.faults.forbidden = "all"
    ok, message = check(app, s1)
    assert not ok and message == MESSAGES[403].format(what="read sites and threats")
    assert "Viewer" in message


def test_a_console_that_does_not_answer_or_is_not_sentinelone_says_to_check_the_url(app: Flask) -> None:
    ok, message = check(app, console_url="http://127.0.0.1:9")  # nothing listens on port 9
    assert not ok and message == MESSAGES["unreachable"].format(host="127.0.0.1:9")
    for url in serve_app(Flask("not_sentinelone")):  # something answers, but 404 to S1's paths
        ok, message = check(app, console_url=url)
        host = url.removeprefix("http://")
        assert not ok and message == MESSAGES["not_s1"].format(host=host, path=f"{API}/users/api-token-details")


def test_it_says_connection_timed_out(app: Flask, s1: S1) -> None:
    s1.state.faults.hang = 8.0  # longer than the Test button waits
    answered = s1.state.stats()["total"]
    ok, message = check(app, s1)
    assert not ok and message == MESSAGES["timeout"].format(host=s1.url.removeprefix("http://"))
    s1.state.faults.hang = 0.0
    wait_for_the_hung_request(s1.state, answered)


# --- response actions ---------------------------------------------------------------------------------


def test_each_request_is_built_exactly_as_sentinelone_documents_it() -> None:
    built = SentinelOneConnector.__new__(SentinelOneConnector)  # the builders need no connection
    assert as_sent(built.isolate_request("111", comment="ransomware")) == {
        "method": "POST", "path": f"{API}/agents/actions/disconnect", "body": {"filter": {"ids": ["111"]}},
    }  # fmt: skip
    assert as_sent(built.release_request("111", comment="cleaned")) == {
        "method": "POST", "path": f"{API}/agents/actions/connect", "body": {"filter": {"ids": ["111"]}},
    }  # fmt: skip
    assert as_sent(built.resolve_request("222")) == {
        "method": "POST", "path": f"{API}/threats/incident",
        "body": {"filter": {"ids": ["222"]}, "data": {"incidentStatus": "resolved"}},
    }  # fmt: skip
    assert as_sent(built.false_positive_request("222", reason="our own build tool")) == {
        "method": "POST", "path": f"{API}/threats/analyst-verdict",
        "body": {"filter": {"ids": ["222"]}, "data": {"analystVerdict": "false_positive"}},
    }  # fmt: skip
    # Every one sets a state: safe to send again; none carries a credential.
    requests = [built.isolate_request("1", comment=""), built.resolve_request("2")]
    assert all(r.retry for r in requests) and DEMO_API_TOKEN not in repr(requests)


def test_isolate_is_pending_then_confirmed_and_release_mirrors_it(app: Flask, s1: S1) -> None:
    s1.state.transition_seconds = 0.4
    agent = next(a["id"] for a in s1.state.agents.values() if a["networkStatus"] == "connected")
    edr = connector(app, s1)
    assert edr.isolation_of(agent) == "connected"
    edr.isolate(agent, comment="ransomware on it")
    sent = last_received(s1)
    assert {k: sent[k] for k in ("method", "path", "body")} == as_sent(edr.isolate_request(agent, comment=""))
    assert edr.isolation_of(agent) == "isolating"
    time.sleep(0.5)
    assert edr.isolation_of(agent) == "isolated"
    edr.isolate(agent, comment="again")  # repeating it changes nothing
    assert edr.isolation_of(agent) == "isolated"
    edr.release(agent, comment="cleaned")
    assert edr.isolation_of(agent) == "releasing"
    time.sleep(0.5)
    assert edr.isolation_of(agent) == "connected"
    assert edr.isolation_of("1234567890123456789") is None  # an agent S1 no longer knows


def test_resolve_and_false_positive_read_back_as_the_tool_holds_them(app: Flask, s1: S1) -> None:
    threat_id = next(i for i, t in s1.state.threats.items() if t["threatInfo"]["incidentStatus"] == "unresolved")
    edr = connector(app, s1)
    before = edr.get_detection(threat_id)
    assert before is not None and before.status == "open" and before.verdict is None
    edr.resolve_detection(threat_id)
    sent = last_received(s1)
    assert {k: sent[k] for k in ("method", "path", "body")} == as_sent(edr.resolve_request(threat_id))
    resolved = edr.get_detection(threat_id)
    assert resolved is not None and resolved.status == "resolved" and resolved.vendor_status == "resolved"
    assert resolved.verdict is None  # resolving leaves the analyst's verdict alone
    assert resolved.updated_at is not None and before.updated_at is not None and resolved.updated_at > before.updated_at
    edr.mark_false_positive(threat_id, reason="our own build tool")
    assert "our own build tool" not in str(last_received(s1))  # S1 takes no reason: it stays in Vectis
    judged = edr.get_detection(threat_id)
    assert judged is not None and judged.verdict == "false_positive" and judged.status == "resolved"
    assert edr.get_detection("1234567890123456789") is None


def test_a_viewer_token_cannot_act_and_says_why(app: Flask, s1: S1) -> None:
    s1.state.faults.forbidden = "writes"
    edr = connector(app, s1)
    agent = next(iter(s1.state.agents))
    assert edr.isolation_of(agent) is not None  # it may still read
    with pytest.raises(ConnectorError) as refused:
        edr.isolate(agent, comment="")
    assert refused.value.permanent and refused.value.message == MESSAGES[403].format(what="take response actions")


def test_429s_are_waited_out_as_retry_after_says_and_5xx_retried(
    app: Flask, s1: S1, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sentinelone, "THREAT_PAGE", 2)
    s1.state.faults.rate_limit_per_second = 2
    s1.state.faults.errors_5xx = 2
    edr = connector(app, s1)  # a worker's policy: retries, honouring Retry-After
    (stream,) = [s for s in edr.streams() if s.name == "threats"]
    pages = list(edr.read(stream, None))
    ids = [r.external_id for page in pages for r in page.records if isinstance(r, DetectionRecord)]
    assert sorted(ids) == sorted(s1.threats_seen_by_a_first_sync()) and len(ids) == 15
    statuses = s1.state.stats()["statuses"]
    assert statuses.get("429", 0) > 0 and s1.state.faults.errors_5xx == 0
    assert busiest_second(s1.state.answers()) <= 2 + 2


# --- reading and syncing ------------------------------------------------------------------------------


def test_threats_are_read_recent_first_then_the_old_unresolved_then_from_the_cursor(
    app: Flask, s1: S1, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sentinelone, "THREAT_PAGE", 4)
    threats = list(s1.state.threats.values())
    old = timedelta(days=40).total_seconds()
    for threat, status in ((threats[2], "unresolved"), (threats[9], "resolved")):  # long ago: one still open
        info = threat["threatInfo"]
        moment = datetime.fromisoformat(info["createdAt"]).timestamp() - old
        info["incidentStatus"] = status
        info["createdAt"] = info["updatedAt"] = datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    edr = connector(app, s1)
    (stream,) = [s for s in edr.streams() if s.name == "threats"]
    pages = list(edr.read(stream, None))
    read = [r.external_id for page in pages for r in page.records]
    assert sorted(read) == sorted(s1.threats_seen_by_a_first_sync())
    assert threats[2]["id"] in read and threats[9]["id"] not in read
    # The window first, each page's cursor saying the old unresolved ones are still to read; then those (no cursor
    # of their own); then a closing page with the cursor alone.
    window = s1.threats_seen_by_a_first_sync() - {threats[2]["id"]}
    assert [r.external_id for page in pages[:4] for r in page.records] == sorted(
        window, key=lambda i: s1.state.threats[i]["threatInfo"]["updatedAt"]
    )
    assert all(set(page.cursor or {}) == {"updated_after", "older_before"} for page in pages[:4])
    assert [r.external_id for r in pages[4].records] == [threats[2]["id"]] and pages[4].cursor is None
    newest = max(t["threatInfo"]["updatedAt"] for t in s1.state.threats.values() if t["id"] in read)
    assert pages[-1].records == [] and pages[-1].cursor == {"updated_after": newest}
    assert s1.requests("GET /threats") == 4 + 1  # 13 recent ones, 4 a page; one page of old ones
    # A sync stopped after the window's first page goes on from it, and still reads the old unresolved one.
    resumed = [r.external_id for page in edr.read(stream, pages[0].cursor) for r in page.records]
    assert sorted(resumed) == sorted(set(read) - {r.external_id for r in pages[0].records})
    (nothing_new,) = list(edr.read(stream, pages[-1].cursor))
    assert nothing_new.records == []
    edr.resolve_detection(threats[5]["id"])
    (again,) = list(edr.read(stream, pages[-1].cursor))
    assert [r.external_id for r in again.records] == [threats[5]["id"]]
    (sites,) = [s for s in edr.streams() if s.name == "sites"]
    customers = [r for page in edr.read(sites, None) for r in page.records]
    assert {r.name for r in customers if isinstance(r, CustomerRecord)} == {s["name"] for s in s1.state.sites.values()}


def detections(app: Flask, setup: Setup) -> dict[str, Detection]:
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        rows = {d.external_id: d for d in s.scalars(select(Detection))}
        s.expunge_all()
        return rows


def test_a_sync_links_sites_to_customers_and_lands_threats_as_detections(app: Flask, s1: S1) -> None:
    setup = add_connection(app, new_tenant(app), "sentinelone", s1.config)
    run = sync(app, setup)
    assert run.status == "succeeded", run.error
    assert run.counts == {"sites": 12, "threats": 15}
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        customers = {c.id: c.name for c in s.scalars(select(Customer))}
        links = {link.external_id: link.customer_id or 0 for link in s.scalars(select(CustomerLink))}
        cursor = s.scalar(select(StreamCursor.cursor).where(StreamCursor.stream == "threats"))
    assert set(customers.values()) == {site["name"] for site in s1.state.sites.values()}
    assert {customers[links[site_id]] for site_id in s1.state.sites} == set(customers.values())
    rows = detections(app, setup)
    assert set(rows) == set(s1.state.threats)
    severities = {"Ransomware": "critical"}
    for threat_id, threat in s1.state.threats.items():
        row, info = rows[threat_id], threat["threatInfo"]
        agent = s1.state.agents[threat["agentRealtimeInfo"]["agentId"]]
        assert customers[row.customer_id] == agent["siteName"]  # type: ignore[index]
        expected = severities.get(info["classification"]) or {"malicious": "high", "suspicious": "medium"}.get(
            info["confidenceLevel"], "low"
        )
        assert (row.severity, row.vendor_severity) == (expected, info["confidenceLevel"])
        assert (
            row.status
            == {"unresolved": "open", "in_progress": "in_progress", "resolved": "resolved"}[info["incidentStatus"]]
        )
        assert row.verdict == (None if info["analystVerdict"] == "undefined" else info["analystVerdict"])
        assert row.isolation == {"connected": "connected", "disconnected": "isolated"}[agent["networkStatus"]]
        assert row.device_name == agent["computerName"] and row.device_external_id == agent["id"]
    assert {r.severity for r in rows.values()} == {"critical", "high", "medium", "low"}
    assert "isolated" in {r.isolation for r in rows.values()}
    newest = max(t["threatInfo"]["updatedAt"] for t in s1.state.threats.values())
    assert cursor == {"updated_after": newest}
    # The next sync reads only what changed, and the detection follows what S1 says now.
    changed = next(i for i, t in s1.state.threats.items() if t["threatInfo"]["incidentStatus"] == "unresolved")
    connector(app, s1).resolve_detection(changed)
    second = sync(app, setup)
    assert second.status == "succeeded" and second.counts == {"sites": 12, "threats": 1}
    assert detections(app, setup)[changed].status == "resolved"
    assert sync(app, setup).counts.get("threats", 0) == 0


def test_a_syncs_threat_pages_are_written_in_parts_side_by_side_each_committed_in_page_order(
    app: Flask, s1: S1, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sentinelone, "THREAT_PAGE", 4)
    setup = add_connection(app, new_tenant(app), "sentinelone", s1.config)

    def written() -> tuple[int, dict[str, str], int, set[int]]:
        with app.app_context(), db.tenant_session(setup.tenant_id) as s:
            # Each part of a page (two a page: one a lane) is a transaction of its own.
            xmin = text("detections.xmin::text::bigint")
            transactions = s.scalar(select(func.count(func.distinct(xmin))).select_from(Detection)) or 0
            cursor, cursor_written = s.execute(
                select(StreamCursor.cursor, text("stream_cursors.xmin::text::bigint")).where(
                    StreamCursor.stream == "threats"
                )
            ).one()
            return transactions, cursor, cursor_written, set(s.scalars(select(xmin).select_from(Detection)))

    run = sync(app, setup)
    assert run.status == "succeeded", run.error
    transactions, cursor, cursor_written, parts = written()
    pages = -(-len(s1.threats_seen_by_a_first_sync()) // 4)
    assert transactions >= 2 * pages - 1
    newest = max(t["threatInfo"]["updatedAt"] for t in s1.state.threats.values())
    assert cursor == {"updated_after": newest}
    # A first sync's cursor is final once the old unresolved threats are read too: after every page's rows.
    assert cursor_written > max(parts)
    assert set(detections(app, setup)) == set(s1.state.threats)
    # A later sync's cursor moves in the same transaction as a page's rows, never in one of its own.
    edr = connector(app, s1)
    for threat_id in [i for i, t in s1.state.threats.items() if t["threatInfo"]["incidentStatus"] != "resolved"][:6]:
        edr.resolve_detection(threat_id)
    assert sync(app, setup).counts["threats"] == 6
    _, cursor, cursor_written, parts = written()
    assert cursor == {"updated_after": max(t["threatInfo"]["updatedAt"] for t in s1.state.threats.values())}
    assert cursor_written in parts


def test_a_sync_gives_the_collector_its_pace_back_whether_it_succeeds_or_fails(app: Flask, s1: S1) -> None:
    """While a sync runs the cyclic collector passes less often (``vectis/ingest/sync.py``); afterwards the worker, and
    whatever it runs next, has the pace it had, also after a sync the vendor refused."""
    before = gc.get_threshold()
    assert sync(app, add_connection(app, new_tenant(app), "sentinelone", s1.config)).status == "succeeded"
    assert gc.get_threshold() == before
    refused = add_connection(app, new_tenant(app), "sentinelone", {**s1.config, "api_token": "not-a-token"})
    assert sync(app, refused).status == "failed"
    assert gc.get_threshold() == before


# --- the detection verbs, end to end ------------------------------------------------------------------

SAM = Actor("user", None, "sam@msp.test", "technician")


def act(
    app: Flask, setup: Setup, verb: str, detection_id: int, payload: Json | None = None, *, dry: bool = False
) -> Outcome:
    with app.test_request_context(), db.tenant_session(setup.tenant_id) as s:
        return perform(
            verb, Target("detection", str(detection_id), "detection"), payload or {}, actor=SAM, surface="ui",
            dry_run=dry, session=s, tenant_id=setup.tenant_id,
        )  # fmt: skip


def test_the_detection_verbs_send_what_their_dry_run_shows_and_read_sentinelone_back(app: Flask, s1: S1) -> None:
    s1.state.transition_seconds = 0.4
    setup = add_connection(app, new_tenant(app), "sentinelone", s1.config)
    assert sync(app, setup).status == "succeeded"
    rows = detections(app, setup)
    open_one = next(r for r in rows.values() if r.status == "open" and r.isolation == "connected")
    built = SentinelOneConnector.__new__(SentinelOneConnector)
    for verb, request, payload in (
        ("detection.isolate", built.isolate_request(open_one.device_external_id or "", comment=""), {}),
        ("detection.resolve", built.resolve_request(open_one.external_id), {}),
        ("detection.false_positive", built.false_positive_request(open_one.external_id, reason=""), {"reason": "ours"}),
    ):
        preview = act(app, setup, verb, open_one.id, payload, dry=True)
        assert preview.result == "dry_run" and preview.preview is not None, preview.message
        assert preview.preview.requests == [{"vendor": "SentinelOne", **as_sent(request), "unknown": None}]
    assert s1.requests("POST /agents/actions/disconnect") == 0 and s1.requests("POST /threats/incident") == 0
    one_way = act(app, setup, "detection.isolate", open_one.id, {"mode": "Selective"})
    assert one_way.result == "failed" and "isolates one way only" in one_way.message, one_way.message
    isolated = act(app, setup, "detection.isolate", open_one.id)
    assert isolated.ok and isolated.response == {"isolation": "isolating"}, isolated.message
    assert detections(app, setup)[open_one.external_id].isolation == "isolating"
    # Isolate again, pending and then confirmed: said, and nothing sent.
    pending = act(app, setup, "detection.isolate", open_one.id)
    assert "already isolating" in pending.message and "nothing was sent" in pending.message, pending.message
    time.sleep(0.5)
    with app.test_request_context(), db.tenant_session(setup.tenant_id) as s:
        row = s.get(Detection, open_one.id)
        assert row is not None and refresh_isolation(s, row) == "isolated"
    again = act(app, setup, "detection.isolate", open_one.id)
    assert "already isolated; nothing was sent" in again.message, again.message
    assert s1.requests("POST /agents/actions/disconnect") == 1
    resolved = act(app, setup, "detection.resolve", open_one.id)
    assert resolved.ok and resolved.message.startswith("Resolved in SentinelOne"), resolved.message
    assert detections(app, setup)[open_one.external_id].status == "resolved"
    judged = act(app, setup, "detection.false_positive", open_one.id, {"reason": "our own build tool"})
    assert judged.ok and judged.response["verdict"] == "false_positive", judged.message
