"""The worker's side of the loan loop: each change on a finance topic is folded into its key's
book (schemas.finance.Book, on the worker's ``finance`` table) and forwarded, as accepted, to
credit.finance.accepted.v1 in its key's order; a change the rules refuse becomes a dead letter
(FINANCE_REFUSED) with the reason. Plain code: the Faust agent in streams.app hands messages in.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

from creditstream.schemas.codec import Codec
from creditstream.schemas.finance import Book, FinanceError
from creditstream.schemas.records import record_from_json
from creditstream.schemas.rules import FINANCE_REFUSED, UNDECODABLE, Invalid
from creditstream.schemas.topics import FINANCE_TOPICS
from creditstream.streams.pipeline import decode_avro

KEY_FIELD = {"LoanProduct": "lender_id"}  # every other finance record is keyed by its USCC


class Folded(NamedTuple):
    book: bytes  # the key's book after the change
    accepted: bytes  # the change as accepted (Avro), for FINANCE_ACCEPTED_TOPIC


def fold_change(codec: Codec, book_bytes: Optional[bytes], topic: str, key: Optional[bytes],
                data: Optional[bytes]) -> Folded:
    """Fold one finance message into its key's book; Invalid(UNDECODABLE or FINANCE_REFUSED)."""
    record, value = decode_avro(codec, topic, data, FINANCE_TOPICS)
    owner = value[KEY_FIELD.get(record, "uscc")]
    if key is None or key.decode(errors="replace") != owner:
        raise Invalid(UNDECODABLE, f"{topic}: a {record} must be keyed by its {KEY_FIELD.get(record, 'uscc')} "
                                   f"({owner!r}), not {key!r}")
    book = Book.from_bytes(book_bytes)
    try:
        accepted = book.apply(record, value)
    except FinanceError as exc:
        raise Invalid(FINANCE_REFUSED, f"{record} {value['event_id']}: {exc}") from None
    changed = accepted is not None and accepted.get("first_loan") != value.get("first_loan")
    out = codec.encode(record, typed(codec, record, accepted)) if changed else data
    return Folded(book.to_bytes(), out)


def typed(codec: Codec, record: str, change: dict) -> dict:
    """A change in JSON form → the typed value Avro encodes."""
    return record_from_json(codec.current(record).raw, change)
