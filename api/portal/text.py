"""The portal's words, in Chinese first and English (api.portal). One table, so a page never shows
a label in one language and its neighbour in the other, and a missing translation fails a test
(tests/test_portal.py) rather than showing a key."""
from __future__ import annotations

from creditstream.schemas.labels import INDICATOR_LABELS

LANGUAGES = ("zh", "en")

TEXT: dict[str, tuple[str, str]] = {
    # frame
    "platform": ("融资信用服务平台", "Financing credit service platform"),
    "skip": ("跳到正文", "Skip to content"),
    "sign_in": ("登录", "Sign in"),
    "sign_out": ("退出登录", "Sign out"),
    "signed_in_as": ("当前身份", "Signed in as"),
    "language": ("English", "中文"),
    "kind.enterprise": ("企业", "Enterprise"),
    "kind.lender": ("金融机构", "Lender"),
    "kind.operator": ("平台工作人员", "Platform staff"),
    "kind.provider": ("数据提供单位", "Data provider"),
    "forbidden": ("无权访问此页面", "You may not open this page"),
    "error.bad_request": ("请求无效", "Bad request"),
    "form.bad": ("表单无法读取（内容不是 UTF-8 编码的表单），未作任何更改。", "The form could not be read (its body is not a "
                                                                 "UTF-8 form); nothing was changed."),
    "forbidden.detail": ("此页面不属于当前登录身份。", "This page does not belong to the signed-in principal."),
    "not_found": ("页面不存在", "Page not found"),
    "error.api": ("平台未接受此操作", "The platform did not accept this"),
    "done": ("已完成", "Done"),
    "none": ("暂无", "None yet"),
    "save": ("提交", "Submit"),
    "field": ("字段", "Field"),
    # sign-in
    "sign_in.title": ("使用平台密钥登录", "Sign in with your platform key"),
    "sign_in.key": ("平台密钥（API key）", "Platform key (API key)"),
    "sign_in.help": ("密钥只用于本次登录，页面和网址中不会出现。", "The key is used for this sign-in only and never "
                                                          "appears in a page or an address."),
    "sign_in.throttled": ("此地址登录失败次数过多，请稍后再试。", "Too many failed sign-ins from this address; try again "
                                                             "later."),
    "sign_in.bad": ("密钥无效、已吊销或格式不正确。", "The key is unknown, revoked or malformed."),
    "sign_in.expired": ("登录已过期，请重新登录。", "Your session expired; please sign in again."),
    "csrf": ("表单已失效（缺少或错误的安全令牌），请重新提交。", "The form is stale (its security token is missing or "
                                                            "wrong); please submit it again."),
    # enterprise navigation
    "nav.me": ("我的信用概况", "My profile"),
    "nav.records": ("我的记录", "My records"),
    "nav.consents": ("授权管理", "Consents"),
    "nav.lookups": ("查询记录", "Who looked me up"),
    "nav.reports": ("信用报告", "Credit reports"),
    "nav.cases": ("异议与信用修复", "Disputes and repair"),
    # lender / operator navigation
    "nav.lookup": ("企业查询", "Look up"),
    "nav.verify": ("信息核验", "Verify"),
    "nav.whitelist": ("白名单", "Whitelist"),
    "nav.queue": ("待办队列", "Queues"),
    "nav.audit": ("审计查询", "Audit"),
    # profile
    "me.title": ("我的信用概况", "My credit profile"),
    "me.no_row": ("平台尚未归集到贵企业的信息。", "The platform holds no data about your enterprise yet."),
    "me.evaluation": ("信用评价", "Credit evaluation"),
    "me.grade": ("信用等级", "Grade"),
    "me.score": ("信用评分", "Score"),
    "me.whitelisted": ("白名单", "On the whitelist"),
    "me.as_of": ("数据时点", "As of"),
    "me.indicator": ("指标", "Indicator"),
    "me.reads": ("依据", "Based on"),
    "me.band": ("贵企业情况", "Your situation"),
    "me.points": ("得分", "Points"),
    "me.of": ("满分", "of"),
    "me.figures": ("主要数据", "Key figures"),
    "yes": ("是", "yes"),
    "no": ("否", "no"),
    # records
    "records.title": ("平台归集的我的记录", "My records held by the platform"),
    "records.dispute": ("对此记录提出异议", "Dispute this record"),
    "records.statement": ("异议说明", "What is wrong"),
    "records.disputed": ("异议处理中", "Under dispute"),
    "records.statements": ("缴费与纳税明细", "Statements and tax payments"),
    # consents
    "consents.title": ("授权管理", "Consents"),
    "consents.lender": ("金融机构", "Lender"),
    "consents.scopes": ("授权范围", "Scopes"),
    "consents.expires": ("有效期至", "Valid until"),
    "consents.since": ("生效时间", "In force since"),
    "consents.grant": ("新增授权", "Grant consent"),
    "consents.revoke": ("撤销授权", "Revoke"),
    "consents.revoked": ("已撤销", "revoked"),
    "scope.UTILITY": ("水电气缴费", "Water, power, gas"),
    "scope.TAX": ("纳税", "Tax"),
    "scope.REAL_ESTATE": ("不动产", "Real estate"),
    "scope.RD": ("科技研发", "R&D"),
    "scope.AGRI": ("涉农", "Agriculture"),
    "scope.SOCIAL": ("社保与公积金", "Social insurance and housing fund"),
    "scope.TRADE": ("进出口", "Customs trade"),
    # lookups
    "lookups.title": ("谁查询了我", "Who looked me up"),
    "lookups.at": ("时间", "When"),
    "lookups.who": ("查询方", "Who"),
    "lookups.what": ("内容", "What"),
    "lookups.decision": ("结果", "Outcome"),
    # reports
    "reports.title": ("信用报告", "Credit reports"),
    "reports.issue_own": ("生成我的信用报告", "Issue my credit report"),
    "reports.issue": ("出具信用报告", "Issue a credit report"),
    "reports.number": ("报告编号", "Number"),
    "reports.requester": ("查询方", "Requested by"),
    "reports.issued_at": ("出具时间", "Issued at"),
    "reports.download": ("下载PDF", "Download PDF"),
    "reports.code": ("验证码", "Verification code"),
    # disputes and repair
    "cases.title": ("异议与信用修复", "Disputes and credit repair"),
    "cases.disputes": ("我的异议", "My disputes"),
    "cases.repairs": ("我的信用修复申请", "My repair applications"),
    "cases.state": ("状态", "State"),
    "cases.due": ("答复期限", "Due"),
    "cases.answer": ("答复", "Answer"),
    "cases.withdraw": ("撤回异议", "Withdraw"),
    "cases.apply": ("申请信用修复", "Apply for credit repair"),
    "cases.penalty": ("行政处罚决定文号", "Penalty decision number"),
    "cases.pledge": ("信用承诺", "Credit pledge"),
    "cases.fulfilled": ("履行情况说明", "How the penalty was fulfilled"),
    "cases.note": ("处理意见", "Note"),
    "cases.record": ("记录", "Record"),
    "cases.filed": ("提出时间", "Filed"),
    "cases.overdue": ("已超期", "overdue"),
    # lender pages
    "lookup.title": ("企业信用查询", "Look an enterprise up"),
    "lookup.uscc": ("统一社会信用代码", "USCC"),
    "lookup.go": ("查询", "Look up"),
    "lookup.public_only": ("未获该企业授权，仅显示公开信息。", "No consent from this enterprise: public information "
                                                         "only."),
    "lookup.withheld": ("未显示（需授权）", "Withheld (needs consent)"),
    "lookup.disputes": ("该企业有记录处于异议处理中", "Records of this enterprise are under dispute"),
    "verify.title": ("信息核验（可用不可见）", "Verification without disclosure"),
    "verify.help": ("填写需要核验的项目；平台只回答“一致/不一致/无数据”，不返回数据本身。",
                    "Fill in the claims to check; the platform answers MATCH / NO_MATCH / NO_DATA, never the data."),
    "verify.result": ("核验结果", "Result"),
    "claim.real_estate_right": ("不动产权证书号", "Real estate certificate number"),
    "claim.unit_unencumbered": ("无抵押的不动产单元号", "Unit number without a mortgage"),
    "claim.vat_paid_12m_at_least": ("近12个月增值税实缴不少于（元）", "VAT paid in 12 months at least (yuan)"),
    "claim.tax_grade_in": ("纳税信用等级属于（逗号分隔）", "Tax grade is one of (comma-separated)"),
    "claim.no_tax_arrears": ("无欠税", "No tax arrears"),
    "claim.legal_representative_id": ("法定代表人身份证号", "Legal representative's ID number"),
    "claim.no_social_arrears": ("无社保欠费", "No social-insurance arrears"),
    "claim.trade_value_12m_at_least": ("近12个月进出口总额不少于（元）", "Trade value in 12 months at least (yuan)"),
    "whitelist.title": ("白名单", "Whitelist"),
    "whitelist.members": ("当前名单", "On the list now"),
    "whitelist.changes": ("最近变动", "Recent changes"),
    "whitelist.join": ("纳入", "joined"),
    "whitelist.leave": ("移出", "left"),
    "whitelist.failed": ("未满足条件", "Conditions failed"),
    "whitelist.size": ("名单企业数", "Enterprises on the list"),
    "whitelist.grade": ("按等级筛选", "Filter by grade"),
    "whitelist.all": ("全部", "All"),
    # operator pages
    "queue.title": ("待办队列", "Queues"),
    "queue.disputes": ("待答复的异议（按期限）", "Open disputes, by due time"),
    "queue.repairs": ("待决定的信用修复申请（按期限）", "Repair applications awaiting a decision, by due day"),
    "queue.corrected": ("已更正", "Corrected"),
    "queue.upheld": ("维持原记录", "Upheld"),
    "queue.approve": ("批准修复", "Approve"),
    "queue.reject": ("不予修复", "Reject"),
    "audit.title": ("审计查询", "Audit search"),
    "audit.route": ("接口", "Route"),
    "audit.principal": ("主体", "Principal"),
    "audit.search": ("查询", "Search"),
    # the evaluation's indicators and red lines: the label table's words (schemas.labels)
    **{f"ind.{id_}": (found.zh, found.en) for id_, found in INDICATOR_LABELS.items()},
}


def translator(lang: str):
    index = LANGUAGES.index(lang) if lang in LANGUAGES else 0

    def t(key: str) -> str:
        return TEXT[key][index]
    return t
