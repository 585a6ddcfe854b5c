"""Load and memory (issue 17): gunicorn as the Procfile runs it, driven by a crowd of busy technicians.

A generated MSP (500 customers, 5,000 backup jobs, 200,000 timeline rows, 20,000 tickets, its backup alerts)
and N signed-in technicians, each a thread with its own session, running a realistic mix for ``--seconds``
with a pause to read each page (``--think``, exponential with a mean of 1 s; 0 gives the saturation figure):
the customers list (and a search), the hub and its tabs (htmx, as a click loads them), timeline pages with
filters and "load older", the ticket queue, the alerts list, and one write in twenty (a note on a customer's
timeline or an alert acknowledged: audited actions through ``perform()``). At 1, 10 and 20 users: throughput,
p50/p95/p99, errors, and each gunicorn worker's peak RSS sampled every 200 ms.

Goals: p95 < 150 ms at 20 users, no errors, every worker's peak RSS < 250 MB.

    .venv/bin/python bench/load.py [--users 1 10 20] [--seconds 60] [--think 1] [--events 200000] [--tickets 20000]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyotp
import requests
from _env import bench_app, percentile
from _report import Figure, report
from requests.adapters import HTTPAdapter
from sqlalchemy import select
from tickets import fill_tickets
from urllib3.util.retry import Retry

from vectis.alerts.service import refresh_backup_alerts
from vectis.demo.datagen import generate
from vectis.demo.seed import DEMO_PASSWORD, demo_totp_secret
from vectis.identity.passwords import hash_password
from vectis.models import Alert, BackupConnector, Connection, Customer, Tenant, Ticket, User
from vectis.platform import db, public_ids
from vectis.platform.config import ROOT
from vectis.platform.crypto import Sealed

P95_GOAL_MS, RSS_GOAL_MB = 150.0, 250.0
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Msp:
    slug: str
    customers: list[str]  # public ids
    tabs: dict[str, list[str]]  # the hub tabs a customer has (a tab shows only when it has something)
    alerts: list[str]
    emails: list[str]


def build_msp(users: int, events: int, tickets: int) -> Msp:
    slug = f"load-{secrets.token_hex(3)}"
    with db.system_session() as s:
        tenant = Tenant(slug=slug, name=f"Load MSP {slug}")
        s.add(tenant)
        s.flush()
        s.expunge(tenant)
        tenant_id = tenant.id
        connection = Connection(
            tenant_id=tenant_id, vendor="connectwise", name="ConnectWise", config=Sealed.seal(tenant_id, {})
        )
        s.add(connection)
        s.flush()
        connection_id = connection.id
    started = time.perf_counter()
    generate(tenant_id, customers=500, jobs=5000, events=events, seed=3)
    with db.tenant_session(tenant_id) as s:
        roots = list(s.scalars(select(Customer.id).where(Customer.parent_id.is_(None))))
    fill_tickets(tenant, connection_id, tickets, roots)
    with db.tenant_session(tenant_id) as s:
        refresh_backup_alerts(s, tenant_id)
        s.commit()
        ids = list(s.scalars(select(Customer.id).where(Customer.parent_id.is_(None)).limit(200)))
        with_tickets = set(s.scalars(select(Ticket.customer_id).where(Ticket.customer_id.in_(ids)).distinct()))
        with_alerts = set(s.scalars(select(Alert.customer_id).where(Alert.customer_id.in_(ids)).distinct()))
        with_jobs = set(
            s.scalars(select(BackupConnector.customer_id).where(BackupConnector.customer_id.in_(ids)).distinct())
        )
        alerts = [public_ids.encode("alert", aid) for aid in s.scalars(select(Alert.id))]
    customers = [public_ids.encode("customer", cid) for cid in ids]
    tabs = {
        public_ids.encode("customer", cid): ["timeline"]
        + (["backups"] if cid in with_jobs else [])
        + (["tickets"] if cid in with_tickets else [])
        + (["alerts"] if cid in with_alerts else [])
        for cid in ids
    }
    emails = [f"tech{n}@{slug}.test" for n in range(users)]
    with db.system_session() as s:
        password = hash_password(DEMO_PASSWORD)
        for email in emails:
            s.add(
                User(
                    tenant_id=tenant_id,
                    email=email,
                    name=email.split("@")[0].title(),
                    role="technician",
                    password_hash=password,
                    totp_secret=Sealed.seal(tenant_id, demo_totp_secret(email)),
                    mfa_enrolled_at=datetime.now(UTC),
                )
            )
    print(
        f"tenant {slug}: 500 customers, 5,000 jobs, {events:,} timeline rows, {tickets:,} tickets, "
        f"{len(alerts):,} alerts, {users} technicians in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    return Msp(slug, customers, tabs, alerts, emails)


class Gunicorn:
    """The Procfile's web process on a free port, with the bench's database and Redis."""

    def __init__(self, env: dict[str, str]) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        log = ROOT / "var" / "bench" / "load-gunicorn.log"
        self.log = log.open("w")
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        self.process = subprocess.Popen(
            [gunicorn, "app:app", "--bind", f"127.0.0.1:{self.port}", "--workers", "2", "--threads", "4",
             "--graceful-timeout", "5"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1)
                break
            except requests.RequestException:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"gunicorn did not start: see {log}") from None
                time.sleep(0.2)

    def workers(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=15)
        self.log.close()


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


# A path with its customer's or alert's id taken out: what kind of page a request was.
_ID = re.compile(r"(/customers/|/alerts/)[^/?]+")


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    by_page: dict[str, list[float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, method: str, path: str, seconds: float, error: str | None) -> None:
        with self.lock:
            self.latencies.append(seconds)
            page = method + " " + _ID.sub(r"\1…", path)
            self.by_page.setdefault(page, []).append(seconds)
            if error:
                self.errors.append(error)

    def pages(self) -> str:
        """Each kind of page's count, p50 and p95, slowest p95 first: where a miss comes from."""

        def ms(samples: list[float], q: int) -> float:  # a page opened once is its own percentile
            return (percentile(samples, q) if len(samples) > 1 else samples[0]) * 1000

        rows = sorted(
            ((page, len(t), ms(t, 50), ms(t, 95)) for page, t in self.by_page.items()), key=lambda row: -row[3]
        )
        return "\n".join(f"    {page:<48} {n:>5}  p50 {p50:6.1f} ms  p95 {p95:6.1f} ms" for page, n, p50, p95 in rows)


class Technician:
    """One signed-in browser: a session cookie, its CSRF token, and the mix of what a technician opens."""

    def __init__(self, base: str, host: str, email: str, msp: Msp, rng: random.Random) -> None:
        self.base, self.msp, self.rng = base, msp, rng
        self.http = requests.Session()
        self.http.headers["Host"] = host
        # A browser sends a GET again when the server had just closed the idle keep-alive connection it
        # reused (gunicorn closes them after 2 s); so does this one, once. A status is never retried.
        retry = Retry(total=1, connect=1, read=1, status=0, allowed_methods=frozenset({"GET"}))
        self.http.mount("http://", HTTPAdapter(max_retries=retry))
        page = self.http.get(f"{base}/signin", timeout=10)
        token = CSRF.search(page.text)
        if token is None:
            raise SystemExit(f"no sign-in form for {email}")
        # Never follow a redirect: it names the tenant's host, which only a browser resolves to loopback.
        self.http.post(
            f"{base}/signin",
            data={"csrf_token": token.group(1), "email": email, "password": DEMO_PASSWORD},
            timeout=10,
            allow_redirects=False,
        )
        mfa = self.http.get(f"{base}/signin/mfa", timeout=10)
        token = CSRF.search(mfa.text)
        code = pyotp.TOTP(demo_totp_secret(email)).now()
        done = self.http.post(
            f"{base}/signin/mfa",
            data={"csrf_token": token.group(1) if token else "", "code": code},
            timeout=10,
            allow_redirects=False,
        )
        found = CSRF.search(self.http.get(f"{base}/account/", timeout=10, allow_redirects=False).text)
        if found is None or "/signin" in done.headers.get("Location", ""):
            raise SystemExit(f"{email} could not sign in")
        self.csrf = found.group(1)

    def pick(self) -> tuple[str, str, dict[str, str] | None, dict[str, str]]:
        """(method, path, form, headers) of the next thing this technician opens."""
        customer = self.rng.choice(self.msp.customers)
        htmx = {"HX-Request": "true"}
        roll = self.rng.random()
        if roll < 0.05:  # one write in twenty
            if self.msp.alerts and self.rng.random() < 0.5:
                alert = self.rng.choice(self.msp.alerts)
                return "POST", f"/alerts/{alert}/acknowledge", {"csrf_token": self.csrf}, htmx
            form = {"csrf_token": self.csrf, "body": "Called the office manager: they will reboot the NAS tonight."}
            return "POST", f"/customers/{customer}/notes", form, {}
        choices: list[tuple[float, Callable[[], tuple[str, dict[str, str]]]]] = [
            (0.15, lambda: ("/customers", {})),
            (0.05, lambda: (f"/customers?q={self.rng.choice(['north', 'dental', 'law', 'oak'])}", htmx)),
            (0.15, lambda: (f"/customers/{customer}", {})),
            (0.15, lambda: (f"/customers/{customer}/{self.rng.choice(self.msp.tabs[customer])}", htmx)),
            (0.10, lambda: (f"/customers/{customer}/timeline", htmx)),
            (0.10, lambda: ("/timeline", {})),
            (0.05, lambda: ("/timeline?range=week", htmx)),
            (0.10, lambda: ("/tickets", {})),
            (0.05, lambda: ("/tickets?state=all&age=30plus", htmx)),
            (0.10, lambda: ("/alerts", {})),
        ]
        roll = self.rng.random() * sum(w for w, _ in choices)
        for weight, make in choices:
            roll -= weight
            if roll <= 0:
                path, headers = make()
                return "GET", path, None, headers
        path, headers = choices[-1][1]()
        return "GET", path, None, headers

    def run(self, until: float, results: Results, think: float) -> None:
        while time.monotonic() < until:
            if think:  # reading the page before the next click: exponential, as arrivals from people are
                time.sleep(max(0.0, min(self.rng.expovariate(1 / think), 10 * think, until - time.monotonic())))
            method, path, form, headers = self.pick()
            started = time.perf_counter()
            error = None
            try:
                response = self.http.request(
                    method, self.base + path, data=form, headers={"X-CSRFToken": self.csrf, **headers},
                    allow_redirects=False, timeout=30,
                )  # fmt: skip
                if response.status_code >= 400:
                    error = f"{method} {path}: HTTP {response.status_code}"
            except requests.RequestException as exc:
                error = f"{method} {path}: {type(exc).__name__}"
            results.add(method, path, time.perf_counter() - started, error)


def load(
    technicians: list[Technician], server: Gunicorn, seconds: float, think: float
) -> tuple[Results, float, dict[int, float]]:
    results = Results()
    peak: dict[int, float] = {}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            for pid in server.workers():
                peak[pid] = max(peak.get(pid, 0.0), rss_mb(pid))
            stop.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    until = time.monotonic() + seconds
    threads = [threading.Thread(target=t.run, args=(until, results, think)) for t in technicians]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    stop.set()
    sampler.join()
    return results, elapsed, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, nargs="+", default=[1, 10, 20])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--tickets", type=int, default=20_000)
    parser.add_argument("--think", type=float, default=1.0, help="mean seconds a technician reads a page")
    args = parser.parse_args()
    figures: list[Figure] = []
    with bench_app() as app:
        msp = build_msp(max(args.users), args.events, args.tickets)
        settings = app.config["VECTIS_SETTINGS"]
        env = dict(os.environ, VECTIS_ENV="test", VECTIS_VAR_DIR=str(ROOT / "var" / "bench"))
        env |= {"DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url}
        server = Gunicorn(env)
        try:
            boot = {pid: rss_mb(pid) for pid in server.workers()}
            print(
                f"gunicorn on :{server.port}, 2 workers x 4 threads; RSS at boot {sorted(round(v) for v in boot.values())} MB"
            )
            base, host = f"http://127.0.0.1:{server.port}", f"{msp.slug}.localhost"
            # Signed in once each: a TOTP code is good once, and the phases follow each other within seconds.
            everyone = [Technician(base, host, email, msp, random.Random(n)) for n, email in enumerate(msp.emails)]
            for users in args.users:
                results, elapsed, peak = load(everyone[:users], server, args.seconds, args.think)
                ms = [s * 1000 for s in results.latencies]
                p50, p95, p99 = (percentile(ms, q) for q in (50, 95, 99))
                throughput = len(ms) / elapsed
                print(
                    f"{users:>2} users, {elapsed:.0f} s: {len(ms):,} requests ({throughput:,.0f}/s), "
                    f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms, {len(results.errors)} errors; "
                    f"peak RSS {sorted(round(v) for v in peak.values())} MB",
                    flush=True,
                )
                print(results.pages(), flush=True)
                for error in sorted(set(results.errors))[:5]:
                    print(f"    {error}")
                figures.append(
                    Figure(
                        f"load p95 at {users} users",
                        p95,
                        "ms",
                        P95_GOAL_MS,
                        note=f"{throughput:,.0f} req/s, p50 {p50:.1f}, p99 {p99:.1f}",
                    )
                )
                figures.append(Figure(f"load errors at {users} users", len(results.errors), "errors", 0))
                figures.append(
                    Figure(f"peak worker RSS after {users} users", max(peak.values(), default=0.0), "MB", RSS_GOAL_MB)
                )
        finally:
            server.stop()
    report(figures)


if __name__ == "__main__":
    main()
