"""The event bus between the service (publishing after commit) and live feeds.

Events are small dicts: {"type": "changed"} when counters moved,
{"type": "status", "status", "seq"} on close/reopen, {"type": "deleted"}.
A broker delivers every event to this process's listener at once and, in a
cluster, to the other backends.
"""
from __future__ import annotations

import abc
from typing import Any, Protocol


class BrokerListener(Protocol):
    def on_event(self, poll_id: str, event: dict[str, Any]) -> None: ...

    def on_resync(self) -> None:
        """Events may have been missed (the relay was down): re-read every watched poll."""

    def on_unheard(self, poll_id: str) -> None:
        """A tally relayed for poll_id, which nobody here watches, reached no other process:
        nobody watches it anywhere, so its next changes need not be read to be relayed."""

    def on_watching(self, poll_ids: list[str]) -> None:
        """Another process now gets every tally relayed for poll_ids (its relay confirmed
        the subscriptions): a change here that was not relayed must be now."""

    def on_announcements_missed(self) -> None:
        """on_watching may have been missed (this process was not listening): relay every
        change kept back."""


class Broker(abc.ABC):
    def __init__(self) -> None:
        self._listener: BrokerListener | None = None

    def set_listener(self, listener: BrokerListener) -> None:
        self._listener = listener

    @property
    def connected(self) -> bool:
        return True

    @property
    def relays_tallies(self) -> bool:
        """Other processes get tallies through relay(): a local change must be read and relayed."""
        return False

    def relay(self, poll_id: str, event: dict[str, Any]) -> None:
        """Send an event to the other processes only (a tally read after a local change)."""

    async def start(self) -> None:
        """Start background work (the Redis subscriber task)."""

    async def close(self) -> None:
        """Stop background work and close connections."""

    @abc.abstractmethod
    async def publish(self, poll_id: str, event: dict[str, Any]) -> None:
        """Deliver locally and relay; never raises (a lost relay is repaired by resync)."""

    def watch(self, poll_id: str) -> None:
        """This process has subscribers for poll_id now."""

    def unwatch(self, poll_id: str) -> None:
        """This process has no subscribers for poll_id any more."""

    async def subscribed(self, poll_id: str) -> None:
        """Returns once every event of poll_id published from now on reaches this process: at
        once here; for a relay, when it has confirmed the subscription that watch() asked for
        (or cannot: while the relay is down the registry reads for itself)."""

    async def ping(self) -> dict[str, Any]:
        return {"broker": "memory"}

    def _deliver(self, poll_id: str, event: dict[str, Any]) -> None:
        if self._listener is not None:
            self._listener.on_event(poll_id, event)

    def _unheard(self, poll_id: str) -> None:
        if self._listener is not None:
            self._listener.on_unheard(poll_id)

    def _watching(self, poll_ids: list[str]) -> None:
        if self._listener is not None:
            self._listener.on_watching(poll_ids)

    def _announcements_missed(self) -> None:
        if self._listener is not None:
            self._listener.on_announcements_missed()


class InProcessBroker(Broker):
    """Embedded mode: one process, so delivering locally is all there is."""

    async def publish(self, poll_id: str, event: dict[str, Any]) -> None:
        self._deliver(poll_id, event)
