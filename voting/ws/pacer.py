"""The tally interval in force for this process's live feeds.

It is `tally_interval`, lengthened (up to `max_interval`, DESIGN §5) while sending
tallies takes more than half of this process's time or the frames sent exceed
`max_frames_per_second`: an audience too large for the pace gets fresher frames less
often instead of a backlog, and ballots keep their share of the CPU. A poll whose own
audience here would exceed that bound at the interval in force is paced slower from its
first frame (`interval_for`); a poll with a few watchers is not slowed by the crowd on
another."""
from __future__ import annotations

import time
from typing import Callable


class Pacer:
    """The tally interval in force, from the share of time that broadcasts take, from
    how late the event loop wakes (a machine short of CPU: fewer, fresher frames leave
    more of it to ballots, here and in every process that relays or reads the frames),
    and from the frames sent a second against max_frames_per_second (0: no bound). The
    cost of a frame is mostly outside this process (nginx relays it, the kernel copies
    it twice, the phones read it), where the share of time cannot see it."""

    WINDOW = 1.0  # seconds over which the share is measured
    LAG_FACTOR = 3.0  # the interval is at least this many times the loop's lateness
    # What the windows measured comes back by at most this factor a window (slower, 0.8,
    # kept a busy spell's interval for many seconds after it).
    SHORTEN = 0.5

    def __init__(self, base: float, maximum: float, budget: float = 0.5,
                 clock: Callable[[], float] = time.monotonic,
                 max_frames_per_second: int = 0) -> None:
        self.base = base
        self.max = max(base, maximum)
        self.budget = budget
        self.max_frames_per_second = max_frames_per_second
        # What the broadcasts' share of time and the frames bound call for, measured per
        # window; the loop's lateness adds to it as it is measured (interval below).
        self._load = base
        self._clock = clock
        self._busy = 0.0
        self._frames = 0
        self._since = clock()
        self._lag = 0.0
        self._lag_at = clock()  # when a flush last said how late it woke

    @property
    def interval(self) -> float:
        # The lateness part follows each flush's measurement, not the window's steps: a
        # burst that made the loop late (a crowd's feeds opening at once) lengthens it at
        # once, and the first flushes on time after it bring it back.
        return min(self.max, max(self._load, self.LAG_FACTOR * self._lag))

    def late(self, seconds: float) -> None:
        """A flush woke this much after its time (moving average)."""
        self._lag += 0.2 * (max(0.0, seconds) - self._lag)
        self._lag_at = self._clock()

    def spent(self, seconds: float, frames: int = 0) -> None:
        """A broadcast took `seconds` and sent `frames`."""
        self._busy += seconds
        self._frames += frames
        now = self._clock()
        elapsed = now - self._since
        window = max(self.WINDOW, 2 * self._load)
        if elapsed < window:
            return
        # A quiet spell (no broadcast for several windows, as after a crowd's feeds opened
        # and before its ballots) counts as that many windows: the interval comes back a step
        # for each, and a lateness last measured windows ago fades as much. Counted per
        # call, the interval of such a burst outlived it by seconds.
        windows = elapsed / window
        unmeasured = (now - self._lag_at) / self.WINDOW - 1
        if unmeasured > 0:
            self._lag *= self.SHORTEN ** unmeasured
            self._lag_at = now
        share = self._busy / elapsed
        # Frames of busy polls scale with 1/interval, so this is the interval at which the
        # last window would have kept within the bound.
        by_frames = (self.interval * self._frames / elapsed / self.max_frames_per_second
                     if self.max_frames_per_second else 0.0)
        target = min(self.max, max(self.base, self.interval * share / self.budget, by_frames))
        # Lengthen at once, shorten by steps: no flapping around the limit.
        self._load = target if target >= self._load else \
            max(target, self._load * self.SHORTEN ** windows)
        self._busy = 0.0
        self._frames = 0
        self._since = now

    def interval_for(self, subscribers: int) -> float:
        """The interval of one poll with this many subscribers here: a crowd on one poll is
        within the frames bound from its first frame, before a window has measured it."""
        if not self.max_frames_per_second:
            return self.interval
        return max(self.interval, min(self.max, subscribers / self.max_frames_per_second))
