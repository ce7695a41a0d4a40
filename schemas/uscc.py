"""The unified social credit code (统一社会信用代码, GB 32100-2015): normalisation and check."""
from __future__ import annotations

from functools import lru_cache

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_VALUES = {ch: i for i, ch in enumerate(USCC_ALPHABET)}
USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))


def normalise_uscc(raw: str) -> str:
    """Providers send codes with surrounding space or in lower case; the platform keys by this."""
    return raw.strip().upper()


def uscc_check_char(first17: str) -> str:
    total = sum(USCC_VALUES[ch] * w for ch, w in zip(first17, USCC_WEIGHTS))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def uscc_problem(uscc: str) -> str | None:
    """Why a normalised USCC is invalid, or None. Only 18-character strings reach the cache, so
    attacker-sized input can neither fill it nor be quoted whole."""
    if len(uscc) != 18:
        shown = uscc if len(uscc) <= 40 else f"{uscc[:40]}…"
        return f"USCC {shown!r} has {len(uscc)} characters, expected 18"
    return _problem_of_18(uscc)


@lru_cache(maxsize=1 << 17)  # a few firms send most events: check each USCC once (18 characters each)
def _problem_of_18(uscc: str) -> str | None:
    bad = sorted({ch for ch in uscc if ch not in USCC_VALUES})
    if bad:
        return f"USCC {uscc!r} contains characters outside 0-9A-HJ-NPQRTUWXY: {''.join(bad)}"
    expected = uscc_check_char(uscc[:17])
    if uscc[17] != expected:
        return f"USCC {uscc!r} has check character {uscc[17]}, expected {expected}"
    return None
