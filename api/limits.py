"""Per-key request rate limit: a token bucket per API key id. Only authenticated keys get a
bucket, so the table is bounded by the number of issued keys, not by what callers send."""
from __future__ import annotations

import time
from typing import Callable


class RateLimiter:
    def __init__(self, rate_per_second: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate, self.burst, self.clock = rate_per_second, burst, clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key id → (tokens, at)

    def wait_needed(self, key_id: str) -> float:
        """Take a token: 0.0 if the request may go now, else the seconds until it may."""
        now = self.clock()
        tokens, at = self._buckets.get(key_id, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.rate)
        if tokens >= 1.0:
            self._buckets[key_id] = (tokens - 1.0, now)
            return 0.0
        self._buckets[key_id] = (tokens, now)
        return (1.0 - tokens) / self.rate
