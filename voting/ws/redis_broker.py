"""Redis pub/sub relay between backends.

One subscriber task per process holds one pub/sub connection, subscribed to a
control channel and to the channel of each poll that has local subscribers.
Publishing goes through a queue drained by one publisher task, so a ballot never
waits on Redis. The relay carries counts, not change notices: a ballot's
"changed" event stays in its backend, whose registry reads the poll's tally (at
most once per interval) and relays it, so the other backends send it on without
reading the database; a burst of tallies for one poll goes out as the newest.
When Redis is unreachable, ballots go on; the registry polls tallies instead,
and after the reconnect every watched poll is re-read (a fresh snapshot).

A poll nobody watches anywhere is not read to be relayed: PUBLISH answers how
many subscribers got a tally, and when that is none the registry stops relaying
the poll's changes. A backend that starts watching a poll announces it on the
control channel once Redis has confirmed its subscription, and a backend that
kept changes back reads and relays them then. A change between the confirmation
and the announcement's arrival is among those kept back; one before the
confirmation is in the watcher's own read once subscribed (the registry's).
Whenever announcements may have been missed (until the control channel's
subscription is confirmed, on every connection, or after a silence) everything
kept back is relayed.
"""
from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from voting.config import BrokerConfig
from voting.metrics import Metrics
from voting.ws.broker import Broker

log = logging.getLogger(__name__)

BACKOFF_START, BACKOFF_MAX = 0.2, 3.0
# Each backend publishes a beacon on the control channel every BEACON_EVERY seconds and
# hears the others' (and its own); silence for STALE_AFTER means the relay is stuck (a hung
# Redis or a half-open connection), which a blocked read alone would never notice.
BEACON_EVERY, STALE_AFTER = 1.0, 3.5
CONFIRM_WAIT = 2.0  # seconds subscribed() waits for Redis to confirm a subscription at most


class RedisBroker(Broker):
    def __init__(self, cfg: BrokerConfig, name: str, metrics: Metrics | None = None) -> None:
        super().__init__()
        self.url = cfg.redis_url
        self.password = cfg.redis_password or None
        self.prefix = cfg.channel_prefix
        self.origin = f"{name}:{os.getpid()}:{secrets.token_hex(4)}"
        self.metrics = metrics
        self._watched: set[str] = set()
        # Polls whose subscription Redis has confirmed on the current connection, and who
        # waits for that (subscribed()).
        self._confirmed: set[str] = set()
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._connected = False
        self._pubsub: Any = None
        self._commands: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._outgoing: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._client: aioredis.Redis | None = None
        self._last_heard = 0.0
        # Announcements of other backends' new subscriptions heard so far, and the times
        # some may have been missed: a PUBLISH that reached nobody says nobody watches only
        # if none of these crossed it.
        self._announcements = 0

    def _new_client(self, decode: bool = True) -> aioredis.Redis:
        return aioredis.from_url(self.url, password=self.password, socket_connect_timeout=2,
                                 socket_timeout=None, health_check_interval=0,
                                 decode_responses=decode)

    def channel(self, poll_id: str) -> str:
        return f"{self.prefix}:poll:{poll_id}"

    @property
    def control_channel(self) -> str:
        return f"{self.prefix}:control"

    @property
    def relays_tallies(self) -> bool:
        return True

    @property
    def connected(self) -> bool:
        return self._connected and time.monotonic() - self._last_heard < STALE_AFTER

    def _set_connected(self, value: bool) -> None:
        if value != self._connected:
            log.warning("redis relay %s", "connected" if value else "lost; polling tallies")
        self._connected = value
        if self.metrics is not None:
            self.metrics.broker_connected.set(1 if value else 0)

    async def start(self) -> None:
        self._client = self._new_client()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._subscriber()), loop.create_task(self._publisher()),
                       loop.create_task(self._beacon())]

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    async def ping(self) -> dict[str, Any]:
        assert self._client is not None
        async with asyncio.timeout(2.0):
            await self._client.ping()
        return {"broker": "redis", "relay_connected": self._connected}

    # --- publishing ------------------------------------------------------
    async def publish(self, poll_id: str, event: dict[str, Any]) -> None:
        self._deliver(poll_id, event)
        if event.get("type") != "changed":  # the registry relays the tally it reads instead
            self._outgoing.put_nowait((poll_id, event))

    def relay(self, poll_id: str, event: dict[str, Any]) -> None:
        self._outgoing.put_nowait((poll_id, event))

    async def _publisher(self) -> None:
        while True:
            batch = [await self._outgoing.get()]
            while not self._outgoing.empty():
                batch.append(self._outgoing.get_nowait())
            if not self._connected:
                # The others are polling, nothing to repair later; announcements are made
                # anew when the subscriptions are confirmed on the next connection.
                continue
            watching = sorted({p for p, e in batch if e.get("type") == "watching"})
            # Per poll one "changed" and only the newest tally; other events all, in order.
            newest: dict[tuple[str, str], int] = {}
            for i, (poll_id, event) in enumerate(batch):
                kind = event.get("type")
                if kind in ("changed", "tally"):
                    key = (poll_id, str(kind))
                    j = newest.get(key)
                    if j is None or kind == "changed" or \
                            int(event.get("seq", 0)) >= int(batch[j][1].get("seq", 0)):
                        newest[key] = i
            keep = set(newest.values())
            now = time.time()
            # (channel, payload, the poll when it is a tally: who heard it matters)
            messages = [(self.channel(poll_id), orjson.dumps(
                {"o": self.origin, "t": now, "p": poll_id, "e": event}),
                poll_id if event.get("type") == "tally" else None)
                for i, (poll_id, event) in enumerate(batch)
                if event.get("type") not in ("changed", "tally", "watching") or i in keep]
            if watching:
                messages.append((self.control_channel,
                                 orjson.dumps({"o": self.origin, "watching": watching}), None))
            announcements = self._announcements
            try:
                assert self._client is not None
                async with self._client.pipeline(transaction=False) as pipe:
                    for channel, payload, _ in messages:
                        pipe.publish(channel, payload)
                    # asyncio.timeout, never wait_for, in tasks that get cancelled: on Python
                    # 3.11 wait_for swallows a cancel that lands as the call completes, and
                    # close() then waits for this task forever (seen with a SIGCONTed Redis).
                    async with asyncio.timeout(2.0):
                        receivers = await pipe.execute()
            except (RedisError, OSError, asyncio.TimeoutError) as exc:
                log.warning("publish to redis failed: %s", exc)
                if watching:  # a backend keeping changes back waits for these: try again
                    for poll_id in watching:
                        if poll_id in self._confirmed:
                            self._outgoing.put_nowait((poll_id, {"type": "watching"}))
                    await asyncio.sleep(BACKOFF_START)
                continue
            if self._announcements != announcements:
                continue  # a backend may have started watching one of these meanwhile
            for (_, _, tallied), heard in zip(messages, receivers):
                # Polls watched here are heard by this process's own subscription.
                if tallied is not None and heard == 0 and tallied not in self._watched:
                    self._unheard(tallied)

    async def _beacon(self) -> None:
        payload = orjson.dumps({"o": self.origin, "beacon": True})
        while True:
            await asyncio.sleep(BEACON_EVERY)
            if not self._connected or self._client is None:
                continue
            try:
                async with asyncio.timeout(1.0):
                    await self._client.publish(self.control_channel, payload)
            except (RedisError, OSError, asyncio.TimeoutError) as exc:
                log.warning("redis beacon failed: %s", exc)
            if self.metrics is not None:
                self.metrics.broker_connected.set(1 if self.connected else 0)

    # --- subscribing -----------------------------------------------------
    def watch(self, poll_id: str) -> None:
        if poll_id not in self._watched:
            self._watched.add(poll_id)
            self._commands.put_nowait(("subscribe", poll_id))

    def unwatch(self, poll_id: str) -> None:
        if poll_id in self._watched:
            self._watched.discard(poll_id)
            self._confirmed.discard(poll_id)
            self._wake(poll_id)  # nobody here needs it any more
            self._commands.put_nowait(("unsubscribe", poll_id))

    async def subscribed(self, poll_id: str) -> None:
        if poll_id in self._confirmed or poll_id not in self._watched or not self.connected:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(poll_id, []).append(waiter)
        try:
            async with asyncio.timeout(CONFIRM_WAIT):
                await waiter
        except TimeoutError:
            log.warning("redis did not confirm the subscription to %s in time", poll_id)
        finally:
            waiters = self._waiters.get(poll_id, [])
            if waiter in waiters:
                waiters.remove(waiter)
            if not waiters:
                self._waiters.pop(poll_id, None)

    def _on_subscribed(self, channel: str) -> None:
        if channel == self.control_channel:
            # Announcements reach us from now on; any made before may have been missed.
            self._may_have_missed_announcements()
            return
        prefix = self.channel("")
        if not channel.startswith(prefix):
            return
        poll_id = channel[len(prefix):]
        if poll_id in self._watched:
            self._confirmed.add(poll_id)
            self._outgoing.put_nowait((poll_id, {"type": "watching"}))
        self._wake(poll_id)

    def _wake(self, poll_id: str) -> None:
        for waiter in self._waiters.pop(poll_id, []):
            if not waiter.done():
                waiter.set_result(None)

    async def _apply_commands(self, pubsub: Any) -> None:
        while True:
            action, poll_id = await self._commands.get()
            # The watched set is the truth; a stale command is skipped.
            if action == "subscribe" and poll_id in self._watched:
                await pubsub.subscribe(self.channel(poll_id))
            elif action == "unsubscribe" and poll_id not in self._watched:
                await pubsub.unsubscribe(self.channel(poll_id))

    async def _subscriber(self) -> None:
        backoff = BACKOFF_START
        first = True
        while True:
            # Messages stay bytes: one that is not UTF-8 is then a malformed message dropped
            # by _on_message, not a decoding error that takes the subscription down.
            client = self._new_client(decode=False)
            pubsub = client.pubsub()
            commands: asyncio.Task[None] | None = None
            try:
                while not self._commands.empty():
                    self._commands.get_nowait()
                await pubsub.subscribe(self.control_channel,
                                       *[self.channel(p) for p in self._watched])
                commands = asyncio.get_running_loop().create_task(self._apply_commands(pubsub))
                self._last_heard = time.monotonic()
                self._set_connected(True)
                backoff = BACKOFF_START
                if not first and self._listener is not None:
                    self._listener.on_resync()
                first = False
                async for message in pubsub.listen():
                    kind = message.get("type")
                    if kind == "message":
                        self._on_message(message["data"])
                    elif kind == "subscribe":
                        self._on_subscribed(message["channel"].decode())
                raise ConnectionError("pub/sub ended")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._connected:
                    log.warning("redis subscriber lost: %s", exc)
                self._set_connected(False)
                first = False
                # Nothing is confirmed on the next connection until Redis says so; meanwhile
                # the registry reads for itself, so nobody needs to wait.
                self._confirmed.clear()
                for poll_id in list(self._waiters):
                    self._wake(poll_id)
            finally:
                if commands is not None:
                    commands.cancel()
                    await asyncio.gather(commands, return_exceptions=True)
                try:
                    async with asyncio.timeout(1.0):
                        await pubsub.aclose()
                    async with asyncio.timeout(1.0):
                        await client.aclose()
                except Exception:  # the connection is already gone
                    pass
            await asyncio.sleep(backoff)
            backoff = min(BACKOFF_MAX, backoff * 2)

    def _may_have_missed_announcements(self) -> None:
        self._announcements += 1
        self._announcements_missed()

    def _on_watching(self, msg: dict[str, Any]) -> None:
        poll_ids = msg["watching"]
        if msg.get("o") == self.origin:
            return  # a feed here relays its own polls' changes
        if not isinstance(poll_ids, list) or not all(isinstance(p, str) for p in poll_ids):
            raise TypeError("watching: not a list of poll ids")
        self._announcements += 1
        self._watching(poll_ids)

    def _on_message(self, data: bytes) -> None:
        now = time.monotonic()
        was_stale = self._connected and now - self._last_heard >= STALE_AFTER
        self._last_heard = now
        if was_stale and self._listener is not None:
            log.warning("redis relay heard again after a silence; re-reading watched polls")
            self._listener.on_resync()
            self._may_have_missed_announcements()
        try:
            msg = orjson.loads(data)
            if msg.get("beacon"):
                return
            if "watching" in msg:
                self._on_watching(msg)
                return
            poll_id, event = msg["p"], msg["e"]
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("ignoring a malformed relay message")
            return
        if msg.get("o") == self.origin:
            return  # delivered locally when it was published
        if self.metrics is not None and isinstance(msg.get("t"), (int, float)):
            self.metrics.relay_delay.observe(max(0.0, time.time() - msg["t"]))
        if isinstance(poll_id, str) and isinstance(event, dict):
            if event.get("type") == "changed":
                event["local"] = False  # read it here: its writer could not relay the counts
            self._deliver(poll_id, event)
