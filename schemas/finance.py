"""The loan loop's rules (financing-services.md) as plain functions and one fold, without I/O: the
worker folds each key's changes with ``Book.apply`` (and refuses what breaks a rule), the API
checks a request with the same rules before it publishes and keeps its view with the same fold,
and the tests call them directly. docs/financing.md says it in words.

Values are held in their JSON form (schemas.records.to_json: money and rates as decimal strings,
dates ``YYYY-MM-DD``, instants ISO-8601), so a book is plain JSON on the worker's table and in
the API's view.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Iterable, Optional

from creditstream.schemas.models import SCOPES
from creditstream.schemas.months import SHANGHAI
from creditstream.schemas.records import to_json
from creditstream.schemas.services import add_working_days

PRODUCT_KINDS = ("CREDIT", "MORTGAGE", "GUARANTEE", "PLEDGE", "SUPPLY_CHAIN", "OTHER")
REPAYMENTS = ("LUMP_SUM", "EQUAL_INSTALMENT", "INTEREST_FIRST", "FLEXIBLE")
COLLATERALS = ("REAL_ESTATE", "LAND_RIGHT", "IP", "NONE")
GRADE_ORDER = ("C", "B", "A", "AA", "AAA")  # worst first: a grade meets a minimum at or after it
PRODUCT_STATUS = {"PUBLISHED": "ACTIVE", "REVISED": None, "WITHDRAWN": "WITHDRAWN", "SUSPENDED": "SUSPENDED",
                  "REINSTATED": "ACTIVE"}  # None: a revision keeps the status
# the row fields the platform reads a kind of collateral from (never shown to the lender)
COLLATERAL_FIELDS = {"REAL_ESTATE": ("real_estate_rights_active",), "LAND_RIGHT": ("rural_land_rights_active",),
                     "IP": ("patents_valid", "trademarks_valid")}

APPLICATION_STATES = ("SUBMITTED", "ACCEPTED", "APPROVED", "REJECTED", "DISBURSED", "WITHDRAWN")
TRANSITIONS = {  # the only transitions accepted (financing-services.md, Applications)
    "SUBMITTED": ("ACCEPTED", "REJECTED", "WITHDRAWN"),
    "ACCEPTED": ("APPROVED", "REJECTED", "WITHDRAWN"),
    "APPROVED": ("DISBURSED",),
    "REJECTED": (), "DISBURSED": (), "WITHDRAWN": (),
}
FINAL_STATES = ("REJECTED", "DISBURSED", "WITHDRAWN")
REJECT_REASONS = ("INSUFFICIENT_CREDIT", "INSUFFICIENT_COLLATERAL", "INCOMPLETE_MATERIALS", "OUTSIDE_POLICY", "OTHER")
ACCEPT_DUE_WORKING_DAYS = 2  # ACCEPTED or REJECTED within 2 working days of SUBMITTED
DECIDE_DUE_WORKING_DAYS = 10  # APPROVED or REJECTED within 10 working days of ACCEPTED
CLAIM_DUE_WORKING_DAYS = 10  # the operator decides a compensation claim within 10 working days
CONSENT_AFTER_FINAL_DAYS = 30  # an application's consent expires this long after its final state
PURPOSE_LIMIT = 500  # characters
RENEWAL_WINDOW_DAYS = 60  # the centre lists loans maturing within this many days without a renewal application

LOAN_STATUSES = ("NORMAL", "OVERDUE_1_30", "OVERDUE_31_90", "OVERDUE_90_PLUS", "REPAID", "WRITTEN_OFF")
NON_PERFORMING = ("OVERDUE_90_PLUS",)
CLAIMABLE_STATUSES = ("OVERDUE_90_PLUS", "WRITTEN_OFF")
SUBSIDY_STATUSES = ("NORMAL", "REPAID")
CLAIM_STATES = ("FILED", "APPROVED", "REJECTED")
NEED_STATES = ("OPEN", "MATCHED", "WITHDRAWN")
CENT = Decimal("0.01")


@dataclass(frozen=True)
class FinanceSettings:
    """The configured numbers of the city's programmes (creditstream.settings: finance_*)."""
    lpr_1y: Decimal = Decimal("3.00")  # the 1-year loan prime rate, percent, as configured
    cap_margin: Decimal = Decimal("1.50")  # subsidy: the rate may be at most LPR + this many points
    subsidy_points: Decimal = Decimal("1.00")  # subsidy: percentage points a year of the outstanding principal
    compensation_share: Decimal = Decimal("0.40")  # compensation: this share of the outstanding principal

    @property
    def rate_cap(self) -> Decimal:
        return self.lpr_1y + self.cap_margin


class FinanceError(ValueError):
    """A change the rules refuse. ``field`` names what is wrong; ``status`` is the HTTP answer the
    API gives (400 bad input, 404 unknown, 409 a state that does not allow it, 422 not eligible)."""

    def __init__(self, field: str, message: str, status: int = 400, state: Optional[str] = None):
        super().__init__(f"{field}: {message}")
        self.field, self.message, self.status = field, message, status
        self.state = state  # a 409's current state, named in the answer as a field of its own too


def money(value: Any) -> Decimal:
    return Decimal(str(value))


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def shanghai_date(instant: str | dt.datetime) -> dt.date:
    if isinstance(instant, str):
        instant = dt.datetime.fromisoformat(instant.replace("Z", "+00:00"))
    return instant.astimezone(SHANGHAI).date()


def working_days_between(start: dt.date, end: dt.date, holidays: Iterable[dt.date] = ()) -> int:
    """Working days after ``start`` up to and including ``end`` (0 on the same day): how many
    working days a decision took."""
    off, days, day = set(holidays), 0, start
    while day < end:
        day += dt.timedelta(days=1)
        if day.weekday() < 5 and day not in off:
            days += 1
    return days


# -- products ----------------------------------------------------------------------------------------
def check_product(p: dict) -> None:
    """A product's terms make sense (ranges ordered and positive, scopes known, grade known)."""
    if not str(p.get("name", "")).strip():
        raise FinanceError("name", "a product needs a name")
    for low, high, what in (("amount_min", "amount_max", "amount"), ("term_min_months", "term_max_months", "term"),
                            ("rate_min", "rate_max", "rate")):
        if money(p[low]) <= 0:
            raise FinanceError(low, f"the smallest {what} must be positive")
        if money(p[low]) > money(p[high]):
            raise FinanceError(high, f"{p[high]} is below {low} {p[low]}")
    if money(p["rate_max"]) >= 100:
        raise FinanceError("rate_max", "an annual rate in percent, below 100")
    unknown = [s for s in p["scopes"] if s not in SCOPES]
    if unknown or len(set(p["scopes"])) != len(p["scopes"]):
        raise FinanceError("scopes", f"distinct consent scopes among {', '.join(SCOPES)}")
    if p.get("min_grade") is not None and p["min_grade"] not in GRADE_ORDER:
        raise FinanceError("min_grade", f"one of {', '.join(reversed(GRADE_ORDER))}, or null for any grade")


def product_failures(product: dict, row: Optional[dict]) -> list[str]:
    """The eligibility conditions the enterprise's current row fails (empty: the product
    matches). The product's status is not judged here (see ``Book.product_status``). An
    enterprise the platform holds no row about yet fails every condition a product sets and
    matches a product that sets none (the contract's rule, read literally)."""
    row = row or {}
    failures = []
    minimum = product.get("min_grade")
    grade = row.get("eval_grade")
    if minimum is not None and (grade not in GRADE_ORDER or GRADE_ORDER.index(grade) < GRADE_ORDER.index(minimum)):
        failures.append(f"min_grade: grade {grade or 'none'} is below the product's minimum {minimum}")
    if product.get("whitelist_only") and not row.get("whitelisted"):
        failures.append("whitelist_only: the enterprise is not on the whitelist")
    collateral = product.get("collateral", "NONE")
    if collateral != "NONE" and not any((row.get(name) or 0) > 0 for name in COLLATERAL_FIELDS[collateral]):
        failures.append(f"collateral: no active {collateral} right is registered for the enterprise")
    return failures


def rate_within(product: dict, rate: Decimal, field: str) -> None:
    if not money(product["rate_min"]) <= rate <= money(product["rate_max"]):
        raise FinanceError(field, f"{rate} % is outside the product's {product['rate_min']}-{product['rate_max']} %")


def check_request(product: dict, amount: Decimal, term: int) -> None:
    """An application's amount and term lie within the product's ranges."""
    if not money(product["amount_min"]) <= amount <= money(product["amount_max"]):
        raise FinanceError("amount", f"{amount} is outside the product's {product['amount_min']}-"
                                     f"{product['amount_max']} CNY")
    if not product["term_min_months"] <= term <= product["term_max_months"]:
        raise FinanceError("term_months", f"{term} months is outside the product's {product['term_min_months']}-"
                                          f"{product['term_max_months']}")


def check_purpose(purpose: Any) -> str:
    if not isinstance(purpose, str) or not purpose.strip():
        raise FinanceError("purpose", "what the loan is for is required")
    if len(purpose) > PURPOSE_LIMIT:
        raise FinanceError("purpose", f"{len(purpose)} characters; at most {PURPOSE_LIMIT}")
    return purpose.strip()


# -- deadlines ---------------------------------------------------------------------------------------
def application_due(app: dict, holidays: Iterable[dt.date] = ()) -> Optional[dt.date]:
    """The last day the application's next step is due on: ACCEPTED or REJECTED by SUBMITTED + 2
    working days; APPROVED or REJECTED by ACCEPTED + 10. None when no deadline runs."""
    if app["state"] == "SUBMITTED":
        return add_working_days(shanghai_date(app["submitted_at"]), ACCEPT_DUE_WORKING_DAYS, holidays)
    if app["state"] == "ACCEPTED":
        return add_working_days(shanghai_date(app["accepted_at"]), DECIDE_DUE_WORKING_DAYS, holidays)
    return None


def overdue(app: dict, today: dt.date, holidays: Iterable[dt.date] = ()) -> bool:
    due = application_due(app, holidays)
    return due is not None and today > due


def consent_expires(app: dict) -> Optional[dt.datetime]:
    """The consent applying gave ends 30 days after the final state (None while none reached)."""
    if app["state"] not in FINAL_STATES:
        return None
    at = app["closed_at"] if app["state"] in ("DISBURSED", "WITHDRAWN") else app["decided_at"]
    return dt.datetime.fromisoformat(at.replace("Z", "+00:00")) + dt.timedelta(days=CONSENT_AFTER_FINAL_DAYS)


# -- performance, subsidy, compensation -------------------------------------------------------------
def report_order(report: dict) -> tuple[str, str]:
    """The latest report per (loan, month) wins: by occurred_at, ties by the greater event id."""
    return report["occurred_at"], report["event_id"]


def subsidy_eligible(loan: dict, status: Optional[str], rate_cap: Decimal) -> bool:
    """Interest subsidy for a month: whitelisted on the disbursement date, status NORMAL or
    REPAID that month, annual rate at most the cap."""
    return bool(loan.get("whitelisted_at_disbursement")) and status in SUBSIDY_STATUSES \
        and money(loan["disbursed_rate"]) <= rate_cap


def subsidy_amount(outstanding: Decimal, subsidy_points: Decimal) -> Decimal:
    """One month's subsidy: the outstanding principal × the subsidy rate (percentage points a
    year) / 12, to the cent (half up)."""
    return cents(outstanding * subsidy_points / Decimal(100) / Decimal(12))


def claim_refusal(loan: dict, latest: Optional[dict]) -> Optional[str]:
    """Why the loan may not be claimed for (None: claimable): a CREDIT loan, whitelisted on the
    disbursement date, whose latest monthly status is OVERDUE_90_PLUS or WRITTEN_OFF."""
    if loan.get("product_kind") != "CREDIT":
        return f"only credit loans (信用贷) are compensated; this one is {loan.get('product_kind')}"
    if not loan.get("whitelisted_at_disbursement"):
        return "the enterprise was not on the whitelist on the disbursement date"
    if latest is None or latest["status"] not in CLAIMABLE_STATUSES:
        return (f"the loan's latest status is {latest['status'] + ' (' + latest['month'] + ')' if latest else 'unreported'}"
                f"; claimable at {' or '.join(CLAIMABLE_STATUSES)}")
    return None


# -- the fold -----------------------------------------------------------------------------------------
class Book:
    """Everything of one key of the finance topics: a lender's products (key: lender id), or an
    enterprise's needs, applications, loans, reports and claims (key: USCC). ``apply`` folds one
    change (JSON form) and returns it as accepted (the worker adds what the platform decides:
    first loan), or raises FinanceError. A change folded twice (same event id) is accepted again
    unchanged: the worker may read it twice after a crash."""

    def __init__(self, doc: Optional[dict] = None):
        doc = doc or {}
        self.products: dict[str, dict] = doc.get("products", {})
        self.needs: dict[str, dict] = doc.get("needs", {})
        self.applications: dict[str, dict] = doc.get("applications", {})
        self.reports: dict[str, dict] = doc.get("reports", {})  # "loan_no/month" -> the report in force
        self.claims: dict[str, dict] = doc.get("claims", {})
        self.events: dict[str, str] = doc.get("events", {})  # event id -> the id of what it changed

    def to_bytes(self) -> bytes:
        return json.dumps({"products": self.products, "needs": self.needs, "applications": self.applications,
                           "reports": self.reports, "claims": self.claims, "events": self.events},
                          ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: Optional[bytes]) -> "Book":
        return cls(json.loads(data)) if data else cls()

    # -- reading ----------------------------------------------------------------------------------
    def loans(self) -> list[dict]:
        """The DISBURSED applications, in the order they were folded."""
        return [a for a in self.applications.values() if a["state"] == "DISBURSED"]

    def loan(self, loan_no: str) -> Optional[dict]:
        return next((a for a in self.loans() if a["loan_no"] == loan_no), None)

    def latest_report(self, loan_no: str) -> Optional[dict]:
        found = [r for r in self.reports.values() if r["loan_no"] == loan_no]
        return max(found, key=lambda r: r["month"]) if found else None

    def report(self, loan_no: str, month: str) -> Optional[dict]:
        return self.reports.get(f"{loan_no}/{month}")

    # -- folding -----------------------------------------------------------------------------------
    def apply(self, record: str, value: dict) -> dict:
        change = to_json(value)
        if change["event_id"] in self.events:  # folded already: as it was accepted then
            done = self.applications.get(self.events[change["event_id"]])
            return done if done is not None and done["event_id"] == change["event_id"] else change
        fold = {"LoanProduct": self._product, "FinancingNeed": self._need, "LoanApplication": self._application,
                "LoanPerformance": self._performance, "CompensationClaim": self._claim}[record]
        return fold(change)

    def _remember(self, change: dict, subject: str) -> None:
        self.events[change["event_id"]] = subject

    def _product(self, p: dict) -> dict:
        known = self.products.get(p["product_id"])
        status = PRODUCT_STATUS[p["action"]]
        if p["action"] == "PUBLISHED":
            if known is not None:
                raise FinanceError("product_id", f"product {p['product_id']} exists already", 409)
        elif known is None:
            raise FinanceError("product_id", f"no product {p['product_id']}", 404)
        else:
            now = known["status"]
            allowed = {"REVISED": ("ACTIVE", "SUSPENDED"), "WITHDRAWN": ("ACTIVE", "SUSPENDED"),
                       "SUSPENDED": ("ACTIVE",), "REINSTATED": ("SUSPENDED",)}[p["action"]]
            if now not in allowed:
                raise FinanceError("product_id", f"product {p['product_id']} is {now}: it cannot be {p['action']}", 409)
            status = status or now
        check_product(p)
        self.products[p["product_id"]] = {**p, "status": status}
        self._remember(p, p["product_id"])
        return p

    def _need(self, n: dict) -> dict:
        known = self.needs.get(n["need_id"])
        if n["action"] == "PUBLISHED":
            if known is not None:
                raise FinanceError("need_id", f"need {n['need_id']} exists already", 409)
            self.needs[n["need_id"]] = {**n, "state": "OPEN", "offers": [], "published_at": n["occurred_at"]}
        else:
            if known is None:
                raise FinanceError("need_id", f"no need {n['need_id']}", 404)
            if known["state"] != "OPEN":
                raise FinanceError("need_id", f"need {n['need_id']} is {known['state']}, no longer open", 409)
            offer = {"lender_id": n["lender_id"], "product_id": n["product_id"], "at": n["occurred_at"]}
            if n["action"] == "TAKEN_UP":
                if any(o["lender_id"] == n["lender_id"] for o in known["offers"]):
                    raise FinanceError("need_id", f"lender {n['lender_id']} took need {n['need_id']} up already", 409)
                known["offers"].append(offer)
            elif n["action"] == "ACCEPTED":
                if not any(o["lender_id"] == n["lender_id"] and o["product_id"] == n["product_id"]
                           for o in known["offers"]):
                    raise FinanceError("lender_id", f"lender {n['lender_id']} has not taken need {n['need_id']} up "
                                                    f"with product {n['product_id']}", 409)
                known.update(state="MATCHED", application_id=n["application_id"], lender_id=n["lender_id"],
                             product_id=n["product_id"])
            else:  # WITHDRAWN
                known["state"] = "WITHDRAWN"
            known["updated_at"] = n["occurred_at"]
        self._remember(n, n["need_id"])
        return n

    def _application(self, a: dict) -> dict:
        known = self.applications.get(a["application_id"])
        if a["state"] == "SUBMITTED":
            if known is not None:
                raise FinanceError("application_id", f"application {a['application_id']} exists already", 409)
            renews = a.get("renews_loan_no")
            if renews is not None and self.loan(renews) is None:
                raise FinanceError("renews_loan_no", f"no disbursed loan {renews} of {a['uscc']} to renew", 422)
        else:
            if known is None:
                raise FinanceError("application_id", f"no application {a['application_id']}", 404)
            if a["state"] not in TRANSITIONS[known["state"]]:
                raise FinanceError("state", f"application {a['application_id']} is {known['state']}: it cannot "
                                            f"become {a['state']}", 409, known["state"])
            for fixed in ("uscc", "product_id", "lender_id", "submitted_at"):
                if a[fixed] != known[fixed]:
                    raise FinanceError(fixed, f"differs from the application's {known[fixed]}")
        if a["state"] == "DISBURSED":
            if self.loan(a["loan_no"]) is not None:
                raise FinanceError("loan_no", f"loan {a['loan_no']} of {a['uscc']} exists already", 409)
            # 首贷: the platform holds no earlier DISBURSED loan of the enterprise, from any lender
            a = {**a, "first_loan": not self.loans()}
        self.applications[a["application_id"]] = a
        self._remember(a, a["application_id"])
        return a

    def _performance(self, r: dict) -> dict:
        loan = self.loan(r["loan_no"])
        if loan is None:
            raise FinanceError("loan_no", f"no disbursed loan {r['loan_no']} of {r['uscc']}", 404)
        if loan["lender_id"] != r["lender_id"]:
            raise FinanceError("loan_no", f"loan {r['loan_no']} was not disbursed by {r['lender_id']}", 403)
        if r["month"] < loan["disbursed_on"][:7]:
            raise FinanceError("month", f"{r['month']} is before the loan was disbursed ({loan['disbursed_on']})")
        key = f"{r['loan_no']}/{r['month']}"
        known = self.reports.get(key)
        if known is None or report_order(r) > report_order(known):
            self.reports[key] = r
        self._remember(r, key)
        return r

    def _claim(self, c: dict) -> dict:
        known = self.claims.get(c["claim_id"])
        if c["state"] == "FILED":
            if known is not None:
                raise FinanceError("claim_id", f"claim {c['claim_id']} exists already", 409)
            loan = self.loan(c["loan_no"])
            if loan is None:
                raise FinanceError("loan_no", f"no disbursed loan {c['loan_no']} of {c['uscc']}", 404)
            why = claim_refusal(loan, self.latest_report(c["loan_no"]))
            if why:
                raise FinanceError("loan_no", why, 422)
            pending = [k for k in self.claims.values() if k["loan_no"] == c["loan_no"] and k["state"] != "REJECTED"]
            if pending:
                raise FinanceError("loan_no", f"claim {pending[0]['claim_id']} for loan {c['loan_no']} is "
                                              f"{pending[0]['state']}", 409)
        else:
            if known is None:
                raise FinanceError("claim_id", f"no claim {c['claim_id']}", 404)
            if known["state"] != "FILED":
                raise FinanceError("claim_id", f"claim {c['claim_id']} is {known['state']} already", 409)
        self.claims[c["claim_id"]] = c
        self._remember(c, c["claim_id"])
        return c


def owner_of(record: str, value: dict) -> str:
    """The key a finance record travels under: the lender id of a product, else the USCC."""
    return value["lender_id"] if record == "LoanProduct" else value["uscc"]


class Books:
    """Every key's book, with indexes from ids to their key: the API's view of the loan loop
    (the accepted topic folded in its order; the API's own changes folded at once too)."""

    def __init__(self):
        self.books: dict[str, Book] = {}
        self.owner: dict[str, str] = {}  # product, need, application or claim id -> its key

    def apply(self, record: str, value: dict) -> dict:
        key = owner_of(record, value)
        book = self.books.get(key)
        if book is None:
            book = self.books[key] = Book()
        accepted = book.apply(record, value)
        subject = {"LoanProduct": "product_id", "FinancingNeed": "need_id", "LoanApplication": "application_id",
                   "CompensationClaim": "claim_id"}.get(record)
        if subject:
            self.owner[accepted[subject]] = key
        return accepted

    def book(self, key: str) -> Book:
        return self.books.get(key) or Book()

    def find(self, kind: str, subject_id: str) -> Optional[dict]:
        """A product, need, application or claim (``kind``: products, needs, applications, claims) by id."""
        key = self.owner.get(subject_id)
        return getattr(self.books[key], kind).get(subject_id) if key is not None else None

    def all(self, kind: str) -> list[dict]:
        return [item for book in self.books.values() for item in getattr(book, kind).values()]

    def loans(self) -> list[dict]:
        return [loan for book in self.books.values() for loan in book.loans()]

    def reports(self) -> list[dict]:
        return self.all("reports")
