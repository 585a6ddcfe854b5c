"""A sync's run log: the entries ``sync.py`` writes as it goes, and the sentences Admin → Integrations shows.

Entries are stored as data, not text, so what a technician reads can improve without rewriting stored runs:

    {"stream": "jobs", "pages": 3, "records": 412, "seconds": 1.2, "odd": {"NUL bytes removed": 2}}
    {"stream": "events", "pages": 1, "records": 40, "resumed": true, "since": "2026-11-24T05:56:00+00:00", ...}
    {"removed": 3}
    {"stopped": "ConnectWise answered 503 …"}
    {"note": "Passed over contoso.onmicrosoft.com: …"}

A stream's entry is written with its first page and updated with each page after it, in that page's
transaction, so a run cut short still says how far it got; ``seconds`` is set when the stream is complete.
Runs logged before this format are plain strings and are shown as they were written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vectis.platform.dates import parse_instant, when_in_full


def _started(stream: str, cursor: Mapping[str, Any] | None) -> dict[str, Any]:
    """A stream's entry before its first page: where it resumed, when its cursor says (most say "since")."""
    entry: dict[str, Any] = {"stream": stream, "pages": 0, "records": 0}
    if cursor is not None:
        entry["resumed"] = True
        since = parse_instant(cursor.get("since"))
        if since is not None:
            entry["since"] = since.isoformat()
    return entry


def stream_page(
    log: Sequence[Any], stream: str, *, records: int, odd: Mapping[str, int], cursor: Mapping[str, Any] | None
) -> list[Any]:
    """``log`` with one more page of ``stream`` counted in its entry (a new entry for its first page)."""
    current = log[-1] if log and isinstance(log[-1], dict) else None
    if current is None or current.get("stream") != stream or "seconds" in current:
        current, log = _started(stream, cursor), [*log, None]
    merged = dict(current.get("odd") or {})
    for what, n in odd.items():
        merged[what] = merged.get(what, 0) + n
    entry = {**current, "pages": current["pages"] + 1, "records": current["records"] + records}
    if merged:
        entry["odd"] = merged
    return [*log[:-1], entry]


def stream_done(log: Sequence[Any], stream: str, *, seconds: float, cursor: Mapping[str, Any] | None) -> list[Any]:
    """``log`` with ``stream`` complete: its entry timed (one with no pages if the vendor had nothing)."""
    current = log[-1] if log and isinstance(log[-1], dict) else None
    if current is None or current.get("stream") != stream or "seconds" in current:
        return [*log, {**_started(stream, cursor), "seconds": round(seconds, 1)}]
    return [*log[:-1], {**current, "seconds": round(seconds, 1)}]


def removed(log: Sequence[Any], count: int) -> list[Any]:
    return [*log, {"removed": count}]


def removed_devices(log: Sequence[Any], count: int) -> list[Any]:
    return [*log, {"removed_devices": count}]


def stopped(log: Sequence[Any], message: str) -> list[Any]:
    return [*log, {"stopped": message}]


def noted(log: Sequence[Any], message: str) -> list[Any]:
    """What the connector had to say about a sync that went through (``Connector.sync_notes``)."""
    return [*log, {"note": message}]


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def _odd(odd: Mapping[str, int]) -> str:
    """Each kind of change ``clean.py`` made, with how often: read the same for one or for many."""
    return ", ".join(f"{what} ({n:,})" for what, n in sorted(odd.items()))


def sentence(entry: Any, *, running: bool = False) -> str:
    """One entry as a technician reads it."""
    if isinstance(entry, str):
        return entry
    if not isinstance(entry, dict):
        return str(entry)
    if "stopped" in entry or "note" in entry:
        return f"Stopped: {entry['stopped']}" if "stopped" in entry else str(entry["note"])
    if "removed" in entry:
        gone = _plural(int(entry["removed"]), "backup job or connector", "backup jobs or connectors")
        return f"{gone} no longer at the vendor: marked removed."
    if "removed_devices" in entry:
        return f"{_plural(int(entry['removed_devices']), 'device')} no longer listed by the RMM: marked removed."
    name = str(entry.get("stream") or "").replace("_", " ").capitalize()
    pages, records = int(entry.get("pages") or 0), int(entry.get("records") or 0)
    said = f"{name}: {'fetched ' if 'seconds' in entry else ''}{_plural(pages, 'page')}, {_plural(records, 'record')}"
    if "seconds" in entry:
        said += f" in {float(entry['seconds']):.1f} s"
    else:
        said += " so far" if running else " before the sync stopped"
    since = parse_instant(entry.get("since"))
    if since is not None:
        said += f", new since {when_in_full(since)}"
    elif entry.get("resumed"):
        said += ", picking up where the last sync left off"
    if entry.get("odd"):
        said += f"; odd vendor data: {_odd(entry['odd'])}"
    return said + "."


def sentences(log: Sequence[Any], *, running: bool = False) -> list[str]:
    return [sentence(entry, running=running) for entry in log]
