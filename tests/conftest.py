"""Shared fixtures: an in-process server on a free port, and `voting serve` as a process."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import pytest

from voting import config as config_mod
from voting.app import Server, make_storage
from voting.ws.broker import InProcessBroker
from tests.client import Api

ROOT = Path(__file__).resolve().parent.parent
IN_CI = bool(os.environ.get("CI"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_binary(name: str, *candidates: str) -> str:
    """Path of a system binary; a missing one fails under CI and skips (loudly) elsewhere."""
    for c in (name, *candidates):
        found = shutil.which(c) or (c if os.path.isabs(c) and os.access(c, os.X_OK) else None)
        if found:
            return found
    message = f"{name} is not installed (./build.sh test installs it)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)
    raise AssertionError  # unreachable


def make_config(tmp: Path, **sections: dict[str, Any]) -> config_mod.Config:
    over: dict[str, dict[str, Any]] = {
        "server": {"data_dir": str(tmp / "data"), "name": "test1", "port": 0,
                   "static_dir": str(ROOT / "client" / "dist"), "shutdown_grace": 2.0},
        "ws": {"tally_interval": 0.05, "heartbeat": 5, "idle_timeout": 30},
        "rate_limits": {"voters_per_minute": 0, "ballots_per_minute": 0},
    }
    for section, keys in sections.items():
        over.setdefault(section, {}).update(keys)
    return config_mod.load(None, environ={}, overrides=over)


@dataclass
class RunningServer:
    server: Server
    url: str
    ws_url: str
    api: Api


@pytest.fixture
async def sqlite_server(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[RunningServer]:
    """A real server on a free port with embedded storage and the in-process broker.

    Tests may pass config overrides with @pytest.mark.parametrize indirectly or by
    setting `server_config` in a module (a dict of sections)."""
    extra = getattr(request.module, "server_config", {})
    cfg = make_config(tmp_path, **extra)
    server = Server(cfg, make_storage(cfg), InProcessBroker())
    port = await server.start("127.0.0.1", 0)
    url = f"http://127.0.0.1:{port}"
    api = Api(url)
    try:
        yield RunningServer(server, url, f"ws://127.0.0.1:{port}/ws", api)
    finally:
        api.close()
        await server.stop()


@dataclass
class ServerProcess:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path


def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None,
              log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: "
                               f"{log.read_text()[-2000:] if log else ''}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except Exception as exc:  # not up yet
            last = exc
        time.sleep(0.05)  # test harness thread, not an event loop
    raise RuntimeError(f"{url} did not answer within {timeout}s ({last})")


def start_server_process(tmp: Path, name: str = "embedded", env: dict[str, str] | None = None
                         ) -> ServerProcess:
    port = free_port()
    log = tmp / f"{name}.log"
    e = dict(os.environ)
    e.update({"VOTING_SERVER__DATA_DIR": str(tmp / "data"),
              "VOTING_SERVER__STATIC_DIR": str(ROOT / "client" / "dist"),
              "VOTING_RATE_LIMITS__VOTERS_PER_MINUTE": "0",
              "VOTING_RATE_LIMITS__BALLOTS_PER_MINUTE": "0"})
    e.update(env or {})
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "voting", "serve", "--host", "127.0.0.1",
                                 "--port", str(port), "--name", name],
                                cwd=str(ROOT), env=e, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/readyz", 20, proc, log)
    return ServerProcess(url, proc, log)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10) -> int:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return int(proc.returncode)


@pytest.fixture(scope="session")
def embedded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """`voting serve` as its own process with the embedded default (used by browser tests)."""
    tmp = tmp_path_factory.mktemp("embedded")
    sp = start_server_process(tmp)
    try:
        yield sp
    finally:
        stop_process(sp.proc)


@pytest.fixture(scope="session")
def local_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The real local cluster (the code of `voting cluster up`), shared by the session.

    Tests that stop parts of it bring them back with `cluster.up()` (idempotent)."""
    for binary in ("mariadbd", "mariadb-install-db", "redis-server", "nginx"):
        require_binary(binary, f"/usr/sbin/{binary}", f"/usr/bin/{binary}")
    from voting.cluster import LocalCluster
    state = tmp_path_factory.mktemp("cluster")
    env = dict(os.environ)
    env["VOTING_SERVER__SECRET"] = "test-secret-" + "x" * 24
    cluster = LocalCluster(state, config_path=ROOT / "config" / "cluster.yml", port=0, backends=3,
                           replica_durable=False, environ=env)
    try:
        cluster.up()
        yield cluster
    finally:
        cluster.down(purge=True)
