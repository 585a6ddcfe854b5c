"""The Microsoft 365 connector against the Graph simulator, over real HTTP on loopback: the tenant list and sign-in
errors in words, the permissions each tenant granted and lacks (by name), paging, 429 with Retry-After, 206 partial
results, licences missing (unknown with Graph's reason), and (through the real sync job, in two Vectis tenants) each
customer tenant linked to its customer with its four panels, the last good data kept when a panel cannot be read."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from tests.conftest import login
from tests.vendors.support import Setup, add_connection, new_tenant, serve_app, sync, vendor_url
from vectis.connectors.base import CustomerRecord
from vectis.connectors.entra import tenants_of
from vectis.connectors.factory import build_connector
from vectis.connectors.m365 import (
    NEEDS_INTUNE,
    NEEDS_P1,
    PARTIAL,
    THROTTLED,
    IntuneRecord,
    M365Connector,
    PanelRecord,
    SecureScoreRecord,
    missing_permissions,
    parse_actions,
    parse_admins,
    parse_policy,
    parse_scores,
    roles_of,
)
from vectis.ingest.integrations import try_connection
from vectis.models import Connection, Customer, CustomerLink, RuleEvent, SyncRun, TimelineEvent
from vectis.models.m365 import M365CaPolicy, M365ManagedDevice, M365Panel, M365PrivilegedUser, M365SecureScore
from vectis.platform import db
from vectis.platform.http import ConnectorError
from vectis.platform.queues import redis
from vectis.simulators.graph import (
    ALL_ROLES,
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_TENANT_ID,
    GraphState,
    create_app,
)
from vectis.simulators.graph.vendor import jwt

Json = dict[str, Any]


@dataclass
class Sim:
    state: GraphState
    url: str

    def tenant(self, position: int) -> str:
        return list(self.state.tenants)[position]

    def config(self, *positions: int) -> dict[str, str]:
        chosen = positions or tuple(range(4))
        return {
            "client_id": DEMO_CLIENT_ID,
            "client_secret": DEMO_CLIENT_SECRET,
            "tenant_ids": "\n".join(self.tenant(p) for p in chosen),
        }

    def requests(self, pattern: str) -> int:
        return int(self.state.stats()["paths"].get(pattern, 0))


@pytest.fixture
def sim(app: Flask) -> Iterator[Sim]:
    state = GraphState.seeded()
    for url in serve_app(create_app(state)):
        with vendor_url(app, "m365", url):  # Entra's sign-in and Graph both at the simulator
            yield Sim(state, url)


def connector(app: Flask, config: dict[str, str], *, interactive: bool = False) -> M365Connector:
    with app.app_context():
        probe = Connection(tenant_id=new_tenant(app), vendor="m365", name="Microsoft 365")
        probe.rate_limit_per_second = 500.0
        built = build_connector(probe, redis(), app.config["VECTIS_SETTINGS"], config=config, interactive=interactive)
    assert isinstance(built, M365Connector)
    return built


def check(app: Flask, config: dict[str, str]) -> tuple[bool, str]:
    tenant_id = new_tenant(app)
    with app.test_request_context(), db.tenant_session(tenant_id) as s:
        return try_connection(s, tenant_id, M365Connector, config)


def panels(app: Flask, tenant_id: int) -> dict[tuple[str, str], M365Panel]:
    with app.app_context(), db.tenant_session(tenant_id) as s:
        rows = list(s.scalars(select(M365Panel)))
        for row in rows:
            s.expunge(row)
    return {(r.tenant_external_id, r.panel): r for r in rows}


def rows_of(app: Flask, tenant_id: int, model: Any, tenant: str) -> list[Any]:
    with app.app_context(), db.tenant_session(tenant_id) as s:
        found = list(s.scalars(select(model).where(model.tenant_external_id == tenant)))
        for row in found:
            s.expunge(row)
    return found


# --- configuration and pure parsing -------------------------------------------------------------------


def test_the_tenant_list_takes_guids_and_domains_one_a_line_and_says_what_is_wrong() -> None:
    config = {"client_id": DEMO_CLIENT_ID, "client_secret": "s", "tenant_ids": " {3B6E1F2C-7A94-4D0E-B8C5-91F27D4A6E03}\n"
              "Contoso.onmicrosoft.com, contoso.onmicrosoft.com\n\n"}  # fmt: skip
    clean = M365Connector.validate_config(config)
    assert clean["tenant_ids"] == f"{DEMO_TENANT_ID}\ncontoso.onmicrosoft.com"
    with pytest.raises(ConnectorError, match="“not-a-tenant” is not a tenant ID"):
        M365Connector.validate_config({**config, "tenant_ids": f"{DEMO_TENANT_ID}\nnot-a-tenant"})
    with pytest.raises(ConnectorError, match="Customer tenants is required"):
        M365Connector.validate_config({**config, "tenant_ids": " \n "})
    assert tenants_of("a.example.com;b.example.com a.example.com") == ["a.example.com", "b.example.com"]
    assert M365Connector.base_url(clean) == "https://graph.microsoft.com"
    assert M365Connector.base_url(clean, "http://127.0.0.1:18088") == "http://127.0.0.1:18088"
    assert M365Connector.secret_fields() == {"client_secret"} and M365Connector.category == "m365"


def test_the_granted_permissions_are_read_from_the_tokens_roles_claim() -> None:
    token = jwt({"tid": DEMO_TENANT_ID, "roles": ["Policy.Read.All", "Directory.Read.All"]}, "sig")
    roles = roles_of(token)
    assert roles == {"Policy.Read.All", "Directory.Read.All"}
    # Directory.Read.All names the organisation and reads the roles: only the other three are missing.
    assert missing_permissions(roles) == [
        ("SecurityEvents.Read.All", "Secure Score"),
        ("DeviceManagementManagedDevices.Read.All", "Intune compliance"),
        ("AuditLog.Read.All", "Privileged-account MFA"),
    ]
    assert roles_of("not.a-token") == frozenset() and roles_of("abc") == frozenset()
    assert missing_permissions(frozenset(ALL_ROLES)) == []


def test_scores_actions_policies_and_admins_parse_from_graphs_shapes() -> None:
    scores = parse_scores([
        {"createdDateTime": "2026-12-07T05:00:00Z", "currentScore": 210.5, "maxScore": 300},
        {"createdDateTime": "2026-12-06T05:00:00Z", "currentScore": 200, "maxScore": 300},
        {"createdDateTime": "2026-12-06T01:00:00Z", "currentScore": 1, "maxScore": 300},  # an older one that day
        {"createdDateTime": "garbage", "currentScore": 1, "maxScore": 1},
    ])  # fmt: skip
    assert [(d.day, d.current) for d in scores] == [(date(2026, 12, 7), 210.5), (date(2026, 12, 6), 200.0)]
    newest = {"controlScores": [{"controlName": "AdminMFAV2", "score": 2.0}, {"controlName": "OneAdmin", "score": 1.0},
                                {"controlName": "Gone", "score": 0}]}  # fmt: skip
    profiles = [{"id": "AdminMFAV2", "title": "Require MFA for admins", "maxScore": 10.0},
                {"id": "OneAdmin", "title": "Designate more than one global admin", "maxScore": 1.0}]  # fmt: skip
    assert [(a.name, a.gain) for a in parse_actions(newest, profiles)] == [("AdminMFAV2", 8.0)]  # OneAdmin is done
    policy = parse_policy({"id": "p1", "displayName": "Admins MFA", "state": "enabledForReportingButNotEnforced",
                           "conditions": {"users": {"includeUsers": [], "includeRoles": ["62e9"]}},
                           "grantControls": {"builtInControls": ["mfa"]}})  # fmt: skip
    assert policy is not None and policy.for_admins and policy.controls == ("mfa",)
    roles = [
        {"displayName": "Global Administrator", "members": [
            {"@odata.type": "#microsoft.graph.user", "id": "u1", "displayName": "Ann"},
            {"@odata.type": "#microsoft.graph.servicePrincipal", "id": "sp", "displayName": "Backup app"}]},
        {"displayName": "User Administrator", "members": [
            {"@odata.type": "#microsoft.graph.user", "id": "u1", "displayName": "Ann"},
            {"@odata.type": "#microsoft.graph.user", "id": "u2", "displayName": "Bob"},
            {"@odata.type": "#microsoft.graph.user", "id": "u3", "displayName": "Cat"}]},
    ]  # fmt: skip
    registrations = [{"id": "u1", "isMfaRegistered": True, "methodsRegistered": ["fido2"]},
                     {"id": "u2", "isMfaRegistered": False, "methodsRegistered": []}]  # fmt: skip
    admins = {a.external_id: a for a in parse_admins(roles, registrations)}
    assert set(admins) == {"u1", "u2", "u3"}  # a service principal has no MFA to register
    assert admins["u1"].roles == ("Global Administrator", "User Administrator") and admins["u1"].mfa_registered
    assert admins["u2"].mfa_registered is False
    assert admins["u3"].mfa_registered is None  # not in the report: unknown, never "not registered"


# --- test connection ----------------------------------------------------------------------------------


def test_test_connection_names_what_each_tenant_granted_and_lacks(app: Flask, sim: Sim) -> None:
    ok, message = check(app, sim.config())
    assert ok, message
    assert message.startswith("Connected to Microsoft 365: signed in to 4 of 4 tenants.")
    assert f"{sim.tenant(0)}: every permission granted." in message
    assert f"{sim.tenant(3)}: granted " in message
    assert "missing AuditLog.Read.All (Privileged-account MFA)." in message
    sim.state.faults.revoked_roles = ["Policy.Read.All", "SecurityEvents.Read.All"]
    ok, message = check(app, sim.config(0))
    assert ok and "missing SecurityEvents.Read.All (Secure Score), Policy.Read.All (Conditional Access)." in message


def test_each_sign_in_failure_is_named_in_words(app: Flask, sim: Sim) -> None:
    sim.state.faults.bad_secret = True
    ok, message = check(app, sim.config())
    assert not ok and "did not accept this client secret" in message and DEMO_CLIENT_ID in message
    sim.state.reset()
    sim.state.faults.secret_expired = True
    ok, message = check(app, sim.config())
    assert not ok and "has expired" in message
    sim.state.reset()
    # A tenant that did not consent is named; the others still sign in.
    sim.state.faults.not_consented = [sim.tenant(1)]
    ok, message = check(app, sim.config(0, 1))
    assert ok and f"{sim.tenant(1)}: the app is not in this tenant" in message and "signed in to 1 of 2" in message
    ok, message = check(app, {**sim.config(0), "tenant_ids": "00000000-0000-0000-0000-000000000000"})
    assert not ok and "Microsoft Entra ID knows no such tenant" in message
    ok, message = check(app, {**sim.config(0), "tenant_ids": "no tenant here"})
    assert not ok and "is not a tenant ID" in message


# --- reading -------------------------------------------------------------------------------------------


def test_lists_follow_next_links_across_pages(app: Flask, sim: Sim) -> None:
    sim.state.page_size = 2
    built = connector(app, sim.config(0))
    listing = built._list(sim.tenant(0), "/identity/conditionalAccess/policies", None, ("Policy.Read.All",))
    assert len(listing.items) == 5 and not listing.partial
    assert sim.requests("GET /v1.0/identity/conditionalAccess/policies") == 3


def test_a_429_is_waited_out_by_its_retry_after(app: Flask, sim: Sim) -> None:
    built = connector(app, sim.config(0))
    built.read_tenant(sim.tenant(0))  # the token is cached
    sim.state.faults.throttle_next, sim.state.faults.retry_after = 2, 1
    started = time.monotonic()
    records = built.read_tenant(sim.tenant(0))
    assert time.monotonic() - started >= 2.0  # two Retry-After: 1
    assert all(r.state == "known" for r in records if isinstance(r, PanelRecord))
    assert sim.state.stats()["statuses"]["429"] == 2


def test_a_429_that_outlasts_every_retry_leaves_that_panel_unknown_throttled(app: Flask, sim: Sim) -> None:
    built = connector(app, sim.config(0))
    built.ctx.http.max_attempts = 3
    built.read_tenant(sim.tenant(0))
    # The organisation's three tries, then the managed devices' three: Intune is throttled, the rest is read.
    sim.state.faults.throttle_next, sim.state.faults.retry_after = 6, 0
    records = {r.panel: r for r in built.read_tenant(sim.tenant(0)) if isinstance(r, PanelRecord)}
    assert records["intune"].state == "unknown" and records["intune"].reason == THROTTLED
    assert records["secure_score"].state == "known" and records["admin_mfa"].state == "known"


def test_a_206_keeps_what_came_and_says_it_is_partial(app: Flask, sim: Sim) -> None:
    sim.state.faults.partial = ["/security/secureScores"]
    built = connector(app, sim.config(0))
    score = next(r for r in built.read_tenant(sim.tenant(0)) if isinstance(r, SecureScoreRecord))
    assert score.state == "partial" and score.reason == PARTIAL
    assert 0 < len(score.days) < 30


def test_a_missing_licence_or_permission_is_unknown_with_graphs_reason(app: Flask, sim: Sim) -> None:
    built = connector(app, sim.config())
    by_tenant = {t: {r.panel: r for r in built.read_tenant(t) if isinstance(r, PanelRecord)} for t in built.tenants}
    first, no_p1, no_intune, no_audit = (by_tenant[sim.tenant(p)] for p in range(4))
    assert {r.state for r in first.values()} == {"known"}
    assert no_p1["conditional_access"].reason == NEEDS_P1 and no_p1["admin_mfa"].reason == NEEDS_P1
    assert no_p1["intune"].state == "known"
    assert no_intune["intune"].state == "unknown" and no_intune["intune"].reason == NEEDS_INTUNE
    assert no_audit["admin_mfa"].reason == "permission AuditLog.Read.All not granted"
    # Not even asked for: the token said the permission was missing.
    assert sim.requests("GET /v1.0/reports/authenticationMethods/userRegistrationDetails") == 3  # not the fourth's
    assert isinstance(first["intune"], IntuneRecord)
    noncompliant = [d for d in first["intune"].devices if d.compliance == "noncompliant"]
    assert len(noncompliant) == 2 and all(d.failing for d in noncompliant)


# --- through the sync job ---------------------------------------------------------------------------------


def test_a_sync_links_each_tenant_to_its_customer_with_its_four_panels(app: Flask, sim: Sim) -> None:
    mine = add_connection(app, new_tenant(app), "m365", sim.config())
    theirs = add_connection(app, new_tenant(app), "m365", sim.config(1))
    run = sync(app, mine)
    assert run.status == "succeeded", run.error
    assert sync(app, theirs).status == "succeeded"
    with app.app_context(), db.tenant_session(mine.tenant_id) as s:
        names = {link.external_id: s.get(Customer, link.customer_id).name for link in s.scalars(select(CustomerLink))}  # type: ignore[union-attr]
    assert names == {t: sim.state.tenants[t]["displayName"] for t in sim.state.tenant_ids()[:4]}
    mine_panels = panels(app, mine.tenant_id)
    assert len(mine_panels) == 16
    first = sim.tenant(0)
    assert {mine_panels[(first, p)].state for p in ("intune", "secure_score", "conditional_access", "admin_mfa")} == {
        "known"
    }
    assert mine_panels[(sim.tenant(1), "admin_mfa")].reason == NEEDS_P1
    assert mine_panels[(sim.tenant(2), "intune")].reason == NEEDS_INTUNE
    devices = rows_of(app, mine.tenant_id, M365ManagedDevice, first)
    assert len(devices) == 8 and sum(d.compliance_state == "noncompliant" for d in devices) == 2
    scores = rows_of(app, mine.tenant_id, M365SecureScore, first)
    # The newest 30 of Graph's daily scores: 32 days back, as two days have none.
    assert len(scores) == 30 and (max(s.day for s in scores) - min(s.day for s in scores)).days == 31
    assert len(rows_of(app, mine.tenant_id, M365CaPolicy, first)) == 5
    admins = rows_of(app, mine.tenant_id, M365PrivilegedUser, first)
    assert any(a.mfa_registered is False for a in admins)
    # The other Vectis tenant sees its one customer tenant, and nothing of the first's.
    assert set(panels(app, theirs.tenant_id)) == {(sim.tenant(1), p) for p in ("intune", "secure_score",
                                                                                "conditional_access", "admin_mfa")}  # fmt: skip
    assert rows_of(app, theirs.tenant_id, M365ManagedDevice, first) == []


def test_an_unknown_panel_keeps_its_last_good_data_and_when_it_was_read(app: Flask, sim: Sim) -> None:
    setup = add_connection(app, new_tenant(app), "m365", sim.config(0))
    assert sync(app, setup).status == "succeeded"
    first = sim.tenant(0)
    before = panels(app, setup.tenant_id)[(first, "intune")]
    sim.state.faults.no_intune = ["*"]
    run = sync(app, setup)
    assert run.status == "succeeded", run.error
    after = panels(app, setup.tenant_id)[(first, "intune")]
    assert after.state == "unknown" and after.reason == NEEDS_INTUNE
    assert after.refreshed_at == before.refreshed_at and after.observed_at > before.observed_at
    assert after.summary == before.summary
    assert len(rows_of(app, setup.tenant_id, M365ManagedDevice, first)) == 8


def test_a_tenant_that_fails_does_not_spoil_the_others_and_a_bad_secret_stops_the_sync(app: Flask, sim: Sim) -> None:
    setup = add_connection(app, new_tenant(app), "m365", sim.config(0, 1))
    sim.state.faults.not_consented = [sim.tenant(0)]
    run = sync(app, setup)
    assert run.status == "succeeded", run.error
    found = panels(app, setup.tenant_id)
    assert found[(sim.tenant(0), "intune")].state == "unknown"
    assert "sign-in refused: the app is not in this tenant" in (found[(sim.tenant(0), "intune")].reason or "")
    assert found[(sim.tenant(1), "intune")].state == "known"
    sim.state.reset()
    sim.state.faults.bad_secret = True
    with app.app_context():
        redis().flushdb()  # no cached token: the sign-in is tried
    run = sync(app, setup)
    assert run.status == "failed" and "did not accept this client secret" in (run.error or "")
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        assert s.scalar(select(SyncRun.status).order_by(SyncRun.id.desc()).limit(1)) == "failed"


def test_changes_since_the_last_read_reach_the_timeline(app: Flask, sim: Sim) -> None:
    setup = add_connection(app, new_tenant(app), "m365", sim.config(0))
    assert sync(app, setup).status == "succeeded"
    first = sim.tenant(0)
    compliant = next(d for d in sim.state.tenants[first]["devices"] if d["complianceState"] == "compliant")
    sim.state.set_compliance(first, compliant["deviceName"], "noncompliant")
    sim.state.set_policy_state(first, "Block legacy authentication", "disabled")
    newest = sim.state.tenants[first]["scores"][0]
    sim.state.add_score(first, newest["currentScore"] + 12)
    assert sync(app, setup).status == "succeeded"
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        events = {e.kind: e for e in s.scalars(select(TimelineEvent).where(TimelineEvent.source == "Microsoft 365"))}
        for event in events.values():
            s.expunge(event)
    assert set(events) == {"m365.compliance", "m365.conditional_access", "m365.secure_score"}
    assert events["m365.compliance"].title == f"{compliant['deviceName']} is no longer compliant in Intune"
    assert (
        events["m365.conditional_access"].title == "Conditional Access policy “Block legacy authentication” turned off"
    )
    assert events["m365.secure_score"].title.startswith("Secure Score rose 1")
    assert all(e.customer_id is not None for e in events.values())
    # The same three changes reach the rules, once each, with what a condition reads.
    heard = rule_events(app, setup)
    assert set(heard) == {"m365.device_noncompliant", "m365.policy_changed", "m365.secure_score_changed"}
    device, policy, score = (heard[k] for k in ("m365.device_noncompliant", "m365.policy_changed",
                                                 "m365.secure_score_changed"))  # fmt: skip
    assert device.subject_type == "m365_device" and device.data["device.name"] == compliant["deviceName"]
    assert (policy.data["policy.state"], policy.data["policy.was"]) == ("disabled", "enabled")
    assert score.data["score.change"] == 12 and score.data["score.current"] == round(
        newest["currentScore"]
    )  # moved in place
    assert {e.customer_id for e in heard.values()} == {events["m365.compliance"].customer_id}
    # Read again with nothing changed: nothing new.
    assert sync(app, setup).status == "succeeded"
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        assert len(list(s.scalars(select(TimelineEvent).where(TimelineEvent.source == "Microsoft 365")))) == 3
    assert len(rule_events(app, setup)) == 3


def rule_events(app: Flask, setup: Setup) -> dict[str, RuleEvent]:
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        found = {e.trigger: e for e in s.scalars(select(RuleEvent).where(RuleEvent.trigger.startswith("m365.")))}
        s.expunge_all()
        return found


def test_a_stopped_sync_resumes_with_the_next_tenant(app: Flask, sim: Sim) -> None:
    built = connector(app, sim.config())
    stream = built.streams()[0]
    pages = list(built.read(stream, {"after": sim.tenant(1)}))
    assert [p.cursor for p in pages] == [{"after": sim.tenant(2)}, {"after": None}]
    assert {r.external_id for p in pages for r in p.records if isinstance(r, CustomerRecord)} == {
        sim.tenant(2),
        sim.tenant(3),
    }


def test_the_setup_page_asks_for_the_app_and_one_tenant_a_line_and_never_shows_the_secret(
    app: Flask, tenants: Any
) -> None:
    acme = tenants["acme"]
    client = login(app, acme, acme.admin)
    page = client.get("/admin/integrations/m365").get_data(as_text=True)
    for words in ("Application (client) ID", "Client secret", "Customer tenants", "AuditLog.Read.All"):
        assert words in page, words
    assert re.search(r'<textarea id="field-tenant_ids" name="tenant_ids"', page)
    assert DEMO_CLIENT_SECRET not in page


def test_a_partial_read_keeps_what_did_not_come_and_a_complete_one_removes_it(app: Flask, sim: Sim) -> None:
    setup = add_connection(app, new_tenant(app), "m365", sim.config(0))
    assert sync(app, setup).status == "succeeded"
    first = sim.tenant(0)
    gone = sim.state.tenants[first]["devices"].pop()  # retired in Intune
    sim.state.faults.partial = ["/deviceManagement/managedDevices"]
    assert sync(app, setup).status == "succeeded"
    panel = panels(app, setup.tenant_id)[(first, "intune")]
    assert panel.state == "partial" and panel.reason == PARTIAL
    names = {d.name for d in rows_of(app, setup.tenant_id, M365ManagedDevice, first)}
    assert gone["deviceName"] in names and len(names) == 8  # what did not come may still be there
    sim.state.faults.partial = []
    assert sync(app, setup).status == "succeeded"
    names = {d.name for d in rows_of(app, setup.tenant_id, M365ManagedDevice, first)}
    assert gone["deviceName"] not in names and len(names) == 7
    assert panels(app, setup.tenant_id)[(first, "intune")].state == "known"
