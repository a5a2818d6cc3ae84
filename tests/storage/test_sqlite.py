"""SQLiteStorage against a temporary file: the storage contract plus SQLite specifics."""
from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable

import pytest

from tests.conftest import make_config
from tests.storage import contract
from voting import domain
from voting.app import make_storage
from voting.storage.sqlite import SQLiteStorage

TABLES = ("polls", "ballots", "poll_codes", "tally_slots", "rankings")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "voting.sqlite3"


@pytest.fixture
async def storage(db_path: Path) -> AsyncIterator[SQLiteStorage]:
    s = SQLiteStorage(str(db_path))
    await s.open()
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def count_rows(storage: SQLiteStorage) -> Callable[[str], Awaitable[dict[str, int]]]:
    async def count(poll_id: str) -> dict[str, int]:
        out = {}
        for table in TABLES:
            column = "id" if table == "polls" else "poll_id"
            async with storage.reader.execute(
                    f"SELECT COUNT(*) FROM {table} WHERE {column} = ?", (poll_id,)) as cur:
                row = await cur.fetchone()
            assert row is not None
            out[table] = int(row[0])
        return out
    return count


@pytest.mark.parametrize("check", contract.CHECKS, ids=[c.__name__ for c in contract.CHECKS])
async def test_contract(storage: SQLiteStorage, count_rows: contract.CountRows,
                        check: Callable[..., Awaitable[None]]) -> None:
    await check(storage, count_rows)


def raw(db_path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(db_path), isolation_level=None, timeout=5)
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


async def test_primary_key_allows_one_ballot_per_voter(storage: SQLiteStorage,
                                                       db_path: Path) -> None:
    poll, _ = await contract.make_poll(storage)
    await contract.cast(storage, poll, "v:dup", {"q1": ["o1"]})
    conn = raw(db_path)
    try:
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("INSERT INTO ballots (poll_id, voter_key, choices, receipt, created_at, "
                         "updated_at) VALUES (?, 'v:dup', '{}', 'r', 0, 0)", (poll.id,))
        # A ballot for a poll that does not exist is refused by the foreign key.
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("INSERT INTO ballots (poll_id, voter_key, choices, receipt, created_at, "
                         "updated_at) VALUES ('zzzzzzzz', 'v:x', '{}', 'r', 0, 0)")
        assert conn.execute("SELECT COUNT(*) FROM ballots").fetchone()[0] == 1
    finally:
        conn.close()


async def test_data_survives_reopening(db_path: Path) -> None:
    s = SQLiteStorage(str(db_path))
    await s.open()
    poll, _ = await contract.make_poll(s)
    await contract.cast(s, poll, "v:1", {"q1": ["o2"]})
    await s.close()
    s2 = SQLiteStorage(str(db_path))
    await s2.open()  # schema creation is idempotent
    try:
        tally = await s2.get_tally(poll.id)
        assert tally is not None and tally.total == 1 and tally.counts["o2"] == 1
        assert (await s2.get_poll(poll.id)) is not None
    finally:
        await s2.close()


async def test_closed_storage_is_unavailable(db_path: Path) -> None:
    from voting.errors import StorageUnavailable
    s = SQLiteStorage(str(db_path))
    await s.open()
    assert await s.ping() == {"storage": "sqlite"}
    await s.close()
    with pytest.raises(StorageUnavailable):
        await s.get_poll("abcdefgh")
    with pytest.raises(StorageUnavailable):
        await s.set_status("abcdefgh", "closed", domain.now_ms())


async def test_writes_are_synced_to_disk(storage: SQLiteStorage) -> None:
    """DESIGN.md §6: a 201 means the ballot is on disk, so SQLite runs with synchronous=FULL
    (in WAL mode NORMAL would lose the last commits on a power cut)."""
    async with storage._transaction() as conn:  # the connection every write goes through
        async with conn.execute("PRAGMA synchronous") as cur:
            row = await cur.fetchone()
        assert row is not None and row[0] == 2, "synchronous is not FULL (2)"
        async with conn.execute("PRAGMA journal_mode") as cur:
            row = await cur.fetchone()
        assert row is not None and row[0] == "wal"
    async with storage.reader.execute("PRAGMA synchronous") as cur:
        row = await cur.fetchone()
    assert row is not None and row[0] == 2


async def test_a_read_after_a_commit_sees_it_while_other_reads_keep_the_reader_busy(
        storage: SQLiteStorage) -> None:
    """The live feeds read a tally after each ballot's commit while other requests read too:
    no read may land in a snapshot taken before that commit (the subscriber would stay on
    the tally before the last ballot until the poll's next change)."""
    poll, _ = await contract.make_poll(storage)
    busy = True

    async def reading() -> None:
        while busy:
            await asyncio.gather(*(storage.get_poll(poll.id) for _ in range(4)),
                                 storage.get_tally(poll.id), storage.get_ballot(poll.id, "v:x"))

    readers = [asyncio.get_running_loop().create_task(reading()) for _ in range(4)]
    try:
        for v in range(60):
            await contract.cast(storage, poll, f"v:{v}", {"q1": ["o1"]})
            tally = await storage.get_tally(poll.id, fresh=True)
            assert tally is not None and tally.seq == v + 1
    finally:
        busy = False
        await asyncio.gather(*readers)


@pytest.mark.parametrize("configured, expected", [(None, 0.002), (0.0, 0.0), (0.01, 0.01)])
def test_the_ballot_batches_gap_comes_from_the_config(tmp_path: Path, configured: float | None,
                                                      expected: float) -> None:
    storage = {} if configured is None else {"batch_gap": configured}
    made = make_storage(make_config(tmp_path, storage=storage))
    assert isinstance(made, SQLiteStorage) and made._ballots.gap == expected
