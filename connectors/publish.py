"""``creditstream publish --topic T FILE``: schema-check every record, then send it to Kafka."""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Optional

from tqdm import tqdm

from creditstream.connectors.kafka_producer import DeliveryReport, produce, provider_producer, settle
from creditstream.schemas.codec import default_codec
from creditstream.schemas.exports import read_file
from creditstream.schemas.kafka import KafkaConnection
from creditstream.schemas.uscc import normalise_uscc


@dataclass
class PublishResult:
    read: int = 0
    rejected: list[str] = field(default_factory=list)
    report: DeliveryReport = field(default_factory=DeliveryReport)

    @property
    def ok(self) -> bool:
        return not self.rejected and not self.report.failed


def publish_file(kafka: KafkaConnection, path: Path, topic: Optional[str], err: IO[str] = sys.stderr,
                 settle_seconds: float = 60.0) -> PublishResult:
    """Every record of the file to Kafka; what could not be delivered is named by file:line (the
    first 20, then a count), so a re-send can be targeted."""
    codec = default_codec()
    result = PublishResult()
    producer = provider_producer(kafka, result.report)
    try:
        with tqdm(desc=f"publish {path.name}", unit="rec", file=err, disable=None) as bar:
            for item in read_file(path, codec, topic):
                if result.report.refused:
                    break
                result.read += 1
                bar.update()
                if item.error:
                    message = f"{path}:{item.line}: rejected: {item.error}"
                    result.rejected.append(message)
                    bar.write(message, file=err)
                    continue
                key = normalise_uscc(item.value["uscc"]).encode()
                produce(producer, result.report, item.topic, key, codec.encode(item.record, item.value),
                        f"{path}:{item.line}")
                producer.poll(0)
    finally:  # whatever stops the reading, what was accepted before it is delivered
        settle(producer, result.report, settle_seconds)
    for error in result.report.errors:
        err.write(f"delivery failed: {error}\n")
    if result.report.unshown():
        err.write(f"delivery failed: … and {result.report.unshown()} more records\n")
    if result.report.failed:
        err.write("Re-sending the whole file is safe: every record carries its event_id and a revision, and the "
                  "platform counts a record delivered twice once; or re-send only the lines named above.\n")
    return result
