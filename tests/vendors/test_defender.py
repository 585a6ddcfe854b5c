"""The Microsoft Defender connector against the Defender simulator, over real HTTP on loopback: the Test button's
messages per tenant, the parsers, each response action's exact request, the tenant it goes to and its read-back, 429s
within limits, and (through the real sync job) every listed tenant a customer of its own with its alerts as
detections, incrementally per tenant, a tenant that cannot be read passed over."""

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
from tests.vendors.support import (
    Setup,
    add_connection,
    new_tenant,
    serve_app,
    sync,
    vendor_url,
    wait_for_the_hung_request,
)
from vectis.actions.base import Outcome, Target
from vectis.actions.perform import perform
from vectis.audit.actors import Actor
from vectis.connectors import defender
from vectis.connectors.base import CustomerRecord, DetectionRecord
from vectis.connectors.capabilities import ENDPOINT_ACTIONS, Request, RespondsOnEndpoints, supports
from vectis.connectors.defender import (
    FIRST_WINDOW,
    MESSAGES,
    DefenderConnector,
    isolation_from,
    parse_alert,
    scoped,
    severity_of,
    unscoped,
)
from vectis.connectors.entra import MESSAGES as ENTRA
from vectis.connectors.entra import named_tenants
from vectis.connectors.factory import build_connector
from vectis.demo.seed import DEMO_DEFENDER
from vectis.ingest import runlog
from vectis.ingest.integrations import try_connection
from vectis.ingest.matching import normalize_name
from vectis.models import Connection, Customer, CustomerLink, StreamCursor
from vectis.models.security import Detection
from vectis.platform import db
from vectis.platform.http import ConnectorError
from vectis.platform.queues import redis
from vectis.security.queries import refusals
from vectis.security.service import refresh_isolation
from vectis.simulators.defender import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_TENANT_ID,
    DefenderState,
    create_app,
    demo_tenant_domains,
)
from vectis.simulators.defender.vendor import parse_iso

Json = dict[str, Any]
CLIENT = DEMO_CLIENT_ID
ONE = {"client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET, "tenant_ids": DEMO_TENANT_ID}


@dataclass
class Sim:
    state: DefenderState
    url: str

    @property
    def config(self) -> dict[str, str]:
        return dict(ONE)

    def tenant(self, position: int) -> str:
        return list(self.state.tenants)[position]

    def listing(self, *positions: int) -> dict[str, str]:
        """A connection listing these tenants (by their position in the simulator)."""
        return {**ONE, "tenant_ids": "\n".join(self.tenant(p) for p in positions)}

    def served(self, method: str, path: str) -> list[str]:
        """The tenants whose tokens ``method path`` was sent with, in order."""
        return [line.split(" ")[0] for line in self.state.served if line.split(" ", 1)[1] == f"{method} {path}"]

    def requests(self, pattern: str) -> int:
        return int(self.state.stats()["paths"].get(pattern, 0))

    def alerts(self, tenant: str = DEMO_TENANT_ID) -> dict[str, Json]:
        return {i: a for i, a in self.state.alerts.items() if a["_tenant"] == tenant}

    def machines(self, tenant: str = DEMO_TENANT_ID) -> dict[str, Json]:
        return {i: m for i, m in self.state.machines.items() if m["_tenant"] == tenant}

    def seen_by_a_first_sync(self) -> set[str]:
        since = (datetime.now(UTC) - FIRST_WINDOW).timestamp()
        return {
            alert_id
            for alert_id, a in self.alerts().items()
            if a["status"] != "Resolved" or (parse_iso(a["lastUpdateTime"]) or 0) >= since
        }


@pytest.fixture
def sim(app: Flask) -> Iterator[Sim]:
    state = DefenderState.seeded()
    for url in serve_app(create_app(state)):
        with vendor_url(app, "defender", url):  # Entra's sign-in and Defender's API both at the simulator
            yield Sim(state, url)


def connector(app: Flask, sim: Sim, *, interactive: bool = False, **config: str) -> DefenderConnector:
    """The connector as a worker (or the Test button) builds it, for a connection of a tenant of its own."""
    with app.app_context():
        probe = Connection(tenant_id=new_tenant(app), vendor="defender", name="Microsoft Defender")
        probe.rate_limit_per_second = 200.0
        built = build_connector(
            probe, redis(), app.config["VECTIS_SETTINGS"], config={**sim.config, **config}, interactive=interactive
        )
    assert isinstance(built, DefenderConnector)
    return built


def check(app: Flask, **overrides: str) -> tuple[bool, str]:
    tenant_id = new_tenant(app)
    with app.test_request_context(), db.tenant_session(tenant_id) as s:
        return try_connection(s, tenant_id, DefenderConnector, {**ONE, **overrides})


def last_received(sim: Sim) -> Json:
    received: Json = sim.state.received()[-1]
    return received


def as_sent(request: Request) -> Json:
    return {"method": request.method, "path": request.path, "body": request.body}


# --- configuration and parsing ------------------------------------------------------------------------


def test_it_derives_both_hosts_and_declares_every_response() -> None:
    assert DefenderConnector.base_url(ONE) == "https://api.securitycenter.microsoft.com"
    assert DefenderConnector.base_url(ONE, "http://127.0.0.1:18087") == "http://127.0.0.1:18087"
    typed = " {8D3F2A61-4C7E-4B19-9E05-6A2D1F7C3B48} \nContoso.onmicrosoft.com; contoso.onmicrosoft.com"
    clean = DefenderConnector.validate_config({**ONE, "tenant_ids": typed})
    assert clean == {**ONE, "tenant_ids": f"{DEMO_TENANT_ID}\ncontoso.onmicrosoft.com"}
    assert DefenderConnector.validate_config(DEMO_DEFENDER)["tenant_ids"].split("\n") == demo_tenant_domains()
    with pytest.raises(ConnectorError, match="is not a tenant ID"):
        DefenderConnector.validate_config({**ONE, "tenant_ids": f"{DEMO_TENANT_ID}\nnot-a-tenant"})
    with pytest.raises(ConnectorError, match="Customer tenants is required"):
        DefenderConnector.validate_config({**ONE, "tenant_ids": " \n "})
    with pytest.raises(ConnectorError, match="use its Directory \\(tenant\\) ID"):
        DefenderConnector.validate_config({**ONE, "tenant_ids": "a" * 50 + ".example.com"})
    assert DefenderConnector.base_url_field == "client_id"  # another app: the secret must be typed again
    assert DefenderConnector.secret_fields() == {"client_secret"}
    assert DefenderConnector.category == "security" and DefenderConnector.default_rate_limit == 1.6
    assert supports(DefenderConnector, RespondsOnEndpoints)
    assert dict(DefenderConnector.responses) == dict.fromkeys(ENDPOINT_ACTIONS)


ALERT: Json = {
    "id": "da637123456789_1234567890", "title": "Ransomware behavior detected in the file system",
    "severity": "High", "status": "InProgress", "classification": None, "determination": None,
    "category": "Ransomware", "threatFamilyName": "LockBit", "machineId": "ab" * 20,
    "computerDnsName": "gax-ws01.greyhaven.example.com", "alertCreationTime": "2025-03-14T09:30:12.2500000Z",
    "lastUpdateTime": "2025-03-14T10:00:00Z", "aadTenantId": "11111111-2222-3333-4444-555555555555",
    "incidentId": 42, "detectionSource": "WindowsDefenderAv",
    "evidence": [
        {"entityType": "User", "accountName": "reception"},
        {"entityType": "File", "sha1": "a" * 40, "sha256": "b" * 64, "fileName": "lb3.exe",
         "filePath": r"C:\Users\Public\Music"},
    ],
}  # fmt: skip


def test_alerts_parse_into_detections_with_severity_status_and_verdict() -> None:
    record = parse_alert(ALERT, DEMO_TENANT_ID)
    assert record == DetectionRecord(
        external_id=f"{DEMO_TENANT_ID}:da637123456789_1234567890",  # its tenant: where an action on it goes
        customer_external_id=DEMO_TENANT_ID,
        device_external_id=f"{DEMO_TENANT_ID}:{'ab' * 20}",
        device_name="gax-ws01",
        title="Ransomware behavior detected in the file system",
        severity="critical",  # High and Ransomware
        vendor_severity="High",
        status="in_progress",
        vendor_status="InProgress",
        detected_at=datetime(2025, 3, 14, 9, 30, 12, 250000, tzinfo=UTC),
        updated_at=datetime(2025, 3, 14, 10, 0, tzinfo=UTC),
        verdict=None,
        isolation=None,  # an alert does not say: the device's machine actions do
        classification="LockBit",
        file_path=r"C:\Users\Public\Music\lb3.exe",
        file_hash="b" * 64,
        details={
            "incidentId": 42, "category": "Ransomware", "detectionSource": "WindowsDefenderAv",
            "threatFamilyName": "LockBit", "computerDnsName": "gax-ws01.greyhaven.example.com",
        },
    )  # fmt: skip
    assert parse_alert({**ALERT, "machineId": None}, "t.example.com").device_external_id is None  # type: ignore[union-attr]
    assert unscoped(scoped("contoso.onmicrosoft.com", "da1_2")) == ("contoso.onmicrosoft.com", "da1_2")
    assert unscoped("da1_2") == (None, "da1_2")  # read before the tenant was part of it
    for word, severity in (("High", "high"), ("Medium", "medium"), ("Low", "low"), ("Informational", "low"),
                           ("UnSpecified", "low")):  # fmt: skip
        assert severity_of({"severity": word, "category": "Malware"}) == severity
    for word, status in (("New", "open"), ("Resolved", "resolved"), ("Unknown", "open")):
        parsed = parse_alert({**ALERT, "status": word}, "t")
        assert parsed is not None and parsed.status == status and parsed.vendor_status == word
    verdicts: tuple[tuple[str | None, str | None], ...] = (
        ("TruePositive", "true_positive"), ("FalsePositive", "false_positive"),
        ("InformationalExpectedActivity", "false_positive"), ("Unknown", None), (None, None),
    )  # fmt: skip
    for classification, verdict in verdicts:
        assert parse_alert({**ALERT, "classification": classification}, "t").verdict == verdict  # type: ignore[union-attr]
    mac = {
        **ALERT,
        "evidence": [{"entityType": "File", "sha1": "c" * 40, "fileName": "x", "filePath": "/Users/Shared"}],
    }
    assert (parse_alert(mac, "t").file_path, parse_alert(mac, "t").file_hash) == ("/Users/Shared/x", "c" * 40)  # type: ignore[union-attr]
    assert parse_alert({**ALERT, "alertCreationTime": None}, "t") is None
    assert parse_alert({**ALERT, "id": " "}, "t") is None


def test_isolation_is_the_newest_machine_action_that_did_not_fail() -> None:
    def action(kind: str, status: str, minute: int) -> Json:
        return {"type": kind, "status": status, "creationDateTimeUtc": f"2025-03-14T10:{minute:02d}:00Z"}

    assert isolation_from([]) == "connected"
    assert isolation_from([action("Isolate", "Pending", 1)]) == "isolating"
    assert isolation_from([action("Isolate", "Succeeded", 1)]) == "isolated"
    assert isolation_from([action("Isolate", "Succeeded", 1), action("Unisolate", "InProgress", 2)]) == "releasing"
    assert isolation_from([action("Unisolate", "Succeeded", 3), action("Isolate", "Succeeded", 1)]) == "connected"
    assert isolation_from([action("Isolate", "Succeeded", 1), action("Unisolate", "Failed", 2)]) == "isolated"
    assert isolation_from([action("RunAntiVirusScan", "Pending", 4), action("Isolate", "Succeeded", 1)]) == "isolated"


def test_the_setup_page_asks_for_the_app_its_secret_and_the_tenants_and_never_shows_the_secret(
    app: Flask, tenants: Any
) -> None:
    acme = tenants["acme"]
    client = login(app, acme, acme.admin)
    page = client.get("/admin/integrations/defender").get_data(as_text=True)
    for words in (
        "Application (client) ID",
        "Client secret",
        "Customer tenants",
        "Machine.Isolate",
        "Customer matching",
    ):
        assert words in page, words
    assert '<textarea id="field-tenant_ids" name="tenant_ids"' in page
    assert "Customer name" not in page and DEMO_CLIENT_SECRET not in page


# --- the Test button ----------------------------------------------------------------------------------


def test_it_signs_in_to_each_tenant_and_reads_its_alerts(app: Flask, sim: Sim) -> None:
    ok, message = check(app)
    assert ok and message == f"Connected to Microsoft Defender: read 1 of 1 tenants. {DEMO_TENANT_ID}: alerts readable."
    token = next(r for r in sim.state.received() if r["path"].endswith("/oauth2/v2.0/token"))
    assert token == {
        "method": "POST", "path": f"/{DEMO_TENANT_ID}/oauth2/v2.0/token", "query": {},
        "body": {"grant_type": "client_credentials", "client_id": CLIENT, "client_secret": "(hidden)",
                 "scope": "https://api.securitycenter.microsoft.com/.default"},
    }  # fmt: skip


def test_each_sign_in_failure_is_named_in_words(app: Flask, sim: Sim) -> None:
    assert check(app, client_secret="not-the-secret") == (False, ENTRA["secret"].format(client=CLIENT))
    sim.state.faults.secret_expired = True
    assert check(app) == (False, ENTRA["expired"].format(client=CLIENT))
    sim.state.faults.secret_expired = False
    none = "Microsoft Defender could be read in none of the tenants tried."
    sim.state.faults.not_consented = True
    consent = ENTRA["consent"].format(api="WindowsDefenderATP")
    assert check(app) == (False, f"{none} {DEMO_TENANT_ID}: sign-in refused: {consent}.")
    sim.state.faults.not_consented = False
    other = "00000000-1111-2222-3333-444444444444"
    assert check(app, tenant_ids=other) == (False, f"{none} {other}: sign-in refused: {ENTRA['tenant']}.")
    sim.state.faults.forbidden = "all"
    ok, message = check(app)
    forbidden = MESSAGES[403].format(client=CLIENT, what="read alerts and devices").rstrip(".")
    assert not ok and message == f"{none} {DEMO_TENANT_ID}: {forbidden}."
    assert "Alert.Read.All" in message and "admin consent" in message


def test_the_test_button_names_the_tenant_that_cannot_be_read_and_reads_the_others(app: Flask, sim: Sim) -> None:
    first, second = sim.tenant(0), sim.tenant(1)
    sim.state.faults.not_consented = [second]
    ok, message = check(app, tenant_ids=f"{first}\n{second}")
    consent = ENTRA["consent"].format(api="WindowsDefenderATP")
    assert ok and message.startswith("Connected to Microsoft Defender: read 1 of 2 tenants. "), message
    assert f"{first}: alerts readable" in message and f"{second}: sign-in refused: {consent}." in message
    # A tenant typed as its .onmicrosoft.com domain signs in as the same tenant.
    domain = sim.state.tenants[second]["initial_domain"]
    sim.state.faults.not_consented = False
    ok, message = check(app, tenant_ids=domain)
    assert ok and message.startswith(f"Connected to Microsoft Defender: read 1 of 1 tenants. {domain}: alerts"), message
    # It tries the first five; the others wait for the sync.
    ok, message = check(app, tenant_ids="\n".join(list(sim.state.tenants)[:7]))
    assert ok and message.startswith("Connected to Microsoft Defender: read 5 of 5 tenants. "), message
    assert message.endswith(" The other 2 are read at each sync.") and sim.tenant(5) not in message


def test_an_unreachable_or_slow_defender_is_named(app: Flask, sim: Sim) -> None:
    with vendor_url(app, "defender", "http://127.0.0.1:9"):  # nothing listens on port 9
        assert check(app) == (False, MESSAGES["unreachable"].format(host="127.0.0.1:9"))
    sim.state.faults.hang = 8.0  # longer than the Test button waits
    answered = sim.state.stats()["total"]
    ok, message = check(app)
    assert not ok and message == MESSAGES["timeout"].format(host=sim.url.removeprefix("http://"))
    sim.state.faults.hang = 0.0
    wait_for_the_hung_request(sim.state, answered)


def test_the_token_is_cached_per_tenant_until_shortly_before_it_expires(app: Flask, sim: Sim) -> None:
    edr = connector(app, sim, tenant_ids=sim.listing(0, 1)["tenant_ids"])
    machine = scoped(sim.tenant(0), next(iter(sim.machines())))
    theirs = scoped(sim.tenant(1), next(iter(sim.machines(sim.tenant(1)))))
    edr.isolation_of(machine)
    edr.isolation_of(machine)
    assert sim.requests("POST /{tenant}/oauth2/v2.0/token") == 1
    edr.isolation_of(theirs)  # another tenant: a token of its own
    edr.isolation_of(theirs)
    assert sim.requests("POST /{tenant}/oauth2/v2.0/token") == 2
    sim.state.faults.token_revoked = True  # Defender stops taking it: asked for again, once, then words
    with pytest.raises(ConnectorError) as refused:
        edr.isolation_of(machine)
    assert refused.value.message == MESSAGES["revoked"].format(client=CLIENT)
    assert sim.requests("POST /{tenant}/oauth2/v2.0/token") == 3


# --- response actions ---------------------------------------------------------------------------------


def test_each_request_is_built_exactly_as_defender_documents_it() -> None:
    built = DefenderConnector.__new__(DefenderConnector)  # the builders need no connection
    assert as_sent(built.isolate_request("m1", comment="ransomware")) == {
        "method": "POST", "path": "/api/machines/m1/isolate",
        "body": {"Comment": "ransomware", "IsolationType": "Full"},
    }  # fmt: skip
    assert as_sent(built.release_request("m1", comment="cleaned")) == {
        "method": "POST", "path": "/api/machines/m1/unisolate", "body": {"Comment": "cleaned"},
    }  # fmt: skip
    assert as_sent(built.resolve_request("a2")) == {
        "method": "PATCH", "path": "/api/alerts/a2", "body": {"status": "Resolved"},
    }  # fmt: skip
    assert as_sent(built.false_positive_request("a2", reason="our own build tool")) == {
        "method": "PATCH", "path": "/api/alerts/a2",
        "body": {"classification": "FalsePositive", "determination": "Other", "comment": "our own build tool"},
    }  # fmt: skip
    assert built.isolate_request("m1", comment="").body["Comment"]  # Defender requires a comment
    requests = [built.isolate_request("1", comment=""), built.resolve_request("2")]
    assert all(r.retry for r in requests) and DEMO_CLIENT_SECRET not in repr(requests)


def test_isolate_is_pending_then_confirmed_and_release_mirrors_it(app: Flask, sim: Sim) -> None:
    sim.state.transition_seconds = 0.4
    machine = scoped(DEMO_TENANT_ID, next(iter(sim.machines())))
    edr = connector(app, sim)
    assert edr.isolation_of(machine) == "connected"
    edr.isolate(machine, comment="ransomware on it")
    sent = next(r for r in reversed(sim.state.received()) if r["method"] == "POST" and r["path"].startswith("/api"))
    assert {k: sent[k] for k in ("method", "path", "body")} == as_sent(
        edr.isolate_request(machine, comment="ransomware on it")
    )
    assert edr.isolation_of(machine) == "isolating"
    edr.isolate(machine, comment="again")  # Defender refuses a second while one is pending: already on its way
    time.sleep(0.5)
    assert edr.isolation_of(machine) == "isolated"
    edr.release(machine, comment="cleaned")
    assert edr.isolation_of(machine) == "releasing"
    time.sleep(0.5)
    assert edr.isolation_of(machine) == "connected"
    assert edr.isolation_of(scoped(DEMO_TENANT_ID, "f" * 40)) is None  # a device Defender does not know
    other = next(iter(sim.machines(sim.tenant(1))))
    assert edr.isolation_of(scoped(DEMO_TENANT_ID, other)) is None  # another customer's device is not this tenant's
    assert edr.isolation_of(other) is None  # an id read before ids had a tenant: the one tenant listed


def test_resolve_and_false_positive_read_back_as_defender_holds_them(app: Flask, sim: Sim) -> None:
    plain = next(i for i, a in sim.alerts().items() if a["status"] == "New")
    alert_id = scoped(DEMO_TENANT_ID, plain)
    edr = connector(app, sim)
    before = edr.get_detection(alert_id)
    assert before is not None and before.status == "open" and before.verdict is None
    edr.resolve_detection(alert_id)
    sent = last_received(sim)
    assert {k: sent[k] for k in ("method", "path", "body")} == as_sent(edr.resolve_request(alert_id))
    resolved = edr.get_detection(alert_id)
    assert resolved is not None and resolved.status == "resolved" and resolved.vendor_status == "Resolved"
    assert resolved.verdict is None  # resolving leaves the classification alone
    assert resolved.updated_at is not None and before.updated_at is not None and resolved.updated_at > before.updated_at
    edr.mark_false_positive(alert_id, reason="our own build tool")
    assert sim.state.alerts[plain]["comments"][-1]["comment"] == "our own build tool"
    judged = edr.get_detection(alert_id)
    assert judged is not None and judged.verdict == "false_positive" and judged.status == "resolved"
    assert edr.get_detection(scoped(DEMO_TENANT_ID, "da000_missing")) is None


def test_an_app_without_the_write_permissions_cannot_act_and_says_why(app: Flask, sim: Sim) -> None:
    sim.state.faults.forbidden = "writes"
    edr = connector(app, sim)
    machine = scoped(DEMO_TENANT_ID, next(iter(sim.machines())))
    assert edr.isolation_of(machine) == "connected"  # it may still read
    with pytest.raises(ConnectorError) as refused:
        edr.isolate(machine, comment="")
    assert refused.value.permanent
    assert refused.value.message == MESSAGES[403].format(client=CLIENT, what="isolate devices or update alerts")


def test_429s_are_waited_out_as_retry_after_says_and_5xx_retried(
    app: Flask, sim: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(defender, "ALERT_PAGE", 3)
    sim.state.faults.rate_limit_per_second = 2
    sim.state.faults.errors_5xx = 2
    edr = connector(app, sim)  # a worker's policy: retries, honouring Retry-After
    (stream,) = [s for s in edr.streams() if s.name == "alerts"]
    pages = list(edr.read(stream, None))
    ids = [r.external_id for page in pages for r in page.records if isinstance(r, DetectionRecord)]
    assert sorted(ids) == sorted(scoped(DEMO_TENANT_ID, i) for i in sim.seen_by_a_first_sync()) and len(ids) == 14
    statuses = sim.state.stats()["statuses"]
    assert statuses.get("429", 0) > 0 and sim.state.faults.errors_5xx == 0
    assert busiest_second(sim.state.answers()) <= 2 + 2


# --- reading and syncing ------------------------------------------------------------------------------


def test_alerts_are_read_open_and_recent_first_then_from_the_cursor(
    app: Flask, sim: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(defender, "ALERT_PAGE", 4)
    alerts = list(sim.alerts().values())
    old = timedelta(days=40).total_seconds()
    for alert, status in ((alerts[2], "InProgress"), (alerts[9], "Resolved")):  # long ago: one still open
        moment = (parse_iso(alert["alertCreationTime"]) or 0) - old
        alert["status"] = status
        stamp = datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
        alert["alertCreationTime"] = alert["lastUpdateTime"] = stamp
    edr = connector(app, sim)
    (stream,) = [s for s in edr.streams() if s.name == "alerts"]
    pages, asked = [], []
    for page in edr.read(stream, None):  # each page handed to the writer as soon as it is read, not one behind
        pages.append(page)
        asked.append(sim.requests("GET /api/alerts"))
    assert asked == [1, 2, 3, 4, 5, 5, 5]
    read = [unscoped(r.external_id)[1] for page in pages for r in page.records]
    assert sorted(read) == sorted(sim.seen_by_a_first_sync())
    assert alerts[2]["id"] in read and alerts[9]["id"] not in read
    assert all(page.cursor is None for page in pages[:-2])  # the cursor waits for the tenant's whole read
    newest = max(a["lastUpdateTime"] for a in sim.alerts().values() if a["id"] in read)
    cursor = {"tenants": {DEMO_TENANT_ID: newest}, "refused": {}}
    assert pages[-2].cursor == pages[-1].cursor == cursor and pages[-1].records == []
    assert sim.requests("GET /api/alerts") == 2 + 3  # New and InProgress ones of old; 12 recent ones, 4 a page
    assert all("$expand" in r["query"] for r in sim.state.received() if r["path"] == "/api/alerts")
    assert edr._next("https://api-eu.securitycenter.microsoft.com/api/alerts?$skip=4") == "/api/alerts?$skip=4"
    nothing_new = list(edr.read(stream, cursor))
    assert [r for page in nothing_new for r in page.records] == [] and nothing_new[-1].cursor == cursor
    edr.resolve_detection(scoped(DEMO_TENANT_ID, alerts[5]["id"]))
    again = list(edr.read(stream, cursor))
    assert [r.external_id for page in again for r in page.records] == [scoped(DEMO_TENANT_ID, alerts[5]["id"])]
    # A cursor saved when the connection read one tenant is that tenant's.
    legacy = list(edr.read(stream, {"updated_after": newest}))
    assert [r.external_id for page in legacy for r in page.records] == [scoped(DEMO_TENANT_ID, alerts[5]["id"])]
    (tenants,) = [s for s in edr.streams() if s.name == "tenants"]
    assert [r for page in edr.read(tenants, None) for r in page.records] == [
        CustomerRecord(DEMO_TENANT_ID, DEMO_TENANT_ID)
    ]


def detections(app: Flask, setup: Setup) -> dict[str, Detection]:
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        rows = {d.external_id: d for d in s.scalars(select(Detection))}
        s.expunge_all()
        return rows


def customers_of(app: Flask, setup: Setup) -> tuple[dict[int, str], dict[str, int]]:
    """The workspace's customers by id, and each Defender tenant's customer."""
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        customers = {c.id: c.name for c in s.scalars(select(Customer))}
        links = {link.external_id: link.customer_id or 0 for link in s.scalars(select(CustomerLink))}
    return customers, links


def test_a_sync_makes_each_tenant_a_customer_and_lands_its_alerts_as_its_detections(app: Flask, sim: Sim) -> None:
    first, second = sim.tenant(0), sim.tenant(1)
    setup = add_connection(app, new_tenant(app), "defender", sim.listing(0, 1))
    run = sync(app, setup)
    assert run.status == "succeeded", run.error
    assert run.counts == {"tenants": 2, "alerts": 14 + len(sim.alerts(second))}
    customers, links = customers_of(app, setup)
    # Defender names no organisation: the first tool connected makes each tenant a customer by its id.
    assert sorted(customers.values()) == sorted([first, second]) and customers[links[second]] == second
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        cursor = s.scalar(select(StreamCursor.cursor).where(StreamCursor.stream == "alerts"))
    rows = detections(app, setup)
    assert set(rows) == {scoped(t, i) for t in (first, second) for i in sim.alerts(t)}
    for tenant in (first, second):
        for alert_id, alert in sim.alerts(tenant).items():
            row = rows[scoped(tenant, alert_id)]
            assert row.customer_id == links[tenant]
            assert row.vendor_severity == alert["severity"] and row.vendor_status == alert["status"]
            assert row.status == {"New": "open", "InProgress": "in_progress", "Resolved": "resolved"}[alert["status"]]
            assert row.device_external_id == scoped(tenant, alert["machineId"])
            assert row.device_name == sim.state.machines[alert["machineId"]]["_name"].lower()
            assert row.isolation is None
    assert {r.severity for r in rows.values()} == {"critical", "high", "medium", "low"}
    assert {r.verdict for r in rows.values()} == {None, "true_positive", "false_positive"}
    newest = {t: max(a["lastUpdateTime"] for a in sim.alerts(t).values()) for t in (first, second)}
    assert cursor == {"tenants": newest, "refused": {}}
    # The next sync reads only what changed, in the tenant it changed in.
    changed = next(i for i, a in sim.alerts(second).items() if a["status"] != "Resolved")
    connector(app, sim, tenant_ids=sim.listing(0, 1)["tenant_ids"]).resolve_detection(scoped(second, changed))
    second_run = sync(app, setup)
    assert second_run.status == "succeeded" and second_run.counts == {"tenants": 2, "alerts": 1}
    assert detections(app, setup)[scoped(second, changed)].status == "resolved"
    assert sync(app, setup).counts.get("alerts", 0) == 0


def test_a_tenant_line_may_name_its_customer_and_the_sync_links_it_by_that_name(app: Flask, sim: Sim) -> None:
    typed = f" {sim.tenant(0).upper()} =  Aldridge &  Co \n{sim.tenant(1)}, other.onmicrosoft.com\nbad = "
    assert named_tenants(typed) == {sim.tenant(0): "Aldridge & Co", sim.tenant(1): None,
                                    "other.onmicrosoft.com": None, "bad": None}  # fmt: skip
    clean = DefenderConnector.validate_config(
        {**ONE, "tenant_ids": f"{sim.tenant(0)} = Aldridge & Co\n{sim.tenant(1)}"}
    )
    assert clean["tenant_ids"] == f"{sim.tenant(0)} = Aldridge & Co\n{sim.tenant(1)}"
    workspace = new_tenant(app)
    with app.app_context(), db.tenant_session(workspace) as s:
        s.add(Customer(tenant_id=workspace, name="Aldridge & Co", normalized_name=normalize_name("Aldridge & Co")))
    setup = add_connection(app, workspace, "defender", {**sim.listing(0, 1), "tenant_ids": clean["tenant_ids"]},
                           creates_customers=False)  # fmt: skip
    assert sync(app, setup).status == "succeeded"
    customers, links = customers_of(app, setup)
    assert customers[links[sim.tenant(0)]] == "Aldridge & Co"  # linked by the name typed beside it
    assert links[sim.tenant(1)] == 0  # no name, no customer of that name: it waits in Customer matching


def test_a_tenant_not_consented_is_passed_over_and_the_others_still_sync(app: Flask, sim: Sim) -> None:
    first, second, third = sim.tenant(0), sim.tenant(1), sim.tenant(2)
    sim.state.faults.not_consented = [second]
    setup = add_connection(app, new_tenant(app), "defender", sim.listing(0, 1, 2))
    run = sync(app, setup)
    assert run.status == "succeeded", run.error
    rows = detections(app, setup)
    assert {unscoped(e)[0] for e in rows} == {first, third}
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        cursor = s.scalar(select(StreamCursor.cursor).where(StreamCursor.stream == "alerts"))
    consent = ENTRA["consent"].format(api="WindowsDefenderATP")
    assert f"Passed over the tenant {second}: sign-in refused: {consent}." in runlog.sentences(run.log)
    assert (
        cursor is not None
        and cursor["refused"] == {second: f"sign-in refused: {consent}"}
        and set(cursor["tenants"]) == {first, third}
    )
    # Consent granted: the next sync reads it from its first window; the others from their cursors.
    sim.state.faults.not_consented = False
    granted = sync(app, setup)
    assert granted.counts == {"tenants": 3, "alerts": len(sim.alerts(second))}
    assert not [line for line in runlog.sentences(granted.log) if line.startswith("Passed over")]
    assert {unscoped(e)[0] for e in detections(app, setup)} == {first, second, third}
    # The app's secret refused stops the sync with the reason: no tenant can be read.
    sim.state.faults.bad_secret = True
    sim.state.tokens.clear()  # the cached tokens expire: each is asked for again, and refused
    failed = sync(app, setup)
    assert failed.status == "failed" and failed.error == ENTRA["secret"].format(client=CLIENT)


def test_two_workspaces_each_see_only_their_own_tenants_alerts(app: Flask, sim: Sim) -> None:
    mine = add_connection(app, new_tenant(app), "defender", sim.config)
    theirs = add_connection(app, new_tenant(app), "defender", sim.listing(1, 2))
    assert sync(app, mine).status == "succeeded" and sync(app, theirs).status == "succeeded"
    assert set(detections(app, mine)) == {scoped(DEMO_TENANT_ID, i) for i in sim.alerts()}
    expected = {scoped(sim.tenant(t), i) for t in (1, 2) for i in sim.alerts(sim.tenant(t))}
    assert set(detections(app, theirs)) == expected and expected


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


def test_the_detection_verbs_send_what_their_dry_run_shows_and_read_defender_back(app: Flask, sim: Sim) -> None:
    sim.state.transition_seconds = 0.4
    setup = add_connection(app, new_tenant(app), "defender", sim.config)
    assert sync(app, setup).status == "succeeded"
    rows = detections(app, setup)
    open_one = next(r for r in rows.values() if r.status == "open")
    built = DefenderConnector.__new__(DefenderConnector)
    for verb, payload in (("detection.resolve", {}), ("detection.false_positive", {"reason": "ours"})):
        preview = act(app, setup, verb, open_one.id, payload, dry=True)
        assert preview.result == "dry_run" and preview.preview is not None, preview.message
        request = (
            built.resolve_request(open_one.external_id)
            if verb == "detection.resolve"
            else built.false_positive_request(open_one.external_id, reason="ours")
        )
        assert preview.preview.requests == [{"vendor": "Microsoft Defender", **as_sent(request), "unknown": None}]
    assert sim.requests("PATCH /api/alerts/{alert_id}") == 0
    # Defender isolates Full (its default) or Selective (Outlook, Teams and Skype keep working), as asked.
    selective = act(app, setup, "detection.isolate", open_one.id, {"mode": "Selective"}, dry=True)
    asked = selective.preview.requests if selective.preview is not None else None
    assert asked is not None and asked[0]["body"]["IsolationType"] == "Selective"
    odd = act(app, setup, "detection.isolate", open_one.id, {"mode": "Partial"}, dry=True)
    assert "would not go as it is" in odd.message and "choose Full or Selective" in odd.message, odd.message
    isolated = act(app, setup, "detection.isolate", open_one.id, {"mode": "Selective"})
    assert isolated.ok and isolated.response == {"isolation": "isolating"}, isolated.message
    assert sim.requests("POST /api/machines/{machine_id}/isolate") == 1
    sent = next(r for r in reversed(sim.state.received()) if r["path"].endswith("/isolate"))
    assert sent["body"]["IsolationType"] == "Selective"
    time.sleep(0.5)
    with app.test_request_context(), db.tenant_session(setup.tenant_id) as s:
        row = s.get(Detection, open_one.id)
        assert row is not None and refresh_isolation(s, row) == "isolated"
    resolved = act(app, setup, "detection.resolve", open_one.id)
    assert resolved.ok and resolved.message.startswith("Resolved in Microsoft Defender"), resolved.message
    assert detections(app, setup)[open_one.external_id].status == "resolved"
    judged = act(app, setup, "detection.false_positive", open_one.id, {"reason": "our own build tool"})
    assert judged.ok and judged.response["verdict"] == "false_positive", judged.message
    # An alert says nothing of its machine's isolation: reading it back, or the next sync, keeps what the machine's
    # actions said, and Release is still offered.
    assert sync(app, setup).status == "succeeded"
    again = detections(app, setup)[open_one.external_id]
    assert again.isolation == "isolated"
    assert refusals(again, "defender")["release"] is None


def test_a_pending_isolation_is_asked_of_defender_once_in_its_recheck_interval_however_many_cards_poll(
    app: Flask, sim: Sim
) -> None:
    sim.state.transition_seconds = 30  # pending throughout
    setup = add_connection(app, new_tenant(app), "defender", sim.config)
    assert sync(app, setup).status == "succeeded"
    open_one = next(r for r in detections(app, setup).values() if r.status == "open")
    assert act(app, setup, "detection.isolate", open_one.id).response == {"isolation": "isolating"}
    asked = sim.requests("GET /api/machines/{machine_id}")
    for _ in range(4):  # four polls at once: the hub's card, the Security page's, another technician's
        with app.test_request_context(), db.tenant_session(setup.tenant_id) as s:
            row = s.get(Detection, open_one.id)
            assert row is not None and refresh_isolation(s, row) is None  # still pending
    assert sim.requests("GET /api/machines/{machine_id}") == asked + 1


def test_an_action_on_a_detection_goes_to_its_own_tenant(app: Flask, sim: Sim) -> None:
    sim.state.transition_seconds = 0.4
    first, second = sim.tenant(0), sim.tenant(1)
    setup = add_connection(app, new_tenant(app), "defender", sim.listing(0, 1))
    assert sync(app, setup).status == "succeeded"
    theirs = next(r for r in detections(app, setup).values() if unscoped(r.external_id)[0] == second)
    sim.state.served.clear()
    isolated = act(app, setup, "detection.isolate", theirs.id)
    assert isolated.ok, isolated.message
    machine = unscoped(theirs.device_external_id or "")[1]
    assert sim.served("POST", f"/api/machines/{machine}/isolate") == [second]
    assert sim.served("GET", f"/api/machines/{machine}") == [second]  # the read-back too
    judged = act(app, setup, "detection.false_positive", theirs.id, {"reason": "their line-of-business app"})
    assert judged.ok, judged.message
    alert = unscoped(theirs.external_id)[1]
    assert sim.served("PATCH", f"/api/alerts/{alert}") == [second]
    assert sim.state.alerts[alert]["classification"] == "FalsePositive"
    assert first not in {line.split(" ")[0] for line in sim.state.served}  # nothing went to the other customer


def test_an_id_read_before_ids_carried_their_tenant_asks_for_a_re_sync(app: Flask, sim: Sim) -> None:
    setup = add_connection(app, new_tenant(app), "defender", sim.listing(0, 1))
    assert sync(app, setup).status == "succeeded"
    row = next(r for r in detections(app, setup).values() if r.status == "open")
    plain = unscoped(row.external_id)[1]
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        found = s.get(Detection, row.id)
        assert found is not None
        found.external_id, found.device_external_id = plain, unscoped(row.device_external_id or "")[1]
        s.commit()
    preview = act(app, setup, "detection.resolve", row.id, dry=True)  # the request is the same: a dry run shows it
    assert preview.preview is not None and preview.preview.requests
    assert preview.preview.requests[0]["path"] == f"/api/alerts/{plain}"
    for verb in ("detection.resolve", "detection.isolate"):
        refused = act(app, setup, verb, row.id)
        assert not refused.ok and "re-sync Microsoft Defender" in refused.message, refused.message
    assert sim.requests("PATCH /api/alerts/{alert_id}") == 0
    assert sim.requests("POST /api/machines/{machine_id}/isolate") == 0
    # A tenant taken off the list gets nothing more from Vectis.
    edr = connector(app, sim, tenant_ids=sim.tenant(0))
    with pytest.raises(ConnectorError, match="no longer in this connection's list"):
        edr.resolve_detection(scoped(sim.tenant(1), plain))
