"""Exact decimals as whole numbers of the contract's smallest unit, for compact state.

The Avro schemas fix each decimal's scale (money: 2 places, one fen; usage: 3) and validation
quantizes to it, so a value is exactly an integer count of that unit: the ledger keeps such
integers in arrays instead of Decimal objects (~100 bytes each). Decimals go in and come out;
nothing here is ever a float.
"""
from __future__ import annotations

from decimal import Decimal

MONEY_PLACES = 2  # one fen
USAGE_PLACES = 3


def units(value: Decimal, places: int) -> int:
    """An exact decimal as a whole number of 10^-places: Decimal('12.30') at 2 places is 1230."""
    scaled = value.scaleb(places)
    whole = int(scaled)
    if whole != scaled:
        raise ValueError(f"{value} has more than {places} decimal places")
    return whole


def decimal_of(count: int, places: int) -> Decimal:
    """The inverse of ``units``: 1230 at 2 places is Decimal('12.30')."""
    return Decimal(count).scaleb(-places)
