"""Shared fixtures: an in-process server on a free port, and `voting serve` as a process."""
from __future__ import annotations

import os
from contextlib import asynccontextmanager
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
IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")

# Every skip of the run, for the session-end check below.
_SKIPPED: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _SKIPPED.append(f"{report.nodeid}: {reason}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI nothing may skip: a skipped test is a promise nobody checked, so the run fails."""
    if not IN_CI or not _SKIPPED:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.ensure_newline()
        reporter.section(f"{len(_SKIPPED)} skipped with CI set: the run fails", sep="=",
                         red=True, bold=True)
        for line in _SKIPPED:
            reporter.line(line, red=True)
    if session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


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


def _supports_polls_limit() -> bool:
    """Whether this build's config knows rate_limits.polls_per_minute (the creation limit)."""
    try:
        config_mod.load(None, environ={}, overrides={"rate_limits": {"polls_per_minute": 0}})
    except Exception:
        return False
    return True


# No rate limit at all unless a test sets one: every test client is 127.0.0.1, so one shared
# budget would make a test's outcome depend on what ran before it in the same minute.
NO_RATE_LIMITS: dict[str, int] = {"voters_per_minute": 0, "ballots_per_minute": 0,
                                  **({"polls_per_minute": 0} if _supports_polls_limit() else {})}
NO_RATE_LIMITS_ENV = {f"VOTING_RATE_LIMITS__{k.upper()}": str(v) for k, v in NO_RATE_LIMITS.items()}


async def start_redis(work: Path) -> Any:
    """A real redis-server (tests.ws.test_redis_relay.RedisServer) on a free port, ready.

    The port is chosen before redis binds it: a start that lost it to another process is
    tried again on another port."""
    require_binary("redis-server", "/usr/bin/redis-server")
    from tests.ws.test_redis_relay import RedisServer
    for attempt in range(3):
        redis = RedisServer(work / f"redis-{attempt}")
        redis.start()
        try:
            await redis.wait_ready()
            return redis
        except AssertionError:
            exited = redis.proc is not None and redis.proc.poll() is not None
            redis.stop()
            if attempt == 2 or not exited:
                raise
    raise AssertionError  # unreachable


def make_config(tmp: Path, **sections: dict[str, Any]) -> config_mod.Config:
    over: dict[str, dict[str, Any]] = {
        "server": {"data_dir": str(tmp / "data"), "name": "test1", "port": 0,
                   "static_dir": str(ROOT / "client" / "dist"), "shutdown_grace": 2.0},
        "ws": {"tally_interval": 0.05, "heartbeat": 5, "idle_timeout": 30},
        "rate_limits": dict(NO_RATE_LIMITS),
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


def freeze_rate_limits(server: Server, at: float | None = None) -> float:
    """Stop the server's rate-limit clock at the start of the current minute (or at `at`), so
    a burst of requests never straddles two one-minute windows; returns that time."""
    frozen = float(int(time.time() // 60) * 60) if at is None else at
    server.app.settings["voting_rate_limiter"].clock = lambda: frozen
    return frozen


@pytest.fixture
async def sqlite_server(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[RunningServer]:
    """A real server on a free port with embedded storage and the in-process broker.

    Tests may pass config overrides with @pytest.mark.parametrize indirectly or by
    setting `server_config` in a module (a dict of sections)."""
    async with running_server(tmp_path, **getattr(request.module, "server_config", {})) as rs:
        yield rs


@asynccontextmanager
async def running_server(tmp_path: Path, **sections: dict[str, Any]
                         ) -> AsyncIterator[RunningServer]:
    """A real embedded server on a free port with these config sections, stopped after."""
    cfg = make_config(tmp_path, **sections)
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
    """`voting serve` on a free port; the port is chosen before the process binds it, so a
    start that lost the port to another process (address in use) is tried again on another."""
    for attempt in range(3):
        try:
            return _start_server_process(tmp, name, env)
        except PortTaken:
            if attempt == 2:
                raise
    raise AssertionError  # unreachable


class PortTaken(RuntimeError):
    pass


def _start_server_process(tmp: Path, name: str, env: dict[str, str] | None) -> ServerProcess:
    port = free_port()
    log = tmp / f"{name}.log"
    e = dict(os.environ)
    e.update({"VOTING_SERVER__DATA_DIR": str(tmp / "data"),
              "VOTING_SERVER__STATIC_DIR": str(ROOT / "client" / "dist"),
              **NO_RATE_LIMITS_ENV})
    e.update(env or {})
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "voting", "serve", "--host", "127.0.0.1",
                                 "--port", str(port), "--name", name],
                                cwd=str(ROOT), env=e, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/readyz", 20, proc, log)
    except RuntimeError:
        stop_process(proc)
        if "Address already in use" in log.read_text(errors="replace"):
            raise PortTaken(f"port {port} was taken before {name} bound it") from None
        raise
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
    from voting.cluster import ClusterError, LocalCluster
    env = dict(os.environ)
    env["VOTING_SERVER__SECRET"] = "test-secret-" + "x" * 24
    # The whole session's traffic comes from 127.0.0.1 through nginx: no shared budget.
    env.update(NO_RATE_LIMITS_ENV)
    for attempt in range(3):
        state = tmp_path_factory.mktemp("cluster")
        # config_path None: the config `voting cluster up` uses by default.
        cluster = LocalCluster(state, config_path=None, port=0, backends=3,
                               replica_durable=False, environ=env)
        try:
            cluster.up()
            break
        except ClusterError as exc:
            cluster.down(purge=True)
            # Free ports are chosen before the processes bind them; another process may take
            # one in between. Start afresh on other ports rather than fail the session.
            if attempt == 2 or "in use" not in str(exc) and "Address already in use" not in str(exc):
                raise
    try:
        yield cluster
    finally:
        cluster.down(purge=True)
