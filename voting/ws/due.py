"""Keys due at a time, taken together when their time comes: the one timer of a process's
live feeds, however many polls are waiting (a campus of polls changing at once is one wake-up
and one batch, not a task and a timer per poll)."""
from __future__ import annotations

import heapq
import math


class DueQueue:
    def __init__(self, grid: float = 0.0) -> None:
        """`grid` > 0 rounds due times up to its multiples, so keys falling due within one
        grid step are taken together (each at most one step late, never early)."""
        self.grid = grid
        self._heap: list[tuple[float, str]] = []
        self._due: dict[str, float] = {}  # key -> its due time (the heap's other entries are stale)

    def __len__(self) -> int:
        return len(self._due)

    def __contains__(self, key: str) -> bool:
        return key in self._due

    def push(self, key: str, due: float, align: bool = True) -> bool:
        """Due at `due` (rounded up to the grid when `align`) unless it is due earlier already.
        True when this made it the earliest of all (a waiting timer must wake sooner)."""
        if align and self.grid > 0:
            due = max(due, math.ceil(due / self.grid) * self.grid)
        queued = self._due.get(key)
        if queued is not None and queued <= due:
            return False
        earliest = self.next_due()
        self._due[key] = due
        heapq.heappush(self._heap, (due, key))
        return earliest is None or due < earliest

    def discard(self, key: str) -> None:
        self._due.pop(key, None)  # its heap entry goes stale and is skipped

    def next_due(self) -> float | None:
        heap = self._heap
        while heap and self._due.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def pop_due(self, now: float) -> list[str]:
        """Every key due at `now` or before, earliest first; they leave the queue."""
        out: list[str] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            due, key = heapq.heappop(heap)
            if self._due.get(key) == due:
                del self._due[key]
                out.append(key)
        return out
