"""A job's recent runs as the Backups tab shows them (Backup Radar's strip: one cell per run, oldest to newest),
and where a person opens the job in its vendor's own console."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from markupsafe import Markup, escape
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from vectis.backups.state import CLOCK_SKEW, TONE
from vectis.connectors import registry
from vectis.connectors.base import Connector
from vectis.models import Connection
from vectis.platform.dates import span, when

STRIP = 14  # runs per strip
_EMPTY_CELL = '<li class="run run-none"></li>'
WORDS = {"success": "Success", "warning": "Warning", "failed": "Failed", "running": "Running"}


@dataclass(frozen=True)
class RunCell:
    state: str
    started_at: datetime
    title: str  # when and what, for the cell's tooltip and screen readers
    html: str  # the cell as the strip draws it, every value in it escaped


@dataclass(frozen=True)
class Strip:
    runs: list[RunCell]  # oldest first

    @property
    def empty_slots(self) -> int:
        """Cells before the first run, so every strip is as long and its newest run sits at the right."""
        return STRIP - len(self.runs)

    def html(self) -> Markup:
        """The strip as the Backups tab shows it: one picture for screen readers (the summary), each cell's
        words its tooltip. Built here rather than in a template: a busy customer's tab has 1,500 cells, on
        which a template spent 20 ms and Markup.format 12 ms (bench/hub.py)."""
        cells = "".join(run.html for run in self.runs)
        # Safe: the summary is escaped here, each cell where it was made (_cell).
        return Markup(  # noqa: S704
            f'<ol class="run-strip" role="img" aria-label="{escape(self.summary)}" data-testid="run-strip">'
            f"{_EMPTY_CELL * self.empty_slots}{cells}</ol>"
        )

    @property
    def summary(self) -> str:
        """The strip in words, for screen readers (each cell's own words are its tooltip)."""
        if not self.runs:
            return "No run seen yet"
        counts: dict[str, int] = {}
        for run in self.runs:
            counts[run.state] = counts.get(run.state, 0) + 1
        parts = ", ".join(f"{n} {WORDS.get(state, state).lower()}" for state, n in counts.items())
        plural = "s" if len(self.runs) != 1 else ""
        return f"Last {len(self.runs)} run{plural}, oldest first: {parts}. Latest: {self.runs[-1].title}"


def _title(state: str, vendor_status: str, started: datetime, ended: datetime | None, message: str | None) -> str:
    words = WORDS.get(state) or f"{vendor_status} (no result reported)"
    parts = [f"{when(started)} · {words}"]
    if ended is not None and ended >= started:
        parts.append(f"took {span(ended - started)}")
    if message:
        parts.append(message)
    return " · ".join(parts)


def _html(state: str, title: str) -> str:
    return f'<li class="run run-{TONE.get(state, "muted")}" title="{escape(title)}" data-state="{escape(state)}"></li>'


# A run's cell depends on nothing but its row, and a run's row is final once it settles: the same cells are
# drawn on every view of a hub until new runs push them out. Formatting and escaping them was most of a busy
# hub's time (1,500 cells: 15-20 ms), so each distinct row's cell is made once per process. ~400 bytes a
# cell: 20,000 cells (every run of 1,400 jobs) stay under 10 MB.
@functools.lru_cache(maxsize=20_000)
def _cell(state: str, vendor_status: str, started: datetime, ended: datetime | None, message: str | None) -> RunCell:
    title = _title(state, vendor_status, started, ended, message)
    return RunCell(state, started, title, _html(state, title))


def _future(state: str, vendor_status: str, started: datetime) -> RunCell:
    """A run the vendor dates later than now: said so, and never cached, since time will make it true."""
    words = WORDS.get(state) or f"{vendor_status} (no result reported)"
    title = f"{when(started)} · {words} · the vendor reports a start later than now"
    return RunCell(state, started, title, _html(state, title))


def strips(session: Session, job_ids: Iterable[int], now: datetime | None = None) -> dict[int, Strip]:
    """The last :data:`STRIP` runs of each job, in one statement: an index probe per job, however long the
    record has grown."""
    ids = list(job_ids)
    found: dict[int, list[RunCell]] = {job_id: [] for job_id in ids}
    if not ids:
        return {}
    now = now or datetime.now(UTC)
    rows = session.execute(
        text(
            """
            SELECT r.backup_connector_id, r.state, r.vendor_status, r.started_at, r.ended_at, r.message
            FROM unnest(CAST(:ids AS bigint[])) AS j(id)
            CROSS JOIN LATERAL (
                SELECT backup_connector_id, state, vendor_status, started_at, ended_at, message
                FROM backup_runs WHERE backup_connector_id = j.id
                ORDER BY started_at DESC LIMIT :n
            ) r
            """
        ),
        {"ids": ids, "n": STRIP},
    ).all()  # fetched in one go: row by row, 1,500 rows cost more than the query
    future = now + CLOCK_SKEW
    for job_id, state, vendor_status, started, ended, message in rows:
        # Only what a cell shows goes into the cache's key: the first line of a message, not all of it.
        shown = message.strip().splitlines()[0][:200] if message and message.strip() else None
        cell = (
            _future(state, vendor_status, started)
            if started > future
            else _cell(state, vendor_status, started, ended, shown)
        )
        found[job_id].append(cell)
    return {job_id: Strip(sorted(cells, key=lambda c: c.started_at)) for job_id, cells in found.items()}


def console_links(session: Session, jobs: Iterable[tuple[int, int, str, str | None]]) -> dict[int, tuple[str, str]]:
    """job id -> (vendor label, address of the job in the vendor's console), for vendors that have one.
    ``jobs``: (job id, connection id, the job's external id, the id of its customer's account at the vendor).

    Built from where each vendor lives as its connection keeps it in clear (``Connection.base_url``), in one
    query that does not even read the sealed config: a page that links to a console never opens secrets."""
    jobs = list(jobs)
    bases: dict[int, tuple[type[Connector], str]] = {}
    for connection_id, vendor, base_url in session.execute(
        select(Connection.id, Connection.vendor, Connection.base_url).where(
            Connection.id.in_({connection_id for _, connection_id, _, _ in jobs}), Connection.base_url.is_not(None)
        )
    ):
        try:
            bases[connection_id] = (registry.get(vendor), str(base_url))
        except LookupError:
            continue  # a vendor this version does not know: no link, not an error
    links: dict[int, tuple[str, str]] = {}
    for job_id, connection_id, external_id, account in jobs:
        base = bases.get(connection_id)
        if base is None:
            continue
        cls, url = base
        address = cls.console_url(url, job=external_id, account=account)
        if address and address.startswith(("https://", "http://")):
            links[job_id] = (cls.label, address)
    return links
