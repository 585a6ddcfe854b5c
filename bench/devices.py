"""The hub's Devices tab at MSP scale (issue 20): p95 server time of a 400-device customer's Devices tab (the htmx
partial and the whole hub page on it), a filtered and a later page of it, and one device's page, through the real app
(routing, tenancy, sessions, templates), each beside the raw SQL of the same statements. Goal: the tab < 100 ms.

    .venv/bin/python bench/devices.py [--devices 20000] [--requests 80] [--smoke]

A generated tenant: one customer with 400 devices (every seventh offline, one in ten with open alerts) among
--devices in all across 50 customers, written the way an RMM's sync writes them (``upsert_devices``), made on the
first run and kept for the next ones.
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta

from _env import bench_app
from _report import Figure, report
from flask import Flask
from hub import ensure_user, measure
from sqlalchemy import func, select, text

from tests.conftest import pid
from tests.device_world import NOW, Org, fleet, org
from vectis.alerts.dedupe import Report, raise_alert
from vectis.models import Customer, Device, Tenant
from vectis.platform import db

TAB_GOAL_MS = 100.0  # issue 20: the Devices tab of a 400-device customer
HUB_GOAL_MS = 150.0  # the hub page's own goal (issue 7), here opened on the Devices tab
DEVICE_GOAL_MS = 100.0
BIG = 400
CUSTOMERS = 50


def generated(app: Flask, total: int) -> tuple[Tenant, int, int]:
    """The bench tenant, its 400-device customer and one of that customer's devices with alerts: the ones made
    earlier if there are, else new ones."""
    slug = f"devices-{total}"
    with db.system_session() as s:
        tenant = s.scalar(select(Tenant).where(Tenant.slug == slug))
        fresh = tenant is None
        if tenant is None:
            tenant = Tenant(slug=slug, name=f"Bench MSP, {total:,} devices")
            s.add(tenant)
            s.flush()
        s.expunge(tenant)
    if fresh:
        started = time.perf_counter()
        big = org(app, tenant.id, "Bench Manufacturing Ltd")
        fleet(app, big, BIG)
        per_customer = max(0, total - BIG) // (CUSTOMERS - 1)
        for n in range(CUSTOMERS - 1):
            fleet(app, org(app, tenant.id, f"Bench Customer {n:02d}"), per_customer, prefix=f"C{n:02d}")
        _alerts(big)
        with db.system_session() as s:
            s.execute(text("ANALYZE"))
        print(f"{slug}: generated in {time.perf_counter() - started:.0f} s", flush=True)
    with db.tenant_session(tenant.id) as s:
        customer = s.scalar(select(Customer.id).where(Customer.name == "Bench Manufacturing Ltd"))
        assert customer is not None
        device = s.scalar(select(Device.id).where(Device.customer_id == customer).order_by(Device.name).limit(1))
        count = s.scalar(select(func.count()).select_from(Device)) or 0
    assert device is not None
    print(f"{slug}: {count:,} devices; the big customer has {BIG}", flush=True)
    return tenant, customer, device


def _alerts(big: Org) -> None:
    """One device in ten with an open alert (a disk warning, some also a CPU one an hour and more later)."""
    with db.tenant_session(big.tenant_id) as s:
        devices = s.execute(
            select(Device.id, Device.name).where(Device.customer_id == big.customer_id).order_by(Device.name)
        ).all()
        for n, (device_id, name) in enumerate(devices):
            if n % 10:
                continue
            for k, (condition, ago) in enumerate((("DISK_FREE_SPACE", 30), ("CPU", 200))[: 1 + n % 2]):
                raise_alert(
                    s, big.tenant_id,
                    Report("NinjaOne", condition, "critical" if k else "warning", "rmm_alert", device_id * 10 + k, name,
                           f"{condition} on {name}", NOW - timedelta(minutes=ago), big.customer_id, device_id),
                )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--devices", type=int, default=20_000, help="devices in the tenant, the big customer's among them"
    )
    parser.add_argument("--requests", type=int, default=80)
    parser.add_argument("--smoke", action="store_true", help="2,000 devices and 20 requests")
    args = parser.parse_args()
    if args.smoke:
        args.devices, args.requests = 2_000, 20
    with bench_app() as app:
        tenant, customer, device = generated(app, args.devices)
        fixture = ensure_user(tenant)
        tab = f"/customers/{pid(app, 'customer', customer)}/devices"
        n = args.requests
        partial = measure(app, fixture, "Devices tab (htmx), 400 devices", tab, n, htmx=True)
        page = measure(app, fixture, "hub page on the Devices tab", tab, n)
        measure(app, fixture, "Devices tab, offline servers", f"{tab}?class=server&state=offline", n, htmx=True)
        last = measure(app, fixture, "Devices tab, page 4", f"{tab}?page=4", n, htmx=True)
        one = measure(app, fixture, "a device's page", f"/devices/{pid(app, 'device', device)}", n)
    report(
        [
            Figure(f"Devices tab p95, {BIG} devices, {args.devices:,} in all", partial.p95, "ms", TAB_GOAL_MS),
            Figure("Devices tab p95, its last page", last.p95, "ms", TAB_GOAL_MS),
            Figure("hub page on the Devices tab p95", page.p95, "ms", HUB_GOAL_MS),
            Figure("device page p95", one.p95, "ms", DEVICE_GOAL_MS),
        ]
    )


if __name__ == "__main__":
    main()
