"""The SentinelOne simulator speaks S1's Management API v2.1, checked over real loopback HTTP: the API-token auth and
its error envelope, the envelope and cursor paging of every list, the threat filters an incremental reader uses, the
agent and threat actions (a quarantine pending, then confirmed), the seeded data, and every fault knob."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.vendors.support import run_from_command_line, serve
from vectis.demo.launcher import SIMULATOR_PORTS
from vectis.simulators.fixtures import DEMO_CUSTOMERS, Msp
from vectis.simulators.ninjaone import NinjaOneState
from vectis.simulators.sentinelone import (
    API,
    DEMO_API_TOKEN,
    INCIDENT_STATUSES,
    NETWORK_STATUSES,
    VERDICTS,
    SentinelOneState,
    create_app,
)

Json = dict[str, Any]

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2025, 3, 14, 9, 30, 12, tzinfo=UTC)
AUTH = {"Authorization": f"ApiToken {DEMO_API_TOKEN}"}


@dataclass
class Sim:
    state: SentinelOneState
    url: str
    clock: list[float]  # what state.clock() says: tests move it on

    def get(self, path: str, **params: Any) -> requests.Response:
        return requests.get(f"{self.url}{API}{path}", params=params, headers=AUTH, timeout=10)

    def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> requests.Response:
        return requests.post(f"{self.url}{API}{path}", json=body, headers=headers or AUTH, timeout=10)

    def every(self, path: str, **params: Any) -> tuple[list[Json], int]:
        """Every row of a list, following nextCursor (from ``cursor`` when given); and how many requests it took."""
        rows: list[Json] = []
        cursor: str | None = params.pop("cursor", None)
        requests_made = 0
        while True:
            body = self.get(path, **params, **({"cursor": cursor} if cursor else {})).json()
            requests_made += 1
            data = body["data"]["sites"] if path == "/sites" else body["data"]
            rows += data
            cursor = body["pagination"]["nextCursor"]
            if cursor is None:
                return rows, requests_made


@pytest.fixture
def sim() -> Iterator[Sim]:
    state = SentinelOneState.seeded(now=NOW)
    clock = [NOW.timestamp() + 60]
    state.clock = lambda: clock[0]
    url, stop = serve(create_app(state))
    try:
        yield Sim(state, url, clock)
    finally:
        stop()


def error_of(response: requests.Response) -> Json:
    body = response.json()
    assert set(body) == {"errors"} and len(body["errors"]) == 1, body
    error: Json = body["errors"][0]
    assert set(error) == {"code", "detail", "title"}
    return error


# --- authentication ------------------------------------------------------------------------------------


def test_it_takes_only_its_api_token_in_the_apitoken_scheme(sim: Sim) -> None:
    assert sim.get("/sites").status_code == 200
    for headers in ({}, {"Authorization": f"Bearer {DEMO_API_TOKEN}"}, {"Authorization": "ApiToken wrong"}):
        response = requests.get(f"{sim.url}{API}/sites", headers=headers, timeout=10)
        assert response.status_code == 401
        error = error_of(response)
        assert (error["code"], error["title"]) == (4010010, "Authentication Failed")


def test_the_token_knobs_refuse_as_s1_does(sim: Sim) -> None:
    sim.state.faults.bad_token = True
    assert error_of(sim.get("/sites"))["detail"] == "Invalid API token."
    sim.state.faults.bad_token, sim.state.faults.token_expired = False, True
    response = sim.get("/threats")
    assert response.status_code == 401 and "expired" in error_of(response)["detail"]
    sim.state.faults.token_expired = False
    sim.state.expire_demo_token_in(-1)  # its own expiry passed
    assert sim.get("/sites").status_code == 401
    sim.state.expire_demo_token_in(30)
    sim.state.faults.forbidden = "writes"  # a Viewer's token: reads yes, actions no
    assert sim.get("/agents").status_code == 200
    refused = sim.post("/agents/actions/disconnect", {"filter": {"ids": [next(iter(sim.state.agents))]}})
    assert refused.status_code == 403 and error_of(refused)["code"] == 4030010
    sim.state.faults.forbidden = "all"
    assert sim.get("/sites").status_code == 403


def test_api_token_details_says_when_the_token_was_made_and_expires(sim: Sim) -> None:
    response = sim.post("/users/api-token-details", {"data": {"apiToken": DEMO_API_TOKEN}})
    assert response.status_code == 200
    token = sim.state.tokens[DEMO_API_TOKEN]
    assert response.json() == {
        "data": {
            "createdAt": datetime.fromtimestamp(token.created_at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "expiresAt": datetime.fromtimestamp(token.expires_at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
    }
    assert datetime.fromisoformat(response.json()["data"]["expiresAt"]) > NOW
    assert sim.post("/users/api-token-details", {"data": {"apiToken": "nope"}}).status_code == 400
    assert sim.post("/users/api-token-details", {"apiToken": DEMO_API_TOKEN}).status_code == 400
    # The token asked about is not kept in the log of what came in, even sent in the wrong place.
    assert [r["body"] for r in sim.state.received()] == [
        {"data": {"apiToken": "(hidden)"}},
        {"data": {"apiToken": "(hidden)"}},
        {"apiToken": "(hidden)"},
    ]


# --- shapes and paging ---------------------------------------------------------------------------------


def test_sites_are_the_msps_customers_in_s1s_envelope_paged_by_cursor(sim: Sim) -> None:
    first = sim.get("/sites", limit=5).json()
    assert set(first) == {"data", "pagination"} and set(first["data"]) == {"allSites", "sites"}
    assert first["pagination"]["totalItems"] == DEMO_CUSTOMERS and first["pagination"]["nextCursor"]
    sites, pages = sim.every("/sites", limit=5)
    assert pages == 3 and len({s["id"] for s in sites}) == DEMO_CUSTOMERS
    assert {s["name"] for s in sites} == {c.name for c in Msp.drawn(1, DEMO_CUSTOMERS).customers}
    for site in sites:
        assert {"id", "name", "accountId", "accountName", "state", "activeLicenses", "createdAt"} <= set(site)
        assert site["state"] == "active" and site["id"].isdigit()
    totals = first["data"]["allSites"]
    assert totals["activeLicenses"] == len(sim.state.agents) == sum(s["activeLicenses"] for s in sites)
    assert sim.get("/sites", limit=1001).status_code == 400
    assert sim.get("/sites", limit=0).status_code == 400
    assert error_of(sim.get("/sites", cursor="not-a-cursor"))["code"] == 4000010
    assert sim.get("/sites", siteIds=sites[0]["id"]).json()["data"]["sites"] == [sites[0]]


def test_agents_are_named_as_the_rmm_names_the_same_customers_machines(sim: Sim) -> None:
    agents, _ = sim.every("/agents", limit=7)
    assert len(agents) == len(sim.state.agents) and len({a["id"] for a in agents}) == len(agents)
    fields = {"id", "computerName", "siteId", "siteName", "accountId", "networkStatus", "osName", "lastActiveDate"}
    assert all(fields <= set(a) and a["networkStatus"] in NETWORK_STATUSES for a in agents)
    ninja = NinjaOneState.seeded(now=NOW)
    customers = Msp.drawn(1, DEMO_CUSTOMERS).listed()
    devices: dict[str, set[str]] = {}
    for number, customer in enumerate(customers, start=1):
        devices[customer.name] = {d["systemName"] for d in ninja.devices.values() if d["organizationId"] == number}
    shared = [a for a in agents if a["computerName"] in devices[a["siteName"]]]
    assert len(shared) >= 0.75 * len(agents), [a["computerName"] for a in agents if a not in shared]
    for customer in customers:  # every customer's first server and workstation are the same machines in both
        names = {a["computerName"] for a in agents if a["siteName"] == customer.name}
        assert {f"{customer.code}-SRV01", f"{customer.code}-WS01"} <= names & devices[customer.name]
    assert Counter(a["networkStatus"] for a in agents)["disconnected"] == 1


def test_the_seeded_threats_cover_every_kind_of_state_over_two_weeks(sim: Sim) -> None:
    threats, _ = sim.every("/threats", limit=4)
    assert len(threats) == 15
    infos = [t["threatInfo"] for t in threats]
    for threat in threats:
        assert {"id", "threatInfo", "agentRealtimeInfo", "agentDetectionInfo", "indicators", "mitigationStatus"} <= set(
            threat
        )
        info, agent = threat["threatInfo"], threat["agentRealtimeInfo"]
        assert {"threatName", "classification", "confidenceLevel", "mitigationStatus", "incidentStatus",
                "analystVerdict", "sha1", "sha256", "filePath", "createdAt", "updatedAt", "storyline"} <= set(info)  # fmt: skip
        assert {"agentId", "agentComputerName", "siteId", "siteName", "accountId", "accountName",
                "agentNetworkStatus"} <= set(agent)  # fmt: skip
        assert info["incidentStatus"] in INCIDENT_STATUSES and info["analystVerdict"] in VERDICTS
        assert NOW - timedelta(days=14) <= datetime.fromisoformat(info["createdAt"]) <= NOW
        assert agent["agentNetworkStatus"] == sim.state.agents[agent["agentId"]]["networkStatus"]
    statuses = Counter((i["incidentStatus"], i["analystVerdict"]) for i in infos)
    assert statuses[("resolved", "true_positive")] == 2 and statuses[("resolved", "false_positive")] == 1
    assert {i["confidenceLevel"] for i in infos} == {"malicious", "suspicious", "n/a"}
    assert "Ransomware" in {i["classification"] for i in infos}
    isolated = [t for t in threats if t["agentRealtimeInfo"]["agentNetworkStatus"] == "disconnected"]
    assert isolated and isolated[0]["threatInfo"]["classification"] == "Ransomware"


def test_threats_filter_as_an_incremental_reader_asks_and_page_stably_by_updated_at(sim: Sim) -> None:
    ordered, _ = sim.every("/threats", limit=4, sortBy="updatedAt", sortOrder="asc")
    times = [t["threatInfo"]["updatedAt"] for t in ordered]
    assert times == sorted(times)
    middle = times[7]
    later = sim.every("/threats", limit=100, sortBy="updatedAt", updatedAt__gt=middle)[0]
    assert [t["id"] for t in later] == [t["id"] for t in ordered[8:]]
    assert len(sim.every("/threats", updatedAt__gte=middle)[0]) == 8
    unresolved = sim.every("/threats", resolved="false")[0]
    assert {t["id"] for t in unresolved} == {
        t["id"] for t in ordered if t["threatInfo"]["incidentStatus"] != "resolved"
    }
    one = ordered[3]["id"]
    assert [t["id"] for t in sim.get("/threats", ids=one).json()["data"]] == [one]
    assert sim.get("/threats", ids="1").json() == {"data": [], "pagination": {"totalItems": 0, "nextCursor": None}}
    # A threat updated while a reader pages moves behind it: nothing repeats, nothing is skipped.
    first = sim.get("/threats", limit=5, sortBy="updatedAt").json()
    sim.clock[0] += 5
    sim.post(
        "/threats/incident", {"filter": {"ids": [first["data"][0]["id"]]}, "data": {"incidentStatus": "in_progress"}}
    )
    rest, _ = sim.every("/threats", limit=5, sortBy="updatedAt", cursor=first["pagination"]["nextCursor"])
    seen = [t["id"] for t in first["data"]] + [t["id"] for t in rest]
    assert len(seen) == 16 and set(seen) == set(sim.state.threats) and seen[-1] == seen[0]
    for bad in ({"unknownFilter": "1"}, {"updatedAt__gt": "yesterday"}, {"sortBy": "threatName"},
                {"incidentStatuses": "closed"}, {"resolved": "maybe"}):  # fmt: skip
        response = sim.get("/threats", **bad)
        assert response.status_code == 400 and error_of(response)["title"] == "Validation Error", bad


# --- actions -------------------------------------------------------------------------------------------


def test_disconnect_is_pending_then_confirmed_and_connect_mirrors_it(sim: Sim) -> None:
    agent = next(a for a in sim.state.agents.values() if a["networkStatus"] == "connected")

    def status() -> str:
        found: str = sim.get("/agents", ids=agent["id"]).json()["data"][0]["networkStatus"]
        return found

    response = sim.post("/agents/actions/disconnect", {"filter": {"ids": [agent["id"]]}})
    assert response.status_code == 200 and response.json() == {"data": {"affected": 1}}
    assert status() == "disconnecting"
    sim.clock[0] += 0.5
    assert status() == "disconnecting"  # not yet: the agent applies it at its next heartbeat
    sim.clock[0] += 0.6
    assert status() == "disconnected"
    # Its threats say so too, from the agent as it is now.
    threats = sim.get("/threats", agentIds=agent["id"]).json()["data"]
    assert all(t["agentRealtimeInfo"]["agentNetworkStatus"] == "disconnected" for t in threats)
    # Again: nothing changes (matched, so counted).
    assert sim.post("/agents/actions/disconnect", {"filter": {"ids": [agent["id"]]}}).json()["data"]["affected"] == 1
    assert status() == "disconnected"
    assert sim.post("/agents/actions/connect", {"filter": {"ids": [agent["id"]]}, "data": {}}).status_code == 200
    assert status() == "connecting"
    sim.clock[0] += 1.0
    assert status() == "connected"
    assert sim.post("/agents/actions/connect", {"filter": {"ids": ["42"]}}).json() == {"data": {"affected": 0}}


def test_actions_refuse_a_bad_filter_or_body_in_s1s_envelope(sim: Sim) -> None:
    agent = next(iter(sim.state.agents))
    threat = next(iter(sim.state.threats))
    for path, body in (
        ("/agents/actions/disconnect", {"filter": {}}),  # the whole console: refused
        ("/agents/actions/disconnect", {"ids": [agent]}),  # no filter
        ("/agents/actions/disconnect", {"filter": {"ids": agent}}),  # not a list
        ("/agents/actions/disconnect", {"filter": {"computerNames": ["x"]}}),
        ("/threats/incident", {"filter": {"ids": [threat]}, "data": {"incidentStatus": "closed"}}),
        ("/threats/incident", {"filter": {"ids": [threat]}, "data": {}}),
        ("/threats/analyst-verdict", {"filter": {"ids": [threat]}, "data": {"analystVerdict": "benign"}}),
    ):
        response = sim.post(path, body)
        assert response.status_code == 400 and error_of(response)["code"] == 4000010, (path, body)
    assert sim.state.stats()["statuses"] == {"400": 7}


def test_incident_and_verdict_change_the_threat_and_move_its_updated_at(sim: Sim) -> None:
    threat = next(t for t in sim.state.threats.values() if t["threatInfo"]["incidentStatus"] == "unresolved")
    before = threat["threatInfo"]["updatedAt"]
    body = {"filter": {"ids": [threat["id"]]}, "data": {"incidentStatus": "resolved"}}
    assert sim.post("/threats/incident", body).json() == {"data": {"affected": 1}}
    info = sim.get("/threats", ids=threat["id"]).json()["data"][0]["threatInfo"]
    assert info["incidentStatus"] == "resolved" and info["incidentStatusDescription"] == "Resolved"
    assert info["analystVerdict"] == "undefined" and info["updatedAt"] > before
    verdict = {"filter": {"ids": [threat["id"]]}, "data": {"analystVerdict": "false_positive"}}
    assert sim.post("/threats/analyst-verdict", verdict).json() == {"data": {"affected": 1}}
    again = sim.get("/threats", ids=threat["id"]).json()["data"][0]["threatInfo"]
    assert again["analystVerdict"] == "false_positive" and again["updatedAt"] > info["updatedAt"]
    assert sim.get("/threats", updatedAt__gt=info["updatedAt"]).json()["pagination"]["totalItems"] == 1


def test_a_new_threat_arrives_through_the_control(sim: Sim) -> None:
    agent = next(iter(sim.state.agents))
    made = requests.post(
        f"{sim.url}/_sim/threats",
        json={"agentId": agent, "classification": "Ransomware", "confidenceLevel": "suspicious"},
        timeout=10,
    )
    assert made.status_code == 201
    threat = made.json()["data"]
    assert threat["agentRealtimeInfo"]["agentId"] == agent and threat["threatInfo"]["incidentStatus"] == "unresolved"
    assert threat["threatInfo"]["confidenceLevel"] == "suspicious"
    assert threat["threatInfo"]["createdAt"] == datetime.fromtimestamp(sim.clock[0], UTC).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ"
    )
    assert sim.get("/threats", ids=threat["id"]).json()["data"][0]["id"] == threat["id"]
    bad = requests.post(f"{sim.url}/_sim/threats", json={"agentId": "1"}, timeout=10)
    assert bad.status_code == 404


# --- fault knobs ---------------------------------------------------------------------------------------


def test_rate_limit_5xx_latency_and_the_controls(sim: Sim) -> None:
    patched = requests.post(f"{sim.url}/_sim/faults", json={"rate_limit_per_second": 2}, timeout=10).json()
    assert patched["rate_limit_per_second"] == 2
    statuses = [sim.get("/sites").status_code for _ in range(4)]
    assert statuses.count(429) >= 1
    throttled = next(r for r in (sim.get("/sites") for _ in range(3)) if r.status_code == 429)
    assert throttled.headers["Retry-After"] == "1" and error_of(throttled)["code"] == 4290010
    requests.post(f"{sim.url}/_sim/reset", timeout=10)
    assert sim.state.faults.rate_limit_per_second == 0 and sim.state.stats()["total"] == 0
    sim.state.faults.errors_5xx, sim.state.faults.error_status = 2, 503
    assert [sim.get("/sites").status_code for _ in range(3)] == [503, 503, 200]
    sim.state.faults.latency = 0.3
    started = time.monotonic()
    sim.get("/sites")
    assert time.monotonic() - started >= 0.3
    sim.state.faults.latency = 0.0
    assert requests.post(f"{sim.url}/_sim/faults", json={"forbidden": "some"}, timeout=10).status_code == 400
    assert requests.post(f"{sim.url}/_sim/faults", json={"nope": 1}, timeout=10).status_code == 400
    stats = requests.get(f"{sim.url}/_sim/stats", timeout=10).json()
    assert stats["paths"]["GET /sites"] == 4 and stats["statuses"] == {"503": 2, "200": 2}
    received = requests.get(f"{sim.url}/_sim/received", timeout=10).json()
    assert received[-1]["path"] == f"{API}/sites" and received[-1]["method"] == "GET"


def test_at_scale_is_large_and_the_same_for_the_same_seed() -> None:
    one = SentinelOneState.at_scale(now=NOW)
    assert len(one.sites) == 500 and len(one.threats) == 5000 and len(one.agents) > 4000
    two = SentinelOneState.at_scale(now=NOW)
    assert list(one.threats) == list(two.threats) and one.agents == two.agents
    assert SentinelOneState.seeded(now=NOW).threats == SentinelOneState.seeded(now=NOW).threats
    statuses = Counter(t["threatInfo"]["incidentStatus"] for t in one.threats.values())
    assert statuses["unresolved"] > statuses["resolved"] > 0


def test_it_runs_from_the_command_line_and_beside_the_other_simulators() -> None:
    def probe(root: str) -> requests.Response:
        return requests.get(f"{root}{API}/sites", headers=AUTH, timeout=2)

    banner, response = run_from_command_line("vectis.simulators.sentinelone", 4, probe)
    for value in (DEMO_API_TOKEN, "12 sites", "/_sim/faults", API):
        assert value in banner, value
    assert response.status_code == 200 and response.json()["pagination"]["totalItems"] == 12
    procfile = (REPO / "Procfile").read_text(encoding="utf-8").splitlines()
    assert "sentinelone: python -m vectis.simulators.sentinelone --host 127.0.0.1 --port 18084 --scale demo" in procfile
    assert SIMULATOR_PORTS[18084] == "the SentinelOne simulator"
