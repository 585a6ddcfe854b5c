"""Rules → Browse templates → "High-severity detection with no matching ticket → create a ticket", end to end: a
workspace whose endpoint security is the SentinelOne simulator and whose PSA is the ConnectWise simulator, both synced
over real HTTP, the rule saved and enabled through the Rules pages, threats raised at SentinelOne and read by the real
sync job, the rules job evaluating them as the worker does. In dry-run History shows the ticket ConnectWise would get
and ConnectWise gets nothing; live, ConnectWise gets that one ticket, at the priority a critical alert takes. A false
positive marked with a reason makes a suppression, and the next detection it covers fires nothing."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from jobs import rules as rules_job
from tests.conftest import HostClient, MadeUser, TenantFixture, csrf_token, login, pid
from tests.vendors.support import Setup, add_connection, new_tenant, serve_app, sync
from tests.vendors.test_connectwise import config
from vectis.actions import Actor, Target, perform
from vectis.alerts.as_ticket import priority_for
from vectis.models import AuditEntry, CustomerLink, LinkStatus, Rule, RuleEvent, RuleFire, Tenant, Ticket
from vectis.models.security import Detection, Suppression
from vectis.platform import db
from vectis.rules import history
from vectis.simulators.connectwise import ConnectWiseState
from vectis.simulators.connectwise import create_app as create_cw_app
from vectis.simulators.sentinelone import DEMO_API_TOKEN, SentinelOneState
from vectis.simulators.sentinelone import create_app as create_s1_app

TEMPLATE = "high_severity_detection_ticket"
TICKETS_PATH = "/v4_6_release/apis/3.0/service/tickets"


@dataclass
class Msp:
    tenant: TenantFixture
    psa: Setup
    edr: Setup
    connectwise: ConnectWiseState
    sentinelone: SentinelOneState
    page: HostClient


@pytest.fixture
def msp(app: Flask, make_user: Callable[..., MadeUser]) -> Iterator[Msp]:
    connectwise, sentinelone = ConnectWiseState.seeded(), SentinelOneState.seeded()
    for cw_url in serve_app(create_cw_app(connectwise)):
        for s1_url in serve_app(create_s1_app(sentinelone)):
            tenant_id = new_tenant(app)
            psa = add_connection(app, tenant_id, "connectwise", config(cw_url))
            assert sync(app, psa).status == "succeeded"
            edr = add_connection(app, tenant_id, "sentinelone", {"console_url": s1_url, "api_token": DEMO_API_TOKEN})
            assert sync(app, edr).status == "succeeded"  # second: its sites link to the companies by name
            evaluate(app, tenant_id)  # what SentinelOne already held is heard before the rule exists
            with app.app_context(), db.system_session() as s:
                slug = str(s.scalar(select(Tenant.slug).where(Tenant.id == tenant_id)))
            tenant = TenantFixture(tenant_id, slug, f"{slug}.localhost", "", {})
            admin = make_user(tenant, "admin")
            yield Msp(tenant, psa, edr, connectwise, sentinelone, login(app, tenant, admin.email))


def evaluate(app: Flask, tenant_id: int) -> str:
    with app.app_context():
        return rules_job.refresh(tenant_id)


@dataclass(frozen=True)
class Quiet:
    """A connected SentinelOne agent of a customer linked in both tools with no ticket opened in the last day."""

    agent: dict[str, Any]
    customer_id: int
    company: str


def quiet_agents(app: Flask, msp: Msp) -> list[Quiet]:
    recent = datetime.now(UTC) - timedelta(hours=25)
    with app.app_context(), db.tenant_session(msp.tenant.id) as s:
        links = s.scalars(select(CustomerLink).where(CustomerLink.status == LinkStatus.LINKED.value)).all()
        company = {link.customer_id: link.external_id for link in links if link.connection_id == msp.psa.connection_id}
        site = {link.external_id: link.customer_id for link in links if link.connection_id == msp.edr.connection_id}
        ticketed = set(
            s.scalars(select(Ticket.customer_id).where(Ticket.closed.is_(False), Ticket.opened_at >= recent))
        )
    found: dict[int, Quiet] = {}
    for agent in sorted(msp.sentinelone.agents.values(), key=lambda a: a["id"]):
        customer = site.get(agent["siteId"])
        if customer is None or customer in found or customer in ticketed or customer not in company:
            continue
        if agent["networkStatus"] == "connected":
            found[customer] = Quiet(agent, customer, company[customer])
    return list(found.values())


def threat_at(app: Flask, msp: Msp, quiet: Quiet) -> tuple[Detection, RuleEvent]:
    """A malicious Trojan (high) on the agent at SentinelOne, read by the next sync, heard by the rules job."""
    threat = msp.sentinelone.add_threat(quiet.agent["id"], classification="Trojan", confidence="malicious", name=None)
    assert sync(app, msp.edr).status == "succeeded"
    evaluate(app, msp.tenant.id)
    with app.app_context(), db.tenant_session(msp.tenant.id) as s:
        detection = s.scalars(select(Detection).where(Detection.external_id == threat["id"])).one()
        event = s.scalars(
            select(RuleEvent).where(RuleEvent.subject_type == "detection", RuleEvent.subject_id == detection.id)
        ).one()
        assert event.evaluated_at is not None and event.data["detection.severity"] == "high"
        s.expunge_all()
    return detection, event


def writes(state: ConnectWiseState) -> list[tuple[str, str, Any]]:
    return [(r["method"], r["path"], r["body"]) for r in state.received() if r["method"] != "GET"]


def test_the_high_severity_detection_template_dry_run_live_and_a_false_positives_suppression(
    app: Flask, msp: Msp
) -> None:
    quiet = quiet_agents(app, msp)
    assert len(quiet) >= 2, "the seeded tools leave two customers whose conditions hold"
    first, second = quiet[:2]
    page = msp.page
    saved = page.post(f"/rules/templates/{TEMPLATE}", data={"csrf_token": csrf_token(page, "/rules/templates")})
    assert saved.status_code == 302, saved.get_data(as_text=True)
    with app.app_context(), db.tenant_session(msp.tenant.id) as s:
        rule = s.scalars(select(Rule).where(Rule.template == TEMPLATE)).one()
        rule_id = rule.id
        assert (rule.mode, rule.trigger) == ("dry_run", "security.detection_created")
        urgent = priority_for(s, msp.psa.connection_id, "critical")
        assert urgent is not None
        urgent_id, urgent_number = urgent.id, int(urgent.external_id)
    rule_page = f"/rules/{pid(app, 'rule', rule_id)}"

    # --- dry run: the ticket it would open, at an urgent priority; ConnectWise gets nothing.
    msp.connectwise.reset()
    dry, event = threat_at(app, msp, first)
    with app.test_request_context(), db.tenant_session(msp.tenant.id) as s:
        [fire] = history.fires(s, rule_id)
        assert fire.fire.dry_run and fire.event.id == event.id
        # critical? no; high? yes; no ticket in 24 hours; no suppression
        assert [leaf["result"] for leaf in fire.fire.leaves] == [False, True, True, True]
        [step] = fire.dispatches
        assert (step.verb, step.state) == ("ticket.create", "dry_run")
        assert step.target["id"] == str(first.customer_id) and step.payload["priority_id"] == urgent_id
        shown_rule = s.get(Rule, rule_id)
        assert shown_rule is not None
        [request] = history.would_send(s, shown_rule, [fire])[step.id].requests or []
    assert (request.vendor, request.method, request.path) == ("ConnectWise", "POST", TICKETS_PATH)
    assert json.loads(request.body or "{}")["priority"] == {"id": urgent_number}
    assert writes(msp.connectwise) == []

    # --- a false positive on that detection, suppressing its endpoint for 30 days.
    technician = Actor("user", None, "sam@msp.test", "technician")
    with app.test_request_context(), db.tenant_session(msp.tenant.id) as s:
        judged = perform(
            "detection.false_positive", Target("detection", str(dry.id), dry.title),
            {"reason": "Our own packaging tool", "scope": "device", "days": "30"}, actor=technician, surface="ui",
            session=s, tenant_id=msp.tenant.id,
        )  # fmt: skip
    assert judged.ok, judged.message
    with app.app_context(), db.tenant_session(msp.tenant.id) as s:
        [suppression] = s.scalars(select(Suppression)).all()
        assert (suppression.scope, suppression.value) == ("device", first.agent["id"])
        assert suppression.reason == "Our own packaging tool" and suppression.expires_at is not None

    # --- live: the next high detection opens its ticket once; one the suppression covers fires nothing.
    assert page.post(f"{rule_page}/enable", data={"csrf_token": csrf_token(page, rule_page)}).status_code == 302
    msp.connectwise.reset()
    _, live_event = threat_at(app, msp, second)
    [(method, path, sent)] = writes(msp.connectwise)
    assert (method, path) == ("POST", TICKETS_PATH)
    assert sent["summary"] == live_event.title and sent["company"] == {"id": int(second.company)}
    assert sent["priority"] == {"id": urgent_number}
    msp.connectwise.reset()
    _, suppressed = threat_at(app, msp, first)
    assert writes(msp.connectwise) == []
    with app.app_context(), db.tenant_session(msp.tenant.id) as s:
        assert s.scalars(select(RuleFire).where(RuleFire.event_id == suppressed.id)).all() == []
        [audit] = s.scalars(select(AuditEntry).where(AuditEntry.action == "ticket.create")).all()
        assert (audit.actor_type, audit.actor_id, audit.result) == ("rule", str(rule_id), "ok")
