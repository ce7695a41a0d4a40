"""The JSON form ledgers were stored in until 2026-12-05 (``Ledger.to_bytes`` then), so tests can
write what older changelogs and local stores hold and check that a worker still reads it."""
import base64
import json
from array import array

from creditstream.streams.ledger import Ledger, little_endian_bytes


def json_form(ledger: Ledger) -> dict:
    """The ledger as that JSON document: integer columns as base64 of their little-endian bytes."""
    doc = {
        "seen": _packed(ledger.seen),
        "U": {kind: _packed_columns(accounts) for kind, accounts in ledger.statements.items() if accounts},
        "T": _packed_columns(ledger.payments),
        "a": [[d.isoformat(), occ, flag, str(amount)] for d, (occ, flag, amount) in ledger.arrears.items()],
        "s": [[d.isoformat(), occ, flag] for d, (occ, flag) in ledger.status.items()],
        "r": [[year, occ, grade] for year, (occ, grade) in ledger.ratings.items()],
        "g": ledger.registers,
        "P": {series: _packed_columns(accounts) for series, accounts in ledger.series.items()},
        "n": list(ledger.name),
        "w": [ledger.whitelisted, ledger.whitelist_changes],
    }
    if ledger.sources:
        doc["o"] = sorted(ledger.sources)
    return doc


def json_bytes(doc: dict) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def _packed_columns(columns: dict[str, array]) -> dict[str, str]:
    return {name: _packed(rows) for name, rows in columns.items()}


def _packed(column: array) -> str:
    return base64.b64encode(little_endian_bytes(column)).decode()
