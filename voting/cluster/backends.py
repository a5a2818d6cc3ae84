"""The Tornado backends of the local cluster (and the `db init` step).

Each backend is `python -m voting serve --config FILE --name backendK --host
127.0.0.1 --port P`; what differs between them and from the config file is
passed as VOTING_<SECTION>__<KEY> environment overrides.
"""
from __future__ import annotations

import http.client
import sys
from pathlib import Path
from typing import Callable, Mapping, Sequence

# (name, port) -> argv; tests may pass their own to run a stand-in server.
BackendArgv = Callable[[str, int], list[str]]


def default_argv(config: Path) -> BackendArgv:
    def argv(name: str, port: int) -> list[str]:
        return [sys.executable, "-m", "voting", "serve", "--config", str(config),
                "--name", name, "--host", "127.0.0.1", "--port", str(port)]
    return argv


def db_init_argv(config: Path) -> list[str]:
    return [sys.executable, "-m", "voting", "db", "init", "--config", str(config), "--seed"]


def app_environment(base: Mapping[str, str], secrets: Mapping[str, str], primary_port: int,
                    replica_ports: Sequence[int], redis_url: str) -> dict[str, str]:
    """Environment of `voting serve` / `voting db init` for this cluster."""
    env = {k: v for k, v in base.items() if k != "REPL_PASSWORD"}
    env.update({k: v for k, v in secrets.items() if k != "REPL_PASSWORD"})
    env.update({
        "VOTING_SERVER__MODE": "cluster",
        "VOTING_STORAGE__BACKEND": "mysql",
        "VOTING_STORAGE__HOST": "127.0.0.1",
        "VOTING_STORAGE__PORT": str(primary_port),
        "VOTING_STORAGE__REPLICAS": ",".join(f"127.0.0.1:{p}" for p in replica_ports),
        "VOTING_BROKER__BACKEND": "redis",
        "VOTING_BROKER__REDIS_URL": redis_url,
        "PYTHONUNBUFFERED": "1",
    })
    return env


def backend_environment(app_env: Mapping[str, str], static_dir: Path, data_dir: Path) -> dict[str, str]:
    env = dict(app_env)
    env["VOTING_SERVER__STATIC_DIR"] = str(static_dir)
    env["VOTING_SERVER__DATA_DIR"] = str(data_dir)
    return env


def http_status(port: int, path: str, timeout: float = 2.0) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def ready(port: int) -> bool:
    return http_status(port, "/readyz") == 200
