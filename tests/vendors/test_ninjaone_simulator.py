"""The NinjaOne simulator speaks NinjaOne's Public API 2.0, checked over real loopback HTTP.

Every body it answers is validated against NinjaOne's own OpenAPI document, strictly (a field the spec does not
define fails): against ``tests/vendors/specs/ninjaone_core.compact.json`` (what ``python -m
scripts.compact_ninjaone_spec`` makes of it) always, and against the full YAML too when ``shared/`` is beside the
repo. Then paging (``after``, ``newerThan``/``olderThan``), the device filter, alert reset, the webhook and its
deliveries, and every fault knob.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from jsonschema import Draft4Validator

from scripts.compact_ninjaone_spec import COMPACT_SPEC, NINJAONE, REGENERATE, SHARED_SPEC, WANTED
from scripts.openapi_compact import missing_from, render
from tests.vendors.openapi import (
    full_spec_or_skip,
    integer_and_uuid_formats,
    json_body,
    openapi30_to_json_schema,
    response_validator,
    schema_errors,
)
from tests.vendors.support import posts_received, run_from_command_line, serve, wait_for_the_hung_request
from vectis.demo.launcher import SIMULATOR_PORTS
from vectis.ingest.matching import normalize_name, suggestions
from vectis.simulators.fixtures import DEMO_CUSTOMERS, Msp
from vectis.simulators.ninjaone import (
    API,
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    TOKEN_PATH,
    ApiApp,
    NinjaOneState,
    create_app,
    parse_device_filter,
)
from vectis.simulators.ninjaone.api import simulator

Json = dict[str, Any]

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2025, 3, 14, 9, 30, 12, tzinfo=UTC)
NOW_TS = NOW.timestamp()  # as NinjaOne writes times
ORGS, ORGS_DETAILED, ORG = "/v2/organizations", "/v2/organizations-detailed", "/v2/organization/{id}"
LOCATIONS, ORG_LOCATIONS = "/v2/locations", "/v2/organization/{id}/locations"
DEVICES, DEVICES_DETAILED, DEVICE = "/v2/devices", "/v2/devices-detailed", "/v2/device/{id}"
ALERTS, ACTIVITIES = "/v2/alerts", "/v2/activities"


# --- NinjaOne's spec as JSON Schema ---------------------------------------------------------------------

FORMATS = integer_and_uuid_formats()


@FORMATS.checks("double")
def _double(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@cache
def compact_spec() -> Json:
    """The compact form of NinjaOne's spec, committed with the tests, as JSON Schema."""
    converted: Json = openapi30_to_json_schema(json.loads(COMPACT_SPEC.read_text(encoding="utf-8")))
    return converted


@cache
def full_spec() -> Json | None:
    """NinjaOne's whole spec as JSON Schema, when ``shared/`` is beside the repo."""
    if not SHARED_SPEC.is_file():
        return None
    converted: Json = openapi30_to_json_schema(NINJAONE.read_full())
    return converted


def _documents() -> list[tuple[str, Json]]:
    full = full_spec()
    return [("the compact spec", compact_spec()), *([("the full spec", full)] if full is not None else [])]


@cache
def _validators(path: str, method: str, status: int) -> list[tuple[str, Draft4Validator]]:
    assert (method, path, str(status)) in WANTED, (
        f"{method.upper()} {path} {status} is not in the compact spec: add it to WANTED in "
        f"scripts/compact_ninjaone_spec.py and run `{REGENERATE}`"
    )
    return [(name, response_validator(doc, path, method, status, FORMATS)) for name, doc in _documents()]


@cache
def _schema_validators(schema: str) -> list[tuple[str, Draft4Validator]]:
    pointer = f"#/components/schemas/{schema}"
    return [(name, Draft4Validator({**doc, "$ref": pointer}, format_checker=FORMATS)) for name, doc in _documents()]


def _check(validators: list[tuple[str, Draft4Validator]], body: Any, what: str) -> None:
    for name, validator in validators:
        errors = schema_errors(validator, body)
        assert not errors, f"{what} breaks {name} of NinjaOne:\n" + "\n".join(f"  {e}" for e in errors)


def assert_ninja(response: requests.Response, path: str) -> Any:
    """The body of a 200, after checking it against the schema NinjaOne publishes for ``GET path``."""
    assert response.status_code == 200, (response.status_code, response.text)
    return assert_ninja_body(json_body(response), path)


def assert_ninja_body(body: Any, path: str) -> Any:
    """``body``, after checking it against the schema NinjaOne publishes for a 200 to ``GET path``."""
    _check(_validators(path, "get", 200), body, f"GET {path}")
    return body


def assert_schema(body: Any, schema: str) -> Any:
    """``body``, after checking it against the spec's ``components/schemas/<schema>``."""
    _check(_schema_validators(schema), body, schema)
    return body


def test_it_holds_the_simulator_to_every_field_name_and_type_in_ninjaones_schema() -> None:
    state = NinjaOneState.seeded(now=NOW)
    device = state.device_view(next(iter(state.devices.values())), detailed=True)
    validator = _validators(DEVICES_DETAILED, "get", 200)[0][1]

    assert not list(validator.iter_errors([device]))
    assert list(validator.iter_errors([{**device, "os": {"name": "Windows 11"}}]))  # not in the spec's Device
    assert list(validator.iter_errors([{**device, "lastContact": "2025-03-14T09:30:12Z"}]))  # epoch seconds only
    assert list(validator.iter_errors([{**device, "offline": None}]))  # left out, never null
    assert list(validator.iter_errors([{**device, "nodeClass": "WINDOWS"}]))


def shared_spec() -> Path:
    return full_spec_or_skip(SHARED_SPEC, "NinjaOne", COMPACT_SPEC)


def test_the_committed_compact_spec_is_what_the_script_makes_of_ninjaones() -> None:
    regenerated = render(NINJAONE.compacted(NINJAONE.read_full(shared_spec()))).encode("utf-8")

    if regenerated != COMPACT_SPEC.read_bytes():
        pytest.fail(
            f"{COMPACT_SPEC.relative_to(REPO)} is not what NinjaOne's spec gives for WANTED: run `{REGENERATE}`",
            pytrace=False,
        )


def test_the_compact_spec_holds_every_get_the_simulator_serves() -> None:
    served = {
        rule.rule.replace("<int:", "{").replace("<", "{").replace(">", "}")
        for rule in create_app(NinjaOneState()).url_map.iter_rules()
        if rule.rule.startswith(API + "/") and "GET" in (rule.methods or ())
    }

    assert not missing_from(json.loads(COMPACT_SPEC.read_text(encoding="utf-8")), WANTED)
    assert served == {path for method, path, _ in WANTED if method == "get"}


# --- a simulator on a real loopback port ---------------------------------------------------------------


@dataclass
class Sim:
    state: NinjaOneState
    root: str
    http: requests.Session
    bearer: str | None = None

    def grant(self, **form: str) -> requests.Response:
        return self.http.post(self.root + TOKEN_PATH, data=form, timeout=5)

    def token(self) -> str:
        if self.bearer is None:
            response = self.grant(
                grant_type="client_credentials",
                client_id=DEMO_CLIENT_ID,
                client_secret=DEMO_CLIENT_SECRET,
                scope="monitoring management",
            )
            assert response.status_code == 200, response.text
            self.bearer = str(response.json()["access_token"])
        return self.bearer

    def call(
        self, method: str, path: str, *, token: str | None = "", timeout: float = 5, **kwargs: Any
    ) -> requests.Response:
        bearer = self.token() if token == "" else token
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        return self.http.request(method, self.root + path, headers=headers, timeout=timeout, **kwargs)

    def get(self, path: str, *, token: str | None = "", **params: Any) -> requests.Response:
        """``token``: "" for the demo application's, None for none."""
        return self.call("GET", path, token=token, params=params)

    def ok(self, path: str, pattern: str | None = None, **params: Any) -> Any:
        """A GET that must answer 200 with the body the spec defines for ``pattern`` (default: ``path``)."""
        return assert_ninja(self.get(path, **params), pattern or path)

    def knobs(self, patch: Json) -> requests.Response:
        return self.http.post(f"{self.root}/_sim/faults", json=patch, timeout=5)

    def control(self, path: str, body: Json | None = None) -> requests.Response:
        return self.http.post(f"{self.root}/_sim{path}", json=body or {}, timeout=5)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Flask, str]]:
    app = create_app(NinjaOneState.seeded(now=NOW))
    root, stop = serve(app)
    yield app, root
    stop()


@pytest.fixture
def sim(served: tuple[Flask, str]) -> Iterator[Sim]:
    app, root = served
    # Each test on a NinjaOne of its own: resets, knobs and webhooks change what the next test would see.
    state = NinjaOneState.seeded(now=NOW)
    app.extensions[simulator.key] = state
    with requests.Session() as http:
        yield Sim(state, root, http)
    state.drain()


def devices_in(sim: Sim, **params: Any) -> list[Json]:
    rows: list[Json] = sim.ok(DEVICES, **params)
    return rows


# --- every endpoint, as the spec says ------------------------------------------------------------------


def test_it_answers_every_get_it_serves_with_the_body_the_spec_defines(sim: Sim) -> None:
    device = next(iter(sim.state.devices))

    for path, pattern in [
        (ORGS, ORGS),
        (ORGS_DETAILED, ORGS_DETAILED),
        ("/v2/organization/3", ORG),
        (LOCATIONS, LOCATIONS),
        ("/v2/organization/3/locations", ORG_LOCATIONS),
        (DEVICES, DEVICES),
        (DEVICES_DETAILED, DEVICES_DETAILED),
        (f"/v2/device/{device}", DEVICE),
        (ALERTS, ALERTS),
        (ACTIVITIES, ACTIVITIES),
    ]:
        assert sim.ok(path, pattern), path

    answered = {key for key in sim.state.stats()["paths"] if key.startswith("GET /v2")}
    assert answered == {f"GET {path}" for method, path, _ in WANTED if method == "get"}


# --- authentication ------------------------------------------------------------------------------------


def test_it_issues_a_client_credentials_token_for_an_hour(sim: Sim) -> None:
    response = sim.grant(
        grant_type="client_credentials",
        client_id=DEMO_CLIENT_ID,
        client_secret=DEMO_CLIENT_SECRET,
        scope="monitoring management",
    )

    body = json_body(response)
    assert response.status_code == 200
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and body["scope"] == "monitoring management"
    assert sim.get(ORGS, token=body["access_token"]).status_code == 200


def test_it_refuses_an_unknown_client_or_a_wrong_secret_as_ninjaone_does(sim: Sim) -> None:
    for client_id, secret in ((DEMO_CLIENT_ID, "wrong"), ("NOSUCHCLIENT00000000", DEMO_CLIENT_SECRET)):
        response = sim.grant(grant_type="client_credentials", client_id=client_id, client_secret=secret)
        assert response.status_code == 401
        assert json_body(response) == {"resultCode": "Client app not exist"}


def test_it_takes_only_a_form_with_the_client_credentials_grant(sim: Sim) -> None:
    as_json = sim.http.post(
        sim.root + TOKEN_PATH,
        json={"grant_type": "client_credentials", "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET},
        timeout=5,
    )
    password = sim.grant(grant_type="password", client_id=DEMO_CLIENT_ID, client_secret=DEMO_CLIENT_SECRET)

    assert as_json.status_code == 400 and set(json_body(as_json)) == {"resultCode"}
    assert password.status_code == 400 and json_body(password)["resultCode"]


def test_it_answers_401_without_a_valid_unexpired_bearer_token(sim: Sim) -> None:
    token = sim.token()
    started = time.time()

    missing, made_up = sim.get(ORGS, token=None), sim.get(ORGS, token="made-up")
    sim.state.clock = lambda: started + 3601
    expired = sim.get(ORGS, token=token)

    for response in (missing, made_up, expired):
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
        assert set(json_body(response)) == {"resultCode", "errorMessage", "incidentId"}
    assert "expired" in expired.json()["errorMessage"]


def test_it_grants_only_the_scopes_the_application_has_and_answers_403_for_the_rest(sim: Sim) -> None:
    sim.state.apps["READONLY000000000000"] = ApiApp("read-only-secret", frozenset({"monitoring"}))
    granted = sim.grant(
        grant_type="client_credentials",
        client_id="READONLY000000000000",
        client_secret="read-only-secret",
        scope="monitoring management",
    ).json()
    alert = next(iter(sim.state.alerts))

    read = sim.get(ORGS, token=granted["access_token"])
    write = sim.call("POST", f"/v2/alert/{alert}/reset", token=granted["access_token"])

    assert granted["scope"] == "monitoring"
    assert read.status_code == 200
    assert write.status_code == 403
    assert write.headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope", scope="management"'
    assert "management" in json_body(write)["errorMessage"]
    assert alert in sim.state.alerts  # nothing was reset


# --- organizations and locations -----------------------------------------------------------------------


def test_it_lists_the_demo_customers_as_organizations_two_of_them_named_a_little_differently(sim: Sim) -> None:
    organizations = sim.ok(ORGS)
    customers = {index: c.name for index, c in enumerate(Msp.drawn(1, DEMO_CUSTOMERS).listed())}

    assert len(organizations) == DEMO_CUSTOMERS
    assert all(set(org) == {"id", "name", "description", "nodeApprovalMode"} for org in organizations)
    wanted = {normalize_name(name) for name in customers.values()}
    linked = [org for org in organizations if normalize_name(org["name"]) in wanted]
    waiting = [org for org in organizations if normalize_name(org["name"]) not in wanted]
    assert len(linked) == DEMO_CUSTOMERS - 2 and len(waiting) == 2
    for org in waiting:  # Customer matching suggests the right customer first
        best = suggestions(customers, org["name"])[0]
        assert org["name"].split()[0] == best[1].split()[0], (org["name"], best)


def test_it_pages_organizations_and_locations_by_the_last_id(sim: Sim) -> None:
    first = sim.ok(ORGS, pageSize=5)
    second = sim.ok(ORGS, pageSize=5, after=first[-1]["id"])
    everything = sim.ok(ORGS)
    locations = sim.ok(LOCATIONS)
    paged: list[Json] = []
    while page := sim.ok(LOCATIONS, pageSize=4, after=paged[-1]["id"] if paged else 0):
        paged += page

    assert [o["id"] for o in first + second] == [o["id"] for o in everything[:10]]
    assert paged == locations and [loc["id"] for loc in locations] == sorted(loc["id"] for loc in locations)
    assert {loc["organizationId"] for loc in locations} == {o["id"] for o in everything}


def test_it_details_an_organization_with_its_locations_and_policies(sim: Sim) -> None:
    detailed = sim.ok(ORGS_DETAILED)
    one = sim.ok("/v2/organization/2", ORG)
    own = sim.ok("/v2/organization/2/locations", ORG_LOCATIONS)
    missing = sim.get("/v2/organization/999")

    assert one == detailed[1] and one["locations"] == own and own
    assert {"nodeRoleId", "policyId"} == set(one["policies"][0])
    assert missing.status_code == 404 and set(json_body(missing)) == {"resultCode", "errorMessage", "incidentId"}


# --- devices -------------------------------------------------------------------------------------------


def test_it_has_devices_of_several_classes_online_and_offline_with_epoch_second_times(sim: Sim) -> None:
    devices = devices_in(sim)

    assert {"WINDOWS_WORKSTATION", "WINDOWS_SERVER", "MAC", "LINUX_SERVER"} <= {d["nodeClass"] for d in devices}
    offline = [d for d in devices if d["offline"]]
    online = [d for d in devices if not d["offline"]]
    assert offline and online
    assert all(isinstance(d["lastContact"], float) and d["created"] < d["lastContact"] <= NOW_TS for d in devices)
    assert max(d["lastContact"] for d in offline) < min(d["lastContact"] for d in online)
    assert all(NOW_TS - d["lastContact"] < 300 for d in online)
    assert {d["organizationId"] for d in devices} == set(sim.state.organizations)


def test_it_pages_devices_after_the_last_node_id_without_skipping_or_repeating(sim: Sim) -> None:
    everything = devices_in(sim)
    seen: list[Json] = []
    while page := devices_in(sim, pageSize=7, after=seen[-1]["id"] if seen else 0):
        assert len(page) <= 7
        seen += page

    ids = [d["id"] for d in seen]
    assert seen == everything and ids == sorted(ids) and len(set(ids)) == len(ids)
    assert any(b - a > 1 for a, b in itertools.pairwise(ids))  # ids are not contiguous, as NinjaOne's


def test_it_details_devices_with_their_references(sim: Sim) -> None:
    detailed = sim.ok(DEVICES_DETAILED, pageSize=20)
    basic = devices_in(sim, pageSize=20)
    one = sim.ok(f"/v2/device/{detailed[3]['id']}", DEVICE)

    assert one == detailed[3]
    for full, brief in zip(detailed, basic, strict=True):
        assert {key: full[key] for key in brief} == brief
        assert full["references"]["organization"]["id"] == full["organizationId"]
        assert full["references"]["location"]["id"] == full["locationId"]
        assert full["references"]["role"]["nodeClass"] == full["nodeClass"]
    assert sim.get("/v2/device/1").status_code == 404


@pytest.mark.parametrize(
    ("df", "keep"),
    [
        ("org = 3", lambda d: d["organizationId"] == 3),
        ("status = 'ONLINE'", lambda d: not d["offline"]),
        ("status = 'OFFLINE'", lambda d: d["offline"]),
        ("offline", lambda d: d["offline"]),
        ("class = WINDOWS_SERVER", lambda d: d["nodeClass"] == "WINDOWS_SERVER"),
        ("class in (MAC, LINUX_SERVER)", lambda d: d["nodeClass"] in ("MAC", "LINUX_SERVER")),
        ("org != 1 AND org not in (2, 3)", lambda d: d["organizationId"] not in (1, 2, 3)),
        (
            "org = 2 AND status = 'ONLINE' AND class = WINDOWS_WORKSTATION",
            lambda d: d["organizationId"] == 2 and not d["offline"] and d["nodeClass"] == "WINDOWS_WORKSTATION",
        ),
        ("status = APPROVED and online", lambda d: not d["offline"]),
        ("created after 2025-01-01", lambda d: d["created"] > datetime(2025, 1, 1, tzinfo=UTC).timestamp()),
    ],
)
def test_it_filters_devices_with_ninjaones_device_filter(sim: Sim, df: str, keep: Any) -> None:
    everything = devices_in(sim)

    found = devices_in(sim, df=df)

    assert found == [d for d in everything if keep(d)]
    assert len(found) < len(everything)


def test_it_combines_the_device_filter_with_paging(sim: Sim) -> None:
    wanted = devices_in(sim, df="online AND class = WINDOWS_WORKSTATION")
    seen: list[Json] = []
    while page := devices_in(
        sim, df="online AND class = WINDOWS_WORKSTATION", pageSize=3, after=seen[-1]["id"] if seen else 0
    ):
        seen += page

    assert seen == wanted and len(wanted) > 3


@pytest.mark.parametrize("df", ["org = acme", "colour = red", "org = 1 OR org = 2", "online AND", "org in 1, 2"])
def test_it_refuses_a_device_filter_it_cannot_read(sim: Sim, df: str) -> None:
    response = sim.get(DEVICES, df=df)

    assert response.status_code == 400
    assert "device filter" in json_body(response)["errorMessage"]


def test_the_device_filter_reads_keywords_in_any_case() -> None:
    keep = parse_device_filter("ORG = 1 and Class In (mac) AND Online")

    assert keep({"organizationId": 1, "nodeClass": "MAC", "offline": False})
    assert not keep({"organizationId": 1, "nodeClass": "MAC", "offline": True})


# --- alerts --------------------------------------------------------------------------------------------


def test_it_lists_open_alerts_of_each_kind_and_severity_with_their_device(sim: Sim) -> None:
    alerts = sim.ok(ALERTS)

    kinds = {
        "CONDITION_AGENT_DISK_FREE_SPACE",
        "CONDITION_AGENT_CPU",
        "AV_QUARANTINE_THREAT",
        "CONDITION_AGENT_PATCH_LAST_INSTALLED",
    }
    by_kind: dict[str, set[str]] = {}
    for alert in alerts:
        by_kind.setdefault(alert["sourceType"].replace("CONDITION_LINUX_", "CONDITION_AGENT_"), set()).add(
            alert["severity"]
        )
        assert alert["device"]["id"] == alert["deviceId"]
        assert alert["createTime"] <= alert["updateTime"] <= NOW_TS
    assert len(alerts) == 18
    assert all(by_kind[kind] == {"CRITICAL", "MAJOR", "MODERATE", "MINOR"} for kind in kinds)
    assert {a["device"]["offline"] for a in alerts if a["sourceType"] == "AGENT_OFFLINE"} == {True}
    assert {a["priority"] for a in alerts} == {"HIGH", "MEDIUM", "LOW"}


def test_it_narrows_alerts_by_source_type_and_device_filter(sim: Sim) -> None:
    alerts = sim.ok(ALERTS)
    organization = alerts[0]["device"]["organizationId"]

    cpu = sim.ok(ALERTS, sourceType="CONDITION_AGENT_CPU")
    own = sim.ok(ALERTS, df=f"org = {organization}")

    assert cpu == [a for a in alerts if a["sourceType"] == "CONDITION_AGENT_CPU"] and len(cpu) == 4
    assert own == [a for a in alerts if a["device"]["organizationId"] == organization] and own


def test_it_resets_an_alert_so_later_reads_no_longer_list_it(sim: Sim) -> None:
    alert = sim.ok(ALERTS)[0]
    before = sim.ok(ACTIVITIES)["lastActivityId"]

    reset = sim.call("POST", f"/v2/alert/{alert['uid']}/reset", json={"resolvedBy": "Vectis", "ticket": 4821})
    again = sim.call("POST", f"/v2/alert/{alert['uid']}/reset")

    assert reset.status_code == 204 and not reset.content
    assert alert["uid"] not in {a["uid"] for a in sim.ok(ALERTS)}
    log = sim.ok(ACTIVITIES, newerThan=before)
    assert [(a["statusCode"], a["seriesUid"]) for a in log["activities"]] == [("RESET", alert["uid"])]
    assert log["activities"][0]["data"] == {"resolvedBy": "Vectis", "ticket": 4821}
    assert log["lastActivityId"] == log["activities"][0]["id"]
    assert again.status_code == 404


# --- activities ----------------------------------------------------------------------------------------


def test_it_lists_activities_newest_first_200_by_default(sim: Sim) -> None:
    body = sim.ok(ACTIVITIES)
    ids = [a["id"] for a in body["activities"]]

    assert len(ids) == 200 and ids == sorted(ids, reverse=True)
    assert body["lastActivityId"] == ids[0] == sim.state.activities[-1]["id"]
    times = [a["activityTime"] for a in body["activities"]]
    assert times == sorted(times, reverse=True) and all(isinstance(t, float) for t in times)


def test_it_has_patch_cycles_conditions_and_antivirus_updates_in_its_log(sim: Sim) -> None:
    log = sim.ok(ACTIVITIES, pageSize=1000)["activities"]

    kinds = {(a["activityType"], a["statusCode"]) for a in log}
    assert {
        ("PATCH_MANAGEMENT", "PATCH_MANAGEMENT_APPLY_PATCH_COMPLETED"),
        ("CONDITION", "TRIGGERED"),
        ("CONDITION", "RESET"),
        ("ANTIVIRUS", "BITDEFENDER_DOWNLOAD_SUCCEEDED"),
    } <= kinds
    assert {a.get("activityResult") for a in log if a["activityType"] == "PATCH_MANAGEMENT"} == {"SUCCESS", "FAILURE"}
    for alert in sim.ok(ALERTS):
        raised = sim.ok(ACTIVITIES, seriesUid=alert["uid"])["activities"]
        assert len(raised) == 1 and raised[0]["activityTime"] == alert["createTime"]


@pytest.mark.parametrize("size", [9, 1001, 0])
def test_it_keeps_the_page_size_between_10_and_1000(sim: Sim, size: int) -> None:
    assert sim.get(ACTIVITIES, pageSize=size).status_code == 400


def test_it_pages_activities_forward_with_newer_than_to_the_last_activity(sim: Sim) -> None:
    seen: list[int] = []
    cursor = 0
    while page := sim.ok(ACTIVITIES, newerThan=cursor, pageSize=100)["activities"]:
        ids = [a["id"] for a in page]
        assert ids == sorted(ids, reverse=True) and min(ids) > cursor
        seen += ids
        cursor = max(ids)

    assert sorted(seen) == [a["id"] for a in sim.state.activities] and len(set(seen)) == len(seen)
    assert cursor == sim.ok(ACTIVITIES)["lastActivityId"]


def test_it_pages_activities_back_with_older_than(sim: Sim) -> None:
    seen: list[int] = []
    params: Json = {"pageSize": 100}
    while page := sim.ok(ACTIVITIES, **params)["activities"]:
        seen += [a["id"] for a in page]
        params["olderThan"] = page[-1]["id"]

    assert seen == sorted((a["id"] for a in sim.state.activities), reverse=True)


@pytest.mark.parametrize(
    ("params", "keep"),
    [
        ({"class": "DEVICE"}, lambda a: "deviceId" in a),
        ({"class": "SYSTEM"}, lambda a: "deviceId" not in a and "userId" not in a),
        ({"class": "USER"}, lambda a: "userId" in a),
        ({"type": "PATCH_MANAGEMENT"}, lambda a: a["activityType"] == "PATCH_MANAGEMENT"),
        ({"status": "TRIGGERED,RESET"}, lambda a: a["statusCode"] in ("TRIGGERED", "RESET")),
        ({"df": "org = 4 AND class = WINDOWS_SERVER"}, None),
    ],
)
def test_it_narrows_activities_by_class_type_status_and_device(sim: Sim, params: Json, keep: Any) -> None:
    everything = sim.ok(ACTIVITIES, pageSize=1000)["activities"]
    servers = {d["id"] for d in devices_in(sim, df="org = 4 AND class = WINDOWS_SERVER")}

    found = sim.ok(ACTIVITIES, pageSize=1000, **params)["activities"]

    predicate = keep or (lambda a: a.get("deviceId") in servers)
    assert found == [a for a in everything if predicate(a)] and found


# --- the webhook and its deliveries --------------------------------------------------------------------


def test_it_delivers_activities_to_the_registered_webhook_with_its_custom_header(sim: Sim) -> None:
    device = next(d for d in devices_in(sim, df="online AND class = WINDOWS_WORKSTATION"))
    other = next(d for d in devices_in(sim, df=f"online AND org != {device['organizationId']}"))
    with posts_received("/hooks/ninjaone") as (url, inbox):
        registration = {
            "url": url,
            "activities": {"CONDITION": ["TRIGGERED", "RESET"]},
            "expand": [],
            "headers": [{"name": "X-Vectis-Token", "value": "wh-secret-1"}],
            "organizationIds": [device["organizationId"]],
        }
        assert sim.call("PUT", "/v2/webhook", json=registration).status_code == 204
        raised = sim.control("/alerts", {"deviceId": device["id"], "kind": "disk", "severity": "CRITICAL"})
        elsewhere = sim.control("/alerts", {"deviceId": other["id"], "kind": "cpu", "severity": "MINOR"})
        patched = sim.control(
            "/activities",
            {"deviceId": device["id"], "activityType": "PATCH_MANAGEMENT", "statusCode": "PATCH_MANAGEMENT_INSTALLED"},
        )
        alert = raised.json()["alert"]
        assert sim.call("POST", f"/v2/alert/{alert['uid']}/reset").status_code == 204
        sim.state.drain()
        delivered = [inbox.get(timeout=5) for _ in range(2)]

    assert raised.status_code == elsewhere.status_code == patched.status_code == 201
    assert inbox.empty()  # another organisation's alert and a patch run were not wanted
    assert all(d.headers["x-vectis-token"] == "wh-secret-1" for d in delivered)
    bodies = sorted((assert_schema(json.loads(d.body), "Activity") for d in delivered), key=lambda b: b["id"])
    assert [(b["statusCode"], b["seriesUid"], b["deviceId"]) for b in bodies] == [
        ("TRIGGERED", alert["uid"], device["id"]),
        ("RESET", alert["uid"], device["id"]),
    ]
    assert bodies[0] == sim.ok(ACTIVITIES, seriesUid=alert["uid"])["activities"][-1]
    assert [d["status"] for d in sim.state.deliveries] == [200, 200]


def test_it_shows_the_webhook_without_its_header_values_and_stops_on_delete(sim: Sim) -> None:
    device = next(iter(sim.state.devices.values()))
    with posts_received("/hooks/ninjaone") as (url, inbox):
        registration = {"url": url, "headers": [{"name": "Authorization", "value": "Bearer wh-secret-2"}]}
        sim.call("PUT", "/v2/webhook", json=registration)
        shown = sim.http.get(f"{sim.root}/_sim/webhook", timeout=5)
        assert sim.call("DELETE", "/v2/webhook").status_code == 204
        sim.control("/activities", {"deviceId": device["id"], "activityType": "SYSTEM", "statusCode": "NODE_UPDATED"})
        sim.state.drain()

    assert shown.json()["headers"] == ["Authorization"] and "wh-secret-2" not in shown.text
    assert inbox.empty() and sim.http.get(f"{sim.root}/_sim/webhook", timeout=5).json() is None


def test_it_expands_the_device_into_a_delivery_when_asked(sim: Sim) -> None:
    device = next(iter(sim.state.devices.values()))
    with posts_received("/hooks/ninjaone") as (url, inbox):
        sim.call("PUT", "/v2/webhook", json={"url": url, "expand": ["device"]})
        sim.control(
            "/activities",
            {"deviceId": device["id"], "activityType": "ANTIVIRUS", "statusCode": "BITDEFENDER_SCAN_COMPLETED"},
        )
        body = json.loads(inbox.get(timeout=5).body)

    assert assert_schema(body.pop("device"), "NodeWithDetailedReferences")["id"] == device["id"]
    assert_schema(body, "Activity")


@pytest.mark.parametrize(
    "registration",
    [
        {"url": "ftp://example.test/hook"},
        {"url": "http://127.0.0.1/hook", "activities": {"CONDITION": "TRIGGERED"}},
        {"url": "http://127.0.0.1/hook", "headers": [{"name": "X"}]},
        {"url": "http://127.0.0.1/hook", "organizationIds": ["one"]},
    ],
)
def test_it_refuses_a_webhook_that_is_not_a_webhook_configuration(sim: Sim, registration: Json) -> None:
    assert sim.call("PUT", "/v2/webhook", json=registration).status_code == 400
    assert sim.state.webhook is None


def test_it_logs_failed_deliveries(sim: Sim) -> None:
    device = next(iter(sim.state.devices.values()))
    sim.call("PUT", "/v2/webhook", json={"url": "http://127.0.0.1:9/nothing-listens"})
    sim.control("/activities", {"deviceId": device["id"], "activityType": "SYSTEM", "statusCode": "NODE_UPDATED"})
    sim.state.drain()

    logged = sim.http.get(f"{sim.root}/_sim/deliveries", timeout=5).json()
    assert len(logged) == 1 and logged[0]["status"] is None and "ConnectionError" in logged[0]["error"]


# --- fault knobs ---------------------------------------------------------------------------------------


def test_it_refuses_every_client_with_the_bad_client_knob(sim: Sim) -> None:
    sim.knobs({"bad_client": True})
    refused = sim.grant(grant_type="client_credentials", client_id=DEMO_CLIENT_ID, client_secret=DEMO_CLIENT_SECRET)
    sim.knobs({"bad_client": None})

    assert refused.status_code == 401 and refused.json() == {"resultCode": "Client app not exist"}
    assert sim.get(ORGS).status_code == 200


def test_it_answers_403_naming_the_scope_the_missing_scope_knob_takes_away(sim: Sim) -> None:
    token = sim.token()
    sim.knobs({"missing_scope": "monitoring"})

    read = sim.get(ORGS)
    granted = sim.grant(grant_type="client_credentials", client_id=DEMO_CLIENT_ID, client_secret=DEMO_CLIENT_SECRET)

    assert read.status_code == 403 and 'scope="monitoring"' in read.headers["WWW-Authenticate"]
    assert granted.json()["scope"] == "management control"
    sim.knobs({"missing_scope": "management"})
    assert sim.get(ORGS, token=token).status_code == 200
    assert sim.call("PUT", "/v2/webhook", json={"url": "http://127.0.0.1/hook"}).status_code == 403


def test_it_throttles_with_429_and_retry_after(sim: Sim) -> None:
    sim.token()
    sim.knobs({"rate_limit_per_second": 2})
    if time.monotonic() % 1 > 0.5:  # the window is a wall second: start near its beginning
        time.sleep(1 - time.monotonic() % 1 + 0.02)

    statuses = [sim.get(ORGS).status_code for _ in range(4)]
    limited = sim.get(ORGS)

    assert statuses[:2] == [200, 200] and 429 in statuses
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
    assert json_body(limited)["resultCode"] == "TOO_MANY_REQUESTS"
    assert sim.http.get(f"{sim.root}/_sim/stats", timeout=5).status_code == 200  # never faulted


def test_it_answers_5xx_for_the_next_n_requests(sim: Sim) -> None:
    sim.token()
    sim.knobs({"errors_5xx": 2})
    first, second, third = (sim.get(DEVICES) for _ in range(3))
    sim.knobs({"errors_5xx": 1, "error_status": 503})
    unavailable = sim.get(DEVICES)

    assert (first.status_code, second.status_code, third.status_code) == (500, 500, 200)
    assert set(json_body(first)) == {"resultCode", "errorMessage", "incidentId"}
    assert unavailable.status_code == 503 and sim.state.faults.errors_5xx == 0


def test_it_adds_latency_and_hangs_long_enough_to_trip_timeouts(sim: Sim) -> None:
    sim.token()
    sim.knobs({"latency": 0.2})
    started = time.monotonic()
    assert sim.get(ORGS).status_code == 200
    assert time.monotonic() - started >= 0.2
    sim.knobs({"latency": None, "hang": 1.0})
    answered = sim.state.stats()["total"]
    with pytest.raises(requests.Timeout):
        sim.call("GET", ORGS, timeout=0.3)
    wait_for_the_hung_request(sim.state, answered)


def test_it_renames_an_organization_everywhere_it_is_named(sim: Sim) -> None:
    device = devices_in(sim, df="org = 3")[0]
    sim.knobs({"rename_organization": {"3": "Ironbridge Engineering Group"}})

    listed = {o["id"]: o["name"] for o in sim.ok(ORGS)}
    one = sim.ok("/v2/organization/3", ORG)
    referenced = sim.ok(f"/v2/device/{device['id']}", DEVICE)["references"]["organization"]

    assert listed[3] == one["name"] == referenced["name"] == "Ironbridge Engineering Group"
    assert listed[2] == sim.state.organizations[2]["name"]


def test_it_moves_a_device_to_another_organization(sim: Sim) -> None:
    alerting = {alert["deviceId"] for alert in sim.state.alerts.values()}
    device = next(d for d in devices_in(sim, df="org = 1 AND online") if d["id"] not in alerting)
    alerts_before = len(sim.ok(ALERTS, df="org = 2"))
    sim.state.move_device(device["id"], 2)
    sim.control("/alerts", {"deviceId": device["id"], "kind": "cpu", "severity": "MAJOR"})

    moved = sim.ok(f"/v2/device/{device['id']}", DEVICE)

    assert moved["organizationId"] == 2 and moved["references"]["organization"]["id"] == 2
    assert (
        moved["locationId"] in sim.state.locations_of(2)
        and moved["references"]["location"]["id"] == moved["locationId"]
    )
    assert device["id"] in {d["id"] for d in devices_in(sim, df="org = 2")}
    assert device["id"] not in {d["id"] for d in devices_in(sim, df="org = 1")}
    assert len(sim.ok(ALERTS, df="org = 2")) == alerts_before + 1


def test_it_clears_an_alert_at_the_vendor_without_a_word(sim: Sim) -> None:
    alert = sim.ok(ALERTS)[5]
    last = sim.ok(ACTIVITIES)["lastActivityId"]
    with posts_received("/hooks/ninjaone") as (url, inbox):
        sim.call("PUT", "/v2/webhook", json={"url": url})
        sim.knobs({"cleared_alerts": [alert["uid"]]})
        sim.state.drain()

        listed = sim.ok(ALERTS)
        reset = sim.call("POST", f"/v2/alert/{alert['uid']}/reset")

    assert alert["uid"] not in {a["uid"] for a in listed} and len(listed) == 17
    assert sim.ok(ACTIVITIES)["lastActivityId"] == last and inbox.empty()
    assert reset.status_code == 404


def test_it_raises_and_clears_conditions_through_its_controls(sim: Sim) -> None:
    device = devices_in(sim, df="online AND class = WINDOWS_SERVER")[0]

    raised = sim.control("/alerts", {"deviceId": device["id"], "kind": "disk", "severity": "CRITICAL"}).json()
    alert = assert_schema(raised["alert"], "Alert")
    listed = sim.ok(ALERTS)
    cleared = assert_schema(sim.control(f"/alerts/{alert['uid']}/clear").json(), "Activity")

    assert alert in listed and alert["uid"] not in {a["uid"] for a in sim.ok(ALERTS)}
    assert alert["sourceConfigUid"] == sim.state.conditions[f"disk:{device['nodeClass']}"]  # the seeded condition's
    assert (raised["activity"]["statusCode"], cleared["statusCode"]) == ("TRIGGERED", "RESET")
    assert sim.control("/alerts", {"deviceId": device["id"], "kind": "offline"}).status_code == 400  # it is online
    assert sim.control(f"/alerts/{alert['uid']}/clear").status_code == 404


def test_it_merges_fault_patches_and_refuses_bad_knobs(sim: Sim) -> None:
    assert sim.knobs({"errors_5xx": 3}).json()["errors_5xx"] == 3
    assert sim.knobs({"latency": 0.01}).json()["errors_5xx"] == 3
    for bad in (
        {"nope": 1},
        {"missing_scope": "admin"},
        {"error_status": 418},
        {"move_device": {"abc": 2}},
        {"rename_organization": {"3": ""}},
        {"cleared_alerts": "uid"},
    ):
        assert sim.knobs(bad).status_code == 400, bad
    assert sim.http.post(f"{sim.root}/_sim/reset", timeout=5).json()["errors_5xx"] == 0


def test_it_counts_requests_and_keeps_them_as_received_without_the_secret(sim: Sim) -> None:
    sim.token()
    sim.get(DEVICES, df="org = 1", pageSize=5)
    sim.get("/v2/device/101")
    sim.get("/v2/device/1")

    stats = sim.state.stats()
    received = sim.http.get(f"{sim.root}/_sim/received", timeout=5).json()

    assert stats["paths"] == {"POST /ws/oauth/token": 1, "GET /v2/devices": 1, "GET /v2/device/{id}": 2}
    assert stats["statuses"] == {"200": 3, "404": 1}
    assert received[0]["body"]["client_secret"] == "(hidden)" and DEMO_CLIENT_SECRET not in json.dumps(received)
    assert received[1]["query"] == {"df": "org = 1", "pageSize": "5"}


# --- data ----------------------------------------------------------------------------------------------


def test_it_seeds_the_same_ninjaone_for_the_same_seed() -> None:
    first, second = NinjaOneState.seeded(now=NOW), NinjaOneState.seeded(now=NOW)
    other = NinjaOneState.seeded(seed=2, now=NOW)

    assert first == second and first != other
    assert len(first.activities) > 300 and first.activities[-1]["activityTime"] <= NOW_TS


def test_it_builds_a_ninjaone_at_benchmark_scale_quickly_and_serves_it_quickly() -> None:
    # How fast it builds and serves is the benches' to say (bench/, not a timed test).
    state = NinjaOneState.at_scale(now=NOW)

    assert (len(state.organizations), len(state.devices), len(state.alerts), len(state.activities)) == (
        500,
        20_000,
        5_000,
        50_000,
    )
    root, stop = serve(create_app(state))
    try:
        with requests.Session() as http:
            sim = Sim(state, root, http)
            sim.token()
            responses = [
                sim.get(DEVICES_DETAILED, pageSize=1000, after=12_000),
                sim.get(ACTIVITIES, pageSize=1000, newerThan=state.activities[20_000]["id"]),
                sim.get(ALERTS),
            ]
    finally:
        stop()
    page, log = assert_ninja(responses[0], DEVICES_DETAILED), assert_ninja(responses[1], ACTIVITIES)
    alerts = json_body(responses[2])
    assert len(page) == 1000 and len(log["activities"]) == 1000 and len(alerts) == 5_000
    assert_ninja_body(alerts[::50], ALERTS)  # a hundred of them, spread over the list


def test_it_runs_from_the_command_line() -> None:
    def probe(root: str) -> requests.Response:
        return requests.post(
            root + TOKEN_PATH,
            data={"grant_type": "client_credentials", "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET},
            timeout=2,
        )

    banner, response = run_from_command_line("vectis.simulators.ninjaone", 4, probe)

    for value in (DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, "12 organizations", "/_sim/faults"):
        assert value in banner, value
    assert response.status_code == 200 and response.json()["expires_in"] == 3600


def test_make_demo_runs_it_beside_the_other_simulators() -> None:
    procfile = (REPO / "Procfile").read_text(encoding="utf-8").splitlines()

    assert "ninjaone: python -m vectis.simulators.ninjaone --host 127.0.0.1 --port 18083 --scale demo" in procfile
    assert SIMULATOR_PORTS[18083] == "the NinjaOne simulator"
