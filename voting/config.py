"""YAML configuration with environment overrides and validation at start.

Every key can be overridden by ``VOTING_<SECTION>__<KEY>`` (values parsed as
YAML scalars, so ``8080`` is an int and ``true`` a bool). Validation raises
ConfigError with one line naming the bad key.
"""
from __future__ import annotations

import copy
import os
import secrets
from pathlib import Path
from typing import Any, Mapping

import yaml

DEFAULT_SECRET = "change-me"

# The schema: section -> key -> (type, default). None default means optional.
_SCHEMA: dict[str, dict[str, tuple[Any, Any]]] = {
    "server": {
        "host": (str, "127.0.0.1"),
        "port": (int, 8080),
        "name": (str, "embedded"),
        "mode": (str, "embedded"),  # embedded | cluster | compose
        "secret": (str, None),
        "data_dir": (str, ".data"),
        "static_dir": (str, "client/dist"),
        "trusted_proxies": (list, ["127.0.0.1", "::1"]),
        "max_body_bytes": (int, 65536),
        "shutdown_grace": (float, 5.0),
        "access_log_json": (bool, False),
        "metrics_allow": (list, []),  # empty: anyone may read /metrics
    },
    "storage": {
        "backend": (str, "sqlite"),  # sqlite | mysql
        "sqlite_path": (str, None),
        "host": (str, "127.0.0.1"),
        "port": (int, 3306),
        "user": (str, "voting"),
        "password": (str, ""),
        "database": (str, "voting"),
        "replicas": (list, []),  # [{host, port}] or ["host:port"]
        "max_replica_lag": (float, 2.0),
        "pool_size": (int, 10),
        "connect_timeout": (float, 2.0),
        "query_timeout": (float, 5.0),
        "ryw_wait": (float, 0.5),
        "counter_slots": (int, 16),
        "batch_size": (int, 64),  # ballots per transaction at most (MySQL)
        "batch_writers": (int, 2),  # concurrent ballot transactions per backend (MySQL)
    },
    "broker": {
        "backend": (str, "memory"),  # memory | redis
        "redis_url": (str, "redis://127.0.0.1:6379/0"),
        "redis_password": (str, None),
        "channel_prefix": (str, "voting"),
    },
    "ws": {
        "tally_interval": (float, 0.1),
        "heartbeat": (float, 20.0),
        "idle_timeout": (float, 75.0),
        "max_pending_frames": (int, 256),
        "max_subscriptions": (int, 20),
        "max_message_bytes": (int, 4096),
    },
    "rate_limits": {
        "voters_per_minute": (int, 6000),
        "ballots_per_minute": (int, 6000),
    },
}

_CHOICES = {
    ("server", "mode"): {"embedded", "cluster", "compose"},
    ("storage", "backend"): {"sqlite", "mysql"},
    ("broker", "backend"): {"memory", "redis"},
}


class ConfigError(ValueError):
    """A one-line message naming the bad key."""


Config = dict[str, dict[str, Any]]


def defaults() -> Config:
    return {s: {k: copy.deepcopy(d) for k, (_, d) in keys.items()} for s, keys in _SCHEMA.items()}


def _coerce(section: str, key: str, value: Any) -> Any:
    typ, default = _SCHEMA[section][key]
    name = f"{section}.{key}"
    if value is None:
        if default is None:
            return None
        raise ConfigError(f"config key {name}: must not be empty")
    if typ is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"config key {name}: expected true or false, got {value!r}")
    if typ is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"config key {name}: expected an integer, got {value!r}")
        if value < 0:
            raise ConfigError(f"config key {name}: must not be negative")
        return value
    if typ is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"config key {name}: expected a number, got {value!r}")
        if value < 0:
            raise ConfigError(f"config key {name}: must not be negative")
        return float(value)
    if typ is str:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise ConfigError(f"config key {name}: expected a string, got {value!r}")
        choices = _CHOICES.get((section, key))
        if choices and value not in choices:
            raise ConfigError(f"config key {name}: must be one of {sorted(choices)}, got {value!r}")
        return value
    if typ is list:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise ConfigError(f"config key {name}: expected a list, got {value!r}")
        return value
    raise AssertionError(typ)


def merge(base: Config, overlay: Mapping[str, Any], origin: str) -> Config:
    if not isinstance(overlay, Mapping):
        raise ConfigError(f"{origin}: top level must be a mapping of sections")
    out = copy.deepcopy(base)
    for section, keys in overlay.items():
        if section not in _SCHEMA:
            raise ConfigError(f"config key {section}: unknown section (in {origin})")
        if keys is None:
            continue
        if not isinstance(keys, Mapping):
            raise ConfigError(f"config key {section}: must be a mapping (in {origin})")
        for key, value in keys.items():
            if key not in _SCHEMA[section]:
                raise ConfigError(f"config key {section}.{key}: unknown key (in {origin})")
            out[section][key] = _coerce(section, key, value)
    return out


def env_overrides(environ: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    over: dict[str, dict[str, Any]] = {}
    for name, raw in environ.items():
        if not name.startswith("VOTING_") or "__" not in name:
            continue
        section, _, key = name[len("VOTING_"):].partition("__")
        section, key = section.lower(), key.lower()
        if section not in _SCHEMA or key not in _SCHEMA[section]:
            raise ConfigError(f"config key {section}.{key}: unknown key (from environment {name})")
        typ = _SCHEMA[section][key][0]
        value: Any = raw
        if typ is not str:
            try:
                value = yaml.safe_load(raw) if raw != "" else None
            except yaml.YAMLError:
                raise ConfigError(f"config key {section}.{key}: cannot parse {name}={raw!r}") from None
        over.setdefault(section, {})[key] = value
    return over


def load(path: str | os.PathLike[str] | None = None,
         environ: Mapping[str, str] | None = None,
         overrides: Mapping[str, Mapping[str, Any]] | None = None) -> Config:
    """Defaults <- YAML file <- environment <- explicit overrides (CLI flags)."""
    environ = os.environ if environ is None else environ
    cfg = defaults()
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"config file {path}: {exc.strerror}") from None
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path}: invalid YAML ({str(exc).splitlines()[0]})") from None
        cfg = merge(cfg, data, str(path))
    cfg = merge(cfg, env_overrides(environ), "environment")
    if overrides:
        cfg = merge(cfg, overrides, "command line")
    validate(cfg)
    return cfg


def validate(cfg: Config) -> None:
    ws = cfg["ws"]
    if ws["tally_interval"] <= 0:
        raise ConfigError("config key ws.tally_interval: must be greater than 0")
    if ws["heartbeat"] <= 0:
        raise ConfigError("config key ws.heartbeat: must be greater than 0")
    if ws["idle_timeout"] <= ws["heartbeat"]:
        raise ConfigError("config key ws.idle_timeout: must be longer than ws.heartbeat")
    if not 1 <= cfg["server"]["port"] <= 65535 and cfg["server"]["port"] != 0:
        raise ConfigError("config key server.port: must be 0-65535")
    if not 1 <= cfg["storage"]["counter_slots"] <= 256:
        raise ConfigError("config key storage.counter_slots: must be 1-256")
    if cfg["storage"]["batch_size"] < 1 or cfg["storage"]["batch_writers"] < 1:
        raise ConfigError("config key storage.batch_size: batch_size and batch_writers must be >= 1")
    if cfg["storage"]["pool_size"] < 1:
        raise ConfigError("config key storage.pool_size: must be at least 1")
    for i, r in enumerate(cfg["storage"]["replicas"]):
        if isinstance(r, str):
            if ":" not in r:
                raise ConfigError(f"config key storage.replicas[{i}]: expected host:port")
        elif not (isinstance(r, dict) and "port" in r):
            raise ConfigError(f"config key storage.replicas[{i}]: expected {{host, port}}")
    mode = cfg["server"]["mode"]
    secret = cfg["server"]["secret"]
    if mode != "embedded" and (not secret or secret == DEFAULT_SECRET or len(secret) < 16):
        raise ConfigError("config key server.secret: set VOTING_SERVER__SECRET to a random value "
                          "of at least 16 characters (cluster and compose modes refuse the default)")


def replica_addresses(cfg: Config) -> list[tuple[str, int]]:
    out = []
    for r in cfg["storage"]["replicas"]:
        if isinstance(r, str):
            host, _, port = r.rpartition(":")
            out.append((host, int(port)))
        else:
            out.append((str(r.get("host", "127.0.0.1")), int(r["port"])))
    return out


def resolve_secret(cfg: Config) -> str:
    """The HMAC secret: configured, or (embedded only) generated once and kept in the data dir."""
    secret = cfg["server"]["secret"]
    if secret and secret != DEFAULT_SECRET:
        return str(secret)
    if cfg["server"]["mode"] != "embedded":
        raise ConfigError("config key server.secret: required outside embedded mode")
    data_dir = Path(cfg["server"]["data_dir"])
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "secret"
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value
