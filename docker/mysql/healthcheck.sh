#!/bin/bash
# Docker healthcheck of a MySQL node: `SELECT 1` as root over TCP (mysqladmin
# ping would pass on "access denied"); a replica must also be super-read-only
# with both replication threads running.
#   healthcheck.sh primary|replica
set -euo pipefail
. "${VOTING_MYSQL_LIB:-/opt/voting-mysql/lib.sh}"
export VOTING_MYSQL_TCP=1
[ "$(voting_mysql -e 'SELECT 1')" = 1 ]
if [ "${1:-primary}" = replica ]; then
  [ "$(voting_mysql -e 'SELECT @@GLOBAL.super_read_only')" = 1 ]
  status=$(voting_mysql -e 'SHOW REPLICA STATUS\G')
  grep -q 'Replica_IO_Running: Yes' <<<"$status"
  grep -q 'Replica_SQL_Running: Yes' <<<"$status"
fi
