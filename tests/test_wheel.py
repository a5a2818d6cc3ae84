"""The package as a user gets it: the wheel built with `python -m build` (sdist, then the
wheel from the sdist), checked, installed into a clean virtualenv in a temporary directory
outside the checkout, and run from there: `voting db init`, `voting serve` (a poll created
and voted on through it), `voting bench` against it, and `voting cluster up`.

The wheel's dependencies come from the package index (PyPI, or pip's cache of it)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.conftest import NO_RATE_LIMITS_ENV, ROOT, free_port, require_binary, stop_process, \
    wait_http

pytestmark = pytest.mark.integration

# Read at run time through importlib.resources; a wheel without one of them is broken.
PACKAGE_DATA = {
    "voting/sql/mysql/schema.sql", "voting/sql/sqlite/schema.sql",
    "voting/configs/default.yml", "voting/configs/cluster.yml", "voting/configs/compose.yml",
    "voting/nginx/nginx.conf.template", "voting/py.typed",
}


@dataclass
class Installed:
    wheel: Path
    venv: Path
    home: Path  # a working directory outside the checkout

    @property
    def voting(self) -> str:
        return str(self.venv / "bin" / "voting")

    def env(self, **extra: str) -> dict[str, str]:
        """Nothing of the checkout or of the test's venv: no PYTHONPATH, the venv's bin first."""
        env = {"PATH": f"{self.venv / 'bin'}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
               "HOME": str(self.home), "LANG": "C.UTF-8"}
        env.update(extra)
        return env

    def run(self, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.voting, *args], cwd=str(self.home), env=self.env(**env),
                              capture_output=True, text=True, timeout=timeout)

    @contextmanager
    def serving(self, name: str, **env: str) -> Iterator[str]:
        """The wheel's `voting serve` on a free port, ready; yields its URL, stops it after."""
        port = free_port()
        log = self.home / f"{name}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([self.voting, "serve", "--host", "127.0.0.1", "--port",
                                     str(port), "--name", name], cwd=str(self.home),
                                    env=self.env(**env), stdout=out, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_http(base + "/readyz", 30, proc, log)
            yield base
        finally:
            assert stop_process(proc) == 0, log.read_text(errors="replace")[-3000:]


def _run(argv: list[str], timeout: float, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)
    assert res.returncode == 0, f"{' '.join(argv)} exited with {res.returncode}:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    tmp = tmp_path_factory.mktemp("wheel")
    assert not tmp.resolve().is_relative_to(ROOT), "the temporary directory must lie outside the checkout"
    dist = tmp / "dist"
    # Built from a copy: `build` writes voting.egg-info into the source tree.
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".run", ".data", "node_modules", "dist", "build", "*.egg-info",
        "__pycache__", ".mypy_cache", ".pytest_cache", "test-artifacts"))
    _run([sys.executable, "-m", "build", "--outdir", str(dist), str(src)], timeout=300)
    wheels = sorted(dist.glob("voting-*.whl"))
    assert len(wheels) == 1, wheels
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], timeout=120)
    # Only the wheel's own requirements, from the index: no editable link back to the checkout.
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheels[0])],
         timeout=600, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    home = tmp / "home"
    home.mkdir()
    yield Installed(wheels[0], venv, home)


def test_wheel_contents(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as zf:
        names = set(zf.namelist())
    assert PACKAGE_DATA <= names, sorted(PACKAGE_DATA - names)
    for package in ("voting", "voting/storage", "voting/cluster", "voting/handlers", "voting/ws"):
        assert f"{package}/__init__.py" in names, package
    assert "voting/storage/sqlite.py" in names
    assert any(n.startswith("voting/storage/mysql") for n in names)
    assert not [n for n in names if n.startswith(("tests/", "client/", "docker/"))]
    checker = Path(sys.executable).parent / "check-wheel-contents"
    assert checker.is_file(), "check-wheel-contents is in the package's test extra"
    _run([str(checker), str(installed.wheel)], timeout=120)


def test_installed_package_runs_from_its_own_files(installed: Installed) -> None:
    python = str(installed.venv / "bin" / "python")
    res = _run([python, "-c", "import voting, voting.storage.sqlite, voting.resources as r; "
                "print(voting.__file__); print(r.schema('mysql'))"],
               timeout=60, cwd=str(installed.home), env=installed.env())
    module, schema = res.stdout.split()
    site = installed.venv.resolve()
    for path in (module, schema):
        assert Path(path).resolve().is_relative_to(site), path
    assert Path(schema).is_file()


def request(url: str, method: str = "GET", body: Any = None,
            headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    h = {"Content-Type": "application/json"} if body is not None else {}
    h.update(headers or {})
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, json.loads(raw) if raw else None


def vote_through(base: str) -> None:
    """DESIGN §4: a voter, a poll, a ballot with X-Voter-Token, the tally counting it."""
    status, voter = request(base + "/api/voters", "POST")
    assert status == 201, voter
    token = voter["voter_token"]
    status, created = request(base + "/api/polls", "POST", {
        "title": "From the wheel",
        "questions": [{"text": "Works?", "kind": "single",
                       "options": [{"label": "yes"}, {"label": "no"}]}]})
    assert status == 201, created
    poll = created["poll"]
    question = poll["questions"][0]
    yes = question["options"][0]["id"]
    status, cast = request(f"{base}/api/polls/{poll['id']}/ballots", "POST",
                           {"choices": {question["id"]: [yes]}}, {"X-Voter-Token": token})
    assert status == 201, cast
    status, again = request(f"{base}/api/polls/{poll['id']}/ballots", "POST",
                            {"choices": {question["id"]: [yes]}}, {"X-Voter-Token": token})
    assert status == 409 and again["error"]["code"] == "already_voted", again
    status, results = request(f"{base}/api/polls/{poll['id']}/results")
    assert status == 200, results
    assert results["total"] == 1
    assert results["questions"][0]["counts"][yes] == 1


def test_db_init_and_serve_from_the_wheel(installed: Installed) -> None:
    data = installed.home / "embedded"
    env = {"VOTING_SERVER__DATA_DIR": str(data)}
    init = installed.run("db", "init", **env)
    assert init.returncode == 0, init.stdout + init.stderr
    assert "database ready (sqlite)" in init.stdout
    assert any(data.iterdir()), "db init wrote no database"
    with installed.serving("wheel", **env) as base:
        vote_through(base)


def test_bench_from_the_wheel(installed: Installed) -> None:
    """`voting bench` as shipped, run outside the checkout against the wheel's own embedded
    server: its voter and subscriber processes, B_ins's scratch database and the bare Tornado
    server of B_ws all start from the installed package."""
    env = {"VOTING_SERVER__DATA_DIR": str(installed.home / "bench-data"), **NO_RATE_LIMITS_ENV}
    with installed.serving("wheelbench", **env) as base:
        report_file = installed.home / "bench.json"
        res = installed.run("bench", "--url", base, "hot", "fanout", "--ballots", "60",
                            "--concurrency", "4", "--watch-concurrency", "4", "--subscribers", "5",
                            "--sub-procs", "1", "--voter-procs", "1", "--bws-seconds", "0.5",
                            "--json", str(report_file), timeout=240)
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
        assert "all checks passed" in res.stdout
        report = json.loads(report_file.read_text())
        assert report["ok"] is True and report["failures"] == [] and report["mode"] == "embedded"
        hot = report["results"]["hot"]["runs"][0]
        assert hot["exact"] is True and hot["statuses"] == {"201": 60}
        assert hot["B_nop"]["requests_per_second"] > 0 and hot["B_ins"]["inserts_per_second"] > 0
        [fanout] = report["results"]["fanout"]["runs"]
        assert fanout["every_subscriber_whole"] is True and fanout["ended_on_results"] == 5
        assert fanout["efficiency"]["B_ws"]["frames_per_second"] > 0


def test_cluster_up_from_the_wheel(installed: Installed) -> None:
    """`voting cluster up` with its packaged defaults (config, schema, nginx template)."""
    for binary in ("mariadbd", "mariadb-install-db", "redis-server", "nginx"):
        require_binary(binary, f"/usr/sbin/{binary}", f"/usr/bin/{binary}")
    state = installed.home / "cluster"
    env = {"VOTING_SERVER__SECRET": "wheel-secret-" + "w" * 24}
    up = installed.run("cluster", "up", "--dir", str(state), "--port", "0", "--backends", "1",
                       timeout=240, **env)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        url = up.stdout.strip().rsplit(" ", 1)[-1]
        assert url.startswith("http://127.0.0.1:"), up.stdout
        vote_through(url)
        # The bench against a cluster it did not start: the backends' pids and the primary
        # (B_ins) from the state directory.
        report_file = installed.home / "bench-cluster.json"
        bench = installed.run("bench", "--dir", str(state), "--url", url, "hot", "--ballots", "30",
                              "--concurrency", "2", "--voter-procs", "1", "--json", str(report_file),
                              timeout=180, **env)
        assert bench.returncode == 0, bench.stdout[-3000:] + bench.stderr[-3000:]
        report = json.loads(report_file.read_text())
        assert report["ok"] is True and report["mode"] == "cluster"
        hot = report["results"]["hot"]["runs"][0]
        assert hot["exact"] is True and hot["statuses"] == {"201": 30}
        assert hot["B_ins"]["inserts_per_second"] > 0 and report["backends"] == ["backend1"]
        st = installed.run("cluster", "status", "--dir", str(state), "--json", **env)
        assert st.returncode == 0, st.stderr
        config = json.loads((state / "cluster.json").read_text()).get("config")
        assert Path(config).resolve().is_relative_to(installed.venv.resolve()), config
    finally:
        down = installed.run("cluster", "down", "--dir", str(state), "--purge", timeout=180, **env)
        assert down.returncode == 0, down.stdout + down.stderr
