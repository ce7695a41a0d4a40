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
