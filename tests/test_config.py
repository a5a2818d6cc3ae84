"""Configuration: YAML, environment overrides, one-line errors, secrets (DESIGN.md §6)."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from voting import config
from voting.config import ConfigError


def write(tmp_path: Path, text: str, name: str = "voting.yml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_file_or_environment() -> None:
    cfg = config.load(None, environ={})
    assert cfg.server.mode == "embedded"
    assert cfg.server.port == 8080
    assert cfg.storage.backend == "sqlite" and cfg.broker.backend == "memory"
    assert cfg.server.max_body_bytes == 65536
    assert cfg.ws.tally_interval == 0.1
    # The defaults admit at least 3,000 voters and ballots a minute from one address.
    assert cfg.rate_limits.voters_per_minute >= 3000
    assert cfg.rate_limits.ballots_per_minute >= 3000


def test_shipped_embedded_config_loads() -> None:
    cfg = config.load(ROOT / "voting" / "configs" / "default.yml", environ={})
    assert cfg.server.mode == "embedded" and cfg.storage.backend == "sqlite"


def test_yaml_then_environment_then_command_line(tmp_path: Path) -> None:
    path = write(tmp_path, """
server:
  port: 9001
  name: from-yaml
  trusted_proxies: [10.0.0.1]
ws:
  tally_interval: 0.25
  heartbeat: 10
rate_limits:
  voters_per_minute: 5
""")
    cfg = config.load(path, environ={})
    assert cfg.server.port == 9001 and cfg.server.name == "from-yaml"
    assert [str(n) for n in cfg.server.trusted_proxies] == ["10.0.0.1/32"]
    assert cfg.ws.tally_interval == 0.25 and cfg.ws.heartbeat == 10.0
    assert cfg.rate_limits.voters_per_minute == 5
    assert cfg.server.host == "127.0.0.1"  # untouched keys keep their defaults

    env = {"VOTING_SERVER__PORT": "9002", "VOTING_WS__TALLY_INTERVAL": "0.5",
           "VOTING_SERVER__ACCESS_LOG_JSON": "true", "VOTING_SERVER__NAME": "12345",
           "VOTING_SERVER__TRUSTED_PROXIES": "10.0.0.2, 10.0.0.3",
           "VOTING_RATE_LIMITS__BALLOTS_PER_MINUTE": "0",
           "PATH": "/usr/bin", "VOTING_UNRELATED": "ignored"}
    cfg = config.load(path, environ=env)
    assert cfg.server.port == 9002
    assert cfg.ws.tally_interval == 0.5
    assert cfg.server.access_log_json is True
    assert cfg.server.name == "12345"  # a string key stays a string
    assert [str(n) for n in cfg.server.trusted_proxies] == ["10.0.0.2/32", "10.0.0.3/32"]
    assert cfg.rate_limits.ballots_per_minute == 0
    assert cfg.rate_limits.voters_per_minute == 5  # from YAML still

    cfg = config.load(path, environ=env, overrides={"server": {"port": 9003}})
    assert cfg.server.port == 9003 and cfg.server.name == "12345"


def test_empty_file_and_empty_sections(tmp_path: Path) -> None:
    assert config.load(write(tmp_path, ""), environ={}) == config.load(None, environ={})
    assert config.load(write(tmp_path, "server:\n"), environ={}).server.port == 8080


@pytest.mark.parametrize("text, key", [
    ("server:\n  prot: 8080\n", "server.prot"),
    ("sever:\n  port: 8080\n", "sever"),
    ("server:\n  port: eighty\n", "server.port"),
    ("server:\n  port: 70000\n", "server.port"),
    ("server:\n  port: -1\n", "server.port"),
    ("server:\n  access_log_json: maybe\n", "server.access_log_json"),
    ("server:\n  mode: swarm\n", "server.mode"),
    ("storage:\n  backend: postgres\n", "storage.backend"),
    ("broker:\n  backend: kafka\n", "broker.backend"),
    ("ws:\n  tally_interval: 0\n", "ws.tally_interval"),
    ("server:\n  body_timeout: -1\n", "server.body_timeout"),
    ("server:\n  header_timeout: 0\n", "server.header_timeout"),
    ("ws:\n  heartbeat: 30\n  idle_timeout: 10\n", "ws.idle_timeout"),
    ("ws:\n  max_pending_frames: [1]\n", "ws.max_pending_frames"),
    ("storage:\n  counter_slots: 1000\n", "storage.counter_slots"),
    ("storage:\n  replicas: [nohostport]\n", "storage.replicas"),
    ("server: 8080\n", "server"),
    ("server:\n  port: null\n", "server.port"),
])
def test_bad_key_is_named_in_one_line(tmp_path: Path, text: str, key: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        config.load(path, environ={})
    message = str(info.value)
    assert "\n" not in message
    assert f"config key {key}:" in message, message


@pytest.mark.parametrize("env, key", [
    ({"VOTING_SERVER__PROT": "1"}, "server.prot"),
    ({"VOTING_NOPE__PORT": "1"}, "nope.port"),
    ({"VOTING_SERVER__PORT": "abc"}, "server.port"),
    ({"VOTING_WS__HEARTBEAT": "[unclosed"}, "ws.heartbeat"),
    ({"VOTING_SERVER__MODE": "swarm"}, "server.mode"),
])
def test_bad_environment_key_is_named(env: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        config.load(None, environ=env)
    assert "\n" not in str(info.value)
    assert f"config key {key}:" in str(info.value), str(info.value)


def test_invalid_yaml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        config.load(write(tmp_path, "server: [unclosed\n"), environ={})
    assert "\n" not in str(info.value) and "invalid YAML" in str(info.value)
    with pytest.raises(ConfigError) as info:
        config.load(tmp_path / "missing.yml", environ={})
    assert "missing.yml" in str(info.value)
    with pytest.raises(ConfigError):
        config.load(write(tmp_path, "- a\n- b\n"), environ={})


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None
            ) -> subprocess.CompletedProcess[str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("VOTING_")}
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "voting", *args], cwd=str(cwd or ROOT), env=e,
                          capture_output=True, text=True, timeout=60)


def test_serve_with_a_bad_key_exits_2_with_one_line(tmp_path: Path) -> None:
    bad = write(tmp_path, "server:\n  port: 8080\n  prot: 9000\n", "bad.yml")
    proc = run_cli("serve", "--config", str(bad))
    assert proc.returncode == 2, proc
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "config key server.prot" in lines[0] and "bad.yml" in lines[0]
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_serve_with_a_bad_environment_value_exits_2(tmp_path: Path) -> None:
    proc = run_cli("serve", env={"VOTING_WS__TALLY_INTERVAL": "fast"})
    assert proc.returncode == 2, proc
    assert proc.stderr.strip().count("\n") == 0
    assert "config key ws.tally_interval" in proc.stderr


@pytest.mark.parametrize("mode", ["cluster", "compose"])
@pytest.mark.parametrize("secret", [None, "", "change-me", "short-secret"])
def test_cluster_modes_refuse_a_default_or_missing_secret(mode: str, secret: str | None) -> None:
    env = {"VOTING_SERVER__MODE": mode}
    if secret is not None:
        env["VOTING_SERVER__SECRET"] = secret
    with pytest.raises(ConfigError) as info:
        config.load(None, environ=env)
    assert "config key server.secret" in str(info.value)


def test_cluster_mode_accepts_a_real_secret() -> None:
    secret = "s3cr3t-" + "x" * 30
    cfg = config.load(None, environ={"VOTING_SERVER__MODE": "cluster",
                                     "VOTING_SERVER__SECRET": secret})
    assert config.resolve_secret(cfg.server) == secret


def test_serve_in_cluster_mode_without_secret_exits_2(tmp_path: Path) -> None:
    proc = run_cli("serve", "--port", "0",
                   env={"VOTING_SERVER__MODE": "cluster",
                        "VOTING_SERVER__DATA_DIR": str(tmp_path / "data")})
    assert proc.returncode == 2, proc
    assert "config key server.secret" in proc.stderr
    assert not (tmp_path / "data" / "secret").exists()


def test_embedded_mode_generates_and_keeps_its_secret(tmp_path: Path) -> None:
    data = tmp_path / "data"
    cfg = config.load(None, environ={"VOTING_SERVER__DATA_DIR": str(data)})
    assert cfg.server.secret is None
    first = config.resolve_secret(cfg.server)
    assert len(first) >= 32
    path = data / "secret"
    assert path.read_text().strip() == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert config.resolve_secret(cfg.server) == first  # kept, not regenerated
    assert config.resolve_secret(config.load(None, environ={
        "VOTING_SERVER__DATA_DIR": str(data)}).server) == first
    other = config.load(None, environ={"VOTING_SERVER__DATA_DIR": str(tmp_path / "other")})
    assert config.resolve_secret(other.server) != first
    # The default placeholder is not a secret in embedded mode either: the generated one wins.
    placeholder = config.load(None, environ={"VOTING_SERVER__DATA_DIR": str(data),
                                             "VOTING_SERVER__SECRET": "change-me"})
    assert config.resolve_secret(placeholder.server) == first
    # A configured secret is used as is.
    chosen = config.load(None, environ={"VOTING_SERVER__DATA_DIR": str(data),
                                        "VOTING_SERVER__SECRET": "mine-" + "y" * 20})
    assert config.resolve_secret(chosen.server) == "mine-" + "y" * 20


def test_voter_tokens_survive_a_restart_with_the_kept_secret(tmp_path: Path) -> None:
    from voting.tokens import Signer
    cfg = config.load(None, environ={"VOTING_SERVER__DATA_DIR": str(tmp_path / "d")})
    token = Signer(config.resolve_secret(cfg.server)).new_voter_token()
    again = Signer(config.resolve_secret(cfg.server))
    assert again.voter_key(token) is not None
    assert Signer("another secret").voter_key(token) is None
