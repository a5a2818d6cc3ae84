"""The local cluster: MariaDB primary + replicas, Redis, N backends, nginx.

Synchronous and subprocess-based, for the CLI (`voting cluster up|status|down`)
and for test fixtures; never run on the server's event loop. Every process is
started in its own session, so `cluster up` returns while they keep running;
their pids and (stable) ports are kept in DIR/cluster.json.
"""
from __future__ import annotations

import os
import shutil
import signal
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence
from urllib.parse import urlsplit

import yaml

from .. import config as config_mod
from .. import resources
from . import backends as be
from . import mariadb as mdb
from . import nginx as ngx
from . import redis as rds
from .proc import (ClusterError, free_ports, is_alive, port_in_use, run, spawn, stop_all, terminate,
                   wait_until)
from .state import STATE_FILE, ClusterState, Component, load_secrets, load_state, locked, save_state

REPO = Path(__file__).resolve().parents[2]
# Package data (voting.resources), shared with Docker Compose: the default config of
# `voting cluster up` and the schema the primary gets on first start.
CLUSTER_CONFIG = resources.config("cluster")
SCHEMA = resources.schema("mysql")
DEFAULT_STATE_DIR = Path(".run/cluster")
DEFAULT_PORT = 8080
DEFAULT_BACKENDS = 3
REPLICAS = ("replica1", "replica2")
DB_NAMES = ("primary",) + REPLICAS
EXES = {"primary": "mariadbd", "replica": "mariadbd", "redis": "redis-server", "nginx": "nginx"}


@dataclass
class ClusterInfo:
    """What `up` returns: the public URL and the processes."""

    url: str | None
    state_dir: Path
    processes: list[dict[str, Any]] = field(default_factory=list)

    def __str__(self) -> str:
        return self.url or str(self.state_dir)


class LocalCluster:
    """A local cluster under state_dir.

    port: nginx's public port; 0 = a free port (or the one already recorded),
    None = the recorded one or 8080. backends: None = recorded or 3.
    replica_durable: replicas with innodb_flush_log_at_trx_commit=1 (else 2).
    databases_only: only the MariaDB primary and replicas (see ReplicationSet).
    schema: apply voting/sql/mysql/schema.sql on first start (None: only if it exists).
    backend_argv: (name, port) -> argv, to run another server than `voting serve`.
    db_init_argv: argv of the seeding step ([] to skip); default `voting db init --seed`.
    environ: base environment (default os.environ); secrets in it win.
    timeout: deadline in seconds for each component to become ready.
    static_dir: the built web client (default <repo>/client/dist).
    """

    def __init__(self, state_dir: str | os.PathLike[str] = DEFAULT_STATE_DIR,
                 config_path: str | os.PathLike[str] | None = None,
                 port: int | None = 0, backends: int | None = None,
                 replica_durable: bool | None = None, *,
                 databases_only: bool = False, schema: bool | None = True,
                 listen_host: str = "127.0.0.1",
                 backend_argv: be.BackendArgv | None = None,
                 db_init_argv: Sequence[str] | None = None,
                 environ: Mapping[str, str] | None = None,
                 timeout: float = 60.0, repo: Path | None = None,
                 static_dir: Path | None = None) -> None:
        self.state_dir = Path(state_dir).absolute()
        self.repo = (repo or REPO).absolute()
        self.static_dir = (static_dir or self.repo / "client" / "dist").absolute()
        self.databases_only = databases_only
        self.schema = schema
        self.listen_host = listen_host
        self.timeout = timeout
        self.environ = dict(os.environ if environ is None else environ)
        self._want_config = Path(config_path).absolute() if config_path else None
        self._want_port = port
        self._want_backends = backends
        self._want_durable = replica_durable
        self._backend_argv = backend_argv
        self._db_init_argv = list(db_init_argv) if db_init_argv is not None else None
        self.state: ClusterState = load_state(self.state_dir) or ClusterState()
        self._secrets: dict[str, str] | None = None

    # -- public API ------------------------------------------------------

    def up(self) -> ClusterInfo:
        """Start whatever is not running and wait until every part is healthy."""
        with locked(self.state_dir):
            self.state = load_state(self.state_dir) or ClusterState()
            self._plan()
            save_state(self.state_dir, self.state)
            try:
                self._up_databases()
                if not self.databases_only:
                    self._up_redis()
                if not self.state.initialized:
                    self._initialize()
                    save_state(self.state_dir, self.state)
                if not self.databases_only:
                    self._up_backends()
                    self._up_nginx()
            finally:
                save_state(self.state_dir, self.state)
        return self.info()

    def down(self, purge: bool = False) -> None:
        """Stop every process (graceful first); keep the data unless purge."""
        if not (self.state_dir / STATE_FILE).is_file():
            if purge and self.state_dir.is_dir():
                shutil.rmtree(self.state_dir, ignore_errors=True)
            return
        with locked(self.state_dir):
            self.state = load_state(self.state_dir) or ClusterState()
            groups = [["nginx"], self._names("backend"), ["redis"], list(REPLICAS), ["primary"]]
            for group in groups:
                comps = [self.state.components[n] for n in group if n in self.state.components]
                stop_all([(c.pid, self._graceful_signal(c), c.exe) for c in comps], timeout=60)
                for comp in comps:
                    comp.pid = None
            if purge:
                for name in DB_NAMES:
                    if name in self.state.components:
                        self._node(name).socket.unlink(missing_ok=True)
                shutil.rmtree(self.state_dir, ignore_errors=True)
                self.state = ClusterState()
            else:
                save_state(self.state_dir, self.state)

    def start(self, name: str) -> None:
        """Start one stopped component and wait until it is healthy."""
        with locked(self.state_dir):
            self.state = load_state(self.state_dir) or self.state
            comp = self._component(name)
            if comp.role in ("primary", "replica"):
                self._up_databases(only=name)
            elif comp.role == "redis":
                self._up_redis()
            elif comp.role == "backend":
                self._up_backends(only=name)
            else:
                self._up_nginx()
            save_state(self.state_dir, self.state)

    def stop(self, name: str, timeout: float = 60.0) -> None:
        """Graceful stop of one component (SIGTERM; SIGQUIT for nginx), SIGKILL after timeout."""
        with locked(self.state_dir):
            self.state = load_state(self.state_dir) or self.state
            comp = self._component(name)
            if comp.pid:
                terminate(comp.pid, self._graceful_signal(comp), timeout=timeout, exe=comp.exe)
            comp.pid = None
            save_state(self.state_dir, self.state)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send sig to a component; for terminating signals wait until it is gone."""
        self._refresh()
        comp = self._component(name)
        if not comp.pid or not is_alive(comp.pid, comp.exe):
            raise ClusterError(f"{name} is not running")
        if sig in (signal.SIGSTOP, signal.SIGCONT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
            os.kill(comp.pid, sig)
            return
        terminate(comp.pid, sig, timeout=30, exe=comp.exe)
        with locked(self.state_dir):
            self.state = load_state(self.state_dir) or self.state
            self._component(name).pid = None
            save_state(self.state_dir, self.state)

    def alive(self, name: str) -> bool:
        self._refresh()
        comp = self._component(name)
        return is_alive(comp.pid, comp.exe)

    def status(self) -> dict[str, Any]:
        """The object `voting cluster status --json` prints (DESIGN.md §7)."""
        self._refresh()
        procs = []
        for comp in self._ordered():
            alive = is_alive(comp.pid, comp.exe)
            procs.append({"name": comp.name, "role": comp.role,
                          "pid": comp.pid if alive else None, "port": comp.port, "alive": alive})
        replicas = []
        primary = self._node("primary") if self.alive_or_false("primary") else None
        for name in REPLICAS:
            if name not in self.state.components:
                continue
            lag = mdb.lag_ms(primary, self._node(name)) if self.alive_or_false(name) else None
            replicas.append({"name": name, "lag_ms": lag})
        return {"url": self.url, "processes": procs, "replicas": replicas}

    def info(self) -> ClusterInfo:
        return ClusterInfo(url=self.url, state_dir=self.state_dir, processes=self.status()["processes"])

    # -- addresses and access for tests -----------------------------------

    @property
    def url(self) -> str | None:
        if "nginx" not in self.state.components:
            return None
        return f"http://127.0.0.1:{self.state.components['nginx'].port}"

    @property
    def names(self) -> list[str]:
        return [c.name for c in self._ordered()]

    def port(self, name: str) -> int:
        return self._component(name).port

    def pid(self, name: str) -> int | None:
        self._refresh()
        return self._component(name).pid

    def log_path(self, name: str) -> Path:
        return self.state_dir / "logs" / f"{name}.log"

    @property
    def primary_port(self) -> int:
        return self.port("primary")

    @property
    def replica_ports(self) -> list[int]:
        return [self.port(n) for n in REPLICAS]

    @property
    def redis_port(self) -> int:
        return self.port("redis")

    @property
    def backend_ports(self) -> list[int]:
        return [self.port(n) for n in self._names("backend")]

    @property
    def backend_names(self) -> list[str]:
        return self._names("backend")

    @property
    def secrets(self) -> dict[str, str]:
        if self._secrets is None:
            self._secrets = load_secrets(self.state_dir, self.environ)
        return self._secrets

    @property
    def app_user(self) -> str:
        return self._config().storage.user

    @property
    def database(self) -> str:
        return self._config().storage.database

    @property
    def app_password(self) -> str:
        return self.secrets["VOTING_STORAGE__PASSWORD"]

    def dsn(self, name: str = "primary") -> dict[str, Any]:
        """Connection parameters of the application user on one node (TCP)."""
        return {"host": "127.0.0.1", "port": self.port(name), "user": self.app_user,
                "password": self.app_password, "database": self.database}

    @property
    def primary_dsn(self) -> dict[str, Any]:
        return self.dsn("primary")

    def node(self, name: str) -> mdb.MariaDBNode:
        """The MariaDB node (root over its socket: node.query('SHOW GLOBAL STATUS ...'))."""
        self._component(name)
        return self._node(name)

    @property
    def primary(self) -> mdb.MariaDBNode:
        return self.node("primary")

    @property
    def replicas(self) -> list[mdb.MariaDBNode]:
        return [self.node(n) for n in REPLICAS]

    def root_socket(self, name: str = "primary") -> Path:
        return self.node(name).socket

    def wait_replicated(self, timeout: float = 30.0) -> None:
        """Wait until every replica has applied everything the primary has written."""
        mdb.wait_caught_up(self.primary, [r for r in self.replicas], timeout)

    def app_environment(self) -> dict[str, str]:
        """The environment the backends get (also for running `voting` commands in tests)."""
        redis_port = self.state.components["redis"].port if "redis" in self.state.components else 0
        env = be.app_environment(self.environ, self.secrets, self.primary_port, self.replica_ports,
                                 rds.url(redis_port))
        env["VOTING_STORAGE__USER"] = self.app_user
        env["VOTING_STORAGE__DATABASE"] = self.database
        return env

    def __enter__(self) -> LocalCluster:
        self.up()
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    # -- planning ------------------------------------------------------------

    def _plan(self) -> None:
        """Fill in self.state: parameters and a stable port for every component."""
        st = self.state
        running = [c.name for c in st.components.values() if is_alive(c.pid, c.exe)]
        if self._want_config is not None:
            st.config = str(self._want_config)
        elif st.config is None and not self.databases_only:
            st.config = str(CLUSTER_CONFIG)
        if st.config and not Path(st.config).is_file():
            raise ClusterError(f"config file {st.config} does not exist")
        if self._want_durable is not None:
            if running and st.replica_durable != self._want_durable and any(
                    n in running for n in REPLICAS):
                raise ClusterError("the replicas run with another durability setting; "
                                   "run `voting cluster down` first")
            st.replica_durable = self._want_durable
        named = self._named_ports()
        comps = st.components

        def want(name: str, role: str, port: int | None = None) -> None:
            comp = comps.get(name)
            if comp is None:
                comps[name] = Component(name=name, role=role, port=port or 0, exe=self._exe(role, name))
            elif port and comp.port != port:
                if name in running:
                    raise ClusterError(f"{name} runs on port {comp.port}, not {port}; "
                                       "run `voting cluster down` first")
                comp.port = port

        want("primary", "primary", named.get("primary"))
        for i, name in enumerate(REPLICAS):
            want(name, "replica", named.get(f"replica{i + 1}"))
        if not self.databases_only:
            want("redis", "redis", named.get("redis"))
            count = self._want_backends or st.backends or DEFAULT_BACKENDS
            if count < 1:
                raise ClusterError("at least one backend is needed")
            existing = self._names("backend")
            if len(existing) != count:
                extra = [n for n in existing if int(n[len("backend"):]) > count]
                if any(n in running for n in extra):
                    raise ClusterError(f"the cluster runs {len(existing)} backends, not {count}; "
                                       "run `voting cluster down` first")
                for n in extra:
                    del comps[n]
            for k in range(1, count + 1):
                want(f"backend{k}", "backend")
            st.backends = count
            port = self._want_port
            current = comps["nginx"].port if "nginx" in comps else None
            if port is None:
                port = current or DEFAULT_PORT
            elif port == 0:
                port = current or 0
            want("nginx", "nginx", port or None)
            st.port = comps["nginx"].port or None
        missing = [c for c in comps.values() if not c.port]
        for comp, p in zip(missing, free_ports(len(missing))):
            comp.port = p
        if "nginx" in comps:
            st.port = comps["nginx"].port
        for comp in comps.values():  # a backend command given now decides its exe name
            if comp.role == "backend" and not is_alive(comp.pid, comp.exe):
                comp.exe = self._exe("backend", comp.name)

    def _named_ports(self) -> dict[str, int]:
        """Internal ports the config file names explicitly (else free ports are chosen)."""
        out: dict[str, int] = {}
        if not self.state.config:
            return out
        try:
            raw = yaml.safe_load(Path(self.state.config).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            return out  # the config loader reports it properly
        storage = raw.get("storage") or {} if isinstance(raw, dict) else {}
        broker = raw.get("broker") or {} if isinstance(raw, dict) else {}
        if isinstance(storage, dict) and isinstance(storage.get("port"), int):
            out["primary"] = storage["port"]
        if isinstance(storage, dict) and isinstance(storage.get("replicas"), list):
            for i, r in enumerate(storage["replicas"][:len(REPLICAS)]):
                port = r.get("port") if isinstance(r, dict) else str(r).rpartition(":")[2]
                if str(port).isdigit():
                    out[f"replica{i + 1}"] = int(str(port))
        if isinstance(broker, dict) and isinstance(broker.get("redis_url"), str):
            try:
                rport = urlsplit(broker["redis_url"]).port
            except ValueError:
                rport = None
            if rport:
                out["redis"] = rport
        return out

    def _config(self) -> config_mod.Config:
        """The validated config the backends will run with."""
        if not self.state.config:
            return config_mod.defaults()
        env = dict(self.environ)
        env.update({k: v for k, v in self.secrets.items() if k.startswith("VOTING_")})
        try:
            return config_mod.load(self.state.config, environ=env)
        except config_mod.ConfigError as exc:
            raise ClusterError(str(exc)) from None

    def _exe(self, role: str, name: str) -> str | None:
        if role == "backend":
            argv = (self._backend_argv or be.default_argv(Path("x")))(name, 0)
            return Path(argv[0]).name
        return EXES.get(role)

    # -- MariaDB -------------------------------------------------------------

    def _node(self, name: str) -> mdb.MariaDBNode:
        comp = self.state.components[name]
        server_id = 1 if name == "primary" else 1 + int(name[len("replica"):])
        return mdb.MariaDBNode(
            name=name, role=comp.role, port=comp.port, server_id=server_id,
            base_dir=self.state_dir / "mysql" / name, log_path=self.log_path(name),
            durable=comp.role == "primary" or self.state.replica_durable)

    def _up_databases(self, only: str | None = None) -> None:
        names = [only] if only else list(DB_NAMES)
        nodes = [self._node(n) for n in names]
        mdb.install(nodes)
        started = []
        for node in nodes:
            comp = self.state.components[node.name]
            if is_alive(comp.pid, comp.exe):
                continue
            self._check_port_free(comp)
            node.prepare_dirs()
            comp.pid = spawn(node.argv(), node.log_path).pid
            started.append(node)
        for node in started:
            comp = self.state.components[node.name]
            wait_until(node.ready, self.timeout, f"MariaDB {node.name} (port {node.port})",
                       node.log_path, alive=partial(is_alive, comp.pid, comp.exe))
        config = self._config()
        database, app_user = config.storage.database, config.storage.user
        for node in nodes:
            mdb.ensure_accounts(node, database, app_user, self.app_password,
                                self.secrets["REPL_PASSWORD"])
        primary_port = self.state.components["primary"].port
        replicas = [n for n in nodes if n.role == "replica"]
        for node in replicas:
            mdb.ensure_replication(node, primary_port, self.secrets["REPL_PASSWORD"])
        for node in replicas:
            wait_until(partial(mdb.replication_running, node), self.timeout,
                       f"replication on {node.name}", node.log_path)

    def _initialize(self) -> None:
        """First start: the database, the schema (as root), the seed (as the app user)."""
        database = self.database
        primary = self._node("primary")
        mdb.create_database(primary, database)
        schema = SCHEMA
        if self.schema or (self.schema is None and schema.is_file()):
            if not schema.is_file():
                raise ClusterError(f"{schema} does not exist")
            primary.source_file(schema, database)
        if not self.databases_only:
            argv = self._db_init_argv
            if argv is None:
                argv = be.db_init_argv(Path(self.state.config or ""))
            if argv:
                run(argv, "voting db init --seed", timeout=120, env=self.app_environment(), cwd=self.repo)
        mdb.wait_caught_up(primary, [self._node(n) for n in REPLICAS], self.timeout)
        self.state.initialized = True

    # -- Redis, backends, nginx ------------------------------------------------

    def _up_redis(self) -> None:
        comp = self.state.components["redis"]
        password = self.secrets.get("VOTING_BROKER__REDIS_PASSWORD")
        if not is_alive(comp.pid, comp.exe):
            self._check_port_free(comp)
            conf = rds.write_config(self.state_dir / "redis", comp.port, password)
            comp.pid = spawn(rds.argv(conf), self.log_path("redis")).pid
        wait_until(lambda: rds.ping(comp.port, password), self.timeout, f"Redis (port {comp.port})",
                   self.log_path("redis"), alive=lambda: is_alive(comp.pid, comp.exe))

    def _up_backends(self, only: str | None = None) -> None:
        app_env = self.app_environment()
        argv_of = self._backend_argv or be.default_argv(Path(self.state.config or ""))
        names = [only] if only else self._names("backend")
        comps = [self.state.components[n] for n in names]
        for comp in comps:
            if is_alive(comp.pid, comp.exe):
                continue
            self._check_port_free(comp)
            data_dir = self.state_dir / comp.name
            data_dir.mkdir(parents=True, exist_ok=True)
            env = be.backend_environment(app_env, self.static_dir, data_dir)
            comp.exe = Path(argv_of(comp.name, comp.port)[0]).name
            comp.pid = spawn(argv_of(comp.name, comp.port), self.log_path(comp.name),
                             env=env, cwd=self.repo).pid
        for comp in comps:
            wait_until(partial(be.ready, comp.port), self.timeout,
                       f"{comp.name} (GET http://127.0.0.1:{comp.port}/readyz)",
                       self.log_path(comp.name), alive=partial(is_alive, comp.pid, comp.exe))

    def _up_nginx(self) -> None:
        comp = self.state.components["nginx"]
        run_dir = self.state_dir / "nginx"
        log_dir = self.state_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        backends = [("127.0.0.1", p) for p in self.backend_ports]
        values = ngx.local_values(run_dir, log_dir, f"{self.listen_host}:{comp.port}", backends,
                                  self.static_dir)
        conf = run_dir / "nginx.conf"
        old = conf.read_text(encoding="utf-8") if conf.is_file() else None
        conf = ngx.write_config(self.repo, run_dir, values)
        changed = old != conf.read_text(encoding="utf-8")
        log = log_dir / "nginx-error.log"
        if is_alive(comp.pid, comp.exe):
            if changed:
                ngx.check_config(run_dir, conf, log_dir)
                os.kill(comp.pid or 0, signal.SIGHUP)
        else:
            self._check_port_free(comp)
            ngx.check_config(run_dir, conf, log_dir)
            comp.pid = spawn(ngx.argv(run_dir, conf, log_dir), self.log_path("nginx")).pid
        wait_until(lambda: be.http_status(comp.port, "/readyz") == 200, self.timeout,
                   f"nginx (GET {self.url}/readyz)", log, alive=lambda: is_alive(comp.pid, comp.exe))

    # -- helpers ---------------------------------------------------------------

    def _refresh(self) -> None:
        """Re-read cluster.json: another process (the CLI) may have changed pids."""
        self.state = load_state(self.state_dir) or self.state

    def _check_port_free(self, comp: Component) -> None:
        if port_in_use(comp.port):
            raise ClusterError(f"cannot start {comp.name}: port {comp.port} is in use by another "
                               "process (choose another port or stop it)")

    def _component(self, name: str) -> Component:
        try:
            return self.state.components[name]
        except KeyError:
            known = ", ".join(self.state.components) or "none (run up first)"
            raise ClusterError(f"no component {name!r} in {self.state_dir} (known: {known})") from None

    def _names(self, role: str) -> list[str]:
        names = [c.name for c in self.state.components.values() if c.role == role]
        return sorted(names, key=lambda n: int(n[len(role):]) if n[len(role):].isdigit() else 0)

    def _ordered(self) -> Iterator[Component]:
        order = ["primary", *REPLICAS, "redis", *self._names("backend"), "nginx"]
        for name in order:
            if name in self.state.components:
                yield self.state.components[name]

    def alive_or_false(self, name: str) -> bool:
        comp = self.state.components.get(name)
        return comp is not None and is_alive(comp.pid, comp.exe)

    @staticmethod
    def _graceful_signal(comp: Component) -> int:
        return signal.SIGQUIT if comp.role == "nginx" else signal.SIGTERM


class ReplicationSet(LocalCluster):
    """Only the MariaDB primary and its two replicas (for storage tests).

    The application user, database and passwords are as in the full cluster;
    the schema is applied if voting/sql/mysql/schema.sql exists (schema=True: required,
    False: never).
    """

    def __init__(self, state_dir: str | os.PathLike[str], *, replica_durable: bool = False,
                 schema: bool | None = None, environ: Mapping[str, str] | None = None,
                 timeout: float = 60.0, config_path: str | os.PathLike[str] | None = None) -> None:
        super().__init__(state_dir, config_path=config_path, replica_durable=replica_durable,
                         databases_only=True, schema=schema, environ=environ, timeout=timeout)


# -- the functions behind `voting cluster up|status|down` -----------------------


def up(config_path: str | os.PathLike[str] | None = None,
       state_dir: str | os.PathLike[str] = DEFAULT_STATE_DIR,
       port: int | None = None, backends: int | None = None,
       listen_host: str = "0.0.0.0") -> ClusterInfo:
    """`voting cluster up`: start what is not running; returns once all are healthy.

    port None: the recorded port, else 8080; 0: a free port.
    """
    return LocalCluster(state_dir, config_path=config_path, port=port, backends=backends,
                        listen_host=listen_host).up()


def status(state_dir: str | os.PathLike[str] = DEFAULT_STATE_DIR) -> dict[str, Any]:
    """`voting cluster status --json`: {"url", "processes": [...], "replicas": [...]}."""
    path = Path(state_dir)
    if load_state(path.absolute()) is None:
        raise ClusterError(f"no cluster in {path} (run `voting cluster up` first)")
    return LocalCluster(path).status()


def down(state_dir: str | os.PathLike[str] = DEFAULT_STATE_DIR, purge: bool = False) -> None:
    """`voting cluster down [--purge]`: stop everything; keep the data unless purge."""
    LocalCluster(state_dir).down(purge=purge)


def format_status(st: Mapping[str, Any]) -> str:
    """A human-readable table of status() for `voting cluster status` without --json."""
    lines = [f"url: {st.get('url') or '-'}"]
    lags = {r["name"]: r["lag_ms"] for r in st.get("replicas", [])}
    lines.append(f"{'NAME':<10} {'ROLE':<8} {'PID':>8} {'PORT':>6}  STATE")
    for p in st.get("processes", []):
        state = "up" if p["alive"] else "down"
        if p["name"] in lags:
            lag = lags[p["name"]]
            state += f" (lag {lag} ms)" if lag is not None else " (not replicating)"
        lines.append(f"{p['name']:<10} {p['role']:<8} {p['pid'] or '-':>8} {p['port']:>6}  {state}")
    return "\n".join(lines)

