"""The bench's load-generator processes, each with its own event loop.

A worker takes commands (dicts) over a pipe from the coordinator and answers
each with one dict. Every time is taken with time.monotonic(), which on Linux
is one clock for every process of the machine, so a ballot's send time in the
voter process and a frame's arrival in a subscriber process compare directly.

* subscribers: opens WebSocket feeds, records frames, stalls one on request,
  and at the end computes vote -> tally latencies for its own feeds.
* voters: issues voter tokens, casts ballots (or no-op requests) with bounded
  concurrency, optionally paced.
* inserts: single-row autocommit INSERTs (the B_ins baseline).
"""
from __future__ import annotations

import asyncio
import bisect
import json
import os
import random
import resource
import sqlite3
import time
from multiprocessing.connection import Connection
from typing import Any, Callable

from voting.bench.clients import BROWSER_HEADERS, FeedRecord, HttpConn, WsReader, call_json, \
    open_feed
from voting.bench.stats import Histogram

Handler = Callable[[dict[str, Any]], Any]


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def serve(conn: Connection, handlers: dict[str, Handler]) -> None:
    """Run the command loop of a worker process (blocking reads happen off the loop)."""
    raise_fd_limit()
    # A session of its own, as each server process has: Linux's scheduler (autogroups) shares
    # the cores between sessions first, so the whole generator in the caller's session got one
    # server process's share, and its subscribers stopped reading for 0.1-0.3 s at a time.
    try:
        os.setsid()
    except OSError:
        pass

    async def main() -> None:
        while True:
            cmd = await asyncio.to_thread(conn.recv)
            name = cmd.get("cmd")
            if name == "exit":
                conn.send({"ok": True})
                return
            try:
                result = await handlers[name](cmd)
                conn.send({"ok": True, **(result or {})})
            except Exception as exc:  # reported to the coordinator, which fails the run
                conn.send({"ok": False, "error": f"{type(exc).__name__}: {exc}"})

    try:
        run_loop(main())
    except KeyboardInterrupt:
        pass


def run_loop(main: Any) -> None:
    """asyncio.run, on uvloop when it is installed (the `bench` extra): a cheaper generator
    leaves more of the machine to the servers it measures."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


# --- subscribers -----------------------------------------------------------------

class SubscriberWorker:
    def __init__(self) -> None:
        self.feeds: list[tuple[FeedRecord, WsReader]] = []
        self.stalled: WsReader | None = None

    def handlers(self) -> dict[str, Handler]:
        return {"connect": self.connect, "finish": self.finish, "stall": self.stall,
                "resume": self.resume, "count": self.count, "close": self.close}

    async def connect(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """cmd: host, port, polls [(poll, n)], subscribe, rcvbuf, parallel."""
        sem = asyncio.Semaphore(cmd.get("parallel", 64))
        failed: list[str] = []

        async def one(poll: str) -> None:
            rec = FeedRecord(poll)
            async with sem:
                try:
                    proto = await open_feed(cmd["host"], cmd["port"], rec,
                                            subscribe=cmd.get("subscribe", True),
                                            rcvbuf=cmd.get("rcvbuf"))
                except (OSError, ConnectionError, TimeoutError) as exc:
                    failed.append(f"{type(exc).__name__}: {exc}")
                    return
            self.feeds.append((rec, proto))

        await asyncio.gather(*(one(p) for p, n in cmd["polls"] for _ in range(n)))
        servers: dict[str, int] = {}
        for rec, _ in self.feeds:
            servers[str(rec.server)] = servers.get(str(rec.server), 0) + 1
        return {"connected": len(self.feeds), "failed": len(failed), "why": failed[:3],
                "servers": servers}

    async def stall(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Stop reading one feed (the last one connected, opened with a small rcvbuf)."""
        rec, proto = self.feeds[-1]
        assert proto.transport is not None
        proto.transport.pause_reading()
        self.stalled = proto
        return {"server": rec.server}

    async def resume(self, cmd: dict[str, Any]) -> dict[str, Any]:
        proto = self.stalled
        if proto is None:
            return {}
        if proto.transport is not None and not proto.transport.is_closing():
            proto.transport.resume_reading()
        return {"closed_by_server": proto.rec.closed_code, "lost": proto.done.done()}

    async def count(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Frames received per server between cmd['t0'] and cmd['t1']."""
        t0, t1 = cmd["t0"], cmd["t1"]
        per: dict[str, int] = {}
        for rec, _ in self.feeds:
            n = sum(1 for t, _, _ in rec.frames if t0 <= t <= t1)
            per[str(rec.server)] = per.get(str(rec.server), 0) + n
        return {"frames": per}

    async def finish(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Wait (up to a deadline) until every feed saw its poll's final seq, then report.

        cmd: final {poll: [seq, results_questions_json]}, groups {group: {poll: [[rank,
        t_send], ...]}}, timeout, sample (max ballots per poll and group).
        """
        final: dict[str, list[Any]] = cmd["final"]
        waits = []
        for rec, proto in self.feeds:
            if proto is self.stalled or rec.poll not in final:
                continue
            want = final[rec.poll][0]
            if rec.frames and rec.frames[-1][1] >= want:
                continue
            proto.wanted_seq = want
            proto.reached.clear()
            waits.append(proto.reached.wait())
        if waits:
            try:
                async with asyncio.timeout(cmd.get("timeout", 20.0)):
                    await asyncio.gather(*waits)
            except TimeoutError:
                pass
        hists = {g: Histogram() for g in cmd["groups"]}
        # The same latencies by when their ballot was sent (slices of the run from t0): a
        # tail that comes from one stall shows in one slice, a start-up cost in the first.
        t0, width = cmd.get("t0"), float(cmd["slice"])
        slices: dict[str, dict[int, Histogram]] = {g: {} for g in cmd["groups"]}
        missed = {g: 0 for g in cmd["groups"]}
        ended = 0
        checked = 0
        out_of_order = 0
        frames = 0
        closed = 0
        for rec, proto in self.feeds:
            if proto is self.stalled or rec.poll not in final:
                continue
            checked += 1
            frames += len(rec.frames)
            out_of_order += rec.out_of_order
            if rec.closed_code is not None or proto.done.done():
                closed += 1
            seq, questions = final[rec.poll]
            if rec.last_text is not None and rec.frames and rec.frames[-1][1] == seq:
                last = json.loads(rec.last_text)
                if last.get("questions") == questions:
                    ended += 1
            totals = [f[2] for f in rec.frames]
            for group, polls in cmd["groups"].items():
                for rank, t_send in polls.get(rec.poll, ()):
                    i = bisect.bisect_left(totals, rank)
                    if i == len(totals):
                        missed[group] += 1
                    else:
                        latency = max(0.0, rec.frames[i][0] - t_send)
                        hists[group].add(latency)
                        if t0 is not None:
                            k = max(0, int((t_send - t0) / width))
                            slices[group].setdefault(k, Histogram()).add(latency)
        return {"checked": checked, "ended_on_results": ended, "out_of_order": out_of_order,
                "frames": frames, "closed": closed,
                "latency": {g: h.to_dict() for g, h in hists.items()}, "missed": missed,
                "slices": {g: {k: h.to_dict() for k, h in per.items()}
                           for g, per in slices.items()}}

    async def close(self, cmd: dict[str, Any]) -> dict[str, Any]:
        for _, proto in self.feeds:
            proto.close()
        if self.feeds:
            try:
                async with asyncio.timeout(5.0):
                    await asyncio.gather(*(p.done for _, p in self.feeds))
            except TimeoutError:
                pass
        n = len(self.feeds)
        self.feeds = []
        self.stalled = None
        return {"closed": n}


def subscriber_main(conn: Connection) -> None:
    serve(conn, SubscriberWorker().handlers())


# --- voters --------------------------------------------------------------------

class VoterWorker:
    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.conns: list[HttpConn] = []

    def handlers(self) -> dict[str, Handler]:
        return {"tokens": self.issue_tokens, "ballots": self.ballots, "nop": self.nop,
                "close": self.close}

    def _pool(self, cmd: dict[str, Any], n: int) -> list[HttpConn]:
        host, port = cmd["host"], cmd["port"]
        extra = BROWSER_HEADERS if cmd.get("browser_headers") else ()
        if len(self.conns) < n or (self.conns and (self.conns[0].host, self.conns[0].port,
                                                   self.conns[0].extra) != (host, port, extra)):
            for c in self.conns:
                c.close()
            self.conns = [HttpConn(host, port, extra) for _ in range(n)]
        return self.conns[:n]

    async def issue_tokens(self, cmd: dict[str, Any]) -> dict[str, Any]:
        need = cmd["n"] - len(self.tokens)
        conns = self._pool(cmd, cmd.get("concurrency", 50))
        statuses: dict[str, int] = {}
        todo = iter(range(max(0, need)))

        async def run(c: HttpConn) -> None:
            for _ in todo:
                code, data = await call_json(c, "POST", "/api/voters")
                statuses[str(code)] = statuses.get(str(code), 0) + 1
                if code == 201:
                    self.tokens.append(data["voter_token"])

        await asyncio.gather(*(run(c) for c in conns))
        return {"tokens": len(self.tokens), "statuses": statuses}

    async def ballots(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """cmd: host, port, concurrency, plan [[poll, qid, option] ...] (one per token, in
        order), first_token, rate (ballots/s, 0 = as fast as possible)."""
        conns = self._pool(cmd, cmd["concurrency"])
        plan = cmd["plan"]
        first = cmd.get("first_token", 0)
        if first + len(plan) > len(self.tokens):
            raise RuntimeError(f"{len(plan)} ballots need more than {len(self.tokens)} tokens")
        rate = cmd.get("rate", 0)
        records: list[tuple[int, float, float, int]] = []
        todo = iter(range(len(plan)))
        start = time.monotonic()
        # No new ballot after this (0: none): a phase ends in bounded time on a slow server.
        stop = start + cmd["max_seconds"] if cmd.get("max_seconds") else float("inf")
        bodies = [json.dumps({"choices": {q: [o]}}).encode() for _, q, o in plan]

        async def run(c: HttpConn) -> None:
            for i in todo:
                if time.monotonic() > stop:
                    return
                if rate:
                    delay = start + i / rate - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                poll = plan[i][0]
                t0 = time.monotonic()
                code, _ = await c.request("POST", f"/api/polls/{poll}/ballots", bodies[i],
                                          {"X-Voter-Token": self.tokens[first + i]})
                records.append((i, t0, time.monotonic(), code))

        await asyncio.gather(*(run(c) for c in conns))
        elapsed = time.monotonic() - start
        return {"records": records, "seconds": elapsed}

    async def nop(self, cmd: dict[str, Any]) -> dict[str, Any]:
        conns = self._pool(cmd, cmd["concurrency"])
        todo = iter(range(cmd["n"]))
        statuses: dict[str, int] = {}
        lat: list[float] = []
        start = time.monotonic()

        async def run(c: HttpConn) -> None:
            for _ in todo:
                t0 = time.monotonic()
                code, _ = await c.request("GET", cmd.get("path", "/healthz"))
                lat.append(time.monotonic() - t0)
                statuses[str(code)] = statuses.get(str(code), 0) + 1

        await asyncio.gather(*(run(c) for c in conns))
        return {"seconds": time.monotonic() - start, "statuses": statuses, "latencies": lat}

    async def close(self, cmd: dict[str, Any]) -> dict[str, Any]:
        for c in self.conns:
            c.close()
        self.conns = []
        return {}


def voter_main(conn: Connection) -> None:
    serve(conn, VoterWorker().handlers())


# --- single-row inserts (B_ins) ----------------------------------------------------

async def _mysql_inserts(cmd: dict[str, Any]) -> dict[str, Any]:
    from voting.storage.mysql import driver  # the servers' own driver

    dsn = cmd["dsn"]
    n, concurrency = cmd["n"], cmd["concurrency"]
    pool = await driver.create_pool(host=dsn["host"], port=dsn["port"], user=dsn["user"],
                                    password=dsn["password"], db=dsn["database"],
                                    minsize=concurrency, maxsize=concurrency, autocommit=True)
    todo = iter(range(n))
    lat: list[float] = []

    async def run() -> None:
        async with pool.acquire() as c:
            async with c.cursor() as cur:
                for i in todo:
                    t0 = time.monotonic()
                    await cur.execute(f"INSERT INTO {cmd['table']} (v) VALUES (%s)", (i,))
                    lat.append(time.monotonic() - t0)

    start = time.monotonic()
    try:
        await asyncio.gather(*(run() for _ in range(concurrency)))
    finally:
        pool.close()
        await pool.wait_closed()
    return {"seconds": time.monotonic() - start, "n": n, "latencies": lat}


async def _sqlite_inserts(cmd: dict[str, Any]) -> dict[str, Any]:
    """One writer (as SQLite allows), synchronous=FULL in WAL like the embedded storage."""
    path = cmd["path"]

    def work() -> float:
        db = sqlite3.connect(path, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("CREATE TABLE IF NOT EXISTS bench_ins (id INTEGER PRIMARY KEY, v INTEGER)")
            start = time.monotonic()
            for i in range(cmd["n"]):
                db.execute("INSERT INTO bench_ins (v) VALUES (?)", (i,))
            return time.monotonic() - start
        finally:
            db.close()
            for suffix in ("", "-wal", "-shm"):
                try:
                    os.unlink(path + suffix)
                except FileNotFoundError:
                    pass

    seconds = await asyncio.to_thread(work)
    return {"seconds": seconds, "n": cmd["n"], "latencies": []}


async def _inserts(cmd: dict[str, Any]) -> dict[str, Any]:
    if cmd.get("dsn"):
        return await _mysql_inserts(cmd)
    return await _sqlite_inserts(cmd)


def inserts_main(conn: Connection) -> None:
    serve(conn, {"inserts": _inserts})


def shuffled(items: list[Any], seed: int = 7) -> list[Any]:
    out = list(items)
    random.Random(seed).shuffle(out)
    return out
