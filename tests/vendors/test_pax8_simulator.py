"""The Pax8 simulator speaks Pax8's partner API, checked over real loopback HTTP: the token endpoint (and the older
camelCase one) and its refusals, the {content, page} envelope with page/size paging and filters, the quantity change
under the NCE rule, quotes, webhook deliveries with their Authorization header, the seeded data, and the fault
knobs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
import requests

from tests.vendors.support import posts_received, run_from_command_line, serve
from vectis.demo.launcher import SIMULATOR_PORTS
from vectis.simulators.fixtures import DEMO_CUSTOMERS, Msp
from vectis.simulators.pax8 import AUDIENCE, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Pax8State, create_app

Json = dict[str, Any]
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
GRANT = {"client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET, "audience": AUDIENCE,
         "grant_type": "client_credentials"}  # fmt: skip


@dataclass
class Sim:
    state: Pax8State
    url: str

    def token(self, **body: str) -> requests.Response:
        return requests.post(f"{self.url}/v1/token", json={**GRANT, **body}, timeout=10)

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token().json()['access_token']}"}

    def get(self, path: str, **params: Any) -> requests.Response:
        return requests.get(f"{self.url}/v1{path}", params=params, headers=self.auth(), timeout=10)

    def send(self, method: str, path: str, body: Any) -> requests.Response:
        return requests.request(method, f"{self.url}/v1{path}", json=body, headers=self.auth(), timeout=10)

    def annual(self) -> Json:
        return next(s for s in self.state.subscriptions.values() if s["billingTerm"] == "Annual")


@pytest.fixture
def sim() -> Iterator[Sim]:
    state = Pax8State.seeded(now=NOW)
    state.clock = lambda: NOW
    url, stop = serve(create_app(state))
    try:
        yield Sim(state, url)
    finally:
        stop()


def test_the_token_lasts_a_day_and_wrong_credentials_are_refused_as_auth0_refuses_them(sim: Sim) -> None:
    granted = sim.token().json()
    assert (granted["token_type"], granted["expires_in"]) == ("Bearer", 86_400) and granted["access_token"]
    wrong = sim.token(client_secret="nope")
    assert wrong.status_code == 401 and wrong.json() == {"error": "access_denied", "error_description": "Unauthorized"}
    assert sim.token(audience="https://elsewhere").status_code == 403
    legacy = requests.post(f"{sim.url}/auth/token", timeout=10, json={
        "clientId": DEMO_CLIENT_ID, "clientSecret": DEMO_CLIENT_SECRET, "audience": "api://p8p.client",
        "grantType": "client_credentials"})  # fmt: skip
    assert legacy.status_code == 200 and legacy.json()["expiresIn"] == 86_400 and legacy.json()["token"]
    assert requests.get(f"{sim.url}/v1/companies", timeout=10).status_code == 401
    assert all(r["body"].get("client_secret") in (None, "(hidden)") for r in sim.state.received() if r["body"])


def test_lists_page_by_page_and_size_and_filter(sim: Sim) -> None:
    first = sim.get("/subscriptions", page=0, size=20).json()
    total = len(sim.state.subscriptions)
    assert first["page"] == {"size": 20, "totalElements": total, "totalPages": -(-total // 20), "number": 0}
    every = [
        s["id"]
        for n in range(first["page"]["totalPages"])
        for s in sim.get("/subscriptions", page=n, size=20).json()["content"]
    ]
    assert sorted(every) == sorted(sim.state.subscriptions)  # every one once, in a stable order
    company = sim.state.demo_company["id"]
    mine = sim.get("/subscriptions", companyId=company, size=200).json()["content"]
    assert mine and {s["companyId"] for s in mine} == {company}
    assert sim.get("/subscriptions", size=201).status_code == 400
    assert sim.get("/subscriptions", colour="blue").status_code == 400
    names = {c["name"] for c in sim.get("/companies", size=200).json()["content"]}
    assert names == {c.name for c in Msp.drawn(1, DEMO_CUSTOMERS).listed()}  # named as the other simulators name them


def test_seats_go_up_any_day_and_down_only_at_the_start_or_end_of_an_nce_term(sim: Sim) -> None:
    annual = sim.annual()
    seats, ends = annual["quantity"], annual["commitment"]["endDate"]
    up = sim.send("PUT", f"/subscriptions/{annual['id']}", {"quantity": seats + 1})
    assert up.status_code == 200 and up.json()["quantity"] == seats + 1
    down = sim.send("PUT", f"/subscriptions/{annual['id']}", {"quantity": seats})
    assert down.status_code == 422 and ends in down.json()["message"]
    assert down.json()["details"] == {"commitmentEndDate": ends, "currentQuantity": seats + 1}
    sim.state.clock = lambda: datetime.combine(date.fromisoformat(ends), datetime.min.time(), UTC)  # renewal day
    renewed = sim.send("PUT", f"/subscriptions/{annual['id']}", {"quantity": seats})
    assert renewed.status_code == 200 and renewed.json()["commitment"]["endDate"] > ends
    monthly = next(s for s in sim.state.subscriptions.values() if s["billingTerm"] == "Monthly")
    assert sim.send("PUT", f"/subscriptions/{monthly['id']}", {"quantity": 1}).status_code == 200
    for bad in ({"quantity": 0}, {"quantity": "3"}, {}):
        assert sim.send("PUT", f"/subscriptions/{monthly['id']}", bad).status_code == 400
    assert sim.send("PUT", "/subscriptions/nope", {"quantity": 2}).status_code == 404


def test_quotes_are_made_and_found_by_reference(sim: Sim) -> None:
    annual = sim.annual()
    body = {"companyId": annual["companyId"], "reference": "vectis-abc",
            "lineItems": [{"productId": annual["productId"], "quantity": 3}]}  # fmt: skip
    made = sim.send("POST", "/quotes", body)
    assert made.status_code == 201 and made.json()["status"] == "Draft" and made.json()["total"] == 66.0
    found = sim.get("/quotes", companyId=annual["companyId"], reference="vectis-abc").json()["content"]
    assert [q["id"] for q in found] == [made.json()["id"]]
    assert sim.send("POST", "/quotes", {**body, "lineItems": []}).status_code == 400


def test_a_webhook_delivers_each_change_with_the_authorization_it_was_given(sim: Sim) -> None:
    with posts_received("/hook") as (url, inbox):
        body = {"url": url, "authorization": "s3cret", "webhookTopics": [{"topic": "SUBSCRIPTION"}]}
        hook = requests.post(f"{sim.url}/api/v2/webhooks", json=body, headers=sim.auth(), timeout=10)
        assert hook.status_code == 201 and "authorization" not in hook.json()
        annual = sim.annual()
        sim.send("PUT", f"/subscriptions/{annual['id']}", {"quantity": annual["quantity"] + 2})
        delivery = inbox.get(timeout=10)
    payload = json.loads(delivery.body)
    assert delivery.headers["authorization"] == "s3cret"
    assert (payload["topic"], payload["action"]) == ("SUBSCRIPTION", "UPDATED")
    assert payload["data"]["subscriptionId"] == annual["id"] and payload["data"]["quantity"] == annual["quantity"]


def test_the_fault_knobs(sim: Sim) -> None:
    controls = f"{sim.url}/_sim/faults"
    assert requests.post(controls, json={"nope": 1}, timeout=10).status_code == 400
    headers = sim.auth()
    requests.post(controls, json={"errors_5xx": 1, "error_status": 503}, timeout=10)
    assert requests.get(f"{sim.url}/v1/companies", headers=headers, timeout=10).status_code == 503
    assert requests.get(f"{sim.url}/v1/companies", headers=headers, timeout=10).status_code == 200
    requests.post(controls, json={"forbidden": "writes"}, timeout=10)
    annual = sim.annual()
    assert sim.get(f"/subscriptions/{annual['id']}").status_code == 200
    assert sim.send("PUT", f"/subscriptions/{annual['id']}", {"quantity": 99}).status_code == 403
    requests.post(controls, json={"forbidden": "", "malformed_page": {"path": "/companies", "page": 0}}, timeout=10)
    with pytest.raises(ValueError):
        sim.get("/companies").json()
    requests.post(controls, json={"malformed_page": None, "lose_write_answers": 1}, timeout=10)
    lost = sim.send("PUT", f"/subscriptions/{annual['id']}", {"quantity": annual["quantity"] + 1})
    assert lost.status_code == 502 and sim.state.subscriptions[annual["id"]]["quantity"] == annual["quantity"]
    requests.post(controls, json={"lose_write_answers": 0, "token_revoked": True}, timeout=10)
    assert sim.get("/companies").status_code == 401
    requests.post(controls, json={"token_revoked": False, "rate_limit_per_second": 1}, timeout=10)
    answers = [requests.get(f"{sim.url}/v1/products", timeout=10).status_code for _ in range(4)]
    assert 429 in answers
    requests.post(f"{sim.url}/_sim/reset", timeout=10)
    assert sim.get("/products").status_code == 200


def test_it_runs_from_the_command_line_as_the_procfile_starts_it() -> None:
    assert SIMULATOR_PORTS[18089] == "the Pax8 simulator"
    banner, granted = run_from_command_line(
        "vectis.simulators.pax8", 4, lambda url: requests.post(f"{url}/v1/token", json=GRANT, timeout=10)
    )
    assert granted.status_code == 200 and granted.json()["access_token"]
    assert DEMO_CLIENT_ID in banner and "12 companies" in banner
