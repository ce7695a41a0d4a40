"""The enterprise's rights as plain rules (platform-services.md: disputes, credit repair): which
record a dispute names, when answers and decisions fall due, when a penalty may be repaired.
No I/O: the API applies them and the tests call them directly.

Working days: Monday to Friday, less the public holidays configured in
``CREDITSTREAM_HOLIDAYS`` (comma-separated dates; the State Council publishes each year's list in
December, and an operator adds it then). Make-up working Saturdays (调休) are not modelled: they
only make a deadline a day later than it could be, never earlier.
"""
from __future__ import annotations

import calendar
import datetime as dt
from typing import Iterable, Optional

from creditstream.schemas.months import SHANGHAI, add_years
from creditstream.schemas.topics import PROVIDER_TOPICS, RECORD

DISPUTE_DUE_DAYS = 20  # calendar days (征信业管理条例 art. 25)
REPAIR_DUE_WORKING_DAYS = 10
STATEMENT_LIMIT = 2000  # characters of a dispute statement or a repair pledge
DISPUTE_STATES = ("OPEN", "CORRECTED", "UPHELD", "WITHDRAWN")
REPAIR_STATES = ("APPLIED", "APPROVED", "REJECTED")
REPAIR_WAIT_MONTHS = {"GENERAL": 3, "SERIOUS": 12}  # after decided_on, before repair may be applied for
PUBLICITY_YEARS = {"GENERAL": 1, "SERIOUS": 3}  # how long a penalty stays in publicity at most

# the fields naming a disputed record, per record type (platform-services.md, "Disputes")
DISPUTE_KEYS: dict[str, tuple[str, ...]] = {
    "WaterStatement": ("account_no", "billing_month"),
    "ElectricityStatement": ("account_no", "billing_month"),
    "GasStatement": ("account_no", "billing_month"),
    "TaxPayment": ("tax_type", "period_start", "period_end"),
    "TaxCreditRating": ("rating_year",),
    "TaxArrears": ("as_of",),
    "TaxpayerStatus": ("as_of",),
    # registers (AgriOperator: the enterprise itself) and v1.2's statements (account or customs code, month)
    **{r.name: r.natural_key for r in RECORD.values() if r.register or r.statement},
}


# facts kept only in the aggregates before v1.1's rights; stored as records now, so a dispute can
# name them and the enterprise can see them (register_records, natural key as below)
KEYED_FACTS = ("TaxCreditRating", "TaxArrears", "TaxpayerStatus")


def record_key(record: str, value: dict) -> str:
    """A record's natural key as one string (fields joined by U+001F, as schemas.topics.register_key)."""
    return "\x1f".join(str(value[name]) for name in DISPUTE_KEYS[record])


class RightsError(ValueError):
    """A request the rules refuse: ``field`` names what is wrong, the message says why."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def dispute_target(topic: str, key: dict) -> tuple[str, dict]:
    """(record type, the natural key's fields as strings) of a dispute filed on ``topic``."""
    record = PROVIDER_TOPICS.get(topic)
    if record is None or record not in DISPUTE_KEYS:
        disputable = ", ".join(t for t, r in PROVIDER_TOPICS.items() if r in DISPUTE_KEYS)
        raise RightsError("topic", f"{topic!r} is not a topic of disputable records; one of {disputable}")
    if not isinstance(key, dict):
        raise RightsError("key", "an object with the record's natural key")
    wanted = DISPUTE_KEYS[record]
    missing = [name for name in wanted if key.get(name) in (None, "")]
    extra = sorted(set(key) - set(wanted))
    if missing or extra:
        raise RightsError("key", f"{record} records are named by {', '.join(wanted)}"
                                 + (f"; missing {', '.join(missing)}" if missing else "")
                                 + (f"; unknown {', '.join(extra)}" if extra else ""))
    return record, {name: str(key[name]) for name in wanted}


def check_text(field: str, text, required: bool = True) -> str:
    if not isinstance(text, str) or (required and not text.strip()):
        raise RightsError(field, "text is required")
    if len(text) > STATEMENT_LIMIT:
        raise RightsError(field, f"{len(text)} characters; at most {STATEMENT_LIMIT}")
    return text.strip()


def dispute_due(filed_at: dt.datetime) -> dt.datetime:
    return filed_at + dt.timedelta(days=DISPUTE_DUE_DAYS)


def add_working_days(start: dt.date, days: int, holidays: Iterable[dt.date] = ()) -> dt.date:
    """The date ``days`` working days after ``start`` (weekends and ``holidays`` skipped)."""
    off = set(holidays)
    day, left = start, days
    while left > 0:
        day += dt.timedelta(days=1)
        if day.weekday() < 5 and day not in off:
            left -= 1
    return day


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later, or that month's last day."""
    year, month0 = divmod(day.year * 12 + day.month - 1 + months, 12)
    return dt.date(year, month0 + 1, min(day.day, calendar.monthrange(year, month0 + 1)[1]))


def publicity_end(decided_on: dt.date, severity: str, publicity_until: str | None, repaired_on: str | None) -> dt.date:
    """The first day a published penalty is no longer in publicity: the earliest of publicity_until
    + 1 day, decided_on + 1 year (GENERAL) or 3 years (SERIOUS), an approved repair's date."""
    ends = [add_years(decided_on, PUBLICITY_YEARS[severity])]
    if publicity_until is not None:
        ends.append(dt.date.fromisoformat(publicity_until) + dt.timedelta(days=1))
    if repaired_on is not None:
        ends.append(dt.date.fromisoformat(repaired_on))
    return min(ends)


def published(penalty: dict) -> bool:
    """A penalty is published when it is not revoked, not MINOR and not only a WARNING."""
    return not penalty["revoked"] and penalty["severity"] != "MINOR" and set(penalty["penalty_types"]) != {"WARNING"}


def penalty_in_publicity(penalty: dict, repair: Optional[dict], reference: dt.date) -> bool:
    """Is this penalty (its fields in JSON form) in publicity on ``reference``, given the repair
    decision in force for it (JSON form, or None)?"""
    if not published(penalty):
        return False
    repaired_on = None
    if repair is not None and repair["outcome"] == "APPROVED":
        decided_at = dt.datetime.fromisoformat(str(repair["decided_at"]).replace("Z", "+00:00"))
        repaired_on = decided_at.astimezone(SHANGHAI).date().isoformat()
    decided_on = dt.date.fromisoformat(str(penalty["decided_on"]))
    return decided_on <= reference < publicity_end(decided_on, penalty["severity"], penalty["publicity_until"],
                                                   repaired_on)


def repair_eligible_from(decided_on: dt.date, severity: str) -> dt.date:
    """The first day an application for repair of this penalty is accepted."""
    months = REPAIR_WAIT_MONTHS[severity]
    return add_years(decided_on, 1) if months == 12 else add_months(decided_on, months)


def repair_refusal(penalty: Optional[dict], in_publicity: bool, today: dt.date) -> Optional[str]:
    """Why an application for repair of ``penalty`` (the record in force, or None) is refused
    today, with the earliest eligible date; None when it may be filed."""
    if penalty is None:
        return "no penalty with this decision number is held about the enterprise"
    if not in_publicity:
        return "the penalty is not in publicity (expired, revoked or repaired already): nothing to repair"
    eligible = repair_eligible_from(dt.date.fromisoformat(str(penalty["decided_on"])), penalty["severity"])
    if today < eligible:
        return (f"a {penalty['severity']} penalty decided on {penalty['decided_on']} may be repaired from "
                f"{eligible.isoformat()} (earliest eligible date)")
    return None
