"""The coordinator of `voting bench`: scenarios and checks (the baselines: baselines.py).

The coordinator itself sends only setup requests (polls, /results, /metrics);
ballots come from a voter process and WebSocket frames land in subscriber
processes, so the load generator spreads over the cores like the servers do.
"""
from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import re
import sys
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Awaitable, Callable, TypeVar

from voting.bench import baselines, workers
from voting.bench.clients import HttpConn, call_json, host_port
from voting.bench.errors import BenchError
from voting.bench.procstat import cpu_cores, cpu_snapshot, rss_kb
from voting.bench.stats import Histogram, latency_ms, ratio

T = TypeVar("T")

# Seconds per slice of a run in vote_to_tally_ms_over_time (when the tail happened).
SLICE = 0.25


@dataclass
class Backend:
    name: str
    port: int
    pid: int | None


@dataclass
class Target:
    url: str
    mode: str  # embedded | cluster | server (a deployment the bench did not start)
    backends: list[Backend]
    mysql: dict[str, Any] | None = None  # app user's DSN on the primary (B_ins)
    mysql_root_socket: str | None = None  # for the scratch table's DDL
    roles: dict[str, list[int]] = field(default_factory=dict)  # role -> pids (CPU accounting)
    scratch_dir: str = "."
    tally_interval: float = 0.1

    @property
    def host_port(self) -> tuple[str, int]:
        return host_port(self.url)

    def backend(self, name: str | None) -> Backend:
        for b in self.backends:
            if b.name == name:
                return b
        return self.backends[0]


@dataclass
class Proc:
    kind: str
    proc: Any
    conn: Connection

    def rpc(self, cmd: dict[str, Any]) -> dict[str, Any]:
        self.conn.send(cmd)
        answer: dict[str, Any] = self.conn.recv()
        if not answer.get("ok"):
            raise BenchError(f"{self.kind} worker: {answer.get('error')}")
        return answer


def progress(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


@dataclass
class Options:
    scenarios: list[str]
    concurrency: list[int]
    ballots: int
    subscribers: list[int]
    polls: int
    per_poll: int
    idle: int
    slow_others: int
    slow_rate: float
    slow_before: float
    stall: float
    options: int
    sub_procs: int
    voter_procs: int
    watch_concurrency: int
    bws_seconds: float
    direct: bool
    phase_seconds: float = 60.0
    slow_warmup: float = 5.0
    browser_headers: bool = False


class Bench:
    def __init__(self, target: Target, opts: Options) -> None:
        self.t = target
        self.o = opts
        self.voters: list[Proc] = []
        self.subs: list[Proc] = []
        self.inserter: Proc | None = None
        self.http: list[HttpConn] = []
        self.hot_rate: dict[int, float] = {}
        self.tokens = 0
        self.failures: list[str] = []

    # --- processes ------------------------------------------------------------------
    def spawn(self) -> None:
        """Fork the generator processes (before any event loop or thread exists here)."""
        ctx = multiprocessing.get_context("fork")

        def start(kind: str, target: Callable[[Connection], None]) -> Proc:
            parent, child = ctx.Pipe()
            p = ctx.Process(target=target, args=(child,), daemon=True, name=f"bench-{kind}")
            p.start()
            child.close()
            return Proc(kind, p, parent)

        self.voters = [start(f"voters{i}", workers.voter_main) for i in range(self.o.voter_procs)]
        self.subs = [start(f"subscribers{i}", workers.subscriber_main)
                     for i in range(self.o.sub_procs)]
        self.inserter = start("inserts", workers.inserts_main)

    def shutdown(self) -> None:
        for p in [*self.voters, self.inserter, *self.subs]:
            if p is None:
                continue
            try:
                p.conn.send({"cmd": "exit"})
                p.conn.recv()
            except (OSError, EOFError):
                pass
            p.proc.join(5)
            if p.proc.is_alive():
                p.proc.terminate()
                p.proc.join(5)

    async def rpc(self, p: Proc | None, cmd: dict[str, Any]) -> dict[str, Any]:
        assert p is not None
        return await asyncio.to_thread(p.rpc, cmd)

    async def all_voters(self, cmds: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(self.rpc(p, c) for p, c in zip(self.voters, cmds))))

    def split(self, n: int) -> list[int]:
        """n spread over the voter processes (the first ones take the remainder)."""
        v = len(self.voters)
        return [n // v + (1 if i < n % v else 0) for i in range(v)]

    async def all_subs(self, cmds: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(self.rpc(p, c) for p, c in zip(self.subs, cmds))))

    # --- HTTP helpers -----------------------------------------------------------------
    async def call(self, method: str, path: str, payload: Any = None) -> tuple[int, Any]:
        conn = self.http.pop() if self.http else HttpConn(*self.t.host_port)
        try:
            return await call_json(conn, method, path, payload)
        finally:
            self.http.append(conn)

    async def create_polls(self, n: int) -> list[tuple[str, str, list[str]]]:
        body = {"title": "bench", "questions": [{"text": "Pick one", "kind": "single", "options": [
            {"label": f"option {i + 1}"} for i in range(self.o.options)]}]}
        sem = asyncio.Semaphore(32)

        async def one() -> tuple[str, str, list[str]]:
            async with sem:
                code, created = await self.call("POST", "/api/polls", body)
            if code != 201:
                raise BenchError(f"creating a poll answered {code}: {created}")
            q = created["poll"]["questions"][0]
            return created["poll"]["id"], q["id"], [o["id"] for o in q["options"]]

        return list(await asyncio.gather(*(one() for _ in range(n))))

    async def settled_results(self, poll: str, accepted: int, timeout: float = 15.0
                              ) -> dict[str, Any]:
        """/results once it counts every accepted ballot (a replica may lag), or as it is."""
        deadline = time.monotonic() + timeout
        while True:
            code, res = await self.call("GET", f"/api/polls/{poll}/results")
            if code != 200:
                raise BenchError(f"GET /results of {poll} answered {code}: {res}")
            if res["total"] >= accepted or time.monotonic() > deadline:
                return res  # type: ignore[no-any-return]
            await asyncio.sleep(0.1)

    async def ensure_tokens(self, n: int) -> None:
        if n <= self.tokens:
            return
        host, port = self.t.host_port
        progress(f"issuing {n - self.tokens} voter tokens")
        # Each voter process holds its own tokens: process k casts plan[k::V] with them.
        per = -(-n // len(self.voters))
        answers = await self.all_voters([{"cmd": "tokens", "n": per, "host": host, "port": port,
                                          "concurrency": 50,
                                          "browser_headers": self.o.browser_headers}
                                         for _ in self.voters])
        self.tokens = min(a["tokens"] for a in answers) * len(self.voters)
        if self.tokens < n:
            raise BenchError(f"only {self.tokens} of {n} voter tokens issued: "
                             f"{[a['statuses'] for a in answers]}")

    def roles(self) -> dict[str, list[int]]:
        roles = dict(self.t.roles)
        roles["generator"] = [p.proc.pid for p in [*self.voters, *self.subs]]
        return roles

    async def with_cpu(self, phase: Awaitable[T]) -> tuple[T, dict[str, float]]:
        """The phase's result and the cores each role used while it ran."""
        roles = self.roles()
        before = await asyncio.to_thread(cpu_snapshot, roles)
        wall = time.monotonic()
        result = await phase
        return result, cpu_cores(before, await asyncio.to_thread(cpu_snapshot, roles),
                                 time.monotonic() - wall)

    async def cast(self, plan: list[tuple[str, str, str]], concurrency: int, rate: float = 0,
                   first_token: int = 0) -> dict[str, Any]:
        """Cast the plan's ballots; per poll the accepted ones in the order their 201 came."""
        await self.ensure_tokens(first_token + len(plan) + len(self.voters))
        host, port = self.t.host_port
        v = len(self.voters)
        conc = self.split(concurrency)
        answers, cpu = await self.with_cpu(self.all_voters([
            {"cmd": "ballots", "host": host, "port": port, "concurrency": max(1, conc[k]),
             "plan": plan[k::v], "rate": rate / v, "first_token": -(-first_token // v),
             "max_seconds": 0 if rate else self.o.phase_seconds,
             "browser_headers": self.o.browser_headers}
            for k in range(v)]))
        records = [(k + i * v, t_send, t_resp, code) for k, a in enumerate(answers)
                   for i, t_send, t_resp, code in a["records"]]
        t0 = min((r[1] for r in records), default=time.monotonic())
        t1 = max((r[2] for r in records), default=t0)
        ans = {"seconds": t1 - t0}
        statuses: dict[str, int] = {}
        expected: dict[str, dict[str, int]] = {}
        accepted: dict[str, list[tuple[float, float]]] = {}
        lat = []
        for i, t_send, t_resp, code in records:
            statuses[str(code)] = statuses.get(str(code), 0) + 1
            lat.append(t_resp - t_send)
            if code == 201:
                poll, _, option = plan[i]
                counts = expected.setdefault(poll, {})
                counts[option] = counts.get(option, 0) + 1
                accepted.setdefault(poll, []).append((t_resp, t_send))
        for acc in accepted.values():
            acc.sort()
        n_ok = statuses.get("201", 0)
        return {"statuses": statuses, "expected": expected, "accepted": accepted,
                "seconds": ans["seconds"], "t0": t0, "t1": t1, "latency": latency_ms(lat),
                "cpu_cores": cpu,
                "ballots_per_second": round(n_ok / ans["seconds"], 1) if ans["seconds"] else 0}

    async def check_exact(self, polls: list[tuple[str, str, list[str]]], cast: dict[str, Any],
                          base: dict[str, dict[str, int]] | None = None
                          ) -> tuple[bool, dict[str, Any]]:
        """Compare /results with the 201s; returns (exact, {poll: results})."""
        exact = True
        results = {}
        sem = asyncio.Semaphore(16)

        async def one(poll: str, qid: str, options: list[str]) -> None:
            nonlocal exact
            want = dict(cast["expected"].get(poll, {}))
            for o, c in (base or {}).get(poll, {}).items():
                want[o] = want.get(o, 0) + c
            total = sum(want.values())
            async with sem:
                res = await self.settled_results(poll, total)
            results[poll] = res
            counts = res["questions"][0]["counts"]
            if res["total"] != total or any(counts.get(o, 0) != want.get(o, 0) for o in options):
                exact = False

        await asyncio.gather(*(one(*p) for p in polls))
        return exact, results

    # --- subscribers ------------------------------------------------------------------
    async def connect(self, polls: list[tuple[str, int]], host: str, port: int,
                      subscribe: bool = True) -> dict[str, Any]:
        """Spread the feeds over the subscriber processes; answers per-server counts."""
        shares: list[list[tuple[str, int]]] = [[] for _ in self.subs]
        k = 0
        for poll, n in polls:
            for _ in range(n):
                shares[k % len(shares)].append((poll, 1))
                k += 1
        answers = await self.all_subs([{"cmd": "connect", "host": host, "port": port,
                                        "polls": s, "subscribe": subscribe} for s in shares])
        servers: dict[str, int] = {}
        connected = failed = 0
        why = []
        for a in answers:
            connected += a["connected"]
            failed += a["failed"]
            why += a["why"]
            for s, c in a["servers"].items():
                servers[s] = servers.get(s, 0) + c
        if failed:
            progress(f"  {failed} feeds failed to open: {why[:2]}")
        return {"connected": connected, "failed": failed, "servers": servers}

    async def finish(self, final: dict[str, Any], groups: dict[str, dict[str, list[Any]]],
                     timeout: float = 20.0, t0: float | None = None) -> dict[str, Any]:
        answers = await self.all_subs([{"cmd": "finish", "final": final, "groups": groups,
                                        "timeout": timeout, "t0": t0, "slice": SLICE}
                                       for _ in self.subs])
        out: dict[str, Any] = {"checked": 0, "ended_on_results": 0, "out_of_order": 0,
                               "frames": 0, "closed": 0}
        hists = {g: Histogram() for g in groups}
        slices: dict[str, dict[int, Histogram]] = {g: {} for g in groups}
        missed = {g: 0 for g in groups}
        for a in answers:
            for k in out:
                out[k] += a[k]
            for g in groups:
                hists[g].merge(Histogram.from_dict(a["latency"][g]))
                missed[g] += a["missed"][g]
                for key, h in a["slices"][g].items():
                    slices[g].setdefault(int(key), Histogram()).merge(Histogram.from_dict(h))
        out["vote_to_tally_ms"] = {g: h.summary_ms() for g, h in hists.items()}
        out["vote_to_tally_ms_over_time"] = {
            g: [{"from_s": round(k * SLICE, 2), **per[k].summary_ms()} for k in sorted(per)]
            for g, per in slices.items()}
        out["ballots_not_seen"] = missed
        return out

    async def close_feeds(self) -> None:
        await self.all_subs([{"cmd": "close"} for _ in self.subs])

    async def frames_between(self, t0: float, t1: float) -> dict[str, int]:
        answers = await self.all_subs([{"cmd": "count", "t0": t0, "t1": t1} for _ in self.subs])
        per: dict[str, int] = {}
        for a in answers:
            for s, c in a["frames"].items():
                per[s] = per.get(s, 0) + c
        return per

    @staticmethod
    def groups_of(cast: dict[str, Any], offset: dict[str, int] | None = None,
                  sample: int = 2000) -> dict[str, list[list[float]]]:
        """Per poll [[rank, t_send]] of accepted ballots (a sample of at most `sample`)."""
        out = {}
        for poll, acc in cast["accepted"].items():
            base = (offset or {}).get(poll, 0)
            step = max(1, len(acc) // sample)
            out[poll] = [[base + i + 1, acc[i][1]] for i in range(0, len(acc), step)]
        return out

    # --- scenarios --------------------------------------------------------------------
    def plan_for(self, polls: list[tuple[str, str, list[str]]], n: int
                 ) -> list[tuple[str, str, str]]:
        plan = []
        for i in range(n):
            poll, qid, options = polls[i % len(polls)]
            plan.append((poll, qid, options[(i // len(polls)) % len(options)]))
        return plan

    async def hot(self) -> dict[str, Any]:
        rows = []
        for c in self.o.concurrency:
            progress(f"hot: B_nop at concurrency {c}")
            # Three times the ballots: a no-op is several times faster, and a run of under a
            # second gave ratios that moved by half from one run to the next.
            nop = await baselines.b_nop(self, c, 3 * self.o.ballots)
            progress(f"hot: B_ins at concurrency {c}")
            ins = await baselines.b_ins(self, c, min(self.o.ballots, 5000))
            polls = await self.create_polls(1)
            progress(f"hot: {self.o.ballots} ballots on one poll, concurrency {c}")
            cast = await self.cast(self.plan_for(polls, self.o.ballots), c)
            exact, _ = await self.check_exact(polls, cast)
            self.hot_rate[c] = cast["ballots_per_second"]
            row = {"concurrency": c, "ballots": sum(cast["statuses"].values()),
                   "statuses": cast["statuses"],
                   "ballots_per_second": cast["ballots_per_second"],
                   "ballot_latency_ms": cast["latency"], "exact": exact,
                   "cpu_cores": cast["cpu_cores"], "B_nop": nop, "B_ins": ins,
                   "ratio_to_B_nop": ratio(cast["ballots_per_second"], nop["requests_per_second"]),
                   "ratio_to_B_ins": ratio(cast["ballots_per_second"],
                                           ins["inserts_per_second"]) if ins else None}
            if not exact:
                self.failures.append(f"hot c={c}: the tally is not exact")
            progress(f"hot c={c}: {row['ballots_per_second']} ballots/s "
                     f"(B_nop {nop['requests_per_second']}/s, B_ins "
                     f"{ins['inserts_per_second'] if ins else '-'}/s), exact={exact}")
            rows.append(row)
        return {"runs": rows}

    async def reference_rate(self, c: int) -> float:
        if c not in self.hot_rate:
            polls = await self.create_polls(1)
            progress(f"reference: {self.o.ballots} ballots with nobody watching")
            cast = await self.cast(self.plan_for(polls, self.o.ballots), c)
            self.hot_rate[c] = cast["ballots_per_second"]
        return self.hot_rate[c]

    async def feed_run(self, name: str, polls: list[tuple[str, str, list[str]]], per_poll: int,
                       ballots: int, concurrency: int, direct: bool = False) -> dict[str, Any]:
        """Subscribers watch `polls` while ballots spread over them; latencies and checks."""
        host, port = self.t.host_port
        if direct:
            host, port = "127.0.0.1", self.t.backends[0].port
        progress(f"{name}: opening {len(polls) * per_poll} feeds")
        conn = await self.connect([(p[0], per_poll) for p in polls], host, port)
        rss_before = {b.name: rss_kb(b.pid) for b in self.t.backends}
        progress(f"{name}: {ballots} ballots over {len(polls)} poll(s), concurrency {concurrency}")
        cast = await self.cast(self.plan_for(polls, ballots), concurrency)
        exact, results = await self.check_exact(polls, cast)
        final = {p: [r["seq"], r["questions"]] for p, r in results.items()}
        feeds = await self.finish(final, {"ballots": self.groups_of(cast)}, t0=cast["t0"])
        frames = await self.frames_between(cast["t0"], cast["t1"])
        await self.close_feeds()
        span = max(1e-9, cast["t1"] - cast["t0"])
        whole = feeds["ended_on_results"] == conn["connected"] == len(polls) * per_poll
        if not exact:
            self.failures.append(f"{name}: the tally is not exact")
        if not whole:
            self.failures.append(f"{name}: {feeds['ended_on_results']} of "
                                 f"{len(polls) * per_poll} subscribers ended on /results")
        lat = feeds["vote_to_tally_ms"]["ballots"]
        over_time = feeds["vote_to_tally_ms_over_time"]["ballots"]
        worst = max(over_time, key=lambda x: x["p99"] or 0, default=None)
        progress(f"{name}: {cast['ballots_per_second']} ballots/s, vote->tally p50 {lat['p50']} "
                 f"p99 {lat['p99']} max {lat['max']} ms, exact={exact}, "
                 f"{feeds['ended_on_results']}/{len(polls) * per_poll} on /results" +
                 (f"; worst {SLICE} s from {worst['from_s']} s: p99 {worst['p99']} ms "
                  f"({worst['n']} samples)" if worst else ""))
        return {"subscribers": len(polls) * per_poll, "connected": conn["connected"],
                "per_backend": conn["servers"], "ballots": sum(cast["statuses"].values()),
                "concurrency": concurrency,
                "statuses": cast["statuses"], "ballots_per_second": cast["ballots_per_second"],
                "ballot_latency_ms": cast["latency"], "vote_to_tally_ms": lat,
                "vote_to_tally_ms_over_time": over_time,
                "cpu_cores": cast["cpu_cores"],
                "ballots_not_seen": feeds["ballots_not_seen"]["ballots"],
                "exact": exact, "ended_on_results": feeds["ended_on_results"],
                "every_subscriber_whole": whole, "out_of_order_frames": feeds["out_of_order"],
                "closed_by_server": feeds["closed"],
                "frames_per_second_by_backend": {k: round(v / span, 1) for k, v in frames.items()},
                "rss_kb_before": rss_before}

    async def fanout(self) -> dict[str, Any]:
        c = self.o.watch_concurrency
        ref = await self.reference_rate(c)
        rows = []
        for s in self.o.subscribers:
            polls = await self.create_polls(1)
            row = await self.feed_run(f"fanout S={s}", polls, s, self.o.ballots, c,
                                      direct=self.o.direct)
            row["ratio_to_nobody_watching"] = ratio(row["ballots_per_second"], ref)
            busiest = max(row["per_backend"].items(), key=lambda kv: kv[1], default=(None, 0))
            if busiest[0] is not None and busiest[1] > 0:
                progress(f"fanout S={s}: B_ws with {busiest[1]} sockets")
                bws = await baselines.b_ws(self, busiest[1])
                fps = row["frames_per_second_by_backend"].get(busiest[0], 0.0)
                pace = busiest[1] / self.t.tally_interval
                row["efficiency"] = {
                    "backend": busiest[0], "sockets": busiest[1], "frames_per_second": fps,
                    "B_ws": bws, "ratio_to_B_ws": ratio(fps, bws["frames_per_second"]),
                    # Below the configured pace the backend was saturated (it lengthened
                    # its interval); above it, it sent all it had to and the ratio says less.
                    "saturated": fps < 0.9 * pace}
            rows.append(row)
        return {"reference_ballots_per_second": ref, "runs": rows}

    async def many(self) -> dict[str, Any]:
        c = self.o.watch_concurrency
        ref = await self.reference_rate(c)
        progress(f"many: creating {self.o.polls} polls")
        polls = await self.create_polls(self.o.polls)
        row = await self.feed_run("many", polls, self.o.per_poll, self.o.ballots, c)
        row["polls"] = self.o.polls
        row["ratio_to_hot"] = ratio(row["ballots_per_second"], ref)
        return row

    async def idle(self) -> dict[str, Any]:
        b = self.t.backends[0]
        polls = await self.create_polls(1)
        before = rss_kb(b.pid)
        progress(f"idle: {self.o.idle} idle subscribers on {b.name}")
        conn = await self.connect([(polls[0][0], self.o.idle)], "127.0.0.1", b.port)
        await asyncio.sleep(1.0)  # let the allocator settle before reading RSS
        after = rss_kb(b.pid)
        await self.close_feeds()
        per = (after - before) / max(1, conn["connected"]) if before and after else None
        progress(f"idle: B_mem with {self.o.idle} sockets")
        mem = await baselines.b_mem(self, self.o.idle)
        row = {"backend": b.name, "sockets": self.o.idle, "connected": conn["connected"],
               "rss_kb_before": before, "rss_kb_after": after,
               "kb_per_socket": round(per, 2) if per is not None else None, "B_mem": mem,
               "ratio_to_B_mem": ratio(per, mem["kb_per_socket"])}
        if conn["connected"] != self.o.idle:
            self.failures.append(f"idle: {conn['connected']} of {self.o.idle} sockets opened")
        progress(f"idle: {row['kb_per_socket']} KB per socket (B_mem {mem['kb_per_socket']})")
        return row

    async def slow(self) -> dict[str, Any]:
        host, port = self.t.host_port
        polls = await self.create_polls(1)
        poll = polls[0][0]
        progress(f"slow: {self.o.slow_others} subscribers and one that will stop reading")
        await self.connect([(poll, self.o.slow_others)], host, port)
        # The slow one: in the last subscriber process, with a small receive buffer.
        last = self.subs[-1]
        await self.rpc(last, {"cmd": "connect", "host": host, "port": port, "polls": [(poll, 1)],
                              "rcvbuf": 4096})
        n_w = int(self.o.slow_rate * self.o.slow_warmup)
        n_a = int(self.o.slow_rate * self.o.slow_before)
        n_b = int(self.o.slow_rate * self.o.stall)
        # Not measured: the first seconds on a new poll and new feeds carry one-off costs
        # (definitions, first reads, connections) that put the p99 before the stall above
        # the steady state the stall is compared with.
        progress(f"slow: {self.o.slow_warmup:.0f} s of ballots to warm up, then "
                 f"{self.o.slow_before:.0f} s with everyone reading")
        cast_w: dict[str, Any] = {"expected": {}, "accepted": {}}
        if n_w:
            cast_w = await self.cast(self.plan_for(polls, n_w), self.o.watch_concurrency,
                                     rate=self.o.slow_rate)
        cast_a = await self.cast(self.plan_for(polls, n_a), self.o.watch_concurrency,
                                 rate=self.o.slow_rate, first_token=n_w)
        stalled = await self.rpc(last, {"cmd": "stall"})
        backend = self.t.backend(stalled.get("server"))
        rss_start = rss_kb(backend.pid)
        peak = rss_start or 0
        progress(f"slow: one subscriber stops reading for {self.o.stall:.0f} s "
                 f"(on {backend.name})")

        async def sample() -> None:
            nonlocal peak
            while True:
                await asyncio.sleep(0.5)
                peak = max(peak, rss_kb(backend.pid) or 0)

        sampler = asyncio.get_running_loop().create_task(sample())
        try:
            cast_b = await self.cast(self.plan_for(polls, n_b), self.o.watch_concurrency,
                                     rate=self.o.slow_rate, first_token=n_w + n_a)
        finally:
            sampler.cancel()
            await asyncio.gather(sampler, return_exceptions=True)
        resumed = await self.rpc(last, {"cmd": "resume"})
        merged: dict[str, Any] = {"expected": {poll: {}}}
        for c in (cast_w, cast_a, cast_b):
            for o, cnt in c["expected"].get(poll, {}).items():
                merged["expected"][poll][o] = merged["expected"][poll].get(o, 0) + cnt
        exact, results = await self.check_exact(polls, merged)
        final = {p: [r["seq"], r["questions"]] for p, r in results.items()}
        warm = len(cast_w["accepted"].get(poll, []))
        offset_a = {poll: warm}
        offset_b = {poll: warm + len(cast_a["accepted"].get(poll, []))}
        feeds = await self.finish(final, {"reading": self.groups_of(cast_a, offset_a),
                                          "stalled": self.groups_of(cast_b, offset_b)})
        await self.close_feeds()
        lat_a = feeds["vote_to_tally_ms"]["reading"]
        lat_b = feeds["vote_to_tally_ms"]["stalled"]
        whole = feeds["ended_on_results"] == self.o.slow_others
        if not exact:
            self.failures.append("slow: the tally is not exact")
        if not whole:
            self.failures.append(f"slow: {feeds['ended_on_results']} of {self.o.slow_others} "
                                 "subscribers ended on /results")
        grew = (peak - rss_start) if rss_start else None
        p99_move = None
        if lat_a["p99"] and lat_b["p99"] is not None:
            p99_move = round((lat_b["p99"] - lat_a["p99"]) / lat_a["p99"], 3)
        progress(f"slow: backend RSS +{grew} KB while stalled; others' p99 {lat_a['p99']} -> "
                 f"{lat_b['p99']} ms; stalled socket closed by the server: "
                 f"{resumed.get('closed_by_server')}")
        return {"others": self.o.slow_others, "stall_seconds": self.o.stall,
                "ballots_per_second_paced": self.o.slow_rate, "warmup_seconds": self.o.slow_warmup,
                "backend": backend.name,
                "rss_kb_at_stall": rss_start, "rss_kb_peak": peak, "rss_kb_added": grew,
                "others_vote_to_tally_ms": {"reading": lat_a, "stalled": lat_b},
                "others_p99_change": p99_move,
                "stalled_closed_by_server": resumed.get("closed_by_server"),
                "exact": exact, "ended_on_results": feeds["ended_on_results"],
                "every_subscriber_whole": whole}


SCENARIOS = ("hot", "fanout", "many", "idle", "slow")


async def run_scenarios(bench: Bench) -> dict[str, Any]:
    out: dict[str, Any] = {}
    load_before = os.getloadavg()
    for name in bench.o.scenarios:
        started = time.monotonic()
        out[name] = await getattr(bench, name)()
        out[name]["seconds"] = round(time.monotonic() - started, 1)
    for h in bench.http:
        h.close()
    await bench.all_voters([{"cmd": "close"} for _ in bench.voters])
    return {"load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()], **out}


def describe_machine() -> dict[str, Any]:
    info: dict[str, Any] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    try:
        mem = Path("/proc/meminfo").read_text().split("\n")[0]
        info["memory_kb"] = int(re.findall(r"\d+", mem)[0])
    except (OSError, IndexError):
        pass
    return info


def main_report(target: Target, opts: Options) -> dict[str, Any]:
    if not target.backends:
        needs = [s for s in opts.scenarios if s in ("idle", "slow")] + \
            (["--direct"] if opts.direct else [])
        if needs:
            raise BenchError(f"{', '.join(needs)} measure a backend's own memory or port, and "
                             f"the bench does not know the processes behind {target.url}: "
                             "use --cluster, --dir DIR or the embedded server")
    bench = Bench(target, opts)
    bench.spawn()
    try:
        started = time.time()
        results = asyncio.run(run_scenarios(bench))
    finally:
        bench.shutdown()
    return {"url": target.url, "mode": target.mode,
            "backends": [b.name for b in target.backends],
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "seconds": round(time.time() - started, 1), "machine": describe_machine(),
            "options": dict(vars(opts)),
            "results": results, "failures": bench.failures, "ok": not bench.failures}


def dumps(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=False)
