"""Per-connection send path: written at once while the socket keeps up, else a bounded queue.

A broadcast encodes its frame once (`Frame.wire`) and hands the same bytes to
every socket. While a socket keeps up (nothing of it waits in user space), the
frame is written to it at once, synchronously: no task, no future per frame.
Once a socket has unsent bytes, its frames wait here instead, and a writer task
(created only then, gone once the queue is empty) sends them as the socket
drains; meanwhile pending tallies are replaced by the newest one, and past
`max_pending` frames the connection is closed so it can reconnect and resync
from a snapshot.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
from collections import OrderedDict
from typing import Awaitable, Callable, Hashable

from voting.metrics import Metrics

log = logging.getLogger(__name__)


class Frame:
    """One text frame: its JSON text and, encoded once, its bytes on the wire."""

    __slots__ = ("text", "_wire")

    def __init__(self, text: str) -> None:
        self.text = text
        self._wire: bytes | None = None

    @property
    def wire(self) -> bytes:
        """An unmasked, uncompressed, final WebSocket text frame (RFC 6455 §5.2)."""
        if self._wire is None:
            payload = self.text.encode("utf-8")
            n = len(payload)
            if n < 126:
                head = bytes((0x81, n))
            elif n < 1 << 16:
                head = bytes((0x81, 126)) + n.to_bytes(2, "big")
            else:
                head = bytes((0x81, 127)) + n.to_bytes(8, "big")
            self._wire = head + payload
        return self._wire


class SocketGone(Exception):
    """The connection is closed: nothing more can be written to it."""


# A frame given to a socket at once: True; False when the socket is behind (the frame
# was not written and must wait). Raises SocketGone when the connection is closed.
TryWrite = Callable[[Frame], bool]


async def _gone(_: str) -> None:
    raise SocketGone()


def _behind(_: Frame) -> bool:
    raise SocketGone()


def _nothing() -> None:
    return None


class Outbox:
    def __init__(self, send: Callable[[str], Awaitable[None]], on_overflow: Callable[[], None],
                 max_pending: int, metrics: Metrics | None = None,
                 try_write: TryWrite | None = None) -> None:
        self._send = send
        self._try_write = try_write
        self._on_overflow = on_overflow
        self._max_pending = max_pending
        self._metrics = metrics
        self._items: OrderedDict[Hashable, tuple[str, Frame]] = OrderedDict()
        self._counter = itertools.count()
        self._closed = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Kept for callers; the writer task starts only when a frame has to wait."""

    @property
    def pending(self) -> int:
        return len(self._items)

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, frame_type: str, payload: str | Frame, coalesce_key: Hashable | None = None,
            count: bool = True) -> bool:
        """Send a frame, or queue it; with a coalesce_key an older pending frame of that key
        is dropped. True when it was written at once (count=False: the caller counts those)."""
        if self._closed:
            return False
        frame = payload if isinstance(payload, Frame) else Frame(payload)
        if not self._items and self._task is None and self._try_write is not None:
            try:
                if self._try_write(frame):
                    if count and self._metrics:
                        self._metrics.child(self._metrics.ws_frames_sent, frame_type).inc()
                    return True
            except SocketGone:
                self._closed = True
                return False
        if coalesce_key is not None:
            key: Hashable = ("c", coalesce_key)
            if self._items.pop(key, None) is not None and self._metrics:
                self._metrics.ws_frames_coalesced.inc()
        else:
            key = ("n", next(self._counter))
        self._items[key] = (frame_type, frame)
        if len(self._items) > self._max_pending:
            if self._metrics:
                self._metrics.ws_frames_dropped.inc(len(self._items))
            self.close()
            self._on_overflow()
            return False
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        return False

    def close(self) -> None:
        self._closed = True
        self._items.clear()

    async def wait_closed(self) -> None:
        """Closed, the writer task ended, and the connection let go."""
        self.close()
        task = self._task
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        # The callbacks are the connection's bound methods: connection -> outbox ->
        # connection is a reference cycle, which kept all of a closed WebSocket (its
        # request, stream, headers, tasks: 44 objects) for the collector's next full pass,
        # the one that stalls a crowded backend. Released, it is freed as it closes.
        self._send, self._try_write, self._on_overflow = _gone, _behind, _nothing

    async def _run(self) -> None:
        try:
            while self._items and not self._closed:
                _, (frame_type, frame) = self._items.popitem(last=False)
                try:
                    await self._send(frame.text)
                except Exception:  # the socket is gone; the handler's on_close cleans up
                    self._closed = True
                    return
                if self._metrics:
                    self._metrics.child(self._metrics.ws_frames_sent, frame_type).inc()
        finally:
            self._task = None
