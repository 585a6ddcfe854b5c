"""The Secure Score sparkline: 30 days as a small inline SVG, drawn on the server from one stored score a day.

A day with no score is a gap, never a line drawn across it: consecutive days are one path segment each, and a day
alone between two gaps is a dot. Pure: the same points give the same markup."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD = 240, 44, 3


def segments(values: Sequence[float | None]) -> list[list[tuple[int, float]]]:
    """Runs of consecutive days that have a score: ``[(index, value), …]`` each."""
    runs: list[list[tuple[int, float]]] = []
    current: list[tuple[int, float]] = []
    for index, value in enumerate(values):
        if value is None:
            if current:
                runs.append(current)
            current = []
        else:
            current.append((index, value))
    if current:
        runs.append(current)
    return runs


def sparkline(days: Sequence[tuple[date, float | None]], *, label: str) -> Markup:
    """``days``: oldest first, one entry a day (None: no score that day). The line spans the days' own lowest to
    highest score (a flat line sits in the middle), so a few points of movement show; ``label`` says it in words."""
    values = [v for _, v in days]
    known = [v for v in values if v is not None]
    title = f"<title>{escape(label)}</title>"
    head = (
        f'<svg class="sparkline" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="{escape(label)}" data-testid="sparkline">'
    )
    if not known:
        return Markup(f"{head}{title}</svg>")  # noqa: S704 - the label is escaped, the rest is numbers
    low, high = min(known), max(known)
    spread = high - low
    step = (WIDTH - 2 * PAD) / max(len(values) - 1, 1)

    def x(index: int) -> float:
        return round(PAD + index * step, 1)

    def y(value: float) -> float:
        if spread == 0:
            return HEIGHT / 2
        return round(HEIGHT - PAD - (value - low) / spread * (HEIGHT - 2 * PAD), 1)

    parts = []
    for run in segments(values):
        if len(run) == 1:
            index, value = run[0]
            parts.append(f'<circle cx="{x(index)}" cy="{y(value)}" r="1.8" class="spark-dot"/>')
            continue
        points = " ".join(f"{'M' if n == 0 else 'L'}{x(i)} {y(v)}" for n, (i, v) in enumerate(run))
        parts.append(f'<path d="{points}" class="spark-line" fill="none"/>')
    last_index = max(i for i, v in enumerate(values) if v is not None)
    parts.append(f'<circle cx="{x(last_index)}" cy="{y(values[last_index] or 0.0)}" r="2.6" class="spark-now"/>')
    return Markup(f"{head}{title}{''.join(parts)}</svg>")  # noqa: S704 - escaped label, numbers
