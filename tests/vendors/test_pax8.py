"""The Pax8 connector against the Pax8 simulator, over real HTTP on loopback: the Test button's messages, the
parsers, paging, 429s, a sync through the real job (companies linked to customers, subscriptions stored, two tenants
apart), the seat change's exact request with the NCE rule, and a quote found again after an answer that was lost."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
import requests
from flask import Flask
from rq import SimpleWorker
from sqlalchemy import select

from tests.conftest import serving
from tests.vendors.support import Setup, add_connection, new_tenant, serve_app, sync, vendor_url
from vectis.actions.perform import perform
from vectis.actions.vendor import OutcomeUnknown, write_once
from vectis.audit.actors import Actor, Target
from vectis.connectors.base import CustomerRecord, LicenceSubscriptionRecord
from vectis.connectors.capabilities import (
    CallbackRefused,
    ChangesLicences,
    NewQuote,
    ReductionRefused,
    VerifiesCallbacks,
    supports,
)
from vectis.connectors.factory import build_connector
from vectis.connectors.pax8 import (
    MESSAGES,
    PAGE_SIZE,
    SECRET_SHOWN,
    Pax8Connector,
    parse_company,
    parse_subscription,
    reduction_words,
)
from vectis.ingest.integrations import try_connection
from vectis.models import (
    Connection,
    Customer,
    CustomerLink,
    LicenseSubscription,
    LicenseUsage,
    Tenant,
    TimelineEvent,
    WebhookDelivery,
)
from vectis.platform import db, public_ids
from vectis.platform.http import ConnectorError
from vectis.platform.queues import queue, redis
from vectis.simulators.pax8 import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Pax8State, create_app

Json = dict[str, Any]
CONFIG = {"client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET}


@dataclass
class Sim:
    state: Pax8State
    url: str

    def requests(self, pattern: str) -> int:
        return int(self.state.stats()["paths"].get(pattern, 0))

    def annual(self) -> Json:
        """An active Annual (NCE) subscription of the first company with subscriptions, well into its term."""
        company = self.state.demo_company["id"]
        return next(
            s for s in self.state.subscriptions.values()
            if s["companyId"] == company and s["billingTerm"] == "Annual" and s["status"] == "Active"
        )  # fmt: skip


@pytest.fixture
def sim(app: Flask) -> Iterator[Sim]:
    state = Pax8State.seeded()
    for url in serve_app(create_app(state)):
        with vendor_url(app, "pax8", url):
            yield Sim(state, url)


def connector(app: Flask, **config: str) -> Pax8Connector:
    with app.app_context():
        probe = Connection(tenant_id=new_tenant(app), vendor="pax8", name="Pax8")
        probe.rate_limit_per_second = 200.0
        built = build_connector(probe, redis(), app.config["VECTIS_SETTINGS"], config={**CONFIG, **config})
    assert isinstance(built, Pax8Connector)
    return built


def check(app: Flask, **overrides: str) -> tuple[bool, str]:
    tenant_id = new_tenant(app)
    with app.test_request_context(), db.tenant_session(tenant_id) as s:
        return try_connection(s, tenant_id, Pax8Connector, {**CONFIG, **overrides})


# --- configuration and parsing ------------------------------------------------------------------------


def test_it_derives_its_host_and_declares_its_capabilities() -> None:
    assert Pax8Connector.base_url(CONFIG) == "https://api.pax8.com"
    assert Pax8Connector.base_url(CONFIG, "http://127.0.0.1:18089") == "http://127.0.0.1:18089"
    assert Pax8Connector.secret_fields() == {"client_secret"}
    assert Pax8Connector.category == "licensing" and Pax8Connector.label == "Pax8"
    assert supports(Pax8Connector, ChangesLicences) and supports(Pax8Connector, VerifiesCallbacks)
    with pytest.raises(ConnectorError, match="Client secret is required"):
        Pax8Connector.validate_config({"client_id": "x", "client_secret": " "})


SUBSCRIPTION: Json = {
    "id": "5d1c", "companyId": "c-1", "productId": "p-1", "quantity": 25, "startDate": "2026-03-01",
    "createdDate": "2026-03-01T00:00:00.000Z", "updatedDate": "2026-11-02T10:00:00.000Z", "billingStart": "2026-03-01",
    "status": "Active", "price": 22.0, "partnerCost": 19.8, "currencyCode": "usd", "billingTerm": "Annual",
    "commitment": {"term": "Annual", "endDate": "2027-03-01"},
}  # fmt: skip


def test_subscriptions_and_companies_parse_into_records() -> None:
    products = {
        "p-1": {"id": "p-1", "name": "Microsoft 365 Business Premium", "sku": "MST-BP", "vendorName": "Microsoft"}
    }
    record = parse_subscription(SUBSCRIPTION, products)
    assert record is not None
    assert (record.external_id, record.customer_external_id, record.product_name, record.sku) == (
        "5d1c", "c-1", "Microsoft 365 Business Premium", "MST-BP",
    )  # fmt: skip
    assert (record.quantity, record.unit_cost, record.unit_price, record.currency) == (
        25, Decimal("19.8"), Decimal("22.0"), "USD",
    )  # fmt: skip
    assert (record.billing_term, record.status, record.commitment_ends_on) == ("annual", "active", date(2027, 3, 1))
    unnamed = parse_subscription({**SUBSCRIPTION, "billingTerm": "2 Year", "status": "PendingManual"})
    assert unnamed is not None and unnamed.product_name == "Pax8 product p-1"
    assert (unnamed.billing_term, unnamed.status) == ("2-year", "pending")
    assert parse_subscription({**SUBSCRIPTION, "quantity": None}) is None
    assert parse_subscription({**SUBSCRIPTION, "id": ""}) is None
    company = parse_company({"id": "c-1", "name": "Aldridge & Co.", "phone": "01632", "address": {"city": "Leeds"}})
    assert company == CustomerRecord("c-1", "Aldridge & Co.", contact_phone="01632", location="Leeds")
    assert parse_company({"id": "c-2"}) is None


# --- signing in, in words -----------------------------------------------------------------------------


def test_it_connects_and_says_what_it_found(app: Flask, sim: Sim) -> None:
    ok, message = check(app)
    assert ok, message
    assert (
        message
        == f"Connected to Pax8: {len(sim.state.companies)} companies, {len(sim.state.subscriptions)} subscriptions."
    )


def test_wrong_credentials_are_refused_in_words_with_where_to_find_them(app: Flask, sim: Sim) -> None:
    ok, message = check(app, client_secret="wrong")
    assert not ok and message == MESSAGES["credentials"]
    assert "Settings → Integrations → Credentials" in message and "wrong" not in message
    sim.state.merge_faults({"forbidden": "all"})
    ok, message = check(app)
    assert not ok and message.startswith("403 Forbidden — Pax8's credentials") and "read companies" in message


def test_the_token_is_asked_for_once_and_kept_for_its_day(app: Flask, sim: Sim) -> None:
    pax8 = connector(app)
    with app.app_context():
        pax8.test_connection()
        pax8.test_connection()
    assert sim.requests("POST /v1/token") == 1
    body = next(r for r in sim.state.received() if r["path"] == "/v1/token")["body"]
    assert body == {"client_id": DEMO_CLIENT_ID, "client_secret": "(hidden)", "audience": "https://api.pax8.com",
                    "grant_type": "client_credentials"}  # fmt: skip
    sim.state.tokens.clear()  # revoked at Pax8: a new token, once
    with app.app_context():
        pax8.test_connection()
    assert sim.requests("POST /v1/token") == 2


# --- reading -------------------------------------------------------------------------------------------


def test_it_pages_every_subscription_and_waits_out_429s(app: Flask) -> None:
    state = Pax8State.at_scale(companies=5, subscriptions=PAGE_SIZE * 2 + 17)
    # One a second: the sign-in and three pages cannot all fall in seconds of their own, so some are refused (at
    # three a second a slow machine could spread them out and never be throttled).
    state.merge_faults({"rate_limit_per_second": 1})
    for url in serve_app(create_app(state)):
        with vendor_url(app, "pax8", url):
            pax8 = connector(app)
            with app.app_context():
                (stream,) = [s for s in pax8.streams() if s.name == "subscriptions"]
                pages = list(pax8.read(stream, None))
    assert sum(len(p.records) for p in pages) == PAGE_SIZE * 2 + 17
    assert len(pages) == 3 and all(isinstance(r, LicenceSubscriptionRecord) for p in pages for r in p.records)
    assert state.stats()["statuses"].get("429", 0) > 0  # throttled, waited, and nothing was lost


def test_a_malformed_page_stops_the_sync_in_words(app: Flask, sim: Sim) -> None:
    sim.state.merge_faults({"malformed_page": {"path": "/subscriptions", "page": 0}})
    pax8 = connector(app)
    with app.app_context(), pytest.raises(ConnectorError, match="a shape Vectis cannot read"):
        (stream,) = [s for s in pax8.streams() if s.name == "subscriptions"]
        list(pax8.read(stream, None))


def _synced(app: Flask, sim: Sim) -> Setup:
    setup = add_connection(app, new_tenant(app), "pax8", CONFIG)
    run = sync(app, setup)
    assert run.status == "succeeded", run.error
    return setup


def test_a_sync_links_companies_and_stores_every_subscription_for_each_tenant_apart(app: Flask, sim: Sim) -> None:
    first, second = _synced(app, sim), _synced(app, sim)
    for setup in (first, second):
        with app.app_context(), db.tenant_session(setup.tenant_id) as s:
            rows = s.scalars(select(LicenseSubscription)).all()
            assert len(rows) == len(sim.state.subscriptions)
            assert all(r.customer_id is not None for r in rows)  # every company became a customer
            names = set(s.scalars(select(Customer.name)))
            assert names == {c["name"] for c in sim.state.companies.values()}
            one = next(r for r in rows if r.external_id == sim.annual()["id"])
            assert (one.quantity, one.billing_term, one.vendor) == (sim.annual()["quantity"], "annual", "pax8")
            assert one.commitment_ends_on == date.fromisoformat(sim.annual()["commitment"]["endDate"])
            assert s.scalar(select(LicenseUsage.quantity).where(LicenseUsage.subscription_id == one.id)) == one.quantity
            assert s.scalars(select(TimelineEvent).where(TimelineEvent.kind == "licensing.subscription")).all()
            assert {r.tenant_id for r in rows} == {setup.tenant_id}  # row-level security: its own rows only
    # Again: nothing doubles; a subscription Pax8 no longer lists is marked removed.
    gone = sim.annual()
    sim.state.subscriptions.pop(gone["id"])
    assert sync(app, first).status == "succeeded"
    with app.app_context(), db.tenant_session(first.tenant_id) as s:
        rows = s.scalars(select(LicenseSubscription)).all()
        assert len(rows) == len(sim.state.subscriptions) + 1
        assert [r.external_id for r in rows if r.removed_at is not None] == [gone["id"]]
        assert s.scalar(select(CustomerLink.id).where(CustomerLink.connection_id == first.connection_id)) is not None


# --- writing -------------------------------------------------------------------------------------------


def test_a_seat_increase_sends_exactly_one_put_of_the_quantity(app: Flask, sim: Sim) -> None:
    target = sim.annual()
    pax8 = connector(app)
    request = pax8.seats_request(target["id"], target["quantity"] + 2)
    assert (request.method, request.path, request.body, request.retry) == (
        "PUT", f"/v1/subscriptions/{target['id']}", {"quantity": target["quantity"] + 2}, True,
    )  # fmt: skip
    with app.app_context():
        answer = pax8.set_seats(target["id"], target["quantity"] + 2)
    assert answer is not None and answer.quantity == target["quantity"]  # the row is Pax8's, changed
    assert sim.state.subscriptions[target["id"]]["quantity"] == answer.quantity
    assert answer.product_name != f"Pax8 product {target['productId']}"  # named by its product
    puts = [r for r in sim.state.received() if r["method"] == "PUT"]
    assert puts == [{"method": "PUT", "path": f"/v1/subscriptions/{target['id']}", "query": {},
                     "body": {"quantity": answer.quantity}}]  # fmt: skip


def test_pax8_refusing_a_mid_term_nce_reduction_reads_as_the_renewal_date(app: Flask, sim: Sim) -> None:
    target = sim.annual()
    before = target["quantity"]
    ends = date.fromisoformat(target["commitment"]["endDate"])
    with app.app_context(), pytest.raises(ReductionRefused) as refused:
        connector(app).set_seats(target["id"], before - 1)
    assert refused.value.renews_on == ends
    assert refused.value.reason == reduction_words(ends, "annual")
    assert ends.strftime("%Y") in refused.value.reason and "Schedule the change for renewal" in refused.value.reason
    assert sim.state.subscriptions[target["id"]]["quantity"] == before


def test_a_quote_is_sent_once_and_found_again_by_its_reference_after_a_lost_answer(app: Flask, sim: Sim) -> None:
    target = sim.annual()
    quote = NewQuote(target["companyId"], "vectis-test-1", ((target["productId"], 5),), "Five more for the new office")
    pax8 = connector(app)
    request = pax8.quote_request(quote)
    assert (request.method, request.path, request.retry) == ("POST", "/v1/quotes", False)
    assert request.body == {"companyId": target["companyId"], "reference": "vectis-test-1",
                            "lineItems": [{"productId": target["productId"], "quantity": 5}],
                            "notes": "Five more for the new office"}  # fmt: skip
    sim.state.merge_faults({"lose_write_answers": 1})  # Pax8 makes the quote, then its answer is lost (502)
    with app.app_context():
        found = write_once(lambda: pax8.create_quote(quote), lambda: pax8.find_quote(quote), vendor="Pax8", what="q")
    assert list(sim.state.quotes) == [found]  # one quote, found by its reference: not sent twice
    assert sim.requests("POST /v1/quotes") == 1
    other = NewQuote(target["companyId"], "vectis-test-2", ((target["productId"], 1),))
    # A 5xx that did nothing (the read-back finds no quote): one more send cannot make a duplicate.
    sim.state.merge_faults({"lose_write_answers": 0, "errors_5xx": 1})
    with app.app_context():
        second = write_once(lambda: pax8.create_quote(other), lambda: pax8.find_quote(other), vendor="Pax8", what="q")
    assert sorted(q["reference"] for q in sim.state.quotes.values()) == ["vectis-test-1", "vectis-test-2"]
    assert sim.state.quotes[second]["reference"] == "vectis-test-2"
    # A timeout: Pax8 may still be working on it, so nothing is sent again and the outcome is unknown.
    third = NewQuote(target["companyId"], "vectis-test-3", ((target["productId"], 1),))
    slow = connector(app)
    slow.ctx.http.read_timeout = 1.0
    with app.app_context():
        slow.test_connection()  # signed in before Pax8 slows down
    sim.state.merge_faults({"errors_5xx": 0, "hang": 2.0})
    with app.app_context(), pytest.raises(OutcomeUnknown, match="Unknown — check Pax8"):
        write_once(lambda: slow.create_quote(third), lambda: None, vendor="Pax8", what="the quote")
    sim.state.merge_faults({"hang": 0.0})


def test_a_webhook_is_checked_by_its_authorization_value(app: Flask, sim: Sim) -> None:
    pax8 = connector(app)
    with app.app_context():
        secret = pax8._callback_secret()
        body = b'{"id": "d-1", "topic": "SUBSCRIPTION", "action": "UPDATED", "data": {"subscriptionId": "s-1"}}'
        callback = pax8.verify_callback(body, {"authorization": secret})
        assert (callback.kind, callback.external_id, callback.action) == ("subscription", "s-1", "updated")
        for headers in ({}, {"authorization": "forged"}):
            with pytest.raises(CallbackRefused):
                pax8.verify_callback(body, headers)
        shown = pax8.callback_request("https://vectis.example/webhooks/x").body
        assert shown["authorization"] == SECRET_SHOWN and secret not in str(shown)


# --- instant updates: Pax8's webhooks on the shared receiver ------------------------------------------


ADMIN = Actor("user", None, "admin@msp.test", "admin")


def test_a_subscription_changed_at_pax8_arrives_by_webhook_without_a_sync(app: Flask, sim: Sim) -> None:
    setup = _synced(app, sim)
    with app.app_context(), db.system_session() as s:
        slug = s.scalar(select(Tenant.slug).where(Tenant.id == setup.tenant_id))
    with app.app_context():
        path = f"/webhooks/{public_ids.encode('connection', setup.connection_id)}/"
        path += public_ids.webhook_token(setup.connection_id)
    with serving(app) as port:
        url = f"http://{slug}.localhost:{port}{path}"
        with app.test_request_context(), db.tenant_session(setup.tenant_id) as s:
            outcome = perform(
                "integration.instant_updates", Target("integration", "pax8", "Pax8"), {"url": url}, actor=ADMIN,
                surface="ui", session=s, tenant_id=setup.tenant_id,
            )  # fmt: skip
        assert outcome.ok, outcome.message
        (hook,) = sim.state.webhooks.values()
        assert hook["url"] == url and hook["authorization"] not in ("", SECRET_SHOWN)
        target = sim.annual()
        wanted = target["quantity"] + 4
        sim.state.set_quantity(target["id"], {"quantity": wanted})  # changed in Pax8's own portal
        sim.state.drain()
        with app.app_context():
            SimpleWorker([queue("interactive"), queue("sync")], connection=redis()).work(burst=True)
        with app.app_context(), db.tenant_session(setup.tenant_id) as s:
            (arrived,) = s.scalars(select(WebhookDelivery)).all()
            assert arrived.verified and (arrived.record or "").startswith(f"subscription {target['id']} updated")
            assert (arrived.outcome or "").endswith(f"stored: {wanted} seats.")
            stored = s.scalar(
                select(LicenseSubscription.quantity).where(LicenseSubscription.external_id == target["id"])
            )
            assert stored == wanted  # no sync ran: the webhook's job read it again
        # A forged call (no Authorization, or another value) is refused and logged in words; nothing is read.
        forged = json.dumps({"id": "x", "action": "UPDATED", "data": {"subscriptionId": target["id"]}}).encode()
        for headers in ({}, {"Authorization": "guessed"}):
            answer = requests.post(url.replace(f"{slug}.localhost", "127.0.0.1"), data=forged, timeout=5,
                                   headers={"Host": f"{slug}.localhost:{port}", **headers})  # fmt: skip
            assert answer.status_code == 401
        with app.app_context(), db.tenant_session(setup.tenant_id) as s:
            refused = list(s.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))[-2:]
            assert [d.verified for d in refused] == [False, False]
            assert "no Authorization header" in (refused[0].reason or "")
            assert "not the secret Vectis gave Pax8" in (refused[1].reason or "")


# --- hostile values -----------------------------------------------------------------------------------------


def test_a_subscription_with_a_quantity_or_price_no_column_holds_is_skipped_or_left_unknown() -> None:
    # json.loads takes Infinity and NaN; a quantity past 2**31 or a cost past Numeric(14,4) fails the page's INSERT.
    for quantity in (json.loads("Infinity"), json.loads("NaN"), 2**31, 1e300, -1, 2.5, "25"):
        assert parse_subscription({**SUBSCRIPTION, "quantity": quantity}) is None, quantity
    assert parse_subscription({**SUBSCRIPTION, "quantity": 25.0}) is not None  # a whole number sent as a float
    record = parse_subscription({**SUBSCRIPTION, "partnerCost": 1e20, "price": json.loads("-Infinity")})
    assert record is not None and (record.unit_cost, record.unit_price) == (None, None)  # kept, its cost unknown
    fits = parse_subscription({**SUBSCRIPTION, "partnerCost": "9999999999.9999"})
    assert fits is not None and fits.unit_cost == Decimal("9999999999.9999")


def without_total_pages(wsgi: Flask, value: Any) -> Flask:
    """The simulator, its lists' ``page.totalPages`` replaced by ``value`` (missing when ``...``)."""
    inner = wsgi.wsgi_app

    def app(environ: Any, start_response: Any) -> Any:
        captured: dict[str, Any] = {}

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured.update(status=status, headers=headers)
            return lambda data: None

        body = b"".join(inner(environ, start))
        try:
            found = json.loads(body)
        except ValueError:
            found = None
        if isinstance(found, dict) and isinstance(found.get("page"), dict):
            if value is ...:
                found["page"].pop("totalPages", None)
            else:
                found["page"]["totalPages"] = value
            body = json.dumps(found).encode()
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        start_response(captured["status"], [*headers, ("Content-Length", str(len(body)))])
        return [body]

    wsgi.wsgi_app = app  # type: ignore[method-assign]
    return wsgi


@pytest.mark.parametrize("total", [..., 3.0, "3", None])
def test_a_list_without_a_usable_page_count_is_still_read_to_its_end(app: Flask, total: Any) -> None:
    """Stopping after the first page would look complete, and every subscription on a later page be marked removed."""
    state = Pax8State.at_scale(companies=5, subscriptions=PAGE_SIZE * 2 + 17)
    for url in serve_app(without_total_pages(create_app(state), total)):
        with vendor_url(app, "pax8", url):
            pax8 = connector(app)
            with app.app_context():
                (stream,) = [s for s in pax8.streams() if s.name == "subscriptions"]
                pages = list(pax8.read(stream, None))
    assert sum(len(p.records) for p in pages) == PAGE_SIZE * 2 + 17


def test_a_subscription_without_a_currency_has_none_rather_than_dollars() -> None:
    record = parse_subscription({k: v for k, v in SUBSCRIPTION.items() if k != "currencyCode"})
    assert record is not None and record.currency is None  # a UK, EU or AU partner's prices are not USD
    gbp = parse_subscription({**SUBSCRIPTION, "currencyCode": "gbp"})
    assert gbp is not None and gbp.currency == "GBP"
