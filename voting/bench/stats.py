"""Latency histograms that merge across processes, and percentiles."""
from __future__ import annotations

from typing import Any

RESOLUTION = 0.001  # seconds per bucket
BUCKETS = 60_000  # one minute; later values land in the last bucket (max stays exact)


class Histogram:
    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.n = 0
        self.max = 0.0

    def add(self, seconds: float) -> None:
        b = min(BUCKETS - 1, int(seconds / RESOLUTION))
        self.counts[b] = self.counts.get(b, 0) + 1
        self.n += 1
        if seconds > self.max:
            self.max = seconds

    def merge(self, other: "Histogram") -> None:
        for b, c in other.counts.items():
            self.counts[b] = self.counts.get(b, 0) + c
        self.n += other.n
        self.max = max(self.max, other.max)

    def percentile(self, p: float) -> float | None:
        if not self.n:
            return None
        rank = p / 100 * self.n
        seen = 0
        for b in sorted(self.counts):
            seen += self.counts[b]
            if seen >= rank:
                return min((b + 0.5) * RESOLUTION, self.max)
        return self.max

    def summary_ms(self) -> dict[str, Any]:
        def ms(v: float | None) -> float | None:
            return None if v is None else round(v * 1000, 1)
        return {"n": self.n, "p50": ms(self.percentile(50)), "p90": ms(self.percentile(90)),
                "p99": ms(self.percentile(99)), "max": ms(self.max if self.n else None)}

    def to_dict(self) -> dict[str, Any]:
        return {"counts": self.counts, "n": self.n, "max": self.max}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Histogram":
        h = cls()
        h.counts = {int(k): int(v) for k, v in d["counts"].items()}
        h.n, h.max = int(d["n"]), float(d["max"])
        return h


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, int(round(p / 100 * (len(ordered) - 1)))))
    return ordered[k]


def latency_ms(values: list[float]) -> dict[str, Any]:
    h = Histogram()
    for v in values:
        h.add(v)
    return h.summary_ms()


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not b:
        return None
    return round(a / b, 2)
