"""docker-compose.yml, Dockerfile, .env.example and docker/: valid, every service built from
the Dockerfile on one Debian base image, and from the same config, SQL and nginx files as
the local cluster (no container engine needed; tests/cluster/test_compose_stack.py runs
the stack)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from voting import config as config_mod
from voting import resources
from voting.cluster import nginx as ngx
from voting.cluster import orchestrator

from tests.cluster.cluster_harness import REPO

COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
SERVICES = {"mysql_master", "mysql_slave1", "mysql_slave2", "redis",
            "backend1", "backend2", "backend3", "nginx"}
BACKENDS = ("backend1", "backend2", "backend3")
MYSQL = ("mysql_master", "mysql_slave1", "mysql_slave2")
TARGETS = {"mysql_master": "mariadb", "mysql_slave1": "mariadb", "mysql_slave2": "mariadb",
           "redis": "redis", "backend1": "backend", "backend2": "backend", "backend3": "backend",
           "nginx": "web"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(compose["services"])


def stages() -> dict[str, str]:
    """Dockerfile stage -> what it is built FROM."""
    text = DOCKERFILE.read_text()
    return {name: base for base, name in re.findall(r"^FROM (\S+) AS ([\w-]+)", text, re.M)}


def stage_text(name: str) -> str:
    text = DOCKERFILE.read_text()
    m = re.search(rf"^FROM \S+ AS {re.escape(name)}\n(.*?)(?=^FROM |\Z)", text, re.M | re.S)
    assert m, name
    return m.group(1)


def check_jsonschema() -> str:
    for candidate in (Path(sys.executable).parent / "check-jsonschema", shutil.which("check-jsonschema")):
        if candidate and os.path.isfile(candidate):
            return str(candidate)
    pytest.fail("check-jsonschema is not installed (it is in the package's test extra)")
    raise AssertionError


def test_compose_file_is_valid_against_the_compose_spec() -> None:
    res = subprocess.run([check_jsonschema(), "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr


def test_services_healthchecks_and_start_order(compose: dict[str, Any]) -> None:
    svc = services(compose)
    assert set(svc) == SERVICES
    for name, s in svc.items():
        test = s["healthcheck"]["test"]
        assert test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, name
        for dep, cond in (s.get("depends_on") or {}).items():
            assert cond["condition"] == "service_healthy", (name, dep)
    for name in BACKENDS:
        assert set(svc[name]["depends_on"]) == {"mysql_master", "mysql_slave1", "mysql_slave2", "redis"}
    assert set(svc["nginx"]["depends_on"]) == set(BACKENDS)
    for name in ("mysql_slave1", "mysql_slave2"):
        assert set(svc[name]["depends_on"]) == {"mysql_master"}
    assert [name for name, s in svc.items() if s.get("ports")] == ["nginx"]


def test_every_service_is_built_from_the_dockerfile_on_one_debian_base(compose: dict[str, Any]) -> None:
    svc = services(compose)
    for name, s in svc.items():
        build = s["build"]
        assert build["context"] == "." and build["dockerfile"] == "Dockerfile", name
        assert build["target"] == TARGETS[name], name
        assert build["args"]["VOTING_BASE_IMAGE"] == "${VOTING_BASE_IMAGE:-debian:bookworm-slim}", name
        assert s["image"].split(":")[0] == f"voting-{TARGETS[name]}", name
    text = DOCKERFILE.read_text()
    assert re.search(r"^ARG VOTING_BASE_IMAGE=debian:bookworm-slim$", text, re.M)
    assert len(re.findall(r"^FROM \$\{VOTING_BASE_IMAGE\}", text, re.M)) == 1
    chain = stages()
    for target in set(TARGETS.values()):
        stage = target
        while stage in chain and stage != "debian":
            stage = chain[stage]
        assert stage == "debian", f"{target} is not built on the base image"
    # Debian's packages: MariaDB (10.11 in bookworm), Redis, nginx, Python.
    assert "mariadb-server" in stage_text("mariadb")
    assert "redis-server" in stage_text("redis")
    assert re.search(r"\bnginx\b", stage_text("web"))
    assert "python3" in stage_text("python")
    # The backend is the wheel, installed from the wheelhouse only.
    assert re.search(r"pip install --no-index --find-links /wheels voting\b", stage_text("backend"))


def test_wheels_and_client_come_from_the_build_or_the_context() -> None:
    """Build arguments choose: built in the image (users) or prepared on the host (tests)."""
    text = DOCKERFILE.read_text()
    chain = stages()
    assert re.search(r"^ARG VOTING_WHEELS=build$", text, re.M)
    assert re.search(r"^ARG VOTING_CLIENT=build$", text, re.M)
    assert chain["wheels"] == "wheels-${VOTING_WHEELS}" and chain["client"] == "client-${VOTING_CLIENT}"
    assert {"wheels-build", "wheels-context", "client-build", "client-context"} <= set(chain)
    assert "pip wheel" in stage_text("wheels-build")
    assert "npm ci" in stage_text("client-build") and "npm run build" in stage_text("client-build")
    assert "COPY build/docker/wheels/" in stage_text("wheels-context")
    assert "COPY build/docker/client/" in stage_text("client-context")
    dockerignore = (REPO / ".dockerignore").read_text().split()
    assert "build/*" in dockerignore and "!build/docker/" in dockerignore


def test_mariadb_nodes_gtid_durable_primary_read_only_replicas(compose: dict[str, Any]) -> None:
    svc = services(compose)
    ids = set()
    for name in MYSQL:
        env = svc[name]["environment"]
        assert env["VOTING_DB_ROLE"] == ("primary" if name == "mysql_master" else "replica")
        ids.add(env["VOTING_SERVER_ID"])
        assert svc[name]["healthcheck"]["test"][-1] == env["VOTING_DB_ROLE"]
    assert len(ids) == 3
    entry = (REPO / "docker" / "mysql" / "entrypoint.sh").read_text()
    for flag in ("--log-bin=", "--gtid-strict-mode=1", "--log-slave-updates", "--server-id="):
        assert flag in entry, flag
    primary = re.search(r"^\s*primary\) args\+=\((.*?)\) ;;", entry, re.M)
    assert primary and primary.group(1).split() == ["--innodb-flush-log-at-trx-commit=1", "--sync-binlog=1"]
    assert re.search(r"^\s*replica\) args\+=\(--read-only=1", entry, re.M)
    replica = (REPO / "docker" / "mysql" / "90-replica.sh").read_text()
    assert "CHANGE MASTER TO" in replica and "MASTER_USE_GTID=slave_pos" in replica
    health = (REPO / "docker" / "mysql" / "healthcheck.sh").read_text()
    code = "\n".join(line for line in health.splitlines() if not line.lstrip().startswith("#"))
    assert "@@GLOBAL.read_only" in code and "SELECT 1" in code
    assert "sync_binlog" in code and "innodb_flush_log_at_trx_commit" in code
    assert "admin" not in code  # mariadb-admin ping passes on "access denied"


def test_same_files_as_the_local_cluster(compose: dict[str, Any]) -> None:
    assert orchestrator.SCHEMA == resources.schema("mysql")
    assert orchestrator.CLUSTER_CONFIG == resources.config("cluster")
    assert ngx.TEMPLATE == resources.nginx_template()
    rel = {p: str(p.relative_to(REPO)) for p in (resources.schema("mysql"), resources.config("compose"),
                                                  resources.nginx_template())}
    assert f"COPY {rel[resources.schema('mysql')]} /opt/voting-mysql/schema.sql" in stage_text("mariadb")
    assert f"COPY {rel[resources.nginx_template()]} /etc/voting/nginx.conf.template" in stage_text("web")
    assert f"COPY {rel[resources.config('compose')]} /etc/voting/compose.yml" in stage_text("backend")
    for name in BACKENDS:
        cmd = services(compose)[name]["command"]
        assert cmd[0] == "serve" and cmd[cmd.index("--name") + 1] == name
        assert cmd[cmd.index("--config") + 1] == "/etc/voting/compose.yml"


def test_configs_load_and_agree_with_compose(compose: dict[str, Any]) -> None:
    env = {"VOTING_SERVER__SECRET": "s" * 32}
    local = config_mod.load(resources.config("cluster"), environ=env)
    assert local.server.mode == "cluster"
    assert local.storage.backend == "mysql" and local.broker.backend == "redis"
    comp = config_mod.load(resources.config("compose"), environ=env)
    assert comp.server.mode == "compose"
    assert comp.storage.host == "mysql_master"
    assert [(r.host, r.port) for r in comp.storage.replicas] == [("mysql_slave1", 3306), ("mysql_slave2", 3306)]
    assert comp.broker.redis_url.startswith("redis://redis:6379/")
    assert comp.server.port == 8000
    nginx_ip = services(compose)["nginx"]["networks"]["voting"]["ipv4_address"]
    trusted = comp.server.trusted_proxies[0]
    assert nginx_ip.endswith(":-" + str(getattr(trusted, "network_address", trusted)) + "}")
    assert comp.storage.user == local.storage.user == "voting"
    assert comp.storage.database == local.storage.database == "voting"
    mysql_env = services(compose)["mysql_master"]["environment"]
    assert mysql_env["MYSQL_DATABASE"] == comp.storage.database
    assert mysql_env["VOTING_DB_USER"] == comp.storage.user


def test_nginx_environment_fills_every_placeholder(compose: dict[str, Any]) -> None:
    env = services(compose)["nginx"]["environment"]
    template = ngx.TEMPLATE.read_text()
    assert ngx.placeholders(template) == set(ngx.VARIABLES)
    assert {k for k in env if k.startswith("VOTING_")} == set(ngx.VARIABLES)
    rendered = ngx.render(template, {k: str(v) for k, v in env.items()})
    for name in BACKENDS:
        assert f"server {name}:8000 " in rendered
    assert "listen 8080;" in rendered
    assert "$remote_addr" in rendered and "${" not in rendered.replace("${VOTING_*}", "")
    entry = (REPO / "docker" / "nginx" / "entrypoint.sh").read_text()
    assert "envsubst" in entry and "/etc/voting/nginx.conf.template" in entry


def interpolated(text: str) -> set[str]:
    return set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)(?::?[-?][^}]*)?\}", text))


def test_secrets_come_from_dotenv_only(compose: dict[str, Any]) -> None:
    text = COMPOSE_FILE.read_text()
    example = (REPO / ".env.example").read_text()
    example_keys = {line.split("=", 1)[0] for line in example.splitlines()
                    if line and not line.startswith("#")}
    assert interpolated(text) <= example_keys
    for key in example_keys:
        if re.search("SECRET|PASSWORD", key):
            assert re.search(rf"^{key}=$", example, re.M), f"{key} must be empty in .env.example"
    for name, s in services(compose).items():
        for key, value in (s.get("environment") or {}).items():
            if re.search("SECRET|PASSWORD", key):
                assert str(value).startswith("${") and ":?" in str(value), (name, key)
    assert ".env" in (REPO / ".gitignore").read_text().split()
    dockerignore = (REPO / ".dockerignore").read_text().split()
    assert ".env" in dockerignore and "!.env.example" in dockerignore


def test_dockerfile_runs_the_unit_tests_during_the_build() -> None:
    text = DOCKERFILE.read_text()
    test = stage_text("test").replace("\\\n", " ")  # continuation lines joined
    # The checkout marker: tests of what only the checkout has (docs/, the bench extra).
    assert ('RUN python -m pytest -q -p no:cacheprovider '
            '-m "not integration and not browser and not cluster and not checkout"') in test
    assert 'pip install --no-index --find-links /wheels "voting[test]"' in test
    # Every shipped image depends on the test stage, so no builder can skip it.
    for target in set(TARGETS.values()):
        assert "COPY --from=test /tests-passed" in stage_text(target), target
    # The test stage has every file the unit tests read.
    for needed in ("voting/", "docker/", "client/", "tests/", "docker-compose.yml", ".dockerignore",
                   ".env.example", ".gitignore", "Dockerfile", "setup.cfg"):
        assert re.search(rf"^COPY .*{re.escape(needed)}", test, re.M), needed
    dockerignore = (REPO / ".dockerignore").read_text().split()
    for excluded in (".venv/", "client/node_modules/", ".git/", ".run/"):
        assert excluded in dockerignore
    assert text.startswith("# syntax=docker/dockerfile:1")


@pytest.mark.parametrize("script", sorted((REPO / "docker").rglob("*.sh")), ids=lambda p: p.name)
def test_shell_scripts_parse(script: Path) -> None:
    shell = "sh" if script.read_text().startswith("#!/bin/sh") else "bash"
    res = subprocess.run([shell, "-n", str(script)], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
