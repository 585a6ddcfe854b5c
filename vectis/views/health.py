"""``/healthz``: is this process able to reach Postgres and Redis? Answers on any host."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from sqlalchemy import text
from werkzeug.wrappers import Response

from vectis.platform import db, queues

bp = Blueprint("health", __name__)


def _check(probe: Any) -> str:
    try:
        probe()
    except Exception as exc:  # any failure is the answer here, reported by class name only (no secrets in URLs)
        return f"unreachable ({type(exc).__name__})"
    return "ok"


def _postgres() -> None:
    with db.database().app_engine.connect() as conn:
        conn.execute(text("SELECT 1"))


@bp.get("/healthz")
def healthz() -> Response:
    checks = {"postgres": _check(_postgres), "redis": _check(queues.redis().ping)}
    healthy = all(v == "ok" for v in checks.values())
    response = jsonify(status="ok" if healthy else "unhealthy", checks=checks)
    response.status_code = 200 if healthy else 503
    response.headers["Cache-Control"] = "no-store"
    return response
