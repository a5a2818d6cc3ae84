#!/bin/bash
# MySQL initdb script (replicas, last): forget the initialization's own GTIDs,
# replicate from the primary with GTID auto-positioning, and make the node
# super-read-only. (super_read_only is persisted here rather than given on the
# command line: the image's entrypoint passes the command line to the
# temporary server that runs these scripts, and they must write. --read-only
# is on the command line; it does not stop root.) The replication threads start
# with the real server, once this initialization is done.
(
  set -euo pipefail
  . "${VOTING_MYSQL_LIB:-/opt/voting-mysql/lib.sh}"
  : "${VOTING_REPL_PASSWORD:?VOTING_REPL_PASSWORD is not set}"
  source_host=${VOTING_SOURCE_HOST:-mysql_master}
  voting_mysql <<SQL
RESET BINARY LOGS AND GTIDS;
CHANGE REPLICATION SOURCE TO
  SOURCE_HOST=$(voting_sql_quote "$source_host"),
  SOURCE_PORT=3306,
  SOURCE_USER='repl',
  SOURCE_PASSWORD=$(voting_sql_quote "$VOTING_REPL_PASSWORD"),
  SOURCE_AUTO_POSITION=1,
  GET_SOURCE_PUBLIC_KEY=1,
  SOURCE_CONNECT_RETRY=5;
SET PERSIST read_only = ON;
SET PERSIST super_read_only = ON;
SQL
)
