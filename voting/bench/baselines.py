"""The bench's baselines, measured in the same run on the same machine and servers as
the scenarios: B_nop (a no-op through the same entry point), B_ins (single-row autocommit
INSERTs on the same primary), B_ws (a bare Tornado process broadcasting one message) and
B_mem (RSS per idle socket of a bare Tornado WebSocket server)."""
from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator

from voting.bench.clients import HttpConn, call_json
from voting.bench.errors import BenchError
from voting.bench.procstat import rss_kb
from voting.bench.stats import latency_ms

if TYPE_CHECKING:
    from voting.bench.run import Bench


async def b_nop(bench: Bench, concurrency: int, n: int) -> dict[str, Any]:
    host, port = bench.t.host_port
    # The servers' CPU per no-op beside the ballot's: what a ballot costs beyond a request.
    answers, cpu = await bench.with_cpu(bench.all_voters([
        {"cmd": "nop", "host": host, "port": port, "concurrency": max(1, c), "n": m,
         "browser_headers": bench.o.browser_headers}
        for c, m in zip(bench.split(concurrency), bench.split(n))]))
    ok = sum(a["statuses"].get("200", 0) for a in answers)
    seconds = max(a["seconds"] for a in answers)
    statuses: dict[str, int] = {}
    for a in answers:
        for k, c in a["statuses"].items():
            statuses[k] = statuses.get(k, 0) + c
    return {"requests_per_second": round(ok / seconds, 1),
            "latency": latency_ms([x for a in answers for x in a["latencies"]]),
            "statuses": statuses, "cpu_cores": cpu}


async def b_ins(bench: Bench, concurrency: int, n: int) -> dict[str, Any] | None:
    if bench.t.mysql is None and bench.t.mode == "server":
        return None  # no primary named: a SQLite file here says nothing about it
    if bench.t.mysql is not None:
        # A name of its own: the database may be a deployment's, where a table called
        # like this one could exist (CREATE fails rather than the DROP taking it).
        table = f"bench_ins_{secrets.token_hex(4)}"
        await asyncio.to_thread(_mysql_ddl, bench, f"CREATE TABLE {table} "
                                "(id BIGINT AUTO_INCREMENT PRIMARY KEY, v INT NOT NULL)")
        try:
            ans = await bench.rpc(bench.inserter, {"cmd": "inserts", "dsn": bench.t.mysql,
                                                   "table": table, "n": n,
                                                   "concurrency": concurrency})
        finally:
            await asyncio.to_thread(_mysql_ddl, bench, f"DROP TABLE IF EXISTS {table}")
        what = f"MariaDB primary, asyncmy over TCP, {concurrency} connections, autocommit"
    else:
        path = os.path.join(bench.t.scratch_dir, f"bench-ins-{os.getpid()}.sqlite3")
        ans = await bench.rpc(bench.inserter, {"cmd": "inserts", "path": path, "n": n})
        what = "SQLite WAL synchronous=FULL, one writer, autocommit"
    return {"inserts_per_second": round(ans["n"] / ans["seconds"], 1), "what": what,
            "latency": latency_ms(ans["latencies"]) if ans["latencies"] else None}


def _mysql_ddl(bench: Bench, sql: str) -> None:
    import pymysql

    assert bench.t.mysql is not None
    if bench.t.mysql_root_socket:
        conn = pymysql.connect(unix_socket=bench.t.mysql_root_socket, user="root",
                               database=bench.t.mysql["database"], autocommit=True)
    else:
        d = bench.t.mysql
        conn = pymysql.connect(host=d["host"], port=d["port"], user=d["user"],
                               password=d["password"], database=d["database"],
                               autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


@asynccontextmanager
async def bare_server() -> AsyncIterator[tuple[subprocess.Popen[bytes], int]]:
    """A bare Tornado process (voting.bench.bare) and its port; stopped on leaving."""
    port_file = tempfile.NamedTemporaryFile(prefix="bench-bare-", delete=False)
    port_file.close()
    os.unlink(port_file.name)
    proc = subprocess.Popen([sys.executable, "-m", "voting.bench.bare", port_file.name],
                            stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(port_file.name) or not Path(port_file.name).read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError("the bare Tornado server did not start")
            await asyncio.sleep(0.05)
        port = int(Path(port_file.name).read_text())
        os.unlink(port_file.name)
        yield proc, port
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 10)


async def b_ws(bench: Bench, n: int) -> dict[str, Any]:
    """A bare Tornado process broadcasting one message to n sockets, as fast as it can."""
    async with bare_server() as (_, port):
        await bench.connect([("bare0000", n)], "127.0.0.1", port, subscribe=False)
        conn = HttpConn("127.0.0.1", port)
        t0 = time.monotonic()
        code, ans = await call_json(conn, "POST", f"/broadcast?seconds={bench.o.bws_seconds}",
                                    {})
        t1 = time.monotonic()
        conn.close()
        received = sum((await bench.frames_between(t0, t1)).values())
        await bench.close_feeds()
        return {"sockets": n, "frames_per_second": round(received / (t1 - t0), 1),
                "sent_per_second": round(ans["frames_per_second"], 1)}


async def b_mem(bench: Bench, n: int) -> dict[str, Any]:
    async with bare_server() as (proc, port):
        before = rss_kb(proc.pid)
        c = await bench.connect([("bare0000", n)], "127.0.0.1", port, subscribe=False)
        await asyncio.sleep(1.0)  # let the allocator settle before reading RSS
        after = rss_kb(proc.pid)
        await bench.close_feeds()
        per = (after - before) / max(1, c["connected"]) if before and after else None
        return {"sockets": c["connected"], "rss_kb_before": before, "rss_kb_after": after,
                "kb_per_socket": round(per, 2) if per is not None else None}
