"""The v1.1 profile fields of an enterprise's row, read from its registers at a reference date R
(contract "Profile fields"). Pure, no I/O. Windows of 12 months are v1's: the as-of month M and
the 11 before it."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from creditstream.schemas.services import publicity_end
from creditstream.streams.ledger import Ledger

CENT, TENTH = Decimal("0.01"), Decimal("0.1")


def money(total: Decimal) -> str:
    return str(total.quantize(CENT))


def month_of_day(iso_day: str) -> int:
    """An ISO date's month index (schemas.months), read off its text."""
    return int(iso_day[:4]) * 12 + int(iso_day[5:7]) - 1


def compute_profile(ledger: Ledger, as_of: int, reference: dt.date) -> dict:
    r = reference.isoformat()  # ISO dates compare as dates
    row: dict = {}
    row.update(_environment(ledger, r))
    row["licences_valid"] = sum(
        1 for _o, _e, valid, start, until in ledger.register("AdminLicence").values()
        if valid and start <= r and (until is None or until >= r))
    row.update(_penalties(ledger, as_of, reference))
    row["enforcements_12m"] = sum(
        1 for _o, _e, executed in ledger.register("AdminEnforcement").values() if 0 <= as_of - month_of_day(executed) < 12)
    row.update(_real_estate(ledger, r))
    row.update(_rd(ledger, r, reference.year))
    row.update(_agri(ledger, r))
    return row


def _environment(ledger: Ledger, r: str) -> dict:
    rated = [(rated_on, period, grade, score)
             for period, (_o, _e, rated_on, grade, score) in ledger.register("EnvCreditRating").items() if rated_on <= r]
    if not rated:
        return {"env_grade": None, "env_score": None, "env_rated_on": None}
    rated_on, _period, grade, score = max(rated)  # latest rated_on; ties: the greater period
    return {"env_grade": grade, "env_score": str(Decimal(score).quantize(TENTH)), "env_rated_on": rated_on}


def _penalties(ledger: Ledger, as_of: int, reference: dt.date) -> dict:
    repairs = ledger.register("CreditRepair")
    in_publicity = serious = 0
    fines = Decimal(0)
    for decision_no, (_o, _e, is_published, severity, decided, until, amount) in ledger.register("AdminPenalty").items():
        if not is_published:
            continue
        if 0 <= as_of - month_of_day(decided) < 12:
            fines += Decimal(amount)
        repair = repairs.get(decision_no)
        repaired_on = repair[3] if repair is not None and repair[2] else None
        decided_on = dt.date.fromisoformat(decided)
        if decided_on <= reference < publicity_end(decided_on, severity, until, repaired_on):
            in_publicity += 1
            serious += severity == "SERIOUS"
    return {"penalties_in_publicity": in_publicity, "serious_penalty_in_publicity": serious > 0,
            "penalty_fines_12m": money(fines)}


def _real_estate(ledger: Ledger, r: str) -> dict:
    rights = [Decimal(area) for _o, _e, active, registered, area in ledger.register("RealEstateRight").values()
              if active and registered <= r]
    return {"real_estate_rights_active": len(rights), "real_estate_area_m2": money(sum(rights, Decimal(0))),
            "mortgages_active": sum(1 for _o, _e, active, registered in ledger.register("RealEstateMortgage").values()
                                    if active and registered <= r)}


def _rd(ledger: Ledger, r: str, year: int) -> dict:
    high_tech = key_lab = False
    projects = 0
    for _o, _e, kind, recognised, until, revoked in ledger.register("RdRecognition").values():
        if revoked:
            continue
        if kind == "HIGH_TECH_ENTERPRISE":
            high_tech = high_tech or (recognised <= year and (until is None or until >= r))
        elif kind == "CITY_SCIENCE_PROJECT":
            projects += year - 2 <= recognised <= year
        elif kind == "CITY_KEY_LAB":
            key_lab = key_lab or recognised <= year
    return {"high_tech_enterprise": high_tech, "science_projects_3y": projects, "key_lab": key_lab}


def _agri(ledger: Ledger, r: str) -> dict:
    operator = ledger.register("AgriOperator").get("")
    land = [Decimal(area) for _o, _e, active, issued, term_end, area in ledger.register("RuralLandRight").values()
            if active and issued <= r and term_end >= r]
    return {"agri_operator_category": operator[2] if operator else None,
            "rural_land_rights_active": len(land), "rural_land_area_mu": money(sum(land, Decimal(0))),
            "housing_rights_active": sum(1 for _o, _e, active, registered in ledger.register("FarmerHousingRight").values()
                                         if active and registered <= r)}
