"""Pages of a sync written side by side: page k+1's statements run on a second database connection while page k's
still run on the first, and each page commits in the order it was read.

A sync page of a thousand detections is one statement that keeps one PostgreSQL backend busy for 0.2-0.3 s; one
connection wrote a whole sync one page after the other on one core while the machine's other core waited
(bench/edr_sync.py). Two lanes write two pages at once, and nothing else changes:

- **Commits stay in page order**, each with its stream's cursor, so a worker killed after page k resumes at k+1
  as before. Page k+1 commits only after page k has; a page whose write failed rolls back, with every page read
  after it.
- **Only pages that share no row** go side by side: each record type that may (``SIDE_BY_SIDE``: its writer
  touches only rows keyed by its records' own ids) and no id in common with the page still in flight. Any other page
  waits until the pages before it have committed, and is written on the sync's own session as before.
- **A writer that shares rows beyond its records' ids** (an RMM's alerts land in the live alerts of their device)
  cuts its pages itself (:class:`Part`): records that share a row go in one part, each part names what it shares,
  and two parts sharing anything are never in flight together.
- **Locks a part takes in ascending order** (the alert dedupe's one per device) are held by an earlier part only
  above a later one's (:attr:`Part.span`). A later part waits for the earlier ones' commits outside PostgreSQL, where
  its deadlock detector cannot see; with the spans ordered, a transaction outside the sync taking the same locks in
  the same order can never close a circle of waits through that one.
- **A lane waits for a row lock :data:`LOCK_WAIT` seconds at most.** A transaction outside the sync that locks rows
  of two parts in another order (an instant update clearing a connection's alerts, a technician muting a customer's
  alerts) could otherwise hold the earlier part while waiting for the later one, which waits for the earlier in
  Python: a wait without end. The part gives up instead, every part in flight rolls back, and the sync stops with
  that said, to go on from its last commit at the next run.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from psycopg.errors import LockNotAvailable
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from vectis.connectors.base import Record
from vectis.platform.http import ConnectorError

LANES = 2  # pages in flight at once: the pages' statements are PostgreSQL's work, one backend each
LOCK_WAIT = 15  # seconds a lane waits for a row another transaction holds (a technician's action takes far less)
WAITED = (
    "Another change held rows this sync writes for more than {seconds} seconds (an instant update, or a technician's "
    "action on the same alerts or detections). What was written before stays; the next sync goes on from there."
)

# Record types whose pages may be written beside another page of their stream: registered by the capability that
# writes them (``side_by_side``), for writers whose rows are keyed by the records' own ids alone.
SIDE_BY_SIDE: set[type[Any]] = set()


# The span of a part whose writer may take any of its locks (it cannot tell which before it writes): it runs beside
# no part that takes one.
ANY_LOCK = (-(2**63), 2**63)


@dataclass(frozen=True)
class Part:
    """Records written in one transaction on a lane, and what the part holds while it is written: ``keys``, which no
    other part in flight may hold, and ``span``, the lowest and highest of the locks its writer takes in ascending
    order (None: it takes none)."""

    records: Sequence[Record]
    keys: frozenset[Hashable]
    span: tuple[int, int] | None = None

    @classmethod
    def of(cls, records: Sequence[Record]) -> Part:
        """Records keyed by their own ids alone."""
        return cls(records, frozenset((type(r), r.external_id) for r in records))

    def beside(self, earlier: Part) -> bool:
        """Whether this part may be written while ``earlier`` (committing before it) still is."""
        if self.keys & earlier.keys:
            return False
        return self.span is None or earlier.span is None or self.span[1] < earlier.span[0]


def halves(records: list[Record]) -> list[Part]:
    """A page of records keyed by their own ids in :data:`LANES` parts: the page's write takes the time of its
    largest part, and the last page read (the one the sync waits for at its end) no longer takes a whole page's."""
    size = -(-len(records) // LANES)
    return [Part.of(records[i : i + size]) for i in range(0, len(records), size)]


@dataclass
class _Lane:
    session: Session
    writer: Any  # a Writer on this lane's session, sharing the sync's maps


@dataclass
class _InFlight:
    lane: _Lane
    part: Part
    written: Future[None]
    committing: Callable[[Session], None]  # in the page's transaction, before its commit: its cursor, the lock check
    committed: Callable[[], None]  # after its commit: the run's counts


class Lanes:
    """The pages in flight, at most :data:`LANES`, and the order they commit in. ``open_lane`` makes a lane: its
    session, and a writer on it (whose ``write_page`` a lane's thread runs)."""

    def __init__(self, open_lane: Callable[[], tuple[Session, Any]]) -> None:
        self._open_lane = open_lane
        self._idle: list[_Lane] = []
        self._lanes: list[_Lane] = []
        self._flight: deque[_InFlight] = deque()
        self._pool: ThreadPoolExecutor | None = None

    @staticmethod
    def takes(records: list[Record]) -> bool:
        """Whether this page may be written on a lane: every record of a type that may go side by side."""
        return bool(records) and all(type(r) in SIDE_BY_SIDE for r in records)

    def start(
        self, parts: list[Part], committing: Callable[[Session, bool], None], committed: Callable[[], None]
    ) -> None:
        """Write a page's ``parts`` (:func:`halves`, or as its writer cut it), each on a free lane, committing in
        their order. ``committing(session, last)`` runs in each part's transaction before its commit (only the last
        part saves the page's cursor); ``committed()`` after the last part's commit."""
        for part in parts[:-1]:
            self._start(part, lambda session: committing(session, False), lambda: None)
        self._start(parts[-1], lambda session: committing(session, True), committed)

    def _start(self, part: Part, committing: Callable[[Session], None], committed: Callable[[], None]) -> None:
        """One part on a free lane, once the parts before it that it must not run beside have committed."""
        while self._flight and (len(self._flight) >= LANES or not all(part.beside(f.part) for f in self._flight)):
            self._finish_oldest()
        lane = self._idle.pop() if self._idle else self._new_lane()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=LANES, thread_name_prefix="sync-lane")
        written = self._pool.submit(lane.writer.write_page, list(part.records))
        self._flight.append(_InFlight(lane, part, written, committing, committed))

    def drain(self) -> None:
        """Every page in flight committed, in order: before a page written on the sync's own session, at a stream's
        end, and when the vendor stops answering (what was read before stays)."""
        while self._flight:
            self._finish_oldest()

    def abandon(self) -> None:
        """Every page in flight rolled back (a write failed, or the lock was lost): nothing after the last commit."""
        while self._flight:
            done = self._flight.popleft()
            wait([done.written])  # its error, if any, was raised already, or the sync's own is being raised
            done.lane.session.rollback()
            self._idle.append(done.lane)

    def close(self) -> None:
        self.abandon()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        for lane in self._lanes:
            lane.session.close()

    def _new_lane(self) -> _Lane:
        session, writer = self._open_lane()
        session.info["lock_timeout"] = f"{LOCK_WAIT}s"
        lane = _Lane(session, writer)
        self._lanes.append(lane)
        return lane

    def _finish_oldest(self) -> None:
        done = self._flight[0]
        try:
            done.written.result()
            done.committing(done.lane.session)
            done.lane.session.commit()
        except BaseException as error:
            self.abandon()  # the failed page too: it is still first in flight
            if isinstance(error, OperationalError) and isinstance(error.orig, LockNotAvailable):
                raise ConnectorError(WAITED.format(seconds=LOCK_WAIT), permanent=False) from None
            raise
        self._flight.popleft()
        self._idle.append(done.lane)
        done.committed()
