"""Money as the API shows it: a decimal string with two places, beside its currency code."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def amount(value: Decimal | int | str | None) -> str | None:
    """Format a stored amount (four places in the store) with two places, rounding half up."""
    if value is None:
        return None
    return str(Decimal(value).quantize(CENT, ROUND_HALF_UP))
