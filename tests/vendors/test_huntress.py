"""The Huntress connector against the Huntress simulator, over real HTTP on loopback: the Test button's messages, the
parsers, each response action's exact request and its read-back, the action Huntress's API cannot take refused with
its reason, 429s within limits, and (through the real sync job) organizations linked to customers and incident
reports landing as detections, incrementally."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from tests.conftest import login
from tests.vendors.faults import busiest_second
from tests.vendors.support import Setup, add_connection, new_tenant, serve_app, sync, wait_for_the_hung_request
from vectis.actions.base import Outcome, Target
from vectis.actions.perform import perform
from vectis.audit.actors import Actor
from vectis.connectors import huntress
from vectis.connectors.base import CustomerRecord, DetectionRecord
from vectis.connectors.capabilities import Request, RespondsOnEndpoints, supports
from vectis.connectors.factory import build_connector
from vectis.connectors.huntress import (
    API_URL,
    FIRST_WINDOW,
    MESSAGES,
    RESPONSES,
    HuntressConnector,
    api_root,
    parse_organization,
    parse_report,
)
from vectis.demo.seed import DEMO_HUNTRESS
from vectis.ingest.integrations import try_connection
from vectis.models import Connection, Customer, CustomerLink, StreamCursor
from vectis.models.security import Detection
from vectis.platform import db
from vectis.platform.http import ConnectorError
from vectis.platform.queues import redis
from vectis.security.queries import matrix
from vectis.security.service import refresh_isolation
from vectis.simulators.huntress import API, DEMO_API_KEY, DEMO_API_SECRET, HuntressState, create_app

Json = dict[str, Any]

SEVERITY = {"low": "low", "high": "high", "critical": "critical"}
STATUS = {"sent": "open", "auto_remediating": "in_progress", "closed": "resolved", "dismissed": "resolved",
          "partner_dismissed": "resolved"}  # fmt: skip
VERDICT = {"sent": "true_positive", "auto_remediating": "true_positive", "closed": "true_positive",
           "dismissed": "false_positive", "partner_dismissed": "false_positive"}  # fmt: skip
ISOLATION = {"Enabled": "connected", "Disabled": "connected", "Pending Isolation": "isolating", "Isolated": "isolated",
             "Pending Release": "releasing"}  # fmt: skip


@dataclass
class Hunt:
    state: HuntressState
    url: str

    @property
    def config(self) -> dict[str, str]:
        return {"api_key": DEMO_API_KEY, "api_secret": DEMO_API_SECRET, "api_url": self.url}

    def requests(self, pattern: str) -> int:
        return int(self.state.stats()["paths"].get(pattern, 0))

    def seen_by_a_first_sync(self) -> set[str]:
        since = (datetime.now(UTC) - FIRST_WINDOW).timestamp()
        return {
            str(report_id)
            for report_id, r in self.state.reports.items()
            if r["status"] in ("sent", "auto_remediating")
            or datetime.fromisoformat(r["updated_at"]).timestamp() >= since
        }


@pytest.fixture
def hunt() -> Iterator[Hunt]:
    state = HuntressState.seeded()
    for url in serve_app(create_app(state)):
        yield Hunt(state, url)


def connector(app: Flask, hunt: Hunt, *, interactive: bool = False, **config: str) -> HuntressConnector:
    """The connector as a worker (or the Test button) builds it, for a connection of a tenant of its own."""
    with app.app_context():
        probe = Connection(tenant_id=new_tenant(app), vendor="huntress", name="Huntress")
        probe.rate_limit_per_second = 200.0
        built = build_connector(
            probe, redis(), app.config["VECTIS_SETTINGS"], config={**hunt.config, **config}, interactive=interactive
        )
    assert isinstance(built, HuntressConnector)
    return built


def check(app: Flask, hunt: Hunt | None = None, **overrides: str) -> tuple[bool, str]:
    tenant_id = new_tenant(app)
    config = {**(hunt.config if hunt else DEMO_HUNTRESS), **overrides}
    with app.test_request_context(), db.tenant_session(tenant_id) as s:
        return try_connection(s, tenant_id, HuntressConnector, config)


def last_received(hunt: Hunt) -> Json:
    received: Json = hunt.state.received()[-1]
    return received


def as_sent(request: Request) -> Json:
    return {"method": request.method, "path": request.path, "body": request.body}


def first(hunt: Hunt, **wanted: Any) -> Json:
    """The first seeded report with these fields (``approved``: whether its remediations are)."""
    approved = wanted.pop("approved", None)
    for report in hunt.state.reports.values():
        ready = report["remediations"]["items"][0]["status"] != "unapproved"
        if all(report[k] == v for k, v in wanted.items()) and approved in (None, ready):
            return report
    raise AssertionError(f"no report with {wanted}")


# --- configuration and parsing ------------------------------------------------------------------------


def test_it_fills_in_huntresss_api_and_declares_what_it_can_do() -> None:
    assert api_root("") == API_URL == "https://api.huntress.io"
    assert api_root("api.huntress.io/v1/agents") == API_URL
    clean = HuntressConnector.validate_config({"api_key": " hk_1 ", "api_secret": "hs_2"})
    assert clean == {"api_key": "hk_1", "api_secret": "hs_2", "api_url": API_URL, "webhook_secret": ""}
    with pytest.raises(ConnectorError, match="API secret is required"):
        HuntressConnector.validate_config({"api_key": "hk_1", "api_secret": " "})
    assert HuntressConnector.secret_fields() == {"api_secret", "webhook_secret"}
    assert HuntressConnector.category == "security" and HuntressConnector.default_rate_limit == 1.0
    assert HuntressConnector.validate_config(DEMO_HUNTRESS) == {**DEMO_HUNTRESS, "webhook_secret": ""}
    assert supports(HuntressConnector, RespondsOnEndpoints)
    assert matrix("huntress") == {
        "isolate": None, "release": None, "resolve": None, "false_positive": RESPONSES["false_positive"],
    }  # fmt: skip
    assert "Huntress's SOC decides" in str(RESPONSES["false_positive"])


REPORT: Json = {
    "id": 1234, "organization_id": 77, "agent_id": 88, "platform": "windows", "severity": "critical",
    "status": "auto_remediating", "subject": "CRITICAL - Incident on GAX-WS01 (Greyhaven Architects)",
    "summary": "Ransomware canary modified.", "indicator_types": ["ransomware_canaries"],
    "indicator_counts": {"ransomware_canaries": 2},
    "remediations": {"total_count": 1, "has_more": False,
                     "items": [{"id": 5, "type": "assisted", "action": "Isolate Host", "status": "approved"}]},
    "created_at": "2025-03-14T09:30:12Z", "sent_at": "2025-03-14T09:50:00Z", "updated_at": "2025-03-14T10:00:00Z",
}  # fmt: skip
AGENT: Json = {"id": 88, "hostname": "GAX-WS01", "firewall_status": "Pending Isolation", "os": "Windows 11 Pro"}


def test_reports_parse_into_detections_with_severity_status_verdict_and_isolation() -> None:
    assert parse_report(REPORT, AGENT) == DetectionRecord(
        external_id="1234",
        customer_external_id="77",
        device_external_id="88",
        device_name="GAX-WS01",
        title="CRITICAL - Incident on GAX-WS01 (Greyhaven Architects)",
        severity="critical",
        vendor_severity="critical",
        status="in_progress",
        vendor_status="auto_remediating",
        detected_at=datetime(2025, 3, 14, 9, 30, 12, tzinfo=UTC),
        updated_at=datetime(2025, 3, 14, 10, 0, tzinfo=UTC),
        verdict="true_positive",
        isolation="isolating",
        classification="ransomware_canaries",
        details={
            "platform": "windows", "summary": "Ransomware canary modified.",
            "indicator_types": ["ransomware_canaries"], "indicator_counts": {"ransomware_canaries": 2},
            "sent_at": "2025-03-14T09:50:00Z",
            "remediations": [{"action": "Isolate Host", "type": "assisted", "status": "approved"}],
            "agent_os": "Windows 11 Pro",
        },
    )  # fmt: skip
    for word, severity in (*SEVERITY.items(), ("medium", "medium"), ("", "medium"), ("urgent", "medium")):
        parsed = parse_report({**REPORT, "severity": word}, AGENT)
        assert parsed is not None and parsed.severity == severity and parsed.vendor_severity == (word or "n/a")
    for word, status in STATUS.items():
        parsed = parse_report({**REPORT, "status": word}, AGENT)
        assert parsed is not None and (parsed.status, parsed.verdict) == (status, VERDICT[word]), word
    for firewall, isolation in ISOLATION.items():
        assert parse_report(REPORT, {**AGENT, "firewall_status": firewall}).isolation == isolation  # type: ignore[union-attr]
    unknown = parse_report({**REPORT, "status": "someday"})
    assert unknown is not None and (unknown.status, unknown.verdict, unknown.isolation) == ("open", None, None)
    assert unknown.device_name is None and unknown.device_external_id == "88"  # the agent was not read
    assert parse_report({**REPORT, "created_at": None, "sent_at": None}) is None
    assert parse_report({k: v for k, v in REPORT.items() if k != "id"}) is None
    assert parse_organization({"id": 9, "name": " Bayside Bistro "}) == CustomerRecord("9", "Bayside Bistro")
    assert parse_organization({"id": 9, "name": ""}) is None


def test_the_setup_page_asks_for_the_key_pair_and_never_shows_the_secret(app: Flask, tenants: Any) -> None:
    acme = tenants["acme"]
    client = login(app, acme, acme.admin)
    page = client.get("/admin/integrations/huntress").get_data(as_text=True)
    for words in ("API key", "API secret", "API Credentials", "hk_", API_URL):
        assert words in page, words
    assert DEMO_API_SECRET not in page


# --- the Test button ----------------------------------------------------------------------------------


def test_it_names_the_account(app: Flask, hunt: Hunt) -> None:
    assert check(app, hunt) == (True, "Connected to Huntress: the account Summit IT (summitit.huntress.io).")
    assert hunt.requests("GET /incident_reports") == 1 and hunt.requests("GET /organizations") == 1
    # The secret went only in the Authorization header, which the log of what came in does not keep.
    assert DEMO_API_SECRET not in str(hunt.state.received())


def test_a_wrong_or_read_only_key_is_named_in_words(app: Flask, hunt: Hunt) -> None:
    assert check(app, hunt, api_secret="hs_not_the_secret") == (False, MESSAGES[401])
    assert check(app, hunt, api_key="hk_someone_else") == (False, MESSAGES[401])
    assert "API Credentials" in MESSAGES[401]
    hunt.state.faults.forbidden = "all"
    ok, message = check(app, hunt)
    assert not ok and message == MESSAGES[403].format(what="read organizations and incident reports")


def test_an_api_url_that_does_not_answer_or_is_not_huntress_says_so(app: Flask) -> None:
    ok, message = check(app, api_url="http://127.0.0.1:9")  # nothing listens on port 9
    assert not ok and message == MESSAGES["unreachable"].format(host="127.0.0.1:9")
    for url in serve_app(Flask("not_huntress")):  # something answers, but 404 to Huntress's paths
        ok, message = check(app, api_url=url)
        host = url.removeprefix("http://")
        assert not ok and message == MESSAGES["not_huntress"].format(host=host, path=f"{API}/account")


def test_it_says_connection_timed_out(app: Flask, hunt: Hunt) -> None:
    hunt.state.faults.hang = 8.0  # longer than the Test button waits
    answered = hunt.state.stats()["total"]
    ok, message = check(app, hunt)
    assert not ok and message == MESSAGES["timeout"].format(host=hunt.url.removeprefix("http://"))
    hunt.state.faults.hang = 0.0
    wait_for_the_hung_request(hunt.state, answered)


# --- response actions ---------------------------------------------------------------------------------


def test_each_request_is_built_exactly_as_huntress_documents_it() -> None:
    built = HuntressConnector.__new__(HuntressConnector)  # the builders need no connection
    assert as_sent(built.isolate_request("88", comment="ransomware")) == {
        "method": "POST", "path": f"{API}/agents/88/isolation", "body": {"reason": "ransomware"},
    }  # fmt: skip
    assert as_sent(built.release_request("88", comment="cleaned")) == {
        "method": "DELETE", "path": f"{API}/agents/88/isolation", "body": None,
    }  # fmt: skip
    assert as_sent(built.resolve_request("1234")) == {
        "method": "POST", "path": f"{API}/incident_reports/1234/resolution", "body": None,
    }  # fmt: skip
    with pytest.raises(ConnectorError) as refused:
        built.false_positive_request("1234", reason="ours")
    assert refused.value.permanent and refused.value.message == RESPONSES["false_positive"]
    requests = [built.isolate_request("1", comment=""), built.resolve_request("2")]
    assert all(r.retry for r in requests) and DEMO_API_SECRET not in repr(requests)


def test_isolate_is_pending_then_confirmed_and_release_mirrors_it(app: Flask, hunt: Hunt) -> None:
    hunt.state.transition_seconds = 0.4
    agent = str(next(a["id"] for a in hunt.state.agents.values() if a["firewall_status"] == "Enabled"))
    edr = connector(app, hunt)
    assert edr.isolation_of(agent) == "connected"
    edr.isolate(agent, comment="ransomware on it")
    sent = last_received(hunt)
    assert {k: sent[k] for k in ("method", "path", "body")} == as_sent(
        edr.isolate_request(agent, comment="ransomware on it")
    )
    assert edr.isolation_of(agent) == "isolating"
    time.sleep(0.5)
    assert edr.isolation_of(agent) == "isolated"
    edr.isolate(agent, comment="again")  # repeating it changes nothing
    assert edr.isolation_of(agent) == "isolated"
    edr.release(agent, comment="cleaned")
    assert edr.isolation_of(agent) == "releasing"
    time.sleep(0.5)
    assert edr.isolation_of(agent) == "connected"
    assert edr.isolation_of("1") is None  # an agent Huntress no longer knows


def test_resolve_reads_back_closed_and_says_why_huntress_refuses(app: Flask, hunt: Hunt) -> None:
    ready = first(hunt, status="sent", approved=True)
    edr = connector(app, hunt)
    before = edr.get_detection(str(ready["id"]))
    assert before is not None and before.status == "open" and before.device_name is not None
    edr.resolve_detection(str(ready["id"]))
    sent = last_received(hunt)
    assert {k: sent[k] for k in ("method", "path", "body")} == as_sent(edr.resolve_request(str(ready["id"])))
    resolved = edr.get_detection(str(ready["id"]))
    assert resolved is not None and (resolved.status, resolved.vendor_status) == ("resolved", "closed")
    assert resolved.updated_at is not None and before.updated_at is not None and resolved.updated_at > before.updated_at
    edr.resolve_detection(str(ready["id"]))  # again: Huntress answers 422, and the read-back says it is resolved
    waiting = first(hunt, status="sent", approved=False)
    with pytest.raises(ConnectorError) as refused:
        edr.resolve_detection(str(waiting["id"]))
    assert refused.value.permanent and refused.value.message == MESSAGES["unapproved"]
    remediating = first(hunt, status="auto_remediating")
    with pytest.raises(ConnectorError) as refused:
        edr.resolve_detection(str(remediating["id"]))
    assert refused.value.message == MESSAGES["not_sent"].format(status="auto_remediating")
    assert edr.get_detection("1") is None
    with pytest.raises(ConnectorError, match="SOC decides"):
        edr.mark_false_positive(str(ready["id"]), reason="ours")


def test_a_read_only_key_cannot_act_and_says_why(app: Flask, hunt: Hunt) -> None:
    hunt.state.faults.forbidden = "writes"
    edr = connector(app, hunt)
    agent = str(next(iter(hunt.state.agents)))
    assert edr.isolation_of(agent) is not None  # it may still read
    with pytest.raises(ConnectorError) as refused:
        edr.isolate(agent, comment="")
    assert refused.value.permanent
    assert refused.value.message == MESSAGES[403].format(what="isolate hosts or resolve incident reports")


def test_429s_are_waited_out_as_retry_after_says_and_5xx_retried(
    app: Flask, hunt: Hunt, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(huntress, "PAGE", 2)
    hunt.state.faults.rate_limit_per_second = 2
    hunt.state.faults.errors_5xx = 2
    edr = connector(app, hunt)  # a worker's policy: retries, honouring Retry-After
    (stream,) = [s for s in edr.streams() if s.name == "incident_reports"]
    pages = list(edr.read(stream, None))
    ids = [r.external_id for page in pages for r in page.records if isinstance(r, DetectionRecord)]
    assert sorted(ids) == sorted(hunt.seen_by_a_first_sync()) and len(ids) == 14
    statuses = hunt.state.stats()["statuses"]
    assert statuses.get("429", 0) > 0 and hunt.state.faults.errors_5xx == 0
    assert busiest_second(hunt.state.answers()) <= 2 + 2


# --- reading and syncing ------------------------------------------------------------------------------


def test_reports_are_read_open_and_recent_first_then_only_what_changed(
    app: Flask, hunt: Hunt, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(huntress, "PAGE", 4)
    reports = list(hunt.state.reports.values())
    old = datetime.now(UTC) - timedelta(days=40)
    for report, status in ((reports[2], "sent"), (reports[8], "closed")):  # long ago: one still open
        report["status"] = status
        report["created_at"] = report["updated_at"] = old.strftime("%Y-%m-%dT%H:%M:%SZ")
    edr = connector(app, hunt)
    (stream,) = [s for s in edr.streams() if s.name == "incident_reports"]
    pages = list(edr.read(stream, None))
    read = [r.external_id for page in pages for r in page.records]
    assert sorted(read) == sorted(hunt.seen_by_a_first_sync()) and len(read) == len(set(read)) == 13
    assert str(reports[2]["id"]) in read and str(reports[8]["id"]) not in read
    assert all(page.cursor is None for page in pages[:-1])  # the cursor is saved once everything is read
    newest = max(r["updated_at"] for r in reports)
    at_newest = sorted(str(r["id"]) for r in reports if r["updated_at"] == newest)
    assert pages[-1].cursor == {"updated_after": newest, "seen": at_newest}
    # The eight sent (two pages of 4) and the one auto-remediating; then the window's 12 reports, newest first, 4 a
    # page, stopping at the first one older than 30 days.
    assert hunt.requests("GET /incident_reports") == 2 + 1 + 4
    again = list(edr.read(stream, pages[-1].cursor))
    assert [r for page in again for r in page.records] == [] and hunt.requests("GET /incident_reports") == 8
    assert all(page.cursor is None for page in again)  # nothing new: the saved cursor stays as it is
    changed = first(hunt, status="sent", approved=True)
    edr.resolve_detection(str(changed["id"]))
    later = list(edr.read(stream, pages[-1].cursor))
    assert [r.external_id for page in later for r in page.records] == [str(changed["id"])]
    assert later[-1].cursor == {"updated_after": changed["updated_at"], "seen": [str(changed["id"])]}
    (organizations,) = [s for s in edr.streams() if s.name == "organizations"]
    customers = [r for page in edr.read(organizations, None) for r in page.records]
    names = {o["name"] for o in hunt.state.organizations.values()}
    assert {r.name for r in customers if isinstance(r, CustomerRecord)} == names


def detections(app: Flask, setup: Setup) -> dict[str, Detection]:
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        rows = {d.external_id: d for d in s.scalars(select(Detection))}
        s.expunge_all()
        return rows


def test_a_sync_links_organizations_to_customers_and_lands_reports_as_detections(app: Flask, hunt: Hunt) -> None:
    setup = add_connection(app, new_tenant(app), "huntress", hunt.config)
    other = add_connection(app, new_tenant(app), "huntress", hunt.config)  # a second MSP on the same account
    run = sync(app, setup)
    assert run.status == "succeeded", run.error
    assert run.counts == {"organizations": 12, "incident_reports": 14}
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        customers = {c.id: c.name for c in s.scalars(select(Customer))}
        links = {link.external_id: link.customer_id or 0 for link in s.scalars(select(CustomerLink))}
        cursor = s.scalar(select(StreamCursor.cursor).where(StreamCursor.stream == "incident_reports"))
    organizations = hunt.state.organizations
    assert set(customers.values()) == {o["name"] for o in organizations.values()}
    assert {customers[links[str(i)]] for i in organizations} == set(customers.values())
    rows = detections(app, setup)
    assert set(rows) == {str(i) for i in hunt.state.reports}
    for report_id, report in hunt.state.reports.items():
        row, agent = rows[str(report_id)], hunt.state.agents[report["agent_id"]]
        assert customers[row.customer_id] == organizations[report["organization_id"]]["name"]  # type: ignore[index]
        assert (row.severity, row.vendor_severity) == (SEVERITY[report["severity"]], report["severity"])
        assert (row.status, row.vendor_status) == (STATUS[report["status"]], report["status"])
        assert row.verdict == VERDICT[report["status"]]
        assert row.isolation == ISOLATION[agent["firewall_status"]]
        assert row.device_name == agent["hostname"] and row.device_external_id == str(agent["id"])
        assert row.title == report["subject"]
    assert {r.severity for r in rows.values()} == {"critical", "high", "low"}
    assert "isolated" in {r.isolation for r in rows.values()}
    assert cursor is not None and cursor["updated_after"] == max(r["updated_at"] for r in hunt.state.reports.values())
    assert detections(app, other) == {}  # the other tenant has synced nothing yet
    # The next sync reads only what changed, and the detection follows what Huntress says now.
    changed = first(hunt, status="sent", approved=True)
    connector(app, hunt).resolve_detection(str(changed["id"]))
    second = sync(app, setup)
    assert second.status == "succeeded" and second.counts == {"organizations": 12, "incident_reports": 1}
    assert detections(app, setup)[str(changed["id"])].status == "resolved"
    assert sync(app, setup).counts.get("incident_reports", 0) == 0
    assert sync(app, other).counts == {"organizations": 12, "incident_reports": 14}
    assert detections(app, other)[str(changed["id"])].status == "resolved"


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


def test_the_detection_verbs_send_what_their_dry_run_shows_and_read_huntress_back(app: Flask, hunt: Hunt) -> None:
    hunt.state.transition_seconds = 0.4
    setup = add_connection(app, new_tenant(app), "huntress", hunt.config)
    assert sync(app, setup).status == "succeeded"
    rows = detections(app, setup)
    ready = {str(r["id"]) for r in hunt.state.reports.values() if r["remediations"]["items"][0]["status"] == "approved"}
    open_one = next(
        r for r in rows.values() if r.status == "open" and r.isolation == "connected" and r.external_id in ready
    )
    built = HuntressConnector.__new__(HuntressConnector)
    for verb, request in (
        (
            "detection.isolate",
            built.isolate_request(open_one.device_external_id or "", comment="From Vectis, by sam@msp.test"),
        ),
        ("detection.resolve", built.resolve_request(open_one.external_id)),
    ):
        preview = act(app, setup, verb, open_one.id, dry=True)
        assert preview.result == "dry_run" and preview.preview is not None, preview.message
        assert preview.preview.requests == [{"vendor": "Huntress", **as_sent(request), "unknown": None}]
    assert hunt.requests("POST /agents/<int:agent_id>/isolation") == 0
    isolated = act(app, setup, "detection.isolate", open_one.id, {"comment": "ransomware on it"})
    assert isolated.ok and isolated.response == {"isolation": "isolating"}, isolated.message
    assert hunt.state.received()[-2]["body"] == {"reason": "ransomware on it"}
    assert detections(app, setup)[open_one.external_id].isolation == "isolating"
    time.sleep(0.5)
    with app.test_request_context(), db.tenant_session(setup.tenant_id) as s:
        row = s.get(Detection, open_one.id)
        assert row is not None and refresh_isolation(s, row) == "isolated"
    resolved = act(app, setup, "detection.resolve", open_one.id)
    assert resolved.ok and resolved.message.startswith("Resolved in Huntress"), resolved.message
    assert detections(app, setup)[open_one.external_id].status == "resolved"
    # Huntress's API cannot dismiss a report: the verb refuses with the matrix's reason and sends nothing.
    sent_before = hunt.state.stats()["total"]
    judged = act(app, setup, "detection.false_positive", open_one.id, {"reason": "our own build tool"})
    assert not judged.ok and judged.message == RESPONSES["false_positive"], judged.message
    assert hunt.state.stats()["total"] == sent_before
    waiting = next(r for r in rows.values() if r.status == "open" and r.external_id not in ready)
    refused = act(app, setup, "detection.resolve", waiting.id)
    assert not refused.ok and MESSAGES["unapproved"] in refused.message, refused.message
