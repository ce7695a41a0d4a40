"""Topic names of the credit event contract (shared/contract/credit-events.md) and the platform's own."""

PROVIDER_TOPICS: dict[str, str] = {
    "credit.utility.water.v1": "WaterStatement",
    "credit.utility.electricity.v1": "ElectricityStatement",
    "credit.utility.gas.v1": "GasStatement",
    "credit.tax.payment.v1": "TaxPayment",
    "credit.tax.rating.v1": "TaxCreditRating",
    "credit.tax.arrears.v1": "TaxArrears",
    "credit.tax.status.v1": "TaxpayerStatus",
    "credit.consent.v1": "ConsentGrant",
}

UTILITY_KINDS: dict[str, str] = {
    "WaterStatement": "water",
    "ElectricityStatement": "electricity",
    "GasStatement": "gas",
}

# Platform topics (not named by the contract; see docs/contract-notes.md).
NORMALIZED_TOPIC = "credit.normalized.v1"  # valid, normalised events (single-object Avro), keyed by USCC
AGGREGATES_TOPIC = "credit.aggregates.v1"  # one JSON aggregate row per enterprise, keyed by USCC
DEAD_LETTER_TOPIC = "credit.deadletter.v1"  # rejected records with reason and source position
API_KEYS_TOPIC = "credit.apikeys.v1"  # API key issue/revoke events (hashes only), keyed by key id
# valid events that arrived on a partition other than their normalised USCC's (internal)
REPARTITION_TOPIC = "credit.ledger-repartition.v1"

PLATFORM_TOPICS = (NORMALIZED_TOPIC, AGGREGATES_TOPIC, DEAD_LETTER_TOPIC, API_KEYS_TOPIC, REPARTITION_TOPIC)


def record_for_topic(topic: str) -> str:
    try:
        return PROVIDER_TOPICS[topic]
    except KeyError:
        raise KeyError(f"unknown topic {topic!r}; known: {', '.join(PROVIDER_TOPICS)}") from None
