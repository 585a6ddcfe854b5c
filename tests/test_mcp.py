"""The MCP endpoint with the official SDK client over real HTTP: the tool list follows the token's scopes, tools
answer from the token's own workspace, a write tool previews by default and acts only when told, every call is
audited, and a token of another workspace is refused."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx2
import pytest
from flask import Flask
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from sqlalchemy import func, select

from tests import test_ticket_writes
from tests.conftest import TenantFixture, a_customer, an_alert, client_for, pid, serving
from tests.query_world import MARK, world
from tests.test_api import calls_of, make_token
from tests.test_api_writes import post, sent, token
from tests.test_ticket_writes import Desk
from vectis.identity import tokens
from vectis.models import Alert, AuditEntry, Customer, CustomerNote, Ticket
from vectis.platform import db

desk = test_ticket_writes.desk  # the fixture: a workspace of its own, its ConnectWise the simulator


@pytest.fixture(scope="module")
def served(app: Flask) -> Iterator[int]:
    with serving(app) as port:
        yield port


def session(port: int, tenant: TenantFixture, raw: str, work: Callable[[Client], Awaitable[Any]]) -> Any:
    """One client session, as Claude Desktop or any streamable-HTTP client opens one (to 127.0.0.1 with the
    workspace's Host: *.localhost does not resolve everywhere)."""

    async def run() -> Any:
        headers = {"Authorization": f"Bearer {raw}", "Host": f"{tenant.host}:{port}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=20) as http,
            Client(streamable_http_client(f"http://127.0.0.1:{port}/api/mcp", http_client=http)) as client,
        ):
            return await work(client)

    # On a thread of its own: a worker that has run the browser tests holds Playwright's event loop on this one.
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, run()).result()


def _keys(value: Any) -> set[str]:
    """Every key of a JSON value, at any depth."""
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


def test_a_read_only_token_sees_no_write_tool_and_lists_its_own_alerts(
    app: Flask, served: int, acme: TenantFixture, northwind: TenantFixture
) -> None:
    world(app, northwind.id, secret=True)
    world(app, acme.id)
    alert = an_alert(app, acme.id)
    raw = make_token(app, acme)  # read only

    async def work(client: Client) -> Any:
        names = sorted(t.name for t in (await client.list_tools()).tools)
        alerts = await client.call_tool("list_alerts", {"status": "open", "limit": 200})
        hidden = await client.call_tool("resolve_alert", {"alert_id": pid(app, "alert", alert), "preview": False})
        return names, alerts, hidden

    names, alerts, hidden = session(served, acme, raw, work)
    assert names == [
        "get_customer", "get_detection", "get_device", "get_m365_posture", "get_new_ticket_choices", "get_rule",
        "get_subscription", "get_ticket", "get_ticket_choices", "get_timeline", "list_alerts", "list_backups",
        "list_contracts", "list_customer_links", "list_customers", "list_detections", "list_devices", "list_notes", "list_rules",
        "list_saved_queries", "list_subscriptions", "list_tickets", "run_saved_query",
    ]  # fmt: skip
    assert not alerts.is_error
    items = alerts.structured_content["data"]
    assert items and {"title", "customerName", "severity"} <= set(items[0])
    # A client that reads only text (an older one) gets the same answer, as JSON.
    assert json.loads(alerts.content[0].text) == alerts.structured_content
    assert pid(app, "alert", alert) in {a["id"] for a in items}
    assert all("Secret" not in str(a["customerName"]) for a in items)
    assert hidden.is_error and hidden.content[0].text == "Unknown tool: resolve_alert"
    with app.app_context(), db.tenant_session(acme.id) as s:
        assert s.scalar(select(Alert.state).where(Alert.id == alert)) == "open"
        row = s.execute(
            select(AuditEntry.surface, AuditEntry.payload)
            .where(AuditEntry.action == "mcp.list_alerts")
            .order_by(AuditEntry.seq.desc())
        ).first()
    assert row is not None and row.surface == "mcp" and row.payload["arguments"]["status"] == "open"


def test_a_write_tool_previews_by_default_and_acts_when_told(app: Flask, served: int, acme: TenantFixture) -> None:
    alert = an_alert(app, acme.id)
    raw = make_token(app, acme, scopes=("read", "write:alerts"))
    target = pid(app, "alert", alert)

    async def work(client: Client) -> Any:
        preview = await client.call_tool("acknowledge_alert", {"alert_id": target})
        done = await client.call_tool("acknowledge_alert", {"alert_id": target, "preview": False})
        missing = await client.call_tool("acknowledge_alert", {"alert_id": "alr_0000000000000", "preview": False})
        return preview, done, missing

    preview, done, missing = session(served, acme, raw, work)
    assert preview.structured_content["result"] == "dry_run" and done.structured_content["result"] == "ok"
    assert missing.is_error and "No such alert" in missing.content[0].text
    with app.app_context(), db.tenant_session(acme.id) as s:
        assert s.scalar(select(Alert.state).where(Alert.id == alert)) == "acknowledged"
        surfaces = s.scalars(
            select(AuditEntry.surface).where(AuditEntry.action == "alert.acknowledge", AuditEntry.target_id == str(alert))
            .order_by(AuditEntry.seq)
        ).all()  # fmt: skip
    assert surfaces == ["mcp", "mcp"]  # the dry run and the act, each through the one write path


def test_a_saved_query_runs_as_a_tool(app: Flask, served: int, acme: TenantFixture) -> None:
    world(app, acme.id)
    raw = make_token(app, acme)

    async def work(client: Client) -> Any:
        listed = await client.call_tool("list_saved_queries", {"q": "renewals"})
        first = listed.structured_content["data"][0]["id"]
        return await client.call_tool("run_saved_query", {"saved_query_id": first, "limit": 1000})

    ran = session(served, acme, raw, work)
    assert not ran.is_error, ran.content
    rows = ran.structured_content["rows"]
    assert [row[2:] for row in rows if row[0] == MARK + "Aldridge & Co."] == [[12, "4200.00"]]
    with app.app_context(), db.tenant_session(acme.id) as s:
        run = s.scalar(
            select(AuditEntry.surface).where(AuditEntry.action == "query.run").order_by(AuditEntry.seq.desc())
        )
        call = s.scalar(
            select(AuditEntry.payload).where(AuditEntry.action == "mcp.run_saved_query").order_by(AuditEntry.seq.desc())
        )
    # The query's own row says where it was run from; the call's row says which query (its public id).
    assert run == "mcp"
    assert call is not None and call["arguments"]["saved_query_id"].startswith("qry_")


def test_a_call_from_another_sites_page_or_to_no_workspace_is_refused(app: Flask, acme: TenantFixture) -> None:
    """A browser page elsewhere that holds a token still cannot call: its Origin is not the workspace's. A host that
    names no workspace finds nothing to call."""
    raw = make_token(app, acme)
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"Authorization": f"Bearer {raw}", "Accept": "application/json, text/event-stream"}
    client = client_for(app, acme)

    def post(origin: str) -> Any:
        # On a thread of its own, as a server's: this one may hold another test's event loop (the browser's).
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(client.post, "/api/mcp", json=body, headers={**headers, "Origin": origin}).result()

    theirs = post("https://evil.example")
    assert theirs.status_code == 403 and "another site" in theirs.get_json()["detail"]
    ours = post(f"http://{acme.host}")
    assert ours.status_code == 200 and ours.get_json()["result"]["tools"]
    nowhere = app.test_client().post("/api/mcp", json=body, headers={**headers, "Host": "no-such-workspace.localhost"})
    assert nowhere.status_code == 404


def test_a_refused_tool_call_is_audited_with_what_was_wrong(app: Flask, served: int, acme: TenantFixture) -> None:
    raw = make_token(app, acme)  # read only: the write tools are hidden from it
    prefix = tokens.shown(raw)

    async def work(client: Client) -> Any:
        hidden = await client.call_tool("acknowledge_alert", {"alert_id": "alr_0000000000000", "preview": False})
        missing = await client.call_tool("get_customer", {"customer_id": "cus_0000000000000"})
        too_many = await client.call_tool("list_customers", {"limit": 5000})
        return hidden, missing, too_many

    hidden, missing, too_many = session(served, acme, raw, work)
    assert hidden.is_error and missing.is_error and too_many.is_error
    rows = calls_of(app, acme.id, prefix)
    assert [(r.action, r.result) for r in rows] == [
        ("mcp.unknown_tool", "blocked"), ("mcp.get_customer", "failed"), ("mcp.list_customers", "failed"),
    ]  # fmt: skip
    assert rows[2].payload["arguments"] == {"given": ["limit"]}
    assert rows[0].target_label == "acknowledge_alert"
    assert rows[1].payload["arguments"] == {"customer_id": "cus_0000000000000"}


def test_a_token_of_another_workspace_is_refused(
    app: Flask, served: int, acme: TenantFixture, northwind: TenantFixture
) -> None:
    raw = make_token(app, acme)
    with pytest.raises(BaseException) as refused:
        session(served, northwind, raw, lambda client: client.list_tools())
    leaves = [repr(leaf) for leaf in _leaves(refused.value)]
    assert any("belongs to another workspace" in leaf for leaf in leaves), leaves


def test_a_note_through_mcp_is_previewed_then_written(app: Flask, served: int, acme: TenantFixture) -> None:
    raw = make_token(app, acme, scopes=("read", "write:tickets"))
    customer = pid(app, "customer", a_customer(app, acme.id))
    words = f"Spoke to their office manager {uuid.uuid4().hex[:6]}"

    async def work(client: Client) -> Any:
        names = {t.name for t in (await client.list_tools()).tools}
        preview = await client.call_tool("add_note", {"customer_id": customer, "body": words})
        done = await client.call_tool("add_note", {"customer_id": customer, "body": words, "preview": False})
        return names, preview, done

    names, preview, done = session(served, acme, raw, work)
    assert {"add_note", "reply_to_ticket"} <= names and "acknowledge_alert" not in names
    assert preview.structured_content["result"] == "dry_run" and done.structured_content["result"] == "ok"
    with app.app_context(), db.tenant_session(acme.id) as s:
        assert s.scalar(select(func.count()).select_from(CustomerNote).where(CustomerNote.body == words)) == 1
        call = s.scalar(
            select(AuditEntry.payload).where(AuditEntry.action == "mcp.add_note").order_by(AuditEntry.seq.desc())
        )
    # The call's row names the customer and redacts the note's words; the note's own row (the verb's) holds them.
    assert call is not None and call["arguments"] == {"customer_id": customer, "body": "[redacted]", "preview": "False"}
    with app.app_context(), db.tenant_session(acme.id) as s:
        written = s.scalar(
            select(AuditEntry.payload).where(AuditEntry.surface == "mcp", AuditEntry.action == "note.create")
            .order_by(AuditEntry.seq.desc())
        )  # fmt: skip
    assert written is not None and written["request"]["body"] == words


def test_tickets_timeline_and_backups_read_as_tools(app: Flask, served: int, acme: TenantFixture) -> None:
    customer = pid(app, "customer", a_customer(app, acme.id))
    raw = make_token(app, acme)

    async def work(client: Client) -> Any:
        tickets = await client.call_tool("list_tickets", {"customer_id": customer})
        ticket = await client.call_tool("get_ticket", {"ticket_id": tickets.structured_content["data"][0]["id"]})
        timeline = await client.call_tool("get_timeline", {"customer_id": customer, "limit": 5})
        backups = await client.call_tool("list_backups", {"customer_id": customer})
        wrong = await client.call_tool("list_backups", {"state": "on fire"})
        return tickets, ticket, timeline, backups, wrong

    tickets, ticket, timeline, backups, wrong = session(served, acme, raw, work)
    # Other tests may add tickets to the shared customer: its own is among them, and only its customer's are.
    listed = tickets.structured_content["data"]
    assert "Printer offline" in [t["summary"] for t in listed] and {t["customerId"] for t in listed} == {customer}
    assert ticket.structured_content["summary"] == listed[0]["summary"] and not ticket.is_error
    assert not timeline.is_error and "data" in timeline.structured_content
    assert [b["name"] for b in backups.structured_content["data"]] == ["FS01 Daily"]
    assert wrong.is_error and "state" in wrong.content[0].text


def test_create_ticket_previews_without_calling_the_psa_then_creates_it_there(
    app: Flask, served: int, desk: Desk
) -> None:
    """The write tool a client reaches for first, against ConnectWise simulated over loopback: a preview sends
    nothing to the PSA; told to act, the ticket is made there, and the call leaves the verb's audit row (surface
    ``mcp``) and the call's own."""
    raw = token(app, desk)
    with app.app_context(), db.tenant_session(desk.tenant.id) as s:
        customer = s.scalar(select(Customer).join(Ticket, Ticket.customer_id == Customer.id).limit(1))
        assert customer is not None
        customer_id = pid(app, "customer", customer.id)
    summary = f"Scanner jams on every page {uuid.uuid4().hex[:6]}"
    arguments = {"customer_id": customer_id, "summary": summary, "priority": "Priority 2 - High"}

    async def work(client: Client) -> Any:
        names = {t.name for t in (await client.list_tools()).tools}
        before = (sent(desk), len(desk.state.tickets))
        preview = await client.call_tool("create_ticket", arguments)
        after_preview = (sent(desk), len(desk.state.tickets))
        done = await client.call_tool("create_ticket", {**arguments, "preview": False})
        return names, before, preview, after_preview, done

    names, before, preview, after_preview, done = session(served, desk.tenant, raw, work)
    assert {"create_ticket", "set_ticket_status", "enable_rule"} <= names
    assert not preview.is_error and preview.structured_content["result"] == "dry_run"
    assert after_preview == before  # no request reached the PSA
    assert not done.is_error and done.structured_content["result"] == "ok", done.content
    made = desk.state.tickets[int(done.structured_content["number"])]
    assert made.summary == summary and made.priority_id == 2
    with app.app_context(), db.tenant_session(desk.tenant.id) as s:
        audited = s.execute(
            select(AuditEntry.action, AuditEntry.surface, AuditEntry.result)
            .where(AuditEntry.action.in_(["ticket.create", "mcp.create_ticket"]))
            .order_by(AuditEntry.seq)
        ).all()
    assert [tuple(row) for row in audited] == [
        ("ticket.create", "mcp", "dry_run"),
        ("mcp.create_ticket", "mcp", "ok"),
        ("ticket.create", "mcp", "ok"),
        ("mcp.create_ticket", "mcp", "ok"),
    ]
    # The preview is the REST dry run's, its own fields in camelCase: what would go to ConnectWise keeps its keys.
    rest = post(app, desk.tenant, raw, "/tickets?dry_run=true", {**arguments, "customer_id": customer_id}).get_json()
    assert preview.structured_content["wouldSend"]["requests"] == rest["would_send"]["requests"]
    assert any("_" in key for key in _keys(rest["would_send"])), "no snake_case key inside: this proves nothing"
    assert preview.structured_content["wouldSend"]["payload"] == rest["would_send"]["payload"]


def test_clients_at_once_each_get_their_own_answer(
    app: Flask, served: int, acme: TenantFixture, northwind: TenantFixture
) -> None:
    """Each request runs the SDK on a loop of its own (a lane) on its own thread: calls at once, from two workspaces,
    neither wait on each other's loop nor see each other's workspace."""
    world(app, northwind.id, secret=True)
    world(app, acme.id)
    tokens_of = {acme.slug: make_token(app, acme), northwind.slug: make_token(app, northwind)}

    async def names(client: Client) -> set[str]:
        found = await client.call_tool("list_customers", {"limit": 200})
        return {c["name"] for c in found.structured_content["data"]}

    with ThreadPoolExecutor(max_workers=6) as pool:
        runs = [(t, pool.submit(session, served, t, tokens_of[t.slug], names)) for t in (acme, northwind) * 3]
        seen = [(t, run.result(timeout=60)) for t, run in runs]
    for tenant, customers in seen:
        secret = any("Secret" in name for name in customers)
        assert customers and secret == (tenant is northwind), (tenant.slug, sorted(customers)[:5])


def test_a_nul_character_in_an_argument_is_refused_in_words(app: Flask, served: int, acme: TenantFixture) -> None:
    """As for the REST API: PostgreSQL holds no NUL, and the audit row of the call would fail on it."""
    customer = pid(app, "customer", a_customer(app, acme.id))
    raw = make_token(app, acme, scopes=("read", "write:tickets"))

    async def work(client: Client) -> Any:
        return await client.call_tool("add_note", {"customer_id": customer, "body": "D\x00b"})

    refused = session(served, acme, raw, work)
    assert refused.is_error and "NUL" in refused.content[0].text
