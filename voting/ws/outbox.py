"""Per-connection send queue: newest tally replaces older, bounded, one writer task.

A client that stops reading blocks only its own writer task; meanwhile its
pending tallies are replaced by the newest one, and past `max_pending` frames
the connection is closed so it can reconnect and resync from a snapshot.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
from collections import OrderedDict
from typing import Awaitable, Callable, Hashable

from voting.metrics import Metrics

log = logging.getLogger(__name__)


class Outbox:
    def __init__(self, send: Callable[[str], Awaitable[None]], on_overflow: Callable[[], None],
                 max_pending: int, metrics: Metrics | None = None) -> None:
        self._send = send
        self._on_overflow = on_overflow
        self._max_pending = max_pending
        self._metrics = metrics
        self._items: OrderedDict[Hashable, tuple[str, str]] = OrderedDict()
        self._wakeup = asyncio.Event()
        self._counter = itertools.count()
        self._closed = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    @property
    def pending(self) -> int:
        return len(self._items)

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, frame_type: str, payload: str, coalesce_key: Hashable | None = None) -> None:
        """Queue a frame; with a coalesce_key an older pending frame of that key is dropped."""
        if self._closed:
            return
        if coalesce_key is not None:
            key: Hashable = ("c", coalesce_key)
            if self._items.pop(key, None) is not None and self._metrics:
                self._metrics.ws_frames_coalesced.inc()
        else:
            key = ("n", next(self._counter))
        self._items[key] = (frame_type, payload)
        if len(self._items) > self._max_pending:
            if self._metrics:
                self._metrics.ws_frames_dropped.inc(len(self._items))
            self.close()
            self._on_overflow()
            return
        self._wakeup.set()

    def close(self) -> None:
        self._closed = True
        self._items.clear()
        self._wakeup.set()

    async def wait_closed(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        while not self._closed:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._items and not self._closed:
                _, (frame_type, payload) = self._items.popitem(last=False)
                try:
                    await self._send(payload)
                except Exception:  # the socket is gone; the handler's on_close cleans up
                    self._closed = True
                    return
                if self._metrics:
                    self._metrics.ws_frames_sent.labels(frame_type).inc()
