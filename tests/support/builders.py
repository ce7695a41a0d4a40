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
