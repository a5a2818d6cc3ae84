"""A bare Tornado WebSocket server: the B_ws and B_mem baselines.

`python -m voting.bench.bare PORT_FILE` listens on a free port (written to
PORT_FILE) and serves /ws (hello on connect, nothing else) and
POST /broadcast?seconds=S, which sends one tally-shaped message to every open
socket, round after round, with plain `write_message` — what a Tornado
application does with no tuning — and answers the frames sent per second.
"""
from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import tornado.httpserver
import tornado.netutil
import tornado.web
import tornado.websocket

from voting.bench.workers import raise_fd_limit


class BareSocket(tornado.websocket.WebSocketHandler):
    def open(self, *args: str, **kwargs: str) -> None:
        self.settings["sockets"].add(self)
        self.write_message(json.dumps({"type": "hello", "server": "bare", "heartbeat": 20}))

    def on_close(self) -> None:
        self.settings["sockets"].discard(self)

    def check_origin(self, origin: str) -> bool:
        return True


class Broadcast(tornado.web.RequestHandler):
    async def post(self) -> None:
        seconds = float(self.get_query_argument("seconds", "3"))
        sockets: set[BareSocket] = self.settings["sockets"]
        counts = {f"o{i}": 0 for i in range(1, 5)}
        rounds = frames = 0
        start = time.monotonic()
        while time.monotonic() - start < seconds and sockets:
            rounds += 1
            counts["o1"] = rounds
            msg = json.dumps({"type": "tally", "poll": "bare0000", "seq": rounds,
                              "status": "open", "total": rounds,
                              "questions": [{"id": "q1", "counts": counts}]},
                             separators=(",", ":"))
            futures: list[Any] = []
            for s in list(sockets):
                try:
                    futures.append(s.write_message(msg))
                except tornado.websocket.WebSocketClosedError:
                    continue
            await asyncio.gather(*futures, return_exceptions=True)
            frames += len(futures)
        elapsed = time.monotonic() - start
        self.write({"frames": frames, "rounds": rounds, "seconds": elapsed,
                    "frames_per_second": frames / elapsed if elapsed else 0,
                    "sockets": len(sockets)})


class Health(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write({"status": "ok", "sockets": len(self.settings["sockets"])})


async def main(port_file: str) -> None:
    raise_fd_limit()
    app = tornado.web.Application([(r"/ws", BareSocket), (r"/broadcast", Broadcast),
                                   (r"/healthz", Health)], sockets=set())
    server = tornado.httpserver.HTTPServer(app)
    socks = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server.add_sockets(socks)
    with open(port_file, "w") as f:
        f.write(str(socks[0].getsockname()[1]))
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(main(sys.argv[1]))
    except KeyboardInterrupt:
        pass
