"""The REST API's writes on tickets (status, owner, priority, a new ticket) and rules (enable, pause), each against a
workspace of its own whose ConnectWise is the simulator over real HTTP: what reaches the vendor, what a dry run
leaves alone, what a client is told it may choose, and that each write leaves the audit row the page's own button
leaves, but for its surface."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import select
from werkzeug.test import TestResponse

from tests import test_ticket_writes
from tests.conftest import TenantFixture, a_customer, a_rule, a_ticket, client_for, csrf_token, pid
from tests.test_api import make_token
from tests.test_ticket_writes import Desk, an_open_ticket
from vectis.models import AuditEntry, Customer, PsaMember, Rule, Ticket, TicketPriority, TicketStatus, User
from vectis.platform import db
from vectis.tickets import queries

desk = test_ticket_writes.desk  # the fixture: a workspace of its own, its ConnectWise the simulator
WRITES = ("read", "write:tickets", "write:rules")
# What differs between two audit rows of the same action by nature: where and when each was written.
UNLIKE = {"id", "seq", "occurred_at", "request_id", "prev_hash", "row_hash", "surface"}


def token(app: Flask, desk: Desk, scopes: tuple[str, ...] = WRITES) -> str:
    """A token of the desk's technician, the one signed in to its pages."""
    with app.app_context(), db.tenant_session(desk.tenant.id) as s:
        tech = s.scalar(select(User.id).where(User.tenant_id == desk.tenant.id))
    assert tech is not None
    return make_token(app, desk.tenant, scopes=scopes, user_id=tech)


def post(app: Flask, tenant: TenantFixture, raw: str, path: str, body: dict[str, Any] | None = None) -> TestResponse:
    return client_for(app, tenant).post(f"/api/v1{path}", json=body, headers={"Authorization": f"Bearer {raw}"})


def get(app: Flask, tenant: TenantFixture, raw: str, path: str) -> Any:
    answer = client_for(app, tenant).get(f"/api/v1{path}", headers={"Authorization": f"Bearer {raw}"})
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def ok(answer: TestResponse, result: str = "ok") -> dict[str, Any]:
    body: dict[str, Any] = answer.get_json()
    assert answer.status_code == 200 and body["result"] == result, body
    return body


def refused(answer: TestResponse, status: int, words: str) -> None:
    assert answer.status_code == status and answer.mimetype == "application/problem+json", answer.get_json()
    assert words in answer.get_json()["detail"], answer.get_json()


def sent(desk: Desk) -> int:
    """Requests the simulated ConnectWise has answered."""
    return int(desk.state.stats()["total"])


def rows(app: Flask, tenant_id: int, action: str, target_id: int) -> list[dict[str, Any]]:
    """The audit rows of ``action`` on the target, oldest first, each without what differs by nature."""
    with app.app_context(), db.tenant_session(tenant_id) as s:
        found = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == action, AuditEntry.target_id == str(target_id))
            .order_by(AuditEntry.seq)
        )
        return [
            {c.key: getattr(e, c.key) for c in AuditEntry.__table__.columns if c.key not in UNLIKE} | {"by": e.surface}
            for e in found
        ]


def same_but_surface(by_api: dict[str, Any], by_ui: dict[str, Any]) -> None:
    assert (by_api.pop("by"), by_ui.pop("by")) == ("api", "ui")
    assert by_api == by_ui


def the_ticket(app: Flask, desk: Desk, ticket_id: int) -> Ticket:
    with app.app_context(), db.tenant_session(desk.tenant.id) as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None
        s.expunge(ticket)
        return ticket


def another_status(app: Flask, desk: Desk, ticket: Ticket) -> TicketStatus:
    """An open status of the ticket's board that it is not in."""
    with app.app_context(), db.tenant_session(desk.tenant.id) as s:
        found = s.scalar(
            select(TicketStatus)
            .where(
                TicketStatus.board_id == ticket.board_id,
                TicketStatus.id != ticket.status_id,
                TicketStatus.closed.is_(False),
            )
            .order_by(TicketStatus.sort_order)
        )
        assert found is not None
        s.expunge(found)
        return found


def ui(desk: Desk, page: str, action: str, form: dict[str, str]) -> None:
    """The page's own button, as a technician presses it."""
    answer = desk.tech.post(f"{page}/{action}", data={**form, "csrf_token": csrf_token(desk.tech, page)})
    assert answer.status_code == 302, answer.get_data(as_text=True)


def test_a_ticket_lists_what_it_can_be_set_to_as_its_page_offers_it(app: Flask, desk: Desk) -> None:
    raw = token(app, desk, ("read",))
    ticket = an_open_ticket(app, desk)
    choices = get(app, desk.tenant, raw, f"/tickets/{pid(app, 'ticket', ticket.id)}/choices")
    with app.app_context(), db.tenant_session(desk.tenant.id) as s:
        offered = queries.controls(s, s.get(Ticket, ticket.id))  # type: ignore[arg-type]
        assert [st["name"] for st in choices["statuses"]] == [st.name for st in offered.statuses]
        assert [st["id"] for st in choices["statuses"]] == [st.external_id for st in offered.statuses]
        assert [m["identifier"] for m in choices["members"]] == [m.identifier for m in offered.members]
        assert [p["name"] for p in choices["priorities"]] == [p.name for p in offered.priorities]
    assert {"New", "In Progress", "Closed"} <= {st["name"] for st in choices["statuses"]}
    assert "Priority 3 - Normal" in [p["name"] for p in choices["priorities"]]
    assert any(m["identifier"] == "jhughes" and m["name"] == "Jordan Hughes" for m in choices["members"])

    customer = pid(app, "customer", ticket.customer_id)
    new = get(app, desk.tenant, raw, f"/customers/{customer}/ticket-choices")
    assert [b["name"] for b in new["boards"] if b["default"]] and all(b["id"].startswith("brd_") for b in new["boards"])
    assert [p["name"] for p in new["priorities"] if p["default"]] == ["Priority 3 - Normal"]
    assert new["contacts"] and all(c["psa"] == "ConnectWise" for c in new["contacts"])


def test_a_status_named_as_the_board_names_it_reaches_connectwise_and_a_dry_run_sends_nothing(
    app: Flask, desk: Desk
) -> None:
    raw = token(app, desk)
    ticket = an_open_ticket(app, desk)
    status = another_status(app, desk, ticket)
    path = f"/tickets/{pid(app, 'ticket', ticket.id)}/status"
    before, at_vendor = sent(desk), desk.state.tickets[int(ticket.external_id)].status_id

    preview = ok(post(app, desk.tenant, raw, f"{path}?dry_run=true", {"status": status.name}), "dry_run")
    assert preview["would_send"]["verb"] == "ticket.update_status"
    assert preview["would_send"]["payload"] == {"status_id": str(status.id)}
    assert sent(desk) == before and desk.state.tickets[int(ticket.external_id)].status_id == at_vendor

    done = ok(post(app, desk.tenant, raw, path, {"status": status.name}))
    assert done["message"] == f"Ticket #{ticket.external_id} moved from {ticket.status_name} to {status.name}."
    assert desk.state.tickets[int(ticket.external_id)].status_id == int(status.external_id)
    assert the_ticket(app, desk, ticket.id).status_name == status.name  # read back and stored

    # Asked for what it already is: the verb's words, nothing sent, nothing audited.
    before, audited = sent(desk), len(rows(app, desk.tenant.id, "ticket.update_status", ticket.id))
    again = ok(post(app, desk.tenant, raw, path, {"status": status.external_id}))  # by its id this time
    assert again["message"] == f"Already {status.name}: nothing was sent to ConnectWise."
    assert sent(desk) == before and len(rows(app, desk.tenant.id, "ticket.update_status", ticket.id)) == audited

    wrong = post(app, desk.tenant, raw, path, {"status": "Fixed it"})
    refused(wrong, 422, "“Fixed it” is not a status of this ticket's board (Service Desk). Choose one of: New,")
    assert "body.status" in post(app, desk.tenant, raw, path, {}).get_json()["errors"][0]
    assert sent(desk) == before


def test_a_ticket_is_assigned_by_identifier_or_name_and_unassigned_only_by_null(app: Flask, desk: Desk) -> None:
    raw = token(app, desk)
    ticket = an_open_ticket(app, desk, owned=True)
    at_vendor = desk.state.tickets[int(ticket.external_id)]
    owner = at_vendor.owner_id
    someone = next(m for m in desk.state.members.values() if m["id"] != owner and m["identifier"] != "aadmin")
    path = f"/tickets/{pid(app, 'ticket', ticket.id)}/assignee"

    before = sent(desk)
    ok(post(app, desk.tenant, raw, f"{path}?dry_run=true", {"member": someone["identifier"]}), "dry_run")
    ok(post(app, desk.tenant, raw, f"{path}?dry_run=true", {"member": None}), "dry_run")
    assert sent(desk) == before and at_vendor.owner_id == owner

    done = ok(post(app, desk.tenant, raw, path, {"member": someone["identifier"]}))
    name = f"{someone['firstName']} {someone['lastName']}"
    assert done["message"] == f"Ticket #{ticket.external_id} is assigned to {name}."
    assert at_vendor.owner_id == someone["id"]
    assert ok(post(app, desk.tenant, raw, path, {"member": name}))["message"] == (
        f"Already assigned to {name}: nothing was sent to ConnectWise."
    )

    for nobody in ({}, {"member": "somebody"}):  # no answer is never "nobody"
        assert post(app, desk.tenant, raw, path, nobody).status_code == 422, nobody
    assert at_vendor.owner_id == someone["id"]
    unassigned = ok(post(app, desk.tenant, raw, path, {"member": None}))
    assert unassigned["message"] == f"Ticket #{ticket.external_id} is no longer assigned to anyone."
    assert at_vendor.owner_id is None


def test_a_priority_named_or_by_its_id_reaches_connectwise(app: Flask, desk: Desk) -> None:
    raw = token(app, desk)
    ticket = an_open_ticket(app, desk)
    at_vendor = desk.state.tickets[int(ticket.external_id)]
    other = next(p for p in desk.state.priorities.values() if p["id"] != at_vendor.priority_id)
    path = f"/tickets/{pid(app, 'ticket', ticket.id)}/priority"

    before, was = sent(desk), at_vendor.priority_id
    ok(post(app, desk.tenant, raw, f"{path}?dry_run=true", {"priority": other["name"]}), "dry_run")
    assert sent(desk) == before and at_vendor.priority_id == was

    done = ok(post(app, desk.tenant, raw, path, {"priority": other["name"]}))
    assert done["message"].startswith(f"Ticket #{ticket.external_id} is now {other['name']} (was ")
    assert at_vendor.priority_id == other["id"]
    ok(post(app, desk.tenant, raw, path, {"priority": str(was)}))  # back, by the PSA's id
    assert at_vendor.priority_id == was
    refused(post(app, desk.tenant, raw, path, {"priority": "Urgent"}), 422, "Choose one of: Priority 1 - Emergency")
    # A name with a line break in it is quoted back in the answer's error header, which may hold none (it was a 500).
    refused(post(app, desk.tenant, raw, path, {"priority": "Urgent\r\nnow"}), 422, "is not one of the PSA")


def test_a_new_ticket_is_created_at_connectwise_and_its_id_answered(app: Flask, desk: Desk) -> None:
    raw = token(app, desk)
    with app.app_context(), db.tenant_session(desk.tenant.id) as s:
        customer = s.scalar(select(Customer).join(Ticket, Ticket.customer_id == Customer.id).limit(1))
        assert customer is not None
        customer_id = pid(app, "customer", customer.id)
    choices = get(app, desk.tenant, raw, f"/customers/{customer_id}/ticket-choices")
    contact = choices["contacts"][0]
    body = {
        "customer_id": customer_id,
        "summary": "New starter needs a laptop",
        "description": "Starts Monday.",
        "priority": "Priority 2 - High",
        "contact": contact["email"] or contact["name"],
    }
    before, count = sent(desk), len(desk.state.tickets)
    preview = ok(post(app, desk.tenant, raw, "/tickets?dry_run=true", body), "dry_run")
    assert preview["ticket_id"] is None and preview["would_send"]["payload"]["summary"] == body["summary"]
    assert sent(desk) == before and len(desk.state.tickets) == count

    done = ok(post(app, desk.tenant, raw, "/tickets", body))
    assert done["message"].startswith(f"Created ConnectWise ticket #{done['number']}: New starter needs a laptop")
    made = desk.state.tickets[int(done["number"])]
    assert (made.summary, made.priority_id, made.contact_id) == (body["summary"], 2, int(contact["id"]))
    usual = next(b["name"] for b in choices["boards"] if b["default"])
    assert desk.state.boards[made.board_id]["name"] == usual  # the customer's usual board, as the form preselects
    shown = get(app, desk.tenant, raw, f"/tickets/{done['ticket_id']}")
    assert (shown["number"], shown["customer_id"]) == (done["number"], customer_id)

    refused(post(app, desk.tenant, raw, "/tickets", {**body, "board": "Helpdesk"}), 422, "not an active board")
    missing = post(app, desk.tenant, raw, "/tickets", {"customer_id": customer_id})
    assert missing.status_code == 422 and missing.get_json()["errors"][0].startswith("body.summary")


def test_a_rule_is_enabled_and_paused_by_its_verbs(app: Flask, desk: Desk) -> None:
    raw = token(app, desk)
    rule_id = a_rule(app, desk.tenant.id)  # paused
    path = f"/rules/{pid(app, 'rule', rule_id)}"

    def mode() -> str | None:
        with app.app_context(), db.tenant_session(desk.tenant.id) as s:
            return s.scalar(select(Rule.mode).where(Rule.id == rule_id))

    ok(post(app, desk.tenant, raw, f"{path}/enable?dry_run=true"), "dry_run")
    assert mode() == "paused"
    assert ok(post(app, desk.tenant, raw, f"{path}/enable"))["message"].endswith("from now on its actions are sent.")
    assert mode() == "live"
    refused(post(app, desk.tenant, raw, f"{path}/enable"), 422, "The rule is already live.")
    ok(post(app, desk.tenant, raw, f"{path}/pause"))
    assert mode() == "paused"
    assert get(app, desk.tenant, raw, path)["paused_reason"].startswith("Paused by technician-")


def test_a_write_needs_its_scope(app: Flask, desk: Desk) -> None:
    ticket = pid(app, "ticket", an_open_ticket(app, desk).id)
    rule = pid(app, "rule", a_rule(app, desk.tenant.id))
    reader, tickets_only = token(app, desk, ("read",)), token(app, desk, ("read", "write:tickets"))
    before = sent(desk)
    for path, body in (
        (f"/tickets/{ticket}/status", {"status": "New"}),
        (f"/tickets/{ticket}/assignee", {"member": None}),
        (f"/tickets/{ticket}/priority", {"priority": "Priority 1 - Emergency"}),
        ("/tickets", {"customer_id": pid(app, "customer", a_customer(app, desk.tenant.id)), "summary": "x"}),
    ):
        refused(post(app, desk.tenant, reader, path, body), 403, "lacks the scope “write:tickets”")
    for action in ("enable", "pause"):
        refused(post(app, desk.tenant, tickets_only, f"/rules/{rule}/{action}"), 403, "lacks the scope “write:rules”")
    assert sent(desk) == before


def test_another_workspaces_ticket_customer_or_rule_is_not_found(app: Flask, desk: Desk, acme: TenantFixture) -> None:
    raw = token(app, desk)
    theirs = pid(app, "ticket", a_ticket(app, acme.id))
    for path, body in (
        (f"/tickets/{theirs}/status", {"status": "New"}),
        (f"/tickets/{theirs}/assignee", {"member": None}),
        (f"/tickets/{theirs}/priority", {"priority": "Priority 1 - Emergency"}),
        ("/tickets", {"customer_id": pid(app, "customer", a_customer(app, acme.id)), "summary": "x"}),
        (f"/rules/{pid(app, 'rule', a_rule(app, acme.id))}/enable", None),
    ):
        refused(post(app, desk.tenant, raw, f"{path}?dry_run=true", body), 404, "No such")
    for path in (
        f"/tickets/{theirs}/choices",
        f"/customers/{pid(app, 'customer', a_customer(app, acme.id))}/ticket-choices",
    ):
        answer = client_for(app, desk.tenant).get(f"/api/v1{path}", headers={"Authorization": f"Bearer {raw}"})
        assert answer.status_code == 404, path


# --- the same action from the API and from the page: the same audit row, but for its surface ---------------------


def test_a_status_change_is_audited_as_the_pages(app: Flask, desk: Desk) -> None:
    raw = token(app, desk)
    ticket = an_open_ticket(app, desk)
    status, page = another_status(app, desk, ticket), f"/tickets/{pid(app, 'ticket', ticket.id)}"
    ok(post(app, desk.tenant, raw, f"{page}/status", {"status": status.name}))
    ui(desk, page, "status", {"status_id": str(ticket.status_id)})  # back, so the page makes the same move
    ui(desk, page, "status", {"status_id": str(status.id)})
    by_api, _, by_ui = rows(app, desk.tenant.id, "ticket.update_status", ticket.id)
    same_but_surface(by_api, by_ui)


def test_an_assignment_is_audited_as_the_pages(app: Flask, desk: Desk) -> None:
    raw = token(app, desk)
    ticket = an_open_ticket(app, desk, owned=True)
    page = f"/tickets/{pid(app, 'ticket', ticket.id)}"
    with app.app_context(), db.tenant_session(desk.tenant.id) as s:
        owner = s.scalar(select(PsaMember).where(PsaMember.external_id == ticket.assignee_external_id))
        someone = s.scalar(
            select(PsaMember).where(PsaMember.id != (owner.id if owner else 0), PsaMember.inactive.is_(False))
        )
        assert owner is not None and someone is not None and someone.identifier
        s.expunge_all()  # read after the session ends
    ok(post(app, desk.tenant, raw, f"{page}/assignee", {"member": someone.identifier}))
    ui(desk, page, "assign", {"member_id": str(owner.id)})
    ui(desk, page, "assign", {"member_id": str(someone.id)})
    by_api, _, by_ui = rows(app, desk.tenant.id, "ticket.assign", ticket.id)
    same_but_surface(by_api, by_ui)


def test_a_priority_change_is_audited_as_the_pages(app: Flask, desk: Desk) -> None:
    raw = token(app, desk)
    ticket = an_open_ticket(app, desk)
    page = f"/tickets/{pid(app, 'ticket', ticket.id)}"
    with app.app_context(), db.tenant_session(desk.tenant.id) as s:
        was = s.scalar(select(TicketPriority).where(TicketPriority.external_id == ticket.priority_external_id))
        other = s.scalar(select(TicketPriority).where(TicketPriority.external_id != ticket.priority_external_id))
        assert was is not None and other is not None
        s.expunge_all()  # read after the session ends
    ok(post(app, desk.tenant, raw, f"{page}/priority", {"priority": other.name}))
    ui(desk, page, "priority", {"priority_id": str(was.id)})
    ui(desk, page, "priority", {"priority_id": str(other.id)})
    by_api, _, by_ui = rows(app, desk.tenant.id, "ticket.set_priority", ticket.id)
    same_but_surface(by_api, by_ui)


def test_a_new_ticket_is_audited_as_the_pages(app: Flask, desk: Desk) -> None:
    raw = token(app, desk)
    with app.app_context(), db.tenant_session(desk.tenant.id) as s:
        customer = s.scalar(select(Customer).join(Ticket, Ticket.customer_id == Customer.id).limit(1))
        assert customer is not None
        form = queries.new_ticket_for(s, customer)
        board = next(b for b in form.boards if b.id == form.board_id)
        priority = next(p for p in form.priorities if p.id == form.priority_id)
        contact = next(c for c in form.contacts if c.customer_id == customer.id)
        customer_id = customer.id
        s.expunge_all()  # read after the session ends
    hub = f"/customers/{pid(app, 'customer', customer_id)}/tickets"
    typed = {"summary": "Wi-Fi drops in the meeting room", "description": "Since the AP firmware update."}
    done = ok(post(app, desk.tenant, raw, "/tickets", {
        "customer_id": pid(app, "customer", customer_id), **typed, "board": board.name, "priority": priority.name,
        "contact": contact.external_id,
    }))  # fmt: skip
    chosen = {"board_id": str(board.id), "priority_id": str(priority.id), "contact_id": str(contact.id)}
    answer = desk.tech.post(hub, data={**typed, **chosen, "csrf_token": csrf_token(desk.tech, hub)})
    assert answer.status_code == 302, answer.get_data(as_text=True)
    by_api, by_ui = rows(app, desk.tenant.id, "ticket.create", customer_id)[-2:]
    # Only what tells the two tickets apart differs: each one's number and row.
    made = [
        (row["payload"]["response"].pop("vendor"), row["payload"]["response"].pop("ticket_id"))
        for row in (by_api, by_ui)
    ]
    assert made[0][0] == {"id": done["number"]} and pid(app, "ticket", made[0][1]) == done["ticket_id"]
    assert made[1][0] != made[0][0] and made[1][1] != made[0][1]
    same_but_surface(by_api, by_ui)


def test_enabling_and_pausing_a_rule_are_audited_as_the_pages(app: Flask, desk: Desk) -> None:
    raw = token(app, desk)
    rule_id = a_rule(app, desk.tenant.id)  # paused
    page = f"/rules/{pid(app, 'rule', rule_id)}"
    ok(post(app, desk.tenant, raw, f"{page}/enable"))
    ui(desk, page, "pause", {})
    ui(desk, page, "enable", {})
    ok(post(app, desk.tenant, raw, f"{page}/pause"))
    ui(desk, page, "enable", {})
    ui(desk, page, "pause", {})
    enabled, paused = (
        rows(app, desk.tenant.id, "rule.enable", rule_id),
        rows(app, desk.tenant.id, "rule.pause", rule_id),
    )
    same_but_surface(enabled[0], enabled[1])
    same_but_surface(paused[1], paused[2])
