#!/usr/bin/env bash
# voting: set up, test, serve, deploy.  See README.md.
#   ./build.sh serve [ARGS]  set up (venv, client build) and run the embedded server on :8080
#   ./build.sh test          set up, install missing system packages, run the whole test suite
#   ./build.sh               tests first, then the cluster (Docker Compose if an engine answers,
#                            else local processes via `voting cluster up`)
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
VENV="$ROOT/.venv"
PY=${PYTHON:-python3}

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

setup_python() {
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV"
    "$PY" -m venv "$VENV"
  fi
  local stamp="$VENV/.installed" want
  want=$(cat setup.cfg pyproject.toml | sha256sum | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    log "installing the package"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q -e ".[test]"
    echo "$want" > "$stamp"
  fi
}

need_apt=()
apt_missing() {
  # name of the Debian package for each binary the test suite needs
  command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need_apt+=(mariadb-server mariadb-client)
  command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need_apt+=(nginx)
  command -v envsubst >/dev/null 2>&1 || need_apt+=(gettext-base)
  command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
  command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
}

setup_system() {
  apt_missing
  if [ ${#need_apt[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
      log "missing system packages: ${need_apt[*]} (run as root, or install them)"
      return 1
    fi
    log "installing system packages: ${need_apt[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_apt[@]}"
  fi
}

build_client() {
  if [ ! -f client/package.json ]; then
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    log "npm not found: the client is not built (the API still runs)"
    return 0
  fi
  local stamp="client/dist/.built" want
  want=$(find client -path client/node_modules -prune -o -path client/dist -prune -o -type f -print0 \
         | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  log "building the web client"
  (cd client && npm ci --no-audit --no-fund --loglevel=error && npm run build)
  echo "$want" > "$stamp"
}

run_tests() {
  log "unit tests of the client (vitest)"
  if [ -f client/package.json ]; then
    (cd client && npm test)
  fi
  log "python test suite"
  "$VENV/bin/python" -m pytest "$@"
}

cmd=${1:-deploy}
[ $# -gt 0 ] && shift
case "$cmd" in
  serve)
    setup_python
    build_client
    exec "$VENV/bin/voting" serve "$@"
    ;;
  test)
    setup_system
    setup_python
    build_client
    run_tests "$@"
    ;;
  deploy)
    setup_system
    setup_python
    build_client
    run_tests
    if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
      log "deploying with Docker Compose"
      [ -f .env ] || { log "create .env from .env.example first"; exit 1; }
      docker compose up -d --build --wait
      log "up: http://127.0.0.1:${VOTING_PORT:-8080}/"
    else
      log "no Docker engine: starting the local cluster"
      "$VENV/bin/voting" cluster up "$@"
    fi
    ;;
  *)
    echo "usage: ./build.sh [serve [ARGS] | test [PYTEST ARGS]]" >&2
    exit 2
    ;;
esac
