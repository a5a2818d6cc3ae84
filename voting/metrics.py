"""Prometheus metrics of one process (DESIGN.md §6), on a registry owned by the app."""
from __future__ import annotations

from typing import Any

import tornado.web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# Tornado answers any other method 405; its name would be a label a client makes up.
HTTP_METHODS = frozenset(tornado.web.RequestHandler.SUPPORTED_METHODS)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter(
            "voting_http_requests_total", "HTTP requests by route and status",
            ["method", "route", "status"], registry=r)
        self.http_latency = Histogram(
            "voting_http_request_duration_seconds", "HTTP request latency by route",
            ["method", "route"], registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.ws_open = Gauge("voting_websockets_open", "Open WebSocket connections", registry=r)
        self.ws_subscriptions = Gauge("voting_ws_subscriptions", "Active poll subscriptions",
                                      registry=r)
        self.ws_tally_interval = Gauge(
            "voting_ws_tally_interval_seconds",
            "Tally interval in force (lengthened under load up to ws.max_tally_interval)",
            registry=r)
        self.ws_frames_sent = Counter("voting_ws_frames_sent_total", "WebSocket frames sent",
                                      ["type"], registry=r)
        self.ws_frames_coalesced = Counter(
            "voting_ws_frames_coalesced_total",
            "Tally frames replaced by a newer one before they were sent", registry=r)
        self.ws_frames_dropped = Counter(
            "voting_ws_frames_dropped_total",
            "Frames dropped because a slow connection passed its bound and was closed", registry=r)
        self.ballots = Counter("voting_ballots_total", "Ballots by outcome",
                               ["outcome"], registry=r)
        self.relay_delay = Histogram(
            "voting_relay_delay_seconds", "Delay of events relayed through the broker", registry=r,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5))
        self.relay_skipped = Counter(
            "voting_relay_skipped_total",
            "Changes whose tally was neither read nor relayed: nobody watched the poll anywhere",
            registry=r)
        self.db_pool_in_use = Gauge("voting_db_pool_connections_in_use",
                                    "Database connections in use by role", ["role"], registry=r)
        self.db_pool_size = Gauge("voting_db_pool_connections", "Database pool size by role",
                                  ["role"], registry=r)
        self.replica_lag = Gauge("voting_replica_lag_seconds", "Replication lag seen per replica",
                                 ["replica"], registry=r)
        self.broker_connected = Gauge("voting_broker_connected",
                                      "1 when the broker (Redis) is connected", registry=r)

        # (metric, label values) -> its child: labels() takes a lock and checks its arguments,
        # a few percent of a backend's CPU at thousands of requests a second.
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}

    def child(self, metric: Any, *values: str) -> Any:
        """metric.labels(*values), looked up once. Only for label values from a bounded set."""
        key = (id(metric), values)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*values)
        return found

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        if method not in HTTP_METHODS:
            method = "other"
        self.child(self.http_requests, method, route, str(status)).inc()
        self.child(self.http_latency, method, route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
