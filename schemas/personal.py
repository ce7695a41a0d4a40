"""Personal data (v1.1): legal representatives' identity numbers. They never leave the validator
in clear: downstream sees the masked form (display) and a keyed hash (verification queries).
Only the dead-letter topic keeps a rejected record's original bytes, for operators."""
from __future__ import annotations

import hashlib
import hmac

from creditstream.schemas.keys import IDENTITY, purpose_key

ID_CARD_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CARD_CHECK = "10X98765432"
LEGAL_REP_FIELDS = ("legal_rep_name", "legal_rep_id_type", "legal_rep_id_no")


def id_card_check_char(first17: str) -> str:
    return ID_CARD_CHECK[sum(int(d) * w for d, w in zip(first17, ID_CARD_WEIGHTS)) % 11]


def mask_id(number: str) -> str:
    """First 4 and last 4 characters, the middle replaced by '*' (all masked when that short)."""
    if len(number) <= 8:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def id_card_problem(number: str) -> str | None:
    """Why an upper-cased resident ID number (GB 11643) is invalid, or None. The message shows the
    number masked: it reaches logs and the dead letter's message."""
    shown = mask_id(number)
    if len(number) != 18:
        return f"resident ID {shown} has {len(number)} characters, expected 18"
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        return f"resident ID {shown} must be 17 digits and a digit or X"
    expected = id_card_check_char(number[:17])
    if number[17] != expected:
        return f"resident ID {shown} has a wrong check character"
    return None


def id_hmac(number: str, secret: bytes) -> str:
    """Keyed hash of an identity number (upper-cased), hex: equal numbers match, nothing is revealed.
    Under the identity purpose's key (schemas.keys: the secret itself, as every stored hash was)."""
    return hmac.new(purpose_key(secret, IDENTITY), number.upper().encode(), hashlib.sha256).hexdigest()


def protect(value: dict, secret: bytes) -> dict:
    """The record with its identity number replaced by the masked form and the keyed hash set."""
    number = value.get("legal_rep_id_no")
    if number is None:
        return value
    return {**value, "legal_rep_id_no": mask_id(number), "legal_rep_id_hmac": id_hmac(number, secret)}
