"""The query builder at MSP scale (issue 18): the tour's example question (customers with their last backup failure,
days to renewal and contract value) parsed, compiled and run as the builder runs it (``run.preview``: the first rows
and the row-count trail), p95 over --runs; goal < 300 ms. Then an export of --rows backup runs to xlsx through the
real path: ``exports.start`` in this process, the ``exports`` job on an RQ worker in a child process of its own;
goals >= 50,000 rows/s (the rows over the job's own start to finish: query, writing, storing the file, the audit row)
and the child's peak RSS < 200 MB (VmHWM: the worker with its app, the whole export included).

    .venv/bin/python bench/query.py [--customers 500] [--jobs 5000] [--runs 30] [--rows 1000000]

Two generated tenants, made on the first run and kept: the MSP (vectis.demo.datagen: customers, backup jobs with
their run history) with a few contracts a customer added here (the generator makes none), and one whose backup runs
are topped up to exactly --rows by INSERT ... SELECT (a million take about a minute).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _env import bench_app, percentile
from _report import Figure, report
from flask import Flask
from hub import ensure_user
from rq import SimpleWorker
from sqlalchemy import delete, func, select, text

from vectis import create_app
from vectis.audit.actors import Actor
from vectis.demo.datagen import generate
from vectis.models import BackupRun, Connection, Contract, QueryExport, Tenant, User
from vectis.platform import db
from vectis.platform.config import ROOT, load
from vectis.platform.crypto import Sealed
from vectis.platform.queues import queue, redis
from vectis.query import examples, exports, run
from vectis.query.spec import parse

TOUR_GOAL_MS, RATE_GOAL, RSS_GOAL_MB = 300.0, 50_000.0, 200.0

# The tour's question, as the demo saves it, over the whole MSP.
TOUR = examples.RENEWALS_WITH_FAILING_BACKUPS

# Every backup run with its job and customer: what an MSP exports for a quarter's review.
RUNS = {
    "base": "backup_runs",
    "joins": [
        {"from": "backup_runs", "to": "backup_jobs", "mode": "with"},
        {"from": "backup_jobs", "to": "customers", "mode": "with"},
    ],
    "columns": [
        {"field": "customers.name"},
        {"field": "backup_jobs.name"},
        {"field": "backup_runs.started_at"},
        {"field": "backup_runs.ended_at"},
        {"field": "backup_runs.state"},
        {"field": "backup_runs.duration_seconds"},
        {"field": "backup_runs.message"},
    ],
}

# A few contracts a customer, 1 to 4, spread over statuses, terms and values (deterministic: from the ids).
_CONTRACTS = text(
    """
    INSERT INTO contracts (tenant_id, connection_id, customer_id, external_id, name, contract_type, status,
                           starts_on, ends_on, billing_cycle, bill_amount, monthly_value, currency, vendor_updated_at)
    SELECT c.tenant_id, :psa, c.id, c.id || '-' || n, 'Managed Services ' || n, 'Managed Services',
           CASE WHEN (c.id + n) % 7 = 0 THEN 'expired' WHEN (c.id + n) % 11 = 0 THEN 'cancelled' ELSE 'active' END,
           current_date - ((c.id * 31 + n * 17) % 700)::int, current_date + ((c.id * 13 + n * 29) % 400)::int - 30,
           'Monthly', 200 + (c.id * 37 + n * 101) % 4800, 200 + (c.id * 37 + n * 101) % 4800, 'GBP', now()
      FROM customers c CROSS JOIN LATERAL generate_series(1, 1 + c.id % 4) AS n
     WHERE c.tenant_id = :tenant_id
    """
)

# Runs spread round-robin over the tenant's jobs, newest first, mostly successes, a message on the others.
_RUNS = text(
    """
    WITH jobs AS (SELECT array_agg(id ORDER BY id) AS ids FROM backup_connectors WHERE tenant_id = :tenant_id),
    made AS (
      SELECT g, ids[1 + g % cardinality(ids)] AS job,
             now() - (g / cardinality(ids)) * interval '6 hours' - (g % 97) * interval '1 minute' AS started,
             CASE WHEN g % 23 = 0 THEN 'failed' WHEN g % 11 = 0 THEN 'warning' ELSE 'success' END AS state
        FROM jobs, generate_series(1, :count) AS g)
    INSERT INTO backup_runs (tenant_id, backup_connector_id, run_key, state, vendor_status, started_at, ended_at,
                             duration_seconds, message)
    SELECT :tenant_id, job, 'bench-' || g, state, initcap(state), started,
           started + (300 + g % 3300) * interval '1 second', 300 + g % 3300,
           CASE state WHEN 'failed' THEN 'Processing FS' || lpad((g % 40)::text, 2, '0')
                                         || ' Error: The network path was not found. Failed to create snapshot.'
                      WHEN 'warning' THEN 'Job finished with warning: 1 of ' || (g % 40 + 2) || ' disks skipped'
                      ELSE NULL END
      FROM made
    """
)


def _tenant(slug: str, name: str) -> tuple[Tenant, bool]:
    with db.system_session() as s:
        tenant = s.scalar(select(Tenant).where(Tenant.slug == slug))
        fresh = tenant is None
        if tenant is None:
            tenant = Tenant(slug=slug, name=name)
            s.add(tenant)
            s.flush()
        s.expunge(tenant)
    return tenant, fresh


def msp(customers: int, jobs: int) -> Tenant:
    """The generated MSP with contracts: made once, kept."""
    tenant, fresh = _tenant(f"query-msp-{customers}-{jobs}", f"Bench MSP, {customers} customers")
    started = time.perf_counter()
    if fresh:
        generate(tenant.id, customers=customers, jobs=jobs, events=1_000)
    with db.system_session() as s:
        has = s.scalar(select(func.count()).select_from(Contract).where(Contract.tenant_id == tenant.id))
    if not has:
        with db.system_session() as s:
            psa = Connection(tenant_id=tenant.id, vendor="connectwise", name="ConnectWise", config=Sealed.seal(tenant.id, {}))  # fmt: skip
            s.add(psa)
            s.flush()
            s.execute(_CONTRACTS, {"tenant_id": tenant.id, "psa": psa.id})
        with db.system_session() as s:
            for table in ("contracts", "customers", "backup_connectors", "backup_connector_status", "backup_runs"):
                s.execute(text(f"ANALYZE {table}"))
        print(f"{tenant.slug}: made in {time.perf_counter() - started:.0f} s", flush=True)
    with db.tenant_session(tenant.id) as s:
        contracts = s.scalar(select(func.count()).select_from(Contract))
        runs = s.scalar(select(func.count()).select_from(BackupRun))
    print(f"{tenant.slug}: {customers:,} customers, {jobs:,} jobs, {runs:,} backup runs, {contracts:,} contracts")
    return tenant


def tour(tenant: Tenant, n: int) -> list[float]:
    """Milliseconds of each of ``n`` runs of the tour's question, parse to rows and trail, each in a fresh session."""
    samples: list[float] = []
    for k in range(n + 1):
        with db.tenant_session(tenant.id) as s:
            started = time.perf_counter()
            preview = run.preview(s, parse(TOUR))
            elapsed = (time.perf_counter() - started) * 1000
        if k:  # the first warms the caches and the statement cache
            samples.append(elapsed)
        else:
            print(
                f"the tour's question: {preview.trail.result:,} customers (first {preview.shown} shown); "
                f"{preview.trail.joined:,} joined rows, {preview.trail.filtered:,} after the conditions"
            )
    print(f"  p50 {percentile(samples, 50):.1f} ms, p95 {percentile(samples, 95):.1f} ms, max {max(samples):.1f} ms")
    return samples


def runs_tenant(rows: int) -> Tenant:
    """A generated MSP whose backup runs number exactly ``rows``: made once, kept."""
    jobs = max(50, min(5_000, rows // 200))
    tenant, fresh = _tenant(f"query-export-{rows}", f"Bench MSP, {rows:,} backup runs")
    if fresh:
        started = time.perf_counter()
        generate(tenant.id, customers=max(10, jobs // 10), jobs=jobs, events=1_000)
    with db.tenant_session(tenant.id) as s:
        has = s.scalar(select(func.count()).select_from(BackupRun)) or 0
    if has < rows:
        started = time.perf_counter()
        with db.system_session() as s:
            s.execute(text("SET LOCAL synchronous_commit = off"))  # a crash mid-load means making it again
            s.execute(_RUNS, {"tenant_id": tenant.id, "count": rows - has})
        with db.system_session() as s:
            s.execute(text("ANALYZE backup_runs"))
        print(f"{tenant.slug}: {rows - has:,} backup runs added in {time.perf_counter() - started:.0f} s", flush=True)
    elif has > rows:
        raise SystemExit(f"tenant {tenant.slug} holds {has:,} backup runs, not {rows:,}: remove it and run again")
    return tenant


def export_on_a_worker(app: Flask, tenant: Tenant, rows: int) -> dict[str, Any]:
    """Start an xlsx export of every run as the Export button does, then run the ``exports`` queue in a child
    process (an RQ worker, as the Procfile's) and read its figures."""
    fixture = ensure_user(tenant)
    with db.tenant_session(tenant.id) as s:
        user = s.get(User, fixture.users[fixture.admin])
        assert user is not None
        exports_queue = queue("exports")
        exports_queue.empty()  # type: ignore[no-untyped-call]
        counted = time.perf_counter()
        queued = exports.start(
            s, tenant_id=tenant.id, actor=Actor.for_user(user), spec=parse(RUNS), fmt="xlsx", inline_rows=0
        )
        assert isinstance(queued, QueryExport) and queued.state == "queued", queued
        export_id, counting = queued.id, time.perf_counter() - counted
    settings = app.config["VECTIS_SETTINGS"]
    env = dict(os.environ, VECTIS_ENV="test", VECTIS_VAR_DIR=str(ROOT / "var" / "bench"))
    env |= {"DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url}
    child = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker"],
        env=env, cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if child.returncode != 0:
        raise SystemExit(f"the export worker failed:\n{child.stdout[-3000:]}\n{child.stderr[-3000:]}")
    memory = json.loads(child.stdout.strip().splitlines()[-1])
    with db.tenant_session(tenant.id) as s:
        done = s.get(QueryExport, export_id)
        assert done is not None
        if done.state != "done":
            raise SystemExit(f"the export ended {done.state}: {done.message}")
        assert done.started_at is not None and done.finished_at is not None and done.milliseconds is not None
        seconds = (done.finished_at - done.started_at).total_seconds()
        figures = {
            "rows": done.rows_written,
            "seconds": seconds,
            "writing_seconds": done.milliseconds / 1000,
            "counting_seconds": counting,
            "megabytes": (done.file_size or 0) / 1e6,
            **memory,
        }
        s.execute(delete(QueryExport).where(QueryExport.id == export_id))  # tens of MB: not kept between runs
    print(
        f"xlsx export of {figures['rows']:,} rows: {seconds:.1f} s on the worker ({figures['rows'] / seconds:,.0f} "
        f"rows/s; {figures['writing_seconds']:.1f} s of it querying and writing, the rest storing the file), "
        f"{figures['megabytes']:.1f} MB; counting before it was queued {counting:.1f} s. Worker RSS: "
        f"{memory['boot_mb']:.0f} MB booted, peak {memory['peak_mb']:.0f} MB"
    )
    if figures["rows"] != rows:
        raise SystemExit(f"exported {figures['rows']:,} rows, not {rows:,}")
    return figures


def worker() -> None:
    """The child: an app of its own and an RQ worker on the exports queue until it is empty; prints its memory."""
    app = create_app(settings=load())
    with app.app_context():
        boot = _status_mb("VmRSS")
        SimpleWorker([queue("exports")], connection=redis()).work(burst=True)
    print(json.dumps({"boot_mb": boot, "peak_mb": _status_mb("VmHWM")}))


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--jobs", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=30, help="runs of the tour's question")
    parser.add_argument("--rows", type=int, default=1_000_000, help="backup runs exported to xlsx")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker()
        return
    with bench_app() as app:
        samples = tour(msp(args.customers, args.jobs), args.runs)
        exported = export_on_a_worker(app, runs_tenant(args.rows), args.rows)
    rate = exported["rows"] / exported["seconds"]
    report(
        [
            Figure(
                f"query: the tour's question p95, {args.customers} customers", percentile(samples, 95), "ms",
                TOUR_GOAL_MS, note=f"p50 {percentile(samples, 50):.1f} ms, {len(samples)} runs: parse, compile, rows, trail",
            ),
            Figure(
                f"xlsx export of {exported['rows']:,} rows (rows/s)", rate, "rows/s", RATE_GOAL, at_least=True,
                note=f"{exported['seconds']:.1f} s on the worker, {exported['megabytes']:.0f} MB file; "
                f"counting first {exported['counting_seconds']:.1f} s",
            ),
            Figure(
                f"xlsx export worker peak RSS, {exported['rows']:,} rows", exported["peak_mb"], "MB", RSS_GOAL_MB,
                note=f"{exported['boot_mb']:.0f} MB once booted",
            ),
        ]
    )  # fmt: skip


if __name__ == "__main__":
    main()
