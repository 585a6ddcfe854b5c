"""The VSPC simulator speaks Veeam's published REST API 3.6.1, checked over real loopback HTTP.

Every response the connector relies on is validated against Veeam's own OpenAPI document, strictly: a field
that Veeam's schema does not define fails the test, so the simulator cannot drift into names the real server
never sends. The schemas come from ``tests/vendors/specs/vspc_rest_3_6_1.compact.json``, the part of Veeam's
full spec (``shared/vendor-specs/veeam-vspc/vspc_rest_3_6_1.json`` beside the repo) that these responses reach,
made by ``python -m scripts.compact_vspc_spec``; where the full spec is present, a test checks the two still agree.
"""

from __future__ import annotations

import json
import re
import string
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import requests
from jsonschema import Draft4Validator

from scripts.compact_vspc_spec import COMPACT_SPEC, REGENERATE, SHARED_SPEC, VSPC, WANTED
from scripts.openapi_compact import missing_from, render
from tests.vendors.openapi import (
    full_spec_or_skip,
    integer_and_uuid_formats,
    json_body,
    openapi30_to_json_schema,
    response_validator,
    schema_errors,
)
from tests.vendors.support import run_from_command_line, serve, wait_for_the_hung_request
from vectis.simulators.fixtures import Msp
from vectis.simulators.vspc import (
    API,
    BAD_CREDENTIALS,
    DEMO_API_KEY,
    DEMO_PASSWORD,
    DEMO_USERNAME,
    MalformedPage,
    VspcState,
    create_app,
)

Json = dict[str, Any]

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2025, 3, 14, 9, 30, 12, 345678, tzinfo=UTC)
JOBS = "/infrastructure/backupServers/jobs"
AGENT_JOBS = "/infrastructure/backupAgents/jobs"
COMPANIES = "/organizations/companies"
COMPANY = "/organizations/companies/{companyUid}"
ALARMS = "/alarms/active"
HISTORY = "/alarms/active/{activeAlarmUid}/history"
ACTIVITY = "/eventLogs/activityLogs"


# --- Veeam's spec as JSON Schema ------------------------------------------------------------------------

# Veeam's REST overview documents parameterName, propertyName and retryAfter on errors, which the
# ResponseError schema leaves out: the one schema where undeclared fields are expected.
_OPEN_SCHEMAS = frozenset({"ResponseError"})


def ecma_to_python_pattern(pattern: str) -> str:
    """JSON Schema patterns are ECMA-262, where a backreference to a group that did not take part matches
    the empty string; in Python it fails. Veeam's e-mail pattern opens with ``(")?`` and closes with
    ``\\1``: ``("?)`` always takes part, matching the same strings."""
    return pattern.replace('(")?', '("?)')


@cache
def veeam_spec() -> Json:
    """The compact form of Veeam's spec, committed with the tests, as JSON Schema."""
    converted: Json = openapi30_to_json_schema(
        json.loads(COMPACT_SPEC.read_text(encoding="utf-8")), open_schemas=_OPEN_SCHEMAS, pattern=ecma_to_python_pattern
    )
    return converted


FORMATS = integer_and_uuid_formats()


@FORMATS.checks("date-time")
def _veeam_date_time(value: object) -> bool:
    """Veeam's ``yyyy-MM-ddTHH:mm:ss.fffffffK``: seven fractional digits and an offset."""
    if not isinstance(value, str):
        return True
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}[+-]\d{2}:\d{2}", value):
        return False
    datetime.fromisoformat(value)
    return True


@FORMATS.checks("time-of-day")
def _time_of_day(value: object) -> bool:
    return not isinstance(value, str) or bool(re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value))


@cache
def _validator(path: str, method: str, status: int) -> Draft4Validator:
    assert (method, path, str(status)) in WANTED, (
        f"{method.upper()} {path} {status} is not in the compact spec: add it to WANTED in "
        f"scripts/compact_vspc_spec.py and run `{REGENERATE}`"
    )
    return response_validator(veeam_spec(), path, method, status, FORMATS)


def assert_veeam(response: requests.Response, path: str, method: str = "get") -> Any:
    """The body, after checking it against the schema Veeam publishes for this path and status."""
    body = json_body(response)
    errors = schema_errors(_validator(path, method, response.status_code), body)
    assert not errors, f"{method.upper()} {path} {response.status_code} breaks Veeam's schema:\n" + "\n".join(
        f"  {error}" for error in errors
    )
    return body


def test_it_holds_the_simulator_to_every_field_name_in_veeams_schema() -> None:
    job = VspcState.seeded(now=NOW).server_jobs[0]
    envelope = {"meta": {"pagingInfo": {"total": 1, "count": 1, "offset": 0}}, "errors": None}
    validator = _validator(JOBS, "get", 200)

    assert not list(validator.iter_errors({**envelope, "data": [job]}))
    assert list(validator.iter_errors({**envelope, "data": [{**job, "lastSuccess": job["lastRun"]}]}))
    assert list(validator.iter_errors({**envelope, "data": [{**job, "status": "Stopped"}]}))
    assert list(validator.iter_errors({**envelope, "data": [{**job, "lastRun": "2025-03-14T09:30:12Z"}]}))


def shared_spec() -> Path:
    """Veeam's full spec; skips without it, except in CI, which has the shared folder and must check."""
    return full_spec_or_skip(SHARED_SPEC, "Veeam's VSPC", COMPACT_SPEC)


def test_the_committed_compact_spec_is_what_the_script_makes_of_veeams() -> None:
    full = VSPC.read_full(shared_spec())

    regenerated = render(VSPC.compacted(full)).encode("utf-8")

    if regenerated != COMPACT_SPEC.read_bytes():
        pytest.fail(
            f"{COMPACT_SPEC.relative_to(REPO)} is not what Veeam's spec gives for WANTED: run `{REGENERATE}`",
            pytrace=False,
        )


def test_it_skips_the_comparison_without_veeams_spec_except_in_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys.modules[__name__], "SHARED_SPEC", tmp_path / "missing.json")

    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="full spec is not here"):
        shared_spec()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must have it"):
        shared_spec()


def test_the_compact_spec_holds_every_response_the_tests_validate() -> None:
    missing = missing_from(json.loads(COMPACT_SPEC.read_text(encoding="utf-8")), WANTED)

    assert not missing, f"the compact spec lacks these (run `{REGENERATE}`): {missing}"
    assert {JOBS, AGENT_JOBS, COMPANIES, COMPANY, ALARMS, HISTORY, ACTIVITY, "/about", "/token"} <= {
        path for _, path, _ in WANTED
    }


# --- a simulator on a real loopback port ---------------------------------------------------------------


@dataclass
class Sim:
    state: VspcState
    root: str
    http: requests.Session

    @property
    def api(self) -> str:
        return self.root + API

    def grant(self, **form: str) -> requests.Response:
        return self.http.post(f"{self.api}/token", data=form, timeout=5)

    def token(self) -> str:
        response = self.grant(grant_type="password", username=DEMO_USERNAME, password=DEMO_PASSWORD)
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def get(
        self, path: str, *, token: str | None = DEMO_API_KEY, timeout: float = 5, **params: Any
    ) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        query = {k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in params.items()}
        return self.http.get(self.api + path, params=query, headers=headers, timeout=timeout)

    def everything(self, path: str, *, limit: int = 500, query: Json | None = None, **params: Any) -> list[Json]:
        """All items of a collection, page by page, each page checked against Veeam's schema."""
        items: list[Json] = []
        params |= query or {}
        in_path = {name for _, name, _, _ in string.Formatter().parse(path) if name}
        url = path.format(**{name: params.pop(name) for name in in_path})
        while True:
            body = assert_veeam(self.get(url, limit=limit, offset=len(items), **params), path)
            items += body["data"]
            if not body["data"] or len(items) >= body["meta"]["pagingInfo"]["total"]:
                return items

    def knobs(self, patch: Json) -> requests.Response:
        return self.http.post(f"{self.root}/_sim/faults", json=patch, timeout=5)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[VspcState, str]]:
    state = VspcState.seeded(now=NOW)
    root, stop = serve(create_app(state))
    yield state, root
    stop()


@pytest.fixture
def sim(served: tuple[VspcState, str]) -> Iterator[Sim]:
    state, root = served
    with requests.Session() as http:
        yield Sim(state, root, http)
    state.reset()
    state.clock = time.time


def ticks(text: str) -> datetime:
    return datetime.fromisoformat(text)


# --- authentication ------------------------------------------------------------------------------------


def test_it_issues_tokens_for_the_password_grant(sim: Sim) -> None:
    response = sim.grant(grant_type="password", username=DEMO_USERNAME, password=DEMO_PASSWORD)

    body = assert_veeam(response, "/token", "post")
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600  # Veeam's default hour, not the 15 minutes Vectis' docs claim
    assert body["mfa_token"] is None and body["encrypted_code"] is None
    assert sim.get("/about", token=body["access_token"]).status_code == 200


def test_it_refuses_bad_credentials_the_way_veeam_does(sim: Sim) -> None:
    for form in (
        {"grant_type": "password", "username": DEMO_USERNAME, "password": "wrong"},
        {"grant_type": "password", "username": "nobody", "password": DEMO_PASSWORD},
    ):
        response = sim.grant(**form)
        assert response.status_code == 400
        assert assert_veeam(response, "/token", "post") == {
            "error": "invalid_request",
            "error_description": BAD_CREDENTIALS,
            "error_uri": None,
        }


def test_it_fails_even_good_credentials_with_the_wrong_credentials_knob(sim: Sim) -> None:
    sim.state.faults.wrong_credentials = True

    response = sim.grant(grant_type="password", username=DEMO_USERNAME, password=DEMO_PASSWORD)

    assert response.status_code == 400
    assert assert_veeam(response, "/token", "post")["error_description"] == BAD_CREDENTIALS
    assert sim.get("/about").status_code == 200  # API keys are not a password grant


def test_it_refuses_missing_and_unsupported_grant_types(sim: Sim) -> None:
    missing = sim.grant(username=DEMO_USERNAME, password=DEMO_PASSWORD)
    unsupported = sim.grant(grant_type="client_credentials")

    assert assert_veeam(missing, "/token", "post")["error"] == "invalid_request"
    assert assert_veeam(unsupported, "/token", "post")["error"] == "unsupported_grant_type"


def test_it_refreshes_once_per_refresh_token(sim: Sim) -> None:
    first = sim.grant(grant_type="password", username=DEMO_USERNAME, password=DEMO_PASSWORD).json()

    refreshed = sim.grant(grant_type="refresh_token", refresh_token=first["refresh_token"])
    again = sim.grant(grant_type="refresh_token", refresh_token=first["refresh_token"])
    unknown = sim.grant(grant_type="refresh_token", refresh_token="not-a-token")

    pair = assert_veeam(refreshed, "/token", "post")
    assert pair["access_token"] != first["access_token"] and pair["refresh_token"] != first["refresh_token"]
    assert sim.get("/about", token=pair["access_token"]).status_code == 200
    for refused in (again, unknown):
        assert refused.status_code == 400
        assert assert_veeam(refused, "/token", "post")["error"] == "invalid_grant"


def test_it_expires_access_and_refresh_tokens(sim: Sim) -> None:
    pair = sim.grant(grant_type="password", username=DEMO_USERNAME, password=DEMO_PASSWORD).json()
    started = time.time()

    sim.state.clock = lambda: started + 3601
    expired = sim.get("/about", token=pair["access_token"])
    renewed = sim.grant(grant_type="refresh_token", refresh_token=pair["refresh_token"])
    sim.state.clock = lambda: started + 3601 + 86401
    too_late = sim.grant(grant_type="refresh_token", refresh_token=renewed.json()["refresh_token"])

    assert expired.status_code == 401
    assert renewed.status_code == 200
    assert assert_veeam(too_late, "/token", "post")["error"] == "invalid_grant"


def test_it_answers_401_with_the_errors_body_without_a_valid_bearer(sim: Sim) -> None:
    responses = [
        sim.get(COMPANIES, token=None),
        sim.get(COMPANIES, token="made-up"),
        sim.http.get(sim.api + COMPANIES, headers={"Authorization": f"Basic {DEMO_API_KEY}"}, timeout=5),
    ]

    for response in responses:
        assert response.status_code == 401
        body = assert_veeam(response, COMPANIES)
        assert body["errors"][0]["type"] == "security" and body["errors"][0]["code"] == 401


def test_it_accepts_an_api_key_as_a_bearer_token(sim: Sim) -> None:
    assert sim.get(COMPANIES, token=DEMO_API_KEY).status_code == 200
    sim.state.api_keys.add("another-key")
    try:
        assert sim.get(COMPANIES, token="another-key").status_code == 200
    finally:
        sim.state.api_keys.discard("another-key")


# --- resources -----------------------------------------------------------------------------------------


def test_it_reports_its_server_version_in_about(sim: Sim) -> None:
    default = assert_veeam(sim.get("/about", token=sim.token()), "/about")["data"]
    sim.knobs({"server_version": "6.1.0.1234"})
    old = assert_veeam(sim.get("/about"), "/about")["data"]

    assert default["serverVersion"].startswith("9.1.")  # VSPC 9.1 is the server of API 3.6.1
    assert old["serverVersion"] == "6.1.0.1234"
    assert old["installationId"] == default["installationId"]


def test_it_lists_companies_in_veeams_envelope(sim: Sim) -> None:
    body = assert_veeam(sim.get(COMPANIES), COMPANIES)
    expanded = assert_veeam(sim.get(COMPANIES, expand="Organization"), COMPANIES)

    assert set(body) == {"meta", "data", "errors"} and body["errors"] is None
    assert body["meta"]["pagingInfo"] == {"total": 12, "count": 12, "offset": 0}
    names = {company["name"] for company in body["data"]}
    assert {"Aldridge & Co.", "Bayside Bistro", "Coast Logistics"} <= names
    assert all(company["_embedded"]["organization"] is None for company in body["data"])
    for company in expanded["data"]:
        organization = company["_embedded"]["organization"]
        assert organization["instanceUid"] == company["instanceUid"] and organization["type"] == "Company"


def test_it_gets_one_company_or_a_veeam_404(sim: Sim) -> None:
    uid = sim.state.companies[3]["instanceUid"]

    found = assert_veeam(sim.get(f"{COMPANIES}/{uid}", expand="Organization"), COMPANY)
    missing = sim.get(f"{COMPANIES}/{uuid.UUID(int=7)}")
    malformed = sim.get(f"{COMPANIES}/not-a-uid")

    assert found["data"]["instanceUid"] == uid and found["data"]["_embedded"]["organization"]["name"]
    assert missing.status_code == 404 and assert_veeam(missing, COMPANY)["errors"][0]["code"] == 404
    assert malformed.status_code == 400 and assert_veeam(malformed, COMPANY)["errors"][0]["parameterName"]


def test_it_lists_backup_server_jobs_of_every_kind_and_status(sim: Sim) -> None:
    jobs = sim.everything(JOBS, limit=25)
    companies = {company["instanceUid"] for company in sim.state.companies}

    assert len(jobs) == 72
    assert {
        "BackupVm",
        "BackupCopy",
        "SimpleBackupCopy",
        "ReplicationVM",
        "CdpReplicationVM",
        "BackupToTape",
        "FileToTape",
        "AgentBackupJob",
        "SureBackup",
    } <= {job["type"] for job in jobs}
    assert {"Success", "Warning", "Failed", "Running", "Idle", "None"} <= {job["status"] for job in jobs}
    assert {job["mappedOrganizationUid"] for job in jobs} <= companies
    hosted = [job for job in jobs if job["organizationUid"] != job["mappedOrganizationUid"]]
    assert hosted and all(job["organizationUid"] == sim.state.provider_uid for job in hosted)
    finished = [job for job in jobs if job["lastEndTime"]]
    assert all(ticks(job["lastEndTime"]) > ticks(job["lastRun"]) for job in finished)
    assert min(ticks(job["lastRun"]) for job in finished) < NOW - timedelta(days=3)  # stale jobs exist
    assert all(job["lastRun"] is None for job in jobs if job["status"] == "None")


def test_it_lists_agent_jobs_owned_by_companies(sim: Sim) -> None:
    jobs = sim.everything(AGENT_JOBS, limit=10)

    assert jobs and {job["organizationUid"] for job in jobs} <= {c["instanceUid"] for c in sim.state.companies}
    assert {"Success", "Failed"} <= {job["status"] for job in jobs}


def test_it_lists_alarms_with_their_history(sim: Sim) -> None:
    alarms = sim.everything(ALARMS, limit=100)
    companies = {company["instanceUid"] for company in sim.state.companies}

    assert len(alarms) == 300
    assert {alarm["object"]["type"] for alarm in alarms} == {"BackupServerJob", "BackupAgent", "Company"}
    assert {alarm["object"]["organizationUid"] for alarm in alarms} <= companies
    times = [ticks(alarm["lastActivation"]["time"]) for alarm in alarms]
    assert NOW - timedelta(days=20) <= min(times) and max(times) <= NOW
    for alarm in alarms[:20]:
        history = sim.everything(HISTORY, activeAlarmUid=alarm["instanceUid"])
        assert len(history) == alarm["repeatCount"]
        assert alarm["lastActivation"] in history
        assert all(ticks(a["time"]) <= ticks(alarm["lastActivation"]["time"]) for a in history)
    missing = sim.get(HISTORY.format(activeAlarmUid=uuid.UUID(int=9)))
    assert missing.status_code == 404 and assert_veeam(missing, HISTORY)


def test_it_lists_activity_logs_with_veeams_own_parameters(sim: Sim) -> None:
    newest_first = sim.everything(ACTIVITY)
    company = sim.state.companies[0]["instanceUid"]
    since = (NOW - timedelta(days=7)).isoformat()

    oldest_first = assert_veeam(sim.get(ACTIVITY, dateSortingDirection="ascending"), ACTIVITY)["data"]
    recent = sim.everything(ACTIVITY, query={"from": since})
    own = sim.everything(ACTIVITY, organizationUid=company)
    external = sim.everything(ACTIVITY, activityLogKind="External")

    dates = [ticks(row["date"]) for row in newest_first]
    assert len(newest_first) == 240 and dates == sorted(dates, reverse=True)
    assert oldest_first[0] == newest_first[-1]
    assert recent and all(ticks(row["date"]) >= NOW - timedelta(days=7) for row in recent)
    assert len(recent) == sum(1 for d in dates if d >= NOW - timedelta(days=7))
    assert own and all(row["organizationUid"] == company for row in own)
    assert external and all(row["activityKind"] == "External" for row in external)


# --- paging, filter, sort ------------------------------------------------------------------------------


def test_it_returns_only_the_selected_properties(sim: Sim) -> None:
    body = sim.get(
        COMPANIES, select=[{"propertyPath": "instanceUid"}, {"propertyPath": "_embedded.organization"}]
    ).json()

    assert body["meta"]["pagingInfo"]["total"] == 12
    assert all(set(company) == {"instanceUid", "_embedded"} for company in body["data"])


def test_it_pages_with_limit_and_offset_without_skipping_or_repeating(sim: Sim) -> None:
    seen: list[str] = []
    for offset in range(0, 80, 7):
        body = sim.get(JOBS, limit=7, offset=offset).json()
        assert body["meta"]["pagingInfo"] == {"total": 72, "count": len(body["data"]), "offset": offset}
        seen += [job["instanceUid"] for job in body["data"]]
    default = sim.get(JOBS).json()

    assert len(seen) == len(set(seen)) == 72
    assert seen == sorted(seen)  # the stable default order: instanceUid
    assert default["meta"]["pagingInfo"]["count"] == 72  # the default limit, 100, covers them all
    assert sim.get(JOBS, limit=7, offset=500).json()["meta"]["pagingInfo"] == {"total": 72, "count": 0, "offset": 500}


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"limit": 501}, "limit"),
        ({"limit": 0}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"offset": -1}, "offset"),
        ({"filter": "[{not json"}, "filter"),
        ({"filter": [{"property": "noSuchField", "operation": "equals", "value": 1}]}, "filter"),
        ({"filter": [{"property": "status", "operation": "resembles", "value": "x"}]}, "filter"),
        ({"sort": [{"property": "name", "direction": "sideways"}]}, "sort"),
    ],
)
def test_it_refuses_bad_query_parameters_with_a_400(sim: Sim, params: Json, parameter: str) -> None:
    response = sim.get(JOBS, **params)

    assert response.status_code == 400
    error = assert_veeam(response, JOBS)["errors"][0]
    assert error["code"] == 400 and error["type"] == "logical" and error["parameterName"] == parameter


def test_it_filters_jobs_by_type_status_and_company(sim: Sim) -> None:
    jobs = sim.state.server_jobs
    company = sim.state.companies[5]["instanceUid"]

    def uids(filter_: list[Json]) -> set[str]:
        return {job["instanceUid"] for job in sim.everything(JOBS, filter=filter_)}

    assert uids([{"property": "type", "operation": "equals", "value": "BackupCopy"}]) == {
        j["instanceUid"] for j in jobs if j["type"] == "BackupCopy"
    }
    assert uids([{"property": "status", "operation": "in", "value": ["Failed", "Warning"]}]) == {
        j["instanceUid"] for j in jobs if j["status"] in ("Failed", "Warning")
    }
    assert uids(
        [
            {"property": "mappedOrganizationUid", "operation": "equals", "value": company},
            {"property": "status", "operation": "notEquals", "value": "Success"},
        ]
    ) == {j["instanceUid"] for j in jobs if j["mappedOrganizationUid"] == company and j["status"] != "Success"}


def test_it_filters_with_groups_contains_and_collations(sim: Sim) -> None:
    jobs, alarms = sim.state.server_jobs, sim.state.alarms

    def total(path: str, filter_: list[Json]) -> int:
        body = assert_veeam(sim.get(path, limit=1, filter=filter_), path)
        return int(body["meta"]["pagingInfo"]["total"])

    veeams_own_example = [
        {"property": "lastActivation.status", "operation": "equals", "collation": "ignorecase", "value": "error"}
    ]
    either = [
        {
            "operation": "or",
            "items": [
                {"property": "type", "operation": "equals", "value": "BackupToTape"},
                {"property": "type", "operation": "equals", "value": "FileToTape"},
            ],
        }
    ]
    assert total(ALARMS, veeams_own_example) == sum(a["lastActivation"]["status"] == "Error" for a in alarms) > 0
    assert total(ALARMS, [{**veeams_own_example[0], "collation": "ordinal"}]) == 0
    assert total(JOBS, either) == sum(j["type"] in ("BackupToTape", "FileToTape") for j in jobs)
    assert total(JOBS, [{"operation": "not", "items": either[0]["items"][:1]}]) == sum(
        j["type"] != "BackupToTape" for j in jobs
    )
    assert total(
        JOBS, [{"property": "NAME", "operation": "contains", "collation": "ignorecase", "value": "TAPE"}]
    ) == sum("tape" in j["name"].lower() for j in jobs)
    assert total(JOBS, [{"property": "lastDuration", "operation": "greaterThan", "value": 3600}]) == sum(
        (j["lastDuration"] or 0) > 3600 for j in jobs
    )


def test_it_compares_dates_as_datetimes_for_a_14_day_window(sim: Sim) -> None:
    # The data carries +01:00 offsets; the filter value is UTC with no fraction.
    cutoff = (NOW - timedelta(days=14)).strftime("%Y-%m-%dT%H:%M:%SZ")
    recent = sim.everything(
        ALARMS, filter=[{"property": "lastActivation.time", "operation": "greaterThanOrEqual", "value": cutoff}]
    )
    older = sim.everything(
        ALARMS, filter=[{"property": "lastActivation.time", "operation": "lessThan", "value": cutoff}]
    )

    window = NOW - timedelta(days=14)
    assert recent and older and len(recent) + len(older) == 300
    assert all(ticks(a["lastActivation"]["time"]) >= window for a in recent)
    assert all(ticks(a["lastActivation"]["time"]) < window for a in older)


def test_it_sorts_by_last_activation_name_and_instance_uid(sim: Sim) -> None:
    by_time = sim.everything(ALARMS, sort=[{"property": "lastActivation.time", "direction": "descending"}])
    by_name = sim.everything(COMPANIES, sort=[{"property": "name", "direction": "ascending"}])
    by_uid = sim.everything(JOBS, limit=20, sort=[{"property": "instanceUid", "direction": "descending"}])
    by_type = sim.everything(JOBS, sort=[{"property": "type", "direction": "ascending"}])

    times = [ticks(a["lastActivation"]["time"]) for a in by_time]
    assert times == sorted(times, reverse=True)
    assert [c["name"] for c in by_name] == sorted(c["name"] for c in by_name)
    assert [j["instanceUid"] for j in by_uid] == sorted((j["instanceUid"] for j in by_uid), reverse=True)
    # Ties keep instanceUid order, so paging through a sorted collection is exact too.
    assert [(j["type"], j["instanceUid"]) for j in by_type] == sorted((j["type"], j["instanceUid"]) for j in by_type)


# --- fault knobs ---------------------------------------------------------------------------------------


def test_it_answers_403_on_data_with_the_forbidden_knob(sim: Sim) -> None:
    sim.knobs({"forbidden": True})

    for path in (COMPANIES, JOBS, AGENT_JOBS, ALARMS, ACTIVITY):
        response = sim.get(path)
        assert response.status_code == 403, path
        assert assert_veeam(response, path)["errors"][0]["type"] == "security"
    assert sim.get("/about").status_code == 200


def test_it_answers_404_everywhere_with_the_wrong_host_knob(sim: Sim) -> None:
    sim.state.faults.wrong_host = True

    about = sim.get("/about")
    token = sim.grant(grant_type="password", username=DEMO_USERNAME, password=DEMO_PASSWORD)

    for response in (about, token):
        assert response.status_code == 404
        assert not response.headers["Content-Type"].startswith("application/json")  # another server's page
    assert sim.http.get(f"{sim.root}/_sim/stats", timeout=5).status_code == 200


def test_it_throttles_with_429_and_retry_after_in_the_body(sim: Sim) -> None:
    sim.knobs({"rate_limit_per_second": 3})

    responses = [sim.get("/about") for _ in range(10)]

    assert [r.status_code for r in responses[:3]] == [200, 200, 200]
    throttled = [r for r in responses if r.status_code == 429]
    assert throttled
    for response in throttled:
        error = assert_veeam(response, "/about")["errors"][0]
        assert error["type"] == "transport" and error["code"] == 429 and error["retryAfter"] >= 1
        assert "Retry-After" not in response.headers  # Veeam documents only the body field
    time.sleep(1.05)
    assert sim.get("/about").status_code == 200


def test_it_answers_520_for_the_next_n_requests(sim: Sim) -> None:
    assert sim.knobs({"errors_520": 2}).status_code == 200

    statuses = [sim.get(JOBS, limit=1) for _ in range(3)]

    assert [r.status_code for r in statuses] == [520, 520, 200]
    assert assert_veeam(statuses[0], JOBS)["errors"][0]["code"] == 500  # the cause; 520 is the transport
    assert sim.state.faults.errors_520 == 0


def test_it_adds_latency_and_hangs_long_enough_to_trip_timeouts(sim: Sim) -> None:
    sim.knobs({"latency": 0.3})
    started = time.monotonic()
    assert sim.get("/about").status_code == 200
    assert time.monotonic() - started >= 0.3

    sim.knobs({"latency": None, "hang": 1.5})
    answered = sim.state.stats()["total"]
    with pytest.raises(requests.Timeout):
        sim.get("/about", timeout=0.3)
    wait_for_the_hung_request(sim.state, answered)


def test_it_serves_a_cut_off_page_only_at_the_configured_offset(sim: Sim) -> None:
    sim.knobs({"malformed_page": {"path": JOBS, "offset": 20}})

    broken = sim.get(JOBS, limit=20, offset=20)
    before, after = sim.get(JOBS, limit=20, offset=0), sim.get(JOBS, limit=20, offset=40)

    assert broken.status_code == 200
    with pytest.raises(requests.JSONDecodeError):
        broken.json()
    assert before.json()["data"] and after.json()["data"]
    assert sim.state.faults.malformed_page == MalformedPage(JOBS, 20)


def test_it_renames_companies_and_removes_jobs_until_reset(sim: Sim) -> None:
    company = sim.state.companies[0]["instanceUid"]
    job = sim.state.server_jobs[0]["instanceUid"]
    agent_job = sim.state.agent_jobs[0]["instanceUid"]

    sim.knobs({"rename_company": {company: "Aldridge & Partners"}, "remove_job": [job]})
    sim.state.remove_job(agent_job)
    renamed = sim.get(f"{COMPANIES}/{company}", expand="Organization").json()["data"]
    jobs = sim.everything(JOBS)
    agent_jobs = sim.everything(AGENT_JOBS)
    sim.http.post(f"{sim.root}/_sim/reset", timeout=5)

    assert renamed["name"] == renamed["_embedded"]["organization"]["name"] == "Aldridge & Partners"
    assert len(jobs) == 71 and job not in {j["instanceUid"] for j in jobs}
    assert agent_job not in {j["instanceUid"] for j in agent_jobs}
    assert sim.get(f"{COMPANIES}/{company}").json()["data"]["name"] == sim.state.companies[0]["name"]
    assert len(sim.everything(JOBS)) == 72


def test_it_sets_the_token_lifetime_from_the_knob(sim: Sim) -> None:
    sim.knobs({"token_lifetime": 60})
    pair = sim.grant(grant_type="password", username=DEMO_USERNAME, password=DEMO_PASSWORD).json()
    started = time.time()
    sim.state.clock = lambda: started + 61

    assert pair["expires_in"] == 60 == sim.state.token_lifetime
    assert sim.get("/about", token=pair["access_token"]).status_code == 401


def test_it_merges_fault_patches_and_refuses_unknown_knobs(sim: Sim) -> None:
    sim.knobs({"rename_company": {"a": "A"}, "latency": 0.01})
    merged = sim.knobs({"rename_company": {"b": "B"}}).json()
    cleared = sim.knobs({"rename_company": {"a": None}, "latency": None}).json()

    assert merged["rename_company"] == {"a": "A", "b": "B"} and merged["latency"] == 0.01
    assert cleared["rename_company"] == {"b": "B"} and cleared["latency"] == 0.0
    assert sim.knobs({"no_such_knob": True}).status_code == 400
    assert sim.knobs({"errors_520": "two"}).status_code == 400
    assert sim.knobs({"malformed_page": {"offset": 5}}).status_code == 400
    assert sim.http.get(f"{sim.root}/_sim/faults", timeout=5).json()["rename_company"] == {"b": "B"}


def test_it_counts_requests_per_path(sim: Sim) -> None:
    sim.http.post(f"{sim.root}/_sim/reset", timeout=5)
    sim.get("/about")
    sim.get(COMPANIES)
    sim.get(COMPANIES, token=None)

    stats = sim.http.get(f"{sim.root}/_sim/stats", timeout=5).json()

    assert stats["total"] == 3
    assert stats["paths"] == {f"{API}/about": 1, f"{API}{COMPANIES}": 2}
    assert stats["statuses"] == {"200": 2, "401": 1}


# --- data ----------------------------------------------------------------------------------------------


def test_it_seeds_the_same_msp_for_the_same_seed() -> None:
    first, second = VspcState.seeded(now=NOW), VspcState.seeded(now=NOW)
    later = VspcState.seeded(now=NOW + timedelta(days=3))
    other = VspcState.seeded(seed=2, now=NOW)

    assert first == second
    assert [c["instanceUid"] for c in later.companies] == [c["instanceUid"] for c in first.companies]
    assert [c["instanceUid"] for c in other.companies] != [c["instanceUid"] for c in first.companies]


def test_its_companies_are_the_shared_msps_customers_that_keepit_and_connectwise_take_too() -> None:
    state = VspcState.seeded(seed=3, now=NOW)
    customers = Msp.drawn(3, len(state.companies)).listed()

    assert [c["instanceUid"] for c in state.companies] == [customer.uid for customer in customers]
    assert [c["name"] for c in state.companies] == [customer.name for customer in customers]
    for customer in customers:
        organization = state.organizations[customer.uid]
        assert (organization["city"], organization["phone"], organization["website"]) == (
            customer.city,
            customer.phone,
            customer.website,
        )


def test_it_builds_an_msp_at_benchmark_scale() -> None:
    # How fast it builds and serves is the benches' to say (bench/, not a timed test).
    state = VspcState.at_scale(now=NOW)
    root, stop = serve(create_app(state))
    try:
        with requests.Session() as http:
            sim = Sim(state, root, http)
            cutoff = (NOW - timedelta(days=14)).isoformat()
            page = sim.get(
                ALARMS,
                limit=500,
                filter=[{"property": "lastActivation.time", "operation": "greaterThanOrEqual", "value": cutoff}],
                sort=[{"property": "lastActivation.time", "direction": "descending"}],
            )
            body = assert_veeam(page, ALARMS)
    finally:
        stop()

    assert (len(state.companies), len(state.server_jobs), len(state.alarms)) == (500, 5000, 10000)
    assert len({c["name"] for c in state.companies}) == 500
    assert 0 < body["meta"]["pagingInfo"]["total"] < 10000 and body["meta"]["pagingInfo"]["count"] == 500


def test_it_runs_from_the_command_line() -> None:
    banner, response = run_from_command_line(
        "vectis.simulators.vspc",
        3,
        lambda root: requests.post(
            f"{root}{API}/token",
            data={"grant_type": "password", "username": DEMO_USERNAME, "password": DEMO_PASSWORD},
            timeout=2,
        ),
    )

    assert DEMO_USERNAME in banner and DEMO_PASSWORD in banner and DEMO_API_KEY in banner
    assert response.status_code == 200 and response.json()["token_type"] == "bearer"
