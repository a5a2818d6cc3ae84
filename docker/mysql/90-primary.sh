#!/bin/bash
# MySQL initdb script (primary, last): forget the binary log of the
# initialization. Every node ran the same schema and account scripts, so
# replicas start from the same state and replicate (GTID auto-position)
# everything written after this point.
(
  set -euo pipefail
  . "${VOTING_MYSQL_LIB:-/opt/voting-mysql/lib.sh}"
  voting_mysql -e "RESET BINARY LOGS AND GTIDS"
)
