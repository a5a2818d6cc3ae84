"""Starvation and spoofing (issue 7, items 3 and 7): creation limits, client addresses,
header and body timeouts, the bound on open connections, quiet accept errors."""
from __future__ import annotations

import asyncio
import logging
import socket
import time
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from tests.client import Api, eventually
from tests.conftest import freeze_rate_limits, make_config
from tests.handlers.helpers import assert_error, poll_body
from voting.app import Server, make_storage
from voting.ws.broker import InProcessBroker


@pytest.fixture
async def serve(tmp_path: Path) -> AsyncIterator[Any]:
    started: list[tuple[Server, Api]] = []

    async def start(**sections: dict[str, Any]) -> tuple[Server, Api]:
        cfg = make_config(tmp_path / str(len(started)), **sections)
        server = Server(cfg, make_storage(cfg), InProcessBroker())
        port = await server.start("127.0.0.1", 0)
        api = Api(f"http://127.0.0.1:{port}")
        started.append((server, api))
        return server, api

    yield start
    for server, api in started:
        api.close()
        await server.stop()


async def test_poll_creation_is_rate_limited(serve: Any) -> None:
    server, api = await serve(rate_limits={"polls_per_minute": 2})
    freeze_rate_limits(server)
    for _ in range(2):
        assert (await api.post("/api/polls", poll_body())).status == 201
    r = await api.post("/api/polls", poll_body())
    assert_error(r, 429, "rate_limited")
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    # Reads and ballots are other budgets.
    assert (await api.get("/api/polls")).status == 200
    assert (await api.post("/api/voters")).status == 201


async def test_x_real_ip_is_ignored_unless_from_a_trusted_proxy(serve: Any) -> None:
    """Embedded mode trusts nobody: a client cannot get a fresh budget per request."""
    server, api = await serve(rate_limits={"voters_per_minute": 2})
    freeze_rate_limits(server)
    statuses = [(await api.session().post("/api/voters", headers={
        "X-Real-IP": f"198.51.100.{i}", "X-Forwarded-For": f"203.0.113.{i}"})).status
        for i in range(4)]
    assert statuses == [201, 201, 429, 429]


async def test_ipv6_clients_are_counted_per_64(serve: Any) -> None:
    server, api = await serve(rate_limits={"voters_per_minute": 2},
                              server={"trusted_proxies": ["127.0.0.1"]})
    freeze_rate_limits(server)

    async def post(addr: str) -> int:
        return (await api.session().post("/api/voters", headers={"X-Real-IP": addr})).status

    # One host can hold a whole /64: its addresses share one budget.
    assert [await post(f"2001:db8:1:2::{i:x}") for i in range(1, 4)] == [201, 201, 429]
    assert await post("2001:db8:1:2:ffff:ffff:ffff:ffff") == 429
    assert await post("2001:db8:1:3::1") == 201  # the next /64 is another client
    assert await post("::ffff:192.0.2.1") == 201  # IPv4-mapped counts as its IPv4 address
    assert await post("192.0.2.1") == 201
    assert await post("192.0.2.1") == 429


def _connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setblocking(False)
    return s


async def _closed_by_peer(s: socket.socket, timeout: float) -> bool:
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            while True:
                data = await loop.sock_recv(s, 4096)
                if not data:
                    return True
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


async def test_slow_headers_and_trickled_bodies_are_cut_off(serve: Any) -> None:
    server, _ = await serve(server={"header_timeout": 0.5, "body_timeout": 0.5})
    loop = asyncio.get_running_loop()
    slow_headers = _connect(server.port)
    trickle = _connect(server.port)
    try:
        await loop.sock_sendall(slow_headers, b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        await loop.sock_sendall(trickle, b"POST /api/polls HTTP/1.1\r\nHost: x\r\n"
                                         b"Content-Type: application/json\r\n"
                                         b"Content-Length: 1000\r\n\r\n{")
        start = time.monotonic()
        # Closed by the server well before a client's own timeout would end it.
        assert await _closed_by_peer(slow_headers, 5.0)
        assert await _closed_by_peer(trickle, 5.0)
        assert time.monotonic() - start < 4.0
    finally:
        slow_headers.close()
        trickle.close()


async def test_body_timeout_zero_means_none_behind_a_buffering_proxy(serve: Any) -> None:
    """server.body_timeout 0 (the cluster and compose configs: nginx buffers bodies and times
    them out): no timer per request here; the headers' timeout still holds."""
    server, _ = await serve(server={"header_timeout": 0.5, "body_timeout": 0})
    assert server.http.conn_params.body_timeout is None
    assert server.http.conn_params.header_timeout == 0.5
    loop = asyncio.get_running_loop()
    slow_headers = _connect(server.port)
    try:
        await loop.sock_sendall(slow_headers, b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        assert await _closed_by_peer(slow_headers, 5.0)
    finally:
        slow_headers.close()


async def test_open_connections_are_bounded_and_the_server_recovers(serve: Any) -> None:
    """At the bound the server stops accepting (newcomers wait in the backlog) instead of
    running out of descriptors; once idle connections time out, it answers again."""
    server, api = await serve(server={"max_connections": 5, "header_timeout": 1.0})
    loop = asyncio.get_running_loop()
    idle = [_connect(server.port) for _ in range(5)]
    try:
        async def all_accepted() -> bool:
            return bool(server.http.open_connections() == 5)

        await eventually(all_accepted, timeout=5)
        late = _connect(server.port)  # in the backlog: connected, not yet accepted
        try:
            await loop.sock_sendall(late, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert server.http.open_connections() == 5
            # The idle ones pass header_timeout and are closed; then the late one is served.
            data = b""
            async with asyncio.timeout(10):
                while b"\r\n\r\n" not in data:
                    chunk = await loop.sock_recv(late, 4096)
                    assert chunk, "closed without an answer"
                    data += chunk
            assert data.startswith(b"HTTP/1.1 200")
            # ... and only after the idle ones were closed: it waited for a free place.
            for s in idle:
                assert await _closed_by_peer(s, 0.1)
        finally:
            late.close()
    finally:
        for s in idle:
            s.close()
    assert (await api.get("/healthz")).status == 200


def test_accept_errors_are_logged_at_most_once_a_second(caplog: pytest.LogCaptureFixture) -> None:
    from voting.listener import BoundedHTTPServer
    server = BoundedHTTPServer(lambda request: None)
    caplog.set_level(logging.WARNING, logger="voting.listener")
    emfile = OSError(24, "Too many open files")
    for _ in range(1000):
        server._log_accept_error(emfile)
    lines = [r for r in caplog.records if "cannot accept" in r.getMessage()]
    assert len(lines) == 1
    server._last_error_log -= 1.0  # a second later
    server._log_accept_error(emfile)
    lines = [r.getMessage() for r in caplog.records if "cannot accept" in r.getMessage()]
    assert len(lines) == 2 and "999 more" in lines[1]


def test_a_flood_of_trickling_connections_under_a_low_fd_limit(tmp_path: Path) -> None:
    """The review's probe: with `ulimit -n 256`, 300 connections that send headers and one
    body byte made the server unreachable and wrote 34 MB of EMFILE tracebacks in 8 s. Now
    it keeps answering (a newcomer waits its turn while the timeouts clear the flood) and
    the log stays small."""
    import resource
    import subprocess
    import sys

    from tests.conftest import ROOT, free_port, stop_process, wait_http

    def low_fd_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    port = free_port()
    log = tmp_path / "serve.log"
    env = {**__import__("os").environ, "VOTING_SERVER__DATA_DIR": str(tmp_path / "data"),
           "VOTING_SERVER__BODY_TIMEOUT": "2", "VOTING_SERVER__HEADER_TIMEOUT": "2"}
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "voting", "serve", "--port", str(port)],
                                cwd=str(ROOT), env=env, stdout=out, stderr=subprocess.STDOUT,
                                preexec_fn=low_fd_limit)
    flood: list[socket.socket] = []
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", 20, proc, log)
        for _ in range(300):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            flood.append(s)
        request = (b"POST /api/polls HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   b"Content-Length: 100\r\n\r\n{")
        deadline = time.monotonic() + 10
        pending = list(flood)
        while pending and time.monotonic() < deadline:  # each sends once it is connected
            still = []
            for s in pending:
                try:
                    s.send(request)
                except (BlockingIOError, OSError):
                    still.append(s)
            pending = still
            time.sleep(0.05)  # a test thread pacing its own sends, not a wait for the server
        # A newcomer is answered once the timeouts have cleared the flood ahead of it.
        wait_http(f"http://127.0.0.1:{port}/healthz", 30, proc, log)
        assert proc.poll() is None
    finally:
        for s in flood:
            s.close()
        stop_process(proc)
    text = log.read_text(errors="replace")
    assert log.stat().st_size < 200_000, text[-2000:]
    assert "Traceback" not in text, text[-3000:]
