"""Rate limits shared by backends through a real Redis, and their fallback when it is gone."""
from __future__ import annotations

import signal
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from tests.client import Api
from tests.conftest import freeze_rate_limits, make_config, start_redis
from tests.ws.test_redis_relay import RedisServer
from voting.app import Server, make_broker, make_storage
from voting.cluster import redis as redis_proc
from voting.ratelimit import RateLimiter

pytestmark = pytest.mark.integration

LIMIT = 5
FROZEN = float(int(time.time() // 60) * 60)
# "Never hangs": a ballot is answered within this, far below any client timeout.
PROMPT = 5.0


@asynccontextmanager
async def shared_backends(tmp_path: Path) -> AsyncIterator[tuple[RedisServer, list[Server]]]:
    """A real Redis and two in-process servers on one SQLite file, admitting LIMIT ballots a
    minute per client address; they believe X-Real-IP from 127.0.0.1 (as from nginx)."""
    redis = await start_redis(tmp_path)
    servers: list[Server] = []
    try:
        for name in ("backend1", "backend2"):
            cfg = make_config(tmp_path / name,
                              server={"name": name, "secret": "x" * 32,
                                      "trusted_proxies": ["127.0.0.1"]},
                              storage={"sqlite_path": str(tmp_path / "shared.sqlite3")},
                              broker={"backend": "redis", "redis_url": redis_proc.url(redis.port)},
                              rate_limits={"ballots_per_minute": LIMIT})
            server = Server(cfg, make_storage(cfg), make_broker(cfg, name))
            # Every limiter reads one clock standing still at the start of a minute, so a
            # burst never straddles two windows whatever the wall clock does meanwhile.
            freeze_rate_limits(server, FROZEN)
            await server.start("127.0.0.1", 0)
            servers.append(server)
        yield redis, servers
    finally:
        for server in servers:
            await server.stop()
        redis.stop()


@pytest.fixture
async def backends(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    async with shared_backends(tmp_path) as (redis, servers):
        apis = [Api(f"http://127.0.0.1:{server.port}") for server in servers]
        try:
            yield {"redis": redis, "apis": apis}
        finally:
            for api in apis:
                api.close()


async def ballots_from(address: str, apis: list[Api], n: int,
                       took: list[float] | None = None) -> list[int]:
    """n ballots by n voters behind one address (a hall behind one NAT), spread over apis.

    took, when given, gets how long each ballot took to be answered."""
    poll_id = (await apis[0].create_poll())["poll"]["id"]
    statuses = []
    for i in range(n):
        s = apis[i % len(apis)].session()
        await s.voter()
        started = time.monotonic()
        r = await s.post(f"/api/polls/{poll_id}/ballots", {"choices": {"q1": ["o1"]}},
                         headers={"X-Real-IP": address})
        if took is not None:
            took.append(time.monotonic() - started)
        statuses.append(r.status)
    return statuses


async def test_the_limit_holds_across_backends(backends: dict[str, Any]) -> None:
    statuses = await ballots_from("203.0.113.50", backends["apis"], 2 * LIMIT)
    assert sorted(statuses) == [201] * LIMIT + [429] * LIMIT, statuses
    # Another address has its own count.
    assert await ballots_from("203.0.113.51", backends["apis"], 2) == [201, 201]


async def test_without_redis_each_backend_limits_on_its_own(backends: dict[str, Any]) -> None:
    poll_api, other = backends["apis"]
    backends["redis"].stop()
    # Ballots keep being accepted, limited by each backend's own count.
    statuses = await ballots_from("203.0.113.60", [poll_api], LIMIT + 1)
    assert statuses == [201] * LIMIT + [429], statuses
    assert await ballots_from("203.0.113.60", [other], 1) == [201]


async def test_local_limiter_counts_per_minute() -> None:
    limiter = RateLimiter({"ballots": 2, "voters": 0})
    t = 1_800_000_000.0  # the start of a minute
    assert [limiter.allow_here("ballots", "a", t), limiter.allow_here("ballots", "a", t + 1),
            limiter.allow_here("ballots", "a", t + 2)] == [True, True, False]
    assert limiter.allow_here("ballots", "b", t + 3)
    assert limiter.allow_here("ballots", "a", t + 60)  # the next window
    assert limiter.retry_after(t + 45) == 15
    assert await limiter.allow("voters", "a") and await limiter.allow("voters", "a")


async def test_local_limiter_reads_its_clock() -> None:
    now = [1_800_000_000.0]
    limiter = RateLimiter({"ballots": 1, "voters": 0}, clock=lambda: now[0])
    assert await limiter.allow("ballots", "a")
    now[0] += 59.5  # the same window, however long the test took
    assert not await limiter.allow("ballots", "a")
    assert limiter.retry_after() == 1
    now[0] += 1  # the next window
    assert await limiter.allow("ballots", "a")


async def test_a_hung_redis_does_not_hold_ballots(backends: dict[str, Any]) -> None:
    proc = backends["redis"].proc
    proc.send_signal(signal.SIGSTOP)  # there, but answering nothing
    try:
        took: list[float] = []
        statuses = await ballots_from("203.0.113.70", backends["apis"][:1], 3, took)
        assert statuses == [201, 201, 201], statuses
        # Answered promptly, not after some client or socket timeout gave up.
        assert max(took) < PROMPT, took
    finally:
        proc.send_signal(signal.SIGCONT)
