"""The portal's pages of the loan loop (docs/financing.md), built from the API's answers with the
signed-in person's key like every other page: the enterprise's products, applications, loans and
needs; the loan officer's inbox; the operator's centre; the statistics with charts for everyone
(operators in full, everyone else the public figures)."""
from __future__ import annotations

import datetime as dt
from urllib.parse import quote

from aiohttp import web

from creditstream.api.portal.charts import bar_chart
from creditstream.schemas.finance import LOAN_STATUSES, PRODUCT_KINDS, REJECT_REASONS
from creditstream.schemas.models import SCOPES
from creditstream.schemas.months import SHANGHAI

FINANCE_KINDS = ("enterprise", "lender", "operator")


def last_month(today: dt.date) -> str:
    first = today.replace(day=1) - dt.timedelta(days=1)
    return f"{first:%Y-%m}"


class FinancePages:
    def __init__(self, portal):
        self.portal = portal

    def today(self) -> dt.date:
        return dt.datetime.now(SHANGHAI).date()

    # -- the enterprise ---------------------------------------------------------------------------------
    async def mine(self, request: web.Request) -> web.Response:
        p = self.portal
        session = await p.guarded(request, ("enterprise",))
        products = await p.api(session, "GET", "/v1/me/products")
        apps = await p.api(session, "GET", "/v1/me/applications")
        loans = await p.api(session, "GET", "/v1/me/loans")
        needs = await p.api(session, "GET", "/v1/me/needs")
        return p.page(request, "finance_me.html", session,
                      matching=products.body.get("matching", []) if products.ok else [],
                      not_matching=products.body.get("not_matching", []) if products.ok else [],
                      applications=apps.body.get("items", []) if apps.ok else [],
                      loans=loans.body.get("items", []) if loans.ok else [],
                      needs=needs.body.get("items", []) if needs.ok else [], kinds=PRODUCT_KINDS)

    async def confirm(self, request: web.Request) -> web.Response:
        """Before an application is sent: what it asks for and the consent it grants the lender."""
        p = self.portal
        session = await p.guarded(request, ("enterprise",))
        form = await p.form(request)
        product = await p.api(session, "GET", f"/v1/products/{quote(str(form.get('product_id', '')), safe='')}")
        if not product.ok:
            raise p.back("/portal/me/finance", session, "error", product.problem())
        asked = {name: str(form.get(name, "")) for name in ("amount", "term_months", "purpose", "renews_loan_no")}
        return p.page(request, "finance_confirm.html", session, product=product.body, asked=asked)

    async def apply(self, request: web.Request) -> web.Response:
        p = self.portal
        session = await p.guarded(request, ("enterprise",))
        form = await p.form(request)
        body = {"product_id": str(form.get("product_id", "")), "amount": str(form.get("amount", "")),
                "term_months": _int(form.get("term_months")), "purpose": str(form.get("purpose", ""))}
        if form.get("renews_loan_no"):
            body["renews_loan_no"] = str(form["renews_loan_no"])
        answer = await p.api(session, "POST", "/v1/me/applications", json=body)
        raise p.outcome(answer, "/portal/me/finance", session, "fin.applied")

    async def withdraw(self, request: web.Request) -> web.Response:
        p = self.portal
        session = await p.guarded(request, ("enterprise",))
        application = quote(request.match_info["application_id"], safe="")
        answer = await p.api(session, "POST", f"/v1/me/applications/{application}/withdraw", json={})
        raise p.outcome(answer, "/portal/me/finance", session, "done")

    async def publish_need(self, request: web.Request) -> web.Response:
        p = self.portal
        session = await p.guarded(request, ("enterprise",))
        form = await p.form(request)
        answer = await p.api(session, "POST", "/v1/me/needs", json={
            "amount": str(form.get("amount", "")), "term_months": _int(form.get("term_months")),
            "purpose": str(form.get("purpose", "")), "kinds": [str(k) for k in form.getall("kinds", [])]})
        raise p.outcome(answer, "/portal/me/finance", session, "done")

    async def accept_offer(self, request: web.Request) -> web.Response:
        p = self.portal
        session = await p.guarded(request, ("enterprise",))
        form = await p.form(request)
        need = quote(request.match_info["need_id"], safe="")
        answer = await p.api(session, "POST", f"/v1/me/needs/{need}/accept",
                             json={"lender_id": str(form.get("lender_id", ""))})
        raise p.outcome(answer, "/portal/me/finance", session, "fin.applied")

    # -- the loan officer ---------------------------------------------------------------------------------
    async def inbox(self, request: web.Request) -> web.Response:
        p = self.portal
        session = await p.guarded(request, ("lender",))
        apps = await p.api(session, "GET", "/v1/applications")
        needs = await p.api(session, "GET", "/v1/needs")
        loans = await p.api(session, "GET", "/v1/loans")
        products = await p.api(session, "GET", "/v1/products", params={"lender_id": session.principal_id})
        claims = await p.api(session, "GET", "/v1/claims")
        open_apps = [a for a in apps.body.get("items", []) if a["state"] in ("SUBMITTED", "ACCEPTED", "APPROVED")] \
            if apps.ok else []
        done_apps = [a for a in apps.body.get("items", []) if a not in open_apps] if apps.ok else []
        return p.page(request, "finance_inbox.html", session, open_apps=sorted(open_apps, key=_due),
                      done_apps=done_apps[-30:][::-1], needs=needs.body.get("items", []) if needs.ok else [],
                      loans=loans.body.get("items", []) if loans.ok else [],
                      products=products.body.get("items", []) if products.ok else [],
                      claims=claims.body.get("items", []) if claims.ok else [], reasons=REJECT_REASONS,
                      statuses=LOAN_STATUSES, kinds=PRODUCT_KINDS, scopes=SCOPES, today=self.today().isoformat(),
                      month=last_month(self.today()))

    async def step(self, request: web.Request) -> web.Response:
        """A decision form of the inbox: accept, approve, reject or disburse, to the API's route."""
        p = self.portal
        session = await p.guarded(request, ("lender",))
        form = await p.form(request)
        action = request.match_info["action"]
        body = {name: str(form[name]) for name in ("amount", "annual_rate", "reason", "note", "loan_no",
                                                   "disbursed_on", "maturity_on") if form.get(name)}
        if form.get("term_months"):
            body["term_months"] = _int(form.get("term_months"))
        application = quote(request.match_info["application_id"], safe="")
        answer = await p.api(session, "POST", f"/v1/applications/{application}/{quote(action, safe='')}", json=body)
        raise p.outcome(answer, "/portal/inbox", session, "done")

    async def take_up(self, request: web.Request) -> web.Response:
        p = self.portal
        session = await p.guarded(request, ("lender",))
        form = await p.form(request)
        answer = await p.api(session, "POST", f"/v1/needs/{quote(request.match_info['need_id'], safe='')}/take-up",
                             json={"product_id": str(form.get("product_id", ""))})
        raise p.outcome(answer, "/portal/inbox", session, "done")

    async def report(self, request: web.Request) -> web.Response:
        p = self.portal
        session = await p.guarded(request, ("lender",))
        form = await p.form(request)
        answer = await p.api(session, "POST", f"/v1/loans/{quote(request.match_info['loan_no'], safe='')}/performance",
                             json={name: str(form.get(name, "")) for name in ("month", "status",
                                                                                "outstanding_principal")})
        raise p.outcome(answer, "/portal/inbox", session, "done")

    async def file_claim(self, request: web.Request) -> web.Response:
        p = self.portal
        session = await p.guarded(request, ("lender",))
        form = await p.form(request)
        answer = await p.api(session, "POST", f"/v1/loans/{quote(request.match_info['loan_no'], safe='')}/claims",
                             json={"note": str(form.get("note", ""))})
        raise p.outcome(answer, "/portal/inbox", session, "done")

    async def publish_product(self, request: web.Request) -> web.Response:
        p = self.portal
        session = await p.guarded(request, ("lender",))
        form = await p.form(request)
        body = {name: str(form.get(name, "")) for name in ("name", "kind", "amount_min", "amount_max", "rate_min",
                                                           "rate_max", "repayment", "collateral", "description")}
        body.update(term_min_months=_int(form.get("term_min_months")), term_max_months=_int(form.get("term_max_months")),
                    scopes=[str(s) for s in form.getall("scopes", [])], whitelist_only=bool(form.get("whitelist_only")),
                    min_grade=str(form["min_grade"]) if form.get("min_grade") else None)
        answer = await p.api(session, "POST", "/v1/products", json=body)
        raise p.outcome(answer, "/portal/inbox", session, "done")

    async def withdraw_product(self, request: web.Request) -> web.Response:
        p = self.portal
        session = await p.guarded(request, ("lender",))
        product = quote(request.match_info["product_id"], safe="")
        answer = await p.api(session, "POST", f"/v1/products/{product}/withdraw", json={})
        raise p.outcome(answer, "/portal/inbox", session, "done")

    # -- the operator's centre ------------------------------------------------------------------------------
    async def centre(self, request: web.Request) -> web.Response:
        p = self.portal
        session = await p.guarded(request, ("operator",))
        month = request.query.get("month") or last_month(self.today())
        overdue = await p.api(session, "GET", "/v1/finance/overdue")
        maturing = await p.api(session, "GET", "/v1/finance/maturing")
        claims = await p.api(session, "GET", "/v1/claims", params={"state": "FILED"})
        subsidies = await p.api(session, "GET", "/v1/finance/subsidies", params={"month": month[:7]})
        products = await p.api(session, "GET", "/v1/products")
        return p.page(request, "finance_centre.html", session, month=month[:7],
                      overdue=overdue.body if overdue.ok else {"applications": [], "claims": [], "per_lender": {}},
                      maturing=maturing.body.get("items", []) if maturing.ok else [],
                      claims=claims.body.get("items", []) if claims.ok else [],
                      subsidies=subsidies.body if subsidies.ok else {"items": [], "total": "0.00"},
                      subsidy_problem=None if subsidies.ok else subsidies.problem(),
                      products=products.body.get("items", []) if products.ok else [])

    async def subsidies_csv(self, request: web.Request) -> web.Response:
        p = self.portal
        session = await p.guarded(request, ("operator",))
        month = str(request.query.get("month", ""))[:7]
        answer = await p.api(session, "GET", "/v1/finance/subsidies", params={"month": month, "format": "csv"})
        if not answer.ok:
            raise p.back("/portal/centre", session, "error", answer.problem())
        return web.Response(body=answer.body, content_type="text/csv", charset="utf-8", headers={
            "Content-Disposition": f'attachment; filename="subsidies-{month}.csv"', "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff"})

    async def decide_claim(self, request: web.Request) -> web.Response:
        p = self.portal
        session = await p.guarded(request, ("operator",))
        form = await p.form(request)
        answer = await p.api(session, "POST", f"/v1/claims/{quote(request.match_info['claim_id'], safe='')}/decide",
                             json={"outcome": str(form.get("outcome", "")), "note": str(form.get("note", ""))})
        raise p.outcome(answer, "/portal/centre", session, "done")

    async def suspend(self, request: web.Request) -> web.Response:
        p = self.portal
        session = await p.guarded(request, ("operator",))
        form = await p.form(request)
        product = quote(request.match_info["product_id"], safe="")
        action = "suspend" if form.get("reason") else "reinstate"
        answer = await p.api(session, "POST", f"/v1/products/{product}/{action}",
                             json={"reason": str(form.get("reason", ""))} if action == "suspend" else {})
        raise p.outcome(answer, "/portal/centre", session, "done")

    # -- statistics, for everyone ---------------------------------------------------------------------------------
    async def statistics(self, request: web.Request) -> web.Response:
        p = self.portal
        session = await p.guarded(request, FINANCE_KINDS)
        answer = await p.api(session, "GET", "/v1/finance/statistics")
        rows = answer.body.get("rows", []) if answer.ok else []
        overall = [r for r in rows if r["lender_id"] is None][-12:]
        months = [r["month"] for r in overall]
        lang = p.language(request)
        t = _words(lang)
        charts = [
            bar_chart("chart-amount", t["amount_title"], months,
                      [(t["disbursed"], [r["disbursed_amount"] for r in overall]),
                       (t["first"], [r["first_loans_amount"] for r in overall])], " 元" if lang == "zh" else " yuan"),
            bar_chart("chart-count", t["count_title"], months,
                      [(t["applications"], [r["applications"] for r in overall]),
                       (t["approved"], [r["approved"] for r in overall]),
                       (t["rejected"], [r["rejected"] for r in overall])]),
        ]
        latest = max(months) if months else None
        per_lender = [r for r in rows if r["month"] == latest and r["lender_id"] is not None]
        return p.page(request, "finance_statistics.html", session, public=answer.body.get("public", True),
                      overall=overall, per_lender=per_lender, latest=latest, charts=charts,
                      problem=None if answer.ok else answer.problem())

    def routes(self) -> list:
        return [
            web.get("/portal/me/finance", self.mine), web.post("/portal/me/finance/confirm", self.confirm),
            web.post("/portal/me/finance/apply", self.apply),
            web.post("/portal/me/finance/applications/{application_id}/withdraw", self.withdraw),
            web.post("/portal/me/finance/needs", self.publish_need),
            web.post("/portal/me/finance/needs/{need_id}/accept", self.accept_offer),
            web.get("/portal/inbox", self.inbox),
            web.post("/portal/inbox/applications/{application_id}/{action}", self.step),
            web.post("/portal/inbox/needs/{need_id}/take-up", self.take_up),
            web.post("/portal/inbox/loans/{loan_no}/performance", self.report),
            web.post("/portal/inbox/loans/{loan_no}/claims", self.file_claim),
            web.post("/portal/inbox/products", self.publish_product),
            web.post("/portal/inbox/products/{product_id}/withdraw", self.withdraw_product),
            web.get("/portal/centre", self.centre), web.get("/portal/centre/subsidies.csv", self.subsidies_csv),
            web.post("/portal/centre/claims/{claim_id}/decide", self.decide_claim),
            web.post("/portal/centre/products/{product_id}/suspend", self.suspend),
            web.get("/portal/statistics", self.statistics),
        ]


def _int(value) -> int | str:
    text = str(value or "").strip()
    return int(text) if text.isdigit() else text


def _due(app: dict) -> str:
    return app.get("due_on") or "9999-12-31"


def _words(lang: str) -> dict:
    from creditstream.api.portal.text import translator
    t = translator(lang)
    return {"amount_title": t("stats.chart_amount"), "count_title": t("stats.chart_count"),
            "disbursed": t("stats.disbursed_amount"), "first": t("stats.first_loans_amount"),
            "applications": t("stats.applications"), "approved": t("stats.approved"), "rejected": t("stats.rejected")}
