"""Instant runoff (DESIGN §3) against hand-worked counts, and a property test: the live
runoff of the storage (aggregated rankings, cached by seq) equals a straightforward
reference runoff over the raw stored ballots."""
from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.storage import contract
from voting import domain
from voting.domain import Question, Tally
from voting.runoff import Rankings, instant_runoff
from voting.storage.sqlite import SQLiteStorage


def count(options: str, ballots: list[tuple[str, int]], total: int | None = None
          ) -> tuple[list[tuple[dict[str, int], list[str], int]], str | None]:
    """Options and rankings as letters: count("ABC", [("AB", 3), ("C", 1)])."""
    total = sum(n for _, n in ballots) if total is None else total
    result = instant_runoff(list(options), [(tuple(r), n) for r, n in ballots], total)
    return [(r.counts, r.eliminated, r.exhausted) for r in result.rounds], result.winner


def test_outright_first_round_majority() -> None:
    rounds, winner = count("ABCD", [("AB", 3), ("B", 1), ("CA", 1)])
    assert rounds == [({"A": 3, "B": 1, "C": 1, "D": 0}, [], 0)]
    assert winner == "A"


def test_winner_after_two_eliminations() -> None:
    rounds, winner = count("ABCD", [("A", 4), ("BA", 3), ("CB", 2), ("DB", 1)])
    assert rounds == [
        ({"A": 4, "B": 3, "C": 2, "D": 1}, ["D"], 0),
        ({"A": 4, "B": 4, "C": 2}, ["C"], 0),
        ({"A": 4, "B": 6}, [], 0),
    ]
    assert winner == "B"  # A led the first two rounds


def test_exhausted_ballots_leave_the_majority_of_those_still_counted() -> None:
    rounds, winner = count("ABC", [("A", 3), ("B", 2), ("C", 1)])
    assert rounds == [({"A": 3, "B": 2, "C": 1}, ["C"], 0), ({"A": 3, "B": 2}, [], 1)]
    assert winner == "A"  # 3 of 6 is no majority, 3 of the 5 not exhausted is


def test_three_way_tie_for_last_resolved_by_the_earlier_round() -> None:
    # Round 2 ties B, C and D at 3; in round 1 B had fewer (2) than C and D (3), so B goes,
    # although D is listed last.
    rounds, winner = count("ABCDE", [("A", 8), ("B", 2), ("C", 3), ("D", 3), ("EB", 1)])
    assert rounds == [
        ({"A": 8, "B": 2, "C": 3, "D": 3, "E": 1}, ["E"], 0),
        ({"A": 8, "B": 3, "C": 3, "D": 3}, ["B"], 0),
        ({"A": 8, "C": 3, "D": 3}, [], 3),
    ]
    assert winner == "A"


def test_three_way_tie_resolved_by_listing_order_when_earlier_rounds_tie_too() -> None:
    # Round 2 ties B, C and D at 2; they tied in round 1 as well: D, listed last, goes.
    rounds, winner = count("ABCDE", [("A", 5), ("B", 2), ("C", 2), ("D", 2), ("EA", 1)])
    assert rounds == [
        ({"A": 5, "B": 2, "C": 2, "D": 2, "E": 1}, ["E"], 0),
        ({"A": 6, "B": 2, "C": 2, "D": 2}, ["D"], 0),
        ({"A": 6, "B": 2, "C": 2}, [], 2),
    ]
    assert winner == "A"


def test_a_question_where_every_ballot_exhausts() -> None:
    # min_choices 0: three ballots left the question unranked; nobody can win.
    rounds, winner = count("AB", [], total=3)
    assert rounds == [({"A": 0, "B": 0}, [], 3)]
    assert winner is None
    assert count("AB", []) == ([({"A": 0, "B": 0}, [], 0)], None)  # no ballots yet


def test_two_way_tie_to_the_end_goes_to_the_one_listed_first() -> None:
    rounds, winner = count("AB", [("A", 2), ("B", 2)])
    assert rounds == [({"A": 2, "B": 2}, ["B"], 0), ({"A": 2}, [], 2)]
    assert winner == "A"


def _question(kind: str, n: int, **extra: Any) -> Question:
    return Question("q1", "Q", kind, 1, n, [{"id": f"o{i + 1}", "label": str(i)} for i in range(n)],
                    **extra)


def test_tally_json_carries_rounds_winner_mean_and_median() -> None:
    body = {"title": "t", "questions": [
        {"text": "rank", "kind": "ranked", "options": [{"label": x} for x in "ABC"]},
        {"text": "rate", "kind": "scale", "scale_min": 1, "scale_max": 5, "max_label": "great"}]}
    poll = domain.validate_poll(body, "abcdefgh", domain.now_ms())
    ranked, scale = poll.questions
    assert [o["label"] for o in scale.options] == ["1", "2", "3", "4", "5"]
    assert (scale.min_label, scale.max_label) == (None, "great")
    rankings = Rankings({"q1": {("o1", "o2"): 2, ("o3",): 1, ("o2", "o3"): 1}})
    counts = {"o1": 2, "o2": 1, "o3": 1, "o5": 1, "o7": 2, "o8": 1}  # scale: 2, 4, 4, 5
    tally = Tally(poll.id, 4, "open", 4, counts, rankings)
    q1, q2 = tally.to_json(poll)["questions"]
    assert q1["counts"] == {"o1": 2, "o2": 1, "o3": 1}
    assert q1["rounds"] == [
        {"counts": {"o1": 2, "o2": 1, "o3": 1}, "eliminated": ["o3"], "exhausted": 0},
        {"counts": {"o1": 2, "o2": 1}, "eliminated": [], "exhausted": 1}]
    assert q1["winner"] == "o1"
    assert (q2["mean"], q2["median"]) == (15 / 4, 4.0)
    assert "rounds" not in q2 and "mean" not in q1
    empty = Tally(poll.id, 0, "open", 0, {}, Rankings()).to_json(poll)["questions"]
    assert (empty[1]["mean"], empty[1]["median"]) == (None, None)
    assert empty[0]["winner"] is None
    # The relay form carries what the frame is built from.
    again = Tally.from_relay(poll.id, json.loads(json.dumps(tally.relay_json())))
    assert again.to_json(poll) == tally.to_json(poll)


def test_scale_median_of_an_odd_and_an_even_count() -> None:
    q = _question("scale", 11, scale_min=0, scale_max=10)
    assert domain.scale_stats(q, {"o1": 1, "o11": 2}) == (20 / 3, 10)
    assert domain.scale_stats(q, {"o3": 1, "o6": 1}) == (3.5, 3.5)


# --- property: the live runoff equals a reference over the raw ballots -----------------

def reference_runoff(options: list[str], ballots: list[list[str]]) -> list[dict[str, Any]]:
    """The runoff as written in DESIGN §3, recounting every raw ballot in every round."""
    in_race = list(options)
    history: list[dict[str, int]] = []
    out: list[dict[str, Any]] = []
    while True:
        counts = {o: 0 for o in in_race}
        exhausted = 0
        for ranking in ballots:
            top = next((o for o in ranking if o in in_race), None)
            if top is None:
                exhausted += 1
            else:
                counts[top] += 1
        active = len(ballots) - exhausted
        if active == 0 or any(2 * n > active for n in counts.values()):
            out.append({"counts": counts, "eliminated": [], "exhausted": exhausted})
            return out
        fewest = min(counts.values())
        tied = [o for o in in_race if counts[o] == fewest]
        for earlier in reversed(history):
            if len(set(earlier[o] for o in tied)) > 1:
                least = min(earlier[o] for o in tied)
                tied = [o for o in tied if earlier[o] == least]
        loser = tied[-1]
        out.append({"counts": counts, "eliminated": [loser], "exhausted": exhausted})
        history.append(counts)
        in_race.remove(loser)


RANKED_POLL = {"title": "property", "allow_revote": True, "questions": [
    {"text": "rank", "kind": "ranked", "min_choices": 0, "max_choices": 4,
     "options": [{"label": x} for x in "ABCDE"]},
    {"text": "rate", "kind": "scale", "scale_min": 0, "scale_max": 3}]}

ballot_st = st.tuples(
    st.integers(0, 11),  # voter (repeats are revotes)
    st.permutations(["o1", "o2", "o3", "o4", "o5"]).flatmap(
        lambda p: st.integers(0, 4).map(lambda k: p[:k])),
    st.sampled_from(["o6", "o7", "o8", "o9"]))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(ballot_st, max_size=30))
def test_live_runoff_equals_the_reference(tmp_path: Path,
                                          ballots: list[tuple[int, list[str], str]]) -> None:
    asyncio.run(_live_runoff_equals_the_reference(tmp_path, ballots))


async def _live_runoff_equals_the_reference(tmp_path: Path,
                                            ballots: list[tuple[int, list[str], str]]) -> None:
    storage = SQLiteStorage(str(tmp_path / f"p{random.getrandbits(64):x}.sqlite3"))
    await storage.open()
    try:
        poll, _ = await contract.make_poll(storage, **RANKED_POLL)
        for voter, ranking, point in ballots:
            await contract.cast(storage, poll, f"v:{voter}", {"q1": list(ranking), "q2": [point]})
        # Twice: the second read reuses the rankings cached for the seq.
        for _ in range(2):
            tally = await storage.get_tally(poll.id, fresh=True)
            assert tally is not None
            live = tally.to_json(poll)["questions"][0]
            async with storage.reader.execute("SELECT choices FROM ballots WHERE poll_id = ?",
                                              (poll.id,)) as cur:
                raw = [json.loads(r[0])["q1"] for r in await cur.fetchall()]
            assert tally.total == len(raw)
            expected = reference_runoff(poll.questions[0].option_ids(), raw)
            assert live["rounds"] == expected
            for r in live["rounds"]:
                assert sum(r["counts"].values()) + r["exhausted"] == tally.total
            last = expected[-1]
            active = tally.total - last["exhausted"]
            leader = [o for o, n in last["counts"].items() if 2 * n > active]
            assert live["winner"] == (leader[0] if leader else None)
        recount = await storage.recount(poll.id)
        assert recount is not None and recount.to_json(poll) == tally.to_json(poll)
    finally:
        await storage.close()
