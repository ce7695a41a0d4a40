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
    registers = {topic for topic, record in PROVIDER_TOPICS.items() if RECORD[record].register or RECORD[record].statement}
    assert topics >= registers | {"credit.utility.water.v1", "credit.utility.electricity.v1", "credit.tax.payment.v1"}


def test_every_v1_2_code_case_occurs_on_the_new_topics():
    """Invalid records per code on v1.2's topics too: the simulator's own stream breaks them."""
    new = {r.topic for r in RECORD.values() if r.statement or r.name in (
        "CustomsCreditGrade", "Patent", "Trademark", "IpPledge", "PublicResourceAward", "DishonestDebtor",
        "EnforcementCase")}
    events = [e for e in Simulator(150, 14, parse_month("2025-06"), seed=4, invalid_share=0.2).events()
              if e.topic in new]
    assert {e.topic for e in events} == new
    assert {e.expect for e in events if e.expect} == {"UNDECODABLE", "INVALID_USCC", "NEGATIVE_AMOUNT", "BAD_PERIOD",
                                                      "BAD_VALUE", "FUTURE_TIMESTAMP"}


def test_a_register_export_in_csv_reads_into_typed_records(tmp_path):
    """`creditstream publish` takes the new topics' CSV exports too: arrays `|`-separated, empty
    cells null (the same reader as JSON Lines; sending is covered against the broker)."""
    from creditstream.schemas.exports import read_file
    from tests.support import builders as b

    path = tmp_path / "penalties.csv"
    path.write_text(
        "event_id,provider_id,uscc,enterprise_name,occurred_at,decision_no,decision_name,violation_type,"
        "violation_facts,legal_basis,penalty_content,penalty_types,fine_amount,confiscated_amount,licence_affected,"
        "decided_on,publicity_until,severity,revoked,authority_name,authority_uscc,legal_rep_name,legal_rep_id_type,"
        "legal_rep_id_no\n"
        f"e1,heihe-market,{b.USCC},甲,2025-06-01T08:00:00Z,P1,决定书,环境,事实,依据,罚款,WARNING|FINE,1000.00,0.00,,"
        f"2025-05-30,,GENERAL,false,市场监管局,{b.AUTHORITY_USCC},张三,ID_CARD,{b.LEGAL_REP_ID}\n"
        f"e2,heihe-market,{b.USCC},甲,2025-06-01T08:00:00Z,P2,决定书,环境,事实,依据,罚款,FINE,-1,0.00,,"
        "2025-05-30,,SEVERE,false,市场监管局,X,,,\n", encoding="utf-8")
    good, bad = list(read_file(path, default_codec(), "credit.admin.penalty.v1"))
    assert good.error is None and good.record == "AdminPenalty"
    assert good.value["penalty_types"] == ["WARNING", "FINE"] and good.value["publicity_until"] is None
    assert good.value["legal_rep_id_hmac"] is None  # providers leave it out; the platform sets it
    assert bad.line == 3 and "SEVERE" in bad.error  # not a severity: refused before anything is sent
