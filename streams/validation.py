"""Contract validation and normalisation: plain functions, no I/O.

Reason codes and their order of precedence (the first that applies is reported):
UNDECODABLE, INVALID_USCC, NEGATIVE_AMOUNT, NEGATIVE_USAGE, BAD_PERIOD.
"""
from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import NamedTuple

from streams.months import parse_month

UNDECODABLE = "UNDECODABLE"
INVALID_USCC = "INVALID_USCC"
NEGATIVE_AMOUNT = "NEGATIVE_AMOUNT"
NEGATIVE_USAGE = "NEGATIVE_USAGE"
BAD_PERIOD = "BAD_PERIOD"
REASONS = (UNDECODABLE, INVALID_USCC, NEGATIVE_AMOUNT, NEGATIVE_USAGE, BAD_PERIOD)

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_VALUES = {ch: i for i, ch in enumerate(USCC_ALPHABET)}
USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
MONEY_FIELDS = ("amount_due", "amount_paid", "arrears_amount", "amount_payable", "amount")


class Invalid(ValueError):
    """A record the platform rejects: ``reason`` is a contract code, ``message`` says what and where."""

    def __init__(self, reason: str, message: str):
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class Rejection(NamedTuple):
    reason: str
    message: str


def normalise_uscc(raw: str) -> str:
    return raw.strip().upper()


def uscc_check_char(first17: str) -> str:
    total = sum(USCC_VALUES[ch] * w for ch, w in zip(first17, USCC_WEIGHTS))
    return USCC_ALPHABET[(31 - total % 31) % 31]


@lru_cache(maxsize=1 << 17)  # a few firms send most events: check each USCC once
def uscc_problem(uscc: str) -> str | None:
    """Why a normalised USCC is invalid, or None."""
    if len(uscc) != 18:
        return f"USCC {uscc!r} has {len(uscc)} characters, expected 18"
    bad = sorted({ch for ch in uscc if ch not in USCC_VALUES})
    if bad:
        return f"USCC {uscc!r} contains characters outside 0-9A-HJ-NPQRTUWXY: {''.join(bad)}"
    expected = uscc_check_char(uscc[:17])
    if uscc[17] != expected:
        return f"USCC {uscc!r} has check character {uscc[17]}, expected {expected}"
    return None


def validate(record: str, value: dict) -> dict:
    """Check a decoded record against the contract; return it normalised or raise Invalid."""
    uscc = normalise_uscc(value["uscc"])
    problem = uscc_problem(uscc)
    if problem:
        raise Invalid(INVALID_USCC, problem)
    for name in MONEY_FIELDS:
        amount = value.get(name)
        if isinstance(amount, Decimal) and amount < 0:
            raise Invalid(NEGATIVE_AMOUNT, f"{record}.{name} is {amount}, must not be negative")
    usage = value.get("usage")
    if isinstance(usage, Decimal) and usage < 0:
        raise Invalid(NEGATIVE_USAGE, f"{record}.usage is {usage}, must not be negative")
    _check_periods(record, value)
    if uscc == value["uscc"]:
        return value
    return {**value, "uscc": uscc}


def _check_periods(record: str, value: dict) -> None:
    if "billing_month" in value:
        try:
            parse_month(value["billing_month"])
        except ValueError as exc:
            raise Invalid(BAD_PERIOD, f"{record}.billing_month: {exc}") from None
    if "period_start" in value and value["period_end"] < value["period_start"]:
        raise Invalid(
            BAD_PERIOD,
            f"{record}.period_end {value['period_end']} is before period_start {value['period_start']}",
        )
    if "granted_at" in value and value["expires_at"] < value["granted_at"]:
        raise Invalid(
            BAD_PERIOD,
            f"{record}.expires_at {value['expires_at']} is before granted_at {value['granted_at']}",
        )
