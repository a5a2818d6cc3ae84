"""Per-client-address rate limits: a fixed one-minute window per address and bucket.

`RateLimiter` counts in this process (embedded mode). `SharedRateLimiter` counts
in Redis, so a cluster's backends enforce one limit together rather than N times
the configured one; when Redis does not answer it falls back to counting in the
process, so ballots keep flowing while Redis is away.
"""
from __future__ import annotations

import asyncio
import logging
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger("voting.ratelimit")


class RateLimiter:
    def __init__(self, per_minute: int, max_clients: int = 100_000) -> None:
        self.per_minute = per_minute
        self.max_clients = max_clients
        self._windows: dict[str, tuple[int, int]] = {}  # address -> (minute, count)

    async def allow(self, address: str) -> bool:
        """True when the address may go on; 0 per minute disables the limit."""
        return self.allow_here(address)

    def allow_here(self, address: str, now: float | None = None) -> bool:
        """The decision from this process's own counts."""
        if self.per_minute <= 0:
            return True
        # Wall-clock minutes: every backend agrees on the window (see SharedRateLimiter).
        minute = int((time.time() if now is None else now) // 60)
        start, count = self._windows.get(address, (minute, 0))
        if start != minute:
            start, count = minute, 0
        if count >= self.per_minute:
            return False
        if len(self._windows) >= self.max_clients and address not in self._windows:
            self._windows = {a: w for a, w in self._windows.items() if w[0] == minute}
        self._windows[address] = (start, count + 1)
        return True

    def retry_after(self, now: float | None = None) -> int:
        t = time.time() if now is None else now
        return max(1, 60 - int(t % 60))

    async def close(self) -> None:
        pass


class SharedRateLimiter(RateLimiter):
    """One count per address and minute in Redis (INCR), shared by every backend."""

    # After Redis failed to answer, count in the process this long before asking it again,
    # so a hung Redis costs one timeout per interval, not one per request.
    RETRY_INTERVAL = 5.0

    def __init__(self, per_minute: int, bucket: str, redis_url: str, password: str | None,
                 prefix: str, timeout: float = 0.25) -> None:
        super().__init__(per_minute)
        self.bucket = bucket
        self.prefix = prefix
        self.timeout = timeout
        self._client = aioredis.from_url(redis_url, password=password, socket_connect_timeout=1,
                                         socket_timeout=timeout, decode_responses=True)
        self._local_until = 0.0

    async def allow(self, address: str) -> bool:
        if self.per_minute <= 0:
            return True
        now = time.time()
        if now < self._local_until:
            return self.allow_here(address, now)
        key = f"{self.prefix}:ratelimit:{self.bucket}:{int(now // 60)}:{address}"
        try:
            async with asyncio.timeout(self.timeout):
                pipe = self._client.pipeline(transaction=False)
                pipe.incr(key)
                pipe.expire(key, 120)
                count, _ = await pipe.execute()
        except (RedisError, OSError, TimeoutError) as exc:
            if self._local_until == 0.0 or now - self._local_until > self.RETRY_INTERVAL:
                log.warning("rate limits counted per backend: Redis did not answer (%s)",
                            exc or type(exc).__name__)
            self._local_until = now + self.RETRY_INTERVAL
            return self.allow_here(address, now)
        return int(count) <= self.per_minute

    async def close(self) -> None:
        await self._client.aclose()
