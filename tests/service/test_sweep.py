"""The sweep that closes polls whose closes_at passed, against an admin's reopen."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.storage import contract
from voting import domain
from voting.metrics import Metrics
from voting.service import PollService
from voting.storage.sqlite import SQLiteStorage
from voting.tokens import Signer
from voting.ws.broker import InProcessBroker


class StaleListing(SQLiteStorage):
    """Lists the due polls as a replica behind the primary would: from before a reopen."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.listed: list[str] = []

    async def due_polls(self, now: int) -> list[str]:
        return list(self.listed)


class RecordingBroker(InProcessBroker):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, dict[str, Any]]] = []

    async def publish(self, poll_id: str, event: dict[str, Any]) -> None:
        self.events.append((poll_id, event))
        await super().publish(poll_id, event)


async def test_a_sweep_listed_before_a_reopen_leaves_the_poll_open(tmp_path: Path) -> None:
    storage = StaleListing(str(tmp_path / "s.sqlite3"))
    await storage.open()
    broker = RecordingBroker()
    service = PollService(storage, broker, Signer("s" * 32), Metrics(), 4)
    try:
        now = domain.now_ms()
        poll, _ = await contract.make_poll(storage, now=now - 10_000,
                                           closes_at=domain.ms_to_rfc3339(now - 5_000))
        storage.listed = [poll.id]  # due: its closes_at passed
        reopened = await storage.set_status(poll.id, "open", domain.now_ms())
        assert reopened is not None and reopened.changed
        assert await service.close_due_polls() == []
        got = await storage.get_poll(poll.id)
        assert got is not None and got.status == "open" and got.closes_at is None
        assert broker.events == []
        # A poll still due when the sweep reaches it is closed, and its feeds told.
        due, _ = await contract.make_poll(storage, now=now - 10_000,
                                          closes_at=domain.ms_to_rfc3339(now - 5_000))
        storage.listed = [due.id]
        assert await service.close_due_polls() == [due.id]
        closed = await storage.get_poll(due.id)
        assert closed is not None and closed.status == "closed"
        assert [(p, e["type"], e["status"]) for p, e in broker.events] == \
            [(due.id, "status", "closed")]
    finally:
        await storage.close()
