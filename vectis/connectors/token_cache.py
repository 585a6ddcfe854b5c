"""A vendor's bearer token kept in Redis between requests and processes, sealed like every secret, until shortly before
it expires: one sign-in per token lifetime per connection, not one per sync (NinjaOne's and Defender's)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from vectis.connectors.base import ConnectorContext
from vectis.platform.crypto import Sealed

TOKEN_MARGIN = timedelta(seconds=120)  # ask for a new token this long before the old one expires


def cached_token(
    ctx: ConnectorContext,
    key: str,
    grant: Callable[[], dict[str, Any]],
    *,
    force: bool = False,
    default_lifetime: int = 3600,
) -> str:
    """The token cached under ``key``, or a new one from ``grant()`` (an OAuth answer: ``access_token``,
    ``expires_in``) when there is none, it is about to expire, or ``force`` (the vendor refused the old one)."""
    raw = None if force else ctx.redis.get(key)
    if raw is not None:
        try:
            entry: dict[str, Any] = Sealed(raw if isinstance(raw, bytes) else str(raw).encode()).open(ctx.tenant_id)
            if entry["expires_at"] - datetime.now(UTC).timestamp() > TOKEN_MARGIN.total_seconds():
                return str(entry["access"])
        except Exception:  # noqa: S110 - an unreadable cache entry is asked for again
            pass
    body = grant()
    lifetime = int(body.get("expires_in") or default_lifetime)
    entry = {"access": body["access_token"], "expires_at": datetime.now(UTC).timestamp() + lifetime}
    # It leaves Redis with the token's own lifetime.
    ctx.redis.set(key, Sealed.seal(ctx.tenant_id, entry).token, ex=max(lifetime, 1))
    return str(body["access_token"])
