"""Veeam sync at MSP scale (issue 5): the VSPC simulator with 500 companies, 5,000 jobs and 10,000 alarm
events, synced through the real job at a connection rate of R requests/s, each rate on a tenant of its own.
The ratio is wall time over the larger of its pacing floor and its database floor (``_sync.py``); the goal
is <= 1.15 at R = 2 and at R = 50. Each rate runs ``--runs`` times; the figure is the median.

    .venv/bin/python bench/vspc_sync.py [--rates 2 50] [--runs 3] [--companies 500 --jobs 5000 --events 10000]
"""

from __future__ import annotations

import argparse
import uuid

from _env import bench_app
from _report import report
from _sim import simulator
from _sync import SyncFigures, figure, measure_sync

from vectis.models import Connection, Tenant
from vectis.platform import db
from vectis.platform.crypto import Sealed
from vectis.simulators.vspc import DEMO_PASSWORD, DEMO_USERNAME


def one_sync(url: str, rate: float) -> SyncFigures:
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
    return measure_sync(tenant_id, connection_id, rate)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", type=float, nargs="+", default=[2.0, 50.0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--companies", type=int, default=500)
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--events", type=int, default=10000)
    args = parser.parse_args()
    command = ["-m", "vectis.simulators.vspc", "--scale", "bench", "--companies", str(args.companies)]
    command += ["--jobs", str(args.jobs), "--alarms", str(args.events)]
    figures = []
    with simulator(command) as url, bench_app():
        print(
            f"VSPC simulator: {args.companies} companies, {args.jobs} jobs (+ a fifth as agent jobs), {args.events} alarms"
        )
        for rate in args.rates:
            runs = []
            for _ in range(args.runs):
                run = one_sync(url, rate)
                print(run.describe(rate), flush=True)
                runs.append(run)
            figures.append(figure("vspc", rate, runs))
    report(figures)


if __name__ == "__main__":
    main()
