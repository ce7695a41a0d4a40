"""Simulated traffic of the v1.2 collection list: social insurance and housing fund (monthly, by
employer account), customs trade (monthly, by customs code) and customs credit grades, patents,
trademarks and IP pledges, public-resource awards, the courts' dishonest-debtor list and
enforcement cases. Realistic where the rules care: head counts that drift, contributions paid
late or left in arrears (a few firms three months running: red line X3), corrections, months
without trade, certifications that expire, patents that lapse, trademarks renewed, pledges
released, awards cancelled, listings removed and cases closed. A generator of its own (its own
random stream), so adding it left every earlier record of every seed exactly as it was."""
from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Callable, Iterator

from creditstream.schemas.months import format_month, last_day
from creditstream.schemas.uscc import normalise_uscc

CENT = Decimal("0.01")
INSURANCE = ["PENSION", "MEDICAL", "UNEMPLOYMENT", "WORK_INJURY", "MATERNITY"]
MONTHLY = ("SocialInsuranceStatement", "HousingFundStatement", "CustomsTradeStatement")


class CollectionTraffic:
    """v1.2 events of one firm, month by month; ``make`` builds the simulator's event."""

    def __init__(self, rng: random.Random, months: list[int], make: Callable[[str, str, dict, dt.datetime, dict], object]):
        self.rng, self.months, self.make = rng, months, make

    def profile(self, index: int) -> dict:
        """What a firm has; the first firm has every category (the demo shows it)."""
        rng, every = self.rng, index == 0
        return {
            "showcase": every,  # its debtor listing is removed later: shown, but no red line today
            "employees": rng.choice((3, 8, 15, 40, 120)),
            "social": every or rng.random() < 0.7,
            "housing_fund": every or rng.random() < 0.45,
            # a firm that stops paying its contributions for the last three months (red line X3)
            "social_default": not every and rng.random() < 0.03,
            "trade": every or rng.random() < 0.15,
            "patents": rng.randint(1, 4) if every or rng.random() < 0.2 else 0,
            "trademarks": rng.randint(1, 2) if every or rng.random() < 0.3 else 0,
            "pledge": every or rng.random() < 0.05,
            "awards": rng.randint(1, 3) if every or rng.random() < 0.1 else 0,
            "dishonest": every or rng.random() < 0.03,
            "court_case": every or rng.random() < 0.06,
        }

    def at(self, month: int, first_day: int = 1) -> dt.datetime:
        day = last_day(month).replace(day=self.rng.randint(first_day, 28))
        seconds = self.rng.randrange(8 * 3600, 18 * 3600)
        return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=seconds)

    def day_in(self, month: int) -> dt.date:
        return last_day(month).replace(day=self.rng.randint(1, 28))

    def events(self, firm: dict) -> Iterator[tuple[int, object]]:
        """(month, event) of every v1.2 event of a firm over the simulated months."""
        p = firm["collection"]
        tag = normalise_uscc(firm["uscc"])[-6:]
        if p["social"]:
            yield from self.contributions("SocialInsuranceStatement", "heihe-hrss", firm, f"SB{tag}", Decimal("0.30"))
        if p["housing_fund"]:
            yield from self.contributions("HousingFundStatement", "heihe-hpf", firm, f"GJJ{tag}", Decimal("0.12"))
        if p["trade"]:
            yield from self.trade(firm, tag)
        for i in range(p["patents"]):
            yield from self.patent(firm, tag, i)
        for i in range(p["trademarks"]):
            yield from self.trademark(firm, tag, i)
        if p["pledge"]:
            yield from self.pledge(firm, tag)
        for i in range(p["awards"]):
            yield from self.award(firm, tag, i)
        if p["dishonest"]:
            yield from self.dishonest(firm, tag)
        if p["court_case"]:
            yield from self.court_case(firm, tag)

    def contributions(self, record: str, provider: str, firm: dict, account: str, rate: Decimal):
        rng, p = self.rng, firm["collection"]
        employees = p["employees"]
        for month in self.months:
            employees = max(1, employees + rng.choice((-1, 0, 0, 0, 1)))
            due = (Decimal(employees) * Decimal(rng.randint(3000, 4500)) * rate).quantize(CENT)
            defaulting = record == "SocialInsuranceStatement" and p["social_default"] and month > self.months[-1] - 3
            late = defaulting or (firm["payer"] == "struggling" and rng.random() < 0.3)
            paid = Decimal("0.00") if defaulting else (due * Decimal(rng.choice(("0.5", "0.8"))) if late else due).quantize(CENT)
            value = {"account_no": account, "account_name": firm["name"], "contribution_month": format_month(month),
                     "employee_count": employees, "amount_due": due, "amount_paid": paid,
                     "due_date": last_day(month).replace(day=15),
                     "paid_date": None if paid < due else last_day(month).replace(day=rng.randint(5, 15)),
                     "arrears_amount": due - paid, "revision": 0}
            if record == "SocialInsuranceStatement":
                value["insurance_types"] = INSURANCE if employees > 5 else INSURANCE[:3]
            yield month, self.make(record, provider, firm, self.at(month, 16), value)
            if rng.random() < 0.03:  # a correction: the same account and month, a higher revision
                fixed = {**value, "employee_count": employees + 1, "revision": 1}
                yield month, self.make(record, provider, firm, self.at(month, 16), fixed)

    def trade(self, firm: dict, tag: str):
        rng = self.rng
        code, scale = f"2311{tag}", rng.choice((5, 20, 100))
        for month in self.months:
            active = rng.random() < 0.75
            value = {"customs_code": code, "trade_month": format_month(month),
                     "import_value": Decimal(rng.randint(0, 30000) * scale if active else 0).quantize(CENT),
                     "export_value": Decimal(rng.randint(0, 50000) * scale if active else 0).quantize(CENT),
                     "declarations": rng.randint(1, 30) if active else 0, "revision": 0}
            yield month, self.make("CustomsTradeStatement", "heihe-customs", firm, self.at(month, 10), value)
            if rng.random() < 0.03:
                yield month, self.make("CustomsTradeStatement", "heihe-customs", firm, self.at(month, 10),
                                       {**value, "export_value": value["export_value"] + 100, "revision": 1})
        first = self.months[0]
        decided = self.day_in(first)
        grade = {"customs_code": code, "customs_office": "黑河海关", "decision_no": f"HH{tag}-0",
                 "grade": "GENERAL", "decided_on": decided, "valid_until": None}
        yield first, self.make("CustomsCreditGrade", "heihe-customs", firm, self.at(first), grade)
        roll = rng.random()
        if roll < 0.35:  # certified (or found dishonest) later, for a term that may run out
            month = rng.randint(first, self.months[-1])
            decided = max(decided, self.day_in(month))
            term = dt.timedelta(days=rng.choice((90, 365, 1095)))
            yield month, self.make("CustomsCreditGrade", "heihe-customs", firm, self.at(month), {
                **grade, "decision_no": f"HH{tag}-1", "grade": "ADVANCED_CERTIFIED" if roll < 0.3 else "DISHONEST",
                "decided_on": decided, "valid_until": decided + term})

    def patent(self, firm: dict, tag: str, i: int):
        rng, first, last = self.rng, self.months[0], self.months[-1]
        kind = rng.choice(("INVENTION", "UTILITY_MODEL", "UTILITY_MODEL", "DESIGN"))
        month = rng.randint(first - 36, last)
        granted = self.day_in(month)
        applied = granted - dt.timedelta(days=rng.randint(200, 900))
        years = {"INVENTION": 20, "UTILITY_MODEL": 10, "DESIGN": 15}[kind]
        value = {"patent_no": f"ZL20{tag}{i}", "title": rng.choice(("一种大豆脱粒装置", "木材干燥设备", "寒地温室控制系统")),
                 "kind": kind, "applied_on": applied, "granted_on": granted,
                 "valid_until": applied + dt.timedelta(days=365 * years), "status": "VALID"}
        yield max(month, first), self.make("Patent", "heihe-ip", firm, self.at(max(month, first)), value)
        if rng.random() < 0.15 and max(month, first) < last:  # annual fee not paid: lapsed
            later = rng.randint(max(month, first) + 1, last)
            yield later, self.make("Patent", "heihe-ip", firm, self.at(later), {**value, "status": "LAPSED"})

    def trademark(self, firm: dict, tag: str, i: int):
        rng, first, last = self.rng, self.months[0], self.months[-1]
        month = rng.randint(first, last)
        registered = self.day_in(month) - dt.timedelta(days=365 * rng.choice((1, 3, 9)))
        value = {"registration_no": f"{tag}{i:02d}", "mark_name": firm["name"][3:5], "nice_class": rng.randint(1, 45),
                 "registered_on": registered, "valid_until": registered + dt.timedelta(days=3652), "status": "VALID"}
        yield month, self.make("Trademark", "heihe-ip", firm, self.at(month), value)
        if rng.random() < 0.2 and month < last:  # renewed (续展): the same number, a later end
            later = rng.randint(month + 1, last)
            yield later, self.make("Trademark", "heihe-ip", firm, self.at(later),
                                   {**value, "valid_until": value["valid_until"] + dt.timedelta(days=3652)})

    def pledge(self, firm: dict, tag: str):
        rng, first, last = self.rng, self.months[0], self.months[-1]
        month = rng.randint(first, last)
        registered = self.day_in(month)
        value = {"registration_no": f"Y{tag}", "ip_kind": "PATENT", "ip_no": f"ZL20{tag}0", "pledgee_name": "黑河农村商业银行",
                 "pledgee_id": "91231100MA1B00000K", "secured_amount": Decimal(rng.randint(10, 300) * 10000).quantize(CENT),
                 "registered_on": registered, "term_end": registered + dt.timedelta(days=365), "status": "ACTIVE"}
        yield month, self.make("IpPledge", "heihe-ip", firm, self.at(month), value)
        if rng.random() < 0.3 and month < last:
            later = rng.randint(month + 1, last)
            yield later, self.make("IpPledge", "heihe-ip", firm, self.at(later), {**value, "status": "RELEASED"})

    def award(self, firm: dict, tag: str, i: int):
        rng, first, last = self.rng, self.months[0], self.months[-1]
        month = rng.randint(first, last)
        value = {"notice_no": f"HHGG{tag}{i}", "project_no": f"HHZB-{month}-{i}", "project_name": rng.choice(
                     ("爱辉区道路维修工程", "市政府办公设备采购", "逊克县农田水利改造")),
                 "trade_type": rng.choice(("CONSTRUCTION", "GOVERNMENT_PROCUREMENT", "OTHER")),
                 "buyer_name": rng.choice(("黑河市交通运输局", "黑河市机关事务服务中心", "逊克县水务局")),
                 "award_amount": Decimal(rng.randint(5, 900) * 10000).quantize(CENT), "awarded_on": self.day_in(month),
                 "status": "VALID"}
        yield month, self.make("PublicResourceAward", "heihe-pubres", firm, self.at(month), value)
        if rng.random() < 0.05 and month < last:
            later = rng.randint(month + 1, last)
            yield later, self.make("PublicResourceAward", "heihe-pubres", firm, self.at(later),
                                   {**value, "status": "CANCELLED"})

    def dishonest(self, firm: dict, tag: str):
        rng, first, last = self.rng, self.months[0], self.months[-1]
        showcase = firm["collection"]["showcase"]
        month = rng.randint(first, max(first, last - 1)) if showcase else rng.randint(first, last)
        filed = self.day_in(month) - dt.timedelta(days=rng.randint(60, 400))
        listed = self.day_in(month)
        value = {"case_no": f"(20{month // 12 % 100:02d})黑11执{tag}号", "court_name": "黑河市中级人民法院",
                 "basis_doc_no": f"(20{month // 12 % 100:02d})黑11民初{tag}号", "basis_unit": "黑河市中级人民法院",
                 "filed_on": filed, "obligation": "给付货款及利息", "performance": "NOT_PERFORMED",
                 "circumstances": rng.choice((["ABLE_BUT_REFUSED"], ["EVASION", "FALSE_PROPERTY_REPORT"], [])),
                 "listed_on": listed, "removed_on": None}
        yield month, self.make("DishonestDebtor", "heihe-court", firm, self.at(month), value)
        if (showcase or rng.random() < 0.4) and month < last:  # performed: the court removes the listing
            later = rng.randint(month + 1, last)
            yield later, self.make("DishonestDebtor", "heihe-court", firm, self.at(later), {
                **value, "performance": "PERFORMED", "removed_on": max(listed, self.day_in(later))})

    def court_case(self, firm: dict, tag: str):
        rng, first, last = self.rng, self.months[0], self.months[-1]
        month = rng.randint(first, last)
        value = {"case_no": f"(20{month // 12 % 100:02d})黑1102执{tag}号", "court_name": "黑河市爱辉区人民法院",
                 "filed_on": self.day_in(month), "amount": Decimal(rng.randint(1, 500) * 1000).quantize(CENT),
                 "closed_on": None}
        yield month, self.make("EnforcementCase", "heihe-court", firm, self.at(month), value)
        if rng.random() < 0.5 and month < last:
            later = rng.randint(month + 1, last)
            yield later, self.make("EnforcementCase", "heihe-court", firm, self.at(later), {
                **value, "closed_on": max(value["filed_on"], self.day_in(later))})

    def corrupt(self, record: str, value: dict) -> tuple[str, dict] | None:
        """(reason, broken value) with a code that fits this record (v1.2 adds cases, not codes)."""
        rng, broken = self.rng, dict(value)
        options = []
        money = [name for name in ("amount_paid", "import_value", "secured_amount", "award_amount", "amount")
                 if name in value]
        if money:
            options.append("NEGATIVE_AMOUNT")
        if record in MONTHLY:
            options.append("BAD_PERIOD")
        if {"employee_count", "declarations", "nice_class", "removed_on", "closed_on", "granted_on"} & set(value):
            options.append("BAD_VALUE")
        if not options:
            return None
        choice = rng.choice(options)
        if choice == "NEGATIVE_AMOUNT":
            broken[money[0]] = Decimal("-1.00")
        elif choice == "BAD_PERIOD":
            name = "trade_month" if "trade_month" in value else "contribution_month"
            broken[name] = value[name][:5] + "13"
        elif "employee_count" in value:
            broken["employee_count"] = -1
        elif "declarations" in value:
            broken["declarations"] = -2
        elif "nice_class" in value:
            broken["nice_class"] = 46
        elif "granted_on" in value:
            broken["applied_on"] = value["granted_on"] + dt.timedelta(days=1)
        elif "removed_on" in value:
            broken["removed_on"] = value["listed_on"] - dt.timedelta(days=1)
        else:
            broken["closed_on"] = value["filed_on"] - dt.timedelta(days=1)
        return choice, broken
