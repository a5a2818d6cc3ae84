"""Plots of `voting bench --json` reports (matplotlib, the `bench` extra).

    python -m voting.bench.plots OUT_DIR REPORT.json [REPORT.json ...]

writes OUT_DIR/bench-hot.png (ballots/s and p99 against concurrency, with
B_nop and B_ins) and OUT_DIR/bench-fanout.png (vote -> tally p50/p99 against
subscribers), one line per report (labelled by its mode, and by its start time
when two reports share a mode).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _label(report: dict[str, Any], reports: list[dict[str, Any]]) -> str:
    mode = str(report["mode"])
    if sum(1 for r in reports if r["mode"] == mode) > 1:
        return f"{mode} {str(report.get('started', ''))[:16].replace('T', ' ')}"
    return mode


def plot(out_dir: Path, reports: list[dict[str, Any]]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    hot = [(r, r["results"]["hot"]["runs"]) for r in reports if "hot" in r["results"]]
    if hot:
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
        for n, (rep, runs) in enumerate(hot):
            label, color = _label(rep, reports), f"C{n}"
            xs = [x["concurrency"] for x in runs]
            ax1.plot(xs, [x["ballots_per_second"] for x in runs], "o-", color=color,
                     label=f"{label}: ballots")
            ax1.plot(xs, [x["B_nop"]["requests_per_second"] for x in runs], "s--", color=color,
                     label=f"{label}: B_nop (no-op)")
            if all(x["B_ins"] for x in runs):  # not measured on a deployment without a primary
                ax1.plot(xs, [x["B_ins"]["inserts_per_second"] for x in runs], "^:",
                         color=color, label=f"{label}: B_ins (inserts)")
            ax2.plot(xs, [x["ballot_latency_ms"]["p99"] for x in runs], "o-", color=color,
                     label=f"{label}: ballot p99")
            ax2.plot(xs, [x["ballot_latency_ms"]["p50"] for x in runs], "o--", color=color,
                     label=f"{label}: ballot p50")
        ax1.set(xscale="log", xlabel="concurrent voters", ylabel="per second",
                title="Hot poll: throughput")
        ax2.set(xscale="log", xlabel="concurrent voters", ylabel="ms",
                title="Hot poll: ballot latency")
        for ax in (ax1, ax2):
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=7)
        fig.tight_layout()
        path = out_dir / "bench-hot.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    fan = [(r, r["results"]["fanout"]["runs"]) for r in reports if "fanout" in r["results"]]
    if fan:
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
        for n, (rep, runs) in enumerate(fan):
            label, color = _label(rep, reports), f"C{n}"
            xs = [x["subscribers"] for x in runs]
            ax1.plot(xs, [x["vote_to_tally_ms"]["p99"] for x in runs], "o-", color=color,
                     label=f"{label}: p99")
            ax1.plot(xs, [x["vote_to_tally_ms"]["p50"] for x in runs], "o--", color=color,
                     label=f"{label}: p50")
            ax2.plot(xs, [x["ballots_per_second"] for x in runs], "o-", color=color,
                     label=f"{label}: ballots/s")
        ax1.set(xlabel="subscribers", ylabel="ms", title="Fan-out: vote → tally on every screen")
        ax1.axhline(250, color="grey", lw=0.8, ls=":")
        ax1.axhline(600, color="grey", lw=0.8, ls=":")
        ax2.set(xlabel="subscribers", ylabel="ballots/s", title="Fan-out: ballots while watched")
        for ax in (ax1, ax2):
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=7)
        fig.tight_layout()
        path = out_dir / "bench-fanout.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    reports = [json.loads(Path(p).read_text()) for p in argv[1:]]
    for path in plot(Path(argv[0]), reports):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
