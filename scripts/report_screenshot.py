"""Render a sample standardised credit report (the enterprise's own: every section) the way the
API does, and have headless Chromium take a screenshot and print it to A4, so a person can look
at it: docs/report-screenshot.png and /tmp/creditstream-sample-report.pdf.

    .venv/bin/python scripts/report_screenshot.py [--out docs/report-screenshot.png]
"""
import argparse
import datetime as dt
import subprocess
import tempfile
from pathlib import Path

from creditstream.api.reports import code_hash, render_html, report_code
from creditstream.schemas import report
from creditstream.schemas.models import IssuedReport

UTC = dt.timezone.utc
USCC = "91350100M000100Y43"
AUTHORITY = {"authority_name": "黑河市市场监督管理局", "legal_rep_name": "张三", "legal_rep_id_no": "2311**********1234",
             "enterprise_name": "黑河市北疆农产品加工有限公司"}


def rec(name, occurred="2025-03-02T08:00:00.000Z", provider="heihe-market", **fields):
    return {"record": name, "occurred_at": occurred, "event_id": f"e-{name}-{len(fields)}", "provider_id": provider,
            **fields}


RECORDS = [
    rec("AdminLicence", decision_no="黑市监许〔2024〕118号", licence_name="食品生产许可证", licence_no="SC10623110000118",
        licence_type="普通", valid_from="2024-01-15", valid_until="2029-01-14", status="VALID", **AUTHORITY),
    rec("AdminLicence", decision_no="黑环许〔2023〕42号", licence_name="排污许可证", licence_no="91231100MA1C0001X001V",
        licence_type="普通", valid_from="2023-06-01", valid_until="2028-05-31", status="VALID",
        **{**AUTHORITY, "authority_name": "黑河市生态环境局"}),
    rec("AdminPenalty", decision_no="黑环罚〔2025〕7号", decision_name="行政处罚决定书", violation_type="环境",
        penalty_content="罚款人民币贰万元", penalty_types=["FINE"], fine_amount="20000.00", severity="GENERAL",
        decided_on="2025-03-01", publicity_until=None, revoked=False, **{**AUTHORITY, "authority_name": "黑河市生态环境局"}),
    rec("AdminEnforcement", decision_no="黑税强〔2025〕3号", decision_name="查封决定", reason="逾期未缴税款", method="查封",
        executed_on="2025-02-10", **{**AUTHORITY, "authority_name": "国家税务总局黑河市税务局"}),
    rec("EnvCreditRating", provider="heihe-env", period="2024-H2", grade="BLUE", score="86.5", rated_on="2025-02-20"),
    rec("RdRecognition", provider="heihe-science", kind="HIGH_TECH_ENTERPRISE", reference_no="GR202423000118",
        year=2024, valid_until="2027-12-31", revoked=False),
    rec("TaxCreditRating", provider="heihe-tax", rating_year=2024, grade="A"),
    rec("RealEstateRight", provider="heihe-land", certificate_no="黑(2021)黑河市不动产权第0001234号", unit_no="U1",
        use="工业", location="黑河市爱辉区工业园区8号", area_m2="3200.00", registered_on="2021-05-10", status="ACTIVE"),
]
ROW = {"uscc": USCC, "as_of_month": "2025-06", "as_of_date": "2025-06-30",
       "water_months_12m": 12, "water_avg_usage_12m": "418.250", "water_avg_amount_12m": "1673.00",
       "water_in_arrears": False, "electricity_months_12m": 12, "electricity_avg_amount_12m": "23816.40",
       "electricity_in_arrears": False, "vat_paid_12m": "486300.00", "cit_paid_12m": "120450.00",
       "tax_rating_grade": "A", "tax_rating_year": 2024, "tax_normal_streak_months": 18, "tax_in_arrears": False,
       "taxpayer_abnormal": False, "real_estate_rights_active": 1, "real_estate_area_m2": "3200.00",
       "mortgages_active": 0, "high_tech_enterprise": True, "science_projects_3y": 1, "key_lab": False,
       "agri_operator_category": "农业产业化龙头企业", "rural_land_rights_active": 0, "rural_land_area_mu": "0.00",
       "housing_rights_active": 0, "eval_model": "cs-eval-1", "eval_score": 83, "eval_grade": "AA",
       "eval_points": {"T1": 20, "T2": 10, "T3": 5, "T4": 10, "U1": 15, "U2": 10, "P1": 4, "P2": 6, "C1": 5, "C2": 3,
                       "C3": 0}, "whitelisted": False, "env_grade": "BLUE", "env_score": "86.5",
       "env_rated_on": "2025-02-20"}
DISPUTES = [{"dispute_id": "d-5f2c9e1a", "record": "AdminPenalty", "key": {"decision_no": "黑环罚〔2025〕7号"},
             "filed_at": "2025-06-12T02:30:00.000Z", "topic": "credit.admin.penalty.v1"}]


def sample() -> tuple[IssuedReport, str]:
    number = "CSR-20250701-3F9A0C21B7"
    content = report.build(report.ReportInput(
        number, dt.datetime(2025, 7, 1, 1, 15, tzinfo=UTC), USCC, "enterprise", USCC, ROW, RECORDS, DISPUTES,
        frozenset({"UTILITY", "TAX", "REAL_ESTATE", "RD", "AGRI"}), dt.date(2025, 6, 30)))
    code = report_code(b"sample key for the screenshot....", number)
    body = report.content_bytes(content)
    return IssuedReport(number, USCC, "enterprise", USCC, dt.datetime(2025, 7, 1, 1, 15, tzinfo=UTC),
                        report.content_sha256(content), code_hash(code), body.decode()), code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/report-screenshot.png")
    parser.add_argument("--chromium", default="chromium")
    args = parser.parse_args()
    issued, code = sample()
    with tempfile.TemporaryDirectory() as workdir:
        page = Path(workdir) / "report.html"
        page.write_text(render_html(issued, code, f"/v1/reports/{issued.number}/verify"), encoding="utf-8")
        common = [args.chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                  f"--user-data-dir={workdir}/profile"]
        subprocess.run([*common, "--window-size=900,1400", f"--screenshot={Path(args.out).resolve()}", page.as_uri()],
                       check=True, capture_output=True)
        subprocess.run([*common, "--no-pdf-header-footer", "--print-to-pdf=/tmp/creditstream-sample-report.pdf",
                        page.as_uri()], check=True, capture_output=True)
    print(f"wrote {args.out} and /tmp/creditstream-sample-report.pdf")


if __name__ == "__main__":
    main()
