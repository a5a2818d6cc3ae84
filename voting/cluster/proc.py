"""Process helpers for the local cluster: spawn detached, check, stop, wait.

Everything here is synchronous and meant for the CLI and for test fixtures,
never for the server's event loop.
"""
from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, Mapping, Sequence


class ClusterError(RuntimeError):
    """A cluster operation failed; the message says what and shows the log tail."""


# Popen objects of the children this process started, by pid. Keeping them
# referenced means Python never warns about a still-running child being
# garbage collected, and lets us reap children that died (no zombies in a
# long-lived pytest process).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def tail(path: Path | None, lines: int = 30) -> str:
    """The last lines of a log file, or a note that there is none."""
    if path is None:
        return "(no log)"
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 16384))
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return f"(no log at {path})"
    text = "\n".join(data.splitlines()[-lines:])
    return f"--- last lines of {path} ---\n{text}" if text else f"(log {path} is empty)"


def spawn(argv: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None,
          cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """Start argv detached from the caller (own session), output appended to log_path."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        try:
            proc = subprocess.Popen(
                list(argv), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None, cwd=str(cwd) if cwd else None,
                start_new_session=True, close_fds=True)
        except OSError as exc:
            raise ClusterError(f"cannot start {argv[0]}: {exc.strerror}") from None
    _CHILDREN[proc.pid] = proc
    return proc


def _reap(pid: int) -> bool:
    """Reap pid if it is our exited child; True when it is known to be gone."""
    proc = _CHILDREN.get(pid)
    if proc is not None:
        if proc.poll() is None:
            return False
        del _CHILDREN[pid]
        return True
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    return done == pid


def is_alive(pid: int | None, exe: str | None = None) -> bool:
    """True if pid runs (not a zombie) and, when exe is given, looks like that program."""
    if not pid or pid <= 0:
        return False
    if _reap(pid):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else: check /proc below
    proc_dir = Path("/proc") / str(pid)
    if not proc_dir.is_dir():
        return pid in _CHILDREN or not Path("/proc/self").is_dir()
    try:
        stat = (proc_dir / "stat").read_text()
        state = stat.rsplit(")", 1)[1].split()[0]
        if state in ("Z", "X"):
            _reap(pid)  # it exited between the checks
            return False
        if exe:
            cmdline = (proc_dir / "cmdline").read_bytes().split(b"\0")[0].decode("utf-8", "replace")
            first = os.path.basename(cmdline.split(" ")[0]) if cmdline else ""
            if first and not (first.startswith(exe) or exe.startswith(first)):
                return False
    except (OSError, IndexError):
        return pid in _CHILDREN and _CHILDREN[pid].poll() is None
    return True


def send_signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def wait_dead(pid: int, timeout: float) -> bool:
    """Wait until pid is gone (and reaped, if it is our child); True if it is."""
    deadline = time.monotonic() + timeout
    proc = _CHILDREN.get(pid)
    if proc is not None:
        try:
            proc.wait(timeout=max(0.0, timeout))
        except subprocess.TimeoutExpired:
            return False
        _CHILDREN.pop(pid, None)
        return True
    while is_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def terminate(pid: int, sig: int = signal.SIGTERM, timeout: float = 30.0,
              exe: str | None = None) -> None:
    """Send sig, wait up to timeout for the process to exit, then SIGKILL it."""
    if not is_alive(pid, exe):
        _reap(pid)
        return
    send_signal(pid, sig)
    if sig != signal.SIGKILL:
        send_signal(pid, signal.SIGCONT)  # a stopped (SIGSTOP) process acts on it too
    if wait_dead(pid, timeout):
        return
    send_signal(pid, signal.SIGKILL)
    if not wait_dead(pid, 10.0):
        raise ClusterError(f"process {pid} did not exit after SIGKILL")


def stop_all(targets: Sequence[tuple[int | None, int, str | None]], timeout: float) -> None:
    """Signal several processes at once ((pid, signal, exe) each), wait, SIGKILL stragglers."""
    live = [(pid, sig, exe) for pid, sig, exe in targets if pid and is_alive(pid, exe)]
    for pid, sig, _ in live:
        send_signal(pid, sig)
        send_signal(pid, signal.SIGCONT)  # a stopped (SIGSTOP) process acts on it too
    deadline = time.monotonic() + timeout
    for pid, _, _ in live:
        if not wait_dead(pid, max(0.0, deadline - time.monotonic())):
            send_signal(pid, signal.SIGKILL)
            if not wait_dead(pid, 10.0):
                raise ClusterError(f"process {pid} did not exit after SIGKILL")


def wait_until(check: Callable[[], bool], timeout: float, what: str,
               log_path: Path | None = None,
               alive: Callable[[], bool] | None = None, interval: float = 0.05) -> None:
    """Poll check() until it returns True; raise ClusterError naming what after timeout.

    alive(), if given, is checked too: a process that exited fails at once.
    """
    deadline = time.monotonic() + timeout
    last_error = ""
    while True:
        try:
            if check():
                return
        except Exception as exc:  # noqa: BLE001 - the last error goes into the message
            last_error = f" (last error: {exc})"
        if alive is not None and not alive():
            raise ClusterError(f"{what}: the process exited{last_error}\n{tail(log_path)}")
        if time.monotonic() >= deadline:
            raise ClusterError(f"{what}: not ready after {timeout:.0f}s{last_error}\n{tail(log_path)}")
        time.sleep(interval)


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """count distinct free TCP ports on host (held open together while chosen)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def run(argv: Sequence[str], what: str, timeout: float, env: Mapping[str, str] | None = None,
        cwd: Path | None = None, stdin_path: Path | None = None) -> str:
    """Run a short command to completion; raise ClusterError with its output on failure."""
    try:
        with open(stdin_path or os.devnull, "rb") as stdin:
            res = subprocess.run(list(argv), stdin=stdin, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, env=dict(env) if env is not None else None,
                                 cwd=str(cwd) if cwd else None, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode("utf-8", "replace")[-3000:]
        raise ClusterError(f"{what}: timed out after {timeout:.0f}s\n{out}") from None
    except OSError as exc:
        raise ClusterError(f"{what}: cannot run {argv[0]}: {exc.strerror}") from None
    out = res.stdout.decode("utf-8", "replace")
    if res.returncode != 0:
        raise ClusterError(f"{what}: {argv[0]} exited with {res.returncode}\n{out[-3000:]}")
    return out
