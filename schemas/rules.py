"""Contract validation and normalisation: plain functions, no I/O.

Contract reason codes, in order of precedence (the first that applies is reported):
UNDECODABLE, INVALID_USCC, NEGATIVE_AMOUNT, NEGATIVE_USAGE, BAD_PERIOD.

Platform reason codes, never a provider's fault, so metrics and alerts keep them apart:
INTERNAL (the platform failed while validating a record; the record may well be valid) and
SINK_UNCONVERTIBLE (the sink could not turn a message of a platform topic into a row).
"""
from __future__ import annotations

from decimal import Decimal

from creditstream.schemas.months import parse_month
from creditstream.schemas.uscc import normalise_uscc, uscc_problem

UNDECODABLE = "UNDECODABLE"
INVALID_USCC = "INVALID_USCC"
NEGATIVE_AMOUNT = "NEGATIVE_AMOUNT"
NEGATIVE_USAGE = "NEGATIVE_USAGE"
BAD_PERIOD = "BAD_PERIOD"
REASONS = (UNDECODABLE, INVALID_USCC, NEGATIVE_AMOUNT, NEGATIVE_USAGE, BAD_PERIOD)
INTERNAL = "INTERNAL"
SINK_UNCONVERTIBLE = "SINK_UNCONVERTIBLE"
PLATFORM_REASONS = (INTERNAL, SINK_UNCONVERTIBLE)

MONEY_FIELDS = ("amount_due", "amount_paid", "arrears_amount", "amount_payable", "amount")


class Invalid(ValueError):
    """A record the platform rejects: ``reason`` is a contract code, ``message`` says what and where."""

    def __init__(self, reason: str, message: str):
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


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
