"""Builds a connection's connector: its config, its guarded HTTP client and its per-connection rate limit."""

from __future__ import annotations

from typing import Any

from redis import Redis

from vectis.connectors import registry
from vectis.connectors.base import Connector, ConnectorContext
from vectis.models import Connection
from vectis.platform.config import Settings
from vectis.platform.http import HttpClient
from vectis.platform.ratelimit import TokenBucket

# What a person waits on (Test connection, a reply sent from the hub): one attempt, timeouts of a few
# seconds (a write and its read-back fit in ~10 s), no waiting on Retry-After or the rate limit.
INTERACTIVE = {"max_attempts": 1, "connect_timeout": 3.0, "read_timeout": 5.0, "max_wait": 2.0}


def build_connector(
    connection: Connection,
    redis: Redis,
    settings: Settings,
    *,
    config: dict[str, Any] | None = None,
    interactive: bool = False,
) -> Connector:
    """``interactive``: the short policy above; otherwise a worker's (retries with backoff, long waits)."""
    cls = registry.get(connection.vendor)
    config = config if config is not None else connection.read_config()
    rate = connection.rate_limit_per_second or cls.default_rate_limit
    bucket = TokenBucket(
        redis, f"connection:{connection.tenant_id}:{connection.id or 'unsaved'}", rate, burst=max(1, round(rate))
    )
    template = settings.vendor_urls.get(cls.key) if settings.allow_loopback_vendors else None
    policy: dict[str, Any] = INTERACTIVE if interactive else {}
    http = HttpClient(
        base_url=cls.base_url(config, template),
        bucket=bucket,
        allow_loopback=settings.allow_loopback_vendors,
        idempotency_header=cls.idempotency_header,
        **policy,
    )
    context = ConnectorContext(connection.tenant_id, connection.id, http, redis, settings.product_ids.get(cls.key))
    return cls(config, context)
