"""The MariaDB replication set of the local cluster, brought up by voting.cluster."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from functools import partial
from pathlib import Path

import pymysql
import pytest

from voting.cluster import ReplicationSet
from voting.cluster.proc import wait_until

from tests.cluster.cluster_harness import MARIADB, require_binaries

pytestmark = pytest.mark.integration


def _has_rows(rs: ReplicationSet, name: str, rows: list[tuple[object, ...]]) -> bool:
    return rs.node(name).query("SELECT id, v FROM voting.probe ORDER BY id") == rows


def test_writes_on_primary_reach_both_replicas(replication_set: ReplicationSet) -> None:
    rs = replication_set
    rs.primary.execute("CREATE TABLE IF NOT EXISTS voting.probe (id INT PRIMARY KEY, v VARCHAR(20))")
    with pymysql.connect(**rs.primary_dsn, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO probe VALUES (1, 'hello'), (2, 'wörld')")
    for name in ("replica1", "replica2"):
        wait_until(partial(_has_rows, rs, name, [(1, "hello"), (2, "wörld")]), 10, f"rows on {name}")
    status = rs.status()
    assert [r["name"] for r in status["replicas"]] == ["replica1", "replica2"]
    rs.wait_replicated(10)
    assert all(r["lag_ms"] == 0 for r in rs.status()["replicas"])


def test_replicas_are_read_only_for_the_app_user(replication_set: ReplicationSet) -> None:
    rs = replication_set
    rs.primary.execute("CREATE TABLE IF NOT EXISTS voting.probe (id INT PRIMARY KEY)")
    rs.wait_replicated(10)
    for replica in rs.replicas:
        assert replica.query("SELECT @@GLOBAL.read_only") == [(1,)]
        with pymysql.connect(**rs.dsn(replica.name), autocommit=True) as conn, conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM probe")  # reads work
            with pytest.raises(pymysql.MySQLError) as err:
                cur.execute("INSERT INTO probe VALUES (1)")
            assert err.value.args[0] == 1290  # ER_OPTION_PREVENTS_STATEMENT (read-only)
    assert rs.primary.query("SELECT @@GLOBAL.read_only") == [(0,)]


def test_app_user_has_only_row_privileges_on_its_database(replication_set: ReplicationSet) -> None:
    rs = replication_set
    with pymysql.connect(**rs.primary_dsn, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SHOW GRANTS")
        grants = " ".join(row[0] for row in cur.fetchall())
        assert "SELECT, INSERT, UPDATE, DELETE ON `voting`.*" in grants
        assert "ALL PRIVILEGES" not in grants and "SUPER" not in grants
        for stmt in ("SELECT * FROM mysql.user", "USE mysql", "CREATE DATABASE other",
                     "CREATE TABLE voting.x (id INT)", "DROP TABLE voting.polls"):
            with pytest.raises(pymysql.MySQLError):
                cur.execute(stmt)
        cur.execute("SHOW DATABASES")
        assert {row[0] for row in cur.fetchall()} <= {"voting", "information_schema"}
    # root has no network account: TCP as root is refused on every node.
    for node in [rs.primary, *rs.replicas]:
        with pytest.raises(pymysql.MySQLError):
            pymysql.connect(host="127.0.0.1", port=node.port, user="root", password="",
                            connect_timeout=2).close()


def test_schema_is_applied_and_replicated(replication_set: ReplicationSet) -> None:
    try:
        from voting import resources  # the schema shipped inside the package
        schema = resources.schema("mysql")
    except ImportError:
        schema = Path(__file__).resolve().parents[2] / "sql" / "mysql" / "schema.sql"
    assert schema.is_file(), schema
    created = set(re.findall(r"CREATE TABLE(?: IF NOT EXISTS)? `?(\w+)`?", schema.read_text()))
    tables = {r[0] for r in replication_set.primary.query("SHOW TABLES FROM voting")}
    assert created and tables == created
    for replica in replication_set.replicas:
        assert {r[0] for r in replica.query("SHOW TABLES FROM voting")} == tables


def test_stopped_or_killed_nodes_come_back_with_their_data(replication_set: ReplicationSet) -> None:
    rs = replication_set
    rs.primary.execute("CREATE TABLE IF NOT EXISTS voting.probe (id INT PRIMARY KEY)",
                       "INSERT INTO voting.probe VALUES (1)")
    rs.wait_replicated(10)
    ports = {n: rs.port(n) for n in rs.names}

    rs.kill("replica1", signal.SIGKILL)
    assert not rs.alive("replica1")
    rs.primary.execute("INSERT INTO voting.probe VALUES (2)")  # written while replica1 is down
    rs.stop("primary")
    assert [p["alive"] for p in rs.status()["processes"]] == [False, False, True]
    rs.up()  # starts only what is not running, on the same ports
    assert {n: rs.port(n) for n in rs.names} == ports
    assert all(p["alive"] for p in rs.status()["processes"])
    rs.primary.execute("INSERT INTO voting.probe VALUES (3)")
    rs.wait_replicated(15)
    for node in [rs.primary, *rs.replicas]:
        assert node.query("SELECT id FROM voting.probe ORDER BY id") == [(1,), (2,), (3,)]


def test_replica_not_applying_is_reported_and_up_restarts_it(replication_set: ReplicationSet) -> None:
    rs = replication_set
    rs.node("replica2").execute("STOP SLAVE SQL_THREAD")
    rs.primary.execute("CREATE TABLE voting.probe (id INT PRIMARY KEY)")
    wait_until(lambda: rs.node("replica1").query("SHOW TABLES FROM voting LIKE 'probe'") != [],
               10, "replica1 has the table")
    lags = {r["name"]: r["lag_ms"] for r in rs.status()["replicas"]}
    assert lags == {"replica1": 0, "replica2": None}
    rs.up()  # restarts the replication thread
    rs.wait_replicated(15)
    assert [r["lag_ms"] for r in rs.status()["replicas"]] == [0, 0]


def test_status_does_not_hang_on_a_frozen_replica(replication_set: ReplicationSet) -> None:
    rs = replication_set
    rs.kill("replica2", signal.SIGSTOP)
    try:
        started = time.monotonic()
        status = rs.status()
        assert time.monotonic() - started < 10
        assert {r["name"]: r["lag_ms"] for r in status["replicas"]}["replica2"] is None
    finally:
        rs.kill("replica2", signal.SIGCONT)


def test_durable_replicas_and_purge(tmp_path: Path) -> None:
    require_binaries(*MARIADB)
    rs = ReplicationSet(tmp_path / "rs", replica_durable=True)
    try:
        rs.up()
        for replica in rs.replicas:
            assert replica.query("SELECT @@GLOBAL.innodb_flush_log_at_trx_commit") == [(1,)]
        rs.down()
        assert (tmp_path / "rs" / "mysql" / "primary" / "data").is_dir()  # data kept
    finally:
        rs.down(purge=True)
    assert not (tmp_path / "rs").exists()


def test_replicas_flush_lazily_by_default(replication_set: ReplicationSet) -> None:
    assert replication_set.primary.query("SELECT @@GLOBAL.innodb_flush_log_at_trx_commit") == [(1,)]
    for replica in replication_set.replicas:
        assert replica.query("SELECT @@GLOBAL.innodb_flush_log_at_trx_commit") == [(2,)]


def test_compose_accounts_script_grants_only_row_privileges(replication_set: ReplicationSet) -> None:
    """docker/mysql/20-accounts.sh (Compose initdb) run against a real server, with a
    password that needs quoting."""
    repo = Path(__file__).resolve().parents[2]
    password = "it's a \"pass\" \\ word $HOME `x`"
    env = {"PATH": os.environ.get("PATH", ""), "SOCKET": str(replication_set.primary.socket),
           "MYSQL_ROOT_PASSWORD": "", "MYSQL_DATABASE": "voting", "VOTING_DB_USER": "compose_app",
           "VOTING_DB_PASSWORD": password, "VOTING_REPL_PASSWORD": "repl-" + password,
           "VOTING_MYSQL_LIB": str(repo / "docker" / "mysql" / "lib.sh")}
    res = subprocess.run(["bash", str(repo / "docker" / "mysql" / "20-accounts.sh")], env=env,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    port = replication_set.primary_port
    with pymysql.connect(host="127.0.0.1", port=port, user="compose_app", password=password,
                         database="voting") as conn, conn.cursor() as cur:
        cur.execute("SHOW GRANTS")
        grants = [row[0] for row in cur.fetchall()]
    assert any("GRANT SELECT, INSERT, UPDATE, DELETE ON `voting`.*" in g for g in grants)
    assert not any("ALL PRIVILEGES" in g for g in grants)
    # The script is idempotent (CREATE USER IF NOT EXISTS).
    res = subprocess.run(["bash", str(repo / "docker" / "mysql" / "20-accounts.sh")], env=env,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
