"""Avro single-object encoding: header, fingerprint, resolution, and clear errors."""
import datetime as dt
from decimal import Decimal

import pytest

from creditstream.schemas.codec import Codec, DecodeError
from creditstream.schemas.compat import samples
from creditstream.schemas.records import RecordError, csv_cells_to_json, record_from_json, to_json

CODEC = Codec()


def test_crc64_avro_fingerprint_matches_the_avro_test_vector():
    # Avro's reference value for the schema "null": 7195948357588979594, written little-endian.
    from fastavro.schema import fingerprint
    assert int.from_bytes(bytes.fromhex(fingerprint('"null"', "CRC-64-AVRO")), "little") == 7195948357588979594


@pytest.mark.parametrize("record", sorted(CODEC.versions))
def test_roundtrip_every_record(record):
    version = CODEC.current(record)
    for value in samples(version.raw):
        data = CODEC.encode(record, value)
        assert data[:2] == b"\xc3\x01" and data[2:10] == version.fingerprint
        assert CODEC.decode(data) == (record, value)


def test_undecodable_bytes_raise_decode_error_with_reason():
    good = CODEC.encode("TaxpayerStatus", next(samples(CODEC.current("TaxpayerStatus").raw)))
    with pytest.raises(DecodeError, match="missing C3 01"):
        CODEC.decode(b'{"json": true}')
    with pytest.raises(DecodeError, match="unknown writer schema fingerprint 0102030405060708"):
        CODEC.decode(b"\xc3\x01" + bytes(range(1, 9)) + good[10:])
    with pytest.raises(DecodeError, match="trailing bytes"):
        CODEC.decode(good + b"\x00")
    with pytest.raises(DecodeError, match="body unreadable"):
        CODEC.decode(good[:12])
    with pytest.raises(DecodeError):
        CODEC.decode(None)


def test_json_form_roundtrip_and_decimal_rules():
    schema = CODEC.current("WaterStatement").raw
    line = {"event_id": "e1", "provider_id": "heihe-water", "uscc": "91350100M000100Y43", "enterprise_name": "甲",
            "occurred_at": "2025-01-05T10:00:00+08:00", "account_no": "A1", "account_name": "甲",
            "billing_month": "2024-12", "usage": "12.5", "amount_due": "51.25", "amount_paid": "0",
            "due_date": "2025-01-20", "arrears_amount": "51.25", "revision": 0}
    typed = record_from_json(schema, line)
    assert typed["usage"] == Decimal("12.500") and typed["paid_date"] is None
    assert typed["occurred_at"] == dt.datetime(2025, 1, 5, 2, 0, tzinfo=dt.timezone.utc)
    assert to_json(typed)["occurred_at"] == "2025-01-05T02:00:00.000Z"
    assert record_from_json(schema, to_json(typed)) == typed
    with pytest.raises(RecordError, match="amount_due: '1.005' has more than 2 decimal places"):
        record_from_json(schema, {**line, "amount_due": "1.005"})
    with pytest.raises(RecordError, match="amount_due: expected a decimal string, got float"):
        record_from_json(schema, {**line, "amount_due": 1.5})
    with pytest.raises(RecordError, match="revision: missing"):
        record_from_json(schema, {k: v for k, v in line.items() if k != "revision"})
    with pytest.raises(RecordError, match="WaterStatement has no field colour"):
        record_from_json(schema, {**line, "colour": "blue"})
    with pytest.raises(RecordError, match="due_date: '2025-02-30' is not a date"):
        record_from_json(schema, {**line, "due_date": "2025-02-30"})


def test_csv_cells_become_json_form():
    schema = CODEC.current("TaxArrears").raw
    row = {"event_id": "e", "provider_id": "p", "uscc": "u", "enterprise_name": "n",
           "occurred_at": "2025-01-01T00:00:00Z", "as_of": "2024-12-31", "in_arrears": "TRUE", "amount": "10.00",
           "tax_types": "VAT|CIT"}
    assert csv_cells_to_json(schema, row)["tax_types"] == ["VAT", "CIT"]
    assert record_from_json(schema, csv_cells_to_json(schema, row))["in_arrears"] is True
