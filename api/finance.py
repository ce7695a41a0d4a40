"""The loan loop (financing-services.md; docs/financing.md): products, financing needs,
applications and their decisions, loans and their monthly performance, interest subsidies, risk
compensation claims, the centre's queues and the city's statistics.

Each write is checked with the rules of schemas.finance on a copy of the key's book (so a refusal
changes nothing), published to its credit.finance.*.v1 topic, answered once Kafka acknowledged it,
and folded into the API's view at once; the worker folds the same change and forwards it to the
accepted topic, from which every API process and the sink read. Handlers are plain
``async def (principal, request, audit)`` functions like every other room's.
"""
from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Optional

from aiohttp import web

from creditstream.api.access import Principal
from creditstream.api.http.errors import ApiError
from creditstream.api.http.params import json_body, path_choice, query_choice, stable_id
from creditstream.api.view import ServingView
from creditstream.api.writer import KafkaWriter
from creditstream.monitoring import metrics
from creditstream.schemas.codec import default_codec
from creditstream.schemas.finance import (
    APPLICATION_STATES,
    CLAIM_DUE_WORKING_DAYS,
    CLAIM_STATES,
    COLLATERALS,
    LOAN_STATUSES,
    PRODUCT_KINDS,
    REJECT_REASONS,
    RENEWAL_WINDOW_DAYS,
    REPAYMENTS,
    Book,
    FinanceError,
    FinanceSettings,
    application_due,
    cents,
    check_purpose,
    check_request,
    claim_refusal,
    consent_expires,
    overdue,
    product_failures,
    rate_within,
    subsidy_amount,
    subsidy_eligible,
)
from creditstream.schemas.finance_stats import collect, statistics, statistics_messages
from creditstream.schemas.models import SCOPES
from creditstream.schemas.months import SHANGHAI
from creditstream.schemas.records import record_from_json, to_json
from creditstream.schemas.services import add_months, add_working_days
from creditstream.schemas.topics import FINANCE_TOPIC_OF, OUTBOUND_STATISTICS_TOPIC

UTC = dt.timezone.utc
CONSENT_PLACEHOLDER_DAYS = 365  # an application's consent runs this long until its final state sets the end
# the lender's steps: POST /v1/applications/{id}/{step}; the state's own name is read as its step too
STEP_STATES = {"accept": "ACCEPTED", "approve": "APPROVED", "reject": "REJECTED", "disburse": "DISBURSED"}
STEPS = (*STEP_STATES, *(state.lower() for state in STEP_STATES.values()))
# other names clients use for a field, read as the contract's (financing-services.md words them
# "term", "annual rate", "loan number", "disbursed date", "maturity date")
ALIASES = {"term": "term_months", "rate": "annual_rate", "loan_number": "loan_no", "disbursed_date": "disbursed_on",
           "disbursement_date": "disbursed_on", "maturity_date": "maturity_on", "reject_reason": "reason",
           "outstanding": "outstanding_principal", "approved_amount": "amount", "disbursed_amount": "amount",
           "approved_term_months": "term_months", "approved_rate": "annual_rate", "disbursed_rate": "annual_rate",
           "decision": "outcome", "loan_status": "status"}
STATISTICS_WAIT_SECONDS = 15.0  # statistics wait this long for ClickHouse to hold every change the API answered


# -- reading a body ---------------------------------------------------------------------------------
def decimal_of(body: dict, name: str, places: int = 2, positive: bool = True) -> Decimal:
    raw = body.get(name)
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise FinanceError(name, "a decimal number (a string such as \"100000.00\" keeps it exact)")
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise FinanceError(name, f"{raw!r} is not a decimal number") from None
    if not value.is_finite() or value != value.quantize(Decimal(1).scaleb(-places)):
        raise FinanceError(name, f"{raw!r}: at most {places} decimal places")
    if positive and value <= 0:
        raise FinanceError(name, "must be above zero")
    if value >= Decimal(10) ** 15:
        raise FinanceError(name, "too large")
    return value.quantize(Decimal(1).scaleb(-places))


def int_of(body: dict, name: str, least: int = 1, most: int = 600) -> int:
    raw = body.get(name)
    if isinstance(raw, str) and raw.strip().isdigit():  # "12" as a form or a loose client sends it
        raw = int(raw.strip())
    if isinstance(raw, bool) or not isinstance(raw, int) or not least <= raw <= most:
        raise FinanceError(name, f"a whole number from {least} to {most}")
    return raw


def choice_of(body: dict, name: str, choices) -> str:
    raw = body.get(name)
    if raw not in choices:
        raise FinanceError(name, f"one of {', '.join(choices)}")
    return raw


def date_of(body: dict, name: str) -> dt.date:
    raw = body.get(name)
    try:
        return dt.date.fromisoformat(raw.strip())
    except (AttributeError, ValueError):
        raise FinanceError(name, "a date YYYY-MM-DD") from None


def text_of(body: dict, name: str, limit: int = 500, required: bool = True) -> str:
    raw = body.get(name, "" if not required else None)
    if not isinstance(raw, str) or (required and not raw.strip()):
        raise FinanceError(name, "text is required")
    if len(raw) > limit:
        raise FinanceError(name, f"{len(raw)} characters; at most {limit}")
    return raw.strip()


async def body_of(request: web.Request) -> dict:
    """The JSON body with other common names of a field read as the contract's (ALIASES); the
    contract's own name wins when both are sent."""
    body = await json_body(request)
    return {**{ALIASES[k]: v for k, v in body.items() if k in ALIASES}, **{k: v for k, v in body.items()
                                                                          if k not in ALIASES}}


def with_defaults(body: dict, **defaults) -> dict:
    """The body with each field it leaves out (or sends as null) taken from ``defaults``."""
    return {**body, **{name: value for name, value in defaults.items() if body.get(name) is None}}


def check_month(raw: Any, name: str) -> str:
    if not isinstance(raw, str) or len(raw) != 7 or raw[4] != "-" or not raw[:4].isdigit() \
            or not raw[5:].isdigit() or not 1 <= int(raw[5:]) <= 12:
        raise FinanceError(name, "a month YYYY-MM")
    return raw


def month_of(request: web.Request, name: str = "month", required: bool = True) -> Optional[str]:
    raw = request.query.get(name)
    return None if raw is None and not required else check_month(raw, name)


class Finance:
    def __init__(self, view: ServingView, store, writer: KafkaWriter, run: Callable, rights, settings: FinanceSettings,
                 holidays: tuple[dt.date, ...] = (), clock=None):
        self.view, self.books, self.store, self.writer, self.run = view, view.finance, store, writer, run
        self.rights, self.settings, self.holidays = rights, settings, holidays
        self.clock = clock or (lambda: dt.datetime.now(UTC))
        self.codec = default_codec()
        self.statistics_published: dict[bytes, bytes] = {}  # key → the public row last sent (this process)

    def today(self) -> dt.date:
        return self.clock().astimezone(SHANGHAI).date()

    async def publish(self, record: str, change: dict) -> dict:
        """Check the change on a copy of its key's book, publish it (acknowledged by Kafka), fold it
        into the view; the change as accepted (the fold adds what the platform decides)."""
        typed = record_from_json(self.codec.current(record).raw, change)
        key = typed["lender_id"] if record == "LoanProduct" else typed["uscc"]
        Book.from_bytes(self.books.book(key).to_bytes()).apply(record, typed)  # raises FinanceError, nothing sent
        await self.writer.send(FINANCE_TOPIC_OF[record], key.encode(), self.codec.encode(record, typed))
        return self.books.apply(record, typed)

    def stamp(self, principal: Principal) -> dict:
        now = self.clock()
        return {"event_id": f"fin-{uuid.uuid4().hex}", "occurred_at": to_json(now),
                "actor": f"{principal.kind}:{principal.id}"}

    # -- products ------------------------------------------------------------------------------------
    def product(self, request: web.Request) -> dict:
        found = self.books.find("products", request.match_info["product_id"])
        if found is None:
            raise ApiError(404, "not_found", f"no product {request.match_info['product_id']}", "product_id")
        return found

    def own_product(self, principal: Principal, request: web.Request) -> dict:
        product = self.product(request)
        if product["lender_id"] != principal.id:
            raise ApiError(403, "forbidden", f"product {product['product_id']} is {product['lender_id']}'s, not yours")
        return product

    @staticmethod
    def terms(body: dict) -> dict:
        """A product's terms from a request body (every field required but description)."""
        scopes = body.get("scopes")
        if not isinstance(scopes, list) or any(s not in SCOPES for s in scopes) or len(set(scopes)) != len(scopes):
            raise FinanceError("scopes", f"a list of distinct consent scopes among {', '.join(SCOPES)}")
        if not isinstance(body.get("whitelist_only", False), bool):
            raise FinanceError("whitelist_only", "true or false")
        grade = body.get("min_grade")
        terms = {
            "name": text_of(body, "name", 200), "kind": choice_of(body, "kind", PRODUCT_KINDS),
            "amount_min": str(decimal_of(body, "amount_min")), "amount_max": str(decimal_of(body, "amount_max")),
            "term_min_months": int_of(body, "term_min_months"), "term_max_months": int_of(body, "term_max_months"),
            "rate_min": str(decimal_of(body, "rate_min")), "rate_max": str(decimal_of(body, "rate_max")),
            "repayment": choice_of(body, "repayment", REPAYMENTS), "scopes": scopes,
            "min_grade": grade, "whitelist_only": body.get("whitelist_only", False),
            "collateral": choice_of(body, "collateral", COLLATERALS),
            "description": text_of(body, "description", 2000, required=False)}
        return terms

    async def products(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        """Every product (public); ?status=ACTIVE, ?lender_id=, ?kind= narrow it."""
        wanted = {"status": query_choice(request, "status", ("ACTIVE", "SUSPENDED", "WITHDRAWN")),
                  "kind": query_choice(request, "kind", PRODUCT_KINDS), "lender_id": request.query.get("lender_id")}
        items = [p for p in self.books.all("products") if all(v in (None, p[f]) for f, v in wanted.items())]
        return {"items": [product_json(p) for p in sorted(items, key=lambda p: (p["lender_id"], p["product_id"]))]}

    async def get_product(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        return product_json(self.product(request))

    async def publish_product(self, principal: Principal, request: web.Request, audit: dict):
        body = await body_of(request)
        product_id = stable_id("product", principal.id, request) or f"p-{uuid.uuid4().hex[:12]}"
        known = self.books.find("products", product_id)
        if known is not None:  # the same request again
            return 201, product_json(known)
        change = {**self.stamp(principal), "product_id": product_id, "lender_id": principal.id, "action": "PUBLISHED",
                  **self.terms(body), "suspended_reason": None}
        product = await self.publish("LoanProduct", change)
        audit.update(scope="FINANCE", reason=f"product {product_id} published")
        return 201, product_json(self.books.find("products", product_id) or product)

    async def revise_product(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        product = self.own_product(principal, request)
        body = await body_of(request)
        change = {**product, **self.stamp(principal), "action": "REVISED", **self.terms(body)}
        change.pop("status")
        await self.publish("LoanProduct", change)
        audit.update(scope="FINANCE", reason=f"product {product['product_id']} revised")
        return product_json(self.books.find("products", product["product_id"]))

    async def withdraw_product(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        product = self.own_product(principal, request)
        if product["status"] == "WITHDRAWN":
            return product_json(product)
        return await self.product_action(principal, product, "WITHDRAWN", product.get("suspended_reason"), audit)

    async def suspend_product(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        product = self.product(request)
        reason = text_of(await json_body(request), "reason")
        if product["status"] == "SUSPENDED":
            return product_json(product)
        return await self.product_action(principal, product, "SUSPENDED", reason, audit)

    async def reinstate_product(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        product = self.product(request)
        if product["status"] == "ACTIVE":
            return product_json(product)
        return await self.product_action(principal, product, "REINSTATED", None, audit)

    async def product_action(self, principal: Principal, product: dict, action: str, reason: Optional[str],
                             audit: dict) -> dict:
        change = {**product, **self.stamp(principal), "action": action, "suspended_reason": reason}
        change.pop("status")
        await self.publish("LoanProduct", change)
        audit.update(scope="FINANCE", reason=f"product {product['product_id']} {action}")
        return product_json(self.books.find("products", product["product_id"]))

    def row_of(self, uscc: str) -> Optional[dict]:
        found = self.view.row(uscc)
        return found.values() if found is not None else None

    async def my_products(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        """The active products that match the enterprise's current row, and the others with the
        conditions it fails (collateral judged from rights the lender never sees)."""
        uscc = self.rights.own(principal, audit)
        row = self.row_of(uscc)
        matching, failing = [], []
        for product in sorted(self.books.all("products"), key=lambda p: p["product_id"]):
            if product["status"] != "ACTIVE":
                continue
            failures = product_failures(product, row)
            (failing if failures else matching).append({**product_json(product), "failures": failures,
                                                        "consent_on_applying": consent_terms(product)})
        return {"uscc": uscc, "matching": matching, "not_matching": failing}

    # -- applications --------------------------------------------------------------------------------
    def application(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        """The application of the path, if the principal is a party to it (operators: any)."""
        found = self.books.find("applications", request.match_info["application_id"])
        if found is None or not party(principal, found):
            raise ApiError(404, "not_found", f"no application {request.match_info['application_id']} of yours",
                           "application_id")
        audit["uscc"] = found["uscc"]
        return found

    def app_json(self, app: dict) -> dict:
        due = application_due(app, self.holidays)
        expires = consent_expires(app)
        return {**app, "due_on": due.isoformat() if due else None, "overdue": overdue(app, self.today(), self.holidays),
                "consent_expires_at": to_json(expires) if expires else None}

    async def apply(self, principal: Principal, request: web.Request, audit: dict):
        uscc = self.rights.own(principal, audit)
        body = await body_of(request)
        application_id = stable_id("application", uscc, request) or f"a-{uuid.uuid4().hex[:16]}"
        known = self.books.find("applications", application_id)
        if known is not None:
            return 201, self.app_json(known)
        product_id = body.get("product_id")
        product = self.books.find("products", product_id) if isinstance(product_id, str) else None
        if product is None:
            raise FinanceError("product_id", f"no product {product_id!r}", 404)
        app = await self.submit(principal, uscc, product, body, application_id, None)
        audit.update(scope="FINANCE", reason=f"application {application_id} for product {product['product_id']}")
        return 201, self.app_json(app)

    async def submit(self, principal: Principal, uscc: str, product: dict, body: dict, application_id: str,
                     need_id: Optional[str]) -> dict:
        if product["status"] != "ACTIVE":
            raise FinanceError("product_id", f"product {product['product_id']} is {product['status']}"
                                             + (f": {product['suspended_reason']}" if product.get("suspended_reason")
                                                else ""), 409)
        failures = product_failures(product, self.row_of(uscc))
        if failures:
            raise FinanceError("product_id", "the enterprise does not meet the product's conditions: "
                                             + "; ".join(failures), 422)
        amount, term = decimal_of(body, "amount"), int_of(body, "term_months")
        check_request(product, amount, term)
        purpose = check_purpose(body.get("purpose"))
        renews = body.get("renews_loan_no")
        if renews is not None and (not isinstance(renews, str) or self.books.book(uscc).loan(renews) is None):
            raise FinanceError("renews_loan_no", f"no disbursed loan {renews!r} of {uscc} to renew", 422)
        consent_id = await self.grant_consent(uscc, product)
        now = self.clock()
        change = {**self.stamp(principal), "application_id": application_id, "uscc": uscc,
                  "product_id": product["product_id"], "lender_id": product["lender_id"],
                  "product_kind": product["kind"], "state": "SUBMITTED", "amount": str(amount), "term_months": term,
                  "purpose": purpose, "renews_loan_no": renews, "need_id": need_id, "consent_event_id": consent_id,
                  "submitted_at": to_json(now)}
        return await self.publish("LoanApplication", change)

    async def grant_consent(self, uscc: str, product: dict) -> Optional[str]:
        """Applying grants the product's lender the product's scopes (an ordinary ConsentGrant by the
        platform; merged with a consent in force for that lender). None when the consent in force
        covers them already for longer than an application can need."""
        scopes = list(product["scopes"])
        if not scopes:
            return None
        now = self.clock()
        current = self.view.consent(uscc, product["lender_id"])
        live = current is not None and not current.revoked and current.expires_at > now
        if live and set(scopes) <= set(current.scopes) \
                and current.expires_at > now + dt.timedelta(days=CONSENT_PLACEHOLDER_DAYS):
            return current.event_id
        merged = sorted(set(scopes) | (set(current.scopes) if live else set()))
        expires = now + dt.timedelta(days=CONSENT_PLACEHOLDER_DAYS)
        if live:
            expires = max(expires, current.expires_at)
        return await self.rights.publish_consent(uscc, product["lender_id"], merged, now, expires, False,
                                                 _NoKey())

    async def end_consent(self, app: dict) -> None:
        """A final state: the application's own consent ends 30 days later (unless the enterprise
        has granted or revoked since)."""
        current = self.view.consent(app["uscc"], app["lender_id"])
        ends = consent_expires(app)
        if current is None or current.revoked or ends is None or current.event_id != app.get("consent_event_id"):
            return
        await self.rights.publish_consent(app["uscc"], app["lender_id"], list(current.scopes), current.granted_at,
                                          ends, False, _NoKey())

    async def my_applications(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        uscc = self.rights.own(principal, audit)
        items = self.books.book(uscc).applications.values()
        return {"uscc": uscc, "items": [self.app_json(a) for a in sorted(items, key=lambda a: a["submitted_at"])]}

    async def applications(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        """A lender's applications (an operator's: all), oldest first; ?state=, ?overdue=true."""
        state = query_choice(request, "state", APPLICATION_STATES)
        late = query_choice(request, "overdue", ("true",)) == "true"
        items = [self.app_json(a) for a in self.books.all("applications")
                 if party(principal, a) and (not state or a["state"] == state)]
        items = [a for a in items if a["overdue"] or not late]
        return {"items": sorted(items, key=lambda a: a["submitted_at"])}

    async def get_application(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        return self.app_json(self.application(principal, request, audit))

    async def transition(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        """POST /v1/applications/{id}/{accept|approve|reject|disburse}: the lender's decisions."""
        app = self.application(principal, request, audit)
        action = path_choice(request, "action", STEPS, "step")
        target = STEP_STATES.get(action) or action.upper()
        body = await body_of(request) if request.can_read_body else {}
        if app["state"] == target:  # repeated: the state it reached
            return self.app_json(app)
        if target not in {"SUBMITTED": ("ACCEPTED", "REJECTED"), "ACCEPTED": ("APPROVED", "REJECTED"),
                          "APPROVED": ("DISBURSED",)}.get(app["state"], ()):
            raise FinanceError("state", f"application {app['application_id']} is {app['state']}: it cannot become "
                                        f"{target}", 409, app["state"])
        now = self.clock()
        change = {**app, **self.stamp(principal), "state": target}
        if target == "ACCEPTED":
            change["accepted_at"] = to_json(now)
        elif target == "APPROVED":
            body = with_defaults(body, amount=app["amount"], term_months=app["term_months"])  # as applied for
            rate = decimal_of(body, "annual_rate")
            rate_within({"rate_min": "0.01", "rate_max": "99.99"}, rate, "annual_rate")
            change.update(decided_at=to_json(now), approved_amount=str(decimal_of(body, "amount")),
                          approved_term_months=int_of(body, "term_months"), approved_rate=str(rate))
        elif target == "REJECTED":
            change.update(decided_at=to_json(now), reject_reason=choice_of(body, "reason", REJECT_REASONS),
                          note=text_of(body, "note", 2000, required=False))
        else:
            change.update(self.disbursement(app, body, now))
        accepted = await self.publish("LoanApplication", change)
        if target in ("REJECTED", "DISBURSED"):
            await self.end_consent(accepted)
        audit.update(scope="FINANCE", reason=f"application {app['application_id']}: {target}")
        return self.app_json(accepted)

    def disbursement(self, app: dict, body: dict, now: dt.datetime) -> dict:
        """The loan's terms; those left out are the approval's (amount, annual rate, term to
        maturity from the disbursement date), disbursed today, numbered as the application."""
        today = now.astimezone(SHANGHAI).date()
        body = with_defaults(body, loan_no=app["application_id"], amount=app["approved_amount"],
                             annual_rate=app["approved_rate"], disbursed_on=today.isoformat())
        if "maturity_on" not in body and isinstance(body["disbursed_on"], str):
            with contextlib.suppress(ValueError):
                body["maturity_on"] = add_months(dt.date.fromisoformat(body["disbursed_on"]),
                                                 int(app["approved_term_months"])).isoformat()
        loan_no = text_of(body, "loan_no", 64)
        if any(loan["loan_no"] == loan_no and loan["lender_id"] == app["lender_id"] for loan in self.books.loans()):
            raise FinanceError("loan_no", f"your loan {loan_no} exists already", 409)
        amount, rate = decimal_of(body, "amount"), decimal_of(body, "annual_rate")
        if amount > Decimal(app["approved_amount"]):
            raise FinanceError("amount", f"{amount} is above the approved {app['approved_amount']}")
        disbursed_on, maturity_on = date_of(body, "disbursed_on"), date_of(body, "maturity_on")
        submitted = dt.datetime.fromisoformat(app["submitted_at"].replace("Z", "+00:00")).astimezone(SHANGHAI).date()
        if not submitted <= disbursed_on <= now.astimezone(SHANGHAI).date():
            raise FinanceError("disbursed_on", f"between the application's submission ({submitted}) and today")
        if maturity_on <= disbursed_on:
            raise FinanceError("maturity_on", "after the disbursement date")
        return {"closed_at": to_json(now), "loan_no": loan_no, "disbursed_amount": str(amount),
                "disbursed_rate": str(rate), "disbursed_on": disbursed_on.isoformat(),
                "maturity_on": maturity_on.isoformat(),
                "whitelisted_at_disbursement": self.whitelisted_on(app["uscc"], disbursed_on, now)}

    def whitelisted_on(self, uscc: str, day: dt.date, now: dt.datetime) -> bool:
        """On the whitelist on that date: its state at the end of the day (Asia/Shanghai), or now
        when the day has not ended, read from the whitelist's change history."""
        end = min(dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), SHANGHAI), now)
        state = False
        for _offset, change in self.view.whitelist_changes:
            if change.uscc == uscc and change.at < end:
                state = change.whitelisted
        return state

    async def withdraw_application(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        app = self.application(principal, request, audit)
        if app["state"] == "WITHDRAWN":
            return self.app_json(app)
        body = await body_of(request) if request.can_read_body else {}
        change = {**app, **self.stamp(principal), "state": "WITHDRAWN", "closed_at": to_json(self.clock()),
                  "note": text_of(body, "note", 2000, required=False) or None}
        accepted = await self.publish("LoanApplication", change)
        await self.end_consent(accepted)
        audit.update(scope="FINANCE", reason=f"application {app['application_id']} withdrawn")
        return self.app_json(accepted)

    # -- financing needs -------------------------------------------------------------------------------
    async def publish_need(self, principal: Principal, request: web.Request, audit: dict):
        uscc = self.rights.own(principal, audit)
        body = await body_of(request)
        need_id = stable_id("need", uscc, request) or f"n-{uuid.uuid4().hex[:16]}"
        known = self.books.find("needs", need_id)
        if known is not None:
            return 201, known
        kinds = body.get("kinds")
        if not isinstance(kinds, list) or not kinds or any(k not in PRODUCT_KINDS for k in kinds):
            raise FinanceError("kinds", f"a non-empty list among {', '.join(PRODUCT_KINDS)}")
        name = body.get("enterprise_name") or self.known_name(uscc)
        change = {**self.stamp(principal), "need_id": need_id, "uscc": uscc, "enterprise_name": str(name)[:200],
                  "action": "PUBLISHED", "amount": str(decimal_of(body, "amount")), "term_months": int_of(body, "term_months"),
                  "purpose": check_purpose(body.get("purpose")), "kinds": sorted(set(kinds))}
        await self.publish("FinancingNeed", change)
        audit.update(scope="FINANCE", reason=f"need {need_id} published")
        return 201, self.books.find("needs", need_id)

    def known_name(self, uscc: str) -> str:
        names = [c.enterprise_name for _o, c in self.view.whitelist_changes if c.uscc == uscc and c.enterprise_name]
        return names[-1] if names else uscc

    async def my_needs(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        uscc = self.rights.own(principal, audit)
        return {"uscc": uscc, "items": list(self.books.book(uscc).needs.values())}

    def matching_products(self, lender: str, need: dict) -> list[dict]:
        row = self.row_of(need["uscc"])
        return [p for p in self.books.book(lender).products.values()
                if p["status"] == "ACTIVE" and p["kind"] in need["kinds"] and not product_failures(p, row)]

    async def needs(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        """A lender sees the open needs its active products match: who (USCC, name, grade,
        whitelisted) and what (amount, term, purpose); nothing consented."""
        items = []
        for need in self.books.all("needs"):
            if need["state"] != "OPEN":
                continue
            products = self.matching_products(principal.id, need)
            if not products:
                continue
            row = self.row_of(need["uscc"]) or {}
            items.append({"need_id": need["need_id"], "uscc": need["uscc"], "enterprise_name": need["enterprise_name"],
                          "eval_grade": row.get("eval_grade"), "whitelisted": row.get("whitelisted"),
                          "amount": need["amount"], "term_months": need["term_months"], "purpose": need["purpose"],
                          "kinds": need["kinds"], "published_at": need["published_at"],
                          "matching_products": [p["product_id"] for p in products],
                          "taken_up": any(o["lender_id"] == principal.id for o in need["offers"])})
        return {"items": sorted(items, key=lambda n: n["published_at"])}

    def need(self, request: web.Request) -> dict:
        found = self.books.find("needs", request.match_info["need_id"])
        if found is None:
            raise ApiError(404, "not_found", f"no need {request.match_info['need_id']}", "need_id")
        return found

    async def take_up(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        need = self.need(request)
        audit["uscc"] = need["uscc"]
        body = await body_of(request)
        product_id = body.get("product_id")
        if not any(p["product_id"] == product_id for p in self.matching_products(principal.id, need)):
            raise FinanceError("product_id", f"{product_id!r} is not one of your active products matching need "
                                             f"{need['need_id']}", 422)
        if any(o["lender_id"] == principal.id and o["product_id"] == product_id for o in need["offers"]):
            return need
        change = {**need_change(need), **self.stamp(principal), "action": "TAKEN_UP", "lender_id": principal.id,
                  "product_id": product_id}
        await self.publish("FinancingNeed", change)
        audit.update(scope="FINANCE", reason=f"need {need['need_id']} taken up with {product_id}")
        return self.books.find("needs", need["need_id"])

    async def accept_offer(self, principal: Principal, request: web.Request, audit: dict):
        """The enterprise accepts a lender's take-up: an application to that lender's product."""
        uscc = self.rights.own(principal, audit)
        need = self.need(request)
        if need["uscc"] != uscc:
            raise ApiError(404, "not_found", f"no need {need['need_id']} of yours", "need_id")
        body = await body_of(request)
        offer = next((o for o in need["offers"] if o["lender_id"] == body.get("lender_id")), None)
        if need["state"] == "MATCHED" and need.get("lender_id") == body.get("lender_id"):
            return 201, self.app_json(self.books.find("applications", need["application_id"]))
        if offer is None:
            raise FinanceError("lender_id", f"{body.get('lender_id')!r} has not taken need {need['need_id']} up", 422)
        if need["state"] != "OPEN":
            raise FinanceError("need_id", f"need {need['need_id']} is {need['state']}, no longer open", 409)
        product = self.books.find("products", offer["product_id"])
        application_id = stable_id("application", uscc, request) or f"a-{uuid.uuid4().hex[:16]}"
        terms = {"amount": need["amount"], "term_months": need["term_months"], "purpose": need["purpose"]}
        app = await self.submit(principal, uscc, product, terms, application_id, need["need_id"])
        await self.publish("FinancingNeed", {**need_change(need), **self.stamp(principal), "action": "ACCEPTED",
                                             "lender_id": offer["lender_id"], "product_id": offer["product_id"],
                                             "application_id": application_id})
        audit.update(scope="FINANCE", reason=f"need {need['need_id']} became application {application_id}")
        return 201, self.app_json(app)

    async def withdraw_need(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        uscc = self.rights.own(principal, audit)
        need = self.need(request)
        if need["uscc"] != uscc:
            raise ApiError(404, "not_found", f"no need {need['need_id']} of yours", "need_id")
        if need["state"] == "WITHDRAWN":
            return need
        await self.publish("FinancingNeed", {**need_change(need), **self.stamp(principal), "action": "WITHDRAWN"})
        return self.books.find("needs", need["need_id"])

    # -- loans, performance, claims -----------------------------------------------------------------------
    def loan_json(self, loan: dict) -> dict:
        book = self.books.book(loan["uscc"])
        reports = sorted((r for r in book.reports.values() if r["loan_no"] == loan["loan_no"]),
                         key=lambda r: r["month"])
        renewals = [a["application_id"] for a in book.applications.values() if a.get("renews_loan_no") == loan["loan_no"]]
        return {"loan_no": loan["loan_no"], "application_id": loan["application_id"], "uscc": loan["uscc"],
                "lender_id": loan["lender_id"], "product_id": loan["product_id"], "product_kind": loan["product_kind"],
                "amount": loan["disbursed_amount"], "annual_rate": loan["disbursed_rate"],
                "disbursed_on": loan["disbursed_on"], "maturity_on": loan["maturity_on"],
                "first_loan": loan.get("first_loan"), "renews_loan_no": loan.get("renews_loan_no"),
                "whitelisted_at_disbursement": loan.get("whitelisted_at_disbursement"),
                "status": reports[-1]["status"] if reports else None, "reports": reports,
                "renewal_applications": renewals}

    async def my_loans(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        uscc = self.rights.own(principal, audit)
        return {"uscc": uscc, "items": [self.loan_json(loan) for loan in self.books.book(uscc).loans()]}

    async def loans(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        """A lender's own loans (never another lender's); an operator's: all."""
        return {"items": [self.loan_json(loan) for loan in self.books.loans() if party(principal, loan)]}

    def own_loan(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        loan_no = request.match_info["loan_no"]
        found = next((loan for loan in self.books.loans()
                      if loan["loan_no"] == loan_no and loan["lender_id"] == principal.id), None)
        if found is None:
            raise ApiError(404, "not_found", f"no loan {loan_no} of yours", "loan_no")
        audit["uscc"] = found["uscc"]
        return found

    async def report(self, principal: Principal, request: web.Request, audit: dict):
        """A lender's monthly status of one of its loans; the latest report per month wins."""
        loan = self.own_loan(principal, request, audit)
        body = await body_of(request)
        month = check_month(body.get("month", self.today().isoformat()[:7]), "month")  # this month when left out
        if "outstanding_principal" not in body:
            body["outstanding_principal"] = self.outstanding(loan, body.get("status"))
        change = {**self.stamp(principal), "loan_no": loan["loan_no"], "application_id": loan["application_id"],
                  "uscc": loan["uscc"], "lender_id": loan["lender_id"], "month": month,
                  "status": choice_of(body, "status", LOAN_STATUSES),
                  "outstanding_principal": str(decimal_of(body, "outstanding_principal", positive=False))}
        if Decimal(change["outstanding_principal"]) < 0:
            raise FinanceError("outstanding_principal", "must not be below zero")
        if month > self.today().isoformat()[:7]:
            raise FinanceError("month", f"{month} has not begun")
        await self.publish("LoanPerformance", change)
        audit.update(scope="FINANCE", reason=f"loan {loan['loan_no']} {month}: {change['status']}")
        return 201, change

    def outstanding(self, loan: dict, status: Any) -> str:
        """A report's outstanding principal when the lender leaves it out: nothing once REPAID,
        else the last one reported for the loan, else the amount disbursed."""
        if status == "REPAID":
            return "0.00"
        latest = self.books.book(loan["uscc"]).latest_report(loan["loan_no"])
        return latest["outstanding_principal"] if latest else loan["disbursed_amount"]

    async def file_claim(self, principal: Principal, request: web.Request, audit: dict):
        loan = self.own_loan(principal, request, audit)
        body = await body_of(request)
        claim_id = stable_id("claim", loan["uscc"], request) or f"c-{uuid.uuid4().hex[:16]}"
        known = self.books.find("claims", claim_id)
        if known is not None:
            return 201, self.claim_json(known)
        latest = self.books.book(loan["uscc"]).latest_report(loan["loan_no"])
        why = claim_refusal(loan, latest)
        if why:
            raise FinanceError("loan_no", why, 422)
        now = self.clock()
        change = {**self.stamp(principal), "claim_id": claim_id, "loan_no": loan["loan_no"],
                  "application_id": loan["application_id"], "uscc": loan["uscc"], "lender_id": loan["lender_id"],
                  "state": "FILED", "filed_at": to_json(now),
                  "due_on": add_working_days(now.astimezone(SHANGHAI).date(), CLAIM_DUE_WORKING_DAYS,
                                             self.holidays).isoformat(),
                  "outstanding_principal": latest["outstanding_principal"],
                  "share": str(self.settings.compensation_share.quantize(Decimal("0.0001"))),
                  "note": text_of(body, "note", 2000, required=False)}
        claim = await self.publish("CompensationClaim", change)
        audit.update(scope="FINANCE", reason=f"claim {claim_id} filed for loan {loan['loan_no']}")
        return 201, self.claim_json(claim)

    def claim_json(self, claim: dict) -> dict:
        due = dt.date.fromisoformat(claim["due_on"])
        return {**claim, "overdue": claim["state"] == "FILED" and self.today() > due,
                "expected_compensation": str(cents(Decimal(claim["outstanding_principal"]) * Decimal(claim["share"])))}

    async def claims(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        state = query_choice(request, "state", CLAIM_STATES)
        items = [self.claim_json(c) for c in self.books.all("claims")
                 if party(principal, c) and (not state or c["state"] == state)]
        return {"items": sorted(items, key=lambda c: c["filed_at"])}

    async def decide_claim(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        claim = self.books.find("claims", request.match_info["claim_id"])
        if claim is None:
            raise ApiError(404, "not_found", f"no claim {request.match_info['claim_id']}", "claim_id")
        audit["uscc"] = claim["uscc"]
        body = await body_of(request)
        if isinstance(body.get("outcome"), str):  # the verb reads as the state it leads to
            body["outcome"] = {"APPROVE": "APPROVED", "REJECT": "REJECTED"}.get(body["outcome"].upper(),
                                                                                body["outcome"].upper())
        outcome = choice_of(body, "outcome", ("APPROVED", "REJECTED"))
        note = text_of(body, "note", 2000, required=False)
        if claim["state"] == outcome:
            return self.claim_json(claim)
        if claim["state"] != "FILED":
            raise FinanceError("claim_id", f"claim {claim['claim_id']} is {claim['state']} already", 409)
        amount = cents(Decimal(claim["outstanding_principal"]) * Decimal(claim["share"]))
        change = {**claim, **self.stamp(principal), "state": outcome, "note": note,
                  "decided_at": to_json(self.clock()),
                  "compensation_amount": str(amount) if outcome == "APPROVED" else None}
        decided = await self.publish("CompensationClaim", change)
        audit.update(scope="FINANCE", reason=f"claim {claim['claim_id']}: {outcome}")
        return self.claim_json(decided)

    # -- the centre: queues, subsidy list, statistics ---------------------------------------------------
    def overdue_counts(self) -> tuple[dict[str, int], int]:
        """(overdue applications per lender, overdue claims)."""
        today, per_lender = self.today(), {}
        for app in self.books.all("applications"):
            per_lender.setdefault(app["lender_id"], 0)
            if overdue(app, today, self.holidays):
                per_lender[app["lender_id"]] += 1
        claims = sum(1 for c in self.books.all("claims")
                     if c["state"] == "FILED" and today > dt.date.fromisoformat(c["due_on"]))
        return per_lender, claims

    async def overdue_queue(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        today = self.today()
        apps = [self.app_json(a) for a in self.books.all("applications") if overdue(a, today, self.holidays)]
        claims = [self.claim_json(c) for c in self.books.all("claims")]
        per_lender, _ = self.overdue_counts()
        return {"today": today.isoformat(), "applications": sorted(apps, key=lambda a: a["due_on"]),
                "claims": sorted((c for c in claims if c["overdue"]), key=lambda c: c["due_on"]),
                "per_lender": {lender: n for lender, n in sorted(per_lender.items())}}

    async def maturing(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        """Loans maturing in the next 60 days with no renewal application (withdrawn or rejected
        ones do not count) and not repaid or written off."""
        today = self.today()
        until = today + dt.timedelta(days=RENEWAL_WINDOW_DAYS)
        items = []
        for loan in self.books.loans():
            shown = self.loan_json(loan)
            live_renewals = [a for a in shown["renewal_applications"]
                             if self.books.find("applications", a)["state"] not in ("WITHDRAWN", "REJECTED")]
            if today <= dt.date.fromisoformat(loan["maturity_on"]) <= until and not live_renewals \
                    and shown["status"] not in ("REPAID", "WRITTEN_OFF"):
                items.append(shown)
        return {"today": today.isoformat(), "until": until.isoformat(),
                "items": sorted(items, key=lambda loan: loan["maturity_on"])}

    def subsidy_list(self, month: str) -> list[dict]:
        items = []
        for loan in self.books.loans():
            report = self.books.book(loan["uscc"]).report(loan["loan_no"], month)
            status = report["status"] if report else None
            if subsidy_eligible(loan, status, self.settings.rate_cap):
                amount = subsidy_amount(Decimal(report["outstanding_principal"]), self.settings.subsidy_points)
                items.append({"month": month, "loan_no": loan["loan_no"], "uscc": loan["uscc"],
                              "lender_id": loan["lender_id"], "disbursed_on": loan["disbursed_on"],
                              "annual_rate": loan["disbursed_rate"], "status": status,
                              "outstanding_principal": report["outstanding_principal"], "subsidy": str(amount)})
        return sorted(items, key=lambda i: (i["lender_id"], i["loan_no"]))

    async def subsidies(self, principal: Principal, request: web.Request, audit: dict):
        """GET /v1/finance/subsidies?month=YYYY-MM[&format=csv]: the month's eligible loans."""
        month = month_of(request)
        items = self.subsidy_list(month)
        audit["reason"] = f"subsidy list {month}: {len(items)} loans"
        if query_choice(request, "format", ("json", "csv")) == "csv":
            out = io.StringIO()
            fields = ["month", "loan_no", "uscc", "lender_id", "disbursed_on", "annual_rate", "status",
                      "outstanding_principal", "subsidy"]
            writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
            writer.writeheader()
            writer.writerows(items)
            return web.Response(text=out.getvalue(), content_type="text/csv", charset="utf-8",
                                headers={"Content-Disposition": f'attachment; filename="subsidies-{month}.csv"'})
        return {"month": month, "rate_cap_percent": str(self.settings.rate_cap),
                "subsidy_points": str(self.settings.subsidy_points), "items": items,
                "total": str(sum((Decimal(i["subsidy"]) for i in items), Decimal("0.00")))}

    async def publish_statistics(self) -> int:
        """One read of the statistics from ClickHouse: this month's figures per lender (and over
        every lender as "all") into the creditstream_finance_month gauges, and the public rows that
        changed since the last round to the outbound topic that MirrorMaker 2 replicates to the
        provincial node (acknowledged by Kafka); how many rows went out."""
        applications, reports, claims, _complete = await self.run(self.store.finance_facts, 0, 0)
        cells = collect(applications, reports, claims, self.holidays, self.settings.rate_cap,
                        self.settings.subsidy_points)
        month = self.today().isoformat()[:7]
        for row in statistics(cells, public=False):
            if row["month"] == month:
                for figure, value in row.items():
                    if figure not in ("month", "lender_id") and value is not None:
                        metrics.FINANCE_MONTH.labels(figure, row["lender_id"] or "all").set(float(value))
        changed = statistics_messages(statistics(cells, public=True), self.statistics_published)
        for key, value in changed:
            await self.writer.send(OUTBOUND_STATISTICS_TOPIC, key, value)
        return len(changed)

    async def statistics(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        """The figures per month and lender from ClickHouse; operators in full, everyone else the
        public figures ("<3" for a figure from fewer than 3 enterprises)."""
        first, last = month_of(request, "from", False), month_of(request, "to", False)
        lender = request.query.get("lender_id")
        expected = sum(len(book.events) for book in self.books.books.values())
        applications, reports, claims, complete = await self.run(self.store.finance_facts, expected,
                                                                 STATISTICS_WAIT_SECONDS)
        cells = collect(applications, reports, claims, self.holidays, self.settings.rate_cap,
                        self.settings.subsidy_points)
        public = not principal.kind == "operator"  # the route is open to every kind; operators see it in full
        rows = [r for r in statistics(cells, public)
                if (not first or r["month"] >= first) and (not last or r["month"] <= last)
                and (lender is None or r["lender_id"] == lender or (lender == "" and r["lender_id"] is None))]
        return {"public": public, "complete": complete, "suppressed_below_enterprises": 3 if public else None,
                "rows": rows}


class _NoKey:
    """A stand-in request without an Idempotency-Key, for the consents the platform publishes
    itself (each gets a fresh id)."""
    headers: dict = {}


def party(principal: Principal, item: dict) -> bool:
    """Is the principal a party to an application, loan or claim? (operators: to every one)"""
    if principal.kind == "operator":
        return True
    return item.get("lender_id") == principal.id if principal.kind == "lender" else item.get("uscc") == principal.id


def need_change(need: dict) -> dict:
    """A need's fields as a FinancingNeed change carries them."""
    return {k: need.get(k) for k in ("need_id", "uscc", "enterprise_name", "amount", "term_months", "purpose", "kinds")}


def product_json(product: dict) -> dict:
    shown = {k: v for k, v in product.items() if k not in ("event_id", "actor")}
    shown["updated_at"] = shown.pop("occurred_at")
    return shown


def consent_terms(product: dict) -> dict:
    """What applying grants: shown before the enterprise confirms."""
    return {"lender_id": product["lender_id"], "scopes": product["scopes"],
            "expires": f"{CONSENT_PLACEHOLDER_DAYS} days after applying at most; 30 days after the application's "
                       "final state (rejected, disbursed or withdrawn)"}

