"""Licensing (issue 22): the hub's Licensing tab over a real Pax8 simulator synced through the real job, in a workspace
of its own (a second one never sees it). A seat increase writes back and is audited with the exact request; a mid-term
reduction of an NCE term is refused with the renewal date before anything is sent, and scheduled for renewal it runs
once on the day even when the job runs twice; a quote is created from the tab; a dry run shows the PUT it would send;
the margin per SKU comes from the PSA's contracts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update

from jobs import rules as rules_job
from jobs.actions import run_queued
from jobs.licensing import run_scheduled
from tests.conftest import HostClient, MadeUser, TenantFixture, client_for, login, pid
from tests.licensing_world import a_contract_billing
from tests.test_api import make_token
from tests.vendors.support import Setup, add_connection, new_tenant, serve_app, sync, vendor_url
from vectis.actions import Actor, Target, perform
from vectis.actions.base import Context, Outcome
from vectis.actions.vendor import connection_rate
from vectis.connectors.base import LicenceSubscriptionRecord
from vectis.devices.writer import links_of
from vectis.licensing.queries import months_before, reduction_refusal
from vectis.licensing.renewals import RUN_TIMEOUT, claim
from vectis.licensing.writer import write_subscriptions
from vectis.models import (
    AuditEntry,
    Connection,
    CustomerLink,
    LicenseScheduledChange,
    LicenseSubscription,
    QueuedAction,
    RuleDispatch,
    RuleEvent,
    Tenant,
    TimelineEvent,
)
from vectis.platform import db
from vectis.platform.dates import calendar_day
from vectis.platform.queues import redis
from vectis.platform.ratelimit import TokenBucket
from vectis.rules.action_types import ACTION_TYPES, Lookups, Names, Skip, build, describe_action
from vectis.simulators.pax8 import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Pax8State, create_app

Json = dict[str, Any]
CONFIG = {"client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET}


@dataclass
class World:
    state: Pax8State
    setup: Setup
    workspace: TenantFixture
    technician: MadeUser

    @property
    def tenant_id(self) -> int:
        return self.setup.tenant_id

    def actor(self) -> Actor:
        return Actor("user", str(self.technician.id), self.technician.email, "technician")

    def annual(self) -> Json:
        company = self.state.demo_company["id"]
        return next(
            s for s in self.state.subscriptions.values()
            if s["companyId"] == company and s["billingTerm"] == "Annual" and s["status"] == "Active"
        )  # fmt: skip

    def row(self, app: Flask, external_id: str) -> LicenseSubscription:
        with app.app_context(), db.tenant_session(self.tenant_id) as s:
            found = s.scalar(select(LicenseSubscription).where(LicenseSubscription.external_id == external_id))
            assert found is not None
            s.expunge(found)
            return found

    def perform(self, app: Flask, verb: str, row: LicenseSubscription, payload: Json, **kw: Any) -> Outcome:
        with app.test_request_context(), db.tenant_session(self.tenant_id) as s:
            return perform(
                verb, Target("license_subscription", str(row.id), row.product_name), payload, actor=self.actor(),
                surface="ui", session=s, tenant_id=self.tenant_id, **kw,
            )  # fmt: skip

    def audit(self, app: Flask, action: str) -> list[AuditEntry]:
        with app.app_context(), db.tenant_session(self.tenant_id) as s:
            rows = list(s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))
            for r in rows:
                s.expunge(r)
            return rows

    def puts(self) -> list[Json]:
        return [r for r in self.state.received() if r["method"] == "PUT"]

    def client(self, app: Flask) -> HostClient:
        return login(app, self.workspace, self.technician.email)


@pytest.fixture
def world(app: Flask, make_user: Any) -> Iterator[World]:
    state = Pax8State.seeded()
    for url in serve_app(create_app(state)):
        with vendor_url(app, "pax8", url):
            tenant_id = new_tenant(app)
            with app.app_context(), db.system_session() as s:
                slug = s.get(Tenant, tenant_id).slug  # type: ignore[union-attr]
            workspace = TenantFixture(tenant_id, slug, f"{slug}.localhost", f"admin@{slug}.test", {})
            setup = add_connection(app, tenant_id, "pax8", CONFIG)
            run = sync(app, setup)
            assert run.status == "succeeded", run.error
            yield World(state, setup, workspace, make_user(workspace, "technician"))


def hub_tab(app: Flask, row: LicenseSubscription) -> str:
    return f"/customers/{pid(app, 'customer', row.customer_id)}/licensing"


def sub_url(app: Flask, row: LicenseSubscription, tail: str) -> str:
    return f"/subscriptions/{pid(app, 'subscription', row.id)}/{tail}"


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&amp;", "&")


# --- seats ------------------------------------------------------------------------------------------------------


def test_a_seat_increase_writes_back_and_is_audited_with_the_exact_request(app: Flask, world: World) -> None:
    target = world.annual()
    row = world.row(app, target["id"])
    outcome = world.perform(app, "license.adjust_seats", row, {"quantity": row.quantity + 3})
    assert outcome.result == "ok", outcome.message
    assert outcome.message == f"{row.product_name}: {row.quantity} → {row.quantity + 3} seats in Pax8."
    assert world.state.subscriptions[target["id"]]["quantity"] == row.quantity + 3  # at Pax8
    assert world.row(app, target["id"]).quantity == row.quantity + 3  # and as Pax8 answered it, in Vectis
    assert world.puts() == [{"method": "PUT", "path": f"/v1/subscriptions/{target['id']}", "query": {},
                             "body": {"quantity": row.quantity + 3}}]  # fmt: skip
    (entry,) = world.audit(app, "license.adjust_seats")
    assert (entry.result, entry.actor_label, entry.target_id) == ("ok", world.technician.email, str(row.id))
    assert entry.payload["request"] == {"quantity": row.quantity + 3}
    assert entry.payload["response"]["sent"] == {
        "method": "PUT", "path": f"/v1/subscriptions/{target['id']}", "body": {"quantity": row.quantity + 3},
    }  # fmt: skip
    assert entry.payload["response"]["answer"]["quantity"] == row.quantity + 3


def test_a_mid_term_nce_reduction_is_refused_with_the_renewal_date_before_anything_is_sent(
    app: Flask, world: World
) -> None:
    target = world.annual()
    row = world.row(app, target["id"])
    renews = calendar_day(date.fromisoformat(target["commitment"]["endDate"]))
    outcome = world.perform(app, "license.adjust_seats", row, {"quantity": row.quantity - 2})
    assert outcome.result == "failed"
    assert outcome.message == (
        f"Seats on this annual (NCE) subscription can only go down at renewal, on {renews}. "
        "Schedule the change for renewal instead."
    )
    assert world.puts() == []  # refused by Vectis: nothing reached Pax8
    assert world.state.subscriptions[target["id"]]["quantity"] == row.quantity
    (entry,) = world.audit(app, "license.adjust_seats")
    assert entry.result == "failed" and entry.error == outcome.message
    # The preflight says the same, with the term, the commitment's end, the unit cost and the monthly delta.
    client = world.client(app)
    html = client.get(sub_url(app, row, f"preflight?quantity={row.quantity - 2}"), headers={"HX-Request": "true"})
    page = text_of(html.get_data(as_text=True))
    assert html.status_code == 200
    assert f"Commitment ends {renews}" in page and "Term Annual (NCE)" in page
    assert "Unit cost $19.80/seat/mo" in page and "Monthly change −$39.60/mo" in page
    assert outcome.message in page and f"Schedule for renewal ({renews})" in page
    assert "Confirm:" not in page


def test_a_dry_run_shows_the_exact_put_and_sends_nothing(app: Flask, world: World) -> None:
    target = world.annual()
    row = world.row(app, target["id"])
    outcome = world.perform(app, "license.adjust_seats", row, {"quantity": row.quantity + 1}, dry_run=True)
    assert outcome.result == "dry_run"
    assert outcome.preview is not None and outcome.preview.requests == [
        {"vendor": "Pax8", "method": "PUT", "path": f"/v1/subscriptions/{target['id']}",
         "body": {"quantity": row.quantity + 1}, "unknown": None},
    ]  # fmt: skip
    assert outcome.message == f"Dry run: nothing was sent. Pax8 would get PUT /v1/subscriptions/{target['id']}."
    assert world.puts() == [] and world.row(app, target["id"]).quantity == row.quantity
    (entry,) = world.audit(app, "license.adjust_seats")
    assert entry.result == "dry_run" and entry.payload["would_send"] == outcome.preview.requests
    assert world.perform(app, "license.adjust_seats", row, {"quantity": row.quantity + 1}).ok
    ((shown, sent),) = zip(outcome.preview.requests, world.puts(), strict=True)
    assert (shown["method"], shown["path"], shown["body"]) == (sent["method"], sent["path"], sent["body"])


def test_a_seat_change_from_the_tab_confirms_its_preflight(app: Flask, world: World) -> None:
    target = world.annual()
    row = world.row(app, target["id"])
    client = world.client(app)
    page = client.get(hub_tab(app, row)).get_data(as_text=True)
    assert "Licensing" in page and row.product_name in page and 'data-testid="change-seats"' in page
    preflight = client.get(sub_url(app, row, f"preflight?quantity={row.quantity + 1}"), headers={"HX-Request": "true"})
    said = text_of(preflight.get_data(as_text=True))
    assert "Monthly change +$19.80/mo" in said and f"Confirm: {row.quantity + 1} seats in Pax8" in said
    token = re.search(r'name="csrf_token" value="([^"]+)"', preflight.get_data(as_text=True))
    assert token is not None
    done = client.post(
        sub_url(app, row, "seats"),
        data={"quantity": row.quantity + 1, "csrf_token": token[1]},
        headers={"HX-Request": "true"},
    )
    assert done.status_code == 200
    assert f"{row.quantity} → {row.quantity + 1} seats in Pax8" in done.get_data(as_text=True)
    assert world.state.subscriptions[target["id"]]["quantity"] == row.quantity + 1


# --- scheduled for renewal ------------------------------------------------------------------------------------


def test_a_scheduled_change_runs_exactly_once_at_renewal_even_if_the_job_runs_twice(app: Flask, world: World) -> None:
    target = world.annual()
    row = world.row(app, target["id"])
    outcome = world.perform(app, "license.schedule_seats", row, {"quantity": row.quantity - 3})
    assert outcome.result == "ok", outcome.message
    assert outcome.message.startswith(f"Scheduled for renewal: {row.product_name} goes from {row.quantity} to")
    assert world.puts() == []
    # The job runs across workspaces: what it did here is read here (other tests' workspaces may have changes due).
    with app.app_context():
        run_scheduled()
    assert world.puts() == []  # not due yet
    # The renewal day comes: Pax8's commitment ends today, and so does what Vectis stored.
    today = datetime.now(UTC).date()
    world.state.subscriptions[target["id"]]["commitment"]["endDate"] = today.isoformat()
    with app.app_context(), db.tenant_session(world.tenant_id) as s:
        s.execute(update(LicenseSubscription).where(LicenseSubscription.id == row.id).values(commitment_ends_on=today))
        s.execute(
            update(LicenseScheduledChange).where(LicenseScheduledChange.subscription_id == row.id).values(due_on=today)
        )
    with app.app_context():
        first = run_scheduled()
        assert (
            world.puts() != []
            and first.startswith("ran ")
            and first != "ran 0 scheduled seat change(s) in 0 workspace(s)"
        )
        run_scheduled()
    assert world.puts() == [{"method": "PUT", "path": f"/v1/subscriptions/{target['id']}", "query": {},
                             "body": {"quantity": row.quantity - 3}}]  # fmt: skip
    assert world.state.subscriptions[target["id"]]["quantity"] == row.quantity - 3
    assert world.state.subscriptions[target["id"]]["commitment"]["endDate"] > today.isoformat()  # renewed
    with app.app_context(), db.tenant_session(world.tenant_id) as s:
        change = s.scalar(select(LicenseScheduledChange).where(LicenseScheduledChange.subscription_id == row.id))
        assert change is not None and change.state == "done" and change.audit_id is not None
        audit_id = change.audit_id
    (entry,) = [e for e in world.audit(app, "license.adjust_seats") if e.surface == "system"]
    assert entry.result == "ok" and entry.id == audit_id and entry.actor_label.startswith("Scheduled change")
    assert world.row(app, target["id"]).quantity == row.quantity - 3


def test_a_change_claimed_by_one_run_is_not_sent_by_another(app: Flask, world: World) -> None:
    row = world.row(app, world.annual()["id"])
    assert world.perform(app, "license.schedule_seats", row, {"quantity": row.quantity - 1}).ok
    with app.app_context(), db.tenant_session(world.tenant_id) as s:
        change_id = s.scalar(select(LicenseScheduledChange.id).where(LicenseScheduledChange.subscription_id == row.id))
        assert change_id is not None
        assert claim(s, change_id) is True
        assert claim(s, change_id) is False  # the second run finds it taken


# --- quotes ----------------------------------------------------------------------------------------------------


def test_a_quote_is_created_from_the_tab_and_audited(app: Flask, world: World) -> None:
    target = world.annual()
    row = world.row(app, target["id"])
    client = world.client(app)
    form = client.get(sub_url(app, row, "quote/new"), headers={"HX-Request": "true"}).get_data(as_text=True)
    reference = re.search(r'name="reference" value="([^"]+)"', form)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert reference is not None and token is not None and reference[1].startswith("vectis-")
    payload = {"quantity": "5", "notes": "New office", "reference": reference[1]}
    preview = world.perform(app, "license.create_quote", row, payload, dry_run=True).preview
    assert preview is not None and preview.requests is not None and not world.state.quotes  # a dry run sends nothing
    done = client.post(
        sub_url(app, row, "quote"),
        data={"quantity": "5", "notes": "New office", "reference": reference[1], "csrf_token": token[1]},
        headers={"HX-Request": "true"},
    )
    assert "Quote created in Pax8 for 5 ×" in done.get_data(as_text=True)
    (quote,) = world.state.quotes.values()
    assert (quote["companyId"], quote["reference"], quote["notes"]) == (target["companyId"], reference[1], "New office")
    assert quote["lineItems"][0]["productId"] == target["productId"] and quote["lineItems"][0]["quantity"] == 5
    (posted,) = [r for r in world.state.received() if r["method"] == "POST" and r["path"] == "/v1/quotes"]
    looked, shown = preview.requests  # the look-up by reference first, then the quote
    assert (looked["method"], looked["body"]) == ("GET", None) and reference[1] in looked["path"]
    assert (shown["method"], shown["path"], shown["body"]) == ("POST", "/v1/quotes", posted["body"])  # exactly it
    entry = next(e for e in world.audit(app, "license.create_quote") if e.result == "ok")
    assert entry.payload["response"]["quote_id"] == quote["id"]
    assert entry.payload["response"]["sent"]["body"]["reference"] == reference[1]


# --- the tab -----------------------------------------------------------------------------------------------------


def test_the_tab_shows_cost_and_the_contract_revenue_and_margin_per_sku(app: Flask, world: World) -> None:
    target = world.annual()
    row = world.row(app, target["id"])
    revenue = (Decimal(row.quantity) * Decimal("24.00")).quantize(Decimal("0.01"))
    a_contract_billing(app, world.tenant_id, row.customer_link_id, row.product_name, row.quantity, str(revenue))
    html = world.client(app).get(hub_tab(app, row)).get_data(as_text=True)
    mine = re.search(rf'<tbody[^>]*id="subscription-{row.id}".*?</tbody>', html, re.S)
    assert mine is not None
    said = text_of(mine[0])
    cost = Decimal(row.quantity) * Decimal("19.80")
    assert f"{row.quantity}" in said and "$19.80" in said and f"${cost:,.2f}".replace(".00", "") in said
    assert "Annual (NCE)" in said
    assert f"${revenue:,.2f}".replace(".00", "") in said
    margin = revenue - cost
    assert f"${margin:,.2f}".replace(".00", "") in said
    others = [m for m in re.findall(r'data-testid="revenue">([^<]*)<', html)]
    assert "—" in others  # a product no contract bills shows a dash, not a zero


def test_another_workspace_gets_404_on_a_subscription_and_its_actions(
    app: Flask, world: World, northwind: TenantFixture
) -> None:
    row = world.row(app, world.annual()["id"])
    outsider = login(app, northwind)
    for tail in ("row", f"preflight?quantity={row.quantity + 1}", "quote/new"):
        assert outsider.get(sub_url(app, row, tail)).status_code == 404
    assert outsider.get(hub_tab(app, row)).status_code == 404
    assert world.puts() == []
    anonymous = client_for(app, world.workspace)
    assert anonymous.get(sub_url(app, row, "row")).status_code in (302, 401)


# --- the API and the rules --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """An event as the engine reads one (``vectis.events.stream.Event``): a finding not stored, as a backtest's."""

    id: int
    trigger: str
    customer_id: int | None
    connection_id: int | None
    subject_type: str
    subject_id: int
    title: str
    data: dict[str, Any]
    rule_id: int | None
    occurred_at: datetime


def test_the_api_lists_subscriptions_and_changes_seats_through_the_same_verb(app: Flask, world: World) -> None:
    target = world.annual()
    row = world.row(app, target["id"])
    workspace = TenantFixture(world.tenant_id, world.workspace.slug, world.workspace.host, world.technician.email,
                              {world.technician.email: world.technician.id})  # fmt: skip
    reader = make_token(app, workspace, user_id=world.technician.id)
    client = client_for(app, workspace)
    listed = client.get(
        f"/api/v1/licence-subscriptions?customer_id={pid(app, 'customer', row.customer_id)}",
        headers={"Authorization": f"Bearer {reader}"},
    ).get_json()
    mine = next(s for s in listed["data"] if s["id"] == pid(app, "subscription", row.id))
    assert (mine["quantity"], mine["billing_term"], mine["source"]) == (row.quantity, "annual", "Pax8")
    assert mine["commitment_ends_on"] == target["commitment"]["endDate"]
    url = f"/api/v1/licence-subscriptions/{mine['id']}/seats"
    refused = client.post(url, json={"quantity": row.quantity + 1}, headers={"Authorization": f"Bearer {reader}"})
    assert refused.status_code == 403  # a read token may not change seats
    writer = make_token(app, workspace, scopes=("read", "write:licensing"), user_id=world.technician.id)
    done = client.post(url, json={"quantity": row.quantity + 1}, headers={"Authorization": f"Bearer {writer}"})
    assert done.status_code == 200, done.get_json()
    assert world.state.subscriptions[target["id"]]["quantity"] == row.quantity + 1
    (entry,) = world.audit(app, "license.adjust_seats")
    assert entry.surface == "api" and entry.result == "ok"


def test_a_rule_adjusts_pax8_seats_of_the_events_customer(app: Flask, world: World) -> None:
    target = world.annual()
    row = world.row(app, target["id"])
    kind = ACTION_TYPES["adjust_license_seats"]
    assert kind.label == "Adjust Pax8 seats" and kind.verb == "license.adjust_seats"
    event = Finding(1, "ticket.created", row.customer_id, None, "ticket", 1, "New starter", {}, None, datetime.now(UTC))
    with app.app_context(), db.tenant_session(world.tenant_id) as s:
        call = build(Lookups(s), event, {}, {"type": "adjust_license_seats",
                                             "params": {"product": row.product_name.upper(), "change": "+2"}})  # fmt: skip
        assert (call.verb, call.target.id, call.payload) == (
            "license.adjust_seats", str(row.id), {"quantity": row.quantity + 2},
        )  # fmt: skip
        assert describe_action({"type": "adjust_license_seats", "params": {"product": "Teams", "change": "-1"}},
                               Names(s)).sentence == "Adjust Pax8 seats of Teams by -1"  # fmt: skip
        with pytest.raises(Skip, match="has no licence subscription for “Nothing”"):
            build(
                Lookups(s), event, {}, {"type": "adjust_license_seats", "params": {"product": "Nothing", "change": "1"}}
            )


def test_a_change_of_seats_at_pax8_reaches_the_timeline_and_the_rules(app: Flask, world: World) -> None:
    target = world.annual()
    row = world.row(app, target["id"])
    world.state.set_quantity(target["id"], {"quantity": row.quantity + 6})  # in Pax8's own portal
    assert sync(app, world.setup).status == "succeeded"
    with app.app_context(), db.tenant_session(world.tenant_id) as s:
        (event,) = s.scalars(select(RuleEvent).where(RuleEvent.trigger == "licensing.seats_changed")).all()
        assert (event.subject_type, event.subject_id, event.customer_id) == (
            "license_subscription",
            row.id,
            row.customer_id,
        )
        assert event.data["subscription.change"] == 6 and event.data["subscription.seats_before"] == row.quantity
        titles = s.scalars(
            select(TimelineEvent.title).where(
                TimelineEvent.kind == "licensing.subscription", TimelineEvent.customer_id == row.customer_id
            )
        ).all()
    assert f"{row.product_name}: seats changed from {row.quantity} to {row.quantity + 6} in Pax8" in titles
    assert sync(app, world.setup).status == "succeeded"  # read again unchanged: announced once
    with app.app_context(), db.tenant_session(world.tenant_id) as s:
        assert len(s.scalars(select(RuleEvent).where(RuleEvent.trigger == "licensing.seats_changed")).all()) == 1


def test_the_nce_rule_lets_seats_go_down_in_a_terms_first_week_and_at_its_end_only() -> None:
    ends = date(2027, 3, 31)
    annual = LicenseSubscription(quantity=20, billing_term="annual", commitment_ends_on=ends)
    began = date(2026, 3, 31)
    assert reduction_refusal(annual, 19, began + timedelta(days=7)) is None  # the first week of the term
    assert reduction_refusal(annual, 19, ends) is None  # its renewal day
    refused = reduction_refusal(annual, 19, began + timedelta(days=8))
    assert refused == (
        "Seats on this annual (NCE) subscription can only go down at renewal, on 31 Mar 2027. "
        "Schedule the change for renewal instead."
    )
    assert reduction_refusal(annual, 21, began + timedelta(days=100)) is None  # more seats: any day
    assert reduction_refusal(annual, 19, began + timedelta(days=3), None) is not None  # a distributor with no window
    monthly = LicenseSubscription(quantity=20, billing_term="monthly", commitment_ends_on=None)
    assert reduction_refusal(monthly, 1, began + timedelta(days=100)) is None
    three = LicenseSubscription(quantity=5, billing_term="3-year", commitment_ends_on=date(2028, 2, 29))
    assert "3-year (NCE)" in (reduction_refusal(three, 4, date(2026, 6, 1)) or "")
    assert months_before(date(2027, 3, 31), 1) == date(2027, 2, 28)


def test_without_scripts_the_preflight_and_the_quote_form_open_on_the_tab_itself(app: Flask, world: World) -> None:
    target = world.annual()
    row = world.row(app, target["id"])
    client = world.client(app)
    asked = client.get(sub_url(app, row, f"preflight?quantity={row.quantity - 1}"))
    assert asked.status_code == 302 and "panel=preflight" in asked.headers["Location"]
    page = text_of(client.get(asked.headers["Location"]).get_data(as_text=True))
    assert "can only go down at renewal" in page and "Schedule for renewal" in page and "Licensing" in page
    quote = client.get(sub_url(app, row, "quote/new"))
    assert quote.status_code == 302
    form = client.get(quote.headers["Location"]).get_data(as_text=True)
    assert 'data-testid="quote-form"' in form and re.search(r'name="reference" value="vectis-[0-9a-f]{12}"', form)
    assert world.puts() == []


# --- review fixes -----------------------------------------------------------------------------------------------


def test_the_same_quote_submitted_twice_reaches_pax8_once(app: Flask, world: World) -> None:
    """The form keeps its reference when it is shown again (after an unknown outcome, say): pressing Create quote
    once more must find the first quote, not make a second one."""
    target = world.annual()
    row = world.row(app, target["id"])
    client = world.client(app)
    form = client.get(sub_url(app, row, "quote/new"), headers={"HX-Request": "true"}).get_data(as_text=True)
    reference = re.search(r'name="reference" value="([^"]+)"', form)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert reference is not None and token is not None
    data = {"quantity": "5", "notes": "", "reference": reference[1], "csrf_token": token[1]}
    first = client.post(sub_url(app, row, "quote"), data=data, headers={"HX-Request": "true"})
    assert "Quote created in Pax8 for 5 ×" in first.get_data(as_text=True)
    second = client.post(sub_url(app, row, "quote"), data=data, headers={"HX-Request": "true"})
    assert f"Quote {reference[1]} already exists in Pax8" in text_of(second.get_data(as_text=True))
    assert [q["reference"] for q in world.state.quotes.values()] == [reference[1]]  # one quote at Pax8
    posts = [r for r in world.state.received() if r["method"] == "POST" and r["path"] == "/v1/quotes"]
    assert len(posts) == 1
    # A dry run shows the look-up by reference, then the POST: what a real send does, in order.
    preview = world.perform(app, "license.create_quote", row, {**data, "reference": "vectis-dryrun000001"},
                            dry_run=True).preview  # fmt: skip
    assert preview is not None and [(r["method"], r["path"]) for r in preview.requests or []] == [
        ("GET", f"/v1/quotes?companyId={target['companyId']}&reference=vectis-dryrun000001"),
        ("POST", "/v1/quotes"),
    ]
    before = len(world.state.received())
    assert world.perform(app, "license.create_quote", row, {**data, "reference": "vectis-dryrun000001"}).ok
    sent = world.state.received()[before:]
    assert [(r["method"], r["path"]) for r in sent] == [("GET", "/v1/quotes"), ("POST", "/v1/quotes")]
    assert sent[0]["query"]["reference"] == "vectis-dryrun000001"


def due_today(app: Flask, world: World, row: LicenseSubscription, *, at_pax8: date | None = None) -> None:
    """The renewal day comes for ``row``'s scheduled change: what Vectis stored says the term ended yesterday;
    Pax8's own end is ``at_pax8`` (a Pax8 that has not renewed it yet refuses the reduction)."""
    today = datetime.now(UTC).date()
    target = world.state.subscriptions[row.external_id]
    target["commitment"]["endDate"] = (at_pax8 or today - timedelta(days=1)).isoformat()
    with app.app_context(), db.tenant_session(world.tenant_id) as s:
        s.execute(update(LicenseSubscription).where(LicenseSubscription.id == row.id)
                  .values(commitment_ends_on=today - timedelta(days=1)))  # fmt: skip
        s.execute(
            update(LicenseScheduledChange).where(LicenseScheduledChange.subscription_id == row.id).values(due_on=today)
        )


def the_change(app: Flask, world: World, row: LicenseSubscription) -> LicenseScheduledChange:
    with app.app_context(), db.tenant_session(world.tenant_id) as s:
        change = s.scalar(
            select(LicenseScheduledChange)
            .where(LicenseScheduledChange.subscription_id == row.id)
            .order_by(LicenseScheduledChange.id.desc())
        )
        assert change is not None
        s.expunge(change)
        return change


def test_a_scheduled_change_that_waits_for_the_rate_limit_is_queued_and_settled_by_its_real_outcome(
    app: Flask, world: World
) -> None:
    target = world.annual()
    row = world.row(app, target["id"])
    assert world.perform(app, "license.schedule_seats", row, {"quantity": row.quantity - 3}).ok
    # Pax8 has not rolled the term over: it refuses the reduction, which Vectis's stored data allowed.
    due_today(app, world, row, at_pax8=datetime.now(UTC).date() + timedelta(days=30))
    with app.app_context(), db.tenant_session(world.tenant_id) as s:
        connection = s.get(Connection, row.connection_id)
        assert connection is not None
        connection.rate_limit_per_second = 0.001
        s.commit()
        limit = connection_rate(Context(s, world.tenant_id, world.actor(), "system", None), connection)
        with app.test_request_context():
            assert TokenBucket(redis(), limit.key, limit.rate, limit.burst).try_take() == 0  # another write took it
    with app.app_context():
        run_scheduled()
    waiting = the_change(app, world, row)
    assert (waiting.state, waiting.audit_id) == ("queued", None)  # not "done": nothing was sent yet
    assert waiting.result == "Queued — Pax8 is busy; Vectis will send it shortly."
    assert world.puts() == []
    with app.app_context(), db.tenant_session(world.tenant_id) as s:
        queued_id = s.scalar(select(QueuedAction.id).where(QueuedAction.verb == "license.adjust_seats"))
        assert queued_id is not None
        s.execute(update(Connection).where(Connection.id == row.connection_id).values(rate_limit_per_second=None))
        s.commit()
        redis().delete(f"vectis:bucket:{limit.key}")  # the bucket refills
    with app.app_context():
        assert run_queued(world.tenant_id, queued_id) == "failed"
    assert len(world.puts()) == 1  # sent once, refused by Pax8
    settled = the_change(app, world, row)
    (entry,) = [e for e in world.audit(app, "license.adjust_seats") if e.surface == "system"]
    assert (settled.state, settled.audit_id) == ("failed", entry.id)
    assert settled.result is not None and "can only go down at renewal" in settled.result
    # The tab says so on the subscription's row, in words, and the tab's summary flags it.
    html = world.client(app).get(hub_tab(app, row)).get_data(as_text=True)
    said = text_of(html)
    assert f"Scheduled change to {row.quantity - 3} seats failed on {calendar_day(datetime.now(UTC).date())}" in said
    assert "can only go down at renewal" in said and "1 needs attention" in said
    assert "1 licence change needs attention" in said and "Nothing needs attention" not in said  # the hub's header


def test_a_reduction_is_scheduled_for_the_new_terms_first_day_and_a_stuck_one_shows_on_its_row(
    app: Flask, world: World
) -> None:
    target = world.annual()
    row = world.row(app, target["id"])
    assert row.commitment_ends_on is not None
    outcome = world.perform(app, "license.schedule_seats", row, {"quantity": row.quantity - 2})
    first_day = row.commitment_ends_on + timedelta(days=1)  # inside NCE's 7-day window of the new term
    assert the_change(app, world, row).due_on == first_day
    assert f"on {calendar_day(first_day)}" in outcome.message
    # A run took it and stopped (killed, or past the job's timeout) before Pax8 answered.
    with app.app_context(), db.tenant_session(world.tenant_id) as s:
        s.execute(
            update(LicenseScheduledChange)
            .where(LicenseScheduledChange.subscription_id == row.id)
            .values(state="running", claimed_at=datetime.now(UTC) - RUN_TIMEOUT - timedelta(minutes=1))
        )
    said = text_of(world.client(app).get(hub_tab(app, row)).get_data(as_text=True))
    assert f"Scheduled change to {row.quantity - 2} seats started on" in said
    assert "never finished: it may or may not have reached Pax8. Check Pax8 before changing seats again." in said
    assert "1 needs attention" in said
    # One still inside the job's timeout is simply running: nothing to say yet.
    with app.app_context(), db.tenant_session(world.tenant_id) as s:
        s.execute(update(LicenseScheduledChange).where(LicenseScheduledChange.subscription_id == row.id)
                  .values(claimed_at=datetime.now(UTC)))  # fmt: skip
    html = world.client(app).get(hub_tab(app, row)).get_data(as_text=True)
    assert 'data-testid="scheduled-attention"' not in html and 'data-testid="licensing-attention"' not in html


def test_a_rule_can_take_seats_away_and_the_nce_refusal_shows_in_its_history(app: Flask, world: World) -> None:
    target = world.annual()
    row = world.row(app, target["id"])
    event = Finding(1, "ticket.created", row.customer_id, None, "ticket", 1, "Leaver", {}, None, datetime.now(UTC))
    with app.app_context(), db.tenant_session(world.tenant_id) as s:
        for change in ("-1", -1, " -1 "):
            call = build(Lookups(s), event, {}, {"type": "adjust_license_seats",
                                                 "params": {"product": row.product_name, "change": change}})  # fmt: skip
            assert call.payload == {"quantity": row.quantity - 1}, change
        for nonsense in ("--1", "-", "1-", "-99999999999999999999", "+-2"):
            with pytest.raises(Skip, match="no change in seats"):
                build(Lookups(s), event, {}, {"type": "adjust_license_seats",
                                              "params": {"product": row.product_name, "change": nonsense}})  # fmt: skip
    # Live, end to end: a seat change at Pax8 fires a rule that takes one seat away mid-term; Pax8's NCE rule (Vectis's
    # own check, before anything is sent) refuses it, and the rule's History says so.
    definition = {
        "trigger": "licensing.seats_changed",
        "conditions": {"type": "group", "match": "all", "items": []},
        "actions": [{"type": "adjust_license_seats", "params": {"product": row.product_name, "change": "-1"}}],
        "cooldown_minutes": 0,
    }
    admin = Actor("user", str(world.technician.id), world.technician.email, "admin")
    with app.test_request_context(), db.tenant_session(world.tenant_id) as s:
        made = perform("rule.create", Target("rule", None, "Leaver"), {"name": "Leaver", "definition": definition},
                       actor=admin, surface="ui", session=s, tenant_id=world.tenant_id)  # fmt: skip
        assert made.ok, made.message
        rule_id = int(made.response["rule_id"])
        live = perform("rule.enable", Target("rule", str(rule_id), "Leaver"), {}, actor=admin, surface="ui", session=s,
                       tenant_id=world.tenant_id)  # fmt: skip
        assert live.ok, live.message
    world.state.set_quantity(target["id"], {"quantity": row.quantity + 2})  # in Pax8's own portal
    assert sync(app, world.setup).status == "succeeded"
    with app.app_context():
        rules_job.refresh(world.tenant_id)
    with app.app_context(), db.tenant_session(world.tenant_id) as s:
        (dispatch,) = s.scalars(select(RuleDispatch).where(RuleDispatch.rule_id == rule_id)).all()
        assert dispatch.state == "failed"
        assert dispatch.message is not None and "can only go down at renewal" in dispatch.message
    assert world.puts() == []  # refused before anything reached Pax8


def test_a_seat_count_that_is_no_plain_number_is_refused_in_words(app: Flask, world: World) -> None:
    row = world.row(app, world.annual()["id"])
    words = "Give the number of seats as a whole number from 1 to 100,000."
    for verb in ("license.adjust_seats", "license.schedule_seats", "license.create_quote"):
        for quantity in ("²", "٣", "9" * 5000, "0", "100001", "-3", ""):
            outcome = world.perform(app, verb, row, {"quantity": quantity, "reference": "vectis-words00001"})
            assert (outcome.result, outcome.message) == ("failed", words), (verb, quantity[:10])
    assert world.puts() == [] and not world.state.quotes


def test_without_scripts_a_preflight_that_cannot_open_says_why_on_the_tab(app: Flask, world: World) -> None:
    row = world.row(app, world.annual()["id"])
    client = world.client(app)
    for quantity, words in (("lots", "Give the seats as a whole number from 1 to 100,000."),
                            (str(row.quantity), f"It already has {row.quantity} seats.")):  # fmt: skip
        asked = client.get(sub_url(app, row, f"preflight?quantity={quantity}"))
        assert asked.status_code == 302, quantity  # the tab, not a bare <tbody> as the whole page
        page = client.get(asked.headers["Location"]).get_data(as_text=True)
        assert page.lstrip().lower().startswith("<!doctype html>") and words in text_of(page)


def test_a_preflight_opened_from_the_url_is_bounded_like_the_form(app: Flask, world: World) -> None:
    row = world.row(app, world.annual()["id"])
    client = world.client(app)
    subscription = pid(app, "subscription", row.id)
    for quantity in ("9223372036854775807", "100001", "0"):
        html = client.get(f"{hub_tab(app, row)}?subscription={subscription}&panel=preflight&quantity={quantity}")
        assert html.status_code == 200
        assert 'data-testid="preflight"' not in html.get_data(as_text=True), quantity
    html = client.get(f"{hub_tab(app, row)}?subscription={subscription}&panel=preflight&quantity={row.quantity + 1}")
    assert 'data-testid="preflight"' in html.get_data(as_text=True)  # within bounds it opens


def test_a_reduction_the_nce_rule_forbids_is_refused_at_once_even_when_the_rate_limit_would_queue_it(
    app: Flask, world: World
) -> None:
    row = world.row(app, world.annual()["id"])
    with app.app_context(), db.tenant_session(world.tenant_id) as s:
        connection = s.get(Connection, row.connection_id)
        assert connection is not None
        connection.rate_limit_per_second = 0.001
        s.commit()
        limit = connection_rate(Context(s, world.tenant_id, world.actor(), "system", None), connection)
    with app.test_request_context():
        bucket = TokenBucket(redis(), limit.key, limit.rate, limit.burst)
        assert bucket.try_take() == 0  # the bucket is empty now: anything that takes from it is queued
        outcome = world.perform(app, "license.adjust_seats", row, {"quantity": row.quantity - 1})
        assert outcome.result == "failed" and "can only go down at renewal" in outcome.message  # not "Queued —"
        with app.app_context(), db.tenant_session(world.tenant_id) as s:
            assert s.scalar(select(QueuedAction.id).where(QueuedAction.verb == "license.adjust_seats")) is None
        redis().delete(f"vectis:bucket:{limit.key}")
        refused = world.perform(app, "license.adjust_seats", row, {"quantity": row.quantity - 1})
        assert refused.result == "failed"
        assert bucket.try_take() == 0  # the refusal took no token: the next write still has one
    assert world.puts() == []


def test_the_tabs_totals_are_per_currency_and_a_price_without_one_shows_no_symbol(app: Flask, world: World) -> None:
    row = world.row(app, world.annual()["id"])
    with app.app_context(), db.tenant_session(world.tenant_id) as s:
        link = s.get(CustomerLink, row.customer_link_id)
        connection = s.get(Connection, row.connection_id)
        assert link is not None and connection is not None
        base = LicenceSubscriptionRecord(
            external_id="", customer_external_id=link.external_id, product_name="", product_external_id="p-x",
            sku=None, quantity=10, unit_cost=Decimal("5.00"), unit_price=None, currency=None, billing_term="monthly",
            vendor_term="Monthly", status="active", vendor_status="Active", commitment_ends_on=None,
        )  # fmt: skip
        records = [
            replace(base, external_id="gbp-1", product_name="Exchange Online (Plan 1)", currency="GBP"),
            replace(base, external_id="none-1", product_name="Teams Essentials", unit_cost=Decimal("3.25")),
        ]
        write_subscriptions(s, connection, "Pax8", records, links_of(s, connection))
    page = world.client(app).get(hub_tab(app, row)).get_data(as_text=True)
    summary = re.search(r'data-testid="licensing-summary">(.*?)</p>', page, re.S)
    assert summary is not None
    said = text_of(summary[1])
    # No sum across currencies: each currency its own total, the one Pax8 did not name said so.
    assert "£50/mo" in said and "32.50/mo (currency not given)" in said and "$" in said
    teams = re.search(
        r'<tbody[^>]*data-testid="subscription"[^>]*>(?:(?!</tbody>).)*Teams Essentials.*?</tbody>', page, re.S
    )
    assert teams is not None and "$" not in teams[0] and "3.25" in text_of(teams[0])
