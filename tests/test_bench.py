"""`voting bench` end to end at small scale: every scenario runs and its checks hold.

Speed is not tested here (that is the bench's own output); what is tested is that
the instrument works: reports, exactness, "every subscriber ended on /results",
and that a server that miscounts is caught.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, ServerProcess, make_config, start_server_process, stop_process
from voting.app import Server, make_storage
from voting.bench import _options, add_arguments
from voting.bench.report import cpu_per_ballot
from voting.domain import Tally
from voting.storage.sqlite import SQLiteStorage
from voting.ws.broker import InProcessBroker

SMALL = ["--ballots", "120", "--concurrency", "8", "--watch-concurrency", "8",
         "--subscribers", "6,12", "--polls", "5", "--per-poll", "2", "--idle", "40",
         "--slow-others", "5", "--slow-rate", "40",
         "--slow-warmup", "0.5", "--slow-before", "1", "--stall", "1.5", "--sub-procs", "2",
         "--bws-seconds", "0.5"]


async def run_bench(tmp: Path, *args: str, env: dict[str, str] | None = None
                    ) -> tuple[int, dict[str, Any], str, str]:
    out_file = tmp / "bench.json"
    out_file.unlink(missing_ok=True)
    proc = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "voting", "bench", *args, "--json", str(out_file)],
        cwd=str(ROOT), capture_output=True, text=True, timeout=240,
        env={**os.environ, **(env or {})})
    report = json.loads(out_file.read_text()) if out_file.exists() else {}
    return proc.returncode, report, proc.stdout, proc.stderr


def assert_whole(report: dict[str, Any]) -> None:
    res = report["results"]
    assert report["ok"] is True and report["failures"] == [], report["failures"]
    for run in res["hot"]["runs"]:
        assert run["exact"] is True and run["statuses"] == {"201": 120}
        assert run["B_nop"]["requests_per_second"] > 0
        assert run["B_ins"]["inserts_per_second"] > 0
        assert run["ratio_to_B_nop"] is not None and run["ratio_to_B_ins"] is not None
    runs = res["fanout"]["runs"]
    assert [r["subscribers"] for r in runs] == [6, 12]
    for r in runs + [res["many"]]:
        assert r["exact"] is True and r["every_subscriber_whole"] is True
        assert r["ended_on_results"] == r["subscribers"] == r["connected"]
        assert r["out_of_order_frames"] == 0 and r["ballots_not_seen"] == 0
        lat = r["vote_to_tally_ms"]
        assert lat["n"] > 0 and 0 <= lat["p50"] <= lat["p99"] <= lat["max"]
        # The same samples by when their ballot was sent: every one in a slice, the worst
        # of them in one.
        over_time = r["vote_to_tally_ms_over_time"]
        assert sum(x["n"] for x in over_time) == lat["n"]
        assert max(x["max"] for x in over_time) == lat["max"]
        assert [x["from_s"] for x in over_time] == sorted(x["from_s"] for x in over_time)
    for r in runs:
        assert r["efficiency"]["B_ws"]["frames_per_second"] > 0
    assert res["many"]["polls"] == 5
    assert res["idle"]["connected"] == 40 and res["idle"]["B_mem"]["sockets"] == 40
    slow = res["slow"]
    assert slow["exact"] is True and slow["every_subscriber_whole"] is True
    assert slow["others_vote_to_tally_ms"]["stalled"]["n"] > 0


@pytest.fixture
def bench_server(tmp_path: Path) -> Any:
    sp = start_server_process(tmp_path, name="benchsrv")
    try:
        yield sp
    finally:
        stop_process(sp.proc)


async def test_every_scenario_on_the_embedded_server(bench_server: ServerProcess,
                                                     tmp_path: Path) -> None:
    code, report, out, err = await run_bench(tmp_path, "hot", "fanout", "many", "idle", "slow",
                                             "--url", bench_server.url, *SMALL)
    assert code == 0, err[-3000:]
    assert report["mode"] == "embedded"
    assert_whole(report)
    assert "all checks passed" in out
    for section in ("hot poll", "fan-out", "many polls", "idle sockets", "slow reader"):
        assert section in out
    # The server's CPU per ballot, beside the rates (steadier on a shared box).
    hot = report["results"]["hot"]["runs"][0]
    assert cpu_per_ballot(hot) == pytest.approx(
        hot["cpu_cores"]["server"] * 1000 / hot["ballots_per_second"], abs=0.01)
    assert "srv ms CPU/ballot" in out and f"  {cpu_per_ballot(hot):g}  " in out
    # And per no-op request of B_nop: what a ballot costs beyond a request.
    nop = hot["B_nop"]
    assert nop["cpu_cores"]["server"] > 0
    assert cpu_per_ballot(nop) == pytest.approx(
        nop["cpu_cores"]["server"] * 1000 / nop["requests_per_second"], abs=0.01)
    assert f"  {cpu_per_ballot(nop):g}  " in out


class MiscountingStorage(SQLiteStorage):
    """Answers every ballot 201 but loses one from the counts once there are five."""

    async def get_tally(self, poll_id: str, pos: str | None = None, fresh: bool = False
                        ) -> Tally | None:
        tally = await super().get_tally(poll_id, pos, fresh)
        if tally is None or tally.total < 5:
            return tally
        counts = dict(tally.counts)
        first = sorted(counts)[0]
        counts[first] = max(0, counts[first] - 1)
        return Tally(tally.poll_id, tally.seq, tally.status, tally.total - 1, counts)


async def test_a_miscount_is_caught(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    storage = MiscountingStorage(str(tmp_path / "wrong.sqlite3"))
    assert isinstance(make_storage(cfg), SQLiteStorage)  # the double stands in for this one
    server = Server(cfg, storage, InProcessBroker())
    port = await server.start("127.0.0.1", 0)
    try:
        code, report, out, err = await run_bench(
            tmp_path, "hot", "--url", f"http://127.0.0.1:{port}", "--ballots", "30",
            "--concurrency", "4", "--sub-procs", "1")
    finally:
        await server.stop()
    assert code == 1, err[-3000:]
    assert report["ok"] is False
    assert report["results"]["hot"]["runs"][0]["exact"] is False
    assert any("not exact" in f for f in report["failures"])
    assert "FAILED" in out


@pytest.mark.integration
async def test_every_scenario_on_the_local_cluster(local_cluster: Any, tmp_path: Path) -> None:
    code, report, out, err = await run_bench(
        tmp_path, "hot", "fanout", "many", "idle", "slow", "--dir", str(local_cluster.state_dir),
        *SMALL)
    assert code == 0, err[-3000:]
    assert report["mode"] == "cluster" and len(report["backends"]) == 3
    assert_whole(report)
    assert "MariaDB" in report["results"]["hot"]["runs"][0]["B_ins"]["what"]
    # Through nginx the audience spreads over the backends.
    assert len(report["results"]["fanout"]["runs"][1]["per_backend"]) >= 2


@pytest.mark.integration
async def test_a_deployment_the_bench_did_not_start(local_cluster: Any, tmp_path: Path) -> None:
    """--url alone on a cluster, as on a Compose stack: its port here is nginx's, so nothing
    is counted as the servers' CPU; B_ins runs on the primary VOTING_BENCH_PRIMARY names,
    with the account given there; what needs the backends' own processes is refused."""
    password = secrets.token_hex(12)
    primary = local_cluster.primary
    primary.query("CREATE DATABASE IF NOT EXISTS bench_scratch")
    primary.query("CREATE USER IF NOT EXISTS 'bench'@'%%' IDENTIFIED BY %s", (password,))
    primary.query("GRANT CREATE, DROP, INSERT ON bench_scratch.* TO 'bench'@'%'")
    dsn = f"mysql://bench:{password}@127.0.0.1:{local_cluster.port('primary')}/bench_scratch"
    small = ["--ballots", "60", "--concurrency", "4", "--watch-concurrency", "4",
             "--subscribers", "6", "--sub-procs", "1", "--bws-seconds", "0.5"]
    code, report, out, err = await run_bench(tmp_path, "hot", "fanout", "--url",
                                             local_cluster.url, *small, "--browser-headers",
                                             env={"VOTING_BENCH_PRIMARY": dsn})
    assert code == 0, err[-3000:]
    assert report["mode"] == "server" and report["backends"] == [] and report["ok"] is True
    assert report["options"]["browser_headers"] is True
    hot = report["results"]["hot"]["runs"][0]
    assert hot["exact"] is True and "MariaDB" in hot["B_ins"]["what"]
    assert hot["B_ins"]["inserts_per_second"] > 0 and hot["ratio_to_B_ins"] is not None
    assert set(hot["cpu_cores"]) <= {"generator", "machine", "others"}
    fan = report["results"]["fanout"]["runs"][0]
    assert fan["every_subscriber_whole"] is True and fan["exact"] is True
    assert password not in out + err + json.dumps(report)
    assert primary.query("SHOW TABLES FROM bench_scratch") == []  # the scratch table is gone

    # Without a primary, B_ins is not measured rather than measured on something else.
    code, report, out, err = await run_bench(tmp_path, "hot", "--url", local_cluster.url,
                                             *small, env={"VOTING_BENCH_PRIMARY": ""})
    assert code == 0, err[-3000:]
    hot = report["results"]["hot"]["runs"][0]
    assert hot["B_ins"] is None and hot["ratio_to_B_ins"] is None and hot["exact"] is True
    assert "started elsewhere" in out

    for args in (["idle"], ["slow"], ["fanout", "--direct"]):
        code, report, out, err = await run_bench(tmp_path, *args, "--url", local_cluster.url)
        assert code == 2 and report == {}, (args, err[-2000:])
        assert "--cluster, --dir DIR or the embedded server" in err
    code, _, _, err = await run_bench(tmp_path, "hot", "--url", local_cluster.url,
                                      env={"VOTING_BENCH_PRIMARY": "bench@host"})
    assert code == 2 and "mysql://USER:PASSWORD@HOST:PORT/DATABASE" in err


def test_the_phase_before_the_stall_is_as_long_as_the_stall_unless_given() -> None:
    """Both p99s of `slow` come from as many ballots: the tail of a shorter phase is a few
    ballots whose subscribers' latencies move together."""
    p = argparse.ArgumentParser()
    add_arguments(p)
    assert _options(p.parse_args(["slow", "--stall", "45"])).slow_before == 45
    assert _options(p.parse_args(["slow", "--slow-before", "10"])).slow_before == 10


def test_the_primary_of_a_deployment_comes_from_the_environment() -> None:
    from voting.bench import primary_from_environment
    from voting.bench.run import BenchError
    assert primary_from_environment({}) is None
    assert primary_from_environment({"VOTING_BENCH_PRIMARY": " "}) is None
    assert primary_from_environment(
        {"VOTING_BENCH_PRIMARY": "mysql://be%40nch:p%3Ass%2Fw@db.example:3307/scratch"}) == {
        "host": "db.example", "port": 3307, "user": "be@nch", "password": "p:ss/w",
        "database": "scratch"}
    assert primary_from_environment(
        {"VOTING_BENCH_PRIMARY": "mysql://bench:pw@10.0.0.2/scratch"})["port"] == 3306
    for wrong in ("bench@host", "postgres://u:p@h/db", "mysql://u:p@h:3306/", "mysql://h/db",
                  "mysql://u:p@h:99999/db", "mysql://u:p@h/a/b"):
        with pytest.raises(BenchError, match="mysql://USER:PASSWORD@HOST:PORT/DATABASE"):
            primary_from_environment({"VOTING_BENCH_PRIMARY": wrong})


async def test_a_url_where_no_voting_server_answers_is_refused(tmp_path: Path) -> None:
    from tests.conftest import free_port
    code, report, out, err = await run_bench(tmp_path, "hot", "--url",
                                             f"http://127.0.0.1:{free_port()}")
    assert code == 2 and report == {}
    assert "/readyz" in err
