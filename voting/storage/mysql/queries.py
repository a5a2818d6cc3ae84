"""The SQL of the MySQL dialect that more than one operation uses: a poll by id, idempotency
records, counters, and the ballot algorithm's statements (voting.storage.base.write_ballots)."""
from __future__ import annotations

from typing import Awaitable, Callable

import aiomysql
import pymysql

from voting.domain import Poll
from voting.storage.base import POLL_COLUMNS, BallotTx, IdempotencyConflict, IdempotencyRecord, \
    WriteConflict, poll_from_row


def poll_fn(poll_id: str) -> Callable[[aiomysql.Connection], Awaitable[Poll | None]]:
    async def fn(conn: aiomysql.Connection) -> Poll | None:
        async with conn.cursor(aiomysql.DictCursor) as cur:
            await cur.execute(f"SELECT {POLL_COLUMNS} FROM polls WHERE id = %s", (poll_id,))
            row = await cur.fetchone()
        return poll_from_row(row) if row else None
    return fn


async def insert_idempotency(cur: aiomysql.Cursor,
                             records: list[tuple[IdempotencyRecord, int, int]]) -> None:
    """Store (record, status, created_at) rows; a key stored already raises IdempotencyConflict."""
    try:
        await cur.execute(
            "INSERT INTO idempotency (key_hash, request_hash, status, body, created_at) VALUES " +
            ",".join(["(%s,%s,%s,%s,%s)"] * len(records)),
            [v for rec, status, at in records
             for v in (rec.key_hash, rec.request_hash, status, rec.body, at)])
    except pymysql.err.IntegrityError:
        raise IdempotencyConflict() from None


async def add_counters(cur: aiomysql.Cursor, poll_id: str, slot: int,
                       rows: list[tuple[str, int]]) -> None:
    await cur.execute(
        "INSERT INTO tally_slots (poll_id, option_id, slot, n) VALUES " +
        ",".join(["(%s,%s,%s,%s)"] * len(rows)) +
        " ON DUPLICATE KEY UPDATE n = n + VALUES(n)",
        [v for option_id, n in rows for v in (poll_id, option_id, slot, n)])


class MySQLBallots(BallotTx):
    """The ballot algorithm's statements in MySQL: multi-row, with the locks that keep
    backends apart (a shared lock on the poll row, so close/reopen waits for ballots in
    flight; the voters' existing ballots locked for update)."""

    def __init__(self, cur: aiomysql.Cursor) -> None:
        self.cur = cur

    async def polls(self, poll_ids: list[str]) -> dict[str, tuple[str, int | None, bool]]:
        await self.cur.execute(
            "SELECT id, status, closes_at, allow_revote FROM polls WHERE id IN (" +
            ",".join(["%s"] * len(poll_ids)) + ") LOCK IN SHARE MODE", poll_ids)
        return {r[0]: (r[1], r[2], bool(r[3])) for r in await self.cur.fetchall()}

    async def known_codes(self, pairs: list[tuple[str, str]]) -> set[tuple[str, str]]:
        await self.cur.execute(
            "SELECT poll_id, code_hash FROM poll_codes WHERE " +
            " OR ".join(["(poll_id = %s AND code_hash = %s)"] * len(pairs)),
            [v for p in pairs for v in p])
        return {(r[0], r[1]) for r in await self.cur.fetchall()}

    async def current_ballots(self, keys: list[tuple[str, str]]
                              ) -> dict[tuple[str, str], tuple[str, int]]:
        await self.cur.execute(
            "SELECT poll_id, voter_key, choices, created_at FROM ballots WHERE " +
            " OR ".join(["(poll_id = %s AND voter_key = %s)"] * len(keys)) + " FOR UPDATE",
            [v for k in keys for v in k])
        return {(r[0], r[1]): (r[2], int(r[3])) for r in await self.cur.fetchall()}

    async def insert_ballots(self, rows: list[tuple[str, str, str, str, int, int]]) -> None:
        try:
            await self.cur.execute(
                "INSERT INTO ballots (poll_id, voter_key, choices, receipt, created_at, "
                "updated_at) VALUES " + ",".join(["(%s,%s,%s,%s,%s,%s)"] * len(rows)),
                [v for row in rows for v in row])
        except pymysql.err.IntegrityError:
            raise WriteConflict() from None  # inserted by another backend since we looked

    async def update_ballot(self, poll_id: str, voter_key: str, choices: str, receipt: str,
                            now: int) -> None:
        await self.cur.execute(
            "UPDATE ballots SET choices = %s, receipt = %s, updated_at = %s "
            "WHERE poll_id = %s AND voter_key = %s", (choices, receipt, now, poll_id, voter_key))

    async def insert_idempotency(self, records: list[tuple[IdempotencyRecord, int, int]]) -> None:
        await insert_idempotency(self.cur, records)

    async def add_counters(self, poll_id: str, slot: int, rows: list[tuple[str, int]]) -> None:
        await add_counters(self.cur, poll_id, slot, rows)

    async def add_rankings(self, poll_id: str, slot: int,
                           rows: list[tuple[str, str, int]]) -> None:
        await self.cur.execute(
            "INSERT INTO rankings (poll_id, question_id, ranking, slot, n) VALUES " +
            ",".join(["(%s,%s,%s,%s,%s)"] * len(rows)) +
            " ON DUPLICATE KEY UPDATE n = n + VALUES(n)",
            [v for qid, ranking, n in rows for v in (poll_id, qid, ranking, slot, n)])


def statements(sql: str) -> list[str]:
    lines = [ln for ln in sql.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
