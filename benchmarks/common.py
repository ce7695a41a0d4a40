"""Helpers shared by the benchmark scripts."""
from creditstream.schemas.uscc import USCC_ALPHABET, uscc_check_char


def synthetic_uscc(i: int) -> str:
    """A valid, distinct USCC for the i-th synthetic enterprise."""
    body = "91" + f"{i:07d}" + "".join(USCC_ALPHABET[(i * 7 + k) % 31] for k in range(8))
    return body + uscc_check_char(body)
