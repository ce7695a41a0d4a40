"""Simulated traffic of the v1.1 registers: environmental ratings, real estate and mortgages,
administrative licences, penalties, enforcement and repairs, R&D recognitions, agricultural
operators with their land and housing rights. Realistic in the ways the profile rules care about:
licences that expire or are revoked, penalties of each severity with and without publicity_until,
approved and rejected repairs, cancelled rights and released mortgages, half-yearly ratings,
recognitions with validity. A generator of its own (its own random stream), so adding it left the
v1 traffic of every seed exactly as it was."""
from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Callable, Iterator

from creditstream.schemas.months import last_day
from creditstream.schemas.personal import id_card_check_char
from creditstream.schemas.uscc import USCC_ALPHABET, normalise_uscc, uscc_check_char

UTC = dt.timezone.utc
CENT = Decimal("0.01")
AUTHORITIES = {  # provider id -> (authority name, its USCC body)
    "heihe-market": ("黑河市市场监督管理局", "11231100MB1000000"),
    "heihe-env": ("黑河市生态环境局", "11231100MB2000000"),
    "heihe-natres": ("黑河市自然资源局", "11231100MB3000000"),
    "heihe-sci": ("黑河市科学技术局", "11231100MB4000000"),
    "heihe-agri": ("黑河市农业农村局", "11231100MB5000000"),
}
SURNAMES = "王李张刘陈杨赵黄周吴"


def authority_uscc(provider: str) -> str:
    body = AUTHORITIES[provider][1]
    return body + uscc_check_char(body)


class RegisterTraffic:
    """Register events of one firm, month by month; ``make`` builds the simulator's event."""

    def __init__(self, rng: random.Random, months: list[int], make: Callable[[str, str, dict, dt.datetime, dict], object]):
        self.rng, self.months, self.make = rng, months, make

    def profile(self, index: int) -> dict:
        """Which registers a firm has; the first firm has every one (the demo shows it)."""
        rng, every = self.rng, index == 0
        birth = dt.date(1960, 1, 1) + dt.timedelta(days=rng.randrange(365 * 35))
        body = f"231100{birth:%Y%m%d}{rng.randrange(1000):03d}"
        return {
            "legal_rep": (rng.choice(SURNAMES) + rng.choice("伟芳娜敏静丽强磊军洋"), body + id_card_check_char(body)),
            "licences": rng.randint(1, 3) if every or rng.random() < 0.6 else 0,
            "penalties": rng.randint(1, 2) if every or rng.random() < 0.25 else 0,
            "showcase": every,  # its first penalty is repaired
            "enforcement": every or rng.random() < 0.05,
            "env": every or rng.random() < 0.3,
            "real_estate": rng.randint(1, 2) if every or rng.random() < 0.4 else 0,
            "mortgage": every or rng.random() < 0.25,
            "rd": every or rng.random() < 0.15,
            "agri": every or rng.random() < 0.15,
        }

    def at(self, month: int) -> dt.datetime:
        day = last_day(month).replace(day=self.rng.randint(1, 28))
        seconds = self.rng.randrange(8 * 3600, 18 * 3600)
        return dt.datetime(day.year, day.month, day.day, tzinfo=UTC) + dt.timedelta(seconds=seconds)

    def legal_rep(self, firm: dict) -> dict:
        name, number = firm["registers"]["legal_rep"]
        return {"legal_rep_name": name, "legal_rep_id_type": "ID_CARD", "legal_rep_id_no": number,
                "legal_rep_id_hmac": None}

    def authority(self, provider: str) -> dict:
        return {"authority_name": AUTHORITIES[provider][0], "authority_uscc": authority_uscc(provider)}

    def events(self, firm: dict) -> Iterator[tuple[int, object]]:
        """(month, event) of every register event of a firm over the simulated months."""
        p, rng = firm["registers"], self.rng
        first, last = self.months[0], self.months[-1]
        tag = normalise_uscc(firm["uscc"])[-6:]
        for i in range(p["licences"]):
            month = rng.randint(first, last)
            start = last_day(month).replace(day=1)
            until = None if rng.random() < 0.3 else start + dt.timedelta(days=rng.choice((180, 365, 730, 1095)))
            value = {"decision_no": f"黑市监许{tag}{i}", "licence_name": rng.choice(("食品经营许可证", "道路运输经营许可证",
                                                                               "排污许可证")),
                     "licence_no": f"JY{tag}{i:02d}" if rng.random() < 0.8 else None, "licence_type": "普通",
                     "content": "经营范围内的许可事项", "decided_on": start, "valid_from": start, "valid_until": until,
                     "status": "VALID", **self.authority("heihe-market"), **self.legal_rep(firm)}
            yield month, self.make("AdminLicence", "heihe-market", firm, self.at(month), value)
            if rng.random() < 0.15 and month < last:  # revoked or cancelled later
                later = rng.randint(month + 1, last)
                yield later, self.make("AdminLicence", "heihe-market", firm, self.at(later),
                                       {**value, "status": rng.choice(("REVOKED", "CANCELLED"))})
        for i in range(p["penalties"]):
            yield from self.penalty(firm, tag, i, rng.randint(first, last))
        if p["enforcement"]:
            month = rng.randint(first, last)
            yield month, self.make("AdminEnforcement", "heihe-market", firm, self.at(month), {
                "decision_no": f"黑市监强{tag}", "decision_name": "查封（扣押）决定书", "reason": "涉嫌违法经营",
                "legal_basis": "《中华人民共和国行政强制法》第二十二条", "method": "查封",
                "executed_on": last_day(month).replace(day=rng.randint(1, 28)), **self.authority("heihe-market"),
                **self.legal_rep(firm)})
        if p["env"]:
            for month in self.months:  # ratings of a half-year come in January and July
                if month % 12 in (0, 6):
                    half = "H2" if month % 12 == 0 else "H1"
                    year = month // 12 - (1 if half == "H2" else 0)
                    yield month, self.make("EnvCreditRating", "heihe-env", firm, self.at(month), {
                        "score": (Decimal(rng.randint(350, 1000)) / 10).quantize(Decimal("0.1")),
                        "grade": rng.choices(("GREEN", "BLUE", "YELLOW", "RED", "BLACK"), (30, 45, 15, 7, 3))[0],
                        "rated_on": last_day(month).replace(day=rng.randint(5, 25)), "period": f"{year}-{half}"})
        for i in range(p["real_estate"]):
            month = rng.randint(first - 24, last)
            value = {"certificate_no": f"黑(2023)黑河市不动产权第{tag}{i}号", "unit_no": f"231102{tag}{i:03d}",
                     "use": rng.choice(("工业用地/工业", "商服用地/商业")), "location": "黑河市爱辉区",
                     "area_m2": (Decimal(rng.randint(8000, 500000)) / 100).quantize(CENT), "term_end": dt.date(2068, 12, 31),
                     "registry": "黑河市不动产登记中心", "registered_on": last_day(month).replace(day=10), "status": "ACTIVE"}
            yield max(month, first), self.make("RealEstateRight", "heihe-natres", firm, self.at(max(month, first)), value)
            if rng.random() < 0.1:
                yield last, self.make("RealEstateRight", "heihe-natres", firm, self.at(last), {**value, "status": "CANCELLED"})
        if p["mortgage"]:
            month = rng.randint(first, last)
            value = {"registration_no": f"黑(2024)黑河市不动产证明第{tag}号",
                     "certificate_no": f"黑(2023)黑河市不动产权第{tag}0号",
                     "unit_no": f"231102{tag}000", "right_type": "国有建设用地使用权/房屋所有权",
                     "mortgagee_name": "中国农业银行黑河分行", "mortgagee_id": "91231100MA00000000",
                     "registered_on": last_day(month).replace(day=12), "status": "ACTIVE"}
            yield month, self.make("RealEstateMortgage", "heihe-natres", firm, self.at(month), value)
            if rng.random() < 0.3 and month < last:
                later = rng.randint(month + 1, last)
                yield later, self.make("RealEstateMortgage", "heihe-natres", firm, self.at(later),
                                       {**value, "status": "RELEASED"})
        if p["rd"]:
            yield from self.recognitions(firm, tag)
        if p["agri"]:
            yield from self.agriculture(firm, tag)

    def penalty(self, firm: dict, tag: str, i: int, month: int) -> Iterator[tuple[int, object]]:
        rng = self.rng
        showcase = firm["registers"]["showcase"] and i == 0
        if showcase:
            month = min(month, self.months[-1] - 3)
        decided = last_day(month).replace(day=rng.randint(1, 28))
        severity = "GENERAL" if showcase else rng.choices(("MINOR", "GENERAL", "SERIOUS"), (30, 55, 15))[0]
        types = ["FINE"] if showcase else rng.choice(
            (["WARNING"], ["FINE"], ["WARNING", "FINE"], ["FINE", "CONFISCATION"], ["LICENCE_SUSPENDED"]))
        fine = Decimal(rng.randint(5, 2000) * 100) if "FINE" in types else Decimal("0.00")
        provider = rng.choice(("heihe-market", "heihe-env"))
        value = {"decision_no": f"黑罚{tag}{i}", "decision_name": "行政处罚决定书", "violation_type": rng.choice(
                     ("超标排放", "无证经营", "虚假宣传", "食品安全")), "violation_facts": "经查，当事人存在违法行为",
                 "legal_basis": "相关法律法规", "penalty_content": "依法给予行政处罚", "penalty_types": types,
                 "fine_amount": fine.quantize(Decimal("0.01")),
                 "confiscated_amount": Decimal(rng.randint(0, 5000)).quantize(Decimal("0.01"))
                 if "CONFISCATION" in types else Decimal("0.00"),
                 "licence_affected": "排污许可证" if "LICENCE_SUSPENDED" in types else None, "decided_on": decided,
                 "publicity_until": decided + dt.timedelta(days=rng.choice((90, 180))) if rng.random() < 0.4 else None,
                 "severity": severity, "revoked": False, **self.authority(provider), **self.legal_rep(firm)}
        occurred = self.at(month)
        yield month, self.make("AdminPenalty", provider, firm, occurred, value)
        last = self.months[-1]
        if not showcase and rng.random() < 0.05 and month < last:  # the decision is revoked
            later = rng.randint(month + 1, last)
            yield later, self.make("AdminPenalty", provider, firm, self.at(later), {**value, "revoked": True})
        elif severity != "MINOR" and (showcase or rng.random() < 0.3) and month + 3 <= last:  # a repair is decided
            later = rng.randint(month + 3, last)
            decided_at = self.at(later)
            yield later, self.make("CreditRepair", "credit-platform", firm, decided_at, {
                "decision_no": value["decision_no"],
                "outcome": "APPROVED" if showcase else rng.choice(("APPROVED", "APPROVED", "REJECTED")),
                "decided_at": decided_at, "note": "当事人已履行处罚决定并完成整改"})

    def recognitions(self, firm: dict, tag: str) -> Iterator[tuple[int, object]]:
        rng, first, last = self.rng, self.months[0], self.months[-1]
        month = rng.randint(first, last)
        year = month // 12
        yield month, self.make("RdRecognition", "heihe-sci", firm, self.at(month), {
            "kind": "HIGH_TECH_ENTERPRISE", "reference_no": f"GR{year}2310{tag}", "year": year,
            "valid_until": dt.date(year + 3, 12, 31), "revoked": False})
        for j in range(rng.randint(0, 2)):
            m = rng.randint(first, last)
            value = {"kind": "CITY_SCIENCE_PROJECT", "reference_no": f"HHKJ{m // 12}{tag}{j}", "year": m // 12,
                     "valid_until": None, "revoked": False}
            yield m, self.make("RdRecognition", "heihe-sci", firm, self.at(m), value)
            if rng.random() < 0.1 and m < last:
                yield last, self.make("RdRecognition", "heihe-sci", firm, self.at(last), {**value, "revoked": True})
        if rng.random() < 0.2:
            m = rng.randint(first, last)
            yield m, self.make("RdRecognition", "heihe-sci", firm, self.at(m), {
                "kind": "CITY_KEY_LAB", "reference_no": f"HHSYS{tag}", "year": m // 12, "valid_until": None,
                "revoked": False})

    def agriculture(self, firm: dict, tag: str) -> Iterator[tuple[int, object]]:
        rng, first, last = self.rng, self.months[0], self.months[-1]
        yield first, self.make("AgriOperator", "heihe-agri", firm, self.at(first), {
            "category": rng.choice(("FAMILY_FARM", "COOPERATIVE", "LEADING_ENTERPRISE", "SERVICE_ORGANISATION")),
            "head_name": firm["registers"]["legal_rep"][0], "location": "黑河市逊克县", "business_scope": "大豆、玉米种植与销售"})
        for i in range(rng.randint(1, 3)):
            month = rng.randint(first, last)
            issued = last_day(month).replace(day=rng.randint(1, 28))
            value = {"certificate_no": f"L2311{tag}{i:02d}", "issuer": "逊克县人民政府", "issued_on": issued,
                     "term_end": issued + dt.timedelta(days=rng.choice((200, 3650, 7300))), "land_name": f"{tag}号地块",
                     "location": "黑河市逊克县", "use": "耕地",
                     "area_mu": (Decimal(rng.randint(500, 50000)) / 100).quantize(CENT),
                     "change_note": None, "status": "ACTIVE"}
            yield month, self.make("RuralLandRight", "heihe-agri", firm, self.at(month), value)
            if rng.random() < 0.1 and month < last:
                later = rng.randint(month + 1, last)
                yield later, self.make("RuralLandRight", "heihe-agri", firm, self.at(later),
                                       {**value, "status": "TRANSFERRED", "change_note": "经营权流转"})
        month = rng.randint(first, last)
        yield month, self.make("FarmerHousingRight", "heihe-agri", firm, self.at(month), {
            "certificate_no": f"F2311{tag}", "holder_name": firm["registers"]["legal_rep"][0], "location": "黑河市逊克县",
            "area_m2": (Decimal(rng.randint(6000, 20000)) / 100).quantize(CENT), "registered_on": last_day(month).replace(day=8),
            "status": "ACTIVE"})

    def corrupt(self, record: str, value: dict) -> tuple[str, dict] | None:
        """(reason, broken value) with one of the v1.1 codes that fits this record, or None."""
        rng, options = self.rng, []
        if "legal_rep_id_no" in value:
            options += ["INVALID_ID_NO", "INVALID_ID_NO_PART"]
        if "authority_uscc" in value:
            options.append("INVALID_AUTHORITY")
        if {"score", "area_m2", "area_mu", "valid_until", "term_end", "publicity_until"} & set(value):
            options.append("BAD_VALUE")
        if "period" in value:
            options.append("BAD_PERIOD")
        if "fine_amount" in value:
            options.append("NEGATIVE_AMOUNT")
        if not options:
            return None
        choice = rng.choice(options)
        broken = dict(value)
        if choice == "INVALID_ID_NO":
            number = value["legal_rep_id_no"]
            broken["legal_rep_id_no"] = number[:17] + ("0" if number[17] != "0" else "1")
        elif choice == "INVALID_ID_NO_PART":
            broken["legal_rep_id_no"] = None
            choice = "INVALID_ID_NO"
        elif choice == "INVALID_AUTHORITY":
            code = value["authority_uscc"]
            broken["authority_uscc"] = code[:17] + USCC_ALPHABET[(USCC_ALPHABET.index(code[17]) + 1) % 31]
        elif choice == "BAD_PERIOD":
            broken["period"] = value["period"][:5] + "H3"
        elif choice == "NEGATIVE_AMOUNT":
            broken["fine_amount"] = Decimal("-100.00")
        elif "score" in value:
            broken["score"] = Decimal("100.5")
        elif "area_m2" in value or "area_mu" in value:
            broken["area_m2" if "area_m2" in value else "area_mu"] = Decimal("0.00")
        elif "valid_until" in value and "valid_from" in value:
            broken["valid_until"] = value["valid_from"] - dt.timedelta(days=1)
        elif "publicity_until" in value:
            broken["publicity_until"] = value["decided_on"] - dt.timedelta(days=1)
        else:
            return None
        return choice, broken

