"""The REST API and the MCP endpoint on the generated MSP (issue 19): the p95 of ``GET /api/v1/alerts`` (a page of 50
open alerts) and of an MCP ``list_alerts`` call in an open client session, each as a ratio to its own statements run
again straight through the driver, in the tenant's transaction, to its end (``raw_call_seconds``). Goal: ≤ 2× each.
Both are the app's own time, from the WSGI call to its last byte (``Served``); the MCP call as its official SDK
client sees it, over HTTP, is printed beside.

    .venv/bin/python bench/api.py [--requests 200]

The tenant is the hub bench's generated MSP of 500 customers and 5,000 jobs (made on the first run, then kept),
with its backup alerts raised as the worker raises them.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
from _env import bench_app, percentile
from _report import Figure, report
from flask import Flask
from hub import WEB, ensure_user, generated, raw_seconds, recording
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from sqlalchemy import func, select
from werkzeug.serving import make_server

from tests.conftest import TenantFixture, client_for
from vectis.alerts.service import refresh_backup_alerts
from vectis.identity import tokens
from vectis.models import Alert, ApiToken
from vectis.platform import db

RATIO_GOAL = 2.0


def raw_call_seconds(app: Flask, tenant_id: int, statements: list[tuple[str, Any]]) -> float:
    """The call's statements straight through the driver, in the tenant's transaction, to its end: every statement
    the call sent, its audit row's seal too, and the round trip that ends the transaction (the call commits)."""
    return raw_seconds(app, tenant_id, statements, to_the_end=True)


def token_for(fixture: TenantFixture) -> str:
    raw = tokens.generate()
    with db.tenant_session(fixture.id) as s:
        s.add(
            ApiToken(
                tenant_id=fixture.id, user_id=fixture.users[fixture.admin], label="bench", prefix=tokens.shown(raw),
                token_hash=tokens.digest(raw), scopes=["read"], expires_at=datetime.now(UTC) + timedelta(hours=1),
            )
        )  # fmt: skip
    return raw


def rest(app: Flask, fixture: TenantFixture, raw: str, n: int) -> tuple[list[float], list[float], list[float]]:
    client = client_for(app, fixture)
    headers = {"Authorization": f"Bearer {raw}"}
    path = "/api/v1/alerts?status=open&limit=50"
    served = Served(app)
    app.wsgi_app = served  # type: ignore[method-assign]
    try:
        assert WEB.submit(client.get, path, headers=headers).result().status_code == 200  # warm
        samples, raws = [], []
        for _ in range(n):
            with recording(app) as statements:
                answer = WEB.submit(client.get, path, headers=headers).result()
            samples.append(served.seconds)
            assert answer.status_code == 200 and len(answer.get_json()["data"]) == 50, answer.get_json()
            raws.append(raw_call_seconds(app, fixture.id, statements.seen))
    finally:
        app.wsgi_app = served.inner  # type: ignore[method-assign]
    return samples, raws, []


class Served:
    """The app's own time for each request, from the WSGI call to its last byte: what Vectis spends on a call,
    without the client (the test client's request building, the MCP SDK) and the benchmark's threads and HTTP server
    around it. REST and MCP are measured by it alike."""

    def __init__(self, app: Flask) -> None:
        self.inner, self.seconds = app.wsgi_app, 0.0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        started = time.perf_counter()
        body = b"".join(self.inner(environ, start_response))
        self.seconds = time.perf_counter() - started
        return [body]


def mcp(app: Flask, fixture: TenantFixture, raw: str, n: int) -> tuple[list[float], list[float], list[float]]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request would drown the figures
    served = Served(app)
    server = make_server("127.0.0.1", 0, served, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_port
    samples: list[float] = []
    clients: list[float] = []
    raws: list[float] = []

    async def run() -> None:
        headers = {"Authorization": f"Bearer {raw}", "Host": f"{fixture.host}:{port}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=30) as http,
            Client(streamable_http_client(f"http://127.0.0.1:{port}/api/mcp", http_client=http)) as client,
        ):
            await client.call_tool("list_alerts", {"status": "open", "limit": 50})  # warm
            for _ in range(n):
                with recording(app) as statements:
                    started = time.perf_counter()
                    result = await client.call_tool("list_alerts", {"status": "open", "limit": 50})
                    clients.append(time.perf_counter() - started)
                samples.append(served.seconds)
                assert not result.is_error and len(result.structured_content["data"]) == 50
                raws.append(raw_call_seconds(app, fixture.id, statements.seen))

    try:
        asyncio.run(run())
    finally:
        server.shutdown()
    return samples, raws, clients


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--events", type=int, default=10_869, help="timeline rows of the generated tenant")
    args = parser.parse_args()
    figures: list[Figure] = []
    with bench_app() as app:
        app.config["VECTIS_API_RATE"] = (100_000.0, 100_000)  # one token's many calls: measured, not rate-limited
        with app.app_context():
            tenant = generated(args.events, "api")
            fixture = ensure_user(tenant)
            with db.tenant_session(tenant.id) as s:
                refresh_backup_alerts(s, tenant.id)
                s.commit()
                open_alerts = s.scalar(select(func.count()).select_from(Alert).where(Alert.state == "open"))
            print(f"{tenant.slug}: {open_alerts:,} open alerts", flush=True)
            raw = token_for(fixture)
            for label, measure in (("GET /api/v1/alerts", rest), ("MCP list_alerts", mcp)):
                samples, raws, clients = measure(app, fixture, raw, args.requests)
                p95, raw95 = percentile(samples, 95) * 1000, percentile(raws, 95) * 1000
                seen_by_client = f", {percentile(clients, 95) * 1000:.1f} ms at the SDK client" if clients else ""
                print(
                    f"  {label:<22} p50 {percentile(samples, 50) * 1000:6.1f} ms  p95 {p95:6.1f} ms  raw SQL p95 {raw95:5.1f} ms"
                    + seen_by_client
                )
                figures.append(
                    Figure(
                        f"{label} p95 / its raw SQL, 500 customers",
                        p95,
                        "ms",
                        RATIO_GOAL,
                        floor=raw95,
                        note=f"{args.requests} requests, 50 of {open_alerts:,} open alerts a page{seen_by_client}",
                    )
                )
    report(figures)


if __name__ == "__main__":
    main()
