"""`creditstream publish` when Kafka cannot take the records (issue 27, item 18): every undelivered
record is named by file:line, up to a bound, then counted, and the output says a re-send is safe.
No broker: the records go to a closed loopback port."""
import io

from creditstream.connectors.publish import publish_file
from creditstream.connectors.simulate import Simulator, event_line
from creditstream.schemas.kafka import KafkaConnection
from creditstream.schemas.months import parse_month
from tests.support.kafka import free_port
from tests.support.stream import AS_OF


def test_undelivered_records_are_named_by_line_then_counted(tmp_path):
    events = [e for e in Simulator(10, 3, parse_month(AS_OF), seed=5, invalid_share=0.0).events()][:25]
    path = tmp_path / "export.jsonl"
    path.write_text("".join(event_line(e) + "\n" for e in events))
    err = io.StringIO()
    result = publish_file(KafkaConnection(f"127.0.0.1:{free_port()}"), path, None, err, settle_seconds=1.0)
    text = err.getvalue()
    assert result.read == 25 and result.report.delivered == 0 and result.report.failed == 25
    named = [line for line in text.splitlines() if line.startswith(f"delivery failed: {path}:")]
    assert len(named) == 20 and named[0].startswith(f"delivery failed: {path}:1: ")
    assert "… and 5 more records" in text and "Re-sending the whole file is safe" in text
