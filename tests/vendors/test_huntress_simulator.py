"""The Huntress simulator speaks Huntress's API v1, checked over real loopback HTTP: Basic auth and its refusals,
resource-keyed answers with page tokens, the incident report filters and the ``updated_at`` order an incremental
reader uses, isolation (pending, then confirmed) and release, resolution and its refusals, the seeded data, and every
fault knob."""

from __future__ import annotations

import base64
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.vendors.support import run_from_command_line, serve
from vectis.demo.launcher import SIMULATOR_PORTS
from vectis.simulators.fixtures import DEMO_CUSTOMERS, Msp
from vectis.simulators.huntress import (
    API,
    DEMO_API_KEY,
    DEMO_API_SECRET,
    FIREWALL_STATUSES,
    SEVERITIES,
    STATUSES,
    HuntressState,
    create_app,
)
from vectis.simulators.sentinelone import SentinelOneState

Json = dict[str, Any]

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2025, 3, 14, 9, 30, 12, tzinfo=UTC)


def basic(key: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()}


AUTH = basic(DEMO_API_KEY, DEMO_API_SECRET)


@dataclass
class Sim:
    state: HuntressState
    url: str
    clock: list[float]  # what state.clock() says: tests move it on

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> requests.Response:
        return requests.request(method, f"{self.url}{API}{path}", params=params, json=body, headers=AUTH, timeout=10)

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.call("GET", path, **params)

    def every(self, resource: str, path: str, **params: Any) -> tuple[list[Json], int]:
        """Every row of a list, following next_page_token; and how many requests it took."""
        rows: list[Json] = []
        token: str | None = params.pop("page_token", None)
        made = 0
        while True:
            body = self.get(path, **params, **({"page_token": token} if token else {})).json()
            made += 1
            rows += body[resource]
            token = body["pagination"]["next_page_token"]
            if token is None:
                return rows, made


@pytest.fixture
def sim() -> Iterator[Sim]:
    state = HuntressState.seeded(now=NOW)
    clock = [NOW.timestamp() + 60]
    state.clock = lambda: clock[0]
    url, stop = serve(create_app(state))
    try:
        yield Sim(state, url, clock)
    finally:
        stop()


def error_of(response: requests.Response) -> str:
    body = response.json()
    assert set(body) == {"error", "status"} and body["status"] == response.status_code, body
    return str(body["error"])


# --- authentication ------------------------------------------------------------------------------------


def test_it_takes_only_its_key_pair_over_basic_auth(sim: Sim) -> None:
    assert sim.get("/account").json()["account"]["name"] == "Summit IT"
    for headers in ({}, basic(DEMO_API_KEY, "hs_wrong"), basic("hk_other", DEMO_API_SECRET),
                    {"Authorization": f"Bearer {DEMO_API_SECRET}"}, {"Authorization": "Basic %%%"}):  # fmt: skip
        refused = requests.get(f"{sim.url}{API}/account", headers=headers, timeout=10)
        assert refused.status_code == 401, headers
        assert "API key" in error_of(refused)
    # The credentials never reach the log of what came in.
    assert DEMO_API_SECRET not in str(requests.get(f"{sim.url}/_sim/received", timeout=10).json())


def test_the_credential_knobs_refuse_as_huntress_does(sim: Sim) -> None:
    sim.state.faults.bad_credentials = True
    assert sim.get("/organizations").status_code == 401
    sim.state.faults.bad_credentials = False
    sim.state.faults.forbidden = "writes"
    agent = next(iter(sim.state.agents))
    assert sim.get("/incident_reports").status_code == 200
    refused = sim.call("POST", f"/agents/{agent}/isolation", {"reason": "x"})
    assert refused.status_code == 403 and "permissions" in error_of(refused)
    sim.state.faults.forbidden = "all"
    assert sim.get("/account").status_code == 403


# --- lists ---------------------------------------------------------------------------------------------


def test_organizations_are_the_msps_customers_keyed_and_paged_by_token(sim: Sim) -> None:
    organizations, made = sim.every("organizations", "/organizations", limit=5)
    assert made == 3 and len(organizations) == 12 == len({o["id"] for o in organizations})
    assert {o["name"] for o in organizations} == {c.name for c in Msp.drawn(1, DEMO_CUSTOMERS).listed()}
    assert [o["id"] for o in organizations] == sorted(sim.state.organizations, reverse=True)  # desc by default
    first = sim.get("/organizations", limit=5).json()
    assert set(first) == {"organizations", "pagination"}
    assert first["pagination"]["next_page_url"].startswith(f"{sim.url}{API}/organizations?")
    assert sim.get("/organizations", limit=501).status_code == 400
    assert sim.get("/organizations", page_token="not-a-token").status_code == 400
    assert sim.get("/organizations", name="x").status_code == 400  # an argument it does not know


def test_agents_are_named_as_sentinelone_names_the_same_customers_machines(sim: Sim) -> None:
    agents, _ = sim.every("agents", "/agents", limit=500)
    assert len(agents) == len(sim.state.agents)
    assert all(a["firewall_status"] in FIREWALL_STATUSES for a in agents)
    s1 = {a["computerName"] for a in SentinelOneState.seeded(now=NOW).agents.values()}
    for customer in Msp.drawn(1, DEMO_CUSTOMERS).listed():
        assert {f"{customer.code}-SRV01", f"{customer.code}-WS01"} <= {a["hostname"] for a in agents} & s1
    assert Counter(a["firewall_status"] for a in agents)["Isolated"] == 1
    one = agents[0]
    assert sim.get("/agents", organization_id=one["organization_id"]).json()["agents"]
    assert sim.get(f"/agents/{one['id']}").json() == {"agent": one}
    assert sim.get("/agents/1").status_code == 404


def test_the_seeded_reports_cover_every_severity_and_status_over_two_weeks(sim: Sim) -> None:
    reports, _ = sim.every("incident_reports", "/incident_reports", limit=500)
    assert len(reports) == 14
    assert {r["severity"] for r in reports} == set(SEVERITIES)
    assert set(Counter(r["status"] for r in reports)) == set(STATUSES)
    ages = [NOW.timestamp() - datetime.fromisoformat(r["created_at"]).timestamp() for r in reports]
    assert max(ages) < 14 * 86400 and min(ages) < 86400
    fields = {"id", "organization_id", "agent_id", "severity", "status", "subject", "summary", "indicator_types",
              "remediations", "created_at", "sent_at", "status_updated_at", "updated_at"}  # fmt: skip
    assert all(fields <= set(r) for r in reports)
    isolated = next(a for a in sim.state.agents.values() if a["firewall_status"] == "Isolated")
    assert any(r["agent_id"] == isolated["id"] and r["severity"] == "critical" for r in reports)


def test_reports_filter_and_page_stably_by_updated_at(sim: Sim) -> None:
    open_ones = sim.get("/incident_reports", status="sent", limit=500).json()["incident_reports"]
    assert open_ones and all(r["status"] == "sent" for r in open_ones)
    assert sim.get("/incident_reports", status="open").status_code == 400
    first = sim.get("/incident_reports", sort_field="updated_at", limit=4).json()
    times = [r["updated_at"] for r in first["incident_reports"]]
    assert times == sorted(times, reverse=True)
    # A report updated while a reader pages moves to the front: the pages after the token neither repeat nor shift.
    moved = next(r for r in sim.state.reports.values() if r["status"] == "sent" and r["updated_at"] < times[-1])
    sim.clock[0] += 3600
    assert sim.call("POST", f"/incident_reports/{moved['id']}/resolution").status_code == 201
    rest, _ = sim.every("incident_reports", "/incident_reports", sort_field="updated_at", limit=4,
                        page_token=first["pagination"]["next_page_token"])  # fmt: skip
    ids = [r["id"] for r in first["incident_reports"] + rest]
    assert len(ids) == len(set(ids)) == 13 and moved["id"] not in ids
    by_org = next(iter(sim.state.organizations))
    listed = sim.get(f"/organizations/{by_org}/incident_reports").json()["incident_reports"]
    assert all(r["organization_id"] == by_org for r in listed)


# --- actions -------------------------------------------------------------------------------------------


def test_isolation_is_pending_then_confirmed_and_release_mirrors_it(sim: Sim) -> None:
    agent = next(a for a in sim.state.agents.values() if a["firewall_status"] == "Enabled")
    answered = sim.call("POST", f"/agents/{agent['id']}/isolation", {"reason": "ransomware"})
    assert answered.status_code == 201 and answered.json()["agent"]["firewall_status"] == "Pending Isolation"
    assert sim.get(f"/agents/{agent['id']}").json()["agent"]["firewall_status"] == "Pending Isolation"
    sim.clock[0] += 1
    assert sim.get(f"/agents/{agent['id']}").json()["agent"]["firewall_status"] == "Isolated"
    assert sim.call("POST", f"/agents/{agent['id']}/isolation", {}).json()["agent"]["firewall_status"] == "Isolated"
    released = sim.call("DELETE", f"/agents/{agent['id']}/isolation")
    assert released.status_code == 204 and released.content == b""
    assert sim.get(f"/agents/{agent['id']}").json()["agent"]["firewall_status"] == "Pending Release"
    sim.clock[0] += 1
    assert sim.get(f"/agents/{agent['id']}").json()["agent"]["firewall_status"] == "Enabled"
    assert sim.call("POST", "/agents/1/isolation", {}).status_code == 404
    assert sim.call("POST", f"/agents/{agent['id']}/isolation", {"strict_isolation": "yes"}).status_code == 400


def test_resolution_closes_a_sent_report_once_its_remediations_are_approved(sim: Sim) -> None:
    reports = list(sim.state.reports.values())
    ready = next(
        r for r in reports if r["status"] == "sent" and r["remediations"]["items"][0]["status"] != "unapproved"
    )
    before = ready["updated_at"]
    resolved = sim.call("POST", f"/incident_reports/{ready['id']}/resolution")
    assert resolved.status_code == 201
    assert resolved.json()["incident_report"]["status"] == "closed" and ready["updated_at"] > before
    again = sim.call("POST", f"/incident_reports/{ready['id']}/resolution")
    assert again.status_code == 422 and "'sent'" in error_of(again)
    waiting = next(r for r in reports if r["remediations"]["items"][0]["status"] == "unapproved")
    refused = sim.call("POST", f"/incident_reports/{waiting['id']}/resolution")
    assert refused.status_code == 409 and "approved" in error_of(refused) and waiting["status"] == "sent"
    assert sim.call("POST", "/incident_reports/1/resolution").status_code == 404


def test_a_new_report_arrives_through_the_control(sim: Sim) -> None:
    agent = next(iter(sim.state.agents.values()))
    made = requests.post(f"{sim.url}/_sim/incident_reports", json={"agent_id": agent["id"], "severity": "critical"},
                         timeout=10)  # fmt: skip
    assert made.status_code == 201
    report = made.json()["incident_report"]
    assert report["status"] == "sent" and report["severity"] == "critical" and report["agent_id"] == agent["id"]
    newest = sim.get("/incident_reports", sort_field="updated_at", limit=1).json()["incident_reports"][0]
    assert newest["id"] == report["id"]
    assert requests.post(f"{sim.url}/_sim/incident_reports", json={"agent_id": 1}, timeout=10).status_code == 404
    assert requests.post(f"{sim.url}/_sim/incident_reports", json={}, timeout=10).status_code == 400


# --- knobs, scale, command line ------------------------------------------------------------------------


def test_rate_limit_5xx_latency_and_the_controls(sim: Sim) -> None:
    patched = requests.post(f"{sim.url}/_sim/faults", json={"rate_limit_per_second": 2}, timeout=10).json()
    assert patched["rate_limit_per_second"] == 2
    throttled = next(r for r in (sim.get("/organizations") for _ in range(5)) if r.status_code == 429)
    assert throttled.headers["Retry-After"] == "1" and error_of(throttled) == "Rate limit exceeded."
    requests.post(f"{sim.url}/_sim/reset", timeout=10)
    assert sim.state.faults.rate_limit_per_second == 0 and sim.state.stats()["total"] == 0
    sim.state.faults.errors_5xx, sim.state.faults.error_status = 2, 503
    assert [sim.get("/organizations").status_code for _ in range(3)] == [503, 503, 200]
    sim.state.faults.latency = 0.3
    started = time.monotonic()
    sim.get("/organizations")
    assert time.monotonic() - started >= 0.3
    sim.state.faults.latency = 0.0
    assert requests.post(f"{sim.url}/_sim/faults", json={"forbidden": "some"}, timeout=10).status_code == 400
    stats = requests.get(f"{sim.url}/_sim/stats", timeout=10).json()
    assert stats["paths"]["GET /organizations"] == 4 and stats["statuses"] == {"503": 2, "200": 2}


def test_at_scale_is_large_and_the_same_for_the_same_seed() -> None:
    one = HuntressState.at_scale(now=NOW)
    assert len(one.organizations) == 500 and len(one.reports) == 5000 and len(one.agents) > 4000
    two = HuntressState.at_scale(now=NOW)
    assert one.reports == two.reports and one.agents == two.agents
    assert HuntressState.seeded(now=NOW).reports == HuntressState.seeded(now=NOW).reports
    statuses = Counter(r["status"] for r in one.reports.values())
    assert statuses["closed"] > statuses["sent"] > statuses["dismissed"] > 0


def test_it_runs_from_the_command_line_and_beside_the_other_simulators() -> None:
    def probe(root: str) -> requests.Response:
        return requests.get(f"{root}{API}/organizations", headers=AUTH, params={"limit": 500}, timeout=2)

    banner, response = run_from_command_line("vectis.simulators.huntress", 3, probe)
    for value in (DEMO_API_KEY, DEMO_API_SECRET, "12 organizations", API):
        assert value in banner, value
    assert response.status_code == 200 and len(response.json()["organizations"]) == 12
    procfile = (REPO / "Procfile").read_text(encoding="utf-8").splitlines()
    assert "huntress: python -m vectis.simulators.huntress --host 127.0.0.1 --port 18086 --scale demo" in procfile
    assert SIMULATOR_PORTS[18086] == "the Huntress simulator"
