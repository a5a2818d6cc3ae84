"""The Redis relay between two real servers sharing one database, with a real redis-server.

Two in-process servers use the same SQLite file (the shared database) and one
Redis; a ballot cast on one server reaches a WebSocket subscriber of the other.
"""
from __future__ import annotations

import asyncio
import subprocess
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from tests.client import Api, Feed, eventually
from tests.conftest import free_port, make_config, require_binary
from voting.app import Server, make_broker, make_storage
from voting.cluster import redis as redis_proc
from voting.ws.redis_broker import RedisBroker

pytestmark = pytest.mark.integration


class RedisServer:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        conf = redis_proc.write_config(self.work, self.port, None)
        self.proc = subprocess.Popen(redis_proc.argv(conf), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)

    async def wait_ready(self) -> None:
        async def up() -> bool:
            try:
                return await asyncio.to_thread(redis_proc.ping, self.port)
            except OSError:
                return False
        await eventually(up, timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@asynccontextmanager
async def redis_backends(tmp_path: Path, **sections: dict[str, Any]
                         ) -> AsyncIterator[tuple[RedisServer, list[tuple[Server, str, str]]]]:
    """A real Redis and two in-process servers on one SQLite file relaying through it.

    Yields the Redis and (server, http url, ws url) per backend; `sections` add config."""
    require_binary("redis-server", "/usr/bin/redis-server")
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    await redis.wait_ready()
    servers = []
    db = str(tmp_path / "shared.sqlite3")
    try:
        for name in ("backend1", "backend2"):
            cfg = make_config(tmp_path / name, server={"name": name, "secret": "x" * 32},
                              storage={"sqlite_path": db},
                              broker={"backend": "redis",
                                      "redis_url": redis_proc.url(redis.port)}, **sections)
            server = Server(cfg, make_storage(cfg), make_broker(cfg, name))
            port = await server.start("127.0.0.1", 0)
            servers.append((server, f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws"))
        yield redis, servers
    finally:
        for server, _, _ in servers:
            await server.stop()
        redis.stop()


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    async with redis_backends(tmp_path) as (redis, servers):
        yield {"redis": redis, "servers": servers}


async def test_ballot_on_one_backend_reaches_subscriber_of_another(relay: dict[str, Any]) -> None:
    (_, url1, _), (server2, url2, ws2) = relay["servers"]
    await eventually(lambda: _connected(server2))
    api1 = Api(url1)
    try:
        poll_id = (await api1.create_poll())["poll"]["id"]
        feed = await subscribed(ws2, poll_id)
        await cast(api1, poll_id, "o1", 10)
        last = await feed.wait_for(lambda f: f["type"] == "tally" and f["total"] == 10)
        assert last["questions"][0]["counts"]["o1"] == 10
        seqs = [f["seq"] for f in feed.of(poll_id, "snapshot", "tally")]
        assert seqs == sorted(set(seqs))
        await feed.close()
    finally:
        api1.close()


async def test_a_relayed_tally_carries_the_runoff_and_the_scale(relay: dict[str, Any]) -> None:
    """Tallies relayed to another backend carry what its frames are built from: the
    rankings (the runoff is computed there) and the scale counts (mean, median)."""
    (_, url1, _), (server2, _, ws2) = relay["servers"]
    await eventually(lambda: _connected(server2))
    api1 = Api(url1)
    try:
        poll_id = (await api1.create_poll(questions=[
            {"text": "Rank", "kind": "ranked",
             "options": [{"label": "A"}, {"label": "B"}, {"label": "C"}]},
            {"text": "Rate", "kind": "scale", "scale_min": 1, "scale_max": 3}]))["poll"]["id"]
        feed = await subscribed(ws2, poll_id)
        ballots = [(["o1", "o2"], "o4"), (["o2", "o1"], "o5"), (["o3", "o2"], "o6")]
        for ranking, point in ballots:
            r = await api1.post(f"/api/polls/{poll_id}/ballots",
                                {"choices": {"q1": ranking, "q2": [point]}},
                                headers={"X-Voter-Token": await api1.voter()})
            assert r.status == 201, r.body
        last = await feed.wait_for(lambda f: f["type"] == "tally" and f["total"] == 3)
        ranked, scale = last["questions"]
        # Round 1: 1-1-1, C eliminated (listed last); its ballot goes to B: B wins 2 of 3.
        assert ranked["winner"] == "o2" and len(ranked["rounds"]) == 2, ranked
        assert ranked["rounds"][0]["eliminated"] == ["o3"]
        assert scale["mean"] == 2 and scale["median"] == 2, scale
        results = (await api1.get(f"/api/polls/{poll_id}/results")).json
        assert results["questions"] == last["questions"]
        await feed.close()
    finally:
        api1.close()


async def subscribed(ws_url: str, poll_id: str) -> Feed:
    feed = await Feed.connect(ws_url)
    feed.send({"type": "subscribe", "poll": poll_id})
    await feed.wait_for(lambda f: f["type"] == "snapshot")
    return feed


async def cast(api: Api, poll_id: str, option: str, n: int) -> None:
    """n new voters each choose `option`."""
    for _ in range(n):
        token = await api.voter()
        r = await api.post(f"/api/polls/{poll_id}/ballots", {"choices": {"q1": [option]}},
                           headers={"X-Voter-Token": token})
        assert r.status == 201, r.body


async def _connected(server: Server) -> bool:
    return bool(server.broker.connected)


async def test_redis_down_ballots_counted_and_feed_resumes(relay: dict[str, Any]) -> None:
    redis: RedisServer = relay["redis"]
    (server1, url1, _), (server2, url2, ws2) = relay["servers"]
    await eventually(lambda: _connected(server2))
    api1 = Api(url1)
    try:
        poll_id = (await api1.create_poll())["poll"]["id"]
        feed = await subscribed(ws2, poll_id)
        redis.stop()
        await eventually(lambda: _not_connected(server2))
        await cast(api1, poll_id, "o2", 5)
        # Without the relay, the other backend's feed still converges (it polls).
        await feed.wait_for(lambda f: f.get("total") == 5, timeout=10)
        redis.start()
        await redis.wait_ready()
        await eventually(lambda: _connected(server2), timeout=15)
        # Back with Redis, the feed is whole at once: its newest frame is /results (the
        # resync re-reads every watched poll; a snapshot is sent only when the seq moved,
        # since a connection's seq must increase, DESIGN §5).
        results = (await api1.get(f"/api/polls/{poll_id}/results")).json
        newest = feed.of(poll_id, "snapshot", "tally")[-1]
        assert (newest["seq"], newest["questions"]) == (results["seq"], results["questions"])
        await eventually(lambda: _connected(server1), timeout=15)
        await cast(api1, poll_id, "o3", 1)
        final = await feed.wait_for(lambda f: f.get("total") == 6, timeout=10)
        results = (await api1.get(f"/api/polls/{poll_id}/results")).json
        assert final["seq"] == results["seq"]
        assert final["questions"] == results["questions"]
        seqs = [f["seq"] for f in feed.of(poll_id, "snapshot", "tally")]
        assert seqs == sorted(set(seqs)), seqs
        await feed.close()
    finally:
        api1.close()


async def _not_connected(server: Server) -> bool:
    return not server.broker.connected


async def test_hung_redis_is_noticed_and_feeds_converge(relay: dict[str, Any]) -> None:
    """SIGSTOP: the connection stays open but nothing moves; the beacon's silence is noticed."""
    import signal
    redis: RedisServer = relay["redis"]
    (server1, url1, _), (server2, url2, ws2) = relay["servers"]
    await eventually(lambda: _connected(server2))
    api1 = Api(url1)
    assert redis.proc is not None
    try:
        poll_id = (await api1.create_poll())["poll"]["id"]
        feed = await subscribed(ws2, poll_id)
        redis.proc.send_signal(signal.SIGSTOP)
        try:
            await eventually(lambda: _not_connected(server2), timeout=15)
            await cast(api1, poll_id, "o1", 4)
            await feed.wait_for(lambda f: f.get("total") == 4, timeout=10)
        finally:
            redis.proc.send_signal(signal.SIGCONT)
        await eventually(lambda: _connected(server2), timeout=15)
        await cast(api1, poll_id, "o2", 1)
        final = await feed.wait_for(lambda f: f.get("total") == 5, timeout=10)
        results = (await api1.get(f"/api/polls/{poll_id}/results")).json
        assert final["seq"] == results["seq"] and final["questions"] == results["questions"]
        seqs = [f["seq"] for f in feed.of(poll_id, "snapshot", "tally")]
        assert seqs == sorted(set(seqs)), seqs
        await feed.close()
    finally:
        api1.close()


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.unheard: list[str] = []
        self.watching: list[str] = []
        self.missed = 0

    def on_event(self, poll_id: str, event: dict[str, Any]) -> None:
        self.events.append((poll_id, event))

    def on_resync(self) -> None:
        pass

    def on_unheard(self, poll_id: str) -> None:
        self.unheard.append(poll_id)

    def on_watching(self, poll_ids: list[str]) -> None:
        self.watching.extend(poll_ids)

    def on_announcements_missed(self) -> None:
        self.missed += 1


@asynccontextmanager
async def two_brokers(tmp_path: Path
                      ) -> AsyncIterator[tuple[RedisServer, RedisBroker, RedisBroker,
                                               Recorder, Recorder]]:
    """A real Redis and two brokers on it, a watcher and a writer, each with a Recorder."""
    require_binary("redis-server", "/usr/bin/redis-server")
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    await redis.wait_ready()
    cfg = make_config(tmp_path / "b", broker={"backend": "redis",
                                              "redis_url": redis_proc.url(redis.port)})
    watcher, writer = RedisBroker(cfg.broker, "watcher"), RedisBroker(cfg.broker, "writer")
    watcher_seen, writer_seen = Recorder(), Recorder()
    watcher.set_listener(watcher_seen)
    writer.set_listener(writer_seen)
    await watcher.start()
    await writer.start()
    try:
        yield redis, watcher, writer, watcher_seen, writer_seen
    finally:
        await watcher.close()
        await writer.close()
        redis.stop()


async def test_subscribed_returns_once_redis_has_the_subscription(tmp_path: Path) -> None:
    async with two_brokers(tmp_path) as (redis, watcher, writer, seen, _):
        await eventually(lambda: _up(watcher))
        watcher.watch("p1")
        assert "p1" not in watcher._confirmed  # asked for, not yet in place
        await watcher.subscribed("p1")
        assert "p1" in watcher._confirmed
        # In place: the very next tally relayed elsewhere reaches this process.
        writer.relay("p1", {"type": "tally", "seq": 1})
        await eventually(lambda: _heard(seen, "p1"))
        watcher.unwatch("p1")
        assert "p1" not in watcher._confirmed
        # A poll not watched, or a relay that is down, does not make anyone wait.
        async with asyncio.timeout(0.5):
            await watcher.subscribed("p2")
        redis.stop()
        await eventually(lambda: _down(watcher), timeout=10)
        watcher.watch("p3")
        async with asyncio.timeout(0.5):
            await watcher.subscribed("p3")


async def _up(broker: RedisBroker) -> bool:
    return broker.connected


async def _down(broker: RedisBroker) -> bool:
    return not broker.connected


async def _heard(seen: Recorder, poll_id: str) -> bool:
    return any(p == poll_id and e.get("type") == "tally" for p, e in seen.events)


async def test_a_tally_nobody_hears_is_reported_and_a_new_watcher_announced(
        tmp_path: Path) -> None:
    """What lets a backend stop reading a poll nobody watches: Redis says a relayed tally
    reached nobody, and a backend that starts watching says so once Redis confirmed it."""
    async with two_brokers(tmp_path) as (redis, watcher, writer, watcher_seen, writer_seen):
        await eventually(lambda: _up(watcher))
        await eventually(lambda: _up(writer))
        # Until Redis confirmed the control channel, announcements may have been missed.
        await eventually(lambda: _missed(writer_seen, 1))
        writer.relay("p1", {"type": "tally", "seq": 1})
        await eventually(lambda: _listed(writer_seen.unheard, "p1"))
        watcher.watch("p1")
        await watcher.subscribed("p1")
        await eventually(lambda: _listed(writer_seen.watching, "p1"))
        assert watcher_seen.watching == []  # its own announcement is not news to itself
        writer_seen.unheard.clear()
        writer.relay("p1", {"type": "tally", "seq": 2})
        await eventually(lambda: _heard(watcher_seen, "p1"))
        # Batches are published in order: once p2 (nobody's) is reported, p1's answer is in.
        writer.relay("p2", {"type": "tally", "seq": 1})
        await eventually(lambda: _listed(writer_seen.unheard, "p2"))
        assert writer_seen.unheard == ["p2"]
        # A reconnect confirms the subscriptions anew, and announces them again; the writer
        # knows it may have missed announcements meanwhile.
        writer_seen.watching.clear()
        redis.stop()
        await eventually(lambda: _down(watcher), timeout=10)
        redis.start()
        await redis.wait_ready()
        await eventually(lambda: _listed(writer_seen.watching, "p1"), timeout=15)
        await eventually(lambda: _missed(writer_seen, 2), timeout=15)


async def _listed(items: list[str], poll_id: str) -> bool:
    return poll_id in items


async def _missed(seen: Recorder, times: int) -> bool:
    return seen.missed >= times


async def test_ballots_nobody_watches_are_not_relayed_until_a_feed_opens(
        relay: dict[str, Any]) -> None:
    (server1, url1, _), (server2, _, ws2) = relay["servers"]
    await eventually(lambda: _connected(server1))
    await eventually(lambda: _connected(server2))
    api1 = Api(url1)
    metrics = server1.metrics.registry
    try:
        poll_id = (await api1.create_poll())["poll"]["id"]
        await cast(api1, poll_id, "o1", 1)

        async def kept_back() -> bool:
            await cast(api1, poll_id, "o1", 1)
            return bool(metrics.get_sample_value("voting_relay_skipped_total"))
        # The first ballot's tally reached nobody; the ballots after are kept back.
        await eventually(kept_back)
        feed = await subscribed(ws2, poll_id)
        # The watcher's own read once Redis confirmed its subscription is done: from now on
        # only the writer's relay brings it the next ballots.
        registry2 = server2.app.settings["voting_registry"]

        async def settled() -> bool:
            task = registry2.feeds[poll_id].task
            return not registry2._confirming and (task is None or task.done())
        await eventually(settled)
        await cast(api1, poll_id, "o2", 3)
        results = (await api1.get(f"/api/polls/{poll_id}/results")).json
        final = await feed.wait_for(lambda f: f.get("seq") == results["seq"], timeout=10)
        assert final["questions"] == results["questions"]
        assert final["questions"][0]["counts"]["o2"] == 3
        seqs = [f["seq"] for f in feed.of(poll_id, "snapshot", "tally")]
        assert seqs == sorted(set(seqs)), seqs
        await feed.close()
    finally:
        api1.close()


async def test_a_malformed_relay_message_is_ignored(tmp_path: Path) -> None:
    """Whatever else lands on a poll's channel is dropped with a warning; the relay goes on."""
    import redis.asyncio as aioredis
    async with two_brokers(tmp_path) as (redis, watcher, writer, seen, _):
        await eventually(lambda: _up(watcher))
        watcher.watch("p1")
        await watcher.subscribed("p1")
        client = aioredis.from_url(redis_proc.url(redis.port))
        try:
            for raw in (b"not json", b"[1, 2]", b'{"p": "p1"}', b'{"o": "x", "p": "p1", "e": 5}',
                        b'{"o": "x", "p": 7, "e": {"type": "tally"}}', b"\xff\xfe"):
                await client.publish(watcher.channel("p1"), raw)
        finally:
            await client.aclose()
        writer.relay("p1", {"type": "tally", "seq": 1})
        await eventually(lambda: _heard(seen, "p1"))
        assert seen.events == [("p1", {"type": "tally", "seq": 1})]
        assert watcher.connected
