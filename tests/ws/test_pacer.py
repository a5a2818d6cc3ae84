"""The tally interval in force: lengthened by the broadcasts' share of time, the loop's
lateness and the frames bound; shortened step by step."""
from __future__ import annotations

import pytest

from voting.ws.pacer import Pacer


def test_the_interval_lengthens_under_load_up_to_its_bound_and_comes_back() -> None:
    now = [0.0]
    pacer = Pacer(0.1, 1.0, clock=lambda: now[0])
    for _ in range(5):  # broadcasts take 20 % of the time: within the budget
        now[0] += 0.5
        pacer.spent(0.1)
    assert pacer.interval == 0.1
    now[0] += 1.0
    pacer.spent(0.9)  # 90 % of a second broadcasting: lengthened at once, by the share
    assert 0.1 < pacer.interval <= 1.0
    now[0] += 1.0
    pacer.spent(5.0)  # far over: capped at max_tally_interval
    assert pacer.interval == 1.0
    steps = 0
    while pacer.interval > 0.1:  # load gone: back to the configured interval, step by step
        now[0] += max(Pacer.WINDOW, 2 * pacer.interval)  # one window each
        before = pacer.interval
        pacer.spent(0.0)
        assert before * Pacer.SHORTEN - 1e-9 <= pacer.interval < before
        steps += 1
    assert pacer.interval == 0.1 and steps == 4  # 1.0, 0.5, 0.25, 0.125, 0.1: a few seconds
    for _ in range(30):  # the event loop wakes 150 ms late: frames less often, not queued
        pacer.late(0.15)
    now[0] += 1.0
    pacer.spent(0.0)
    assert pacer.interval >= 0.4


def test_a_quiet_spell_after_a_burst_brings_the_interval_back() -> None:
    """A crowd's feeds opening at once make the loop late and the interval long; the
    ballots that follow a few quiet seconds later get the configured interval, not the
    burst's."""
    now = [0.0]
    pacer = Pacer(0.1, 1.0, clock=lambda: now[0])
    for _ in range(30):
        pacer.late(0.4)
    now[0] += 1.0
    pacer.spent(0.0)
    assert pacer.interval == 1.0
    now[0] += 5.0  # nothing broadcast for five seconds (2.5 windows of 2 s)
    pacer.spent(0.001)
    assert pacer.interval < 0.25
    now[0] += max(Pacer.WINDOW, 2 * pacer.interval)
    pacer.spent(0.001)
    assert pacer.interval == 0.1
    # Under load the lateness is measured afresh at every flush and keeps the interval long.
    for _ in range(30):
        pacer.late(0.4)
        now[0] += 0.1
        pacer.spent(0.001)
    assert pacer.interval == 1.0


def test_frames_sent_over_the_bound_lengthen_the_interval_until_within_it() -> None:
    now = [0.0]
    pacer = Pacer(0.1, 2.0, clock=lambda: now[0], max_frames_per_second=1000)
    now[0] += 1.0
    pacer.spent(0.0, 800)  # 800 frames a second: within the bound
    assert pacer.interval == 0.1
    now[0] += 1.0
    pacer.spent(0.0, 3000)  # 3,000 a second at 0.1 s: 0.3 s keeps busy polls at 1,000
    assert pacer.interval == pytest.approx(0.3)
    now[0] += 1.0
    pacer.spent(0.0, 1000)  # at the bound: stays
    assert pacer.interval == pytest.approx(0.3)
    for _ in range(20):  # the audience left: back to the configured interval, step by step
        now[0] += 1.0
        pacer.spent(0.0, 10)
    assert pacer.interval == 0.1
    assert pacer.interval_for(500) == pytest.approx(0.5)  # one crowd: bounded at once
    assert pacer.interval_for(5000) == 2.0  # never beyond max_tally_interval
    assert Pacer(0.1, 2.0).interval_for(5000) == 0.1  # no bound configured
