"""NinjaOne sync at MSP scale (issue 20): the NinjaOne simulator with 20,000 devices, 5,000 open alerts and 50,000
activities, synced through the real job at a connection rate of R requests/s; the ratio is wall time over the larger
of the pacing and database floors (``_sync.py``), goal <= 1.15 at R = 2 and 50. The first sync reads the devices (a
thousand a page), every open alert (one unpaged list, each through the dedupe) and the activity log back to 14 days
or its cap of 10,000.

    .venv/bin/python bench/ninja_sync.py [--rates 2 50] [--runs 3] [--devices 20000 --alerts 5000 --activities 50000]
"""

from __future__ import annotations

import argparse
import os
import uuid

from _env import bench_app
from _report import report
from _sim import simulator
from _sync import SyncFigures, figure, measure_sync

from vectis.demo.seed import DEMO_NINJAONE
from vectis.models import Connection, Tenant
from vectis.platform import db
from vectis.platform.crypto import Sealed


def sync_at(rate: float) -> SyncFigures:
    with db.system_session() as s:
        tenant = Tenant(slug=f"b{uuid.uuid4().hex[:10]}", name="Bench MSP")
        s.add(tenant)
        s.flush()
        connection = Connection(
            tenant_id=tenant.id,
            vendor="ninjaone",
            name="NinjaOne",
            config=Sealed.seal(tenant.id, dict(DEMO_NINJAONE)),
            enabled=True,
            rate_limit_per_second=rate,
        )
        s.add(connection)
        s.flush()
        tenant_id, connection_id = tenant.id, connection.id
    run = measure_sync(tenant_id, connection_id, rate)
    print(run.describe(rate), flush=True)
    return run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", type=float, nargs="+", default=[2.0, 50.0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--devices", type=int, default=20_000)
    parser.add_argument("--alerts", type=int, default=5_000)
    parser.add_argument("--activities", type=int, default=50_000)
    args = parser.parse_args()
    scale = f"{args.devices:,} devices, {args.alerts:,} alerts, {args.activities:,} activities, "
    command = ["-m", "vectis.simulators.ninjaone", "--scale", "bench", "--devices", str(args.devices)]
    command += ["--alerts", str(args.alerts), "--activities", str(args.activities)]
    figures = []
    with simulator(command) as url:
        # NinjaOne's host comes from the region: every region reaches the simulator, as make demo does.
        os.environ["VECTIS_VENDOR_URLS"] = f"ninjaone={url}"
        with bench_app():
            print(f"NinjaOne simulator: {scale.rstrip(', ')}", flush=True)
            for rate in args.rates:
                runs = [sync_at(rate) for _ in range(args.runs)]
                figures.append(figure("ninjaone", rate, runs, scale))
    report(figures)


if __name__ == "__main__":
    main()
