"""What the ledger keeps of each v1.1 register: per natural key, the winning event's occurred_at
(ms) and event id, then only the fields the profile needs (the API reads whole records from
ClickHouse). Entries hold JSON-safe values only (dates as ISO strings, which compare like dates;
decimals as strings), so the ledger serialises them as they are. Pure, no I/O.

Adding a register = its RecordType (schemas/topics.py) + one extractor here + its profile rule
(streams/profile.py, or streams/collection.py for v1.2's). v1.2's statements keep, per natural
key, the highest revision and the integer columns in STATEMENT_EXTRACT."""
from __future__ import annotations

import datetime as dt
from typing import Callable, Optional

from creditstream.schemas.amounts import MONEY_PLACES, units
from creditstream.schemas.months import SHANGHAI
from creditstream.schemas.services import published


def _day(value: Optional[dt.date]) -> Optional[str]:
    return value.isoformat() if value is not None else None


def shanghai_day(stamp: dt.datetime) -> str:
    return stamp.astimezone(SHANGHAI).date().isoformat()


# record -> the fields kept after (occurred ms, event id); the profile reads them by position
EXTRACT: dict[str, Callable[[dict], tuple]] = {
    "EnvCreditRating": lambda v: (_day(v["rated_on"]), v["grade"], str(v["score"])),
    "RealEstateRight": lambda v: (v["status"] == "ACTIVE", _day(v["registered_on"]), str(v["area_m2"])),
    "RealEstateMortgage": lambda v: (v["status"] == "ACTIVE", _day(v["registered_on"])),
    "AdminLicence": lambda v: (v["status"] == "VALID", _day(v["valid_from"]), _day(v["valid_until"])),
    "AdminPenalty": lambda v: (published(v), v["severity"], _day(v["decided_on"]), _day(v["publicity_until"]),
                               str(v["fine_amount"] + v["confiscated_amount"])),
    "AdminEnforcement": lambda v: (_day(v["executed_on"]),),
    "CreditRepair": lambda v: (v["outcome"] == "APPROVED", shanghai_day(v["decided_at"])),
    "RdRecognition": lambda v: (v["kind"], v["year"], _day(v["valid_until"]), v["revoked"]),
    "AgriOperator": lambda v: (v["category"],),
    "RuralLandRight": lambda v: (v["status"] == "ACTIVE", _day(v["issued_on"]), _day(v["term_end"]), str(v["area_mu"])),
    "FarmerHousingRight": lambda v: (v["status"] == "ACTIVE", _day(v["registered_on"])),
    # v1.2
    "CustomsCreditGrade": lambda v: (v["grade"], _day(v["decided_on"]), _day(v["valid_until"])),
    "Patent": lambda v: (v["status"] == "VALID", v["kind"] == "INVENTION", _day(v["granted_on"]), _day(v["valid_until"])),
    "Trademark": lambda v: (v["status"] == "VALID", _day(v["registered_on"]), _day(v["valid_until"])),
    "IpPledge": lambda v: (v["status"] == "ACTIVE", _day(v["registered_on"])),
    "PublicResourceAward": lambda v: (v["status"] == "VALID", _day(v["awarded_on"]), str(v["award_amount"])),
    "DishonestDebtor": lambda v: (_day(v["listed_on"]), _day(v["removed_on"])),
    "EnforcementCase": lambda v: (_day(v["filed_on"]), _day(v["closed_on"]), str(v["amount"])),
}

# v1.2 statements: series -> the integer columns kept after (month index, revision), per account
# (or customs code): counts as they are, money in fen (schemas.amounts), as for v1's statements
STATEMENT_EXTRACT: dict[str, Callable[[dict], tuple]] = {
    "social": lambda v: (v["employee_count"], units(v["amount_paid"], MONEY_PLACES),
                         units(v["arrears_amount"], MONEY_PLACES)),
    "housing_fund": lambda v: (v["employee_count"], units(v["amount_paid"], MONEY_PLACES),
                               units(v["arrears_amount"], MONEY_PLACES)),
    "trade": lambda v: (units(v["import_value"], MONEY_PLACES), units(v["export_value"], MONEY_PLACES)),
}


def keep_winner(entries: dict, key: str, entry: list) -> None:
    """Per natural key the latest occurred_at wins, ties the greater event id: the same result
    whatever the arrival order."""
    current = entries.get(key)
    if current is None or (entry[0], entry[1]) > (current[0], current[1]):
        entries[key] = entry
