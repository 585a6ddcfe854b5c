"""Endpoint-security syncs at MSP scale (issue 21): each vendor's simulator with 500 sites and 5,000 detections,
synced through the real job at the vendor's own rate limit (the connector's default: what Vectis keeps to when the
vendor publishes none); the ratio is wall time over the larger of the pacing and database floors (``_sync.py``),
goal <= 1.15: SentinelOne, ESET, Huntress and Microsoft Defender.

    .venv/bin/python bench/edr_sync.py [--vendors sentinelone eset huntress defender] [--runs 3] [--detections 5000]
"""

from __future__ import annotations

import argparse
import os
import uuid
from dataclasses import dataclass
from typing import Any

from _env import bench_app
from _report import report
from _sim import simulator
from _sync import SyncFigures, figure, measure_sync

from vectis.connectors import registry
from vectis.models import Connection, Tenant
from vectis.platform import db
from vectis.platform.crypto import Sealed


@dataclass(frozen=True)
class Vendor:
    key: str
    module: str  # the simulator's module, run as a process of its own
    config: Any  # the connection's config, given the simulator's URL
    count_flag: str  # how the simulator is told how many detections to hold
    derived_host: bool = False  # the connector derives its hosts (a region): VECTIS_VENDOR_URLS points them here
    more: tuple[str, ...] = ()  # the simulator's other arguments


def _sentinelone(url: str) -> dict[str, str]:
    from vectis.simulators.sentinelone import DEMO_API_TOKEN  # noqa: PLC0415 - the bench's own process only

    return {"console_url": url, "api_token": DEMO_API_TOKEN}


def _eset(url: str) -> dict[str, str]:
    from vectis.simulators.eset import DEMO_PASSWORD, DEMO_USERNAME  # noqa: PLC0415

    return {"region": "eu", "username": DEMO_USERNAME, "password": DEMO_PASSWORD}


def _huntress(url: str) -> dict[str, str]:
    from vectis.simulators.huntress import DEMO_API_KEY, DEMO_API_SECRET  # noqa: PLC0415

    return {"api_key": DEMO_API_KEY, "api_secret": DEMO_API_SECRET, "api_url": url}


def _defender(url: str) -> dict[str, str]:
    from vectis.simulators import defender  # noqa: PLC0415

    # The bench simulator's first tenant, as a one-line tenant list.
    return {
        "client_id": defender.DEMO_CLIENT_ID,
        "client_secret": defender.DEMO_CLIENT_SECRET,
        "tenant_ids": defender.DEMO_TENANT_ID,
    }


VENDORS = {
    v.key: v
    for v in (
        Vendor("sentinelone", "vectis.simulators.sentinelone", _sentinelone, "--threats"),
        Vendor("eset", "vectis.simulators.eset", _eset, "--detections", derived_host=True),
        Vendor("huntress", "vectis.simulators.huntress", _huntress, "--reports"),
        # All 5,000 alerts in one tenant, listed alone: the pacing floor is one tenant's (each tenant adds a sign-in,
        # outside the API's rate bucket, and its own few pages).
        Vendor(
            "defender", "vectis.simulators.defender", _defender, "--alerts", derived_host=True, more=("--tenants", "1")
        ),
    )
}


def sync_once(vendor: Vendor, url: str, rate: float) -> SyncFigures:
    with db.system_session() as s:
        tenant = Tenant(slug=f"b{uuid.uuid4().hex[:10]}", name="Bench MSP")
        s.add(tenant)
        s.flush()
        connection = Connection(
            tenant_id=tenant.id,
            vendor=vendor.key,
            name=registry.label(vendor.key),
            config=Sealed.seal(tenant.id, vendor.config(url)),
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
    parser.add_argument("--vendors", nargs="+", default=list(VENDORS), choices=list(VENDORS))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--detections", type=int, default=5_000)
    args = parser.parse_args()
    figures = []
    for key in args.vendors:
        vendor = VENDORS[key]
        rate = registry.get(key).default_rate_limit
        command = ["-m", vendor.module, "--scale", "bench", vendor.count_flag, str(args.detections), *vendor.more]
        with simulator(command) as url:
            if vendor.derived_host:
                os.environ["VECTIS_VENDOR_URLS"] = f"{key}={url}"
            figures.append(bench_vendor(key, vendor, url, rate, args))
    report(figures)


def bench_vendor(key: str, vendor: Vendor, url: str, rate: float, args: argparse.Namespace) -> Any:
    with bench_app():
        print(f"{registry.label(key)} simulator: {args.detections:,} detections, at {rate:g} requests/s", flush=True)
        runs = [sync_once(vendor, url, rate) for _ in range(args.runs)]
        return figure(key, rate, runs, f"{args.detections:,} detections, ")


if __name__ == "__main__":
    main()
