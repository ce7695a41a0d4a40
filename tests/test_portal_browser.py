"""The portal in a real browser (Debian's headless Chromium, Selenium) against the real stack: an
enterprise grants consent and the loan officer's page then shows the data; the enterprise
disputes a record and the officer sees the marking; an operator rejects a repair and the
enterprise sees it; a form without its CSRF token is refused; one enterprise's session cannot
open another's pages; the pages fit a phone's width, pass axe-core and are usable with the
keyboard alone (tests/support/browser.py checks every page each person opens)."""
import datetime as dt
import re
import urllib.error
import urllib.parse
import urllib.request

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

ENTERPRISE_PAGES = ("/portal/me", "/portal/me/records", "/portal/me/consents", "/portal/me/lookups",
                    "/portal/me/reports", "/portal/me/cases")
OFFICER_PAGES = ("/portal/lookup", "/portal/reports", "/portal/verify", "/portal/whitelist")
OPERATOR_PAGES = ("/portal/queue", "/portal/audit", "/portal/whitelist")
FIRM = "91350100MA0PTL001W"  # the portal test's own enterprises: the session's topics are shared
OTHER = "91350100MA0PTL0020"
EVALUATION_CHART = "近12个月信用评分（每月最后一次评价，颜色为当时等级）"
WATER_MONTHS = "有用水账单的月数"  # water_months_3m/6m/12m as the pages label their line (schemas.labels)
pytestmark = pytest.mark.kafka


def send(uscc, *facts):
    produce_all([(TOPIC_OF[record], uscc.encode(), CODEC.encode(record, value))
                 for record, value in builders.about(uscc, *facts)])


def post_without_token(base: str, path: str, session_cookie: str, fields: dict) -> int:
    request = urllib.request.Request(base + path, data=urllib.parse.urlencode(fields).encode(), method="POST",
                                     headers={"Cookie": f"cs_session={session_cookie}"})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_enterprise_officer_and_operator_in_a_browser(platform):
    from creditstream.schemas.uscc import uscc_check_char
    assert FIRM[-1] == uscc_check_char(FIRM[:17]) and OTHER[-1] == uscc_check_char(OTHER[:17])
    settings, _sink, http, _client, _worker = platform
    base = http.base
    firm = apikeys.issue(settings.kafka, "enterprise", FIRM)[1]
    other = apikeys.issue(settings.kafka, "enterprise", OTHER)[1]
    officer = apikeys.issue(settings.kafka, "lender", "bank-portal", "黑河农村商业银行")[1]
    operator = apikeys.issue(settings.kafka, "operator", "op-portal", "平台值班员")[1]
    send(FIRM, builders.licence("L1", "VALID", "2024-01-01"), builders.penalty("P-IN", "2025-03-01"),
         builders.statement("water", "W1", "2025-05", "10.000", "40.00", occurred="2025-05-25T00:00:00"),
         builders.statement("water", "W1", "2025-06", "12.000", "48.00", occurred="2025-06-25T00:00:00"),
         builders.rating(2024, "A", "2025-04-01T00:00:00"),
         (lambda r, v: (r, {**v, "arrears_amount": builders.Decimal("12.00")}))(
             *builders.statement("water", "W1", "2025-07", "11.000", "44.00", occurred="2025-07-25T00:00:00")),
         builders.payment("VAT", "2025-04-01", "2025-06-30", "3000.00", "3000.00", "2025-07-15", "2025-07-10",
                          occurred="2025-07-10T00:00:00"),
         builders.payment("VAT", "2025-07-01", "2025-09-30", "3200.00", "3200.00", "2025-10-15", "2025-10-12",
                          occurred="2025-10-12T00:00:00"))
    send(OTHER, builders.licence("L9", "VALID", "2024-01-01"))
    wait_for(lambda: len(http.get("/v1/me", firm)[1].get("records", [])) >= 3, 120, "the firm's records")
    wait_for(lambda: all(http.get("/v1/whoami", key)[0] == 200 for key in (firm, other, officer, operator)), 30,
             "the keys")

    owner, loan, staff = Person(base), Person(base), Person(base)
    try:
        # the enterprise signs in (a wrong key first) and sees its evaluation explained
        owner.open("/portal/sign-in")
        owner.fill("#key", "cs_nothing.bad")
        owner.submit("main button[type=submit]")
        assert "密钥无效" in owner.text()
        owner.sign_in(firm)
        assert owner.driver.current_url.endswith("/portal/me")
        page = owner.text()
        assert "信用评价" in page and "T1" in page and "纳税信用等级" in page and "tax_rating_grade" not in page
        assert owner.driver.find_element(By.CSS_SELECTOR, "td.reads[title=tax_rating_grade]")  # the name, for integrators
        assert firm not in owner.driver.page_source  # the key is never on a page
        owner.screenshot("enterprise-profile")

        # before consent the officer sees public information only
        loan.sign_in(officer)
        loan.open(f"/portal/lookup?uscc={FIRM}")
        assert "仅显示公开信息" in loan.text() and WATER_MONTHS not in loan.text()

        # the enterprise grants UTILITY and TAX to the officer's bank
        owner.open("/portal/me/consents")
        Select(owner.driver.find_element(By.ID, "lender_id")).select_by_value("bank-portal")
        for scope in ("UTILITY", "TAX"):
            owner.click(f"input[name=scopes][value={scope}]")
        owner.submit("form[action='/portal/me/consents'] button[type=submit]")
        assert "已完成" in owner.text()
        owner.screenshot("enterprise-consents")
        page = loan.wait_for_text(f"/portal/lookup?uscc={FIRM}", WATER_MONTHS)
        assert "水电气缴费" in page and "纳税" in page and "仅显示公开信息" not in page
        # fields read as labels with units; their names only in tooltips (for people who integrate the API)
        assert "增值税实缴税额（元）" in page and "water_months_3m" not in page and "vat_paid_12m" not in page
        # grouped in the report's order, each group saying whether the consent covers it and since when
        groups = [h.text for h in loan.driver.find_elements(By.CSS_SELECTOR, "section.group h2")]
        assert groups[:4] == ["信用评价与白名单", "公开信用信息", "水电气缴费", "纳税"], groups
        assert "已获企业授权：自 " in page and "未获该企业对本机构的此项授权" in page  # UTILITY/TAX covered; the rest withheld
        # 3 / 6 / 12 months side by side, the name of each figure in a tooltip
        assert [th.text for th in loan.driver.find_elements(By.CSS_SELECTOR, "table.windows thead th")][1:4] == [
            "近3个月", "近6个月", "近12个月"]
        assert loan.driver.find_element(By.CSS_SELECTOR, "th[title^=water_months_3m]").text == "有用水账单的月数（月）"
        # charts drawn from the histories the consent covers, every value in the description
        charts = loan.charts()
        assert "25-07: 欠费 44.00 元" in charts["用水：近24个月账单金额与缴费情况"]
        assert "2025Q3: 增值税 3200.00 元" in charts["近8个季度实缴税款"]
        # the evaluation over time (ClickHouse's history of the rows), shown under UTILITY and TAX like the score
        row = http.get(f"/v1/enterprises/{FIRM}/aggregates", firm)[1]
        this_month = f"{dt.datetime.now(SHANGHAI):%y-%m}: 等级 {row['eval_grade']} {row['eval_score']} 分"
        loan.wait_for_chart(f"/portal/lookup?uscc={FIRM}", EVALUATION_CHART, this_month)
        assert this_month in owner.wait_for_chart("/portal/me", EVALUATION_CHART, this_month)

        # the enterprise disputes its licence; the officer sees the marking
        owner.open("/portal/me/records")
        licence = next(a for a in owner.driver.find_elements(By.CSS_SELECTOR, "article.record") if "L1" in a.text)
        licence.find_element(By.TAG_NAME, "summary").click()
        licence.find_element(By.TAG_NAME, "textarea").send_keys("许可证已延续，状态有误。")
        owner.submit(licence.find_element(By.CSS_SELECTOR, "button[type=submit]"))
        assert "已完成" in owner.text() and "处理中" in owner.text()  # OPEN, in words
        page = loan.wait_for_text(f"/portal/lookup?uscc={FIRM}", "异议处理中")
        assert "该企业有记录处于异议处理中" in page
        loan.screenshot("officer-lookup")

        # the officer issues a report and downloads its PDF; verifies a claim
        loan.submit(f"form[action='/portal/lookup/{FIRM}/report'] button")
        assert "CSR-" in loan.text()
        number = loan.driver.find_element(By.CSS_SELECTOR, "main table code").text
        pdf = urllib.request.urlopen(urllib.request.Request(
            f"{base}/portal/reports/{number}.pdf", headers={"Cookie": f"cs_session={loan.cookie('cs_session')}"}),
            timeout=180).read()
        assert pdf.startswith(b"%PDF")
        loan.open("/portal/verify")
        loan.fill("#uscc", FIRM)
        loan.click("input[name='use.tax_grade_in']")
        loan.fill("input[name='tax_grade_in.grades']", "A, B")
        loan.click("input[name='use.real_estate_right']")
        loan.fill("input[name='real_estate_right.certificate_no']", "C-404")
        loan.submit("main form button[type=submit]")
        results = loan.text()
        assert "相符" in results and "未授权，不予核验" in results  # MATCH under TAX; REAL_ESTATE not consented: REFUSED
        loan.screenshot("officer-verify")
        loan.open("/portal/whitelist")
        assert "白名单" in loan.text()
        loan.screenshot("officer-whitelist")

        # the enterprise applies for repair; the operator rejects it; the enterprise sees why
        owner.open("/portal/me/cases")
        Select(owner.driver.find_element(By.ID, "decision_no")).select_by_value("P-IN")
        owner.fill("#pledge", "本企业承诺守法经营。")
        owner.fill("#statement", "罚款已于2025年3月缴清。")
        owner.submit("form[action='/portal/me/repairs'] button[type=submit]")
        assert "已完成" in owner.text() and "已申请" in owner.text()
        staff.sign_in_by_keyboard(operator)  # keyboard only: the skip link, Tab to the key, Enter
        assert staff.driver.current_url.endswith("/portal/queue")
        staff.wait_for_text("/portal/queue", "P-IN")
        staff.screenshot("operator-queue")
        case = next(a for a in staff.driver.find_elements(By.CSS_SELECTOR, "article.case") if "P-IN" in a.text)
        case.find_element(By.TAG_NAME, "textarea").send_keys("缴款凭证不完整，不予修复。")
        staff.submit(case.find_element(By.CSS_SELECTOR, "button[value=REJECTED]"))
        assert "已完成" in staff.text()
        page = owner.wait_for_text("/portal/me/cases", "不予批准")
        assert "缴款凭证不完整，不予修复。" in page
        owner.screenshot("enterprise-cases")
        staff.open(f"/portal/audit?uscc={FIRM}")
        assert "bank-portal" in staff.text()
        # instants in Asia/Shanghai as people write them, never ISO with a Z
        owner.open("/portal/me/lookups")
        assert re.search(r"20\d\d-\d\d-\d\d \d\d:\d\d", owner.text()) and not re.search(r"\d\dT\d\d:", owner.text())

        # a form without its CSRF token is refused, and changes nothing
        cookie = owner.cookie("cs_session")
        assert post_without_token(base, "/portal/me/consents", cookie, {"lender_id": "bank-portal",
                                                                        "scopes": "RD", "expires_on": "2030-01-01"}) == 403
        assert "RD" not in str(http.get("/v1/me/consents", firm)[1])
        flags = owner.driver.get_cookie("cs_session")
        assert flags["httpOnly"] is True and flags["sameSite"] == "Strict"

        # one enterprise's session cannot open another's pages
        intruder = Person(base)
        try:
            intruder.sign_in(other)
            assert OTHER in intruder.text() and FIRM not in intruder.driver.page_source
            intruder.open(f"/portal/lookup?uscc={FIRM}")
            assert "无权访问此页面" in intruder.text() and WATER_MONTHS not in intruder.text()
            intruder.open("/portal/queue")
            assert "无权访问此页面" in intruder.text()
            intruder.open(f"/portal/reports/{number}.pdf")
            assert "无权访问此页面" not in intruder.text() and "CSR-" in intruder.text()  # refused, not served
            assert not intruder.driver.page_source.startswith("%PDF")
        finally:
            intruder.quit()

        # English, and a phone's width: no page of any role scrolls sideways
        owner.open("/portal/me?lang=en")
        assert "Credit evaluation" in owner.text()
        owner.open("/portal/me/records")
        assert "My records held by the platform" in owner.text()  # the choice is remembered
        owner.open("/portal/me?lang=zh")
        for person, paths in ((owner, ENTERPRISE_PAGES), (loan, (*OFFICER_PAGES, f"/portal/lookup?uscc={FIRM}")),
                              (staff, OPERATOR_PAGES)):
            person.driver.set_window_size(390, 844)
            for path in paths:
                person.open(path)
                assert person.fits(390), path
        owner.open("/portal/me")
        owner.screenshot("enterprise-phone")
        loan.open(f"/portal/lookup?uscc={FIRM}")
        loan.screenshot("officer-lookup-phone")
        # axe-core: no serious or critical violation on any page any of them saw
        assert [person.inaccessible for person in (owner, loan, staff)] == [{}, {}, {}]
        assert {"/portal/me", "/portal/lookup?uscc", "/portal/queue", "/portal/audit?uscc", "/portal/me (phone)"} <= (
            owner.checked | loan.checked | staff.checked)

        # sign-out ends the session for good
        owner.submit("form[action='/portal/sign-out'] button")
        assert owner.driver.current_url.endswith("/portal/sign-in")
        assert post_without_token(base, "/portal/me/consents", cookie, {}) in (303, 200)  # to sign-in, not served
        owner.open("/portal/me")
        assert owner.driver.current_url.split("?")[0].endswith("/portal/sign-in")
    finally:
        for person in (owner, loan, staff):
            person.quit()
