"""Operations promises of DESIGN.md §6-§7 that no endpoint test holds: readiness follows the
broker, and `voting db init [--seed]` prepares a database with its demo poll."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.client import Api, eventually
from tests.conftest import ROOT, make_config, start_redis
from voting.app import Server, make_broker, make_storage
from voting.cluster import redis as redis_proc
from voting.seed import DEMO_POLL
from voting.storage.sqlite import SQLiteStorage


@pytest.mark.integration
async def test_readyz_is_503_while_the_broker_is_down(tmp_path: Path) -> None:
    """readyz checks storage and broker: a backend without Redis is alive, not ready."""
    redis = await start_redis(tmp_path)
    cfg = make_config(tmp_path, server={"name": "b1", "secret": "x" * 32},
                      broker={"backend": "redis", "redis_url": redis_proc.url(redis.port)})
    server = Server(cfg, make_storage(cfg), make_broker(cfg, "b1"))
    port = await server.start("127.0.0.1", 0)
    api = Api(f"http://127.0.0.1:{port}")
    try:
        ready = await api.get("/readyz")
        assert (ready.status, ready.json["status"]) == (200, "ok"), ready.body
        redis.stop()

        async def not_ready() -> bool:
            return (await api.get("/readyz", timeout=10)).status == 503

        await eventually(not_ready, timeout=15)
        r = await api.get("/readyz")
        assert r.json["status"] != "ok" and "broker_error" in r.json, r.body
        assert (await api.get("/healthz")).status == 200  # alive all the same
        redis.start()
        await redis.wait_ready()

        async def ready_again() -> bool:
            return (await api.get("/readyz", timeout=10)).status == 200

        await eventually(ready_again, timeout=15)
    finally:
        api.close()
        await server.stop()
        redis.stop()


def db_init(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, VOTING_SERVER__DATA_DIR=str(data_dir))
    env.pop("VOTING_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "voting", "db", "init", *args], cwd=str(ROOT),
                          env=env, capture_output=True, text=True, timeout=120)


async def test_db_init_creates_the_schema_and_seed_adds_one_demo_poll(tmp_path: Path) -> None:
    data = tmp_path / "data"
    plain = db_init(data)
    assert plain.returncode == 0, plain.stderr
    assert "demo poll" not in plain.stdout
    db = data / "voting.sqlite3"
    assert db.is_file()
    storage = SQLiteStorage(str(db))
    await storage.open()
    try:
        assert await storage.list_public_polls(10, None) == []
    finally:
        await storage.close()

    first = db_init(data, "--seed")
    assert first.returncode == 0, first.stderr
    m = re.search(r"demo poll ([a-z0-9]{8})\b", first.stdout)
    assert m, first.stdout
    poll_id = m.group(1)
    again = db_init(data, "--seed")  # idempotent: the same demo poll, not a second one
    assert again.returncode == 0 and f"demo poll {poll_id}" in again.stdout, again.stdout

    storage = SQLiteStorage(str(db))
    await storage.open()
    try:
        listed = await storage.list_public_polls(10, None)
        assert [p.id for p in listed] == [poll_id]
        poll = await storage.get_poll(poll_id)
        assert poll is not None and poll.title == DEMO_POLL["title"] and poll.status == "open"
        assert [q.text for q in poll.questions] == [q["text"] for q in DEMO_POLL["questions"]]
    finally:
        await storage.close()


async def test_a_seeded_database_serves_its_demo_poll(tmp_path: Path) -> None:
    """The demo poll is a real poll: a server on that data dir lists it and takes ballots."""
    data = tmp_path / "data"
    seeded = db_init(data, "--seed")
    assert seeded.returncode == 0, seeded.stderr
    poll_id = re.search(r"demo poll ([a-z0-9]{8})\b", seeded.stdout).group(1)  # type: ignore[union-attr]
    cfg = make_config(tmp_path)
    server = Server(cfg, make_storage(cfg), make_broker(cfg, "seeded"))
    port = await server.start("127.0.0.1", 0)
    api = Api(f"http://127.0.0.1:{port}")
    try:
        listed = (await api.get("/api/polls")).json["polls"]
        assert [p["id"] for p in listed] == [poll_id]
        token = await api.voter()
        r = await api.post(f"/api/polls/{poll_id}/ballots", {"choices": {"q1": ["o1"]}},
                           headers={"X-Voter-Token": token})
        assert r.status == 201, r.body
        res = (await api.get(f"/api/polls/{poll_id}/results")).json
        assert res["total"] == 1
    finally:
        api.close()
        await server.stop()
