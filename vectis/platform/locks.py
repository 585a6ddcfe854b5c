"""A Redis lock held for as long as its holder is alive, and no longer.

A sync holds its connection's lock for minutes; a lock that lives only as long as its TTL either outlives
a dead worker for the whole job timeout (TTL too long) or expires under a live worker stuck on one slow
vendor page, letting a second worker sync the same connection (TTL too short). So the TTL stays short and
a daemon thread renews it every third of it while the holder runs; a SIGKILLed worker renews nothing and
its lock is free within one TTL. Before each commit the holder calls :meth:`HeldLock.check`, which fails
if the lock was lost anyway (Redis restarted, the process was paused for longer than the TTL): the holder
then stops without committing what a second worker may be writing too.
"""

from __future__ import annotations

import contextlib
import logging
import threading

from redis import Redis
from redis.exceptions import LockError, RedisError
from redis.lock import Lock

log = logging.getLogger(__name__)


class LockLost(Exception):
    """The lock expired or was taken over while its holder was still working."""


class HeldLock:
    def __init__(self, store: Redis, name: str, ttl: float) -> None:
        self.name, self.ttl = name, ttl
        # Not thread-local: the renewing thread must see the token the holder's thread acquired with.
        self._lock: Lock = store.lock(name, timeout=ttl, blocking=False, thread_local=False)
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self._lost = False

    def acquire(self) -> bool:
        if not self._lock.acquire():
            return False
        self._renewer = threading.Thread(target=self._renew, name=f"renew {self.name}", daemon=True)
        self._renewer.start()
        return True

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                self._lock.reacquire()
            except (LockError, RedisError) as exc:
                self._lost = True
                log.warning("lock %s lost while held: %s", self.name, exc)
                return

    def check(self) -> None:
        """Raise :class:`LockLost` unless this holder still owns the lock (and renew it while at it)."""
        if self._lost:
            raise LockLost(self.name)
        try:
            self._lock.reacquire()
        except (LockError, RedisError) as exc:
            self._lost = True
            raise LockLost(self.name) from exc

    def release(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=self.ttl)
        with contextlib.suppress(LockError, RedisError):  # expired or taken over: nothing of ours to release
            self._lock.release()
