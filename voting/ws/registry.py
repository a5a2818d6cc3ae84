"""This process's live feeds: who is subscribed to which poll, and coalesced tallies.

Per poll, at most one tally read per interval however many ballots arrive and
however many sockets listen; each socket gets a frame only when the seq it last
saw is lower, so seq strictly grows on every connection. A broadcast encodes its
frame once and writes the same bytes to every socket that keeps up.

Between backends the relay carries the counts: the backend that wrote a ballot
reads its poll's tally (once per interval, however many ballots) and publishes
it; the others send it on without reading the database themselves. While the
relay is down every backend reads for itself (the watchdog below). A poll that
nobody watches anywhere (its last relayed tally reached nobody) is neither read
nor relayed until someone starts watching it (see the Redis broker), or for
UNHEARD_FOR seconds at most.

The interval in force comes from the pacer (voting/ws/pacer.py): lengthened under
load rather than falling behind.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from voting.definitions import PollDefinitions
from voting.domain import Poll, Tally, is_admin, now_ms, results_visible
from voting.errors import DomainError
from voting.metrics import Metrics
from voting.storage.base import Storage
from voting.ws.broker import Broker
from voting.ws.outbox import Frame, Outbox
from voting.ws.pacer import Pacer

log = logging.getLogger(__name__)

MAX_UNHEARD = 10_000  # polls remembered as watched by nobody
# Seconds a poll stays "watched by nobody" before its next change is read and relayed again
# (and the answer asked anew): a watcher whose announcement never came (a backend of an
# earlier version, during a rolling upgrade) still gets the counts this often.
UNHEARD_FOR = 5.0
SNAPSHOT_MAX_AGE = 1.0  # seconds; a newer tally follows at once anyway (the poll is marked dirty)


class Subscriber(Protocol):
    outbox: Outbox


class SubscribeError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Subscription:
    subscriber: Subscriber
    admin: bool
    last_seq: int = -1
    # After a status frame the next tally may repeat its seq (DESIGN §5), so a client
    # always sees the counts (or their absence) that go with the new status.
    repeat_seq: int | None = None


@dataclass
class RelayOnly:
    """A poll written here that nobody here watches: its tally is read only to relay it."""
    dirty: bool = True
    last_read: float = 0.0
    task: asyncio.Task[None] | None = None


@dataclass
class Unheard:
    """A poll written here whose last relayed tally reached nobody."""
    since: float
    kept: bool = False  # a change has been kept back since: read and relay it when watched


@dataclass
class PollFeed:
    poll: Poll
    subs: dict[int, Subscription] = field(default_factory=dict)
    dirty: bool = False  # changed: the next flush reads the tally
    local: bool = False  # ... and the change was written here: the read is relayed
    fresh: bool = False  # a newer tally came through the relay: send it, no read
    resync: bool = False  # the relay was down: the next frame is a fresh snapshot
    task: asyncio.Task[None] | None = None
    last_read: float = 0.0
    # The newest tally read for this poll, reused as the snapshot of new subscribers
    # so a crowd joining at once costs no crowd of database reads.
    last_tally: Tally | None = None
    last_tally_at: float = 0.0

    def recent_tally(self, max_age: float) -> Tally | None:
        if self.last_tally is not None and time.monotonic() - self.last_tally_at <= max_age:
            return self.last_tally
        return None

    def remember(self, tally: Tally) -> None:
        if self.last_tally is None or tally.seq >= self.last_tally.seq:
            self.last_tally, self.last_tally_at = tally, time.monotonic()


def tally_frame(frame_type: str, poll: Poll, tally: Tally, with_counts: bool) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": frame_type, "poll": poll.id, "seq": tally.seq,
                             "status": tally.status, "total": tally.total}
    if with_counts:
        frame["questions"] = tally.to_json(poll)["questions"]
    return frame


def dumps(frame: dict[str, Any]) -> str:
    # orjson: a tenth of the standard library's time for the same compact UTF-8 text, on
    # every frame of every feed (docs/benchmarks-history.md, 2026-12-05). Frames' keys are
    # strings.
    return orjson.dumps(frame).decode("utf-8")


class Registry:
    def __init__(self, storage: Storage, broker: Broker, tally_interval: float,
                 max_subscriptions: int, metrics: Metrics,
                 max_interval: float | None = None, max_frames_per_second: int = 0,
                 definitions: PollDefinitions | None = None) -> None:
        self.storage = storage
        self.broker = broker
        self.pacer = Pacer(tally_interval, max_interval if max_interval is not None
                           else max(1.0, tally_interval),
                           max_frames_per_second=max_frames_per_second)
        self.max_subscriptions = max_subscriptions
        self.definitions = definitions if definitions is not None else PollDefinitions()
        self.subscriptions = 0
        self.metrics = metrics
        self._interval_shown = self.pacer.interval
        metrics.ws_tally_interval.set(self._interval_shown)
        self.feeds: dict[str, PollFeed] = {}
        self._relay_only: dict[str, RelayOnly] = {}
        # Polls written here whose last relayed tally reached nobody.
        self._unheard: dict[str, Unheard] = {}
        self._by_subscriber: dict[int, set[str]] = {}
        self._watchdog: asyncio.Task[None] | None = None
        self._confirming: set[asyncio.Task[None]] = set()
        broker.set_listener(self)

    @property
    def interval(self) -> float:
        """The tally interval in force for polls nobody here watches (relayed only)."""
        return self.pacer.interval

    def feed_interval(self, feed: PollFeed) -> float:
        return self.pacer.interval_for(len(feed.subs))

    def _count(self, delta: int) -> None:
        self.subscriptions += delta
        if delta > 0:
            self.metrics.ws_subscriptions.inc(delta)
        else:
            self.metrics.ws_subscriptions.dec(-delta)

    # --- lifecycle -------------------------------------------------------
    def start(self) -> None:
        self._watchdog = asyncio.get_running_loop().create_task(self._watch_broker())

    async def close(self) -> None:
        tasks = [f.task for f in self.feeds.values() if f.task is not None]
        tasks += [r.task for r in self._relay_only.values() if r.task is not None]
        tasks += list(self._confirming)
        if self._watchdog is not None:
            tasks.append(self._watchdog)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _watch_broker(self) -> None:
        # While the relay is down other backends' ballots reach us by polling instead.
        while True:
            await asyncio.sleep(1.0)
            if not self.broker.connected:
                for poll_id in list(self.feeds):
                    self._mark_dirty(poll_id)

    # --- subscriptions ---------------------------------------------------
    async def subscribe(self, sub: Subscriber, poll_id: str, admin_token: str | None) -> None:
        key = id(sub)
        mine = self._by_subscriber.setdefault(key, set())
        if poll_id not in mine and len(mine) >= self.max_subscriptions:
            raise SubscribeError("too_many_subscriptions",
                                 f"At most {self.max_subscriptions} subscriptions per connection.")
        watched = self.feeds.get(poll_id)
        # Every frame of this poll came from a tally the feed remembers (it keeps the
        # highest seq), so this snapshot never goes back behind what a socket saw.
        tally = watched.recent_tally(SNAPSHOT_MAX_AGE) if watched is not None else None
        try:
            poll = watched.poll if watched is not None else await self._poll(poll_id)
            if poll is None:
                raise SubscribeError("poll_not_found", "No poll with this id.")
            admin = False
            if admin_token is not None:
                if not isinstance(admin_token, str) or not is_admin(poll, admin_token):
                    raise SubscribeError("forbidden", "The admin token is not valid for this poll.")
                admin = True
            if tally is None:
                tally = await self.storage.get_tally(poll_id, fresh=True)
        except DomainError as exc:
            raise SubscribeError(exc.code, exc.message) from None
        if tally is None:
            raise SubscribeError("poll_not_found", "No poll with this id.")
        if sub.outbox.closed:  # the connection went away while we read: drop() has run already
            return
        feed = self.feeds.get(poll_id)
        if feed is None:
            feed = self.feeds[poll_id] = PollFeed(poll)
            # A change kept back may be awaited elsewhere: a watcher's announcement finds
            # nothing kept back from now on.
            unheard = self._unheard.pop(poll_id, None)
            feed.local = unheard is not None and unheard.kept
            self.broker.watch(poll_id)
            if self.broker.relays_tallies:
                self._read_once_subscribed(poll_id, feed)
        feed.remember(tally)
        if key not in feed.subs:
            self._count(1)
        subscription = Subscription(sub, admin, tally.seq)
        feed.subs[key] = subscription
        mine.add(poll_id)
        visible = results_visible(poll, admin, tally.status)
        sub.outbox.put("snapshot", dumps(tally_frame("snapshot", poll, tally, visible)))
        # A change read by a flush that ran while we read the snapshot must still reach us.
        self._mark_dirty(poll_id)

    def _read_once_subscribed(self, poll_id: str, feed: PollFeed) -> None:
        """A ballot written elsewhere after the snapshot's read, whose tally the relay carried
        before it had our subscription, would reach this feed with the next change only (a
        quiet poll: never): so the feed reads once more when the subscription is in place."""
        async def confirm() -> None:
            await self.broker.subscribed(poll_id)
            if self.feeds.get(poll_id) is feed:
                self._mark_dirty(poll_id)

        task = asyncio.get_running_loop().create_task(confirm())
        self._confirming.add(task)
        task.add_done_callback(self._confirming.discard)

    async def _poll(self, poll_id: str) -> Poll | None:
        """From the definitions cache when open there (the snapshot's tally, read after,
        tells whether it still exists), else from storage and then cached for its ballots."""
        poll = self.definitions.open_poll(poll_id, now_ms())
        if poll is None:
            poll = await self.storage.get_poll(poll_id)
            if poll is not None:
                self.definitions.remember(poll)
        return poll

    def unsubscribe(self, sub: Subscriber, poll_id: str) -> bool:
        key = id(sub)
        feed = self.feeds.get(poll_id)
        self._by_subscriber.get(key, set()).discard(poll_id)
        if feed is None or feed.subs.pop(key, None) is None:
            return False
        self._count(-1)
        if not feed.subs:
            self._drop_feed(poll_id)
        return True

    def drop(self, sub: Subscriber) -> None:
        for poll_id in list(self._by_subscriber.pop(id(sub), set())):
            feed = self.feeds.get(poll_id)
            if feed is not None and feed.subs.pop(id(sub), None) is not None:
                self._count(-1)
                if not feed.subs:
                    self._drop_feed(poll_id)

    def _drop_feed(self, poll_id: str) -> None:
        feed = self.feeds.pop(poll_id, None)
        if feed is not None and feed.task is not None:
            feed.task.cancel()
        self.broker.unwatch(poll_id)

    # --- events ----------------------------------------------------------
    def on_event(self, poll_id: str, event: dict[str, Any]) -> None:
        kind = event.get("type")
        feed = self.feeds.get(poll_id)
        if kind == "tally":  # counts relayed by the backend that wrote them
            if feed is not None:
                self._relayed_tally(poll_id, feed, event)
            return
        if kind == "changed" and event.get("local", True) and self.broker.relays_tallies:
            # Written here: whoever watches elsewhere gets the counts from us.
            if feed is not None:
                feed.local = True
            elif self._keep_back(poll_id):
                self.metrics.relay_skipped.inc()
            else:
                self._relay_later(poll_id)
        if kind == "deleted":
            self._unheard.pop(poll_id, None)
        if feed is None:
            return
        if kind == "deleted":
            frame = dumps({"type": "deleted", "poll": poll_id})
            for key, s in list(feed.subs.items()):
                s.subscriber.outbox.put("deleted", frame)
                self._by_subscriber.get(key, set()).discard(poll_id)
                self._count(-1)
            feed.subs.clear()
            self._drop_feed(poll_id)
            return
        if kind == "status":
            frame = dumps({"type": "status", "poll": poll_id, "status": event["status"],
                           "seq": int(event["seq"])})
            for s in feed.subs.values():
                s.subscriber.outbox.put("status", frame)
                s.repeat_seq = int(event["seq"])
        self._mark_dirty(poll_id)

    def on_resync(self) -> None:
        for poll_id, feed in list(self.feeds.items()):
            feed.resync = True
            self._mark_dirty(poll_id)

    def on_unheard(self, poll_id: str) -> None:
        if poll_id in self.feeds:
            return
        if len(self._unheard) >= MAX_UNHEARD:  # a bound on memory: relay what was kept back
            self.on_announcements_missed()
        self._unheard.setdefault(poll_id, Unheard(time.monotonic()))

    def _keep_back(self, poll_id: str) -> bool:
        """Whether a change written here is kept back (not read, not relayed)."""
        unheard = self._unheard.get(poll_id)
        if unheard is None:
            return False
        if time.monotonic() - unheard.since >= UNHEARD_FOR:
            del self._unheard[poll_id]  # relayed now: the relay says whether anyone hears
            return False
        unheard.kept = True
        return True

    def on_watching(self, poll_ids: list[str]) -> None:
        for poll_id in poll_ids:
            unheard = self._unheard.pop(poll_id, None)
            if unheard is not None and unheard.kept:
                self._relay_later(poll_id)

    def on_announcements_missed(self) -> None:
        self.on_watching(list(self._unheard))

    def _relayed_tally(self, poll_id: str, feed: PollFeed, event: dict[str, Any]) -> None:
        try:
            tally = Tally.from_relay(poll_id, event)
        except (KeyError, TypeError, ValueError):
            log.warning("ignoring a malformed relayed tally for %s", poll_id)
            return
        if feed.last_tally is not None and tally.seq <= feed.last_tally.seq:
            return  # we have read or heard this one already
        feed.remember(tally)
        feed.fresh = True
        self._schedule(poll_id, feed)

    def _relay_later(self, poll_id: str) -> None:
        state = self._relay_only.get(poll_id)
        if state is None:
            state = self._relay_only[poll_id] = RelayOnly()
        state.dirty = True
        if state.task is None or state.task.done():
            state.task = asyncio.get_running_loop().create_task(self._relay_flush(poll_id, state))

    async def _relay_flush(self, poll_id: str, state: RelayOnly) -> None:
        try:
            while state.dirty:
                wait = state.last_read + self.interval - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if poll_id in self.feeds:  # someone here subscribed meanwhile: the feed relays
                    self.feeds[poll_id].local = True
                    self._mark_dirty(poll_id)
                    return
                state.dirty = False
                state.last_read = time.monotonic()
                try:
                    tally = await self.storage.get_tally(poll_id, fresh=True)
                except Exception as exc:  # then the others read for themselves
                    log.warning("tally read for %s failed: %s", poll_id, exc)
                    self.broker.relay(poll_id, {"type": "changed"})
                    return
                if tally is not None:
                    self._relay(tally)
        finally:
            if self._relay_only.get(poll_id) is state and not state.dirty:
                del self._relay_only[poll_id]

    def _relay(self, tally: Tally) -> None:
        # Rankings included: a ranked question's runoff is computed where the frame is made.
        self.broker.relay(tally.poll_id, {"type": "tally", **tally.relay_json()})

    def _mark_dirty(self, poll_id: str) -> None:
        feed = self.feeds.get(poll_id)
        if feed is None:
            return
        feed.dirty = True
        self._schedule(poll_id, feed)

    def _schedule(self, poll_id: str, feed: PollFeed) -> None:
        if feed.task is None or feed.task.done():
            feed.task = asyncio.get_running_loop().create_task(self._flush(poll_id, feed))

    async def _flush(self, poll_id: str, feed: PollFeed) -> None:
        while (feed.dirty or feed.fresh) and self.feeds.get(poll_id) is feed:
            due = feed.last_read + self.feed_interval(feed)
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                self.pacer.late(time.monotonic() - due)
            feed.last_read = time.monotonic()
            if not feed.dirty:  # only relayed news: send the newest tally heard
                feed.fresh = False
                if feed.last_tally is not None:
                    self._send_tally(feed, feed.last_tally)
                continue
            relay, feed.dirty, feed.local, feed.fresh = feed.local, False, False, False
            try:
                tally = await self.storage.get_tally(poll_id, fresh=True)
            except Exception as exc:  # storage down: keep the poll dirty and try again shortly
                log.warning("tally read for %s failed: %s", poll_id, exc)
                feed.dirty = True
                feed.local = feed.local or relay
                await asyncio.sleep(1.0)
                continue
            if tally is None:
                self.on_event(poll_id, {"type": "deleted"})
                return
            feed.remember(tally)
            if relay:
                self._relay(tally)
            self._send_tally(feed, feed.last_tally or tally)

    def _send_tally(self, feed: PollFeed, tally: Tally) -> None:
        started = time.perf_counter()
        frame_type = "snapshot" if feed.resync else "tally"
        feed.resync = False
        frames: dict[bool, Frame] = {}
        poll_id = feed.poll.id
        seq = tally.seq
        sent = 0
        for s in feed.subs.values():
            if not (seq > s.last_seq or seq == s.last_seq == s.repeat_seq):
                continue  # nothing missed: seq only grows on a connection
            visible = results_visible(feed.poll, s.admin, tally.status)
            frame = frames.get(visible)
            if frame is None:
                frame = frames[visible] = Frame(
                    dumps(tally_frame(frame_type, feed.poll, tally, visible)))
            s.last_seq = seq
            s.repeat_seq = None
            if s.subscriber.outbox.put(frame_type, frame, coalesce_key=poll_id, count=False):
                sent += 1
        if sent:
            self.metrics.child(self.metrics.ws_frames_sent, frame_type).inc(sent)
        self.pacer.spent(time.perf_counter() - started, sent)
        interval = self.pacer.interval
        if interval != self._interval_shown:
            self._interval_shown = interval
            self.metrics.ws_tally_interval.set(interval)
