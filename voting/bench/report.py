"""The bench report as a table for the terminal, and its plots (matplotlib, optional)."""
from __future__ import annotations

from typing import Any


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        return f"{v:g}" if abs(v) < 100 else f"{v:.0f}"
    return str(v)


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    cells = [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)),
           "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cells]
    return out


SHORT = {"server": "srv", "backend": "be", "nginx": "ngx", "primary": "db", "replica": "rep",
         "redis": "rds", "generator": "gen", "others": "other"}


def cpu(used: dict[str, float] | None) -> str:
    """Cores used per role during the ballots, e.g. "be 1.1 ngx 0.2 db 0.3 gen 0.4 other 0.1"."""
    if not used:
        return "-"
    return " ".join(f"{SHORT[k]} {used[k]:.2f}" for k in SHORT if k in used)


def cpu_per_ballot(run: dict[str, Any]) -> float | None:
    """Milliseconds of the servers' CPU (the backends, or the embedded server) per ballot (or
    per request of a B_nop): steadier than ballots/s on a shared box whose speed moves from
    one minute to the next."""
    used = run.get("cpu_cores") or {}
    cores = used.get("backend", used.get("server"))
    rate = run.get("ballots_per_second", run.get("requests_per_second"))
    if cores is None or not rate:
        return None
    return round(float(cores) * 1000 / float(rate), 2)


def table(report: dict[str, Any]) -> str:
    res = report["results"]
    processes = (f"({len(report['backends'])} backend(s))" if report["backends"] else
                 "(started elsewhere: no CPU or memory of its processes)")
    lines = [f"voting bench — {report['mode']} at {report['url']} {processes}, "
             f"{report['started']}, "
             f"load {res.get('load_average_before')} -> {res.get('load_average_after')}", ""]
    if "hot" in res:
        lines.append("hot poll")
        lines += _table(
            ["conc", "ballots/s", "p50 ms", "p99 ms", "B_nop/s", "x B_nop", "B_ins/s", "x B_ins",
             "exact", "srv ms CPU/ballot", "/nop", "CPU cores during the ballots"],
            [[r["concurrency"], r["ballots_per_second"], r["ballot_latency_ms"]["p50"],
              r["ballot_latency_ms"]["p99"], r["B_nop"]["requests_per_second"],
              r["ratio_to_B_nop"], (r["B_ins"] or {}).get("inserts_per_second"),
              r["ratio_to_B_ins"],
              r["exact"], cpu_per_ballot(r), cpu_per_ballot(r["B_nop"]),
              cpu(r.get("cpu_cores"))]
             for r in res["hot"]["runs"]])
        lines.append("")
    feed_head = ["subs", "ballots/s", "x ref", "v->t p50", "p99", "max", "exact", "whole",
                 "frames/s (busiest)", "x B_ws", "srv ms CPU/ballot",
                 "CPU cores during the ballots"]

    def feed_row(r: dict[str, Any], rel: Any) -> list[Any]:
        eff = r.get("efficiency") or {}
        return [r["subscribers"], r["ballots_per_second"], rel, r["vote_to_tally_ms"]["p50"],
                r["vote_to_tally_ms"]["p99"], r["vote_to_tally_ms"]["max"], r["exact"],
                f"{r['ended_on_results']}/{r['subscribers']}", eff.get("frames_per_second"),
                eff.get("ratio_to_B_ws"), cpu_per_ballot(r), cpu(r.get("cpu_cores"))]

    if "fanout" in res:
        lines.append(f"fan-out (reference: {res['fanout']['reference_ballots_per_second']} "
                     "ballots/s with nobody watching; latencies in ms)")
        lines += _table(feed_head, [feed_row(r, r["ratio_to_nobody_watching"])
                                    for r in res["fanout"]["runs"]])
        lines.append("")
    if "many" in res:
        r = res["many"]
        lines.append(f"many polls ({r['polls']} polls; x ref = against the hot poll)")
        lines += _table(feed_head, [feed_row(r, r["ratio_to_hot"])])
        lines.append("")
    if "idle" in res:
        r = res["idle"]
        lines.append("idle sockets")
        lines += _table(["backend", "sockets", "KB/socket", "B_mem KB/socket", "x B_mem"],
                        [[r["backend"], f"{r['connected']}/{r['sockets']}", r["kb_per_socket"],
                          r["B_mem"]["kb_per_socket"], r["ratio_to_B_mem"]]])
        lines.append("")
    if "slow" in res:
        r = res["slow"]
        lat = r["others_vote_to_tally_ms"]
        lines.append(f"slow reader ({r['stall_seconds']:g} s stalled, {r['others']} others)")
        lines += _table(["backend", "RSS added KB", "others p99 before", "during", "change",
                         "closed by server", "exact", "whole"],
                        [[r["backend"], r["rss_kb_added"], lat["reading"]["p99"],
                          lat["stalled"]["p99"], r["others_p99_change"],
                          r["stalled_closed_by_server"], r["exact"],
                          f"{r['ended_on_results']}/{r['others']}"]])
        lines.append("")
    lines.append("all checks passed" if report["ok"]
                 else "FAILED: " + "; ".join(report["failures"]))
    return "\n".join(lines)
