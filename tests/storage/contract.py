"""The storage contract, as plain async checks over an opened Storage.

Each check takes the storage and `count_rows(poll_id)`, a backend-specific callable giving
the number of rows the backend holds for a poll per table (polls, ballots, poll_codes,
tally_slots), used only to see that a delete cascades. Checks make their own polls and
never assume an empty database, so a shared MySQL database works too. test_sqlite.py runs
them against SQLite; a MySQL module needs only its own `storage` and `count_rows`.
"""
from __future__ import annotations

import asyncio
import random
from typing import Any, Awaitable, Callable

import pytest

from voting import domain
from voting.domain import Poll
from voting.errors import AlreadyVoted, CodeUsed, InvalidCode, PollClosed, PollNotFound
from voting.storage.base import IdempotencyConflict, IdempotencyRecord, Storage
from voting.tokens import Signer, new_poll_id, new_receipt, new_salt, sha256_hex

code_hash = Signer("contract-test-secret-0123456789").code_hash

CountRows = Callable[[str], Awaitable[dict[str, int]]]
SLOTS = 16


async def make_poll(storage: Storage, now: int | None = None, codes: int = 0,
                    idem: IdempotencyRecord | None = None, **fields: Any) -> tuple[Poll, list[str]]:
    body: dict[str, Any] = {"title": "contract", "questions": [
        {"text": "one", "options": [{"label": "a"}, {"label": "b"}, {"label": "c"}]},
        {"text": "many", "kind": "multiple", "min_choices": 0, "max_choices": 3,
         "options": [{"label": "d"}, {"label": "e"}, {"label": "f"}, {"label": "g"}]}]}
    if codes:
        body.update(eligibility="codes", code_count=codes)
    body.update(fields)
    poll = domain.validate_poll(body, new_poll_id(), domain.now_ms() if now is None else now)
    poll.token_salt = new_salt()
    poll.admin_hash = sha256_hex("admin-" + poll.id)
    code_list = [f"code{i}-{poll.id}" for i in range(codes)]
    await storage.create_poll(poll, [code_hash(poll.id, c) for c in code_list], idem)
    return poll, code_list


async def cast(storage: Storage, poll: Poll, voter: str, choices: dict[str, list[str]],
               code: str | None = None, idem: IdempotencyRecord | None = None,
               now: int | None = None) -> Any:
    full = domain.validate_choices(poll, choices)
    return await storage.cast_ballot(
        poll, voter, full, new_receipt(), random.randrange(SLOTS),
        code_hash(poll.id, code) if code is not None else None, idem,
        domain.now_ms() if now is None else now)


async def tally_counts(storage: Storage, poll: Poll) -> tuple[int, int, dict[str, int]]:
    tally = await storage.get_tally(poll.id, fresh=True)
    assert tally is not None
    return tally.seq, tally.total, {o: tally.counts.get(o, 0) for o in poll.option_ids()}


async def assert_matches_recount(storage: Storage, poll: Poll) -> None:
    """The stored tally equals a recount of the stored ballots: counts, the aggregated
    rankings and so every runoff round, mean and median."""
    tally = await storage.get_tally(poll.id, fresh=True)
    recount = await storage.recount(poll.id)
    assert tally is not None and recount is not None
    assert tally.total == recount.total
    assert {o: tally.counts.get(o, 0) for o in poll.option_ids()} == \
        {o: recount.counts.get(o, 0) for o in poll.option_ids()}
    assert tally.rankings == recount.rankings
    assert tally.to_json(poll)["questions"] == recount.to_json(poll)["questions"]


# --- checks ---------------------------------------------------------------------

async def check_poll_round_trip(storage: Storage, count_rows: CountRows) -> None:
    poll, _ = await make_poll(storage, title="Round trip ✓ '; --", description="multi\nline",
                              results="after_close", allow_revote=True, visibility="public")
    got = await storage.get_poll(poll.id)
    assert got is not None
    assert got.to_json() == poll.to_json()
    assert (got.token_salt, got.admin_hash) == (poll.token_salt, poll.admin_hash)
    tally = await storage.get_tally(poll.id)
    assert tally is not None and (tally.seq, tally.total, tally.status) == (0, 0, "open")
    assert await storage.get_poll("zzzzzzzz") is None
    assert await storage.get_tally("zzzzzzzz") is None
    assert await storage.recount("zzzzzzzz") is None


async def check_one_ballot_per_voter(storage: Storage, count_rows: CountRows) -> None:
    poll, _ = await make_poll(storage)
    first = await cast(storage, poll, "v:one", {"q1": ["o1"]})
    assert not first.replaced and first.ballot.choices == {"q1": ["o1"], "q2": []}
    with pytest.raises(AlreadyVoted):
        await cast(storage, poll, "v:one", {"q1": ["o2"]})
    got = await storage.get_ballot(poll.id, "v:one")
    assert got is not None and got.choices == {"q1": ["o1"], "q2": []}
    assert got.receipt == first.ballot.receipt
    assert await storage.get_ballot(poll.id, "v:other") is None
    assert (await tally_counts(storage, poll))[1] == 1
    # Codes: each code votes once; unknown codes are refused.
    cpoll, codes = await make_poll(storage, codes=2)
    await cast(storage, cpoll, "c:0", {"q1": ["o1"]}, code=codes[0])
    with pytest.raises(CodeUsed):
        await cast(storage, cpoll, "c:0", {"q1": ["o2"]}, code=codes[0])
    with pytest.raises(InvalidCode):
        await cast(storage, cpoll, "c:x", {"q1": ["o2"]}, code="not-a-code")
    await cast(storage, cpoll, "c:1", {"q1": ["o2"]}, code=codes[1])  # the other code works
    assert (await tally_counts(storage, cpoll))[1] == 2
    with pytest.raises(PollNotFound):
        missing = domain.validate_poll({"title": "never stored", "questions": [
            {"text": "q", "options": [{"label": "a"}, {"label": "b"}]}]}, "zzzzzzzz", domain.now_ms())
        await storage.cast_ballot(missing, "v:one", {"q1": ["o1"]}, "r", 0, None, None,
                                  domain.now_ms())
    await assert_matches_recount(storage, poll)
    await assert_matches_recount(storage, cpoll)


async def check_concurrent_casts(storage: Storage, count_rows: CountRows) -> None:
    poll, _ = await make_poll(storage)
    outcomes = await asyncio.gather(
        *(cast(storage, poll, f"v:{i}", {"q1": [f"o{i % 3 + 1}"]}) for i in range(40)),
        *(cast(storage, poll, "v:same", {"q1": ["o1"]}) for _ in range(10)),
        return_exceptions=True)
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(errors) == 9 and all(isinstance(e, AlreadyVoted) for e in errors), errors
    seq, total, counts = await tally_counts(storage, poll)
    assert (seq, total) == (41, 41)
    assert counts["o1"] == 14 + 1 and counts["o2"] == 13 and counts["o3"] == 13
    await assert_matches_recount(storage, poll)


async def check_tally_equals_recount(storage: Storage, count_rows: CountRows) -> None:
    poll, _ = await make_poll(storage, allow_revote=True)
    rng = random.Random(20240501)
    model: dict[str, dict[str, list[str]]] = {}
    for step in range(120):
        voter = f"v:{rng.randrange(25)}"
        choices = {"q1": [f"o{rng.randrange(3) + 1}"],
                   "q2": sorted(rng.sample(["o4", "o5", "o6", "o7"], rng.randrange(4)),
                                key=lambda o: int(o[1:]))}
        result = await cast(storage, poll, voter, choices)
        assert result.replaced == (voter in model)
        model[voter] = choices
        if step % 10 == 0:
            await assert_matches_recount(storage, poll)
    seq, total, counts = await tally_counts(storage, poll)
    assert total == len(model) and seq == 120
    expected = {o: 0 for o in poll.option_ids()}
    for choices in model.values():
        for picks in choices.values():
            for o in picks:
                expected[o] += 1
    assert counts == expected
    await assert_matches_recount(storage, poll)


async def check_seq_increases_on_every_change(storage: Storage, count_rows: CountRows) -> None:
    poll, _ = await make_poll(storage, allow_revote=True)
    seqs = [(await tally_counts(storage, poll))[0]]

    async def seq() -> int:
        s = (await tally_counts(storage, poll))[0]
        seqs.append(s)
        return s

    await cast(storage, poll, "v:a", {"q1": ["o1"]})
    await seq()
    await cast(storage, poll, "v:b", {"q1": ["o2"]})
    await seq()
    await cast(storage, poll, "v:a", {"q1": ["o3"]})  # revote
    await seq()
    await cast(storage, poll, "v:a", {"q1": ["o3"]})  # revote to the same choices
    await seq()
    change = await storage.set_status(poll.id, "closed", domain.now_ms())
    assert change is not None and change.status == "closed"
    assert change.seq == await seq()
    tally = await storage.get_tally(poll.id)
    assert tally is not None and tally.status == "closed"
    with pytest.raises(PollClosed):
        await cast(storage, poll, "v:c", {"q1": ["o1"]})
    assert (await tally_counts(storage, poll))[0] == seqs[-1]  # a refused ballot changes nothing
    change = await storage.set_status(poll.id, "open", domain.now_ms())
    assert change is not None and change.seq == await seq()
    assert seqs == sorted(set(seqs)), seqs
    assert len(seqs) == 7
    again = await storage.set_status(poll.id, "open", domain.now_ms())  # no change
    assert again is not None and again.seq == seqs[-1] and again.changed is False
    assert (await tally_counts(storage, poll))[0] == seqs[-1]
    assert await storage.set_status("zzzzzzzz", "closed", domain.now_ms()) is None


async def check_delete_cascades(storage: Storage, count_rows: CountRows) -> None:
    poll, codes = await make_poll(storage, codes=3)
    other, _ = await make_poll(storage)
    for i, code in enumerate(codes[:2]):
        await cast(storage, poll, f"c:{i}", {"q1": ["o1"], "q2": ["o4", "o5"]}, code=code)
    await cast(storage, other, "v:keep", {"q1": ["o2"]})
    before = await count_rows(poll.id)
    assert before["polls"] == 1 and before["ballots"] == 2 and before["poll_codes"] == 3
    assert before["tally_slots"] > 0
    other_before = await count_rows(other.id)
    assert (await storage.delete_poll(poll.id))[0] is True
    assert await count_rows(poll.id) == {k: 0 for k in before}
    assert await storage.get_poll(poll.id) is None
    assert await storage.get_tally(poll.id) is None
    assert await storage.get_ballot(poll.id, "c:0") is None
    assert (await storage.delete_poll(poll.id))[0] is False
    assert await count_rows(other.id) == other_before
    assert (await tally_counts(storage, other))[1] == 1


async def check_idempotency(storage: Storage, count_rows: CountRows) -> None:
    now = domain.now_ms()
    key = sha256_hex(f"idem-{new_poll_id()}")
    rec = IdempotencyRecord(key, "hash-1", 201, '{"poll": {}}')
    poll, _ = await make_poll(storage, idem=rec)
    found = await storage.get_idempotency(key, now - 60_000)
    assert found is not None and (found.request_hash, found.status, found.body) == \
        ("hash-1", 201, '{"poll": {}}')
    # A second insert with the key conflicts, and its poll is not kept (one transaction).
    with pytest.raises(IdempotencyConflict):
        await make_poll(storage, idem=IdempotencyRecord(key, "hash-2", 201, "{}"),
                        title="must not exist", visibility="public")
    mine = [p for p in await storage.list_public_polls(100, None) if p.title == "must not exist"]
    assert mine == []
    # Same for ballots: the conflicting ballot is rolled back with its counters.
    bkey = sha256_hex(f"ballot-{poll.id}")
    await cast(storage, poll, "v:1", {"q1": ["o1"]}, idem=IdempotencyRecord(bkey, "h", 0, "{}"))
    counted = await tally_counts(storage, poll)
    with pytest.raises(IdempotencyConflict):
        await cast(storage, poll, "v:2", {"q1": ["o2"]}, idem=IdempotencyRecord(bkey, "h", 0, "{}"))
    assert await tally_counts(storage, poll) == counted
    assert await storage.get_ballot(poll.id, "v:2") is None
    stored = await storage.get_idempotency(bkey, now - 60_000)
    assert stored is not None and stored.status == 201  # a new ballot answers 201
    # Old records are invisible and purged.
    assert await storage.get_idempotency(key, domain.now_ms() + 60_000) is None
    await make_poll(storage, now=now - 10**9, idem=IdempotencyRecord(sha256_hex(key), "x", 200, "{}"))
    assert await storage.purge_idempotency(now - 10**8) >= 1
    assert await storage.get_idempotency(sha256_hex(key), 0) is None
    assert await storage.get_idempotency(key, 0) is not None


async def check_list_public_polls(storage: Storage, count_rows: CountRows) -> None:
    newest = await storage.list_public_polls(1, None)
    base = max([domain.now_ms()] + [p.created_at for p in newest]) + 1000  # newer than all
    made = []
    for i in range(5):
        made.append((await make_poll(storage, now=base + i // 2, visibility="public",
                                     title=f"listed {i}"))[0])
    await make_poll(storage, now=base + 10, title="unlisted")  # newest, but unlisted
    await cast(storage, made[0], "v:1", {"q1": ["o1"]})
    expected = sorted(made, key=lambda p: (p.created_at, p.id), reverse=True)
    page1 = await storage.list_public_polls(3, None)
    assert [p.id for p in page1] == [p.id for p in expected[:3]]
    last = page1[-1]
    page2 = await storage.list_public_polls(3, (last.created_at, last.id))
    assert [p.id for p in page2[:2]] == [p.id for p in expected[3:]]
    summaries = {p.id: p for p in page1 + page2}
    assert summaries[made[0].id].total == 1 and summaries[made[1].id].total == 0
    assert summaries[made[0].id].status == "open" and summaries[made[0].id].title == "listed 0"


async def check_closes_at(storage: Storage, count_rows: CountRows) -> None:
    now = domain.now_ms()
    poll, _ = await make_poll(storage, now=now, closes_at=domain.ms_to_rfc3339(now + 1000))
    assert poll.id not in await storage.due_polls(now)
    await cast(storage, poll, "v:1", {"q1": ["o1"]}, now=now + 10)
    with pytest.raises(PollClosed):  # past closes_at, even before anything closed it
        await cast(storage, poll, "v:2", {"q1": ["o1"]}, now=now + 1000)
    assert poll.id in await storage.due_polls(now + 2000)
    change = await storage.set_status(poll.id, "closed", now + 2000, if_due=True)
    assert change is not None and change.changed
    assert poll.id not in await storage.due_polls(now + 3000)
    closed = await storage.get_poll(poll.id)
    assert closed is not None and closed.status == "closed" and closed.closed_at == now + 2000
    await storage.set_status(poll.id, "open", now + 3000)
    reopened = await storage.get_poll(poll.id)
    assert reopened is not None and reopened.closes_at is None and reopened.closed_at is None
    # A sweep that listed the poll as due before the reopen leaves it open.
    late_sweep = await storage.set_status(poll.id, "closed", now + 3000, if_due=True)
    assert late_sweep is not None and not late_sweep.changed
    still = await storage.get_poll(poll.id)
    assert still is not None and still.status == "open" and still.closed_at is None
    await cast(storage, poll, "v:2", {"q1": ["o2"]}, now=now + 4000)
    # A closes_at in the future survives a reopen.
    later, _ = await make_poll(storage, now=now, closes_at=domain.ms_to_rfc3339(now + 86_400_000))
    await storage.set_status(later.id, "closed", now + 10)
    await storage.set_status(later.id, "open", now + 20)
    got = await storage.get_poll(later.id)
    assert got is not None and got.closes_at == now + 86_400_000


KINDS_POLL: dict[str, Any] = {"title": "kinds", "allow_revote": True, "questions": [
    {"text": "rank", "kind": "ranked", "min_choices": 1, "max_choices": 3,
     "options": [{"label": x} for x in "ABCD"]},
    {"text": "rate", "kind": "scale", "scale_min": 1, "scale_max": 5, "min_label": "poor"}]}


async def check_ranked_and_scale(storage: Storage, count_rows: CountRows) -> None:
    poll, _ = await make_poll(storage, **KINDS_POLL)
    got = await storage.get_poll(poll.id)
    assert got is not None and got.to_json() == poll.to_json()
    assert got.questions[1].to_json()["min_label"] == "poor"
    a, b, c, d = poll.questions[0].option_ids()
    points = poll.questions[1].option_ids()  # 1..5
    first = await cast(storage, poll, "v:1", {"q1": [c, a], "q2": [points[4]]})
    assert first.ballot.choices["q1"] == [c, a]  # rank order kept
    stored = await storage.get_ballot(poll.id, "v:1")
    assert stored is not None and stored.choices["q1"] == [c, a]
    await cast(storage, poll, "v:2", {"q1": [a, b, c], "q2": [points[0]]})
    await cast(storage, poll, "v:3", {"q1": [b], "q2": [points[1]]})
    await cast(storage, poll, "v:4", {"q1": [c, a], "q2": [points[1]]})
    tally = await storage.get_tally(poll.id, fresh=True)
    assert tally is not None
    q1, q2 = tally.to_json(poll)["questions"]
    assert q1["counts"] == {a: 1, b: 1, c: 2, d: 0}  # first preferences
    assert q1["rounds"] == [
        {"counts": {a: 1, b: 1, c: 2, d: 0}, "eliminated": [d], "exhausted": 0},
        {"counts": {a: 1, b: 1, c: 2}, "eliminated": [b], "exhausted": 0},
        {"counts": {a: 1, c: 2}, "eliminated": [], "exhausted": 1}]
    assert q1["winner"] == c
    assert (q2["mean"], q2["median"]) == (10 / 4, 2.0)  # 5, 1, 2, 2
    await assert_matches_recount(storage, poll)
    # A read at the same seq reuses the rankings (and their runoff); a ballot moves the seq.
    again = await storage.get_tally(poll.id, fresh=True)
    assert again is not None and again.rankings is tally.rankings
    # Revotes move one ballot from one ranking to another: v:4 now ranks A first.
    replaced = await cast(storage, poll, "v:4", {"q1": [a], "q2": [points[3]]})
    assert replaced.replaced
    after = await storage.get_tally(poll.id, fresh=True)
    assert after is not None and after.rankings is not tally.rankings
    q1, q2 = after.to_json(poll)["questions"]
    assert q1["counts"] == {a: 2, b: 1, c: 1, d: 0}
    assert q1["rounds"][0]["counts"] == {a: 2, b: 1, c: 1, d: 0}
    assert q2["counts"][points[3]] == 1 and q2["counts"][points[1]] == 1
    await assert_matches_recount(storage, poll)
    # Random revotes keep the stored rankings equal to the recount, rounds included.
    rng = random.Random(11)
    for step in range(60):
        ranking = rng.sample([a, b, c, d], rng.randint(1, 3))
        await cast(storage, poll, f"v:{rng.randrange(12)}",
                   {"q1": ranking, "q2": [rng.choice(points)]})
        if step % 20 == 19:
            await assert_matches_recount(storage, poll)
    rows = await count_rows(poll.id)
    assert (await storage.delete_poll(poll.id))[0] is True
    assert await count_rows(poll.id) == {k: 0 for k in rows}


async def check_concurrent_ranked_ballots(storage: Storage, count_rows: CountRows) -> None:
    """Batches of ranked ballots (new ones and revotes) keep rankings exact."""
    poll, _ = await make_poll(storage, **KINDS_POLL)
    ids = poll.questions[0].option_ids()
    rng = random.Random(5)
    rankings = {f"v:{i}": rng.sample(ids, rng.randint(1, 3)) for i in range(60)}
    await asyncio.gather(*(cast(storage, poll, v, {"q1": r, "q2": [poll.questions[1].options[0]["id"]]})
                           for v, r in rankings.items()))
    revotes = {v: rng.sample(ids, rng.randint(1, 3)) for v in list(rankings)[:20]}
    await asyncio.gather(*(cast(storage, poll, v, {"q1": r, "q2": [poll.questions[1].options[2]["id"]]})
                           for v, r in revotes.items()))
    rankings.update(revotes)
    tally = await storage.get_tally(poll.id, fresh=True)
    assert tally is not None and tally.total == 60 and tally.seq == 80
    assert tally.rankings is not None
    expected: dict[tuple[str, ...], int] = {}
    for r in rankings.values():
        expected[tuple(r)] = expected.get(tuple(r), 0) + 1
    assert tally.rankings.by_question["q1"] == expected
    await assert_matches_recount(storage, poll)


async def check_batched_ballots_stay_exact(storage: Storage, count_rows: CountRows) -> None:
    """A burst forms multi-ballot transactions (whose readings cover polls, codes and the
    voters' ballots at once); duplicates, codes and bad codes inside a burst still get
    their own answers, and the tally equals the recount."""
    poll, _ = await make_poll(storage)
    coded, codes = await make_poll(storage, codes=5)
    jobs = [cast(storage, poll, f"v:{i}", {"q1": [f"o{1 + i % 3}"]}) for i in range(150)]
    jobs += [cast(storage, poll, "v:twice", {"q1": ["o1"]}) for _ in range(10)]
    jobs += [cast(storage, coded, f"c:{i}", {"q1": ["o1"]}, code=codes[i]) for i in range(5)]
    jobs += [cast(storage, coded, "c:bad", {"q1": ["o1"]}, code="not-a-code")]
    results = await asyncio.gather(*jobs, return_exceptions=True)
    assert storage._ballots.largest > 1  # batches did form
    assert all(not isinstance(r, BaseException) for r in results[:150])
    twice = results[150:160]
    assert sum(1 for r in twice if not isinstance(r, BaseException)) == 1
    assert all(isinstance(r, AlreadyVoted) for r in twice if isinstance(r, BaseException))
    assert all(not isinstance(r, BaseException) for r in results[160:165])
    assert isinstance(results[165], InvalidCode)
    seq, total, counts = await tally_counts(storage, poll)
    # One seq step per accepted ballot: the refused ones (duplicates, a bad code) add none.
    assert total == 151 and seq == 151
    await assert_matches_recount(storage, poll)
    await assert_matches_recount(storage, coded)


CHECKS = [check_poll_round_trip, check_one_ballot_per_voter, check_concurrent_casts,
          check_tally_equals_recount, check_seq_increases_on_every_change, check_delete_cascades,
          check_idempotency, check_list_public_polls, check_closes_at, check_ranked_and_scale,
          check_concurrent_ranked_ballots, check_batched_ballots_stay_exact]
