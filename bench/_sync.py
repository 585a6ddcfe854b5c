"""A sync measured against its two floors, for every connector's bench.

- **Pacing**: the connection's token bucket starts full with ``burst = round(R)`` tokens (the factory's), so
  ``n`` requests cannot finish sooner than ``(n - burst) / R`` seconds.
- **Database**: the rows the sync wrote, written again by ``COPY`` into the same tables in one transaction
  (dumped, deleted, then timed coming back, ids and all): what PostgreSQL needs for them at the least. The median of
  three such writes: one alone varied by half from run to run on the same rows.

The sync's ratio is its wall time over the larger of the two: whichever bounds it, the sync is judged by it.
Beside them each run prints how busy the machine's cores were (every process: this one, the simulator,
PostgreSQL) and the CPU each of the three spent: a sync that kept every core busy was bound by the machine, and
more writers would not help.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _report import Figure, Spread
from sqlalchemy import Table, select

from jobs.sync import run_sync
from vectis.models import Base, SyncRun
from vectis.platform import db

# Rows a bench makes before the sync, or that are never the sync's to write.
NOT_WRITTEN_BY_A_SYNC = {"tenants", "users", "connections", "audit_log", "audit_seal"}


@dataclass(frozen=True)
class SyncFigures:
    status: str
    wall: float
    requests: int
    counts: dict[str, Any]
    pacing_floor: float
    database_floor: float
    rows: int
    cores_busy: float  # of os.cpu_count(), on average over the sync's wall time
    own_cpu: float  # seconds of this process's CPU (the sync's threads)
    simulator_cpu: float  # seconds of the vendor simulator's CPU
    database_cpu: float  # seconds of PostgreSQL's CPU (every process of the server, its background workers too)

    @property
    def floor(self) -> float:
        return max(self.pacing_floor, self.database_floor)

    @property
    def bound(self) -> str:
        return "pacing" if self.pacing_floor >= self.database_floor else "database"

    def describe(self, rate: float) -> str:
        return (
            f"R = {rate:g}/s: {self.status}, {self.requests} requests, {self.rows:,} rows {self.counts}\n"
            f"  wall {self.wall:.2f} s; pacing floor {self.pacing_floor:.2f} s, database floor "
            f"{self.database_floor:.2f} s -> ratio {self.wall / self.floor:.2f} against the {self.bound} floor\n"
            f"  cores busy {self.cores_busy:.2f} of {os.cpu_count()} on average; CPU: the sync {self.own_cpu:.2f} s, "
            f"the simulator {self.simulator_cpu:.2f} s, PostgreSQL {self.database_cpu:.2f} s"
        )


GOAL = 1.15  # every connector, at R = 2 and at R = 50 (issue 17)


def figure(vendor: str, rate: float, runs: list[SyncFigures], scale: str = "") -> Figure:
    """The median run's ratio (by ratio) as the figure, with the spread of every run in its note."""
    ratios = Spread(tuple(r.wall / r.floor for r in runs))
    middle = sorted(runs, key=lambda r: r.wall / r.floor)[len(runs) // 2]
    print(f"{vendor} R = {rate:g}/s ratio: {ratios}")
    return Figure(
        f"{vendor} sync R={rate:g} (wall / {middle.bound} floor)",
        middle.wall,
        "s",
        GOAL,
        floor=middle.floor,
        note=f"{scale}{middle.requests} requests, {middle.rows:,} rows; "
        f"min-max ratio {min(ratios.samples):.2f}-{max(ratios.samples):.2f}; "
        f"cores busy {middle.cores_busy:.1f} of {os.cpu_count()}",
    )


def pacing_floor(requests: int, rate: float) -> float:
    return max(0, requests - max(1, round(rate))) / rate


def busy_seconds() -> float:
    """CPU seconds every core of the machine has spent busy since boot (/proc/stat: all but idle and iowait)."""
    ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def process_seconds() -> tuple[float, float]:
    """CPU seconds so far of (the vendor simulators' processes, PostgreSQL's processes), from /proc: on a machine of
    two cores the three share them, so where a sync's wall time went is read off who was busy."""
    simulators = database = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        seconds = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
        if b"vectis.simulators." in command:
            simulators += seconds
        elif command.startswith(b"postgres") or b"/bin/postgres " in command:
            database += seconds
    return simulators, database


def measure_sync(tenant_id: int, connection_id: int, rate: float) -> SyncFigures:
    """Run the connection's sync through the real job, then measure its database floor."""
    processes = process_seconds()
    busy, own, started = busy_seconds(), time.process_time(), time.perf_counter()
    status = run_sync(tenant_id, connection_id)
    wall = time.perf_counter() - started
    busy, own = busy_seconds() - busy, time.process_time() - own
    simulator_cpu, database_cpu = (after - before for after, before in zip(process_seconds(), processes, strict=True))
    with db.tenant_session(tenant_id) as s:
        run = s.scalar(select(SyncRun).order_by(SyncRun.id.desc()).limit(1))
        if run is None:
            raise SystemExit("the sync left no run")
        requests, counts = run.requests_made, dict(run.counts)
    seconds, rows = database_floor(tenant_id)
    floor = pacing_floor(requests, rate)
    return SyncFigures(
        status, wall, requests, counts, floor, seconds, rows, busy / wall, own, simulator_cpu, database_cpu
    )


def _tables() -> list[Table]:
    return [t for t in Base.metadata.sorted_tables if "tenant_id" in t.c and t.name not in NOT_WRITTEN_BY_A_SYNC]


FLOOR_TIMES = 3  # the COPY is timed this many times and its median taken: once, the same rows took 0.56-1.03 s


def database_floor(tenant_id: int) -> tuple[float, int]:
    """(seconds, rows): the tenant's synced rows written back by COPY in one transaction, the median of
    :data:`FLOOR_TIMES` times, each into tables as the sync found them (the rows gone, cleared away by VACUUM)."""
    dumps: list[tuple[str, str, bytes]] = []
    rows = 0
    with db.system_session() as s:
        cursor = s.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
        for table in _tables():
            columns = ", ".join(c.name for c in table.columns if c.computed is None)
            count = cursor.execute(f"SELECT count(*) FROM {table.name} WHERE tenant_id = %s", (tenant_id,)).fetchone()
            if not count or not count[0]:
                continue
            rows += count[0]
            dumped = bytearray()
            select_rows = f"COPY (SELECT {columns} FROM {table.name} WHERE tenant_id = {int(tenant_id)}) TO STDOUT"
            with cursor.copy(f"{select_rows} (FORMAT binary)") as copy:
                for chunk in copy:
                    dumped += chunk
            dumps.append((table.name, columns, bytes(dumped)))
    names = [name for name, _, _ in dumps]
    times = []
    for _ in range(FLOOR_TIMES):
        _delete(tenant_id, names)
        _vacuum(names)
        started = time.perf_counter()
        with db.system_session() as s:  # one transaction, committed as the block ends
            cursor = s.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
            for name, columns, data in dumps:
                with cursor.copy(f"COPY {name} ({columns}) FROM STDIN (FORMAT binary)") as copy:
                    copy.write(data)
        times.append(time.perf_counter() - started)
    _vacuum(names)
    return statistics.median(times), rows


def _delete(tenant_id: int, tables: list[str]) -> None:
    """Every row of the tenant in ``tables``, children first, so the foreign keys' checks can be skipped (not timed): on
    a database holding other benches' millions of rows each check read a whole table (40 s)."""
    with db.system_session() as s:
        cursor = s.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute("SET LOCAL session_replication_role = replica")
        for name in reversed(tables):
            cursor.execute(f"DELETE FROM {name} WHERE tenant_id = %s", (tenant_id,))


def _vacuum(tables: list[str]) -> None:
    """The rows the floor deleted, cleared away (not timed). A server without autovacuum (this machine's) kept them:
    every run's sync then walked the dead rows of the runs before it, and the same code measured slower each run."""
    with db.database().owner_engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        raw.autocommit = True  # VACUUM runs outside a transaction
        try:
            raw.execute(f"VACUUM (ANALYZE) {', '.join(tables)}")
        finally:
            raw.autocommit = False
