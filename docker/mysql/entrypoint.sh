#!/bin/bash
# Entrypoint of the MariaDB image (Dockerfile target `mariadb`): one node of the voting
# cluster, the primary or a replica (VOTING_DB_ROLE), with its server id
# (VOTING_SERVER_ID, unique per node).
#
# First start (no data directory yet): mariadb-install-db, then a socket-only
# temporary server runs the init steps: root's password, the database and its schema
# (schema.sql), the accounts (20-accounts.sh), and 90-primary.sh or 90-replica.sh.
# Then mariadbd runs in the foreground: GTID binary log on every node; the primary
# durable (DESIGN §6: innodb_flush_log_at_trx_commit=1, sync_binlog=1); the replicas
# read-only and relaxed (VOTING_REPLICA_FLUSH, default 2: InnoDB flushes once a second).
# Extra arguments go to mariadbd.
set -euo pipefail
here=/opt/voting-mysql
. "$here/lib.sh"
role=${VOTING_DB_ROLE:?set VOTING_DB_ROLE to primary or replica}
server_id=${VOTING_SERVER_ID:?set VOTING_SERVER_ID (unique per node)}
: "${MYSQL_ROOT_PASSWORD:?MYSQL_ROOT_PASSWORD is not set}"
database=${MYSQL_DATABASE:-voting}
datadir=/var/lib/mysql
export SOCKET=/run/mysqld/mysqld.sock

install -d -o mysql -g mysql -m 0755 /run/mysqld
chown mysql:mysql "$datadir"
chmod 0700 "$datadir"

args=(--user=mysql "--datadir=$datadir" "--socket=$SOCKET" "--server-id=$server_id"
      --log-bin=mysql-bin --relay-log=relay-bin --binlog-format=ROW --binlog-row-image=MINIMAL
      --gtid-strict-mode=1 --log-slave-updates --skip-name-resolve
      --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci --max-connections=500)
case "$role" in
  primary) args+=(--innodb-flush-log-at-trx-commit=1 --sync-binlog=1) ;;
  replica) args+=(--read-only=1 "--innodb-flush-log-at-trx-commit=${VOTING_REPLICA_FLUSH:-2}"
                  --sync-binlog=0) ;;
  *) echo "VOTING_DB_ROLE must be primary or replica, not $role" >&2; exit 2 ;;
esac

wait_for_socket() {  # wait_for_socket PID: until the temporary server answers (60 s at most)
  local deadline=$((SECONDS + 60))
  until MYSQL_ROOT_PASSWORD= voting_mysql -e 'SELECT 1' >/dev/null 2>&1; do
    kill -0 "$1" 2>/dev/null || { echo "mariadbd exited during initialization" >&2; exit 1; }
    [ "$SECONDS" -lt "$deadline" ] || { echo "mariadbd did not start within 60 s" >&2; exit 1; }
    sleep 0.2
  done
}

if [ ! -d "$datadir/mysql" ]; then
  echo "voting: initializing the $role's data directory" >&2
  mariadb-install-db --user=mysql "--datadir=$datadir" --auth-root-authentication-method=normal \
    --skip-test-db --skip-name-resolve >/dev/null
  mariadbd "${args[@]}" --skip-networking --skip-slave-start &
  pid=$!
  wait_for_socket "$pid"
  pw=$(voting_sql_quote "$MYSQL_ROOT_PASSWORD")
  # root: the socket, and TCP from the node itself (the health check); no other account.
  MYSQL_ROOT_PASSWORD= voting_mysql <<SQL
DELETE FROM mysql.global_priv WHERE user = '' OR (user = 'root' AND host NOT IN ('localhost'));
FLUSH PRIVILEGES;
ALTER USER 'root'@'localhost' IDENTIFIED BY $pw;
CREATE USER 'root'@'127.0.0.1' IDENTIFIED BY $pw;
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
CREATE DATABASE \`$database\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
SQL
  voting_mysql "--database=$database" < "$here/schema.sql"
  bash "$here/20-accounts.sh"
  bash "$here/90-$role.sh"
  kill -TERM "$pid"
  wait "$pid" || { echo "the temporary mariadbd did not stop cleanly" >&2; exit 1; }
  echo "voting: $role initialized" >&2
fi

exec mariadbd "${args[@]}" --bind-address=0.0.0.0 --port=3306 "$@"
