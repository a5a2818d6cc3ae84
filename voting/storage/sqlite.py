"""Embedded storage: one SQLite file through aiosqlite.

One connection writes (transactions serialized by a lock, as SQLite allows one
writer anyway); a second connection reads, which WAL mode lets run beside the
writer. Reads are single statements, so each sees one committed state.
"""
from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, Sequence, TypeVar
from contextlib import asynccontextmanager

import aiosqlite

from voting import resources
from voting.domain import Poll, Tally
from voting.errors import StorageUnavailable
from voting.storage.base import DUE_POLLS, POLL_COLUMNS, SEQ_KEY, BallotRecord, BallotTx, \
    IdempotencyConflict, IdempotencyRecord, PollSummary, StatusChange, StatusTx, Storage, \
    WriteConflict, poll_from_row, poll_values, public_polls_query, recount_tally, tally_args, \
    tally_query, write_status

T = TypeVar("T")

SCHEMA_FILE = resources.schema("sqlite")


class SQLiteStorage(Storage):
    # At 10 voters +32 % ballots against none; 4 and 8 ms took no more (docs/benchmarks.md).
    DEFAULT_BATCH_GAP = 0.002

    def __init__(self, path: str, batch_gap: float | None = 0.0) -> None:
        """`batch_gap`: None for DEFAULT_BATCH_GAP."""
        super().__init__()
        self.path = path
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        # SQLite has one writer: a single batch at a time, as large as the queue.
        self._ballots = self._ballot_batcher(max_batch=200, writers=1, gap=batch_gap)

    async def open(self) -> None:
        if self.path != ":memory:":
            # Ballots are private: only this user reads the file. SQLite gives its -wal and
            # -shm files the mode of the database file, so creating that 0600 covers all three.
            Path(self.path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            for suffix in ("", "-wal", "-shm"):
                f = Path(self.path + suffix)
                if f.exists() and f.stat().st_mode & 0o077:
                    f.chmod(0o600)
        self._writer = await self._connect()
        await self._writer.execute("PRAGMA journal_mode=WAL")
        await self.init_schema()
        self._reader = await self._connect()

    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        await conn.execute("PRAGMA foreign_keys=ON")
        await conn.execute("PRAGMA busy_timeout=5000")
        await conn.execute("PRAGMA synchronous=FULL")
        return conn

    async def close(self) -> None:
        for conn in (self._reader, self._writer):
            if conn is not None:
                await conn.close()
        self._reader = self._writer = None

    @property
    def reader(self) -> aiosqlite.Connection:
        if self._reader is None:
            raise StorageUnavailable("The database is not open.")
        return self._reader

    async def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """A read's rows, executed and fetched in one call on the reader's thread. Reads share
        the reader connection, and SQLite keeps a connection's read transaction (its snapshot)
        open while any of its statements is: a cursor left between its execute and its fetch
        while other coroutines read made their reads join its snapshot, so under load a
        live feed could read a tally from before the ballot that made it read, and miss it."""
        return list(await self.reader.execute_fetchall(sql, args))

    async def _row(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Row | None:
        rows = await self._rows(sql, args)
        return rows[0] if rows else None

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        if self._writer is None:
            raise StorageUnavailable("The database is not open.")
        async with self._write_lock:
            conn = self._writer
            try:
                await conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:  # e.g. locked by another process past busy_timeout
                raise StorageUnavailable(f"The database is busy ({exc}).") from None
            try:
                yield conn
            except BaseException as exc:
                await conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise StorageUnavailable(f"The database failed ({exc}).") from None
                raise
            else:
                try:
                    await conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    await conn.execute("ROLLBACK")
                    raise StorageUnavailable(f"The database failed ({exc}).") from None

    async def ping(self) -> dict[str, Any]:
        try:
            await self._rows("SELECT 1")
        except sqlite3.Error as exc:
            raise StorageUnavailable(f"SQLite is not usable: {exc}") from None
        return {"storage": "sqlite"}

    async def init_schema(self) -> None:
        if self._writer is None:
            raise StorageUnavailable("The database is not open.")
        await self._writer.executescript(SCHEMA_FILE.read_text())

    async def create_poll(self, poll: Poll, code_hashes: list[str],
                          idem: IdempotencyRecord | None) -> str | None:
        async with self._transaction() as conn:
            if idem is not None:
                await self._insert_idempotency(conn, idem, idem.status, poll.created_at)
            await conn.execute(
                f"INSERT INTO polls ({POLL_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                poll_values(poll))
            if code_hashes:
                await conn.executemany(
                    "INSERT OR IGNORE INTO poll_codes (poll_id, code_hash) VALUES (?, ?)",
                    [(poll.id, h) for h in code_hashes])
        return None

    async def get_poll(self, poll_id: str, pos: str | None = None) -> Poll | None:
        row = await self._row(f"SELECT {POLL_COLUMNS} FROM polls WHERE id = ?", (poll_id,))
        return poll_from_row(dict(row)) if row else None

    async def list_public_polls(self, limit: int, before: tuple[int, str] | None,
                                pos: str | None = None) -> list[PollSummary]:
        sql, args = public_polls_query(limit, before, "?")
        return [PollSummary.from_row(r) for r in await self._rows(sql, args)]

    async def get_tally(self, poll_id: str, pos: str | None = None,
                        fresh: bool = False) -> Tally | None:
        known = self._known_rankings(poll_id)
        rows = await self._rows(tally_query("?"), tally_args(poll_id, known[0] if known else -1))
        return self._tally_from(poll_id, rows, known)

    async def _ballot_transaction(self, fn: Callable[[BallotTx], Awaitable[T]]
                                  ) -> tuple[T, str | None]:
        # One transaction (one fsync) for every ballot that queued meanwhile.
        async with self._transaction() as conn:
            return await fn(_SQLiteBallots(conn)), None

    @staticmethod
    async def _insert_idempotency(conn: aiosqlite.Connection, idem: IdempotencyRecord,
                                  status: int, created_at: int) -> None:
        await _SQLiteBallots(conn).insert_idempotency([(idem, status, created_at)])

    async def get_ballot(self, poll_id: str, voter_key: str,
                         pos: str | None = None) -> BallotRecord | None:
        row = await self._row("SELECT choices, receipt, created_at, updated_at FROM ballots "
                              "WHERE poll_id = ? AND voter_key = ?", (poll_id, voter_key))
        if row is None:
            return None
        return BallotRecord(poll_id, json.loads(row["choices"]), row["receipt"],
                            row["created_at"], row["updated_at"])

    async def code_exists(self, poll_id: str, code_hash: str, pos: str | None = None) -> bool:
        return await self._row("SELECT 1 FROM poll_codes WHERE poll_id = ? AND code_hash = ?",
                               (poll_id, code_hash)) is not None

    async def set_status(self, poll_id: str, status: str, now: int,
                         if_due: bool = False) -> StatusChange | None:
        async with self._transaction() as conn:
            result = await write_status(_SQLiteStatus(conn), poll_id, status, now, if_due)
        if result is None:
            return None
        seq, changed = result
        return StatusChange(poll_id, status, seq, None, changed)

    async def delete_poll(self, poll_id: str) -> tuple[bool, str | None]:
        async with self._transaction() as conn:
            cur = await conn.execute("DELETE FROM polls WHERE id = ?", (poll_id,))
            return cur.rowcount > 0, None

    async def due_polls(self, now: int) -> list[str]:
        return [r[0] for r in await self._rows(DUE_POLLS.format(mark="?"), (now,))]

    async def get_idempotency(self, key_hash: str, since: int) -> IdempotencyRecord | None:
        row = await self._row("SELECT request_hash, status, body FROM idempotency "
                              "WHERE key_hash = ? AND created_at >= ?", (key_hash, since))
        return IdempotencyRecord(key_hash, row[0], row[1], row[2]) if row else None

    async def purge_idempotency(self, before: int) -> int:
        async with self._transaction() as conn:
            cur = await conn.execute("DELETE FROM idempotency WHERE created_at < ?", (before,))
            return cur.rowcount

    async def recount(self, poll_id: str) -> Tally | None:
        poll = await self.get_poll(poll_id)
        if poll is None:
            return None
        stored = [row[0] for row in
                  await self._rows("SELECT choices FROM ballots WHERE poll_id = ?", (poll_id,))]
        tally = await self.get_tally(poll_id)
        return recount_tally(poll, tally.seq if tally else 0, stored)


class _SQLiteBallots(BallotTx):
    """The ballot algorithm's statements in SQLite (the write lock is held: no races). Every
    trip to aiosqlite's thread wakes the event loop, which bounds the embedded server: the
    batch's readings are one statement and one trip (execute_fetchall; an execute, fetchall
    and close would be three each)."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def read(self, poll_ids: list[str], code_pairs: list[tuple[str, str]],
                   keys: list[tuple[str, str]]
                   ) -> tuple[dict[str, tuple[str, int | None, bool]], set[tuple[str, str]],
                              dict[tuple[str, str], tuple[str, int]]]:
        # One statement, so one trip, for the three readings of a batch.
        parts: list[str] = []
        args: list[Any] = []
        if poll_ids:
            parts.append("SELECT 'p', id, status, closes_at, allow_revote FROM polls "
                         "WHERE id IN (" + ",".join("?" * len(poll_ids)) + ")")
            args += poll_ids
        if code_pairs:
            parts.append("SELECT 'c', poll_id, code_hash, NULL, NULL FROM poll_codes WHERE " +
                         " OR ".join(["(poll_id = ? AND code_hash = ?)"] * len(code_pairs)))
            args += [v for pair in code_pairs for v in pair]
        if keys:
            parts.append("SELECT 'b', poll_id, voter_key, choices, created_at FROM ballots "
                         "WHERE " + " OR ".join(["(poll_id = ? AND voter_key = ?)"] * len(keys)))
            args += [v for k in keys for v in k]
        polls: dict[str, tuple[str, int | None, bool]] = {}
        codes: set[tuple[str, str]] = set()
        ballots: dict[tuple[str, str], tuple[str, int]] = {}
        if not parts:
            return polls, codes, ballots
        for r in await self.conn.execute_fetchall(" UNION ALL ".join(parts), args):
            if r[0] == "p":
                polls[r[1]] = (r[2], r[3], bool(r[4]))
            elif r[0] == "c":
                codes.add((r[1], r[2]))
            else:
                ballots[(r[1], r[2])] = (r[3], int(r[4]))
        return polls, codes, ballots

    async def insert_ballots(self, rows: list[tuple[str, str, str, str, int, int]]) -> None:
        try:
            await self.conn.executemany(
                "INSERT INTO ballots (poll_id, voter_key, choices, receipt, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?)", rows)
        except sqlite3.IntegrityError:  # another process wrote one meanwhile
            raise WriteConflict() from None

    async def update_ballot(self, poll_id: str, voter_key: str, choices: str, receipt: str,
                            now: int) -> None:
        await self.conn.execute(
            "UPDATE ballots SET choices = ?, receipt = ?, updated_at = ? "
            "WHERE poll_id = ? AND voter_key = ?", (choices, receipt, now, poll_id, voter_key))

    async def insert_idempotency(self, records: list[tuple[IdempotencyRecord, int, int]]) -> None:
        try:
            await self.conn.executemany(
                "INSERT INTO idempotency (key_hash, request_hash, status, body, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [(r.key_hash, r.request_hash, status, r.body, at) for r, status, at in records])
        except sqlite3.IntegrityError:
            raise IdempotencyConflict() from None

    async def add_counters(self, slot: int, rows: list[tuple[str, str, int]]) -> None:
        await self.conn.executemany(
            "INSERT INTO tally_slots (poll_id, slot, option_id, n) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (poll_id, option_id, slot) DO UPDATE SET n = n + excluded.n",
            [(poll_id, slot, option_id, n) for poll_id, option_id, n in rows])

    async def add_rankings(self, slot: int, rows: list[tuple[str, str, str, int]]) -> None:
        await self.conn.executemany(
            "INSERT INTO rankings (poll_id, question_id, ranking, slot, n) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (poll_id, question_id, ranking, slot) DO UPDATE SET n = n + excluded.n",
            [(poll_id, qid, ranking, slot, n) for poll_id, qid, ranking, n in rows])


class _SQLiteStatus(StatusTx):
    """Closing and reopening a poll in SQLite (write_status; the write lock is held)."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def lock_poll(self, poll_id: str) -> tuple[str, int | None] | None:
        rows = list(await self.conn.execute_fetchall(
            "SELECT status, closes_at FROM polls WHERE id = ?", (poll_id,)))
        return (rows[0][0], rows[0][1]) if rows else None

    async def close(self, poll_id: str, now: int) -> None:
        await self.conn.execute(
            "UPDATE polls SET status = 'closed', closed_at = COALESCE(closed_at, ?) "
            "WHERE id = ?", (now, poll_id))

    async def reopen(self, poll_id: str, closes_at: int | None) -> None:
        await self.conn.execute(
            "UPDATE polls SET status = 'open', closed_at = NULL, closes_at = ? WHERE id = ?",
            (closes_at, poll_id))

    async def bump_seq(self, poll_id: str) -> None:
        await _SQLiteBallots(self.conn).add_counters(0, [(poll_id, SEQ_KEY, 1)])

    async def seq(self, poll_id: str) -> int:
        rows = list(await self.conn.execute_fetchall(
            "SELECT COALESCE(SUM(n), 0) FROM tally_slots WHERE poll_id = ? AND option_id = ?",
            (poll_id, SEQ_KEY)))
        return int(rows[0][0])
