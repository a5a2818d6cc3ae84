"""Replica lag, measured without replication privileges: every backend writes a heartbeat
row on the primary and reads it back on each replica (pt-heartbeat style). A replica that is
down or lags over max_replica_lag is skipped by reads until it catches up."""
from __future__ import annotations

import asyncio
import logging
import time

from voting.storage.mysql import driver as db
from voting.storage.mysql.pools import Node, Pools, scalar

log = logging.getLogger("voting.storage.mysql")


class LagMonitor(Pools):
    name: str
    max_lag_ms: int
    _primary_seen_ms: int
    _monitor: asyncio.Task[None] | None

    def start_monitor(self) -> None:
        self._monitor = asyncio.get_running_loop().create_task(self._watch())

    async def stop_monitor(self) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
            try:
                await self._monitor
            except asyncio.CancelledError:
                pass
            self._monitor = None

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            try:
                await self._check_replicas()
            except Exception as exc:  # never let the monitor die
                log.warning("replica check failed: %s", exc)

    async def _check_replicas(self) -> None:
        now = int(time.time() * 1000)

        async def beat(conn: db.Connection) -> int:
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
            seen = await self._run(node, scalar("SELECT MAX(ts) FROM heartbeat"), retries=0)
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

