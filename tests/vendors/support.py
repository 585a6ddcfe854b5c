"""What every vendor's tests share: a simulator served on loopback, a tenant of its own with one
connection, a sync through the real job, and counts read back under that tenant."""

from __future__ import annotations

import queue
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
from flask import Flask
from rq import SimpleWorker
from sqlalchemy import func, select
from werkzeug.serving import make_server

from jobs.sync import run_sync
from vectis.connectors.factory import seal_config
from vectis.models import Connection, Customer, SyncRun, Tenant, WebhookDelivery
from vectis.platform import db, public_ids
from vectis.platform.queues import queue as rq_queue
from vectis.platform.queues import redis

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Setup:
    tenant_id: int
    connection_id: int


def serve(wsgi: Flask) -> tuple[str, Callable[[], None]]:
    """``wsgi`` on a loopback port in a thread: (its URL, how to stop it)."""
    server = make_server("127.0.0.1", 0, wsgi, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return f"http://127.0.0.1:{server.server_port}", stop


def run_from_command_line(
    module: str, banner_lines: int, probe: Callable[[str], requests.Response]
) -> tuple[str, requests.Response]:
    """``python -m <module>`` on a free loopback port, as the Procfile starts a simulator: the first
    ``banner_lines`` lines it prints, and ``probe(root URL)``'s answer once it listens; then it is stopped."""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", module, "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = "".join(process.stdout.readline() for _ in range(banner_lines))
        deadline = time.monotonic() + 15
        while True:
            try:
                return banner, probe(f"http://127.0.0.1:{port}")
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "the simulator did not start listening"
                time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass
class Received:
    """One POST a simulator delivered: its raw body and its headers (names in lower case)."""

    body: bytes
    headers: dict[str, str]


@contextmanager
def posts_received(path: str) -> Iterator[tuple[str, queue.Queue[Received]]]:
    """A receiver of a simulator's callbacks or webhook deliveries on a loopback port: (its URL, ending in ``path``;
    the POSTs it got, as they come). It answers 200 to everything."""
    inbox: queue.Queue[Received] = queue.Queue()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            inbox.put(Received(body, {k.lower(): v for k, v in self.headers.items()}))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{path}", inbox
    finally:
        server.shutdown()
        server.server_close()


def serve_app(wsgi: Flask) -> Iterator[str]:
    url, stop = serve(wsgi)
    yield url
    stop()


def new_tenant(app: Flask) -> int:
    with app.app_context(), db.system_session() as s:
        tenant = Tenant(slug=f"v{uuid.uuid4().hex[:10]}", name="Vendor Test MSP")
        s.add(tenant)
        s.flush()
        return tenant.id


def forget_synced(app: Flask, tenant_id: int) -> None:
    """Remove a shared tenant's connections and customers (with all that was synced under them), so the
    next test that syncs it starts from nothing."""
    with app.app_context(), db.system_session() as s:
        for model in (Connection, Customer):
            for row in s.scalars(select(model).where(model.tenant_id == tenant_id)):
                s.delete(row)


def add_connection(
    app: Flask, tenant_id: int, vendor: str, config: dict[str, Any], *, rate: float = 200.0, **columns: Any
) -> Setup:
    with app.app_context(), db.system_session() as s:
        connection = Connection(
            tenant_id=tenant_id,
            vendor=vendor,
            name=vendor.title(),
            enabled=True,
            rate_limit_per_second=rate,
            next_run_at=datetime.now(UTC),
            **columns,
        )
        seal_config(connection, config, app.config["VECTIS_SETTINGS"])  # as Admin → Integrations saves it
        s.add(connection)
        s.flush()
        return Setup(tenant_id, connection.id)


def sync(app: Flask, setup: Setup) -> SyncRun:
    with app.app_context():
        run_sync(setup.tenant_id, setup.connection_id)
        with db.tenant_session(setup.tenant_id) as s:
            run = s.scalar(
                select(SyncRun).where(SyncRun.connection_id == setup.connection_id).order_by(SyncRun.id.desc()).limit(1)
            )
            assert run is not None
            s.expunge(run)
            return run


def count(app: Flask, setup: Setup, model: Any, *where: Any) -> int:
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0


@contextmanager
def vendor_url(app: Flask, vendor: str, template: str) -> Iterator[None]:
    """Point a vendor whose host Vectis derives (Keepit's region) at a simulator, as VECTIS_VENDOR_URLS
    does for the demo."""
    settings = app.config["VECTIS_SETTINGS"]
    app.config["VECTIS_SETTINGS"] = settings.with_overrides({"vendor_urls": {**settings.vendor_urls, vendor: template}})
    try:
        yield
    finally:
        app.config["VECTIS_SETTINGS"] = settings


def wait_for_the_hung_request(state: Any, answered: int) -> None:
    """A simulator still finishes a request its client gave up on: wait until it has counted it, or it lands in
    the next test's counters (``answered`` is ``state.stats()["total"]`` before the request)."""
    deadline = time.monotonic() + 5
    while not _answered(state.stats(), answered) and time.monotonic() < deadline:
        time.sleep(0.05)


def _answered(stats: dict[str, Any], before: int) -> bool:
    """Counted, and its status too: VSPC's simulator counts a request as it comes (before the answer, which may
    hang) and its status once it is answered, so the count alone moved before the hung request was done."""
    total: int = stats["total"]
    return total > before and sum(stats["statuses"].values()) >= total


def deliveries(app: Flask, setup: Setup) -> list[WebhookDelivery]:
    """The webhook deliveries the connection's receiver recorded, oldest first."""
    with app.app_context(), db.tenant_session(setup.tenant_id) as s:
        found = list(
            s.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.connection_id == setup.connection_id)
                .order_by(WebhookDelivery.id)
            )
        )
        s.expunge_all()
        return found


def work(app: Flask) -> None:
    """Run the jobs waiting (a callback's, a sync's) as a worker would, until none is left."""
    with app.app_context():
        SimpleWorker([rq_queue("interactive"), rq_queue("sync")], connection=redis()).work(burst=True)


def webhook_url(app: Flask, setup: Setup, port: int) -> str:
    """The connection's public webhook address, on its workspace's host at the app served on ``port``."""
    with app.app_context(), db.system_session() as s:
        slug = s.scalar(select(Tenant.slug).where(Tenant.id == setup.tenant_id))
        path = f"/webhooks/{public_ids.encode('connection', setup.connection_id)}/"
        return f"http://{slug}.localhost:{port}{path}{public_ids.webhook_token(setup.connection_id)}"
