"""Contract validation and normalisation: plain functions, no I/O.

Contract reason codes, in order of precedence (the first that applies is reported):
UNDECODABLE, INVALID_USCC, NEGATIVE_AMOUNT, NEGATIVE_USAGE, BAD_PERIOD (v1), then v1.1's
INVALID_ID_NO, INVALID_AUTHORITY, BAD_VALUE, then FUTURE_TIMESTAMP (v1.2 adds no code, only
cases: its money fields, months, counts, Nice classes and date ranges) (the platform's own rule: an
``occurred_at`` more than a configurable skew after the time the record is processed; checked by
``check_not_future``, separately, because it depends on that time).

Platform reason codes, never a provider's fault, so metrics and alerts keep them apart:
INTERNAL (the platform failed while validating a record; the record may well be valid) and
SINK_UNCONVERTIBLE (the sink could not turn a message of a platform topic into a row) and
FINANCE_REFUSED (the worker refused a change of the loan loop that breaks its rules, e.g. two API
processes moving one application at once: schemas.finance).
"""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from creditstream.schemas.months import parse_month
from creditstream.schemas.personal import LEGAL_REP_FIELDS, id_card_problem
from creditstream.schemas.topics import REGISTERS
from creditstream.schemas.uscc import normalise_uscc, uscc_problem

UNDECODABLE = "UNDECODABLE"
INVALID_USCC = "INVALID_USCC"
NEGATIVE_AMOUNT = "NEGATIVE_AMOUNT"
NEGATIVE_USAGE = "NEGATIVE_USAGE"
BAD_PERIOD = "BAD_PERIOD"
INVALID_ID_NO = "INVALID_ID_NO"
INVALID_AUTHORITY = "INVALID_AUTHORITY"
BAD_VALUE = "BAD_VALUE"
FUTURE_TIMESTAMP = "FUTURE_TIMESTAMP"
REASONS = (UNDECODABLE, INVALID_USCC, NEGATIVE_AMOUNT, NEGATIVE_USAGE, BAD_PERIOD, INVALID_ID_NO, INVALID_AUTHORITY,
           BAD_VALUE, FUTURE_TIMESTAMP)
DEFAULT_FUTURE_SKEW = dt.timedelta(minutes=5)
# what each code means, for the people who send the records (docs/contract.md is built from this)
REASON_MEANINGS = {
    UNDECODABLE: "not a single-object Avro record of the topic's type (or, in a file, not a line of the replay format)",
    INVALID_USCC: "the USCC is not 18 characters of the USCC alphabet with the right check character",
    NEGATIVE_AMOUNT: "a money amount is below zero",
    NEGATIVE_USAGE: "a metered usage is below zero",
    BAD_PERIOD: "a month, half-year or period that is not real, or an end before its start",
    INVALID_ID_NO: "an identity number that is not a valid GB 11643 number, or legal-representative fields set in part",
    INVALID_AUTHORITY: "the deciding authority's USCC is invalid",
    BAD_VALUE: "a score outside 0-100, an area not above zero, a head count or declaration count below zero, a Nice "
               "class outside 1-45, or an end date before its start date",
    FUTURE_TIMESTAMP: "occurred_at lies more than the allowed clock skew (default 5 minutes) after the time the "
                      "platform processed the record",
}
INTERNAL = "INTERNAL"
SINK_UNCONVERTIBLE = "SINK_UNCONVERTIBLE"
FINANCE_REFUSED = "FINANCE_REFUSED"
PLATFORM_REASONS = (INTERNAL, SINK_UNCONVERTIBLE, FINANCE_REFUSED)

MONEY_FIELDS = ("amount_due", "amount_paid", "arrears_amount", "amount_payable", "amount", "fine_amount",
                "confiscated_amount", "import_value", "export_value", "secured_amount", "award_amount")
MONTH_FIELDS = ("billing_month", "contribution_month", "trade_month")  # a real YYYY-MM, or BAD_PERIOD
COUNT_FIELDS = ("employee_count", "declarations")  # v1.2: BAD_VALUE below zero
HALF_YEAR = re.compile(r"\d{4}-H[12]\Z")  # used with fullmatch; \Z as "$" would pass a trailing newline
AREA_FIELDS = ("area_m2", "area_mu")
NICE_CLASSES = range(1, 46)  # Trademark.nice_class
# record -> (start, end) date pairs whose end must not be before the start (BAD_VALUE); per record,
# because the same names pair up differently elsewhere (a licence's valid_until is not checked
# against its decided_on, nor a real-estate right's term_end against its registered_on)
DATE_RANGES: dict[str, tuple[tuple[str, str], ...]] = {
    "AdminLicence": (("valid_from", "valid_until"),),
    "RuralLandRight": (("issued_on", "term_end"),),
    "AdminPenalty": (("decided_on", "publicity_until"),),
    "CustomsCreditGrade": (("decided_on", "valid_until"),),
    "Patent": (("applied_on", "granted_on"), ("granted_on", "valid_until")),
    "Trademark": (("registered_on", "valid_until"),),
    "IpPledge": (("registered_on", "term_end"),),
    "DishonestDebtor": (("listed_on", "removed_on"),),
    "EnforcementCase": (("filed_on", "closed_on"),),
}
_REGISTERS = frozenset(REGISTERS)


class Invalid(ValueError):
    """A record the platform rejects: ``reason`` is a contract code, ``message`` says what and where."""

    def __init__(self, reason: str, message: str):
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


def validate(record: str, value: dict, masked: bool = False) -> dict:
    """Check a decoded record against the contract; return it normalised or raise Invalid.
    ``masked``: the record comes from another node (a city's outbound topic at the province), so
    its identity number must arrive masked with its keyed hash, never in clear."""
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
    changes = {} if uscc == value["uscc"] else {"uscc": uscc}
    if record in _REGISTERS:
        _check_register(record, value, changes, masked)
    _check_values(record, value)
    return {**value, **changes} if changes else value


def check_not_future(record: str, value: dict, now: dt.datetime, skew: dt.timedelta = DEFAULT_FUTURE_SKEW) -> None:
    """Raise Invalid(FUTURE_TIMESTAMP) when the record says it happened more than ``skew`` after
    ``now`` (the time it is processed). Registers, ratings and consents are ordered by what came
    last; a record stamped years ahead would otherwise win over every later correction."""
    occurred = value["occurred_at"]
    if occurred - now > skew:
        raise Invalid(FUTURE_TIMESTAMP, f"{record}.occurred_at {occurred.isoformat()} is after the time it was "
                                        f"processed ({now.isoformat(timespec='seconds')}) by more than the "
                                        f"allowed clock skew of {int(skew.total_seconds())} s")


def _check_register(record: str, value: dict, changes: dict, masked: bool = False) -> None:
    """v1.1's codes, after v1's; normalisations (ID number and authority USCC upper-cased) go to
    ``changes``."""
    if "legal_rep_id_type" in value:
        present = [value[name] is not None for name in LEGAL_REP_FIELDS]
        if any(present) and not all(present):
            missing = [name for name, there in zip(LEGAL_REP_FIELDS, present) if not there]
            raise Invalid(INVALID_ID_NO, f"{record}: the legal-representative fields are set only in part "
                                         f"({', '.join(missing)} missing)")
        if masked and value["legal_rep_id_no"] is not None:
            _check_masked(record, value)
        elif value["legal_rep_id_type"] == "ID_CARD":
            number = value["legal_rep_id_no"].strip().upper()
            problem = id_card_problem(number)
            if problem:
                raise Invalid(INVALID_ID_NO, f"{record}.legal_rep_id_no: {problem}")
            if number != value["legal_rep_id_no"]:
                changes["legal_rep_id_no"] = number
    if "authority_uscc" in value:
        authority = normalise_uscc(value["authority_uscc"])
        problem = uscc_problem(authority)
        if problem:
            raise Invalid(INVALID_AUTHORITY, f"{record}.authority_uscc: {problem}")
        if authority != value["authority_uscc"]:
            changes["authority_uscc"] = authority


MASKED_ID_NO = re.compile(r"[0-9A-Za-z]{0,4}\*+[0-9A-Za-z]{0,4}")  # schemas.personal.mask_id's form
KEYED_HASH = re.compile(r"[0-9a-f]{64}")  # schemas.personal.id_hmac's form


def _check_masked(record: str, value: dict) -> None:
    """A record from another node carries the masked number and its keyed hash, nothing clearer."""
    if not MASKED_ID_NO.fullmatch(value["legal_rep_id_no"]):
        raise Invalid(INVALID_ID_NO, f"{record}.legal_rep_id_no: a record from another node must carry the "
                                     f"identity number masked (first and last 4 characters at most)")
    if not KEYED_HASH.fullmatch(value.get("legal_rep_id_hmac") or ""):
        raise Invalid(INVALID_ID_NO, f"{record}.legal_rep_id_hmac: a record from another node must carry the "
                                     f"identity number's keyed hash (64 hexadecimal digits)")


def _check_values(record: str, value: dict) -> None:
    score = value.get("score")
    if score is not None and not Decimal(0) <= score <= Decimal(100):
        raise Invalid(BAD_VALUE, f"{record}.score is {score}, must be between 0 and 100")
    for name in AREA_FIELDS:
        area = value.get(name)
        if area is not None and area <= 0:
            raise Invalid(BAD_VALUE, f"{record}.{name} is {area}, must be greater than 0")
    for name in COUNT_FIELDS:
        count = value.get(name)
        if count is not None and count < 0:
            raise Invalid(BAD_VALUE, f"{record}.{name} is {count}, must not be negative")
    nice_class = value.get("nice_class")
    if nice_class is not None and nice_class not in NICE_CLASSES:
        raise Invalid(BAD_VALUE, f"{record}.nice_class is {nice_class}, must be a Nice class from 1 to 45")
    for start, end in DATE_RANGES.get(record, ()):
        if value[start] is not None and value[end] is not None and value[end] < value[start]:
            raise Invalid(BAD_VALUE, f"{record}.{end} {value[end]} is before {start} {value[start]}")


def _check_periods(record: str, value: dict) -> None:
    if "period" in value and not HALF_YEAR.fullmatch(value["period"]):
        raise Invalid(BAD_PERIOD, f"{record}.period {value['period']!r} is not YYYY-H1 or YYYY-H2")
    for name in MONTH_FIELDS:
        if name in value:
            try:
                parse_month(value[name])
            except ValueError as exc:
                raise Invalid(BAD_PERIOD, f"{record}.{name}: {exc}") from None
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
