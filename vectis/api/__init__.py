"""The REST API (``/api/v1``): what every capability declares in its ``api.py`` (``vectis.actions.resources``),
served with a personal access token, answered in JSON, errors as problem details, every call audited.

The workspace comes from the host, as for the browser; the token must be one of that workspace's. No endpoint takes a
tenant id. Cookies are never read here: a browser's session cannot call the API on its own (and no CSRF token is
needed, since nothing here trusts a cookie).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import pkgutil
import re
from collections.abc import Callable
from datetime import UTC, datetime
from math import ceil
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, current_app, g, render_template, request
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from vectis.actions.resources import OPERATIONS, Call, NotFound, Operation, Problem
from vectis.api import mcp
from vectis.api.calls import actor_of, record_call
from vectis.api.openapi import document, fields
from vectis.audit import writer as audit
from vectis.audit.actors import Actor, Target
from vectis.identity import tokens
from vectis.platform import db, params, public_ids
from vectis.platform.errors import problem_response
from vectis.platform.queues import redis
from vectis.platform.ratelimit import TokenBucket

_PATH_ID = re.compile(r"\{([a-z_]+)_id\}")
BEARER = "Bearer "
# Per token: 10 requests a second on average, bursts of 60 (a page of lists, a client's start-up).
RATE_PER_SECOND, BURST = 10.0, 60
IDEMPOTENCY_KEPT = 24 * 3600  # seconds a POST's answer is kept for a retry with the same Idempotency-Key
FAILED_ONCE = (
    "The first request with this Idempotency-Key failed inside Vectis before it answered, so whether it took effect "
    "is not known. Check (the audit log, the vendor), then send it again with a new Idempotency-Key if it is needed."
)


def discover() -> None:
    """Import every capability's ``api.py``: each registers its own operations."""
    for module in pkgutil.iter_modules([str(Path(__file__).resolve().parent.parent)]):
        if module.ispkg and importlib.util.find_spec(f"vectis.{module.name}.api") is not None and module.name != "api":
            importlib.import_module(f"vectis.{module.name}.api")


def _refuse(session: Any, raw: str, refused: tokens.Refused) -> Response:
    """401, audited where it tells someone something: in this workspace, and, for a token of another workspace, in
    that one's too (its token is being used at the wrong address: perhaps leaked)."""
    shown = tokens.shown(raw) if refused.reason != "malformed" else raw[:12]
    db.durable(session)
    payload = {"token": shown, "reason": refused.reason, "path": request.path[:200]}
    audit.record(
        session,
        tenant_id=g.tenant.id,
        actor=Actor.anonymous(shown),
        surface="api",
        action="api.refused",
        target=Target("api", None, request.path[:200]),
        result="blocked",
        payload=payload,
        error=refused.message,
    )
    session.commit()
    if refused.other_tenant_id is not None:
        with db.tenant_session(refused.other_tenant_id) as elsewhere:
            audit.record(
                elsewhere,
                tenant_id=refused.other_tenant_id,
                actor=Actor.anonymous(shown),
                surface="api",
                action="token.used_elsewhere",
                target=Target("api_token", None, shown),
                result="blocked",
                payload={**payload, "workspace": g.tenant.slug},
                error=f"Presented at workspace {g.tenant.slug}",
            )
    return problem_response(401, refused.message, "Token refused")


def _authenticate() -> Response | None:
    if request.endpoint in ("api.openapi", "api.docs"):
        return None  # the API's description is public: it holds no workspace data
    header = request.headers.get("Authorization", "")
    if not header.startswith(BEARER):
        return problem_response(
            401, "Send a personal access token as “Authorization: Bearer vct_pat_…” (Account → Tokens).", "Token needed"
        )
    raw = header.removeprefix(BEARER).strip()
    session = db.session()
    # A read's transaction writes only its audit row. Its commit need not wait for the disk: a crash of the
    # database may forget the last reads' rows (never half of one), and the call answers without the flush that
    # would double its time (bench/api.py). A write, and a refusal, are made durable (``db.durable``) first.
    session.info["asynchronous_commit"] = True
    if not tokens.well_formed(raw):
        return _refuse(session, raw, tokens.Refused("malformed"))
    # The token's bucket (keyed by its digest, as the token is found) is asked before its SQL and read after it.
    rate, burst = current_app.config.get("VECTIS_API_RATE", (RATE_PER_SECOND, BURST))
    asked = TokenBucket(redis(), f"api-token:{tokens.digest(raw)}", rate, burst).ask()
    try:
        found = tokens.authenticate(session, raw, datetime.now(UTC))
    except BaseException:
        asked.drop()
        raise
    if isinstance(found, tokens.Refused):
        asked.drop()
        return _refuse(session, raw, found)
    # No commit here: its "last used" is written with the call's audit row, one transaction a call.
    wait = asked.answer()
    if wait > 0:
        response = problem_response(
            429,
            f"This token is over its {rate * 60:.0f} requests a minute. Try again in {ceil(wait)} s.",
            "Too many requests",
        )
        response.headers["Retry-After"] = str(ceil(wait))
        return response
    g.api_principal = found
    return None


def _query(op: Operation) -> Any:
    if op.query is None:
        if request.args:
            raise _Invalid([f"{name}: unknown parameter" for name in request.args])
        return None
    try:
        return op.query.model_validate(request.args.to_dict(flat=True))
    except ValidationError as error:
        raise _Invalid(
            [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors(include_url=False)]
        ) from None


def _body(op: Operation) -> Any:
    if op.body is None:
        return None
    raw = request.get_json(silent=True) if request.data else {}
    if not isinstance(raw, dict):
        raise _Invalid(["body: send a JSON object (Content-Type: application/json)"])
    if params.holds_nul(raw):
        raise _Invalid([f"body: {params.NUL_MESSAGE}"])
    try:
        # Strictly as JSON says: true is not 1, 0 is not false, a moment is a string (schemathesis sent the others).
        return op.body.model_validate_json(request.get_data() or b"{}", strict=True)
    except ValidationError as error:
        raise _Invalid(
            [f"body.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors(include_url=False)]
        ) from None


class _Invalid(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems[0] if problems else "invalid")
        self.problems = problems


def _view(op: Operation) -> Callable[..., Response]:
    kinds = _PATH_ID.findall(op.path)

    def view(**params: str) -> Response:
        principal: tokens.Principal = g.api_principal
        if not principal.allows(op.scope):
            said = f"This token lacks the scope “{op.scope}” that {op.name} needs."
            _refused(principal, said, result="blocked")
            return problem_response(403, said, "Scope missing")
        key = request.headers.get("Idempotency-Key", "").strip() if op.method == "POST" else ""
        if key:
            return _once(principal, key, lambda: answer(principal, params))
        return answer(principal, params)

    def answer(principal: tokens.Principal, params: dict[str, str]) -> Response:
        ids: dict[str, int] = {}
        for kind in kinds:
            key = public_ids.decode(kind, params.get(f"{kind}_id"))
            if key is None:
                _refused(principal, f"No such {kind}.")
                return problem_response(404, f"No such {kind}.")
            ids[f"{kind}_id"] = key
        session = db.session()
        if op.writes:
            db.durable(session)
        try:
            call = Call(session, actor_of(principal), g.tenant.id, _query(op), _body(op))
            result: BaseModel = op.handler(call, **ids)
        except _Invalid as invalid:
            _refused(principal, invalid.problems[0])
            return problem_response(422, invalid.problems[0], "Invalid request", errors=invalid.problems)
        except NotFound as missing:
            _refused(principal, str(missing))
            return problem_response(404, str(missing))
        except Problem as problem:
            # What the operation recorded of its attempt (a verb's audit row) stays, beside the call's own.
            _refused(principal, str(problem), keep=True, result="blocked" if problem.status == 403 else "failed")
            return problem_response(problem.status, str(problem))
        _called(session, principal)
        session.commit()
        return Response(result.model_dump_json(), mimetype="application/json")

    def _called(session: Any, principal: tokens.Principal, refused: str | None = None, result: str = "failed") -> None:
        record_call(
            session, principal, surface="api", action=f"api.{op.name}", target=Target("api", None, request.path[:200]),
            payload={"query": request.args.to_dict(flat=True)}, refused=refused, result=result,
        )  # fmt: skip

    def _refused(principal: tokens.Principal, said: str, *, result: str = "failed", keep: bool = False) -> None:
        """A call refused after its token was accepted, audited as an answered one is (nothing else it did stays,
        unless ``keep``)."""
        session = db.session()
        if not keep:
            session.rollback()
        _called(session, principal, said, result)
        session.commit()

    view.__name__ = op.name
    return view


def _once(principal: tokens.Principal, key: str, answer: Callable[[], Response]) -> Response:
    """A POST with an ``Idempotency-Key``: the first answer is kept a day and given again to a retry of the same
    request, which does nothing twice. The same key with another request is refused."""
    if len(key) > 200:
        return problem_response(422, "An Idempotency-Key is at most 200 characters.", "Invalid request")
    fingerprint = hashlib.sha256(f"{request.method} {request.full_path}\n".encode() + request.get_data()).hexdigest()
    slot = f"vectis:idempotency:{principal.token_id}:{hashlib.sha256(key.encode()).hexdigest()}"
    store = redis()
    if store.set(slot, json.dumps({"fingerprint": fingerprint}), nx=True, ex=IDEMPOTENCY_KEPT):
        try:
            response = answer()
        except HTTPException:
            store.delete(slot)  # refused in the usual way (abort): nothing was done, so a retry runs again
            raise
        except BaseException:
            # Failed inside Vectis before it answered (the database went away mid-write, say): kept as that failure,
            # as an answer is, or every retry would hear "still running" for a day. Not forgotten either: whether
            # it reached the vendor is not known, so a retry must not send it again unasked.
            failed = problem_response(500, FAILED_ONCE, "Failed before answering")
            store.set(slot, json.dumps(_kept(fingerprint, failed)), ex=IDEMPOTENCY_KEPT)
            raise
        store.set(slot, json.dumps(_kept(fingerprint, response)), ex=IDEMPOTENCY_KEPT)
        return response
    earlier = json.loads(store.get(slot) or "{}")
    if earlier.get("fingerprint") != fingerprint:
        return problem_response(422, "This Idempotency-Key was used for another request. Use a new key.", "Key reused")
    if "status" not in earlier:
        return problem_response(409, "The first request with this Idempotency-Key is still running.", "In progress")
    replay = Response(earlier["body"], status=earlier["status"], mimetype=earlier["mimetype"])
    replay.headers["Idempotent-Replayed"] = "true"
    return replay


def _kept(fingerprint: str, response: Response) -> dict[str, Any]:
    return {"fingerprint": fingerprint, "status": response.status_code, "body": response.get_data(as_text=True),
            "mimetype": response.mimetype}  # fmt: skip


def _flask_path(path: str) -> str:
    return re.sub(r"\{([a-z_]+)\}", r"<\1>", path)


def openapi() -> Response:
    return Response(document(request.host_url.rstrip("/")), mimetype="application/json")


def docs() -> str:
    return render_template(
        "api/docs.html",
        operations=sorted(OPERATIONS, key=lambda o: (o.tag, o.path, o.method)),
        scopes=tokens.SCOPES,
        fields=fields,
    )


def init_app(app: Flask) -> list[Blueprint]:
    """The API's blueprints (REST and MCP), made for ``app`` (a blueprint is set up once: each app gets its own)."""
    discover()
    bp = Blueprint("api", __name__, url_prefix="/api/v1")
    bp.before_request(_authenticate)
    bp.add_url_rule("/openapi.json", endpoint="openapi", view_func=openapi, methods=["GET"])
    bp.add_url_rule("/docs", endpoint="docs", view_func=docs, methods=["GET"])
    for op in OPERATIONS:
        bp.add_url_rule(_flask_path(op.path), endpoint=op.name, view_func=_view(op), methods=[op.method])
    app.register_blueprint(bp)
    return [bp, mcp.init_app(app, _authenticate)]
