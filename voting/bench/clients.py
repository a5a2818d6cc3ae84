"""Lean load-generator clients: keep-alive HTTP/1.1 and a WebSocket reader.

Written on bare asyncio so that the generator spends its CPU on the wire, not in
a general-purpose client: the bench measures the server, not itself.
"""
from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit


def host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or (443 if parts.scheme in ("https", "wss")
                                                         else 80)


# What a phone's browser sends with every request of the web client (Chrome on Android,
# a fetch from the page; the cookies and the body's own headers aside). `--browser-headers`
# adds them to the voters' requests and B_nop's: a backend parses each one it is passed.
BROWSER_HEADERS = (
    ("User-Agent", "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
                   "Chrome/131.0.0.0 Mobile Safari/537.36"),
    ("Accept", "*/*"),
    ("Accept-Language", "en-GB,en-US;q=0.9,en;q=0.8"),
    ("Accept-Encoding", "gzip, deflate, br, zstd"),
    ("Origin", "https://vote.example.org"),
    ("Referer", "https://vote.example.org/p/a1b2c3d4"),
    ("Sec-Fetch-Site", "same-origin"),
    ("Sec-Fetch-Mode", "cors"),
    ("Sec-Fetch-Dest", "empty"),
    ("sec-ch-ua", '"Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"'),
    ("sec-ch-ua-mobile", "?1"),
    ("sec-ch-ua-platform", '"Android"'),
    ("Priority", "u=1, i"),
)


class HttpConn:
    """One keep-alive HTTP/1.1 connection; reconnects when the server closed it."""

    def __init__(self, host: str, port: int, extra: tuple[tuple[str, str], ...] = ()) -> None:
        self.host, self.port = host, port
        self.extra = extra  # headers sent with every request
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def request(self, method: str, path: str, body: bytes | None = None,
                      headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        for k, v in (*self.extra, *(headers or {}).items()):
            head.append(f"{k}: {v}")
        if body is not None:
            head.append("Content-Type: application/json")
            head.append(f"Content-Length: {len(body)}")
        elif method in ("POST", "PUT"):
            head.append("Content-Length: 0")
        data = ("\r\n".join(head) + "\r\n\r\n").encode() + (body or b"")
        for attempt in (0, 1):
            if self.writer is None:
                await self._connect()
            assert self.reader is not None and self.writer is not None
            try:
                self.writer.write(data)
                return await self._response()
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def _response(self) -> tuple[int, bytes]:
        assert self.reader is not None
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = None
        chunked = close = False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        if chunked:
            body = bytearray()
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    break
                body += await self.reader.readexactly(size)
                await self.reader.readexactly(2)
            out = bytes(body)
        elif length is not None:
            out = await self.reader.readexactly(length) if length else b""
        elif status in (204, 304):
            out = b""
        else:
            out = await self.reader.read()
            close = True
        if close:
            self.close()
        return status, out

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def call_json(conn: HttpConn, method: str, path: str, payload: Any = None,
                    headers: dict[str, str] | None = None) -> tuple[int, Any]:
    body = json.dumps(payload).encode() if payload is not None else None
    status, raw = await conn.request(method, path, body, headers)
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode("utf-8", "replace")


# --- WebSocket ----------------------------------------------------------------

# The server's tally and snapshot frames begin {"type":"tally"|"snapshot","poll":…,"seq":N,
# "status":…,"total":N: read those two numbers without parsing the whole frame.
_TALLY_PREFIXES = (b'{"type":"tally"', b'{"type":"snapshot"')
_SEQ = re.compile(rb'"seq":(\d+)')
_TOTAL = re.compile(rb'"total":(\d+)')


def client_frame(text: str, opcode: int = 0x1) -> bytes:
    """A masked client frame (mask key 0: the payload goes as it is, which RFC 6455 allows)."""
    payload = text.encode()
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, 0x80 | n])
    elif n < 65536:
        head = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
    return head + b"\0\0\0\0" + payload


@dataclass
class FeedRecord:
    """What one subscriber saw: (arrival time, seq, total) of each tally/snapshot frame."""
    poll: str
    frames: list[tuple[float, int, int]] = field(default_factory=list)
    last_text: bytes | None = None
    server: str | None = None
    out_of_order: int = 0
    other_frames: int = 0
    closed_code: int | None = None
    errors: list[str] = field(default_factory=list)


class WsReader(asyncio.Protocol):
    """A WebSocket subscriber that records every frame's arrival on the monotonic clock."""

    def __init__(self, path: str, host: str, rec: FeedRecord, subscribe: bool = True) -> None:
        self.path, self.host, self.rec = path, host, rec
        self.subscribe = subscribe
        self.buf = bytearray()
        self.upgraded = False
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[None] = loop.create_future()  # snapshot (or hello) came
        self.done: asyncio.Future[None] = loop.create_future()  # connection lost
        self.wanted_seq: int | None = None
        self.reached: asyncio.Event = asyncio.Event()
        self.frames_seen = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write((f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\n"
                              "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Sec-WebSocket-Version: 13\r\n\r\n").encode())

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("closed before its snapshot"))
        if not self.done.done():
            self.done.set_result(None)
        self.reached.set()

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        buf = self.buf
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                self.rec.errors.append(bytes(buf[:80]).decode("latin-1"))
                assert self.transport is not None
                self.transport.close()
                return
            del buf[:end + 4]
            self.upgraded = True
            if self.subscribe:
                self.send(json.dumps({"type": "subscribe", "poll": self.rec.poll}))
        pos = 0
        size = len(buf)
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            n = b1 & 0x7F
            hdr = 2
            if n == 126:
                if size - pos < 4:
                    break
                n = int.from_bytes(buf[pos + 2:pos + 4], "big")
                hdr = 4
            elif n == 127:
                if size - pos < 10:
                    break
                n = int.from_bytes(buf[pos + 2:pos + 10], "big")
                hdr = 10
            if size - pos < hdr + n:
                break
            payload = bytes(buf[pos + hdr:pos + hdr + n])
            pos += hdr + n
            opcode = b0 & 0x0F
            if opcode == 0x1:
                self._text(now, payload)
            elif opcode == 0x9:  # ping: answer with a pong carrying the same payload
                assert self.transport is not None
                self.transport.write(bytes([0x8A, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)
            elif opcode == 0x8:
                self.rec.closed_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 \
                    else 1005
                assert self.transport is not None
                self.transport.write(b"\x88\x80\0\0\0\0")
                self.transport.close()
        if pos:
            del buf[:pos]

    def _text(self, now: float, payload: bytes) -> None:
        self.frames_seen += 1
        rec = self.rec
        seq_m = _SEQ.search(payload) if payload.startswith(_TALLY_PREFIXES) else None
        total_m = _TOTAL.search(payload) if seq_m is not None else None
        if seq_m is not None and total_m is not None:
            seq = int(seq_m.group(1))
            if rec.frames and seq <= rec.frames[-1][1]:
                rec.out_of_order += 1
            rec.frames.append((now, seq, int(total_m.group(1))))
            rec.last_text = payload
            if not self.ready.done():
                self.ready.set_result(None)
            if self.wanted_seq is not None and seq >= self.wanted_seq:
                self.reached.set()
        else:
            frame = json.loads(payload)
            kind = frame.get("type")
            rec.other_frames += 1
            if kind == "hello":
                rec.server = frame.get("server")
                if not self.subscribe and not self.ready.done():
                    self.ready.set_result(None)
            elif kind == "error":
                rec.errors.append(str(frame.get("code")))
                if not self.ready.done():
                    self.ready.set_exception(ConnectionError(f"error frame {frame}"))

    def send(self, text: str) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(client_frame(text))

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"\x88\x82\0\0\0\0\x03\xe8")  # close 1000
            self.transport.close()


async def open_feed(host: str, port: int, rec: FeedRecord, *, subscribe: bool = True,
                    rcvbuf: int | None = None, timeout: float = 30.0) -> WsReader:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    try:
        async with asyncio.timeout(timeout):
            await loop.sock_connect(sock, (host, port))
            _, proto = await loop.create_connection(
                lambda: WsReader("/ws", f"{host}:{port}", rec, subscribe), sock=sock)
            await proto.ready
    except BaseException:
        sock.close()
        raise
    return proto
