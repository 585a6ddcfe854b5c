"""What every simulator's state keeps besides its data: the fault knobs, request counters, the latest requests as
received, and the bookkeeping the knobs need (a rate-limit window, count-down knobs), behind one lock."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Mapping
from typing import Any, ClassVar, Generic, TypeVar

from vectis.simulators.base.knobs import FaultKnobs, Json

K = TypeVar("K", bound=FaultKnobs)


class SimState(Generic[K]):
    """Base of a simulator's state dataclass, which declares ``faults: Faults = field(default_factory=Faults)``.

    The bookkeeping here is made in ``__post_init__`` (a subclass that defines its own calls ``super()``), so
    it is not a dataclass field: it takes no part in ``__init__``, ``repr`` or ``==``. ``TALLIES`` names extra
    counters that ``stats()`` reports beside ``paths`` and ``statuses`` (Keepit counts logins)."""

    faults: K
    TALLIES: ClassVar[tuple[str, ...]] = ()

    _lock: threading.RLock
    _paths: Counter[str]
    _statuses: Counter[str]
    _tallies: dict[str, Counter[str]]
    _window: list[int]  # [second, requests in it]
    _answers: deque[tuple[float, int]]  # (monotonic time, status) of the latest answers, for pacing checks
    _received: deque[Json]  # the latest requests as they came in: {method, path, query, body}

    ANSWERS_KEPT: ClassVar[int] = 20_000
    RECEIVED_KEPT: ClassVar[int] = 2_000

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._paths, self._statuses = Counter(), Counter()
        self._tallies = {name: Counter() for name in self.TALLIES}
        self._window = [-1, 0]
        self._answers = deque(maxlen=self.ANSWERS_KEPT)
        self._received = deque(maxlen=self.RECEIVED_KEPT)

    # -- knobs

    def merge_faults(self, patch: Mapping[str, Any]) -> K:
        with self._lock:
            self.faults = self.faults.merged(patch)
            return self.faults

    def reset(self) -> None:
        """Every knob back to its default and the counters cleared; the data stays."""
        with self._lock:
            self.faults = type(self.faults)()
            self._paths.clear()
            self._statuses.clear()
            for tally in self._tallies.values():
                tally.clear()
            self._window[:] = [-1, 0]
            self._answers.clear()
            self._received.clear()
            self.cleared()

    def cleared(self) -> None:
        """What else a reset clears (under the lock); nothing by default."""

    def take(self, knob: str) -> bool:
        """Count a count-down knob (``errors_520``, ``fail_patch``, …) down by one, if it is set."""
        with self._lock:
            left: int = getattr(self.faults, knob)
            if left > 0:
                setattr(self.faults, knob, left - 1)
                return True
            return False

    def throttled(self) -> bool:
        """Over ``rate_limit_per_second`` in a fixed one-second window (0: never)."""
        limit = self.faults.rate_limit_per_second
        if not limit:
            return False
        second = int(time.monotonic())
        with self._lock:
            if self._window[0] != second:
                self._window[:] = [second, 0]
            if self._window[1] >= limit:
                return True
            self._window[1] += 1
            return False

    def pace(self) -> None:
        """Sleep for the ``hang`` knob, then the ``latency`` knob."""
        if self.faults.hang:
            time.sleep(self.faults.hang)
        if self.faults.latency:
            time.sleep(self.faults.latency)

    # -- counters

    def record(self, path: str | None = None, status: int | None = None, **tallies: str) -> None:
        """Count one request: its path (or route pattern), its status and any ``TALLIES`` (name=key)."""
        with self._lock:
            if path is not None:
                self._paths[path] += 1
            if status is not None:
                self._statuses[str(status)] += 1
                self._answers.append((time.monotonic(), status))
            for name, key in tallies.items():
                self._tallies[name][key] += 1

    def receive(self, method: str, path: str, query: Json, body: Any) -> None:
        """Keep one request as it came in (before any knob answers it): what a test compares with what Vectis
        meant to send."""
        with self._lock:
            self._received.append({"method": method, "path": path, "query": query, "body": body})

    def received(self) -> list[Json]:
        """The latest requests as they came in, oldest first (``receive``)."""
        with self._lock:
            return list(self._received)

    def answers(self) -> list[tuple[float, int]]:
        """When each of the latest requests was answered (``time.monotonic()``) and with which status."""
        with self._lock:
            return list(self._answers)

    def stats(self) -> Json:
        with self._lock:
            return {
                "total": sum(self._paths.values()),
                "paths": dict(self._paths),
                "statuses": dict(self._statuses),
                **{name: dict(tally) for name, tally in self._tallies.items()},
            }
