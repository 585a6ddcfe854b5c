"""What every benchmark needs: the app on real PostgreSQL and Redis (the servers in DATABASE_URL /
REDIS_URL, or embedded ones under var/bench), migrated, with the demo tenants seeded."""

from __future__ import annotations

import os
import statistics
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import Flask

from vectis import create_app
from vectis.demo.seed import seed_demo
from vectis.platform import embedded
from vectis.platform.bootstrap import ensure_database, migrate
from vectis.platform.config import ROOT, load


@contextmanager
def bench_app() -> Iterator[Flask]:
    var = ROOT / "var" / "bench"
    services = embedded.start(var, postgres=not os.environ.get("DATABASE_URL"), redis=not os.environ.get("REDIS_URL"))
    env = dict(os.environ, VECTIS_ENV="test", VECTIS_VAR_DIR=str(var))
    env["DATABASE_URL"] = services.database_url or os.environ["DATABASE_URL"]
    env["REDIS_URL"] = services.redis_url or os.environ["REDIS_URL"]
    settings = load(env)
    ensure_database(settings.database_url)
    migrate(settings, quiet=True)
    app = create_app(settings=settings)
    try:
        with app.app_context():
            seed_demo()
            yield app
    finally:
        app.extensions["vectis.platform.db"].dispose()
        services.stop()


def percentile(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100)[q - 1]
