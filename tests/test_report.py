"""The report's content without Kafka (schemas.report): sections by consent, penalties in
publicity only, disputed items marked, a canonical JSON whose hash does not depend on key order;
and the page rendered from it (api.reports) escapes what providers wrote."""
import datetime as dt

from creditstream.api.reports import code_hash, render_html, report_code
from creditstream.schemas import report
from creditstream.schemas.models import IssuedReport

UTC = dt.timezone.utc
USCC = "91350100M000100Y43"


def record(name, **fields):
    return {"record": name, "occurred_at": "2025-01-01T00:00:00.000Z", "event_id": f"e-{name}-{len(fields)}",
            "provider_id": "heihe-market", **fields}


RECORDS = [
    record("AdminLicence", decision_no="L1", licence_name="<b>食品经营许可</b>", licence_no=None, licence_type="普通",
           valid_from="2024-01-01", valid_until=None, status="VALID", authority_name="局", legal_rep_name="张三",
           legal_rep_id_no="2311**********1234", enterprise_name="黑河市测试有限公司"),
    record("AdminLicence", decision_no="L2", licence_name="旧证", licence_no=None, licence_type="普通",
           valid_from="2020-01-01", valid_until="2023-01-01", status="VALID", authority_name="局"),
    record("AdminPenalty", decision_no="P1", decision_name="决定", violation_type="环境", penalty_content="罚款",
           penalty_types=["FINE"], fine_amount="1000.00", severity="GENERAL", decided_on="2025-03-01",
           publicity_until=None, revoked=False, authority_name="局"),
    record("AdminPenalty", decision_no="P2", decision_name="决定", violation_type="环境", penalty_content="罚款",
           penalty_types=["FINE"], fine_amount="1000.00", severity="GENERAL", decided_on="2025-01-05",
           publicity_until=None, revoked=False, authority_name="局"),
    record("CreditRepair", decision_no="P2", outcome="APPROVED", decided_at="2025-05-01T02:00:00.000Z", note="已整改"),
]
ROW = {"uscc": USCC, "as_of_month": "2025-06", "as_of_date": "2025-06-30", "tax_rating_grade": "B",
       "tax_rating_year": 2024, "high_tech_enterprise": False, "key_lab": False, "eval_grade": "A", "eval_score": 75,
       "vat_paid_12m": "1200.00", "water_months_12m": 3}


def build(allowed=frozenset(), disputes=()):
    return report.build(report.ReportInput("CSR-20250701-ABCDEF1234", dt.datetime(2025, 7, 1, tzinfo=UTC), USCC,
                                           "lender", "bank-1", ROW, RECORDS, list(disputes), frozenset(allowed),
                                           dt.date(2025, 6, 30)))


def by_id(content):
    return {s["id"]: s for s in content["sections"]}


def test_sections_follow_the_consent_and_withheld_ones_carry_nothing():
    public = by_id(build())
    assert [s for s, v in public.items() if v["shown"]] == ["red_lines", "licences", "penalties", "enforcement",
                                                           "honours", "environment", "courts", "customs_credit",
                                                           "intellectual_property", "public_resources"]
    assert "facts" not in public["tax"] and "items" not in public["evaluation"]
    assert public["tax"]["withheld"].endswith("(TAX)") and public["evaluation"]["withheld"].endswith("(UTILITY and TAX)")
    only_tax = by_id(build({"TAX"}))
    assert only_tax["tax"]["facts"]["vat_paid_12m"] == "1200.00" and not only_tax["evaluation"]["shown"]
    both = by_id(build({"TAX", "UTILITY"}))
    assert both["evaluation"]["facts"]["eval_score"] == 75 and both["utility"]["facts"] == {"water_months_12m": 3}


def test_only_licences_in_force_and_penalties_in_publicity_are_listed_and_a_grade_b_is_no_honour():
    sections = by_id(build())
    assert [i["decision_no"] for i in sections["licences"]["items"]] == ["L1"]
    assert [i["decision_no"] for i in sections["penalties"]["items"]] == ["P1"]  # P2 was repaired
    assert sections["honours"]["items"] == []
    assert build()["subject"]["legal_representative"] == {"name": "张三", "id_no_masked": "2311**********1234"}


def test_a_disputed_record_is_marked_where_it_is_listed_and_in_the_list_of_disputes():
    dispute = {"dispute_id": "d-1", "record": "AdminLicence", "key": {"decision_no": "L1"},
               "filed_at": "2025-06-01T00:00:00Z", "topic": "credit.admin.licence.v1"}
    water = {**dispute, "dispute_id": "d-2", "record": "WaterStatement",
             "key": {"account_no": "W1", "billing_month": "2025-05"}}
    content = build({"UTILITY"}, [dispute, water])
    sections = by_id(content)
    assert sections["licences"]["items"][0]["disputed"]["dispute_id"] == "d-1"
    assert sections["utility"]["disputes_open"] == ["d-2"]
    assert content["summary"]["disputes_open"] == 2


def test_the_content_hash_is_over_canonical_json():
    content = build()
    reordered = dict(reversed(list(content.items())))
    assert report.content_sha256(content) == report.content_sha256(reordered)
    assert report.content_sha256(content) != report.content_sha256({**content, "number": "CSR-other"})


def test_the_page_escapes_provider_text_and_carries_the_code():
    content = build()
    body = report.content_bytes(content)
    code = report_code(b"k" * 32, content["number"])
    issued = IssuedReport(content["number"], USCC, "lender", "bank-1", dt.datetime(2025, 7, 1, tzinfo=UTC),
                          report.content_sha256(content), code_hash(code), body.decode())
    page = render_html(issued, code, f"/v1/reports/{issued.number}/verify")
    assert "<b>食品经营许可</b>" not in page and "&lt;b&gt;食品经营许可&lt;/b&gt;" in page
    assert f"?code={code}" in page and issued.sha256 in page
    for zh, _en in report.HEADINGS.values():
        assert zh in page
    assert code == report_code(b"k" * 32, content["number"]) != report_code(b"j" * 32, content["number"])


def test_the_printed_figures_run_3_6_12_months_and_read_as_labels():
    from creditstream.api.reports import LABELS, in_row_order
    facts = {"water_months_12m": 1, "water_months_3m": 3, "water_months_6m": 2, "vat_paid_12m": "1.00"}
    assert [name for name, _ in in_row_order(facts)] == ["water_months_3m", "water_months_6m", "water_months_12m",
                                                         "vat_paid_12m"]
    assert LABELS["vat_paid_12m"] == "近12个月增值税实缴税额（元）"


def test_the_printed_page_reads_labels_and_shows_a_dispute_column_only_where_one_is_open():
    from creditstream.api.reports import render_html
    from creditstream.schemas.models import IssuedReport

    def page(disputes=()):
        document = build({"TAX", "UTILITY"}, disputes)
        issued = IssuedReport(document["number"], USCC, "lender", "bank-1", dt.datetime(2025, 7, 1, tzinfo=UTC),
                              report.content_sha256(document), "", report.content_bytes(document).decode())
        return render_html(issued, None, "/v1/reports/x/verify")
    plain = page()
    assert "近12个月增值税实缴税额（元）" in plain and "1,200.00 元" in plain and "vat_paid_12m" not in plain
    assert "异议中 disputed" not in plain and "<th>异议</th>" not in plain
    disputed = page([{"dispute_id": "d-1", "record": "AdminLicence", "key": {"decision_no": "L1"},
                      "filed_at": "2025-06-01T00:00:00Z", "topic": "credit.admin.licence.v1"}])
    assert disputed.count("<th>异议</th>") == 1 and "异议中 disputed" in disputed


def test_each_record_kind_has_its_own_table_and_a_wide_kind_a_block_per_record():
    from creditstream.api.reports import BLOCK_OVER, record_tables
    items = [{"record": "TaxCreditRating", "rating_year": 2024, "grade": "B", "status": None},
             {"record": "TaxArrears", "as_of": "2025-06-30", "in_arrears": False, "amount": "0.00"},
             {"record": "TaxCreditRating", "rating_year": 2023, "grade": "A", "status": None}]
    tables = record_tables("tax", items)
    assert [(t["record"], len(t["items"])) for t in tables] == [("TaxCreditRating", 2), ("TaxArrears", 1)]
    assert tables[0]["title"] == "纳税信用等级 Tax credit rating" and tables[0]["columns"] == ["rating_year", "grade"]
    assert "status" not in tables[0]["columns"] and "record" not in tables[1]["columns"]  # no always-empty column
    wide = {"record": "RealEstateRight", **{f"f{i}": str(i) for i in range(BLOCK_OVER + 3)}}
    (block,) = record_tables("real_estate", [wide])
    assert block["blocks"] and block["title"] == ""  # one kind: the section's heading names it

    document = build({"TAX", "UTILITY"})
    document["sections"] = [{**s, "items": items} if s["id"] == "tax" else s for s in document["sections"]]
    issued = IssuedReport(document["number"], USCC, "lender", "bank-1", dt.datetime(2025, 7, 1, tzinfo=UTC),
                          report.content_sha256(document), "", report.content_bytes(document).decode())
    page = render_html(issued, None, "/v1/reports/x/verify")
    assert "<h3>纳税信用等级 Tax credit rating</h3>" in page and "<h3>欠税信息 Tax arrears</h3>" in page
