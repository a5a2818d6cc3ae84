"""`voting cluster up` as an ordinary user (issue 3: "works as root and as an unprivileged user").

Under root (CI) the CLI runs as `nobody` through setpriv. `nobody` cannot read the
repo's interpreter under /root nor, perhaps, the checkout, so the test gives it a
copy: the package (with the files the cluster reads: voting/sql, voting/configs,
voting/nginx) and the runtime distributions from this venv, run by Debian's python3.11 (same ABI).
Run as an ordinary user already, it runs the same CLI as that user.
"""
from __future__ import annotations

import asyncio
import importlib.metadata as md
import json
import os
import pwd
import shutil
import subprocess
import tempfile
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest
from packaging.requirements import Requirement

from tests.conftest import ROOT, require_binary

pytestmark = pytest.mark.integration

RUNTIME_DIST = "voting"


def target_environment(python: str) -> dict[str, str]:
    """The PEP 508 marker values of another interpreter (Debian's python3.11 is 3.11.2)."""
    here = str(Path(md.distribution("packaging").locate_file("")))
    out = subprocess.run([python, "-c", "import json; from packaging.markers import "
                          "default_environment as d; print(json.dumps(d()))"],
                         env={"PYTHONPATH": here, "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, timeout=30, check=True)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def runtime_distributions(environment: dict[str, str]) -> set[str]:
    """voting's install_requires (with the extras it asks for), transitively, for that Python."""
    seen: set[str] = set()
    todo: list[tuple[str, set[str]]] = [(RUNTIME_DIST, set())]
    while todo:
        name, extras = todo.pop()
        for line in md.distribution(name).requires or []:
            req = Requirement(line)
            if req.marker is not None and not any(
                    req.marker.evaluate({**environment, "extra": e}) for e in (extras or {""})):
                continue
            key = req.name.lower().replace("_", "-")
            if key not in seen:
                seen.add(key)
                todo.append((req.name, set(req.extras)))
    return seen


def copy_distribution(name: str, site: Path) -> None:
    dist = md.distribution(name)
    for f in dist.files or []:
        src = Path(str(dist.locate_file(f)))
        if not src.is_file() or ".." in f.parts:
            continue
        dst = site / f
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)


@pytest.fixture
def sandbox() -> Iterator[tuple[Path, list[str], dict[str, str], str]]:
    """A world-readable copy of what the CLI needs, the argv prefix to run it, its env, the user."""
    for binary in ("mariadbd", "mariadb-install-db", "redis-server", "nginx"):
        require_binary(binary, f"/usr/sbin/{binary}", f"/usr/bin/{binary}")
    root = Path(tempfile.mkdtemp(prefix="voting-unprivileged-", dir="/tmp"))
    try:
        if os.geteuid() == 0:
            # Not the one on PATH: pyenv's lives under /root, which nobody may not enter.
            python, setpriv = "/usr/bin/python3.11", "/usr/bin/setpriv"
            for exe in (python, setpriv):
                if not os.access(exe, os.X_OK):
                    pytest.fail(f"{exe} is missing (Debian's python3.11 / util-linux)")
            repo, site = root / "repo", root / "site"
            shutil.copytree(ROOT / "voting", repo / "voting",
                            ignore=shutil.ignore_patterns("__pycache__"))
            for name in runtime_distributions(target_environment(python)):
                copy_distribution(name, site)
            user = "nobody"
            pw = pwd.getpwnam(user)
            for dirpath, _, files in os.walk(root):
                os.chown(dirpath, pw.pw_uid, pw.pw_gid)
                for f in files:
                    os.chown(os.path.join(dirpath, f), pw.pw_uid, pw.pw_gid)
            argv = [setpriv, f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups",
                    python, "-m", "voting"]
            env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(root),
                   "PYTHONPATH": f"{repo}:{site}", "PYTHONDONTWRITEBYTECODE": "1"}
            cwd = repo
        else:
            import sys
            user = pwd.getpwuid(os.geteuid()).pw_name
            argv = [sys.executable, "-m", "voting"]
            env = dict(os.environ)
            cwd = ROOT
        env["VOTING_SERVER__SECRET"] = "unprivileged-secret-" + "y" * 24
        yield cwd, argv, env, user
    finally:
        shutil.rmtree(root, ignore_errors=True)


def process_user(pid: int) -> str:
    uid = int(next(line.split()[1] for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                   if line.startswith("Uid:")))
    return pwd.getpwuid(uid).pw_name


async def test_cluster_up_status_down_as_an_ordinary_user(
        sandbox: tuple[Path, list[str], dict[str, str], str]) -> None:
    cwd, argv, env, user = sandbox
    state = Path(tempfile.gettempdir()) / f"voting-unprivileged-state-{os.getpid()}"
    if os.geteuid() == 0:
        state = cwd.parent / "state"

    def cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*argv, *args], cwd=str(cwd), env=env, capture_output=True,
                              text=True, timeout=timeout)

    up = await asyncio.to_thread(cli, "cluster", "up", "--dir", str(state), "--port", "0",
                                 "--backends", "1")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        st = await asyncio.to_thread(cli, "cluster", "status", "--dir", str(state), "--json")
        assert st.returncode == 0, st.stderr
        status: dict[str, Any] = json.loads(st.stdout)
        procs = {p["name"]: p for p in status["processes"]}
        assert set(procs) == {"primary", "replica1", "replica2", "redis", "backend1", "nginx"}
        for p in procs.values():
            assert p["alive"] is True, p
            assert process_user(p["pid"]) == user, p

        def create_poll() -> dict[str, Any]:
            body = json.dumps({"title": "t", "questions": [
                {"text": "q", "options": [{"label": "a"}, {"label": "b"}]}]}).encode()
            req = urllib.request.Request(status["url"] + "/api/polls", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=30) as resp:
                assert resp.status == 201
                return json.loads(resp.read())  # type: ignore[no-any-return]
        created = await asyncio.to_thread(create_poll)
        assert created["poll"]["title"] == "t"
    finally:
        down = await asyncio.to_thread(cli, "cluster", "down", "--dir", str(state), "--purge")
    assert down.returncode == 0, down.stdout + down.stderr
    for p in procs.values():
        assert not Path(f"/proc/{p['pid']}").exists() or \
            "zombie" in Path(f"/proc/{p['pid']}/status").read_text(), p
