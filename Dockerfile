# syntax=docker/dockerfile:1
# voting: test-gated images for the Docker Compose deployment (docker-compose.yml).
#
#   client   builds the web client (npm ci && npm run build)
#   base     the Python package and its runtime dependencies in /opt/venv
#   test     + the test extra; RUNS THE UNIT TEST SUITE: a failing test fails the
#            build, and so the deployment
#   web      nginx with the built client and nginx/nginx.conf.template (target of
#            the nginx service)
#   runtime  the backend image (the default target; backends and `db init`)
#
# Both final stages copy a file out of `test`, so BuildKit cannot skip the tests.

ARG NODE_IMAGE=node:22-bookworm-slim
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG NGINX_IMAGE=nginx:1.27

FROM ${NODE_IMAGE} AS client
WORKDIR /src/client
COPY client/package.json client/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY client/ ./
RUN npm run build

FROM ${PYTHON_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /app
COPY setup.cfg setup.py pyproject.toml README.md ./
COPY voting/ voting/
RUN pip install .

FROM base AS test
RUN pip install ".[test]"
COPY config/ config/
COPY sql/ sql/
COPY nginx/ nginx/
COPY docker/ docker/
COPY tests/ tests/
COPY docker-compose.yml Dockerfile .dockerignore .env.example .gitignore ./
COPY --from=client /src/client/dist client/dist
RUN python -m pytest -q -p no:cacheprovider -m "not integration and not browser and not cluster" \
 && touch /tests-passed

FROM ${NGINX_IMAGE} AS web
COPY --from=test /tests-passed /opt/voting-tests-passed
COPY --from=client /src/client/dist /usr/share/nginx/voting
# docker-compose.yml also mounts this file, so edits apply without a rebuild.
COPY nginx/nginx.conf.template /etc/nginx/templates/nginx.conf.template
ENV NGINX_ENVSUBST_OUTPUT_DIR=/etc/nginx \
    NGINX_ENVSUBST_FILTER=^VOTING_

FROM base AS runtime
COPY --from=test /tests-passed /opt/voting-tests-passed
COPY config/ config/
COPY sql/ sql/
COPY --from=client /src/client/dist client/dist
COPY --chmod=0755 docker/entrypoint.sh /usr/local/bin/voting-entrypoint
RUN useradd --system --uid 10001 --home-dir /var/lib/voting --shell /usr/sbin/nologin voting \
 && mkdir -p /var/lib/voting \
 && chown voting:voting /var/lib/voting
USER voting
EXPOSE 8000
ENTRYPOINT ["voting-entrypoint"]
CMD ["serve", "--config", "config/compose.yml", "--host", "0.0.0.0", "--port", "8000"]
