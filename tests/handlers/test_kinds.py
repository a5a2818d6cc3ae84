"""Ranked and scale questions over the HTTP API and the live feed (DESIGN §3/§4/§5):
creation rules, ballots in rank order, rounds/winner/mean/median in /results, poll.tally and
every WebSocket tally frame, CSV rows of first preferences, and the OpenAPI shapes."""
from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from tests.client import Api, Feed
from tests.conftest import RunningServer
from tests.handlers.helpers import assert_error

KINDS: dict[str, Any] = {"title": "Kinds", "allow_revote": True, "questions": [
    {"text": "Best fruit?", "kind": "ranked",
     "options": [{"label": "Apple"}, {"label": "Banana"}, {"label": "=Cherry"}]},
    {"text": "How was it?", "kind": "scale", "scale_min": 1, "scale_max": 5,
     "min_label": "Awful", "max_label": "Great"}]}


async def vote(api: Api, pid: str, choices: dict[str, list[str]]) -> Any:
    s = api.session()
    await s.voter()
    return await s.post(f"/api/polls/{pid}/ballots", {"choices": choices})


async def test_created_questions_have_their_kind_fields(sqlite_server: RunningServer) -> None:
    poll = (await sqlite_server.api.create_poll(**KINDS))["poll"]
    ranked, scale = poll["questions"]
    assert ranked == {"id": "q1", "text": "Best fruit?", "kind": "ranked", "min_choices": 1,
                      "max_choices": 3, "options": [{"id": "o1", "label": "Apple"},
                                                    {"id": "o2", "label": "Banana"},
                                                    {"id": "o3", "label": "=Cherry"}]}
    assert scale == {"id": "q2", "text": "How was it?", "kind": "scale", "min_choices": 1,
                     "max_choices": 1, "scale_min": 1, "scale_max": 5, "min_label": "Awful",
                     "max_label": "Great",
                     "options": [{"id": f"o{i + 3}", "label": str(i)} for i in range(1, 6)]}
    assert poll["tally"]["questions"][0]["rounds"] == [
        {"counts": {"o1": 0, "o2": 0, "o3": 0}, "eliminated": [], "exhausted": 0}]
    assert poll["tally"]["questions"][0]["winner"] is None
    assert poll["tally"]["questions"][1]["mean"] is None
    got = (await sqlite_server.api.get(f"/api/polls/{poll['id']}")).json["poll"]
    assert got["questions"] == poll["questions"]


def scale(**kw: Any) -> dict[str, Any]:
    q: dict[str, Any] = {"text": "Rate", "kind": "scale", "scale_min": 0, "scale_max": 10}
    q.update(kw)
    return q


def ranked(**kw: Any) -> dict[str, Any]:
    q: dict[str, Any] = {"text": "Rank", "kind": "ranked",
                         "options": [{"label": x} for x in "ABC"]}
    q.update(kw)
    return q


@pytest.mark.parametrize("question", [
    scale(scale_min=5, scale_max=5), scale(scale_min=6, scale_max=2), scale(scale_max=11),
    scale(scale_min=-1), scale(scale_min=None), scale(scale_max="5"), scale(scale_min=1.0),
    scale(options=[{"label": "a"}, {"label": "b"}]), scale(max_choices=2),
    scale(min_label="x" * 201), scale(max_label=5),
    ranked(max_choices=4), ranked(max_choices=0, min_choices=0), ranked(min_choices=3, max_choices=2),
    ranked(min_choices=-1), ranked(scale_min=0), {"text": "M", "kind": "multiple", "max_label": "x",
                                                   "options": [{"label": "a"}, {"label": "b"}]},
], ids=lambda q: ",".join(f"{k}={v}" for k, v in q.items() if k not in ("text", "options"))[:60])
async def test_invalid_kind_settings_are_refused(sqlite_server: RunningServer,
                                                 question: dict[str, Any]) -> None:
    r = await sqlite_server.api.post("/api/polls", {"title": "t", "questions": [question]})
    assert_error(r, 422, "invalid_poll")


async def test_ranked_ballot_rules(sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    pid = (await api.create_poll(questions=[ranked(min_choices=2, max_choices=2)]))["poll"]["id"]
    for bad in (["o1"], ["o1", "o2", "o3"], ["o1", "o1"], ["o1", "o9"], []):
        assert_error(await vote(api, pid, {"q1": bad}), 422, "invalid_ballot")
    r = await vote(api, pid, {"q1": ["o3", "o1"]})
    assert r.status == 201 and r.json["ballot"]["choices"] == {"q1": ["o3", "o1"]}
    # A ranked question with min_choices 0 may be left out: the ballot is exhausted at once.
    pid = (await api.create_poll(questions=[ranked(min_choices=0)]))["poll"]["id"]
    assert (await vote(api, pid, {})).status == 201
    res = (await api.get(f"/api/polls/{pid}/results")).json
    assert res["questions"][0]["rounds"] == [
        {"counts": {"o1": 0, "o2": 0, "o3": 0}, "eliminated": [], "exhausted": 1}]
    assert res["questions"][0]["winner"] is None


async def test_scale_ballot_picks_one_point(sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    pid = (await api.create_poll(questions=[scale(scale_min=0, scale_max=2)]))["poll"]["id"]
    for bad in ([], ["o1", "o2"], ["o4"]):
        assert_error(await vote(api, pid, {"q1": bad}), 422, "invalid_ballot")
    assert (await vote(api, pid, {"q1": ["o3"]})).status == 201


async def test_results_tally_feed_and_csv_carry_the_runoff_and_the_scale(
        sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    created = await api.create_poll(**KINDS)
    pid = created["poll"]["id"]
    feed = await Feed.connect(sqlite_server.ws_url)
    try:
        feed.send({"type": "subscribe", "poll": pid})
        await feed.wait_for(lambda f: f["type"] == "snapshot")
        # Apple 2, Banana 1 (then Apple), Cherry 2 (then Banana): Banana goes, Apple wins 3-2.
        for ranking, point in ((["o1"], "o4"), (["o1", "o3"], "o5"), (["o2", "o1"], "o8"),
                               (["o3", "o2"], "o8"), (["o3"], "o6")):
            assert (await vote(api, pid, {"q1": ranking, "q2": [point]})).status == 201
        expected_q1 = {
            "id": "q1", "counts": {"o1": 2, "o2": 1, "o3": 2},
            "rounds": [{"counts": {"o1": 2, "o2": 1, "o3": 2}, "eliminated": ["o2"],
                        "exhausted": 0},
                       {"counts": {"o1": 3, "o3": 2}, "eliminated": [], "exhausted": 0}],
            "winner": "o1"}
        expected_q2 = {"id": "q2", "counts": {"o4": 1, "o5": 1, "o6": 1, "o7": 0, "o8": 2},
                       "mean": (1 + 2 + 3 + 5 + 5) / 5, "median": 3.0}
        res = (await api.get(f"/api/polls/{pid}/results")).json
        assert res["total"] == 5 and res["questions"] == [expected_q1, expected_q2]
        poll = (await api.get(f"/api/polls/{pid}")).json["poll"]
        assert poll["tally"]["questions"] == [expected_q1, expected_q2]
        frame = await feed.wait_for(lambda f: f["type"] in ("tally", "snapshot")
                                    and f.get("total") == 5)
        assert frame["questions"] == [expected_q1, expected_q2]
    finally:
        await feed.close()
    text = (await api.get(f"/api/polls/{pid}/results?format=csv")).body.decode()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[1:4] == [["q1", "Best fruit?", "o1", "Apple", "2"],
                         ["q1", "Best fruit?", "o2", "Banana", "1"],
                         ["q1", "Best fruit?", "o3", "'=Cherry", "2"]]  # first preferences
    assert rows[4:] == [["q2", "How was it?", f"o{i + 3}", str(i), n]
                        for i, n in zip(range(1, 6), ["1", "1", "1", "0", "2"])]
    await_recount = await sqlite_server.server.storage.recount(pid)
    assert await_recount is not None and await_recount.total == 5


async def test_openapi_describes_the_new_shapes(sqlite_server: RunningServer) -> None:
    doc = (await sqlite_server.api.get("/api/openapi.json")).json
    schemas = doc["components"]["schemas"]
    assert schemas["QuestionIn"]["properties"]["kind"]["enum"] == \
        ["single", "multiple", "ranked", "scale"]
    for key in ("scale_min", "scale_max", "min_label", "max_label"):
        assert key in schemas["QuestionIn"]["properties"] and key in schemas["Question"]["properties"]
    assert "options" not in schemas["QuestionIn"]["required"]  # a scale question has none
    counts = schemas["QuestionCounts"]["properties"]
    assert counts["rounds"]["items"] == {"$ref": "#/components/schemas/Round"}
    assert set(schemas["Round"]["required"]) == {"counts", "eliminated", "exhausted"}
    assert counts["winner"]["type"] == ["string", "null"]
    assert counts["mean"]["type"] == counts["median"]["type"] == ["number", "null"]
