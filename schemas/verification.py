"""Verification without disclosure (核验, "usable but not visible"): a lender's claims about an
enterprise answered MATCH, NO_MATCH or NO_DATA, never with the values (platform-services.md,
"Verification"). Plain functions: the API gathers the facts, these judge them.

A claim whose consent scope the lender lacks is REFUSED without being judged, so a true and a
false claim get the same answer. NO_DATA: the platform holds nothing of that category for the
enterprise (no right, no rating, no arrears position, no tax record, no administrative record
naming a legal representative).
"""
from __future__ import annotations

import hmac
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Optional

from creditstream.schemas.personal import id_hmac
from creditstream.schemas.services import RightsError

MATCH, NO_MATCH, NO_DATA, REFUSED = "MATCH", "NO_MATCH", "NO_DATA", "REFUSED"
ANY_SCOPE = "ANY"  # any consent scope in force
TAX_GRADES = ("A", "B", "M", "C", "D")
# claim type → (the consent scope it needs, its parameters)
CLAIMS: dict[str, tuple[str, tuple[str, ...]]] = {
    "real_estate_right": ("REAL_ESTATE", ("certificate_no",)),
    "unit_unencumbered": ("REAL_ESTATE", ("unit_no",)),
    "vat_paid_12m_at_least": ("TAX", ("amount",)),
    "tax_grade_in": ("TAX", ("grades",)),
    "no_tax_arrears": ("TAX", ()),
    "legal_representative_id": (ANY_SCOPE, ("id_no",)),
    # v1.2 addendum
    "no_social_arrears": ("SOCIAL", ()),
    "trade_value_12m_at_least": ("TRADE", ("amount",)),
}
CLAIM_LIMIT = 20
# legal_representative_id claims judged per (lender, enterprise) per day (Asia/Shanghai). The masked
# number a lender may see (first 4 and last 4 characters) leaves ~33,000 plausible candidates for
# an enterprise whose context is known: 20 claims a request found one in 35 s; at 5 a day an
# exhaustive search takes 18 years, half of it on average.
IDENTITY_CLAIMS_PER_DAY = 5
IDENTITY_CLAIM = "legal_representative_id"
# the administrative records that carry a legal representative (the latest one that does is asked)
ADMINISTRATIVE = ("AdminLicence", "AdminPenalty", "AdminEnforcement")
FACT_RECORDS = ("RealEstateRight", "RealEstateMortgage", "TaxArrears", "TaxCreditRating", *ADMINISTRATIVE)


@dataclass(frozen=True)
class Claim:
    type: str
    params: dict

    @property
    def scope(self) -> str:
        return CLAIMS[self.type][0]


@dataclass
class Facts:
    """What the platform holds about one enterprise that claims can be judged against."""
    row: Optional[dict]  # the aggregate row's values, or None
    records: dict[str, list[dict]]  # record type → records in force (fields in JSON form, occurred_at)
    has_tax_records: bool  # any tax payment, rating, arrears or status held
    statements_held: frozenset[str] = frozenset()  # the v1.2 statement records held (any month)


def parse_claims(body: Any) -> list[Claim]:
    """The request's claims, checked; RightsError names the claim and the field."""
    claims = body.get("claims") if isinstance(body, dict) else None
    if not isinstance(claims, list) or not 1 <= len(claims) <= CLAIM_LIMIT:
        raise RightsError("claims", f"a list of 1 to {CLAIM_LIMIT} claims")
    parsed = []
    for index, claim in enumerate(claims):
        where = f"claims[{index}]"
        if not isinstance(claim, dict) or not isinstance(claim.get("type"), str) or claim["type"] not in CLAIMS:
            raise RightsError(f"{where}.type", f"one of {', '.join(CLAIMS)}")
        wanted = CLAIMS[claim["type"]][1]
        params = {k: v for k, v in claim.items() if k != "type"}
        if set(params) != set(wanted):
            raise RightsError(where, f"{claim['type']} takes {', '.join(wanted) or 'no parameters'}")
        for name in wanted:
            params[name] = _check(claim["type"], name, params[name], f"{where}.{name}")
        parsed.append(Claim(claim["type"], params))
    return parsed


def _check(claim: str, name: str, value: Any, where: str):
    if name == "amount":
        try:
            amount = Decimal(str(value)) if isinstance(value, (str, int)) else None
        except InvalidOperation:
            amount = None
        if amount is None or not amount.is_finite() or amount < 0 or amount.as_tuple().exponent < -2:
            raise RightsError(where, "a non-negative amount in yuan with at most 2 decimal places, as a string")
        return amount
    if name == "grades":
        if not isinstance(value, list) or not value or any(g not in TAX_GRADES for g in value):
            raise RightsError(where, f"a non-empty list of tax grades among {', '.join(TAX_GRADES)}")
        return tuple(value)
    if not isinstance(value, str) or not value.strip() or len(value) > 100:
        raise RightsError(where, "a non-empty string of at most 100 characters")
    return value.strip()


def judge(claim: Claim, facts: Facts, personal_data_key: Optional[bytes]) -> str:
    params, records = claim.params, facts.records
    if claim.type == "real_estate_right":
        rights = records.get("RealEstateRight", [])
        if not rights:
            return NO_DATA
        return _yes(any(r["status"] == "ACTIVE" and r["certificate_no"] == params["certificate_no"] for r in rights))
    if claim.type == "unit_unencumbered":
        rights = records.get("RealEstateRight", [])
        if not rights:
            return NO_DATA
        unit = params["unit_no"]
        held = any(r["status"] == "ACTIVE" and r.get("unit_no") == unit for r in rights)
        mortgaged = any(m["status"] == "ACTIVE" and m.get("unit_no") == unit for m in records.get("RealEstateMortgage", []))
        return _yes(held and not mortgaged)
    if claim.type == "vat_paid_12m_at_least":
        if facts.row is None or not facts.has_tax_records:
            return NO_DATA
        return _yes(Decimal(facts.row["vat_paid_12m"]) >= params["amount"])
    if claim.type == "tax_grade_in":
        if facts.row is None or facts.row.get("tax_rating_grade") is None:
            return NO_DATA
        return _yes(facts.row["tax_rating_grade"] in params["grades"])
    if claim.type == "no_tax_arrears":
        positions = records.get("TaxArrears", [])
        if not positions:
            return NO_DATA
        winning = max(positions, key=lambda p: (p["as_of"], p["occurred_at"]))  # the latest position, as the row
        return _yes(not winning["in_arrears"])
    if claim.type == "no_social_arrears":
        if facts.row is None or "SocialInsuranceStatement" not in facts.statements_held:
            return NO_DATA
        return _yes(not facts.row["social_in_arrears"])
    if claim.type == "trade_value_12m_at_least":
        if facts.row is None or "CustomsTradeStatement" not in facts.statements_held:
            return NO_DATA
        return _yes(Decimal(facts.row["trade_value_12m"]) >= params["amount"])
    if claim.type == "legal_representative_id":
        carrying = [r for name in ADMINISTRATIVE for r in records.get(name, []) if r.get("legal_rep_id_hmac")]
        if not carrying or personal_data_key is None:
            return NO_DATA
        latest = max(carrying, key=lambda r: (r["occurred_at"], r["event_id"]))
        return _yes(hmac.compare_digest(id_hmac(params["id_no"], personal_data_key), latest["legal_rep_id_hmac"]))
    raise ValueError(f"unknown claim {claim.type}")


class IdentityClaimBudget:
    """How many ``legal_representative_id`` claims each (principal, enterprise) has left today.
    Plain state, no clock of its own: the caller passes the day. Days other than the current one
    are forgotten, so it holds at most one entry per pair that claimed today."""

    def __init__(self, per_day: int = IDENTITY_CLAIMS_PER_DAY):
        self.per_day = per_day
        self.day: object = None
        self.used: dict[tuple[str, str], int] = {}

    def take(self, principal_id: str, uscc: str, day) -> bool:
        """Use one claim of today's budget; False (nothing used) when none is left."""
        if day != self.day:
            self.day, self.used = day, {}
        count = self.used.get((principal_id, uscc), 0)
        if count >= self.per_day:
            return False
        self.used[(principal_id, uscc)] = count + 1
        return True


def _yes(holds: bool) -> str:
    return MATCH if holds else NO_MATCH
