"""Helpers for the orchestration tests: binaries, the stand-in backend."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STANDIN = Path(__file__).resolve().parent / "standin_backend.py"

MARIADB = ("mariadbd", "mariadb-install-db", "mariadb")


def _find(name: str) -> str | None:
    for candidate in (shutil.which(name), f"/usr/sbin/{name}", f"/usr/bin/{name}"):
        if candidate and os.path.isfile(candidate):
            return candidate
    return None


def require_binaries(*names: str) -> None:
    """Skip (with a reason) when a binary is missing; under CI a missing binary fails."""
    missing = [n for n in names if _find(n) is None]
    if not missing:
        return
    message = f"not installed: {', '.join(missing)}"
    if os.environ.get("CI"):
        pytest.fail(message + " (CI is set: integration tests must not skip)")
    pytest.skip(message)


def standin_argv(name: str, port: int) -> list[str]:
    return [sys.executable, str(STANDIN), "--name", name, "--port", str(port)]
