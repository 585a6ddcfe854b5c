"""How much a 500-customer MSP's database grows per month, and where retention makes it stop growing.

    .venv/bin/python bench/growth.py [--customers 500 --jobs 5000 --timeline-per-month 150000]

Fills a fresh tenant with the data generator: the MSP (customers, 5,000 jobs, three months of timeline at
``--timeline-per-month``, two days of sync runs every 15 minutes per connection) and a month of rule activity
and callbacks (``vectis/demo/activity.py`` names its rates). Each table's share of its on-disk size (heap,
TOAST and indexes, in proportion to this tenant's rows) is turned into MB per month, then:

- tables that are the record (timeline, backup audit events) grow by that every month, for good;
- tables with a retention stop at (MB per month × the default retention in months).
"""

from __future__ import annotations

import argparse
import secrets
import time

from _env import bench_app
from sqlalchemy import text

from vectis.demo.activity import generate_activity
from vectis.demo.datagen import HISTORY, RUNS_SPAN, generate
from vectis.models import RETENTION_DAYS, Tenant
from vectis.platform.db import system_session

MONTH_DAYS = 30

# table -> (days of data the generator wrote, retention field or None when kept forever)
TABLES: dict[str, tuple[float, str | None]] = {
    "timeline_events": (HISTORY.days, None),
    "backup_audit_events": (HISTORY.days, None),
    "sync_runs": (RUNS_SPAN.days, "sync_run_days"),
    "rule_events": (MONTH_DAYS, "rule_activity_days"),
    "rule_fires": (MONTH_DAYS, "rule_activity_days"),
    "rule_dispatches": (MONTH_DAYS, "rule_activity_days"),
    "webhook_deliveries": (MONTH_DAYS, "webhook_days"),
}


def _mb_per_month(tenant_id: int, table: str, days: float) -> tuple[int, float]:
    with system_session() as s:
        s.execute(text(f"ANALYZE {table}"))
        mine = s.scalar(text(f"SELECT count(*) FROM {table} WHERE tenant_id = :t"), {"t": tenant_id}) or 0
        everyone = s.scalar(text(f"SELECT count(*) FROM {table}")) or 1
        size = s.scalar(text("SELECT pg_total_relation_size(:table)"), {"table": table}) or 0
    return mine, size * mine / everyone / 1e6 * MONTH_DAYS / days


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--timeline-per-month", type=int, default=150_000, help="one row per job run per day")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    with bench_app():
        slug = f"growth-{secrets.token_hex(4)}"
        with system_session() as s:
            tenant = Tenant(slug=slug, name=f"Growth MSP {slug}")
            s.add(tenant)
            s.flush()
            tenant_id = tenant.id
        started = time.perf_counter()
        events = args.timeline_per_month * HISTORY.days // MONTH_DAYS
        generate(tenant_id, customers=args.customers, jobs=args.jobs, events=events, seed=args.seed)
        generate_activity(tenant_id, days=MONTH_DAYS, seed=args.seed)
        print(f"tenant {tenant_id} ({slug}) generated in {time.perf_counter() - started:.1f} s")
        print(f"{'table':<22}{'rows/month':>12}{'MB/month':>10}  then")
        forever = capped = 0.0
        for table, (days, field) in TABLES.items():
            rows, mb = _mb_per_month(tenant_id, table, days)
            per_month = rows * MONTH_DAYS / days
            if field is None:
                forever += mb
                then = "kept: grows every month"
            else:
                keep = RETENTION_DAYS[field][0]
                capped += mb * keep / MONTH_DAYS
                then = f"kept {keep} days: levels off at {mb * keep / MONTH_DAYS:,.0f} MB"
            print(f"{table:<22}{per_month:>12,.0f}{mb:>10.1f}  {then}")
        print(
            f"growth: {forever:,.0f} MB per month for good (the record), plus {capped:,.0f} MB in all "
            f"for the data with a retention once it levels off"
        )


if __name__ == "__main__":
    main()
