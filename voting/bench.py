"""`voting bench`: a load test against a running server or cluster.

Creates one poll, issues voter tokens, casts every voter's ballot with bounded
concurrency on that one hot poll while WebSocket subscribers watch, then checks
that the final tally is exact and every subscriber ended on it. Prints one JSON
object (throughput, latency percentiles, status counts, feed checks).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import websocket_connect


def _percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, int(round(p / 100 * (len(ordered) - 1)))))
    return ordered[k]


async def _settled_results(call: Any, poll_id: str, accepted: int,
                           timeout: float = 15.0) -> dict[str, Any]:
    """/results once it counts every accepted ballot, or as it stands after timeout.

    Reads without a position may come from a replica a little behind the primary; a short
    wait tells replica lag from a real miscount, which stays wrong after the deadline.
    """
    deadline = time.monotonic() + timeout
    while True:
        code, results = await call("GET", f"/api/polls/{poll_id}/results")
        if code != 200:
            raise SystemExit(f"GET /results answered {code}: {results}")
        if results["total"] >= accepted or time.monotonic() > deadline:
            return results  # type: ignore[no-any-return]
        await asyncio.sleep(0.1)


async def _bench(url: str, voters: int, concurrency: int, subscribers: int,
                 options: int) -> dict[str, Any]:
    client = AsyncHTTPClient(force_instance=True, max_clients=max(concurrency, 10))
    headers = {"Content-Type": "application/json"}

    async def call(method: str, path: str, body: Any = None,
                   extra: dict[str, str] | None = None) -> tuple[int, Any]:
        req = HTTPRequest(url + path, method=method, headers={**headers, **(extra or {})},
                          body=json.dumps(body) if body is not None else
                          (b"" if method == "POST" else None), request_timeout=60)
        resp = await client.fetch(req, raise_error=False)
        try:
            data = json.loads(resp.body) if resp.body else None
        except ValueError:
            data = None
        return resp.code, data

    status, created = await call("POST", "/api/polls", {
        "title": "bench", "questions": [{"text": "Pick one", "kind": "single", "options": [
            {"label": f"option {i + 1}"} for i in range(options)]}]})
    if status != 201:
        raise SystemExit(f"creating the poll failed: {status} {created}")
    poll_id = created["poll"]["id"]
    option_ids = [o["id"] for o in created["poll"]["questions"][0]["options"]]

    sem = asyncio.Semaphore(concurrency)

    async def token() -> str:
        async with sem:
            code, data = await call("POST", "/api/voters")
            if code != 201:
                raise SystemExit(f"POST /api/voters answered {code}: {data}")
            return str(data["voter_token"])

    tokens = await asyncio.gather(*(token() for _ in range(voters)))

    ws_url = url.replace("http://", "ws://").replace("https://", "wss://") + "/ws"
    feeds: list[dict[str, Any]] = []
    frame_came = asyncio.Event()

    async def watch(state: dict[str, Any]) -> None:
        conn = await websocket_connect(ws_url, ping_interval=None)
        state["conn"] = conn
        conn.write_message(json.dumps({"type": "subscribe", "poll": poll_id}))
        while True:
            msg = await conn.read_message()
            if msg is None:
                state["closed"] = True
                return
            frame = json.loads(msg)
            state["frames"] += 1
            if frame.get("type") == "hello":
                state["server"] = frame["server"]
            if frame.get("type") in ("snapshot", "tally"):
                if frame["seq"] <= state["last_seq"]:
                    state["out_of_order"] += 1
                state["last_seq"] = frame["seq"]
                state["last"] = frame
                frame_came.set()

    tasks = []
    for _ in range(subscribers):
        st: dict[str, Any] = {"frames": 0, "last_seq": -1, "out_of_order": 0, "last": None,
                              "closed": False, "server": None}
        feeds.append(st)
        tasks.append(asyncio.get_running_loop().create_task(watch(st)))

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    expected = {o: 0 for o in option_ids}

    async def ballot(i: int, tok: str) -> None:
        choice = option_ids[i % len(option_ids)]
        async with sem:
            t0 = time.perf_counter()
            code, _ = await call("POST", f"/api/polls/{poll_id}/ballots",
                                 {"choices": {"q1": [choice]}}, {"X-Voter-Token": tok})
            latencies.append(time.perf_counter() - t0)
        statuses[code] = statuses.get(code, 0) + 1
        if code == 201:
            expected[choice] += 1

    start = time.perf_counter()
    await asyncio.gather(*(ballot(i, t) for i, t in enumerate(tokens)))
    elapsed = time.perf_counter() - start

    results = await _settled_results(call, poll_id, statuses.get(201, 0))
    exact = results["total"] == statuses.get(201, 0) and results["questions"][0]["counts"] == expected
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not all(
            f["last"] and f["last"]["seq"] == results["seq"] for f in feeds):
        frame_came.clear()
        try:
            await asyncio.wait_for(frame_came.wait(), max(0.0, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            break
    for f in feeds:
        if f.get("conn") is not None:
            f["conn"].close()
    if tasks:  # each reader ends when its close handshake is done
        _, pending = await asyncio.wait(tasks, timeout=5)
        for t in pending:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    client.close()
    return {
        "url": url, "poll": poll_id, "voters": voters, "concurrency": concurrency,
        "seconds": round(elapsed, 3),
        "ballots_per_second": round(statuses.get(201, 0) / elapsed, 1) if elapsed else None,
        "latency_ms": {"p50": round(_percentile(latencies, 50) * 1000, 1),
                       "p95": round(_percentile(latencies, 95) * 1000, 1),
                       "p99": round(_percentile(latencies, 99) * 1000, 1),
                       "mean": round(statistics.fmean(latencies) * 1000, 1) if latencies else 0},
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "tally_exact": exact,
        "subscribers": {
            "count": len(feeds),
            "ended_on_results": sum(1 for f in feeds if f["last"] and
                                    f["last"]["seq"] == results["seq"] and
                                    f["last"].get("questions") == results["questions"]),
            "out_of_order_frames": sum(f["out_of_order"] for f in feeds),
            "frames": sum(f["frames"] for f in feeds),
            "backends": sorted({f["server"] for f in feeds if f["server"]}),
        },
    }


def run_bench(args: argparse.Namespace) -> int:
    report = asyncio.run(_bench(args.url.rstrip("/"), args.voters, args.concurrency,
                                args.subscribers, args.options))
    print(json.dumps(report, indent=2))
    ok = report["tally_exact"] and report["subscribers"]["ended_on_results"] == args.subscribers
    if not ok:
        print("bench: the final tally or a subscriber's last frame is wrong", file=sys.stderr)
    return 0 if ok else 1
