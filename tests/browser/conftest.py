"""Browser-test fixtures: Debian's chromium driven by Python playwright (no browser download).

The server comes from `client_server`: once the embedded server (`voting serve`), once the
local cluster through nginx; `.url` is the only base URL these tests use.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, async_playwright

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

REPO_ROOT = Path(__file__).resolve().parents[2]


def chromium_path() -> str | None:
    env = os.environ.get("CHROMIUM")
    if env:
        return env
    for candidate in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if os.path.exists(candidate):
            return candidate
    return shutil.which("chromium")


@pytest.fixture
def artifacts_dir() -> Path:
    path = REPO_ROOT / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    exe = chromium_path()
    if exe is None:
        pytest.fail("chromium is not installed (apt-get install chromium)")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture(params=["embedded", "cluster"])
def client_server(request: pytest.FixtureRequest) -> Any:
    """The web client as served in embedded mode, and through nginx in the cluster."""
    if request.param == "embedded":
        return request.getfixturevalue("embedded_server")
    return request.getfixturevalue("local_cluster")
