"""A result's values as the preview shows them: money as money, days as days, instants with how long ago."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from vectis.platform.dates import ago, calendar_day, when
from vectis.query.allowlist import Kind


def _number(value: Any) -> str:
    if isinstance(value, Decimal) and value != value.to_integral_value():
        return f"{value:,.2f}"
    return f"{int(value):,}" if isinstance(value, int | Decimal) else f"{value:,.2f}"


def cell(value: Any, kind: Kind, now: datetime | None = None) -> tuple[str, str]:  # noqa: PLR0911 - one per kind
    """(text, tooltip) of one value; an em dash for nothing."""
    if value is None or value == "":
        return "—", ""
    now = now or datetime.now(UTC)
    if kind is Kind.MONEY and isinstance(value, int | Decimal | float):
        # No currency sign: a summary may add contracts in several currencies, and the column does not say which.
        return f"{Decimal(value).quantize(Decimal('0.01')):,.2f}", ""
    if kind is Kind.NUMBER and isinstance(value, int | Decimal | float):
        return _number(value), ""
    if kind is Kind.DATETIME and isinstance(value, datetime):
        return when(value), ago(value, now) if value <= now else ""
    if kind is Kind.DATE and isinstance(value, date):
        offset = (value - now.date()).days
        hint = "today" if offset == 0 else f"in {offset} days" if offset > 0 else f"{-offset} days ago"
        return calendar_day(value), hint
    if kind is Kind.BOOLEAN:
        return ("Yes" if value else "No"), ""
    text = str(value)
    return (text if len(text) <= 160 else text[:159] + "…"), (text if len(text) > 160 else "")
