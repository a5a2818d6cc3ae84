"""docs/benchmarks.md's plots, drawn by `python -m voting.bench.plots` from the reports
committed beside it (the bench extra's matplotlib)."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from voting.bench import plots

# The reports live in docs/ and matplotlib in the bench extra: neither is in the image's
# test stage (the Dockerfile deselects this marker).
pytestmark = pytest.mark.checkout

DATA = ROOT / "docs" / "bench-data"
PNG = b"\x89PNG\r\n\x1a\n"


def report(name: str) -> dict[str, Any]:
    return dict(json.loads((DATA / name).read_text()))


def test_the_docs_plots_are_drawn_from_their_reports(tmp_path: Path) -> None:
    # The reports the last command under "Reproduce" draws: a cluster, the Compose stack
    # benched from outside (no servers' processes), the embedded server.
    names = ["cluster-dec06m.json", "cluster-dec06l.json", "compose-dec06l.json",
             "embedded-dec06l.json"]
    assert plots.main([str(tmp_path), *(str(DATA / n) for n in names)]) == 0
    for png in ("bench-hot.png", "bench-fanout.png"):
        data = (tmp_path / png).read_bytes()
        assert data.startswith(PNG) and len(data) > 20_000, png


def test_a_report_without_fanout_draws_only_the_hot_poll(tmp_path: Path) -> None:
    hot_only = report("cluster-dec06m.json")
    hot_only["results"] = {"hot": hot_only["results"]["hot"]}
    assert plots.plot(tmp_path, [hot_only]) == [tmp_path / "bench-hot.png"]
    assert not (tmp_path / "bench-fanout.png").exists()


def test_a_deployment_without_b_ins_is_drawn_without_it(tmp_path: Path) -> None:
    # B_ins is not measured on a deployment whose primary the bench was not given.
    server = report("compose-dec06l.json")
    for run in server["results"]["hot"]["runs"]:
        run["B_ins"] = None
    twin = copy.deepcopy(server)
    twin["started"] = "2026-12-07T00:00:00Z"  # two reports of one mode: labelled by time
    assert len(plots.plot(tmp_path, [server, twin])) == 2


def test_without_reports_it_says_how_to_use_it(tmp_path: Path) -> None:
    assert plots.main([str(tmp_path)]) == 2
    assert not list(tmp_path.iterdir())
