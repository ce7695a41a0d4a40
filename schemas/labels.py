"""One label table for what people read: every field of every record, every field of the
aggregate row and every reason code, in Chinese and English, with its unit. The portal, the
report and docs/contract.md take their words from here; tests/test_labels.py fails for a field
or code without a label, so a new field cannot reach a page as its bare name. The field name
itself stays available beside the label (a tooltip in the portal) for people who integrate the API.

A record field's one-line meaning is its ``doc`` in the ``.avsc`` (docs/contract.md prints it);
a row field's is built here with its label."""
from __future__ import annotations

import datetime as dt
import re
from typing import NamedTuple

from creditstream.schemas.models import CONTRIBUTION_SERIES, WINDOWS
from creditstream.schemas.months import SHANGHAI
from creditstream.schemas.topics import UTILITIES


class Label(NamedTuple):
    zh: str
    en: str
    unit: str = ""  # 元, m³, kWh, 亩, m², 月, 个, 人 … ("" when none)


YUAN, COUNT, MONTHS, PEOPLE = "元", "个", "月", "人"

# -- record fields (the .avsc files) -------------------------------------------------------------------
RECORD_FIELDS: dict[str, Label] = {
    # common
    "event_id": Label("事件编号", "Event id"), "provider_id": Label("信息提供单位", "Provider"),
    "uscc": Label("统一社会信用代码", "USCC"), "enterprise_name": Label("企业名称", "Enterprise name"),
    "occurred_at": Label("发生时间", "Occurred at"),
    # statements
    "account_no": Label("户号/单位编号", "Account number"), "account_name": Label("户名", "Account name"),
    "billing_month": Label("账单月份", "Billing month"), "usage": Label("用量", "Usage", "m³/kWh"),
    "amount_due": Label("应缴金额", "Amount due", YUAN), "amount_paid": Label("实缴金额", "Amount paid", YUAN),
    "due_date": Label("缴费截止日", "Due date"), "paid_date": Label("缴清日期", "Paid on"),
    "arrears_amount": Label("欠费金额", "Arrears", YUAN), "revision": Label("更正版本", "Revision"),
    "usage_type": Label("用电类型", "Usage type"), "account_opened_on": Label("开户日期", "Account opened on"),
    "region_province": Label("所在省", "Province"), "region_city": Label("所在市", "City"),
    "value_grade": Label("价值等级", "Value grade"), "risk_grade": Label("风险等级", "Risk grade"),
    # tax
    "tax_type": Label("税种", "Tax type"), "period_start": Label("所属期起", "Period from"),
    "period_end": Label("所属期止", "Period to"), "amount_payable": Label("应纳税额", "Tax payable", YUAN),
    "rating_year": Label("评价年度", "Rating year"), "grade": Label("等级", "Grade"),
    "as_of": Label("截至日期", "As of"), "in_arrears": Label("是否欠税", "In arrears"),
    "amount": Label("金额", "Amount", YUAN), "tax_types": Label("欠税税种", "Tax types in arrears"),
    "abnormal": Label("非正常户", "Abnormal taxpayer"),
    # consent
    "lender_id": Label("金融机构", "Lender"), "scopes": Label("授权范围", "Scopes"),
    "granted_at": Label("授权时间", "Granted at"), "expires_at": Label("授权到期", "Expires at"),
    "revoked": Label("已撤销", "Revoked"),
    # v1.1 registers
    "score": Label("得分", "Score", "分"), "rated_on": Label("评价日期", "Rated on"),
    "period": Label("评价周期", "Period"), "certificate_no": Label("证书编号", "Certificate number"),
    "unit_no": Label("不动产单元号", "Unit number"), "use": Label("用途", "Use"), "location": Label("坐落", "Location"),
    "area_m2": Label("面积", "Area", "m²"), "term_end": Label("期限届满", "Term ends"),
    "registry": Label("登记机构", "Registry"), "registered_on": Label("登记日期", "Registered on"),
    "status": Label("状态", "Status"), "registration_no": Label("登记/注册号", "Registration number"),
    "right_type": Label("权利类型", "Right type"), "mortgagee_name": Label("抵押权人", "Mortgagee"),
    "mortgagee_id": Label("抵押权人证件号", "Mortgagee id"), "decision_no": Label("决定文号", "Decision number"),
    "licence_name": Label("许可证名称", "Licence name"), "licence_no": Label("许可证编号", "Licence number"),
    "licence_type": Label("许可类别", "Licence type"), "content": Label("许可内容", "Licensed content"),
    "decided_on": Label("决定日期", "Decided on"), "valid_from": Label("有效期自", "Valid from"),
    "valid_until": Label("有效期至", "Valid until"), "authority_name": Label("决定机关", "Authority"),
    "authority_uscc": Label("决定机关统一社会信用代码", "Authority's USCC"),
    "legal_rep_name": Label("法定代表人", "Legal representative"),
    "legal_rep_id_type": Label("法定代表人证件类型", "ID type"),
    "legal_rep_id_no": Label("法定代表人证件号码", "ID number (masked)"),
    "legal_rep_id_hmac": Label("证件号码校验值", "ID number keyed hash"),
    "decision_name": Label("决定书名称", "Decision"), "violation_type": Label("违法行为类型", "Violation type"),
    "violation_facts": Label("违法事实", "Facts"), "legal_basis": Label("处罚依据", "Legal basis"),
    "penalty_content": Label("处罚内容", "Penalty"), "penalty_types": Label("处罚类别", "Penalty types"),
    "fine_amount": Label("罚款金额", "Fine", YUAN), "confiscated_amount": Label("没收违法所得", "Confiscated", YUAN),
    "licence_affected": Label("暂扣或吊销的许可证", "Licence affected"),
    "publicity_until": Label("公示截止日期", "Publicity until"), "severity": Label("严重程度", "Severity"),
    "reason": Label("事由", "Reason"), "method": Label("强制方式", "Method"), "executed_on": Label("执行日期", "Executed on"),
    "outcome": Label("修复结果", "Outcome"), "decided_at": Label("决定时间", "Decided at"), "note": Label("说明", "Note"),
    "kind": Label("类别", "Kind"), "reference_no": Label("文号", "Reference number"), "year": Label("年度", "Year"),
    "category": Label("经营主体类型", "Operator category"), "head_name": Label("负责人", "Head"),
    "business_scope": Label("经营范围", "Business scope"), "issuer": Label("发证机关", "Issuer"),
    "issued_on": Label("发证日期", "Issued on"), "land_name": Label("地块名称", "Parcel"),
    "area_mu": Label("面积", "Area", "亩"), "change_note": Label("变更记录", "Change note"),
    "holder_name": Label("权利人", "Holder"),
    # v1.2
    "contribution_month": Label("所属期", "Contribution month"), "employee_count": Label("人数", "Head count", PEOPLE),
    "insurance_types": Label("险种", "Insurance types"), "customs_code": Label("海关编码", "Customs code"),
    "trade_month": Label("月份", "Trade month"), "import_value": Label("进口额", "Imports", YUAN),
    "export_value": Label("出口额", "Exports", YUAN), "declarations": Label("报关单票数", "Declarations", "票"),
    "customs_office": Label("主管海关", "Customs office"), "patent_no": Label("专利号", "Patent number"),
    "title": Label("名称", "Title"), "applied_on": Label("申请日", "Applied on"),
    "granted_on": Label("授权公告日", "Granted on"), "mark_name": Label("商标", "Mark"),
    "nice_class": Label("尼斯分类", "Nice class"), "ip_kind": Label("出质权利类型", "Pledged right"),
    "ip_no": Label("出质知识产权", "Pledged patent or mark"), "pledgee_name": Label("质权人", "Pledgee"),
    "pledgee_id": Label("质权人证件号", "Pledgee id"), "secured_amount": Label("担保债权数额", "Secured amount", YUAN),
    "notice_no": Label("公告编号", "Notice number"), "project_no": Label("项目编号", "Project number"),
    "project_name": Label("项目名称", "Project"), "trade_type": Label("交易类型", "Trade type"),
    "buyer_name": Label("招标人/采购人", "Buyer"), "award_amount": Label("中标金额", "Award amount", YUAN),
    "awarded_on": Label("中标日期", "Awarded on"), "case_no": Label("案号", "Case number"),
    "court_name": Label("执行法院", "Court"), "basis_doc_no": Label("执行依据文号", "Basis document"),
    "basis_unit": Label("做出执行依据单位", "Basis issued by"), "filed_on": Label("立案日期", "Filed on"),
    "obligation": Label("生效法律文书确定的义务", "Obligation"), "performance": Label("履行情况", "Performance"),
    "circumstances": Label("失信情形", "Circumstances"), "listed_on": Label("发布日期", "Listed on"),
    "removed_on": Label("移除日期", "Removed on"), "closed_on": Label("结案日期", "Closed on"),
    # the loan loop (financing-services.md)
    "action": Label("变更类型", "Change"), "actor": Label("操作人", "Changed by"),
    "product_id": Label("产品编号", "Product id"), "name": Label("产品名称", "Product name"),
    "amount_min": Label("最低额度", "Smallest amount", YUAN), "amount_max": Label("最高额度", "Largest amount", YUAN),
    "term_min_months": Label("最短期限", "Shortest term", MONTHS), "term_max_months": Label("最长期限", "Longest term", MONTHS),
    "rate_min": Label("最低年利率", "Lowest annual rate", "%"), "rate_max": Label("最高年利率", "Highest annual rate", "%"),
    "repayment": Label("还款方式", "Repayment"), "min_grade": Label("最低信用等级", "Lowest grade accepted"),
    "whitelist_only": Label("仅限白名单", "Whitelist only"), "collateral": Label("担保要求", "Collateral required"),
    "description": Label("产品说明", "Description"), "suspended_reason": Label("暂停原因", "Reason for suspension"),
    "need_id": Label("需求编号", "Need id"), "kinds": Label("可接受产品类型", "Acceptable kinds"),
    "purpose": Label("资金用途", "Purpose"), "term_months": Label("期限", "Term", MONTHS),
    "application_id": Label("申请编号", "Application id"), "product_kind": Label("产品类型", "Product kind"),
    "state": Label("状态", "State"), "renews_loan_no": Label("续贷原贷款编号", "Renews loan"),
    "consent_event_id": Label("授权事件编号", "Consent event id"), "submitted_at": Label("提交时间", "Submitted at"),
    "accepted_at": Label("受理时间", "Accepted at"), "closed_at": Label("办结时间", "Closed at"),
    "approved_amount": Label("授信金额", "Amount approved", YUAN),
    "approved_term_months": Label("授信期限", "Term approved", MONTHS),
    "approved_rate": Label("授信年利率", "Rate approved", "%"), "reject_reason": Label("拒绝原因", "Reason for rejection"),
    "loan_no": Label("贷款编号", "Loan number"), "disbursed_amount": Label("放款金额", "Amount disbursed", YUAN),
    "disbursed_rate": Label("执行年利率", "Annual rate", "%"), "disbursed_on": Label("放款日期", "Disbursed on"),
    "maturity_on": Label("到期日期", "Matures on"),
    "whitelisted_at_disbursement": Label("放款日在白名单", "Whitelisted on disbursement"),
    "first_loan": Label("首贷", "First loan"), "month": Label("月份", "Month"),
    "outstanding_principal": Label("贷款余额", "Outstanding principal", YUAN),
    "claim_id": Label("补偿申请编号", "Claim id"), "filed_at": Label("申请时间", "Filed at"),
    "due_on": Label("办理期限", "Due on"), "share": Label("补偿比例", "Share compensated"),
    "compensation_amount": Label("补偿金额", "Compensation", YUAN),
}

# columns the platform adds to a stored record (api.store): where it came from and when
# what a verification claim asks for (schemas/verification.CLAIMS), where a record field does not say it
CLAIM_FIELDS: dict[str, Label] = {
    "grades": Label("纳税信用等级（可多个，逗号分隔）", "Tax grades (several, comma-separated)"),
    "id_no": Label("法定代表人身份证号", "Legal representative's ID number"),
}
STORED_FIELDS: dict[str, Label] = {"received_at": Label("平台接收时间", "Received at"),
                                   "record": Label("记录类别", "Record type"),
                                   "subsidy": Label("贴息金额", "Subsidy", YUAN)}

# -- the loan loop's statistics (schemas.finance_stats.FIGURE_NAMES) ----------------------------------------
FIGURE_LABELS: dict[str, Label] = {
    "applications": Label("申请笔数", "Applications"), "accepted": Label("受理笔数", "Accepted"),
    "approved": Label("授信笔数", "Approved"), "rejected": Label("拒绝笔数", "Rejected"),
    "rejected_insufficient_credit": Label("拒绝：信用不足", "Rejected: insufficient credit"),
    "rejected_insufficient_collateral": Label("拒绝：担保不足", "Rejected: insufficient collateral"),
    "rejected_incomplete_materials": Label("拒绝：材料不全", "Rejected: incomplete materials"),
    "rejected_outside_policy": Label("拒绝：不符合政策", "Rejected: outside policy"),
    "rejected_other": Label("拒绝：其他", "Rejected: other"),
    "disbursed_count": Label("放款笔数", "Loans disbursed"), "disbursed_amount": Label("放款金额", "Amount disbursed", YUAN),
    "first_loans_count": Label("首贷笔数", "First loans"), "first_loans_amount": Label("首贷金额", "First-loan amount", YUAN),
    "first_loans_firms": Label("首贷企业数", "First-loan firms"), "renewals_count": Label("续贷笔数", "Renewals"),
    "renewals_amount": Label("续贷金额", "Renewal amount", YUAN),
    "median_working_days_to_decision": Label("审批用时中位数", "Median working days to decision", "工作日"),
    "average_rate_percent": Label("加权平均利率", "Amount-weighted rate", "%"),
    "whitelisted_borrower_share_percent": Label("白名单企业占比", "Whitelisted borrowers", "%"),
    "non_performing_balance": Label("不良贷款余额", "Non-performing balance", YUAN),
    "subsidy_total": Label("贴息合计", "Subsidies", YUAN), "compensation_total": Label("风险补偿合计", "Compensation", YUAN),
}

# -- row fields ------------------------------------------------------------------------------------------
UTILITY_NAMES = {"water": Label("用水", "Water", "m³"), "electricity": Label("用电", "Electricity", "kWh"),
                 "gas": Label("用气", "Gas", "m³")}
SERIES_NAMES = {"social": Label("社保", "Social insurance"), "housing_fund": Label("公积金", "Housing fund")}


def _windowed() -> dict[str, Label]:
    rows: dict[str, Label] = {}
    for k in UTILITIES:
        u = UTILITY_NAMES[k]
        for w in WINDOWS:
            rows[f"{k}_months_{w}m"] = Label(f"近{w}个月有{u.zh}账单的月数", f"{u.en}: months billed, {w} months", MONTHS)
            rows[f"{k}_avg_usage_{w}m"] = Label(f"近{w}个月月均{u.zh}量", f"{u.en}: average usage, {w} months", u.unit)
            rows[f"{k}_avg_amount_{w}m"] = Label(f"近{w}个月月均{u.zh}金额", f"{u.en}: average bill, {w} months", YUAN)
        rows[f"{k}_in_arrears"] = Label(f"{u.zh}当前是否欠费", f"{u.en}: in arrears now")
        rows[f"{k}_arrears_amount"] = Label(f"{u.zh}欠费金额", f"{u.en}: arrears", YUAN)
    for w in WINDOWS:
        rows[f"vat_payable_{w}m"] = Label(f"近{w}个月增值税应纳税额", f"VAT payable, {w} months", YUAN)
        rows[f"vat_paid_{w}m"] = Label(f"近{w}个月增值税实缴税额", f"VAT paid, {w} months", YUAN)
        rows[f"cit_paid_{w}m"] = Label(f"近{w}个月企业所得税实缴税额", f"Corporate income tax paid, {w} months", YUAN)
    for k in CONTRIBUTION_SERIES:
        s = SERIES_NAMES[k]
        for w in WINDOWS:
            rows[f"{k}_months_{w}m"] = Label(f"近{w}个月{s.zh}缴费月数", f"{s.en}: months, {w} months", MONTHS)
            rows[f"{k}_avg_employees_{w}m"] = Label(f"近{w}个月{s.zh}月均人数", f"{s.en}: average head count, {w} months",
                                                    PEOPLE)
            rows[f"{k}_paid_{w}m"] = Label(f"近{w}个月{s.zh}实缴金额", f"{s.en}: paid, {w} months", YUAN)
        rows[f"{k}_in_arrears"] = Label(f"{s.zh}当前是否欠缴", f"{s.en}: in arrears now")
        rows[f"{k}_arrears_amount"] = Label(f"{s.zh}欠缴金额", f"{s.en}: arrears", YUAN)
        rows[f"{k}_arrears_months_3m"] = Label(f"近3个月{s.zh}欠缴月数", f"{s.en}: months in arrears of the last 3",
                                               MONTHS)
    return rows


ROW_FIELDS: dict[str, Label] = {
    **_windowed(),
    "tax_normal_streak_months": Label("连续正常缴税月数", "Months of normal tax payment in a row", MONTHS),
    "tax_last_normal_payment_date": Label("最近一次正常缴税日期", "Last normal tax payment"),
    "tax_rating_grade": Label("纳税信用等级", "Tax credit grade"), "tax_rating_year": Label("纳税信用评价年度", "Tax grade year"),
    "tax_in_arrears": Label("当前是否欠税", "Tax arrears now"), "tax_arrears_amount": Label("欠税金额", "Tax arrears", YUAN),
    "taxpayer_abnormal": Label("是否非正常户", "Abnormal taxpayer"),
    "env_grade": Label("环境信用等级", "Environmental grade"), "env_score": Label("环境信用得分", "Environmental score", "分"),
    "env_rated_on": Label("环境信用评价日期", "Environmental rating date"),
    "licences_valid": Label("有效行政许可数", "Licences in force", COUNT),
    "penalties_in_publicity": Label("公示期内行政处罚数", "Penalties in publicity", COUNT),
    "serious_penalty_in_publicity": Label("是否有严重行政处罚在公示期", "A serious penalty in publicity"),
    "penalty_fines_12m": Label("近12个月罚没金额", "Fines and confiscations, 12 months", YUAN),
    "enforcements_12m": Label("近12个月行政强制次数", "Administrative enforcement, 12 months", COUNT),
    "real_estate_rights_active": Label("有效不动产权数", "Real-estate rights", COUNT),
    "real_estate_area_m2": Label("不动产面积合计", "Real-estate area", "m²"),
    "mortgages_active": Label("有效抵押登记数", "Mortgages", COUNT),
    "high_tech_enterprise": Label("高新技术企业", "High-tech enterprise"),
    "science_projects_3y": Label("近3年市级科技项目数", "City science projects, 3 years", COUNT),
    "key_lab": Label("市级重点实验室", "City key lab"),
    "agri_operator_category": Label("新型农业经营主体类型", "Agricultural operator"),
    "rural_land_rights_active": Label("有效土地经营权证数", "Rural land rights", COUNT),
    "rural_land_area_mu": Label("土地经营面积合计", "Rural land area", "亩"),
    "housing_rights_active": Label("有效农房权证数", "Farm housing rights", COUNT),
    "trade_value_12m": Label("近12个月进出口总额", "Trade value, 12 months", YUAN),
    "export_value_12m": Label("近12个月出口额", "Exports, 12 months", YUAN),
    "trade_months_12m": Label("近12个月有进出口的月数", "Months with trade, 12 months", MONTHS),
    "customs_grade": Label("海关信用等级", "Customs credit grade"),
    "customs_grade_decided_on": Label("海关信用认定日期", "Customs grade decided on"),
    "patents_valid": Label("有效专利数", "Patents in force", COUNT),
    "invention_patents_valid": Label("有效发明专利数", "Invention patents in force", COUNT),
    "trademarks_valid": Label("有效注册商标数", "Trademarks in force", COUNT),
    "ip_pledges_active": Label("有效知识产权质押数", "IP pledges", COUNT),
    "awards_12m": Label("近12个月公共资源交易中标数", "Public-resource awards, 12 months", COUNT),
    "award_amount_12m": Label("近12个月中标金额", "Award amounts, 12 months", YUAN),
    "court_dishonest": Label("是否失信被执行人", "On the dishonest-debtor list"),
    "court_dishonest_count": Label("失信被执行记录数", "Dishonest-debtor listings", COUNT),
    "enforcement_cases_active": Label("在执行案件数", "Enforcement cases open", COUNT),
    "enforcement_amount_active": Label("在执行标的金额", "Amount under enforcement", YUAN),
    "eval_model": Label("评价模型", "Evaluation model"), "eval_score": Label("信用评分", "Credit score", "分"),
    "eval_grade": Label("信用等级", "Credit grade"), "eval_points": Label("各项得分", "Points per indicator"),
    "eval_red_lines": Label("一票否决项", "Red lines"), "whitelisted": Label("是否在白名单", "On the whitelist"),
}

# -- the evaluation's indicators and red lines (cs-eval-2) ---------------------------------------------------
INDICATOR_LABELS: dict[str, Label] = {
    "T1": Label("纳税信用等级", "Tax credit grade"), "T2": Label("是否欠税", "Tax arrears"),
    "T3": Label("纳税人状态是否异常", "Abnormal taxpayer status"),
    "T4": Label("连续正常纳税月数", "Months of normal tax payment in a row"),
    "U1": Label("水电气是否欠费", "Utility arrears"), "U2": Label("水电气缴费记录月数", "Months of utility records"),
    "P1": Label("公示期内的行政处罚", "Penalties in publicity"), "P2": Label("环境信用等级", "Environmental credit grade"),
    "C1": Label("高新技术企业", "High-tech enterprise"), "C2": Label("近三年市级科技项目", "City science projects in 3 years"),
    "C3": Label("市级重点实验室", "City key lab"),
    "X1": Label("列入失信被执行人名单", "On the dishonest judgment debtors list"),
    "X2": Label("海关认定为失信企业", "Customs-dishonest enterprise"),
    "X3": Label("连续三个月欠缴社会保险费", "Social-insurance arrears three months running"),
}

# -- the evaluation's bands in words (cs_eval_1's conditions; figures such as "1-5" read as they are) ------------
BAND_LABELS: dict[str, Label] = {
    "none observed": Label("无水电气缴费记录", "No utility records"),
    "observed, none in arrears": Label("有缴费记录，均无欠费", "Records held, none in arrears"),
    "exactly one in arrears": Label("一项欠费", "One in arrears"),
    "two or more in arrears": Label("两项及以上欠费", "Two or more in arrears"),
    "none in publicity": Label("无公示期内处罚", "None in publicity"),
    "in publicity, none serious": Label("有公示期内处罚，无严重处罚", "In publicity, none serious"),
    "a serious one in publicity": Label("有严重处罚在公示期内", "A serious one in publicity"),
}


def band_text(condition, lang: str = "zh") -> str:
    """An indicator's band as people read it: the words above, a code in words, else as it is."""
    found = BAND_LABELS.get(condition) if isinstance(condition, str) else None
    if found is not None:
        return found.zh if lang == "zh" else found.en
    return word(condition, lang) if isinstance(condition, str) else condition


# -- reason codes ------------------------------------------------------------------------------------------
REASON_LABELS: dict[str, Label] = {
    "UNDECODABLE": Label("无法解析", "Undecodable"), "INVALID_USCC": Label("统一社会信用代码无效", "Invalid USCC"),
    "NEGATIVE_AMOUNT": Label("金额为负", "Negative amount"), "NEGATIVE_USAGE": Label("用量为负", "Negative usage"),
    "BAD_PERIOD": Label("期间无效", "Bad period"), "INVALID_ID_NO": Label("证件号码无效", "Invalid ID number"),
    "INVALID_AUTHORITY": Label("决定机关代码无效", "Invalid authority"), "BAD_VALUE": Label("取值无效", "Bad value"),
    "FUTURE_TIMESTAMP": Label("发生时间晚于处理时间", "Future timestamp"),
    "INTERNAL": Label("平台内部错误", "Platform error"), "SINK_UNCONVERTIBLE": Label("入库转换失败", "Sink could not convert"),
    "FINANCE_REFUSED": Label("融资业务状态不符", "Financing change refused"),
}


def label(name: str) -> Label:
    """The label of a row or record field (the name itself, in both languages, when it has none:
    tests/test_labels.py keeps that from happening)."""
    return (ROW_FIELDS.get(name) or RECORD_FIELDS.get(name) or STORED_FIELDS.get(name) or FIGURE_LABELS.get(name)
            or CLAIM_FIELDS.get(name) or Label(name, name))


def zh_labels() -> dict[str, str]:
    """Every field's Chinese label, with its unit: what the report's tables head their columns with."""
    return {name: f"{found.zh}（{found.unit}）" if found.unit else found.zh
            for name, found in {**RECORD_FIELDS, **ROW_FIELDS}.items()}


# -- record types (what each table of records is) ----------------------------------------------------------
RECORD_LABELS: dict[str, Label] = {
    "WaterStatement": Label("用水账单", "Water statements"), "ElectricityStatement": Label("用电账单", "Electricity statements"),
    "GasStatement": Label("用气账单", "Gas statements"), "TaxPayment": Label("缴税记录", "Tax payments"),
    "TaxCreditRating": Label("纳税信用等级", "Tax credit rating"), "TaxArrears": Label("欠税信息", "Tax arrears"),
    "TaxpayerStatus": Label("纳税人状态", "Taxpayer status"), "ConsentGrant": Label("授权记录", "Consents"),
    "EnvCreditRating": Label("环境信用评价", "Environmental credit rating"),
    "RealEstateRight": Label("不动产权", "Real-estate rights"), "RealEstateMortgage": Label("不动产抵押登记", "Mortgages"),
    "AdminLicence": Label("行政许可", "Licences"), "AdminPenalty": Label("行政处罚", "Penalties"),
    "AdminEnforcement": Label("行政强制", "Administrative enforcement"), "CreditRepair": Label("信用修复", "Credit repairs"),
    "RdRecognition": Label("科技认定", "R&D recognitions"), "AgriOperator": Label("新型农业经营主体", "Agricultural operator"),
    "RuralLandRight": Label("土地经营权", "Rural land rights"), "FarmerHousingRight": Label("农房权证", "Farm housing rights"),
    "SocialInsuranceStatement": Label("社会保险缴费", "Social insurance"),
    "HousingFundStatement": Label("住房公积金缴存", "Housing fund"),
    "CustomsTradeStatement": Label("进出口月度数据", "Customs trade"),
    "CustomsCreditGrade": Label("海关信用认定", "Customs credit grade"),
    "Patent": Label("专利", "Patents"), "Trademark": Label("注册商标", "Trademarks"),
    "IpPledge": Label("知识产权质押", "IP pledges"),
    "PublicResourceAward": Label("公共资源交易中标", "Public-resource awards"),
    "DishonestDebtor": Label("失信被执行人", "Dishonest judgment debtor"),
    "EnforcementCase": Label("被执行案件", "Enforcement cases"),
}

# -- codes: the symbols of every enum and of the platform's own states, as words -------------------------
CODE_LABELS: dict[str, Label] = {
    # consent scopes
    "UTILITY": Label("水电气缴费", "Utilities"), "TAX": Label("纳税", "Tax"), "REAL_ESTATE": Label("不动产", "Real estate"),
    "RD": Label("科技研发", "R&D"), "AGRI": Label("涉农", "Agriculture"), "SOCIAL": Label("社保与公积金", "Social insurance"),
    "TRADE": Label("进出口", "Customs trade"), "PUBLIC": Label("公开信息", "Public information"),
    # registers
    "VALID": Label("有效", "Valid"), "ACTIVE": Label("有效", "Active"), "CANCELLED": Label("已注销", "Cancelled"),
    "REVOKED": Label("已撤销", "Revoked"), "RELEASED": Label("已解除", "Released"), "TRANSFERRED": Label("已流转", "Transferred"),
    "INVALIDATED": Label("已宣告无效", "Invalidated"), "LAPSED": Label("已失效", "Lapsed"),
    "MINOR": Label("轻微", "Minor"), "GENERAL": Label("一般", "General"), "SERIOUS": Label("严重", "Serious"),
    "WARNING": Label("警告", "Warning"), "CRITICISM": Label("通报批评", "Public criticism"), "FINE": Label("罚款", "Fine"),
    "CONFISCATION": Label("没收违法所得、非法财物", "Confiscation"),
    "LICENCE_SUSPENDED": Label("暂扣许可证件", "Licence suspended"), "LICENCE_REVOKED": Label("吊销许可证件", "Licence revoked"),
    "RESTRICTED": Label("限制开展生产经营活动", "Activities restricted"),
    "PRODUCTION_SUSPENDED": Label("责令停产停业", "Production suspended"), "OTHER": Label("其他", "Other"),
    "GREEN": Label("绿牌（环保诚信）", "Green (trustworthy)"), "BLUE": Label("蓝牌（环保良好）", "Blue (good)"),
    "YELLOW": Label("黄牌（环保警示）", "Yellow (warning)"), "RED": Label("红牌（环保不良）", "Red (poor)"),
    "BLACK": Label("黑牌（环保严重失信）", "Black (seriously untrustworthy)"),
    "HIGH_TECH_ENTERPRISE": Label("高新技术企业", "High-tech enterprise"),
    "CITY_SCIENCE_PROJECT": Label("市级科技计划项目", "City science project"),
    "CITY_KEY_LAB": Label("市级重点实验室", "City key lab"),
    "FAMILY_FARM": Label("家庭农场", "Family farm"), "COOPERATIVE": Label("农民专业合作社", "Farmers' cooperative"),
    "LEADING_ENTERPRISE": Label("农业产业化龙头企业", "Leading agricultural enterprise"),
    "SERVICE_ORGANISATION": Label("农业社会化服务组织", "Agricultural service organisation"),
    "ID_CARD": Label("居民身份证", "ID card"), "PASSPORT": Label("护照", "Passport"),
    "VAT": Label("增值税", "VAT"), "CIT": Label("企业所得税", "Corporate income tax"),
    "PENSION": Label("养老保险", "Pension"), "MEDICAL": Label("医疗保险", "Medical"),
    "UNEMPLOYMENT": Label("失业保险", "Unemployment"),
    "WORK_INJURY": Label("工伤保险", "Work injury"), "MATERNITY": Label("生育保险", "Maternity"),
    "ADVANCED_CERTIFIED": Label("高级认证企业", "Advanced certified enterprise"),
    "DISHONEST": Label("失信企业", "Dishonest enterprise"),
    "INVENTION": Label("发明专利", "Invention"), "UTILITY_MODEL": Label("实用新型", "Utility model"),
    "DESIGN": Label("外观设计", "Design"), "PATENT": Label("专利", "Patent"), "TRADEMARK": Label("商标", "Trademark"),
    "CONSTRUCTION": Label("工程建设", "Construction"), "GOVERNMENT_PROCUREMENT": Label("政府采购", "Government procurement"),
    "LAND_MINERAL": Label("土地和矿业权", "Land and mineral rights"), "STATE_ASSET": Label("国有产权", "State assets"),
    "ABLE_BUT_REFUSED": Label("有履行能力而拒不履行", "Able to perform but refused"),
    "FALSE_PROPERTY_REPORT": Label("虚假报告财产情况", "False report of property"),
    "OBSTRUCTION": Label("妨碍、抗拒执行", "Obstructed enforcement"), "EVASION": Label("规避执行", "Evaded enforcement"),
    "CONSUMPTION_ORDER_VIOLATION": Label("违反限制消费令", "Broke a consumption restriction"),
    "SETTLEMENT_BREACH": Label("无正当理由拒不履行执行和解协议", "Breached a settlement"),
    "PERFORMED": Label("已履行", "Performed"), "PARTIALLY_PERFORMED": Label("部分履行", "Partly performed"),
    "NOT_PERFORMED": Label("未履行", "Not performed"),
    # disputes, repairs, verification
    "OPEN": Label("处理中", "Open"), "CORRECTED": Label("已更正", "Corrected"), "UPHELD": Label("维持原记录", "Upheld"),
    "WITHDRAWN": Label("已撤回", "Withdrawn"), "APPLIED": Label("已申请", "Applied"), "APPROVED": Label("已批准", "Approved"),
    "REJECTED": Label("不予批准", "Rejected"), "MATCH": Label("相符", "Match"), "NO_MATCH": Label("不符", "No match"),
    "NO_DATA": Label("无数据", "No data"), "REFUSED": Label("未授权，不予核验", "Refused (no consent)"),
    # the loan loop
    "CREDIT": Label("信用贷", "Credit loan"), "MORTGAGE": Label("抵押贷", "Mortgage loan"),
    "GUARANTEE": Label("担保贷", "Guaranteed loan"), "PLEDGE": Label("质押贷", "Pledge loan"),
    "SUPPLY_CHAIN": Label("供应链融资", "Supply-chain finance"), "LUMP_SUM": Label("到期一次还本付息", "Lump sum"),
    "EQUAL_INSTALMENT": Label("等额分期", "Equal instalments"), "INTEREST_FIRST": Label("先息后本", "Interest first"),
    "FLEXIBLE": Label("随借随还", "Flexible"), "LAND_RIGHT": Label("土地经营权", "Land right"), "IP": Label("知识产权", "IP"),
    "NONE": Label("无需担保", "None"), "SUSPENDED": Label("已暂停", "Suspended"), "PUBLISHED": Label("已发布", "Published"),
    "REVISED": Label("已修订", "Revised"), "REINSTATED": Label("已恢复", "Reinstated"),
    "SUBMITTED": Label("已提交", "Submitted"), "ACCEPTED": Label("已受理", "Accepted"),
    "DISBURSED": Label("已放款", "Disbursed"), "TAKEN_UP": Label("已对接", "Taken up"), "MATCHED": Label("已对接", "Matched"),
    "FILED": Label("已申报", "Filed"), "NORMAL": Label("正常", "Normal"),
    "OVERDUE_1_30": Label("逾期1-30天", "1-30 days overdue"),
    "OVERDUE_31_90": Label("逾期31-90天", "31-90 days overdue"),
    "OVERDUE_90_PLUS": Label("逾期90天以上（不良）", "Over 90 days overdue (non-performing)"),
    "REPAID": Label("已结清", "Repaid"), "WRITTEN_OFF": Label("已核销", "Written off"),
    "INSUFFICIENT_CREDIT": Label("信用不足", "Insufficient credit"),
    "INSUFFICIENT_COLLATERAL": Label("担保不足", "Insufficient collateral"),
    "INCOMPLETE_MATERIALS": Label("材料不全", "Incomplete materials"), "OUTSIDE_POLICY": Label("不符合政策", "Outside policy"),
}
# where one symbol means something else in one field
FIELD_CODE_LABELS: dict[tuple[str, str], Label] = {
    ("customs_grade", "GENERAL"): Label("一般信用企业", "General credit enterprise"),
    ("grade", "GENERAL"): Label("一般信用企业", "General credit enterprise"),
    ("action", "ACCEPTED"): Label("企业已接受", "Accepted by the enterprise"),
}
_CODE = re.compile(r"[A-Z][A-Z0-9_]+")


def code_label(value: str, name: str = "") -> Label | None:
    """The words for a code (``VALID`` → 有效), or None for what is not one (grades stay letters)."""
    return FIELD_CODE_LABELS.get((name, value)) or CODE_LABELS.get(value)


def word(value, lang: str = "zh", name: str = "") -> str:
    """A code in words in the page's language; anything else as it is."""
    found = code_label(value, name) if isinstance(value, str) and _CODE.fullmatch(value) else None
    return "" if value is None else str(value) if found is None else found.zh if lang == "zh" else found.en


# -- values as people read them ------------------------------------------------------------------------
WORDS = {"zh": {True: "是", False: "否", None: "无数据", (): "无"}, "en": {True: "yes", False: "no", None: "no data", (): "none"}}


def display(name: str, value, lang: str = "zh") -> str:
    """A field's value as a person reads it: instants in Asia/Shanghai (``2026-12-20 15:19``), money
    with thousands separators and its unit, other units after the figure, booleans in words, an
    empty value as "no data" (a field withheld for want of consent is not shown at all: the page
    says which scope it needs)."""
    words = WORDS.get(lang, WORDS["zh"])
    if value is None or value == "" or isinstance(value, bool):
        return words[None if value == "" else value]
    if isinstance(value, list):
        return ("、" if lang == "zh" else ", ").join(word(v, lang, name) for v in value) or words[()]  # none held
    if isinstance(value, dict):
        return ("；" if lang == "zh" else "; ").join(f"{k} {v}" for k, v in value.items())
    text = str(value)
    if _INSTANT.fullmatch(text):
        return _local_time(text)
    if _CODE.fullmatch(text) and code_label(text, name):
        return word(text, lang, name)
    unit = label(name).unit
    if unit == YUAN and _DECIMAL.fullmatch(text):
        whole, _dot, cents = text.partition(".")
        return f"{int(whole):,}{'.' + cents if cents else ''} {'元' if lang == 'zh' else 'yuan'}"
    return f"{text} {unit}" if unit and _DECIMAL.fullmatch(text) else text


_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})")
_DECIMAL = re.compile(r"-?\d+(\.\d+)?")


def _local_time(text: str) -> str:
    stamp = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return stamp.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
