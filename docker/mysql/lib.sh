# Shared by the MariaDB entrypoint, init and health scripts (sourced; defines functions
# only). Root's password goes through an option file on a pipe, never the command line.

voting_sql_quote() {  # a SQL string literal: 'it''s' style, backslashes doubled
  local s=${1//\\/\\\\}
  s=${s//\'/\'\'}
  printf "'%s'" "$s"
}

voting_mysql() {  # voting_mysql [client args...] -- as root; over TCP when VOTING_MYSQL_TCP=1
  local pw=${MYSQL_ROOT_PASSWORD//\\/\\\\}
  pw=${pw//\"/\\\"}
  local conn=(--protocol=socket "--socket=${SOCKET:-/run/mysqld/mysqld.sock}")
  if [ "${VOTING_MYSQL_TCP:-0}" = 1 ]; then
    conn=(--protocol=tcp -h127.0.0.1 -P3306)
  fi
  local client=mariadb
  command -v mariadb >/dev/null 2>&1 || client=mysql  # MySQL's client, or MariaDB's before 10.5
  "$client" --defaults-extra-file=<(printf '[client]\nuser=root\npassword="%s"\n' "$pw") \
    "${conn[@]}" --batch --skip-column-names "$@"
}
