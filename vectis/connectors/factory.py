"""Builds a connection's connector: its config, its guarded HTTP client and its per-connection rate limit; and
seals a connection's config, with where the vendor lives kept in clear beside it."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from redis import Redis

from vectis.connectors import registry
from vectis.connectors.base import Connector, ConnectorContext
from vectis.models import Connection
from vectis.platform.config import Settings
from vectis.platform.crypto import Sealed
from vectis.platform.http import ConnectorError, HttpClient
from vectis.platform.ratelimit import TokenBucket

# What a person waits on (Test connection, a reply sent from the hub): one attempt, timeouts of a few
# seconds (a write and its read-back fit in ~10 s), no waiting on Retry-After or the rate limit.
INTERACTIVE = {"max_attempts": 1, "connect_timeout": 3.0, "read_timeout": 5.0, "max_wait": 2.0}


def _template(cls: type[Connector], settings: Settings) -> str | None:
    """``VECTIS_VENDOR_URLS``' address for a vendor whose host is derived (demo and tests: the simulators)."""
    return settings.vendor_urls.get(cls.key) if settings.allow_loopback_vendors else None


def vendor_address(vendor: str, config: dict[str, Any], settings: Settings) -> str | None:
    """Where ``vendor`` lives for ``config`` (no trailing slash), or None when the config does not say yet."""
    cls = registry.get(vendor)
    try:
        address = urlsplit(cls.base_url(config, _template(cls, settings)).rstrip("/"))
    except (KeyError, ValueError):  # a field the address is made of is missing
        return None
    # Kept in clear and linked on pages: a user and password typed into the URL stay in the sealed config only.
    host = address.netloc.rpartition("@")[2]
    return urlunsplit(address._replace(netloc=host)) or None


def seal_config(connection: Connection, config: dict[str, Any], settings: Settings) -> None:
    """Every write of a connection's config: sealed, and its vendor's address kept in clear (not a secret), so
    a page that links to the vendor reads ``base_url`` and never opens the config."""
    connection.config = Sealed.seal(connection.tenant_id, config)
    connection.base_url = vendor_address(connection.vendor, config, settings)


class VendorRetired(ConnectorError):
    """The connection's vendor has no connector in this version of Vectis (removed since, or never one): what it
    synced stays readable, and every path that would reach the vendor says so in these words."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"Vectis no longer has a connector for {name}: what it brought in stays readable, but nothing can reach "
            "that tool from Vectis any more.",
            permanent=True,
        )


def build_connector(
    connection: Connection,
    redis: Redis,
    settings: Settings,
    *,
    config: dict[str, Any] | None = None,
    interactive: bool = False,
) -> Connector:
    """``interactive``: the short policy above; otherwise a worker's (retries with backoff, long waits)."""
    try:
        cls = registry.get(connection.vendor)
    except LookupError:
        raise VendorRetired(connection.name) from None
    config = config if config is not None else connection.read_config()
    rate = connection.rate_limit_per_second or cls.default_rate_limit
    bucket = TokenBucket(
        redis, f"connection:{connection.tenant_id}:{connection.id or 'unsaved'}", rate, burst=max(1, round(rate))
    )
    policy: dict[str, Any] = INTERACTIVE if interactive else {}
    http = HttpClient(
        base_url=cls.base_url(config, _template(cls, settings)),
        bucket=bucket,
        allow_loopback=settings.allow_loopback_vendors,
        idempotency_header=cls.idempotency_header,
        **policy,
    )
    context = ConnectorContext(connection.tenant_id, connection.id, http, redis, settings.product_ids.get(cls.key))
    return cls(config, context)
