"""The export reader shared by `creditstream publish` and the gateway's file upload: every record
with its line number, a bad record rejected alone, the rest read on."""
import csv
import io

from creditstream.schemas.exports import read_export
from creditstream.schemas.records import to_json
from tests.support import builders
from tests.support.stream import CODEC

WATER = "credit.utility.water.v1"


def water_csv(*rows: dict) -> bytes:
    fields = [f["name"] for f in CODEC.current("WaterStatement").raw["fields"]]
    out = io.StringIO()
    writer = csv.DictWriter(out, fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue().encode()


def statement(month: str) -> dict:
    return to_json(builders.statement("water", "W1", month, "10.000", "40.00")[1])


def test_a_record_the_csv_module_cannot_read_is_rejected_alone_with_its_line():
    oversized = {**statement("2025-05"), "account_name": "x" * 200_000}  # over the csv module's field limit
    body = water_csv(statement("2025-04"), oversized, statement("2025-06"))
    records = list(read_export(io.BytesIO(body), CODEC, WATER, csv_format=True))
    assert [(r.line, r.error is None) for r in records] == [(2, True), (3, False), (4, True)]
    assert records[1].error.startswith("not CSV: field larger than field limit")
    assert records[2].value["billing_month"] == "2025-06"


def test_json_lines_name_their_topic_and_a_bad_line_is_named():
    lines = [f'{{"topic": "{WATER}", "value": {__import__("json").dumps(statement("2025-04"))}}}', "", "[1, 2"]
    records = list(read_export(io.BytesIO("\n".join(lines).encode()), CODEC, None, csv_format=False))
    assert [(r.line, r.topic, r.error is None) for r in records] == [(1, WATER, True), (3, None, False)]
