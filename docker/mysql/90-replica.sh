#!/bin/bash
# MariaDB init step (replicas, last; run by entrypoint.sh on first start): forget the
# initialization's own binary log, and replicate from the primary with GTID
# (MASTER_USE_GTID=slave_pos, from the primary's first transaction after its own
# initialization). The replication threads start with the real server, which runs
# with --read-only=1 (the application user cannot write; replication and root can).
(
  set -euo pipefail
  . "${VOTING_MYSQL_LIB:-/opt/voting-mysql/lib.sh}"
  : "${VOTING_REPL_PASSWORD:?VOTING_REPL_PASSWORD is not set}"
  source_host=${VOTING_SOURCE_HOST:-mysql_master}
  voting_mysql <<SQL
RESET MASTER;
SET GLOBAL gtid_slave_pos = '';
CHANGE MASTER TO
  MASTER_HOST=$(voting_sql_quote "$source_host"),
  MASTER_PORT=3306,
  MASTER_USER='repl',
  MASTER_PASSWORD=$(voting_sql_quote "$VOTING_REPL_PASSWORD"),
  MASTER_USE_GTID=slave_pos,
  MASTER_CONNECT_RETRY=5;
SQL
)
