"""`voting bench`: the load test of one hot poll and its audience, with its baselines.

Scenarios (all by default with --cluster: hot and fanout):

* hot     ballots on one poll; B_nop (GET /healthz through the same entry point
          and concurrency) and B_ins (single-row autocommit INSERTs on the same
          primary, or SQLite file for the embedded server; for a deployment
          the bench did not start, the primary of $VOTING_BENCH_PRIMARY, else
          none) measured alongside;
* fanout  ballots while S subscribers watch; vote -> tally latency on every
          subscriber; B_ws (a bare Tornado process broadcasting one message to as
          many sockets as the busiest backend holds);
* many    P polls with a few subscribers each, ballots spread over them;
* idle    N idle subscribers on one backend: RSS per socket, against B_mem
          (a bare Tornado WebSocket server holding as many);
* slow    one subscriber stops reading while others watch paced ballots.

Every scenario checks that /results counts exactly the accepted ballots and
that every subscriber's last frame equals /results. Progress goes to stderr, a
table to stdout, the whole report to --json FILE. The exit code is 1 when a
check fails.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
from pathlib import Path
from typing import Any, Mapping

from voting.bench.procstat import pid_listening_on
from voting.bench.run import SCENARIOS, Backend, BenchError, Options, Target, dumps, main_report
from voting.bench.report import table

__all__ = ["add_arguments", "run_bench"]

# B_ins's primary when the bench did not start the deployment (--url).
PRIMARY_VARIABLE = "VOTING_BENCH_PRIMARY"


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def add_arguments(b: argparse.ArgumentParser) -> None:
    b.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                   help=f"any of {', '.join(SCENARIOS)} (default: hot fanout)")
    where = b.add_mutually_exclusive_group()
    where.add_argument("--url", help="a running server or cluster (default "
                       "http://127.0.0.1:8080); for one the bench did not start, B_ins runs "
                       f"on the primary in ${PRIMARY_VARIABLE} "
                       "(mysql://USER:PASSWORD@HOST:PORT/DATABASE)")
    where.add_argument("--cluster", action="store_true",
                       help="start a local cluster for the run and stop it after")
    b.add_argument("--dir", help="state dir of a running local cluster (its backends' ports and "
                                 "pids, the primary for B_ins); with --cluster, where to put it")
    b.add_argument("--backends", type=int, default=3, help="with --cluster (default 3)")
    b.add_argument("--json", metavar="FILE", help="write the whole report here")
    b.add_argument("--concurrency", type=_ints, default=[50],
                   help="concurrent voters; a list (10,50,200) repeats hot for each (default 50)")
    b.add_argument("--watch-concurrency", type=int, default=50,
                   help="concurrent voters in fanout, many and slow (default 50)")
    b.add_argument("--ballots", type=int, default=3000, help="ballots per run (default 3000)")
    b.add_argument("--subscribers", type=_ints, default=[1000, 3000],
                   help="fanout audiences (default 1000,3000)")
    b.add_argument("--phase-seconds", type=float, default=60.0,
                   help="a ballot run stops starting ballots after this (default 60 s; "
                        "the ballots cast are what is counted and checked)")
    b.add_argument("--polls", type=int, default=1000, help="many: open polls (default 1000)")
    b.add_argument("--per-poll", type=int, default=3, help="many: subscribers per poll (3)")
    b.add_argument("--idle", type=int, default=5000, help="idle: sockets (default 5000)")
    b.add_argument("--slow-others", type=int, default=200,
                   help="slow: subscribers that keep reading (default 200)")
    b.add_argument("--slow-rate", type=float, default=50.0,
                   help="slow: paced ballots per second (default 50)")
    b.add_argument("--slow-warmup", type=float, default=5.0,
                   help="slow: seconds of ballots before the measured ones, not measured (5)")
    b.add_argument("--slow-before", type=float, default=None,
                   help="slow: seconds of ballots before the stall (default: as long as the "
                        "stall, so both p99s come from as many ballots)")
    b.add_argument("--stall", type=float, default=60.0,
                   help="slow: seconds the subscriber stops reading (default 60)")
    b.add_argument("--options", type=int, default=4, help="options of the bench poll (4)")
    b.add_argument("--sub-procs", type=int, default=4,
                   help="subscriber processes of the load generator (default 4)")
    b.add_argument("--voter-procs", type=int, default=2,
                   help="voter processes of the load generator (default 2)")
    b.add_argument("--bws-seconds", type=float, default=3.0, help="B_ws broadcast time (3 s)")
    b.add_argument("--browser-headers", action="store_true",
                   help="the voters' requests and B_nop's carry the headers a phone's browser "
                        "sends (User-Agent, Accept-*, Sec-Fetch-*, client hints: 13 more)")
    b.add_argument("--direct", action="store_true",
                   help="fanout: all subscribers on the first backend, not through nginx")
    b.add_argument("--tally-interval", type=float, default=0.1,
                   help="the servers' ws.tally_interval (with --cluster: set to this)")
    b.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                   help="with --cluster: extra environment for the backends (repeatable)")


def _options(args: argparse.Namespace) -> Options:
    scenarios = args.scenarios or ["hot", "fanout"]
    for s in scenarios:
        if s not in SCENARIOS:
            raise BenchError(f"unknown scenario {s!r} (choose from {', '.join(SCENARIOS)})")
    return Options(scenarios=scenarios, concurrency=args.concurrency, ballots=args.ballots,
                   subscribers=args.subscribers, polls=args.polls, per_poll=args.per_poll,
                   idle=args.idle, slow_others=args.slow_others, slow_rate=args.slow_rate,
                   slow_before=args.stall if args.slow_before is None else args.slow_before,
                   slow_warmup=max(0.0, args.slow_warmup),
                   stall=args.stall, options=args.options,
                   sub_procs=max(1, args.sub_procs), voter_procs=max(1, args.voter_procs),
                   watch_concurrency=max(1, args.watch_concurrency),
                   phase_seconds=args.phase_seconds,
                   bws_seconds=args.bws_seconds,
                   direct=args.direct, browser_headers=args.browser_headers)


def _cluster_target(cluster: Any, tally_interval: float) -> Target:
    backends = [Backend(n, p, cluster.pid(n)) for n, p in
                zip(cluster.backend_names, cluster.backend_ports)]
    url = cluster.url
    assert url is not None
    roles: dict[str, list[int]] = {}
    for proc in cluster.status()["processes"]:
        if proc["pid"]:
            roles.setdefault(proc["role"], []).append(proc["pid"])
    return Target(url=url, mode="cluster", backends=backends, mysql=cluster.primary_dsn,
                  roles=roles,
                  mysql_root_socket=str(cluster.root_socket("primary")),
                  scratch_dir=str(cluster.state_dir), tally_interval=tally_interval)


def _single_target(url: str, tally_interval: float) -> Target:
    """--url alone: the embedded server (its process found by its port: CPU and RSS), or,
    when its /readyz names another storage, a deployment the bench did not start (a
    Compose stack, a cluster elsewhere): whose port here may be nginx's or a container
    engine's, not a server's, so nothing is counted as the servers' CPU or memory, and B_ins
    runs on the primary that VOTING_BENCH_PRIMARY names (else it is not measured)."""
    from voting.bench.clients import host_port
    _, port = host_port(url)
    if readyz_storage(url) == "sqlite":
        pid = pid_listening_on(port)
        return Target(url=url, mode="embedded", backends=[Backend("server", port, pid)],
                      roles={"server": [pid]} if pid else {},
                      scratch_dir=tempfile.gettempdir() if not os.path.isdir(".run") else ".run",
                      tally_interval=tally_interval)
    return Target(url=url, mode="server", backends=[],
                  mysql=primary_from_environment(os.environ),
                  tally_interval=tally_interval)


def readyz_storage(url: str) -> str:
    """The storage a server's /readyz names ("sqlite", "mysql")."""
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=10) as r:
            body = json.loads(r.read())
    except urllib.error.HTTPError as exc:
        raise BenchError(f"{url}/readyz answered {exc.code}: the server is not ready") from None
    except (OSError, ValueError) as exc:
        raise BenchError(f"{url}/readyz: {exc}") from None
    storage = body.get("storage") if isinstance(body, dict) else None
    if not isinstance(storage, str):
        raise BenchError(f"{url}/readyz does not say which storage it uses: not a voting server?")
    return storage


def primary_from_environment(environ: Mapping[str, str]) -> dict[str, Any] | None:
    """B_ins's primary for a deployment: mysql://USER:PASSWORD@HOST:PORT/DATABASE from the
    environment (a password does not belong on a command line). The account creates,
    fills and drops a scratch table in that database."""
    from urllib.parse import unquote, urlsplit
    text = environ.get(PRIMARY_VARIABLE, "").strip()
    if not text:
        return None
    parts = urlsplit(text)
    try:
        port = parts.port or 3306
    except ValueError:
        port = 0
    database = unquote(parts.path.lstrip("/"))
    if parts.scheme != "mysql" or not parts.hostname or not parts.username or not port \
            or not database or "/" in database:
        raise BenchError(f"{PRIMARY_VARIABLE} must look like "
                         "mysql://USER:PASSWORD@HOST:PORT/DATABASE")
    return {"host": parts.hostname, "port": port, "user": unquote(parts.username),
            "password": unquote(parts.password or ""), "database": database}


def _cluster_environment(args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("VOTING_SERVER__SECRET", secrets.token_hex(24))
    # A load test from one address: the per-address rate limits would only measure themselves.
    env["VOTING_RATE_LIMITS__VOTERS_PER_MINUTE"] = "0"
    env["VOTING_RATE_LIMITS__BALLOTS_PER_MINUTE"] = "0"
    env["VOTING_RATE_LIMITS__POLLS_PER_MINUTE"] = "0"
    env["VOTING_WS__TALLY_INTERVAL"] = str(args.tally_interval)
    for item in args.env:
        key, _, value = item.partition("=")
        env[key] = value
    return env


def run_bench(args: argparse.Namespace) -> int:
    from voting.bench.workers import raise_fd_limit
    raise_fd_limit()  # the backends of --cluster inherit it: 5,000 sockets need the room
    try:
        opts = _options(args)
        if args.cluster:
            report = _with_cluster(args, opts)
        elif args.dir:
            from voting.cluster import LocalCluster
            cluster = LocalCluster(args.dir)
            report = main_report(_cluster_target(cluster, args.tally_interval), opts)
        else:
            url = (args.url or "http://127.0.0.1:8080").rstrip("/")
            target = _single_target(url, args.tally_interval)
            report = main_report(target, opts)
    except BenchError as exc:
        print(f"voting bench: {exc}", file=sys.stderr)
        return 2
    if args.json:
        Path(args.json).write_text(dumps(report) + "\n")
    print(table(report))
    if not report["ok"]:
        print("voting bench: " + "; ".join(report["failures"]), file=sys.stderr)
        return 1
    return 0


def _with_cluster(args: argparse.Namespace, opts: Options) -> dict[str, Any]:
    from voting.bench.run import progress
    from voting.cluster import LocalCluster

    state = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="bench-cluster-",
                                                                  dir=_run_dir()))
    # The cluster's own default config (what `voting cluster up` uses).
    cluster = LocalCluster(state, port=0, backends=args.backends,
                           environ=_cluster_environment(args))
    progress(f"starting a local cluster in {state}")
    try:
        cluster.up()
        progress(f"cluster up at {cluster.url}")
        return main_report(_cluster_target(cluster, args.tally_interval), opts)
    finally:
        progress("stopping the cluster")
        cluster.down(purge=True)


def _run_dir() -> str:
    path = Path(".run")
    try:
        path.mkdir(exist_ok=True)
        return str(path)
    except OSError:
        return tempfile.gettempdir()
