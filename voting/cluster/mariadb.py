"""MariaDB nodes of the local cluster: a primary and asynchronous GTID replicas.

Root is reachable only over each node's Unix socket (root@localhost, no
password, --skip-name-resolve so TCP connections never match 'localhost');
the application user and the replication user connect over TCP on 127.0.0.1.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import tempfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Sequence

import pymysql
import pymysql.cursors

from .proc import ClusterError, run, wait_until

_IDENT = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_SOCKET_MAX = 100  # sun_path is 108 bytes on Linux


def binary(name: str) -> str:
    for candidate in (shutil.which(name), f"/usr/sbin/{name}", f"/usr/bin/{name}"):
        if candidate and Path(candidate).is_file():
            return candidate
    raise ClusterError(f"{name} is not installed (apt-get install mariadb-server mariadb-client)")


def ident(name: str) -> str:
    if not _IDENT.match(name):
        raise ClusterError(f"unsupported MariaDB name {name!r} (letters, digits, _ only)")
    return name


@dataclass
class MariaDBNode:
    """One mariadbd process with its own data directory under base_dir."""

    name: str
    role: str  # primary | replica
    port: int
    server_id: int
    base_dir: Path
    log_path: Path
    durable: bool = True  # a replica's innodb_flush_log_at_trx_commit=1 (else 2); a primary is always durable

    @property
    def datadir(self) -> Path:
        return self.base_dir / "data"

    @property
    def tmpdir(self) -> Path:
        return self.base_dir / "tmp"

    @property
    def pid_file(self) -> Path:
        return self.base_dir / "mariadbd.pid"

    @property
    def socket(self) -> Path:
        path = self.base_dir / "mysqld.sock"
        if len(str(path)) <= _SOCKET_MAX:
            return path
        # Too long for a Unix socket: a stable short path derived from the node's directory.
        digest = hashlib.sha1(str(self.base_dir.resolve()).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"voting-{os.geteuid()}-{digest}.sock"

    def initialized(self) -> bool:
        return (self.datadir / "mysql").is_dir()

    def install_argv(self) -> list[str]:
        argv = [binary("mariadb-install-db"), "--no-defaults", f"--datadir={self.datadir}",
                "--auth-root-authentication-method=normal", "--skip-test-db",
                "--skip-name-resolve",
                # Its own tmpdir: parallel installs sharing /tmp collide on temp table names.
                f"--tmpdir={self.tmpdir}"]
        if os.geteuid() == 0:
            argv.append("--user=root")
        return argv

    def prepare_dirs(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.base_dir.chmod(0o700)  # the root socket lives here
        self.tmpdir.mkdir(exist_ok=True)

    def argv(self) -> list[str]:
        argv = [binary("mariadbd"), "--no-defaults"]
        if os.geteuid() == 0:
            argv.append("--user=root")
        argv += [
            f"--datadir={self.datadir}",
            f"--socket={self.socket}",
            f"--pid-file={self.pid_file}",
            f"--tmpdir={self.tmpdir}",
            f"--log-error={self.log_path}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            "--skip-name-resolve",
            f"--server-id={self.server_id}",
            "--log-bin=mysql-bin",
            "--relay-log=relay-bin",
            "--binlog-format=ROW",
            # An updated counter row is logged as its key and new count, not twice whole:
            # 7-10 % less CPU on the primary and replicas a ballot (docs/benchmarks-history.md).
            # Every table has a primary key, which this needs.
            "--binlog-row-image=MINIMAL",
            "--gtid-strict-mode=1",
            "--log-slave-updates",
            "--slave-net-timeout=5",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_unicode_ci",
            "--max-connections=500",
            "--innodb-buffer-pool-size=64M",
        ]
        if self.role == "primary":
            # DESIGN §6: a 201 means the ballot is on disk -- the redo log flushed and the
            # binary log synced at every commit.
            argv += ["--innodb-flush-log-at-trx-commit=1", "--sync-binlog=1"]
        else:
            # Replicas may relax both (durable=True: InnoDB flushes at every commit there too).
            argv += ["--read-only=1", f"--innodb-flush-log-at-trx-commit={1 if self.durable else 2}",
                     "--sync-binlog=0"]
        return argv

    # -- SQL access -------------------------------------------------------

    def connect(self, user: str = "root", password: str = "", database: str | None = None,
                tcp: bool = False, timeout: float = 2.0, dict_rows: bool = False,
                autocommit: bool = True, read_timeout: float = 30.0) -> pymysql.connections.Connection[Any]:
        """A PyMySQL connection: root over the socket by default, or TCP on 127.0.0.1."""
        kwargs: dict[str, Any] = dict(user=user, password=password, database=database,
                                      connect_timeout=timeout, read_timeout=read_timeout,
                                      write_timeout=read_timeout,
                                      autocommit=autocommit, charset="utf8mb4")
        if dict_rows:
            kwargs["cursorclass"] = pymysql.cursors.DictCursor
        if tcp:
            return pymysql.connect(host="127.0.0.1", port=self.port, **kwargs)
        # PyMySQL leaks its Unix socket when connect() itself fails: connect it here.
        conn = pymysql.connect(unix_socket=str(self.socket), defer_connect=True, **kwargs)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(str(self.socket))
        except OSError as exc:
            sock.close()
            raise pymysql.err.OperationalError(2002, f"Can't connect to {self.socket}: {exc}") from None
        conn.connect(sock)
        return conn

    def query(self, sql: str, args: Sequence[Any] | None = None,
              timeout: float = 30.0) -> list[tuple[Any, ...]]:
        """Run one statement as root; the rows it returns."""
        with self.connect(read_timeout=timeout) as conn, conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())

    def query_dicts(self, sql: str, timeout: float = 30.0) -> list[dict[str, Any]]:
        with self.connect(dict_rows=True, read_timeout=timeout) as conn, conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())

    def execute(self, *statements: str) -> None:
        """Run statements as root on one connection, in order."""
        with self.connect() as conn, conn.cursor() as cur:
            for stmt in statements:
                cur.execute(stmt)

    def ready(self) -> bool:
        with self.connect(timeout=1.0, read_timeout=2.0) as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
            return bool(cur.fetchone() == (1,))

    def source_file(self, path: Path, database: str) -> None:
        """Apply a SQL file as root with the mariadb client over the socket."""
        run([binary("mariadb"), "--no-defaults", f"--socket={self.socket}", "-uroot",
             f"--database={ident(database)}", "--batch"],
            f"applying {path.name} on {self.name}", timeout=120, stdin_path=path)


def install(nodes: Sequence[MariaDBNode]) -> None:
    """mariadb-install-db for every node without a data directory (in parallel)."""
    import subprocess

    todo = [n for n in nodes if not n.initialized()]
    procs: list[tuple[MariaDBNode, subprocess.Popen[bytes], Path]] = []
    try:
        for node in todo:
            node.prepare_dirs()
            if node.datadir.exists():  # a half-done earlier install
                shutil.rmtree(node.datadir)
            log = node.base_dir / "install.log"
            with open(log, "wb") as out:
                procs.append((node, subprocess.Popen(node.install_argv(), stdout=out,
                                                     stderr=subprocess.STDOUT,
                                                     stdin=subprocess.DEVNULL), log))
        failed = []
        for node, proc, log in procs:
            try:
                rc = proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                rc = -1
            if rc != 0:
                failed.append(f"{node.name}: mariadb-install-db exited with {rc}\n"
                              + log.read_text(errors="replace")[-2000:])
    finally:
        for _, proc, _ in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if failed:
        raise ClusterError("\n".join(failed))


# -- accounts and replication ----------------------------------------------


def ensure_accounts(node: MariaDBNode, database: str, app_user: str, app_password: str,
                    repl_password: str) -> None:
    """Idempotent account setup on one node, kept out of the binlog.

    Drops the install-time extra root and anonymous accounts (root stays
    socket-only), and (re)creates the application user with only
    SELECT/INSERT/UPDATE/DELETE on the database and the replication user.
    """
    with node.connect() as conn, conn.cursor() as cur:
        cur.execute("SET SESSION sql_log_bin = 0")
        cur.execute("SELECT user, host FROM mysql.global_priv "
                    "WHERE (user = 'root' AND host <> 'localhost') OR user = ''")
        for user, host in cur.fetchall():
            cur.execute(f"DROP USER IF EXISTS {conn.escape(user)}@{conn.escape(host)}")
        db_pattern = ident(database).replace("_", "\\_")
        for user, password in ((ident(app_user), app_password), ("repl", repl_password)):
            account = f"{conn.escape(user)}@'%'"
            cur.execute(f"CREATE USER IF NOT EXISTS {account} IDENTIFIED BY {conn.escape(password)}")
            cur.execute(f"ALTER USER {account} IDENTIFIED BY {conn.escape(password)}")
        cur.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON `{db_pattern}`.* TO "
                    f"{conn.escape(app_user)}@'%'")
        cur.execute("GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%'")


def create_database(primary: MariaDBNode, database: str) -> None:
    """On the primary, binlogged, so the replicas get it too."""
    primary.execute(f"CREATE DATABASE IF NOT EXISTS `{ident(database)}` "
                    "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")


def slave_status(node: MariaDBNode, timeout: float = 30.0) -> dict[str, Any] | None:
    rows = node.query_dicts("SHOW SLAVE STATUS", timeout=timeout)
    return rows[0] if rows else None


def ensure_replication(replica: MariaDBNode, primary_port: int, repl_password: str) -> None:
    """Point the replica at the primary (GTID, slave_pos) unless it already is, and start it."""
    status = slave_status(replica)
    if (status and status.get("Master_Host") == "127.0.0.1"
            and int(status.get("Master_Port") or 0) == primary_port
            and status.get("Master_User") == "repl"
            and str(status.get("Using_Gtid", "")).lower() == "slave_pos"
            and int(status.get("Last_IO_Errno") or 0) != 1045):
        if status.get("Slave_IO_Running") != "Yes" or status.get("Slave_SQL_Running") != "Yes":
            replica.execute("START SLAVE")
        return
    with replica.connect() as conn, conn.cursor() as cur:
        cur.execute("STOP SLAVE")
        cur.execute(
            "CHANGE MASTER TO MASTER_HOST='127.0.0.1', "
            f"MASTER_PORT={int(primary_port)}, MASTER_USER='repl', "
            f"MASTER_PASSWORD={conn.escape(repl_password)}, MASTER_USE_GTID=slave_pos, "
            "MASTER_CONNECT_RETRY=1")
        cur.execute("START SLAVE")


def replication_running(replica: MariaDBNode) -> bool:
    status = slave_status(replica)
    if not status:
        return False
    if status.get("Slave_SQL_Running") != "Yes":
        err = status.get("Last_SQL_Error")
        if err:
            raise ClusterError(f"{replica.name}: replication SQL thread stopped: {err}")
        return False
    return status.get("Slave_IO_Running") == "Yes"


def parse_gtid_pos(pos: str) -> dict[int, int]:
    """'0-1-42,1-2-7' -> {domain: seq_no}."""
    out: dict[int, int] = {}
    for part in (pos or "").split(","):
        part = part.strip()
        if not part:
            continue
        domain, _server, seq = part.split("-")
        out[int(domain)] = int(seq)
    return out


def gtid_binlog_pos(node: MariaDBNode, timeout: float = 30.0) -> str:
    return str(node.query("SELECT @@GLOBAL.gtid_binlog_pos", timeout=timeout)[0][0] or "")


def caught_up(primary_pos: str, replica: MariaDBNode, timeout: float = 30.0) -> bool:
    want = parse_gtid_pos(primary_pos)
    have = parse_gtid_pos(str(replica.query("SELECT @@GLOBAL.gtid_slave_pos", timeout=timeout)[0][0] or ""))
    return all(have.get(domain, -1) >= seq for domain, seq in want.items())


def wait_caught_up(primary: MariaDBNode, replicas: Sequence[MariaDBNode], timeout: float) -> None:
    pos = gtid_binlog_pos(primary)
    for replica in replicas:
        wait_until(partial(caught_up, pos, replica), timeout,
                   f"{replica.name} catching up with the primary (GTID {pos})", replica.log_path)


def lag_ms(primary: MariaDBNode | None, replica: MariaDBNode, probe_timeout: float = 2.0) -> int | None:
    """Replica lag in ms: 0 when it has applied the primary's GTID position,
    else Seconds_Behind_Master; None when it is not replicating."""
    try:
        status = slave_status(replica, timeout=probe_timeout)
    except (pymysql.MySQLError, OSError):
        return None
    if not status or status.get("Slave_SQL_Running") != "Yes":
        return None
    if primary is not None:
        try:
            if caught_up(gtid_binlog_pos(primary, probe_timeout), replica, probe_timeout):
                return 0
        except (pymysql.MySQLError, OSError):
            pass  # primary down: fall back to the replica's own estimate
    sbm = status.get("Seconds_Behind_Master")
    if sbm is None:
        return None
    return int(sbm) * 1000
