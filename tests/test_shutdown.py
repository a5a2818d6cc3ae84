"""Graceful shutdown of `voting serve` (DESIGN.md §6): SIGTERM closes feeds with 1012, exit 0."""
from __future__ import annotations

import signal
from pathlib import Path

from tests.client import Api, Feed, eventually
from tests.conftest import start_server_process, stop_process


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
