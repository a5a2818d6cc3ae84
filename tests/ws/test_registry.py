"""The subscription registry and the per-connection outbox, without sockets."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from tests.client import eventually
from tests.storage import contract
from voting.errors import PollClosed
from voting.metrics import Metrics
from voting.storage.sqlite import SQLiteStorage
from voting.ws.broker import InProcessBroker
from voting.ws.outbox import Outbox
from voting.ws.registry import UNHEARD_FOR, Registry


class FakeSubscriber:
    """Records what its outbox sends; `gate` blocks the writer like a client that stopped
    reading."""

    def __init__(self, max_pending: int = 100, metrics: Metrics | None = None) -> None:
        self.sent: list[dict[str, Any]] = []
        self.overflowed = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.outbox = Outbox(self._send, self._overflow, max_pending, metrics)
        self.outbox.start()

    async def _send(self, payload: str) -> None:
        await self.gate.wait()
        self.sent.append(json.loads(payload))

    def _overflow(self) -> None:
        self.overflowed += 1

    async def close(self) -> None:
        self.outbox.close()
        await self.outbox.wait_closed()


class GatedStorage(SQLiteStorage):
    """get_tally waits until released, so a subscribe can be caught half way."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.reached = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()

    async def get_tally(self, poll_id: str, pos: str | None = None, fresh: bool = False) -> Any:
        self.reached.set()
        await self.release.wait()
        return await super().get_tally(poll_id, pos, fresh)


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[GatedStorage]:
    s = GatedStorage(str(tmp_path / "r.sqlite3"))
    await s.open()
    try:
        yield s
    finally:
        await s.close()


async def test_a_connection_closed_during_subscribe_leaves_no_subscription(
        storage: GatedStorage) -> None:
    metrics = Metrics()
    registry = Registry(storage, InProcessBroker(), 0.05, 20, metrics)
    poll, _ = await contract.make_poll(storage)
    sub = FakeSubscriber()
    storage.release.clear()
    task = asyncio.get_running_loop().create_task(registry.subscribe(sub, poll.id, None))
    await asyncio.wait_for(storage.reached.wait(), 5)
    # The socket closes now: FeedSocket.on_close drops it and closes its outbox.
    registry.drop(sub)
    await sub.close()
    storage.release.set()
    await asyncio.wait_for(task, 5)
    assert registry.feeds == {}
    assert metrics.registry.get_sample_value("voting_ws_subscriptions") == 0
    await registry.close()


async def test_subscribe_snapshot_then_newer_tallies_only(storage: GatedStorage) -> None:
    registry = Registry(storage, InProcessBroker(), 0.01, 20, Metrics())
    poll, _ = await contract.make_poll(storage)
    await contract.cast(storage, poll, "v:1", {"q1": ["o1"]})
    sub = FakeSubscriber()
    await registry.subscribe(sub, poll.id, None)
    await contract.cast(storage, poll, "v:2", {"q1": ["o2"]})
    registry.on_event(poll.id, {"type": "changed"})

    async def got_tally() -> bool:
        return any(f["type"] == "tally" for f in sub.sent)

    await eventually(got_tally, timeout=5)
    # A change event without a change sends nothing (the seq did not grow).
    registry.on_event(poll.id, {"type": "changed"})
    async def flushed() -> bool:
        task = registry.feeds[poll.id].task
        return task is None or task.done()

    await eventually(flushed, timeout=5)
    assert [f["type"] for f in sub.sent] == ["snapshot", "tally"]
    assert [f["seq"] for f in sub.sent] == [1, 2]
    await sub.close()
    await registry.close()


async def test_outbox_replaces_pending_tallies_and_closes_past_its_bound() -> None:
    metrics = Metrics()
    sub = FakeSubscriber(max_pending=5, metrics=metrics)
    sub.gate.clear()  # the client stops reading
    sub.outbox.put("snapshot", json.dumps({"type": "snapshot", "seq": 0}))
    await eventually(lambda: asyncio.sleep(0, sub.outbox.pending == 0), timeout=5)  # in flight
    for seq in range(1, 50):
        sub.outbox.put("tally", json.dumps({"type": "tally", "seq": seq}), coalesce_key="p1")
        sub.outbox.put("tally", json.dumps({"type": "tally", "seq": seq, "poll": "p2"}),
                       coalesce_key="p2")
    assert sub.outbox.pending == 2 and sub.overflowed == 0
    assert metrics.registry.get_sample_value("voting_ws_frames_coalesced_total") == 96
    sub.gate.set()  # reading again: the newest of each, in order of their last update
    await eventually(lambda: asyncio.sleep(0, len(sub.sent) == 3), timeout=5)
    assert [(f["seq"], f.get("poll")) for f in sub.sent] == [(0, None), (49, None), (49, "p2")]
    sub.gate.clear()
    sub.outbox.put("pong", '{"type": "pong"}')
    await eventually(lambda: asyncio.sleep(0, sub.outbox.pending == 0), timeout=5)
    for _ in range(5):
        sub.outbox.put("pong", '{"type": "pong"}')
    assert sub.overflowed == 0 and not sub.outbox.closed
    sub.outbox.put("pong", '{"type": "pong"}')  # the sixth pending frame passes the bound
    assert sub.overflowed == 1 and sub.outbox.closed and sub.outbox.pending == 0
    assert metrics.registry.get_sample_value("voting_ws_frames_dropped_total") == 6
    sub.outbox.put("pong", '{"type": "pong"}')  # ignored once closed
    assert sub.overflowed == 1
    await sub.close()


async def test_status_frame_is_followed_by_a_tally_even_when_its_seq_was_seen(
        storage: GatedStorage) -> None:
    """A flush may read the closed poll before the status event arrives (another backend
    closed it): the tally after the status frame then repeats that seq, as §5 allows."""
    registry = Registry(storage, InProcessBroker(), 0.01, 20, Metrics())
    poll, _ = await contract.make_poll(storage, results="after_close")
    sub = FakeSubscriber()
    await registry.subscribe(sub, poll.id, None)
    await contract.cast(storage, poll, "v:1", {"q1": ["o1"]})
    change = await storage.set_status(poll.id, "closed", contract.domain.now_ms())
    assert change is not None
    registry.on_event(poll.id, {"type": "changed"})  # the flush sees the closed poll first
    await eventually(lambda: _has(sub, lambda f: f["type"] == "tally" and f["seq"] == change.seq))
    registry.on_event(poll.id, {"type": "status", "status": "closed", "seq": change.seq})
    await eventually(lambda: _has(sub, lambda f: f["type"] == "status"))
    after = await eventually(lambda: _after_status(sub))
    assert after["seq"] == change.seq and after["questions"][0]["counts"]["o1"] == 1
    seqs = [f["seq"] for f in sub.sent if f["type"] in ("snapshot", "tally")]
    assert seqs == sorted(seqs) and len(seqs) - len(set(seqs)) == 1  # exactly one repeat
    await registry.close()
    await sub.close()


async def _has(sub: FakeSubscriber, pred: Any) -> bool:
    return any(pred(f) for f in sub.sent)


async def _idle(registry: Registry, poll_id: str) -> bool:
    """The poll's feed has no flush running or pending."""
    task = registry.feeds[poll_id].task
    return task is None or task.done()


async def _after_status(sub: FakeSubscriber) -> Any:
    types = [f["type"] for f in sub.sent]
    if "status" not in types:
        return None
    later = [f for f in sub.sent[types.index("status") + 1:] if f["type"] == "tally"]
    return later[0] if later else None


class CountingStorage(SQLiteStorage):
    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.tally_reads = 0
        self.poll_reads = 0

    async def get_tally(self, poll_id: str, pos: str | None = None, fresh: bool = False) -> Any:
        self.tally_reads += 1
        return await super().get_tally(poll_id, pos, fresh)

    async def get_poll(self, poll_id: str, pos: str | None = None) -> Any:
        self.poll_reads += 1
        return await super().get_poll(poll_id, pos)


async def test_a_crowd_subscribing_costs_few_reads_and_all_converge(tmp_path: Path) -> None:
    storage = CountingStorage(str(tmp_path / "c.sqlite3"))
    await storage.open()
    registry = Registry(storage, InProcessBroker(), 0.05, 20, Metrics())
    subs = [FakeSubscriber() for _ in range(200)]
    try:
        poll, _ = await contract.make_poll(storage)
        await contract.cast(storage, poll, "v:0", {"q1": ["o2"]})
        await registry.subscribe(subs[0], poll.id, None)
        reads_before = storage.tally_reads + storage.poll_reads
        await asyncio.gather(*(registry.subscribe(s, poll.id, None) for s in subs[1:]))
        # 199 more subscribers: their snapshots came from the feed's newest tally.
        assert storage.tally_reads + storage.poll_reads - reads_before <= 5
        await contract.cast(storage, poll, "v:1", {"q1": ["o3"]})
        registry.on_event(poll.id, {"type": "changed"})
        for s in subs:
            await eventually(lambda s=s: _has(s, lambda f: f.get("total") == 2))
            seqs = [f["seq"] for f in s.sent if f["type"] in ("snapshot", "tally")]
            assert s.sent[0]["type"] == "snapshot" and seqs == sorted(set(seqs))
    finally:
        await registry.close()
        for s in subs:
            await s.close()
        await storage.close()


class PairedBroker(InProcessBroker):
    """Two of these relay to each other as Redis would: tallies and status, not "changed"."""

    def __init__(self) -> None:
        super().__init__()
        self.peer: "PairedBroker | None" = None
        self.relayed: list[dict[str, Any]] = []

    @property
    def relays_tallies(self) -> bool:
        return True

    async def publish(self, poll_id: str, event: dict[str, Any]) -> None:
        self._deliver(poll_id, event)
        if event.get("type") != "changed":
            self.relay(poll_id, event)

    def relay(self, poll_id: str, event: dict[str, Any]) -> None:
        self.relayed.append(event)
        peer = self.peer
        if peer is not None:
            asyncio.get_running_loop().call_soon(peer._deliver, poll_id, dict(event))


async def test_the_relay_carries_counts_so_watchers_elsewhere_do_not_read(tmp_path: Path) -> None:
    # Two backends on one database: the writer's storage and the watcher's (counted).
    db = str(tmp_path / "relay.sqlite3")
    storage = CountingStorage(db)
    await storage.open()
    writer_storage = SQLiteStorage(db)
    await writer_storage.open()
    writer_broker, watcher_broker = PairedBroker(), PairedBroker()
    writer_broker.peer, watcher_broker.peer = watcher_broker, writer_broker
    writer = Registry(writer_storage, writer_broker, 0.02, 20, Metrics())  # nobody watches here
    watcher = Registry(storage, watcher_broker, 0.02, 20, Metrics())
    sub = FakeSubscriber()

    try:
        poll, _ = await contract.make_poll(writer_storage)
        await watcher.subscribe(sub, poll.id, None)
        await eventually(lambda: _idle(watcher, poll.id))
        reads_after_subscribe = storage.tally_reads
        for i in range(1, 6):
            await contract.cast(writer_storage, poll, f"v:{i}", {"q1": ["o1"]})
            await writer_broker.publish(poll.id, {"type": "changed"})  # what the service does
        await eventually(lambda: _has(sub, lambda f: f["type"] == "tally" and f["total"] == 5))
        # The writer read the tally and relayed it; the watcher sent it on without a read.
        assert storage.tally_reads == reads_after_subscribe
        assert writer_broker.relayed and all(e["type"] == "tally" for e in writer_broker.relayed)
        last = [f for f in sub.sent if f["type"] == "tally"][-1]
        assert last["seq"] == 5 and last["questions"][0]["counts"]["o1"] == 5
        seqs = [f["seq"] for f in sub.sent if f["type"] in ("snapshot", "tally")]
        assert seqs == sorted(set(seqs))
        reads = storage.tally_reads
        # A relayed tally the watcher already has (an older or equal seq) sends nothing.
        watcher.on_event(poll.id, {"type": "tally", "seq": 3, "status": "open", "total": 3,
                                   "counts": {"o1": 3}})
        await eventually(lambda: _idle(watcher, poll.id))
        assert [f["seq"] for f in sub.sent][-1] == 5 and storage.tally_reads == reads
    finally:
        await writer.close()
        await watcher.close()
        await sub.close()
        await writer_storage.close()
        await storage.close()


async def test_a_large_audience_lengthens_the_interval_to_its_frames_bound(tmp_path: Path) -> None:
    storage = SQLiteStorage(str(tmp_path / "f.sqlite3"))
    await storage.open()
    # 0.1 s, at most 50 frames a second in all, 1 s at most.
    registry = Registry(storage, InProcessBroker(), 0.1, 20, Metrics(), 1.0, 50)
    subs = [FakeSubscriber() for _ in range(20)]
    try:
        poll, _ = await contract.make_poll(storage)
        for s in subs[:4]:
            await registry.subscribe(s, poll.id, None)
        feed = registry.feeds[poll.id]
        assert registry.feed_interval(feed) == 0.1  # 4 subscribers at 0.1 s: 40 frames a second
        for s in subs[4:]:
            await registry.subscribe(s, poll.id, None)
        assert registry.feed_interval(feed) == pytest.approx(20 / 50)  # 20 subscribers: 0.4 s
        for s in subs[10:]:
            registry.drop(s)
        assert registry.feed_interval(feed) == pytest.approx(10 / 50)
        unbounded = Registry(storage, InProcessBroker(), 0.1, 20, Metrics(), 1.0, 0)
        await unbounded.subscribe(subs[10], poll.id, None)
        assert unbounded.feed_interval(unbounded.feeds[poll.id]) == 0.1
        await unbounded.close()
        many = Registry(storage, InProcessBroker(), 0.1, 20, Metrics(), 0.3, 1)
        await many.subscribe(subs[11], poll.id, None)
        await many.subscribe(subs[12], poll.id, None)
        assert many.feed_interval(many.feeds[poll.id]) == 0.3  # never beyond max_tally_interval
        await many.close()
        # Frames keep coming at the lengthened pace, newest state last.
        await contract.cast(storage, poll, "v:1", {"q1": ["o1"]})
        registry.on_event(poll.id, {"type": "changed"})
        async def all_have_it() -> bool:
            return all([await _has(s, lambda f: f.get("total") == 1) for s in subs[:10]])
        await eventually(all_have_it)
    finally:
        await registry.close()
        for s in subs:
            await s.close()
        await storage.close()


async def test_polls_with_a_few_watchers_each_are_not_slowed_by_their_number(
        tmp_path: Path) -> None:
    """A campus: 20 polls with one watcher each is 20 subscriptions, but each poll sends a
    frame only when it changes; none is held to 20 / 50 s."""
    storage = SQLiteStorage(str(tmp_path / "f.sqlite3"))
    await storage.open()
    registry = Registry(storage, InProcessBroker(), 0.1, 20, Metrics(), 1.0, 50)
    subs = [FakeSubscriber() for _ in range(20)]
    try:
        polls = [(await contract.make_poll(storage))[0] for _ in range(20)]
        for s, poll in zip(subs, polls):
            await registry.subscribe(s, poll.id, None)
        assert registry.subscriptions == 20
        assert all(registry.feed_interval(f) == 0.1 for f in registry.feeds.values())
    finally:
        await registry.close()
        for s in subs:
            await s.close()
        await storage.close()


async def test_a_poll_read_for_its_subscribers_serves_their_ballots(tmp_path: Path) -> None:
    """One definitions cache per process: a campus of polls with a few watchers each costs no
    poll read per ballot (each poll gets few ballots per backend), and a closed poll is
    read again."""
    from voting.definitions import PollDefinitions
    from voting.service import PollService
    from voting.tokens import Signer
    storage = CountingStorage(str(tmp_path / "d.sqlite3"))
    await storage.open()
    definitions = PollDefinitions()
    broker = InProcessBroker()
    registry = Registry(storage, broker, 0.05, 20, Metrics(), definitions=definitions)
    signer = Signer("s" * 32)
    service = PollService(storage, broker, signer, Metrics(), 4, definitions)
    sub = FakeSubscriber()
    try:
        poll, _ = await contract.make_poll(storage)
        await registry.subscribe(sub, poll.id, None)
        reads = storage.poll_reads
        assert reads == 1
        token = signer.new_voter_token()
        reply = await service.cast_ballot(poll.id, {"choices": {"q1": ["o1"]}}, token, None, None)
        assert reply.status == 201 and storage.poll_reads == reads
        await storage.set_status(poll.id, "closed", contract.domain.now_ms())
        # Closed on another backend: still cached here as open ...
        assert definitions.open_poll(poll.id, contract.domain.now_ms()) is not None
        # ... until the service learns otherwise: the transaction refuses, the entry goes.
        other = signer.new_voter_token()
        with pytest.raises(PollClosed):
            await service.cast_ballot(poll.id, {"choices": {"q1": ["o2"]}}, other, None, None)
        assert definitions.open_poll(poll.id, contract.domain.now_ms()) is None
    finally:
        await registry.close()
        await sub.close()
        await storage.close()


class SlowToSubscribeBroker(PairedBroker):
    """A relay whose subscriptions take effect only when `confirm` is set; what is relayed
    before that does not arrive (Redis delivers only to channels already subscribed)."""

    def __init__(self) -> None:
        super().__init__()
        self.confirm = asyncio.Event()

    async def subscribed(self, poll_id: str) -> None:
        await self.confirm.wait()


async def test_a_new_feed_reads_again_once_its_relay_subscription_is_in_place(
        tmp_path: Path) -> None:
    storage = SQLiteStorage(str(tmp_path / "late.sqlite3"))
    await storage.open()
    broker = SlowToSubscribeBroker()
    registry = Registry(storage, broker, 0.02, 20, Metrics())
    sub = FakeSubscriber()

    try:
        poll, _ = await contract.make_poll(storage)
        await registry.subscribe(sub, poll.id, None)
        await eventually(lambda: _idle(registry, poll.id))
        # Another backend's ballot, relayed before this backend's subscription took effect:
        # lost on the way, as it would be on Redis.
        await contract.cast(storage, poll, "v:1", {"q1": ["o1"]})
        await eventually(lambda: _idle(registry, poll.id))
        assert [f["total"] for f in sub.sent] == [0]
        broker.confirm.set()
        await eventually(lambda: _has(sub, lambda f: f["total"] == 1))
        assert [(f["type"], f["seq"]) for f in sub.sent] == [("snapshot", 0), ("tally", 1)]
    finally:
        await registry.close()
        await sub.close()
        await storage.close()


async def _relayed(broker: PairedBroker, total: int) -> bool:
    return any(e.get("type") == "tally" and e.get("total") == total for e in broker.relayed)


async def _relay_idle(registry: Registry) -> bool:
    return not registry._relay_only


async def test_a_poll_nobody_watches_is_not_read_until_somebody_does(tmp_path: Path) -> None:
    """Its changes are kept back (no read, no relay) once a relayed tally reached nobody;
    an announced watcher elsewhere, a reconnect or a feed here gets them read and relayed."""
    storage = CountingStorage(str(tmp_path / "unheard.sqlite3"))
    await storage.open()
    broker = PairedBroker()  # no peer: what it relays reaches nobody
    metrics = Metrics()
    registry = Registry(storage, broker, 0.02, 20, metrics)
    sub = FakeSubscriber()

    async def ballot(n: int) -> None:
        await contract.cast(storage, poll, f"v:{n}", {"q1": ["o1"]})
        registry.on_event(poll.id, {"type": "changed"})  # what the service publishes
    try:
        poll, _ = await contract.make_poll(storage)
        await ballot(1)
        await eventually(lambda: _relayed(broker, 1))
        await eventually(lambda: _relay_idle(registry))
        registry.on_unheard(poll.id)  # the broker heard that the tally reached nobody
        reads = storage.tally_reads
        await ballot(2)
        await ballot(3)
        assert storage.tally_reads == reads and not registry._relay_only
        assert metrics.registry.get_sample_value("voting_relay_skipped_total") == 2
        # Somebody elsewhere watches now: what was kept back is read and relayed, once.
        registry.on_watching([poll.id])
        await eventually(lambda: _relayed(broker, 3))
        await eventually(lambda: _relay_idle(registry))
        assert storage.tally_reads == reads + 1
        registry.on_watching([poll.id])  # nothing kept back: nothing to read
        await ballot(4)  # relayed as usual until a relay reaches nobody again
        await eventually(lambda: _relayed(broker, 4))
        await eventually(lambda: _relay_idle(registry))

        # Nothing kept back since the last relay: an announcement costs no read.
        registry.on_unheard(poll.id)
        reads = storage.tally_reads
        registry.on_watching([poll.id])
        assert storage.tally_reads == reads and not registry._relay_only

        # Announcements may have been missed (a reconnect): kept-back changes are relayed.
        registry.on_unheard(poll.id)
        await ballot(5)
        registry.on_announcements_missed()
        await eventually(lambda: _relayed(broker, 5))
        await eventually(lambda: _relay_idle(registry))

        # A feed opened here relays on its first read what was kept back (a watcher elsewhere
        # may be waiting for it and announces nothing more).
        registry.on_unheard(poll.id)
        await ballot(6)
        relayed = len(broker.relayed)
        await registry.subscribe(sub, poll.id, None)
        await eventually(lambda: _relayed(broker, 6))
        assert len(broker.relayed) == relayed + 1
        assert not registry._unheard

        # "Nobody watches" is asked anew after a while: a watcher whose announcement never
        # came (an earlier version's backend) still gets the counts now and then.
        registry.unsubscribe(sub, poll.id)
        registry.on_unheard(poll.id)
        await ballot(7)
        assert not registry._relay_only
        registry._unheard[poll.id].since -= UNHEARD_FOR  # as if that long ago
        await ballot(8)
        await eventually(lambda: _relayed(broker, 8))
        await eventually(lambda: _relay_idle(registry))

        # A deleted poll is forgotten.
        registry.on_unheard(poll.id)
        registry.on_event(poll.id, {"type": "deleted"})
        assert not registry._unheard
    finally:
        await registry.close()
        await sub.close()
        await storage.close()


async def test_polls_remembered_as_unheard_are_bounded(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from voting.ws import registry as registry_module
    monkeypatch.setattr(registry_module, "MAX_UNHEARD", 3)
    storage = SQLiteStorage(str(tmp_path / "bound.sqlite3"))
    await storage.open()
    broker = PairedBroker()
    registry = Registry(storage, broker, 0.02, 20, Metrics())
    try:
        polls = [(await contract.make_poll(storage))[0] for _ in range(4)]
        for p in polls[:3]:
            registry.on_unheard(p.id)
        await contract.cast(storage, polls[0], "v:1", {"q1": ["o1"]})
        registry.on_event(polls[0].id, {"type": "changed"})  # kept back
        registry.on_unheard(polls[3].id)
        # The fourth made room by forgetting the others; the change kept back is relayed.
        assert list(registry._unheard) == [polls[3].id]
        await eventually(lambda: _relayed(broker, 1))
    finally:
        await registry.close()
        await storage.close()
