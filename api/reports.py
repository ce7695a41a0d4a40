"""Standardised credit reports (platform-services.md; docs/lender-services.md): issued for a
lender (public sections always, the others under the matching consent) or for the enterprise
itself (everything); served as JSON, a printable HTML page and a PDF printed from that page by
headless Chromium; verifiable by anyone holding the number and the code, without a key.

A report is issued once: its content (schemas.report), the SHA-256 of that content and the
SHA-256 of its verification code go to credit.reports.v1 and the answer leaves only after Kafka
acknowledged it. The code itself is shown once, in that answer and on the page.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import Callable

from aiohttp import web

from creditstream.api.access import SCOPES, Principal
from creditstream.api.config import ApiConfig
from creditstream.api.http.answers import json_answer
from creditstream.api.http.errors import ApiError
from creditstream.api.http.params import stable_id, uscc_of
from creditstream.api.render import TEMPLATES
from creditstream.api.store import RightsStore
from creditstream.api.view import ServingView
from creditstream.api.writer import KafkaWriter
from creditstream.monitoring import metrics
from creditstream.schemas import report as content
from creditstream.schemas.keys import REPORT_CODE, purpose_key
from creditstream.schemas.labels import RECORD_LABELS, display, zh_labels
from creditstream.schemas.models import AGGREGATE_FIELDS, IssuedReport
from creditstream.schemas.months import SHANGHAI
from creditstream.schemas.topics import REPORT_TOPIC

# the portal's security headers; the report's one stylesheet is inline in the page (it is also
# printed to PDF on its own), so styles may be inline and nothing else may load or run
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                               "form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
log = logging.getLogger("creditstream.api.reports")
UTC = dt.timezone.utc
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read off paper
CODE_LENGTH = 12  # 60 bits
PDF_CACHE = 32  # PDFs kept in memory (a report never changes once issued)
# column and fact headings: the label table (schemas.labels), and the report's own columns
LABELS = {**zh_labels(), "honour": "荣誉", "record": "记录类别", "red_line": "一票否决项", "indicator": "指标",
          "meaning": "含义", "band": "所处档次", "points": "得分", "of": "满分"}
HIDDEN_COLUMNS = ("record", "provider_id", "disputed", "event_id", "legal_rep_id_type", "legal_rep_id_no",
                  "authority_uscc", "legal_rep_name", "occurred_at", "received_at", "legal_rep_id_hmac")
# the columns a person needs, in reading order, per section (others: every field but the hidden)
COLUMNS = {
    "licences": ("licence_name", "licence_no", "decision_no", "valid_from", "valid_until", "authority_name"),
    "penalties": ("decision_no", "decided_on", "violation_type", "penalty_content", "fine_amount", "severity",
                  "authority_name"),
    "enforcement": ("decision_no", "decision_name", "method", "reason", "executed_on", "authority_name"),
    "honours": ("honour", "year", "reference_no", "valid_until"),
    "environment": ("period", "grade", "score", "rated_on"),
    "red_lines": ("red_line", "record", "case_no", "court_name", "listed_on", "decision_no", "grade", "decided_on",
                  "valid_until", "contribution_month", "arrears_amount"),
    "courts": ("record", "case_no", "court_name", "filed_on", "listed_on", "performance", "amount"),
    "customs_credit": ("decision_no", "customs_office", "grade", "decided_on", "valid_until"),
    "intellectual_property": ("record", "patent_no", "registration_no", "title", "mark_name", "status",
                              "granted_on", "registered_on", "valid_until", "pledgee_name", "secured_amount"),
    "public_resources": ("notice_no", "project_name", "buyer_name", "award_amount", "awarded_on"),
    "social": ("record", "account_no", "contribution_month", "employee_count", "amount_due", "amount_paid",
               "arrears_amount"),
    "trade": ("customs_code", "trade_month", "import_value", "export_value", "declarations"),
    "evaluation": ("indicator", "meaning", "band", "points", "of"),
}


def report_code(platform_key: bytes | None, number: str) -> str:
    """The report's verification code: derived from the platform's key, so every rendering of the
    report (the PDF printed later included) carries it while only its hash is stored; random (and
    shown once) when the API has no key."""
    if not platform_key:
        return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return derived_code(purpose_key(platform_key, REPORT_CODE), number)


def derived_code(key: bytes, number: str) -> str:
    """The code of report ``number`` under ``key`` (schemas.keys: the report-code purpose's)."""
    digest = hmac.new(key, b"creditstream report code\x00" + number.encode(), hashlib.sha256).digest()
    return "".join(CODE_ALPHABET[b % len(CODE_ALPHABET)] for b in digest[:CODE_LENGTH])


def code_hash(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


def show(value, yes: str = "是 yes", no: str = "否 no") -> str:
    """A value as a person reads it on a page (the report's, bilingual; the portal's, in its language)."""
    if value is None or value == "":
        return "—"
    if value is True:
        return yes
    if value is False:
        return no
    if isinstance(value, list):
        return "、".join(map(str, value)) or "—"
    if isinstance(value, dict):
        return "；".join(f"{k} {v}" for k, v in value.items())
    return str(value)


_ROW_ORDER = {name: index for index, name in enumerate(AGGREGATE_FIELDS)}


def in_row_order(facts: dict) -> list[tuple[str, object]]:
    """A section's figures in the row's order (3 → 6 → 12 months), not the stored JSON's sorted keys."""
    return sorted(facts.items(), key=lambda item: _ROW_ORDER.get(item[0], len(_ROW_ORDER)))


def columns(section_id: str, items: list[dict]) -> list[str]:
    if section_id in COLUMNS:
        return list(COLUMNS[section_id])
    names: dict[str, None] = {}
    for item in items:
        names.update(dict.fromkeys(k for k in item if k not in HIDDEN_COLUMNS))
    return list(names)


BLOCK_OVER = 6  # a kind with more columns than this prints a block per record: every cell readable on A4


def record_tables(section_id: str, items: list[dict]) -> list[dict]:
    """A section's items as people read them on paper: one table per record kind (in the order the
    kinds first appear), headed by the kind's name, with only the columns that kind fills (a status
    only where one exists); a kind too wide for A4 becomes a block of label/value pairs per record."""
    kinds: dict[str, list[dict]] = {}
    for item in items:
        kinds.setdefault(str(item.get("record") or ""), []).append(item)
    tables = []
    for kind, found in kinds.items():
        named = [c for c in columns(section_id, found) if c != "record"]  # the table's heading names the kind
        filled = [c for c in named if any(item.get(c) not in (None, "", []) for item in found)]
        name = RECORD_LABELS.get(kind)
        tables.append({"record": kind, "title": f"{name.zh} {name.en}" if name and len(kinds) > 1 else "",
                       "columns": filled, "items": found, "blocks": len(filled) > BLOCK_OVER})
    return tables


def render_html(report: IssuedReport, code: str | None, verify_url: str) -> str:
    document = json.loads(report.content)
    requester = document["requester"]
    label = {"lender": "金融机构 lender", "enterprise": "企业本身 the enterprise itself"}.get(requester["kind"], "")
    issued = report.issued_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")
    template = TEMPLATES.get_template("report.html")
    return template.render(
        r=document, h=content.HEADINGS, sha256=report.sha256, issued_local=issued,
        requester_label=f"{label} {requester['id']}",
        verify_url=verify_url + (f"?code={code}" if code else "?code=<验证码 verification code>"),
        show=show, fmt=display, tables=record_tables, labels=LABELS, ordered=in_row_order,
        any_disputed=lambda items: any(item.get("disputed") for item in items))


class Reports:
    def __init__(self, view: ServingView, rights_store: RightsStore, writer: KafkaWriter, run: Callable,
                 config: ApiConfig, decisions: Callable, clock=None):
        self.view, self.rights_store, self.writer, self.run = view, rights_store, writer, run
        self.config, self.decisions = config, decisions
        self.clock = clock or (lambda: dt.datetime.now(UTC))
        self.pdfs: OrderedDict[str, bytes] = OrderedDict()
        self.pdf_lock = asyncio.Lock()  # one Chromium at a time: it takes ~300 MB and a core

    # -- issuing --------------------------------------------------------------------------------
    async def issue(self, principal: Principal, request: web.Request, audit: dict):
        """POST /v1/enterprises/{uscc}/reports: for a lender or the enterprise itself."""
        uscc = uscc_of(request)
        decisions = await self.decisions(principal, uscc, SCOPES)
        if principal.kind == "enterprise" and not decisions[SCOPES[0]].allowed:
            raise ApiError(403, "forbidden", decisions[SCOPES[0]].reason)
        found = self.view.row(uscc)
        if found is None:
            raise ApiError(404, "not_found", f"the platform holds no data about {uscc}: there is nothing to report")
        row = found.values()
        allowed = frozenset(s for s in SCOPES if decisions[s].allowed)
        now = self.clock()
        number = self.number(principal, uscc, request, now)
        if number in self.view.reports:  # a retried request after an API restart: the same report
            issued = self.view.reports[number]
            return 200, self.answer(issued, self.code_of(issued), request)
        records = await self.run(self.rights_store.all_records, uscc)
        document = content.build(content.ReportInput(
            number, now, uscc, principal.kind, principal.id, row, records,
            [d.public() | {"record": d.record} for d in self.view.open_disputes(uscc)], allowed,
            dt.date.fromisoformat(row["as_of_date"])))
        code = report_code(self.config.personal_data_key, number)
        body = content.content_bytes(document)
        issued = IssuedReport(number, uscc, principal.kind, principal.id, now, hashlib.sha256(body).hexdigest(),
                              code_hash(code), body.decode())
        await self.writer.send(REPORT_TOPIC, number.encode(), issued.to_bytes())
        self.view.apply_report(issued)
        metrics.REPORTS_ISSUED.labels(principal.kind).inc()
        audit.update(scope="+".join(["PUBLIC", *sorted(allowed, key=SCOPES.index)]), reason=f"report {number} issued")
        return 201, self.answer(issued, code, request)

    @staticmethod
    def number(principal: Principal, uscc: str, request: web.Request, now: dt.datetime) -> str:
        day = now.astimezone(SHANGHAI).strftime("%Y%m%d")
        derived = stable_id("report", f"{principal.kind}:{principal.id}:{uscc}", request)
        tail = derived[-10:].upper() if derived else secrets.token_hex(5).upper()
        return f"CSR-{day}-{tail}"

    @staticmethod
    def answer(issued: IssuedReport, code: str | None, request: web.Request) -> dict:
        base = f"/v1/reports/{issued.number}"
        return {"number": issued.number, "uscc": issued.uscc, "issued_at": issued.listing()["issued_at"],
                "sha256": issued.sha256, "verification_code": code,
                **({} if code else {"note": "its verification code was shown once, when it was issued"}),
                "links": {"json": base, "html": f"{base}/html", "pdf": f"{base}/pdf",
                          "verify": f"{base}/verify?code={code or ''}"}}

    # -- reading -----------------------------------------------------------------------------------
    def readable(self, principal: Principal, request: web.Request, audit: dict) -> IssuedReport:
        """The report, for whoever asked for it, the enterprise it is about, or an operator."""
        number = request.match_info["number"]
        issued = self.view.reports.get(number)
        if issued is not None:
            audit["uscc"] = issued.uscc
            if (principal.kind == "operator" or (principal.kind, principal.id) == (issued.requester_kind,
                                                                                     issued.requester_id)
                    or (principal.kind == "enterprise" and principal.id == issued.uscc)):
                audit.update(scope="REPORT", reason=f"report {number} read")
                return issued
        raise ApiError(404, "not_found", f"no report {number!r} that this key may read", "number")

    async def json(self, principal: Principal, request: web.Request, audit: dict) -> web.Response:
        issued = self.readable(principal, request, audit)
        return web.Response(text=issued.content, content_type="application/json", charset="utf-8",
                            headers={"X-Content-SHA256": issued.sha256})

    async def html(self, principal: Principal, request: web.Request, audit: dict) -> web.Response:
        issued = self.readable(principal, request, audit)
        return web.Response(text=render_html(issued, self.code_of(issued), self.verify_url(issued)),
                            content_type="text/html", headers=PAGE_HEADERS)

    async def pdf(self, principal: Principal, request: web.Request, audit: dict) -> web.Response:
        issued = self.readable(principal, request, audit)
        data = self.pdfs.get(issued.number)
        if data is None:
            data = await self.print_pdf(render_html(issued, self.code_of(issued), self.verify_url(issued)))
            self.pdfs[issued.number] = data
            while len(self.pdfs) > PDF_CACHE:
                self.pdfs.popitem(last=False)
        return web.Response(body=data, content_type="application/pdf", headers={
            "Content-Disposition": f'inline; filename="{issued.number}.pdf"'})

    @staticmethod
    def verify_url(issued: IssuedReport) -> str:
        return f"/v1/reports/{issued.number}/verify"

    def code_of(self, issued: IssuedReport) -> str | None:
        """The code, when it can be derived again (and matches the stored hash)."""
        if not self.config.personal_data_key:
            return None
        for version in (2, 1):  # reports issued before the per-purpose keys: the secret's own
            code = derived_code(purpose_key(self.config.personal_data_key, REPORT_CODE, version), issued.number)
            if hmac.compare_digest(code_hash(code), issued.code_sha256):
                return code
        return None

    async def print_pdf(self, html: str) -> bytes:
        """The page printed to A4 by headless Chromium (Debian's package; ``chromium`` setting)."""
        async with self.pdf_lock:
            with tempfile.TemporaryDirectory(prefix="creditstream-report-") as workdir:
                page, out = Path(workdir) / "report.html", Path(workdir) / "report.pdf"
                page.write_text(html, encoding="utf-8")
                command = [self.config.chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           "--disable-dev-shm-usage", f"--user-data-dir={workdir}/profile", "--no-pdf-header-footer",
                           f"--print-to-pdf={out}", page.as_uri()]
                try:
                    process = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.DEVNULL,
                                                                   stderr=asyncio.subprocess.PIPE)
                except FileNotFoundError:
                    raise ApiError(503, "unavailable", f"PDF printing needs Chromium ({self.config.chromium!r} was not "
                                                      "found: apt install chromium); the HTML page is available") from None
                try:
                    _out, err = await asyncio.wait_for(process.communicate(), 120)
                except asyncio.TimeoutError:
                    process.kill()
                    raise ApiError(503, "unavailable", "printing the PDF took over 120 s; try again") from None
                if process.returncode != 0 or not out.exists():
                    log.warning("chromium could not print a report (exit %s): %s", process.returncode,
                                err.decode(errors="replace")[-500:])
                    raise ApiError(503, "unavailable", "the PDF could not be printed; the HTML page is available")
                return out.read_bytes()

    # -- verification without a key ------------------------------------------------------------------
    async def verify(self, request: web.Request) -> web.Response:
        """GET /v1/reports/{number}/verify?code=: genuine or not; for a genuine report the USCC, the
        issue time and the SHA-256 of its JSON content. A wrong code and an unknown number get the
        same answer, so numbers cannot be probed."""
        number, code = request.match_info["number"], request.query.get("code", "")
        if len(code) > 64:
            return json_answer({"error": "bad_request", "reason": "a verification code has 12 characters",
                                      "field": "code"}, status=400)
        issued = self.view.reports.get(number)
        genuine = issued is not None and bool(code) and hmac.compare_digest(code_hash(code), issued.code_sha256)
        metrics.REPORT_VERIFICATIONS.labels("genuine" if genuine else "not_genuine").inc()
        if not genuine:
            return json_answer({"genuine": False, "number": number[:64],
                                      "reason": "no report with this number and verification code"})
        return json_answer({"genuine": True, "number": number, "uscc": issued.uscc,
                                  "issued_at": issued.listing()["issued_at"], "sha256": issued.sha256})

    async def mine(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        """GET /v1/me/reports: every report issued about the enterprise, and who asked."""
        audit.update(uscc=principal.id, scope="SELF")
        return {"uscc": principal.id, "items": self.listing(principal.id)}

    async def issued_by_me(self, principal: Principal, request: web.Request, audit: dict) -> dict:
        """GET /v1/reports: the reports this principal asked for, newest first."""
        mine = [r for r in self.view.reports.values() if (r.requester_kind, r.requester_id) == (principal.kind,
                                                                                               principal.id)]
        return {"items": [{**r.listing(), "uscc": r.uscc} for r in sorted(mine, key=lambda r: r.issued_at,
                                                                          reverse=True)][:200]}

    def listing(self, uscc: str) -> list[dict]:
        return [self.view.reports[n].listing() for n in self.view.reports_of.get(uscc, [])]
