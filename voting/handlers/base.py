"""The base handler: typed access to dependencies, JSON bodies and the one error shape."""
from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

import tornado.web

from voting import jsontext
from voting.config import Config
from voting.errors import ApiError, DomainError
from voting.metrics import Metrics
from voting.ratelimit import RateLimiter, rate_key, real_client_address
from voting.service import PollService, Reply
from voting.storage.base import Storage
from voting.tokens import Signer

log = logging.getLogger(__name__)

POS_COOKIE = "voting_pos"
# A value of only these characters goes into a cookie as it is (http.cookies quotes others).
_COOKIE_PLAIN = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`|~:]+\Z")
HARD_BODY_LIMIT = 8 * 1024 * 1024  # beyond this we stop reading and answer 413 at once

_STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type",
                 429: "rate_limited", 503: "unavailable"}


def pos_cookie_header(pos: str) -> str | None:
    """The Set-Cookie value of the read position, as set_cookie would write it, when `pos`
    needs no quoting (MariaDB's GTIDs never do); None: let set_cookie quote it. Every ballot
    sets it, and a SimpleCookie per answer cost a few percent of a backend's CPU."""
    if not _COOKIE_PLAIN.match(pos):
        return None
    return f"{POS_COOKIE}={pos}; HttpOnly; Max-Age=300; Path=/; SameSite=Lax"


class InFlight:
    """Requests being handled; shutdown waits until there are none."""

    def __init__(self) -> None:
        self.n = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> None:
        self.n += 1
        self._idle.clear()

    def leave(self) -> None:
        self.n -= 1
        if self.n == 0:
            self._idle.set()

    async def idle(self) -> None:
        await self._idle.wait()


@tornado.web.stream_request_body
class BaseHandler(tornado.web.RequestHandler):
    route_name = "other"

    # --- dependencies ----------------------------------------------------
    @property
    def config(self) -> Config:
        return self.settings["voting_config"]  # type: ignore[no-any-return]

    @property
    def storage(self) -> Storage:
        return self.settings["voting_storage"]  # type: ignore[no-any-return]

    @property
    def service(self) -> PollService:
        return self.settings["voting_service"]  # type: ignore[no-any-return]

    @property
    def metrics(self) -> Metrics:
        return self.settings["voting_metrics"]  # type: ignore[no-any-return]

    @property
    def signer(self) -> Signer:
        return self.settings["voting_signer"]  # type: ignore[no-any-return]

    @property
    def rate_limiter(self) -> RateLimiter:
        return self.settings["voting_rate_limiter"]  # type: ignore[no-any-return]

    @property
    def backend_name(self) -> str:
        return self.config.server.name

    # --- request body ----------------------------------------------------
    def initialize(self) -> None:
        self._chunks: list[bytes] = []
        self._body_size = 0
        self._counted = False
        self._retry_after: str | None = None  # for a 429 (send_error clears headers set before)

    def on_finish(self) -> None:
        self._release()

    def on_connection_close(self) -> None:
        self._release()

    def _release(self) -> None:
        if self._counted:
            self._counted = False
            self.settings["voting_inflight"].leave()

    @property
    def body_limit(self) -> int:
        return self.config.server.max_body_bytes

    def set_default_headers(self) -> None:
        # Here rather than in prepare(): error responses clear() the headers back to these.
        self.set_header("X-Backend", self.backend_name)

    def prepare(self) -> None:
        self.settings["voting_inflight"].enter()
        self._counted = True
        length = self.request.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > HARD_BODY_LIMIT:
            raise self.too_large()

    def data_received(self, chunk: bytes) -> None:
        self._body_size += len(chunk)
        if self._body_size <= self.body_limit:
            self._chunks.append(chunk)
        else:
            self._chunks = []
            if self._body_size > HARD_BODY_LIMIT:
                raise self.too_large()

    def refuse_large_body(self) -> None:
        """For handlers that read no body: the 64 KiB limit holds for every request."""
        if self._body_size > self.body_limit:
            raise self.too_large()
        self._require_json_type()

    def _require_json_type(self) -> None:
        """A non-empty body must say it is JSON: a form or text/plain post from another site
        (which needs no CORS preflight) cannot then cast a ballot with a visitor's cookie."""
        if self._body_size == 0:
            return
        mime = self.request.headers.get("Content-Type", "").partition(";")[0].strip().lower()
        if mime != "application/json":
            raise ApiError(415, "unsupported_media_type",
                           "The request body must be JSON (Content-Type: application/json).")

    def too_large(self) -> ApiError:
        return ApiError(413, "payload_too_large",
                        f"The request body is larger than {self.body_limit // 1024} KiB.")

    def json_body(self, invalid_code: str) -> Any:
        if self._body_size > self.body_limit:
            raise self.too_large()
        self._require_json_type()
        try:
            return jsontext.loads(b"".join(self._chunks))
        except ValueError:
            raise ApiError(400, "invalid_json", "The request body is not valid JSON "
                                                "(UTF-8, no lone surrogates).") from None

    # --- who is asking ---------------------------------------------------
    @property
    def client_ip(self) -> str:
        """The caller's address; a proxy's X-Real-IP / X-Forwarded-For only from trusted_proxies."""
        return real_client_address(self.request.remote_ip or "", self.request.headers,
                                   self.config.server.trusted_proxies)

    @property
    def voter_token(self) -> str | None:
        return self.request.headers.get("X-Voter-Token") or self.get_cookie("voter")

    @property
    def admin_token(self) -> str | None:
        auth = self.request.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return None

    @property
    def read_pos(self) -> str | None:
        pos = self.get_cookie(POS_COOKIE)
        return pos if pos and len(pos) <= 512 else None

    async def check_rate(self, bucket: str) -> None:
        if not self.rate_limiter.limited(bucket):
            return  # no need to work out the caller's address
        if not await self.rate_limiter.allow(bucket, rate_key(self.client_ip)):
            self._retry_after = str(self.rate_limiter.retry_after())
            raise ApiError(429, "rate_limited", "Too many requests from your address; "
                                                "please wait a minute.")

    # --- responses -------------------------------------------------------
    def write_json(self, status: int, body: dict[str, Any] | None) -> None:
        self.set_status(status)
        if body is not None:
            self.set_header("Content-Type", "application/json; charset=UTF-8")
            self.finish(json.dumps(body, ensure_ascii=False, separators=(",", ":")))
        else:
            self.finish()

    def write_reply(self, reply: Reply) -> None:
        if reply.pos:
            header = pos_cookie_header(reply.pos)
            if header is not None:
                self.add_header("Set-Cookie", header)
            else:
                self.set_cookie(POS_COOKIE, reply.pos, httponly=True, samesite="Lax",
                                expires_days=None, max_age=300)
        self.write_json(reply.status, reply.body if reply.status != 204 else None)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, DomainError):
            exc = exc.to_api()
        if isinstance(exc, ApiError):
            status, code, message = exc.status, exc.code, exc.message
        elif isinstance(exc, tornado.web.HTTPError) and exc.status_code < 500:
            status = exc.status_code
            code = _STATUS_CODES.get(status, "bad_request")
            message = {404: "Nothing here.", 405: "This method is not allowed here."}.get(
                status, exc.log_message or self._reason)
        else:
            status, code, message = 500, "internal_error", "Something went wrong on our side."
        self.clear_header("Content-Disposition")
        if status == 429 and self._retry_after:
            self.set_header("Retry-After", self._retry_after)
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps({"error": {"code": code, "message": message}}))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, (ApiError, DomainError)):
            return
        super().log_exception(typ, value, tb)
