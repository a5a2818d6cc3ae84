#!/bin/bash
# MariaDB init step (every node; run by entrypoint.sh on first start): the accounts
# of the voting cluster.
#   voting@%  only SELECT, INSERT, UPDATE, DELETE on the voting database
#   repl@%    only REPLICATION SLAVE
# Passwords from the environment (docker-compose.yml, from .env). Runs in a
# subshell so it works whether the image's entrypoint sources or executes it.
(
  set -euo pipefail
  . "${VOTING_MYSQL_LIB:-/opt/voting-mysql/lib.sh}"
  : "${VOTING_DB_PASSWORD:?VOTING_DB_PASSWORD is not set}"
  : "${VOTING_REPL_PASSWORD:?VOTING_REPL_PASSWORD is not set}"
  db=${MYSQL_DATABASE:-voting}
  user=${VOTING_DB_USER:-voting}
  voting_mysql <<SQL
CREATE USER IF NOT EXISTS $(voting_sql_quote "$user")@'%' IDENTIFIED BY $(voting_sql_quote "$VOTING_DB_PASSWORD");
GRANT SELECT, INSERT, UPDATE, DELETE ON \`$db\`.* TO $(voting_sql_quote "$user")@'%';
CREATE USER IF NOT EXISTS 'repl'@'%' IDENTIFIED BY $(voting_sql_quote "$VOTING_REPL_PASSWORD");
GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%';
SQL
)
