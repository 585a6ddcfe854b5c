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
import inspect
import json
import os
import re
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from a2wsgi.asgi import build_scope
from flask import Blueprint, Flask, g, request
from mcp.server import MCPServer
from mcp.server._otel import OpenTelemetryMiddleware
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import CallToolResult, ListToolsResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field, ValidationError
from werkzeug.wrappers import Response

from vectis.actions.base import REDACTED
from vectis.actions.resources import OPERATIONS, ActionQuery, Call, NotFound, Operation, Problem
from vectis.api.calls import actor_of, record_call
from vectis.audit.actors import Target
from vectis.identity import tokens
from vectis.platform import db, params, public_ids
from vectis.platform.errors import problem_response
from vectis.platform.public_ids import PREFIXES

_PRINCIPAL = "vectis.mcp.principal"  # the WSGI environ key carrying the token's principal to the scope filter
_ID = re.compile(r"\{([a-z_]+)_id\}")
_AUDITED = "vectis_mcp_call_audited"  # in flask.g: the tool wrote its call's row


@dataclass(frozen=True)
class ToolSpec:
    name: str
    scope: str
    writes: bool


TOOLS: dict[str, ToolSpec] = {}


def _invoke(op: Operation, arguments: dict[str, Any]) -> CallToolResult:
    """Run REST operation ``op`` as its MCP tool: the same validation, handler and audit (a refusal too: its row says
    what was wrong). The answer is the operation's model in camelCase (``customerName``), as structured content and as
    that content's JSON text: pydantic writes the model out once, orjson the text from it (where pydantic writing the
    model twice cost a page of fifty alerts 0.35 ms, now 0.16). Handed a plain dict instead, the SDK would check, copy
    and encode it again."""
    principal: tokens.Principal = g.api_principal
    ids: dict[str, int] = {}
    named: dict[str, Any] = {}  # the public ids as the client gave them: the audit row says which object
    preview = arguments.pop("preview", None)
    for kind in _ID.findall(op.path):
        named[f"{kind}_id"] = arguments.pop(f"{kind}_id", None)
    given = {k: v for k, v in arguments.items() if v is not None}
    said = _audited({**named, **given, **({"preview": preview} if op.writes else {})}, op)
    session = db.session()

    def refuse(words: str) -> ToolError:
        session.rollback()
        _called(session, principal, op, said, words)
        session.commit()
        return ToolError(words)

    for kind in _ID.findall(op.path):
        key = public_ids.decode(kind, named[f"{kind}_id"])
        if key is None:
            raise refuse(f"No such {kind}.")
        ids[f"{kind}_id"] = key
    if params.holds_nul(given):
        raise refuse(params.NUL_MESSAGE)
    try:
        if op.writes:
            query: Any = ActionQuery(dry_run=bool(preview))
        else:
            query = op.query.model_validate(_part(given, op.query)) if op.query else None
        body = op.body.model_validate(_part(given, op.body)) if op.body else None
    except ValidationError as error:
        raise refuse("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())) from None
    if op.writes:
        db.durable(session)
    try:
        result: BaseModel = op.handler(
            Call(session, actor_of(principal), g.tenant.id, query, body, surface="mcp"), **ids
        )
    except NotFound as missing:
        raise refuse(str(missing)) from None
    except Problem as problem:
        # What the operation recorded of its attempt (a verb's audit row) stays, beside the call's own.
        _called(session, principal, op, said, str(problem), result="blocked" if problem.status == 403 else "failed")
        session.commit()
        raise ToolError(str(problem)) from None
    _called(session, principal, op, said)
    session.commit()
    structured = result.model_dump(mode="json", by_alias=True)
    return CallToolResult(
        content=[TextContent(type="text", text=orjson.dumps(structured).decode())], structured_content=structured
    )


def _error_words(answered: Any) -> str | None:
    """What a refused call's answer said, for its audit row."""
    content = getattr(answered, "content", None) or (answered.get("content") if isinstance(answered, dict) else None)
    for block in content or ():
        text = getattr(block, "text", None) or (block.get("text") if isinstance(block, dict) else None)
        if text:
            return str(text)[:500]
    return None


def _called(
    session: Any,
    principal: tokens.Principal,
    op: Operation,
    arguments: dict[str, str],
    refused: str | None = None,
    *,
    result: str = "failed",
) -> None:
    g.setdefault(_AUDITED, True)  # the scope filter writes a row for a call refused before the tool ran
    record_call(
        session, principal, surface="mcp", action=f"mcp.{op.tool}", target=Target("mcp", None, op.tool),
        payload={"arguments": arguments}, refused=refused, result=result,
    )  # fmt: skip


def _audited(arguments: dict[str, Any], op: Operation) -> dict[str, str]:
    """A call's arguments as its audit row keeps them: ids, filters and switches as given (cut to 200 characters); the
    text of a body's fields redacted, as the REST API's row keeps no body. What a write sent is in its verb's own row,
    with that verb's redaction (``vectis/actions``): a note's words, never a password a later tool might take."""
    body = op.body.model_fields if op.body else {}
    return {k: REDACTED if k in body and isinstance(v, str) else str(v)[:200] for k, v in arguments.items()}


def _part(given: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    return {k: v for k, v in given.items() if k in model.model_fields}


_PREVIEW = inspect.Parameter(
    "preview",
    inspect.Parameter.KEYWORD_ONLY,
    default=True,
    annotation=Annotated[
        bool, Field(description="True (the default): answer what would be done and sent, and do nothing")
    ],
)


def _parameters(op: Operation) -> list[inspect.Parameter]:
    """The tool's arguments: the operation's path ids, then its query's and body's fields with their own types,
    constraints and words (a write's ``dry_run`` becomes ``preview``)."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    found = [
        inspect.Parameter(
            f"{kind}_id", keyword, annotation=Annotated[str, Field(description=f"A public id, {PREFIXES[kind]}_…")]
        )
        for kind in _ID.findall(op.path)
    ]
    models = [m for m in (None if op.writes else op.query, op.body) if m is not None]
    for model in models:
        for name, info in model.model_fields.items():
            default = inspect.Parameter.empty if info.is_required() else info.get_default(call_default_factory=True)
            described = Field(description=info.description) if info.description else Field()
            found.append(
                inspect.Parameter(
                    name, keyword, default=default, annotation=Annotated[(info.annotation, *info.metadata, described)]
                )
            )
    return [*found, _PREVIEW] if op.writes else found


def _tool(op: Operation) -> Callable[..., Awaitable[CallToolResult]]:
    # A coroutine that does its work without awaiting: it runs on the request's own thread and loop (``Transport``),
    # in the view's Flask context, where a sync tool would be handed to a worker thread and back for nothing.
    async def tool(**arguments: Any) -> CallToolResult:
        return _invoke(op, arguments)

    tool.__name__ = op.tool
    # The declared answer is an object (the tools' output schema); the tool hands the SDK a finished CallToolResult.
    tool.__signature__ = inspect.Signature(_parameters(op), return_annotation=dict[str, Any])  # type: ignore[attr-defined]
    return tool


def _description(op: Operation) -> str:
    more = inspect.getdoc(op.handler)
    return f"{op.summary}. {more}" if more else f"{op.summary}."


async def _scope_filter(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
    """Hide the tools a token's scopes do not allow; refuse a call to one with the SDK's own words for a tool that
    does not exist, so a hidden tool's existence does not show."""
    if ctx.method not in ("tools/list", "tools/call"):
        return await call_next(ctx)
    principal = getattr(getattr(ctx.request, "state", None), "principal", None)
    scopes = principal.scopes if isinstance(principal, tokens.Principal) else frozenset()
    if ctx.method == "tools/call":
        name = (ctx.params or {}).get("name") if isinstance(ctx.params, dict) else None
        spec = TOOLS.get(name) if isinstance(name, str) else None
        if spec is None or spec.scope not in scopes:
            if isinstance(principal, tokens.Principal):  # audited: a token trying what it cannot see leaves its trace
                session = db.session()
                record_call(
                    session, principal, surface="mcp", action="mcp.unknown_tool",
                    target=Target.typed("mcp", str(name)[:100]), payload={},
                    refused="No tool of that name for this token's scopes.", result="blocked",
                )  # fmt: skip
                session.commit()
            return CallToolResult(content=[TextContent(type="text", text=f"Unknown tool: {name}")], is_error=True)
        g.pop(_AUDITED, None)
        answered = await call_next(ctx)
        if not g.pop(_AUDITED, False) and isinstance(principal, tokens.Principal):
            # Refused by the SDK before the tool ran (an argument of the wrong type, out of range, missing): audited
            # as the tool's own refusals are, with the SDK's words.
            words = _error_words(answered)
            session = db.session()
            record_call(
                session, principal, surface="mcp", action=f"mcp.{name}", target=Target("mcp", None, str(name)),
                payload={"arguments": {"given": sorted(str(k)[:40] for k in (ctx.params or {}).get("arguments") or {})}},
                refused=words or "Refused before the tool ran.",
            )  # fmt: skip
            session.commit()
        return answered
    allowed = {name for name, spec in TOOLS.items() if spec.scope in scopes}
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
    for op in OPERATIONS:
        TOOLS[op.tool] = ToolSpec(op.tool, op.scope, op.writes)
        hints = ToolAnnotations(read_only_hint=not op.writes, destructive_hint=False, idempotent_hint=not op.writes)
        server.add_tool(_tool(op), name=op.tool, description=_description(op), annotations=hints)
    # Without OpenTelemetry's span around each message (the SDK's documented opt-out): Vectis installs no exporter, so
    # the span was recorded nowhere, and making it cost each call 0.1-0.2 ms (bench/api.py).
    server.middleware[:] = [m for m in server.middleware if not isinstance(m, OpenTelemetryMiddleware)]
    server.middleware.append(_scope_filter)
    return server


@dataclass(frozen=True)
class _Lane:
    """An event loop with an MCP server of its own, its session manager held open by a task."""

    loop: asyncio.AbstractEventLoop
    handle: Callable[..., Awaitable[None]]
    holder: asyncio.Task[None]  # kept: a task nobody refers to may be collected


class Transport:
    """The SDK's streamable-HTTP app, run inside the view on the request's own thread. The SDK's session manager must
    run inside an event loop for as long as requests come (even stateless); WSGI has no lifespan. So requests take a
    lane, a loop whose server's manager a task holds open, run to their end on it in the view's thread and Flask
    context (no hand-over to a loop thread and back), and give it back: as many lanes as requests at once, made
    once, whether the server keeps its threads (gunicorn) or starts one a request (a fork starts anew)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._free: list[_Lane] = []
        self._pid = os.getpid()

    def _take(self) -> _Lane:
        with self._lock:
            if self._pid != os.getpid():  # a forked child: its parent's loops are not its to run
                self._free, self._pid = [], os.getpid()
            if self._free:
                return self._free.pop()
        server = build_server()
        server.streamable_http_app(
            stateless_http=True,
            json_response=True,
            # Off: it knows exact hosts only, never "any workspace's"; the host is checked before (the workspace it
            # names must exist) and the Origin in the view.
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        manager = server.session_manager
        loop = asyncio.new_event_loop()
        ready = asyncio.Event()

        async def hold() -> None:
            async with manager.run():
                ready.set()
                await asyncio.Event().wait()

        holder = loop.create_task(hold())
        loop.run_until_complete(ready.wait())
        return _Lane(loop, manager.handle_request, holder)

    def _give_back(self, lane: _Lane) -> None:
        with self._lock:
            if self._pid == os.getpid():
                self._free.append(lane)

    def answer(self, environ: dict[str, Any]) -> Response:
        """The SDK's answer to the request in ``environ``, as the view's response."""
        lane = self._take()
        try:
            return self._run(lane, environ)
        finally:
            self._give_back(lane)

    def _run(self, lane: _Lane, environ: dict[str, Any]) -> Response:
        loop, handle = lane.loop, lane.handle
        scope: dict[str, Any] = {**build_scope(environ), "state": {"principal": environ[_PRINCIPAL]}}  # type: ignore[arg-type]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        answered = asyncio.Event()
        status: list[int] = [500]
        headers: list[tuple[str, str]] = []
        chunks: list[bytes] = []
        unread = [body]

        async def receive() -> dict[str, Any]:
            if unread:
                return {"type": "http.request", "body": unread.pop(), "more_body": False}
            await answered.wait()  # asked again: the client is gone, as far as the app can tell, once answered
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                headers.extend((k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", []))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    answered.set()

        async def whole() -> None:
            await handle(scope, receive, send)
            await asyncio.sleep(0)  # the request's own tasks finish their clean-up now, not at the next request

        loop.run_until_complete(whole())
        return Response(b"".join(chunks), status=status[0], headers=headers)


def init_app(app: Flask, authenticate: Callable[[], Response | None]) -> Blueprint:
    transport = Transport()
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
        return transport.answer(request.environ)

    bp.add_url_rule("/mcp", endpoint="endpoint", view_func=endpoint, methods=["POST"])
    app.register_blueprint(bp)
    return bp
