"""The RQ worker class the Procfile runs (``rq worker -w jobs.worker.PreloadedWorker``).

RQ forks a work horse for every job, so a crash or a leak ends with the job. A horse forked from a bare ``rq worker``
imported Vectis and built its app first: 4-5 s before every job did anything (2 s for the minutely heartbeat, the
same for every Test connection and every mail). This worker imports the job modules and builds the app once, in the
parent, before its first fork; each horse inherits them. No connection is inherited: the database engines hold none
when the parent forks (a socket two processes share corrupts both conversations), and Redis's pool checks its process
id itself. The parent keeps the code, settings and keys it loaded for its life: a deploy (or a key rotation)
restarts the workers, as it restarts the web."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from rq.worker import Worker

import jobs
from jobs import context


class PreloadedWorker(Worker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        preload()


def preload() -> None:
    """Every job module imported and the app built, holding no database connection."""
    for found in pkgutil.iter_modules(jobs.__path__):
        importlib.import_module(f"jobs.{found.name}")
    context.prepare().extensions["vectis.platform.db"].dispose()
