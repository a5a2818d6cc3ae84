"""The batching of writes (voting/storage/batching.py): what goes together in one write."""
from __future__ import annotations

import asyncio

import pytest

from voting.storage.batching import Batcher


class Recorder:
    """A write that records each batch and answers every request with itself."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.release = asyncio.Event()
        self.release.set()

    async def write(self, batch: list[int]) -> list[int | BaseException]:
        self.batches.append(list(batch))
        await self.release.wait()
        return list(batch)


async def turns(n: int) -> None:
    """Let the event loop run n times: no timer fires within them."""
    for _ in range(n):
        await asyncio.sleep(0)


async def test_requests_queued_during_a_write_go_together_in_the_next() -> None:
    rec = Recorder()
    rec.release.clear()
    b: Batcher[int, int] = Batcher(rec.write, key=None, writers=1)
    first = asyncio.ensure_future(b.submit(1))
    await turns(3)
    assert rec.batches == [[1]]
    rest = [asyncio.ensure_future(b.submit(i)) for i in (2, 3, 4)]
    await turns(3)
    rec.release.set()
    assert await asyncio.gather(first, *rest) == [1, 2, 3, 4]
    assert rec.batches == [[1], [2, 3, 4]]


async def test_at_most_one_request_per_key_in_a_batch() -> None:
    rec = Recorder()
    rec.release.clear()
    b: Batcher[int, int] = Batcher(rec.write, key=lambda r: r % 10, writers=1)
    first = asyncio.ensure_future(b.submit(0))
    await turns(3)
    rest = [asyncio.ensure_future(b.submit(i)) for i in (1, 11, 2)]
    await turns(3)
    rec.release.set()
    assert await asyncio.gather(first, *rest) == [0, 1, 11, 2]
    assert rec.batches == [[0], [1, 2], [11]]


@pytest.mark.parametrize("gap", [0.0, 30.0])
async def test_with_a_gap_the_group_just_answered_joins_the_group_that_waited(gap: float
                                                                            ) -> None:
    """Closed-loop clients in two groups: 2 waits while 1 is written; once 1 is answered
    it sends again (3) a few turns later. Without a gap, 2 goes alone and the groups keep
    taking turns; with one, 3 joins 2, and the write starts as soon as both wait (the
    whole round is back), not when the gap is over."""
    rec = Recorder()
    rec.release.clear()
    b: Batcher[int, int] = Batcher(rec.write, key=None, writers=1, gap=gap)
    first = asyncio.ensure_future(b.submit(1))
    await turns(3)
    second = asyncio.ensure_future(b.submit(2))
    await turns(3)
    rec.release.set()
    assert await first == 1
    if gap:
        await turns(3)
        assert rec.batches == [[1]]  # within the gap: 2 waits for the rest of its round
    third = asyncio.ensure_future(b.submit(3))
    async with asyncio.timeout(10):  # far less than the 30 s gap
        assert await asyncio.gather(second, third) == [2, 3]
    assert rec.batches == ([[1], [2, 3]] if gap else [[1], [2], [3]])


async def test_a_lone_client_never_waits_for_the_gap() -> None:
    """One client sending again once answered: its round is itself, back at once."""
    rec = Recorder()
    b: Batcher[int, int] = Batcher(rec.write, key=None, writers=1, gap=30.0)
    async with asyncio.timeout(10):
        for i in range(5):
            assert await b.submit(i) == i
    assert rec.batches == [[0], [1], [2], [3], [4]]


async def test_a_request_after_a_quiet_spell_is_written_at_once() -> None:
    rec = Recorder()
    b: Batcher[int, int] = Batcher(rec.write, key=None, writers=1, gap=30.0)
    assert await b.submit(1) == 1
    b._last_end -= 30.0  # the last write ended a gap ago
    second = asyncio.ensure_future(b.submit(2))
    await turns(3)
    assert rec.batches == [[1], [2]]  # written within a few turns: no timer waited
    assert await second == 2


async def test_a_long_queue_is_written_without_the_gap() -> None:
    """gap_below or more waiting: the writer is the bound, so it does not idle."""
    rec = Recorder()
    b: Batcher[int, int] = Batcher(rec.write, key=None, writers=1, gap=30.0, gap_below=2)
    assert await b.submit(1) == 1
    waiting = [asyncio.ensure_future(b.submit(i)) for i in (2, 3)]
    await turns(3)
    assert rec.batches == [[1], [2, 3]]  # within a few turns: the 30 s gap was not waited
    assert await asyncio.gather(*waiting) == [2, 3]


async def test_two_writers_waiting_out_a_gap_never_write_an_empty_batch() -> None:
    """One writer waits for its round while a second one starts and takes the queue: the
    first wakes to an empty queue and writes nothing."""
    rec = Recorder()
    b: Batcher[int, int] = Batcher(rec.write, key=None, writers=2, gap=30.0)
    assert await asyncio.gather(b.submit(1), b.submit(2)) == [1, 2]
    third = asyncio.ensure_future(b.submit(3))
    await turns(3)
    assert rec.batches == [[1, 2]]  # 3 waits for the rest of its round
    fourth = asyncio.ensure_future(b.submit(4))  # the second writer starts and takes both
    async with asyncio.timeout(10):
        assert await asyncio.gather(third, fourth) == [3, 4]
    await turns(3)
    assert rec.batches == [[1, 2], [3, 4]]


ROUND = list(range(1, Batcher.GROW_FROM + 1))  # the smallest round whose time is measured


@pytest.mark.parametrize("max_gap", [None, 0.02])
async def test_rounds_slower_than_the_gap_lengthen_it(max_gap: float | None) -> None:
    """Rounds of eight clients coming back 60 ms after their answers, with a 20 ms gap:
    timed, they lengthen the gap to 1.5 × their time (within max_gap, 4 × gap when unset),
    so the client back first waits for the rest of its round instead of being written alone
    (one commit of one ballot for each commit of the others, every round). Held at 20 ms
    (max_gap), it is written alone."""
    rec = Recorder()
    b: Batcher[int, int] = Batcher(rec.write, key=None, writers=1, gap=0.02, max_gap=max_gap)
    async with asyncio.timeout(10):
        for _ in range(8):
            assert await asyncio.gather(*(b.submit(i) for i in ROUND)) == ROUND
            await asyncio.sleep(0.06)  # the answers' way back, the voters, the next ballots
        assert await asyncio.gather(*(b.submit(i) for i in ROUND)) == ROUND
    if max_gap is None:
        assert b.back >= 0.049 and b.current_gap() == min(0.08, 1.5 * b.back)
    else:
        assert b.current_gap() == 0.02
    rec.batches.clear()
    first = asyncio.ensure_future(b.submit(1))  # back at once, the others 40 ms later
    await asyncio.sleep(0.04)
    rest = [asyncio.ensure_future(b.submit(i)) for i in ROUND[1:]]
    async with asyncio.timeout(10):
        assert await asyncio.gather(first, *rest) == ROUND
    assert rec.batches == ([ROUND] if max_gap is None else [[1], ROUND[1:]])


@pytest.mark.parametrize("size, gap_below", [(2, 16), (9, 4)])
async def test_rounds_too_small_or_too_large_keep_the_gap(size: int, gap_below: int) -> None:
    """A small round (two voters spread over several backends: the second ballot of a round
    here has most likely gone to another backend) and one over 2 × gap_below (a hall so
    large that the writer is the bound: 200 voters, rounds of 60 a backend) keep the gap,
    however long rounds took before: the ballot back first waits it out, never longer."""
    rec = Recorder()
    b: Batcher[int, int] = Batcher(rec.write, key=None, writers=1, gap=0.02,
                                   gap_below=gap_below, max_gap=10.0)
    b.back = 5.0  # as after slow rounds of another hall: grown, the gap would be seconds
    hall = list(range(1, size + 1))
    async with asyncio.timeout(10):
        assert await asyncio.gather(*(b.submit(i) for i in hall)) == hall
    assert b.current_gap() == 0.02
    rec.batches.clear()
    async with asyncio.timeout(1.5):  # the 20 ms gap, not seconds
        assert await b.submit(1) == 1
    assert rec.batches == [[1]]


async def test_a_pause_longer_than_max_gap_is_not_a_round_coming_back() -> None:
    rec = Recorder()
    b: Batcher[int, int] = Batcher(rec.write, key=None, writers=1, gap=0.01, max_gap=0.02)
    assert await asyncio.gather(*(b.submit(i) for i in ROUND)) == ROUND
    await asyncio.sleep(0.05)  # the hall paused
    assert await asyncio.gather(*(b.submit(i) for i in ROUND)) == ROUND
    assert b.back == 0.0 and b.current_gap() == 0.01
