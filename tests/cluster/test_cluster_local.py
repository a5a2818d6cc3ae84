"""The whole local cluster (MariaDB x3, Redis, backends, nginx) with stand-in backends.

The real `voting serve` is exercised by the cluster-marked tests; these check the
orchestration: lifecycle, environment plumbing, nginx routing and its errors.
"""
from __future__ import annotations

import asyncio
import gzip
import http.client
import json
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Iterator

import pytest
import tornado.websocket

from voting.cluster import ClusterError, LocalCluster
from voting.cluster.proc import wait_until

from tests.cluster.cluster_harness import MARIADB, REPO, require_binaries, standin_argv

pytestmark = pytest.mark.integration


def request(url: str, path: str, method: str = "GET", body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def static_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    (dist / "index.html").write_text("<!doctype html><title>voting client</title>")
    (dist / "assets").mkdir()
    (dist / "assets" / "app-1234.js").write_text("console.log('hi')")
    return dist


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, static_dir: Path) -> Iterator[LocalCluster]:
    require_binaries(*MARIADB, "redis-server", "nginx")
    c = LocalCluster(tmp_path_factory.mktemp("cluster") / "state", port=0, backends=3,
                     backend_argv=standin_argv, db_init_argv=[], static_dir=static_dir)
    try:
        c.up()
        yield c
    finally:
        c.down(purge=True)


def test_status_has_the_documented_shape(cluster: LocalCluster) -> None:
    st = cluster.status()
    assert set(st) == {"url", "processes", "replicas"}
    assert st["url"] == cluster.url and st["url"].startswith("http://127.0.0.1:")
    roles = [(p["name"], p["role"]) for p in st["processes"]]
    assert roles == [("primary", "primary"), ("replica1", "replica"), ("replica2", "replica"),
                     ("redis", "redis"), ("backend1", "backend"), ("backend2", "backend"),
                     ("backend3", "backend"), ("nginx", "nginx")]
    for p in st["processes"]:
        assert set(p) == {"name", "role", "pid", "port", "alive"}
        assert p["alive"] is True and isinstance(p["pid"], int) and isinstance(p["port"], int)
    assert len({p["port"] for p in st["processes"]}) == 8
    assert [r["name"] for r in st["replicas"]] == ["replica1", "replica2"]
    assert all(set(r) == {"name", "lag_ms"} and isinstance(r["lag_ms"], int) and r["lag_ms"] >= 0
               for r in st["replicas"]), st["replicas"]
    assert json.loads(json.dumps(st)) == st  # what `status --json` prints, unchanged
    # Caught up, both replicas report no lag (right after `up` they may still be applying).
    cluster.wait_replicated(15)
    wait_until(lambda: [r["lag_ms"] for r in cluster.status()["replicas"]] == [0, 0], 15,
               "both replicas at lag 0")


def test_backends_get_their_environment(cluster: LocalCluster) -> None:
    secrets = dict(line.split("=", 1) for line in
                   (cluster.state_dir / "secrets.env").read_text().splitlines()
                   if line and not line.startswith("#"))
    assert (cluster.state_dir / "secrets.env").stat().st_mode & 0o777 == 0o600
    seen: dict[str, dict[str, Any]] = {}
    for _ in range(12):
        status, headers, body = request(cluster.url or "", "/api/env")
        assert status == 200
        seen[headers["x-backend"]] = json.loads(body)
    assert set(seen) == {"backend1", "backend2", "backend3"}
    for name, env in seen.items():
        assert env["VOTING_SERVER__SECRET"] == secrets["VOTING_SERVER__SECRET"]
        assert env["VOTING_STORAGE__PASSWORD"] == secrets["VOTING_STORAGE__PASSWORD"]
        assert env["VOTING_STORAGE__PORT"] == str(cluster.primary_port)
        assert env["VOTING_STORAGE__REPLICAS"] == ",".join(
            f"127.0.0.1:{p}" for p in cluster.replica_ports)
        assert env["VOTING_BROKER__REDIS_URL"].endswith(f"127.0.0.1:{cluster.redis_port}/0")
        assert env["VOTING_SERVER__DATA_DIR"] == str(cluster.state_dir / name)
        assert env["VOTING_SERVER__MODE"] == "cluster"
        assert "REPL_PASSWORD" not in env


def test_app_user_reaches_the_primary_with_the_generated_password(cluster: LocalCluster) -> None:
    import pymysql

    with pymysql.connect(**cluster.primary_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT DATABASE(), CURRENT_USER()")
        assert cur.fetchone() == ("voting", "voting@%")
    # Tests can read server counters as root over the node's socket.
    assert cluster.node("replica1").query("SHOW GLOBAL STATUS LIKE 'Com_insert'")[0][0] == "Com_insert"


def test_nginx_workers_start_without_alerts(cluster: LocalCluster) -> None:
    """Its workers set worker_rlimit_nofile at start: above the hard limit they log an
    alert (setrlimit EPERM); the rendering keeps it within."""
    log = (cluster.state_dir / "logs" / "nginx-error.log").read_text()
    assert "[alert]" not in log and "setrlimit" not in log, log[-2000:]


def test_nginx_forwards_the_client_address(cluster: LocalCluster) -> None:
    status, _, body = request(cluster.url or "", "/api/echo",
                              headers={"X-Forwarded-For": "6.6.6.6", "X-Real-IP": "6.6.6.6"})
    assert status == 200
    headers = json.loads(body)["headers"]
    assert headers["X-Real-Ip"] == "127.0.0.1"
    assert headers["X-Forwarded-For"] == "127.0.0.1"  # set, not appended to a spoofed one


def test_nginx_passes_what_the_backends_read_and_drops_what_none_does(
        cluster: LocalCluster) -> None:
    """A phone's fetch through nginx: the headers the API and Tornado read reach the backend,
    the ones no backend reads (each parsed for nothing, on every request) do not."""
    from voting.bench.clients import BROWSER_HEADERS
    read = {"Authorization": "Bearer a", "X-Voter-Token": "t", "Idempotency-Key": "k",
            "Cookie": "voter=v", "Accept": "application/json", "Accept-Encoding": "gzip",
            "Origin": "https://vote.example.org", "If-None-Match": '"e"'}
    unread = {"DNT": "1", "Sec-Fetch-User": "?1", "Upgrade-Insecure-Requests": "1"}
    status, answer, body = request(cluster.url or "", "/api/echo",
                                   headers={**dict(BROWSER_HEADERS), **unread, **read})
    assert status == 200
    if answer.get("content-encoding") == "gzip":
        body = gzip.decompress(body)
    got = {k.lower(): v for k, v in json.loads(body)["headers"].items()}
    for name, value in read.items():
        assert got.get(name.lower()) == value, name
    dropped = {n.lower() for n, _ in BROWSER_HEADERS} - {n.lower() for n in read} | \
        {n.lower() for n in unread}
    assert len(dropped) == 13 and not dropped & set(got), dropped & set(got)
    assert "upgrade" not in got and "connection" not in got  # no upgrade asked: reusable


def test_static_client_and_spa_fallback(cluster: LocalCluster) -> None:
    for path in ("/", "/p/abcd1234", "/p/abcd1234/present", "/p/abcd1234/admin"):
        status, headers, body = request(cluster.url or "", path)
        assert status == 200 and b"voting client" in body, path
        assert headers["content-type"].startswith("text/html")
        assert "x-backend" not in headers
    status, headers, _ = request(cluster.url or "", "/assets/app-1234.js")
    assert status == 200 and "immutable" in headers["cache-control"]
    status, headers, _ = request(cluster.url or "", "/assets/missing.js")
    assert status == 404 and headers.get("x-backend")  # the backend's JSON 404
    for path in ("/nope", "/p/abcd1234/elsewhere", "/api", "/healthz/"):
        status, headers, _ = request(cluster.url or "", path)
        assert status == 404 and headers.get("x-backend"), path  # not index.html
    status, headers, body = request(cluster.url or "", "/p/abcd1234", "POST", b"{}")
    assert status == 405 and headers["content-type"] == "application/json", body
    assert json.loads(body)["error"]["code"] == "method_not_allowed"


def test_body_limits(cluster: LocalCluster) -> None:
    status, headers, body = request(cluster.url or "", "/api/echo", "POST", b"x" * (65536 + 10),
                                    {"Content-Type": "application/json"})
    assert status == 200 and json.loads(body)["length"] == 65546  # the backend decides: 413 JSON
    status, headers, body = request(cluster.url or "", "/api/echo", "POST", b"x" * (2 << 20),
                                    {"Content-Type": "application/json"})
    assert status == 413
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"]["code"] == "payload_too_large"


async def test_websocket_through_nginx(cluster: LocalCluster) -> None:
    url = (cluster.url or "").replace("http://", "ws://") + "/ws"
    ws = await tornado.websocket.websocket_connect(url)
    try:
        hello = json.loads(await ws.read_message() or "")
        assert hello["type"] == "hello" and hello["server"].startswith("backend")
        await ws.write_message(json.dumps({"type": "ping"}))
        assert json.loads(await ws.read_message() or "") == {"type": "pong"}
    finally:
        ws.close()
        # The socket closes when nginx answers the close frame; wait for that so it does not
        # outlive this test's event loop (a ResourceWarning in some later test).
        while await asyncio.wait_for(ws.read_message(), 5) is not None:
            pass


def test_killed_backend_is_skipped_and_up_restarts_only_it(cluster: LocalCluster) -> None:
    before = {p["name"]: p["pid"] for p in cluster.status()["processes"]}
    cluster.kill("backend2", signal.SIGKILL)
    try:
        assert not cluster.alive("backend2")
        for method in ("GET", "POST"):
            for _ in range(6):
                status, headers, _ = request(cluster.url or "", "/api/echo", method,
                                             b"{}" if method == "POST" else None)
                assert status == 200 and headers["x-backend"] != "backend2"
    finally:
        cluster.up()  # whatever failed above, the next test gets the whole cluster
    after = {p["name"]: p["pid"] for p in cluster.status()["processes"]}
    assert after["backend2"] != before["backend2"]
    assert {k: v for k, v in after.items() if k != "backend2"} == \
        {k: v for k, v in before.items() if k != "backend2"}


def test_no_backend_gives_json_502(cluster: LocalCluster) -> None:
    for name in cluster.backend_names:
        cluster.stop(name)
    try:
        status, headers, body = request(cluster.url or "", "/api/echo")
        assert status == 502 and headers["content-type"] == "application/json"
        assert json.loads(body)["error"]["code"] == "bad_gateway"
    finally:
        cluster.up()
    status, _, _ = request(cluster.url or "", "/readyz")
    assert status == 200


def test_stopped_parts_come_back_on_the_same_ports(cluster: LocalCluster) -> None:
    ports = {n: cluster.port(n) for n in cluster.names}
    try:
        cluster.stop("nginx")
        cluster.stop("redis")
        cluster.kill("primary", signal.SIGKILL)
        assert [p["name"] for p in cluster.status()["processes"] if not p["alive"]] == \
            ["primary", "redis", "nginx"]
    finally:
        cluster.up()  # whatever failed above, the next test gets the whole cluster
    assert {n: cluster.port(n) for n in cluster.names} == ports
    assert all(p["alive"] for p in cluster.status()["processes"])
    cluster.primary.execute("CREATE TABLE IF NOT EXISTS voting.after_restart (id INT PRIMARY KEY)")
    cluster.wait_replicated(15)


def test_processes_outlive_the_process_that_started_them(tmp_path: Path) -> None:
    """`voting cluster up` returns while the cluster keeps running (own sessions)."""
    require_binaries(*MARIADB, "redis-server", "nginx")
    state = tmp_path / "state"
    script = textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{str(REPO)!r}]
        from voting.cluster import LocalCluster
        from tests.cluster.cluster_harness import standin_argv
        info = LocalCluster({str(state)!r}, port=0, backends=2, backend_argv=standin_argv,
                            db_init_argv=[]).up()
        print(info.url)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180)
    try:
        assert out.returncode == 0, out.stdout + out.stderr
        url = out.stdout.strip().splitlines()[-1]
        c = LocalCluster(state)
        st = c.status()
        assert st["url"] == url and all(p["alive"] for p in st["processes"])
        assert [p["name"] for p in st["processes"]].count("backend2") == 1
        assert request(url, "/readyz")[0] == 200
    finally:
        LocalCluster(state).down()
    st = LocalCluster(state).status()
    assert not any(p["alive"] for p in st["processes"])
    assert (state / "mysql" / "primary" / "data").is_dir()  # kept without purge
    LocalCluster(state).down(purge=True)
    assert not state.exists()


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    require_binaries(*MARIADB, "redis-server", "nginx")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = s.getsockname()[1]
        c = LocalCluster(tmp_path / "state", port=taken, backend_argv=standin_argv, db_init_argv=[])
        try:
            with pytest.raises(ClusterError, match=f"port {taken} is in use"):
                c.up()
        finally:
            c.down(purge=True)


def test_backend_that_exits_fails_up_with_its_log(tmp_path: Path) -> None:
    require_binaries(*MARIADB, "redis-server", "nginx")

    def broken(name: str, port: int) -> list[str]:
        return [sys.executable, "-c", "import sys; print('backend exploded'); sys.exit(3)"]

    c = LocalCluster(tmp_path / "state", port=0, backends=1, backend_argv=broken, db_init_argv=[],
                     timeout=20)
    try:
        with pytest.raises(ClusterError, match="(?s)backend1.*exited.*backend exploded"):
            c.up()
    finally:
        c.down(purge=True)
