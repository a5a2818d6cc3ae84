"""A small async HTTP + WebSocket client for tests (Tornado's), with a cookie jar."""
from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect


@dataclass
class Response:
    status: int
    headers: Any
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error_code(self) -> str | None:
        try:
            return self.json["error"]["code"]  # type: ignore[no-any-return]
        except (ValueError, KeyError, TypeError):
            return None


@dataclass
class Api:
    base: str
    cookies: dict[str, str] = field(default_factory=dict)
    client: AsyncHTTPClient | None = None
    keep_cookies: bool = True

    def __post_init__(self) -> None:
        if self.client is None:
            self.client = AsyncHTTPClient(force_instance=True, max_clients=1000)

    def session(self) -> "Api":
        """Another client sharing the connection pool but with its own cookies."""
        return Api(self.base, {}, self.client, self.keep_cookies)

    async def request(self, method: str, path: str, json_body: Any = None, body: bytes | str | None = None,
                      headers: dict[str, str] | None = None, timeout: float = 30) -> Response:
        h = dict(headers or {})
        if self.cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if json_body is not None:
            body = json.dumps(json_body)
            h.setdefault("Content-Type", "application/json")
        if body is None and method in ("POST", "PUT", "PATCH"):
            body = b""
        if body:  # raw bodies are JSON too unless a test says otherwise (415 otherwise)
            h.setdefault("Content-Type", "application/json")
        req = HTTPRequest(self.base + path, method=method, headers=h, body=body,
                          request_timeout=timeout, allow_nonstandard_methods=True,
                          follow_redirects=False, decompress_response=True)
        assert self.client is not None
        resp = await self.client.fetch(req, raise_error=False)
        if resp.code == 599:
            raise ConnectionError(f"{method} {path}: {resp.error}")
        if self.keep_cookies:
            for raw in resp.headers.get_list("Set-Cookie"):
                c: SimpleCookie = SimpleCookie()
                c.load(raw)
                for k, morsel in c.items():
                    self.cookies[k] = morsel.value
        return Response(resp.code, resp.headers, resp.body or b"")

    async def get(self, path: str, **kw: Any) -> Response:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, json_body: Any = None, **kw: Any) -> Response:
        return await self.request("POST", path, json_body=json_body, **kw)

    async def delete(self, path: str, **kw: Any) -> Response:
        return await self.request("DELETE", path, **kw)

    async def voter(self) -> str:
        r = await self.post("/api/voters")
        assert r.status == 201, r.body
        return str(r.json["voter_token"])

    async def create_poll(self, **overrides: Any) -> dict[str, Any]:
        body = {"title": "Lunch?", "questions": [
            {"text": "Where?", "kind": "single",
             "options": [{"label": "Pizza"}, {"label": "Sushi"}, {"label": "Tacos"}]}]}
        body.update(overrides)
        r = await self.post("/api/polls", body)
        assert r.status == 201, r.body
        return r.json  # type: ignore[no-any-return]

    def close(self) -> None:
        if self.client is not None:
            self.client.close()


class Feed:
    """A WebSocket feed client that records every frame."""

    def __init__(self, conn: WebSocketClientConnection) -> None:
        self.conn = conn
        self.frames: list[dict[str, Any]] = []
        self.closed = False
        self.close_code: int | None = None
        self._new = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def connect(cls, ws_url: str, headers: dict[str, str] | None = None) -> "Feed":
        conn = await websocket_connect(HTTPRequest(ws_url, headers=headers or {}),
                                       ping_interval=None)
        return cls(conn)

    async def _read(self) -> None:
        while True:
            msg = await self.conn.read_message()
            if msg is None:
                self.closed = True
                self.close_code = self.conn.close_code
                self._new.set()
                return
            self.frames.append(json.loads(msg))
            self._new.set()

    def send(self, frame: dict[str, Any]) -> None:
        self.conn.write_message(json.dumps(frame))

    async def wait_for(self, predicate: Any, timeout: float = 10.0) -> dict[str, Any]:
        """The first frame (from the start) satisfying predicate, waiting up to timeout."""
        deadline = time.monotonic() + timeout
        checked = 0
        while True:
            while checked < len(self.frames):
                f = self.frames[checked]
                checked += 1
                if predicate(f):
                    return f
            if self.closed:
                raise AssertionError(f"feed closed ({self.close_code}) before the frame came; "
                                     f"got {self.frames[-5:]}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching frame within {timeout}s; got {self.frames[-5:]}")
            self._new.clear()
            try:
                await asyncio.wait_for(self._new.wait(), left)
            except asyncio.TimeoutError:
                pass

    def of(self, poll_id: str, *types: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f.get("poll") == poll_id and (not types or f["type"] in types)]

    async def close(self) -> None:
        """Close and wait for the close handshake, so no socket outlives the test's event loop.

        Tornado closes the socket only when the server's close frame arrives (or 5 s later, on
        a timer of the loop); a test loop that ends first leaks it as a ResourceWarning.
        """
        stream = self.conn.protocol.stream if self.conn.protocol is not None else None
        self.conn.close()
        try:  # the reader ends when the socket closes
            await asyncio.wait_for(asyncio.shield(self._task), 5)
        except (asyncio.TimeoutError, Exception):
            pass
        if stream is not None:
            stream.close()
        self._task.cancel()
        try:
            await self._task
        except (asyncio.CancelledError, Exception):
            pass


async def eventually(check: Any, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Await an async check until it returns a truthy value, or fail after timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


def call(base: str, method: str, path: str, body: Any = None,
         headers: dict[str, str] | None = None) -> Any:
    """A blocking JSON request (for tests driving a browser, outside any event loop); an
    error status fails the test with the server's answer."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"{method} {path} answered {exc.code}: {exc.read()[:500]!r}") from None
    return json.loads(raw) if raw else None
