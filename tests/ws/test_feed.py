"""The live feed protocol of DESIGN.md §5 against the embedded server."""
from __future__ import annotations

import asyncio
import base64
import gc
import json
import os
import socket
import struct
import time
import weakref
from pathlib import Path
from typing import Any

from tests.client import Api, Feed, eventually
from tests.conftest import RunningServer, running_server

TALLY_INTERVAL = 0.2
server_config = {"ws": {"tally_interval": TALLY_INTERVAL, "max_subscriptions": 3}}

FRAME_TYPES = {"hello", "snapshot", "tally", "status", "deleted", "error", "pong"}


# --- helpers --------------------------------------------------------------------

def position(feed: Feed, frame: dict[str, Any]) -> int:
    """Index of this very frame (equal frames, such as two pongs, are different frames)."""
    return next(i for i, f in enumerate(feed.frames) if f is frame)


async def next_frame(feed: Feed, start: int, predicate: Any, timeout: float = 10) -> dict[str, Any]:
    """The first frame at index >= start satisfying predicate."""
    return await feed.wait_for(lambda f: predicate(f) and position(feed, f) >= start, timeout)


async def connect(rs: RunningServer) -> Feed:
    feed = await Feed.connect(rs.ws_url)
    await feed.wait_for(lambda f: f["type"] == "hello")
    return feed


async def subscribe(feed: Feed, poll_id: str, admin_token: str | None = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "subscribe", "poll": poll_id}
    if admin_token is not None:
        frame["admin_token"] = admin_token
    start = len(feed.frames)
    feed.send(frame)
    return await next_frame(feed, start, lambda f: f.get("poll") == poll_id
                            and f["type"] in ("snapshot", "error"))


async def barrier(feed: Feed) -> None:
    """Every frame the server queued for this connection before now has arrived."""
    start = len(feed.frames)
    feed.send({"type": "ping"})
    await next_frame(feed, start, lambda f: f["type"] == "pong")


async def results(api: Api, poll_id: str, admin_token: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else None
    r = await api.get(f"/api/polls/{poll_id}/results", headers=headers)
    assert r.status == 200, r.body
    return r.json  # type: ignore[no-any-return]


async def vote(api: Api, poll_id: str, choices: dict[str, list[str]]) -> None:
    token = await api.session().voter()
    r = await api.post(f"/api/polls/{poll_id}/ballots", {"choices": choices},
                       headers={"X-Voter-Token": token})
    assert r.status == 201, r.body


def as_results(frame: dict[str, Any]) -> dict[str, Any]:
    """A snapshot/tally frame in the shape of GET /results."""
    out = {k: v for k, v in frame.items() if k not in ("type", "poll")}
    out["poll_id"] = frame["poll"]
    return out


def assert_increasing(feed: Feed, poll_id: str) -> None:
    seqs = [f["seq"] for f in feed.of(poll_id, "snapshot", "tally")]
    assert seqs == sorted(set(seqs)), f"seq not strictly increasing: {seqs}"


def assert_known_frames(feed: Feed) -> None:
    for f in feed.frames:
        assert f["type"] in FRAME_TYPES, f


async def admin_post(api: Api, poll_id: str, action: str, token: str) -> None:
    r = await api.post(f"/api/polls/{poll_id}/{action}",
                       headers={"Authorization": f"Bearer {token}"})
    assert r.status == 200, r.body


# --- tests ----------------------------------------------------------------------

async def test_hello_frame(sqlite_server: RunningServer) -> None:
    feed = await Feed.connect(sqlite_server.ws_url)
    try:
        hello = await feed.wait_for(lambda f: True)
        assert hello == {"type": "hello", "server": "test1", "heartbeat": 5}
        assert feed.conn.headers is not None
        assert feed.conn.headers.get("X-Backend") == "test1"
    finally:
        await feed.close()


async def test_snapshot_on_subscribe_has_the_shape_of_results(
        sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    pid = (await api.create_poll())["poll"]["id"]
    await vote(api, pid, {"q1": ["o2"]})
    await vote(api, pid, {"q1": ["o3"]})
    feed = await connect(sqlite_server)
    try:
        snap = await subscribe(feed, pid)
        assert snap["type"] == "snapshot" and snap["poll"] == pid
        assert as_results(snap) == await results(api, pid)
        assert snap["questions"] == [{"id": "q1", "counts": {"o1": 0, "o2": 1, "o3": 1}}]
    finally:
        await feed.close()


async def test_tallies_increase_and_end_equal_to_results(sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    pid = (await api.create_poll())["poll"]["id"]
    feed = await connect(sqlite_server)
    try:
        await subscribe(feed, pid)
        for i in range(5):  # a few one at a time, then a burst
            await vote(api, pid, {"q1": [f"o{i % 3 + 1}"]})
        await asyncio.gather(*(vote(api, pid, {"q1": [f"o{i % 3 + 1}"]}) for i in range(45)))
        final = await results(api, pid)
        assert final["total"] == 50 and final["seq"] == 50
        await feed.wait_for(lambda f: f["type"] == "tally" and f["seq"] == final["seq"])
        await barrier(feed)
        frames = feed.of(pid, "snapshot", "tally")
        assert frames[0]["type"] == "snapshot" and len(frames) >= 2
        assert_increasing(feed, pid)
        assert as_results(frames[-1]) == final
        assert_known_frames(feed)
    finally:
        await feed.close()


async def test_status_frames_on_close_and_reopen(sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    created = await api.create_poll()
    pid, admin = created["poll"]["id"], created["admin_token"]
    feed = await connect(sqlite_server)
    try:
        await subscribe(feed, pid)
        await vote(api, pid, {"q1": ["o1"]})
        await feed.wait_for(lambda f: f["type"] == "tally" and f["seq"] == 1)
        for action, status in (("close", "closed"), ("reopen", "open")):
            await admin_post(api, pid, action, admin)
            res = await results(api, pid)
            frame = await feed.wait_for(lambda f: f["type"] == "status" and f["status"] == status)
            assert frame == {"type": "status", "poll": pid, "status": status, "seq": res["seq"]}
            tally = await next_frame(feed, position(feed, frame) + 1,
                                     lambda f: f["type"] == "tally" and f["poll"] == pid)
            assert tally["status"] == status and tally["seq"] == res["seq"]
            assert as_results(tally) == res
        await barrier(feed)
        assert_increasing(feed, pid)
        assert [f["type"] for f in feed.of(pid)] == ["snapshot", "tally", "status", "tally",
                                                      "status", "tally"]
    finally:
        await feed.close()


async def test_deleted_frame(sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    created = await api.create_poll()
    pid = created["poll"]["id"]
    feed = await connect(sqlite_server)
    try:
        await subscribe(feed, pid)
        r = await api.delete(f"/api/polls/{pid}",
                             headers={"Authorization": f"Bearer {created['admin_token']}"})
        assert r.status == 204
        frame = await feed.wait_for(lambda f: f["type"] == "deleted")
        assert frame == {"type": "deleted", "poll": pid}
        again = await subscribe(feed, pid)
        assert again["type"] == "error" and again["code"] == "poll_not_found"
        await barrier(feed)
        assert [f["type"] for f in feed.of(pid)] == ["snapshot", "deleted", "error"]
        assert not sqlite_server.server.app.settings["voting_registry"].feeds
    finally:
        await feed.close()


async def test_after_close_counts_hidden_until_close(sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    created = await api.create_poll(results="after_close")
    pid, admin = created["poll"]["id"], created["admin_token"]
    await vote(api, pid, {"q1": ["o1"]})
    public, organizer, intruder = [await connect(sqlite_server) for _ in range(3)]
    try:
        snap = await subscribe(public, pid)
        assert snap["type"] == "snapshot" and "questions" not in snap
        assert snap["total"] == 1 and snap["status"] == "open"
        admin_snap = await subscribe(organizer, pid, admin)
        assert admin_snap["questions"] == [{"id": "q1", "counts": {"o1": 1, "o2": 0, "o3": 0}}]
        err = await subscribe(intruder, pid, "not-the-admin-token")
        assert err == {"type": "error", "code": "forbidden", "poll": pid,
                       "message": err["message"]}
        await vote(api, pid, {"q1": ["o2"]})
        await vote(api, pid, {"q1": ["o2"]})
        admin_tally = await organizer.wait_for(lambda f: f["type"] == "tally" and f["seq"] == 3)
        assert as_results(admin_tally) == await results(api, pid, admin)
        public_tally = await public.wait_for(lambda f: f["type"] == "tally" and f["seq"] == 3)
        assert "questions" not in public_tally and public_tally["total"] == 3
        # The wrong token made no subscription: nothing came before the pong.
        await barrier(intruder)
        assert [f["type"] for f in intruder.frames] == ["hello", "error", "pong"]
        await admin_post(api, pid, "close", admin)
        final = await results(api, pid)
        status = await public.wait_for(lambda f: f["type"] == "status")
        closed_tally = await next_frame(public, position(public, status) + 1,
                                        lambda f: f["type"] == "tally")
        assert as_results(closed_tally) == final
        assert final["questions"][0]["counts"] == {"o1": 1, "o2": 2, "o3": 0}
        for f in public.of(pid, "snapshot", "tally"):
            assert ("questions" in f) == (f["status"] == "closed"), f
        assert_increasing(public, pid)
    finally:
        for one in (public, organizer, intruder):
            await one.close()


async def test_closes_at_sends_status_and_the_counts(sqlite_server: RunningServer) -> None:
    import time
    from datetime import datetime
    from tests.handlers.helpers import in_seconds
    api = sqlite_server.api
    closes_at = in_seconds(3)  # room for the steps before, on a busy machine
    pid = (await api.create_poll(results="after_close", closes_at=closes_at))["poll"]["id"]
    due = datetime.fromisoformat(closes_at.replace("Z", "+00:00")).timestamp()
    await vote(api, pid, {"q1": ["o3"]})
    feed = await connect(sqlite_server)
    try:
        snap = await subscribe(feed, pid)
        assert "questions" not in snap
        assert time.time() < due, "the setup took longer than the time to closes_at"
        # "At once": the status frame by closes_at + 0.5 s, not whenever.
        status = await feed.wait_for(lambda f: f["type"] == "status",
                                     timeout=max(0.1, due + 0.5 - time.time()))
        assert status["status"] == "closed" and status["poll"] == pid
        tally = await next_frame(feed, position(feed, status) + 1,
                                 lambda f: f["type"] == "tally")
        final = await results(api, pid)
        assert as_results(tally) == final and final["status"] == "closed"
        assert final["questions"][0]["counts"] == {"o1": 0, "o2": 0, "o3": 1}
        assert status["seq"] == final["seq"]
    finally:
        await feed.close()


async def test_error_frames(sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    feed = await connect(sqlite_server)
    try:
        async def error_after(raw: str) -> dict[str, Any]:
            start = len(feed.frames)
            await feed.conn.write_message(raw)
            return await next_frame(feed, start, lambda f: f["type"] == "error")

        for raw in ("not json", "[1, 2]", '"subscribe"', "{}", '{"type": 5}',
                    '{"type": "subscribe", "poll": 12345678}'):
            err = await error_after(raw)
            assert err["code"] == "invalid_message", (raw, err)
            assert isinstance(err["message"], str) and err["message"]
        err = await error_after('{"type": "dance"}')
        assert err["code"] == "invalid_message"
        err = await error_after('{"type": "subscribe", "poll": "zzzzzzzz"}')
        assert (err["code"], err["poll"]) == ("poll_not_found", "zzzzzzzz")
        err = await error_after('{"type": "subscribe", "poll": "NOPE"}')
        assert err["code"] == "poll_not_found"
        pids = [(await api.create_poll())["poll"]["id"] for _ in range(5)]
        for pid in pids[:3]:
            assert (await subscribe(feed, pid))["type"] == "snapshot"
        assert (await subscribe(feed, pids[0]))["type"] == "snapshot"  # again: not a new one
        err = await subscribe(feed, pids[3])
        assert (err["type"], err["code"], err["poll"]) == ("error", "too_many_subscriptions",
                                                           pids[3])
        feed.send({"type": "unsubscribe", "poll": pids[0]})
        assert (await subscribe(feed, pids[4]))["type"] == "snapshot"
        # The connection survived all of it.
        await barrier(feed)
        assert not feed.closed
        assert_known_frames(feed)
    finally:
        await feed.close()


async def test_ping_pong(sqlite_server: RunningServer) -> None:
    feed = await connect(sqlite_server)
    try:
        feed.send({"type": "ping"})
        pong = await feed.wait_for(lambda f: f["type"] == "pong")
        assert pong == {"type": "pong"}
    finally:
        await feed.close()


async def test_unsubscribe_stops_frames(sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    pid = (await api.create_poll())["poll"]["id"]
    leaving, staying = await connect(sqlite_server), await connect(sqlite_server)
    try:
        await subscribe(leaving, pid)
        await subscribe(staying, pid)
        await vote(api, pid, {"q1": ["o1"]})
        await leaving.wait_for(lambda f: f["type"] == "tally" and f["seq"] == 1)
        leaving.send({"type": "unsubscribe", "poll": pid})
        await barrier(leaving)  # frames are handled in order: the unsubscribe is done
        count = len(leaving.of(pid))
        for _ in range(3):
            await vote(api, pid, {"q1": ["o2"]})
        await staying.wait_for(lambda f: f["type"] == "tally" and f["seq"] == 4)
        await barrier(leaving)
        assert len(leaving.of(pid)) == count
        assert [f["type"] for f in leaving.of(pid)] == ["snapshot", "tally"]
    finally:
        await leaving.close()
        await staying.close()


async def test_tallies_are_coalesced(sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    pid = (await api.create_poll())["poll"]["id"]
    tokens = await asyncio.gather(*(api.session().voter() for _ in range(100)))
    feed = await connect(sqlite_server)
    try:
        await subscribe(feed, pid)
        started = time.monotonic()
        replies = await asyncio.gather(*(
            api.post(f"/api/polls/{pid}/ballots", {"choices": {"q1": [f"o{i % 3 + 1}"]}},
                     headers={"X-Voter-Token": t}) for i, t in enumerate(tokens)))
        assert {r.status for r in replies} == {201}
        await feed.wait_for(lambda f: f["type"] == "tally" and f["seq"] == 100)
        elapsed = time.monotonic() - started
        await barrier(feed)
        tallies = feed.of(pid, "tally")
        # At most one tally per tally_interval, always the newest: far fewer than ballots.
        assert len(tallies) <= elapsed / TALLY_INTERVAL + 2, (len(tallies), elapsed)
        assert len(tallies) < 50, len(tallies)
        assert as_results(tallies[-1]) == await results(api, pid)
        assert_increasing(feed, pid)
    finally:
        await feed.close()


# --- a reader that stops reading ------------------------------------------------

class StalledClient:
    """A raw WebSocket client with a tiny receive buffer that sends but never reads."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.loop = asyncio.get_running_loop()

    @classmethod
    async def connect(cls, port: int) -> "StalledClient":
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await loop.sock_connect(sock, ("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        await loop.sock_sendall(sock, (
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = await loop.sock_recv(sock, 1)
            assert chunk, "connection closed during the handshake"
            head += chunk
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(sock)

    @property
    def local_port(self) -> int:
        return int(self.sock.getsockname()[1])

    async def send(self, frame: dict[str, Any]) -> None:
        payload = json.dumps(frame).encode()
        n = len(payload)
        header = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else
                                  bytes([0x80 | 126]) + struct.pack(">H", n))
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        await self.loop.sock_sendall(self.sock, header + mask + masked)

    def close(self) -> None:
        self.sock.close()


def big_poll() -> dict[str, Any]:
    """20 questions x 50 options: every snapshot frame is about 10 KB."""
    return {"title": "big", "questions": [
        {"text": f"Q{qi}", "kind": "multiple", "min_choices": 0,
         "options": [{"label": f"L{i}"} for i in range(50)]} for qi in range(20)]}


async def test_a_stalled_reader_does_not_delay_others(tmp_path: Path) -> None:
    async with running_server(tmp_path, ws={"max_pending_frames": 16}) as rs:
        api = rs.api
        created = await api.create_poll(**big_poll())
        pid = created["poll"]["id"]
        metrics = rs.server.metrics.registry
        conns = rs.server.app.settings["voting_connections"]
        fast = await connect(rs)
        stalled_client = await StalledClient.connect(int(rs.url.rsplit(":", 1)[1]))
        try:
            await subscribe(fast, pid)
            await stalled_client.send({"type": "subscribe", "poll": pid})

            def server_side() -> Any:
                for c in conns:
                    ws = c.ws_connection
                    if ws is not None and not ws.stream.closed() and \
                            ws.stream.socket.getpeername()[1] == stalled_client.local_port:
                        return c
                return None

            stalled = await eventually(lambda: asyncio.sleep(0, server_side()))
            ballots = 0
            max_pending = 0
            for _ in range(1000):
                if metrics.get_sample_value("voting_ws_frames_dropped_total"):
                    break
                try:  # each subscribe answers another ~10 KB snapshot it will not read
                    await stalled_client.send({"type": "subscribe", "poll": pid})
                    await stalled_client.send({"type": "subscribe", "poll": pid})
                except OSError:
                    break
                max_pending = max(max_pending, stalled.outbox.pending)
                # Meanwhile the fast reader gets every change at once.
                await vote(api, pid, {"q1": [f"o{ballots % 50 + 1}"]})
                ballots += 1
                await fast.wait_for(lambda f: f["type"] == "tally" and f["seq"] == ballots,
                                    timeout=10)
                max_pending = max(max_pending, stalled.outbox.pending)
            assert metrics.get_sample_value("voting_ws_frames_dropped_total"), \
                "the stalled connection never passed its bound"
            assert max_pending > 0, "the stalled connection was never behind"
            assert ballots >= 1
            # The stalled connection is closed; the fast one lives on.
            await eventually(lambda: asyncio.sleep(0, stalled not in conns), timeout=20)
            assert metrics.get_sample_value("voting_websockets_open") == 1
            await vote(api, pid, {"q1": ["o1"]})
            final = await results(api, pid)
            await fast.wait_for(lambda f: f["type"] == "tally" and f["seq"] == final["seq"])
            await barrier(fast)
            assert not fast.closed
            assert as_results(fast.of(pid, "tally")[-1]) == final
            assert_increasing(fast, pid)
            assert not rs.server.app.settings["voting_registry"].feeds[pid].subs.get(id(stalled))
        finally:
            stalled_client.close()
            await fast.close()


async def test_heartbeats_are_ping_control_frames(tmp_path: Path) -> None:
    async with running_server(tmp_path, ws={"heartbeat": 0.2, "idle_timeout": 5}) as rs:
        feed = await Feed.connect(rs.ws_url)
        pings: list[bytes] = []
        feed.conn.on_ping = pings.append  # type: ignore[method-assign,assignment]
        try:
            hello = await feed.wait_for(lambda f: f["type"] == "hello")
            assert hello["heartbeat"] == 0.2
            await eventually(lambda: asyncio.sleep(0, len(pings) >= 3), timeout=10)
            await barrier(feed)
            assert [f["type"] for f in feed.frames] == ["hello", "pong"]  # no JSON heartbeats
            assert not feed.closed  # the client's automatic pongs keep it open
        finally:
            await feed.close()


async def test_a_closed_connection_is_freed_without_the_collector(sqlite_server: RunningServer
                                                                   ) -> None:
    """A crowd leaving must not leave its connections for the collector's full passes (each
    stops a crowded backend): a closed feed holds no reference cycle, so it is freed as it
    closes. With the collector off, only reference counting can free it."""
    pid = (await sqlite_server.api.create_poll())["poll"]["id"]
    conns = sqlite_server.server.app.settings["voting_connections"]
    gc.collect()
    gc.disable()
    try:
        feeds = []
        for _ in range(3):
            feed = await connect(sqlite_server)
            assert (await subscribe(feed, pid))["type"] == "snapshot"
            feeds.append(feed)
        server_side = [weakref.ref(c) for c in conns]
        assert len(server_side) == 3
        for feed in feeds:
            await feed.close()

        async def all_freed() -> bool:
            return all(ref() is None for ref in server_side)

        await eventually(all_freed)
        assert not conns
    finally:
        gc.enable()
