"""A dry run answers the exact requests an action would send to the vendor, and sends nothing (issue 19).

Each ConnectWise write is previewed, then done for real against the simulator over HTTP: the requests the
simulator received are the ones the preview showed (method, path, body), so the two cannot drift. While a preview
runs the simulator receives nothing at all. A verb that only writes Vectis's own tables says no vendor gets anything,
and no secret or credential appears in a preview or its audit row."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
from flask import Flask
from markupsafe import escape
from sqlalchemy import select

from jobs import rules as rules_job
from tests.conftest import MadeUser, TenantFixture, client_for, login, pid
from tests.test_api import make_token
from tests.vendors.support import Setup, add_connection, new_tenant, serve_app, sync
from tests.vendors.test_connectwise import a_failed_backup_alert, config
from vectis.actions import VERBS, Actor, Outcome, Target, perform
from vectis.actions.base import REDACTED, Applied, Context, Sending, Verb
from vectis.connectors.capabilities import Request
from vectis.models import AuditEntry, PsaMember, Role, Tenant, Ticket, TicketPriority, TicketStatus, User
from vectis.platform import db
from vectis.simulators.connectwise import DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY, ConnectWiseState, create_app
from vectis.tickets.verbs import NEW_TICKET, UNASSIGNED


@dataclass
class Desk:
    """A workspace of its own whose ConnectWise is the simulator, synced; Avery is the ConnectWise member with her
    e-mail (an admin), Robin has no member (a technician: what Robin writes is signed)."""

    state: ConnectWiseState
    setup: Setup
    tenant: TenantFixture
    users: dict[str, Actor]


@pytest.fixture(scope="module")
def desk(app: Flask) -> Iterator[Desk]:
    state = ConnectWiseState.seeded()
    for url in serve_app(create_app(state)):
        tenant_id = new_tenant(app)
        setup = add_connection(app, tenant_id, "connectwise", config(url))
        users, ids = {}, {}
        with app.app_context(), db.system_session() as s:
            slug = str(s.scalar(select(Tenant.slug).where(Tenant.id == tenant_id)))
            for name, email, role in (
                ("Avery Admin", "admin@acme.test", Role.ADMIN),
                ("Robin Newhire", "robin@acme.test", Role.TECHNICIAN),
            ):
                user = User(tenant_id=tenant_id, email=email, name=name, role=role.value)
                s.add(user)
                s.flush()
                users[name.split()[0]], ids[email] = Actor.for_user(user), user.id
        assert sync(app, setup).status == "succeeded"
        tenant = TenantFixture(tenant_id, slug, f"{slug}.localhost", "admin@acme.test", ids)
        yield Desk(state, setup, tenant, users)


RULE = Actor("rule", "0", "Rule “Dry runs” v1", Role.TECHNICIAN.value)


def act(
    app: Flask, desk: Desk, who: Actor, verb: str, target: Target, payload: dict[str, Any], *, dry: bool
) -> Outcome:
    with app.test_request_context(), db.tenant_session(desk.setup.tenant_id) as s:
        return perform(
            verb, target, payload, actor=who, surface="api", dry_run=dry, session=s, tenant_id=desk.setup.tenant_id
        )


def open_tickets(app: Flask, desk: Desk) -> list[Ticket]:
    with app.app_context(), db.tenant_session(desk.setup.tenant_id) as s:
        found = list(
            s.scalars(
                select(Ticket)
                .where(Ticket.closed.is_(False), Ticket.board_id.is_not(None), Ticket.customer_id.is_not(None))
                .order_by(Ticket.id)
            )
        )
        s.expunge_all()
        return found


def target_of(ticket: Ticket) -> Target:
    return Target("ticket", str(ticket.id), f"#{ticket.external_id}")


@dataclass(frozen=True)
class Case:
    who: str  # Avery, Robin, or "rule"
    verb: str
    target: Target
    payload: dict[str, Any]


def cases(app: Flask, desk: Desk) -> dict[str, Case]:
    """One action of each ConnectWise write, each on a ticket of its own."""
    tickets = iter(open_tickets(app, desk))
    with app.app_context(), db.tenant_session(desk.setup.tenant_id) as s:

        def other_status(ticket: Ticket) -> int:
            found = s.scalar(
                select(TicketStatus.id)
                .where(TicketStatus.board_id == ticket.board_id, TicketStatus.id != ticket.status_id)
                .where(TicketStatus.closed.is_(False))
                .order_by(TicketStatus.id)
            )
            assert found is not None
            return found

        def other_priority(ticket: Ticket) -> int:
            found = s.scalar(
                select(TicketPriority.id)
                .where(TicketPriority.external_id != ticket.priority_external_id)
                .order_by(TicketPriority.id)
            )
            assert found is not None
            return found

        def someone_else(ticket: Ticket) -> int:
            found = s.scalar(
                select(PsaMember.id)
                .where(PsaMember.inactive.is_(False), PsaMember.external_id != ticket.assignee_external_id)
                .order_by(PsaMember.id)
            )
            assert found is not None
            return found

        reply, note, attached, moved, assigned, priority = (next(tickets) for _ in range(6))
        owned = next(t for t in tickets if t.assignee_external_id)
        board, customer = owned.board_id, owned.customer_id
        opening = {"summary": "Laptop for the new starter", "board_id": board, "description": "Dell 7440, 16 GB."}
        made = {
            "reply signed, with a status change": Case(
                "Robin", "ticket.reply", target_of(reply), {"text": "On it today.", "status_id": other_status(reply)}
            ),
            "internal note as the member": Case(
                "Avery", "ticket.reply", target_of(note), {"text": "Checked the NAS logs.", "internal": True}
            ),
            "reply with an attachment": Case(
                "Robin",
                "ticket.reply",
                target_of(attached),
                {
                    "text": "The log you asked for.",
                    "attachment_name": "nas.log",
                    "attachment_content": base64.b64encode(b"disk 2: SMART warning\n" * 40).decode(),
                },
            ),
            "status change": Case(
                "Robin", "ticket.update_status", target_of(moved), {"status_id": other_status(moved)}
            ),
            "assign": Case("Robin", "ticket.assign", target_of(assigned), {"member_id": someone_else(assigned)}),
            "unassign": Case("Robin", "ticket.assign", target_of(owned), {"member_id": UNASSIGNED}),
            "priority": Case(
                "Robin", "ticket.set_priority", target_of(priority), {"priority_id": other_priority(priority)}
            ),
        }
        s.expunge_all()
    customer_target = Target("customer", str(customer), "A customer")
    made["new ticket, signed"] = Case("Robin", "ticket.create", customer_target, opening)
    made["new ticket by a rule"] = Case("rule", "ticket.create", customer_target, {**opening, "summary": "From a rule"})
    made["new ticket as the member"] = Case(
        "Avery", "ticket.create", customer_target, {**opening, "summary": "Avery's"}
    )
    alert_id, _, _ = a_failed_backup_alert(app, desk.setup)
    made["alert opened as a ticket"] = Case("Robin", "alert.open_ticket", Target("alert", str(alert_id), "FS01"), {})
    made["instant updates"] = Case(  # last: from now on the simulator calls this address back on every change
        "Avery",
        "integration.instant_updates",
        Target("integration", "connectwise", "ConnectWise"),
        {"url": "http://127.0.0.1:9/webhooks/dry-run"},
    )
    return made


# Verbs whose vendor is not ConnectWise: their previews are compared with what that vendor's simulator received there.
ELSEWHERE = {
    "alert.resolve": "tests/vendors/test_ninjaone_alerts.py (NinjaOne's reset)",
    **dict.fromkeys(
        ("detection.isolate", "detection.release", "detection.resolve", "detection.false_positive"),
        "tests/vendors/test_sentinelone.py (SentinelOne's response actions)",
    ),
    **dict.fromkeys(
        ("license.adjust_seats", "license.create_quote"), "tests/test_licensing.py (Pax8's seat change and quote)"
    ),
    **dict.fromkeys(
        ("portal.ticket_comment", "portal.ticket_create", "portal.ticket_resolve"),
        "tests/test_portal.py (a portal user's writes to the PSA)",
    ),
}


def writes(state: ConnectWiseState, since: int) -> list[tuple[str, str, Any]]:
    """(method, path, body) of each write the simulator received after the first ``since`` requests."""
    return [(r["method"], r["path"], r["body"]) for r in state.received()[since:] if r["method"] != "GET"]


def test_it_previews_exactly_the_requests_each_connectwise_write_sends_and_calls_nothing(
    app: Flask, desk: Desk
) -> None:
    made = cases(app, desk)
    previewing = {name for name, verb in VERBS.items() if type(verb).would_send is not Verb.would_send}
    assert {case.verb for case in made.values()} == previewing - set(ELSEWHERE), (
        "every verb that reaches a vendor is compared here, or in its vendor's tests"
    )
    for name, case in made.items():
        who = RULE if case.who == "rule" else desk.users[case.who]
        before, total = len(desk.state.received()), desk.state.stats()["total"]
        preview = act(app, desk, who, case.verb, case.target, case.payload, dry=True)
        assert preview.result == "dry_run" and preview.preview is not None, (name, preview.message)
        assert len(desk.state.received()) == before and desk.state.stats()["total"] == total, f"{name}: sent"
        shown = preview.preview.requests
        assert shown, (name, preview.message)
        assert all(r["vendor"] == "ConnectWise" for r in shown), name

        done = act(app, desk, who, case.verb, case.target, case.payload, dry=False)
        assert done.result == "ok", (name, done.message)
        sent = writes(desk.state, before)
        if case.who == "Avery" and case.verb == "ticket.create":
            # The note follows the new ticket: only ConnectWise's answer tells its number, a placeholder before.
            number = str(done.response["vendor"]["id"])
            assert shown[1]["path"].endswith(f"/service/tickets/{NEW_TICKET}/notes")
            assert shown[1]["unknown"].startswith(f"{NEW_TICKET} stands for the number ConnectWise gives")
            shown = [shown[0], {**shown[1], "path": shown[1]["path"].replace(NEW_TICKET, number)}]
        assert [(r["method"], r["path"], r["body"]) for r in shown] == sent, name


def test_the_preview_names_the_member_and_signs_as_the_send_does(app: Flask, desk: Desk) -> None:
    ticket = open_tickets(app, desk)[-1]
    said = {"text": "Swapping the fuser."}
    as_avery = act(app, desk, desk.users["Avery"], "ticket.reply", target_of(ticket), said, dry=True)
    as_robin = act(app, desk, desk.users["Robin"], "ticket.reply", target_of(ticket), said, dry=True)
    assert as_avery.preview is not None and as_robin.preview is not None
    [member] = as_avery.preview.requests or []
    [signed] = as_robin.preview.requests or []
    assert member["method"] == "POST" and member["path"] == (
        f"/v4_6_release/apis/3.0/service/tickets/{ticket.external_id}/notes"
    )
    assert member["body"]["text"] == "Swapping the fuser." and "id" in member["body"]["member"]
    assert "if ConnectWise refuses notes written as its members" in member["unknown"]
    assert signed["body"] == {
        "text": "Swapping the fuser.\n\n— Robin Newhire via Vectis",
        "detailDescriptionFlag": True,
        "internalAnalysisFlag": False,
    }
    assert signed["unknown"] is None
    assert as_robin.message == (
        "Dry run: nothing was sent. ConnectWise would get "
        f"POST /v4_6_release/apis/3.0/service/tickets/{ticket.external_id}/notes."
    )


def test_the_api_answers_the_request_in_would_send_and_audits_it(app: Flask, desk: Desk) -> None:
    ticket = open_tickets(app, desk)[-1]
    raw = make_token(app, desk.tenant, scopes=("read", "write:tickets"))
    client = client_for(app, desk.tenant)
    before = len(desk.state.received())
    answer = client.post(
        f"/api/v1/tickets/{pid(app, 'ticket', ticket.id)}/reply?dry_run=true",
        json={"text": "On it.", "internal": True},
        headers={"Authorization": f"Bearer {raw}"},
    )
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert len(desk.state.received()) == before  # nothing reached ConnectWise
    assert body["result"] == "dry_run"
    path = f"/v4_6_release/apis/3.0/service/tickets/{ticket.external_id}/notes"
    assert body["would_send"]["verb"] == "ticket.reply"
    assert body["would_send"]["payload"] == {"text": "On it.", "internal": True}
    [request] = body["would_send"]["requests"]
    assert (request["vendor"], request["method"], request["path"]) == ("ConnectWise", "POST", path)
    assert request["body"]["text"] == "On it." and request["body"]["internalAnalysisFlag"] is True
    with app.app_context(), db.tenant_session(desk.setup.tenant_id) as s:
        row = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "ticket.reply").order_by(AuditEntry.seq.desc()).limit(1)
        ).one()
        assert (row.action, row.result, row.surface) == ("ticket.reply", "dry_run", "api")
        assert row.payload["would_send"] == body["would_send"]["requests"]


def test_a_verb_that_reaches_no_vendor_says_so(app: Flask, desk: Desk) -> None:
    raw = make_token(app, desk.tenant, scopes=("read", "write:tickets"))
    client = client_for(app, desk.tenant)
    customer = open_tickets(app, desk)[0].customer_id
    answer = client.post(
        f"/api/v1/customers/{pid(app, 'customer', customer)}/notes?dry_run=true",
        json={"body": "Called their CIO."},
        headers={"Authorization": f"Bearer {raw}"},
    )
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["result"] == "dry_run"
    assert "Nothing goes to a vendor: Vectis records it itself." in body["message"]
    assert body["would_send"]["requests"] is None and body["would_send"]["payload"]["body"] == "Called their CIO."


def test_a_preview_says_why_nothing_would_be_sent(app: Flask, desk: Desk) -> None:
    ticket = open_tickets(app, desk)[-1]
    robin, target = desk.users["Robin"], target_of(ticket)
    before = len(desk.state.received())
    empty = act(app, desk, robin, "ticket.reply", target, {"text": "  "}, dry=True)
    assert empty.result == "dry_run" and empty.preview is not None and empty.preview.requests == []
    assert empty.message == "Dry run: nothing was sent, and it would not go as it is: Write the reply first."
    already = act(app, desk, robin, "ticket.update_status", target, {"status_id": ticket.status_id}, dry=True)
    assert already.preview is not None and already.preview.requests == []
    assert already.message.startswith("Dry run: Already ") and "nothing was sent to ConnectWise" in already.message
    assert len(desk.state.received()) == before


class Vault(Verb):
    """A vendor write whose body carries a secret of its payload, to prove a preview redacts it wherever it is."""

    name = "test.vault"
    label = "Store a secret at the vendor"
    target_type = "device"
    roles: ClassVar = frozenset({Role.ADMIN})
    secret_fields = frozenset({"password"})

    def would_send(self, ctx: Context, target: Target, payload: dict[str, Any]) -> list[Sending]:
        body = {"user": "svc-backup", "password": payload["password"], "note": f"was {payload['password']}"}
        return [Sending("Vault", Request("PUT", f"/devices/{target.id}/credentials", body, retry=True))]

    def apply(self, ctx: Context, target: Target, payload: dict[str, Any]) -> Applied:
        raise AssertionError("a dry run never applies")


@pytest.fixture
def vault_verb() -> Iterator[None]:
    VERBS[Vault.name] = Vault()
    yield
    del VERBS[Vault.name]


def audited(app: Flask, desk: Desk, audit_id: int | None) -> str:
    with app.app_context(), db.tenant_session(desk.setup.tenant_id) as s:
        row = s.get(AuditEntry, audit_id)
        assert row is not None
        return json.dumps(row.payload)


def test_a_preview_never_shows_a_secret_or_a_credential(app: Flask, desk: Desk, vault_verb: None) -> None:
    secret = "hunter2-correct-horse"
    vault = act(
        app, desk, desk.users["Avery"], "test.vault", Target("device", "d-1", "fs01"), {"password": secret}, dry=True
    )
    assert vault.preview is not None and vault.preview.requests is not None
    [request] = vault.preview.requests
    assert request["body"] == {"user": "svc-backup", "password": REDACTED, "note": f"was {REDACTED}"}
    assert secret not in json.dumps(vault.preview.requests) and secret not in audited(app, desk, vault.audit_id)

    ticket = open_tickets(app, desk)[-1]
    content = base64.b64encode(b"confidential backup log\n" * 30).decode()
    payload = {"text": "Attached.", "attachment_name": "backup.log", "attachment_content": content}
    reply = act(app, desk, desk.users["Robin"], "ticket.reply", target_of(ticket), payload, dry=True)
    assert reply.preview is not None and reply.preview.requests is not None
    upload = reply.preview.requests[0]
    assert (upload["method"], upload["path"]) == ("POST", "/v4_6_release/apis/3.0/system/documents")
    assert upload["body"] == {
        "recordType": "Ticket",
        "recordId": ticket.external_id,
        "title": "backup.log",
        "file": {"name": "backup.log", "bytes": len(b"confidential backup log\n" * 30)},
    }
    shown = json.dumps(reply.preview.requests) + audited(app, desk, reply.audit_id)
    # Neither the file's bytes nor ConnectWise's keys, nor its auth header, go into what a dry run shows or keeps.
    for never in (content, "confidential", DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY, "Authorization", "Basic "):
        assert never not in shown, never


def test_a_dry_run_rules_history_shows_the_request_each_action_would_send(
    app: Flask, desk: Desk, make_user: Callable[..., MadeUser]
) -> None:
    definition = {
        "trigger": "ticket.status_changed",
        "conditions": {"type": "group", "match": "all", "items": []},
        "actions": [
            {"type": "add_ticket_note", "params": {"text": "Now {ticket.status}: we are on it.", "internal": True}},
            {"type": "create_alert", "params": {"severity": "info", "message": "{title}"}},
        ],
        "cooldown_minutes": 0,
    }
    admin = desk.users["Avery"]
    created = act(app, desk, admin, "rule.create", Target("rule", None, "Moved"), {"name": "Moved", "definition": definition}, dry=False)  # fmt: skip
    assert created.ok, created.message
    ticket = open_tickets(app, desk)[1]
    with app.app_context(), db.tenant_session(desk.setup.tenant_id) as s:
        status = s.scalars(
            select(TicketStatus).where(
                TicketStatus.board_id == ticket.board_id,
                TicketStatus.id != ticket.status_id,
                TicketStatus.closed.is_(False),
            )
        ).first()
        assert status is not None
        status_id, status_name = status.id, status.name
    moved = act(app, desk, admin, "ticket.update_status", target_of(ticket), {"status_id": status_id}, dry=False)
    assert moved.ok, moved.message
    with app.app_context():
        rules_job.refresh(desk.setup.tenant_id)

    before = len(desk.state.received())
    page = login(app, desk.tenant, make_user(desk.tenant, "technician").email)
    html = page.get(f"/rules/{pid(app, 'rule', int(created.response['rule_id']))}").get_data(as_text=True)
    assert len(desk.state.received()) == before  # showing it calls no vendor
    fire = next(f for f in html.split('data-testid="fire"')[1:] if f"#{ticket.external_id}" in f)
    path = f"/v4_6_release/apis/3.0/service/tickets/{ticket.external_id}/notes"
    assert f'<span class="muted">ConnectWise would get</span> <code>POST {path}</code>' in fire
    body = {
        "text": f"Now {status_name}: we are on it.",
        "detailDescriptionFlag": False,
        "internalAnalysisFlag": True,
    }
    assert escape(json.dumps(body, indent=2, ensure_ascii=False)) in fire  # the body as it would go, as a rule writes
    assert "Nothing goes to a vendor: Vectis records it itself." in fire  # the alert is Vectis's own
