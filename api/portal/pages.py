"""The web portal (/portal/…): pages for enterprises, loan officers and platform staff, served by
the API process, rendered on the server (Jinja2), no script at all.

The portal is a client of the JSON API like any other: a person signs in once with their key,
the key stays in the server's memory with the session, and every page is built from the API's
own answers over loopback with that key. So every rule, refusal and audit record is exactly the
API's, and the portal holds no privilege of its own.

What a browser needs (docs/portal.md):
- the session cookie is random, ``HttpOnly``, ``SameSite=Strict``, ``Secure`` when served over
  TLS; sessions end on sign-out, after ``portal_idle_minutes`` without a request and after
  ``portal_max_hours`` in all; they live in memory (an API restart signs everyone out);
- every form carries a CSRF token (the session's, or for sign-in a double-submit cookie's), and
  a POST without the right one is refused 403 before anything else;
- the Content-Security-Policy allows no script, only this site's stylesheet and form targets;
- keys are only ever in a POST body: never in an address, a page or a log line.
"""
from __future__ import annotations

import datetime as dt
import hmac
import logging
import re
import secrets
from decimal import Decimal
from pathlib import Path
from typing import Optional
from urllib.parse import quote

import aiohttp
from aiohttp import web

from creditstream.api.limits import FailureThrottle
from creditstream.api.portal.charts import COLOURS, GRADE_COLOURS, PAID_COLOURS, bar_chart
from creditstream.api.portal.finance_pages import FinancePages
from creditstream.api.portal.sections import row_groups
from creditstream.api.portal.series import (
    PAYMENT_STATES,
    evaluation_months,
    has_data,
    head_count,
    tax_quarters,
    utility_months,
)
from creditstream.api.portal.sessions import Session, Sessions
from creditstream.api.portal.text import LANGUAGES, TEXT, translator
from creditstream.api.render import render
from creditstream.api.reports import show
from creditstream.monitoring import metrics
from creditstream.schemas.cs_eval_1 import explain
from creditstream.schemas.labels import RECORD_LABELS, band_text, display, label, word
from creditstream.schemas.models import SCOPES, WINDOWS
from creditstream.schemas.report import SECTIONS
from creditstream.schemas.services import DISPUTE_KEYS
from creditstream.schemas.topics import RECORD, REGISTER_CATEGORIES, TOPIC_OF, UTILITIES
from creditstream.schemas.uscc import normalise_uscc
from creditstream.schemas.verification import CLAIMS

log = logging.getLogger("creditstream.api.portal")
UTC = dt.timezone.utc
SESSION_COOKIE = "cs_session"
SIGN_IN_COOKIE = "cs_signin"  # the sign-in form's double-submit CSRF token
LANG_COOKIE = "cs_lang"
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}
HOME = {"enterprise": "/portal/me", "lender": "/portal/lookup", "operator": "/portal/queue"}
STYLESHEET = (Path(__file__).parents[1] / "templates" / "portal.css").read_bytes()
CATEGORY_NAMES = {"environment": ("环境信用", "Environmental credit"), "real_estate": ("不动产", "Real estate"),
                  "licences": ("行政许可", "Licences"), "penalties": ("行政处罚与信用修复", "Penalties and repairs"),
                  "enforcement": ("行政强制", "Enforcement"), "rd": ("科技研发", "R&D"), "agri": ("涉农", "Agriculture"),
                  "tax": ("纳税信用、欠税与纳税人状态", "Tax rating, arrears and status"),
                  "social_insurance": ("社会保险费", "Social insurance"), "housing_fund": ("住房公积金", "Housing fund"),
                  "customs_trade": ("进出口", "Customs trade"), "customs_credit": ("海关信用", "Customs credit grade"),
                  "intellectual_property": ("知识产权", "Patents, trademarks and IP pledges"),
                  "public_resources": ("公共资源交易中标", "Public-resource awards"),
                  "court": ("失信被执行人与被执行案件", "Dishonest debtors and enforcement cases")}
SHOWN_FIELDS_SKIP = ("record", "event_id", "received_at", "legal_rep_id_type", "enterprise_name", "authority_uscc")


def field_text(name: str, lang: str, text: str = "") -> str:
    """A field as people read it (schemas.labels), with its unit; the name stays in a tooltip."""
    found = label(name)
    text = text or (found.zh if lang == "zh" else found.en)
    if not found.unit:
        return text
    return f"{text}（{found.unit}）" if lang == "zh" else f"{text} ({'yuan' if found.unit == '元' else found.unit})"


def record_text(record: str, lang: str) -> str:
    """A record type in words (AdminLicence → 行政许可)."""
    found = RECORD_LABELS.get(record)
    return record if found is None else found.zh if lang == "zh" else found.en


def stem_text(name: str, lang: str) -> str:
    """A windowed figure's label without its window ("近3个月月均用水量" → "月均用水量"): the
    table's columns say 3, 6 and 12 months."""
    found = label(name)
    text = re.sub(r"^近\d+个月", "", found.zh) if lang == "zh" else re.sub(r", \d+ months$", "", found.en)
    return field_text(name, lang, text)


class ApiAnswer:
    def __init__(self, status: int, body, headers):
        self.status, self.body, self.headers = status, body, headers

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def problem(self) -> str:
        body = self.body if isinstance(self.body, dict) else {}
        reason = body.get("reason", f"HTTP {self.status}")
        return f"{reason} ({body['field']})" if body.get("field") else reason


class Portal:
    def __init__(self, api_base: str, idle_minutes: float, max_hours: float, identify, throttle: FailureThrottle,
                 audit_refusal):
        """``identify``: API key → its Principal or None; ``throttle``: the API's failed
        authentications per address; ``audit_refusal``: async (route, reason, response) → the
        response once audited (all three the API's pipeline)."""
        self.api_base = api_base
        self.sessions = Sessions(idle_minutes * 60, max_hours * 3600)
        self.http: Optional[aiohttp.ClientSession] = None
        self.identify, self.throttle, self.audit_refusal = identify, throttle, audit_refusal

    async def start(self, _app) -> None:
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120))

    async def stop(self, _app) -> None:
        if self.http is not None:
            await self.http.close()

    # -- talking to the API --------------------------------------------------------------------------
    async def api(self, session: Session, method: str, path: str, json=None, params=None,
                  headers=None) -> ApiAnswer:
        request_headers = {"Authorization": f"Bearer {session.key}", **(headers or {})}
        async with self.http.request(method, self.api_base + path, json=json, params=params,
                                     headers=request_headers) as response:
            if response.content_type == "application/json":
                body = await response.json()
            else:
                body = await response.read()
            return ApiAnswer(response.status, body, response.headers)

    # -- the frame every page shares -------------------------------------------------------------------
    @staticmethod
    def language(request: web.Request) -> str:
        wanted = request.query.get("lang") or request.cookies.get(LANG_COOKIE)
        return wanted if wanted in LANGUAGES else "zh"

    def page(self, request: web.Request, template: str, session: Optional[Session], status: int = 200,
             **context) -> web.Response:
        lang = self.language(request)
        flash = []
        if session is not None:
            flash, session.flash = session.flash, []
        t = translator(lang)
        body = render(f"portal/{template}", t=t, show=lambda value: shown(value, t), lang=lang,
                      field_label=lambda name: field_text(name, lang), fmt=lambda name, value: display(name, value, lang),
                      when=lambda value: display("", value, lang) if value else "—",
                      word=lambda value, name="": word(value, lang, name),
                      stem_label=lambda name: stem_text(name, lang), windows=WINDOWS,
                      record_name=lambda record: record_text(record, lang),
                      other_lang="en" if lang == "zh" else "zh", session=session,
                      csrf=session.csrf if session else context.pop("sign_in_csrf", ""), flash=flash,
                      path=request.path, quote=quote, texts=TEXT, **context)
        response = web.Response(text=body, content_type="text/html", status=status, headers=HEADERS)
        if request.query.get("lang") in LANGUAGES:
            response.set_cookie(LANG_COOKIE, lang, httponly=True, samesite="Strict", path="/portal",
                                secure=request.secure, max_age=365 * 86400)
        return response

    async def form(self, request: web.Request):
        """The posted form; a body that is not a UTF-8 form is answered 400, audited, and changes
        nothing (aiohttp raised UnicodeDecodeError, a 500, even on sign-in)."""
        try:
            return await request.post()
        except (UnicodeDecodeError, ValueError) as exc:
            reason = f"the form could not be read: {type(exc).__name__}"
        response = self.page(request, "error.html", self.session_of(request), status=400, message="form.bad")
        response = await self.audit_refusal("portal.form", reason, response)
        raise web.HTTPBadRequest(text=response.text, content_type="text/html", headers={
            **HEADERS, **({"X-Request-Id": response.headers["X-Request-Id"]} if "X-Request-Id" in response.headers else {})})

    def session_of(self, request: web.Request) -> Optional[Session]:
        return self.sessions.get(request.cookies.get(SESSION_COOKIE))

    async def guarded(self, request: web.Request, kinds: tuple[str, ...]) -> Session:
        """The request's session for one of ``kinds``; a POST also needs the session's CSRF token.
        Raises the answer otherwise: sign-in for no session, 403 for the wrong one or no token."""
        session = self.session_of(request)
        if session is None:
            raise web.HTTPSeeOther("/portal/sign-in?expired=1", headers=HEADERS)
        if request.method == "POST":
            form = await self.form(request)
            if not hmac.compare_digest(str(form.get("csrf", "")), session.csrf):
                raise self.refusal(request, session, "csrf")
        if session.kind not in kinds:
            raise self.refusal(request, session, "forbidden.detail")
        return session

    def refusal(self, request: web.Request, session: Optional[Session], message: str) -> web.HTTPException:
        response = self.page(request, "error.html", session, status=403, message=message)
        return web.HTTPForbidden(text=response.text, content_type="text/html", headers=HEADERS)

    @staticmethod
    def back(path: str, session: Session, level: str, text: str) -> web.HTTPSeeOther:
        session.flash.append((level, text))
        return web.HTTPSeeOther(path, headers=HEADERS)

    def outcome(self, answer: ApiAnswer, path: str, session: Session, done: str) -> web.HTTPSeeOther:
        if answer.ok:
            return self.back(path, session, "ok", done)
        return self.back(path, session, "error", answer.problem())

    # -- signing in and out ------------------------------------------------------------------------------
    async def index(self, request: web.Request) -> web.Response:
        session = self.session_of(request)
        raise web.HTTPSeeOther(HOME.get(session.kind, "/portal/sign-in") if session else "/portal/sign-in",
                               headers=HEADERS)

    async def sign_in_form(self, request: web.Request, problem: str = "", status: int = 200) -> web.Response:
        token = request.cookies.get(SIGN_IN_COOKIE) or secrets.token_urlsafe(32)
        if "expired" in request.query and not problem:
            problem = "sign_in.expired"
        response = self.page(request, "sign_in.html", None, status=status, problem=problem, sign_in_csrf=token)
        response.set_cookie(SIGN_IN_COOKIE, token, httponly=True, samesite="Strict", path="/portal",
                            secure=request.secure)
        return response

    async def sign_in(self, request: web.Request) -> web.Response:
        form = await self.form(request)
        cookie = request.cookies.get(SIGN_IN_COOKIE, "")
        if not cookie or not hmac.compare_digest(str(form.get("csrf", "")), cookie):
            return await self.sign_in_form(request, "csrf", 403)
        address = request.remote or ""
        if self.throttle.wait_needed(address):  # too many wrong keys from this address: not even tried
            metrics.API_AUTH_THROTTLED.inc()
            return await self.sign_in_form(request, "sign_in.throttled", 429)
        key = str(form.get("key", "")).strip()
        principal = self.identify(key) if key else None
        if principal is None or principal.kind not in HOME:
            self.throttle.failed(address)
            return await self.sign_in_form(request, "sign_in.bad", 401)
        session = self.sessions.create(key, principal.kind, principal.id)
        response = web.HTTPSeeOther(HOME[session.kind], headers=HEADERS)
        response.set_cookie(SESSION_COOKIE, session.id, httponly=True, samesite="Strict", path="/portal",
                            secure=request.secure)
        response.del_cookie(SIGN_IN_COOKIE, path="/portal")
        raise response

    async def sign_out(self, request: web.Request) -> web.Response:
        session = await self.guarded(request, tuple(HOME))
        self.sessions.drop(session.id)
        response = web.HTTPSeeOther("/portal/sign-in", headers=HEADERS)
        response.del_cookie(SESSION_COOKIE, path="/portal")
        raise response

    async def stylesheet(self, request: web.Request) -> web.Response:
        return web.Response(body=STYLESHEET, content_type="text/css",
                            headers={**HEADERS, "Cache-Control": "public, max-age=3600"})

    # -- the enterprise -------------------------------------------------------------------------------
    async def me(self, request: web.Request) -> web.Response:
        session = await self.guarded(request, ("enterprise",))
        me = await self.api(session, "GET", "/v1/me")
        row = me.body.get("row") if me.ok else None
        charts = figure_charts(self.language(request), me.body.get("statements") or {}, me.body.get("records") or [],
                               shanghai_today()) if me.ok else []
        return self.page(request, "me.html", session, row=row, indicators=explained(row) if row else [], charts=charts,
                         groups=row_groups(row, "enterprise") if row else [],
                         updated_at=me.body.get("updated_at") if me.ok else None)

    async def records(self, request: web.Request) -> web.Response:
        session = await self.guarded(request, ("enterprise",))
        me = await self.api(session, "GET", "/v1/me")
        disputes = me.body.get("disputes", []) if me.ok else []
        open_keys = {(d["record"], tuple(sorted(d["key"].items()))) for d in disputes if d["state"] == "OPEN"}
        groups: dict[str, list] = {}
        for item in me.body.get("records", []) if me.ok else []:
            category = RECORD[item["record"]].category if item["record"] in RECORD else "other"
            groups.setdefault(category, []).append(record_view(item, open_keys))
        return self.page(request, "records.html", session, groups=groups, names=CATEGORY_NAMES,
                         statements=me.body.get("statements", {}) if me.ok else {})

    async def file_dispute(self, request: web.Request) -> web.Response:
        session = await self.guarded(request, ("enterprise",))
        form = await self.form(request)
        key = {name[4:]: str(value) for name, value in form.items() if name.startswith("key.")}
        answer = await self.api(session, "POST", "/v1/me/disputes", json={
            "topic": str(form.get("topic", "")), "key": key, "statement": str(form.get("statement", ""))})
        raise self.outcome(answer, "/portal/me/cases", session, "done")

    async def consents(self, request: web.Request) -> web.Response:
        session = await self.guarded(request, ("enterprise",))
        consents = await self.api(session, "GET", "/v1/me/consents")
        lenders = await self.api(session, "GET", "/v1/lenders")
        default_expiry = (dt.date.today() + dt.timedelta(days=365)).isoformat()
        return self.page(request, "consents.html", session, consents=consents.body.get("items", []),
                         lenders=lenders.body.get("items", []), scopes=SCOPES, default_expiry=default_expiry)

    async def grant(self, request: web.Request) -> web.Response:
        session = await self.guarded(request, ("enterprise",))
        form = await self.form(request)
        expires = str(form.get("expires_on", ""))
        answer = await self.api(session, "POST", "/v1/me/consents", json={
            "lender_id": str(form.get("lender_id", "")), "scopes": [str(s) for s in form.getall("scopes", [])],
            "expires_at": f"{expires}T23:59:59+08:00" if expires else ""})
        raise self.outcome(answer, "/portal/me/consents", session, "done")

    async def revoke(self, request: web.Request) -> web.Response:
        session = await self.guarded(request, ("enterprise",))
        lender = request.match_info["lender_id"]
        answer = await self.api(session, "DELETE", f"/v1/me/consents/{quote(lender, safe='')}")
        raise self.outcome(answer, "/portal/me/consents", session, "done")

    async def lookups(self, request: web.Request) -> web.Response:
        session = await self.guarded(request, ("enterprise",))
        answer = await self.api(session, "GET", "/v1/me/lookups", params={"limit": "100"})
        return self.page(request, "lookups.html", session, items=answer.body.get("items", []) if answer.ok else [])

    async def my_reports(self, request: web.Request) -> web.Response:
        session = await self.guarded(request, ("enterprise",))
        answer = await self.api(session, "GET", "/v1/me/reports")
        return self.page(request, "my_reports.html", session, items=answer.body.get("items", []) if answer.ok else [])

    async def issue_own_report(self, request: web.Request) -> web.Response:
        session = await self.guarded(request, ("enterprise",))
        answer = await self.api(session, "POST", f"/v1/enterprises/{session.principal_id}/reports")
        raise self.outcome(answer, "/portal/me/reports", session,
                           f"{answer.body.get('number', '')}" if answer.ok else "")

    async def cases(self, request: web.Request) -> web.Response:
        session = await self.guarded(request, ("enterprise",))
        disputes = await self.api(session, "GET", "/v1/me/disputes")
        repairs = await self.api(session, "GET", "/v1/me/repairs")
        me = await self.api(session, "GET", "/v1/me")
        penalties = [r for r in me.body.get("records", []) if r["record"] == "AdminPenalty"] if me.ok else []
        return self.page(request, "cases.html", session, disputes=disputes.body.get("items", []),
                         repairs=repairs.body.get("items", []), penalties=penalties, now=now_text())

    async def withdraw(self, request: web.Request) -> web.Response:
        session = await self.guarded(request, ("enterprise",))
        dispute = quote(request.match_info["dispute_id"], safe="")
        answer = await self.api(session, "POST", f"/v1/me/disputes/{dispute}/withdraw")
        raise self.outcome(answer, "/portal/me/cases", session, "done")

    async def apply_repair(self, request: web.Request) -> web.Response:
        session = await self.guarded(request, ("enterprise",))
        form = await self.form(request)
        answer = await self.api(session, "POST", "/v1/me/repairs", json={
            name: str(form.get(name, "")) for name in ("decision_no", "pledge", "statement")})
        raise self.outcome(answer, "/portal/me/cases", session, "done")

    # -- the loan officer -----------------------------------------------------------------------------
    async def lookup(self, request: web.Request) -> web.Response:
        session = await self.guarded(request, ("lender",))
        uscc = normalise_uscc(request.query.get("uscc", ""))[:40]
        row = records = problem = None
        charts: list = []
        if uscc:
            answer = await self.api(session, "GET", f"/v1/enterprises/{quote(uscc, safe='')}/aggregates")
            if answer.ok:
                row = answer.body
                records = {}
                for category in REGISTER_CATEGORIES:
                    found = await self.api(session, "GET", f"/v1/enterprises/{uscc}/records/{category}")
                    records[category] = found.body if found.ok else {"withheld": found.problem()}
                charts = await self.lender_charts(request, session, uscc, row, records)
            else:
                problem = answer.problem()
        return self.page(request, "lookup.html", session, uscc=uscc, row=row, records=records, problem=problem,
                         groups=row_groups(row, "lender") if row else [], charts=charts,
                         names=CATEGORY_NAMES, sections=SECTIONS)

    async def lender_charts(self, request: web.Request, session: Session, uscc: str, row: dict, records: dict) -> list:
        """The charts a loan officer may see: the histories only under the consent that covers them
        (each read is an audited look-up of its own, like the API's)."""
        scopes = row.get("consented_scopes") or []
        kinds = [*(UTILITIES if "UTILITY" in scopes else ()), *(("vat", "cit", "other") if "TAX" in scopes else ()),
                 *(("evaluation",) if "UTILITY" in scopes and "TAX" in scopes else ())]  # the score's own rule
        statements = {}
        for kind in kinds:
            found = await self.api(session, "GET", f"/v1/enterprises/{quote(uscc, safe='')}/history/{kind}")
            statements[kind] = found.body.get("items", []) if found.ok else []
        social = (records.get("social_insurance") or {}).get("items") or []
        return figure_charts(self.language(request), statements, social, shanghai_today())

    async def issue_report(self, request: web.Request) -> web.Response:
        session = await self.guarded(request, ("lender",))
        uscc = normalise_uscc(request.match_info["uscc"])
        answer = await self.api(session, "POST", f"/v1/enterprises/{quote(uscc, safe='')}/reports")
        raise self.outcome(answer, "/portal/reports", session, answer.body.get("number", "") if answer.ok else "")

    async def reports(self, request: web.Request) -> web.Response:
        session = await self.guarded(request, ("lender",))
        answer = await self.api(session, "GET", "/v1/reports")
        return self.page(request, "reports.html", session, items=answer.body.get("items", []) if answer.ok else [])

    async def report_pdf(self, request: web.Request) -> web.Response:
        session = await self.guarded(request, ("lender", "enterprise", "operator"))
        number = request.match_info["number"]
        answer = await self.api(session, "GET", f"/v1/reports/{quote(number, safe='')}/pdf")
        if not answer.ok:
            return self.page(request, "error.html", session, status=answer.status if answer.status < 500 else 503,
                             message="error.api", detail=answer.problem())
        return web.Response(body=answer.body, content_type="application/pdf", headers={
            **HEADERS, "Content-Disposition": f'attachment; filename="{number}.pdf"'})

    async def verify(self, request: web.Request) -> web.Response:
        session = await self.guarded(request, ("lender",))
        results = problem = None
        uscc = ""
        if request.method == "POST":
            form = await self.form(request)
            uscc = normalise_uscc(str(form.get("uscc", "")))[:40]
            claims = claims_of(form)
            answer = await self.api(session, "POST", f"/v1/enterprises/{quote(uscc, safe='')}/verify",
                                    json={"claims": claims})
            results, problem = (answer.body.get("results"), None) if answer.ok else (None, answer.problem())
        return self.page(request, "verify.html", session, claims=CLAIMS, results=results, problem=problem, uscc=uscc)

    async def whitelist(self, request: web.Request) -> web.Response:
        session = await self.guarded(request, ("lender", "operator"))
        grade = request.query.get("grade", "")
        params = {"limit": "200", **({"grade": grade} if grade else {})}
        members = await self.api(session, "GET", "/v1/whitelist", params=params)
        changes = await self.api(session, "GET", "/v1/whitelist/changes", params={"recent": "30"})
        figures = await self.api(session, "GET", "/v1/whitelist/summary")
        charts = whitelist_charts(self.language(request), figures.body) if figures.ok else []
        return self.page(request, "whitelist.html", session, status=200 if members.ok else members.status,
                         charts=charts,
                         members=members.body if members.ok else {"items": [], "size": 0},
                         problem=None if members.ok else members.problem(),
                         changes=changes.body.get("changes", []) if changes.ok else [], grade=grade)

    # -- platform staff ---------------------------------------------------------------------------------
    async def queue(self, request: web.Request) -> web.Response:
        session = await self.guarded(request, ("operator",))
        disputes = await self.api(session, "GET", "/v1/disputes", params={"state": "OPEN"})
        repairs = await self.api(session, "GET", "/v1/repairs", params={"state": "APPLIED"})
        return self.page(request, "queue.html", session, disputes=disputes.body.get("items", []),
                         repairs=repairs.body.get("items", []), now=now_text(),
                         today=dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date().isoformat())

    async def answer_dispute(self, request: web.Request) -> web.Response:
        return await self.decide(request, f"/v1/disputes/{quote(request.match_info['dispute_id'], safe='')}/answer")

    async def decide_repair(self, request: web.Request) -> web.Response:
        return await self.decide(request,
                                 f"/v1/repairs/{quote(request.match_info['application_id'], safe='')}/decide")

    async def decide(self, request: web.Request, api_path: str) -> web.Response:
        """A queue's form: the outcome button pressed and the note, to the API's decision route."""
        session = await self.guarded(request, ("operator",))
        form = await self.form(request)
        answer = await self.api(session, "POST", api_path, json={
            "outcome": str(form.get("outcome", "")), "note": str(form.get("note", ""))})
        raise self.outcome(answer, "/portal/queue", session, "done")

    async def audit(self, request: web.Request) -> web.Response:
        session = await self.guarded(request, ("operator",))
        filters = {name: request.query[name][:64] for name in ("uscc", "principal_id", "route", "decision")
                   if request.query.get(name)}
        answer = await self.api(session, "GET", "/v1/audit", params={**filters, "limit": "100"})
        return self.page(request, "audit.html", session, filters=filters,
                         items=answer.body.get("items", []) if answer.ok else [],
                         problem=None if answer.ok else answer.problem())

    def routes(self) -> list:
        return [
            web.get("/portal", self.index), web.get("/portal/", self.index),
            web.get("/portal/static/portal.css", self.stylesheet),
            web.get("/portal/sign-in", self.sign_in_form), web.post("/portal/sign-in", self.sign_in),
            web.post("/portal/sign-out", self.sign_out),
            web.get("/portal/me", self.me), web.get("/portal/me/records", self.records),
            web.post("/portal/me/disputes", self.file_dispute),
            web.get("/portal/me/consents", self.consents), web.post("/portal/me/consents", self.grant),
            web.post("/portal/me/consents/{lender_id}/revoke", self.revoke),
            web.get("/portal/me/lookups", self.lookups),
            web.get("/portal/me/reports", self.my_reports), web.post("/portal/me/reports", self.issue_own_report),
            web.get("/portal/me/cases", self.cases),
            web.post("/portal/me/disputes/{dispute_id}/withdraw", self.withdraw),
            web.post("/portal/me/repairs", self.apply_repair),
            web.get("/portal/lookup", self.lookup), web.post("/portal/lookup/{uscc}/report", self.issue_report),
            web.get("/portal/reports", self.reports), web.get("/portal/reports/{number}.pdf", self.report_pdf),
            web.get("/portal/verify", self.verify), web.post("/portal/verify", self.verify),
            web.get("/portal/whitelist", self.whitelist),
            web.get("/portal/queue", self.queue), web.post("/portal/disputes/{dispute_id}/answer", self.answer_dispute),
            web.post("/portal/repairs/{application_id}/decide", self.decide_repair),
            web.get("/portal/audit", self.audit),
            *FinancePages(self).routes(),
        ]


def shown(value, t) -> str:
    """A value as a person reads it, yes/no in the page's language; the evaluation's bands also
    name values as text ("true", "null") and conditions in words (schemas.labels.BAND_LABELS)."""
    value = {"true": True, "false": False, "null": None}.get(value, value) if isinstance(value, str) else value
    lang = "zh" if t("yes") == TEXT["yes"][0] else "en"
    return show(band_text(value, lang) if isinstance(value, str) else value, t("yes"), t("no"))


def shanghai_today() -> dt.date:
    return dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()


def now_text() -> str:
    return dt.datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def explained(row: dict) -> list[dict]:
    """Each cs-eval-1 indicator of the row: what it reads, the band the enterprise is in, its
    points and the most it could give (cs_eval_1.explain)."""
    return [{"id": indicator.id, "input": indicator.input, "band": condition, "points": points, "best": best,
             "fields": [n for n in re.findall(r"[a-z][a-z0-9_]+", indicator.input) if n in row]}
            for indicator, condition, points, best in explain(row)]


def record_view(item: dict, open_keys: set) -> dict:
    """A record as the enterprise's page shows it, with what a dispute form needs to name it."""
    record = item["record"]
    names = DISPUTE_KEYS.get(record, ())
    key = {name: "" if item.get(name) is None else str(item[name]) for name in names}
    fields = {k: v for k, v in item.items() if k not in SHOWN_FIELDS_SKIP}
    return {"record": record, "topic": TOPIC_OF.get(record, ""), "key": key, "fields": fields,
            "disputed": (record, tuple(sorted(key.items()))) in open_keys}


def claims_of(form) -> list[dict]:
    """The claim forms that were filled in, as the verification API takes them."""
    claims = []
    for claim, (_scope, params) in CLAIMS.items():
        if not form.get(f"use.{claim}"):
            continue
        body: dict = {"type": claim}
        for name in params:
            value = str(form.get(f"{claim}.{name}", "")).strip()
            body[name] = [g.strip() for g in value.split(",") if g.strip()] if name == "grades" else value
        claims.append(body)
    return claims


def missing_translations() -> list[str]:
    """Keys the templates use that the text table lacks (a test keeps this empty)."""
    import re
    used: set[str] = set()
    for path in (Path(__file__).parents[1] / "templates" / "portal").glob("*.html"):
        used.update(re.findall(r"""(?<![\w.])t\(['"]([a-z_.A-Z0-9]+)['"]\)""", path.read_text()))
    return sorted(k for k in used if k not in TEXT)


def whitelist_charts(lang: str, figures: dict) -> list[tuple[str, object]]:
    """The whitelist at a glance: members per current grade, and per month of the last 12 the
    enterprises that joined and left with the members at the month's end."""
    t = translator(lang)
    months = figures.get("months") or []
    if not figures.get("size") and not any(m["joined"] or m["left"] for m in months):
        return []
    grades = list(figures.get("by_grade") or {})
    title = t("chart.whitelist_grades")
    charts = [(title, bar_chart("chart-wl-grades", title, grades,
                                [(t("chart.enterprises"), [figures["by_grade"][g] for g in grades])],
                                unit=" 家" if lang == "zh" else ""))]
    title = t("chart.whitelist_months")
    labels = [m["month"][2:] for m in months]
    charts.append((title, bar_chart("chart-wl-months", title, labels, [
        (t("chart.month_end_members"), [m["members"] for m in months]), (t("whitelist.join"), [m["joined"] for m in months]),
        (t("whitelist.leave"), [m["left"] for m in months])], unit=" 家" if lang == "zh" else "", label_every=2)))
    return charts


def figure_charts(lang: str, statements: dict, social: list, today: dt.date) -> list[tuple[str, object]]:
    """The charts of an enterprise's monthly figures, each (caption, inline SVG): per utility the
    last 24 months' bills coloured by how they were paid, tax paid per quarter, the insured head
    count. A chart without a single value is left out (no consent, or nothing held)."""
    t = translator(lang)
    last = today.strftime("%Y-%m")
    charts = []
    for kind in UTILITIES:
        series = utility_months(statements.get(kind) or [], last, today)
        if has_data(series):
            title = t("chart.utility").replace("{u}", t(f"chart.{kind}"))
            charts.append((title, bar_chart(f"chart-{kind}", title, [m[2:] for m in series.labels],
                                            [(t(f"chart.{state}"), series.values[state]) for state in PAYMENT_STATES],
                                            unit=" 元" if lang == "zh" else " yuan", stacked=True, label_every=3,
                                            colours=PAID_COLOURS)))
    taxes = tax_quarters({kind: statements.get(kind) or [] for kind in ("vat", "cit", "other")}, today)
    if has_data(taxes):
        title = t("chart.tax")
        charts.append((title, bar_chart("chart-tax", title, taxes.labels,
                                        [(word(kind.upper(), lang), values) for kind, values in taxes.values.items()],
                                        unit=" 元" if lang == "zh" else " yuan", stacked=True)))
    evaluations = evaluation_months(statements.get("evaluation") or [], last)
    if has_data(evaluations):
        title = t("chart.evaluation")
        charts.append((title, bar_chart("chart-evaluation", title, [m[2:] for m in evaluations.labels],
                                        [(f"{t('chart.grade')} {grade}", values)
                                         for grade, values in evaluations.values.items()],
                                        unit=" 分" if lang == "zh" else " points", stacked=True,
                                        colours=[GRADE_COLOURS.get(g, COLOURS[0]) for g in evaluations.values],
                                        peak=Decimal(100))))
    people = head_count(social, last)
    if has_data(people):
        title = t("chart.social")
        charts.append((title, bar_chart("chart-social", title, [m[2:] for m in people.labels],
                                        [(t("chart.employees"), people.values["employees"])],
                                        unit=" 人" if lang == "zh" else "", label_every=3)))
    return charts
