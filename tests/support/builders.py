"""Small builders for typed contract records (what the validators hand to the ledger)."""
import datetime as dt
import itertools
from decimal import Decimal

from creditstream.schemas.topics import UTILITY_KINDS

USCC = "91350100M000100Y43"
UTC = dt.timezone.utc
_ids = itertools.count(1)
KIND_RECORD = {kind: record for record, kind in UTILITY_KINDS.items()}


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def common(provider="p", event_id=None, occurred="2024-01-01T00:00:00"):
    return {"event_id": event_id or f"e{next(_ids)}", "provider_id": provider, "uscc": USCC,
            "enterprise_name": "黑河市测试有限公司", "occurred_at": instant(occurred)}


def statement(kind, account, month, usage, amount, arrears="0.00", revision=0, **kw):
    return KIND_RECORD[kind], {
        **common(**kw), "account_no": account, "account_name": "甲", "billing_month": month,
        "usage": Decimal(usage), "amount_due": Decimal(amount), "amount_paid": Decimal(amount),
        "due_date": day(month + "-20"), "paid_date": None, "arrears_amount": Decimal(arrears), "revision": revision,
    }


def payment(tax_type, start, end, payable, paid, due, paid_date, revision=0, **kw):
    return "TaxPayment", {
        **common(**kw), "tax_type": tax_type, "period_start": day(start), "period_end": day(end),
        "amount_payable": Decimal(payable), "amount_paid": Decimal(paid), "due_date": day(due),
        "paid_date": day(paid_date) if paid_date else None, "revision": revision,
    }


def last_day_of(month: str) -> str:
    """YYYY-MM → the ISO date of its last day."""
    year, number = map(int, month.split("-"))
    following = dt.date(year + number // 12, number % 12 + 1, 1)
    return (following - dt.timedelta(days=1)).isoformat()


def next_15th(month: str) -> str:
    """YYYY-MM → the 15th of the month after (when a monthly tax is due)."""
    year, number = map(int, month.split("-"))
    return dt.date(year + number // 12, number % 12 + 1, 15).isoformat()


def rating(year, grade, occurred, **kw):
    return "TaxCreditRating", {**common(occurred=occurred, **kw), "rating_year": year, "grade": grade}


def arrears(as_of, in_arrears, amount, occurred, **kw):
    return "TaxArrears", {**common(occurred=occurred, **kw), "as_of": day(as_of), "in_arrears": in_arrears,
                          "amount": Decimal(amount), "tax_types": ["VAT"] if in_arrears else []}


def status(as_of, abnormal, occurred, **kw):
    return "TaxpayerStatus", {**common(occurred=occurred, **kw), "as_of": day(as_of), "abnormal": abnormal}


# -- v1.1 registers --------------------------------------------------------------------------------
ID_BODY = "23110019800101123"


def _valid_uscc(first17: str) -> str:
    from creditstream.schemas.uscc import uscc_check_char
    return first17 + uscc_check_char(first17)


def _valid_id(first17: str) -> str:
    from creditstream.schemas.personal import id_card_check_char
    return first17 + id_card_check_char(first17)


AUTHORITY_USCC = _valid_uscc("11231100MB0000000")
LEGAL_REP_ID = _valid_id(ID_BODY)


def authority(**overrides):
    return {"authority_name": "黑河市市场监督管理局", "authority_uscc": AUTHORITY_USCC, "legal_rep_name": "张三",
            "legal_rep_id_type": "ID_CARD", "legal_rep_id_no": LEGAL_REP_ID, "legal_rep_id_hmac": None, **overrides}


def env(period, grade, score, rated_on, occurred="2024-01-01T00:00:00", **kw):
    return "EnvCreditRating", {**common(occurred=occurred, **kw), "score": Decimal(score), "grade": grade,
                               "rated_on": day(rated_on), "period": period}


def licence(decision_no, status, valid_from, valid_until=None, occurred="2024-01-01T00:00:00", **kw):
    return "AdminLicence", {**common(occurred=occurred, **kw), "decision_no": decision_no, "licence_name": "食品经营许可",
                            "licence_no": None, "licence_type": "普通", "content": "食品销售", "decided_on": day(valid_from),
                            "valid_from": day(valid_from), "valid_until": day(valid_until) if valid_until else None,
                            "status": status, **authority()}


def penalty(decision_no, decided_on, severity="GENERAL", types=("FINE",), fine="1000.00", confiscated="0.00",
            publicity_until=None, revoked=False, occurred="2024-01-01T00:00:00", **kw):
    return "AdminPenalty", {**common(occurred=occurred, **kw), "decision_no": decision_no, "decision_name": "行政处罚决定书",
                            "violation_type": "环境", "violation_facts": "超标排放", "legal_basis": "大气污染防治法",
                            "penalty_content": "罚款", "penalty_types": list(types), "fine_amount": Decimal(fine),
                            "confiscated_amount": Decimal(confiscated), "licence_affected": None,
                            "decided_on": day(decided_on),
                            "publicity_until": day(publicity_until) if publicity_until else None,
                            "severity": severity, "revoked": revoked, **authority()}


def enforcement(decision_no, executed_on, occurred="2024-01-01T00:00:00", **kw):
    return "AdminEnforcement", {**common(occurred=occurred, **kw), "decision_no": decision_no, "decision_name": "查封决定",
                                "reason": "欠款", "legal_basis": "行政强制法", "method": "查封",
                                "executed_on": day(executed_on), **authority()}


def repair(decision_no, outcome, decided_at, occurred=None, **kw):
    return "CreditRepair", {**common(occurred=occurred or decided_at, **kw), "decision_no": decision_no,
                            "outcome": outcome, "decided_at": instant(decided_at), "note": "已整改"}


def real_estate(certificate_no, status, registered_on, area, occurred="2024-01-01T00:00:00", **kw):
    return "RealEstateRight", {**common(occurred=occurred, **kw), "certificate_no": certificate_no, "unit_no": "U1",
                               "use": "工业", "location": "黑河市", "area_m2": Decimal(area), "term_end": None,
                               "registry": "黑河市不动产登记中心", "registered_on": day(registered_on), "status": status}


def mortgage(registration_no, status, registered_on, occurred="2024-01-01T00:00:00", **kw):
    return "RealEstateMortgage", {**common(occurred=occurred, **kw), "registration_no": registration_no,
                                  "certificate_no": "C1", "unit_no": "U1", "right_type": "国有建设用地使用权",
                                  "mortgagee_name": "某银行", "mortgagee_id": "91230000MA00000000",
                                  "registered_on": day(registered_on), "status": status}


def rd(kind, reference_no, year, valid_until=None, revoked=False, occurred="2024-01-01T00:00:00", **kw):
    return "RdRecognition", {**common(occurred=occurred, **kw), "kind": kind, "reference_no": reference_no, "year": year,
                             "valid_until": day(valid_until) if valid_until else None, "revoked": revoked}


def agri_operator(category, occurred="2024-01-01T00:00:00", **kw):
    return "AgriOperator", {**common(occurred=occurred, **kw), "category": category, "head_name": "李四",
                            "location": "黑河市", "business_scope": "大豆种植"}


def land(certificate_no, status, issued_on, term_end, area, occurred="2024-01-01T00:00:00", **kw):
    return "RuralLandRight", {**common(occurred=occurred, **kw), "certificate_no": certificate_no, "issuer": "农业农村局",
                              "issued_on": day(issued_on), "term_end": day(term_end), "land_name": "东地",
                              "location": "黑河市", "use": "耕地", "area_mu": Decimal(area), "change_note": None,
                              "status": status}


def housing(certificate_no, status, registered_on, area="120.00", occurred="2024-01-01T00:00:00", **kw):
    return "FarmerHousingRight", {**common(occurred=occurred, **kw), "certificate_no": certificate_no,
                                  "holder_name": "王五", "location": "黑河市", "area_m2": Decimal(area),
                                  "registered_on": day(registered_on), "status": status}


def about(uscc: str, *facts):
    """The same facts about another enterprise (tests that share the session's topics use their own)."""
    return [(record, {**value, "uscc": uscc}) for record, value in facts]


# v1.2: the wider collection list
def _opt_day(text):
    return day(text) if text else None


def _due(month: str) -> dt.date:
    """The 15th of the month, or a fixed day for a month that is not real (records built to be refused)."""
    try:
        return day(month + "-15")
    except ValueError:
        return day("2025-01-15")


def contribution(record, account, month, employees, paid, arrears="0.00", revision=0, due="1000.00", **kw):
    """A SocialInsuranceStatement (insurance types PENSION, MEDICAL) or HousingFundStatement."""
    value = {**common(**kw), "account_no": account, "account_name": "甲", "contribution_month": month,
             "employee_count": employees, "amount_due": Decimal(due), "amount_paid": Decimal(paid),
             "due_date": _due(month), "paid_date": None, "arrears_amount": Decimal(arrears), "revision": revision}
    if record == "SocialInsuranceStatement":
        value["insurance_types"] = ["PENSION", "MEDICAL"]
    return record, value


def social(account, month, employees, paid, arrears="0.00", revision=0, **kw):
    return contribution("SocialInsuranceStatement", account, month, employees, paid, arrears, revision, **kw)


def housing_fund(account, month, employees, paid, arrears="0.00", revision=0, **kw):
    return contribution("HousingFundStatement", account, month, employees, paid, arrears, revision, **kw)


def trade(code, month, imported, exported, revision=0, declarations=3, **kw):
    return "CustomsTradeStatement", {**common(**kw), "customs_code": code, "trade_month": month,
                                     "import_value": Decimal(imported), "export_value": Decimal(exported),
                                     "declarations": declarations, "revision": revision}


def customs_grade(decision_no, grade, decided_on, valid_until=None, occurred="2024-01-01T00:00:00", **kw):
    return "CustomsCreditGrade", {**common(occurred=occurred, **kw), "customs_code": "2311960001",
                                  "customs_office": "黑河海关", "decision_no": decision_no, "grade": grade,
                                  "decided_on": day(decided_on), "valid_until": _opt_day(valid_until)}


def patent(patent_no, kind, granted_on, valid_until, status="VALID", applied_on=None, occurred="2024-01-01T00:00:00",
           **kw):
    return "Patent", {**common(occurred=occurred, **kw), "patent_no": patent_no, "title": "一种装置", "kind": kind,
                      "applied_on": day(applied_on or granted_on), "granted_on": day(granted_on),
                      "valid_until": day(valid_until), "status": status}


def trademark(registration_no, registered_on, valid_until, status="VALID", nice_class=29,
              occurred="2024-01-01T00:00:00", **kw):
    return "Trademark", {**common(occurred=occurred, **kw), "registration_no": registration_no, "mark_name": "黑河",
                         "nice_class": nice_class, "registered_on": day(registered_on),
                         "valid_until": day(valid_until), "status": status}


def ip_pledge(registration_no, status, registered_on, term_end=None, amount="500000.00",
              occurred="2024-01-01T00:00:00", **kw):
    return "IpPledge", {**common(occurred=occurred, **kw), "registration_no": registration_no, "ip_kind": "PATENT",
                        "ip_no": "ZL1", "pledgee_name": "黑河银行", "pledgee_id": "91231100MA1000000X",
                        "secured_amount": Decimal(amount), "registered_on": day(registered_on),
                        "term_end": _opt_day(term_end), "status": status}


def award(notice_no, awarded_on, amount, status="VALID", occurred="2024-01-01T00:00:00", **kw):
    return "PublicResourceAward", {**common(occurred=occurred, **kw), "notice_no": notice_no, "project_no": "P1",
                                   "project_name": "道路维修", "trade_type": "CONSTRUCTION", "buyer_name": "黑河市交通局",
                                   "award_amount": Decimal(amount), "awarded_on": day(awarded_on), "status": status}


def dishonest(case_no, listed_on, removed_on=None, occurred="2024-01-01T00:00:00", **kw):
    return "DishonestDebtor", {**common(occurred=occurred, **kw), "case_no": case_no, "court_name": "黑河市中级人民法院",
                               "basis_doc_no": "(2023)黑11民初1号", "basis_unit": "黑河市中级人民法院",
                               "filed_on": day(listed_on), "obligation": "支付货款", "performance": "NOT_PERFORMED",
                               "circumstances": ["ABLE_BUT_REFUSED"], "listed_on": day(listed_on),
                               "removed_on": _opt_day(removed_on)}


def court_case(case_no, filed_on, amount, closed_on=None, occurred="2024-01-01T00:00:00", **kw):
    return "EnforcementCase", {**common(occurred=occurred, **kw), "case_no": case_no, "court_name": "爱辉区人民法院",
                               "filed_on": day(filed_on), "amount": Decimal(amount), "closed_on": _opt_day(closed_on)}


GOOD_MONTHS = [f"2024-{m:02d}" for m in range(7, 13)] + [f"2025-{m:02d}" for m in range(1, 7)]


def good_standing():
    """12 months of water paid on time, 12 monthly VAT payments on time, tax grade A: cs-eval-1
    gives 87 (AA) and every whitelist condition holds."""
    water = [statement("water", "W1", m, "10.000", "40.00", occurred=f"{m}-25T00:00:00") for m in GOOD_MONTHS]
    vat = [payment("VAT", f"{m}-01", last_day_of(m), "100.00", "100.00", next_15th(m),
                   next_15th(m), occurred=f"{m}-28T00:00:00") for m in GOOD_MONTHS]
    return [*water, *vat, rating(2024, "A", "2025-04-01T00:00:00")]
