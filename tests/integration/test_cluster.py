"""The real local cluster (voting cluster up): nginx, 3 backends, MariaDB primary + 2
GTID replicas, Redis. Everything goes through nginx, as a user's traffic would."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Awaitable, TypeVar

import pytest

from tests.client import Api, Feed, eventually
from tests.conftest import NO_RATE_LIMITS_ENV, ROOT
from tests.test_metrics import scrape, value
from voting.cluster import LocalCluster
from voting.seed import DEMO_POLL

pytestmark = [pytest.mark.integration, pytest.mark.cluster]
T = TypeVar("T")


@pytest.fixture
def cluster(local_cluster: LocalCluster) -> LocalCluster:
    return local_cluster


def status_counter(cluster: LocalCluster, node: str, name: str) -> int:
    rows = cluster.node(node).query(f"SHOW GLOBAL STATUS LIKE '{name}'")
    return int(rows[0][1])


async def counters(cluster: LocalCluster, name: str) -> dict[str, int]:
    return {n: await asyncio.to_thread(status_counter, cluster, n, name)
            for n in ("primary", "replica1", "replica2")}


# "Within seconds (never a hang)": far below the 30 s the client would wait.
PROMPT = 5.0
HUNG_PROMPT = 10.0  # a process that answers nothing: the storage's own timeouts first


async def timed(request: Awaitable[T]) -> tuple[T, float]:
    started = time.monotonic()
    result = await request
    return result, time.monotonic() - started


def ensure_up(cluster: LocalCluster) -> None:
    """Bring back whatever a fault test stopped (cluster up is idempotent)."""
    cluster.up()


@pytest.fixture
async def api(cluster: LocalCluster) -> Any:
    ensure_up(cluster)
    client = Api(str(cluster.url))
    yield client
    client.close()


def ws_url(cluster: LocalCluster) -> str:
    return str(cluster.url).replace("http://", "ws://") + "/ws"


async def vote(api: Api, poll_id: str, choices: dict[str, list[str]]) -> int:
    session = api.session()
    await session.voter()
    r = await session.post(f"/api/polls/{poll_id}/ballots", {"choices": choices})
    return r.status


async def feeds_on_every_backend(cluster: LocalCluster, poll_id: str) -> dict[str, Feed]:
    """One subscribed feed per backend, connecting through nginx until each is covered."""
    feeds: dict[str, Feed] = {}
    extra: list[Feed] = []
    for _ in range(60):
        if len(feeds) == len(cluster.backend_names):
            break
        feed = await Feed.connect(ws_url(cluster))
        hello = await feed.wait_for(lambda f: f["type"] == "hello")
        if hello["server"] in feeds:
            extra.append(feed)
            continue
        feed.send({"type": "subscribe", "poll": poll_id})
        await feed.wait_for(lambda f: f["type"] == "snapshot")
        feeds[hello["server"]] = feed
    for f in extra:
        await f.close()
    assert set(feeds) == set(cluster.backend_names), f"reached only {sorted(feeds)}"
    return feeds


async def test_requests_reach_every_backend(cluster: LocalCluster, api: Api) -> None:
    seen = set()
    for _ in range(30):
        r = await api.get("/healthz")
        assert r.status == 200
        seen.add(r.headers["X-Backend"])
    assert seen == set(cluster.backend_names) == {"backend1", "backend2", "backend3"}


async def test_writes_on_primary_reads_on_replicas(cluster: LocalCluster, api: Api) -> None:
    poll_ids = [(await api.create_poll())["poll"]["id"] for _ in range(5)]
    await asyncio.to_thread(cluster.wait_replicated)
    inserts0 = await counters(cluster, "Com_insert")
    for poll_id in poll_ids:
        for _ in range(4):
            assert await vote(api, poll_id, {"q1": ["o1"]}) == 201
    inserts1 = await counters(cluster, "Com_insert")
    # 20 ballots: each inserts a ballot row and upserts counters, on the primary.
    assert inserts1["primary"] - inserts0["primary"] >= 20
    await asyncio.to_thread(cluster.wait_replicated)
    # Now only reads, by a client without a read position: the replicas answer them.
    selects0 = await counters(cluster, "Com_select")
    reads = 400
    fresh = Api(str(cluster.url), keep_cookies=False)
    sem = asyncio.Semaphore(20)  # quickly, so the backends' own probes stay few meanwhile

    async def read(poll_id: str) -> None:
        async with sem:
            r = await fresh.get(f"/api/polls/{poll_id}/results")
            assert r.status == 200 and r.json["total"] == 4, r.body

    try:
        await asyncio.gather(*(read(poll_ids[i % len(poll_ids)]) for i in range(reads)))
    finally:
        fresh.close()
    selects1 = await counters(cluster, "Com_select")
    on = {n: selects1[n] - selects0[n] for n in selects0}
    assert on["replica1"] + on["replica2"] >= reads, on
    assert on["replica1"] > 0 and on["replica2"] > 0, on
    # Meanwhile the primary sees only the backends' own statements (each backend loads each
    # poll's definition once, heartbeats): a handful. Had even a tenth of the reads gone
    # there, it would have answered more.
    assert on["primary"] < reads / 10, on


async def test_500_concurrent_voters_exact_and_live(cluster: LocalCluster, api: Api) -> None:
    poll = await api.create_poll(questions=[
        {"text": "Pick", "kind": "single", "options": [{"label": "A"}, {"label": "B"}]},
        {"text": "Any", "kind": "multiple", "min_choices": 0,
         "options": [{"label": "X"}, {"label": "Y"}, {"label": "Z"}]}])
    poll_id = poll["poll"]["id"]
    feeds = await feeds_on_every_backend(cluster, poll_id)
    ballots = []
    for i in range(500):
        ballots.append({"q1": ["o1" if i % 3 else "o2"],
                        "q2": [o for o, on in (("o3", i % 2 == 0), ("o4", i % 5 == 0),
                                               ("o5", True)) if on]})
    sem = asyncio.Semaphore(250)

    async def one(choices: dict[str, list[str]]) -> int:
        async with sem:
            return await vote(api, poll_id, choices)

    statuses = await asyncio.gather(*(one(b) for b in ballots))
    assert statuses.count(201) == 500, {s: statuses.count(s) for s in set(statuses)}
    expected = {"o1": 0, "o2": 0, "o3": 0, "o4": 0, "o5": 0}
    for b in ballots:
        for picks in b.values():
            for o in picks:
                expected[o] += 1
    await asyncio.to_thread(cluster.wait_replicated)  # many writers: let replicas catch up
    results = (await api.get(f"/api/polls/{poll_id}/results")).json
    assert results["total"] == 500
    got = {**results["questions"][0]["counts"], **results["questions"][1]["counts"]}
    assert got == expected
    stored = await asyncio.to_thread(
        cluster.primary.query, "SELECT COUNT(*) FROM voting.ballots WHERE poll_id = %s", [poll_id])
    assert stored[0][0] == 500
    for name, feed in feeds.items():
        last = await feed.wait_for(lambda f: f["type"] == "tally" and f["seq"] == results["seq"],
                                   timeout=15)
        assert last["questions"] == results["questions"] and last["total"] == 500, name
        seqs = [f["seq"] for f in feed.of(poll_id, "snapshot", "tally")]
        assert all(a < b for a, b in zip(seqs, seqs[1:])), (name, seqs)
        assert feed.of(poll_id, "snapshot", "tally")[-1] == last
        await feed.close()


def set_replica_delay(cluster: LocalCluster, seconds: int) -> None:
    for node in cluster.replicas:
        node.execute("STOP SLAVE", f"CHANGE MASTER TO MASTER_DELAY = {int(seconds)}", "START SLAVE")


async def test_read_your_writes_while_replicas_lag(cluster: LocalCluster, api: Api) -> None:
    # Replicas apply everything a second late: stale, yet within max_replica_lag (2 s).
    await asyncio.to_thread(set_replica_delay, cluster, 1)
    try:
        doomed = [(await api.create_poll()) for _ in range(20)]  # on the replicas, to be deleted
        await asyncio.to_thread(cluster.wait_replicated, 30)
        failures: list[str] = []
        sem = asyncio.Semaphore(25)

        async def create_and_read(i: int) -> None:
            async with sem:
                s = api.session()
                created = await s.post("/api/polls", {"title": f"ryw {i}", "questions": [
                    {"text": "Q", "options": [{"label": "a"}, {"label": "b"}]}]})
                assert created.status == 201
                pid = created.json["poll"]["id"]
                r = await s.get(f"/api/polls/{pid}")
                if r.status != 200 or r.json["poll"]["title"] != f"ryw {i}":
                    failures.append(f"poll {i}: {r.status}")

        async def own_poll(s: Api, **fields: Any) -> str:
            """A poll of this client's own, so its tally shows exactly this client's ballots."""
            return str((await s.create_poll(**fields))["poll"]["id"])

        async def vote_and_read(i: int) -> None:
            async with sem:
                s = api.session()
                pid = await own_poll(s)
                await s.voter()
                choice = "o1" if i % 2 else "o2"
                r = await s.post(f"/api/polls/{pid}/ballots", {"choices": {"q1": [choice]}})
                assert r.status == 201, r.body
                mine = await s.get(f"/api/polls/{pid}/ballot")
                if mine.status != 200 or mine.json["ballot"]["choices"] != {"q1": [choice]}:
                    failures.append(f"ballot {i}: {mine.status}")
                # Read back at once, the tally counts this client's ballot (the only one).
                res = await s.get(f"/api/polls/{pid}/results")
                counts = res.json["questions"][0]["counts"] if res.status == 200 else None
                if res.status != 200 or res.json["total"] != 1 or counts[choice] != 1:
                    failures.append(f"results {i} without the caller's ballot: {res.body[:200]!r}")

        async def tally_includes_mine(i: int) -> None:
            # A revote moves this client's count; a read at once shows its latest choice.
            async with sem:
                s = api.session()
                pid = await own_poll(s, allow_revote=True)
                await s.voter()
                r1 = await s.post(f"/api/polls/{pid}/ballots", {"choices": {"q1": ["o1"]}})
                assert r1.status == 201
                before = (await s.get(f"/api/polls/{pid}/results")).json
                r2 = await s.post(f"/api/polls/{pid}/ballots", {"choices": {"q1": ["o2"]}})
                assert r2.status == 200
                after = (await s.get(f"/api/polls/{pid}/results")).json
                if (before["total"], before["questions"][0]["counts"]) != \
                        (1, {"o1": 1, "o2": 0, "o3": 0}):
                    failures.append(f"tally {i} without the first ballot: {before}")
                if (after["total"], after["questions"][0]["counts"]) != \
                        (1, {"o1": 0, "o2": 1, "o3": 0}) or not after["seq"] > before["seq"]:
                    failures.append(f"stale tally {i} after the revote: {before} -> {after}")

        async def delete_and_read(created: dict[str, Any]) -> None:
            async with sem:
                s = api.session()
                pid = created["poll"]["id"]
                r = await s.delete(f"/api/polls/{pid}",
                                   headers={"Authorization": f"Bearer {created['admin_token']}"})
                assert r.status == 204, r.body
                r = await s.get(f"/api/polls/{pid}")
                if r.status != 404:
                    failures.append(f"deleted poll {pid} still read: {r.status}")

        jobs = [create_and_read(i) for i in range(100)] + [vote_and_read(i) for i in range(60)] + \
            [tally_includes_mine(i) for i in range(20)] + [delete_and_read(c) for c in doomed]
        await asyncio.gather(*jobs)
        assert failures == []
    finally:
        await asyncio.to_thread(set_replica_delay, cluster, 0)


async def read_ok(api: Api, poll_id: str, n: int = 15) -> None:
    fresh = api.session()
    fresh.keep_cookies = False
    for _ in range(n):
        r = await fresh.get(f"/api/polls/{poll_id}/results")
        assert r.status == 200, r.body


async def test_one_replica_down_reads_still_work(cluster: LocalCluster, api: Api) -> None:
    poll_id = (await api.create_poll())["poll"]["id"]
    await asyncio.to_thread(cluster.stop, "replica1")
    try:
        await read_ok(api, poll_id, 30)
        assert await vote(api, poll_id, {"q1": ["o1"]}) == 201
    finally:
        await asyncio.to_thread(ensure_up, cluster)
    # Its return is noticed: it serves reads again.
    before = await asyncio.to_thread(status_counter, cluster, "replica1", "Com_select")

    async def replica1_serves() -> bool:
        await read_ok(api, poll_id, 10)
        return await asyncio.to_thread(status_counter, cluster, "replica1", "Com_select") > before + 5
    await eventually(replica1_serves, timeout=20)


async def test_both_replicas_down_reads_from_primary(cluster: LocalCluster, api: Api) -> None:
    poll_id = (await api.create_poll())["poll"]["id"]
    await asyncio.to_thread(cluster.stop, "replica1")
    await asyncio.to_thread(cluster.stop, "replica2")
    try:
        before = await asyncio.to_thread(status_counter, cluster, "primary", "Com_select")
        await read_ok(api, poll_id, 30)
        after = await asyncio.to_thread(status_counter, cluster, "primary", "Com_select")
        assert after - before >= 30
        assert await vote(api, poll_id, {"q1": ["o2"]}) == 201
    finally:
        await asyncio.to_thread(ensure_up, cluster)


async def test_redis_down_ballots_counted_feeds_resume(cluster: LocalCluster, api: Api) -> None:
    poll_id = (await api.create_poll())["poll"]["id"]
    feeds = await feeds_on_every_backend(cluster, poll_id)
    await asyncio.to_thread(cluster.stop, "redis")
    try:
        statuses = await asyncio.gather(*(vote(api, poll_id, {"q1": ["o3"]}) for _ in range(30)))
        assert statuses == [201] * 30
    finally:
        await asyncio.to_thread(ensure_up, cluster)
    statuses = await asyncio.gather(*(vote(api, poll_id, {"q1": ["o1"]}) for _ in range(10)))
    assert statuses == [201] * 10
    await asyncio.to_thread(cluster.wait_replicated)  # many writers: let replicas catch up
    results = (await api.get(f"/api/polls/{poll_id}/results")).json
    assert results["total"] == 40
    assert results["questions"][0]["counts"] == {"o1": 10, "o2": 0, "o3": 30}
    for name, feed in feeds.items():
        last = await feed.wait_for(lambda f: f.get("seq") == results["seq"], timeout=20)
        assert last["questions"] == results["questions"], name
        seqs = [f["seq"] for f in feed.of(poll_id, "snapshot", "tally")]
        assert all(a < b for a, b in zip(seqs, seqs[1:])), (name, seqs)
        await feed.close()


async def test_backend_killed_clients_reconnect_elsewhere(cluster: LocalCluster, api: Api) -> None:
    poll_id = (await api.create_poll())["poll"]["id"]
    feed = await Feed.connect(ws_url(cluster))
    victim = (await feed.wait_for(lambda f: f["type"] == "hello"))["server"]
    feed.send({"type": "subscribe", "poll": poll_id})
    await feed.wait_for(lambda f: f["type"] == "snapshot")
    await asyncio.to_thread(cluster.kill, victim, signal.SIGKILL)
    try:
        await eventually(lambda: _closed(feed), timeout=10)
        # Votes keep flowing through nginx to the living backends.
        statuses = await asyncio.gather(*(vote(api, poll_id, {"q1": ["o2"]}) for _ in range(12)))
        assert statuses == [201] * 12
        again = await Feed.connect(ws_url(cluster))
        hello = await again.wait_for(lambda f: f["type"] == "hello")
        assert hello["server"] != victim
        again.send({"type": "subscribe", "poll": poll_id})
        snap = await again.wait_for(lambda f: f["type"] == "snapshot")
        await asyncio.to_thread(cluster.wait_replicated)  # many writers: let replicas catch up
        results = (await api.get(f"/api/polls/{poll_id}/results")).json
        assert snap["total"] == results["total"] == 12
        assert snap["questions"] == results["questions"]
        await again.close()
    finally:
        await feed.close()
        await asyncio.to_thread(ensure_up, cluster)


async def _closed(feed: Feed) -> bool:
    return feed.closed


async def test_primary_down_writes_503_then_recover(cluster: LocalCluster, api: Api) -> None:
    poll_id = (await api.create_poll())["poll"]["id"]
    await asyncio.to_thread(cluster.wait_replicated)
    await asyncio.to_thread(cluster.stop, "primary")
    try:
        r, took = await timed(api.post("/api/polls", {"title": "t", "questions": [
            {"text": "q", "options": [{"label": "a"}, {"label": "b"}]}]}, timeout=30))
        assert r.status == 503 and r.error_code == "storage_unavailable", r.body
        assert took < PROMPT, f"answered after {took:.1f} s"
        s = api.session()
        tok = await s.voter()
        r, took = await timed(s.post(f"/api/polls/{poll_id}/ballots", {"choices": {"q1": ["o1"]}},
                                     timeout=30))
        assert r.status == 503 and r.error_code == "storage_unavailable", r.body
        assert took < PROMPT, f"answered after {took:.1f} s"
        # Reads keep being served by the replicas.
        await read_ok(api, poll_id, 10)
    finally:
        await asyncio.to_thread(ensure_up, cluster)

    async def write_ok() -> bool:
        r = await s.post(f"/api/polls/{poll_id}/ballots", {"choices": {"q1": ["o1"]}},
                         headers={"X-Voter-Token": tok})
        return r.status == 201
    await eventually(write_ok, timeout=20, interval=0.2)
    results = (await s.get(f"/api/polls/{poll_id}/results")).json  # s carries the position
    assert results["total"] == 1


def set_delay(node: Any, seconds: int) -> None:
    node.execute("STOP SLAVE", f"CHANGE MASTER TO MASTER_DELAY = {int(seconds)}", "START SLAVE")


async def test_lagging_replica_is_skipped_and_its_return_noticed(cluster: LocalCluster,
                                                                api: Api) -> None:
    poll_id = (await api.create_poll())["poll"]["id"]
    await asyncio.to_thread(cluster.wait_replicated)
    lagging = cluster.node("replica1")
    await asyncio.to_thread(set_delay, lagging, 6)  # far beyond max_replica_lag (2 s)
    fresh = api.session()
    fresh.keep_cookies = False

    async def reads_skip_replica1() -> bool:
        before = await counters(cluster, "Com_select")
        for _ in range(40):
            assert (await fresh.get(f"/api/polls/{poll_id}/results")).status == 200
        after = await counters(cluster, "Com_select")
        # Both replicas see the same heartbeat probes; only replica2 takes the reads.
        return (after["replica2"] - before["replica2"]) - (after["replica1"] - before["replica1"]) >= 70
    try:
        await eventually(reads_skip_replica1, timeout=30, interval=0.5)
    finally:
        await asyncio.to_thread(set_delay, lagging, 0)

    async def replica1_back() -> bool:
        before = await counters(cluster, "Com_select")
        for _ in range(40):
            assert (await fresh.get(f"/api/polls/{poll_id}/results")).status == 200
        after = await counters(cluster, "Com_select")
        return after["replica1"] - before["replica1"] >= 25
    await eventually(replica1_back, timeout=30, interval=0.5)


async def test_double_clicks_across_backends_count_once(cluster: LocalCluster, api: Api) -> None:
    poll_id = (await api.create_poll())["poll"]["id"]
    # The same voter, the same ballot, 20 times at once, spread over the backends by nginx.
    s = api.session()
    await s.voter()
    results = await asyncio.gather(*(
        s.post(f"/api/polls/{poll_id}/ballots", {"choices": {"q1": ["o1"]}}) for _ in range(20)))
    codes = sorted(r.status for r in results)
    assert codes == [201] + [409] * 19, codes
    assert {r.error_code for r in results if r.status == 409} == {"already_voted"}
    # With an Idempotency-Key every repeat gets the first answer, whichever backend serves it.
    s2 = api.session()
    await s2.voter()
    key = {"Idempotency-Key": "click-1"}
    results = await asyncio.gather(*(
        s2.post(f"/api/polls/{poll_id}/ballots", {"choices": {"q1": ["o2"]}}, headers=key)
        for _ in range(20)))
    assert {r.status for r in results} == {201}, [r.body for r in results if r.status != 201]
    assert len({r.json["ballot"]["receipt"] for r in results}) == 1
    assert len({r.headers["X-Backend"] for r in results}) > 1
    await asyncio.to_thread(cluster.wait_replicated)  # many writers: let replicas catch up
    tally = (await api.get(f"/api/polls/{poll_id}/results")).json
    assert tally["total"] == 2
    assert tally["questions"][0]["counts"] == {"o1": 1, "o2": 1, "o3": 0}


async def test_hung_primary_answers_503_not_a_hang(cluster: LocalCluster, api: Api) -> None:
    poll_id = (await api.create_poll())["poll"]["id"]
    await asyncio.to_thread(cluster.wait_replicated)
    s = api.session()
    tok = await s.voter()
    cluster.kill("primary", signal.SIGSTOP)  # the process is there but answers nothing
    try:
        r, took = await timed(s.post(f"/api/polls/{poll_id}/ballots", {"choices": {"q1": ["o1"]}},
                                     timeout=30))
        assert r.status == 503 and r.error_code == "storage_unavailable", r.body
        # A hung primary costs at most the storage's connect/query timeouts, never a hang.
        assert took < HUNG_PROMPT, f"answered after {took:.1f} s"
        await read_ok(api, poll_id, 5)  # replicas still answer reads
    finally:
        cluster.kill("primary", signal.SIGCONT)

    async def write_ok() -> bool:
        r = await s.post(f"/api/polls/{poll_id}/ballots", {"choices": {"q1": ["o2"]}},
                         headers={"X-Voter-Token": tok}, timeout=30)
        return r.status == 201
    await eventually(write_ok, timeout=30, interval=0.3)
    results = (await s.get(f"/api/polls/{poll_id}/results")).json  # s carries the position
    assert results["total"] == 1 and results["questions"][0]["counts"]["o2"] == 1


async def test_cli_cluster_status_json(cluster: LocalCluster) -> None:
    ensure_up(cluster)
    out = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "voting", "cluster", "status", "--dir",
                         str(cluster.state_dir), "--json"],
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    status = json.loads(out.stdout)
    assert set(status) == {"url", "processes", "replicas"} and status["url"] == cluster.url
    roles = {p["name"]: p["role"] for p in status["processes"]}
    assert roles == {"primary": "primary", "replica1": "replica", "replica2": "replica",
                     "redis": "redis", "backend1": "backend", "backend2": "backend",
                     "backend3": "backend", "nginx": "nginx"}
    for p in status["processes"]:
        assert set(p) == {"name", "role", "pid", "port", "alive"} and p["alive"] is True
        assert isinstance(p["pid"], int) and isinstance(p["port"], int)
    assert [r["name"] for r in status["replicas"]] == ["replica1", "replica2"]
    assert all(set(r) == {"name", "lag_ms"} for r in status["replicas"])


async def test_unknown_paths_and_methods_through_nginx(cluster: LocalCluster, api: Api) -> None:
    for path in ("/api", "/api/nope", "/healthz/", "/metrics/x"):
        r = await api.get(path)
        assert (r.status, r.error_code) == (404, "not_found"), (path, r.status, r.body[:80])
    # Other paths are the client's: its own "page not found", with a 404 (DESIGN §8).
    for path in ("/nope", "/p/abcd1234/elsewhere"):
        r = await api.get(path)
        assert r.status == 404 and r.headers["Content-Type"].startswith("text/html"), path
    # A mistyped join code in capitals or with a space still reaches the client.
    for path in ("/p/ABCD1234", "/p/abcd%201234/present"):
        r = await api.get(path)
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/html"), path
    for path in ("/", "/p/abcd1234", "/healthz"):
        r = await api.post(path, {})
        assert (r.status, r.error_code) == (405, "method_not_allowed"), (path, r.status, r.body[:80])
    r = await api.get("/p/abcd1234/present")
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/html")


async def test_body_limits_and_unknown_api_paths_answered_by_the_real_backends(
        cluster: LocalCluster, api: Api) -> None:
    """nginx passes bodies up to its own hard limit to the real backends, which answer 413 past
    the API's 64 KiB; beyond that nginx answers in the same JSON shape."""
    json_type = {"Content-Type": "application/json"}
    over_api = b'{"title": "' + b"x" * (65 * 1024) + b'"}'
    r = await api.request("POST", "/api/polls", body=over_api, headers=json_type)
    assert (r.status, r.error_code) == (413, "payload_too_large"), r.body[:200]
    assert r.headers.get("X-Backend") in cluster.backend_names, dict(r.headers)
    r = await api.request("POST", "/api/polls", body=b"x" * (2 << 20), headers=json_type)
    assert (r.status, r.error_code) == (413, "payload_too_large"), r.body[:200]
    assert r.headers["Content-Type"].startswith("application/json")
    # Unknown API paths and polls: the backend's JSON 404, not nginx's page or the client's.
    for path, code in (("/api/nope", "not_found"), ("/api/polls/abcd1234/nope", "not_found"),
                       ("/api/polls/zzzzzzzz", "poll_not_found"),
                       ("/api/polls/zzzzzzzz/results", "poll_not_found")):
        r = await api.get(path)
        assert (r.status, r.error_code) == (404, code), (path, r.status, r.body[:200])
        assert r.headers.get("X-Backend") in cluster.backend_names, path
        assert r.headers["Content-Type"].startswith("application/json"), path


async def test_cluster_metrics_relay_delay_pool_use_and_replica_lag(cluster: LocalCluster,
                                                                     api: Api) -> None:
    """The metrics only a cluster drives (DESIGN.md §6), read from every backend directly."""
    backends = {name: Api(f"http://127.0.0.1:{port}", keep_cookies=False)
                for name, port in zip(cluster.backend_names, cluster.backend_ports)}
    feeds: dict[str, Feed] = {}
    try:
        poll_id = (await api.create_poll())["poll"]["id"]
        feeds = await feeds_on_every_backend(cluster, poll_id)
        before = {name: (await scrape(b))[1] for name, b in backends.items()}
        statuses = await asyncio.gather(*(vote(api, poll_id, {"q1": ["o1"]}) for _ in range(12)))
        assert statuses == [201] * 12
        for feed in feeds.values():
            await feed.wait_for(lambda f: f["type"] == "tally" and f["total"] == 12, timeout=15)
        after = {name: (await scrape(b))[1] for name, b in backends.items()}
    finally:
        for feed in feeds.values():
            await feed.close()
        for b in backends.values():
            b.close()
    relayed = {name: value(after[name], "voting_relay_delay_seconds_count") -
               value(before[name], "voting_relay_delay_seconds_count") for name in backends}
    # Ballots taken by one backend reach the others' feeds through Redis, timed on arrival.
    assert sum(relayed.values()) > 0, relayed
    for name, samples in after.items():
        for role in ("primary", "replica"):
            assert value(samples, "voting_db_pool_connections", role=role) > 0, (name, role)
            assert ("voting_db_pool_connections_in_use", (("role", role),)) in samples, (name, role)
        lags = {dict(labels)["replica"]: v for (n, labels), v in samples.items()
                if n == "voting_replica_lag_seconds"}
        assert len(lags) == 2 and all(v >= 0 for v in lags.values()), (name, lags)


async def test_cluster_up_seeded_the_demo_poll(cluster: LocalCluster, api: Api) -> None:
    """`cluster up` runs `voting db init --seed` once: the demo poll is public and votable."""
    found = None
    cursor = None
    for _ in range(50):  # other tests' public polls come first (newest first)
        page = (await api.get("/api/polls?limit=100" + (f"&cursor={cursor}" if cursor else ""))).json
        found = next((p for p in page["polls"] if p["title"] == DEMO_POLL["title"]), None)
        cursor = page["next_cursor"]
        if found or cursor is None:
            break
    assert found is not None, "no demo poll"
    poll = (await api.get(f"/api/polls/{found['id']}")).json["poll"]
    assert [q["text"] for q in poll["questions"]] == [q["text"] for q in DEMO_POLL["questions"]]


async def test_two_clusters_side_by_side(cluster: LocalCluster, tmp_path: Path) -> None:
    """Internal ports are free ports, so a second `voting cluster up` runs beside the first,
    with its own data (DESIGN.md §7)."""
    ensure_up(cluster)
    env = dict(os.environ, VOTING_SERVER__SECRET="second-cluster-" + "y" * 24, **NO_RATE_LIMITS_ENV)
    state = str(tmp_path / "second")

    def voting(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "voting", "cluster", *args, "--dir", state],
                              cwd=str(ROOT), env=env, capture_output=True, text=True,
                              timeout=timeout)

    try:
        up = await asyncio.to_thread(voting, "up", "--port", "0")
        assert up.returncode == 0, up.stdout + up.stderr
        out = await asyncio.to_thread(voting, "status", "--json", timeout=60)
        assert out.returncode == 0, out.stderr
        second = json.loads(out.stdout)
        assert all(p["alive"] for p in second["processes"]), second
        first = await asyncio.to_thread(cluster.status)
        ports = [{p["port"] for p in st["processes"]} for st in (first, second)]
        assert not ports[0] & ports[1], ports
        one, two = Api(str(cluster.url)), Api(second["url"])
        try:
            a = (await one.create_poll(title="first"))["poll"]["id"]
            b = (await two.create_poll(title="second"))["poll"]["id"]
            assert (await two.get(f"/api/polls/{b}")).json["poll"]["title"] == "second"
            assert (await two.get(f"/api/polls/{a}")).status == 404
            assert (await one.get(f"/api/polls/{b}")).status == 404
            assert (await one.get(f"/api/polls/{a}")).json["poll"]["title"] == "first"
        finally:
            one.close()
            two.close()
    finally:
        down = await asyncio.to_thread(voting, "down", "--purge")
        assert down.returncode == 0, down.stdout + down.stderr
    assert (await asyncio.to_thread(cluster.status))["processes"] and \
        all(p["alive"] for p in (await asyncio.to_thread(cluster.status))["processes"])


async def test_a_trickled_body_goes_no_further_than_nginx(cluster: LocalCluster,
                                                          api: Api) -> None:
    """Behind nginx the backends have no body timeout (server.body_timeout 0): nginx takes
    each body whole before passing it on, so a client trickling one never holds a backend's
    request open; the backend sees a quick request once the body is complete."""
    backends = {name: Api(f"http://127.0.0.1:{port}", keep_cookies=False)
                for name, port in zip(cluster.backend_names, cluster.backend_ports)}

    def slow_posts(samples: Any) -> float:
        """POST /api/polls requests that took a backend over a second."""
        labels = {"method": "POST", "route": "/api/polls"}
        return (value(samples, "voting_http_request_duration_seconds_count", **labels) -
                value(samples, "voting_http_request_duration_seconds_bucket", le="1.0",
                      **labels))

    host, port = str(cluster.url).removeprefix("http://").split(":")
    body = json.dumps({"title": "Trickled", "questions": [
        {"text": "Which?", "kind": "single", "options": [{"label": "A"}, {"label": "B"}]}]}
    ).encode()
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        before = [slow_posts((await scrape(b))[1]) for b in backends.values()]
        writer.write(b"POST /api/polls HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body[:10])
        await writer.drain()
        await asyncio.sleep(2.0)  # the client trickling: the scenario itself, not a wait
        writer.write(body[10:])
        await writer.drain()
        async with asyncio.timeout(PROMPT):
            status_line = await reader.readline()
        assert status_line.split()[1] == b"201", status_line
        after = [slow_posts((await scrape(b))[1]) for b in backends.values()]
    finally:
        writer.close()
        for b in backends.values():
            b.close()
    assert after == before, "a backend waited on the trickled body"
