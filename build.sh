#!/usr/bin/env bash
# voting: set up, test, serve, deploy.  See README.md.
#   ./build.sh serve [ARGS]  set up (venv, client build) and run the embedded server on :8080
#   ./build.sh test          set up, install missing system packages, run the whole test suite
#   ./build.sh               tests first, then the cluster: Docker Compose when a Docker engine
#                            answers, podman-compose when podman is what the machine has, else
#                            local processes via `voting cluster up` (VOTING_DEPLOY=compose|local
#                            forces one; compose stops with a message when no engine answers)
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
  # The bench extra too: the suite draws docs/benchmarks.md's plots (matplotlib).
  local extras="test,bench"
  want=$( (cat setup.cfg pyproject.toml; echo "$extras") | sha256sum | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    log "installing the package"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q -e ".[$extras]"
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
  # the Compose test: podman (runc, netavark + aardvark-dns for the network's names),
  # mmdebstrap for the base image
  command -v podman >/dev/null 2>&1 || need_apt+=(podman)
  command -v runc >/dev/null 2>&1 || need_apt+=(runc)
  [ -x /usr/lib/podman/netavark ] || need_apt+=(netavark)
  [ -x /usr/lib/podman/aardvark-dns ] || need_apt+=(aardvark-dns)
  command -v iptables >/dev/null 2>&1 || [ -x /usr/sbin/iptables ] || need_apt+=(iptables)
  command -v mmdebstrap >/dev/null 2>&1 || need_apt+=(mmdebstrap)
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

# -- deployment -------------------------------------------------------------------

die() {  # die MESSAGE...: what failed and what to do, then stop
  printf '\033[1;31m==> %s\033[0m\n' "$@" >&2
  exit 1
}

env_value() {  # env_value KEY: its value in .env (the environment wins, as with Compose)
  local key=$1
  if [ -n "${!key:-}" ]; then printf '%s' "${!key}"; return; fi
  sed -n "s/^${key}=//p" .env | tail -n 1 | sed -e 's/^"\(.*\)"$/\1/' -e "s/^'\(.*\)'$/\1/"
}

port_in_use() {  # port_in_use PORT: something on this machine accepts connections there
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

podman_settings() {
  # Podman gives containers 1048576 open files by default, which fails where the host's
  # limit is lower (inside another container): then use the repo's containers.conf (runc,
  # cgroupfs, limits within the host's), as the test suite does.
  local hard
  hard=$(ulimit -Hn)
  if [ -z "${CONTAINERS_CONF:-}" ] && [ "$hard" != unlimited ] && [ "$hard" -lt 1048576 ]; then
    export CONTAINERS_CONF="$ROOT/docker/podman/containers.conf"
    log "podman: the open-files limit here is $hard; using docker/podman/containers.conf"
  fi
}

COMPOSE=()
ENGINE=
find_engine() {  # COMPOSE: docker compose, or podman-compose (the venv's, else PATH's)
  if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1 \
      && docker compose version >/dev/null 2>&1; then
    ENGINE=docker
    COMPOSE=(docker compose)
  elif command -v podman >/dev/null 2>&1 && podman_settings && podman info >/dev/null 2>&1; then
    ENGINE=podman
    local pc="$VENV/bin/podman-compose"
    [ -x "$pc" ] || pc=$(command -v podman-compose || true)
    [ -n "$pc" ] || die "podman answers but podman-compose is missing" \
      "install it: $VENV/bin/pip install 'podman-compose>=1.6' (the test extra has it)"
    # Builds use the host's network: apt-get and pip in the Dockerfile reach the same
    # mirrors as this machine.
    # One build at a time: the images share their stages (the test gate among them).
    COMPOSE=("$pc" --parallel 1 --podman-build-args=--network=host)
  fi
}

wait_healthy() {  # every container of the project passes its health check (5 minutes at most)
  if [ "$ENGINE" = docker ]; then
    return 0  # `docker compose up --wait` did
  fi
  # Podman runs health checks from systemd timers, which a machine without systemd lacks:
  # run them here until every one passes.
  local deadline=$((SECONDS + 300)) pending name
  while :; do
    pending=()
    for name in $(podman ps -a --filter label=com.docker.compose.project=voting --format '{{.Names}}'); do
      podman healthcheck run "$name" >/dev/null 2>&1 || pending+=("$name")
    done
    [ ${#pending[@]} -eq 0 ] && return 0
    [ "$SECONDS" -lt "$deadline" ] || die "not healthy after 5 minutes: ${pending[*]}" \
      "see why: podman logs ${pending[0]}"
    sleep 2
  done
}

deploy() {
  local mode=${VOTING_DEPLOY:-auto}
  find_engine
  if [ -z "$ENGINE" ]; then
    if [ "$mode" = compose ]; then
      die "no container engine answers (docker info / podman info)" \
        "install Docker with its compose plugin, or podman and podman-compose, and try again;" \
        "or deploy as local processes: VOTING_DEPLOY=local ./build.sh"
    fi
    log "no container engine: starting the local cluster (voting cluster up)"
    "$VENV/bin/voting" cluster up "$@"
    return
  fi
  if [ "$mode" = local ]; then
    "$VENV/bin/voting" cluster up "$@"
    return
  fi
  log "deploying with ${COMPOSE[*]}"
  [ -f .env ] || die "no .env: the secrets of the deployment live there" \
    "cp .env.example .env, then set every empty value (e.g. openssl rand -base64 32)"
  local key
  for key in VOTING_SERVER__SECRET VOTING_STORAGE__PASSWORD VOTING_BROKER__REDIS_PASSWORD \
             VOTING_REPL_PASSWORD MYSQL_ROOT_PASSWORD; do
    [ -n "$(env_value "$key")" ] || die "$key is empty in .env" "set it (e.g. openssl rand -base64 32)"
  done
  local port base
  port=$(env_value VOTING_PORT)
  port=${port:-8080}
  if port_in_use "$port" && [ -z "$("${COMPOSE[@]}" ps -q nginx 2>/dev/null)" ]; then
    die "port $port is in use by another program" \
      "stop it, or choose another public port: VOTING_PORT=... in .env"
  fi
  base=$(env_value VOTING_BASE_IMAGE)
  base=${base:-debian:bookworm-slim}
  if ! "$ENGINE" image inspect "$base" >/dev/null 2>&1 && ! "$ENGINE" pull -q "$base" >/dev/null; then
    die "cannot pull the base image $base" \
      "set VOTING_BASE_IMAGE in .env to a Debian bookworm image you have, e.g. one made with" \
      "  mmdebstrap --variant=minbase bookworm rootfs.tar && $ENGINE import rootfs.tar localhost/debian:bookworm"
  fi
  # What the images need from the network is fetched here, on the host (the same mirrors
  # as the test suite), and enters the build context (Dockerfile: VOTING_*=context).
  log "preparing the build context: wheelhouse and the built client (build/docker/)"
  rm -rf build/docker
  mkdir -p build/docker
  "$VENV/bin/pip" wheel -q --wheel-dir build/docker/wheels ".[test]" \
    || die "pip wheel failed: the wheelhouse of the images could not be made" "see pip's message above"
  [ -f client/dist/index.html ] || die "the web client is not built (client/dist)" \
    "install nodejs and npm (>= 20), then run ./build.sh again"
  cp -a client/dist build/docker/client
  export VOTING_WHEELS=context VOTING_CLIENT=context
  log "building the images (the build runs the unit tests) and starting the stack"
  if [ "$ENGINE" = docker ]; then
    "${COMPOSE[@]}" up -d --build --wait \
      || die "docker compose up failed" "see above; docker compose logs shows each service's log"
  else
    # One service per image, the backend (and its test gate) first; podman-compose would
    # go on building the others after a failure.
    local service
    for service in backend1 mysql_master redis nginx; do
      "${COMPOSE[@]}" build "$service" \
        || die "building the images failed (a failing unit test stops it too)" "see the build log above"
    done
    "${COMPOSE[@]}" up -d || die "podman-compose up failed" "see above; podman-compose logs"
  fi
  wait_healthy
  log "up:"
  printf '  web client   http://127.0.0.1:%s/\n' "$port"
  printf '  API          http://127.0.0.1:%s/api/  (OpenAPI: /api/openapi.json)\n' "$port"
  printf '  WebSocket    ws://127.0.0.1:%s/ws\n' "$port"
  printf '  health       http://127.0.0.1:%s/readyz\n' "$port"
  printf '  stop         %s down   (data kept; down -v deletes it)\n' "${COMPOSE[*]}"
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
    deploy "$@"
    ;;
  *)
    echo "usage: ./build.sh [serve [ARGS] | test [PYTEST ARGS] | deploy [CLUSTER UP ARGS]]" >&2
    exit 2
    ;;
esac
