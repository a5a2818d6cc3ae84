"""MySQL connection pools: one node per server (the primary, each replica), a pool per node
created on first use, a deadline on every query, and what a failure means (unavailable,
or a stale pooled connection worth one retry)."""
from __future__ import annotations

import asyncio
import base64
import binascii
import re
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable, TypeVar

from voting.config import StorageConfig
from voting.errors import StorageUnavailable
from voting.metrics import Metrics
from voting.storage.mysql import driver as db
from voting.storage.mysql.queries import GROUP_CONCAT_MAX_LEN

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
    pool: db.Pool | None = None
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


def unavailable(exc: BaseException) -> StorageUnavailable:
    return StorageUnavailable(f"The database is unavailable ({type(exc).__name__}); "
                              "please retry in a few seconds.")


CONN_ERRORS = (db.OperationalError, db.InterfaceError, ConnectionError,
                OSError, asyncio.TimeoutError, RuntimeError)


def is_conn_error(exc: BaseException) -> bool:
    if isinstance(exc, db.OperationalError):
        return exc.args[0] not in RETRYABLE if exc.args else True
    return isinstance(exc, CONN_ERRORS)



class Stale(ConnectionError):
    """A pooled connection died before the transaction began: safe to retry elsewhere."""


class Pools:
    """The node pair (primary, replicas) and their pools."""

    def __init__(self, cfg: StorageConfig, metrics: Metrics | None) -> None:
        self.cfg = cfg
        self.primary = Node("primary", "primary", cfg.host, cfg.port)
        self.replicas = [Node(f"replica{i + 1}", "replica", r.host, r.port)
                         for i, r in enumerate(cfg.replicas)]
        self.timeout = cfg.query_timeout
        self.metrics = metrics
        self.group_concat_max_len = GROUP_CONCAT_MAX_LEN  # for the pools created from now on

    async def _pool(self, node: Node) -> db.Pool:
        if node.pool is None:
            async with asyncio.timeout(self.timeout):
                node.pool = await db.create_pool(
                    minsize=0, maxsize=self.cfg.pool_size, host=node.host, port=node.port,
                    user=self.cfg.user, password=self.cfg.password, db=self.cfg.database,
                    charset="utf8mb4", autocommit=True,
                    # The ballot transaction sends its statements together (queries.py).
                    client_flag=db.MULTI_STATEMENTS,
                    connect_timeout=self.cfg.connect_timeout, pool_recycle=300,
                    init_command="SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED; SET "
                    f"SESSION group_concat_max_len = {int(self.group_concat_max_len)}")
        return node.pool

    @asynccontextmanager
    async def _conn(self, node: Node) -> AsyncIterator[db.Connection]:
        try:
            pool = await self._pool(node)
            async with asyncio.timeout(self.timeout):
                conn = await pool.acquire()
        except Exception as exc:
            if node.role == "replica":
                node.healthy = False
            raise unavailable(exc) from exc
        node.in_use += 1
        self._gauge(node)
        try:
            yield conn
        except BaseException as exc:
            if is_conn_error(exc) or isinstance(exc, asyncio.CancelledError):
                conn.close()  # never hand a broken or half-read connection back to the pool
                if is_conn_error(exc):
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

    async def _run(self, node: Node, fn: Callable[[db.Connection], Awaitable[T]],
                   retries: int = 1, idempotent: bool = True) -> T:
        """fn on a connection of node, with a deadline; a stale pooled connection is retried."""
        for attempt in range(retries + 1):
            try:
                async with self._conn(node) as conn, asyncio.timeout(self.timeout):
                    return await fn(conn)
            except StorageUnavailable:
                raise
            except db.MySQLError as exc:
                if not idempotent or not is_conn_error(exc) or attempt == retries:
                    if is_conn_error(exc):
                        raise unavailable(exc) from exc
                    raise
            except CONN_ERRORS as exc:
                if attempt == retries or (not idempotent and not isinstance(exc, Stale)):
                    raise unavailable(exc) from exc
        raise AssertionError("unreachable")


    async def close_pools(self) -> None:
        for node in [self.primary, *self.replicas]:
            if node.pool is not None:
                node.pool.close()
                await node.pool.wait_closed()
                node.pool = None


def scalar(sql: str) -> Callable[[db.Connection], Awaitable[Any]]:
    async def fn(conn: db.Connection) -> Any:
        async with conn.cursor() as cur:
            await cur.execute(sql)
            row = await cur.fetchone()
        return row[0] if row else None
    return fn


async def rollback(conn: db.Connection) -> None:
    try:
        await conn.rollback()
    except Exception:  # the connection is gone; the server rolls back on its own
        pass


