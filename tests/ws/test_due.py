"""The due queue behind a process's one flush task."""
from __future__ import annotations

from hypothesis import given, strategies as st

from voting.ws.due import DueQueue


def test_keys_due_within_one_grid_step_come_out_together_never_early() -> None:
    q = DueQueue(grid=0.02)
    assert q.push("a", 10.001)  # the earliest so far
    assert not q.push("b", 10.019)  # same step: not earlier than a's
    assert not q.push("c", 10.021)
    step_end = q.next_due()
    assert step_end is not None and 10.02 <= step_end < 10.02 + 1e-9
    assert q.pop_due(10.0199) == []  # a and b are due at the step's end, not before
    assert q.pop_due(step_end) == ["a", "b"]
    assert "c" in q and len(q) == 1


def test_an_earlier_time_wins_and_a_discarded_key_never_comes_out() -> None:
    q = DueQueue()
    q.push("a", 5.0)
    assert not q.push("a", 6.0)  # due earlier already
    assert q.push("b", 1.0)
    assert q.push("a", 0.5)  # earlier than everything: the waiting timer must wake
    q.discard("b")
    assert "b" not in q and q.next_due() == 0.5
    assert q.pop_due(100.0) == ["a"]
    assert q.next_due() is None and len(q) == 0


def test_an_unaligned_push_keeps_its_own_time() -> None:
    q = DueQueue(grid=0.02)
    q.push("relayed", 3.005, align=False)
    assert q.next_due() == 3.005


@given(st.lists(st.tuples(st.sampled_from("abcdefgh"), st.floats(0, 100)), max_size=60),
       st.floats(0, 120))
def test_pop_due_takes_exactly_the_keys_whose_earliest_time_has_come(
        pushes: list[tuple[str, float]], now: float) -> None:
    q = DueQueue(grid=0.5)
    earliest: dict[str, float] = {}
    for key, due in pushes:
        q.push(key, due)
        earliest[key] = min(earliest.get(key, due), due)
    taken = q.pop_due(now)
    assert len(taken) == len(set(taken))
    for key, due in earliest.items():
        if key in taken:
            assert due <= now  # never early
        else:
            assert key in q and due > now - q.grid - 1e-9  # at most one step late
