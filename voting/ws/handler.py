"""GET /ws: the live feed protocol of DESIGN.md §5."""
from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import tornado.iostream
import tornado.websocket

from voting import jsontext
from voting.metrics import Metrics
from voting.ws.outbox import Frame, Outbox, SocketGone
from voting.ws.registry import Registry, SubscribeError, dumps

log = logging.getLogger(__name__)

POLL_ID = re.compile(r"^[a-z0-9]{8}$")
CLOSE_OVERFLOW = 1008  # policy violation: it did not read its frames
CLOSE_RESTART = 1012  # service restart: reconnect (to another backend)


class FeedSocket(tornado.websocket.WebSocketHandler):
    outbox: Outbox

    @property
    def registry(self) -> Registry:
        return self.settings["voting_registry"]  # type: ignore[no-any-return]

    @property
    def metrics(self) -> Metrics:
        return self.settings["voting_metrics"]  # type: ignore[no-any-return]

    @property
    def connections(self) -> set["FeedSocket"]:
        return self.settings["voting_connections"]  # type: ignore[no-any-return]

    def set_default_headers(self) -> None:
        self.set_header("X-Backend", self.settings["voting_config"].server.name)

    async def get(self, *args: str, **kwargs: str) -> None:
        if self.request.headers.get("Upgrade", "").lower() != "websocket":
            # Tornado would answer in plain text; every HTTP error here is the JSON shape.
            self.set_status(400)
            self.set_header("Content-Type", "application/json; charset=UTF-8")
            self.finish(dumps({"error": {"code": "bad_request",
                                         "message": "GET /ws needs a WebSocket upgrade."}}))
            return
        await super().get(*args, **kwargs)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        code = {405: "method_not_allowed"}.get(status_code, "bad_request")
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(dumps({"error": {"code": code, "message": "The live feed is GET /ws "
                                                            "with a WebSocket upgrade."}}))

    def check_origin(self, origin: str) -> bool:
        # The feed carries only what GET /results shows; admin access needs the token itself.
        return True

    def open(self, *args: str, **kwargs: str) -> None:
        cfg = self.settings["voting_config"]
        self.outbox = Outbox(self._send, self._overflow, cfg.ws.max_pending_frames,
                             self.metrics, try_write=self._write_now)
        self.outbox.start()
        self.connections.add(self)
        self.metrics.ws_open.inc()
        self.outbox.put("hello", dumps({"type": "hello", "server": cfg.server.name,
                                        "heartbeat": cfg.ws.heartbeat}))

    async def _send(self, payload: str) -> None:
        await self.write_message(payload)

    def _write_now(self, frame: Frame) -> bool:
        """Write an encoded frame at once if nothing of this socket waits to be sent.

        No task or future per frame (Tornado's write_message makes both): one send()
        while the kernel takes it, and any rest handed to the stream, which finishes it.
        False when the stream still holds unsent bytes: the outbox keeps the frame."""
        conn = self.ws_connection
        if conn is None or conn.is_closing():
            raise SocketGone()
        stream = conn.stream
        if stream is None:
            raise SocketGone()
        if stream.writing():
            return False
        data = frame.wire
        if type(stream) is tornado.iostream.IOStream:  # plain TCP: straight to the socket
            try:
                sent = stream.socket.send(data)
            except BlockingIOError:
                sent = 0
            except OSError:
                raise SocketGone() from None
            if sent == len(data):
                return True
            data = data[sent:]
        try:
            stream.write(data)
        except tornado.iostream.StreamClosedError:
            raise SocketGone() from None
        return True

    def _overflow(self) -> None:
        log.info("closing a WebSocket that fell behind (%s)", self.request.remote_ip)
        self.close(CLOSE_OVERFLOW, "too many pending frames")

    def _error(self, code: str, message: str, poll: str | None = None) -> None:
        frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
        if poll is not None:
            frame["poll"] = poll
        self.outbox.put("error", dumps(frame))

    async def on_message(self, message: str | bytes) -> None:
        try:
            data = jsontext.loads(message)
        except ValueError:
            self._error("invalid_message", "Frames must be JSON objects.")
            return
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            self._error("invalid_message", "Frames must be JSON objects with a string type.")
            return
        kind = data["type"]
        if kind == "ping":
            self.outbox.put("pong", dumps({"type": "pong"}))
            return
        if kind not in ("subscribe", "unsubscribe"):
            self._error("invalid_message", f"Unknown frame type {kind[:40]!r}.")
            return
        poll = data.get("poll")
        if not isinstance(poll, str) or not POLL_ID.match(poll):
            if isinstance(poll, str) and len(poll) <= 64:
                self._error("poll_not_found", "No poll with this id.", poll)
            else:
                self._error("invalid_message", "poll must be a poll id.")
            return
        if kind == "unsubscribe":
            self.registry.unsubscribe(self, poll)
            return
        token = data.get("admin_token")
        if token is not None and not isinstance(token, str):
            self._error("invalid_message", "admin_token must be a string.", poll)
            return
        try:
            await self.registry.subscribe(self, poll, token)
        except SubscribeError as exc:
            self._error(exc.code, exc.message, poll)

    def on_close(self) -> None:
        self.connections.discard(self)
        self.metrics.ws_open.dec()
        self.registry.drop(self)
        self.outbox.close()
        asyncio.get_running_loop().create_task(self.outbox.wait_closed())
