"""Unit tests of the cluster's state directory, secrets and port planning (no binaries)."""
from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from voting.cluster import ClusterError, LocalCluster, format_status, status
from voting.cluster.proc import free_ports, is_alive, spawn, stop_all, tail, wait_until
from voting.cluster.state import (SECRETS_FILE, ClusterState, Component, load_secrets, load_state,
                                  save_state)


def test_secrets_generated_once_kept_private_and_environment_wins(tmp_path: Path) -> None:
    first = load_secrets(tmp_path, {})
    assert set(first) == {"VOTING_SERVER__SECRET", "VOTING_STORAGE__PASSWORD",
                          "VOTING_BROKER__REDIS_PASSWORD", "REPL_PASSWORD"}
    assert all(len(v) >= 24 for v in first.values())
    assert (tmp_path / SECRETS_FILE).stat().st_mode & 0o777 == 0o600
    assert load_secrets(tmp_path, {}) == first
    again = load_secrets(tmp_path, {"VOTING_STORAGE__PASSWORD": "from-env"})
    assert again["VOTING_STORAGE__PASSWORD"] == "from-env"
    assert again["VOTING_SERVER__SECRET"] == first["VOTING_SERVER__SECRET"]
    assert load_secrets(tmp_path, {})["VOTING_STORAGE__PASSWORD"] == "from-env"  # kept


def test_state_round_trip_and_damage(tmp_path: Path) -> None:
    st = ClusterState(components={"primary": Component("primary", "primary", 4000, 12, "mariadbd")},
                      config="/x/cluster.yml", port=8080, backends=3, initialized=True)
    save_state(tmp_path, st)
    assert load_state(tmp_path) == st
    assert (tmp_path / "cluster.json").stat().st_mode & 0o777 == 0o644
    assert load_state(tmp_path / "none") is None
    (tmp_path / "cluster.json").write_text("{not json")
    with pytest.raises(ClusterError, match="damaged"):
        load_state(tmp_path)


def test_ports_are_planned_once_and_named_ports_are_honoured(tmp_path: Path) -> None:
    config = tmp_path / "cluster.yml"
    named = free_ports(4)
    config.write_text(
        "server: {mode: cluster}\n"
        f"storage: {{backend: mysql, port: {named[0]}, replicas: ['127.0.0.1:{named[1]}', "
        f"{{host: 127.0.0.1, port: {named[2]}}}]}}\n"
        f"broker: {{backend: redis, redis_url: 'redis://127.0.0.1:{named[3]}/0'}}\n")
    c = LocalCluster(tmp_path / "state", config_path=config, port=0, backends=2,
                     environ={"VOTING_SERVER__SECRET": "x" * 32})
    c._plan()
    assert (c.primary_port, c.replica_ports, c.redis_port) == (named[0], named[1:3], named[3])
    assert c.backend_names == ["backend1", "backend2"]
    ports = {n: c.port(n) for n in c.names}
    assert len(set(ports.values())) == len(ports) == 7
    save_state(c.state_dir, c.state)
    again = LocalCluster(tmp_path / "state", port=0)
    again._plan()
    assert {n: again.port(n) for n in again.names} == ports  # stable, backends remembered
    default = LocalCluster(tmp_path / "other", port=None, environ={"VOTING_SERVER__SECRET": "x" * 32})
    default._plan()
    assert default.port("nginx") == 8080 and len(default.backend_names) == 3


def test_missing_config_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="does not exist"):
        LocalCluster(tmp_path / "state", config_path=tmp_path / "nope.yml").up()


def test_status_without_a_cluster_and_down_on_nothing(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="no cluster"):
        status(tmp_path / "nothing")
    LocalCluster(tmp_path / "nothing").down()
    assert not (tmp_path / "nothing").exists()


def test_format_status() -> None:
    text = format_status({"url": "http://127.0.0.1:8080", "processes": [
        {"name": "primary", "role": "primary", "pid": 10, "port": 4000, "alive": True},
        {"name": "replica1", "role": "replica", "pid": None, "port": 4001, "alive": False}],
        "replicas": [{"name": "replica1", "lag_ms": None}]})
    lines = text.splitlines()
    assert lines[0] == "url: http://127.0.0.1:8080"
    primary = next(line for line in lines if line.startswith("primary"))
    replica = next(line for line in lines if line.startswith("replica1"))
    assert primary.split() == ["primary", "primary", "10", "4000", "up"]
    assert replica.split()[:4] == ["replica1", "replica", "-", "4001"]
    assert replica.endswith("down (not replicating)")


def test_spawned_processes_are_detached_checked_and_stopped(tmp_path: Path) -> None:
    log = tmp_path / "sleeper.log"
    proc = spawn([sys.executable, "-c", "import time; print('hello', flush=True); time.sleep(60)"], log)
    try:
        assert is_alive(proc.pid, Path(sys.executable).name)
        assert not is_alive(proc.pid, "mariadbd")  # another program under that pid
        wait_until(lambda: "hello" in log.read_text(), 10, "sleeper output", log)
        assert "hello" in tail(log)
        assert os.getsid(proc.pid) == proc.pid  # its own session: outlives the CLI
    finally:
        stop_all([(proc.pid, signal.SIGTERM, None)], timeout=10)
    assert not is_alive(proc.pid) and proc.returncode is not None


def test_wait_until_reports_the_log_tail(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("line one\nthe reason it failed\n")
    with pytest.raises(ClusterError, match="(?s)thing: not ready after 0s.*the reason it failed"):
        wait_until(lambda: False, 0.1, "thing", log)
    with pytest.raises(ClusterError, match="(?s)thing: the process exited.*the reason"):
        wait_until(lambda: False, 10, "thing", log, alive=lambda: False)
