"""Rules → Browse templates → "Critical RMM alert with no open ticket → create a ticket", end to end: a workspace
whose RMM is the NinjaOne simulator and whose PSA is the ConnectWise simulator, both synced over real HTTP, the rule
saved and enabled through the Rules pages, alerts raised at NinjaOne and read by the real sync job, and the rules job
evaluating them as the worker does. In dry-run History shows the ticket ConnectWise would get and ConnectWise gets
nothing; live, ConnectWise gets that one ticket, linked to the alert in Vectis and audited as the rule's."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from markupsafe import escape
from sqlalchemy import select

from jobs import rules as rules_job
from tests.conftest import HostClient, MadeUser, TenantFixture, csrf_token, login, pid
from tests.vendors.support import Setup, add_connection, new_tenant, serve_app, sync, vendor_url
from tests.vendors.test_connectwise import config
from tests.vendors.test_ninjaone import ninja_connection, serve
from vectis.models import (
    Alert,
    AlertState,
    AuditEntry,
    Customer,
    CustomerLink,
    Device,
    LinkStatus,
    Rule,
    RuleDispatch,
    RuleEvent,
    RuleFire,
    Tenant,
    Ticket,
    TicketBoard,
    VendorAlert,
)
from vectis.platform import db
from vectis.rules import history
from vectis.rules.templates import TEMPLATES
from vectis.simulators.connectwise import ConnectWiseState, create_app
from vectis.simulators.ninjaone import NinjaOneState
from vectis.simulators.ninjaone.seed import fits

TEMPLATE = "critical_rmm_alert_ticket"
TICKETS_PATH = "/v4_6_release/apis/3.0/service/tickets"
KIND = "disk"  # a full disk can trigger on any online device


@dataclass
class Msp:
    """A workspace with ConnectWise and NinjaOne connected and synced, and a page signed in as its admin."""

    tenant: TenantFixture
    psa: Setup
    rmm: Setup
    connectwise: ConnectWiseState
    ninjaone: NinjaOneState
    page: HostClient


@pytest.fixture
def msp(app: Flask, make_user: Callable[..., MadeUser]) -> Iterator[Msp]:
    connectwise = ConnectWiseState.seeded()
    for url in serve_app(create_app(connectwise)):
        for ninja in serve(NinjaOneState.seeded()):
            with vendor_url(app, "ninjaone", ninja.url):
                tenant_id = new_tenant(app)
                psa = add_connection(app, tenant_id, "connectwise", config(url))
                assert sync(app, psa).status == "succeeded"
                rmm = ninja_connection(app, tenant_id)  # connected second: its organisations link to the companies
                assert sync(app, rmm).status == "succeeded"
                # The alerts NinjaOne already held are heard before the rule exists: it acts on what comes later.
                evaluate(app, tenant_id)
                with app.app_context(), db.system_session() as s:
                    slug = str(s.scalar(select(Tenant.slug).where(Tenant.id == tenant_id)))
                tenant = TenantFixture(tenant_id, slug, f"{slug}.localhost", "", {})
                admin = make_user(tenant, "admin")
                yield Msp(tenant, psa, rmm, connectwise, ninja.state, login(app, tenant, admin.email))


def evaluate(app: Flask, tenant_id: int) -> str:
    """The rules job as the worker runs it after a sync: alerts, time-based scans, then every pending event."""
    with app.app_context():
        return rules_job.refresh(tenant_id)


@dataclass(frozen=True)
class Quiet:
    """A NinjaOne device of a customer the template's other conditions hold for."""

    device: dict[str, Any]  # as NinjaOne has it
    customer_id: int
    customer: str
    company: str  # the customer's ConnectWise company id


def quiet_devices(app: Flask, msp: Msp) -> list[Quiet]:
    """One device per customer, for customers linked in both tools with no open ticket opened in the last day, on
    which no alert is live (so a new one is its own alert, not merged into one already open)."""
    recent = datetime.now(UTC) - timedelta(hours=25)
    with app.app_context(), db.tenant_session(msp.tenant.id) as s:
        linked = {
            (link.connection_id, link.customer_id): link.external_id
            for link in s.scalars(select(CustomerLink).where(CustomerLink.status == LinkStatus.LINKED.value))
        }
        ticketed = set(
            s.scalars(select(Ticket.customer_id).where(Ticket.closed.is_(False), Ticket.opened_at >= recent))
        )
        alerted = set(s.scalars(select(Alert.device_id).where(Alert.state != AlertState.RESOLVED.value)))
        names = {c.id: c.name for c in s.scalars(select(Customer))}
        found: dict[int, Quiet] = {}
        for device in s.scalars(
            select(Device).where(Device.connection_id == msp.rmm.connection_id).order_by(Device.customer_id, Device.id)
        ):
            customer = device.customer_id
            company = linked.get((msp.psa.connection_id, customer))
            at_ninja = msp.ninjaone.devices[int(device.external_id)]
            if (
                customer is None
                or customer in found
                or customer in ticketed
                or company is None
                or (msp.rmm.connection_id, customer) not in linked
                or device.id in alerted
                or not fits(KIND, at_ninja)
            ):
                continue
            found[customer] = Quiet(at_ninja, customer, names[customer], company)
    return list(found.values())


def raise_at_ninjaone(app: Flask, msp: Msp, *devices: tuple[Quiet, str]) -> list[int]:
    """Conditions trigger on ``devices`` at NinjaOne ((device, NinjaOne severity)), the next sync reads them, and
    the rules job runs: the Vectis alert each landed in."""
    uids = [msp.ninjaone.raise_alert(quiet.device["id"], KIND, severity)[0]["uid"] for quiet, severity in devices]
    assert sync(app, msp.rmm).status == "succeeded"
    evaluate(app, msp.tenant.id)
    with app.app_context(), db.tenant_session(msp.tenant.id) as s:
        landed = {
            row.external_id: row.alert_id
            for row in s.execute(
                select(VendorAlert.external_id, VendorAlert.alert_id).where(VendorAlert.external_id.in_(uids))
            )
        }
    return [landed[uid] for uid in uids]


def heard(app: Flask, msp: Msp, alert_id: int) -> RuleEvent:
    """The "RMM alert created" event the rule heard for ``alert_id``, evaluated."""
    with app.app_context(), db.tenant_session(msp.tenant.id) as s:
        event = s.scalars(
            select(RuleEvent).where(
                RuleEvent.trigger == "rmm.alert_created",
                RuleEvent.subject_type == "alert",
                RuleEvent.subject_id == alert_id,
            )
        ).one()
        assert event.evaluated_at is not None
        s.expunge(event)
        return event


def writes(state: ConnectWiseState) -> list[tuple[str, str, Any]]:
    """(method, path, body) of each write ConnectWise received since its counters were last reset."""
    return [(r["method"], r["path"], r["body"]) for r in state.received() if r["method"] != "GET"]


def test_the_critical_rmm_alert_template_shows_its_ticket_in_dry_run_then_opens_it_in_connectwise_once_live(
    app: Flask, msp: Msp
) -> None:
    quiet = quiet_devices(app, msp)
    assert len(quiet) >= 3, "the seeded tools leave three customers whose conditions hold"
    first, second, warned = quiet[:3]

    # Saved from Rules → Browse templates, as the page's button does: a new rule, in dry-run.
    page = msp.page
    saved = page.post(f"/rules/templates/{TEMPLATE}", data={"csrf_token": csrf_token(page, "/rules/templates")})
    assert saved.status_code == 302, saved.get_data(as_text=True)
    with app.app_context(), db.tenant_session(msp.tenant.id) as s:
        rule = s.scalars(select(Rule).where(Rule.template == TEMPLATE)).one()
        rule_id, rule_name = rule.id, rule.name
        assert (rule.mode, rule.version, rule.trigger) == ("dry_run", 1, "rmm.alert_created")
    assert rule_name == TEMPLATES[TEMPLATE].name
    rule_page = f"/rules/{pid(app, 'rule', rule_id)}"
    assert saved.headers["Location"].endswith(rule_page)

    # --- dry-run: a critical alert at NinjaOne is recorded with the ticket it would open, and nothing is sent.
    msp.connectwise.reset()
    [dry_alert] = raise_at_ninjaone(app, msp, (first, "CRITICAL"))
    event = heard(app, msp, dry_alert)
    assert event.data["alert.severity"] == "critical" and event.customer_id == first.customer_id
    assert event.title.endswith(f": {first.device['displayName']}")
    description = f"{first.device['displayName']}: {event.data['alert.message']}"
    with app.test_request_context(), db.tenant_session(msp.tenant.id) as s:
        [fire] = history.fires(s, rule_id)  # what the rule's History tab lists
        assert fire.fire.dry_run and fire.event.id == event.id and fire.customer == first.customer
        assert [leaf["result"] for leaf in fire.fire.leaves] == [True, True]  # critical; no ticket in 24 hours
        [step] = fire.dispatches
        assert (step.verb, step.state) == ("ticket.create", "dry_run")
        assert step.target["id"] == str(first.customer_id)
        assert step.payload["alert_id"] == dry_alert and step.payload["summary"] == event.title
        board = s.get(TicketBoard, step.payload["board_id"])
        assert board is not None and board.connection_id == msp.psa.connection_id
        board_number = int(board.external_id)
        shown_rule = s.get(Rule, rule_id)
        assert shown_rule is not None
        [request] = history.would_send(s, shown_rule, [fire])[step.id].requests or []
    assert (request.vendor, request.method, request.path) == ("ConnectWise", "POST", TICKETS_PATH)
    assert request.body is not None
    body = json.loads(request.body)
    assert body["summary"] == event.title and body["initialDescription"] == description
    assert body["company"] == {"id": int(first.company)} and body["board"] == {"id": board_number}
    shown = page.get(rule_page).get_data(as_text=True)
    fire_html = next(f for f in shown.split('data-testid="fire"')[1:] if first.customer in f)
    assert f'<span class="muted">ConnectWise would get</span> <code>POST {TICKETS_PATH}</code>' in fire_html
    assert escape(request.body) in fire_html
    assert writes(msp.connectwise) == []  # neither the dry run nor showing it wrote anything to ConnectWise
    with app.app_context(), db.tenant_session(msp.tenant.id) as s:
        left = s.get(Alert, dry_alert)
        assert left is not None and left.ticket_id is None
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "ticket.create")).all() == []

    # --- live: enabled from the rule's page, the next critical alert opens its ticket; a warning opens none.
    enabled = page.post(f"{rule_page}/enable", data={"csrf_token": csrf_token(page, rule_page)})
    assert enabled.status_code == 302
    with app.app_context(), db.tenant_session(msp.tenant.id) as s:
        assert s.scalar(select(Rule.mode).where(Rule.id == rule_id)) == "live"
    msp.connectwise.reset()
    live_alert, warning_alert = raise_at_ninjaone(app, msp, (second, "CRITICAL"), (warned, "MODERATE"))
    event = heard(app, msp, live_alert)
    quiet_warning = heard(app, msp, warning_alert)
    assert quiet_warning.data["alert.severity"] == "warning" and quiet_warning.customer_id == warned.customer_id
    [(method, path, sent)] = writes(msp.connectwise)
    assert (method, path) == ("POST", TICKETS_PATH)
    assert sent["summary"] == event.title and event.title.endswith(f": {second.device['displayName']}")
    assert sent["initialDescription"] == f"{second.device['displayName']}: {event.data['alert.message']}"
    assert sent["company"] == {"id": int(second.company)}
    with app.app_context(), db.tenant_session(msp.tenant.id) as s:
        opened = s.get(Alert, live_alert)
        assert opened is not None and opened.ticket_id is not None
        ticket = s.get(Ticket, opened.ticket_id)
        assert ticket is not None
        assert (ticket.connection_id, ticket.customer_id, ticket.summary) == (
            msp.psa.connection_id,
            second.customer_id,
            event.title,
        )
        at_connectwise = msp.connectwise.tickets[int(ticket.external_id)]  # the one it opened, read back
        assert (at_connectwise.summary, at_connectwise.company_id) == (event.title, int(second.company))
        [audit] = s.scalars(select(AuditEntry).where(AuditEntry.action == "ticket.create")).all()
        assert (audit.actor_type, audit.actor_id, audit.surface, audit.result) == ("rule", str(rule_id), "rule", "ok")
        assert audit.target_id == str(second.customer_id)
        assert audit.payload["request"]["rule_fired"]["rule_id"] == rule_id
        [live_fire] = s.scalars(select(RuleFire).where(RuleFire.rule_id == rule_id, RuleFire.event_id == event.id))
        assert not live_fire.dry_run
        [dispatch] = s.scalars(select(RuleDispatch).where(RuleDispatch.fire_id == live_fire.id))
        assert (dispatch.state, dispatch.audit_id) == ("ok", audit.id)
        # The warning was heard and passed over: the rule's conditions did not hold, so it did not fire.
        assert s.scalars(select(RuleFire).where(RuleFire.event_id == quiet_warning.id)).all() == []
        warning = s.get(Alert, warning_alert)
        assert warning is not None and warning.ticket_id is None
