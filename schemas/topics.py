"""Topics and the records they carry: the credit event contract's provider topics (one per
category) and the platform's own. Adding a record type = its ``.avsc`` under ``avro/`` + one
``RecordType`` entry here + its rules in ``rules.py``."""
from __future__ import annotations

import re
from typing import NamedTuple, Optional


class RecordType(NamedTuple):
    name: str  # Avro record name = its folder under avro/
    topic: str  # the provider topic that carries it
    scope: Optional[str]  # who may see it: a consent scope, PUBLIC (every lender), None (consent itself)
    category: str  # the sharing list's category: /v1/enterprises/{uscc}/records/{category}
    natural_key: tuple[str, ...] = ()  # registers (v1.1): the fields naming the thing it describes
    utility: Optional[str] = None  # utility kind for the three statement records
    register: bool = False  # v1.1 register: latest occurred_at per natural key wins (ties: greater event_id)
    # v1.2 statement: per natural key (account or customs code, month) the highest revision wins;
    # folded into the ledger under this name (the row's field prefix: social, housing_fund, trade)
    statement: Optional[str] = None
    # carries a legal representative's identity number in clear: its provider topic keeps records
    # only the dead-letter window; the durable copy is the masked one on MASKED_TOPIC
    personal: bool = False


PUBLIC = "PUBLIC"  # public credit information: every authenticated lender, no consent needed

RECORDS: tuple[RecordType, ...] = (
    RecordType("WaterStatement", "credit.utility.water.v1", "UTILITY", "utility", utility="water"),
    RecordType("ElectricityStatement", "credit.utility.electricity.v1", "UTILITY", "utility", utility="electricity"),
    RecordType("GasStatement", "credit.utility.gas.v1", "UTILITY", "utility", utility="gas"),
    RecordType("TaxPayment", "credit.tax.payment.v1", "TAX", "tax"),
    RecordType("TaxCreditRating", "credit.tax.rating.v1", "TAX", "tax"),
    RecordType("TaxArrears", "credit.tax.arrears.v1", "TAX", "tax"),
    RecordType("TaxpayerStatus", "credit.tax.status.v1", "TAX", "tax"),
    RecordType("ConsentGrant", "credit.consent.v1", None, "consent"),
    # v1.1: the rest of the sharing list
    RecordType("EnvCreditRating", "credit.env.rating.v1", PUBLIC, "environment", ("period",), register=True),
    RecordType("RealEstateRight", "credit.realestate.right.v1", "REAL_ESTATE", "real_estate", ("certificate_no",),
               register=True),
    RecordType("RealEstateMortgage", "credit.realestate.mortgage.v1", "REAL_ESTATE", "real_estate",
               ("registration_no",), register=True),
    RecordType("AdminLicence", "credit.admin.licence.v1", PUBLIC, "licences", ("decision_no",), register=True,
               personal=True),
    RecordType("AdminPenalty", "credit.admin.penalty.v1", PUBLIC, "penalties", ("decision_no",), register=True,
               personal=True),
    RecordType("AdminEnforcement", "credit.admin.enforcement.v1", PUBLIC, "enforcement", ("decision_no",),
               register=True, personal=True),
    RecordType("CreditRepair", "credit.admin.repair.v1", PUBLIC, "penalties", ("decision_no",), register=True),
    RecordType("RdRecognition", "credit.rd.recognition.v1", "RD", "rd", ("kind", "reference_no"), register=True),
    RecordType("AgriOperator", "credit.agri.operator.v1", "AGRI", "agri", (), register=True),
    RecordType("RuralLandRight", "credit.agri.landright.v1", "AGRI", "agri", ("certificate_no",), register=True),
    RecordType("FarmerHousingRight", "credit.agri.housingright.v1", "AGRI", "agri", ("certificate_no",), register=True),
    # v1.2: the wider collection list
    RecordType("SocialInsuranceStatement", "credit.social.contribution.v1", "SOCIAL", "social_insurance",
               ("account_no", "contribution_month"), statement="social"),
    RecordType("HousingFundStatement", "credit.housingfund.deposit.v1", "SOCIAL", "housing_fund",
               ("account_no", "contribution_month"), statement="housing_fund"),
    RecordType("CustomsTradeStatement", "credit.customs.trade.v1", "TRADE", "customs_trade", ("customs_code", "trade_month"),
               statement="trade"),
    RecordType("CustomsCreditGrade", "credit.customs.credit.v1", PUBLIC, "customs_credit", ("decision_no",), register=True),
    RecordType("Patent", "credit.ip.patent.v1", PUBLIC, "intellectual_property", ("patent_no",), register=True),
    RecordType("Trademark", "credit.ip.trademark.v1", PUBLIC, "intellectual_property", ("registration_no",),
               register=True),
    RecordType("IpPledge", "credit.ip.pledge.v1", PUBLIC, "intellectual_property", ("registration_no",), register=True),
    RecordType("PublicResourceAward", "credit.pubres.award.v1", PUBLIC, "public_resources", ("notice_no",),
               register=True),
    RecordType("DishonestDebtor", "credit.court.dishonest.v1", PUBLIC, "court", ("case_no",), register=True),
    RecordType("EnforcementCase", "credit.court.enforcement.v1", PUBLIC, "court", ("case_no",), register=True),
)
RECORD: dict[str, RecordType] = {r.name: r for r in RECORDS}
# record categories (registers and v1.2 statements) -> (their records, the scope they are shown under):
# /v1/enterprises/{uscc}/records/{category}
REGISTER_CATEGORIES: dict[str, tuple[tuple[str, ...], str]] = {}
for _r in RECORDS:
    if _r.register or _r.statement:
        names, _scope = REGISTER_CATEGORIES.get(_r.category, ((), _r.scope))
        REGISTER_CATEGORIES[_r.category] = ((*names, _r.name), _r.scope)
COMMON_FIELDS = ("event_id", "provider_id", "uscc", "enterprise_name", "occurred_at")  # every record has them


def register_key(record: str, value: dict) -> str:
    """A register's or v1.2 statement's natural key as one string (its fields joined by U+001F)."""
    return "\x1f".join(str(value[name]) for name in RECORD[record].natural_key)

PROVIDER_TOPICS: dict[str, str] = {r.topic: r.name for r in RECORDS}  # topic -> record name
TOPIC_OF: dict[str, str] = {r.name: r.topic for r in RECORDS}  # record name -> topic
UTILITY_KINDS: dict[str, str] = {r.name: r.utility for r in RECORDS if r.utility}  # record -> kind
UTILITIES: tuple[str, ...] = tuple(UTILITY_KINDS.values())  # ("water", "electricity", "gas")
UTILITY_TOPICS: dict[str, str] = {r.utility: r.topic for r in RECORDS if r.utility}  # kind -> topic
TAX_TYPES = ("VAT", "CIT", "OTHER")  # TaxPayment.tax_type
CONSENT_RECORD = "ConsentGrant"  # a permission, not a ledger fact
REPAIR_RECORD = "CreditRepair"  # changes a penalty's publicity, but gives no enterprise a row on its own
REGISTERS: tuple[str, ...] = tuple(r.name for r in RECORDS if r.register)
# v1.2 statements: record -> its series in the ledger and the row (social, housing_fund, trade)
STATEMENT_SERIES: dict[str, str] = {r.name: r.statement for r in RECORDS if r.statement}
# the provider topics whose records carry clear identity numbers (bounded retention, see MASKED_TOPIC)
PERSONAL_TOPICS: tuple[str, ...] = tuple(r.topic for r in RECORDS if r.personal)
# what a data provider may be given (its key's topics, its Kafka ACLs): every provider topic but
# consent, which enterprises give through the platform (/v1/me/consents), never a provider
PUSHABLE_TOPICS: tuple[str, ...] = tuple(r.topic for r in RECORDS if r.name != CONSENT_RECORD)

# Platform topics (not named by the contract; see docs/contract-notes.md).
NORMALIZED_TOPIC = "credit.normalized.v1"  # valid, normalised events (single-object Avro), keyed by USCC
AGGREGATES_TOPIC = "credit.aggregates.v1"  # one JSON aggregate row per enterprise (models.AggregateRow)
DEAD_LETTER_TOPIC = "credit.deadletter.v1"  # rejected records (models.DeadLetter), keyed by source position
API_KEYS_TOPIC = "credit.apikeys.v1"  # API key issue/revoke events (models.KeyEvent), keyed by key id
# valid events that arrived on a partition other than their normalised USCC's (internal)
REPARTITION_TOPIC = "credit.ledger-repartition.v1"
# the valid records of PERSONAL_TOPICS with their identity numbers masked (keyed hash kept), keyed
# by USCC and kept forever: the worker folds them from here, so a rebuild (a new worker, a lost
# changelog) reads them here once their provider topic, which keeps clear numbers only the
# dead-letter window, has let them go
MASKED_TOPIC = "credit.masked.v1"
# consent grants the worker accepted, in the consent topic's order, keyed "USCC/lender id"
# (models.ConsentState): compaction keeps the grant in force for each pair
CONSENT_STATE_TOPIC = "credit.consent.accepted.v1"
# one record per look-up, written before its answer leaves (tables.LookupAuditRow), keyed by USCC
AUDIT_TOPIC = "credit.audit.v1"

# disputes and repair applications, the latest state per id (models.DisputeState, RepairState)
DISPUTE_TOPIC = "credit.dispute.v1"
REPAIR_TOPIC = "credit.repair.v1"
# every join and leave of the whitelist (models.WhitelistChange), keyed by USCC; one partition so
# the lenders' change feed has one order, kept forever (a feed read from its start misses nothing)
WHITELIST_TOPIC = "credit.whitelist.v1"
# standardised credit reports as issued (models.IssuedReport), keyed by report number
REPORT_TOPIC = "credit.reports.v1"
# lenders' webhook registrations and each one's delivery position (models.WebhookState), by id
WEBHOOK_TOPIC = "credit.webhooks.v1"

# the loan loop (financing-services.md): every state change an Avro record, written by the API.
# Products travel keyed by lender id; everything of one enterprise (needs, applications, monthly
# loan reports, claims) on one topic keyed by its USCC, so the worker reads an enterprise's changes
# in the order they were made (a loan's first report never overtakes its disbursement, as it could
# across two topics, e.g. when a new worker reads them from the start). The worker folds each key's
# changes and forwards the ones it accepts, in order, to FINANCE_ACCEPTED_TOPIC (API and sink read it)
FINANCE_TOPICS: dict[str, tuple[str, ...]] = {
    "credit.finance.product.v1": ("LoanProduct",),
    "credit.finance.enterprise.v1": ("FinancingNeed", "LoanApplication", "LoanPerformance", "CompensationClaim"),
}
FINANCE_TOPIC_OF: dict[str, str] = {record: topic for topic, records in FINANCE_TOPICS.items() for record in records}
FINANCE_ACCEPTED_TOPIC = "credit.finance.accepted.v1"

# public credit information leaving the city for the provincial node (docs/provincial-node.md):
# every valid record of a PUBLIC category as normalised, identity numbers masked (the public
# provider topics carry them in clear, so they are never replicated), keyed by USCC, kept forever;
# MirrorMaker 2 replicates this topic, not the provider topics
OUTBOUND_PUBLIC_TOPIC = "credit.out.public.v1"
# the public loan-loop statistics per (month, lender), published by the API when a row changes
OUTBOUND_STATISTICS_TOPIC = "credit.out.finance-statistics.v1"
PUBLIC_RECORDS: frozenset[str] = frozenset(r.name for r in RECORDS if r.scope == PUBLIC)

# The provincial node (docs/provincial-node.md). A city's alias prefixes what MirrorMaker 2
# replicates from it (DefaultReplicationPolicy: "heihe.credit.out.public.v1"); at the province a
# record's provider id is qualified by its city ("heihe/market-regulation"), so two cities' ids
# never collide and every record names its source.
NODE_ALIAS = re.compile(r"[a-z][a-z0-9]{1,30}")  # a topic prefix: no dots, no dashes
SOURCE_SEPARATOR = "/"


def replicated_topic(city: str, topic: str = OUTBOUND_PUBLIC_TOPIC) -> str:
    """What ``topic`` of ``city`` is called at the province."""
    return f"{city}.{topic}"


def city_of(topic: str) -> str:
    """The city a replicated topic came from ("heihe.credit.out.public.v1" → "heihe")."""
    return topic.split(".", 1)[0]


def qualified_provider(city: str, provider_id: str) -> str:
    return f"{city}{SOURCE_SEPARATOR}{provider_id}"


def source_of(provider_id: str) -> str | None:
    """The city a provincial record came from (None: a record published in this node)."""
    city, separator, _ = provider_id.partition(SOURCE_SEPARATOR)
    return city if separator else None

PLATFORM_TOPICS = (NORMALIZED_TOPIC, AGGREGATES_TOPIC, DEAD_LETTER_TOPIC, API_KEYS_TOPIC, REPARTITION_TOPIC,
                   MASKED_TOPIC, CONSENT_STATE_TOPIC, AUDIT_TOPIC, DISPUTE_TOPIC, REPAIR_TOPIC, WHITELIST_TOPIC, WEBHOOK_TOPIC,
                   REPORT_TOPIC, *FINANCE_TOPICS, FINANCE_ACCEPTED_TOPIC, OUTBOUND_PUBLIC_TOPIC,
                   OUTBOUND_STATISTICS_TOPIC)
ALL_TOPICS = (*PROVIDER_TOPICS, *PLATFORM_TOPICS)

# Topics that hold the latest value per key: compaction keeps exactly that.
TOPIC_CONFIG: dict[str, dict[str, str]] = {
    AGGREGATES_TOPIC: {"cleanup.policy": "compact"},
    API_KEYS_TOPIC: {"cleanup.policy": "compact"},
    CONSENT_STATE_TOPIC: {"cleanup.policy": "compact"},
    DISPUTE_TOPIC: {"cleanup.policy": "compact"},
    REPAIR_TOPIC: {"cleanup.policy": "compact"},
    WEBHOOK_TOPIC: {"cleanup.policy": "compact"},
    REPORT_TOPIC: {"cleanup.policy": "compact"},
    WHITELIST_TOPIC: {"retention.ms": "-1"},
    MASKED_TOPIC: {"retention.ms": "-1"},
    OUTBOUND_PUBLIC_TOPIC: {"retention.ms": "-1"},  # a provincial link down for a while loses nothing
    # not compacted either: an offset is a record, so the replication lag counts records
    OUTBOUND_STATISTICS_TOPIC: {"retention.ms": "-1"},
    # the loan loop's history is its record: kept forever, like the whitelist's
    **{topic: {"retention.ms": "-1"} for topic in (*FINANCE_TOPICS, FINANCE_ACCEPTED_TOPIC)},
}
SINGLE_PARTITION_TOPICS = (WHITELIST_TOPIC,)  # created with one partition, whatever the default

# Header on an aggregate row: produce time (ms) of the newest provider event folded into it, so
# freshness is measured from the provider on.
SOURCE_PRODUCED_HEADER = "source-produced-ms"


def record_for_topic(topic: str) -> str:
    try:
        return PROVIDER_TOPICS[topic]
    except KeyError:
        raise KeyError(f"unknown topic {topic!r}; known: {', '.join(PROVIDER_TOPICS)}") from None
