"""The Defender simulator speaks Entra ID's token endpoint and Defender for Endpoint's API, checked over real loopback
HTTP: client credentials per customer tenant and Entra's refusals, the OData envelope with $filter, $top/$skip and
@odata.nextLink, the alert PATCH, isolate/unisolate as machine actions (pending, then succeeded), the seeded data, and
every fault knob."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from tests.vendors.support import run_from_command_line, serve
from vectis.demo.launcher import SIMULATOR_PORTS
from vectis.simulators.defender import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_CUSTOMER_NAME,
    DEMO_TENANT_ID,
    SCOPE,
    DefenderState,
    create_app,
)
from vectis.simulators.defender.vendor import parse_iso
from vectis.simulators.fixtures import DEMO_CUSTOMERS, Msp
from vectis.simulators.sentinelone import SentinelOneState

Json = dict[str, Any]
NOW = datetime(2025, 3, 14, 9, 30, 12, tzinfo=UTC)
FORM = {"grant_type": "client_credentials", "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET,
        "scope": SCOPE}  # fmt: skip


@dataclass
class Sim:
    state: DefenderState
    url: str
    clock: list[float]

    def token(self, tenant: str = DEMO_TENANT_ID, **form: str) -> requests.Response:
        return requests.post(f"{self.url}/{tenant}/oauth2/v2.0/token", data={**FORM, **form}, timeout=10)

    def auth(self, tenant: str = DEMO_TENANT_ID) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(tenant).json()['access_token']}"}

    def get(self, path: str, tenant: str = DEMO_TENANT_ID, **params: Any) -> requests.Response:
        return requests.get(f"{self.url}/api{path}", params=params, headers=self.auth(tenant), timeout=10)

    def send(self, method: str, path: str, body: Any, tenant: str = DEMO_TENANT_ID) -> requests.Response:
        return requests.request(method, f"{self.url}/api{path}", json=body, headers=self.auth(tenant), timeout=10)


@pytest.fixture
def sim() -> Iterator[Sim]:
    clock = [NOW.timestamp()]
    state = DefenderState.seeded(now=NOW)
    state.clock = lambda: clock[0]
    url, stop = serve(create_app(state))
    yield Sim(state, url, clock)
    stop()


def test_the_seed_has_a_tenant_per_customer_named_as_the_other_tools_name_them() -> None:
    state = DefenderState.seeded(now=NOW)
    names = [c.name for c in Msp.drawn(1, DEMO_CUSTOMERS).listed()]
    assert [t["name"] for t in state.tenants.values()] == names and len(state.tenants) == DEMO_CUSTOMERS
    assert state.demo_tenant == DEMO_TENANT_ID and state.tenants[DEMO_TENANT_ID]["name"] == DEMO_CUSTOMER_NAME
    s1 = SentinelOneState.seeded(now=NOW)
    s1_names = {a["computerName"] for a in s1.agents.values()}
    assert {m["_name"] for m in state.machines.values() if m["_name"].endswith("-SRV01")} <= s1_names
    mine = [a for a in state.alerts.values() if a["_tenant"] == DEMO_TENANT_ID]
    assert len(mine) == 14 and all(a["computerDnsName"].split(".")[0] for a in mine)
    assert {a["severity"] for a in mine} == {"Informational", "Low", "Medium", "High"}
    assert Counter(a["status"] for a in mine) == {"New": 8, "InProgress": 3, "Resolved": 3}
    assert {a["classification"] for a in mine} == {None, "TruePositive", "FalsePositive",
                                                   "InformationalExpectedActivity"}  # fmt: skip
    ages = [(NOW.timestamp() - time_of(a["alertCreationTime"])) / 86400 for a in mine]
    assert max(ages) < 14 and min(ages) >= 0
    assert all(any(a["_tenant"] == t for a in state.alerts.values()) for t in state.tenants)
    assert DefenderState.seeded(now=NOW) == state  # deterministic


def time_of(text: str) -> float:
    found = parse_iso(text)
    assert found is not None
    return found


def test_at_scale_is_large_and_deterministic() -> None:
    big = DefenderState.at_scale(now=NOW)
    assert (len(big.tenants), len(big.alerts)) == (500, 5000) and len(big.machines) > 4000
    assert DefenderState.at_scale(tenants=5, alerts=50, now=NOW) == DefenderState.at_scale(
        tenants=5, alerts=50, now=NOW
    )


def test_a_token_is_granted_per_tenant_and_entra_refuses_in_its_words(sim: Sim) -> None:
    granted = sim.token()
    assert granted.status_code == 200 and granted.json()["token_type"] == "Bearer"
    assert granted.json()["expires_in"] == 3599
    wrong = sim.token(client_secret="nope")
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    assert wrong.json()["error_codes"] == [7000215] and wrong.json()["error_description"].startswith("AADSTS7000215")
    received = [r for r in sim.state.received() if r["path"].endswith("/token")]
    assert received and all(r["body"]["client_secret"] == "(hidden)" for r in received)
    assert DEMO_CLIENT_SECRET not in requests.get(f"{sim.url}/_sim/received", timeout=10).text
    assert sim.token("00000000-0000-0000-0000-000000000000").json()["error_codes"] == [90002]
    assert sim.token(client_id="someone-else").json()["error_codes"] == [700016]
    assert sim.token(scope="https://graph.microsoft.com/.default").json()["error"] == "invalid_scope"
    for knob, code in (("secret_expired", 7000222), ("not_consented", 700016), ("bad_secret", 7000215)):
        sim.state.merge_faults({knob: True})
        assert sim.token().json()["error_codes"] == [code], knob
        sim.state.reset()


def test_the_api_wants_a_token_for_its_tenant(sim: Sim) -> None:
    missing = requests.get(f"{sim.url}/api/alerts", timeout=10)
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "Unauthorized"
    other = next(t for t in sim.state.tenants if t != DEMO_TENANT_ID)
    theirs = {a["id"] for a in sim.get("/alerts", other).json()["value"]}
    mine = {a["id"] for a in sim.get("/alerts").json()["value"]}
    assert mine and theirs and not mine & theirs
    machine = next(m for m in sim.state.machines.values() if m["_tenant"] == other)["id"]
    assert sim.get(f"/machines/{machine}").status_code == 404  # another tenant's device
    sim.clock[0] += 3600  # the token has expired
    headers = {"Authorization": "Bearer " + next(iter(sim.state.tokens))}
    assert requests.get(f"{sim.url}/api/alerts", headers=headers, timeout=10).status_code == 401


def test_alerts_page_by_top_skip_and_next_link_and_filter_by_odata(sim: Sim) -> None:
    first = sim.get("/alerts", **{"$top": "5"})
    body = first.json()
    assert body["@odata.context"].endswith("api/$metadata#Alerts") and len(body["value"]) == 5
    seen = [a["id"] for a in body["value"]]
    headers = sim.auth()
    while "@odata.nextLink" in body:
        body = requests.get(body["@odata.nextLink"], headers=headers, timeout=10).json()
        seen += [a["id"] for a in body["value"]]
    assert len(seen) == len(set(seen)) == 14
    assert all(a["evidence"] == [] for a in sim.get("/alerts").json()["value"])
    expanded = sim.get("/alerts", **{"$expand": "evidence"}).json()["value"]
    assert any(e["entityType"] == "File" and e["sha256"] for a in expanded for e in a["evidence"])
    news = sim.get("/alerts", **{"$filter": "status eq 'New'"}).json()["value"]
    assert len(news) == 8 and {a["status"] for a in news} == {"New"}
    cut = sorted(a["lastUpdateTime"] for a in expanded)[6]
    later = sim.get("/alerts", **{"$filter": f"lastUpdateTime gt {cut} and severity eq 'High'"}).json()["value"]
    assert later and all(time_of(a["lastUpdateTime"]) > time_of(cut) and a["severity"] == "High" for a in later)
    for wrong in ("title eq 'x'", "status eq 'New' or status eq 'Resolved'", "lastUpdateTime gt yesterday"):
        refused = sim.get("/alerts", **{"$filter": wrong})
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "BadRequest", wrong
    assert sim.get("/alerts", **{"$top": "10001"}).status_code == 400
    assert sim.get("/alerts", **{"$orderby": "severity"}).status_code == 400


def test_a_patch_changes_the_alert_and_moves_its_last_update_forward(sim: Sim) -> None:
    alert = next(a for a in sim.state.alerts.values() if a["_tenant"] == DEMO_TENANT_ID and a["status"] == "New")
    before = alert["lastUpdateTime"]
    sim.clock[0] += 10
    changed = sim.send("PATCH", f"/alerts/{alert['id']}", {"status": "Resolved"}).json()
    assert (
        changed["status"] == "Resolved"
        and changed["resolvedTime"]
        and time_of(changed["lastUpdateTime"]) > time_of(before)
    )
    judged = sim.send("PATCH", f"/alerts/{alert['id']}", {"classification": "FalsePositive", "determination": "Other",
                                                         "comment": "ours"}).json()  # fmt: skip
    assert (judged["classification"], judged["determination"], judged["comments"][-1]["comment"]) == (
        "FalsePositive", "Other", "ours"
    )  # fmt: skip
    assert sim.send("PATCH", f"/alerts/{alert['id']}", {"status": "Done"}).status_code == 400
    assert sim.send("PATCH", f"/alerts/{alert['id']}", {"title": "x"}).status_code == 400
    assert sim.send("PATCH", "/alerts/missing", {"status": "Resolved"}).status_code == 404


def test_isolate_is_a_machine_action_pending_then_succeeded(sim: Sim) -> None:
    sim.state.transition_seconds = 5
    machine = next(m for m in sim.state.machines.values() if m["_tenant"] == DEMO_TENANT_ID)["id"]
    made = sim.send("POST", f"/machines/{machine}/isolate", {"Comment": "ransomware", "IsolationType": "Full"})
    assert made.status_code == 201
    action = made.json()
    assert (action["type"], action["status"], action["scope"], action["requestorComment"]) == (
        "Isolate", "Pending", "Full", "ransomware"
    )  # fmt: skip
    again = sim.send("POST", f"/machines/{machine}/isolate", {"Comment": "again", "IsolationType": "Full"})
    assert again.status_code == 400  # one already pending
    listed = sim.get("/machineactions", **{"$filter": f"machineId eq '{machine}'"}).json()["value"]
    assert [a["status"] for a in listed] == ["Pending"]
    sim.clock[0] += 5
    assert sim.get(f"/machineactions/{action['id']}").json()["status"] == "Succeeded"
    assert sim.send("POST", f"/machines/{machine}/unisolate", {"Comment": "clean"}).json()["type"] == "Unisolate"
    assert sim.send("POST", f"/machines/{machine}/isolate", {"Comment": ""}).status_code == 400  # a comment is required
    assert (
        sim.send("POST", f"/machines/{machine}/isolate", {"Comment": "x", "IsolationType": "Half"}).status_code == 400
    )
    assert sim.send("POST", "/machines/unknown/isolate", {"Comment": "x"}).status_code == 404


def test_the_fault_knobs(sim: Sim) -> None:
    machine = next(m for m in sim.state.machines.values() if m["_tenant"] == DEMO_TENANT_ID)["id"]
    sim.state.merge_faults({"forbidden": "writes"})
    assert sim.get("/alerts").status_code == 200
    refused = sim.send("POST", f"/machines/{machine}/isolate", {"Comment": "x"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "Forbidden"
    sim.state.reset()
    sim.state.merge_faults({"token_revoked": True})
    assert sim.get("/alerts").status_code == 401
    sim.state.reset()
    sim.state.merge_faults({"errors_5xx": 2, "error_status": 503})
    assert sim.token().status_code == 503 and sim.token().status_code == 503 and sim.token().status_code == 200
    sim.state.reset()
    headers = sim.auth()
    sim.state.merge_faults({"rate_limit_per_second": 1})
    statuses = [requests.get(f"{sim.url}/api/alerts", headers=headers, timeout=10) for _ in range(3)]
    limited = [r for r in statuses if r.status_code == 429]
    assert limited and limited[0].headers["Retry-After"] == "1"
    assert limited[0].json()["error"]["code"] == "TooManyRequests"
    sim.state.reset()
    sim.state.merge_faults({"latency": 0.3})
    started = time.monotonic()
    sim.get("/alerts")
    assert time.monotonic() - started >= 0.3
    reset = requests.post(f"{sim.url}/_sim/reset", timeout=10)
    assert reset.status_code == 200 and sim.state.faults.latency == 0
    stats = requests.get(f"{sim.url}/_sim/stats", timeout=10).json()
    assert stats["total"] == 0
    added = requests.post(f"{sim.url}/_sim/alerts", json={"machineId": machine, "severity": "High"}, timeout=10)
    assert added.status_code == 201 and added.json()["status"] == "New" and added.json()["severity"] == "High"
    assert added.json()["id"] in {a["id"] for a in sim.get("/alerts").json()["value"]}
    assert requests.post(f"{sim.url}/_sim/alerts", json={"machineId": "x"}, timeout=10).status_code == 404


def test_it_runs_from_the_command_line_on_the_demo_port() -> None:
    assert SIMULATOR_PORTS[18087] == "the Microsoft Defender simulator"
    banner, granted = run_from_command_line(
        "vectis.simulators.defender",
        4,
        lambda url: requests.post(f"{url}/{DEMO_TENANT_ID}/oauth2/v2.0/token", data=FORM, timeout=10),
    )
    assert granted.status_code == 200 and granted.json()["access_token"]
    assert DEMO_CLIENT_ID in banner and DEMO_TENANT_ID in banner and "12 tenants" in banner
