"""Cluster storage: MariaDB / MySQL through asyncmy, a pool pair (primary, replicas).

The jobs live apart: pools.py (nodes, pools, deadlines, what a failure means), lag.py (the
replica lag monitor), routing.py (where a read goes, the write transaction and its read
position), queries.py (shared SQL and the ballot algorithm's statements); this module holds
the operations of the Storage interface.
"""
from __future__ import annotations

import copy
import itertools
import json
import logging
from typing import Any, Awaitable, Callable, TypeVar

from voting import resources
from voting.config import StorageConfig
from voting.domain import Poll, Tally
from voting.errors import StorageUnavailable
from voting.metrics import Metrics
from voting.storage.base import DUE_POLLS, POLL_COLUMNS, BallotRecord, BallotTx, \
    IdempotencyRecord, PollSummary, StatusChange, Storage, poll_values, public_polls_query, \
    recount_tally, tally_args, tally_from_counters, tally_query, write_status
from voting.storage.batching import Batcher
from voting.storage.mysql import driver as db
from voting.storage.mysql.lag import LagMonitor
from voting.storage.mysql.pools import Stale, is_conn_error, scalar
from voting.storage.mysql.queries import MySQLBallots, MySQLStatus, TruncatedCounters, \
    counters_from_row, insert_idempotency, poll_fn, polls_fn, statements, tallies_args, \
    tallies_query
from voting.storage.mysql.routing import Router

log = logging.getLogger("voting.storage.mysql")

SCHEMA_FILE = resources.schema("mysql")
TABLES = ("polls", "poll_codes", "ballots", "tally_slots", "rankings", "idempotency", "heartbeat")

T = TypeVar("T")


class MySQLStorage(Router, LagMonitor, Storage):
    # A durable commit with its replication costs the primary, the replicas and the backend
    # more than an SQLite commit: waiting longer for the rest of a round pays. Against 2 ms,
    # a 3-backend cluster took 17-24 % more ballots at 50 voters, 18 % at 3, 4 % at 200, and at
    # 10 as many for 19 % less CPU; 16 ms no more (docs/benchmarks.md).
    DEFAULT_BATCH_GAP = 0.008

    def __init__(self, cfg: StorageConfig, name: str, metrics: Metrics | None = None) -> None:
        Storage.__init__(self)
        Router.__init__(self, cfg, metrics)
        self.name = name
        self.max_lag_ms = int(cfg.max_replica_lag * 1000)
        self.ryw_wait = cfg.ryw_wait
        self.mariadb = True
        self._rr = itertools.count()
        self._monitor = None
        self._primary_seen_ms = 0
        # A database made before ranked questions has no rankings table until an
        # administrative account applies the schema; other polls work meanwhile.
        self.has_rankings = True
        self._ballots = self._ballot_batcher(cfg.batch_size, cfg.batch_writers, cfg.batch_gap)
        self._fresh_tallies: Batcher[str, Tally | None] = Batcher(
            self._read_fresh_tallies, key=lambda p: p, max_batch=100, writers=2)
        # A burst of ballots on polls this process has not seen yet (a campus voting at
        # once) reads their definitions together, not a replica round trip each.
        self._poll_reads: Batcher[tuple[str, str | None], Poll | None] = Batcher(
            self._read_polls, key=None, max_batch=100, writers=2)

    # --- lifecycle -------------------------------------------------------
    async def open(self) -> None:
        try:
            version = await self._run(self.primary, scalar("SELECT VERSION()"))
            self.mariadb = "mariadb" in str(version).lower()
            self.primary.healthy = True
            await self._check_rankings_table()
        except StorageUnavailable:
            log.warning("primary %s:%d not reachable at start; will keep trying",
                        self.primary.host, self.primary.port)
        if self.metrics is not None:
            self.metrics.db_pool_size.labels("primary").set(self.cfg.pool_size)
            self.metrics.db_pool_size.labels("replica").set(self.cfg.pool_size * len(self.replicas))
        if self.replicas:  # the heartbeat only serves to measure replica lag
            await self._check_replicas()
            self.start_monitor()

    async def close(self) -> None:
        await self.stop_monitor()
        await self.close_pools()

    async def _check_rankings_table(self) -> None:
        if "rankings" in await self._run(self.primary, _tables):
            return
        create = [s for s in statements(SCHEMA_FILE.read_text()) if "TABLE IF NOT EXISTS rankings" in s]

        async def fn(conn: db.Connection) -> None:
            async with conn.cursor() as cur:
                await cur.execute(create[0])
        try:
            await self._run(self.primary, fn)
        except db.MySQLError as exc:
            self.has_rankings = False
            log.warning("the rankings table is missing and cannot be created (%s): ranked "
                        "questions are refused until the schema is applied (voting/sql/mysql)",
                        exc.args[1] if len(exc.args) > 1 else exc)

    async def ping(self) -> dict[str, Any]:
        await self._run(self.primary, scalar("SELECT 1"), retries=0)
        return {"storage": "mysql",
                "replicas": {r.name: {"healthy": r.healthy, "lag_ms": r.lag_ms}
                             for r in self.replicas}}

    async def init_schema(self) -> None:
        if set(TABLES) <= await self._run(self.primary, _tables):
            return  # created by an administrative account; the app user may not CREATE

        async def create(conn: db.Connection) -> None:
            async with conn.cursor() as cur:
                for stmt in statements(SCHEMA_FILE.read_text()):
                    await cur.execute(stmt)
        await self._run(self.primary, create)
        self.has_rankings = True

    # --- polls -----------------------------------------------------------
    async def create_poll(self, poll: Poll, code_hashes: list[str],
                          idem: IdempotencyRecord | None) -> str | None:
        if not self.has_rankings and any(q.kind == "ranked" for q in poll.questions):
            raise StorageUnavailable("Ranked questions need the database's rankings table; "
                                     "the administrator has to apply the schema first.")

        async def fn(conn: db.Connection) -> None:
            async with conn.cursor() as cur:
                if idem is not None:
                    await insert_idempotency(cur, [(idem, idem.status, poll.created_at)])
                await cur.execute(
                    f"INSERT INTO polls ({POLL_COLUMNS}) VALUES "
                    "(%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)", poll_values(poll))
                for i in range(0, len(code_hashes), 1000):
                    chunk = code_hashes[i:i + 1000]
                    await cur.execute(
                        "INSERT IGNORE INTO poll_codes (poll_id, code_hash) VALUES " +
                        ",".join(["(%s,%s)"] * len(chunk)),
                        [v for h in chunk for v in (poll.id, h)])
        _, pos = await self._write(fn)
        return pos


    async def get_poll(self, poll_id: str, pos: str | None = None) -> Poll | None:
        return await self._poll_reads.submit((poll_id, pos))

    async def _read_polls(self, requests: list[tuple[str, str | None]]
                          ) -> list[Poll | None | BaseException]:
        """Polls asked for meanwhile: one query per read position (nearly always one). As in
        _read_or_primary, a poll a replica does not have is looked up on the primary
        (_missing_on_primary)."""
        by_pos: dict[str | None, list[str]] = {}
        for poll_id, pos in requests:
            by_pos.setdefault(pos, []).append(poll_id)
        found: dict[str | None, dict[str, Poll] | BaseException] = {}
        for pos, ids in by_pos.items():
            try:
                polls, node = await self._read_at(polls_fn(ids), pos)
                missing = [i for i in ids if i not in polls]
                if missing and node is not self.primary:
                    absent: dict[str, Poll] = {}
                    polls.update(await self._missing_on_primary(polls_fn(missing), pos, absent))
                found[pos] = polls
            except Exception as exc:  # this position's polls share the failure
                found[pos] = exc
        out: list[Poll | None | BaseException] = []
        for poll_id, pos in requests:
            polls_or_error = found[pos]
            if isinstance(polls_or_error, BaseException):
                out.append(polls_or_error)
            else:  # each caller gets its own copy: the service sets a poll's status
                poll = polls_or_error.get(poll_id)
                out.append(copy.copy(poll) if poll is not None else None)
        return out

    async def list_public_polls(self, limit: int, before: tuple[int, str] | None,
                                pos: str | None = None) -> list[PollSummary]:
        sql, args = public_polls_query(limit, before, "%s")

        async def fn(conn: db.Connection) -> list[PollSummary]:
            async with conn.cursor() as cur:
                await cur.execute(sql, args)
                rows = await cur.fetchall()
            return [PollSummary.from_row(r) for r in rows]
        return await self._read(fn, pos)


    async def get_tally(self, poll_id: str, pos: str | None = None,
                        fresh: bool = False) -> Tally | None:
        if fresh:
            return await self._fresh_tallies.submit(poll_id)
        return await self._read_or_primary(self._tally_fn(poll_id), pos)

    def _tally_fn(self, poll_id: str) -> Callable[[db.Connection], Awaitable[Tally | None]]:
        """One poll's tally in the statement every dialect shares (tally_query)."""
        known = self._known_rankings(poll_id)
        ranked = self.has_rankings
        sql = tally_query("%s", ranked)
        args = tally_args(poll_id, known[0] if known else -1, ranked)

        async def fn(conn: db.Connection) -> Tally | None:
            async with conn.cursor() as cur:
                await cur.execute(sql, args)
                rows = await cur.fetchall()
            return self._tally_from(poll_id, rows, known, ranked)
        return fn

    async def _read_fresh_tallies(self, poll_ids: list[str]) -> list[Tally | None | BaseException]:
        """The live feeds' tallies, read on the primary: every poll asked for meanwhile in one
        statement (a campus of polls changing at once costs one query, not one each)."""
        ranked = self.has_rankings
        sql = tallies_query(len(poll_ids), ranked)
        args = tallies_args(poll_ids, ranked)

        async def fn(conn: db.Connection) -> list[Tally | None | BaseException]:
            async with conn.cursor() as cur:
                await cur.execute(sql, args)
                rows = await cur.fetchall()
            counted: dict[str, Tally] = {}
            ranks: dict[str, list[Any]] = {p: [] for p in poll_ids}
            for row in rows:
                if row[1] not in ranks:  # ids are checked [a-z0-9]{8} before they get here
                    continue
                if row[0] == "t":
                    counted[row[1]] = tally_from_counters(
                        row[1], row[2], row[3], counters_from_row(row[4], row[5]))
                else:  # as tally_query's: ('r', question_id, NULL, ranking, n)
                    ranks[row[1]].append((row[0],) + tuple(row[2:]))
            # The rankings are read even at a seq known already (the statement cannot tell
            # per poll); _with_rankings then keeps the ones it has, and their runoff.
            return [self._with_rankings(counted[p], ranks[p], self._known_rankings(p), ranked)
                    if p in counted else None for p in poll_ids]
        try:
            return await self._read(fn, None, primary=True)
        except TruncatedCounters:  # a server that ignores the session's group_concat_max_len
            log.error("tally counters truncated by group_concat_max_len; reading one by one")
            return [await self._read(self._tally_fn(p), None, primary=True) for p in poll_ids]

    async def _ballot_transaction(self, fn: Callable[[BallotTx], Awaitable[T]]
                                  ) -> tuple[T, str | None]:
        # _write's transaction with BEGIN sent along with the readings and COMMIT (and the
        # read position) along with the writes: two round trips for a whole batch.
        async def txn(conn: db.Connection) -> tuple[T, str | None]:
            async def attempt() -> tuple[T, str | None]:
                async with conn.cursor() as cur:
                    tx = MySQLBallots(cur)
                    try:
                        result = await fn(tx)
                        return result, await tx.commit(self.position_sql)
                    except db.MySQLError as exc:
                        if not tx.wrote and is_conn_error(exc):
                            raise Stale() from exc  # nothing was sent but readings: retry
                        raise
            return await self._retrying(conn, attempt)
        return await self._run(self.primary, txn, retries=1, idempotent=False)

    async def get_ballot(self, poll_id: str, voter_key: str,
                         pos: str | None = None) -> BallotRecord | None:
        async def fn(conn: db.Connection) -> BallotRecord | None:
            async with conn.cursor() as cur:
                await cur.execute("SELECT choices, receipt, created_at, updated_at FROM ballots "
                                  "WHERE poll_id = %s AND voter_key = %s", (poll_id, voter_key))
                row = await cur.fetchone()
            if row is None:
                return None
            return BallotRecord(poll_id, json.loads(row[0]), row[1], int(row[2]), int(row[3]))
        return await self._read_or_primary(fn, pos)

    async def code_exists(self, poll_id: str, code_hash: str, pos: str | None = None) -> bool:
        async def fn(conn: db.Connection) -> bool | None:
            async with conn.cursor() as cur:
                await cur.execute("SELECT 1 FROM poll_codes WHERE poll_id = %s AND code_hash = %s",
                                  (poll_id, code_hash))
                return True if await cur.fetchone() is not None else None
        return bool(await self._read_or_primary(fn, pos))


    async def set_status(self, poll_id: str, status: str, now: int,
                         if_due: bool = False) -> StatusChange | None:
        async def fn(conn: db.Connection) -> tuple[int, bool] | None:
            async with conn.cursor() as cur:
                return await write_status(MySQLStatus(cur), poll_id, status, now, if_due)
        result, pos = await self._write(fn)
        if result is None:
            return None
        seq, changed = result
        return StatusChange(poll_id, status, seq, pos, changed)

    async def delete_poll(self, poll_id: str) -> tuple[bool, str | None]:
        tables = ("ballots", "tally_slots", "poll_codes") + (("rankings",) if self.has_rankings
                                                             else ())

        async def fn(conn: db.Connection) -> bool:
            async with conn.cursor() as cur:
                n = await cur.execute("DELETE FROM polls WHERE id = %s", (poll_id,))
                for table in tables:
                    await cur.execute(f"DELETE FROM {table} WHERE poll_id = %s", (poll_id,))
                return bool(n)
        deleted, pos = await self._write(fn)
        return deleted, pos

    async def due_polls(self, now: int) -> list[str]:
        async def fn(conn: db.Connection) -> list[str]:
            async with conn.cursor() as cur:
                await cur.execute(DUE_POLLS.format(mark="%s"), (now,))
                return [r[0] for r in await cur.fetchall()]
        # Every backend sweeps four times a second: on the replicas, off the primary's back
        # (a replica behind by its lag closes a poll that much later; reads derive it anyway).
        return await self._read(fn, None)

    async def get_idempotency(self, key_hash: str, since: int) -> IdempotencyRecord | None:
        async def fn(conn: db.Connection) -> IdempotencyRecord | None:
            async with conn.cursor() as cur:
                await cur.execute("SELECT request_hash, status, body FROM idempotency "
                                  "WHERE key_hash = %s AND created_at >= %s", (key_hash, since))
                row = await cur.fetchone()
            return IdempotencyRecord(key_hash, row[0], int(row[1]), row[2]) if row else None
        return await self._run(self.primary, fn)

    async def purge_idempotency(self, before: int) -> int:
        async def fn(conn: db.Connection) -> int:
            async with conn.cursor() as cur:
                return int(await cur.execute("DELETE FROM idempotency WHERE created_at < %s",
                                             (before,)))
        n, _ = await self._write(fn)
        return n


    async def recount(self, poll_id: str) -> Tally | None:
        poll = await self._run(self.primary, poll_fn(poll_id))
        if poll is None:
            return None

        async def fn(conn: db.Connection) -> list[str]:
            async with conn.cursor() as cur:
                await cur.execute("SELECT choices FROM ballots WHERE poll_id = %s", (poll_id,))
                return [r[0] for r in await cur.fetchall()]
        stored = await self._run(self.primary, fn)
        tally = await self.get_tally(poll_id, fresh=True)
        return recount_tally(poll, tally.seq if tally else 0, stored)


async def _tables(conn: db.Connection) -> set[str]:
    async with conn.cursor() as cur:
        await cur.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() "
            "AND table_name IN (" + ",".join(["%s"] * len(TABLES)) + ")", TABLES)
        return {str(r[0]) for r in await cur.fetchall()}
