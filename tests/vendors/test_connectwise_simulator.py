"""The ConnectWise PSA simulator speaks ConnectWise Manage REST as ``shared/vendor-apis.md`` section 3
describes it, checked over real loopback HTTP: Basic ``companyId+publicKey:privateKey`` with a ``clientId``
header, conditions/orderBy/page/pageSize with a ``Link`` header, JSON-Patch, notes and documents, signed
callbacks to a local receiver, and every fault knob."""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib
import json
import queue
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from tests.vendors.support import Received, posts_received, run_from_command_line, serve, wait_for_the_hung_request
from vectis.demo.seed import DEMO_USERS
from vectis.ingest.matching import normalize_name
from vectis.simulators.connectwise import (
    API,
    DEMO_CLIENT_ID,
    DEMO_COMPANY_ID,
    DEMO_PRIVATE_KEY,
    DEMO_PUBLIC_KEY,
    SIGNATURE_HEADER,
    ConnectWiseState,
    MalformedPage,
    create_app,
    sign,
)
from vectis.simulators.vspc import VspcState

NOW = datetime(2025, 3, 14, 9, 30, 12, tzinfo=UTC)
TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
LINK = re.compile(r'<([^>]+)>;\s*rel="(\w+)"')


def basic(company: str = DEMO_COMPANY_ID, public: str = DEMO_PUBLIC_KEY, private: str = DEMO_PRIVATE_KEY) -> str:
    return "Basic " + base64.b64encode(f"{company}+{public}:{private}".encode()).decode()


GOOD = {"Authorization": basic(), "clientId": DEMO_CLIENT_ID}


# --- a simulator on a real loopback port ---------------------------------------------------------------


@dataclass
class Sim:
    state: ConnectWiseState
    root: str
    http: requests.Session

    def call(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, timeout: float = 5, **kwargs: Any
    ) -> requests.Response:
        return self.http.request(
            method, f"{self.root}{API}{path}", headers=GOOD if headers is None else headers, timeout=timeout, **kwargs
        )

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("GET", path, **kwargs)

    def ok(self, response: requests.Response, status: int = 200) -> Any:
        assert response.status_code == status, (response.status_code, response.text)
        return response.json()

    def tickets(self, **params: Any) -> list[dict[str, Any]]:
        body: list[dict[str, Any]] = self.ok(self.get("/service/tickets", params={"pageSize": 1000, **params}))
        return body

    def knobs(self, patch: dict[str, Any]) -> requests.Response:
        return self.http.post(f"{self.root}/_sim/faults", json=patch, timeout=5)

    def stats(self) -> dict[str, Any]:
        body: dict[str, Any] = self.http.get(f"{self.root}/_sim/stats", timeout=5).json()
        return body


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[ConnectWiseState, str]]:
    state = ConnectWiseState.seeded(now=NOW)
    root, stop = serve(create_app(state))
    yield state, root
    stop()


@pytest.fixture
def sim(served: tuple[ConnectWiseState, str]) -> Iterator[Sim]:
    state, root = served
    with requests.Session() as http:
        yield Sim(state, root, http)
    state.reset()


def links(response: requests.Response) -> dict[str, str]:
    return {rel: url for url, rel in LINK.findall(response.headers.get("Link", ""))}


def open_ticket(sim: Sim, board: int = 1) -> dict[str, Any]:
    found = sim.tickets(conditions=f"closedFlag=false and board/id={board}", orderBy="id asc")
    assert found
    return found[0]


def statuses(sim: Sim, board: int) -> dict[str, int]:
    return {s["name"]: s["id"] for s in sim.ok(sim.get(f"/service/boards/{board}/statuses"))}


# --- a callback receiver -------------------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[tuple[str, queue.Queue[Received]]]:
    with posts_received("/hooks/connectwise") as received:
        yield received


# --- authentication ------------------------------------------------------------------------------------


def test_it_answers_system_info_to_good_keys_and_a_client_id(sim: Sim) -> None:
    assert sim.ok(sim.get("/system/info")) == {
        "version": "v2025.1.10431",
        "isCloud": True,
        "serverTimeZone": "Eastern Standard Time",
        "cloudRegion": "NA",
    }


def test_it_refuses_bad_keys_with_401_and_a_case_sensitive_company_id(sim: Sim) -> None:
    for authorization in (
        basic(private="wrong"),
        basic(public="nope"),
        basic(company=DEMO_COMPANY_ID.upper()),
        "Basic " + base64.b64encode(f"{DEMO_PUBLIC_KEY}:{DEMO_PRIVATE_KEY}".encode()).decode(),  # no company
        "Bearer token",
        "",
    ):
        response = sim.get("/system/info", headers={"Authorization": authorization, "clientId": DEMO_CLIENT_ID})
        assert response.status_code == 401, authorization
        assert response.json()["code"] == "Unauthorized" and response.json()["message"]


def test_it_refuses_a_missing_or_unknown_client_id_with_400_naming_it(sim: Sim) -> None:
    missing = sim.get("/service/tickets", headers={"Authorization": basic()})
    unknown = sim.get("/service/tickets", headers={"Authorization": basic(), "clientId": "not-registered"})
    lower = sim.get("/system/info", headers={"Authorization": basic(), "clientid": DEMO_CLIENT_ID})

    assert missing.status_code == unknown.status_code == 400
    assert missing.json() == {"code": "InvalidRequest", "message": "clientId header is required"}
    assert "clientId" in unknown.json()["message"]
    assert lower.status_code == 200  # HTTP header names are case-insensitive


def test_it_answers_json_404_for_unknown_records_and_paths(sim: Sim) -> None:
    assert sim.get("/service/tickets/1").status_code == 404
    assert sim.get("/service/nothing").json()["code"] == "NotFound"
    assert sim.call("PUT", "/system/info").status_code == 405


# --- reference data ------------------------------------------------------------------------------------


def test_it_lists_the_vspc_simulators_companies_plus_two_of_its_own(sim: Sim) -> None:
    companies = sim.ok(sim.get("/company/companies", params={"pageSize": 100}))
    names = [c["name"] for c in companies]
    vspc = [c["name"] for c in VspcState.seeded(now=NOW).companies]

    assert len(companies) == len(vspc) + 2
    assert len(set(names) & set(vspc)) == len(vspc) - 2  # mostly verbatim
    assert {normalize_name(n) for n in vspc} <= {normalize_name(n) for n in names}  # the other two close
    assert "Aldridge and Co." in names and {"Summit MSP", "Copperfield Vineyards"} <= set(names)
    first = companies[0]
    assert [c["id"] for c in companies] == sorted(c["id"] for c in companies)
    for key in ("id", "identifier", "name", "status", "phoneNumber", "city", "country", "defaultContact", "_info"):
        assert key in first, key
    assert " " not in first["identifier"] and TIME.fullmatch(first["_info"]["lastUpdated"])
    assert set(first["defaultContact"]) == {"id", "name"} and "defaultContactId" not in first
    one = sim.ok(sim.get(f"/company/companies/{companies[3]['id']}"))
    assert one == companies[3]


def test_it_counts_companies_as_it_lists_them(sim: Sim) -> None:
    listed = sim.ok(sim.get("/company/companies", params={"pageSize": 100}))
    assert sim.ok(sim.get("/company/companies/count")) == {"count": len(listed)}
    clients = sim.ok(sim.get("/company/companies/count", params={"conditions": 'identifier != "SummitMSP"'}))
    assert clients == {"count": len(listed) - 1}


def test_it_lists_members_with_the_demo_operators_among_them(sim: Sim) -> None:
    members = {m["identifier"]: m for m in sim.ok(sim.get("/system/members", params={"pageSize": 100}))}
    for key in ("id", "identifier", "firstName", "lastName", "primaryEmail", "inactiveFlag"):
        assert key in members["jhughes"], key
    # The demo's operators sign in to Vectis with the e-mails their members carry, under the same names.
    operators = {(d.name, d.email) for d in DEMO_USERS if d.tenant == "acme" and d.role.value != "read_only"}
    found = {(f"{m['firstName']} {m['lastName']}", m["primaryEmail"]) for m in members.values()}
    assert operators and operators <= found
    owned = sim.tickets(conditions=f"owner/id={members['ttech']['id']} and closedFlag=false")
    assert owned, "Taylor Tech owns a few open tickets, so My tickets has something to show"


def test_it_writes_a_note_as_the_member_it_names_and_refuses_with_the_knob(sim: Sim) -> None:
    ticket = sim.tickets(conditions="closedFlag=false", orderBy="id desc")[0]  # not one other tests change
    path = f"/service/tickets/{ticket['id']}/notes"
    note = {"text": "On site at 2.", "detailDescriptionFlag": True, "member": {"id": 181}}
    written = sim.ok(sim.call("POST", path, json=note), 201)
    assert written["member"] == {"id": 181, "identifier": "aadmin", "name": "Avery Admin"}
    assert written["createdBy"] == "VectisAPI"  # the API member sent it; the member wrote it
    by_identifier = sim.ok(sim.call("POST", path, json={**note, "member": {"identifier": "ttech"}}), 201)
    assert by_identifier["member"]["name"] == "Taylor Tech"
    unknown = sim.call("POST", path, json={**note, "member": {"id": 9}})
    assert unknown.status_code == 400 and unknown.json()["errors"][0]["field"] == "member"

    stored = len(sim.ok(sim.get(path, params={"pageSize": 1000})))
    sim.knobs({"refuse_note_member": True})
    refused = sim.call("POST", path, json=note)
    assert refused.status_code == 403 and "as another member" in refused.json()["message"]
    assert len(sim.ok(sim.get(path, params={"pageSize": 1000}))) == stored  # nothing stored
    plain = sim.ok(sim.call("POST", path, json={"text": "Signed.", "detailDescriptionFlag": True}), 201)
    assert plain["member"]["identifier"] == "VectisAPI"


def test_it_has_boards_with_their_own_statuses(sim: Sim) -> None:
    boards = {b["name"]: b for b in sim.ok(sim.get("/service/boards"))}
    assert {"Service Desk", "Projects", "Alerts"} <= set(boards)
    assert not boards["Service Desk"]["inactiveFlag"] and any(b["inactiveFlag"] for b in boards.values())
    desk = sim.ok(sim.get(f"/service/boards/{boards['Service Desk']['id']}/statuses"))
    alerts = sim.ok(sim.get(f"/service/boards/{boards['Alerts']['id']}/statuses"))

    assert [s["name"] for s in desk] == ["New", "In Progress", "Waiting on Client", "Scheduled", "Resolved", "Closed"]
    assert {s["name"] for s in desk if s["closedStatus"]} == {"Resolved", "Closed"}
    assert all(s["boardId"] == boards["Service Desk"]["id"] for s in desk)
    assert [s["name"] for s in desk if s["defaultFlag"]] == ["New"]
    assert [s["sortOrder"] for s in desk] == sorted(s["sortOrder"] for s in desk)
    assert not {s["id"] for s in desk} & {s["id"] for s in alerts}
    assert sim.get("/service/boards/99/statuses").status_code == 404


# --- tickets: paging and conditions --------------------------------------------------------------------


def test_it_pages_tickets_with_link_headers(sim: Sim) -> None:
    total = len(sim.state.tickets)
    first = sim.get("/service/tickets")
    assert len(first.json()) == 25  # the default page size
    assert set(links(first)) == {"next", "last"} and "page=2" in links(first)["next"]

    seen: list[int] = []
    url: str | None = f"{sim.root}{API}/service/tickets?pageSize=40&orderBy=id%20asc"
    pages = 0
    while url:
        response = sim.http.get(url, headers=GOOD, timeout=5)
        seen += [t["id"] for t in sim.ok(response)]
        pages += 1
        rels = links(response)
        if pages == 1:
            assert f"page={-(-total // 40)}" in rels["last"]
        else:
            assert "page=1" in rels["first"] and "prev" in rels
        url = rels.get("next")
    assert pages == -(-total // 40) and seen == sorted(sim.state.tickets) and len(seen) == total
    assert sim.get("/service/tickets", params={"page": pages + 1, "pageSize": 40}).json() == []


def test_it_caps_page_size_at_1000(sim: Sim) -> None:
    assert len(sim.tickets()) == len(sim.state.tickets)  # pageSize=1000 is allowed
    too_big = sim.get("/service/tickets", params={"pageSize": 1001})
    assert too_big.status_code == 400 and "1000" in too_big.json()["message"]
    assert sim.get("/service/tickets", params={"page": 0}).status_code == 400


def test_it_pages_forward_only_by_page_id(sim: Sim) -> None:
    headers = {**GOOD, "pagination-type": "forward-only"}
    seen: list[int] = []
    url: str | None = f"{sim.root}{API}/service/tickets?pageSize=60"
    while url:
        response = sim.http.get(url, headers=headers, timeout=5)
        seen += [t["id"] for t in sim.ok(response)]
        assert "last" not in links(response)
        url = links(response).get("next")
    assert seen == sorted(sim.state.tickets)


def test_it_filters_tickets_by_last_updated(sim: Sim) -> None:
    every = sim.tickets()
    since = NOW - timedelta(days=1)
    newer = sim.tickets(conditions=f"lastUpdated>[{since:%Y-%m-%dT%H:%M:%SZ}]", orderBy="lastUpdated asc")
    expected = [t for t in every if t["_info"]["lastUpdated"] > since.strftime("%Y-%m-%dT%H:%M:%SZ")]

    assert 0 < len(newer) < len(every)
    assert sorted(t["id"] for t in newer) == sorted(t["id"] for t in expected)
    stamps = [t["_info"]["lastUpdated"] for t in newer]
    assert stamps == sorted(stamps)
    boundary = stamps[0]
    inclusive = sim.tickets(conditions=f"_info/lastUpdated>=[{boundary}]", orderBy="_info/lastUpdated asc, id asc")
    assert [t["id"] for t in inclusive] == [t["id"] for t in newer]
    after = sim.tickets(conditions=f"lastUpdated>[{boundary}]")
    assert {t["id"] for t in after} == {t["id"] for t in newer if t["_info"]["lastUpdated"] > boundary}


def test_it_filters_by_closed_flag_company_board_and_id_combined(sim: Sim) -> None:
    every = sim.tickets()
    company = every[len(every) // 2]["company"]["id"]
    open_ = sim.tickets(conditions="closedFlag=false")
    of_company = sim.tickets(conditions=f"company/id={company}")
    combined = sim.tickets(conditions=f"closedFlag=false and company/id={company} and board/id=1")
    high = sim.tickets(conditions=f"id>{every[100]['id']}")

    assert {t["id"] for t in open_} == {t["id"] for t in every if not t["closedFlag"]} and open_
    assert {t["id"] for t in of_company} == {t["id"] for t in every if t["company"]["id"] == company}
    assert {t["id"] for t in combined} == {
        t["id"] for t in every if not t["closedFlag"] and t["company"]["id"] == company and t["board"]["id"] == 1
    }
    assert len(high) == len(every) - 101
    either = sim.tickets(conditions='(board/id=2 or board/id=3) and summary like "%backup%"')
    assert either and all(t["board"]["id"] in (2, 3) and "backup" in t["summary"].lower() for t in either)
    named = sim.tickets(conditions='status/name in ("New","Scheduled") and closedFlag=false')
    assert named and all(t["status"]["name"] in ("New", "Scheduled") for t in named)
    bad = sim.get("/service/tickets", params={"conditions": "lastUpdated>[yesterday]"})
    assert bad.status_code == 400 and "conditions" in bad.json()["message"]
    assert sim.get("/service/tickets", params={"orderBy": "id sideways"}).status_code == 400
    counted = sim.ok(sim.get("/service/tickets/count", params={"conditions": "closedFlag=false"}))
    assert counted == {"count": len(open_)}


def test_it_gives_tickets_connectwises_fields_and_omits_nulls(sim: Sim) -> None:
    every = sim.tickets(fields="id,summary,board/name")
    assert all(set(t) <= {"id", "summary", "board"} and set(t["board"]) == {"name"} for t in every)
    ticket = sim.ok(sim.get(f"/service/tickets/{open_ticket(sim)['id']}"))
    for key in ("id", "summary", "board", "status", "company", "priority", "closedFlag", "dateEntered", "_info"):
        assert key in ticket, key
    assert set(ticket["company"]) == {"id", "identifier", "name"}
    assert {"lastUpdated", "updatedBy", "dateEntered"} <= set(ticket["_info"])
    assert "closedDate" not in ticket and all(v is not None for v in ticket.values())
    closed = sim.tickets(conditions="closedFlag=true")[0]
    assert TIME.fullmatch(closed["closedDate"]) and closed["closedDate"] <= closed["_info"]["lastUpdated"]
    assert any("owner" not in t for t in sim.tickets()) and any("owner" in t for t in sim.tickets())
    priorities = {p["name"] for p in sim.ok(sim.get("/service/priorities"))}
    assert {"Priority 1 - Emergency", "Priority 4 - Low"} <= priorities


def test_it_gives_tickets_their_sla_and_says_whether_they_have_met_it(sim: Sim) -> None:
    every = sim.tickets()
    under = [t for t in every if "sla" in t]
    assert {t["sla"]["name"] for t in under} == {"Standard SLA", "Premium SLA"}
    # Projects and the MSP's own tickets are under none, and then ConnectWise says nothing of one.
    assert all("isInSla" not in t and "slaStatus" not in t for t in every if "sla" not in t)
    assert all("sla" not in t for t in every if t["board"]["id"] == 2 or t["company"]["id"] == 2)
    assert {t["isInSla"] for t in under} == {True, False}
    resolved = [t for t in under if t["closedFlag"]]
    assert all(t["slaStatus"] == "Resolved" and t["dateResolved"] == t["closedDate"] for t in resolved)
    assert all(t["dateEntered"] <= t["dateResponded"] <= t["closedDate"] for t in resolved)
    assert any(t["isInSla"] for t in resolved) and any(not t["isInSla"] for t in resolved)

    company = next(c for c in sim.ok(sim.get("/company/companies")) if c["id"] != 2)
    new = sim.ok(
        sim.call(
            "POST",
            "/service/tickets",
            json={"summary": "SLA clock", "board": {"id": 1}, "company": {"id": company["id"]}},
        ),
        201,
    )
    assert new["isInSla"] is True and new["slaStatus"].startswith("Respond by ") and "dateResponded" not in new
    desk = statuses(sim, 1)

    def moved(status: str) -> dict[str, Any]:
        patch = [{"op": "replace", "path": "status/id", "value": desk[status]}]
        body: dict[str, Any] = sim.ok(sim.call("PATCH", f"/service/tickets/{new['id']}", json=patch))
        return body

    working = moved("In Progress")  # out of the response stage: responded to, now
    assert TIME.fullmatch(working["dateResponded"]) and working["slaStatus"].startswith("Resolve by ")
    assert moved("Waiting on Client")["slaStatus"] == "Waiting"  # the clock stands still
    done = moved("Closed")
    assert (done["slaStatus"], done["isInSla"], done["dateResponded"]) == ("Resolved", True, working["dateResponded"])


# --- tickets: changes ----------------------------------------------------------------------------------


def test_it_patches_the_status_and_moves_last_updated(sim: Sim) -> None:
    ticket = open_ticket(sim)
    desk = statuses(sim, 1)
    patch = [{"op": "replace", "path": "status/id", "value": desk["In Progress"]}]
    changed = sim.ok(sim.call("PATCH", f"/service/tickets/{ticket['id']}", json=patch))

    assert changed["status"] == {"id": desk["In Progress"], "name": "In Progress", "sort": 1}
    assert changed["_info"]["lastUpdated"] > ticket["_info"]["lastUpdated"]
    assert changed["_info"]["updatedBy"] == "VectisAPI"
    closed = sim.ok(
        sim.call(
            "PATCH",
            f"/service/tickets/{ticket['id']}",
            json=[{"op": "replace", "path": "status/id", "value": desk["Closed"]}],
        )
    )
    assert closed["closedFlag"] is True and TIME.fullmatch(closed["closedDate"])
    history = sim.http.get(f"{sim.root}/_sim/tickets/{ticket['id']}/history", timeout=5).json()
    assert [(h["from"]["name"], h["to"]["name"]) for h in history][-2:] == [
        (ticket["status"]["name"], "In Progress"),
        ("In Progress", "Closed"),
    ]
    reopened = sim.ok(
        sim.call(
            "PATCH",
            f"/service/tickets/{ticket['id']}",
            json=[{"op": "replace", "path": "status", "value": {"id": desk["New"]}}],
        )
    )
    assert reopened["closedFlag"] is False and "closedDate" not in reopened


def test_it_refuses_a_status_of_another_board_and_changes_nothing(sim: Sim) -> None:
    ticket = open_ticket(sim)
    alerts_new = statuses(sim, 3)["New"]
    patch = [
        {"op": "replace", "path": "summary", "value": "Should not stick"},
        {"op": "replace", "path": "status/id", "value": alerts_new},
    ]
    refused = sim.call("PATCH", f"/service/tickets/{ticket['id']}", json=patch)
    after = sim.ok(sim.get(f"/service/tickets/{ticket['id']}"))

    assert refused.status_code == 400
    body = refused.json()
    assert body["code"] == "InvalidObject" and "Service Desk" in body["message"] and str(alerts_new) in body["message"]
    assert body["errors"][0]["field"] == "status"
    assert after == ticket
    assert sim.call("PATCH", f"/service/tickets/{ticket['id']}", json={"status": 1}).status_code == 400
    bad_path = [{"op": "replace", "path": "board/name", "value": "x"}]
    assert sim.call("PATCH", f"/service/tickets/{ticket['id']}", json=bad_path).status_code == 400


def test_it_patches_summary_priority_and_owner(sim: Sim) -> None:
    ticket = open_ticket(sim, board=3)
    member = sim.ok(sim.get("/system/members"))[1]
    patch = [
        {"op": "replace", "path": "summary", "value": "Disk space low on FS01 (fixed?)"},
        {"op": "replace", "path": "priority/id", "value": 1},
        {"op": "replace", "path": "owner/id", "value": member["id"]},
    ]
    changed = sim.ok(sim.call("PATCH", f"/service/tickets/{ticket['id']}", json=patch))
    assert changed["summary"] == "Disk space low on FS01 (fixed?)"
    assert changed["priority"]["name"] == "Priority 1 - Emergency"
    assert changed["owner"] == {"id": member["id"], "identifier": member["identifier"], "name": member["name"]}


def test_it_creates_a_ticket_and_adds_notes(sim: Sim) -> None:
    company = sim.ok(sim.get("/company/companies"))[2]
    body = {
        "summary": "New starter: laptop setup",
        "board": {"id": 1},
        "company": {"id": company["id"]},
        "priority": {"id": 3},
        "contact": company["defaultContact"],
        "initialDescription": "Laptop needed for Monday.",
    }
    created = sim.ok(sim.call("POST", "/service/tickets", json=body), 201)
    assert created["id"] > max(t for t in sim.state.tickets if t != created["id"])
    assert created["status"]["name"] == "New" and created["company"]["id"] == company["id"]
    assert created["contact"] == company["defaultContact"] and created["closedFlag"] is False
    assert sim.ok(sim.get(f"/service/tickets/{created['id']}")) == created

    note = {"text": "Imaging now.", "detailDescriptionFlag": True, "internalAnalysisFlag": False}
    added = sim.ok(sim.call("POST", f"/service/tickets/{created['id']}/notes", json=note), 201)
    notes = sim.ok(sim.get(f"/service/tickets/{created['id']}/notes"))
    assert [n["text"] for n in notes] == ["Laptop needed for Monday.", "Imaging now."]
    assert added == notes[-1] and added["ticketId"] == created["id"] and added["member"]["identifier"] == "VectisAPI"
    assert added["detailDescriptionFlag"] is True and TIME.fullmatch(added["dateCreated"])

    missing = sim.call("POST", "/service/tickets", json={"board": {"id": 1}, "company": {"id": company["id"]}})
    assert missing.status_code == 400 and missing.json()["errors"][0]["field"] == "summary"
    assert sim.call("POST", f"/service/tickets/{created['id']}/notes", json={"text": ""}).status_code == 400
    assert sim.call("POST", "/service/tickets/1/notes", json=note).status_code == 404


def test_it_gives_seeded_tickets_one_to_five_notes(sim: Sim) -> None:
    ticket = sim.tickets(conditions="closedFlag=true", orderBy="id asc")[0]
    notes = sim.ok(sim.get(f"/service/tickets/{ticket['id']}/notes"))
    assert 1 <= len(notes) <= 5 and notes[0]["detailDescriptionFlag"]
    for note in notes:
        assert {"id", "ticketId", "text", "detailDescriptionFlag", "internalAnalysisFlag", "resolutionFlag"} <= set(
            note
        )
        assert ("member" in note) or ("contact" in note) or note["createdBy"]
    if len(notes) > 1:
        assert notes[-1]["resolutionFlag"]


def test_it_accepts_attachments_up_to_10_mb(sim: Sim) -> None:
    ticket = open_ticket(sim)
    fields = {"recordType": "Ticket", "recordId": str(ticket["id"]), "title": "screenshot.png"}
    small = sim.call("POST", "/system/documents", data=fields, files={"file": ("screenshot.png", b"\x89PNG" * 100)})
    document = sim.ok(small, 201)
    assert document["recordId"] == ticket["id"] and document["size"] == 400 and document["fileName"] == "screenshot.png"
    listed = sim.ok(sim.get("/system/documents", params={"recordType": "Ticket", "recordId": ticket["id"]}))
    assert [d["id"] for d in listed] == [document["id"]]

    big = sim.call(
        "POST", "/system/documents", data=fields, files={"file": ("dump.bin", b"0" * (10 * 1024 * 1024 + 1))}
    )
    assert big.status_code == 413 and "10 MB" in big.json()["message"]
    wrong = sim.call("POST", "/system/documents", data={**fields, "recordId": "1"}, files={"file": ("a.txt", b"a")})
    assert wrong.status_code == 404


# --- callbacks -----------------------------------------------------------------------------------------


def verify(received: Received, root: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(received.body)
    key_url = payload["Metadata"]["key_url"]
    assert key_url.startswith(f"{root}{API}/system/callbackkeys/")
    signing_key = requests.get(key_url, timeout=5).json()["signing_key"]  # no credentials needed
    digest = hmac.new(hashlib.sha256(signing_key.encode()).digest(), received.body, hashlib.sha256).digest()
    expected = base64.b64encode(digest).decode()
    assert hmac.compare_digest(received.headers[SIGNATURE_HEADER], expected)
    assert sign(received.body, signing_key) == expected
    return payload


def test_it_delivers_signed_callbacks_for_ticket_changes(sim: Sim, receiver: tuple[str, queue.Queue[Received]]) -> None:
    url, inbox = receiver
    registration = {"url": url, "objectId": 1, "type": "Ticket", "level": "Owner", "description": "Vectis"}
    callback = sim.ok(sim.call("POST", "/system/callbacks", json=registration), 201)
    assert {"id", "url", "objectId", "type", "level", "description", "inactiveFlag"} <= set(callback)
    assert callback in sim.ok(sim.get("/system/callbacks"))
    try:
        ticket = open_ticket(sim)
        desk = statuses(sim, 1)
        patch = [{"op": "replace", "path": "status/id", "value": desk["Waiting on Client"]}]
        sim.ok(sim.call("PATCH", f"/service/tickets/{ticket['id']}", json=patch))
        payload = verify(inbox.get(timeout=5), sim.root)

        assert set(payload) == {
            "MessageId", "FromUrl", "CompanyId", "MemberId", "Action", "Type", "ID", "ProductInstanceId",
            "PartnerId", "Entity", "Metadata", "CallbackObjectRecId",
        }  # fmt: skip
        assert payload["Action"] == "updated" and payload["Type"] == "ticket" and payload["ID"] == ticket["id"]
        assert payload["CompanyId"] == DEMO_COMPANY_ID and payload["MemberId"] == "VectisAPI"
        entity = json.loads(payload["Entity"])
        assert entity["id"] == ticket["id"] and entity["status"]["name"] == "Waiting on Client"

        touched = sim.http.post(f"{sim.root}/_sim/tickets/{ticket['id']}/touch", json={"member": "ppatel"}, timeout=5)
        assert touched.status_code == 200
        by_tech = verify(inbox.get(timeout=5), sim.root)
        assert by_tech["Action"] == "updated" and by_tech["MemberId"] == "ppatel"
        assert json.loads(by_tech["Entity"])["_info"]["updatedBy"] == "ppatel"

        made = sim.http.post(f"{sim.root}/_sim/tickets", json={"summary": "Server DC01 offline", "board": 3}, timeout=5)
        added = verify(inbox.get(timeout=5), sim.root)
        assert made.status_code == 201 and added["Action"] == "added" and added["ID"] == made.json()["id"]

        sim.state.drain()
        deliveries = sim.http.get(f"{sim.root}/_sim/deliveries", timeout=5).json()
        assert [(d["url"], d["status"], d["error"]) for d in deliveries] == [(url, 200, None)] * 3
    finally:
        assert sim.call("DELETE", f"/system/callbacks/{callback['id']}").status_code == 204
    sim.http.post(f"{sim.root}/_sim/tickets/{ticket['id']}/touch", json={}, timeout=5)
    sim.state.drain()
    assert inbox.empty()
    assert sim.call("DELETE", f"/system/callbacks/{callback['id']}").status_code == 404


def test_it_only_calls_back_for_the_board_it_was_registered_on(
    sim: Sim, receiver: tuple[str, queue.Queue[Received]]
) -> None:
    url, inbox = receiver
    registration = {"url": url, "objectId": 3, "type": "Ticket", "level": "Board"}
    callback = sim.ok(sim.call("POST", "/system/callbacks", json=registration), 201)
    try:
        sim.http.post(f"{sim.root}/_sim/tickets/{open_ticket(sim, 1)['id']}/touch", json={}, timeout=5)
        alert = open_ticket(sim, 3)
        sim.http.post(f"{sim.root}/_sim/tickets/{alert['id']}/touch", json={}, timeout=5)
        payload = verify(inbox.get(timeout=5), sim.root)
        assert payload["ID"] == alert["id"] and payload["CallbackObjectRecId"] == 3
        sim.state.drain()
        assert inbox.empty()
    finally:
        sim.call("DELETE", f"/system/callbacks/{callback['id']}")
    assert (
        sim.call("POST", "/system/callbacks", json={"url": "ftp://x", "type": "Ticket", "level": "Owner"}).status_code
        == 400
    )


def test_it_logs_failed_deliveries(sim: Sim) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dead = f"http://127.0.0.1:{port}/gone"
    callback = sim.ok(
        sim.call("POST", "/system/callbacks", json={"url": dead, "type": "Ticket", "level": "Owner"}), 201
    )
    try:
        sim.http.post(f"{sim.root}/_sim/tickets/{open_ticket(sim)['id']}/touch", json={}, timeout=5)
        sim.state.drain()
        [delivery] = sim.state.deliveries
        assert delivery["url"] == dead and delivery["status"] is None and delivery["error"]
    finally:
        sim.call("DELETE", f"/system/callbacks/{callback['id']}")


# --- fault knobs ---------------------------------------------------------------------------------------


def test_it_fails_every_login_with_bad_keys(sim: Sim) -> None:
    sim.knobs({"bad_keys": True})
    assert sim.get("/system/info").status_code == 401
    sim.knobs({"bad_keys": None})
    assert sim.get("/system/info").status_code == 200


def test_it_treats_every_client_id_as_missing_with_the_knob(sim: Sim) -> None:
    sim.state.faults.missing_client_id_check = True
    response = sim.get("/system/info")
    assert response.status_code == 400 and "clientId" in response.json()["message"]


def test_it_forbids_paths_naming_the_permission(sim: Sim) -> None:
    sim.knobs({"forbidden_paths": ["/service/tickets"]})
    forbidden = sim.get("/service/tickets")
    assert forbidden.status_code == 403 and "Service Tickets" in forbidden.json()["message"]
    assert sim.get(f"/service/tickets/{next(iter(sim.state.tickets))}/notes").status_code == 403
    assert sim.get("/service/boards").status_code == 200 and sim.get("/company/companies").status_code == 200
    patched = sim.call("PATCH", "/service/tickets/1", json=[])
    assert patched.status_code == 403 and "Edit" in patched.json()["message"]


def test_it_throttles_with_429_and_retry_after(sim: Sim) -> None:
    sim.knobs({"rate_limit_per_second": 2})
    if time.monotonic() % 1 > 0.5:  # the window is a wall second: start near its beginning
        time.sleep(1 - time.monotonic() % 1 + 0.02)
    statuses_seen = [sim.get("/system/info").status_code for _ in range(4)]
    assert statuses_seen[:2] == [200, 200] and 429 in statuses_seen
    limited = sim.get("/system/info")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
    assert sim.http.get(f"{sim.root}/_sim/stats", timeout=5).status_code == 200  # never faulted


def test_it_answers_503_then_500_for_the_next_n_requests(sim: Sim) -> None:
    sim.knobs({"errors_503": 2, "errors_5xx": 1})
    first, second, third, fourth = (sim.get("/system/info") for _ in range(4))
    assert (first.status_code, second.status_code, third.status_code, fourth.status_code) == (503, 503, 500, 200)
    assert first.headers["Retry-After"] == "1" and third.json()["code"]
    assert sim.state.faults.errors_503 == 0 == sim.state.faults.errors_5xx


def test_it_adds_latency_and_hangs_long_enough_to_trip_timeouts(sim: Sim) -> None:
    sim.knobs({"latency": 0.2})
    started = time.monotonic()
    assert sim.get("/system/info").status_code == 200
    assert time.monotonic() - started >= 0.2
    sim.knobs({"latency": None, "hang": 1.0})
    answered = sim.state.stats()["total"]
    with pytest.raises(requests.Timeout):
        sim.get("/system/info", timeout=0.3)
    wait_for_the_hung_request(sim.state, answered)


def test_it_fails_the_next_patch(sim: Sim) -> None:
    ticket = open_ticket(sim)
    sim.knobs({"fail_patch": True})
    patch = [{"op": "replace", "path": "summary", "value": "Changed"}]
    failed = sim.call("PATCH", f"/service/tickets/{ticket['id']}", json=patch)
    body = failed.json()
    assert failed.status_code == 400 and body["code"] == "InvalidObject" and body["message"]
    assert body["errors"][0]["resource"] == "ticket" and body["errors"][0]["field"] == "status"
    assert sim.ok(sim.get(f"/service/tickets/{ticket['id']}"))["summary"] == ticket["summary"]
    assert sim.call("PATCH", f"/service/tickets/{ticket['id']}", json=patch).status_code == 200


def test_it_cuts_the_json_of_one_page_or_every_page(sim: Sim) -> None:
    sim.knobs({"malformed_page": {"path": f"{API}/service/tickets", "page": 2}})
    assert sim.state.faults.malformed_page == MalformedPage("/service/tickets", 2)
    good = sim.get("/service/tickets", params={"page": 1})
    broken = sim.get("/service/tickets", params={"page": 2})
    assert good.status_code == broken.status_code == 200
    good.json()
    with pytest.raises(ValueError):
        broken.json()
    sim.knobs({"malformed_page": {"path": "/company/companies", "page": None}})
    with pytest.raises(ValueError):
        sim.get("/company/companies").json()
    sim.get("/service/tickets", params={"page": 2}).json()


def test_it_merges_fault_patches_and_refuses_unknown_knobs(sim: Sim) -> None:
    assert sim.knobs({"errors_503": 3}).json()["errors_503"] == 3
    assert sim.knobs({"latency": 0.01}).json()["errors_503"] == 3
    assert sim.knobs({"nope": 1}).status_code == 400
    assert "errors_5xx" in sim.knobs({"errors_5xx": -1}).json()["error"]
    assert sim.http.post(f"{sim.root}/_sim/reset", timeout=5).json()["errors_503"] == 0


def test_it_counts_requests_per_method_pattern_and_status(sim: Sim) -> None:
    ticket = next(iter(sim.state.tickets))
    sim.get(f"/service/tickets/{ticket}")
    sim.get(f"/service/tickets/{ticket}")
    sim.call("PATCH", f"/service/tickets/{ticket}", json={"not": "a list"})
    sim.get("/system/info", headers={"Authorization": basic()})
    stats = sim.stats()
    assert stats["paths"] == {
        "GET /service/tickets/{ticket_id}": 2,
        "PATCH /service/tickets/{ticket_id}": 1,
        "GET /system/info": 1,
    }
    assert stats["statuses"] == {"200": 2, "400": 2} and stats["total"] == 4


# --- data ----------------------------------------------------------------------------------------------


def test_it_seeds_the_same_site_for_the_same_seed() -> None:
    first, second = ConnectWiseState.seeded(now=NOW), ConnectWiseState.seeded(now=NOW)
    other = ConnectWiseState.seeded(seed=2, now=NOW)

    assert first == second and first != other
    assert [t.summary for t in first.tickets.values()] != [t.summary for t in other.tickets.values()]
    tickets = list(first.tickets.values())
    assert 140 <= len(tickets) <= 160
    day_ago = (NOW - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    sixty = (NOW - timedelta(days=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert all(sixty <= t.date_entered <= t.last_updated for t in tickets)
    assert sum(t.date_entered > day_ago for t in tickets) >= 3
    closed = sum(t.closed for t in tickets)
    assert 0.3 * len(tickets) < closed < 0.85 * len(tickets)
    assert all(1 <= len(first.notes[t.id]) <= 5 for t in tickets)
    assert {first.boards[t.board_id]["name"] for t in tickets} == {"Service Desk", "Projects", "Alerts"}
    assert len({t.owner_id for t in tickets if t.owner_id}) >= 5
    assert any("Backup job failed on" in t.summary for t in tickets)


def test_it_builds_a_site_at_benchmark_scale_with_lazy_notes() -> None:
    # How fast it builds and serves is the benches' to say (bench/, not a timed test); here, that it is lazy.
    state = ConnectWiseState.at_scale(companies=60, tickets=20_000, now=NOW)
    assert len(state.tickets) == 20_000 and len(state.companies) == 61 and not state.notes
    root, stop = serve(create_app(state))
    try:
        with requests.Session() as http:
            sim = Sim(state, root, http)
            page = sim.tickets(conditions="lastUpdated>=[2025-01-01T00:00:00Z]", orderBy="lastUpdated asc, id asc")
            notes = sim.ok(sim.get(f"/service/tickets/{page[0]['id']}/notes"))
    finally:
        stop()
    assert len(page) == 1000
    assert 1 <= len(notes) <= 5 and list(state.notes) == [page[0]["id"]]
    assert ConnectWiseState.at_scale(companies=5, tickets=300, now=NOW) == ConnectWiseState.at_scale(
        companies=5, tickets=300, now=NOW
    )


def test_it_runs_from_the_command_line() -> None:
    banner, response = run_from_command_line(
        "vectis.simulators.connectwise",
        5,
        lambda root: requests.get(f"{root}{API}/system/info", headers=GOOD, timeout=2),
    )

    for value in (DEMO_COMPANY_ID, DEMO_PUBLIC_KEY, DEMO_PRIVATE_KEY, DEMO_CLIENT_ID, API):
        assert value in banner, value
    assert response.status_code == 200 and response.json()["isCloud"] is True


@pytest.mark.parametrize("name", ["vspc", "keepit", "connectwise", "ninjaone"])
def test_each_simulator_answers_a_browser_at_its_root(name: str) -> None:
    """Where the demo's "Open in Veeam" lands: a page that says what it is, not a 404."""
    module = importlib.import_module(f"vectis.simulators.{name}")
    state = next(getattr(module, attr) for attr in dir(module) if attr.endswith("State")).seeded()
    page = module.create_app(state).test_client().get("/")
    assert page.status_code == 200 and "simulator" in page.get_data(as_text=True)
