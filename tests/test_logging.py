"""Logs (DESIGN.md §6): one line per request with status and duration; JSON lines when asked;
no secret (token, code) in any line."""
from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest

from tests.client import Api, Feed
from tests.conftest import running_server

ACCESS = "voting.access"
TEXT_LINE = re.compile(r"^(?P<status>\d{3}) (?P<method>[A-Z]+) (?P<path>/\S*) "
                       r"(?P<ms>\d+(?:\.\d+)?)ms$")


async def traffic(api: Api) -> tuple[list[tuple[str, str, int]], list[str]]:
    """A mix of requests; returns (method, path, status) of each and the secrets it used."""
    done: list[tuple[str, str, int]] = []

    async def req(method: str, path: str, **kw: Any) -> Any:
        r = await api.request(method, path, **kw)
        done.append((method, path.split("?")[0], r.status))
        return r

    created = await req("POST", "/api/polls", json_body={
        "title": "Codes", "eligibility": "codes", "code_count": 2, "allow_revote": True,
        "questions": [{"text": "Q", "options": [{"label": "a"}, {"label": "b"}]}]})
    assert created.status == 201, created.body
    pid, admin = created.json["poll"]["id"], created.json["admin_token"]
    code = created.json["codes"][0]
    cast = await req("POST", f"/api/polls/{pid}/ballots",
                     json_body={"choices": {"q1": ["o1"]}, "code": code})
    assert cast.status == 201, cast.body
    receipt = cast.json["ballot"]["receipt"]
    voter = await req("POST", "/api/voters")
    token = voter.json["voter_token"]
    await req("GET", f"/api/polls/{pid}/ballot?code={code}&receipt={receipt}")
    await req("GET", f"/api/polls/{pid}/ballot", headers={"X-Voter-Token": token})
    await req("GET", f"/api/polls/{pid}/results?format=csv")
    await req("POST", f"/api/polls/{pid}/close", headers={"Authorization": f"Bearer {admin}"})
    await req("GET", "/api/nope")
    await req("DELETE", f"/api/polls/{pid}", headers={"Authorization": "Bearer wrong"})
    await req("GET", "/healthz")
    return done, [code, receipt, token, admin]


def access_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == ACCESS]


async def test_one_text_line_per_request_with_status_and_duration(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS)
    async with running_server(tmp_path) as rs:
        api = rs.api
        caplog.clear()
        done, secrets = await traffic(api)
        lines = access_lines(caplog)
    assert len(lines) == len(done), "\n".join(lines)
    for line, (method, path, status) in zip(lines, done):
        m = TEXT_LINE.match(line)
        assert m, line
        assert (m["method"], m["path"], int(m["status"])) == (method, path, status), line
        assert float(m["ms"]) >= 0
    for line in lines:
        for secret in secrets:
            assert secret not in line, line


async def test_json_lines_when_asked(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS)
    async with running_server(tmp_path, server={"access_log_json": True, "name": "json1"}) as rs:
        api = rs.api
        caplog.clear()
        done, secrets = await traffic(api)
        feed = await Feed.connect(api.base.replace("http://", "ws://") + "/ws")
        await feed.wait_for(lambda f: f["type"] == "hello")
        await feed.close()
        done.append(("GET", "/ws", 101))
        lines = access_lines(caplog)
    assert len(lines) == len(done), "\n".join(lines)
    for line, (method, path, status) in zip(lines, done):
        entry = json.loads(line)  # one JSON object per line
        assert "\n" not in line
        assert (entry["method"], entry["path"], entry["status"]) == (method, path, status), line
        assert isinstance(entry["ms"], (int, float)) and entry["ms"] >= 0
        assert entry["server"] == "json1"
        for secret in secrets:
            assert secret not in line, line


def test_the_line_formatter_writes_what_the_standard_one_does() -> None:
    """The timestamp is cached per second: across and within seconds, every line equals the
    standard formatter's."""
    from voting.cli import LOG_FORMAT, LineFormatter
    mine, standard = LineFormatter(), logging.Formatter(LOG_FORMAT)
    for created in (1_764_892_800.0, 1_764_892_800.5, 1_764_892_800.999, 1_764_892_801.001,
                    1_764_892_801.25, 1_764_896_461.75, 1_764_892_800.125):
        record = logging.LogRecord("voting.access", logging.INFO, __file__, 1,
                                   "%d %s", (201, "POST"), None)
        record.created, record.msecs = created, (created - int(created)) * 1000
        assert mine.format(record) == standard.format(record)
