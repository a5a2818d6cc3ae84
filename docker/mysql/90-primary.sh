#!/bin/bash
# MariaDB init step (primary, last; run by entrypoint.sh on first start): forget the
# binary log of the initialization. Every node ran the same schema and account steps,
# so the replicas start from the same state and replicate (GTID, slave_pos)
# everything written after this point.
(
  set -euo pipefail
  . "${VOTING_MYSQL_LIB:-/opt/voting-mysql/lib.sh}"
  voting_mysql -e "RESET MASTER"
)
