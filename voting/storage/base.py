"""The storage interface shared by the SQLite and MySQL implementations.

Counters are slotted: each ballot adds to the rows of one random slot of
`tally_slots`, and a tally is the sum over slots, so concurrent ballots on one
hot poll do not queue on one row. Two pseudo options per slot carry the poll's
`seq` (every change) and `total` (ballots). A read position (`pos`) is what a
write returns for read-your-writes; embedded storage has none.
"""
from __future__ import annotations

import abc
import json
from dataclasses import dataclass
from typing import Any, Sequence

from voting.domain import Poll, Question, Tally, now_ms, status_at
from voting.storage.batching import Batcher

SEQ_KEY = "#seq"
TOTAL_KEY = "#total"

POLL_COLUMNS = ("id, title, description, results, allow_revote, eligibility, visibility, status, "
                "code_count, closes_at, created_at, closed_at, token_salt, admin_hash, definition")


def poll_values(poll: Poll) -> tuple[Any, ...]:
    """The row of `poll`, in the order of POLL_COLUMNS."""
    return (poll.id, poll.title, poll.description, poll.results, int(poll.allow_revote),
            poll.eligibility, poll.visibility, poll.status, poll.code_count, poll.closes_at,
            poll.created_at, poll.closed_at, poll.token_salt, poll.admin_hash,
            json.dumps(poll.definition_json(), ensure_ascii=False))


def tally_query(mark: str) -> str:
    """One statement, so status, seq, total and counts come from one consistent reading."""
    return ("SELECT p.status, p.closes_at, t.option_id, SUM(t.n) FROM polls p "
            f"LEFT JOIN tally_slots t ON t.poll_id = p.id WHERE p.id = {mark} "
            "GROUP BY p.status, p.closes_at, t.option_id")


@dataclass
class BallotRecord:
    poll_id: str
    choices: dict[str, list[str]]
    receipt: str
    created_at: int
    updated_at: int

    def to_json(self) -> dict[str, Any]:
        return {"poll_id": self.poll_id, "choices": self.choices, "receipt": self.receipt}


@dataclass
class IdempotencyRecord:
    key_hash: str
    request_hash: str
    status: int = 0
    body: str = ""


@dataclass
class CastRequest:
    """One ballot to write (the arguments of Storage.cast_ballot)."""
    poll_id: str
    voter_key: str
    choices: dict[str, list[str]]
    receipt: str
    slot: int
    code_hash: str | None
    idem: IdempotencyRecord | None
    now: int


@dataclass
class CastResult:
    ballot: BallotRecord
    replaced: bool
    pos: str | None


@dataclass
class StatusChange:
    poll_id: str
    status: str
    seq: int
    pos: str | None
    changed: bool = True  # False when the poll already had that status (nothing to announce)


@dataclass
class PollSummary:
    id: str
    title: str
    status: str
    created_at: int
    total: int

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> "PollSummary":
        """A row of public_polls_query."""
        return cls(row[0], row[1], status_at(row[2], row[3], now_ms()), int(row[4]), int(row[5]))


def poll_from_row(row: dict[str, Any]) -> Poll:
    definition = json.loads(row["definition"])
    status = status_at(row["status"], row["closes_at"], now_ms())
    # Closed by its closes_at but not yet swept: it closed at that time.
    closed_at = row["closes_at"] if status == "closed" and row["closed_at"] is None \
        else row["closed_at"]
    return Poll(
        id=row["id"], title=row["title"], description=row["description"], results=row["results"],
        allow_revote=bool(row["allow_revote"]), eligibility=row["eligibility"],
        visibility=row["visibility"],
        questions=[Question.from_json(q) for q in definition["questions"]],
        status=status, closes_at=row["closes_at"], created_at=row["created_at"],
        closed_at=closed_at, code_count=row["code_count"], token_salt=row["token_salt"],
        admin_hash=row["admin_hash"], show_results=definition.get("show_results", "always"))


def tally_from_rows(poll_id: str, rows: Sequence[Sequence[Any]]) -> Tally:
    """The rows of tally_query (at least one: the poll exists)."""
    counts: dict[str, int] = {}
    seq = total = 0
    status = status_at(rows[0][0], rows[0][1], now_ms())
    for _, _, option_id, n in rows:
        if option_id is None:
            continue
        if option_id == SEQ_KEY:
            seq = int(n)
        elif option_id == TOTAL_KEY:
            total = int(n)
        else:
            counts[option_id] = int(n)
    return Tally(poll_id, seq, status, total, counts)


def slot_rows(delta: dict[str, int], new_ballot: bool) -> list[tuple[str, int]]:
    """The counter increments of one change, in a fixed order so row locks never deadlock."""
    rows = dict(delta)
    rows[SEQ_KEY] = 1
    if new_ballot:
        rows[TOTAL_KEY] = 1
    return sorted(rows.items())


def public_polls_query(limit: int, before: tuple[int, str] | None,
                       mark: str) -> tuple[str, tuple[Any, ...]]:
    """The newest-first page of public polls after the cursor `before`; `mark` is the
    dialect's placeholder ("?" or "%s")."""
    total = ("(SELECT COALESCE(SUM(n), 0) FROM tally_slots t "
             f"WHERE t.poll_id = p.id AND t.option_id = {mark})")
    sql = f"SELECT id, title, status, closes_at, created_at, {total} AS total FROM polls p " \
          "WHERE visibility = 'public' "
    if before is None:
        args: tuple[Any, ...] = (TOTAL_KEY, limit)
    else:
        sql += f"AND (created_at < {mark} OR (created_at = {mark} AND id < {mark})) "
        args = (TOTAL_KEY, before[0], before[0], before[1], limit)
    return sql + f"ORDER BY created_at DESC, id DESC LIMIT {mark}", args


def recount_choices(poll: Poll, stored_choices: list[str]) -> tuple[int, dict[str, int]]:
    """Total and per-option counts recomputed from the ballots' stored choices (JSON)."""
    counts = {o: 0 for o in poll.option_ids()}
    for raw in stored_choices:
        for picks in json.loads(raw).values():
            for o in picks:
                counts[o] = counts.get(o, 0) + 1
    return len(stored_choices), counts


class Storage(abc.ABC):
    """Everything the service needs from a database. All methods may raise StorageUnavailable."""

    @abc.abstractmethod
    async def open(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def ping(self) -> dict[str, Any]:
        """Readiness details; raises StorageUnavailable when the primary cannot be reached."""

    @abc.abstractmethod
    async def init_schema(self) -> None: ...

    @abc.abstractmethod
    async def create_poll(self, poll: Poll, code_hashes: list[str],
                          idem: IdempotencyRecord | None) -> str | None:
        """Insert a poll (and its idempotency record in the same transaction). Returns pos.

        Raises IdempotencyConflict when the idempotency key already exists."""

    @abc.abstractmethod
    async def get_poll(self, poll_id: str, pos: str | None = None) -> Poll | None: ...

    @abc.abstractmethod
    async def list_public_polls(self, limit: int, before: tuple[int, str] | None,
                                pos: str | None = None) -> list[PollSummary]: ...

    @abc.abstractmethod
    async def get_tally(self, poll_id: str, pos: str | None = None,
                        fresh: bool = False) -> Tally | None:
        """A consistent tally; `fresh` reads the primary (live feeds)."""

    # Set by each implementation: ballots queued while one batch is written go in the next.
    _ballots: Batcher[CastRequest, CastResult]

    async def cast_ballot(self, poll_id: str, voter_key: str, choices: dict[str, list[str]],
                          receipt: str, slot: int, code_hash: str | None,
                          idem: IdempotencyRecord | None, now: int) -> CastResult:
        """Insert or (when the poll allows revotes) replace the voter's ballot and add to counters.

        Raises PollNotFound, PollClosed, AlreadyVoted, CodeUsed, InvalidCode, IdempotencyConflict."""
        return await self._ballots.submit(
            CastRequest(poll_id, voter_key, choices, receipt, slot, code_hash, idem, now))

    def _ballot_batcher(self, max_batch: int, writers: int) -> Batcher[CastRequest, CastResult]:
        return Batcher(self._cast_batch, key=lambda c: (c.poll_id, c.voter_key),
                       max_batch=max_batch, writers=writers)

    @abc.abstractmethod
    async def _cast_batch(self, batch: list[CastRequest]) -> list[CastResult | BaseException]:
        """Write a batch (at most one ballot per voter and poll); one outcome per ballot."""

    @abc.abstractmethod
    async def get_ballot(self, poll_id: str, voter_key: str,
                         pos: str | None = None) -> BallotRecord | None: ...

    @abc.abstractmethod
    async def code_exists(self, poll_id: str, code_hash: str, pos: str | None = None) -> bool:
        """Whether the poll issued the access code of this hash."""

    @abc.abstractmethod
    async def set_status(self, poll_id: str, status: str, now: int) -> StatusChange | None:
        """Close or reopen; None when the poll is missing. Reopen clears a passed closes_at."""

    @abc.abstractmethod
    async def delete_poll(self, poll_id: str) -> tuple[bool, str | None]:
        """Whether the poll existed, and the write's position (read-your-writes)."""

    @abc.abstractmethod
    async def due_polls(self, now: int) -> list[str]:
        """Open polls whose closes_at has passed."""

    @abc.abstractmethod
    async def get_idempotency(self, key_hash: str, since: int) -> IdempotencyRecord | None: ...

    @abc.abstractmethod
    async def purge_idempotency(self, before: int) -> int: ...

    @abc.abstractmethod
    async def recount(self, poll_id: str) -> Tally | None:
        """Counts recomputed from the stored ballots (for checks and tests)."""


class IdempotencyConflict(Exception):
    """The idempotency key was stored by a concurrent request first."""
