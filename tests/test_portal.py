"""The portal's parts that need no browser: every word in both languages, sessions that end,
the claim forms, and the evaluation explained by the model's own table."""
from multidict import MultiDict

from creditstream.api.portal import Sessions, claims_of, explained, missing_translations
from creditstream.api.portal.charts import bar_chart
from creditstream.api.portal.text import TEXT
from creditstream.schemas.cs_eval_1 import INDICATORS, evaluate
from creditstream.schemas.finance import (
    APPLICATION_STATES,
    CLAIM_STATES,
    COLLATERALS,
    LOAN_STATUSES,
    NEED_STATES,
    PRODUCT_KINDS,
    REJECT_REASONS,
    REPAYMENTS,
)
from creditstream.schemas.finance_stats import FIGURE_NAMES
from creditstream.schemas.models import SCOPES
from creditstream.schemas.verification import CLAIMS
from creditstream.streams.aggregates import compute
from creditstream.streams.ledger import Ledger
from tests.support import builders


def test_every_word_the_pages_use_exists_in_both_languages():
    assert missing_translations() == []
    dynamic = [*(f"ind.{i.id}" for i in INDICATORS), *(f"scope.{s}" for s in SCOPES), *(f"claim.{c}" for c in CLAIMS),
               *(f"kind.{k}" for k in ("enterprise", "lender", "operator", "provider")),
               *(f"fin.kind.{k}" for k in PRODUCT_KINDS), *(f"fin.state.{s}" for s in APPLICATION_STATES),
               *(f"fin.reason.{r}" for r in REJECT_REASONS), *(f"fin.status.{s}" for s in LOAN_STATUSES),
               *(f"fin.claim.{s}" for s in CLAIM_STATES), *(f"fin.need.{s}" for s in NEED_STATES),
               *(f"fin.product.{s}" for s in ("ACTIVE", "SUSPENDED", "WITHDRAWN")),
               *(f"fin.repayment.{r}" for r in REPAYMENTS), *(f"fin.collateral.{c}" for c in COLLATERALS),
               *(f"stats.{name}" for name in FIGURE_NAMES)]
    assert [key for key in dynamic if key not in TEXT] == []
    assert all(len(pair) == 2 and all(text.strip() for text in pair) for pair in TEXT.values())


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_sessions_end_when_idle_at_their_maximum_age_and_on_sign_out():
    clock = Clock()
    sessions = Sessions(idle_seconds=60, max_seconds=300, clock=clock)
    session = sessions.create("cs_key.secret", "enterprise", builders.USCC)
    assert sessions.get(session.id) is session and len(session.id) >= 40 and session.csrf != session.id
    assert "secret" not in repr(session)  # the key stays out of logs and tracebacks
    clock.now += 59
    assert sessions.get(session.id) is session  # a request keeps it alive
    clock.now += 61
    assert sessions.get(session.id) is None  # idle too long
    kept = sessions.create("k", "lender", "bank-1")
    for _ in range(6):
        clock.now += 55
        found = sessions.get(kept.id)
    assert found is None  # 330 s after sign-in, however busy
    third = sessions.create("k", "operator", "op-1")
    sessions.drop(third.id)
    assert sessions.get(third.id) is None and sessions.get(None) is None and sessions.get("forged") is None


def test_only_the_ticked_claims_are_sent_with_their_fields():
    form = MultiDict({"use.tax_grade_in": "1", "tax_grade_in.grades": "A, B ,", "use.no_tax_arrears": "1",
                      "real_estate_right.certificate_no": "C-1", "use.vat_paid_12m_at_least": "1",
                      "vat_paid_12m_at_least.amount": " 1000.00 "})
    assert claims_of(form) == [{"type": "vat_paid_12m_at_least", "amount": "1000.00"},
                               {"type": "tax_grade_in", "grades": ["A", "B"]}, {"type": "no_tax_arrears"}]


def test_the_evaluation_is_explained_indicator_by_indicator_and_adds_up_to_the_score():
    ledger = Ledger()
    ledger.apply(*builders.statement("water", "W1", "2025-06", "10", "41.00"))
    ledger.apply(*builders.rating(2024, "B", "2025-01-01T00:00:00"))
    row = compute(builders.USCC, ledger, 2025 * 12 + 5)
    lines = explained(row)
    assert [line["id"] for line in lines] == [i.id for i in INDICATORS]
    assert sum(line["points"] for line in lines) == evaluate(row)["eval_score"] == row["eval_score"]
    t1 = lines[0]
    assert (t1["band"], t1["points"], t1["best"]) == ("B", 15, 20)


def test_every_record_category_has_a_name_in_both_languages():
    from creditstream.api.portal.pages import CATEGORY_NAMES
    from creditstream.schemas.topics import RECORD, REGISTER_CATEGORIES
    categories = set(REGISTER_CATEGORIES) | {r.category for r in RECORD.values() if r.name != "ConsentGrant"} - {
        "utility"}
    assert categories <= set(CATEGORY_NAMES)
    assert all(zh and en for zh, en in CATEGORY_NAMES.values())


def test_a_chart_is_an_svg_image_with_its_values_in_words_and_no_style_attribute():
    svg = str(bar_chart("c1", "放款金额", ["2026-10", "2026-11"], [("放款", ["1000.00", "<3"]), ("首贷", [0, "500.00"])],
                        " 元"))
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"') and 'role="img"' in svg
    assert '<title id="c1-t">放款金额</title>' in svg
    assert "<desc id=\"c1-d\">2026-10: 放款 1000.00 元, 首贷 0 元; 2026-11: 放款 &lt;3, 首贷 500.00 元</desc>" in svg
    assert "style=" not in svg and "<script" not in svg  # the portal's CSP allows neither
    heights = [float(h) for h in __import__("re").findall(r'<rect x="[\d.]+" y="[\d.]+" width="[\d.]+" height="([\d.]+)"', svg)]
    assert heights[:4] == [204.0, 0.0, 0.0, 102.0]  # 1000 is the peak; "<3" and 0 draw nothing; 500 half
    assert svg == str(bar_chart("c1", "放款金额", ["2026-10", "2026-11"], [("放款", ["1000.00", "<3"]),
                                                                          ("首贷", [0, "500.00"])], " 元"))


def test_a_row_is_grouped_in_the_reports_order_with_windows_side_by_side():
    from creditstream.api.portal.pages import stem_text
    from creditstream.api.portal.sections import row_groups
    row = {"uscc": "X", "eval_model": "cs-eval-2", "eval_grade": "A", "whitelisted": True, "licences_valid": 2,
           "water_months_3m": 3, "water_months_6m": 5, "water_months_12m": 11, "water_in_arrears": False,
           "vat_paid_3m": "10.00", "penalty_fines_12m": "5.00",
           "withheld": {"TAX": "consent c1 does not cover TAX", "RD": "no consent"},
           "consented_scopes": ["UTILITY"]}
    groups = {g.id: g for g in row_groups(row, "lender")}
    assert list(groups)[:3] == ["evaluation", "PUBLIC", "UTILITY"]
    assert groups["evaluation"].fields == [("eval_model", "cs-eval-2"), ("eval_grade", "A"), ("whitelisted", True)]
    assert groups["PUBLIC"].fields == [("licences_valid", 2), ("penalty_fines_12m", "5.00")]  # no 3/6-month twin
    assert groups["PUBLIC"].windowed == []
    water = groups["UTILITY"].windowed[0]
    assert (water.stem, water.first, water.values) == ("water_months", "water_months_3m", (3, 5, 11))
    assert groups["UTILITY"].fields == [("water_in_arrears", False)] and groups["UTILITY"].covered
    assert not groups["TAX"].covered and groups["TAX"].note == "consent c1 does not cover TAX"
    assert [g.id for g in row_groups(row, "enterprise") if not g.covered] == []  # one's own row: all of it
    assert stem_text("water_avg_usage_3m", "zh") == "月均用水量（m³）"
    assert stem_text("vat_paid_12m", "en") == "VAT paid (yuan)"


def test_monthly_series_say_how_each_month_was_paid_and_tax_per_quarter():
    import datetime as dt
    from decimal import Decimal

    from creditstream.api.portal.series import head_count, months_back, tax_quarters, utility_months
    today = dt.date(2026, 12, 3)
    assert months_back("2026-02", 3) == ["2025-12", "2026-01", "2026-02"]
    items = [{"billing_month": "2026-10", "amount_due": "40.00", "amount_paid": "40.00", "due_date": "2026-11-15",
              "paid_date": "2026-11-10"},
             {"billing_month": "2026-10", "amount_due": "2.50", "amount_paid": "2.50", "due_date": "2026-11-15",
              "paid_date": "2026-11-12"},
             {"billing_month": "2026-09", "amount_due": "41.00", "amount_paid": "41.00", "due_date": "2026-10-15",
              "paid_date": "2026-10-20"},
             {"billing_month": "2026-08", "amount_due": "39.00", "amount_paid": "0.00", "due_date": "2026-09-15",
              "paid_date": None},
             {"billing_month": "2026-07", "amount_due": "38.00", "amount_paid": "38.00", "due_date": "2026-08-15",
              "paid_date": None},
             {"billing_month": "2026-11", "amount_due": "44.00", "amount_paid": "0.00", "due_date": "2026-12-15",
              "paid_date": None},
             {"billing_month": "2024-11", "amount_due": "99.00", "due_date": "2024-12-15", "paid_date": None}]
    series = utility_months(items, "2026-12", today)
    assert len(series.labels) == 24 and series.labels[0] == "2025-01" and series.labels[-1] == "2026-12"
    at = {m: i for i, m in enumerate(series.labels)}
    assert series.values["on_time"][at["2026-10"]] == Decimal("42.50")  # two accounts, both on time
    assert series.values["late"][at["2026-09"]] == Decimal("41.00") and series.values["on_time"][at["2026-09"]] is None
    assert series.values["arrears"][at["2026-08"]] == Decimal("39.00")  # unpaid after its due date
    assert series.values["on_time"][at["2026-07"]] == Decimal("38.00")  # paid in full, no date given
    assert series.values["on_time"][at["2026-11"]] == Decimal("44.00")  # not due yet: nothing wrong
    assert all(values[at["2026-12"]] is None for values in series.values.values())  # no bill: no bar
    taxes = tax_quarters({"vat": [{"period_end": "2026-09-30", "amount_paid": "100.00"},
                                  {"period_end": "2026-08-31", "amount_paid": "50.00"}],
                          "cit": [], "other": [{"period_end": "2024-03-31", "amount_paid": "9.00"}]}, today)
    assert taxes.labels == ["2025Q1", "2025Q2", "2025Q3", "2025Q4", "2026Q1", "2026Q2", "2026Q3", "2026Q4"]
    assert taxes.values == {"vat": [None] * 6 + [Decimal("150.00"), None]}  # an empty kind draws nothing
    people = head_count([{"record": "SocialInsuranceStatement", "contribution_month": "2026-11", "employee_count": 12},
                         {"record": "SocialInsuranceStatement", "contribution_month": "2026-11", "employee_count": 3},
                         {"record": "HousingFundStatement", "contribution_month": "2026-11", "employee_count": 99}],
                        "2026-12")
    assert people.values["employees"][-2:] == [15, None]


def test_an_enterprises_charts_are_drawn_only_from_what_is_there():
    import datetime as dt

    from creditstream.api.portal.pages import figure_charts
    today = dt.date(2026, 12, 3)
    water = [{"billing_month": "2026-10", "amount_due": "40.00", "amount_paid": "40.00", "due_date": "2026-11-15",
              "paid_date": "2026-11-10"}]
    charts = figure_charts("zh", {"water": water}, [], today)
    assert [caption for caption, _svg in charts] == ["用水：近24个月账单金额与缴费情况"]
    svg = str(charts[0][1])
    assert "26-10: 按时缴清 40.00 元" in svg and 'style="' not in svg and "<title" in svg
    assert figure_charts("zh", {}, [], today) == []


def test_chart_axes_climb_in_round_steps_and_counts_in_whole_ones():
    import re

    from creditstream.api.portal.charts import bar_chart

    def ticks(values):
        svg = str(bar_chart("t", "t", [str(i) for i in range(len(values))], [("n", values)]))
        return re.findall(r'text-anchor="end" font-size="11" fill="#4d5663">([^<]+)<', svg)
    assert ticks([21, 16, 3]) == ["0", "6", "12", "18", "24"]
    assert ticks([1]) == ["0", "1", "2", "3", "4"]  # one enterprise: no quarter-enterprises
    assert ticks(["10903315.00", "5232390.00"]) == ["0", "300万", "600万", "900万", "1200万"]
