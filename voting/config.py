"""YAML configuration with environment overrides, validated once into frozen typed sections.

Sources, lowest first: defaults, the YAML file, ``VOTING_<SECTION>__<KEY>`` environment
variables, explicit overrides (CLI flags). pydantic-settings merges them; a bad key stops
the start with a ConfigError of one line naming it. Each component receives the section
it needs at construction (``config.ws``, ``config.storage``...), never the whole mapping.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping

import yaml
from pydantic import BaseModel, ConfigDict, Field, IPvAnyNetwork, ValidationError, \
    field_validator, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, InitSettingsSource, NoDecode, \
    PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_SECRET = "change-me"
ENV_PREFIX = "VOTING_"


class ConfigError(ValueError):
    """A one-line message naming the bad key."""


def _comma_list(value: Any) -> Any:
    """Lists may be written as YAML lists or, from the environment, as "a, b"."""
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return value


Networks = Annotated[tuple[IPvAnyNetwork, ...], NoDecode]  # "10.0.0.0/8", "::1"
NonNeg = Annotated[float, Field(ge=0)]
Positive = Annotated[float, Field(gt=0)]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ServerConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    name: str = "embedded"
    mode: Literal["embedded", "cluster", "compose"] = "embedded"
    secret: str | None = None
    data_dir: str = ".data"
    static_dir: str = "client/dist"
    # Whose X-Real-IP / X-Forwarded-For is believed: nobody in embedded mode.
    trusted_proxies: Networks = ()
    max_body_bytes: int = Field(65536, ge=1)
    shutdown_grace: NonNeg = 5.0
    access_log_json: bool = False
    metrics_allow: Networks = ()  # empty: anyone may read /metrics
    # A request's headers must arrive within header_timeout of the connection (or of the
    # previous request: it is also the keep-alive idle limit), its body within body_timeout.
    header_timeout: Positive = 10.0
    # 0: none, for a backend behind a proxy that takes each body whole before passing it on
    # (nginx's request buffering) and times out slow bodies itself; Tornado's timeout costs
    # a timer and a task per request with a body.
    body_timeout: NonNeg = 30.0
    # Open connections (HTTP and WebSocket) per process; also kept below the fd limit.
    max_connections: int = Field(10000, ge=1)

    _lists = field_validator("trusted_proxies", "metrics_allow", mode="before")(_comma_list)


class Replica(_Section):
    host: str = "127.0.0.1"
    port: int = Field(ge=1, le=65535)


class StorageConfig(_Section):
    backend: Literal["sqlite", "mysql"] = "sqlite"
    sqlite_path: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(3306, ge=1, le=65535)
    user: str = "voting"
    password: str = ""
    database: str = "voting"
    replicas: Annotated[tuple[Replica, ...], NoDecode] = ()
    max_replica_lag: NonNeg = 2.0
    pool_size: int = Field(10, ge=1)
    connect_timeout: Positive = 2.0
    query_timeout: Positive = 5.0
    ryw_wait: NonNeg = 0.5
    counter_slots: int = Field(16, ge=1, le=256)
    batch_size: int = Field(64, ge=1)  # ballots per transaction at most (MySQL)
    # Concurrent ballot transactions per backend (MySQL): one carries all that queued while the
    # previous committed (measured: 1 took 24 % more ballots than 2, at lower latency).
    batch_writers: int = Field(1, ge=1)
    # Seconds from one ballot transaction's end to the next one's start, at least, while fewer
    # than 16 ballots wait: the voters just answered send again meanwhile and join the next
    # batch (one commit a round, not two). Unset: the storage's own DEFAULT_BATCH_GAP (what
    # its commit costs decides what waiting pays; the measurements beside each). A ballot
    # after a quiet spell, or a long queue, goes at once, and the wait ends once the last
    # round's ballots all wait again (a lone voter never waits). A hall's rounds that are
    # slower to come back lengthen it, within bounds kept in voting/storage/batching.py.
    batch_gap: NonNeg | None = None

    @field_validator("replicas", mode="before")
    @classmethod
    def _replicas(cls, value: Any) -> Any:
        """``["host:port", ...]``, ``"host:port,host:port"`` or ``[{host, port}, ...]``."""
        items = _comma_list(value)
        if not isinstance(items, (list, tuple)):
            return items
        out: list[Any] = []
        for item in items:
            if isinstance(item, str):
                host, sep, port = item.rpartition(":")
                if not sep or not port.isdigit():
                    raise ValueError(f"expected host:port, got {item!r}")
                out.append({"host": host or "127.0.0.1", "port": int(port)})
            else:
                out.append(item)
        return tuple(out)


class BrokerConfig(_Section):
    backend: Literal["memory", "redis"] = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_password: str | None = None
    channel_prefix: str = "voting"


class WsConfig(_Section):
    tally_interval: Positive = 0.1
    # Under load a backend may lengthen its interval up to this (DESIGN §5).
    max_tally_interval: Positive = 1.0
    # ... and does, when its subscribers would get more frames per second than this in all
    # (0: no such bound): 3,000 subscribers at 0.1 s are 30,000 frames a second to relay.
    max_frames_per_second: int = Field(4000, ge=0)
    heartbeat: Positive = 20.0
    idle_timeout: Positive = 75.0
    max_pending_frames: int = Field(256, ge=1)
    max_subscriptions: int = Field(20, ge=1)
    max_message_bytes: int = Field(4096, ge=64)

    @model_validator(mode="after")
    def _intervals(self) -> "WsConfig":
        if self.idle_timeout <= self.heartbeat:
            raise ValueError("idle_timeout: must be longer than ws.heartbeat")
        if self.max_tally_interval < self.tally_interval:
            raise ValueError("max_tally_interval: must not be shorter than ws.tally_interval")
        return self


class RateLimitsConfig(_Section):
    """Per client address and minute; 0 disables."""
    voters_per_minute: int = Field(6000, ge=0)
    ballots_per_minute: int = Field(6000, ge=0)
    polls_per_minute: int = Field(60, ge=0)

    def per_minute(self) -> dict[str, int]:
        return {"voters": self.voters_per_minute, "ballots": self.ballots_per_minute,
                "polls": self.polls_per_minute}


class Config(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__",
                                      frozen=True, extra="forbid", case_sensitive=False)

    server: ServerConfig = ServerConfig()
    storage: StorageConfig = StorageConfig()
    broker: BrokerConfig = BrokerConfig()
    ws: WsConfig = WsConfig()
    rate_limits: RateLimitsConfig = RateLimitsConfig()

    @model_validator(mode="after")
    def _secret_outside_embedded(self) -> "Config":
        secret = self.server.secret
        if self.server.mode != "embedded" and (not secret or secret == DEFAULT_SECRET
                                               or len(secret) < 16):
            raise ValueError("set VOTING_SERVER__SECRET to a random value of at least 16 "
                             "characters (cluster and compose modes refuse the default)")
        return self

    def replace(self, **sections: Mapping[str, Any]) -> "Config":
        """A copy with some keys of some sections changed, validated again."""
        data = self.model_dump()
        for name, keys in sections.items():
            data[name].update(keys)
        return _validate(lambda: Config(_build_sources=((InitSettingsSource(Config, data),), {})))


class _Environment(EnvSettingsSource):
    """The environment source reading a given mapping (tests) instead of os.environ."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {k.lower(): v for k, v in self._environ.items()}


def _check_env_names(environ: Mapping[str, str]) -> None:
    """An unknown VOTING_ key is an error, not silently ignored (a typo would go unnoticed)."""
    for name in environ:
        if not name.upper().startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX):].lower().partition("__")
        fields = Config.model_fields
        if section not in fields:
            raise ConfigError(f"config key {section}.{key}: unknown key (from environment {name})")
        model = fields[section].annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        if key not in model.model_fields:
            raise ConfigError(f"config key {section}.{key}: unknown key (from environment {name})")


def _read_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path}: invalid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections")
    # An empty section ("server:" with nothing under it) means the defaults.
    return {k: v for k, v in data.items() if v is not None}


def _one_line(exc: ValidationError) -> ConfigError:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"] if not isinstance(p, int) or len(err["loc"]) > 2)
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif err["type"] in ("model_type", "model_attributes_type") and len(err["loc"]) == 1:
        msg = "must be a mapping of keys"
    if not loc:
        return ConfigError(f"config key server.secret: {msg}")
    field, sep, rest = msg.partition(": ")
    if sep and "." not in loc and field.isidentifier():  # a section's own check names its key
        loc, msg = f"{loc}.{field}", rest
    return ConfigError(f"config key {loc}: {msg}")


def _validate(build: Any) -> Config:
    try:
        cfg = build()
    except ValidationError as exc:
        raise _one_line(exc) from None
    assert isinstance(cfg, Config)
    return cfg


def load(path: str | os.PathLike[str] | None = None,
         environ: Mapping[str, str] | None = None,
         overrides: Mapping[str, Mapping[str, Any]] | None = None) -> Config:
    """Defaults <- YAML file <- environment <- explicit overrides (CLI flags)."""
    environ = os.environ if environ is None else environ
    _check_env_names(environ)
    layers: list[tuple[str, Mapping[str, Any]]] = []  # (origin, data), highest first
    if overrides:
        layers.append(("command line", {k: dict(v) for k, v in overrides.items()}))
    env_source = _Environment(Config, environ)
    layers.append(("environment", env_source()))
    if path is not None:
        layers.append((str(path), _read_yaml(path)))
    sources: list[PydanticBaseSettingsSource] = [InitSettingsSource(Config, dict(data))
                                                 for _, data in layers]
    try:
        return _validate(lambda: Config(_build_sources=(tuple(sources), {})))
    except ConfigError as exc:
        origin = _origin(str(exc), layers)
        raise ConfigError(f"{exc} ({origin})" if origin else str(exc)) from None


def _origin(message: str, layers: list[tuple[str, Mapping[str, Any]]]) -> str | None:
    """Which source set the key a message names (the highest one that has it)."""
    key = message.removeprefix("config key ").partition(":")[0].split(".")
    for origin, data in layers:
        node: Any = data
        for part in key:
            if not isinstance(node, Mapping) or part not in node:
                break
            node = node[part]
        else:
            if origin == "environment":
                return "from environment " + ENV_PREFIX + "__".join(key).upper()
            return f"in {origin}" if origin != "command line" else "from the command line"
    return None  # a check across keys, or a default


def defaults() -> Config:
    return load(None, environ={})


def resolve_secret(server: ServerConfig) -> str:
    """The HMAC secret: configured, or (embedded only) generated once and kept in the data dir."""
    secret = server.secret
    if secret and secret != DEFAULT_SECRET:
        return secret
    if server.mode != "embedded":
        raise ConfigError("config key server.secret: required outside embedded mode")
    data_dir = private_dir(server.data_dir)
    path = data_dir / "secret"
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value


def private_dir(path: str | os.PathLike[str]) -> Path:
    """The data dir, created (or narrowed) to 0700: it holds the secret and the database."""
    p = Path(path)
    p.mkdir(mode=0o700, parents=True, exist_ok=True)
    if p.stat().st_mode & 0o077:
        p.chmod(0o700)
    return p
