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


class FailureThrottle:
    """Slows down guessing: a client address with ``limit`` failed authentications (unknown or
    revoked API keys, wrong portal sign-ins) within ``window`` seconds is refused, 429, for
    ``block`` seconds, whatever key it sends next. Bounded: at most ``max_clients`` addresses are
    remembered (the oldest forgotten first)."""

    def __init__(self, limit: int = 60, window: float = 60.0, block: float = 60.0, max_clients: int = 10_000,
                 clock: Callable[[], float] = time.monotonic):
        self.limit, self.window, self.block, self.max_clients, self.clock = limit, window, block, max_clients, clock
        self._failures: dict[str, list[float]] = {}  # address → failure times within the window
        self._blocked: dict[str, float] = {}  # address → blocked until

    def wait_needed(self, address: str) -> float:
        """0.0 if ``address`` may try now, else the seconds until it may."""
        until = self._blocked.get(address)
        if until is None:
            return 0.0
        left = until - self.clock()
        if left <= 0:
            del self._blocked[address]
            return 0.0
        return left

    def failed(self, address: str) -> bool:
        """Record a failed authentication; True when it blocks the address."""
        now = self.clock()
        recent = [t for t in self._failures.pop(address, []) if now - t < self.window]
        recent.append(now)
        if len(recent) >= self.limit:
            self._blocked[address] = now + self.block
            return True
        self._failures[address] = recent  # re-inserted: the dict's order is oldest use first
        while len(self._failures) > self.max_clients:
            del self._failures[next(iter(self._failures))]
        while len(self._blocked) > self.max_clients:
            del self._blocked[next(iter(self._blocked))]
        return False
