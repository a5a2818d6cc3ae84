#!/bin/sh
# Entrypoint of the backend image: `voting` subcommands run as such
# (serve, db, bench), anything else is executed as given.
set -eu
if [ $# -eq 0 ]; then
  set -- serve --config /etc/voting/compose.yml --host 0.0.0.0 --port 8000
fi
case "$1" in
  serve|db|bench)
    exec voting "$@"
    ;;
  *)
    exec "$@"
    ;;
esac
