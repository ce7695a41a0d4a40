"""The simulator: every topic, and every invalid record dead-lettered with the reason it was built
for (so the stream tests can expect exact dead letters)."""
import io
import json
from collections import Counter

from creditstream.connectors.simulate import Simulator, event_line
from creditstream.schemas.codec import default_codec
from creditstream.schemas.months import parse_month
from creditstream.schemas.rules import REASONS
from creditstream.schemas.topics import PROVIDER_TOPICS, RECORD
from creditstream.streams.replay import fold_lines


def test_every_invalid_record_gets_the_reason_it_was_built_for_and_every_code_occurs():
    events = list(Simulator(120, 14, parse_month("2025-06"), seed=3, invalid_share=0.2).events())
    assert {e.topic for e in events} == set(PROVIDER_TOPICS)
    letters = io.StringIO()
    fold_lines([event_line(e) for e in events], default_codec(), letters)
    got = {json.loads(line)["line"]: json.loads(line)["reason"] for line in letters.getvalue().splitlines()}
    expected = {number: e.expect for number, e in enumerate(events, start=1) if e.expect}
    assert got == expected
    assert set(Counter(expected.values())) == set(REASONS)


def test_the_first_firm_has_data_in_every_category():
    def simulator():
        return Simulator(3, 14, parse_month("2025-06"), seed=1, invalid_share=0.0)

    first = simulator().firms()[0]["uscc"].strip().upper()  # as the demo picks it
    topics = {e.topic for e in simulator().events() if e.value["uscc"].strip().upper() == first}
    registers = {topic for topic, record in PROVIDER_TOPICS.items() if RECORD[record].register}
    assert topics >= registers | {"credit.utility.water.v1", "credit.utility.electricity.v1", "credit.tax.payment.v1"}
