"""Read routing and the write transaction: writes (and reads that must see them) go to the
primary; other reads round-robin over the replicas that answer and keep up. A write returns
the primary's GTID position; a read carrying it waits briefly on the replica (MASTER_GTID_WAIT
/ WAIT_FOR_EXECUTED_GTID_SET), else goes to the primary."""
from __future__ import annotations

import asyncio
import itertools
from typing import Awaitable, Callable, TypeVar

from voting.errors import StorageUnavailable
from voting.storage.mysql import driver as db
from voting.storage.mysql.pools import RETRYABLE, Node, Pools, Stale, decode_pos, encode_pos, \
    rollback

T = TypeVar("T")


class NotCaughtUp(Exception):
    """The replica did not reach the client's position in time."""


class Router(Pools):
    mariadb: bool
    ryw_wait: float
    _rr: "itertools.count[int]"

    async def _read(self, fn: Callable[[db.Connection], Awaitable[T]], pos: str | None,
                    primary: bool = False) -> T:
        """Run a read where it is fresh enough: a replica (waiting for pos) or the primary."""
        return (await self._read_at(fn, pos, primary))[0]

    async def _read_at(self, fn: Callable[[db.Connection], Awaitable[T]], pos: str | None,
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
                    except NotCaughtUp:
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

    def _waiting(self, fn: Callable[[db.Connection], Awaitable[T]],
                 gtid: str | None) -> Callable[[db.Connection], Awaitable[T]]:
        if gtid is None:
            return fn

        wait = "MASTER_GTID_WAIT" if self.mariadb else "WAIT_FOR_EXECUTED_GTID_SET"

        async def wrapped(conn: db.Connection) -> T:
            async with conn.cursor() as cur:
                await cur.execute(f"SELECT {wait}(%s, %s)", (gtid, self.ryw_wait))
                if (await cur.fetchone())[0] != 0:  # -1 (MariaDB) or 1 (MySQL): timed out
                    raise NotCaughtUp()
            return await fn(conn)
        return wrapped

    @property
    def position_sql(self) -> str:
        """The statement that reads the position of this session's last commit."""
        return "SELECT @@last_gtid" if self.mariadb else "SELECT @@GLOBAL.gtid_executed"

    async def _write(self, fn: Callable[[db.Connection], Awaitable[T]]) -> tuple[T, str | None]:
        """A transaction on the primary, retried on deadlock; returns (result, pos)."""
        async def txn(conn: db.Connection) -> tuple[T, str | None]:
            async def attempt() -> tuple[T, str | None]:
                try:
                    await conn.begin()
                except db.MySQLError as exc:
                    raise Stale() from exc
                result = await fn(conn)
                await conn.commit()
                async with conn.cursor() as cur:
                    await cur.execute(self.position_sql)
                    row = await cur.fetchone()
                return result, (str(row[0]) if row and row[0] else None)
            return await self._retrying(conn, attempt)
        return await self._run(self.primary, txn, retries=1, idempotent=False)

    @staticmethod
    async def _retrying(conn: db.Connection,
                        attempt: Callable[[], Awaitable[tuple[T, str | None]]]
                        ) -> tuple[T, str | None]:
        """One transaction, `attempt` beginning and committing it and returning (result, the
        commit's GTID): rolled back on any failure, and tried again (5 times at most) on a
        deadlock or lock wait timeout. Stale (nothing begun) goes to the caller as it is.
        Returns (result, pos)."""
        for n in range(5):
            try:
                result, gtid = await attempt()
            except Stale:
                raise
            except db.MySQLError as exc:
                await rollback(conn)
                if exc.args and exc.args[0] in RETRYABLE and n < 4:
                    await asyncio.sleep(0.005 * (n + 1))
                    continue
                raise
            except BaseException:
                await rollback(conn)
                raise
            return result, (encode_pos(gtid) if gtid else None)
        raise AssertionError("unreachable")

    async def _read_or_primary(self, fn: Callable[[db.Connection], Awaitable[T | None]],
                               pos: str | None) -> T | None:
        """A replica's "missing" is checked on the primary before it becomes a 404."""
        found, node = await self._read_at(fn, pos)
        if found is not None or node is self.primary:
            return found
        return await self._missing_on_primary(fn, pos, None)

    async def _missing_on_primary(self, fn: Callable[[db.Connection], Awaitable[T]],
                                  pos: str | None, absent: T) -> T:
        """What a replica did not have, read again on the primary (it may be newer than the
        replica). With the primary down: `absent`, unless the read carries a position (the
        client wrote it, so it must not pass for missing)."""
        try:
            return await self._run(self.primary, fn)
        except StorageUnavailable:
            if pos is not None:
                raise
            return absent

