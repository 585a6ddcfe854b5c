"""How every benchmark reports: repeated runs summarised as median (min-max), and, last, one line per figure:

    name  value  floor  ratio  goal  PASS|FAIL

A figure with a floor is judged by value / floor (the floor is what the work cannot beat: the vendor's rate
limit, the same rows written by COPY, the raw SQL of the same statements); one without a floor is judged by
its value. ``make bench`` greps these lines, so keep their shape.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Spread:
    """Several runs of one measurement."""

    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def __str__(self) -> str:
        return f"{self.median:.3g} (min {min(self.samples):.3g}, max {max(self.samples):.3g}, {len(self.samples)} runs)"


def repeat(measure: Callable[[], float], runs: int) -> Spread:
    return Spread(tuple(measure() for _ in range(runs)))


def timed(work: Callable[[], object]) -> float:
    """Seconds ``work`` took."""
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str
    goal: float  # bounds value / floor when there is a floor, else value
    floor: float | None = None
    at_least: bool = False  # the goal is a minimum (events/s), not a maximum
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return self.value / self.floor if self.floor else None

    @property
    def passed(self) -> bool:
        judged = self.ratio if self.ratio is not None else self.value
        return judged >= self.goal if self.at_least else judged <= self.goal

    def line(self) -> str:
        floor = f"{self.floor:.4g} {self.unit}" if self.floor is not None else "-"
        ratio = f"{self.ratio:.2f}" if self.ratio is not None else "-"
        goal = ("ratio " if self.floor is not None else "") + ("≥ " if self.at_least else "≤ ") + f"{self.goal:g}"
        if self.floor is None:
            goal += f" {self.unit}"
        verdict = "PASS" if self.passed else "FAIL"
        return f"{self.name:<52} {self.value:>10.4g} {self.unit:<9} {floor:>14} {ratio:>6}  {goal:<14} {verdict}" + (
            f"  ({self.note})" if self.note else ""
        )


def report(figures: Sequence[Figure]) -> None:
    """The closing table: last in the output, one line per figure."""
    print()
    print(f"{'name':<52} {'value':>10} {'':<9} {'floor':>14} {'ratio':>6}  {'goal':<14} verdict")
    for figure in figures:
        print(figure.line())
