"""The .avsc files implement the contract field for field, and stay backward compatible."""
import json
import shutil

import pytest

from creditstream.schemas import AVRO_DIR
from creditstream.schemas.codec import Codec
from creditstream.schemas.compat import incompatibilities, samples
from creditstream.schemas.topics import FINANCE_TOPICS, PROVIDER_TOPICS

COMMON = {"event_id": "string", "provider_id": "string", "uscc": "string", "enterprise_name": "string",
          "occurred_at": "instant"}
STATEMENT = {"account_no": "string", "account_name": "string", "billing_month": "string", "usage": "usage",
             "amount_due": "money", "amount_paid": "money", "due_date": "date", "paid_date": "null|date",
             "arrears_amount": "money", "revision": "int"}
ELECTRICITY = {"usage_type": "null|string", "account_opened_on": "null|date", "region_province": "null|string",
               "region_city": "null|string", "value_grade": "null|string", "risk_grade": "null|string"}
# Transcribed from shared/contract/credit-events.md, "Topics and records".
CONTRACT = {
    "WaterStatement": STATEMENT,
    "ElectricityStatement": {**STATEMENT, **ELECTRICITY},
    "GasStatement": STATEMENT,
    "TaxPayment": {"tax_type": "enum(VAT,CIT,OTHER)", "period_start": "date", "period_end": "date",
                   "amount_payable": "money", "amount_paid": "money", "due_date": "date", "paid_date": "null|date",
                   "revision": "int"},
    "TaxCreditRating": {"rating_year": "int", "grade": "enum(A,B,M,C,D)"},
    "TaxArrears": {"as_of": "date", "in_arrears": "boolean", "amount": "money", "tax_types": "array(string)"},
    "TaxpayerStatus": {"as_of": "date", "abnormal": "boolean"},
    "ConsentGrant": {"lender_id": "string", "scopes": "array(enum(UTILITY,TAX,REAL_ESTATE,RD,AGRI,SOCIAL,TRADE))",
                     "granted_at": "instant", "expires_at": "instant", "revoked": "boolean"},
}
# v1.1, "New topics and records"; legal_rep_id_hmac is the platform's own (docs/contract-notes.md)
AUTHORITY = {"authority_name": "string", "authority_uscc": "string"}
LEGAL_REP = {"legal_rep_name": "null|string", "legal_rep_id_type": "null|enum(ID_CARD,PASSPORT,OTHER)",
             "legal_rep_id_no": "null|string", "legal_rep_id_hmac": "null|string"}
CONTRACT.update({
    "EnvCreditRating": {"score": "score", "grade": "enum(GREEN,BLUE,YELLOW,RED,BLACK)", "rated_on": "date",
                        "period": "string"},
    "RealEstateRight": {"certificate_no": "string", "unit_no": "string", "use": "string", "location": "string",
                        "area_m2": "money", "term_end": "null|date", "registry": "string", "registered_on": "date",
                        "status": "enum(ACTIVE,CANCELLED)"},
    "RealEstateMortgage": {"registration_no": "string", "certificate_no": "string", "unit_no": "string",
                           "right_type": "string", "mortgagee_name": "string", "mortgagee_id": "string",
                           "registered_on": "date", "status": "enum(ACTIVE,RELEASED)"},
    "AdminLicence": {"decision_no": "string", "licence_name": "string", "licence_no": "null|string",
                     "licence_type": "string", "content": "string", "decided_on": "date", "valid_from": "date",
                     "valid_until": "null|date", "status": "enum(VALID,REVOKED,CANCELLED)", **AUTHORITY, **LEGAL_REP},
    "AdminPenalty": {"decision_no": "string", "decision_name": "string", "violation_type": "string",
                     "violation_facts": "string", "legal_basis": "string", "penalty_content": "string",
                     "penalty_types": "array(enum(WARNING,CRITICISM,FINE,CONFISCATION,LICENCE_SUSPENDED,"
                                      "LICENCE_REVOKED,RESTRICTED,PRODUCTION_SUSPENDED,OTHER))",
                     "fine_amount": "money", "confiscated_amount": "money", "licence_affected": "null|string",
                     "decided_on": "date", "publicity_until": "null|date", "severity": "enum(MINOR,GENERAL,SERIOUS)",
                     "revoked": "boolean", **AUTHORITY, **LEGAL_REP},
    "AdminEnforcement": {"decision_no": "string", "decision_name": "string", "reason": "string",
                         "legal_basis": "string", "method": "string", "executed_on": "date", **AUTHORITY, **LEGAL_REP},
    "CreditRepair": {"decision_no": "string", "outcome": "enum(APPROVED,REJECTED)", "decided_at": "instant",
                     "note": "string"},
    "RdRecognition": {"kind": "enum(CITY_SCIENCE_PROJECT,HIGH_TECH_ENTERPRISE,CITY_KEY_LAB)",
                      "reference_no": "string", "year": "int", "valid_until": "null|date", "revoked": "boolean"},
    "AgriOperator": {"category": "enum(FAMILY_FARM,COOPERATIVE,LEADING_ENTERPRISE,SERVICE_ORGANISATION,OTHER)",
                     "head_name": "string", "location": "string", "business_scope": "string"},
    "RuralLandRight": {"certificate_no": "string", "issuer": "string", "issued_on": "date", "term_end": "date",
                       "land_name": "string", "location": "string", "use": "string", "area_mu": "money",
                       "change_note": "null|string", "status": "enum(ACTIVE,TRANSFERRED,CANCELLED)"},
    "FarmerHousingRight": {"certificate_no": "string", "holder_name": "string", "location": "string",
                           "area_m2": "money", "registered_on": "date", "status": "enum(ACTIVE,CANCELLED)"},
})
# v1.2, "New topics and records"
CONTRIBUTION = {"account_no": "string", "account_name": "string", "contribution_month": "string",
                "employee_count": "int", "amount_due": "money", "amount_paid": "money", "due_date": "date",
                "paid_date": "null|date", "arrears_amount": "money", "revision": "int"}
CONTRACT.update({
    "SocialInsuranceStatement": {**CONTRIBUTION, "insurance_types": "array(enum(PENSION,MEDICAL,UNEMPLOYMENT,"
                                                                     "WORK_INJURY,MATERNITY))"},
    "HousingFundStatement": CONTRIBUTION,
    "CustomsTradeStatement": {"customs_code": "string", "trade_month": "string", "import_value": "money",
                              "export_value": "money", "declarations": "int", "revision": "int"},
    "CustomsCreditGrade": {"customs_code": "string", "customs_office": "string", "decision_no": "string",
                           "grade": "enum(ADVANCED_CERTIFIED,GENERAL,DISHONEST)", "decided_on": "date",
                           "valid_until": "null|date"},
    "Patent": {"patent_no": "string", "title": "string", "kind": "enum(INVENTION,UTILITY_MODEL,DESIGN)",
               "applied_on": "date", "granted_on": "date", "valid_until": "date",
               "status": "enum(VALID,LAPSED,INVALIDATED)"},
    "Trademark": {"registration_no": "string", "mark_name": "string", "nice_class": "int", "registered_on": "date",
                  "valid_until": "date", "status": "enum(VALID,CANCELLED,INVALIDATED)"},
    "IpPledge": {"registration_no": "string", "ip_kind": "enum(PATENT,TRADEMARK)", "ip_no": "string",
                 "pledgee_name": "string", "pledgee_id": "string", "secured_amount": "money",
                 "registered_on": "date", "term_end": "null|date", "status": "enum(ACTIVE,RELEASED)"},
    "PublicResourceAward": {"notice_no": "string", "project_no": "string", "project_name": "string",
                            "trade_type": "enum(CONSTRUCTION,GOVERNMENT_PROCUREMENT,LAND_MINERAL,STATE_ASSET,OTHER)",
                            "buyer_name": "string", "award_amount": "money", "awarded_on": "date",
                            "status": "enum(VALID,CANCELLED)"},
    "DishonestDebtor": {"case_no": "string", "court_name": "string", "basis_doc_no": "string", "basis_unit": "string",
                        "filed_on": "date", "obligation": "string",
                        "performance": "enum(NOT_PERFORMED,PARTIALLY_PERFORMED,PERFORMED)",
                        "circumstances": "array(enum(ABLE_BUT_REFUSED,OBSTRUCTION,EVASION,FALSE_PROPERTY_REPORT,"
                                         "CONSUMPTION_ORDER_VIOLATION,SETTLEMENT_BREACH))",
                        "listed_on": "date", "removed_on": "null|date"},
    "EnforcementCase": {"case_no": "string", "court_name": "string", "filed_on": "date", "amount": "money",
                        "closed_on": "null|date"},
})
V1_2 = ("SocialInsuranceStatement", "HousingFundStatement", "CustomsTradeStatement", "CustomsCreditGrade", "Patent",
        "Trademark", "IpPledge", "PublicResourceAward", "DishonestDebtor", "EnforcementCase")


def describe(t) -> str:
    if isinstance(t, list):
        return "|".join(describe(x) for x in t)
    if isinstance(t, str):
        return t
    logical = t.get("logicalType")
    if logical == "decimal":
        assert t["type"] == "bytes"
        return {(18, 2): "money", (18, 3): "usage", (5, 1): "score"}[t["precision"], t["scale"]]
    if logical == "date":
        assert t["type"] == "int"
        return "date"
    if logical == "timestamp-millis":
        assert t["type"] == "long"
        return "instant"
    if t["type"] == "enum":
        return f"enum({','.join(t['symbols'])})"
    if t["type"] == "array":
        return f"array({describe(t['items'])})"
    return describe(t["type"])


@pytest.mark.parametrize("record", sorted(CONTRACT))
def test_current_schema_matches_contract(record):
    schema = Codec().current(record).raw
    assert schema["namespace"] == "creditstream.v1"
    fields = {f["name"]: describe(f["type"]) for f in schema["fields"]}
    assert fields == {**COMMON, **CONTRACT[record]}


def test_every_topic_has_a_schema():
    assert set(PROVIDER_TOPICS.values()) == set(CONTRACT)
    assert set(PROVIDER_TOPICS.values()) | {r for records in FINANCE_TOPICS.values() for r in records} == set(Codec().versions)


@pytest.mark.parametrize("old", [1, 2])
def test_consent_grant_v3_reads_v1_and_v2_data(old):
    codec = Codec()
    versions = codec.versions["ConsentGrant"]
    assert [v.version for v in versions] == [1, 2, 3]
    writer = versions[old - 1]
    for value in samples(writer.raw):
        record, read = codec.decode(codec.encode("ConsentGrant", value, writer))
        assert read == value
    assert codec.current("ConsentGrant").version == 3


@pytest.mark.parametrize("record", V1_2)
def test_v1_2_nullable_fields_default_to_null_and_the_rest_are_required(record):
    """Contract v1.2: nullable fields are ["null", ...] with default null; every other field is
    required (no default)."""
    for field in Codec().current(record).raw["fields"]:
        if isinstance(field["type"], list):
            assert field["type"][0] == "null" and "default" in field and field["default"] is None, field["name"]
        else:
            assert "default" not in field, field["name"]


def test_current_schemas_read_every_earlier_version():
    registry = Codec()
    assert sum(len(v) for v in registry.versions.values()) >= len(CONTRACT)
    assert incompatibilities(registry) == []


def test_sample_values_cover_nulls_and_every_enum_symbol():
    raw = Codec().current("TaxPayment").raw
    values = list(samples(raw))
    assert {v["tax_type"] for v in values} == {"VAT", "CIT", "OTHER"}
    assert {v["paid_date"] is None for v in values} == {True, False}


def test_an_incompatible_edit_is_caught(tmp_path):
    """Adding a field without a default breaks old data: the check must say so."""
    tree = tmp_path / "avro"
    shutil.copytree(AVRO_DIR, tree)
    v1 = json.loads((tree / "WaterStatement" / "v1.avsc").read_text())
    v1["fields"].append({"name": "meter_id", "type": "string"})
    (tree / "WaterStatement" / "v2.avsc").write_text(json.dumps(v1))
    problems = incompatibilities(Codec(tree))
    assert len(problems) == 1 and problems[0].startswith("WaterStatement v1 → v2")


def test_a_compatible_edit_passes(tmp_path):
    tree = tmp_path / "avro"
    shutil.copytree(AVRO_DIR, tree)
    v1 = json.loads((tree / "WaterStatement" / "v1.avsc").read_text())
    v1["fields"].append({"name": "meter_id", "type": ["null", "string"], "default": None})
    (tree / "WaterStatement" / "v2.avsc").write_text(json.dumps(v1))
    registry = Codec(tree)
    assert incompatibilities(registry) == []
    old = registry.encode("WaterStatement", next(samples(registry.versions["WaterStatement"][0].raw)),
                          registry.versions["WaterStatement"][0])
    record, value = registry.decode(old)
    assert record == "WaterStatement" and value["meter_id"] is None
