"""The HTTP listener: a bound on open connections and quiet accept errors.

Tornado's own accept loop takes every connection the kernel offers and logs a traceback
for each failed accept, so a flood of idle connections can use up the file descriptors
and then fill the log (EMFILE) while the server stops answering. This server stops
accepting at `max_connections` (the backlog holds newcomers until a connection closes,
as header and body timeouts see to), pauses on an accept error and logs one line a second.
"""
from __future__ import annotations

import errno
import logging
import resource
import socket
import time
from typing import Any, Callable, Iterable

import tornado.httpserver
from tornado.ioloop import IOLoop

log = logging.getLogger("voting.listener")

ACCEPTS_PER_WAKEUP = 128  # as Tornado: let other callbacks run between bursts
PAUSE = 0.1  # seconds without accepting after an error or at the bound
FD_RESERVE = 128  # descriptors kept for database and Redis pools, files, logs


def raise_fd_limit() -> int:
    """Lift the soft descriptor limit to the hard one (an audience of thousands needs it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


class BoundedHTTPServer(tornado.httpserver.HTTPServer):
    def initialize(self, *args: Any, max_connections: int = 10000,  # type: ignore[override]
                   other_connections: Callable[[], int] = lambda: 0, **kwargs: Any) -> None:
        """other_connections: open connections Tornado no longer counts (upgraded WebSockets)."""
        super().initialize(*args, **kwargs)
        limit = raise_fd_limit() - FD_RESERVE
        self.max_connections = max(1, min(max_connections, limit))
        if self.max_connections < max_connections:
            log.warning("at most %d open connections (the file descriptor limit allows no more)",
                        self.max_connections)
        self._other_connections = other_connections
        self._last_error_log = 0.0
        self._suppressed = 0

    def open_connections(self) -> int:
        return len(self._connections) + self._other_connections()

    def add_sockets(self, sockets: Iterable[socket.socket]) -> None:
        for sock in sockets:
            self._sockets[sock.fileno()] = sock
            self._handlers[sock.fileno()] = _Acceptor(self, sock).stop

    def _log_accept_error(self, exc: OSError) -> None:
        now = time.monotonic()
        if now - self._last_error_log < 1.0:
            self._suppressed += 1
            return
        more = f" ({self._suppressed} more since the last report)" if self._suppressed else ""
        log.warning("cannot accept connections: %s%s", exc.strerror or exc, more)
        self._last_error_log, self._suppressed = now, 0


class _Acceptor:
    """Accepts on one listening socket, pausing at the bound or after an error."""

    def __init__(self, server: BoundedHTTPServer, sock: socket.socket) -> None:
        self.server = server
        self.sock = sock
        self.loop = IOLoop.current()
        self.listening = False
        self.stopped = False
        self._resume: object | None = None
        self._listen()

    def _listen(self) -> None:
        self._resume = None
        if not self.stopped and not self.listening:
            self.loop.add_handler(self.sock, self._ready, IOLoop.READ)
            self.listening = True

    def _pause(self) -> None:
        if self.listening:
            self.loop.remove_handler(self.sock)
            self.listening = False
        if self._resume is None and not self.stopped:
            self._resume = self.loop.call_later(PAUSE, self._listen)

    def _ready(self, fd: Any, events: int) -> None:
        for _ in range(ACCEPTS_PER_WAKEUP):
            if self.stopped:
                return
            if self.server.open_connections() >= self.server.max_connections:
                self._pause()
                return
            try:
                conn, address = self.sock.accept()
            except BlockingIOError:
                return
            except ConnectionAbortedError:
                continue  # the client gave up while in the backlog
            except OSError as exc:
                if exc.errno == errno.EINTR:
                    continue
                self.server._log_accept_error(exc)  # EMFILE, ENFILE, ENOBUFS, ENOMEM
                self._pause()
                return
            self.server._handle_connection(conn, address)

    def stop(self) -> None:
        self.stopped = True
        if self.listening:
            self.loop.remove_handler(self.sock)
            self.listening = False
        if self._resume is not None:
            self.loop.remove_timeout(self._resume)
            self._resume = None
