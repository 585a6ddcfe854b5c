"""Reading ahead: the next items of an iterator made in a thread of their own while the caller works on the one
it has (a sync's next page fetched while this one is written; a vendor's next page requested while this one is
parsed)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

_DONE = object()
T = TypeVar("T")


def prefetched(items: Iterator[T], depth: int = 4, name: str = "sync-prefetch") -> Iterator[T]:
    """Fetch the next pages while the current one is written: the vendor's rate limit, not our writes,
    should set the pace. Errors surface in order, after the pages before them; a consumer that stops
    early stops the fetching thread too."""
    buffer: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there in order
            put(exc)

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = buffer.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join(timeout=5)
