#!/bin/bash
# Health check of a MariaDB node: `SELECT 1` as root over TCP (mariadb-admin ping would
# pass on "access denied"); the primary must be writable and durable (DESIGN §6:
# innodb_flush_log_at_trx_commit=1, sync_binlog=1); a replica must be read-only with
# both replication threads running.
#   healthcheck.sh primary|replica
set -euo pipefail
. "${VOTING_MYSQL_LIB:-/opt/voting-mysql/lib.sh}"
export VOTING_MYSQL_TCP=1
[ "$(voting_mysql -e 'SELECT 1')" = 1 ]
if [ "${1:-primary}" = replica ]; then
  [ "$(voting_mysql -e 'SELECT @@GLOBAL.read_only')" = 1 ]
  status=$(voting_mysql --column-names -e 'SHOW SLAVE STATUS\G')
  grep -q 'Slave_IO_Running: Yes' <<<"$status"
  grep -q 'Slave_SQL_Running: Yes' <<<"$status"
else
  [ "$(voting_mysql -e 'SELECT @@GLOBAL.read_only, @@GLOBAL.innodb_flush_log_at_trx_commit, @@GLOBAL.sync_binlog')" = "$(printf '0\t1\t1')" ]
fi
