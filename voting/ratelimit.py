"""Per-client-address rate limits: a fixed one-minute window per bucket and address.

`RateLimiter` counts in this process (embedded mode). `SharedRateLimiter` counts
in Redis, so a cluster's backends enforce one limit together rather than N times
the configured one; when Redis does not answer it falls back to counting in the
process, so ballots keep flowing while Redis is away.
"""
from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import time
from typing import Callable, Mapping, Sequence

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger("voting.ratelimit")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def real_client_address(remote: str, headers: Mapping[str, str],
                        trusted_proxies: Sequence[Network]) -> str:
    """The client's address: the peer's, or what a trusted proxy says it forwarded for.

    X-Real-IP (set by our nginx) first, else the last X-Forwarded-For entry (the one the
    trusted proxy appended); anything that is not an address is ignored."""
    peer, trusted = _peer(remote, tuple(trusted_proxies))
    if not trusted:
        return peer
    real = headers.get("X-Real-IP", "").strip()
    if not real:
        forwarded = headers.get("X-Forwarded-For", "")
        real = forwarded.split(",")[-1].strip() if forwarded else ""
    return (_address(real) or peer) if real else peer


# Parsing addresses with ipaddress is a few percent of a backend's CPU per request at
# thousands of requests a second, for the same few addresses (nginx's, the clients'):
# hence the caches, bounded so that made-up headers cannot grow them.
@functools.lru_cache(maxsize=4096)
def _peer(remote: str, trusted_proxies: tuple[Network, ...]) -> tuple[str, bool]:
    """The peer's address as text, and whether it is a trusted proxy."""
    try:
        peer = ipaddress.ip_address(remote)
    except ValueError:
        return remote, False
    return str(peer), any(peer in net for net in trusted_proxies)


@functools.lru_cache(maxsize=4096)
def _address(text: str) -> str | None:
    """The address in canonical form, or None when `text` is not one."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


@functools.lru_cache(maxsize=4096)
def rate_key(address: str) -> str:
    """What one budget is counted on: an IPv4 address, or an IPv6 client's /64 (one host
    can hold a whole /64, so per-address counting would give it billions of budgets)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class RateLimiter:
    def __init__(self, per_minute: dict[str, int], max_clients: int = 100_000,
                 clock: Callable[[], float] = time.time) -> None:
        """per_minute: the limit of each bucket ("voters", "ballots"); 0 disables one.
        clock: wall-clock seconds (tests fix it so a burst stays inside one window)."""
        self.per_minute = per_minute
        self.max_clients = max_clients
        self.clock = clock
        self._windows: dict[tuple[str, str], tuple[int, int]] = {}  # -> (minute, count)

    def limited(self, bucket: str) -> bool:
        """Whether the bucket has a limit at all (0 disables it)."""
        return self.per_minute[bucket] > 0

    async def allow(self, bucket: str, address: str) -> bool:
        """True when the address may go on."""
        return self.allow_here(bucket, address)

    def allow_here(self, bucket: str, address: str, now: float | None = None) -> bool:
        """The decision from this process's own counts."""
        if not self.limited(bucket):
            return True
        limit = self.per_minute[bucket]
        # Wall-clock minutes: every backend agrees on the window (see SharedRateLimiter).
        minute = int((self.clock() if now is None else now) // 60)
        key = (bucket, address)
        start, count = self._windows.get(key, (minute, 0))
        if start != minute:
            start, count = minute, 0
        if count >= limit:
            return False
        if len(self._windows) >= self.max_clients and key not in self._windows:
            self._windows = {k: w for k, w in self._windows.items() if w[0] == minute}
        self._windows[key] = (start, count + 1)
        return True

    def retry_after(self, now: float | None = None) -> int:
        t = self.clock() if now is None else now
        return max(1, 60 - int(t % 60))

    async def close(self) -> None:
        pass


class SharedRateLimiter(RateLimiter):
    """One count per bucket, address and minute in Redis (INCR), shared by every backend."""

    # After Redis failed to answer, count in the process this long before asking it again,
    # so a hung Redis costs one timeout per interval, not one per request.
    RETRY_INTERVAL = 5.0

    def __init__(self, per_minute: dict[str, int], redis_url: str, password: str | None,
                 prefix: str, timeout: float = 0.25, clock: Callable[[], float] = time.time) -> None:
        super().__init__(per_minute, clock=clock)
        self.prefix = prefix
        self.timeout = timeout
        self._client = aioredis.from_url(redis_url, password=password, socket_connect_timeout=1,
                                         socket_timeout=timeout, decode_responses=True)
        self._local_until = 0.0

    async def allow(self, bucket: str, address: str) -> bool:
        if not self.limited(bucket):
            return True
        now = self.clock()
        if now < self._local_until:
            return self.allow_here(bucket, address, now)
        key = f"{self.prefix}:ratelimit:{bucket}:{int(now // 60)}:{address}"
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
            return self.allow_here(bucket, address, now)
        return int(count) <= self.per_minute[bucket]

    async def close(self) -> None:
        await self._client.aclose()
