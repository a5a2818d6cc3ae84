"""Property-based fuzzing of every endpoint and of the WebSocket messages (hypothesis):
no input gives a 5xx, every error of the server's paths has the JSON error shape, and a
socket is never dropped without an error frame (DESIGN §4, §5). Used against the
embedded server (tests/handlers/test_fuzz.py) and once through nginx
(tests/integration/test_fuzz_nginx.py)."""
from __future__ import annotations

import asyncio
import http.client
import json
import urllib.parse
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st
from tornado.websocket import websocket_connect

# Any code point, lone surrogates included (hypothesis leaves them out by default), with the
# characters that broke servers before drawn often.
SPECIALS = ["\ud800", "\udfff", "\x00", "\u202e", "\u200b", "\ufeff", "'", '"', "<", "%",
            "\\", "/", ".", "\n", "\u00e9", "e\u0301", "\U0001f5f3", "9" * 30, "-"]
ANY_TEXT = st.lists(st.characters(codec=None, exclude_categories=()) | st.sampled_from(SPECIALS),
                    max_size=12).map("".join)
JSON_SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70),
                        st.floats(allow_nan=False), ANY_TEXT)
JSON_VALUE = st.recursive(JSON_SCALAR, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(ANY_TEXT, inner, max_size=5)), max_leaves=20)

VALID_POLL = {"title": "Fuzz", "questions": [
    {"text": "Q?", "kind": "multiple", "options": [{"label": "A"}, {"label": "B"}]}]}
POLL_KEYS = ["title", "description", "results", "show_results", "allow_revote", "eligibility",
             "code_count", "visibility", "closes_at", "questions"]


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    poll_id: str  # an open poll
    codes_poll_id: str
    admin_token: str


def _mutated_poll(draw: Any) -> Any:
    body: dict[str, Any] = json.loads(json.dumps(VALID_POLL))
    for key in draw(st.lists(st.sampled_from(POLL_KEYS + ["extra"]), max_size=3)):
        body[key] = draw(JSON_VALUE)
    if draw(st.booleans()):
        q = body["questions"] if isinstance(body.get("questions"), list) else []
        if q and isinstance(q[0], dict):
            q[0][draw(st.sampled_from(["text", "kind", "min_choices", "max_choices",
                                       "options", "scale_min"]))] = draw(JSON_VALUE)
    return body


def _q(text: str) -> str:
    return urllib.parse.quote(text.encode("utf-8", "surrogatepass"), safe="")


def _header_text(max_size: int) -> st.SearchStrategy[str]:
    return st.text(st.characters(max_codepoint=255, exclude_categories=("Cc",)),
                   max_size=max_size)


ENDPOINTS = ["create", "ballot", "lookup", "code", "list", "admin", "read", "voters", "anything"]


@st.composite
def http_requests(draw: Any, target: Target,
                  endpoint: str) -> tuple[str, str, bytes | None, dict[str, str]]:
    """One request aimed at one endpoint (ENDPOINTS) with odd input; "anything" is any
    method at any path."""
    pid = draw(st.sampled_from([target.poll_id, target.codes_poll_id, target.codes_poll_id,
                                "zzzzzzzz"]) | ANY_TEXT)
    base = f"/api/polls/{_q(pid) or 'x'}"
    body: Any = None
    method, path = "GET", base
    if endpoint == "create":
        method, path, body = "POST", "/api/polls", _mutated_poll(draw)
    elif endpoint == "ballot":
        method, path = "POST", base + "/ballots"
        body = {"choices": draw(st.just({"q1": ["o1"]}) | JSON_VALUE | st.dictionaries(
            st.sampled_from(["q1", "q2"]) | ANY_TEXT,
            st.lists(st.sampled_from(["o1", "o2", "o9"]) | ANY_TEXT, max_size=3), max_size=3))}
        if draw(st.integers(0, 3)):
            body["code"] = draw(ANY_TEXT | ANY_TEXT | JSON_VALUE)
    elif endpoint == "lookup":
        path = base + "/ballot?" + urllib.parse.urlencode(
            {k: draw(ANY_TEXT).encode("utf-8", "surrogatepass")
             for k in draw(st.sets(st.sampled_from(["code", "receipt"])))})
    elif endpoint == "code":
        path = f"{base}/codes/{_q(draw(ANY_TEXT)) or 'x'}"
    elif endpoint == "list":
        path = "/api/polls?" + urllib.parse.urlencode(
            {k: draw(ANY_TEXT | st.integers().map(str)).encode("utf-8", "surrogatepass")
             for k in draw(st.sets(st.sampled_from(["limit", "cursor", "x"])))})
    elif endpoint == "admin":
        method = draw(st.sampled_from(["POST", "DELETE"]))
        path = base if method == "DELETE" else base + draw(st.sampled_from(["/close", "/reopen"]))
    elif endpoint == "read":
        path = base + draw(st.sampled_from(["", "/results", "/results?format=csv",
                                            "/results?format=" + _q(draw(ANY_TEXT))]))
    elif endpoint == "voters":
        method, path = "POST", "/api/voters"
    else:
        method = draw(st.sampled_from(["GET", "POST", "DELETE", "PUT", "PATCH", "HEAD",
                                       "OPTIONS"]))
        segment = _q(draw(ANY_TEXT))
        path = draw(st.sampled_from([f"/{segment}", f"/assets/{segment}", f"/p/{segment}",
                                     f"/api/{segment}", f"{base}/{segment}", "/ws", "/healthz",
                                     "/readyz", "/metrics", "/api/openapi.json"]))
    raw: bytes | None = None
    shape = draw(st.sampled_from(["as_is"] * 6 + ["json", "bytes", "none"]))
    if shape == "as_is" and body is not None:
        raw = json.dumps(body).encode()  # ensure_ascii: a surrogate travels as \udxxx
    elif shape == "json":
        raw = json.dumps(draw(JSON_VALUE)).encode()
    elif shape == "bytes":
        raw = draw(st.binary(max_size=200))
    headers = {"Content-Type": draw(st.sampled_from(
        ["application/json"] * 8 + ["application/json; charset=utf-8", "text/plain", ""]))}
    if draw(st.booleans()):
        headers["X-Voter-Token"] = draw(_header_text(80))
    if draw(st.booleans()):
        headers["Authorization"] = "Bearer " + draw(st.sampled_from(
            [target.admin_token, "wrong", "x" * 300]) | _header_text(40))
    if draw(st.integers(0, 3)) == 0:
        headers["Idempotency-Key"] = draw(_header_text(40))
    return method, path, raw, headers


SERVER_PATHS = ("/api", "/ws", "/healthz", "/readyz", "/metrics")


def check_http(target: Target, method: str, path: str, body: bytes | None,
               headers: dict[str, str]) -> None:
    conn = http.client.HTTPConnection(target.host, target.port, timeout=10)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v.encode("latin-1"))
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    assert resp.status < 500, (method, path, headers, body, resp.status, data[:300])
    server_path = path.split("?")[0]
    if resp.status >= 400 and method != "HEAD" and server_path.startswith(SERVER_PATHS):
        assert resp.getheader("Content-Type", "").startswith("application/json"), \
            (method, path, resp.status, data[:200])
        error = json.loads(data)["error"]
        assert isinstance(error["code"], str) and isinstance(error["message"], str)


@st.composite
def ws_messages(draw: Any, target: Target) -> str:
    frame: Any = draw(st.one_of(
        st.fixed_dictionaries({
            "type": st.sampled_from(["subscribe", "unsubscribe", "ping", "other"]) | ANY_TEXT,
            "poll": st.sampled_from([target.poll_id, "zzzzzzzz"]) | JSON_VALUE},
            optional={"admin_token": JSON_VALUE | st.just(target.admin_token)}),
        JSON_VALUE))
    if draw(st.integers(0, 9)) == 0:
        return draw(ANY_TEXT).encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return json.dumps(frame)  # surrogates as \\udxxx escapes


async def _ws_exchange(url: str, messages: list[str]) -> None:
    conn = await websocket_connect(url)
    try:
        hello = json.loads(await conn.read_message() or "{}")  # type: ignore[arg-type]
        assert hello.get("type") == "hello"
        for message in messages:
            await conn.write_message(message)
            # The socket still answers: every frame it sent is a known type, never a close.
            await conn.write_message('{"type": "ping"}')
            while True:
                async with asyncio.timeout(10):
                    raw = await conn.read_message()
                assert raw is not None, (message[:200], conn.close_code, conn.close_reason)
                frame = json.loads(raw)
                assert frame["type"] in ("pong", "error", "snapshot", "tally", "status",
                                         "deleted"), frame
                if frame["type"] == "error":
                    assert isinstance(frame["code"], str) and frame["message"]
                if frame["type"] == "pong":
                    break
    finally:
        conn.close()
        async with asyncio.timeout(5):
            while await conn.read_message() is not None:
                pass


def check_ws(target: Target, messages: list[str]) -> None:
    asyncio.run(_ws_exchange(f"ws://{target.host}:{target.port}/ws", messages))


def make_target(base_url: str) -> Target:
    """Polls to aim at, made through the same server."""
    u = urllib.parse.urlsplit(base_url)
    host, port = u.hostname or "127.0.0.1", u.port or 80

    def post(path: str, body: Any) -> Any:
        conn = http.client.HTTPConnection(host, port, timeout=10)
        try:
            conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
            resp = conn.getresponse()
            assert resp.status == 201, resp.read()
            return json.loads(resp.read())
        finally:
            conn.close()

    open_poll = post("/api/polls", VALID_POLL)
    codes = post("/api/polls", {**VALID_POLL, "eligibility": "codes", "code_count": 3})
    return Target(host, port, open_poll["poll"]["id"], codes["poll"]["id"],
                  open_poll["admin_token"])
