"""Typed models of the platform's own Kafka messages, read in another process than the one that
writes them: the aggregate row (worker → sink → API), the dead letter (worker or sink → sink →
operators), the API key event (CLI → API, sink) and the consent in force (worker → API, sink). A
renamed field fails here, in the model, with the field's name, not as a KeyError downstream."""
from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import asdict, dataclass, fields
from typing import Any, Optional

from creditstream.schemas.records import parse_instant, to_json
from creditstream.schemas.topics import UTILITIES

WINDOWS = (3, 6, 12)  # months of the rolling aggregates
SCOPES = ("UTILITY", "TAX", "REAL_ESTATE", "RD", "AGRI", "SOCIAL", "TRADE")  # consent scopes (ConsentGrant v3)
PUBLIC = "PUBLIC"  # public credit information: every authenticated lender
UTILITY_AND_TAX = "UTILITY+TAX"  # shown only under both (the evaluation's score and points)


class ModelError(ValueError):
    """A platform message does not fit its model; the message names the field."""


# v1.1 profile fields, in the contract's order, with the scope each is shown under
PROFILE_FIELDS: dict[str, str] = {
    "env_grade": PUBLIC, "env_score": PUBLIC, "env_rated_on": PUBLIC, "licences_valid": PUBLIC,
    "penalties_in_publicity": PUBLIC, "serious_penalty_in_publicity": PUBLIC, "penalty_fines_12m": PUBLIC,
    "enforcements_12m": PUBLIC,
    "real_estate_rights_active": "REAL_ESTATE", "real_estate_area_m2": "REAL_ESTATE", "mortgages_active": "REAL_ESTATE",
    "high_tech_enterprise": "RD", "science_projects_3y": "RD", "key_lab": "RD",
    "agri_operator_category": "AGRI", "rural_land_rights_active": "AGRI", "rural_land_area_mu": "AGRI",
    "housing_rights_active": "AGRI",
}

CONTRIBUTION_SERIES = ("social", "housing_fund")  # v1.2 statements with head counts (scope SOCIAL)


def _collection_fields() -> dict[str, str]:
    fields: dict[str, str] = {}
    for k in CONTRIBUTION_SERIES:
        for w in WINDOWS:
            fields.update({f"{k}_months_{w}m": "SOCIAL", f"{k}_avg_employees_{w}m": "SOCIAL", f"{k}_paid_{w}m": "SOCIAL"})
        fields.update({f"{k}_in_arrears": "SOCIAL", f"{k}_arrears_amount": "SOCIAL", f"{k}_arrears_months_3m": "SOCIAL"})
    fields.update({"trade_value_12m": "TRADE", "export_value_12m": "TRADE", "trade_months_12m": "TRADE"})
    for name in ("customs_grade", "customs_grade_decided_on", "patents_valid", "invention_patents_valid",
                 "trademarks_valid", "ip_pledges_active", "awards_12m", "award_amount_12m", "court_dishonest",
                 "court_dishonest_count", "enforcement_cases_active", "enforcement_amount_active"):
        fields[name] = PUBLIC
    return fields


# v1.2 fields (the wider collection list), in the contract's order, with the scope each is shown under
COLLECTION_FIELDS: dict[str, str] = _collection_fields()
RED_LINES = "eval_red_lines"  # shown to every lender, less X3 (consent data) without SOCIAL consent
# the credit evaluation and the whitelist (platform-services.md), published with the row
EVALUATION_FIELDS: dict[str, str] = {
    "eval_model": PUBLIC, "eval_score": UTILITY_AND_TAX, "eval_grade": PUBLIC, "eval_points": UTILITY_AND_TAX,
    RED_LINES: PUBLIC, "whitelisted": PUBLIC,
}


def v1_fields() -> tuple[str, ...]:
    """Every v1 aggregate field of the contract, in its order."""
    names: list[str] = []
    for kind in UTILITIES:
        for w in WINDOWS:
            names += [f"{kind}_months_{w}m", f"{kind}_avg_usage_{w}m", f"{kind}_avg_amount_{w}m"]
        names += [f"{kind}_in_arrears", f"{kind}_arrears_amount"]
    for w in WINDOWS:
        names += [f"vat_payable_{w}m", f"vat_paid_{w}m", f"cit_paid_{w}m"]
    return (*names, "tax_normal_streak_months", "tax_last_normal_payment_date", "tax_rating_grade",
            "tax_rating_year", "tax_in_arrears", "tax_arrears_amount", "taxpayer_abnormal")


def aggregate_fields() -> tuple[str, ...]:
    """Every field of an aggregate row after uscc, as_of_month and as_of_date, in order."""
    return (*v1_fields(), *PROFILE_FIELDS, *COLLECTION_FIELDS, *EVALUATION_FIELDS)


AGGREGATE_FIELDS = aggregate_fields()
_UTILITY_PREFIXES = tuple(f"{kind}_" for kind in UTILITIES)
_SCOPE_OF = {**PROFILE_FIELDS, **COLLECTION_FIELDS, **EVALUATION_FIELDS}


def field_scope(name: str) -> str:
    """The scope an aggregate field is shown under: a consent scope, PUBLIC, or UTILITY+TAX."""
    scope = _SCOPE_OF.get(name)
    if scope is not None:
        return scope
    return "UTILITY" if name.startswith(_UTILITY_PREFIXES) else "TAX"


# one encoder for every document: json.dumps with these options builds a new one per call
_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _json_bytes(doc: dict) -> bytes:
    return _COMPACT_JSON.encode(doc).encode()


def _load(data: bytes | str, what: str) -> dict:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"{what}: not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ModelError(f"{what}: expected a JSON object, got {type(doc).__name__}")
    return doc


def _require(doc: dict, names, what: str) -> None:
    missing = [name for name in names if name not in doc]
    if missing:
        raise ModelError(f"{what}: missing {', '.join(missing)}")


ROW_HEAD = ("uscc", "as_of_month", "as_of_date")


@dataclass(frozen=True)
class AggregateRow:
    """One enterprise's row (credit.aggregates.v1, keyed by USCC): v1 aggregates as of month M,
    registers read at reference date R (``as_of_date``), the evaluation. ``values`` holds every
    field of AGGREGATE_FIELDS in the contract's output form."""
    uscc: str
    as_of_month: str
    as_of_date: str
    values: dict[str, Any]

    @staticmethod
    def encode(row: dict) -> bytes:
        """A computed row ({"uscc", "as_of_month", "as_of_date", field: value, …},
        streams.aggregates) as the topic carries it: compact JSON."""
        return _json_bytes(row)

    @staticmethod
    def encode_with_fingerprint(row: dict) -> tuple[bytes, int]:
        """The encoded row and a hash of what it says apart from its reference date, so the worker
        can tell a row that really changed from one that is only a day older."""
        head = _json_bytes({name: row[name] for name in ROW_HEAD})[:-1]
        rest = dict(row)  # a copy less three keys: ~15× cheaper than filtering ~150 names
        for name in ROW_HEAD:
            del rest[name]
        rest = _json_bytes(rest)
        return head + b"," + rest[1:], hash((row["as_of_month"], rest))

    @classmethod
    def decode(cls, data: bytes | str) -> "AggregateRow":
        doc = _load(data, "aggregate row")
        _require(doc, (*ROW_HEAD, *AGGREGATE_FIELDS), "aggregate row")
        if not isinstance(doc[RED_LINES], list):
            raise ModelError(f"aggregate row.{RED_LINES}: a list of red-line ids")
        return cls(doc.pop("uscc"), doc.pop("as_of_month"), doc.pop("as_of_date"), doc)

    def to_json(self) -> dict:
        return {"uscc": self.uscc, "as_of_month": self.as_of_month, "as_of_date": self.as_of_date, **self.values}


@dataclass(frozen=True)
class DeadLetter:
    """A rejected record (credit.deadletter.v1, keyed by its source position): why, and where
    the original bytes are and what they were, so nothing is lost."""
    reason: str  # rules.REASONS or rules.PLATFORM_REASONS
    message: str  # what is wrong and where
    source_topic: str
    source_partition: int
    source_offset: int
    source_timestamp_ms: Optional[int] = None
    key_base64: Optional[str] = None
    value_base64: Optional[str] = None

    @classmethod
    def of_message(cls, reason: str, message: str, topic: str, partition: int, offset: int,
                   timestamp_ms: Optional[int], key: Optional[bytes], value: Optional[bytes]) -> "DeadLetter":
        return cls(reason, message, topic, partition, offset, timestamp_ms, _b64(key), _b64(value))

    @property
    def position(self) -> bytes:
        """The message key: a re-sent dead letter of the same record has the same key."""
        return f"{self.source_topic}:{self.source_partition}:{self.source_offset}".encode()

    def to_bytes(self) -> bytes:
        return _json_bytes(dict(vars(self)))  # flat: asdict's deep copy cost 75 µs a letter

    @classmethod
    def from_bytes(cls, data: bytes | str) -> "DeadLetter":
        doc = _load(data, "dead letter")
        names = [f.name for f in fields(cls)]
        _require(doc, names[:5], "dead letter")
        return cls(**{name: doc.get(name) for name in names})


@dataclass(frozen=True)
class KeyEvent:
    """An API key issued or revoked (credit.apikeys.v1, keyed by key id). Only the key's hash
    travels; revocations carry an empty hash."""
    key_id: str
    key_hash: str
    principal_kind: str  # "lender" | "enterprise" | "operator" | "provider"
    principal_id: str  # lender id, USCC, operator or provider name
    created_at: dt.datetime
    revoked: bool
    name: str = ""  # a lender's display name, as given to `lenders add`
    topics: tuple[str, ...] = ()  # a provider's: the provider topics it may publish to (the gateway)

    def to_bytes(self) -> bytes:
        return json.dumps({**to_json(asdict(self)), "topics": list(self.topics)}, ensure_ascii=False).encode()

    @classmethod
    def from_bytes(cls, data: bytes | str) -> "KeyEvent":
        doc = _load(data, "key event")
        _require(doc, [f.name for f in fields(cls)][:6], "key event")
        topics = doc.get("topics") or []
        if not isinstance(topics, list):
            raise ModelError("key event.topics: a list of topics")
        return cls(doc["key_id"], doc["key_hash"], doc["principal_kind"], doc["principal_id"],
                   parse_instant(doc["created_at"], "key event.created_at"), bool(doc["revoked"]),
                   str(doc.get("name") or ""), tuple(map(str, topics)))


@dataclass(frozen=True)
class ConsentState:
    """A consent grant the worker accepted (credit.consent.accepted.v1, keyed "USCC/lender id").
    The last one per pair, in the consent topic's order, is in force, whatever its occurred_at."""
    uscc: str
    lender_id: str
    event_id: str
    scopes: tuple[str, ...]
    granted_at: dt.datetime
    expires_at: dt.datetime
    revoked: bool
    occurred_at: dt.datetime

    @classmethod
    def of_grant(cls, value: dict) -> "ConsentState":
        """From a validated, normalised ConsentGrant record."""
        return cls(value["uscc"], value["lender_id"], value["event_id"], tuple(value["scopes"]), value["granted_at"],
                   value["expires_at"], bool(value["revoked"]), value["occurred_at"])

    @property
    def key(self) -> bytes:
        return f"{self.uscc}/{self.lender_id}".encode()

    def to_bytes(self) -> bytes:
        return _json_bytes(to_json(dict(vars(self))))  # flat: no deep copy (asdict's cost 250 µs)

    @classmethod
    def from_bytes(cls, data: bytes | str) -> "ConsentState":
        doc = _load(data, "consent state")
        _require(doc, [f.name for f in fields(cls)], "consent state")
        return cls(doc["uscc"], doc["lender_id"], doc["event_id"], tuple(doc["scopes"]),
                   parse_instant(doc["granted_at"], "consent state.granted_at"),
                   parse_instant(doc["expires_at"], "consent state.expires_at"), bool(doc["revoked"]),
                   parse_instant(doc["occurred_at"], "consent state.occurred_at"))


@dataclass(frozen=True)
class DisputeState:
    """A dispute (异议) in its latest state (credit.dispute.v1, keyed by dispute id, compacted):
    every state change is a message; the last one per id is the dispute now."""
    dispute_id: str
    uscc: str
    topic: str  # the disputed record's provider topic
    record: str  # its record type
    key: dict  # its natural key, field → value as text
    provider_id: str  # who published the disputed record (who may answer, besides operators)
    statement: str  # the enterprise's
    state: str  # services.DISPUTE_STATES
    answer: str  # the provider's or operator's note ("" while open)
    filed_at: dt.datetime
    due_at: dt.datetime
    updated_at: dt.datetime
    updated_by: str  # "<kind>:<id>" of whoever made the last change

    def to_bytes(self) -> bytes:
        return _json_bytes(to_json(asdict(self)))

    @classmethod
    def from_bytes(cls, data: bytes | str) -> "DisputeState":
        doc = _load(data, "dispute")
        _require(doc, [f.name for f in fields(cls)], "dispute")
        for name in ("filed_at", "due_at", "updated_at"):
            doc[name] = parse_instant(doc[name], f"dispute.{name}")
        return cls(**{f.name: doc[f.name] for f in fields(cls)})

    def public(self) -> dict:
        """As shown to lenders next to the disputed data."""
        return {"dispute_id": self.dispute_id, "topic": self.topic, "record": self.record, "key": self.key,
                "filed_at": to_json(self.filed_at)}


@dataclass(frozen=True)
class RepairState:
    """A credit repair application (信用修复) in its latest state (credit.repair.v1, keyed by
    application id, compacted). An approval or rejection is also a CreditRepair record on
    credit.admin.repair.v1, which the stream folds like any register."""
    application_id: str
    uscc: str
    decision_no: str  # the penalty's
    pledge: str  # the credit pledge (信用承诺)
    statement: str  # that the penalty's obligations are fulfilled
    state: str  # services.REPAIR_STATES
    note: str  # the operator's
    applied_at: dt.datetime
    due_on: dt.date  # 10 working days after applied_at (Asia/Shanghai)
    updated_at: dt.datetime
    updated_by: str

    def to_bytes(self) -> bytes:
        return _json_bytes(to_json(asdict(self)))

    @classmethod
    def from_bytes(cls, data: bytes | str) -> "RepairState":
        doc = _load(data, "repair application")
        _require(doc, [f.name for f in fields(cls)], "repair application")
        for name in ("applied_at", "updated_at"):
            doc[name] = parse_instant(doc[name], f"repair application.{name}")
        doc["due_on"] = dt.date.fromisoformat(doc["due_on"])
        return cls(**{f.name: doc[f.name] for f in fields(cls)})


def _b64(data: Optional[bytes]) -> Optional[str]:
    return base64.b64encode(data).decode() if data is not None else None


@dataclass(frozen=True)
class WhitelistChange:
    """One enterprise joining or leaving the whitelist (credit.whitelist.v1, keyed by USCC, one
    partition: the feed's total order). ``change_id`` is "<uscc>:<n>:<join|leave>", n counting the
    enterprise's changes: a change the worker sends again after a crash keeps its id, so readers
    drop repeats by id."""
    change_id: str
    uscc: str
    enterprise_name: str
    whitelisted: bool
    eval_grade: str
    failed: tuple[str, ...]  # the ids of the whitelist conditions that failed (on leaving; W1…W8, red lines X1…X3)
    at: dt.datetime  # when the worker computed the row that changed
    eval_model: str = "cs-eval-1"  # the model whose rules decided (changes sent before v1.2: cs-eval-1)

    def to_bytes(self) -> bytes:
        return _json_bytes(self.to_json())

    def to_json(self) -> dict:
        return {**to_json(asdict(self)), "failed": list(self.failed)}

    @classmethod
    def from_bytes(cls, data: bytes | str) -> "WhitelistChange":
        doc = _load(data, "whitelist change")
        _require(doc, [f.name for f in fields(cls)], "whitelist change")
        if not isinstance(doc["whitelisted"], bool) or not isinstance(doc["failed"], list):
            raise ModelError("whitelist change: whitelisted must be a boolean and failed a list")
        return cls(str(doc["change_id"]), str(doc["uscc"]), str(doc["enterprise_name"]), doc["whitelisted"],
                   str(doc["eval_grade"]), tuple(map(str, doc["failed"])), parse_instant(doc["at"], "whitelist change.at"),
                   str(doc.get("eval_model", "cs-eval-1")))


def whitelist_change_id(uscc: str, number: int, whitelisted: bool) -> str:
    return f"{uscc}:{number}:{'join' if whitelisted else 'leave'}"


WEBHOOK_STATES = ("ACTIVE", "PAUSED", "DELETED")


@dataclass(frozen=True)
class WebhookState:
    """A lender's whitelist webhook (credit.webhooks.v1, keyed by webhook id, compacted): where it
    posts, whether it is delivering, and the offset on credit.whitelist.v1 of the last change it
    acknowledged. Its signing secret is not stored anywhere: it is derived from the platform's key
    (schemas.webhooks.webhook_secret)."""
    webhook_id: str
    lender_id: str
    url: str
    state: str  # WEBHOOK_STATES
    delivered_offset: int  # -1: none yet
    failures: int  # consecutive failed attempts
    last_error: str
    created_at: dt.datetime
    updated_at: dt.datetime
    secret_version: int = 2  # schemas.keys: 1 for a webhook registered before the per-purpose keys

    def supersedes(self, known: "WebhookState | None") -> bool:
        """Does this state replace ``known`` (the same webhook id's)? A registration made later
        (``created_at``) always does, an earlier one never. Within one registration a deletion is
        final: the deliverer may record a failed attempt, computed from the state before the
        lender's DELETE reached it and stamped after it, and that must not bring the webhook back
        (it did, in the whitelist Kafka test). Otherwise the later ``updated_at`` wins."""
        if known is None or self.created_at != known.created_at:
            return known is None or self.created_at > known.created_at
        if known.state == "DELETED" or self.state == "DELETED":
            return known.state != "DELETED"
        return self.updated_at >= known.updated_at

    def to_bytes(self) -> bytes:
        return _json_bytes(to_json(asdict(self)))

    @classmethod
    def from_bytes(cls, data: bytes | str) -> "WebhookState":
        doc = _load(data, "webhook")
        doc.setdefault("secret_version", 1)  # written before it existed: the secret's own key
        _require(doc, [f.name for f in fields(cls)], "webhook")
        if doc["state"] not in WEBHOOK_STATES:
            raise ModelError(f"webhook.state: {doc['state']!r} is not one of {', '.join(WEBHOOK_STATES)}")
        for name in ("created_at", "updated_at"):
            doc[name] = parse_instant(doc[name], f"webhook.{name}")
        return cls(**{f.name: doc[f.name] for f in fields(cls)})


@dataclass(frozen=True)
class IssuedReport:
    """A standardised credit report as issued (credit.reports.v1, keyed by number, compacted): who
    asked, when, its content (the canonical JSON, schemas.report.content_bytes) and that content's
    SHA-256. The verification code is stored only as its SHA-256."""
    number: str
    uscc: str
    requester_kind: str
    requester_id: str
    issued_at: dt.datetime
    sha256: str
    code_sha256: str
    content: str

    def to_bytes(self) -> bytes:
        return _json_bytes(to_json(asdict(self)))

    @classmethod
    def from_bytes(cls, data: bytes | str) -> "IssuedReport":
        doc = _load(data, "report")
        _require(doc, [f.name for f in fields(cls)], "report")
        doc["issued_at"] = parse_instant(doc["issued_at"], "report.issued_at")
        return cls(**{f.name: doc[f.name] for f in fields(cls)})

    def listing(self) -> dict:
        """As the enterprise's list of reports about it shows one."""
        return {"number": self.number, "requester_kind": self.requester_kind, "requester_id": self.requester_id,
                "issued_at": to_json(self.issued_at), "sha256": self.sha256}
