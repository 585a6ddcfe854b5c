"""Microsoft 365 at MSP scale (issue 22): the Graph simulator with 500 customer tenants, every tenant's posture (its
organisation, Secure Score with 30 days of scores, Intune devices and their failing policies, Conditional Access
policies, admins and their MFA registration) synced through the real job at the connector's own pace; then the hub's
Microsoft 365 tab, 30 days of Secure Score snapshots per tenant, measured as a technician's browser asks for it.

- Sync: wall time over the larger of the pacing and database floors (``_sync.py``), goal <= 1.15. The pace is the
  connector's default (20 requests a second across all tenants, each tenant asked for about ten things in turn, far
  under Graph's per-tenant limits); the note says whether Graph answered any 429 (it should not).
- Tab: p95 of the Microsoft 365 tab (as htmx asks for it) over the customers, goal < 100 ms.
- The Licensing tab's p95 (issue 22, part B): ``bench/licensing.py``'s generated MSP (--customers, --subscriptions; the
  first customer holds 40) and its figures, reported here beside the Microsoft 365 tab.

    .venv/bin/python bench/m365.py [--tenants 500] [--runs 1] [--requests 100] [--customers 500] [--subscriptions 5000]
"""

from __future__ import annotations

import argparse
import os
import time
import uuid

import licensing
import requests
from _env import bench_app, percentile
from _report import Figure, report
from _sim import simulator
from _sync import SyncFigures, figure, measure_sync
from flask import Flask
from hub import WEB, ensure_user
from sqlalchemy import func, select

from tests.conftest import TenantFixture, login, pid
from vectis.connectors import registry
from vectis.models import Connection, CustomerLink, Tenant
from vectis.models.m365 import M365SecureScore
from vectis.platform import db
from vectis.platform.crypto import Sealed
from vectis.simulators.graph import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, GraphState

TAB_GOAL_MS = 100.0


def connect(tenant_ids: list[str], rate: float) -> tuple[Tenant, int]:
    """A workspace of its own whose Microsoft 365 connection lists every tenant (its customers are their organisations)."""
    config = {"client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET, "tenant_ids": "\n".join(tenant_ids)}
    with db.system_session() as s:
        tenant = Tenant(slug=f"b{uuid.uuid4().hex[:10]}", name="Bench MSP")
        s.add(tenant)
        s.flush()
        connection = Connection(
            tenant_id=tenant.id, vendor="m365", name=registry.label("m365"), config=Sealed.seal(tenant.id, config),
            enabled=True, rate_limit_per_second=rate, creates_customers=True,
        )  # fmt: skip
        s.add(connection)
        s.flush()
        s.expunge(tenant)
        return tenant, connection.id


def throttled(url: str) -> int:
    stats = requests.get(f"{url}/_sim/stats", timeout=5).json()
    return int(stats["statuses"].get("429", 0))


def tab_timing(app: Flask, tenant: Tenant, n: int) -> tuple[float, float, int]:
    """p50 and p95 (ms) of the Microsoft 365 tab over ``n`` requests spread across the customers, and how many days
    of Secure Score the busiest one holds."""
    fixture: TenantFixture = ensure_user(tenant)
    with db.tenant_session(tenant.id) as s:
        customers = list(s.scalars(select(CustomerLink.customer_id).where(CustomerLink.customer_id.is_not(None))))
        days = s.scalar(
            select(func.count()).select_from(M365SecureScore).group_by(M365SecureScore.tenant_external_id).limit(1)
        )
    # Signed in once, on hub.py's request thread (a request inside this thread's app context would share its ``g``).
    client = WEB.submit(login, app, fixture).result()
    paths = [f"/customers/{pid(app, 'customer', c)}/m365" for c in customers]
    headers = {"HX-Request": "true"}  # the tab as the hub's tab bar asks for it
    WEB.submit(client.get, paths[0], headers=headers).result()  # warm: templates compiled, statements cached
    samples = []
    for index in range(n):
        path = paths[index % len(paths)]
        started = time.perf_counter()
        response = WEB.submit(client.get, path, headers=headers).result()
        samples.append(time.perf_counter() - started)
        assert response.status_code == 200 and b'data-testid="m365-intune"' in response.data, (
            path,
            response.status_code,
        )
    return percentile(samples, 50) * 1000, percentile(samples, 95) * 1000, int(days or 0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", type=int, default=500)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--requests", type=int, default=100, help="Microsoft 365 tab requests to time")
    parser.add_argument("--customers", type=int, default=500, help="of the Licensing tab's tenant")
    parser.add_argument("--subscriptions", type=int, default=5_000, help="of the Licensing tab's tenant")
    args = parser.parse_args()
    rate = registry.get("m365").default_rate_limit
    tenant_ids = GraphState.at_scale(tenants=args.tenants).tenant_ids()  # the simulator's, by the same seed
    figures: list[Figure] = []
    command = ["-m", "vectis.simulators.graph", "--scale", "bench", "--tenants", str(args.tenants)]
    with simulator(command) as url:
        os.environ["VECTIS_VENDOR_URLS"] = f"m365={url}"
        with bench_app() as app:
            print(f"Microsoft Graph simulator: {args.tenants:,} tenants, at {rate:g} requests/s", flush=True)
            runs: list[SyncFigures] = []
            tenant: Tenant | None = None
            for _ in range(args.runs):
                tenant, connection_id = connect(tenant_ids, rate)
                run = measure_sync(tenant.id, connection_id, rate)
                print(run.describe(rate), flush=True)
                runs.append(run)
            assert tenant is not None
            refused = throttled(url)
            sync_figure = figure("m365", rate, runs, f"{args.tenants:,} tenants, ")
            figures.append(
                Figure(sync_figure.name, sync_figure.value, sync_figure.unit, sync_figure.goal,
                       floor=sync_figure.floor, note=f"{sync_figure.note}; Graph answered {refused} 429s")
            )  # fmt: skip
            p50, p95, days = tab_timing(app, tenant, args.requests)
            print(f"  Microsoft 365 tab: p50 {p50:.1f} ms, p95 {p95:.1f} ms ({days} days of Secure Score)", flush=True)
            figures.append(
                Figure(f"Microsoft 365 tab p95, {days} days of Secure Score", p95, "ms", TAB_GOAL_MS,
                       note=f"p50 {p50:.1f} ms over {args.requests} requests")
            )  # fmt: skip
            licences, customer, subscription = licensing.generated(app, args.customers, args.subscriptions)
            more, _ = licensing.licensing_figures(
                app, ensure_user(licences), customer, subscription, args.requests,
                label=f", {args.subscriptions:,} in all",
            )  # fmt: skip
            figures += more
    report(figures)


if __name__ == "__main__":
    main()
