"""``make demo``: embedded services when no URLs are given, migrate, seed, then web + worker + cron.

Run as ``python -m vectis.demo``. Ctrl-C stops honcho's processes first, then the embedded servers, so
``./var/`` is left clean for the next run.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from sqlalchemy import select

from vectis import create_app
from vectis.demo.datagen import generate_demo
from vectis.demo.history import backfill_after_first_sync, backfill_metrics
from vectis.demo.portal import DEMO_PORTAL_USERS, seed_portal_after_first_sync
from vectis.demo.seed import DEMO_PASSWORD, DEMO_USERS, seed_demo
from vectis.models import Tenant
from vectis.platform import embedded
from vectis.platform.bootstrap import ensure_database, migrate
from vectis.platform.config import ROOT, ConfigError, load
from vectis.platform.db import system_session

PORT = int(os.environ.get("VECTIS_PORT", "5000"))
SIMULATOR_PORTS = {
    18080: "the Veeam simulator",
    18081: "the Keepit simulator",
    18082: "the ConnectWise simulator",
    18083: "the NinjaOne simulator",
    18084: "the SentinelOne simulator",
    18085: "the ESET simulator",
    18086: "the Huntress simulator",
    18087: "the Microsoft Defender simulator",
    18088: "the Microsoft Graph simulator",
    18089: "the Pax8 simulator",
}
MAILSINK_PORT = 18025  # the demo's SMTP server (vectis/platform/mailsink.py): mail really goes out over SMTP


def _taken(ports: dict[int, str]) -> list[str]:
    """What cannot listen because something else already does: a demo already running would otherwise answer
    our health check, and this one would say it is running while its own processes have stopped."""
    taken = []
    for port, what in ports.items():
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                taken.append(f"{port} ({what})")
    return taken


def _wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 90) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    return False


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the demo the same clean way as Ctrl-C


def _fill_second_tenant() -> None:
    """The second demo MSP gets generated history (40 customers, 6,000 events) so its pages have
    something to show beside acme's live simulator data. Done once: it keeps what it has. Its daily metrics
    are computed for the last days on every start (in one statement), so a demo stopped for a while has no gap."""

    with system_session() as s:
        tenant_id = s.scalar(select(Tenant.id).where(Tenant.slug == "northwind"))
    if tenant_id is None:
        return
    if generate_demo(tenant_id):
        print("vectis: generated a demo history for northwind", flush=True)
    backfill_metrics(tenant_id)


def main() -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    taken = _taken({PORT: "the web process", **SIMULATOR_PORTS, MAILSINK_PORT: "the mail sink"})
    if taken:
        print(
            f"vectis: cannot start: already in use: {', '.join(taken)}. Is another make demo running? Stop it with "
            "Ctrl-C first (when only the web port is taken, VECTIS_PORT=5050 make demo uses another).",
            file=sys.stderr,
        )
        return 1
    env = dict(os.environ)
    env.setdefault("VECTIS_ENV", "demo")
    env.setdefault("VECTIS_BASE_DOMAIN", "localhost")
    # Keepit's, NinjaOne's and ESET's hosts are derived from the region, Defender's and Microsoft 365's from
    # Microsoft's, Pax8's is Pax8's own: in the demo every one of them lives at its vendor's simulator.
    env.setdefault(
        "VECTIS_VENDOR_URLS",
        "keepit=http://127.0.0.1:18081/{region},ninjaone=http://127.0.0.1:18083,eset=http://127.0.0.1:18085,"
        "defender=http://127.0.0.1:18087,m365=http://127.0.0.1:18088,pax8=http://127.0.0.1:18089",
    )
    env["VECTIS_PORT"] = str(PORT)
    env.setdefault("SMTP_URL", f"smtp://127.0.0.1:{MAILSINK_PORT}")
    # The Procfile's commands (gunicorn, rq) live beside this interpreter in .venv/bin.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    var_dir = Path(env.get("VECTIS_VAR_DIR", ROOT / "var"))
    services = embedded.start(var_dir, postgres=not env.get("DATABASE_URL"), redis=not env.get("REDIS_URL"))
    if services.database_url:
        env["DATABASE_URL"] = services.database_url
    if services.redis_url:
        env["REDIS_URL"] = services.redis_url
    os.environ.update(env)

    try:
        settings = load()
        ensure_database(settings.database_url)
        print("vectis: migrating the database …", flush=True)
        migrate(settings, quiet=True)

        app = create_app(settings=settings)
        with app.app_context():
            seed_demo()
            _fill_second_tenant()
    except ConfigError as exc:
        print(f"vectis: cannot start: {exc}", file=sys.stderr)
        services.stop()
        return 1

    honcho = shutil.which("honcho", path=str(Path(sys.executable).parent)) or "honcho"
    # Our own process group stays in charge of Ctrl-C: honcho gets it from the terminal too and stops its children.
    process = subprocess.Popen([honcho, "start", "-f", str(ROOT / "Procfile")], cwd=ROOT, env=env)
    backfill_after_first_sync(app)  # Veeam's strips: the days before the demo began (vectis/demo/history.py)
    seed_portal_after_first_sync(app)  # the customer portal's users, once ConnectWise's tickets are in
    base = f"http://{{slug}}.{settings.base_domain}:{PORT}"
    portal_base = f"http://portal.{{slug}}.{settings.base_domain}:{PORT}"
    try:
        if _wait_healthy(f"http://127.0.0.1:{PORT}/healthz", process):
            lines = [
                "",
                "  Vectis is running.",
                f"  Open {base.format(slug='acme')}   (second tenant: {base.format(slug='northwind')})",
                "",
                "  Demo logins (password for all: " + DEMO_PASSWORD + "):",
                *[f"    {u.email:<24} {u.role.label:<11} {u.tenant}" for u in DEMO_USERS],
                "  Two-factor sign-in is on for everyone; in the demo the code prompt shows the current code.",
                f"  Mail goes to a local SMTP sink (127.0.0.1:{MAILSINK_PORT}): Admin → Sent mail shows it.",
                "",
                f"  Customer portal: {portal_base.format(slug='acme')}   (ready after the first ConnectWise sync)",
                *[
                    f"    {u.email:<24} portal {u.role.title():<7} "
                    f"{'one site' if u.one_site else 'the customer and all its sites'}"
                    for u in DEMO_PORTAL_USERS
                ],
                "    (same password; no two-factor step on the portal)",
                "",
                "  Press Ctrl-C to stop.",
                "",
            ]
            print("\n".join(lines), flush=True)
        else:
            print("vectis: the web process did not become healthy; see the log above", file=sys.stderr, flush=True)
        return process.wait()
    except KeyboardInterrupt:
        try:
            return process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGTERM)
            return process.wait()
    finally:
        services.stop()
