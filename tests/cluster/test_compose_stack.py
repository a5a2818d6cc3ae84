"""The Compose stack really runs: docker-compose.yml and the Dockerfile, built and started
with podman-compose, exercised through nginx's published port, and torn down.

Phases (each one's duration is printed at the end):
  base     the Debian bookworm base image: `mmdebstrap --variant=minbase` (the tarball is
           cached under ~/.cache/voting for a week) and `podman import`
  context  a copy of the checkout as build context, with what only the host can fetch:
           the wheelhouse (`pip wheel .[test]`) and the built client (VOTING_WHEELS and
           VOTING_CLIENT=context)
  build    `podman-compose build`: every image, the unit tests included (the test gate)
  up       `podman-compose up -d`, then every health check passing
  traffic  a poll, ballots and read-your-writes through nginx; live tallies over
           WebSockets on more than one backend; durable primary, relaxed replicas
  bench    `voting bench` from the host as docs/benchmarks.md runs it against the stack
           (hot and fanout at small scale, B_ins on the primary through a scratch account)
  restart  a replica and a backend stopped and started again
  down/up  `down` (volumes kept), `up`: the poll is still there
  teardown `down -v`, the images it built, the base image

Podman before 4.6 neither runs health checks on its own without systemd nor waits on
them (podman-compose ignores `condition: service_healthy` there), so this test runs each
container's health check (`podman healthcheck run`) until all pass: the stack must (and
does) come up in any start order. Podman's settings come from docker/podman/containers.conf
(CONTAINERS_CONF; runc, cgroupfs, ulimits within the host's), no system file is touched.
"""
from __future__ import annotations

import asyncio
import json
import os
import random
import secrets
import shutil
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.client import Api, Feed
from tests.conftest import ROOT, free_port, require_binary

pytestmark = [pytest.mark.integration, pytest.mark.compose]

SERVICES = ("mysql_master", "mysql_slave1", "mysql_slave2", "redis",
            "backend1", "backend2", "backend3", "nginx")
IMAGES = ("voting-mariadb", "voting-redis", "voting-backend", "voting-web")
CONTAINERS_CONF = ROOT / "docker" / "podman" / "containers.conf"
BASE_TARBALL_MAX_AGE = 7 * 24 * 3600
# The checkout minus what never enters a build context (.dockerignore excludes more).
COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", ".run", ".data", "node_modules", "build",
                                     "dist", "*.egg-info", "__pycache__", ".mypy_cache",
                                     ".pytest_cache", "test-artifacts", ".env")


class Phases:
    def __init__(self) -> None:
        self.took: list[tuple[str, float]] = []

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.took.append((name, time.monotonic() - started))

    def report(self) -> str:
        total = sum(t for _, t in self.took)
        return "compose phases: " + ", ".join(f"{n} {t:.0f}s" for n, t in self.took) + f"; total {total:.0f}s"


class Stack:
    """One Compose project of this test: its own name, image tag, subnet and port."""

    def __init__(self, ctx: Path, podman: str) -> None:
        self.ctx = ctx
        self.podman = podman
        self.compose = str(Path(sys.executable).parent / "podman-compose")
        suffix = uuid.uuid4().hex[:8]
        self.project = f"votingtest{suffix}"
        self.tag = f"test-{suffix}"
        self.base_image = f"localhost/voting-base-test:{suffix}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        net = f"10.{random.randint(90, 250)}.{random.randint(0, 255)}"
        self.env_values = {
            "VOTING_SERVER__SECRET": secrets.token_urlsafe(24),
            "VOTING_STORAGE__PASSWORD": "app-" + secrets.token_urlsafe(12),
            "VOTING_BROKER__REDIS_PASSWORD": "redis-" + secrets.token_urlsafe(12),
            "VOTING_REPL_PASSWORD": "repl-" + secrets.token_urlsafe(12),
            "MYSQL_ROOT_PASSWORD": "root-" + secrets.token_urlsafe(12),
            "VOTING_PORT": str(self.port),
            "VOTING_SUBNET": f"{net}.0/24",
            "VOTING_NGINX_IP": f"{net}.10",
            "VOTING_BASE_IMAGE": self.base_image,
            "VOTING_IMAGE_TAG": self.tag,
            "VOTING_WHEELS": "context",
            "VOTING_CLIENT": "context",
        }
        self.env = {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}
        self.images_before = set(self.image_ids())
        self.torn_down = False

    # -- commands ------------------------------------------------------------------
    def run(self, argv: list[str], timeout: float, check: bool = True) -> subprocess.CompletedProcess[str]:
        cwd = self.ctx if self.ctx.is_dir() else self.ctx.parent
        res = subprocess.run(argv, cwd=str(cwd), env=self.env, capture_output=True, text=True,
                             timeout=timeout)
        if check and res.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} exited with {res.returncode}:\n"
                                 f"{res.stdout[-4000:]}\n{res.stderr[-4000:]}")
        return res

    def pc(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
        # One build at a time: the images share their stages (the test gate among them),
        # which parallel builds would each build again.
        return self.run([self.compose, "-p", self.project, "--parallel", "1",
                         "--podman-build-args=--network=host", *args], timeout, check)

    def pm(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run([self.podman, *args], timeout, check)

    def build(self) -> None:
        """One service per image, the backend (and so the test gate) first; the others share
        the images. Stops at the first failure (podman-compose would go on to the next)."""
        for service in ("backend1", "mysql_master", "redis", "nginx"):
            self.pc("build", service, timeout=1800)

    def image_ids(self) -> list[str]:
        out = subprocess.run([self.podman, "images", "-a", "-q", "--no-trunc"], env={
            **os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}, capture_output=True, text=True,
            timeout=60)
        return out.stdout.split()

    def containers(self) -> dict[str, dict[str, Any]]:
        """service -> podman's view of its container (State, Names...)."""
        out = self.pm("ps", "-a", "--format", "json", "--filter",
                      f"label=com.docker.compose.project={self.project}").stdout
        found = {}
        for c in json.loads(out or "[]"):
            service = (c.get("Labels") or {}).get("com.docker.compose.service")
            if service:
                found[service] = c
        return found

    def container(self, service: str) -> str:
        return str(self.containers()[service]["Names"][0])

    def logs(self, service: str) -> str:
        res = self.pm("logs", "--tail", "40", self.container(service), check=False)
        return f"--- {service} ---\n{res.stdout}{res.stderr}"

    def wait_healthy(self, services: tuple[str, ...] = SERVICES, timeout: float = 240) -> None:
        """Run every container's health check until all pass (no systemd timers here)."""
        deadline = time.monotonic() + timeout
        pending = list(services)
        while True:
            containers = self.containers()
            for service in list(pending):
                c = containers.get(service)
                if c is None or c.get("State") != "running":
                    continue
                if self.pm("healthcheck", "run", c["Names"][0], check=False).returncode == 0:
                    pending.remove(service)
            if not pending:
                return
            exited = [s for s in pending if containers.get(s, {}).get("State") in ("exited", "stopped")]
            if exited or time.monotonic() > deadline:
                raise AssertionError(f"not healthy within {timeout}s: {pending} (exited: {exited})\n"
                                     + "\n".join(self.logs(s) for s in pending if s in containers))
            time.sleep(1)  # the next round of health checks

    def sql(self, service: str, query: str) -> str:
        """A query as root inside a MariaDB container (over its socket)."""
        res = self.pm("exec", self.container(service), "bash", "-c",
                      '. /opt/voting-mysql/lib.sh && voting_mysql -e "$1"', "sql", query)
        return res.stdout.strip()

    # -- set-up and tear-down ---------------------------------------------------------
    def import_base(self) -> None:
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "voting"
        tarball = cache / "bookworm-minbase.tar"
        if not tarball.is_file() or time.time() - tarball.stat().st_mtime > BASE_TARBALL_MAX_AGE:
            cache.mkdir(parents=True, exist_ok=True)
            partial = cache / f"bookworm-minbase.{os.getpid()}.tar"
            try:
                self.run([require_binary("mmdebstrap"), "--variant=minbase", "--quiet", "bookworm",
                          str(partial)], timeout=600)
                partial.replace(tarball)
            finally:
                partial.unlink(missing_ok=True)
        self.pm("import", "--change", 'CMD ["bash"]', str(tarball), self.base_image, timeout=300)

    def prepare_context(self) -> None:
        client = ROOT / "client" / "dist"
        if not (client / "index.html").is_file():
            pytest.fail("client/dist is not built: ./build.sh test builds it first")
        shutil.copytree(ROOT, self.ctx, ignore=COPY_IGNORE)
        shutil.copytree(client, self.ctx / "build" / "docker" / "client")
        self.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir",
                  str(self.ctx / "build" / "docker" / "wheels"), ".[test]"], timeout=600)
        (self.ctx / ".env").write_text("".join(f"{k}={v}\n" for k, v in self.env_values.items()))

    def teardown(self) -> None:
        if self.torn_down:
            return
        self.torn_down = True
        if (self.ctx / ".env").is_file():
            self.pc("down", "-v", "-t", "10", timeout=300, check=False)
        ours = [f"localhost/{image}:{self.tag}" for image in IMAGES] + [self.base_image]
        self.pm("rmi", "-f", *ours, check=False, timeout=300)
        # What the builds left behind: the untagged layers of this test's builds.
        new = [i for i in self.image_ids() if i not in self.images_before]
        dangling = set(self.pm("images", "-a", "-q", "--no-trunc", "--filter", "dangling=true",
                               check=False).stdout.split())
        leftovers = [i for i in new if i in dangling]
        if leftovers:
            self.pm("rmi", "-f", *leftovers, check=False, timeout=300)
        assert not self.containers(), "containers left behind"
        volumes = self.pm("volume", "ls", "-q", "--filter",
                          f"label=com.docker.compose.project={self.project}", check=False).stdout.split()
        assert not volumes, volumes


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    podman = require_binary("podman")
    require_binary("runc", "/usr/sbin/runc")
    require_binary("mmdebstrap")
    if not (Path(sys.executable).parent / "podman-compose").is_file():
        pytest.fail("podman-compose is not installed (it is in the package's test extra)")
    s = Stack(tmp_path / "ctx", podman)
    try:
        yield s
    finally:
        s.teardown()


async def vote(api: Api, poll: dict[str, Any], option: int) -> dict[str, Any]:
    """One new voter (its own cookies) casts a ballot and at once reads the results back."""
    voter = api.session()
    token = await voter.voter()
    q = poll["questions"][0]
    r = await voter.post(f"/api/polls/{poll['id']}/ballots",
                         {"choices": {q["id"]: [q["options"][option]["id"]]}},
                         headers={"X-Voter-Token": token})
    assert r.status == 201, r.body
    # Read-your-writes: this voter's cookie carries the primary's position, so whichever
    # backend and replica answer, the ballot is counted.
    mine = await voter.get(f"/api/polls/{poll['id']}/ballot", headers={"X-Voter-Token": token})
    assert mine.status == 200, mine.body
    results = await voter.get(f"/api/polls/{poll['id']}/results")
    assert results.status == 200, results.body
    return results.json  # type: ignore[no-any-return]


async def feeds_on_backends(ws_url: str, want: int, tries: int = 30) -> list[Feed]:
    """WebSockets through nginx until `want` distinct backends said hello."""
    by_backend: dict[str, Feed] = {}
    extra: list[Feed] = []
    for _ in range(tries):
        feed = await Feed.connect(ws_url)
        hello = await feed.wait_for(lambda f: f["type"] == "hello")
        if hello["server"] in by_backend:
            extra.append(feed)
        else:
            by_backend[hello["server"]] = feed
        if len(by_backend) >= want:
            break
    for feed in extra:
        await feed.close()
    assert len(by_backend) >= want, f"hello frames named only {sorted(by_backend)}"
    return list(by_backend.values())


async def exercise(stack: Stack) -> str:
    """A poll, ballots and live tallies through nginx; returns the poll's id."""
    api = Api(stack.url)
    feeds: list[Feed] = []
    try:
        admin = api.session()
        created = await admin.create_poll(title="Compose")
        poll = created["poll"]
        # The creator reads its poll back at once, from any backend (read-your-writes).
        r = await admin.get(f"/api/polls/{poll['id']}")
        assert r.status == 200 and r.json["poll"]["id"] == poll["id"], r.body
        assert r.headers.get("X-Backend", "").startswith("backend")
        ws_url = stack.url.replace("http://", "ws://") + "/ws"
        feeds = await feeds_on_backends(ws_url, want=2)
        for feed in feeds:
            feed.send({"type": "subscribe", "poll": poll["id"]})
            await feed.wait_for(lambda f: f["type"] == "snapshot" and f["poll"] == poll["id"])
        for n in range(1, 4):
            results = await vote(api, poll, n % 3)
            assert results["total"] >= n, results
        for feed in feeds:  # each backend relays the tally (Redis) to its subscribers
            await feed.wait_for(lambda f: f["type"] == "tally" and f["poll"] == poll["id"]
                                and f["total"] == 3, timeout=15)
        return str(poll["id"])
    finally:
        for feed in feeds:
            await feed.close()
        api.close()


def bench(stack: Stack, out: Path) -> dict[str, Any]:
    """docs/benchmarks.md's recipe for a deployment the bench did not start, at small scale:
    an account that may fill a scratch database for B_ins, the primary's address on the
    stack's network, and the bench from the host through nginx's published port."""
    password = secrets.token_hex(16)
    stack.sql("mysql_master", "CREATE DATABASE IF NOT EXISTS bench_scratch; "
              f"CREATE USER IF NOT EXISTS 'bench'@'%' IDENTIFIED BY '{password}'; "
              "GRANT CREATE, DROP, INSERT ON bench_scratch.* TO 'bench'@'%'")
    address = stack.pm("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                       stack.container("mysql_master")).stdout.strip()
    assert address, "the primary has no address on the stack's network"
    res = subprocess.run(
        [sys.executable, "-m", "voting", "bench", "--url", stack.url, "hot", "fanout",
         "--ballots", "40", "--concurrency", "4", "--watch-concurrency", "4", "--subscribers", "6",
         "--voter-procs", "1", "--sub-procs", "1", "--bws-seconds", "0.5", "--json", str(out)],
        cwd=str(ROOT), capture_output=True, text=True, timeout=300,
        env={**os.environ,
             "VOTING_BENCH_PRIMARY": f"mysql://bench:{password}@{address}:3306/bench_scratch"})
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return dict(json.loads(out.read_text()))


async def poll_total(stack: Stack, poll_id: str) -> int:
    api = Api(stack.url)
    try:
        r = await api.get(f"/api/polls/{poll_id}/results")
        assert r.status == 200, r.body
        return int(r.json["total"])
    finally:
        api.close()


@pytest.mark.timeout(1800)
async def test_compose_stack(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    phases = Phases()
    try:
        with phases("base"):
            await asyncio.to_thread(stack.import_base)
        with phases("context"):
            await asyncio.to_thread(stack.prepare_context)
        with phases("build"):
            await asyncio.to_thread(stack.build)
        with phases("up"):
            await asyncio.to_thread(stack.pc, "up", "-d")
            await asyncio.to_thread(stack.wait_healthy)

        with phases("traffic"):
            # DESIGN §6: the primary durable, the replicas relaxed.
            flush = "SELECT @@GLOBAL.innodb_flush_log_at_trx_commit, @@GLOBAL.sync_binlog, @@GLOBAL.read_only"
            assert stack.sql("mysql_master", flush).split() == ["1", "1", "0"]
            for replica in ("mysql_slave1", "mysql_slave2"):
                assert stack.sql(replica, flush).split() == ["2", "0", "1"], replica
            poll_id = await exercise(stack)

        with phases("bench"):
            report = await asyncio.to_thread(bench, stack, stack.ctx.parent / "bench.json")
            assert report["ok"] is True and report["mode"] == "server", report["failures"]
            hot = report["results"]["hot"]["runs"][0]
            assert hot["exact"] is True and hot["statuses"] == {"201": 40}
            assert hot["B_ins"]["inserts_per_second"] > 0  # on the stack's own primary
            [fanout] = report["results"]["fanout"]["runs"]
            assert fanout["every_subscriber_whole"] is True and fanout["ended_on_results"] == 6

        with phases("restart"):
            for service in ("mysql_slave1", "backend2"):
                await asyncio.to_thread(stack.pc, "stop", "-t", "20", service)
                assert await poll_total(stack, poll_id) == 3  # served by what is left
                await asyncio.to_thread(stack.pc, "start", service)
            await asyncio.to_thread(stack.wait_healthy)  # the replica replicates again
            assert await poll_total(stack, poll_id) == 3

        with phases("down/up"):
            await asyncio.to_thread(stack.pc, "down", "-t", "20")
            assert not await asyncio.to_thread(stack.containers)
            await asyncio.to_thread(stack.pc, "up", "-d")
            await asyncio.to_thread(stack.wait_healthy)
            assert await poll_total(stack, poll_id) == 3  # the volumes kept the poll
            for replica in ("mysql_slave1", "mysql_slave2"):
                assert stack.sql(replica, f"SELECT COUNT(*) FROM voting.polls WHERE id = '{poll_id}'") == "1"
    finally:
        with phases("teardown"):
            await asyncio.to_thread(stack.teardown)
        with capsys.disabled():
            print("\n" + phases.report())
