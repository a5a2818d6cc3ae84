"""The security review's findings (issue 7), each a probe that failed before its fix,
and the probes that held, kept so they keep holding."""
from __future__ import annotations

import csv
import io
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from tornado.websocket import websocket_connect

from tests.client import Api, Feed
from tests.conftest import RunningServer
from tests.handlers.helpers import assert_error, db_state, in_seconds, poll_body
from voting.domain import now_ms
from voting.tokens import ID_ALPHABET, sha256_hex


async def codes_poll(api: Api, **kw: Any) -> tuple[str, list[str], str]:
    created = await api.create_poll(eligibility="codes", code_count=3, **kw)
    return created["poll"]["id"], created["codes"], created["admin_token"]


# --- 2. a code reveals nothing without its receipt; codes are checked by their own route --

async def test_code_status_route(sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    pid, codes, _ = await codes_poll(api)
    assert (await api.get(f"/api/polls/{pid}/codes/{codes[0]}")).json == {"status": "unused"}
    r = await api.post(f"/api/polls/{pid}/ballots", {"choices": {"q1": ["o1"]}, "code": codes[0]})
    assert r.status == 201
    assert (await api.get(f"/api/polls/{pid}/codes/{codes[0]}")).json == {"status": "used"}
    # In any case and with the spaces a printed slip groups it by.
    spaced = f"{codes[1][:5].upper()} {codes[1][5:]}".replace(" ", "%20")
    assert (await api.get(f"/api/polls/{pid}/codes/{spaced}")).json == {"status": "unused"}
    assert_error(await api.get(f"/api/polls/{pid}/codes/zzzzzzzzzz"), 403, "invalid_code")
    assert_error(await api.get(f"/api/polls/{pid}/codes/{'x' * 65}"), 403, "invalid_code")
    assert_error(await api.get(f"/api/polls/zzzzzzzz/codes/{codes[0]}"), 404, "poll_not_found")
    # A code of another poll is not valid here; an open poll has no codes at all.
    other, other_codes, _ = await codes_poll(api)
    assert_error(await api.get(f"/api/polls/{pid}/codes/{other_codes[0]}"), 403, "invalid_code")
    open_poll = (await api.create_poll())["poll"]["id"]
    assert_error(await api.get(f"/api/polls/{open_poll}/codes/{codes[2]}"), 403, "invalid_code")


async def test_stored_code_hashes_are_keyed_with_the_server_secret(
        sqlite_server: RunningServer) -> None:
    """A copy of the database must not let codes be guessed offline: no plain hash of one."""
    pid, codes, _ = await codes_poll(sqlite_server.api)
    storage: Any = sqlite_server.server.storage
    async with storage.reader.execute("SELECT code_hash FROM poll_codes WHERE poll_id = ?",
                                      (pid,)) as cur:
        stored = {row[0] for row in await cur.fetchall()}
    assert len(stored) == 3
    for code in codes:
        for plain in (sha256_hex(f"{pid}:{code}"), sha256_hex(code), sha256_hex(f"{code}:{pid}")):
            assert plain not in stored
    signer = sqlite_server.server.app.settings["voting_signer"]
    assert stored == {signer.code_hash(pid, c) for c in codes}


# --- 4. no 5xx from odd input ---------------------------------------------------------------

@pytest.mark.parametrize("cursor", [
    "OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk6YWJjZGVmZ2g",  # 99999999999999999999999:abcdefgh
    "LTE6YWJjZGVmZ2g",  # -1:abcdefgh
    "MWUzOmFiY2RlZmdo",  # 1e3:abcdefgh
    "wyk",  # not UTF-8
])
async def test_out_of_range_cursors_are_422(sqlite_server: RunningServer, cursor: str) -> None:
    assert_error(await sqlite_server.api.get(f"/api/polls?cursor={cursor}"), 422, "invalid_query")


@pytest.mark.parametrize("where", ["title", "label", "code", "choice", "key"])
async def test_lone_surrogates_are_invalid_json(sqlite_server: RunningServer, where: str) -> None:
    api = sqlite_server.api
    pid, _, _ = await codes_poll(api)
    before = await db_state(sqlite_server)
    if where in ("title", "label"):
        body = poll_body()
        if where == "title":
            body["title"] = "X"
        else:
            body["questions"][0]["options"][0]["label"] = "X"
        raw = json.dumps(body).replace('"X"', '"\\ud800"')
        r = await api.request("POST", "/api/polls", body=raw)
    else:
        ballot = {"choices": {"q1": ["o1"]}, "code": "X"}
        raw = json.dumps(ballot)
        raw = {"code": raw.replace('"X"', '"\\udfff"'),
               "choice": raw.replace('"o1"', '"o\\ud800"'),
               "key": raw.replace('"q1"', '"\\ud83d"')}[where]
        r = await api.request("POST", f"/api/polls/{pid}/ballots", body=raw)
    assert_error(r, 400, "invalid_json")
    assert await db_state(sqlite_server) == before


@pytest.mark.parametrize("path", ["/assets/%00", "/assets/a%00.js", "/favicon.ico%00",
                                  "/assets/..%2f..%2fsetup.cfg", "/assets/%2e%2e/%2e%2e/README.md",
                                  "/assets/....//....//etc/passwd", "/%00"])
async def test_odd_paths_are_404(sqlite_server: RunningServer, path: str) -> None:
    r = await sqlite_server.api.get(path)
    assert r.status in (403, 404), (path, r.status, r.body[:100])
    assert b"[tool:pytest]" not in r.body and b"root:" not in r.body


async def test_websocket_odd_frames_get_error_frames_and_the_socket_lives(
        sqlite_server: RunningServer) -> None:
    pid = (await sqlite_server.api.create_poll())["poll"]["id"]
    feed = await Feed.connect(sqlite_server.ws_url)
    try:
        await feed.wait_for(lambda f: f["type"] == "hello")
        for raw in ('{"type": "subscribe", "poll": "\\ud800"}',
                    '{"type": "subscribe", "poll": "%s", "admin_token": "\\udfff"}' % pid,
                    '{"type": "\\ud800"}', '{"\\ud800": 1}', "[1, 2]", "nul\x00l", "[" * 3000):
            feed.conn.write_message(raw)
            frame = await feed.wait_for(lambda f: f["type"] == "error")
            assert frame["code"] == "invalid_message", (raw[:40], frame)
            feed.frames.clear()
        feed.send({"type": "ping"})
        await feed.wait_for(lambda f: f["type"] == "pong")
        assert not feed.closed
    finally:
        await feed.close()


async def test_a_10_mib_websocket_message_closes_only_that_socket(
        sqlite_server: RunningServer) -> None:
    big = await websocket_connect(sqlite_server.ws_url)
    try:
        await big.read_message()  # hello
        try:
            await big.write_message("x" * (10 << 20))
        except Exception:  # the server may close while the message is still being sent
            pass
        assert await big.read_message() is None  # closed (message too big), not hanging
    finally:
        big.close()
    assert (await sqlite_server.api.get("/healthz")).status == 200


# --- 5. CSV formula injection ---------------------------------------------------------------

async def test_csv_cells_that_start_a_formula_are_escaped(sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    labels = ["=cmd|' /C calc'!A0", "+1+1", "-2", "@SUM(A1)", "plain", "a=b"]
    created = await api.create_poll(questions=[
        {"text": "=HYPERLINK(\"x\")", "options": [{"label": s} for s in labels]}])
    pid = created["poll"]["id"]
    text = (await api.get(f"/api/polls/{pid}/results?format=csv")).body.decode("utf-8")
    rows = list(csv.reader(io.StringIO(text)))[1:]
    assert [r[3] for r in rows] == ["'=cmd|' /C calc'!A0", "'+1+1", "'-2", "'@SUM(A1)", "plain",
                                    "a=b"]
    assert {r[1] for r in rows} == {"'=HYPERLINK(\"x\")"}
    # The JSON API keeps text verbatim.
    poll = (await api.get(f"/api/polls/{pid}")).json["poll"]
    assert [o["label"] for o in poll["questions"][0]["options"]] == labels


# --- 6. a same-site page cannot post a ballot with the visitor's cookie --------------------

@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/jsonx"])
async def test_ballots_must_be_json(sqlite_server: RunningServer, content_type: str | None) -> None:
    api = sqlite_server.api
    pid = (await api.create_poll())["poll"]["id"]
    browser = api.session()
    await browser.voter()  # the voter cookie, as a browser holds it
    before = await db_state(sqlite_server)
    headers = {"Content-Type": content_type} if content_type else {}
    r = await browser.request("POST", f"/api/polls/{pid}/ballots", headers=headers,
                              body=json.dumps({"choices": {"q1": ["o1"]}}).encode())
    if content_type is None:  # the test client sends JSON unless told otherwise
        assert r.status == 201
        return
    assert_error(r, 415, "unsupported_media_type")
    assert await db_state(sqlite_server) == before
    ok = await browser.request("POST", f"/api/polls/{pid}/ballots",
                               headers={"Content-Type": "application/json; charset=utf-8"},
                               body=json.dumps({"choices": {"q1": ["o1"]}}).encode())
    assert ok.status == 201, ok.body


# --- 8. lookalike text ------------------------------------------------------------------------

@pytest.mark.parametrize("labels", [
    ["Yes", "Ye\u200bs"], ["Yes", "\ufeffYes"], ["Yes", "Y\u00ades"], ["Yes", "Yes\u2060"],
    ["Yes", "Ye\u200ds"], ["No", "No\ufe0f"],
])
async def test_labels_differing_only_by_invisible_characters_are_duplicates(
        sqlite_server: RunningServer, labels: list[str]) -> None:
    r = await sqlite_server.api.post("/api/polls", poll_body(questions=[
        {"text": "q", "options": [{"label": s} for s in labels]}]))
    assert_error(r, 422, "invalid_poll")


@pytest.mark.parametrize("field,value", [
    ("title", "\u202eevil"), ("title", "a\u2066b\u2069"), ("label", "\u202dx"),
    ("text", "\u2067x"), ("description", "x\u202ey"), ("title", "\u200b\u200b"),
    ("label", "\u00ad"), ("title", "a\u0007b"), ("description", "a\u0000b"),
    ("text", "line\nbreak"), ("title", "\ufeff \u200d "),
])
async def test_refused_text(sqlite_server: RunningServer, field: str, value: str) -> None:
    body = poll_body()
    if field in ("title", "description"):
        body[field] = value
    elif field == "text":
        body["questions"][0]["text"] = value
    else:
        body["questions"][0]["options"][0]["label"] = value
    assert_error(await sqlite_server.api.post("/api/polls", body), 422, "invalid_poll")


async def test_text_is_stored_nfc_and_trimmed(sqlite_server: RunningServer) -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # emoji joined by ZWJ stay valid
    body = poll_body(title="  Cafe\u0301  ", description="line one\r\nline\ttwo\n",
                     questions=[{"text": " Which? ", "options": [
                         {"label": family}, {"label": "\U0001f468"}, {"label": " yes "},
                         {"label": "Yes"}]}])
    r = await sqlite_server.api.post("/api/polls", body)
    assert r.status == 201, r.body
    poll = r.json["poll"]
    assert poll["title"] == "Caf\u00e9"
    assert poll["description"] == "line one\nline\ttwo"
    assert poll["questions"][0]["text"] == "Which?"
    assert [o["label"] for o in poll["questions"][0]["options"]] == [family, "\U0001f468", "yes",
                                                                     "Yes"]


# --- 9. data at rest ---------------------------------------------------------------------------

async def test_data_dir_and_database_files_are_private(sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    pid = (await api.create_poll())["poll"]["id"]
    assert (await api.post(f"/api/polls/{pid}/ballots", {"choices": {"q1": ["o1"]}},
                           headers={"X-Voter-Token": await api.voter()})).status == 201
    data = Path(sqlite_server.server.config.server.data_dir)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    files = sorted(p.name for p in data.iterdir())
    assert {"voting.sqlite3", "voting.sqlite3-wal", "secret"} <= set(files), files
    for f in data.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f


# --- 11. a poll past its closes_at reads as closed at once ------------------------------------

async def test_status_is_derived_at_read_time(sqlite_server: RunningServer) -> None:
    """Stored "open" with a closes_at already passed (the sweep has not run): every read says
    closed, ballots are refused, and the results of an after_close poll are visible."""
    api = sqlite_server.api
    created = await api.create_poll(closes_at=in_seconds(3600), results="after_close",
                                    visibility="public")
    pid = created["poll"]["id"]
    storage: Any = sqlite_server.server.storage
    past = now_ms() - 1000
    async with storage._transaction() as conn:  # as if closes_at had just passed
        await conn.execute("UPDATE polls SET closes_at = ? WHERE id = ?", (past, pid))
    poll = (await api.get(f"/api/polls/{pid}")).json["poll"]
    assert poll["status"] == "closed" and poll["closed_at"] == poll["closes_at"]
    res = await api.get(f"/api/polls/{pid}/results")
    assert res.status == 200 and res.json["status"] == "closed"
    listed = (await api.get("/api/polls")).json["polls"]
    assert [p["status"] for p in listed if p["id"] == pid] == ["closed"]
    assert_error(await api.post(f"/api/polls/{pid}/ballots", {"choices": {"q1": ["o1"]}},
                                headers={"X-Voter-Token": await api.voter()}), 403, "poll_closed")
    feed = await Feed.connect(sqlite_server.ws_url)
    try:
        feed.send({"type": "subscribe", "poll": pid})
        snap = await feed.wait_for(lambda f: f["type"] == "snapshot")
        assert snap["status"] == "closed" and "questions" in snap
    finally:
        await feed.close()


# --- kept: what held in the review --------------------------------------------------------------

async def test_forged_and_wrong_tokens(sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    created = await api.create_poll()
    pid, admin = created["poll"]["id"], created["admin_token"]
    real = await api.session().voter()
    prefix, voter_id, mac = real.split(".")
    forged = [f"{prefix}.{voter_id}.{'A' * len(mac)}", f"{prefix}.other.{mac}", "v1..", "v2.a.b",
              real + "x", real[:-1], "\u00e9" * 10]
    for token in forged:
        r = await api.session().request("POST", f"/api/polls/{pid}/ballots",
                                         json_body={"choices": {"q1": ["o1"]}},
                                         headers={"X-Voter-Token": token.encode("utf-8").decode(
                                             "latin-1")})
        assert_error(r, 401, "voter_required")
    other = (await api.create_poll())["admin_token"]
    for token in (other, admin[:-1], admin + "A", admin.upper(), "x" * 1000):
        assert_error(await api.post(f"/api/polls/{pid}/close",
                                    headers={"Authorization": f"Bearer {token}"}),
                     403, "forbidden")
    assert (await api.get(f"/api/polls/{pid}")).json["poll"]["status"] == "open"


async def test_new_ids_have_no_confusable_characters(sqlite_server: RunningServer) -> None:
    assert not set("0o1li") & set(ID_ALPHABET)
    for _ in range(20):
        pid = (await sqlite_server.api.create_poll())["poll"]["id"]
        assert set(pid) <= set(ID_ALPHABET) and len(pid) == 8


def test_no_secret_file_is_world_readable_after_a_fresh_start(tmp_path: Path) -> None:
    from voting.config import private_dir
    d = tmp_path / "wide"
    d.mkdir(mode=0o755)
    os.chmod(d, 0o755)
    assert stat.S_IMODE(private_dir(d).stat().st_mode) == 0o700
