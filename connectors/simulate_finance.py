"""``creditstream simulate --kafka --finance``: a deterministic history of the loan loop over the
last six months, for the demo and a local run: three lenders' products (one revised, one
suspended by the operator), applications that are disbursed, approved, rejected for each reason,
withdrawn or still open (some past their deadline), first loans and renewals, monthly reports with
a credit loan that goes 90 days overdue and becomes a compensation claim, a loan repaid, and
financing needs, one taken up.

The simulator plays the lenders, the enterprises, the operator and the platform, and writes the
finance topics directly with changes dated in the past (the API would date them now). It leaves
``first_loan`` to the worker, as the API does, and stamps ``whitelisted_at_disbursement`` from its
own story of each firm (docs/financing.md). Same seed, same story, relative to ``now``.
"""
from __future__ import annotations

import datetime as dt
import random
from decimal import ROUND_HALF_UP, Decimal
from typing import Iterator, Optional

from creditstream.schemas.finance import REJECT_REASONS
from creditstream.schemas.months import SHANGHAI
from creditstream.schemas.records import to_json
from creditstream.schemas.services import add_working_days

UTC = dt.timezone.utc
WINDOW_MONTHS = 6
OPERATOR = "operator:demo-operator"
# (lender, product id, name, kind, collateral, min grade, whitelist only, scopes, amounts, terms, rates, repayment)
PRODUCTS = (
    ("lender-a", "a-tax", "黑河信易贷·纳税信用贷", "CREDIT", "NONE", "B", False, ["TAX"],
     ("50000.00", "3000000.00"), (6, 36), ("3.85", "5.20"), "INTEREST_FIRST"),
    ("lender-a", "a-estate", "不动产抵押经营贷", "MORTGAGE", "REAL_ESTATE", None, False, ["REAL_ESTATE"],
     ("100000.00", "10000000.00"), (12, 120), ("3.60", "4.80"), "EQUAL_INSTALMENT"),
    ("lender-b", "b-white", "白名单信用贷", "CREDIT", "NONE", "A", True, ["TAX", "UTILITY"],
     ("100000.00", "5000000.00"), (6, 24), ("3.45", "4.35"), "INTEREST_FIRST"),
    ("lender-b", "b-ip", "知识产权质押贷", "PLEDGE", "IP", None, False, ["RD"],
     ("200000.00", "8000000.00"), (12, 36), ("3.70", "4.90"), "LUMP_SUM"),
    ("lender-c", "c-agri", "惠农担保贷", "GUARANTEE", "NONE", "C", False, ["AGRI"],
     ("30000.00", "1000000.00"), (6, 24), ("4.10", "6.00"), "FLEXIBLE"),
    ("lender-c", "c-supply", "供应链订单贷", "SUPPLY_CHAIN", "NONE", "B", False, ["TAX", "TRADE"],
     ("100000.00", "3000000.00"), (3, 12), ("4.20", "5.80"), "LUMP_SUM"),
)
PURPOSES = ("采购原材料", "支付工资", "购置设备", "扩大生产", "补充流动资金", "收购粮食", "支付货款")


def money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def add_months(day: dt.date, months: int) -> dt.date:
    year, month0 = divmod(day.year * 12 + day.month - 1 + months, 12)
    return dt.date(year, month0 + 1, min(day.day, 28))


class FinanceTraffic:
    def __init__(self, firms: list[dict], now: dt.datetime, seed: int = 1, holidays=(), limit: int = 80):
        self.firms = firms[:limit]
        self.now = now
        self.today = now.astimezone(SHANGHAI).date()
        self.seed = seed  # in every id: another seed's story (compose runs one per round) is another story
        self.rng = random.Random(seed * 1_000_003 + 41)
        self.holidays = tuple(holidays)
        self.start = add_months(self.today.replace(day=1), -(WINDOW_MONTHS - 1)).replace(day=1)
        self.reasons = iter(REJECT_REASONS * 100)  # every reason appears
        self.loans: list[dict] = []  # the current firm's disbursed loans
        self.troubled = 0  # credit loans sent into serious arrears so far
        self.claims = 0  # claims filed so far
        self.applied = 0  # applications so far

    # -- helpers -------------------------------------------------------------------------------------
    def at(self, day: dt.date, hour: int = 10) -> Optional[dt.datetime]:
        """That day at ``hour`` in Shanghai, or None when it lies ahead of now."""
        stamp = dt.datetime.combine(day, dt.time(hour, self.rng.randrange(60)), SHANGHAI).astimezone(UTC)
        return stamp if stamp <= self.now else None

    @staticmethod
    def stamp(when: dt.datetime, actor: str, name: str) -> dict:
        """The change's common fields; its event id names what it does, so a second run of the
        story (the demo again, on the same broker) repeats the same events, folded once."""
        return {"event_id": f"sim-fin-{name}", "occurred_at": to_json(when), "actor": actor}

    def working_day(self, day: dt.date) -> dt.date:
        while day.weekday() >= 5 or day in self.holidays:
            day += dt.timedelta(days=1)
        return day

    # -- the story -----------------------------------------------------------------------------------
    def changes(self) -> Iterator[tuple[str, str, dict]]:
        """(record, key, change in JSON form), in an order the worker accepts."""
        products = {}
        launch = self.at(self.start - dt.timedelta(days=7))
        for (lender, pid, name, kind, collateral, grade, white, scopes, amounts, terms, rates, repayment) in PRODUCTS:
            product = {"product_id": f"sim-{pid}", "lender_id": lender, "action": "PUBLISHED", "name": name,
                       "kind": kind, "amount_min": amounts[0], "amount_max": amounts[1], "term_min_months": terms[0],
                       "term_max_months": terms[1], "rate_min": rates[0], "rate_max": rates[1],
                       "repayment": repayment, "scopes": scopes, "min_grade": grade, "whitelist_only": white,
                       "collateral": collateral, "description": f"{name}：面向黑河市中小微企业", "suspended_reason": None}
            products[pid] = product
            yield "LoanProduct", lender, {**self.stamp(launch, f"lender:{lender}", f"{pid}-published"), **product}
        revised = {**products["a-tax"], "action": "REVISED", "rate_min": "3.65"}
        products["a-tax"] = revised
        when = self.at(self.start + dt.timedelta(days=40))
        yield "LoanProduct", "lender-a", {**self.stamp(when, "lender:lender-a", "a-tax-revised"), **revised}
        for index, firm in enumerate(self.firms):
            yield from self.firm_story(index, firm, list(products.values()))
        suspended = {**products["c-supply"], "action": "SUSPENDED", "suspended_reason": "利率公示不完整，暂停受理"}
        yield "LoanProduct", "lender-c", {**self.stamp(self.at(self.today - dt.timedelta(days=3)) or self.now,
                                                       OPERATOR, "c-supply-suspended"), **suspended}

    def firm_story(self, index: int, firm: dict, offered: list[dict]) -> Iterator[tuple[str, str, dict]]:
        uscc, rng = firm["uscc"], self.rng
        # this firm's standing in the simulator's story: prompt payers are mostly on the whitelist
        white = firm.get("payer", "prompt") == "prompt" and rng.random() < 0.85
        count = rng.choices((0, 1, 2), (3, 5, 2))[0]
        days = sorted(self.working_day(self.start + dt.timedelta(days=rng.randrange((self.today - self.start).days)))
                      for _ in range(count))
        self.loans = []
        for n, day in enumerate(days):
            product = offered[rng.randrange(len(offered))]
            if product["product_id"] == "sim-c-supply" and day > self.today - dt.timedelta(days=5):
                product = offered[0]  # suspended three days ago: nobody applies for it since
            yield from self.application(f"sim{self.seed}-app-{index:04d}-{n}", uscc, product, day, white, index)
        for loan in list(self.loans):  # a renewal (续贷) for some loans maturing within 60 days
            matures = dt.date.fromisoformat(loan["maturity_on"])
            if self.start < matures <= self.today + dt.timedelta(days=60) and rng.random() < 0.7:
                product = next(p for p in offered if p["product_id"] == loan["product_id"])
                asked = max(dt.date.fromisoformat(loan["disbursed_on"]) + dt.timedelta(days=7),
                            min(matures - dt.timedelta(days=25), self.today - dt.timedelta(days=15 + rng.randrange(10))))
                yield from self.application(f"{loan['application_id']}-r", uscc, product, self.working_day(asked),
                                            white, index, renews=loan["loan_no"])
        if index % 25 == 3:  # a few financing needs, one taken up
            yield from self.need(index, firm)

    def application(self, application_id: str, uscc: str, product: dict, day: dt.date, white: bool,
                    index: int, renews: Optional[str] = None) -> Iterator[tuple[str, str, dict]]:
        rng = self.rng
        submitted = self.at(day, 9)
        if submitted is None:
            return
        low, high = Decimal(product["amount_min"]), Decimal(product["amount_max"])
        amount = max(low, min(high, (low + (high - low) * Decimal(rng.random()) / 4).quantize(Decimal("10000"))))
        term = rng.choice([t for t in (3, 6, 12, 24, 36) if product["term_min_months"] <= t <= product["term_max_months"]]
                          or [product["term_min_months"]])
        app = {"application_id": application_id, "uscc": uscc, "product_id": product["product_id"],
               "lender_id": product["lender_id"], "product_kind": product["kind"], "state": "SUBMITTED",
               "amount": money(amount), "term_months": term, "purpose": rng.choice(PURPOSES), "renews_loan_no": renews,
               "submitted_at": to_json(submitted)}
        lender, firm = f"lender:{product['lender_id']}", f"enterprise:{uscc}"
        yield "LoanApplication", uscc, {**self.stamp(submitted, firm, f"{application_id}-submitted"), **app}
        fate = rng.random()
        if renews is not None:  # the lender already knows the firm: renewals are granted
            fate = 0.5 + fate / 2
        self.applied += 1
        if self.applied % 12 == 5:  # withdrawn by the enterprise
            when = self.at(day + dt.timedelta(days=1), 15)
            if when:
                head = self.stamp(when, firm, f"{application_id}-withdrawn")
                yield "LoanApplication", uscc, {**head, **app, "state": "WITHDRAWN", "closed_at": to_json(when),
                                                "note": "已从其他渠道获得资金"}
            return
        if fate < 0.09:
            return  # never accepted: overdue 2 working days after submission
        late = rng.random() < 0.15
        accepted = self.at(add_working_days(day, 4 if late else 1, self.holidays), 11)
        if fate < 0.15:  # rejected at once
            when = self.at(add_working_days(day, 1, self.holidays), 16)
            if when:
                yield "LoanApplication", uscc, self.rejected(app, when, lender)
            return
        if accepted is None:
            return  # still SUBMITTED (overdue once 2 working days have passed)
        app = {**app, "state": "ACCEPTED", "accepted_at": to_json(accepted)}
        yield "LoanApplication", uscc, {**self.stamp(accepted, lender, f"{application_id}-accepted"), **app}
        if fate < 0.18:
            return  # accepted, never decided: overdue 10 working days later
        decided_day = add_working_days(accepted.astimezone(SHANGHAI).date(), 12 if late else rng.randrange(1, 9),
                                       self.holidays)
        decided = self.at(decided_day, 14)
        if decided is None:
            return  # awaiting a decision
        if fate < 0.32:
            yield "LoanApplication", uscc, self.rejected(app, decided, lender)
            return
        rate = Decimal(product["rate_min"]) + (Decimal(product["rate_max"]) - Decimal(product["rate_min"])) \
            * Decimal(rng.randrange(0, 101)) / 100
        app = {**app, "state": "APPROVED", "decided_at": to_json(decided), "approved_amount": app["amount"],
               "approved_term_months": term, "approved_rate": money(rate)}
        yield "LoanApplication", uscc, {**self.stamp(decided, lender, f"{application_id}-approved"), **app}
        disbursed = self.at(add_working_days(decided_day, rng.randrange(1, 4), self.holidays), 10)
        if disbursed is None or fate < 0.37:
            return  # approved, not yet disbursed
        on = disbursed.astimezone(SHANGHAI).date()
        loan_no = f"{product['lender_id'][-1].upper()}{self.seed}-{on:%Y%m}{index:04d}{application_id[-1]}"
        app = {**app, "state": "DISBURSED", "closed_at": to_json(disbursed), "loan_no": loan_no,
               "disbursed_amount": app["amount"], "disbursed_rate": app["approved_rate"],
               "disbursed_on": on.isoformat(), "maturity_on": add_months(on, term).isoformat(),
               "whitelisted_at_disbursement": white}
        yield "LoanApplication", uscc, {**self.stamp(disbursed, lender, f"{application_id}-disbursed"), **app}
        self.loans.append(app)
        yield from self.performance(app, index)

    def rejected(self, app: dict, when: dt.datetime, lender: str) -> dict:
        reason = next(self.reasons)
        notes = {"INSUFFICIENT_CREDIT": "综合评分未达准入标准", "INSUFFICIENT_COLLATERAL": "抵押物价值不足",
                 "INCOMPLETE_MATERIALS": "缺少近两年财务报表", "OUTSIDE_POLICY": "行业不在授信政策范围内",
                 "OTHER": "企业主动放弃补充材料"}
        head = self.stamp(when, lender, f"{app['application_id']}-rejected")
        return {**head, **app, "state": "REJECTED", "decided_at": to_json(when),
                "reject_reason": reason, "note": notes[reason]}

    def performance(self, loan: dict, index: int) -> Iterator[tuple[str, str, dict]]:
        """Monthly reports from the disbursement month to the last complete one; a few credit loans
        slide into 90+ days overdue and are claimed for, one loan is repaid early."""
        on = dt.date.fromisoformat(loan["disbursed_on"])
        amount, term = Decimal(loan["disbursed_amount"]), loan["term_months"]
        # the first few credit loans to whitelisted firms old enough to be 90 days overdue by now
        troubled = loan["product_kind"] == "CREDIT" and loan["whitelisted_at_disbursement"] \
            and on <= add_months(self.today, -3) and self.troubled < 4
        self.troubled += troubled
        repaid_early = index % 13 == 7
        month_start, n = on.replace(day=1), 0
        # a troubled loan: late from its first month, 90+ days overdue from its third, written off in its sixth
        troubled_path = ("OVERDUE_1_30", "OVERDUE_31_90", "OVERDUE_90_PLUS", "OVERDUE_90_PLUS", "OVERDUE_90_PLUS",
                         "WRITTEN_OFF")
        while True:
            report_day = add_months(month_start, 1).replace(day=1)
            when = self.at(report_day, 9)
            if when is None:
                return
            if troubled:
                status = troubled_path[min(n, 5)]
            else:
                status = "REPAID" if repaid_early and n >= 2 else "NORMAL"
            paid_down = min(n, 1) if troubled else n  # a troubled loan stops paying after its first month
            outstanding = Decimal(0) if status == "REPAID" else amount * (1 - Decimal(paid_down) / Decimal(term * 2))
            report = {"loan_no": loan["loan_no"], "application_id": loan["application_id"], "uscc": loan["uscc"],
                      "lender_id": loan["lender_id"], "month": f"{month_start:%Y-%m}", "status": status,
                      "outstanding_principal": money(outstanding)}
            head = self.stamp(when, f"lender:{loan['lender_id']}", f"{loan['loan_no']}-{report_day}")
            yield "LoanPerformance", loan["uscc"], {**head, **report}
            if troubled and n == 2:  # 90 days overdue: the lender claims
                yield from self.claim(loan, report, report_day)
            if status in ("REPAID", "WRITTEN_OFF"):
                return
            month_start, n = add_months(month_start, 1).replace(day=1), n + 1

    def claim(self, loan: dict, report: dict, day: dt.date) -> Iterator[tuple[str, str, dict]]:
        filed = self.at(day + dt.timedelta(days=2), 10)
        if filed is None:
            return
        due = add_working_days(filed.astimezone(SHANGHAI).date(), 10, self.holidays)
        claim = {"claim_id": f"sim-claim-{loan['loan_no']}", "loan_no": loan["loan_no"],
                 "application_id": loan["application_id"], "uscc": loan["uscc"], "lender_id": loan["lender_id"],
                 "state": "FILED", "filed_at": to_json(filed), "due_on": due.isoformat(),
                 "outstanding_principal": report["outstanding_principal"], "share": "0.4000",
                 "note": "借款企业逾期超过90天，申请风险补偿"}
        head = self.stamp(filed, f"lender:{loan['lender_id']}", f"{claim['claim_id']}-filed")
        yield "CompensationClaim", loan["uscc"], {**head, **claim}
        decided = self.at(add_working_days(filed.astimezone(SHANGHAI).date(), 5, self.holidays), 15)
        self.claims += 1
        if decided is not None and self.claims % 2:  # every other claim stays FILED (overdue once past due)
            amount = (Decimal(claim["outstanding_principal"]) * Decimal("0.40")).quantize(Decimal("0.01"),
                                                                                       rounding=ROUND_HALF_UP)
            head = self.stamp(decided, OPERATOR, f"{claim['claim_id']}-approved")
            yield "CompensationClaim", loan["uscc"], {**head, **claim, "state": "APPROVED",
                                                      "decided_at": to_json(decided), "compensation_amount": str(amount),
                                                      "note": "经审核符合风险补偿条件"}

    def need(self, index: int, firm: dict) -> Iterator[tuple[str, str, dict]]:
        when = self.at(self.today - dt.timedelta(days=5 + index % 7), 10)
        if when is None:
            return
        need = {"need_id": f"sim{self.seed}-need-{index:04d}", "uscc": firm["uscc"], "enterprise_name": firm["name"],
                "action": "PUBLISHED", "amount": "500000.00", "term_months": 12, "purpose": "扩大生产，采购设备",
                "kinds": ["CREDIT", "GUARANTEE"]}
        head = self.stamp(when, f"enterprise:{firm['uscc']}", f"{need['need_id']}-published")
        yield "FinancingNeed", firm["uscc"], {**head, **need}
        if index % 50 == 3:
            taken = self.at(self.today - dt.timedelta(days=2), 11) or self.now
            head = self.stamp(taken, "lender:lender-c", f"{need['need_id']}-taken-up")
            yield "FinancingNeed", firm["uscc"], {**head, **need, "action": "TAKEN_UP",
                                                  "lender_id": "lender-c", "product_id": "sim-c-agri"}
