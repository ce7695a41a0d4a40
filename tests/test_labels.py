"""The label table covers everything people read: every field of every schema version, every field
of the aggregate row and every reason code, in both languages; a new field without a label fails
here, not on a page."""
from creditstream.schemas.codec import Codec
from creditstream.schemas.labels import REASON_LABELS, RECORD_FIELDS, ROW_FIELDS, label, zh_labels
from creditstream.schemas.models import AGGREGATE_FIELDS
from creditstream.schemas.rules import PLATFORM_REASONS, REASONS


def test_every_record_field_of_every_schema_version_has_a_label():
    names = {field["name"] for versions in Codec().versions.values() for version in versions
             for field in version.raw["fields"]}
    assert sorted(names - set(RECORD_FIELDS)) == []
    assert sorted(set(RECORD_FIELDS) - names) == []  # nor a label for a field that no longer exists


def test_every_row_field_and_reason_code_has_a_label():
    assert sorted(set(AGGREGATE_FIELDS) - set(ROW_FIELDS)) == []
    assert sorted(set(ROW_FIELDS) - set(AGGREGATE_FIELDS)) == []
    assert set(REASON_LABELS) == set(REASONS) | set(PLATFORM_REASONS)


def test_labels_are_words_in_both_languages_and_distinct_per_row_field():
    for table in (RECORD_FIELDS, ROW_FIELDS, REASON_LABELS):
        for name, found in table.items():
            assert found.zh and found.en and found.zh != name and found.en != name, name
            assert not found.zh.isascii(), name  # Chinese, not the field name again
    chinese = [found.zh for found in ROW_FIELDS.values()]
    assert len(chinese) == len(set(chinese))  # no two row fields read the same
    assert label("vat_paid_12m").zh == "近12个月增值税实缴税额" and zh_labels()["vat_paid_12m"] == "近12个月增值税实缴税额（元）"
    assert label("no_such_field") == ("no_such_field", "no_such_field", "")


def test_values_read_as_people_read_them():
    from creditstream.schemas.labels import display
    assert display("occurred_at", "2026-12-20T07:19:51.439Z") == "2026-12-20 15:19"  # Asia/Shanghai
    assert display("paid_date", "2026-12-20") == "2026-12-20"
    assert display("vat_paid_12m", "1234567.50") == "1,234,567.50 元"
    assert display("vat_paid_12m", "1234567.50", "en") == "1,234,567.50 yuan"
    assert display("water_avg_usage_3m", "12.500") == "12.500 m³"
    assert display("licences_valid", 3) == "3 个"
    assert (display("whitelisted", True), display("whitelisted", False, "en")) == ("是", "no")
    assert (display("env_grade", None), display("env_grade", None, "en")) == ("无数据", "no data")
    assert display("eval_red_lines", ["X1", "X3"]) == "X1、X3" and display("eval_red_lines", []) == "无"
    assert display("tax_rating_grade", "A") == "A"


def test_every_statistic_of_the_loan_loop_has_a_label():
    from creditstream.schemas.finance_stats import FIGURE_NAMES
    from creditstream.schemas.labels import FIGURE_LABELS
    assert list(FIGURE_LABELS) == list(FIGURE_NAMES)


def test_every_code_people_read_is_in_words():
    """Every symbol of every enum of every schema version (grades stay letters) and every state of
    the platform's own workflows has words in both languages."""
    from creditstream.schemas import finance, services
    from creditstream.schemas.labels import CODE_LABELS, display, word
    from creditstream.schemas.models import SCOPES
    from creditstream.schemas.verification import MATCH, NO_DATA, NO_MATCH, REFUSED

    def symbols(node):
        if isinstance(node, dict):
            if node.get("type") == "enum" and node["name"] != "TaxCreditGrade":  # A, B, M, C, D stay letters
                yield from node["symbols"]
            for value in node.values():
                yield from symbols(value)
        elif isinstance(node, list):
            for value in node:
                yield from symbols(value)

    codes = {s for versions in Codec().versions.values() for version in versions for s in symbols(version.raw)}
    codes |= {*services.DISPUTE_STATES, *services.REPAIR_STATES, *finance.APPLICATION_STATES, *finance.LOAN_STATUSES,
              *finance.CLAIM_STATES, *finance.NEED_STATES, *finance.REJECT_REASONS, *SCOPES, MATCH, NO_MATCH, NO_DATA,
              REFUSED, *{s for s in finance.PRODUCT_STATUS.values() if s}}
    assert "GREEN" in codes and "OVERDUE_90_PLUS" in codes and "APPLIED" in codes
    assert sorted(codes - set(CODE_LABELS)) == []
    for code in codes:
        zh, en = CODE_LABELS[code].zh, CODE_LABELS[code].en
        assert zh and en and not zh.isascii(), code  # (English may be the code itself: VAT, IP)
    assert display("status", "VALID") == "有效" and display("status", "VALID", "en") == "Valid"
    assert display("customs_grade", "GENERAL") == "一般信用企业" and display("severity", "GENERAL") == "一般"
    assert display("scopes", ["UTILITY", "TAX"]) == "水电气缴费、纳税"
    assert display("eval_grade", "AA") == "AA" and word("A") == "A" and word(None) == ""


def test_every_record_type_has_a_name():
    from creditstream.schemas.labels import RECORD_LABELS
    from creditstream.schemas.topics import RECORD
    assert sorted(set(RECORD) ^ set(RECORD_LABELS)) == []
    assert all(not found.zh.isascii() and found.en for found in RECORD_LABELS.values())


def test_every_band_in_words_has_a_label():
    from creditstream.schemas.cs_eval_1 import INDICATORS
    from creditstream.schemas.labels import BAND_LABELS, band_text
    worded = {condition for i in INDICATORS for condition, _points in i.bands
              if isinstance(condition, str) and " " in condition and not condition.startswith((">", "<"))}
    assert worded and sorted(worded - set(BAND_LABELS)) == []
    assert band_text("observed, none in arrears") == "有缴费记录，均无欠费" and band_text("GREEN") == "绿牌（环保诚信）"
    assert band_text("1-5") == "1-5"


def test_every_verification_claims_field_has_a_label():
    from creditstream.schemas.labels import label
    from creditstream.schemas.verification import CLAIMS
    names = {name for _scope, fields in CLAIMS.values() for name in fields}
    assert [name for name in sorted(names) if label(name).zh == name] == []
