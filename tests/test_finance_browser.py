"""The loan loop in a real browser (headless Chromium) against the real stack: an enterprise sees a
matching product, is shown the consent before it confirms its application; the loan officer
accepts, approves and disburses it from the inbox and reports the month; the operator's centre
lists the loan, and the statistics page draws its charts (SVG with a title) and, for everyone who
is not an operator, suppresses small figures. The pages fit a phone's width."""
import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from creditstream import apikeys
from creditstream.schemas.months import SHANGHAI
from creditstream.schemas.topics import TOPIC_OF
from tests.support import builders
from tests.support.browser import Person
from tests.support.kafka import wait_for
from tests.support.stream import CODEC, produce_all

FIRM = builders._valid_uscc("91230100MAFXB0010")
pytestmark = pytest.mark.kafka


def row_grade(http, key) -> str:
    return http.get(f"/v1/enterprises/{FIRM}/aggregates", key)[1]["eval_grade"]


def test_the_loan_loop_in_a_browser(platform):
    import datetime as dt
    settings, _sink, http, _client, _worker = platform
    produce_all([(TOPIC_OF[record], FIRM.encode(), CODEC.encode(record, value))
                 for record, value in builders.about(FIRM, *builders.good_standing())])
    bank = f"bank-web-{time.time_ns()}"
    firm = apikeys.issue(settings.kafka, "enterprise", FIRM)[1]
    officer = apikeys.issue(settings.kafka, "lender", bank, "黑河农商银行")[1]
    operator = apikeys.issue(settings.kafka, "operator", "op-fin", "平台值班员")[1]
    wait_for(lambda: all(http.get("/v1/whoami", key)[0] == 200 for key in (firm, officer, operator)), 30, "the keys")
    wait_for(lambda: http.get(f"/v1/enterprises/{FIRM}/aggregates", firm)[1].get("whitelisted") is True, 120,
             "the firm on the whitelist")
    status, product = http.send("POST", "/v1/products", officer, {
        "name": "网页信用贷", "kind": "CREDIT", "amount_min": "100000.00", "amount_max": "2000000.00",
        "term_min_months": 6, "term_max_months": 24, "rate_min": "3.80", "rate_max": "4.80",
        "repayment": "INTEREST_FIRST", "scopes": ["TAX", "UTILITY"], "min_grade": "A", "whitelist_only": True,
        "collateral": "NONE"})
    assert status == 201, product
    base = http.base
    owner, loan, staff = Person(base), Person(base), Person(base)
    try:
        # the enterprise applies; the consent is shown before it confirms
        owner.sign_in(firm)
        owner.open("/portal/me/finance")
        card = next(a for a in owner.driver.find_elements(By.CSS_SELECTOR, "article.case") if "网页信用贷" in a.text)
        card.find_element(By.CSS_SELECTOR, "input[name=amount]").clear()
        card.find_element(By.CSS_SELECTOR, "input[name=amount]").send_keys("500000.00")
        card.find_element(By.CSS_SELECTOR, "input[name=purpose]").send_keys("采购大豆")
        owner.submit(card.find_element(By.CSS_SELECTOR, "button[type=submit]"))
        page = owner.text()
        assert "确认贷款申请" in page and bank in page and "纳税" in page and "30日到期" in page
        owner.screenshot("enterprise-apply-confirm")
        owner.submit("form[action='/portal/me/finance/apply'] button[type=submit]")
        assert "申请已提交" in owner.text() and "已提交" in owner.text()
        assert "TAX" in str(http.get("/v1/me/consents", firm)[1])  # the application's consent, published

        # the loan officer accepts, approves and disburses it from the inbox
        loan.sign_in(officer)
        loan.wait_for_text("/portal/inbox", FIRM)
        loan.screenshot("officer-inbox")
        loan.submit("form[action$='/accept'] button")
        assert "已受理" in loan.text()
        loan.fill("input[name=annual_rate]", "4.20")
        loan.submit("form[action$='/approve'] button")
        assert "已授信" in loan.text()
        loan.fill("input[name=loan_no]", "WEB-001")
        maturity = loan.driver.find_element(By.CSS_SELECTOR, "input[name=maturity_on]")
        loan.driver.execute_script("arguments[0].value = '2030-01-01'", maturity)  # a date field types by locale
        loan.submit("form[action$='/disburse'] button")
        page = loan.text()
        assert "已完成" in page and "WEB-001" in page and "首贷" in page
        month = dt.datetime.now(SHANGHAI).strftime("%Y-%m")
        row = next(r for r in loan.driver.find_elements(By.CSS_SELECTOR, "tr") if "WEB-001" in r.text)
        row.find_element(By.CSS_SELECTOR, "input[name=month]").clear()
        row.find_element(By.CSS_SELECTOR, "input[name=month]").send_keys(month)
        Select(row.find_element(By.CSS_SELECTOR, "select[name=status]")).select_by_value("NORMAL")
        loan.submit(row.find_element(By.CSS_SELECTOR, "button[type=submit]"))
        assert "已完成" in loan.text()
        assert "正常" in owner.wait_for_text("/portal/me/finance", "WEB-001")
        owner.screenshot("enterprise-finance")

        # the operator's centre and the statistics with their charts
        staff.sign_in(operator)
        staff.open(f"/portal/centre?month={month}")
        page = staff.text()
        assert "首贷续贷服务中心" in page and "WEB-001" in page  # whitelisted, NORMAL, 4.20 % ≤ 4.50 %: subsidised
        staff.screenshot("operator-centre")
        page = staff.wait_for_text("/portal/statistics", month)
        charts = staff.driver.find_elements(By.CSS_SELECTOR, "svg[role=img]")
        assert len(charts) == 2 and all(c.find_element(By.TAG_NAME, "title").get_attribute("textContent")
                                        for c in charts)
        assert "完整数据" in page
        staff.screenshot("statistics")
        owner.open("/portal/statistics")
        assert "公开数据" in owner.text() and "<3" in owner.text()
        # the whitelist in figures: the firm joined this month; the charts say what the API says
        figures = http.get("/v1/whitelist/summary", operator)[1]
        now = figures["months"][-1]
        assert now["month"] == month and now["joined"] >= 1 and figures["by_grade"][row_grade(http, firm)] >= 1
        staff.open("/portal/whitelist")
        charts = staff.charts()
        assert f"{month[2:]}: 月末在册 {now['members']} 家, 纳入 {now['joined']} 家" in charts[
            "近12个月白名单：月末企业数、纳入与移出"]
        assert f"{row_grade(http, firm)}: 企业数 {figures['by_grade'][row_grade(http, firm)]} 家" in charts[
            "白名单企业按当前信用等级"]
        staff.screenshot("operator-whitelist")

        # a phone's width: no page of any role scrolls sideways
        for person, paths in ((owner, ("/portal/me/finance", "/portal/statistics")),
                              (loan, ("/portal/inbox", "/portal/statistics")),
                              (staff, (f"/portal/centre?month={month}", "/portal/statistics"))):
            person.driver.set_window_size(390, 844)
            for path in paths:
                person.open(path)
                assert person.fits(390), path
        owner.open("/portal/me/finance")
        owner.screenshot("enterprise-finance-phone")
        # axe-core found no serious or critical violation on any page any of them saw
        assert [person.inaccessible for person in (owner, loan, staff)] == [{}, {}, {}]
    finally:
        for person in (owner, loan, staff):
            person.quit()
