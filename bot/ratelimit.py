"""A sliding-window rate limiter, shared by the VK and MAX clients (no messenger library here:
the command line imports the config, and the config must not pull in vkbottle)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable


class RateLimiter:
    """At most `rate` acquisitions in any one-second window (a sliding window)."""

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.capacity = max(1, int(rate))
        # VK counts a request when it arrives, we when it leaves: 50 ms of slack keeps a burst
        # from landing as rate + 1 in VK's second (the benchmark saw error 6 without it).
        self.window = self.capacity / rate + 0.05
        self._clock = clock
        self._sleep = sleep
        self._stamps: deque[float] = deque()
        self._lock = asyncio.Lock()

    def _now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = self._now()
                while self._stamps and now - self._stamps[0] >= self.window:
                    self._stamps.popleft()
                if len(self._stamps) < self.capacity:
                    self._stamps.append(now)
                    return
                # A microsecond more, so float rounding can never leave us a hair short.
                await self._sleep(self.window - (now - self._stamps[0]) + 1e-6)
