#!/bin/sh
# Entrypoint of the web image: render /etc/voting/nginx.conf.template (the local
# cluster's template, voting/nginx/) with envsubst, substituting only the ${VOTING_*}
# variables of the environment (nginx's own $variables stay), then run nginx in the
# foreground. Before that it waits (60 s at most) until the backends named in
# VOTING_UPSTREAM_SERVERS resolve: nginx refuses to start on an unknown upstream host,
# and a container engine that does not order starts by health may start it first.
set -eu
run=${VOTING_NGINX_RUN_DIR:?VOTING_NGINX_RUN_DIR is not set}
mkdir -p "$run"
# worker_rlimit_nofile beyond the hard limit only earns an alert: cap it there.
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "${VOTING_NGINX_NOFILE:-65536}" -gt "$hard" ]; then
  export VOTING_NGINX_NOFILE="$hard"
fi
names=$(env | sed -n 's/^\(VOTING_[A-Z0-9_]*\)=.*/${\1}/p' | tr '\n' ' ')
envsubst "$names" < /etc/voting/nginx.conf.template > "$run/nginx.conf"
hosts=$(printf '%s\n' "${VOTING_UPSTREAM_SERVERS:-}" | tr ';' '\n' | sed -n 's/^ *server \([^: ]*\).*/\1/p')
deadline=$(( $(date +%s) + 60 ))
for host in $hosts; do
  until getent hosts "$host" >/dev/null; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "voting-nginx: $host does not resolve; starting anyway" >&2
      break
    fi
    sleep 0.5
  done
done
exec nginx -e /dev/stderr -c "$run/nginx.conf" -g 'daemon off;'
