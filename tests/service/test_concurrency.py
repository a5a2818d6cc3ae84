"""Exact counting under concurrency, over the HTTP API of the embedded server."""
from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

from tests.client import Api, Response
from tests.conftest import RunningServer
from tests.test_runoff import reference_runoff
from voting.storage.base import Storage


async def assert_tally_equals_recount(storage: Storage, poll_id: str) -> Any:
    tally = await storage.get_tally(poll_id, fresh=True)
    recount = await storage.recount(poll_id)
    assert tally is not None and recount is not None
    assert tally.total == recount.total
    poll = await storage.get_poll(poll_id)
    assert poll is not None
    for option_id in poll.option_ids():
        assert tally.counts.get(option_id, 0) == recount.counts.get(option_id, 0), option_id
    assert tally.rankings == recount.rankings  # and so every runoff round
    return tally


def cookieless(api: Api) -> Api:
    return Api(api.base, {}, api.client, keep_cookies=False)


async def test_300_voters_at_once_are_counted_exactly(sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    pid = (await api.create_poll())["poll"]["id"]
    tokens = await asyncio.gather(*(api.session().voter() for _ in range(300)))
    assert len(set(tokens)) == 300
    plain = cookieless(api)
    picks = [f"o{i % 3 + 1}" for i in range(300)]

    async def cast(token: str, option: str) -> Response:
        return await plain.post(f"/api/polls/{pid}/ballots", {"choices": {"q1": [option]}},
                                headers={"X-Voter-Token": token})

    replies = await asyncio.gather(*(cast(t, o) for t, o in zip(tokens, picks)))
    assert Counter(r.status for r in replies) == {201: 300}, [r.body for r in replies
                                                             if r.status != 201][:3]
    assert len({r.json["ballot"]["receipt"] for r in replies}) == 300
    res = (await api.get(f"/api/polls/{pid}/results")).json
    assert res["total"] == 300
    assert res["questions"][0]["counts"] == {"o1": 100, "o2": 100, "o3": 100}
    assert res["seq"] == 300
    tally = await assert_tally_equals_recount(sqlite_server.server.storage, pid)
    assert tally.total == 300


async def test_same_ballot_twenty_times_at_once_counts_once(sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    pid = (await api.create_poll())["poll"]["id"]
    token = await api.session().voter()
    plain = cookieless(api)
    replies = await asyncio.gather(*(
        plain.post(f"/api/polls/{pid}/ballots", {"choices": {"q1": ["o2"]}},
                   headers={"X-Voter-Token": token}) for _ in range(20)))
    assert Counter(r.status for r in replies) == {201: 1, 409: 19}
    assert {r.json["error"]["code"] for r in replies if r.status == 409} == {"already_voted"}
    res = (await api.get(f"/api/polls/{pid}/results")).json
    assert res["total"] == 1 and res["questions"][0]["counts"] == {"o1": 0, "o2": 1, "o3": 0}
    await assert_tally_equals_recount(sqlite_server.server.storage, pid)


async def test_concurrent_revotes_leave_one_ballot(sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    pid = (await api.create_poll(allow_revote=True, questions=[
        {"text": "Pick", "kind": "multiple", "min_choices": 1, "max_choices": 3,
         "options": [{"label": f"L{i}"} for i in range(6)]}]))["poll"]["id"]
    token = await api.session().voter()
    plain = cookieless(api)
    bodies = [{"choices": {"q1": [f"o{i % 6 + 1}", f"o{(i + 2) % 6 + 1}"][: 1 + i % 2]}}
              for i in range(20)]
    replies = await asyncio.gather(*(
        plain.post(f"/api/polls/{pid}/ballots", b, headers={"X-Voter-Token": token})
        for b in bodies))
    assert Counter(r.status for r in replies) == {201: 1, 200: 19}
    res = (await api.get(f"/api/polls/{pid}/results")).json
    assert res["total"] == 1
    # The stored ballot is one of those sent, and the counters are exactly its choices.
    mine = (await plain.get(f"/api/polls/{pid}/ballot", headers={"X-Voter-Token": token})).json
    chosen = mine["ballot"]["choices"]["q1"]
    assert sorted(chosen) in [sorted(b["choices"]["q1"]) for b in bodies]
    assert res["questions"][0]["counts"] == {f"o{i}": int(f"o{i}" in chosen) for i in range(1, 7)}
    # The stored ballot is the one some reply announced.
    receipts = {r.json["ballot"]["receipt"] for r in replies}
    assert mine["ballot"]["receipt"] in receipts
    await assert_tally_equals_recount(sqlite_server.server.storage, pid)


async def test_same_idempotency_key_twenty_times_at_once(sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    plain = cookieless(api)
    for allow_revote in (False, True):
        pid = (await api.create_poll(allow_revote=allow_revote))["poll"]["id"]
        token = await api.session().voter()
        headers = {"X-Voter-Token": token, "Idempotency-Key": f"same-{allow_revote}"}
        replies = await asyncio.gather(*(
            plain.post(f"/api/polls/{pid}/ballots", {"choices": {"q1": ["o3"]}}, headers=headers)
            for _ in range(20)))
        assert Counter(r.status for r in replies) == {201: 20}, [r.body for r in replies]
        assert len({r.body for r in replies}) == 1
        assert len({r.json["ballot"]["receipt"] for r in replies}) == 1
        res = (await api.get(f"/api/polls/{pid}/results")).json
        assert res["total"] == 1 and res["seq"] == 1
        assert res["questions"][0]["counts"] == {"o1": 0, "o2": 0, "o3": 1}
        await assert_tally_equals_recount(sqlite_server.server.storage, pid)


async def test_same_idempotency_key_creates_one_poll(sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    plain = cookieless(api)
    body = {"title": "once", "visibility": "public", "questions": [
        {"text": "q", "options": [{"label": "a"}, {"label": "b"}]}]}
    token = await api.session().voter()
    replies = await asyncio.gather(*(
        plain.post("/api/polls", body, headers={"Idempotency-Key": "create-once",
                                                "X-Voter-Token": token})
        for _ in range(20)))
    assert Counter(r.status for r in replies) == {201: 20}
    assert len({r.body for r in replies}) == 1
    listed = (await api.get("/api/polls")).json["polls"]
    assert [p["id"] for p in listed] == [replies[0].json["poll"]["id"]]


async def test_300_ranked_ballots_at_once_give_exact_first_preferences_and_rounds(
        sqlite_server: RunningServer) -> None:
    """300 voters rank four options at once: first preferences are exact, and the live
    runoff equals the reference runoff of the ballots sent (tests/test_runoff.py)."""
    api = sqlite_server.api
    pid = (await api.create_poll(questions=[
        {"text": "Rank", "kind": "ranked", "min_choices": 1, "max_choices": 3,
         "options": [{"label": x} for x in "ABCD"]}]))["poll"]["id"]
    tokens = await asyncio.gather(*(api.session().voter() for _ in range(300)))
    plain = cookieless(api)
    rng = random.Random(300)
    # Skewed so the count takes several rounds and ballots exhaust on the way.
    weights = {"o1": 4, "o2": 3, "o3": 3, "o4": 2}
    rankings = []
    for _ in range(300):
        left = list(weights)
        ranking = []
        for _ in range(rng.randint(1, 3)):
            pick = rng.choices(left, [weights[o] for o in left])[0]
            left.remove(pick)
            ranking.append(pick)
        rankings.append(ranking)

    async def cast(token: str, ranking: list[str]) -> Response:
        return await plain.post(f"/api/polls/{pid}/ballots", {"choices": {"q1": ranking}},
                                headers={"X-Voter-Token": token})

    replies = await asyncio.gather(*(cast(t, r) for t, r in zip(tokens, rankings)))
    assert Counter(r.status for r in replies) == {201: 300}
    assert [r.json["ballot"]["choices"]["q1"] for r in replies] == rankings
    res = (await api.get(f"/api/polls/{pid}/results")).json
    assert res["total"] == 300 and res["seq"] == 300
    first = Counter(r[0] for r in rankings)
    assert res["questions"][0]["counts"] == {o: first[o] for o in weights}
    expected = reference_runoff(list(weights), rankings)
    assert len(expected) >= 2
    assert res["questions"][0]["rounds"] == expected
    await assert_tally_equals_recount(sqlite_server.server.storage, pid)
    recount = await sqlite_server.server.storage.recount(pid)
    poll = await sqlite_server.server.storage.get_poll(pid)
    assert recount is not None and poll is not None
    assert recount.to_json(poll)["questions"] == res["questions"]
