"""Calendar months as integers (year * 12 + month - 1), so windows are plain ranges."""
from __future__ import annotations

import calendar
import datetime as dt
import re
from functools import lru_cache
from zoneinfo import ZoneInfo

# \Z, not $: "$" also matches before a trailing newline, so "2026-09\n" would pass
MONTH_PATTERN = re.compile(r"(\d{4})-(0[1-9]|1[0-2])\Z")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def parse_month(text: str) -> int:
    """``YYYY-MM`` → month index; ValueError when it is not a real month."""
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not a real month YYYY-MM")
    if len(text) != 7:
        raise ValueError(f"{shorten(text)!r} is not a real month YYYY-MM")
    return _parse_month_text(text)


def shorten(text: str, limit: int = 40) -> str:
    """Attacker-sized input quoted in a message: its start and its length."""
    return text if len(text) <= limit else f"{text[:limit]}…({len(text)} characters)"


@lru_cache(maxsize=4096)  # few distinct months, parsed for every statement; errors are not cached, nor
# any text longer than a month (parse_month checks the length first)
def _parse_month_text(text: str) -> int:
    match = MONTH_PATTERN.fullmatch(text) if len(text) == 7 else None
    if not match or int(match.group(1)) < 1:
        raise ValueError(f"{text!r} is not a real month YYYY-MM")
    return int(match.group(1)) * 12 + int(match.group(2)) - 1


def format_month(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def months_back(last: str, count: int) -> list[str]:
    """``count`` months ending with ``last`` ("YYYY-MM"), oldest first."""
    end = parse_month(last)
    return [format_month(index) for index in range(end - count + 1, end + 1)]


def month_of(day: dt.date) -> int:
    return day.year * 12 + day.month - 1


@lru_cache(maxsize=8192)  # ledgers keep dates as ordinals: a row reads hundreds of them, of few distinct values
def month_of_ordinal(ordinal: int) -> int:
    """The month index of a date given as its proleptic Gregorian ordinal (``date.toordinal()``)."""
    return month_of(dt.date.fromordinal(ordinal))


def last_day(index: int) -> dt.date:
    year, month = index // 12, index % 12 + 1
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def live_as_of_month(now: dt.datetime | None = None) -> int:
    """The last complete calendar month in Asia/Shanghai."""
    local = (now or dt.datetime.now(dt.timezone.utc)).astimezone(SHANGHAI)
    return month_of(local.date()) - 1


def add_years(day: dt.date, years: int) -> dt.date:
    """The same calendar date ``years`` on; 29 February becomes 28 February in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def today_in_shanghai(now: dt.datetime | None = None) -> dt.date:
    """The live reference date R of the registers."""
    return (now or dt.datetime.now(dt.timezone.utc)).astimezone(SHANGHAI).date()
