"""nginx for the local cluster, rendered from voting/nginx/nginx.conf.template.

The same template is rendered by the official nginx image's envsubst step in
Docker Compose; :func:`render` does the same substitution (only ``${VOTING_*}``
names, nginx's own ``$variables`` untouched) and refuses to leave one unset.
"""
from __future__ import annotations

import grp
import os
import pwd
import re
import resource
import shutil
from pathlib import Path
from typing import Mapping, Sequence

from .. import resources
from .proc import ClusterError, run

TEMPLATE = resources.nginx_template()  # package data; the Compose nginx image uses it too
PLACEHOLDER = re.compile(r"\$\{(VOTING_[A-Z0-9_]+)\}")

# Every placeholder the template uses; the compose file must set all of them.
VARIABLES = (
    "VOTING_LISTEN",
    "VOTING_UPSTREAM_SERVERS",
    "VOTING_STATIC_ROOT",
    "VOTING_NGINX_RUN_DIR",
    "VOTING_NGINX_ERROR_LOG",
    "VOTING_NGINX_ACCESS_LOG",
    "VOTING_NGINX_WORKERS",
    "VOTING_NGINX_NOFILE",
)

NOFILE = 65536


def nofile_limit() -> int:
    """worker_rlimit_nofile: NOFILE, or this machine's hard limit where that is lower."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return NOFILE if hard == resource.RLIM_INFINITY else min(NOFILE, hard)


def template_path(repo: Path) -> Path:
    return TEMPLATE


def placeholders(template: str) -> set[str]:
    return set(PLACEHOLDER.findall(template))


def render(template: str, values: Mapping[str, str]) -> str:
    """Substitute ${VOTING_*} placeholders like envsubst; every one must have a value."""
    missing = sorted(placeholders(template) - set(values))
    if missing:
        raise ClusterError(f"nginx template: no value for {', '.join(missing)}")
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def upstream_servers(addresses: Sequence[tuple[str, int]], fail_timeout: str = "5s") -> str:
    """The VOTING_UPSTREAM_SERVERS value: one `server` directive per backend."""
    if not addresses:
        raise ClusterError("nginx: at least one backend is needed")
    return " ".join(f"server {host}:{port} max_fails=1 fail_timeout={fail_timeout};"
                    for host, port in addresses)


def local_values(run_dir: Path, log_dir: Path, listen: str, backends: Sequence[tuple[str, int]],
                 static_root: Path, workers: str = "2") -> dict[str, str]:
    return {
        "VOTING_LISTEN": listen,
        "VOTING_UPSTREAM_SERVERS": upstream_servers(backends),
        "VOTING_STATIC_ROOT": str(static_root),
        "VOTING_NGINX_RUN_DIR": str(run_dir),
        "VOTING_NGINX_ERROR_LOG": str(log_dir / "nginx-error.log"),
        "VOTING_NGINX_ACCESS_LOG": str(log_dir / "nginx-access.log"),
        "VOTING_NGINX_WORKERS": workers,
        "VOTING_NGINX_NOFILE": str(nofile_limit()),
    }


def nginx_binary() -> str:
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx", "/usr/local/sbin/nginx",
                      "/usr/local/nginx/sbin/nginx"):
        if candidate and Path(candidate).is_file():
            return candidate
    raise ClusterError("nginx is not installed (apt-get install nginx)")


def write_config(repo: Path, run_dir: Path, values: Mapping[str, str]) -> Path:
    """Render the template into run_dir/nginx.conf; returns its path."""
    run_dir.mkdir(parents=True, exist_ok=True)
    run_dir.chmod(0o755)
    text = render(template_path(repo).read_text(encoding="utf-8"), values)
    conf = run_dir / "nginx.conf"
    tmp = run_dir / "nginx.conf.new"
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(conf)
    return conf


def global_directives() -> str:
    """`-g` directives: in the foreground; started as root, workers keep the
    cluster owner's identity so they can read the client files and the state
    directory (which may be private to that user) instead of falling back to nobody."""
    directives = "daemon off;"
    if os.geteuid() == 0:
        user = pwd.getpwuid(os.geteuid()).pw_name
        group = grp.getgrgid(os.getegid()).gr_name
        directives += f" user {user} {group};"
    return directives


def argv(run_dir: Path, conf: Path, log_dir: Path) -> list[str]:
    return [nginx_binary(), "-p", str(run_dir), "-c", str(conf),
            "-e", str(log_dir / "nginx-error.log"), "-g", global_directives()]


def check_config(run_dir: Path, conf: Path, log_dir: Path) -> None:
    """nginx -t on the rendered file; raises with nginx's message."""
    run(argv(run_dir, conf, log_dir) + ["-t", "-q"], "nginx -t", timeout=30)
