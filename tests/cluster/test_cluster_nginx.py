"""nginx/nginx.conf.template: one template, rendered by Python (local cluster) and by
the nginx image's envsubst (Compose) to the same text; nginx accepts both."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from voting.cluster import ClusterError
from voting.cluster import nginx as ngx

from tests.cluster.cluster_harness import REPO, require_binaries

TEMPLATE = (REPO / ngx.TEMPLATE).read_text(encoding="utf-8")


def compose_nginx_env() -> dict[str, str]:
    data: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return {k: str(v) for k, v in data["services"]["nginx"]["environment"].items()}


def local_values(tmp_path: Path) -> dict[str, str]:
    return ngx.local_values(tmp_path / "run", tmp_path / "logs", "127.0.0.1:18080",
                            [("127.0.0.1", 18001), ("127.0.0.1", 18002)], REPO / "client" / "dist")


def test_render_substitutes_only_voting_placeholders(tmp_path: Path) -> None:
    out = ngx.render(TEMPLATE, local_values(tmp_path))
    assert ngx.PLACEHOLDER.search(out) is None
    for nginx_var in ("$remote_addr", "$http_upgrade", "$connection_upgrade", "$uri", "$http_host"):
        assert nginx_var in out
    assert "server 127.0.0.1:18001 max_fails=1 fail_timeout=5s; server 127.0.0.1:18002" in out
    assert f"pid {tmp_path / 'run'}/nginx.pid;" in out
    for temp in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        assert re.search(rf"{temp}_temp_path\s+{re.escape(str(tmp_path / 'run'))}/{temp}_temp;", out), temp


def test_render_refuses_a_missing_value(tmp_path: Path) -> None:
    values = local_values(tmp_path)
    del values["VOTING_STATIC_ROOT"]
    with pytest.raises(ClusterError, match="VOTING_STATIC_ROOT"):
        ngx.render(TEMPLATE, values)
    with pytest.raises(ClusterError):
        ngx.upstream_servers([])


def test_template_content() -> None:
    t = TEMPLATE
    assert "daemon" not in t.replace("# There is no `daemon`", "").replace("-g 'daemon off;'", "")
    # Upstream connections are kept open for reuse (a pool, its size the capacity tuning's).
    pool = re.search(r"^\s*keepalive (\d+);", t, re.M)
    assert pool and int(pool.group(1)) >= 32, pool
    assert "least_conn;" in t
    ws = t[t.index("location = /ws"):]
    ws = ws[:ws.index("}")]
    assert "proxy_read_timeout 3600s;" in ws and "proxy_send_timeout 3600s;" in ws
    assert "proxy_next_upstream error timeout http_502 http_503;" in t
    assert "non_idempotent" not in t.replace("proxy_next_upstream non_idempotent is off", "")
    # The proxied requests' headers are set once, in the server block: a location that set
    # any of its own would inherit none of them (nginx's rule for proxy_set_header).
    levels = re.findall(r"^( *)proxy_set_header ", t, re.M)
    assert levels and set(levels) == {" " * 8}, levels
    for line in ("Host $http_host", "X-Real-IP $remote_addr", "X-Forwarded-For $remote_addr",
                 "X-Forwarded-Proto $scheme", "Upgrade $http_upgrade",
                 "Connection $connection_upgrade", 'User-Agent ""', 'Sec-Fetch-Mode ""'):
        assert f"proxy_set_header {line};" in t, line
    assert "client_max_body_size 1m;" in t and "error_page 413 = @payload_too_large;" in t
    # Slow clients are cut off here, and bodies reach the backends whole (their own body
    # timeout is off behind nginx).
    assert "client_header_timeout 10s;" in t and "client_body_timeout 30s;" in t
    assert "proxy_request_buffering on;" in t and "proxy_request_buffering off" not in t
    assert '"code":"payload_too_large"' in t
    assert "try_files /index.html @backend;" in t  # only for the client's routes
    assert "error_page 405 = @method_not_allowed;" in t
    for path in ("location / {", "location = /ws"):
        assert path in t


@pytest.mark.integration
def test_envsubst_renders_the_compose_environment_like_python() -> None:
    """What the official image's 20-envsubst-on-templates.sh does, with our filter."""
    require_binaries("envsubst")
    env = compose_nginx_env()
    names = [k for k in env if k.startswith("VOTING_")]
    shell_format = " ".join(f"${{{k}}}" for k in names)
    res = subprocess.run(["envsubst", shell_format], input=TEMPLATE, capture_output=True, text=True,
                         env={**{k: env[k] for k in names}, "PATH": os.environ.get("PATH", "")},
                         timeout=30, check=True)
    assert res.stdout == ngx.render(TEMPLATE, env)


@pytest.mark.integration
def test_nginx_accepts_the_local_rendering(tmp_path: Path) -> None:
    require_binaries("nginx")
    (tmp_path / "logs").mkdir()
    conf = ngx.write_config(REPO, tmp_path / "run", local_values(tmp_path))
    ngx.check_config(tmp_path / "run", conf, tmp_path / "logs")


@pytest.mark.integration
def test_nginx_accepts_the_compose_rendering(tmp_path: Path) -> None:
    """The compose values, with the container-only names and paths mapped to local ones
    (nginx resolves upstream names at load; /var/cache/nginx may not exist here)."""
    require_binaries("nginx")
    env = compose_nginx_env()
    for i in (1, 2, 3):
        env["VOTING_UPSTREAM_SERVERS"] = env["VOTING_UPSTREAM_SERVERS"].replace(
            f"backend{i}:8000", f"127.0.0.1:{18000 + i}")
    env["VOTING_NGINX_RUN_DIR"] = str(tmp_path / "run")
    env["VOTING_STATIC_ROOT"] = str(tmp_path / "dist")
    (tmp_path / "logs").mkdir()
    conf = ngx.write_config(REPO, tmp_path / "run", env)
    text = conf.read_text()
    assert "error_log /dev/stderr warn;" in text and "access_log /dev/stdout voting;" in text
    assert "worker_processes auto;" in text and "listen 8080;" in text
    ngx.check_config(tmp_path / "run", conf, tmp_path / "logs")


def test_nginx_binary_lookup_error_is_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(Path, "is_file", lambda self: False)
    with pytest.raises(ClusterError, match="nginx is not installed"):
        ngx.nginx_binary()


@pytest.mark.integration
def test_open_files_limit_stays_within_the_hard_limit(tmp_path: Path) -> None:
    """worker_rlimit_nofile above the hard limit makes nginx log an alert (setrlimit EPERM)
    at every start; the local rendering caps it, and so does the image's entrypoint."""
    import resource
    require_binaries("nginx")
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    values = local_values(tmp_path)
    nofile = int(values["VOTING_NGINX_NOFILE"])
    assert nofile <= ngx.NOFILE and (hard == resource.RLIM_INFINITY or nofile <= hard)
    assert nofile == ngx.NOFILE or nofile == hard
    (tmp_path / "logs").mkdir()
    conf = ngx.write_config(REPO, tmp_path / "run", values)
    assert f"worker_rlimit_nofile {nofile};" in conf.read_text()
    ngx.check_config(tmp_path / "run", conf, tmp_path / "logs")
    entrypoint = (REPO / "docker" / "nginx" / "entrypoint.sh").read_text()
    assert 'ulimit -Hn' in entrypoint and 'export VOTING_NGINX_NOFILE="$hard"' in entrypoint
