"""Natural batching of writes: requests that arrive while a batch is being written
go together in the next one, so under load one transaction (one commit, a handful of
round trips) carries many.

With a `gap`, the next batch starts no sooner than that long after the previous one
ended. Closed-loop clients (a hall of voters, each sending again once answered) otherwise
settle into two groups taking turns: one group's requests are written while the other's,
just answered, are on their way back, and every round pays two commits. Waiting a gap
after a commit lets the group just answered join the group that waited: one commit a
round. The wait ends as soon as as many requests wait as the last round held (the batch
just written plus those that queued meanwhile): everyone is back, so a lone client, or a
hall whose voters all came back early, waits for nothing. A request after a quiet spell is
still written at once, and so is a long queue (`gap_below` or more): then the writer is
the bound, and idling it would cost more than the commits it saves."""
from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, Generic, Hashable, TypeVar, cast

Req = TypeVar("Req")
Res = TypeVar("Res")


class Batcher(Generic[Req, Res]):
    def __init__(self, write: Callable[[list[Req]], Awaitable[list[Res | BaseException]]],
                 key: Callable[[Req], Hashable] | None, max_batch: int = 64,
                 writers: int = 2, gap: float = 0.0, gap_below: int = 16) -> None:
        """`key`: at most one request per key goes in a batch (None: any number). `gap`:
        seconds from the end of one batch's write to the start of the next, at least, while
        fewer than `gap_below` requests wait."""
        self._write = write
        self._key = key
        self.max_batch = max_batch
        self.writers = writers
        self.gap = gap
        self.gap_below = gap_below
        self._queue: list[tuple[Req, asyncio.Future[Res]]] = []
        self._running = 0
        self._last_end = float("-inf")
        # Requests of the last round (the batch written and those queued meanwhile): once as
        # many wait, the gap has gathered all it can.
        self._round = 0
        self._gathered: asyncio.Future[None] | None = None
        self.largest = 0

    async def submit(self, request: Req) -> Res:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Res] = loop.create_future()
        self._queue.append((request, future))
        if self._gathered is not None and len(self._queue) >= self._enough() \
                and not self._gathered.done():
            self._gathered.set_result(None)
        if self._running < self.writers:
            self._running += 1
            loop.create_task(self._drain())
        # The write goes on if the caller goes away: its outcome is decided by the batch.
        return await asyncio.shield(future)

    def _enough(self) -> int:
        return min(self.gap_below, self._round)

    async def _gather(self, wait: float) -> None:
        """Wait up to `wait` seconds, less once _enough() requests wait."""
        if self._gathered is None or self._gathered.done():
            self._gathered = asyncio.get_running_loop().create_future()
        # asyncio.wait: a timeout cancels nothing (another writer may wait on the same future).
        await asyncio.wait({self._gathered}, timeout=wait)

    def _take(self) -> list[tuple[Req, asyncio.Future[Res]]]:
        """Up to max_batch requests, at most one per key (a second one waits for the next)."""
        batch: list[tuple[Req, asyncio.Future[Res]]] = []
        rest: list[tuple[Req, asyncio.Future[Res]]] = []
        seen: set[Hashable] = set()
        if self._key is None:
            batch, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
            return batch
        for item in self._queue:
            k = self._key(item[0])
            if len(batch) >= self.max_batch or k in seen:
                rest.append(item)
            else:
                seen.add(k)
                batch.append(item)
        self._queue = rest
        return batch

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._queue:
                wait = self._last_end + self.gap - loop.time()
                if wait > 0 and len(self._queue) < self._enough():
                    await self._gather(wait)
                batch = self._take()
                if not batch:
                    continue  # another writer took them while this one waited
                self.largest = max(self.largest, len(batch))
                try:
                    results = await self._write([r for r, _ in batch])
                except BaseException as exc:  # the whole batch shares the failure
                    results = [exc] * len(batch)
                    if not isinstance(exc, Exception):  # cancelled: answer, then stop
                        _settle(batch, results)
                        raise
                _settle(batch, results)
                self._last_end = loop.time()
                self._round = len(batch) + len(self._queue)
        finally:
            self._running -= 1


def _settle(batch: list[tuple[Req, asyncio.Future[Res]]],
            results: list[Res | BaseException]) -> None:
    for (_, f), res in zip(batch, results):
        if f.done():
            continue
        if isinstance(res, BaseException):
            f.set_exception(cast(BaseException, res))
        else:
            f.set_result(cast(Res, res))
