"""Status frames announce changes only: a repeated close is not a change."""
from __future__ import annotations

from tests.client import Feed
from tests.conftest import RunningServer


async def test_repeated_close_sends_one_status_frame(sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    created = await api.create_poll()
    poll_id, token = created["poll"]["id"], created["admin_token"]
    auth = {"Authorization": f"Bearer {token}"}
    feed = await Feed.connect(sqlite_server.ws_url)
    try:
        feed.send({"type": "subscribe", "poll": poll_id})
        await feed.wait_for(lambda f: f["type"] == "snapshot")
        for _ in range(3):
            r = await api.post(f"/api/polls/{poll_id}/close", headers=auth)
            assert r.status == 200 and r.json["poll"]["status"] == "closed"
        r = await api.post(f"/api/polls/{poll_id}/reopen", headers=auth)
        assert r.status == 200
        await feed.wait_for(lambda f: f["type"] == "status" and f["status"] == "open")
        last = await feed.wait_for(lambda f: f["type"] == "tally" and f["status"] == "open")
        statuses = feed.of(poll_id, "status")
        assert [f["status"] for f in statuses] == ["closed", "open"]
        assert statuses[0]["seq"] < statuses[1]["seq"] == last["seq"]
        results = (await api.get(f"/api/polls/{poll_id}/results")).json
        assert results["seq"] == last["seq"] == 2
    finally:
        await feed.close()
