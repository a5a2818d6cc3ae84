# syntax=docker/dockerfile:1
# voting: every image of the Compose deployment (docker-compose.yml), all on one
# Debian base image (VOTING_BASE_IMAGE, default debian:bookworm-slim) with Debian's
# packages: MariaDB 10.11, Redis, nginx, Python 3.11.
#
#   wheels    the voting wheel and every wheel it (and its test extra) needs
#   client    the built web client
#   test      installs the wheel with its test extra and RUNS THE UNIT TEST SUITE:
#             a failing test fails the build, and so the deployment
#   backend   the voting wheel in /opt/venv (backend1-3)
#   mariadb   MariaDB primary or replica (docker/mysql/entrypoint.sh)
#   redis     Redis (pub/sub relay of live tallies)
#   web       nginx with the built client and voting/nginx/nginx.conf.template
#
# Every shipped image copies a file out of `test`, so no builder can skip the tests.
#
# Where the wheels and the client come from (build arguments):
#   VOTING_WHEELS=build    (default) `pip wheel` here, from PyPI
#   VOTING_WHEELS=context  build/docker/wheels/ of the build context, made on the host
#                          with `pip wheel` (./build.sh does so, as do the tests)
#   VOTING_CLIENT=build    (default) `npm ci && npm run build` here, on NODE_IMAGE
#   VOTING_CLIENT=context  build/docker/client/, the client built on the host
# The context variants serve machines whose package mirrors only the host reaches.

ARG VOTING_BASE_IMAGE=debian:bookworm-slim
ARG NODE_IMAGE=node:22-bookworm-slim
ARG VOTING_WHEELS=build
ARG VOTING_CLIENT=build

FROM ${VOTING_BASE_IMAGE} AS debian
ENV DEBIAN_FRONTEND=noninteractive \
    LANG=C.UTF-8
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# -- Python ------------------------------------------------------------------
FROM debian AS python
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

FROM python AS wheels-build
WORKDIR /src
COPY setup.cfg setup.py pyproject.toml README.md ./
COPY voting/ voting/
RUN pip wheel --wheel-dir /wheels ".[test]"

FROM scratch AS wheels-context
COPY build/docker/wheels/ /wheels/

FROM wheels-${VOTING_WHEELS} AS wheels

# -- web client ----------------------------------------------------------------
FROM ${NODE_IMAGE} AS client-build
WORKDIR /src/client
COPY client/package.json client/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY client/ ./
RUN npm run build && mv dist /dist

FROM scratch AS client-context
COPY build/docker/client/ /dist/

FROM client-${VOTING_CLIENT} AS client

# -- the test gate ---------------------------------------------------------------
FROM python AS test
COPY --from=wheels /wheels /wheels
RUN pip install --no-index --find-links /wheels "voting[test]"
WORKDIR /src
# Every file the unit tests read.
COPY setup.cfg setup.py pyproject.toml README.md docker-compose.yml Dockerfile .dockerignore \
     .env.example .gitignore build.sh ./
COPY voting/ voting/
COPY docker/ docker/
COPY client/ client/
COPY tests/ tests/
RUN python -m pytest -q -p no:cacheprovider -m "not integration and not browser and not cluster and not checkout" \
 && touch /tests-passed

# -- backend1..3 -------------------------------------------------------------------
FROM python AS backend
COPY --from=test /tests-passed /opt/voting-tests-passed
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels voting \
 && useradd --system --uid 10001 --home-dir /var/lib/voting --shell /usr/sbin/nologin voting \
 && install -d -o voting -g voting -m 0700 /var/lib/voting
COPY voting/configs/compose.yml /etc/voting/compose.yml
COPY --chmod=0755 docker/entrypoint.sh /usr/local/bin/voting-entrypoint
USER voting
WORKDIR /var/lib/voting
EXPOSE 8000
ENTRYPOINT ["voting-entrypoint"]
CMD ["serve", "--config", "/etc/voting/compose.yml", "--host", "0.0.0.0", "--port", "8000"]

# -- MariaDB primary and replicas ----------------------------------------------------
FROM debian AS mariadb
COPY --from=test /tests-passed /opt/voting-tests-passed
RUN apt-get update \
 && apt-get install -y --no-install-recommends mariadb-server mariadb-client \
 && rm -rf /var/lib/apt/lists/* /var/lib/mysql \
 && install -d -o mysql -g mysql -m 0700 /var/lib/mysql \
 && install -d -o mysql -g mysql -m 0755 /run/mysqld
COPY docker/mysql/ /opt/voting-mysql/
COPY voting/sql/mysql/schema.sql /opt/voting-mysql/schema.sql
VOLUME /var/lib/mysql
EXPOSE 3306
ENTRYPOINT ["bash", "/opt/voting-mysql/entrypoint.sh"]

# -- Redis -------------------------------------------------------------------------
FROM debian AS redis
COPY --from=test /tests-passed /opt/voting-tests-passed
RUN apt-get update \
 && apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/*
USER redis
EXPOSE 6379
CMD ["redis-server", "--save", "", "--appendonly", "no"]

# -- nginx and the web client --------------------------------------------------------
FROM debian AS web
COPY --from=test /tests-passed /opt/voting-tests-passed
RUN apt-get update \
 && apt-get install -y --no-install-recommends nginx-light gettext-base curl \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o www-data -g www-data /var/cache/voting-nginx
COPY --from=client /dist /usr/share/voting/client
COPY voting/nginx/nginx.conf.template /etc/voting/nginx.conf.template
COPY --chmod=0755 docker/nginx/entrypoint.sh /usr/local/bin/voting-nginx
USER www-data
EXPOSE 8080
ENTRYPOINT ["voting-nginx"]
