"""Per-identity token buckets: ``rate`` tokens a second up to ``burst``; one request costs one."""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class TokenBuckets:
    """Token buckets keyed by identity, refilled lazily on each request.

    Args:
        rate: Tokens added per second.
        burst: Bucket size (and the number of requests a fresh identity may make at once).
        clock: Monotonic seconds; injectable so tests need not sleep.
        max_keys: Full buckets are forgotten beyond this many keys, bounding memory.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"rate must be > 0 and burst >= 1, got {rate}, {burst}")
        self.rate = rate
        self.burst = float(burst)
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def take(self, key: str) -> float:
        """Spend one token of ``key``'s bucket: 0.0 when allowed, else the seconds until one is free."""
        now = self.clock()
        tokens, at = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            if len(self._buckets) > self.max_keys:
                self._forget_full(now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        full = [
            k for k, (t, at) in self._buckets.items() if t + (now - at) * self.rate >= self.burst
        ]
        for key in full:
            del self._buckets[key]


def retry_after(wait_s: float) -> str:
    """The ``Retry-After`` value (whole seconds, at least 1) for a wait."""
    return str(max(1, math.ceil(wait_s)))
