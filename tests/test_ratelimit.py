"""Rate limits shared by backends through a real Redis, and their fallback when it is gone."""
from __future__ import annotations

import signal
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from tests.client import Api
from tests.handlers.helpers import start_of_a_minute
from tests.ws.test_redis_relay import redis_backends
from voting.ratelimit import RateLimiter

pytestmark = pytest.mark.integration

LIMIT = 5


@pytest.fixture
async def backends(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    """Two servers on one database and one Redis, admitting LIMIT ballots a minute."""
    async with redis_backends(tmp_path, rate_limits={"voters_per_minute": 0,
                                                     "ballots_per_minute": LIMIT}) as (redis, servers):
        apis = [Api(url) for _, url, _ in servers]
        try:
            yield {"redis": redis, "apis": apis}
        finally:
            for api in apis:
                api.close()


async def ballots_from(address: str, apis: list[Api], n: int) -> list[int]:
    """n ballots by n voters behind one address (a hall behind one NAT), spread over apis."""
    poll_id = (await apis[0].create_poll())["poll"]["id"]
    statuses = []
    for i in range(n):
        s = apis[i % len(apis)].session()
        await s.voter()
        r = await s.post(f"/api/polls/{poll_id}/ballots", {"choices": {"q1": ["o1"]}},
                         headers={"X-Real-IP": address})
        statuses.append(r.status)
    return statuses


async def test_the_limit_holds_across_backends(backends: dict[str, Any]) -> None:
    await start_of_a_minute()
    statuses = await ballots_from("203.0.113.50", backends["apis"], 2 * LIMIT)
    assert sorted(statuses) == [201] * LIMIT + [429] * LIMIT, statuses
    # Another address has its own count.
    assert await ballots_from("203.0.113.51", backends["apis"], 2) == [201, 201]


async def test_without_redis_each_backend_limits_on_its_own(backends: dict[str, Any]) -> None:
    await start_of_a_minute()
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


async def test_a_hung_redis_does_not_hold_ballots(backends: dict[str, Any]) -> None:
    await start_of_a_minute()
    proc = backends["redis"].proc
    proc.send_signal(signal.SIGSTOP)  # there, but answering nothing
    try:
        statuses = await ballots_from("203.0.113.70", backends["apis"][:1], 3)
        assert statuses == [201, 201, 201], statuses
    finally:
        proc.send_signal(signal.SIGCONT)
