"""The app factory and the server's main(): pools opened here, closed on shutdown."""
from __future__ import annotations

import asyncio
import gc
import json
import logging
import signal
import time
from pathlib import Path
from typing import Any

import tornado.netutil
import tornado.web

from voting import openapi
from voting.config import Config, private_dir, resolve_secret
from voting.definitions import PollDefinitions
from voting.handlers.base import BaseHandler, InFlight
from voting.handlers.client import ClientFileHandler, ClientNotFoundHandler, ClientPageHandler
from voting.handlers.health import HealthHandler, MetricsHandler, ReadyHandler
from voting.listener import BoundedHTTPServer
from voting.handlers.polls import BallotHandler, BallotsHandler, CodeHandler, PollHandler, \
    PollsHandler, PollStatusHandler, ResultsHandler, VotersHandler
from voting.metrics import Metrics
from voting.ratelimit import RateLimiter, SharedRateLimiter
from voting.service import IDEMPOTENCY_TTL_MS, PollService
from voting.storage.base import Storage
from voting.tokens import Signer
from voting.ws.broker import Broker, InProcessBroker
from voting.ws.handler import CLOSE_RESTART, FeedSocket
from voting.ws.registry import Registry

log = logging.getLogger("voting")
access_log = logging.getLogger("voting.access")


class OpenApiHandler(BaseHandler):
    route_name = "/api/openapi.json"

    def get(self) -> None:
        self.write_json(200, openapi.document())


def _log_request(handler: tornado.web.RequestHandler) -> None:
    """One line per request, and the HTTP metrics."""
    status = handler.get_status()
    duration = handler.request.request_time()
    route = getattr(handler, "route_name", "other")
    if isinstance(handler, FeedSocket):
        route = "/ws"
    elif isinstance(handler, ClientFileHandler):
        route = "static"
    metrics: Metrics = handler.settings["voting_metrics"]
    method = handler.request.method or "?"
    metrics.observe_request(method, route, status, duration)
    server = handler.settings["voting_config"].server
    if server.access_log_json:
        access_log.info(json.dumps({"method": method, "path": handler.request.path,
                                    "status": status, "ms": round(duration * 1000, 2),
                                    "server": server.name}))
    else:
        access_log.info("%d %s %s %.1fms", status, method, handler.request.path, duration * 1000)


def make_app(config: Config, storage: Storage, broker: Broker,
             metrics: Metrics | None = None) -> tornado.web.Application:
    metrics = metrics or Metrics()
    signer = Signer(resolve_secret(config.server))
    definitions = PollDefinitions()  # one per process: a subscriber's poll serves its ballots
    service = PollService(storage, broker, signer, metrics, config.storage.counter_slots,
                          definitions)
    registry = Registry(storage, broker, config.ws.tally_interval,
                        config.ws.max_subscriptions, metrics, config.ws.max_tally_interval,
                        config.ws.max_frames_per_second, definitions)
    static_dir = str(Path(config.server.static_dir).resolve())
    poll = r"([^/]+)"
    routes: list[Any] = [
        (r"/api/polls", PollsHandler),
        (rf"/api/polls/{poll}", PollHandler),
        (rf"/api/polls/{poll}/results", ResultsHandler),
        (rf"/api/polls/{poll}/ballots", BallotsHandler),
        (rf"/api/polls/{poll}/ballot", BallotHandler),
        (rf"/api/polls/{poll}/codes/([^/]+)", CodeHandler),
        (rf"/api/polls/{poll}/(close|reopen)", PollStatusHandler),
        (r"/api/voters", VotersHandler),
        (r"/api/openapi.json", OpenApiHandler),
        (r"/healthz", HealthHandler),
        (r"/readyz", ReadyHandler),
        (r"/metrics", MetricsHandler),
        (r"/ws", FeedSocket),
        (r"/", ClientPageHandler),
        # Any id: the client leads "/p/7709 4ZJ5" to its poll, or says there is none.
        (r"/p/[^/]{1,64}(?:/(?:present|admin))?/?", ClientPageHandler),
        (r"/(assets/.+|favicon\.(?:ico|svg)|robots\.txt|manifest\.webmanifest)", ClientFileHandler,
         {"path": static_dir}),
    ]
    return tornado.web.Application(
        routes,
        default_handler_class=ClientNotFoundHandler,
        log_function=_log_request,
        websocket_ping_interval=config.ws.heartbeat,
        # Tornado caps the pong wait at the ping interval; nginx's idle limit is far longer.
        websocket_ping_timeout=min(config.ws.idle_timeout, config.ws.heartbeat),
        websocket_max_message_size=config.ws.max_message_bytes,
        compress_response=True,
        voting_config=config,
        voting_storage=storage,
        voting_broker=broker,
        voting_service=service,
        voting_registry=registry,
        voting_metrics=metrics,
        voting_signer=signer,
        voting_connections=set(),
        voting_inflight=InFlight(),
        voting_rate_limiter=make_rate_limiter(config),
    )


def make_rate_limiter(config: Config) -> RateLimiter:
    """Counted in Redis when backends share one (the cluster), else in the process."""
    per_minute = config.rate_limits.per_minute()
    b = config.broker
    if b.backend == "redis":
        return SharedRateLimiter(per_minute, b.redis_url, b.redis_password or None,
                                 b.channel_prefix)
    return RateLimiter(per_minute)


def make_storage(config: Config, metrics: Metrics | None = None) -> Storage:
    if config.storage.backend == "mysql":
        from voting.storage.mysql import MySQLStorage
        return MySQLStorage(config.storage, config.server.name, metrics)
    from voting.storage.sqlite import SQLiteStorage
    path = config.storage.sqlite_path or str(private_dir(config.server.data_dir) / "voting.sqlite3")
    return SQLiteStorage(path, config.storage.batch_gap)


def make_broker(config: Config, name: str, metrics: Metrics | None = None) -> Broker:
    if config.broker.backend == "redis":
        from voting.ws.redis_broker import RedisBroker
        return RedisBroker(config.broker, name, metrics)
    return InProcessBroker()


SWEEP_INTERVAL = 0.25  # seconds


async def _housekeeping(app: tornado.web.Application) -> None:
    """Closes polls whose closes_at passed and forgets idempotency keys older than 24 h."""
    service: PollService = app.settings["voting_service"]
    storage: Storage = app.settings["voting_storage"]
    last_purge = 0.0
    while True:
        # Reads derive "closed" from closes_at at once; the sweep writes it down and tells
        # the live feeds, so it runs often (one indexed query) to keep their frame prompt.
        await asyncio.sleep(SWEEP_INTERVAL)
        try:
            await service.close_due_polls()
            if time.monotonic() - last_purge > 600:
                last_purge = time.monotonic()
                await storage.purge_idempotency(int(time.time() * 1000) - IDEMPOTENCY_TTL_MS)
        except Exception as exc:  # storage down: try again next round
            log.warning("housekeeping failed: %s", exc)


class Server:
    """A running server: app, HTTP listener, background tasks; used by main() and tests."""

    def __init__(self, config: Config, storage: Storage, broker: Broker,
                 metrics: Metrics | None = None) -> None:
        self.config = config
        self.storage = storage
        self.broker = broker
        self.app = make_app(config, storage, broker, metrics)
        self.http: BoundedHTTPServer | None = None
        self.port = 0
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def metrics(self) -> Metrics:
        return self.app.settings["voting_metrics"]  # type: ignore[no-any-return]

    async def start(self, host: str, port: int) -> int:
        await self.storage.open()
        await self.broker.start()
        self.app.settings["voting_registry"].start()
        self._tasks.append(asyncio.get_running_loop().create_task(_housekeeping(self.app)))
        s = self.config.server
        feeds = self.app.settings["voting_connections"]
        self.http = BoundedHTTPServer(
            self.app,
            # Bodies over the API limit are answered 413 by the handlers, not dropped here.
            max_body_size=64 * 1024 * 1024,
            # Tornado waits for a request's headers this long, idle keep-alive included.
            idle_connection_timeout=s.header_timeout,
            body_timeout=s.body_timeout or None,
            max_connections=s.max_connections,
            other_connections=lambda: len(feeds))
        sockets = tornado.netutil.bind_sockets(port, host)
        self.http.add_sockets(sockets)
        self.port = sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        """Graceful: stop accepting, close feeds with 1012, finish in-flight requests, close pools."""
        self.app.settings["voting_shutting_down"] = True
        if self.http is not None:
            self.http.stop()
        for conn in list(self.app.settings["voting_connections"]):
            conn.close(CLOSE_RESTART, "server restart")
        grace = self.config.server.shutdown_grace
        try:
            async with asyncio.timeout(grace):
                await self.app.settings["voting_inflight"].idle()
        except TimeoutError:
            pass  # close_all_connections below gives them one more grace, then warns
        if self.http is not None:
            try:
                async with asyncio.timeout(grace):
                    await self.http.close_all_connections()
            except asyncio.TimeoutError:
                log.warning("in-flight requests did not finish within the grace period")
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.app.settings["voting_registry"].close()
        await self.app.settings["voting_rate_limiter"].close()
        await self.broker.close()
        await self.storage.close()


async def main(config: Config) -> None:
    metrics = Metrics()
    storage = make_storage(config, metrics)
    broker = make_broker(config, config.server.name, metrics)
    server = Server(config, storage, broker, metrics)
    port = await server.start(config.server.host, config.server.port)
    # A full garbage collection walks every object the collector tracks and stops the
    # process meanwhile: 0.1-0.3 s on a busy 2-core box with a crowd's connections, every
    # ballot and frame of this backend waiting. What exists once started (modules, the app,
    # the pools) lives as long as the process: moved out of the collections' way.
    gc.collect()
    gc.freeze()
    log.info("voting %s listening on http://%s:%d (%s storage, %s broker)",
             config.server.name, config.server.host, port,
             config.storage.backend, config.broker.backend)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down")
    await server.stop()
