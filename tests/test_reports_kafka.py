"""Standardised credit reports end to end, through the real broker, worker, sink and API: what a
lender sees without consent and what the enterprise sees; repaired and expired penalties left
out, a disputed record marked; the PDF printed by Chromium carries the subject, the number and
every heading; verification without a key tells genuine reports from everything else."""
import hashlib
import json
import subprocess
import urllib.request

from creditstream import apikeys
from creditstream.schemas.report import HEADINGS, SECTIONS
from creditstream.schemas.topics import TOPIC_OF
from tests.support import builders
from tests.support.kafka import scrape_metrics, wait_for
from tests.support.stream import CODEC, produce_all

E1 = "91350100MA0RPT0016"  # its own: the session's other tests share the topics and ClickHouse
NAME = "黑河市测试有限公司"


def send(*facts):
    produce_all([(TOPIC_OF[record], E1.encode(), CODEC.encode(record, value)) for record, value in builders.about(E1, *facts)])


def a_firm_with_a_history():
    return [
        builders.licence("L1", "VALID", "2024-01-01"),
        builders.penalty("P-IN", "2025-03-01"),  # in publicity at R = 2025-06-30
        builders.penalty("P-EXP", "2024-01-10"),  # a year of publicity ended 2025-01-10
        builders.penalty("P-REP", "2025-01-05"),  # repaired on 2025-05-01
        builders.repair("P-REP", "APPROVED", "2025-05-01T02:00:00"),
        builders.enforcement("E1", "2025-02-01"),
        builders.env("2024-H2", "GREEN", "95.0", "2025-03-01"),
        builders.rd("HIGH_TECH_ENTERPRISE", "GR2024001", 2024, "2027-12-31"),
        builders.rating(2024, "A", "2025-04-01T00:00:00"),
        builders.statement("water", "W1", "2025-05", "10.000", "40.00", occurred="2025-05-25T00:00:00"),
        builders.statement("water", "W1", "2025-06", "12.000", "48.00", occurred="2025-06-25T00:00:00"),
    ]


def raw(http, path, key=None):
    request = urllib.request.Request(http.base + path, headers={"Authorization": f"Bearer {key}"} if key else {})
    with urllib.request.urlopen(request, timeout=180) as response:
        return response.status, response.headers, response.read()


def section(report, section_id):
    return next(s for s in report["sections"] if s["id"] == section_id)


def test_reports_for_a_lender_and_for_the_enterprise(platform, tmp_path):
    settings, _sink, http, client, _worker = platform
    bank = apikeys.issue(settings.kafka, "lender", "bank-1")[1]
    other_bank = apikeys.issue(settings.kafka, "lender", "bank-2")[1]
    firm = apikeys.issue(settings.kafka, "enterprise", E1)[1]
    send(*a_firm_with_a_history())
    wait_for(lambda: len(http.get("/v1/me", firm)[1].get("records", [])) >= 9, 120, "the firm's records in ClickHouse")
    status, filed = http.send("POST", "/v1/me/disputes", firm, {
        "topic": "credit.admin.licence.v1", "key": {"decision_no": "L1"}, "statement": "许可证已延续，状态有误。"})
    assert status == 201, filed
    assert http.send("POST", "/v1/enterprises/91350100M000100Y4X/reports", bank)[0] == 400
    assert http.send("POST", f"/v1/enterprises/{builders.AUTHORITY_USCC}/reports", bank)[0] == 404  # nothing held

    # a lender without consent: the public sections, nothing else
    issued_before = scrape_metrics(settings.api_metrics_port).get('creditstream_reports_issued_total{requester="lender"}', 0.0)
    status, issued = http.send("POST", f"/v1/enterprises/{E1}/reports", bank)
    assert status == 201, issued
    number, code = issued["number"], issued["verification_code"]
    status, report, _ = http.get(f"/v1/reports/{number}", bank)
    assert status == 200 and report["number"] == number
    assert report["subject"] == {"enterprise_name": NAME, "uscc": E1, "legal_representative": {
        "name": "张三", "id_no_masked": report["subject"]["legal_representative"]["id_no_masked"]}}
    masked = report["subject"]["legal_representative"]["id_no_masked"]
    assert "*" in masked and builders.LEGAL_REP_ID not in json.dumps(report)
    shown = {s["id"]: s["shown"] for s in report["sections"]}
    assert shown == {"red_lines": True, "licences": True, "penalties": True, "enforcement": True, "honours": True,
                     "environment": True, "courts": True, "customs_credit": True, "intellectual_property": True,
                     "public_resources": True, "utility": False, "tax": False, "real_estate": False, "rd": False,
                     "agri": False, "social": False, "trade": False, "evaluation": False}
    assert [p["decision_no"] for p in section(report, "penalties")["items"]] == ["P-IN"]  # repaired, expired: absent
    licence = section(report, "licences")["items"]
    assert [item["decision_no"] for item in licence] == ["L1"] and licence[0]["disputed"]["dispute_id"] == filed[
        "dispute_id"]
    assert [d["dispute_id"] for d in report["disputes_open"]] == [filed["dispute_id"]]
    honours = [h["honour"] for h in section(report, "honours")["items"]]
    assert any("A级" in h for h in honours) and any("高新技术企业" in h for h in honours)
    assert report["summary"]["penalties_in_publicity"] == 1 and report["summary"]["enforcements_12m"] == 1
    assert "98.0" not in json.dumps(section(report, "tax"))  # withheld sections carry no figures
    assert "facts" not in section(report, "utility") and "eval_score" not in json.dumps(report)

    # its verification, without a key
    verified = http.get(f"/v1/reports/{number}/verify?code={code}")[1]
    _, headers, body = raw(http, f"/v1/reports/{number}", bank)
    assert verified == {"genuine": True, "number": number, "uscc": E1, "issued_at": issued["issued_at"],
                        "sha256": hashlib.sha256(body).hexdigest()}
    assert headers["X-Content-SHA256"] == verified["sha256"] == issued["sha256"]
    assert http.get(f"/v1/reports/{number}/verify?code=WRONGCODE234")[1]["genuine"] is False
    assert http.get(f"/v1/reports/{number}/verify")[1]["genuine"] is False

    # the enterprise's own report: everything
    status, own = http.send("POST", f"/v1/enterprises/{E1}/reports", firm)
    assert status == 201 and own["number"] != number
    mine = http.get(f"/v1/reports/{own['number']}", firm)[1]
    assert all(s["shown"] for s in mine["sections"])
    assert section(mine, "evaluation")["facts"]["eval_grade"] and section(mine, "tax")["facts"]["tax_rating_grade"] == "A"
    assert section(mine, "utility")["facts"]["water_months_3m"] == 2
    # a code belongs to its own report only
    assert http.get(f"/v1/reports/{own['number']}/verify?code={code}")[1]["genuine"] is False
    assert http.get(f"/v1/reports/{own['number']}/verify?code={own['verification_code']}")[1]["genuine"] is True

    # who may read: the requester, the enterprise it is about, operators; nobody else
    assert http.get(f"/v1/reports/{number}", firm)[0] == 200
    assert http.get(f"/v1/reports/{number}", other_bank)[0] == 404
    assert http.get(f"/v1/reports/{own['number']}", bank)[0] == 404
    listed = http.get("/v1/me/reports", firm)[1]["items"]
    assert [(r["number"], r["requester_kind"], r["requester_id"]) for r in listed] == [
        (number, "lender", "bank-1"), (own["number"], "enterprise", E1)]
    assert [r["number"] for r in http.get("/v1/me", firm)[1]["reports"]] == [number, own["number"]]

    # the printable page and the PDF printed from it
    status, headers, page = raw(http, f"/v1/reports/{number}/html", bank)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"] and "script" not in headers[
        "Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["Referrer-Policy"] == "no-referrer"
    assert code in page.decode() and number in page.decode()
    status, headers, pdf = raw(http, f"/v1/reports/{own['number']}/pdf", firm)
    assert status == 200 and headers["Content-Type"] == "application/pdf" and pdf.startswith(b"%PDF")
    (tmp_path / "report.pdf").write_bytes(pdf)
    text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "report.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout
    flat = "".join(text.split())
    for expected in (NAME, E1, own["number"], *(s.title_zh for s in SECTIONS), *(zh for zh, _en in HEADINGS.values())):
        assert "".join(expected.split()) in flat, expected
    # stored in ClickHouse too, for operators
    stored = lambda: client.query(  # noqa: E731
        "SELECT number, requester_kind, sha256 FROM credit_reports FINAL WHERE uscc = {u:String} ORDER BY issued_at",
        parameters={"u": E1}).result_rows
    wait_for(lambda: len(stored()) == 2, 30, "the reports in ClickHouse")
    assert stored() == [(number, "lender", issued["sha256"]), (own["number"], "enterprise", own["sha256"])]
    metrics = scrape_metrics(settings.api_metrics_port)
    assert metrics['creditstream_reports_issued_total{requester="lender"}'] == issued_before + 1  # this process's
    assert metrics['creditstream_report_verifications_total{outcome="genuine"}'] >= 2.0
