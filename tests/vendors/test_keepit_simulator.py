"""The Keepit simulator speaks Keepit's XML API as ``shared/vendor-apis.md`` section 2 describes it, checked
over real loopback HTTP: Basic auth from raw bytes, one datacenter per region, XML chosen by ``Accept``,
``X-Total-Count`` and ``next-offset`` paging, Keepit's health rule, and every fault knob."""

from __future__ import annotations

import base64
import re
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
import requests

from tests.vendors.support import run_from_command_line, serve, wait_for_the_hung_request
from vectis.ingest.matching import normalize_name
from vectis.simulators.keepit import (
    DEMO_PASSWORD,
    DEMO_TOKEN_LOGIN,
    DEMO_TOKEN_PASSWORD,
    DEMO_USERNAME,
    PARENT_GUID,
    REGIONS,
    KeepitState,
    MalformedXml,
    create_app,
)
from vectis.simulators.vspc import VspcState

NOW = datetime(2025, 3, 14, 9, 30, 12, tzinfo=UTC)
ACCOUNT_ID = re.compile(r"[0-9a-z]{5,6}-[0-9a-z]{5,6}-[0-9a-z]{5,6}")
JOB_ID = re.compile(r"[0-9a-z]{5,6}-[0-9a-z]{5,6}-[0-9a-z]{5,6}-[0-9a-z]{5,6}")
TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
ADMIN = (DEMO_USERNAME, DEMO_PASSWORD)
TOKEN = (DEMO_TOKEN_LOGIN, DEMO_TOKEN_PASSWORD)
V3 = "application/vnd.keepit.v3+xml"
V4 = "application/vnd.keepit.v4+xml"
AUDIT = "/audit/filter/pretty"
_SUFFIXES = re.compile(r"\b(inc|llc|ltd|limited|gmbh|ag|co|corp|corporation|company|plc|bv|srl|sa|the)\b")


# --- a simulator on a real loopback port ---------------------------------------------------------------


@dataclass
class Sim:
    state: KeepitState
    root: str
    http: requests.Session

    @property
    def base(self) -> str:
        return f"{self.root}/us-dc"

    def call(
        self,
        method: str,
        path: str,
        *,
        auth: tuple[str, str] | None = ADMIN,
        accept: str | None = None,
        region: str = "us-dc",
        timeout: float = 5,
        **kwargs: Any,
    ) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if accept:
            headers["Accept"] = accept
        return self.http.request(
            method, f"{self.root}/{region}{path}", auth=auth, headers=headers, timeout=timeout, **kwargs
        )

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("GET", path, **kwargs)

    def xml(self, response: requests.Response) -> ET.Element:
        assert response.status_code == 200, (response.status_code, response.text)
        assert response.headers["Content-Type"].startswith("application/xml")
        return ET.fromstring(response.content)  # noqa: S314 - our own simulator's output

    def audit(
        self,
        account: str = PARENT_GUID,
        *,
        limit: int | None = 100,
        offset: int = 0,
        recursive: bool = False,
        start: datetime | None = None,
        end: datetime | None = None,
        auth: tuple[str, str] = ADMIN,
    ) -> requests.Response:
        body = f"<filter><account>{account}</account>"
        body += f"<from>{iso(start or NOW - timedelta(days=30))}</from><to>{iso(end or NOW)}</to>"
        body += "<recursive>true</recursive></filter>" if recursive else "</filter>"
        params = {"offset": offset} | ({"limit": limit} if limit is not None else {})
        return self.call("PUT", AUDIT, accept=V4, params=params, data=body, auth=auth)

    def all_audit(self, account: str = PARENT_GUID, *, limit: int = 100, **kwargs: Any) -> tuple[list[ET.Element], int]:
        records: list[ET.Element] = []
        offset, pages = 0, 0
        while True:
            response = self.audit(account, limit=limit, offset=offset, **kwargs)
            records += self.xml(response).findall("record")
            pages += 1
            if "next-offset" not in response.headers:
                return records, pages
            offset = int(response.headers["next-offset"])

    def knobs(self, patch: dict[str, Any]) -> requests.Response:
        return self.http.post(f"{self.root}/_sim/faults", json=patch, timeout=5)

    def stats(self) -> dict[str, Any]:
        body: dict[str, Any] = self.http.get(f"{self.root}/_sim/stats", timeout=5).json()
        return body


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def when(text: str | None) -> datetime:
    assert text is not None and TIME.fullmatch(text), text
    return datetime.fromisoformat(text)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[KeepitState, str]]:
    state = KeepitState.seeded(now=NOW)
    root, stop = serve(create_app(state))
    yield state, root
    stop()


@pytest.fixture
def sim(served: tuple[KeepitState, str]) -> Iterator[Sim]:
    state, root = served
    with requests.Session() as http:
        yield Sim(state, root, http)
    state.reset()


def children(state: KeepitState) -> list[dict[str, Any]]:
    return state.children_of(PARENT_GUID)


def device_in(state: KeepitState, account: str, index: int = 0) -> str:
    guid: str = state.devices[account][index]["guid"]
    return guid


def find_device(state: KeepitState, predicate: Callable[[str], bool]) -> tuple[str, str]:
    for account, devices in state.devices.items():
        for device in devices:
            if predicate(device["guid"]):
                return account, device["guid"]
    raise AssertionError("no such device")


# --- authentication and regions ------------------------------------------------------------------------


def test_it_answers_who_am_i_for_both_credential_pairs_and_counts_the_login(sim: Sim) -> None:
    admin = sim.xml(sim.get("/users/", auth=ADMIN))
    token = sim.xml(sim.get("/users/", auth=TOKEN))

    assert admin.tag == token.tag == "user"
    assert admin.findtext("id") == token.findtext("id") == PARENT_GUID
    assert set("%+,?!") <= set(DEMO_TOKEN_LOGIN)
    stats = sim.stats()
    assert stats["logins"] == {DEMO_USERNAME: 1, DEMO_TOKEN_LOGIN: 1}
    assert stats["paths"] == {"/{region}/users/": 2} and stats["statuses"] == {"200": 2}


def test_it_decodes_basic_auth_from_raw_bytes_and_never_url_decodes(sim: Sim) -> None:
    raw = base64.b64encode(f"{DEMO_TOKEN_LOGIN}:{DEMO_TOKEN_PASSWORD}".encode()).decode()
    quoted = quote(DEMO_TOKEN_LOGIN, safe="")
    escaped = base64.b64encode(f"{quoted}:{DEMO_TOKEN_PASSWORD}".encode()).decode()

    ok = sim.get("/users/", auth=None, headers={"Authorization": f"Basic {raw}"})
    refused = sim.get("/users/", auth=None, headers={"Authorization": f"Basic {escaped}"})

    assert ok.status_code == 200
    assert refused.status_code == 401
    assert sim.stats()["logins"] == {DEMO_TOKEN_LOGIN: 1, quoted: 1}


def test_it_refuses_bad_credentials_with_a_plain_401(sim: Sim) -> None:
    responses = [
        sim.get("/users/", auth=(DEMO_USERNAME, "wrong")),
        sim.get("/users/", auth=(DEMO_TOKEN_LOGIN, DEMO_PASSWORD)),
        sim.get("/users/", auth=("nobody@example.com", DEMO_PASSWORD)),
        sim.get("/users/", auth=None),
        sim.get("/users/", auth=None, headers={"Authorization": "Bearer " + DEMO_TOKEN_PASSWORD}),
        sim.get(f"/users/{PARENT_GUID}/devices", auth=None, headers={"Authorization": "Basic !!not-base64"}),
    ]

    for response in responses:
        assert response.status_code == 401
        assert response.headers["Content-Type"].startswith("text/plain")
        assert response.headers["WWW-Authenticate"] == 'Basic realm="Keepit"'
    assert sim.stats()["logins"]["(none)"] == 3


def test_it_fails_every_login_with_the_wrong_credentials_knob(sim: Sim) -> None:
    sim.knobs({"wrong_credentials": True})

    assert sim.get("/users/", auth=ADMIN).status_code == 401
    assert sim.get("/users/", auth=TOKEN).status_code == 401


def test_it_lives_in_one_region_of_many(sim: Sim) -> None:
    assert set(REGIONS) == {"ws", "dk-co", "de-fr", "ch-zh", "uk-ld", "us-dc", "ca-tr", "au-sy"}
    other = sim.get("/users/", region="dk-co")
    unknown = sim.get("/users/", region="eu-west")
    bare = sim.http.get(f"{sim.root}/users/", auth=ADMIN, timeout=5)

    assert other.status_code == 401 and other.headers["WWW-Authenticate"] == 'Basic realm="Keepit"'
    for response in (unknown, bare):
        assert response.status_code == 404
        assert response.headers["Content-Type"].startswith("text/plain")

    sim.state.region = "de-fr"
    try:
        assert sim.get("/users/", region="de-fr").status_code == 200
        assert sim.get("/users/", region="us-dc").status_code == 401
    finally:
        sim.state.region = "us-dc"


def test_it_answers_a_plain_404_on_unknown_paths_and_405_on_other_methods(sim: Sim) -> None:
    unknown = sim.get("/users/nope/devices/x/y/z")
    method = sim.call("DELETE", "/users/")

    assert unknown.status_code == 404 and unknown.headers["Content-Type"].startswith("text/plain")
    assert method.status_code == 405 and method.headers["Content-Type"].startswith("text/plain")


# --- accounts ------------------------------------------------------------------------------------------


def test_it_gives_account_settings(sim: Sim) -> None:
    child = children(sim.state)[0]["id"]

    parent = sim.xml(sim.get(f"/users/{PARENT_GUID}", accept="application/vnd.keepit.v1+xml"))
    account = sim.xml(sim.get(f"/users/{child}"))

    assert [e.tag for e in parent] == ["id", "enabled", "created", "product", "parent", "subscribed"]
    assert account.findtext("id") == child and account.findtext("parent") == PARENT_GUID
    assert account.findtext("enabled") == "true" and account.findtext("subscribed") == "true"
    when(account.findtext("created"))


def test_it_pages_child_accounts_with_x_total_count(sim: Sim) -> None:
    seen: list[str] = []
    totals = set()
    for offset in range(0, 12, 4):
        response = sim.get(
            f"/users/{PARENT_GUID}/users",
            accept=V3,
            params={"all": 1, "include_contact_details": 1, "limit": 4, "offset": offset},
        )
        page = sim.xml(response)
        totals.add(response.headers["X-Total-Count"])
        assert page.tag == "users" and len(page) == min(4, 10 - offset)
        for user in page.findall("user"):
            assert [e.tag for e in user] == ["id", "created", "parent_id", "contact"]
            assert user.findtext("parent_id") == PARENT_GUID
            contact = user.find("contact")
            assert contact is not None
            assert {"email", "companyname", "fullname", "phone", "country"} <= {e.tag for e in contact}
            seen.append(user.findtext("id") or "")

    assert totals == {"10"}
    assert seen == [a["id"] for a in children(sim.state)] and len(set(seen)) == 10
    for guid in seen:
        assert ACCOUNT_ID.fullmatch(guid), guid
        with pytest.raises(ValueError):
            uuid.UUID(guid)
    default = sim.get(f"/users/{PARENT_GUID}/users", accept=V3, params={"limit": 9999})
    assert len(sim.xml(default)) == 10 and default.headers["X-Total-Count"] == "10"


def test_it_answers_the_v1_and_v0_child_list_schemas(sim: Sim) -> None:
    v1 = sim.xml(sim.get(f"/users/{PARENT_GUID}/users", accept="application/vnd.keepit.v1+xml"))
    v0 = sim.xml(sim.get(f"/users/{PARENT_GUID}/users"))
    v3_plain = sim.xml(sim.get(f"/users/{PARENT_GUID}/users", accept=V3))

    first = v1.find("user")
    assert first is not None
    assert [e.tag for e in first] == ["id", "created", "parent_id", "email", "full_name", "company_name"]
    assert [e.tag for e in v0] == ["id"] * 10
    assert all(user.find("contact") is None for user in v3_plain)  # contact only when asked for


def test_it_names_most_customers_as_the_vspc_simulator_does_but_spelt_differently(sim: Sim) -> None:
    names = [a["companyname"] for a in children(sim.state)]
    vspc = {normalize_name(c["name"]): c["name"] for c in VspcState.seeded(now=NOW).companies}

    matched = [name for name in names if normalize_name(name) in vspc]
    assert len(matched) == 7
    assert all(name != vspc[normalize_name(name)] for name in matched)  # never the same spelling
    assert "Aldridge and Co" in names
    assert {"Summit MSP Internal IT", "NOC Test Tenant", "Bellweather Dental Group"} == set(names) - set(matched)


def test_it_refuses_a_foreign_guid_with_403(sim: Sim) -> None:
    child = children(sim.state)[0]["id"]
    for path in ("/users/abcde-fghij-klmno", "/users/abcde-fghij-klmno/devices", "/users/abcde-fghij-klmno/users"):
        response = sim.get(path)
        assert response.status_code == 403 and response.text.strip() == "Access denied"
    assert sim.get(f"/users/{child}/devices").status_code == 200


# --- connectors ----------------------------------------------------------------------------------------


def test_it_lists_connectors_as_cloud_elements(sim: Sim) -> None:
    kinds: set[str] = set()
    for account in children(sim.state):
        root = sim.xml(sim.get(f"/users/{account['id']}/devices", accept=V4))
        assert root.tag == "devices" and 2 <= len(root) <= 5
        for cloud in root:
            assert cloud.tag == "cloud"
            tags = [e.tag for e in cloud]
            assert tags[:3] == ["guid", "name", "type"]
            assert {"created", "accessible", "orglink", "backup-retention"} <= set(tags)
            kind = cloud.findtext("type") or ""
            assert ("agent-type" in tags) == (kind == "dsl")
            assert ACCOUNT_ID.fullmatch(cloud.findtext("guid") or "")
            kinds.add(kind if kind != "dsl" else f"dsl:{cloud.findtext('agent-type')}")
    assert {"o365-admin", "azure-ad"} <= kinds and any(k.startswith("dsl:") for k in kinds)


def test_it_judges_health_by_keepits_rule(sim: Sim) -> None:
    state = sim.state
    statuses: dict[tuple[str, str], int] = {}
    for account, devices in state.devices.items():
        for device in devices:
            url = f"/users/{account}/devices/{device['guid']}"
            health = sim.xml(sim.get(f"{url}/health", params={"reason": "true"}))
            bare = sim.xml(sim.get(f"{url}/health"))
            latest = sim.xml(sim.get(f"{url}/history/latest", accept="application/vnd.keepit.v1+xml"))
            pair = (health.findtext("health") or "", health.findtext("reason") or "")
            statuses[pair] = statuses.get(pair, 0) + 1
            assert [e.tag for e in bare] == ["health"] and bare.findtext("health") == pair[0]
            backup = latest.find("backup")
            if backup is None:
                assert pair == ("critical", "CLOUDNOCHECKIN") and len(latest) == 0
                continue
            assert [e.tag for e in backup] == ["tstamp", "root", "type", "size", "account"]
            assert backup.findtext("type") in ("c", "p") and backup.findtext("account") == account
            age = NOW - when(backup.findtext("tstamp"))
            if pair[1] == "BADLOGIN":
                assert pair[0] == "critical"
            elif age <= timedelta(hours=24):
                assert pair == ("healthy", "OK")
            elif age <= timedelta(hours=48):
                assert pair == ("unhealthy", "NOCHECKIN") and age == timedelta(hours=26)

    total = sum(statuses.values())
    assert statuses.pop(("healthy", "OK")) >= total - 3
    assert statuses == {("unhealthy", "NOCHECKIN"): 1, ("critical", "BADLOGIN"): 1, ("critical", "CLOUDNOCHECKIN"): 1}


def test_it_lists_jobs_whose_outcome_is_the_timestamp_set(sim: Sim) -> None:
    account = children(sim.state)[0]["id"]
    url = f"/users/{account}/devices/{device_in(sim.state, account)}/jobs"

    jobs = sim.xml(sim.get(url, headers={"active-jobs-only": "false"})).findall("job")
    active = sim.xml(sim.get(url, headers={"active-jobs-only": "true"})).findall("job")

    assert len(jobs) >= 5
    starts = [when(job.findtext("start")) for job in jobs]
    assert starts == sorted(starts)
    for job in jobs:
        assert JOB_ID.fullmatch(job.findtext("guid") or "")
        tags = [e.tag for e in job]
        assert tags[:7] == ["guid", "description", "type", "priority", "active", "start", "scheduled"]
        ends = [tag for tag in ("succeeded", "failed", "cancelled") if tag in tags]
        assert len(ends) == (0 if job.findtext("active") == "true" else 1)
        assert re.fullmatch(
            r"\[(backup|restore)\]\[bl\]\[(auto|manual)\]\[[\w-]+\]\{.+\(\d+\)\}", job.findtext("description") or ""
        )
    assert all(job.findtext("active") == "true" for job in active)


def test_it_filters_jobs_with_a_put_filter(sim: Sim) -> None:
    account = children(sim.state)[0]["id"]
    device = device_in(sim.state, account)
    url = f"/users/{account}/devices/{device}/jobs"
    every = [job for job in sim.state.jobs[device] if job["type"] == "backup"]
    since = NOW - timedelta(hours=30)

    def put(body: str) -> list[ET.Element]:
        return sim.xml(sim.call("PUT", url, data=body)).findall("job")

    recent = put(f"<filter><from-time>{iso(since)}</from-time><types><type>backup</type></types></filter>")
    newest = sim.xml(
        sim.call(
            "PUT", url, data="<filter><from-time>2020-01-01T00:00:00Z</from-time><limit>1</limit><reverse/></filter>"
        )
    )
    restores = put("<filter><from-time>2020-01-01T00:00:00Z</from-time><type>restore</type></filter>")

    assert [j.findtext("guid") for j in recent] == [j["guid"] for j in every if j["start"] >= since]
    assert len(newest) == 1 and newest[0].tag == "job"  # one element, not a list of one
    assert newest[0].findtext("guid") == sim.state.jobs[device][-1]["guid"]
    assert all(j.findtext("type") == "restore" for j in restores)
    assert sim.call("PUT", url, data="<filter><from-time>").status_code == 400
    assert sim.call("PUT", url, data="<filter><from-time>yesterday</from-time></filter>").status_code == 400


def test_it_answers_404_for_a_connector_of_another_account(sim: Sim) -> None:
    first, second = (a["id"] for a in children(sim.state)[:2])
    response = sim.get(f"/users/{first}/devices/{device_in(sim.state, second)}/health")

    assert response.status_code == 404 and response.headers["Content-Type"].startswith("text/plain")


# --- audit ---------------------------------------------------------------------------------------------


def test_it_pages_the_audit_log_with_next_offset(sim: Sim) -> None:
    whole = sim.xml(sim.audit(limit=500, recursive=True))
    paged, pages = sim.all_audit(limit=37, recursive=True)

    assert 200 <= len(whole) <= 500 and len(paged) == len(whole) and pages == -(-len(whole) // 37)
    assert [ET.tostring(r) for r in paged] == [ET.tostring(r) for r in whole]
    times = [when(r.findtext("time")) for r in paged]
    assert times == sorted(times) and NOW - times[0] <= timedelta(days=20)
    first = sim.audit(limit=37, recursive=True)
    assert first.headers["next-offset"] == "37"
    last = sim.audit(limit=37, offset=len(whole) - 5, recursive=True)
    assert "next-offset" not in last.headers and len(sim.xml(last)) == 5
    capped = sim.audit(limit=100000, recursive=True)
    assert len(sim.xml(capped)) == len(whole)  # max 500, and there are fewer


def test_it_gives_audit_records_keepits_fields(sim: Sim) -> None:
    records, _ = sim.all_audit(limit=500, recursive=True)
    areas, actions = set(), set()

    for record in records:
        tags = [e.tag for e in record]
        assert {"time", "account", "company", "area", "action", "method", "message", "acl", "allowed"} <= set(tags)
        assert {"succeeded", "client-ip", "token"} <= set(tags) and "id" not in tags
        areas.add(record.findtext("area"))
        actions.add(record.findtext("action"))
    assert {"user", "account", "connector", "connection", "restore", "backup", "report", "security"} <= areas
    assert {"compliance", "token", "billing"} <= areas
    assert {"create", "update", "delete", "login", "failed-login", "restore-started", "restore-failed"} <= actions
    assert "snapshot-failed" in actions and "export" in actions
    assert any(r.findtext("token") == DEMO_TOKEN_LOGIN for r in records)
    assert any(r.find("metadata/parameter/key") is not None for r in records)


def test_it_filters_audit_by_time_and_account_and_recursion(sim: Sim) -> None:
    state = sim.state
    child = children(state)[2]["id"]
    start, end = NOW - timedelta(days=5), NOW - timedelta(days=2)

    own = sim.xml(sim.audit(limit=500))
    everything = sim.xml(sim.audit(limit=500, recursive=True))
    window = sim.xml(sim.audit(limit=500, recursive=True, start=start, end=end))
    of_child = sim.xml(sim.audit(child, limit=500))
    of_child_recursive = sim.xml(sim.audit(child, limit=500, recursive=True))
    single = sim.xml(sim.audit(limit=1, recursive=True))

    assert {r.findtext("account") for r in own} == {PARENT_GUID}
    assert {r.findtext("account") for r in everything} == set(state.accounts)
    assert len(everything) == len(state.audit)
    assert {r.findtext("account") for r in of_child} == {child}
    assert [ET.tostring(r) for r in of_child_recursive] == [ET.tostring(r) for r in of_child]  # no grandchildren
    assert 0 < len(window) < len(everything)
    assert all(start <= when(r.findtext("time")) <= end for r in window)
    assert len(window) == sum(start <= r["time"] <= end for r in state.audit)
    assert len(single) == 1 and single[0].tag == "record"
    assert of_child[0].findtext("company") == state.accounts[child]["companyname"]


def test_it_refuses_audit_of_a_foreign_account_with_403(sim: Sim) -> None:
    response = sim.audit("zzzzz-yyyyy-xxxxx")

    assert response.status_code == 403 and response.text.strip() == "Access denied"
    assert sim.call("PUT", AUDIT, data="<filter><account>").status_code == 400


# --- fault knobs ---------------------------------------------------------------------------------------


def test_it_refuses_audit_to_tokens_without_the_acl(sim: Sim) -> None:
    sim.knobs({"token_without_audit": True})

    assert sim.audit(auth=TOKEN).status_code == 403
    assert sim.audit(auth=ADMIN).status_code == 200
    assert sim.get(f"/users/{PARENT_GUID}/users", auth=TOKEN).status_code == 200


def test_it_answers_404_everywhere_with_the_unknown_region_knob(sim: Sim) -> None:
    sim.state.faults.unknown_region = True

    for response in (sim.get("/users/"), sim.get("/users/", region="dk-co"), sim.audit()):
        assert response.status_code == 404 and response.headers["Content-Type"].startswith("text/plain")
    assert sim.http.get(f"{sim.root}/_sim/stats", timeout=5).status_code == 200


def test_it_throttles_with_429_and_retry_after(sim: Sim) -> None:
    sim.knobs({"rate_limit_per_second": 3})
    time.sleep(1 - time.monotonic() % 1 + 0.02)  # start at the top of a one-second window

    responses = [sim.get("/users/") for _ in range(6)]

    assert [r.status_code for r in responses] == [200, 200, 200, 429, 429, 429]
    assert responses[-1].headers["Retry-After"] == "1"
    time.sleep(1.05)
    assert sim.get("/users/").status_code == 200


def test_it_answers_503_for_the_next_n_requests(sim: Sim) -> None:
    sim.knobs({"errors_5xx": 2})

    statuses = [sim.get("/users/").status_code for _ in range(3)]

    assert statuses == [503, 503, 200] and sim.state.faults.errors_5xx == 0
    assert sim.stats()["statuses"] == {"503": 2, "200": 1}


def test_it_adds_latency_and_hangs_long_enough_to_trip_timeouts(sim: Sim) -> None:
    sim.knobs({"latency": 0.2})
    started = time.monotonic()
    assert sim.get("/users/").status_code == 200
    assert time.monotonic() - started >= 0.2

    sim.knobs({"latency": None, "hang": 1.0})
    answered = sim.state.stats()["total"]
    with pytest.raises(requests.Timeout):
        sim.get("/users/", timeout=0.3)
    wait_for_the_hung_request(sim.state, answered)


def test_it_cuts_the_xml_at_the_configured_page_or_everywhere_on_a_path(sim: Sim) -> None:
    sim.knobs({"malformed_xml": {"path": AUDIT, "offset": 50}})
    broken = sim.audit(limit=50, offset=50, recursive=True)
    before = sim.audit(limit=50, offset=0, recursive=True)

    assert broken.status_code == 200
    with pytest.raises(ET.ParseError):
        ET.fromstring(broken.content)  # noqa: S314
    assert len(sim.xml(before)) == 50
    assert sim.state.faults.malformed_xml == MalformedXml(AUDIT, 50)

    devices = f"/users/{children(sim.state)[0]['id']}/devices"
    sim.knobs({"malformed_xml": {"path": devices, "offset": None}})
    with pytest.raises(ET.ParseError):
        ET.fromstring(sim.get(devices).content)  # noqa: S314
    assert sim.xml(sim.get("/users/")).tag == "user"


def test_it_renames_accounts_and_removes_connectors_until_reset(sim: Sim) -> None:
    account = children(sim.state)[0]["id"]
    device = device_in(sim.state, account)
    before = len(sim.state.devices[account])

    sim.knobs({"rename_account": {account: "Renamed Holdings"}, "remove_connector": [device]})
    users = sim.xml(sim.get(f"/users/{PARENT_GUID}/users", accept=V3, params={"include_contact_details": 1}))
    listed = sim.xml(sim.get(f"/users/{account}/devices", accept=V4))
    gone = sim.get(f"/users/{account}/devices/{device}/health")
    sim.http.post(f"{sim.root}/_sim/reset", timeout=5)
    restored = sim.xml(sim.get(f"/users/{account}/devices", accept=V4))

    names = {u.findtext("id"): u.findtext("contact/companyname") for u in users}
    assert names[account] == "Renamed Holdings"
    assert len(listed) == before - 1 and device not in {c.findtext("guid") for c in listed}
    assert gone.status_code == 404
    assert len(restored) == before


def test_it_makes_a_connector_stale_for_three_days(sim: Sim) -> None:
    account, device = find_device(sim.state, lambda guid: sim.state.health(guid) == ("healthy", "OK"))
    url = f"/users/{account}/devices/{device}"

    sim.knobs({"stale_connector": [device]})
    health = sim.xml(sim.get(f"{url}/health", params={"reason": "true"}))
    latest = sim.xml(sim.get(f"{url}/history/latest"))
    jobs = sim.xml(sim.get(f"{url}/jobs")).findall("job")

    assert (health.findtext("health"), health.findtext("reason")) == ("critical", "NOCHECKIN")
    assert when(latest.findtext("backup/tstamp")) == NOW - timedelta(days=3)
    succeeded = [when(job.findtext("succeeded")) for job in jobs if job.find("succeeded") is not None]
    assert max(succeeded) == NOW - timedelta(days=3)
    assert all(job.findtext("active") == "false" for job in jobs)


def test_it_merges_fault_patches_and_refuses_unknown_knobs(sim: Sim) -> None:
    sim.knobs({"rename_account": {"a": "A"}, "latency": 0.01, "stale_connector": ["x"]})
    merged = sim.knobs({"rename_account": {"b": "B"}, "stale_connector": ["y"]}).json()
    cleared = sim.knobs({"rename_account": {"a": None}, "latency": None}).json()

    assert merged["rename_account"] == {"a": "A", "b": "B"} and merged["stale_connector"] == ["y"]
    assert cleared["rename_account"] == {"b": "B"} and cleared["latency"] == 0.0
    assert sim.knobs({"no_such_knob": True}).status_code == 400
    assert sim.knobs({"errors_5xx": "two"}).status_code == 400
    assert sim.knobs({"malformed_xml": {"offset": 5}}).status_code == 400
    assert sim.http.post(f"{sim.root}/_sim/faults", data="[]", timeout=5).status_code == 400
    assert sim.http.get(f"{sim.root}/_sim/faults", timeout=5).json()["rename_account"] == {"b": "B"}


def test_it_counts_requests_per_pattern_status_and_login(sim: Sim) -> None:
    account = children(sim.state)[0]["id"]
    sim.get(f"/users/{account}/devices", auth=TOKEN)
    sim.get(f"/users/{PARENT_GUID}/devices")
    sim.get("/users/", auth=None)
    sim.audit()

    stats = sim.stats()

    assert stats["total"] == 4
    assert stats["paths"] == {"/{region}/users/{guid}/devices": 2, "/{region}/users/": 1, f"/{{region}}{AUDIT}": 1}
    assert stats["statuses"] == {"200": 3, "401": 1}
    assert stats["logins"] == {DEMO_TOKEN_LOGIN: 1, DEMO_USERNAME: 2, "(none)": 1}


# --- data ----------------------------------------------------------------------------------------------


def test_it_seeds_the_same_msp_for_the_same_seed() -> None:
    first, second = KeepitState.seeded(now=NOW), KeepitState.seeded(now=NOW)
    other = KeepitState.seeded(seed=2, now=NOW)

    assert first == second
    assert list(other.accounts)[1:] != list(first.accounts)[1:]
    assert next(iter(first.accounts)) == PARENT_GUID == next(iter(other.accounts))
    assert len(first.children_of(PARENT_GUID)) == 10
    assert 200 <= len(first.audit) <= 500
    assert all(2 <= len(first.devices[a["id"]]) <= 5 for a in first.children_of(PARENT_GUID))


def test_it_builds_an_msp_at_benchmark_scale() -> None:
    # How fast it builds and serves is the benches' to say (bench/, not a timed test).
    state = KeepitState.at_scale(now=NOW)
    root, stop = serve(create_app(state))
    try:
        with requests.Session() as http:
            sim = Sim(state, root, http)
            page = sim.audit(limit=500, recursive=True, start=NOW - timedelta(days=14))
            users = sim.get(f"/users/{PARENT_GUID}/users", accept=V3, params={"limit": 500})
    finally:
        stop()

    assert len(state.children_of(PARENT_GUID)) == 300 and len(state.audit) == 20000
    assert all(len(devices) == 4 for devices in state.devices.values())
    assert all(NOW - r["time"] <= timedelta(days=14) for r in state.audit)
    assert page.headers["next-offset"] == "500" and len(sim.xml(page)) == 500
    assert users.headers["X-Total-Count"] == "300" and len(sim.xml(users)) == 300


def test_it_runs_from_the_command_line() -> None:
    banner, response = run_from_command_line(
        "vectis.simulators.keepit", 4, lambda root: requests.get(f"{root}/us-dc/users/", auth=TOKEN, timeout=2)
    )

    for value in (DEMO_USERNAME, DEMO_PASSWORD, DEMO_TOKEN_LOGIN, DEMO_TOKEN_PASSWORD, PARENT_GUID, "/us-dc"):
        assert value in banner, value
    assert response.status_code == 200 and PARENT_GUID in response.text
