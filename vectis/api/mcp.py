"""The MCP endpoint (``POST /api/mcp``): the REST API's operations as Model Context Protocol tools, for any MCP client
(Claude Desktop, Cursor, your own). Vectis never calls a model: the protocol is the product.

Served by the official SDK (``MCPServer``, streamable HTTP, stateless, JSON answers) inside the Flask request, on the
workspace's own host (``docs/design/mcp-in-flask.md`` says how and why): the API's own token check, rate limit and
refusal audit run first, then the view hands the request to the SDK's ASGI app. Each tool runs the same handler as
its REST operation, in the view's Flask context, so the tenant comes from the host and the token only, never from a
tool argument. The tool list a client sees holds only what its token's scopes allow; every write tool takes
``preview`` (default true), which answers what would be done and does nothing. Every tool call is audited (surface
``mcp``, the token's first characters, the arguments).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from a2wsgi import ASGIMiddleware
from flask import Blueprint, Flask, g, request
from mcp.server import MCPServer
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import CallToolResult, ListToolsResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field, ValidationError
from werkzeug.wrappers import Response

from vectis.actions.resources import OPERATIONS, ActionQuery, Call, NotFound, Problem
from vectis.audit import writer as audit
from vectis.audit.actors import Actor, Target
from vectis.identity import tokens
from vectis.platform import db, public_ids
from vectis.platform.errors import problem_response

_VIEW_CONTEXT = "vectis.mcp.view_context"  # the WSGI environ key carrying the view's contextvars
_PRINCIPAL = "vectis.mcp.principal"
_view_context: contextvars.ContextVar[contextvars.Context | None] = contextvars.ContextVar("mcp_view", default=None)
_ID = re.compile(r"\{([a-z_]+)_id\}")


@dataclass(frozen=True)
class ToolSpec:
    name: str
    scope: str
    writes: bool


TOOLS: dict[str, ToolSpec] = {}


def _camel(value: Any) -> Any:
    """MCP clients read camelCase (``customerName``); the REST API answers snake_case from the same models."""
    if isinstance(value, dict):
        return {re.sub(r"_([a-z])", lambda m: m.group(1).upper(), k): _camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


def _in_view(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run a tool inside the view's own Flask context (its ``g.tenant``, ``g.api_principal`` and session): the view's
    thread waits for the tool's answer, so the two never use them at once."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        captured = _view_context.get()
        if captured is None:
            raise ToolError("Call this tool through /api/mcp with a personal access token.")
        return captured.copy().run(fn, *args, **kwargs)

    return wrapper


def _invoke(tool: str, operation: str, arguments: dict[str, Any], *, preview: bool | None = None) -> dict[str, Any]:
    """Run REST operation ``operation`` for MCP tool ``tool``: the same validation, handler and audit."""
    op = next(o for o in OPERATIONS if o.name == operation)
    principal: tokens.Principal = g.api_principal
    ids: dict[str, int] = {}
    for kind in _ID.findall(op.path):
        key = public_ids.decode(kind, arguments.pop(f"{kind}_id", None))
        if key is None:
            raise ToolError(f"No such {kind}.")
        ids[f"{kind}_id"] = key
    given = {k: v for k, v in arguments.items() if v is not None}
    try:
        query = op.query.model_validate(given if op.body is None else {}) if op.query else None
        if preview is not None:
            query = ActionQuery(dry_run=preview)
        body = op.body.model_validate(given) if op.body else None
    except ValidationError as error:
        raise ToolError("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())) from None
    session = db.session()
    actor = Actor("user", str(principal.user_id), principal.email, principal.role)
    try:
        result: BaseModel = op.handler(Call(session, actor, g.tenant.id, query, body, surface="mcp"), **ids)
    except (NotFound, Problem) as error:
        session.commit()
        raise ToolError(str(error)) from None
    audit.record(
        session,
        tenant_id=g.tenant.id,
        actor=actor,
        surface="mcp",
        action=f"mcp.{tool}",
        target=Target("mcp", None, tool),
        result="ok",
        payload={"token": principal.prefix, "arguments": {k: str(v)[:200] for k, v in arguments.items()}},
    )
    session.commit()
    answer: dict[str, Any] = _camel(result.model_dump(mode="json"))
    return answer


def _register(server: MCPServer, name: str, scope: str, fn: Callable[..., Any], *, writes: bool = False) -> None:
    TOOLS[name] = ToolSpec(name, scope, writes)
    hints = ToolAnnotations(read_only_hint=not writes, destructive_hint=False, idempotent_hint=True)
    server.tool(name=name, annotations=hints)(_in_view(fn))


Limit = Annotated[int, Field(ge=1, le=200, description="Items on this page")]
Cursor = Annotated[str | None, Field(description="The nextCursor of the page before")]


def list_customers(q: str | None = None, limit: Limit = 50, cursor: Cursor = None) -> dict[str, Any]:
    """The workspace's customers (name, sites, contact, tags), by name words."""
    return _invoke("list_customers", "list_customers", {"q": q, "limit": limit, "cursor": cursor})


def get_customer(customer_id: Annotated[str, Field(description="A public id, cus_…")]) -> dict[str, Any]:
    """One customer."""
    return _invoke("get_customer", "get_customer", {"customer_id": customer_id})


def list_alerts(
    severity: Literal["critical", "warning", "info"] | None = None,
    status: Literal["open", "acknowledged", "muted", "resolved"] | None = None,
    customer_id: str | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Alerts newest first: each with its title, customerName, severity, status and source."""
    arguments = {"severity": severity, "status": status, "customer_id": customer_id, "limit": limit, "cursor": cursor}
    return _invoke("list_alerts", "list_alerts", arguments)


def list_tickets(  # the SDK passes a tool's arguments by name
    *,
    status: Annotated[str | None, Field(description="The status's exact name")] = None,
    closed: Annotated[bool | None, Field(description="Only closed (true) or open (false) tickets")] = None,
    customer_id: Annotated[str | None, Field(description="Only this customer's tickets (cus_…)")] = None,
    assignee: str | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """PSA tickets, most recently updated first."""
    arguments = {"status": status, "closed": closed, "customer_id": customer_id, "assignee": assignee}
    return _invoke("list_tickets", "list_tickets", {**arguments, "limit": limit, "cursor": cursor})


def get_ticket(ticket_id: Annotated[str, Field(description="A public id, tkt_…")]) -> dict[str, Any]:
    """One ticket with its thread (internal notes flagged), newest last."""
    return _invoke("get_ticket", "get_ticket", {"ticket_id": ticket_id})


def get_timeline(
    customer_id: Annotated[str, Field(description="A public id, cus_…")],
    *,
    since: Annotated[str | None, Field(description="At or after this moment (ISO 8601)")] = None,
    until: Annotated[str | None, Field(description="Before this moment (ISO 8601)")] = None,
    source: Annotated[str | None, Field(description="Only this tool's events")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """A customer's merged timeline across every tool and the team's notes, newest first."""
    arguments = {"customer_id": customer_id, "since": since, "until": until, "source": source}
    return _invoke("get_timeline", "customer_timeline", {**arguments, "limit": limit, "cursor": cursor})


def list_backups(
    customer_id: Annotated[str | None, Field(description="Only this customer's jobs (cus_…)")] = None,
    state: Annotated[str | None, Field(description="Only jobs in this state (failed, stale, …)")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Backup jobs from every backup tool, each with the state Vectis derives for it."""
    arguments = {"customer_id": customer_id, "state": state, "limit": limit, "cursor": cursor}
    return _invoke("list_backups", "list_backups", arguments)


def list_saved_queries(q: str | None = None, limit: Limit = 50) -> dict[str, Any]:
    """The saved queries this token's owner may run."""
    return _invoke("list_saved_queries", "list_saved_queries", {"q": q, "limit": limit})


def run_saved_query(
    saved_query_id: Annotated[str, Field(description="A public id, qry_…")],
    limit: Annotated[int, Field(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Run a saved query: its columns, rows and row-count trail."""
    return _invoke("run_saved_query", "run_saved_query", {"saved_query_id": saved_query_id, "limit": limit})


def acknowledge_alert(
    alert_id: Annotated[str, Field(description="A public id, alr_…")],
    preview: Annotated[bool, Field(description="True: say what would be done, and do nothing")] = True,
) -> dict[str, Any]:
    """Acknowledge an alert (someone is on it)."""
    return _invoke("acknowledge_alert", "acknowledge_alert", {"alert_id": alert_id}, preview=preview)


def resolve_alert(
    alert_id: Annotated[str, Field(description="A public id, alr_…")],
    preview: Annotated[bool, Field(description="True: say what would be done, and do nothing")] = True,
) -> dict[str, Any]:
    """Resolve an alert."""
    return _invoke("resolve_alert", "resolve_alert", {"alert_id": alert_id}, preview=preview)


def add_note(
    customer_id: Annotated[str, Field(description="A public id, cus_…")],
    body: Annotated[str, Field(description="The note, in your words")],
    preview: Annotated[bool, Field(description="True: say what would be done, and do nothing")] = True,
) -> dict[str, Any]:
    """Add an internal note to a customer's timeline (never shown to the customer)."""
    return _invoke("add_note", "add_note", {"customer_id": customer_id, "body": body}, preview=preview)


def reply_to_ticket(
    ticket_id: Annotated[str, Field(description="A public id, tkt_…")],
    text: Annotated[str, Field(description="The reply, or the internal note")],
    internal: Annotated[bool, Field(description="An internal note, not sent to the contact")] = False,
    preview: Annotated[bool, Field(description="True: say what would be sent, and send nothing")] = True,
) -> dict[str, Any]:
    """Reply to a ticket in its PSA (or add an internal note), in your name."""
    arguments = {"ticket_id": ticket_id, "text": text, "internal": internal}
    return _invoke("reply_to_ticket", "reply_to_ticket", arguments, preview=preview)


async def _scope_filter(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
    """Hide the tools a token's scopes do not allow; refuse a call to one with the SDK's own words for a tool that
    does not exist, so a hidden tool's existence does not show."""
    if ctx.method not in ("tools/list", "tools/call"):
        return await call_next(ctx)
    principal = getattr(getattr(ctx.request, "state", None), "principal", None)
    scopes = principal.scopes if isinstance(principal, tokens.Principal) else frozenset()
    allowed = {name for name, spec in TOOLS.items() if spec.scope in scopes}
    if ctx.method == "tools/call":
        name = (ctx.params or {}).get("name") if isinstance(ctx.params, dict) else None
        if not isinstance(name, str) or name not in allowed:
            return CallToolResult(content=[TextContent(type="text", text=f"Unknown tool: {name}")], is_error=True)
        return await call_next(ctx)
    result = await call_next(ctx)
    if isinstance(result, ListToolsResult):
        return result.model_copy(update={"tools": [t for t in result.tools if t.name in allowed]})
    if isinstance(result, dict):
        return {**result, "tools": [t for t in result.get("tools", []) if t.get("name") in allowed]}
    return result


def build_server() -> MCPServer:
    server = MCPServer(
        "vectis",
        version="1",
        instructions="Vectis: one screen per customer for an MSP. Read customers, alerts and saved queries; "
        "acknowledge and resolve alerts (preview first). Ids are Vectis public ids (cus_…, alr_…, qry_…).",
        log_level="WARNING",
    )
    reads: list[Callable[..., Any]] = [
        list_customers, get_customer, list_alerts, list_tickets, get_ticket, get_timeline, list_backups,
        list_saved_queries, run_saved_query,
    ]  # fmt: skip
    for read in reads:
        _register(server, read.__name__, "read", read)
    writes: list[tuple[Callable[..., Any], str]] = [
        (acknowledge_alert, "write:alerts"),
        (resolve_alert, "write:alerts"),
        (add_note, "write:tickets"),
        (reply_to_ticket, "write:tickets"),
    ]
    for write, scope in writes:
        _register(server, write.__name__, scope, write, writes=True)
    server.middleware.append(_scope_filter)
    return server


class Transport:
    """The SDK's streamable-HTTP app as a WSGI app. The SDK's session manager must run inside an event loop for as
    long as requests come (even stateless); WSGI has no lifespan, so each process holds one loop thread open for it,
    started with the first request (after a fork, anew)."""

    def __init__(self, server: MCPServer) -> None:
        server.streamable_http_app(
            stateless_http=True,
            json_response=True,
            # Off: it knows exact hosts only, never "any workspace's"; the host is checked before (the workspace it
            # names must exist) and the Origin in the view.
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        self._manager = server.session_manager
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._wsgi: Any = None

    def _start(self) -> None:
        loop = asyncio.new_event_loop()
        threading.Thread(target=loop.run_forever, name="mcp-loop", daemon=True).start()
        ready = threading.Event()

        async def hold() -> None:
            async with self._manager.run():
                ready.set()
                await asyncio.Event().wait()

        asyncio.run_coroutine_threadsafe(hold(), loop)
        if not ready.wait(10):
            raise RuntimeError("the MCP session manager did not start")
        handler = self._manager.handle_request

        async def with_view(scope: Any, receive: Any, send: Any) -> None:
            environ = scope["wsgi_environ"]
            scope.setdefault("state", {})["principal"] = environ[_PRINCIPAL]
            token = _view_context.set(environ[_VIEW_CONTEXT])
            try:
                await handler(scope, receive, send)
            finally:
                _view_context.reset(token)

        self._wsgi = ASGIMiddleware(with_view, loop=loop)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if self._pid != os.getpid():
            with self._lock:
                if self._pid != os.getpid():
                    self._start()
                    self._pid = os.getpid()
        return self._wsgi(environ, start_response)


def init_app(app: Flask, authenticate: Callable[[], Response | None]) -> Blueprint:
    transport = Transport(build_server())
    bp = Blueprint("mcp", __name__, url_prefix="/api")

    def gate() -> Response | None:
        """The API's own check (token, workspace, rate; refusals audited), its refusal said as MCP clients read one:
        a JSON-RPC error whose message is the sentence, with the same status and headers."""
        refused = authenticate()
        if refused is None:
            return None
        detail = (refused.get_json(silent=True) or {}).get("detail", "Refused.")
        body = json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": -32001, "message": detail}})
        answer = Response(body, status=refused.status_code, mimetype="application/json")
        for name in ("Retry-After", "X-Vectis-Error"):
            if name in refused.headers:
                answer.headers[name] = refused.headers[name]
        if refused.status_code == 401:
            answer.headers["WWW-Authenticate"] = 'Bearer realm="vectis"'
        return answer

    bp.before_request(gate)

    def endpoint() -> Any:
        origin = request.headers.get("Origin")
        if origin is not None and origin.rstrip("/") != request.host_url.rstrip("/"):
            return problem_response(403, "Calls from another site's pages are refused.", "Origin refused")
        request.environ[_PRINCIPAL] = g.api_principal
        request.environ[_VIEW_CONTEXT] = contextvars.copy_context()
        return transport  # Flask runs a WSGI app a view returns, with this request's environ

    bp.add_url_rule("/mcp", endpoint="endpoint", view_func=endpoint, methods=["POST"])
    app.register_blueprint(bp)
    return bp
