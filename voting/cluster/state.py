"""The local cluster's state directory: cluster.json (ports, pids) and secrets.env.

Layout of a state directory::

    cluster.json        ports, pids, parameters (stable across up/down)
    secrets.env         generated passwords and the HMAC secret (mode 0600)
    .lock               flock held while up/down run
    logs/<name>.log     one log per component
    mysql/<name>/       a MariaDB node: data/, tmp/, socket, pid file
    redis/              Redis working directory
    backendK/           a backend's data dir
    nginx/              nginx prefix: nginx.conf, pid, temp paths
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

from .proc import ClusterError

STATE_FILE = "cluster.json"
SECRETS_FILE = "secrets.env"
STATE_VERSION = 1

# Secrets kept for a local cluster: the server's config keys (as environment
# overrides), and REPL_PASSWORD, which only the replicas use.
SECRET_KEYS = ("VOTING_SERVER__SECRET", "VOTING_STORAGE__PASSWORD",
               "VOTING_BROKER__REDIS_PASSWORD", "REPL_PASSWORD")


@dataclass
class Component:
    name: str
    role: str  # primary | replica | redis | backend | nginx
    port: int
    pid: int | None = None
    exe: str | None = None  # program name, checked against /proc to survive pid reuse


@dataclass
class ClusterState:
    components: dict[str, Component] = field(default_factory=dict)
    config: str | None = None
    port: int | None = None  # nginx public port
    backends: int = 0
    replica_durable: bool = False
    initialized: bool = False  # schema applied and seeded
    version: int = STATE_VERSION

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["components"] = {k: asdict(v) for k, v in self.components.items()}
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ClusterState:
        comps = {name: Component(**c) for name, c in dict(data.get("components", {})).items()}
        return cls(components=comps, config=data.get("config"), port=data.get("port"),
                   backends=int(data.get("backends", 0)),
                   replica_durable=bool(data.get("replica_durable", False)),
                   initialized=bool(data.get("initialized", False)),
                   version=int(data.get("version", STATE_VERSION)))


def load_state(state_dir: Path) -> ClusterState | None:
    path = state_dir / STATE_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return ClusterState.from_json(json.loads(text))
    except (ValueError, TypeError, AttributeError) as exc:
        raise ClusterError(f"{path} is damaged ({exc}); fix or remove it") from None


def save_state(state_dir: Path, state: ClusterState) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=state_dir, prefix=".cluster.", suffix=".json")
    os.fchmod(fd, 0o644)  # ports and pids only; the secrets are in secrets.env
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(state.to_json(), f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, state_dir / STATE_FILE)


@contextlib.contextmanager
def locked(state_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on the state directory (one up/down at a time)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / ".lock", "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def read_env_file(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return out
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        out[key.strip()] = value.strip()
    return out


def load_secrets(state_dir: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """Secrets for this cluster: the environment wins, else secrets.env, else generated.

    The result is written back to secrets.env (0600) so a later `up` without
    the environment uses the same passwords the databases were set up with.
    """
    path = state_dir / SECRETS_FILE
    stored = read_env_file(path)
    out: dict[str, str] = {}
    for key in SECRET_KEYS:
        out[key] = environ.get(key) or stored.get(key) or secrets.token_urlsafe(24)
    if out != stored:
        write_secrets(path, out)
    return out


def write_secrets(path: Path, values: Mapping[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secrets.")
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("# generated by `voting cluster up`; environment variables of the same name win\n")
        for key, value in values.items():
            f.write(f"{key}={value}\n")
    os.replace(tmp, path)
