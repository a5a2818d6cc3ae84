"""Ranked questions: their ballots aggregated by ranking, and the instant-runoff count
over them (DESIGN §3). Pure functions over plain data; no I/O."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Sequence

if TYPE_CHECKING:
    from voting.domain import Question


@dataclass
class Round:
    """One round of an instant-runoff count: the options still in the race with their
    ballots, the option eliminated after it (none in the last round) and the ballots
    that rank no option still in the race."""
    counts: dict[str, int]
    eliminated: list[str]
    exhausted: int

    def to_json(self) -> dict[str, Any]:
        return {"counts": dict(self.counts), "eliminated": list(self.eliminated),
                "exhausted": self.exhausted}


@dataclass
class Runoff:
    rounds: list[Round]
    winner: str | None


def instant_runoff(options: list[str], ballots: Iterable[tuple[Sequence[str], int]],
                   total: int) -> Runoff:
    """DESIGN §3's instant-runoff count over aggregated rankings (ranking -> ballots).

    `options` in listing order; `total` counts every ballot of the poll, so ballots that
    rank nothing are exhausted from the first round. Each round counts every ballot for
    its highest-ranked option still in the race; an option with more than half of the
    ballots not exhausted wins; else the one with the fewest is eliminated (ties: fewer in
    the latest earlier round where the tied options differed, else the one listed last).
    Ballots wait in a pile per option, so each ranking is looked at once per step it moves
    down: the whole count is linear in the size of the rankings."""
    in_race = {o: 0 for o in options}  # option -> ballots in its pile
    piles: dict[str, list[tuple[Sequence[str], int, int]]] = {o: [] for o in options}
    placed = 0

    def place(ranking: Sequence[str], n: int, start: int) -> int:
        for i in range(start, len(ranking)):
            o = ranking[i]
            if o in in_race:
                piles[o].append((ranking, n, i))
                in_race[o] += n
                return n
        return 0

    for ranking, n in ballots:
        if n:
            placed += place(ranking, n, 0)
    exhausted = total - placed
    rounds: list[Round] = []
    while True:
        counts = {o: in_race[o] for o in options if o in in_race}
        active = total - exhausted
        winner = next((o for o, n in counts.items() if 2 * n > active), None) if active > 0 \
            else None
        if winner is not None or active <= 0 or len(counts) <= 1:
            rounds.append(Round(counts, [], exhausted))
            return Runoff(rounds, winner)
        low = min(counts.values())
        tied = [o for o, n in counts.items() if n == low]
        for earlier in reversed(rounds):
            if len(tied) == 1:
                break
            least = min(earlier.counts[o] for o in tied)
            if any(earlier.counts[o] != least for o in tied):
                tied = [o for o in tied if earlier.counts[o] == least]
        loser = tied[-1]  # tied still in listing order: the one listed last
        rounds.append(Round(counts, [loser], exhausted))
        del in_race[loser]
        for ranking, n, i in piles.pop(loser):
            exhausted += n - place(ranking, n, i + 1)


class Rankings:
    """The ranked questions' ballots, identical rankings aggregated:
    question id -> {ranking (option ids, most preferred first): ballots}. Empty rankings
    are not kept (they are the ballots exhausted from the first round). The runoff of a
    question is computed once per Rankings and total."""

    def __init__(self, by_question: dict[str, dict[tuple[str, ...], int]] | None = None) -> None:
        self.by_question = by_question or {}
        self._runoffs: dict[tuple[str, int], Runoff] = {}

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, str, int]]) -> "Rankings":
        """(question_id, ranking key, ballots) rows."""
        out: dict[str, dict[tuple[str, ...], int]] = {}
        for qid, key, n in rows:
            if int(n):
                ranking = ranking_from_key(key)
                per = out.setdefault(qid, {})
                per[ranking] = per.get(ranking, 0) + int(n)
        return cls(out)

    def runoff(self, q: Question, total: int) -> Runoff:
        memo = self._runoffs.get((q.id, total))
        if memo is None:
            memo = instant_runoff(q.option_ids(), self.by_question.get(q.id, {}).items(), total)
            self._runoffs[(q.id, total)] = memo
        return memo

    def to_json(self) -> dict[str, list[list[Any]]]:
        return {qid: [[ranking_key(r), n] for r, n in per.items()]
                for qid, per in self.by_question.items()}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Rankings):
            return NotImplemented
        def norm(r: "Rankings") -> dict[str, dict[tuple[str, ...], int]]:
            return {q: {k: n for k, n in per.items() if n} for q, per in r.by_question.items()
                    if any(per.values())}
        return norm(self) == norm(other)

    __hash__ = None  # type: ignore[assignment]


def ranking_key(ranking: Sequence[str]) -> str:
    """How a ranking is stored: its option ids, most preferred first, joined by commas."""
    return ",".join(ranking)


def ranking_from_key(key: str) -> tuple[str, ...]:
    return tuple(key.split(",")) if key else ()
