"""The ESET simulator on its own: the password and refresh grants, bearer auth, page tokens, the detection window,
resolve and isolation tasks settling, the fault knobs, secrets kept out of the received log, and determinism."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.vendors.support import run_from_command_line, serve_app
from vectis.simulators.eset import DEMO_PASSWORD, DEMO_USERNAME, EsetState, create_app


@pytest.fixture
def sim() -> Iterator[tuple[EsetState, str]]:
    state = EsetState.seeded()
    for url in serve_app(create_app(state)):
        yield state, url


def grant(url: str, **form: str) -> requests.Response:
    return requests.post(f"{url}/oauth/token", data=form, timeout=5)


def bearer(url: str) -> dict[str, str]:
    body = grant(url, grant_type="password", username=DEMO_USERNAME, password=DEMO_PASSWORD).json()
    return {"Authorization": f"Bearer {body['access_token']}"}


def test_the_seed_is_the_msps_customers_as_groups_and_deterministic() -> None:
    state = EsetState.seeded(seed=3)
    again = EsetState.seeded(seed=3, now=None)
    assert [g["displayName"] for g in state.groups.values()] == [g["displayName"] for g in again.groups.values()]
    top = [g for g in state.groups.values() if g["parentGroupUuid"] == state.root_uuid]
    assert len(top) == 13 and "Lost & found" in {g["displayName"] for g in top}
    assert 12 <= len(state.detections) <= 15
    assert {d["severityLevel"] for d in state.detections.values()} >= {
        "SEVERITY_LEVEL_HIGH", "SEVERITY_LEVEL_MEDIUM", "SEVERITY_LEVEL_LOW",
    }  # fmt: skip
    assert any(d["displayName"].endswith("-WS01") for d in state.devices.values())
    scale = EsetState.at_scale(customers=30, detections=300)
    assert len(scale.detections) == 300


def test_grants_refresh_and_refusals(sim: tuple[EsetState, str]) -> None:
    state, url = sim
    first = grant(url, grant_type="password", username=DEMO_USERNAME, password=DEMO_PASSWORD).json()
    assert first["expires_in"] == 3600 and first["token_type"] == "Bearer"
    again = grant(url, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert again.status_code == 200
    spent = grant(url, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert spent.status_code == 400 and spent.json()["error"] == "invalid_grant"
    wrong = grant(url, grant_type="password", username=DEMO_USERNAME, password="nope")
    assert wrong.status_code == 400
    assert all(r["body"].get("password") in (None, "(hidden)") for r in state.received() if r["body"])
    assert all(r["body"].get("refresh_token") in (None, "(hidden)") for r in state.received() if r["body"])
    assert requests.get(f"{url}/v1/devices", timeout=5).status_code == 401
    state.expire_tokens()
    expired = requests.get(f"{url}/v1/devices", headers={"Authorization": f"Bearer {first['access_token']}"}, timeout=5)
    assert expired.status_code == 401 and "expired" in expired.json()["message"]


def test_pages_and_the_detection_window(sim: tuple[EsetState, str]) -> None:
    state, url = sim
    headers = bearer(url)
    seen: list[Any] = []
    token = ""
    while True:
        params: dict[str, Any] = {"pageSize": 5, **({"pageToken": token} if token else {})}
        body = requests.get(
            f"{url}/v1/devices", params=params, headers=headers,
            timeout=5,
        ).json()  # fmt: skip
        seen += [d["uuid"] for d in body["devices"]]
        token = body["nextPageToken"]
        if not token:
            break
    assert sorted(seen) == sorted(state.devices)
    times = sorted(d["occurTime"] for d in state.detections.values())
    body = requests.get(f"{url}/v2/detections", params={"startTime": times[5]}, headers=headers, timeout=5).json()
    assert [d["occurTime"] for d in body["detections"]] == times[5:]
    assert requests.get(f"{url}/v2/detections", params={"bogus": 1}, headers=headers, timeout=5).status_code == 400


def test_resolve_and_an_isolation_task_settle(sim: tuple[EsetState, str]) -> None:
    state, url = sim
    state.transition_seconds = 0.0
    headers = bearer(url)
    detection = next(u for u, d in state.detections.items() if not d["resolved"])
    done = requests.post(f"{url}/v2/detections/{detection}:resolve", json={"note": "ok"}, headers=headers, timeout=5)
    assert done.status_code == 200 and done.json()["detection"]["resolved"] is True
    device = next(u for u, d in state.devices.items() if d["networkIsolationState"].endswith("NOT_ISOLATED"))
    task = {"action": {"name": "StartNetworkIsolation"}, "targets": {"devicesUuids": [device]}, "triggers": []}
    assert requests.post(f"{url}/v1/device_tasks", json={"task": task}, headers=headers, timeout=5).status_code == 200
    read = requests.get(f"{url}/v1/devices/{device}", headers=headers, timeout=5).json()
    assert read["device"]["networkIsolationState"] == "NETWORK_ISOLATION_STATE_ISOLATED"


def test_fault_knobs(sim: tuple[EsetState, str]) -> None:
    state, url = sim
    headers = bearer(url)
    state.merge_faults({"rate_limit_per_second": 1})
    answers = [requests.get(f"{url}/v1/device_groups", headers=headers, timeout=5) for _ in range(3)]
    limited = [a for a in answers if a.status_code == 429]
    assert limited and limited[0].headers["Retry-After"] == "1"
    state.reset()
    state.merge_faults({"errors_5xx": 1, "forbidden": "writes"})
    assert requests.get(f"{url}/v1/device_groups", headers=headers, timeout=5).status_code == 500
    assert requests.get(f"{url}/v1/device_groups", headers=headers, timeout=5).status_code == 200
    task = {"action": {"name": "StartNetworkIsolation"}, "targets": {"devicesUuids": [next(iter(state.devices))]}}
    assert requests.post(f"{url}/v1/device_tasks", json={"task": task}, headers=headers, timeout=5).status_code == 403
    state.merge_faults({"bad_credentials": True})
    assert grant(url, grant_type="password", username=DEMO_USERNAME, password=DEMO_PASSWORD).status_code == 400
    added = requests.post(f"{url}/_sim/detections", json={"deviceUuid": next(iter(state.devices))}, timeout=5)
    assert added.status_code == 201 and added.json()["detection"]["resolved"] is False


def test_it_runs_from_the_command_line() -> None:
    banner, answer = run_from_command_line(
        "vectis.simulators.eset", 3, lambda root: requests.get(f"{root}/_sim/stats", timeout=5)
    )
    assert "ESET simulator" in banner and DEMO_USERNAME in banner and answer.status_code == 200
