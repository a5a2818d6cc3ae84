"""Redis for the local cluster: pub/sub relay only, nothing persisted."""
from __future__ import annotations

import shutil
import socket
from pathlib import Path
from urllib.parse import quote

from .proc import ClusterError


def redis_binary() -> str:
    for candidate in (shutil.which("redis-server"), "/usr/bin/redis-server", "/usr/local/bin/redis-server"):
        if candidate and Path(candidate).is_file():
            return candidate
    raise ClusterError("redis-server is not installed (apt-get install redis-server)")


def write_config(work_dir: Path, port: int, password: str | None) -> Path:
    """A config file in the state dir (keeps the password off the command line)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    work_dir.chmod(0o700)
    lines = [
        f"port {port}",
        "bind 127.0.0.1",
        "protected-mode yes",
        f"dir {work_dir}",
        'save ""',
        "appendonly no",
        "daemonize no",
        'logfile ""',
        # Subscribers are the backends; a slow one may hold a burst of tally events.
        "client-output-buffer-limit pubsub 256mb 64mb 60",
        "tcp-keepalive 60",
    ]
    if password:
        escaped = password.replace("\\", "\\\\").replace('"', '\\"')
        lines.append(f'requirepass "{escaped}"')
    path = work_dir / "redis.conf"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def argv(conf: Path) -> list[str]:
    return [redis_binary(), str(conf)]


def url(port: int, password: str | None = None, db: int = 0) -> str:
    auth = f":{quote(password, safe='')}@" if password else ""
    return f"redis://{auth}127.0.0.1:{port}/{db}"


def ping(port: int, password: str | None = None, timeout: float = 1.0) -> bool:
    """PING over a raw socket (AUTH first when a password is set)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        cmds = b""
        if password:
            pw = password.encode()
            cmds += b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (len(pw), pw)
        cmds += b"*1\r\n$4\r\nPING\r\n"
        s.sendall(cmds)
        data = b""
        want = 2 if password else 1
        while data.count(b"\r\n") < want:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    replies = data.split(b"\r\n")
    if password and not replies[0].startswith(b"+OK"):
        raise ClusterError(f"redis AUTH failed: {replies[0].decode(errors='replace')}")
    return replies[want - 1] == b"+PONG"
