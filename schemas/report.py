"""The standardised credit report (platform-services.md, "Standardised credit report"): its
content as JSON, built from what the platform holds about one enterprise. Pure, no I/O: the API
hands in the aggregate row, the records in force, the open disputes and the scopes the requester
may see, and renders the HTML and PDF from the result.

Sections follow the national public credit information report (《公共信用信息报告》): number
and issue time; subject; summary; administrative licences in force; penalties in publicity
(repaired and expired ones left out); enforcement in the last 12 months; honours; environmental
credit; v1.2's public sections (the courts' lists, customs credit, intellectual property,
public-resource awards); then, only under the matching consent, utility, tax, real estate, R&D,
agricultural, social-insurance and customs-trade sections and the evaluation. Red lines hit
(一票否决, cs-eval-2) come first, each with the records behind it; the open disputes (each disputed item is marked where it is
listed); as-of month and date with each section's sources; how to object and apply for repair.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Iterable, NamedTuple, Optional

from creditstream.schemas.cs_eval_1 import explain
from creditstream.schemas.cs_eval_2 import visible_red_lines
from creditstream.schemas.labels import INDICATOR_LABELS, band_text
from creditstream.schemas.models import CONTRIBUTION_SERIES, PUBLIC, RED_LINES, SCOPES, UTILITY_AND_TAX
from creditstream.schemas.months import parse_month
from creditstream.schemas.records import to_json
from creditstream.schemas.services import DISPUTE_KEYS, penalty_in_publicity, record_key
from creditstream.schemas.topics import TOPIC_OF, UTILITIES
from creditstream.schemas.verification import ADMINISTRATIVE  # the records that name a legal representative

FORMAT = "creditstream-report/1"


class Section(NamedTuple):
    id: str
    title_zh: str
    title_en: str
    scope: str  # PUBLIC, a consent scope, or UTILITY+TAX (the evaluation)
    records: tuple[str, ...]  # the record types it lists (their topics are its sources)


SECTIONS: tuple[Section, ...] = (
    Section("red_lines", "一票否决事项", "Red lines (joint punishment)", PUBLIC,
            ("DishonestDebtor", "CustomsCreditGrade", "SocialInsuranceStatement")),
    Section("licences", "行政许可信息", "Administrative licences in force", PUBLIC, ("AdminLicence",)),
    Section("penalties", "行政处罚信息", "Administrative penalties in publicity", PUBLIC,
            ("AdminPenalty", "CreditRepair")),
    Section("enforcement", "行政强制信息", "Administrative enforcement (last 12 months)", PUBLIC, ("AdminEnforcement",)),
    Section("honours", "守信激励信息", "Honours", PUBLIC, ("TaxCreditRating", "RdRecognition")),
    Section("environment", "环境信用信息", "Environmental credit", PUBLIC, ("EnvCreditRating",)),
    Section("courts", "失信被执行人与被执行信息", "Dishonest judgment debtors and enforcement cases", PUBLIC,
            ("DishonestDebtor", "EnforcementCase")),
    Section("customs_credit", "海关信用信息", "Customs credit grade", PUBLIC, ("CustomsCreditGrade",)),
    Section("intellectual_property", "知识产权信息", "Patents, trademarks and IP pledges", PUBLIC,
            ("Patent", "Trademark", "IpPledge")),
    Section("public_resources", "公共资源交易信息", "Public-resource awards (last 12 months)", PUBLIC,
            ("PublicResourceAward",)),
    Section("utility", "公用事业缴费信息", "Water, electricity and gas", "UTILITY",
            ("WaterStatement", "ElectricityStatement", "GasStatement")),
    Section("tax", "纳税信息", "Tax", "TAX", ("TaxPayment", "TaxCreditRating", "TaxArrears", "TaxpayerStatus")),
    Section("real_estate", "不动产信息", "Real estate", "REAL_ESTATE", ("RealEstateRight", "RealEstateMortgage")),
    Section("rd", "科技研发信息", "Research and development", "RD", ("RdRecognition",)),
    Section("agri", "涉农信息", "Agriculture", "AGRI", ("AgriOperator", "RuralLandRight", "FarmerHousingRight")),
    Section("social", "社保与公积金信息", "Social insurance and housing fund", "SOCIAL",
            ("SocialInsuranceStatement", "HousingFundStatement")),
    Section("trade", "进出口信息", "Customs trade", "TRADE", ("CustomsTradeStatement",)),
    Section("evaluation", "信用评价信息", "Credit evaluation (cs-eval-2)", UTILITY_AND_TAX, ()),
)
# the fixed parts around the sections, with their headings (the HTML and the PDF show them all)
HEADINGS = {
    "title": ("公共信用信息报告（标准版）", "Standardised credit information report"),
    "report": ("报告编号与出具时间", "Report number and issue time"),
    "subject": ("主体信息", "Subject"),
    "summary": ("信息概要", "Summary"),
    "disputes": ("异议信息", "Records under dispute"),
    "as_of": ("数据时点与来源", "As of, and sources"),
    "object": ("异议与信用修复途径", "How to object and how to apply for credit repair"),
}
HOW_TO_OBJECT = (
    "对本报告所列信息有异议的，企业可通过平台提出异议（POST /v1/me/disputes，或企业页面中的“对此记录提出异议”）；"
    "信息提供单位或平台应在20日内答复，异议期间相关记录标注“异议中”。"
    " An enterprise that finds a record wrong objects to it on the platform; the provider or the platform answers "
    "within 20 days, and the record is marked as disputed meanwhile.")
HOW_TO_REPAIR = (
    "行政处罚在公示期内且满足最短公示期的，企业可在履行处罚义务后作出信用承诺并申请信用修复（POST /v1/me/repairs）；"
    "平台在10个工作日内作出决定，修复后的处罚不再出现在报告中。"
    " After fulfilling a penalty's obligations and its minimum publicity period, the enterprise may pledge and apply "
    "for credit repair; the platform decides within 10 working days, and a repaired penalty leaves the report."
    " 失信被执行人名单只能由执行法院移除（履行义务后向执行法院申请）；海关失信企业认定只能由海关作出新的认定或期满终止。"
    " A listed dishonest judgment debtor leaves the list only by the enforcing court (apply to it after performing); "
    "a customs-dishonest finding ends only by a new customs decision or its expiry: the platform cannot repair either.")


class ReportInput(NamedTuple):
    number: str
    issued_at: dt.datetime
    uscc: str
    requester_kind: str  # lender | enterprise
    requester_id: str
    row: Optional[dict]  # the aggregate row (every field), or None when nothing is held
    records: list[dict]  # every record in force: {"record", "occurred_at", "event_id", "provider_id", fields…}
    disputes_open: list[dict]  # {"dispute_id", "record", "key", "filed_at", "topic"}
    allowed: frozenset[str]  # the consent scopes the requester may see (all for the enterprise itself)
    reference: dt.date  # R: the day registers are read at (the row's as_of_date)
    enterprise_name: str = ""


def build(data: ReportInput) -> dict:
    """The report's content: everything the HTML and PDF show, nothing they do not."""
    by_record: dict[str, list[dict]] = {}
    for item in data.records:
        by_record.setdefault(item["record"], []).append(item)
    disputed = {(d["record"], record_key(d["record"], d["key"])): d for d in data.disputes_open}
    row = data.row or {}
    sections = [_section(section, data, by_record, row, disputed) for section in SECTIONS]
    shown = {s["id"]: s for s in sections if s["shown"]}
    summary = {
        "licences_in_force": len(shown["licences"]["items"]),
        "penalties_in_publicity": len(shown["penalties"]["items"]),
        "enforcements_12m": len(shown["enforcement"]["items"]),
        "honours": len(shown["honours"]["items"]),
        "red_lines": shown["red_lines"]["facts"][RED_LINES],
        "dishonest_listings": sum(1 for i in shown["courts"]["items"] if i["record"] == "DishonestDebtor"),
        "enforcement_cases_active": sum(1 for i in shown["courts"]["items"] if i["record"] == "EnforcementCase"),
        "disputes_open": len(data.disputes_open),
        "sections_withheld": [s["id"] for s in sections if not s["shown"]],
    }
    return {
        "format": FORMAT,
        "number": data.number,
        "issued_at": to_json(data.issued_at),
        "requester": {"kind": data.requester_kind, "id": data.requester_id},
        "subject": _subject(data, by_record),
        "as_of_month": row.get("as_of_month"),
        "as_of_date": row.get("as_of_date", data.reference.isoformat()),
        "scopes_shown": sorted(data.allowed, key=SCOPES.index),
        "summary": summary,
        "sections": sections,
        "disputes_open": [dict(d) for d in data.disputes_open],
        "how_to_object": HOW_TO_OBJECT,
        "how_to_repair": HOW_TO_REPAIR,
    }


def content_bytes(report: dict) -> bytes:
    """The canonical JSON of a report: what its SHA-256 is taken over, and what is stored."""
    return json.dumps(report, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def content_sha256(report: dict) -> str:
    return hashlib.sha256(content_bytes(report)).hexdigest()


def _may_see(scope: str, allowed: frozenset[str]) -> bool:
    if scope == PUBLIC:
        return True
    if scope == UTILITY_AND_TAX:
        return {"UTILITY", "TAX"} <= allowed
    return scope in allowed


def _subject(data: ReportInput, by_record: dict[str, list[dict]]) -> dict:
    """Name, USCC and the legal representative named by the latest administrative record."""
    naming = [r for name in ADMINISTRATIVE for r in by_record.get(name, []) if r.get("legal_rep_name")]
    latest = max(naming, key=lambda r: (str(r["occurred_at"]), r["event_id"]), default=None)
    names = [r for items in by_record.values() for r in items if r.get("enterprise_name")]
    name = data.enterprise_name or (max(names, key=lambda r: str(r["occurred_at"]))["enterprise_name"] if names else "")
    return {"enterprise_name": name, "uscc": data.uscc,
            "legal_representative": {"name": latest["legal_rep_name"], "id_no_masked": latest.get("legal_rep_id_no")}
            if latest else None}


def _section(section: Section, data: ReportInput, by_record: dict, row: dict, disputed: dict) -> dict:
    out = {"id": section.id, "title_zh": section.title_zh, "title_en": section.title_en, "scope": section.scope,
           "sources": [TOPIC_OF[r] for r in section.records if r in TOPIC_OF]}
    if not _may_see(section.scope, data.allowed):
        needed = "UTILITY and TAX" if section.scope == UTILITY_AND_TAX else section.scope
        return {**out, "shown": False, "withheld": f"不在授权范围内 / needs the enterprise's consent ({needed})"}
    items, facts = ITEMS[section.id](data, by_record, row)
    for item in items:
        record = item.get("record")
        if record in DISPUTE_KEYS and all(name in item for name in DISPUTE_KEYS[record]):
            dispute = disputed.get((record, record_key(record, {k: str(v) for k, v in item.items()})))
            if dispute is not None:
                item["disputed"] = {"dispute_id": dispute["dispute_id"], "filed_at": dispute["filed_at"]}
    providers = sorted({str(i["provider_id"]) for i in items if i.get("provider_id")})
    # disputes on what the section shows as figures (a statement, a payment) mark the section itself
    on_section = sorted(d["dispute_id"] for (record, _key), d in disputed.items() if record in section.records)
    return {**out, "shown": True, "facts": facts, "items": items, "providers": providers,
            "disputes_open": on_section}


def _strip(item: dict, *fields: str) -> dict:
    """An item as shown: its record type, who published it and when, and the named fields."""
    return {"record": item["record"], "provider_id": item.get("provider_id"), "occurred_at": item.get("occurred_at"),
            **{name: item.get(name) for name in fields}}


def _licences(data: ReportInput, by_record: dict, row: dict):
    r = data.reference.isoformat()
    items = [_strip(i, "decision_no", "licence_name", "licence_no", "licence_type", "valid_from", "valid_until",
                    "authority_name")
             for i in by_record.get("AdminLicence", [])
             if i.get("status") == "VALID" and str(i["valid_from"]) <= r and (i.get("valid_until") in (None, "")
                                                                            or str(i["valid_until"]) >= r)]
    return sorted(items, key=lambda i: str(i["valid_from"])), {}


def _penalties(data: ReportInput, by_record: dict, row: dict):
    repairs = {i["decision_no"]: i for i in by_record.get("CreditRepair", [])}
    items = [_strip(i, "decision_no", "decision_name", "violation_type", "penalty_content", "penalty_types",
                    "fine_amount", "severity", "decided_on", "authority_name")
             for i in by_record.get("AdminPenalty", [])
             if penalty_in_publicity(i, repairs.get(i["decision_no"]), data.reference)]
    return sorted(items, key=lambda i: str(i["decided_on"]), reverse=True), {}


def _enforcement(data: ReportInput, by_record: dict, row: dict):
    as_of = _month_index(data, row)
    items = [_strip(i, "decision_no", "decision_name", "reason", "method", "executed_on", "authority_name")
             for i in by_record.get("AdminEnforcement", [])
             if 0 <= as_of - parse_month(str(i.get("executed_on", ""))[:7] or "0000-01") < 12]
    return sorted(items, key=lambda i: str(i["executed_on"]), reverse=True), {}


def _honours(data: ReportInput, by_record: dict, row: dict):
    """Public recognitions only: an A tax grade (the tax bureau publishes the A list), a high-tech
    enterprise recognition, a city key lab. Any other grade is not an honour and is not shown here."""
    items = []
    if row.get("tax_rating_grade") == "A":
        items.append({"record": "TaxCreditRating", "honour": "纳税信用A级 / tax credit grade A",
                      "rating_year": row.get("tax_rating_year"), "year": row.get("tax_rating_year")})
    for i in by_record.get("RdRecognition", []):
        if i.get("revoked"):
            continue
        if i.get("kind") == "HIGH_TECH_ENTERPRISE" and row.get("high_tech_enterprise"):
            items.append({**_strip(i, "kind", "reference_no", "year", "valid_until"),
                          "honour": "高新技术企业 / high-tech enterprise"})
        elif i.get("kind") == "CITY_KEY_LAB" and row.get("key_lab"):
            items.append({**_strip(i, "kind", "reference_no", "year"), "honour": "市级重点实验室 / city key lab"})
    return items, {}


def _environment(data: ReportInput, by_record: dict, row: dict):
    items = [_strip(i, "period", "grade", "score", "rated_on")
             for i in by_record.get("EnvCreditRating", []) if str(i.get("rated_on")) <= data.reference.isoformat()]
    return sorted(items, key=lambda i: str(i["rated_on"]), reverse=True), {
        name: row.get(name) for name in ("env_grade", "env_score", "env_rated_on")}


def _fields(prefixes: Iterable[str], row: dict) -> dict:
    return {name: value for name, value in row.items() if name.startswith(tuple(prefixes))}


def _utility(data: ReportInput, by_record: dict, row: dict):
    return [], _fields(UTILITIES, row)


def _whole(item: dict) -> dict:
    """An item with every field of its own (for the sections that list records as they are)."""
    return _strip(item, *(k for k in item if k not in ("record", "provider_id", "occurred_at", "event_id", "uscc",
                                                       "enterprise_name", "received_at")))


def _tax(data: ReportInput, by_record: dict, row: dict):
    items = [_whole(i) for name in ("TaxCreditRating", "TaxArrears", "TaxpayerStatus") for i in by_record.get(name, [])]
    return items, _fields(("vat_", "cit_", "tax_", "taxpayer_"), row)


def _registers(*records: str, facts: tuple[str, ...] = ()):
    def listed(data: ReportInput, by_record: dict, row: dict):
        items = [_whole(i) for name in records for i in by_record.get(name, [])]
        return items, {name: row.get(name) for name in facts}
    return listed


def _evaluation(data: ReportInput, by_record: dict, row: dict):
    """The figures, and each indicator in words: what it reads, the band the enterprise is in, its
    points of the most it could give."""
    facts = {name: row.get(name) for name in ("eval_model", "eval_score", "eval_grade", "whitelisted")}
    items = [{"indicator": indicator.id, "meaning": f"{INDICATOR_LABELS[indicator.id].zh} {INDICATOR_LABELS[indicator.id].en}",
              "band": _both(condition), "points": points, "of": best} for indicator, condition, points, best in explain(row)]
    return items, {**facts, RED_LINES: visible_red_lines(list(row.get(RED_LINES, [])), data.allowed)}


# -- v1.2 ------------------------------------------------------------------------------------------

def _month_index(data: ReportInput, row: dict) -> int:
    """The as-of month M of the row (the reference date's month without one)."""
    return parse_month(row["as_of_month"]) if row.get("as_of_month") else data.reference.year * 12 + data.reference.month - 1


def _listed(item: dict, r: str) -> bool:
    """On the dishonest-debtor list at R: only the court's removed_on ends a listing."""
    return str(item["listed_on"]) <= r and (item.get("removed_on") in (None, "") or str(item["removed_on"]) > r)


def _open_case(item: dict, r: str) -> bool:
    return str(item["filed_on"]) <= r and (item.get("closed_on") in (None, "") or str(item["closed_on"]) > r)


def _customs_decision(by_record: dict, r: str) -> Optional[dict]:
    """The customs decision in force: the latest decided_on ≤ R, ties the greater decision_no."""
    decided = [i for i in by_record.get("CustomsCreditGrade", []) if str(i["decided_on"]) <= r]
    return max(decided, key=lambda i: (str(i["decided_on"]), str(i["decision_no"])), default=None)


def _red_lines(data: ReportInput, by_record: dict, row: dict):
    """The red lines hit that the requester may see, first in the report, each with its records."""
    r, hit = data.reference.isoformat(), visible_red_lines(list(row.get(RED_LINES, [])), data.allowed)
    items = []
    if "X1" in hit:
        items += [{**_whole(i), "red_line": "X1"} for i in by_record.get("DishonestDebtor", []) if _listed(i, r)]
    decision = _customs_decision(by_record, r)
    if "X2" in hit and decision is not None:
        items.append({**_whole(decision), "red_line": "X2"})
    if "X3" in hit:
        as_of = _month_index(data, row)
        items += [{**_whole(i), "red_line": "X3"} for i in by_record.get("SocialInsuranceStatement", [])
                  if 0 <= as_of - parse_month(str(i["contribution_month"])) < 3 and float(i["arrears_amount"]) > 0]
    return items, {RED_LINES: hit, "eval_model": row.get("eval_model")}


def _courts(data: ReportInput, by_record: dict, row: dict):
    r = data.reference.isoformat()
    items = [_whole(i) for i in by_record.get("DishonestDebtor", []) if _listed(i, r)]
    items += [_whole(i) for i in by_record.get("EnforcementCase", []) if _open_case(i, r)]
    return items, {name: row.get(name) for name in ("court_dishonest", "court_dishonest_count",
                                                    "enforcement_cases_active", "enforcement_amount_active")}


def _customs_credit(data: ReportInput, by_record: dict, row: dict):
    decision = _customs_decision(by_record, data.reference.isoformat())
    return ([_whole(decision)] if decision else []), {name: row.get(name)
                                                      for name in ("customs_grade", "customs_grade_decided_on")}


def _intellectual_property(data: ReportInput, by_record: dict, row: dict):
    r = data.reference.isoformat()
    items = [_whole(i) for i in by_record.get("Patent", [])
             if i.get("status") == "VALID" and str(i["granted_on"]) <= r <= str(i["valid_until"])]
    items += [_whole(i) for i in by_record.get("Trademark", [])
              if i.get("status") == "VALID" and str(i["registered_on"]) <= r <= str(i["valid_until"])]
    items += [_whole(i) for i in by_record.get("IpPledge", []) if i.get("status") == "ACTIVE"
              and str(i["registered_on"]) <= r]
    return items, {name: row.get(name) for name in ("patents_valid", "invention_patents_valid", "trademarks_valid",
                                                    "ip_pledges_active")}


def _public_resources(data: ReportInput, by_record: dict, row: dict):
    as_of = _month_index(data, row)
    items = [_whole(i) for i in by_record.get("PublicResourceAward", [])
             if i.get("status") == "VALID" and 0 <= as_of - parse_month(str(i["awarded_on"])[:7]) < 12]
    return sorted(items, key=lambda i: str(i["awarded_on"]), reverse=True), {
        name: row.get(name) for name in ("awards_12m", "award_amount_12m")}


def _statements_of(records: tuple[str, ...], month_field: str, prefixes: tuple[str, ...]):
    """A consent section of v1.2 statements: the row's figures and the statements of its 12 months."""
    def listed(data: ReportInput, by_record: dict, row: dict):
        as_of = _month_index(data, row)
        items = [_whole(i) for name in records for i in by_record.get(name, [])
                 if 0 <= as_of - parse_month(str(i[month_field])) < 12]
        return sorted(items, key=lambda i: (i["record"], str(i[month_field]))), _fields(prefixes, row)
    return listed


ITEMS = {
    "licences": _licences, "penalties": _penalties, "enforcement": _enforcement, "honours": _honours,
    "environment": _environment, "utility": _utility, "tax": _tax,
    "real_estate": _registers("RealEstateRight", "RealEstateMortgage",
                              facts=("real_estate_rights_active", "real_estate_area_m2", "mortgages_active")),
    "rd": _registers("RdRecognition", facts=("high_tech_enterprise", "science_projects_3y", "key_lab")),
    "agri": _registers("AgriOperator", "RuralLandRight", "FarmerHousingRight",
                       facts=("agri_operator_category", "rural_land_rights_active", "rural_land_area_mu",
                              "housing_rights_active")),
    "evaluation": _evaluation,
    "red_lines": _red_lines, "courts": _courts, "customs_credit": _customs_credit,
    "intellectual_property": _intellectual_property, "public_resources": _public_resources,
    "social": _statements_of(("SocialInsuranceStatement", "HousingFundStatement"), "contribution_month",
                             tuple(f"{k}_" for k in CONTRIBUTION_SERIES)),
    "trade": _statements_of(("CustomsTradeStatement",), "trade_month",
                            ("trade_", "export_value_")),
}


def _both(condition):
    """A band in the report's two languages ("有缴费记录，均无欠费 Records held, none in arrears")."""
    zh, en = band_text(condition, "zh"), band_text(condition, "en")
    return zh if zh == en or not isinstance(zh, str) else f"{zh} {en}"
