"""`voting bench` (the load test behind docs/benchmarks.md) against the embedded server."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

from tests.conftest import ROOT, ServerProcess


async def run_bench(url: str, *args: str) -> tuple[int, dict[str, Any], str]:
    out = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "voting", "bench", "--url", url, *args],
        cwd=str(ROOT), capture_output=True, text=True, timeout=300)
    report = json.loads(out.stdout) if out.stdout.strip() else {}
    return out.returncode, report, out.stderr


def assert_exact(report: dict[str, Any], voters: int, subscribers: int) -> None:
    assert report["statuses"] == {"201": voters}, report
    assert report["tally_exact"] is True, report
    assert report["subscribers"]["count"] == subscribers
    assert report["subscribers"]["ended_on_results"] == subscribers, report
    assert report["subscribers"]["out_of_order_frames"] == 0, report
    assert report["ballots_per_second"] > 0
    assert 0 < report["latency_ms"]["p50"] <= report["latency_ms"]["p99"]


async def test_bench_reports_an_exact_run(embedded_server: ServerProcess) -> None:
    code, report, err = await run_bench(embedded_server.url, "--voters", "80", "--concurrency",
                                        "16", "--subscribers", "4", "--options", "3")
    assert code == 0, err
    assert_exact(report, voters=80, subscribers=4)
    assert report["subscribers"]["backends"] == ["embedded"]
