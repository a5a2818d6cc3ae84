"""A stand-in for `voting serve`, for testing the orchestration (nginx, env, lifecycle).

Run as: python standin_backend.py --name backend1 --port 8001
It answers /readyz and /healthz, echoes what nginx forwarded on /api/echo,
reports its environment on /api/env, and speaks WebSocket on /ws. Every
response carries X-Backend, like the real server.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal

import tornado.web
import tornado.websocket

NAME = "standin"


class Base(tornado.web.RequestHandler):
    def set_default_headers(self) -> None:
        self.set_header("X-Backend", NAME)
        self.set_header("Content-Type", "application/json")


class Ready(Base):
    def get(self) -> None:
        self.write({"status": "ok", "server": NAME})


class Echo(Base):
    def get(self) -> None:
        self.write({"server": NAME, "headers": dict(self.request.headers),
                    "remote_ip": self.request.remote_ip})

    def post(self) -> None:
        self.write({"server": NAME, "length": len(self.request.body)})


class Env(Base):
    def get(self) -> None:
        self.write({k: v for k, v in os.environ.items() if k.startswith("VOTING_")})


class Fallback(Base):
    def get(self) -> None:
        self.set_status(404)
        self.write({"error": {"code": "not_found", "message": "stand-in"}})


class Ws(tornado.websocket.WebSocketHandler):
    def open(self) -> None:
        self.write_message(json.dumps({"type": "hello", "server": NAME, "heartbeat": 20}))

    def on_message(self, message: str | bytes) -> None:
        self.write_message(json.dumps({"type": "pong"}))


async def main() -> None:
    global NAME
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    NAME = args.name
    app = tornado.web.Application([
        (r"/(?:readyz|healthz)", Ready), (r"/api/echo", Echo), (r"/api/env", Env),
        (r"/ws", Ws), (r"/.*", Fallback)])
    server = app.listen(args.port, address="127.0.0.1", max_body_size=8 << 20)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    server.stop()


if __name__ == "__main__":
    asyncio.run(main())
