"""docs/contract.md is generated from the schemas, topics and rules: it must say what the code does."""
from creditstream.contract_doc import render
from tests.support.kafka import ROOT


def test_the_contract_document_is_generated_from_the_current_schemas():
    written = (ROOT / "docs" / "contract.md").read_text(encoding="utf-8")
    assert written == render(), "docs/contract.md is stale: run `python -m creditstream.contract_doc > docs/contract.md`"


def test_every_field_of_every_current_schema_appears_in_its_table():
    from creditstream.schemas.codec import default_codec
    from creditstream.schemas.topics import RECORDS
    text, codec = render(), default_codec()
    for record in RECORDS:
        section = text.split(f"### `{record.topic}`", 1)[1].split("\n### ", 1)[0]
        for field in codec.current(record.name).raw["fields"]:
            assert f"| `{field['name']}` |" in section, (record.name, field["name"])
