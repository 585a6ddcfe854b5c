"""A contract's value per month, from what it bills per cycle."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
MONTHS_A_YEAR = Decimal(12)


def monthly_value(bill_amount: Decimal | None, cycles_per_year: Decimal | None) -> Decimal | None:
    """``bill_amount`` (per billing cycle) brought to a month: a year's billing over twelve, to the cent.

    Vendors bill contracts weekly, monthly, quarterly or yearly; a month is the unit an MSP reads its recurring
    revenue in (MRR) and the one the query builder sums and compares, so a $3,600 yearly security bundle shows
    as $300/mo beside a $1,880 monthly managed-services agreement rather than as the larger of the two. Through
    a year (amount × cycles a year ÷ 12), not "÷ months in a cycle": weekly and fortnightly cycles have no whole
    number of months. None when the contract does not bill repeatedly (one time) or the cycle is unknown: no
    monthly value is better than a wrong one. The vendor's own amount and cycle are kept beside it.
    """
    if bill_amount is None or cycles_per_year is None:
        return None
    return (bill_amount * cycles_per_year / MONTHS_A_YEAR).quantize(CENT, rounding=ROUND_HALF_UP)
