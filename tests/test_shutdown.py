"""Graceful shutdown (DESIGN.md §6): stop accepting, close WebSockets with 1012 so clients
reconnect elsewhere, finish in-flight writes, exit (0, on SIGTERM)."""
from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

from tests.client import Api, Feed, eventually
from tests.conftest import make_config, start_server_process, stop_process
from voting.app import Server, make_storage
from voting.storage.sqlite import SQLiteStorage
from voting.ws.broker import InProcessBroker


async def refused(port: int) -> bool:
    """True when a new TCP connection to the port is refused (nobody accepts any more)."""
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except ConnectionRefusedError:
        return True
    writer.close()
    await writer.wait_closed()
    return False


async def test_shutdown_stops_accepting_and_finishes_the_write_in_flight(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, server={"shutdown_grace": 30.0})
    storage = make_storage(cfg)
    assert isinstance(storage, SQLiteStorage)
    server = Server(cfg, storage, InProcessBroker())
    port = await server.start("127.0.0.1", 0)
    api = Api(f"http://127.0.0.1:{port}")
    feed: Feed | None = None
    stopping: asyncio.Task[None] | None = None
    release = asyncio.Event()
    try:
        pid = (await api.create_poll())["poll"]["id"]
        token = await api.voter()
        feed = await Feed.connect(f"ws://127.0.0.1:{port}/ws")
        feed.send({"type": "subscribe", "poll": pid})
        await feed.wait_for(lambda f: f["type"] == "snapshot")
        # The ballot's write is held until the shutdown is under way.
        entered = asyncio.Event()
        real_cast = storage.cast_ballot

        async def held_cast(*args: Any, **kwargs: Any) -> Any:
            entered.set()
            await release.wait()
            return await real_cast(*args, **kwargs)

        storage.cast_ballot = held_cast  # type: ignore[method-assign]
        ballot = asyncio.ensure_future(api.post(f"/api/polls/{pid}/ballots",
                                                {"choices": {"q1": ["o2"]}},
                                                headers={"X-Voter-Token": token}))
        await asyncio.wait_for(entered.wait(), 10)
        stopping = asyncio.ensure_future(server.stop())
        # Feeds are closed with 1012 (service restart) at once, not after the writes.
        await eventually(lambda: asyncio.sleep(0, feed is not None and feed.closed), timeout=10)
        assert feed.close_code == 1012
        # No new connection is accepted...
        await eventually(lambda: refused(port), timeout=10)
        # ...while the write in flight is waited for.
        assert not stopping.done() and not ballot.done()
        release.set()
        r = await asyncio.wait_for(ballot, 15)
        assert r.status == 201, r.body
        await asyncio.wait_for(stopping, 15)
    finally:
        release.set()
        if feed is not None:
            await feed.close()
        api.close()
        if stopping is None:
            await server.stop()
        elif not stopping.done():
            await stopping
    # The ballot answered 201 is in the database file.
    again = SQLiteStorage(storage.path)
    await again.open()
    try:
        tally = await again.get_tally(pid)
        assert tally is not None and tally.total == 1
    finally:
        await again.close()


async def test_sigterm_closes_websockets_with_1012_and_exits_0(tmp_path: Path) -> None:
    sp = start_server_process(tmp_path, name="shutdown-test")
    api = Api(sp.url)
    feeds: list[Feed] = []
    try:
        pid = (await api.create_poll())["poll"]["id"]
        ws_url = sp.url.replace("http://", "ws://") + "/ws"
        for i in range(3):
            feed = await Feed.connect(ws_url)
            await feed.wait_for(lambda f: f["type"] == "hello")
            if i < 2:  # subscribed or not, every feed is closed
                feed.send({"type": "subscribe", "poll": pid})
                await feed.wait_for(lambda f: f["type"] == "snapshot")
            feeds.append(feed)
        assert feeds[0].frames[0]["server"] == "shutdown-test"
        sp.proc.send_signal(signal.SIGTERM)

        async def all_closed() -> bool:
            return all(f.closed for f in feeds)

        await eventually(all_closed, timeout=15)
        assert [f.close_code for f in feeds] == [1012, 1012, 1012]

        async def exited() -> bool:
                return sp.proc.poll() is not None

        await eventually(exited, timeout=20)
        assert sp.proc.returncode == 0, sp.log.read_text()[-2000:]
        log = sp.log.read_text()
        assert "shutting down" in log and "Traceback" not in log
    finally:
        for f in feeds:
            await f.close()
        api.close()
        stop_process(sp.proc)


async def test_data_survives_a_restart(tmp_path: Path) -> None:
    """The embedded server keeps its SQLite file and secret in data_dir across restarts."""
    sp = start_server_process(tmp_path, name="first")
    api = Api(sp.url)
    try:
        pid = (await api.create_poll())["poll"]["id"]
        token = await api.voter()
        r = await api.post(f"/api/polls/{pid}/ballots", {"choices": {"q1": ["o2"]}},
                           headers={"X-Voter-Token": token})
        assert r.status == 201
    finally:
        api.close()
        assert stop_process(sp.proc) == 0
    sp = start_server_process(tmp_path, name="second")
    api = Api(sp.url)
    try:
        res = (await api.get(f"/api/polls/{pid}/results")).json
        assert res["total"] == 1 and res["questions"][0]["counts"]["o2"] == 1
        # The voter token is still valid: the secret was kept.
        mine = await api.get(f"/api/polls/{pid}/ballot", headers={"X-Voter-Token": token})
        assert mine.status == 200 and mine.json["ballot"]["choices"] == {"q1": ["o2"]}
    finally:
        api.close()
        stop_process(sp.proc)
