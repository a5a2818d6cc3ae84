"""voting.* stays mypy-clean (config in setup.cfg); the package and its tests import nothing
they do not use and name nothing undefined (pyflakes)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_is_clean() -> None:
    result = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "voting"],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_pyflakes_is_clean() -> None:
    result = subprocess.run([sys.executable, "-m", "pyflakes", "voting", "tests"],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
