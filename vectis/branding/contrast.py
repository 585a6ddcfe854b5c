"""WCAG 2.x contrast: an accent is accepted only when the text drawn on it (white or near-black, whichever
reads better) reaches AA for normal text (4.5:1)."""

from __future__ import annotations

import re
from dataclasses import dataclass

AA_NORMAL = 4.5
WHITE, INK = "#ffffff", "#111827"  # the two text colours the portal puts on its accent
_HEX = re.compile(r"^#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})$")


def normalised(colour: str) -> str | None:
    """``#1F6FEB``, ``1f6feb`` or ``#16e`` -> ``#1f6feb``; None for anything else."""
    match = _HEX.match(colour.strip())
    if match is None:
        return None
    digits = match.group(1).lower()
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    return f"#{digits}"


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def luminance(colour: str) -> float:
    """Relative luminance of a ``#rrggbb`` colour (WCAG 2.x definition)."""
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def ratio(a: str, b: str) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


@dataclass(frozen=True)
class Verdict:
    accent: str
    text: str  # the text colour used on the accent
    ratio: float

    @property
    def passes(self) -> bool:
        return self.ratio >= AA_NORMAL

    @property
    def shown(self) -> str:
        """The ratio as people write it: "3.2:1". Rounded down, so a shown 4.5:1 always passes."""
        return f"{int(self.ratio * 10) / 10:.1f}:1"


def judge(accent: str) -> Verdict:
    """The better of white and ink text on ``accent`` (a normalised colour)."""
    on_white, on_ink = ratio(accent, WHITE), ratio(accent, INK)
    return Verdict(accent, WHITE, on_white) if on_white >= on_ink else Verdict(accent, INK, on_ink)
