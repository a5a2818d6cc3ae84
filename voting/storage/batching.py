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
the bound, and idling it would cost more than the commits it saves.

After a round of GROW_FROM to 2 × `gap_below` requests, the gap grows to the time such rounds
take to come back, times BACK_FACTOR (up to `max_gap`): on a busy machine a round comes back
later than `gap`, and a gap that ends first writes the few that came back early alone, every
round (a voter out of step with the rest of the hall: one commit of one ballot for each
commit of the others). A smaller round keeps `gap`: a ballot missing from it has more likely
gone to another backend than stayed behind, and waiting longer for it would only delay the
rest. So does a larger one: the writer is the bound there (as with `gap_below`), and a gap
grown earlier would idle it whenever the queue runs short after a commit."""
from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, Generic, Hashable, TypeVar, cast

Req = TypeVar("Req")
Res = TypeVar("Res")


class Batcher(Generic[Req, Res]):
    GROW_FROM = 8  # requests in a round, at least, for the gap to grow with its time
    BACK_FACTOR = 1.5  # the gap, against the time rounds take to come back (moving average)
    BACK_WEIGHT = 0.2  # of each new round's time in that average

    def __init__(self, write: Callable[[list[Req]], Awaitable[list[Res | BaseException]]],
                 key: Callable[[Req], Hashable] | None, max_batch: int = 64,
                 writers: int = 2, gap: float = 0.0, gap_below: int = 16,
                 max_gap: float | None = None) -> None:
        """`key`: at most one request per key goes in a batch (None: any number). `gap`:
        seconds from the end of one batch's write to the start of the next, at least, while
        fewer than `gap_below` requests wait; after a round of GROW_FROM to 2 × gap_below,
        longer (up to `max_gap`, 4 × gap unset) while such rounds take longer to come back."""
        self._write = write
        self._key = key
        self.max_batch = max_batch
        self.writers = writers
        self.gap = gap
        self.gap_below = gap_below
        self.max_gap = 4 * gap if max_gap is None else max(gap, max_gap)
        self._queue: list[tuple[Req, asyncio.Future[Res]]] = []
        self._running = 0
        self._last_end = float("-inf")
        # Requests of the last round (the batch written and those queued meanwhile): once as
        # many wait, the gap has gathered all it can.
        self._round = 0
        self._gathered: asyncio.Future[None] | None = None
        # How long rounds take to come back (moving average, seconds), and the round being
        # timed: when its batch was written, its size, and the requests that came since.
        self.back = 0.0
        self._timing: tuple[float, int] | None = None
        self._arrived = 0
        self.largest = 0

    async def submit(self, request: Req) -> Res:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Res] = loop.create_future()
        self._queue.append((request, future))
        if self._timing is not None:
            self._arrived += 1
            if self._arrived >= self._timing[1]:
                self._timed(loop.time() - self._timing[0])
        if self._gathered is not None and len(self._queue) >= self._enough() \
                and not self._gathered.done():
            self._gathered.set_result(None)
        if self._running < self.writers:
            self._running += 1
            loop.create_task(self._drain())
        # The write goes on if the caller goes away: its outcome is decided by the batch.
        return await asyncio.shield(future)

    def _grows(self) -> bool:
        """Whether the last round's size lets the gap grow with the rounds' time."""
        return self.GROW_FROM <= self._round <= 2 * self.gap_below

    def current_gap(self) -> float:
        if not self._grows():
            return self.gap
        return min(self.max_gap, max(self.gap, self.BACK_FACTOR * self.back))

    def _timed(self, seconds: float) -> None:
        """A round came back this long after its batch was written."""
        self._timing = None
        if seconds <= self.max_gap:  # longer: the hall paused, not a round coming back
            self.back += self.BACK_WEIGHT * (seconds - self.back)

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
                wait = self._last_end + self.current_gap() - loop.time()
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
                self._last_end = now = loop.time()
                self._round = len(batch) + len(self._queue)
                # One round timed at a time: a batch of the few out of step ends while the
                # rest of the round is still on its way, and must not restart the count.
                if self.gap and self._grows() and \
                        (self._timing is None or now - self._timing[0] > self.max_gap):
                    self._timing, self._arrived = (now, self._round), len(self._queue)
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
