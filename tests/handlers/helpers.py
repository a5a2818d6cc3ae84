"""Shared helpers of the handler tests: request bodies and a fingerprint of the stored state."""
from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from typing import Any

from tests.client import Response
from tests.conftest import RunningServer


def poll_body(**overrides: Any) -> dict[str, Any]:
    """A valid create body: one single-choice question with three options."""
    body: dict[str, Any] = {"title": "Lunch?", "questions": [
        {"text": "Where?", "kind": "single",
         "options": [{"label": "Pizza"}, {"label": "Sushi"}, {"label": "Tacos"}]}]}
    body.update(copy.deepcopy(overrides))
    return body


def two_question_body(**overrides: Any) -> dict[str, Any]:
    """q1 single (o1..o3), q2 multiple 1-2 (o4..o6)."""
    return poll_body(questions=[
        {"text": "Where?", "kind": "single",
         "options": [{"label": "Pizza"}, {"label": "Sushi"}, {"label": "Tacos"}]},
        {"text": "Drinks?", "kind": "multiple", "min_choices": 1, "max_choices": 2,
         "options": [{"label": "Water"}, {"label": "Tea"}, {"label": "Coffee"}]}], **overrides)


def rfc3339(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def in_seconds(seconds: float) -> str:
    return rfc3339(datetime.now(timezone.utc) + timedelta(seconds=seconds))


def assert_error(r: Response, status: int, code: str) -> None:
    """The one error shape of DESIGN.md §4, with the exact status and code."""
    assert r.status == status, (r.status, r.body[:300])
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    body = r.json
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
    text = r.body.decode("utf-8")
    for leak in ("Traceback", "sqlite", "SELECT ", "INSERT ", "<html"):
        assert leak not in text, text


async def db_state(rs: RunningServer) -> tuple[Any, ...]:
    """Row counts and counter sums of the embedded database: any write changes one of them."""
    storage: Any = rs.server.storage
    sql = ("SELECT (SELECT COUNT(*) FROM polls), (SELECT COUNT(*) FROM ballots), "
           "(SELECT COUNT(*) FROM poll_codes), (SELECT COUNT(*) FROM idempotency), "
           "(SELECT COALESCE(SUM(n), 0) FROM tally_slots), "
           "(SELECT group_concat(id || ':' || status || ':' || COALESCE(closes_at, ''), ',') "
           " FROM (SELECT * FROM polls ORDER BY id)), "
           "(SELECT group_concat(poll_id || ':' || voter_key || ':' || choices || ':' || receipt, ',')"
           " FROM (SELECT * FROM ballots ORDER BY poll_id, voter_key))")
    async with storage.reader.execute(sql) as cur:
        row = await cur.fetchone()
    return tuple(row)
