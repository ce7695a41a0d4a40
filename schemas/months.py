"""Calendar months as integers (year * 12 + month - 1), so windows are plain ranges."""
from __future__ import annotations

import calendar
import datetime as dt
import re
from functools import lru_cache
from zoneinfo import ZoneInfo

MONTH_PATTERN = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def parse_month(text: str) -> int:
    """``YYYY-MM`` → month index; ValueError when it is not a real month."""
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not a real month YYYY-MM")
    return _parse_month_text(text)


@lru_cache(maxsize=4096)  # few distinct months, parsed for every statement; errors are not cached
def _parse_month_text(text: str) -> int:
    match = MONTH_PATTERN.match(text)
    if not match or int(match.group(1)) < 1:
        raise ValueError(f"{text!r} is not a real month YYYY-MM")
    return int(match.group(1)) * 12 + int(match.group(2)) - 1


def format_month(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_of(day: dt.date) -> int:
    return day.year * 12 + day.month - 1


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
