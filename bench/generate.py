"""Fill a fresh tenant with a believable MSP at benchmark scale (vectis.datagen), and say how long it took.

    .venv/bin/python bench/generate.py --customers 500 --jobs 5000 --events 2000000 [--tenant SLUG] [--seed 1]

Without --tenant a new tenant ``gen-<random>`` is created; with it, that tenant is used (created if it does
not exist; it must have no customers yet). Prints the tenant's id and slug, the row counts and the seconds.
"""

from __future__ import annotations

import argparse
import secrets
import time

from _env import bench_app
from sqlalchemy import select

from vectis.demo.datagen import generate
from vectis.models import Tenant
from vectis.platform.db import system_session


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--devices", type=int, default=None, help="ignored: there is no devices table yet")
    parser.add_argument("--tenant", default=None, help="slug of the tenant to fill (default: a new gen-<random>)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.devices is not None:
        print(f"note: --devices {args.devices} ignored: there is no devices table yet")

    with bench_app():
        slug = args.tenant or f"gen-{secrets.token_hex(4)}"
        with system_session() as s:
            tenant = s.scalar(select(Tenant).where(Tenant.slug == slug))
            if tenant is None:
                tenant = Tenant(slug=slug, name=f"Generated MSP {slug}")
                s.add(tenant)
                s.flush()
            tenant_id = tenant.id
        print(f"tenant {tenant_id} ({slug})", flush=True)
        started = time.perf_counter()

        def progress(message: str) -> None:
            print(f"  {time.perf_counter() - started:7.1f} s  {message}", flush=True)

        counts = generate(
            tenant_id, customers=args.customers, jobs=args.jobs, events=args.events, seed=args.seed, progress=progress
        )
        seconds = time.perf_counter() - started
        for name, count in counts.items():
            print(f"  {name:>16}: {count:>10,}")
        rate = counts["events"] / seconds if seconds else 0.0
        print(f"tenant {tenant_id} ({slug}): {seconds:.1f} s ({rate:,.0f} timeline rows/s overall)")


if __name__ == "__main__":
    main()
