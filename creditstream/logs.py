"""Log lines people can read while something is down: one line per condition per interval.

While the broker is down the worker's clients report the same failure many times a second (the
second probe counted ~70 ERROR lines a second). ``RepeatedLines`` lets the first line of a kind
through, holds back its repeats for ``interval`` seconds, then lets the next one through with the
count of those held back. "Of a kind": the same logger, level and message with its numbers
(ports, offsets, counts, timings) taken out. Only WARNING and above: progress lines pass as they are.
"""
from __future__ import annotations

import logging
import re
import time
from typing import Callable

NUMBERS = re.compile(r"\d+(\.\d+)?")


class RepeatedLines(logging.Filter):
    def __init__(self, interval: float = 10.0, clock: Callable[[], float] = time.monotonic, max_kinds: int = 1000):
        super().__init__()
        self.interval, self.clock, self.max_kinds = interval, clock, max_kinds
        self.kinds: dict[tuple, list] = {}  # kind → [first seen in this interval, repeats held back]

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        kind = (record.name, record.levelno, NUMBERS.sub("#", str(record.msg)),
                NUMBERS.sub("#", record.getMessage()) if record.args else "")
        now = self.clock()
        seen = self.kinds.get(kind)
        if seen is not None and now - seen[0] < self.interval:
            seen[1] += 1
            return False
        held = seen[1] if seen is not None else 0
        self.kinds.pop(kind, None)
        self.kinds[kind] = [now, 0]
        while len(self.kinds) > self.max_kinds:
            del self.kinds[next(iter(self.kinds))]
        if held:
            record.msg = f"{record.getMessage()} (and {held} more like it in the last {self.interval:g} s)"
            record.args = ()
        return True


def install(logger: logging.Logger | None = None, interval: float = 10.0) -> None:
    """Add one RepeatedLines to every handler of ``logger`` (the root logger by default)."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RepeatedLines) for f in handler.filters):
            handler.addFilter(RepeatedLines(interval))
