"""Liveness, readiness and Prometheus metrics."""
from __future__ import annotations

import ipaddress

from voting.errors import ApiError, DomainError
from voting.handlers.base import BaseHandler


class HealthHandler(BaseHandler):
    route_name = "/healthz"

    def get(self) -> None:
        self.write_json(200, {"status": "ok", "server": self.backend_name})

    head = get  # for monitors that probe with HEAD (Tornado sends no body)


class ReadyHandler(BaseHandler):
    route_name = "/readyz"

    async def get(self) -> None:
        details: dict[str, object] = {"server": self.backend_name}
        ready = not self.settings.get("voting_shutting_down", False)
        try:
            details.update(await self.storage.ping())
        except DomainError as exc:
            ready = False
            details["storage_error"] = exc.message
        broker = self.settings["voting_broker"]
        try:
            details.update(await broker.ping())
        except Exception as exc:  # a broker that cannot answer is not ready
            ready = False
            details["broker_error"] = str(exc) or type(exc).__name__
        details["status"] = "ok" if ready else "unavailable"
        self.write_json(200 if ready else 503, details)

    head = get


class MetricsHandler(BaseHandler):
    route_name = "/metrics"

    def get(self) -> None:
        allowed = self.config.server.metrics_allow
        if allowed:
            # The real client behind nginx (trusted_proxies), as for rate limits.
            ip = ipaddress.ip_address(self.client_ip)
            if not any(ip in net for net in allowed):
                raise ApiError(403, "forbidden", "Metrics are not available to your address.")
        self.set_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.finish(self.metrics.render())
