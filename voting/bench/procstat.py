"""What the bench reads of the processes it measures, from /proc: memory, CPU time per
role, and who listens on a port."""
from __future__ import annotations

import os
from pathlib import Path


def rss_kb(pid: int | None) -> int | None:
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _stat(pid: str) -> tuple[int, float] | None:
    """(ppid, cpu seconds) of a process from /proc/PID/stat."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = raw[raw.rindex(")") + 2:].split()
    return int(rest[1]), (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(roles: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds used so far per role (its processes and their children, e.g. nginx's
    workers), and "machine": busy seconds of the whole machine (every process's share)."""
    stats = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            st = _stat(d.name)
            if st is not None:
                stats[int(d.name)] = st
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    out = {}
    for role, pids in roles.items():
        seen = set(pids) | {c for p in pids for c in children.get(p, ())}
        out[role] = sum(stats[p][1] for p in seen if p in stats)
    try:
        cpu = Path("/proc/stat").read_text().split("\n")[0].split()[1:]
        ticks = [int(x) for x in cpu]
        out["machine"] = (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        pass
    return out


def cpu_cores(before: dict[str, float], after: dict[str, float], seconds: float
              ) -> dict[str, float]:
    """Cores used per role over a phase; "others": the machine's busy cores not ours."""
    if seconds <= 0:
        return {}
    used = {k: round((after[k] - before[k]) / seconds, 2) for k in after if k in before}
    if "machine" in used:
        used["others"] = round(max(0.0, used["machine"] - sum(
            v for k, v in used.items() if k != "machine")), 2)
    return used


def pid_listening_on(port: int) -> int | None:
    """The pid of the process listening on a local TCP port (via /proc), if visible."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(cols[9])
    if not inodes:
        return None
    wanted = {f"socket:[{i}]" for i in inodes}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            for fd in (d / "fd").iterdir():
                if os.readlink(fd) in wanted:
                    return int(d.name)
        except OSError:
            continue
    return None
