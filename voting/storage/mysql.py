"""Cluster storage: MariaDB / MySQL through aiomysql, a pool pair (primary, replicas).

Writes and reads that must see them go to the primary; other reads go round-robin
to a replica that answers and lags at most `max_replica_lag`. Lag is measured
without replication privileges: every backend writes a heartbeat row on the
primary and reads it back on each replica. A write returns the primary's GTID
position; a read carrying it waits briefly on the replica (MASTER_GTID_WAIT /
WAIT_FOR_EXECUTED_GTID_SET), else goes to the primary.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
import json
import logging
import re
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable, TypeVar

import aiomysql
import pymysql

from voting import resources
from voting.config import StorageConfig
from voting.domain import Poll, Tally, counts_delta
from voting.errors import AlreadyVoted, CodeUsed, DomainError, InvalidCode, PollClosed, \
    PollNotFound, StorageUnavailable
from voting.metrics import Metrics
from voting.storage.base import POLL_COLUMNS, SEQ_KEY, BallotRecord, CastRequest, CastResult, \
    IdempotencyConflict, IdempotencyRecord, PollSummary, StatusChange, Storage, poll_from_row, \
    poll_values, public_polls_query, recount_choices, slot_rows, tally_from_rows, tally_query

log = logging.getLogger(__name__)

SCHEMA_FILE = resources.schema("mysql")

ER_DUP_ENTRY = 1062
ER_LOCK_DEADLOCK = 1213
ER_LOCK_WAIT_TIMEOUT = 1205
RETRYABLE = {ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT}


T = TypeVar("T")


@dataclass
class Node:
    name: str
    role: str  # primary | replica
    host: str
    port: int
    pool: aiomysql.Pool | None = None
    healthy: bool = False
    lag_ms: int | None = None
    in_use: int = 0


def encode_pos(gtid: str) -> str:
    return base64.urlsafe_b64encode(gtid.encode()).decode().rstrip("=")


def decode_pos(pos: str | None) -> str | None:
    if not pos:
        return None
    try:
        gtid = base64.urlsafe_b64decode(pos + "=" * (-len(pos) % 4)).decode("ascii")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    # MariaDB "0-1-42,1-2-7"; MySQL "uuid:1-42,uuid:5"
    return gtid if re.fullmatch(r"[0-9A-Za-z:,\-\s]{1,2000}", gtid) else None


def _unavailable(exc: BaseException) -> StorageUnavailable:
    return StorageUnavailable(f"The database is unavailable ({type(exc).__name__}); "
                              "please retry in a few seconds.")


_CONN_ERRORS = (pymysql.err.OperationalError, pymysql.err.InterfaceError, ConnectionError,
                OSError, asyncio.TimeoutError, RuntimeError)


def _is_conn_error(exc: BaseException) -> bool:
    if isinstance(exc, pymysql.err.OperationalError):
        return exc.args[0] not in RETRYABLE if exc.args else True
    return isinstance(exc, _CONN_ERRORS)


class MySQLStorage(Storage):
    def __init__(self, cfg: StorageConfig, name: str, metrics: Metrics | None = None) -> None:
        self.cfg = cfg
        self.name = name
        self.primary = Node("primary", "primary", cfg.host, cfg.port)
        self.replicas = [Node(f"replica{i + 1}", "replica", r.host, r.port)
                         for i, r in enumerate(cfg.replicas)]
        self.max_lag_ms = int(cfg.max_replica_lag * 1000)
        self.timeout = cfg.query_timeout
        self.ryw_wait = cfg.ryw_wait
        self.metrics = metrics
        self.mariadb = True
        self._rr = itertools.count()
        self._monitor: asyncio.Task[None] | None = None
        self._primary_seen_ms = 0
        self._ballots = self._ballot_batcher(cfg.batch_size, cfg.batch_writers)

    # --- pools -----------------------------------------------------------
    async def _pool(self, node: Node) -> aiomysql.Pool:
        if node.pool is None:
            async with asyncio.timeout(self.timeout):
                node.pool = await aiomysql.create_pool(
                    minsize=0, maxsize=self.cfg.pool_size, host=node.host, port=node.port,
                    user=self.cfg.user, password=self.cfg.password, db=self.cfg.database,
                    charset="utf8mb4", autocommit=True,
                    connect_timeout=self.cfg.connect_timeout, pool_recycle=300,
                    init_command="SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        return node.pool

    @asynccontextmanager
    async def _conn(self, node: Node) -> AsyncIterator[aiomysql.Connection]:
        try:
            pool = await self._pool(node)
            async with asyncio.timeout(self.timeout):
                conn = await pool.acquire()
        except Exception as exc:
            if node.role == "replica":
                node.healthy = False
            raise _unavailable(exc) from exc
        node.in_use += 1
        self._gauge(node)
        try:
            yield conn
        except BaseException as exc:
            if _is_conn_error(exc) or isinstance(exc, asyncio.CancelledError):
                conn.close()  # never hand a broken or half-read connection back to the pool
                if _is_conn_error(exc):
                    # The server likely restarted: its other idle connections are dead too.
                    await pool.clear()
            raise
        finally:
            node.in_use -= 1
            self._gauge(node)
            pool.release(conn)

    def _gauge(self, node: Node) -> None:
        if self.metrics is not None:
            self.metrics.db_pool_in_use.labels(node.role).set(
                node.in_use if node.role == "primary" else sum(r.in_use for r in self.replicas))

    async def _run(self, node: Node, fn: Callable[[aiomysql.Connection], Awaitable[T]],
                   retries: int = 1, idempotent: bool = True) -> T:
        """fn on a connection of node, with a deadline; a stale pooled connection is retried."""
        for attempt in range(retries + 1):
            try:
                async with self._conn(node) as conn, asyncio.timeout(self.timeout):
                    return await fn(conn)
            except StorageUnavailable:
                raise
            except pymysql.err.MySQLError as exc:
                if not idempotent or not _is_conn_error(exc) or attempt == retries:
                    if _is_conn_error(exc):
                        raise _unavailable(exc) from exc
                    raise
            except _CONN_ERRORS as exc:
                if attempt == retries or (not idempotent and not isinstance(exc, _Stale)):
                    raise _unavailable(exc) from exc
        raise AssertionError("unreachable")

    # --- lifecycle -------------------------------------------------------
    async def open(self) -> None:
        try:
            version = await self._run(self.primary, _scalar("SELECT VERSION()"))
            self.mariadb = "mariadb" in str(version).lower()
            self.primary.healthy = True
        except StorageUnavailable:
            log.warning("primary %s:%d not reachable at start; will keep trying",
                        self.primary.host, self.primary.port)
        if self.metrics is not None:
            self.metrics.db_pool_size.labels("primary").set(self.cfg.pool_size)
            self.metrics.db_pool_size.labels("replica").set(self.cfg.pool_size * len(self.replicas))
        if self.replicas:  # the heartbeat only serves to measure replica lag
            await self._check_replicas()
            self._monitor = asyncio.get_running_loop().create_task(self._watch())

    async def close(self) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
            try:
                await self._monitor
            except asyncio.CancelledError:
                pass
        for node in [self.primary, *self.replicas]:
            if node.pool is not None:
                node.pool.close()
                await node.pool.wait_closed()
                node.pool = None

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            try:
                await self._check_replicas()
            except Exception as exc:  # never let the monitor die
                log.warning("replica check failed: %s", exc)

    async def _check_replicas(self) -> None:
        now = int(time.time() * 1000)

        async def beat(conn: aiomysql.Connection) -> int:
            async with conn.cursor() as cur:
                await cur.execute(
                    "INSERT INTO heartbeat (name, ts) VALUES (%s, %s) "
                    "ON DUPLICATE KEY UPDATE ts = GREATEST(ts, VALUES(ts))", (self.name, now))
                await cur.execute("SELECT MAX(ts) FROM heartbeat")
                row = await cur.fetchone()
            return int(row[0] or 0)

        try:
            self._primary_seen_ms = await self._run(self.primary, beat, retries=0)
            self.primary.healthy = True
        except Exception:
            self.primary.healthy = False
        await asyncio.gather(*(self._check_replica(r) for r in self.replicas))

    async def _check_replica(self, node: Node) -> None:
        was = node.healthy
        try:
            seen = await self._run(node, _scalar("SELECT MAX(ts) FROM heartbeat"), retries=0)
        except Exception:
            node.healthy, node.lag_ms = False, None
        else:
            if self.primary.healthy:
                node.lag_ms = max(0, self._primary_seen_ms - int(seen or 0))
            # With the primary down the replicas stop moving: lag is unknown, reads go on.
            node.healthy = node.lag_ms is None or node.lag_ms <= self.max_lag_ms
        if self.metrics is not None and node.lag_ms is not None:
            self.metrics.replica_lag.labels(node.name).set(node.lag_ms / 1000)
        if was != node.healthy:
            log.warning("%s (%s:%d) is now %s (lag %s ms)", node.name, node.host, node.port,
                        "in use" if node.healthy else "skipped", node.lag_ms)

    async def ping(self) -> dict[str, Any]:
        await self._run(self.primary, _scalar("SELECT 1"), retries=0)
        return {"storage": "mysql",
                "replicas": {r.name: {"healthy": r.healthy, "lag_ms": r.lag_ms}
                             for r in self.replicas}}

    async def init_schema(self) -> None:
        async def exists(conn: aiomysql.Connection) -> int:
            async with conn.cursor() as cur:
                await cur.execute(
                    "SELECT COUNT(*) FROM information_schema.tables "
                    "WHERE table_schema = DATABASE() AND table_name IN "
                    "('polls','poll_codes','ballots','tally_slots','idempotency','heartbeat')")
                return int((await cur.fetchone())[0])

        if await self._run(self.primary, exists) == 6:
            return  # created by an administrative account; the app user may not CREATE

        async def create(conn: aiomysql.Connection) -> None:
            async with conn.cursor() as cur:
                for stmt in _statements(SCHEMA_FILE.read_text()):
                    await cur.execute(stmt)
        await self._run(self.primary, create)

    # --- routing ---------------------------------------------------------
    async def _read(self, fn: Callable[[aiomysql.Connection], Awaitable[T]], pos: str | None,
                    primary: bool = False) -> T:
        """Run a read where it is fresh enough: a replica (waiting for pos) or the primary."""
        return (await self._read_at(fn, pos, primary))[0]

    async def _read_at(self, fn: Callable[[aiomysql.Connection], Awaitable[T]], pos: str | None,
                       primary: bool = False) -> tuple[T, Node]:
        """_read, also telling which node answered."""
        gtid = decode_pos(pos)
        if not primary:
            healthy = [r for r in self.replicas if r.healthy]
            if healthy:
                start = next(self._rr)
                for i in range(len(healthy)):
                    node = healthy[(start + i) % len(healthy)]
                    try:
                        return await self._run(node, self._waiting(fn, gtid)), node
                    except _NotCaughtUp:
                        break  # the primary has it
                    except StorageUnavailable:
                        node.healthy = False
                        continue
        try:
            return await self._run(self.primary, fn), self.primary
        except StorageUnavailable:
            if not primary or gtid is not None:
                raise
            # The primary is down: a replica's reading beats no answer for feeds.
            for node in self.replicas:
                try:
                    return await self._run(node, fn), node
                except StorageUnavailable:
                    continue
            raise

    def _waiting(self, fn: Callable[[aiomysql.Connection], Awaitable[T]],
                 gtid: str | None) -> Callable[[aiomysql.Connection], Awaitable[T]]:
        if gtid is None:
            return fn

        wait = "MASTER_GTID_WAIT" if self.mariadb else "WAIT_FOR_EXECUTED_GTID_SET"

        async def wrapped(conn: aiomysql.Connection) -> T:
            async with conn.cursor() as cur:
                await cur.execute(f"SELECT {wait}(%s, %s)", (gtid, self.ryw_wait))
                if (await cur.fetchone())[0] != 0:  # -1 (MariaDB) or 1 (MySQL): timed out
                    raise _NotCaughtUp()
            return await fn(conn)
        return wrapped

    async def _write(self, fn: Callable[[aiomysql.Connection], Awaitable[T]]) -> tuple[T, str | None]:
        """A transaction on the primary, retried on deadlock; returns (result, pos)."""
        async def txn(conn: aiomysql.Connection) -> tuple[T, str | None]:
            for attempt in range(5):
                try:
                    await conn.begin()
                except pymysql.err.MySQLError as exc:
                    raise _Stale() from exc
                try:
                    result = await fn(conn)
                    await conn.commit()
                except pymysql.err.MySQLError as exc:
                    await _rollback(conn)
                    if exc.args and exc.args[0] in RETRYABLE and attempt < 4:
                        await asyncio.sleep(0.005 * (attempt + 1))
                        continue
                    raise
                except BaseException:
                    await _rollback(conn)
                    raise
                async with conn.cursor() as cur:
                    await cur.execute("SELECT @@last_gtid" if self.mariadb
                                      else "SELECT @@GLOBAL.gtid_executed")
                    row = await cur.fetchone()
                return result, (encode_pos(str(row[0])) if row and row[0] else None)
            raise AssertionError("unreachable")
        return await self._run(self.primary, txn, retries=1, idempotent=False)

    # --- polls -----------------------------------------------------------
    async def create_poll(self, poll: Poll, code_hashes: list[str],
                          idem: IdempotencyRecord | None) -> str | None:
        async def fn(conn: aiomysql.Connection) -> None:
            async with conn.cursor() as cur:
                if idem is not None:
                    await _insert_idempotency(cur, [(idem, idem.status, poll.created_at)])
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
        return await self._read_or_primary(_poll_fn(poll_id), pos)

    async def _read_or_primary(self, fn: Callable[[aiomysql.Connection], Awaitable[T | None]],
                               pos: str | None) -> T | None:
        """A replica's "missing" is checked on the primary before it becomes a 404."""
        found, node = await self._read_at(fn, pos)
        if found is not None or node is self.primary:
            return found
        try:
            return await self._run(self.primary, fn)
        except StorageUnavailable:
            if pos is not None:
                raise
            return None

    async def list_public_polls(self, limit: int, before: tuple[int, str] | None,
                                pos: str | None = None) -> list[PollSummary]:
        sql, args = public_polls_query(limit, before, "%s")

        async def fn(conn: aiomysql.Connection) -> list[PollSummary]:
            async with conn.cursor() as cur:
                await cur.execute(sql, args)
                rows = await cur.fetchall()
            return [PollSummary.from_row(r) for r in rows]
        return await self._read(fn, pos)

    async def get_tally(self, poll_id: str, pos: str | None = None,
                        fresh: bool = False) -> Tally | None:
        async def fn(conn: aiomysql.Connection) -> Tally | None:
            async with conn.cursor() as cur:
                await cur.execute(tally_query("%s"), (poll_id,))
                rows = await cur.fetchall()
            if not rows:
                return None
            return tally_from_rows(poll_id, rows)
        if fresh:
            return await self._read(fn, None, primary=True)
        return await self._read_or_primary(fn, pos)

    async def _cast_batch(self, batch: list[CastRequest]) -> list[CastResult | BaseException]:
        """One transaction for many ballots; on any conflict, each one alone."""
        if len(batch) > 1:
            try:
                return await self._cast_many(batch)
            except _BatchConflict:
                pass
        out: list[CastResult | BaseException] = []
        for c in batch:
            try:
                out.append(await self._cast_one(c))
            except (DomainError, IdempotencyConflict) as exc:
                out.append(exc)
        return out

    async def _cast_one(self, c: CastRequest) -> CastResult:
        poll_id, voter_key, choices, receipt = c.poll_id, c.voter_key, c.choices, c.receipt
        slot, code_hash, idem, now = c.slot, c.code_hash, c.idem, c.now
        payload = json.dumps(choices, ensure_ascii=False)

        async def fn(conn: aiomysql.Connection) -> tuple[bool, int]:
            async with conn.cursor() as cur:
                # A shared lock: ballots run side by side; close/reopen waits for them.
                await cur.execute("SELECT status, closes_at, allow_revote FROM polls "
                                  "WHERE id = %s LOCK IN SHARE MODE", (poll_id,))
                row = await cur.fetchone()
                if row is None:
                    raise PollNotFound()
                status, closes_at, allow_revote = row
                if status != "open" or (closes_at is not None and closes_at <= now):
                    raise PollClosed()
                if code_hash is not None:
                    await cur.execute("SELECT 1 FROM poll_codes WHERE poll_id = %s "
                                      "AND code_hash = %s", (poll_id, code_hash))
                    if await cur.fetchone() is None:
                        raise InvalidCode()
                old: tuple[Any, ...] | None = None
                try:
                    await cur.execute(
                        "INSERT INTO ballots (poll_id, voter_key, choices, receipt, created_at, "
                        "updated_at) VALUES (%s, %s, %s, %s, %s, %s)",
                        (poll_id, voter_key, payload, receipt, now, now))
                except pymysql.err.IntegrityError as exc:
                    if exc.args[0] != ER_DUP_ENTRY:
                        raise
                    if not allow_revote:
                        raise CodeUsed() if code_hash is not None else AlreadyVoted()
                    await cur.execute("SELECT choices, created_at FROM ballots WHERE poll_id = %s "
                                      "AND voter_key = %s FOR UPDATE", (poll_id, voter_key))
                    old = await cur.fetchone()
                    if old is None:
                        raise pymysql.err.OperationalError(ER_LOCK_DEADLOCK, "ballot vanished")
                    await cur.execute(
                        "UPDATE ballots SET choices = %s, receipt = %s, updated_at = %s "
                        "WHERE poll_id = %s AND voter_key = %s",
                        (payload, receipt, now, poll_id, voter_key))
                if idem is not None:
                    await _insert_idempotency(cur, [(idem, 200 if old else 201, now)])
                delta = counts_delta(json.loads(old[0]) if old else None, choices)
                await _add_counters(cur, poll_id, slot, slot_rows(delta, old is None))
                return old is not None, int(old[1]) if old else now

        (replaced, created_at), pos = await self._write(fn)
        return CastResult(BallotRecord(poll_id, choices, receipt, created_at, now), replaced, pos)

    async def _cast_many(self, batch: list[CastRequest]) -> list[CastResult | BaseException]:
        """New ballots of many voters in one transaction: a few multi-row statements and one
        commit. Anything unusual (a revote, a duplicate raced in from another backend, a
        reused idempotency key) raises _BatchConflict and the batch is redone one by one."""
        async def fn(conn: aiomysql.Connection) -> list[BaseException | None]:
            out: list[BaseException | None] = [None] * len(batch)
            async with conn.cursor() as cur:
                poll_ids = sorted({c.poll_id for c in batch})
                await cur.execute(
                    "SELECT id, status, closes_at FROM polls WHERE id IN (" +
                    ",".join(["%s"] * len(poll_ids)) + ") LOCK IN SHARE MODE", poll_ids)
                polls = {r[0]: r for r in await cur.fetchall()}
                for i, c in enumerate(batch):
                    row = polls.get(c.poll_id)
                    if row is None:
                        out[i] = PollNotFound()
                    elif row[1] != "open" or (row[2] is not None and row[2] <= c.now):
                        out[i] = PollClosed()
                coded = [(i, c) for i, c in enumerate(batch) if out[i] is None and c.code_hash]
                if coded:
                    await cur.execute(
                        "SELECT poll_id, code_hash FROM poll_codes WHERE " +
                        " OR ".join(["(poll_id = %s AND code_hash = %s)"] * len(coded)),
                        [v for _, c in coded for v in (c.poll_id, c.code_hash)])
                    known = {(r[0], r[1]) for r in await cur.fetchall()}
                    for i, c in coded:
                        if (c.poll_id, c.code_hash) not in known:
                            out[i] = InvalidCode()
                todo = [(i, c) for i, c in enumerate(batch) if out[i] is None]
                if todo:
                    try:
                        await cur.execute(
                            "INSERT INTO ballots (poll_id, voter_key, choices, receipt, created_at,"
                            " updated_at) VALUES " + ",".join(["(%s,%s,%s,%s,%s,%s)"] * len(todo)),
                            [v for _, c in todo for v in (
                                c.poll_id, c.voter_key, json.dumps(c.choices, ensure_ascii=False),
                                c.receipt, c.now, c.now)])
                    except pymysql.err.IntegrityError:
                        raise _BatchConflict() from None
                    idems = [(c.idem, 201, c.now) for _, c in todo if c.idem is not None]
                    if idems:
                        try:
                            await _insert_idempotency(cur, idems)
                        except IdempotencyConflict:
                            raise _BatchConflict() from None
                    per_poll: dict[str, dict[str, int]] = {}
                    for _, c in todo:
                        acc = per_poll.setdefault(c.poll_id, {})
                        for option_id, n in slot_rows(counts_delta(None, c.choices), True):
                            acc[option_id] = acc.get(option_id, 0) + n
                    for poll_id, acc in sorted(per_poll.items()):
                        await _add_counters(cur, poll_id, batch[0].slot, sorted(acc.items()))
            return out

        errors, pos = await self._write(fn)
        return [err if err is not None else
                CastResult(BallotRecord(c.poll_id, c.choices, c.receipt, c.now, c.now), False, pos)
                for c, err in zip(batch, errors)]

    async def get_ballot(self, poll_id: str, voter_key: str,
                         pos: str | None = None) -> BallotRecord | None:
        async def fn(conn: aiomysql.Connection) -> BallotRecord | None:
            async with conn.cursor() as cur:
                await cur.execute("SELECT choices, receipt, created_at, updated_at FROM ballots "
                                  "WHERE poll_id = %s AND voter_key = %s", (poll_id, voter_key))
                row = await cur.fetchone()
            if row is None:
                return None
            return BallotRecord(poll_id, json.loads(row[0]), row[1], int(row[2]), int(row[3]))
        return await self._read_or_primary(fn, pos)

    async def code_exists(self, poll_id: str, code_hash: str, pos: str | None = None) -> bool:
        async def fn(conn: aiomysql.Connection) -> bool | None:
            async with conn.cursor() as cur:
                await cur.execute("SELECT 1 FROM poll_codes WHERE poll_id = %s AND code_hash = %s",
                                  (poll_id, code_hash))
                return True if await cur.fetchone() is not None else None
        return bool(await self._read_or_primary(fn, pos))

    async def set_status(self, poll_id: str, status: str, now: int) -> StatusChange | None:
        async def fn(conn: aiomysql.Connection) -> tuple[int, bool] | None:
            async with conn.cursor() as cur:
                await cur.execute("SELECT status, closes_at FROM polls WHERE id = %s FOR UPDATE",
                                  (poll_id,))
                row = await cur.fetchone()
                if row is None:
                    return None
                cur_status, closes_at = row
                effective = "closed" if cur_status == "closed" or (
                    closes_at is not None and closes_at <= now) else "open"
                changed = cur_status != status or effective != status
                if status == "closed":
                    await cur.execute("UPDATE polls SET status = 'closed', "
                                      "closed_at = COALESCE(closed_at, %s) WHERE id = %s",
                                      (now, poll_id))
                else:
                    await cur.execute(
                        "UPDATE polls SET status = 'open', closed_at = NULL, closes_at = CASE "
                        "WHEN closes_at IS NOT NULL AND closes_at <= %s THEN NULL "
                        "ELSE closes_at END WHERE id = %s", (now, poll_id))
                if changed:
                    await _add_counters(cur, poll_id, 0, [(SEQ_KEY, 1)])
                await cur.execute("SELECT COALESCE(SUM(n), 0) FROM tally_slots "
                                  "WHERE poll_id = %s AND option_id = %s", (poll_id, SEQ_KEY))
                return int((await cur.fetchone())[0]), changed
        result, pos = await self._write(fn)
        if result is None:
            return None
        seq, changed = result
        return StatusChange(poll_id, status, seq, pos, changed)

    async def delete_poll(self, poll_id: str) -> tuple[bool, str | None]:
        async def fn(conn: aiomysql.Connection) -> bool:
            async with conn.cursor() as cur:
                n = await cur.execute("DELETE FROM polls WHERE id = %s", (poll_id,))
                for table in ("ballots", "tally_slots", "poll_codes"):
                    await cur.execute(f"DELETE FROM {table} WHERE poll_id = %s", (poll_id,))
                return bool(n)
        deleted, pos = await self._write(fn)
        return deleted, pos

    async def due_polls(self, now: int) -> list[str]:
        async def fn(conn: aiomysql.Connection) -> list[str]:
            async with conn.cursor() as cur:
                await cur.execute("SELECT id FROM polls WHERE status = 'open' AND closes_at "
                                  "IS NOT NULL AND closes_at <= %s", (now,))
                return [r[0] for r in await cur.fetchall()]
        return await self._run(self.primary, fn)

    async def get_idempotency(self, key_hash: str, since: int) -> IdempotencyRecord | None:
        async def fn(conn: aiomysql.Connection) -> IdempotencyRecord | None:
            async with conn.cursor() as cur:
                await cur.execute("SELECT request_hash, status, body FROM idempotency "
                                  "WHERE key_hash = %s AND created_at >= %s", (key_hash, since))
                row = await cur.fetchone()
            return IdempotencyRecord(key_hash, row[0], int(row[1]), row[2]) if row else None
        return await self._run(self.primary, fn)

    async def purge_idempotency(self, before: int) -> int:
        async def fn(conn: aiomysql.Connection) -> int:
            async with conn.cursor() as cur:
                return int(await cur.execute("DELETE FROM idempotency WHERE created_at < %s",
                                             (before,)))
        n, _ = await self._write(fn)
        return n

    async def recount(self, poll_id: str) -> Tally | None:
        poll = await self._run(self.primary, _poll_fn(poll_id))
        if poll is None:
            return None

        async def fn(conn: aiomysql.Connection) -> list[str]:
            async with conn.cursor() as cur:
                await cur.execute("SELECT choices FROM ballots WHERE poll_id = %s", (poll_id,))
                return [r[0] for r in await cur.fetchall()]
        total, counts = recount_choices(poll, await self._run(self.primary, fn))
        tally = await self.get_tally(poll_id, fresh=True)
        return Tally(poll_id, tally.seq if tally else 0, poll.status, total, counts)


class _BatchConflict(Exception):
    """Something in a batch needs the one-by-one path."""


class _Stale(ConnectionError):
    """A pooled connection died before the transaction began: safe to retry elsewhere."""


class _NotCaughtUp(Exception):
    """The replica did not reach the client's position in time."""


def _poll_fn(poll_id: str) -> Callable[[aiomysql.Connection], Awaitable[Poll | None]]:
    async def fn(conn: aiomysql.Connection) -> Poll | None:
        async with conn.cursor(aiomysql.DictCursor) as cur:
            await cur.execute(f"SELECT {POLL_COLUMNS} FROM polls WHERE id = %s", (poll_id,))
            row = await cur.fetchone()
        return poll_from_row(row) if row else None
    return fn


def _scalar(sql: str) -> Callable[[aiomysql.Connection], Awaitable[Any]]:
    async def fn(conn: aiomysql.Connection) -> Any:
        async with conn.cursor() as cur:
            await cur.execute(sql)
            row = await cur.fetchone()
        return row[0] if row else None
    return fn


async def _insert_idempotency(cur: aiomysql.Cursor,
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


async def _add_counters(cur: aiomysql.Cursor, poll_id: str, slot: int,
                        rows: list[tuple[str, int]]) -> None:
    await cur.execute(
        "INSERT INTO tally_slots (poll_id, option_id, slot, n) VALUES " +
        ",".join(["(%s,%s,%s,%s)"] * len(rows)) +
        " ON DUPLICATE KEY UPDATE n = n + VALUES(n)",
        [v for option_id, n in rows for v in (poll_id, option_id, slot, n)])


async def _rollback(conn: aiomysql.Connection) -> None:
    try:
        await conn.rollback()
    except Exception:  # the connection is gone; the server rolls back on its own
        pass


def _statements(sql: str) -> list[str]:
    lines = [ln for ln in sql.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
