"""Rate limits kept in Redis, so every web and worker process shares them.

- :class:`TokenBucket`: a steady rate with bursts (per-connection limits for write-backs and vendor calls).
- :class:`AttemptWindow`: "N failures within a window" (sign-in and MFA lockouts).

``vectis.identity.throttle`` combines them into the sign-in guard.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from redis import Redis
from redis.connection import Connection
from redis.exceptions import NoScriptError

# Refill, then take one token if there is one. Returns {taken (0/1), seconds until a token is available}.
# Atomic in Redis, so two workers can never both take the last token.
_TAKE = """
local key, rate, burst, now = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', key, 'tokens', 'at')
local tokens, at = tonumber(state[1]), tonumber(state[2])
if tokens == nil then tokens, at = burst, now end
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local taken, wait = 0, 0
if tokens >= 1 then
  tokens, taken = tokens - 1, 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', key, 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', key, math.ceil(burst / rate) + 60)
return {taken, tostring(wait)}
"""


@dataclass(frozen=True)
class TokenBucket:
    redis: Redis
    key: str
    rate: float  # tokens per second
    burst: int = 1

    def try_take(self) -> float:
        """0.0 when a token was taken; otherwise the seconds to wait before one will be there."""
        # By its digest (EVALSHA; the script is sent only the first time a server is asked): every API call takes a
        # token, and sending the script's text each time cost it more than Redis spends running it (bench/api.py).
        take = self.redis.register_script(_TAKE)
        taken, wait = take(keys=[f"vectis:bucket:{self.key}"], args=[self.rate, self.burst, time.time()])
        return 0.0 if int(taken) else float(wait)

    def ask(self) -> Asked:
        """:meth:`try_take`, sent now and read when the caller has done its own round trips (:meth:`Asked.answer`):
        an API call's rate and its token's SQL then wait for each other's answer once, not one after the other (0.6 ms
        a call here, bench/api.py). Every ask is answered or dropped (:meth:`Asked.drop`), which puts the connection
        back."""
        take = self.redis.register_script(_TAKE)  # its digest: made here, no round trip
        pool = self.redis.connection_pool
        connection = pool.get_connection()
        try:
            connection.send_command(  # type: ignore[no-untyped-call]
                "EVALSHA", take.sha, 1, f"vectis:bucket:{self.key}", self.rate, self.burst, time.time()
            )
        except BaseException:
            connection.disconnect()  # type: ignore[no-untyped-call]
            pool.release(connection)
            raise
        return Asked(self, connection)

    def wait_for_token(self) -> float:
        """Like :meth:`try_take` without taking: 0.0 when a token is there, else the seconds until one is."""
        tokens, at = self.redis.hmget(f"vectis:bucket:{self.key}", "tokens", "at")
        if tokens is None or at is None:
            return 0.0
        now = max(time.time(), float(at))
        available = min(self.burst, float(tokens) + (now - float(at)) * self.rate)
        return 0.0 if available >= 1 else (1 - available) / self.rate

    def take(self, *, max_wait: float = 60.0) -> None:
        """Block until a token is taken (for workers pacing their own vendor calls)."""
        deadline = time.monotonic() + max_wait
        while (wait := self.try_take()) > 0:
            if time.monotonic() + wait > deadline:
                raise TimeoutError(f"rate limit {self.key}: no token within {max_wait:.0f}s")
            time.sleep(wait)


class Asked:
    """A token asked of Redis whose answer is not read yet (:meth:`TokenBucket.ask`)."""

    def __init__(self, bucket: TokenBucket, connection: Connection) -> None:
        self._bucket, self._connection = bucket, connection

    def answer(self) -> float:
        """As :meth:`TokenBucket.try_take`: 0.0 when a token was taken, else the seconds until one is there."""
        try:
            taken, wait = self._connection.read_response()
        except NoScriptError:  # a Redis that restarted or flushed its scripts: asked again, the script sent in full
            self._give_back()
            return self._bucket.try_take()
        except BaseException:
            self._connection.disconnect()  # type: ignore[no-untyped-call]  # its answer may yet come: none may read it
            self._give_back()
            raise
        self._give_back()
        return 0.0 if int(taken) else float(wait)

    def drop(self) -> None:
        """Not wanted after all (the token was refused): the answer is read and let go, or the connection closed."""
        try:
            self._connection.read_response()
        except BaseException:
            self._connection.disconnect()  # type: ignore[no-untyped-call]
        self._give_back()

    def _give_back(self) -> None:
        self._bucket.redis.connection_pool.release(self._connection)


@dataclass(frozen=True)
class AttemptWindow:
    """At most ``limit`` failures per ``window``, counted from the first failure; then locked until the
    window ends. Keyed narrowly (an account at one address, one address, one account's codes), never
    globally, so one lockout cannot lock anyone else out."""

    redis: Redis
    key: str
    limit: int = 5
    window: timedelta = timedelta(minutes=15)

    @property
    def _key(self) -> str:
        return f"vectis:attempts:{self.key}"

    def locked_until(self) -> datetime | None:
        count = self.redis.get(self._key)
        if count is None or int(count) < self.limit:
            return None
        ttl = self.redis.pttl(self._key)
        return datetime.now(UTC) + timedelta(milliseconds=max(int(ttl), 0))

    def fail(self) -> datetime | None:
        """Count a failure; returns the lock's end when this failure reached the limit."""
        pipe = self.redis.pipeline()
        # The window starts at the first failure: create the counter with its expiry only if it is new
        # (SET NX EX, which Redis 6 has too; EXPIRE NX needs Redis 7).
        pipe.set(self._key, 0, ex=int(self.window.total_seconds()), nx=True)
        pipe.incr(self._key)
        _, count = pipe.execute()
        return self.locked_until() if int(count) >= self.limit else None

    def reset(self) -> None:
        self.redis.delete(self._key)
