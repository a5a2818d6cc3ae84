"""docker-compose.yml, Dockerfile, .env.example and docker/: valid, and built from the
same config, SQL and nginx files as the local cluster (no Docker engine needed)."""
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
from voting.cluster import nginx as ngx
from voting.cluster import orchestrator

from tests.cluster.cluster_harness import REPO

COMPOSE_FILE = REPO / "docker-compose.yml"
SERVICES = {"mysql_master", "mysql_slave1", "mysql_slave2", "redis", "migrate",
            "backend1", "backend2", "backend3", "nginx"}
BACKENDS = ("backend1", "backend2", "backend3")
MYSQL = ("mysql_master", "mysql_slave1", "mysql_slave2")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(compose["services"])


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
        if name == "migrate":  # one-shot; the backends wait for it to complete
            assert s["restart"] == "no"
            continue
        test = s["healthcheck"]["test"]
        assert test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, name
        for dep, cond in (s.get("depends_on") or {}).items():
            want = "service_completed_successfully" if dep == "migrate" else "service_healthy"
            assert cond["condition"] == want, (name, dep)
    for name in BACKENDS:
        deps = svc[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully"
        assert {"mysql_master", "mysql_slave1", "mysql_slave2", "redis"} <= set(deps)
    assert set(svc["nginx"]["depends_on"]) == set(BACKENDS)
    for name in ("mysql_slave1", "mysql_slave2"):
        assert set(svc[name]["depends_on"]) == {"mysql_master"}
    assert [name for name, s in svc.items() if s.get("ports")] == ["nginx"]


def test_mysql_nodes_use_gtid_and_replicas_are_read_only(compose: dict[str, Any]) -> None:
    svc = services(compose)
    ids = set()
    for name in MYSQL:
        s = svc[name]
        assert s["image"].startswith("mysql:8.4")
        cmd = s["command"]
        assert "--gtid-mode=ON" in cmd and "--enforce-gtid-consistency=ON" in cmd
        ids.add(next(a for a in cmd if a.startswith("--server-id=")))
        assert s["healthcheck"]["test"][-1] == ("primary" if name == "mysql_master" else "replica")
        if name != "mysql_master":
            assert "--read-only=ON" in cmd
    assert len(ids) == 3
    replica = (REPO / "docker" / "mysql" / "90-replica.sh").read_text()
    assert "CHANGE REPLICATION SOURCE TO" in replica and "SOURCE_AUTO_POSITION=1" in replica
    assert "super_read_only = ON" in replica
    health = (REPO / "docker" / "mysql" / "healthcheck.sh").read_text()
    code = "\n".join(line for line in health.splitlines() if not line.lstrip().startswith("#"))
    assert "super_read_only" in code and "SELECT 1" in code and "mysqladmin" not in code


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """host path (relative to the repo) -> container path, for bind mounts."""
    out = {}
    for v in service.get("volumes", []):
        src, dst = v.split(":")[:2]
        if src.startswith("./"):
            out[src[2:]] = dst
    return out


def test_same_files_as_the_local_cluster(compose: dict[str, Any]) -> None:
    svc = services(compose)
    schema = str(orchestrator.SCHEMA)
    template = str(ngx.TEMPLATE)
    assert (REPO / schema).is_file() and (REPO / template).is_file()
    for name in MYSQL:
        m = mounts(svc[name])
        assert m[schema].startswith("/docker-entrypoint-initdb.d/"), name
        assert m["docker/mysql/20-accounts.sh"].startswith("/docker-entrypoint-initdb.d/")
        role_script = "90-primary.sh" if name == "mysql_master" else "90-replica.sh"
        assert m[f"docker/mysql/{role_script}"].startswith("/docker-entrypoint-initdb.d/")
        assert m["docker/mysql"] == "/opt/voting-mysql"
    assert mounts(svc["nginx"])[template] == "/etc/nginx/templates/nginx.conf.template"
    dockerfile = (REPO / "Dockerfile").read_text()
    assert f"COPY {template} /etc/nginx/templates/nginx.conf.template" in dockerfile
    # The backends (and db init) run with config/compose.yml, the local cluster with config/cluster.yml.
    for name in (*BACKENDS, "migrate"):
        cmd = svc[name]["command"]
        assert cmd[cmd.index("--config") + 1] == "config/compose.yml"
        assert svc[name]["build"]["target"] == "runtime"
    for name in BACKENDS:
        cmd = svc[name]["command"]
        assert cmd[0] == "serve" and cmd[cmd.index("--name") + 1] == name
    assert str(orchestrator.CLUSTER_CONFIG) == "config/cluster.yml"


def test_configs_load_and_agree_with_compose(compose: dict[str, Any]) -> None:
    env = {"VOTING_SERVER__SECRET": "s" * 32}
    local = config_mod.load(REPO / "config" / "cluster.yml", environ=env)
    assert local["server"]["mode"] == "cluster"
    assert local["storage"]["backend"] == "mysql" and local["broker"]["backend"] == "redis"
    comp = config_mod.load(REPO / "config" / "compose.yml", environ=env)
    assert comp["server"]["mode"] == "compose"
    assert comp["storage"]["host"] == "mysql_master"
    assert config_mod.replica_addresses(comp) == [("mysql_slave1", 3306), ("mysql_slave2", 3306)]
    assert comp["broker"]["redis_url"].startswith("redis://redis:6379/")
    assert comp["server"]["port"] == 8000
    nginx_ip = services(compose)["nginx"]["networks"]["voting"]["ipv4_address"]
    assert nginx_ip.endswith(":-" + comp["server"]["trusted_proxies"][0] + "}")
    for key in ("user", "database"):
        assert comp["storage"][key] == local["storage"][key] == "voting"
    mysql_env = services(compose)["mysql_master"]["environment"]
    assert mysql_env["MYSQL_DATABASE"] == comp["storage"]["database"]
    assert mysql_env["VOTING_DB_USER"] == comp["storage"]["user"]


def test_nginx_environment_fills_every_placeholder(compose: dict[str, Any]) -> None:
    env = services(compose)["nginx"]["environment"]
    template = (REPO / ngx.TEMPLATE).read_text()
    assert ngx.placeholders(template) == set(ngx.VARIABLES)
    assert {k for k in env if k.startswith("VOTING_")} == set(ngx.VARIABLES)
    assert env["NGINX_ENVSUBST_FILTER"] == "^VOTING_"
    assert env["NGINX_ENVSUBST_OUTPUT_DIR"] == "/etc/nginx"
    rendered = ngx.render(template, {k: str(v) for k, v in env.items()})
    for name in BACKENDS:
        assert f"server {name}:8000 " in rendered
    assert "listen 8080;" in rendered
    assert "$remote_addr" in rendered and "${" not in rendered.replace("${VOTING_*}", "")


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
    text = (REPO / "Dockerfile").read_text()
    stages = re.findall(r"^FROM \S+ AS (\w+)", text, re.M)
    assert stages == ["client", "base", "test", "web", "runtime"]
    assert "npm ci" in text and "npm run build" in text
    assert 'RUN python -m pytest -q -p no:cacheprovider -m "not integration and not browser and not cluster"' in text
    assert 'pip install ".[test]"' in text
    # Both shipped images depend on the test stage, so BuildKit cannot skip it.
    assert text.count("COPY --from=test /tests-passed") == 2
    # The test stage has every file the unit tests read.
    for needed in ("config/", "sql/", "nginx/", "docker/", "tests/", "docker-compose.yml",
                   ".dockerignore", ".env.example", ".gitignore", "Dockerfile"):
        assert re.search(rf"^COPY .*{re.escape(needed)}", text, re.M), needed
    dockerignore = (REPO / ".dockerignore").read_text().split()
    for excluded in (".venv/", "client/node_modules/", ".git/", ".run/"):
        assert excluded in dockerignore


@pytest.mark.parametrize("script", sorted((REPO / "docker").rglob("*.sh")), ids=lambda p: p.name)
def test_shell_scripts_parse(script: Path) -> None:
    res = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
