"""What tenant scoping costs per transaction: a primary-key read through ``tenant_session`` (which runs
``set_config('vectis.tenant_id', …, true)`` first and passes RLS), the same ORM read unscoped (owner
session), and the same read as raw SQL on an owner connection (the floor). Prints p50/p95 in microseconds and the ratio; floor = the raw read. No issue sets a goal yet;
the architecture's budget is that scoping stays well under 2x a raw point read.

    .venv/bin/python bench/tenant_binding.py [--n 2000]
"""

from __future__ import annotations

import argparse
import statistics
import time

from _env import bench_app, percentile
from sqlalchemy import select, text

from vectis.models import Tenant, User
from vectis.platform import db


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    with bench_app():
        with db.system_session() as s:
            tenant_id, user_id = s.execute(
                select(Tenant.id, User.id).join(User, User.tenant_id == Tenant.id).where(Tenant.slug == "acme")
            ).first()  # type: ignore[misc]
        scoped, unscoped, raw = [], [], []
        for _ in range(args.n):
            start = time.perf_counter()
            with db.tenant_session(tenant_id) as s:
                s.execute(select(User.email).where(User.id == user_id)).one()
            scoped.append(time.perf_counter() - start)
            start = time.perf_counter()
            with db.system_session() as s:
                s.execute(select(User.email).where(User.id == user_id)).one()
            unscoped.append(time.perf_counter() - start)
            start = time.perf_counter()
            with db.database().owner_engine.begin() as conn:
                conn.execute(text("SELECT email FROM users WHERE id = :id"), {"id": user_id}).one()
            raw.append(time.perf_counter() - start)
    for name, samples in (("tenant-scoped", scoped), ("same, unscoped", unscoped), ("raw SQL", raw)):
        print(f"{name:>14}: p50 {percentile(samples, 50) * 1e6:7.0f} µs   p95 {percentile(samples, 95) * 1e6:7.0f} µs")
    print(
        f"cost of scoping (p50 scoped / unscoped ORM): {statistics.median(scoped) / statistics.median(unscoped):.2f}x"
    )
    print(f"ratio to the floor (p50 scoped / raw SQL):   {statistics.median(scoped) / statistics.median(raw):.2f}x")


if __name__ == "__main__":
    main()
