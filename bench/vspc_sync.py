"""Veeam sync at MSP scale (issue 5): the VSPC simulator with 500 companies, 5,000 jobs and 10,000
alarm events, synced through the real job at a connection rate of R requests/s. The floor is what the
rate limit alone allows: requests made / R. Prints wall time / floor; the goal is <= 1.15 at R = 2
and at R = 50.

    .venv/bin/python bench/vspc_sync.py [--rates 2 50] [--companies 500 --jobs 5000 --events 10000]
"""

from __future__ import annotations

import argparse
import time
import uuid

from _env import bench_app
from _sim import simulator
from sqlalchemy import select

from jobs.sync import run_sync
from vectis.models import Connection, SyncRun, Tenant
from vectis.platform import db
from vectis.platform.crypto import Sealed
from vectis.simulators.vspc import DEMO_PASSWORD, DEMO_USERNAME

GOAL = 1.15


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", type=float, nargs="+", default=[2.0, 50.0])
    parser.add_argument("--companies", type=int, default=500)
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--events", type=int, default=10000)
    args = parser.parse_args()
    command = ["-m", "vectis.simulators.vspc", "--scale", "bench", "--companies", str(args.companies)]
    command += ["--jobs", str(args.jobs), "--alarms", str(args.events)]
    with simulator(command) as url, bench_app():
        print(
            f"VSPC simulator: {args.companies} companies, {args.jobs} jobs (+ a fifth as agent jobs), {args.events} alarms"
        )
        for rate in args.rates:
            with db.system_session() as s:
                tenant = Tenant(slug=f"b{uuid.uuid4().hex[:10]}", name="Bench MSP")
                s.add(tenant)
                s.flush()
                config = {"base_url": url, "username": DEMO_USERNAME, "password": DEMO_PASSWORD, "api_key": ""}
                connection = Connection(
                    tenant_id=tenant.id,
                    vendor="veeam",
                    name="Veeam",
                    config=Sealed.seal(tenant.id, config),
                    enabled=True,
                    rate_limit_per_second=rate,
                )
                s.add(connection)
                s.flush()
                tenant_id, connection_id = tenant.id, connection.id
            started = time.perf_counter()
            status = run_sync(tenant_id, connection_id)
            wall = time.perf_counter() - started
            with db.tenant_session(tenant_id) as s:
                run = s.scalar(select(SyncRun).order_by(SyncRun.id.desc()).limit(1))
                assert run is not None
                requests, counts = run.requests_made, dict(run.counts)
            floor = requests / rate
            verdict = "meets" if wall / floor <= GOAL else "misses"
            print(f"R = {rate:g}/s: {status}, {requests} requests, {counts}")
            print(
                f"  wall {wall:.2f} s, floor {floor:.2f} s -> ratio {wall / floor:.2f} ({verdict} the goal of {GOAL})"
            )


if __name__ == "__main__":
    main()
