"""Redis and the RQ queues. Queue names are part of the job wire format (see ``jobs/``)."""

from __future__ import annotations

from flask import Flask, current_app
from redis import Redis
from rq import Queue

# "interactive" holds the short jobs a person is waiting on (Test connection); its own worker process runs
# them, so they never queue behind an hour-long sync. "exports" (the query builder's large exports) has its own
# worker too: a person waits on it as well, and a million-row export must not hold up a Test connection.
QUEUES = ("interactive", "sync", "rules", "actions", "mail", "exports")


def init_app(app: Flask, redis_url: str) -> None:
    app.extensions["vectis.redis"] = Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)


def redis() -> Redis:
    client: Redis = current_app.extensions["vectis.redis"]
    return client


def queue(name: str) -> Queue:
    if name not in QUEUES:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=redis())
