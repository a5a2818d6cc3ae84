"""The `voting` command (DESIGN.md §7)."""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from typing import Any

from voting import config as config_mod
from voting.config import ConfigError


def _load(args: argparse.Namespace, overrides: dict[str, dict[str, Any]] | None = None
          ) -> config_mod.Config:
    return config_mod.load(getattr(args, "config", None), overrides=overrides)


def cmd_serve(args: argparse.Namespace) -> int:
    over: dict[str, dict[str, Any]] = {"server": {}}
    if args.host:
        over["server"]["host"] = args.host
    if args.port is not None:
        over["server"]["port"] = args.port
    if args.name:
        over["server"]["name"] = args.name
    cfg = _load(args, over)
    from voting.app import main
    asyncio.run(main(cfg))
    return 0


def cmd_db_init(args: argparse.Namespace) -> int:
    cfg = _load(args)
    from voting.seed import init_database
    poll_id = asyncio.run(init_database(cfg, seed=args.seed))
    print(f"database ready ({cfg.storage.backend})" +
          (f"; demo poll {poll_id}" if poll_id else ""))
    return 0


def cmd_cluster(args: argparse.Namespace) -> int:
    from voting import cluster
    if args.action == "up":
        info = cluster.up(config_path=args.config, state_dir=args.dir, port=args.port,
                          backends=args.backends)
        print(f"cluster up: {info.url}")
        return 0
    if args.action == "status":
        status = cluster.status(state_dir=args.dir)
        if args.json:
            print(json.dumps(status))
        else:
            print(f"url: {status['url']}")
            for p in status["processes"]:
                state = "up" if p["alive"] else "DOWN"
                print(f"  {p['name']:<10} {p['role']:<8} pid={p['pid']} port={p['port']} {state}")
            for r in status["replicas"]:
                print(f"  {r['name']} lag_ms={r['lag_ms']}")
        return 0
    cluster.down(state_dir=args.dir, purge=args.purge)
    print("cluster down" + (" (data purged)" if args.purge else " (data kept)"))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from voting.bench import run_bench
    return run_bench(args)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="voting", description="Real-time voting server.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run one server process")
    s.add_argument("--config")
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    s.add_argument("--name")
    s.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="database commands")
    dbs = db.add_subparsers(dest="db_command", required=True)
    init = dbs.add_parser("init", help="create the schema (and a demo poll with --seed)")
    init.add_argument("--config")
    init.add_argument("--seed", action="store_true")
    init.set_defaults(func=cmd_db_init)

    c = sub.add_parser("cluster", help="the local cluster (MariaDB, Redis, backends, nginx)")
    cs = c.add_subparsers(dest="action", required=True)
    up = cs.add_parser("up")
    up.add_argument("--config", default=None,
                    help="default: the one recorded for DIR, else the packaged voting/configs/cluster.yml")
    up.add_argument("--dir", default=".run/cluster")
    up.add_argument("--port", type=int, default=None,
                    help="public port (nginx); default: the recorded one, else 8080; 0 = free")
    up.add_argument("--backends", type=int, default=None, help="default: recorded, else 3")
    st = cs.add_parser("status")
    st.add_argument("--dir", default=".run/cluster")
    st.add_argument("--json", action="store_true")
    down = cs.add_parser("down")
    down.add_argument("--dir", default=".run/cluster")
    down.add_argument("--purge", action="store_true")
    for sp in (up, st, down):
        sp.set_defaults(func=cmd_cluster)

    b = sub.add_parser("bench", help="load test and its baselines (docs/benchmarks.md)")
    from voting.bench import add_arguments as bench_arguments
    bench_arguments(b)
    b.set_defaults(func=cmd_bench)
    return p


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class LineFormatter(logging.Formatter):
    """LOG_FORMAT with the standard timestamp, formatted once a second rather than once a
    line: strftime was a third of the access log's cost at thousands of requests a second."""

    def __init__(self) -> None:
        super().__init__(LOG_FORMAT)
        self._second: int | None = None
        self._stamp = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        if second != self._second:
            self._stamp = time.strftime(self.default_time_format, self.converter(second))
            self._second = second
        return "%s,%03d" % (self._stamp, record.msecs)  # the standard default_msec_format


def configure_logging() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(LineFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    # One access line per request: at thousands a second, looking up the caller's frame, the
    # thread and the process for each record (which our format never shows) cost a few
    # percent of a backend's CPU. The logging HOWTO's "Optimization" section names these.
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"voting: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from voting.cluster import ClusterError
        if isinstance(exc, ClusterError):
            print(f"voting: {exc}", file=sys.stderr)
            return 1
        raise
    except KeyboardInterrupt:
        return 130
