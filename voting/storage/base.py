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
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterable, Sequence, TypeVar

from voting.domain import Poll, Question, Tally, ballot_counts, ballot_rankings, delta, now_ms, \
    status_at
from voting.errors import AlreadyVoted, CodeUsed, DomainError, InvalidCode, PollClosed, \
    PollNotFound, StorageUnavailable
from voting.runoff import Rankings
from voting.storage.batching import Batcher

T = TypeVar("T")
RANKINGS_CACHE_SIZE = 4096

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


def tally_query(mark: str, rankings: bool = True) -> str:
    """One statement, so status, seq, total, counts and the aggregated rankings come from one
    consistent reading. Rows are ('t', status, closes_at, option_id, n) and
    ('r', question_id, NULL, ranking, n); the rankings come only when the poll's seq is not
    the one given (the caller holds them for that seq already). Arguments: tally_args."""
    sql = ("SELECT 't', p.status, p.closes_at, t.option_id, SUM(t.n) FROM polls p "
           f"LEFT JOIN tally_slots t ON t.poll_id = p.id WHERE p.id = {mark} "
           "GROUP BY p.status, p.closes_at, t.option_id")
    if rankings:
        sql += (" UNION ALL SELECT 'r', r.question_id, NULL, r.ranking, SUM(r.n) FROM rankings r "
                f"WHERE r.poll_id = {mark} AND {mark} <> (SELECT COALESCE(SUM(s.n), 0) "
                f"FROM tally_slots s WHERE s.poll_id = {mark} AND s.option_id = {mark}) "
                "GROUP BY r.question_id, r.ranking HAVING SUM(r.n) <> 0")
    return sql


def tally_args(poll_id: str, known_seq: int, rankings: bool = True) -> tuple[Any, ...]:
    return (poll_id, poll_id, known_seq, poll_id, SEQ_KEY) if rankings else (poll_id,)


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
    poll: Poll  # its questions (which never change); status is read in the transaction
    voter_key: str
    choices: dict[str, list[str]]
    receipt: str
    slot: int
    code_hash: str | None
    idem: IdempotencyRecord | None
    now: int

    @property
    def poll_id(self) -> str:
        return self.poll.id


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
    """The 't' rows of tally_query without their tag (at least one: the poll exists)."""
    return tally_from_counters(poll_id, rows[0][0], rows[0][1],
                               {str(r[2]): int(r[3]) for r in rows if r[2] is not None})


def tally_from_counters(poll_id: str, status: str, closes_at: int | None,
                        counters: dict[str, int]) -> Tally:
    """A poll's Tally from its stored status and its counters summed over the slots (the
    options', SEQ_KEY's and TOTAL_KEY's; an option nobody chose may be missing)."""
    seq = counters.pop(SEQ_KEY, 0)
    total = counters.pop(TOTAL_KEY, 0)
    return Tally(poll_id, seq, status_at(status, closes_at, now_ms()), total, counters)


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


def recount_tally(poll: Poll, seq: int, stored_choices: list[str]) -> Tally:
    """The tally recomputed from the ballots' stored choices (JSON): the audit of the counters
    and of the aggregated rankings."""
    counts = {o: 0 for o in poll.option_ids()}
    rankings: dict[str, dict[tuple[str, ...], int]] = {}
    for raw in stored_choices:
        choices = json.loads(raw)
        for o, n in ballot_counts(poll, choices).items():
            counts[o] = counts.get(o, 0) + n
        for (qid, _), n in ballot_rankings(poll, choices).items():
            ranking = tuple(choices[qid])
            per = rankings.setdefault(qid, {})
            per[ranking] = per.get(ranking, 0) + n
    return Tally(poll.id, seq, poll.status, len(stored_choices), counts, Rankings(rankings))


def status_change(stored: str, closes_at: int | None, target: str, now: int,
                  if_due: bool = False) -> tuple[bool, int | None] | None:
    """Closing or reopening a poll stored as (stored, closes_at): whether its status changes
    (seq moves), and its closes_at after (a reopen clears one that has passed). None when
    nothing is to be written: a sweep (if_due) found the poll no longer due, because it was
    listed before an admin reopened it (or listed from a replica that had not seen it yet)."""
    if if_due and not (stored == "open" and status_at(stored, closes_at, now) == "closed"):
        return None
    changed = stored != target or status_at(stored, closes_at, now) != target
    if target == "open" and closes_at is not None and closes_at <= now:
        closes_at = None
    return changed, closes_at


class StatusTx(abc.ABC):
    """The per-dialect statements of closing or reopening a poll (write_status), inside one
    open write transaction."""

    @abc.abstractmethod
    async def lock_poll(self, poll_id: str) -> tuple[str, int | None] | None:
        """(status, closes_at) of the poll, locked for update; None when there is none."""

    @abc.abstractmethod
    async def close(self, poll_id: str, now: int) -> None:
        """Status closed; closed_at is the first close's time."""

    @abc.abstractmethod
    async def reopen(self, poll_id: str, closes_at: int | None) -> None:
        """Status open, closed_at cleared, closes_at set."""

    @abc.abstractmethod
    async def bump_seq(self, poll_id: str) -> None: ...

    @abc.abstractmethod
    async def seq(self, poll_id: str) -> int: ...


async def write_status(tx: StatusTx, poll_id: str, status: str, now: int,
                       if_due: bool = False) -> tuple[int, bool] | None:
    """Close or reopen a poll, once for every dialect: (its seq after, whether the status
    changed), or None when there is no such poll."""
    row = await tx.lock_poll(poll_id)
    if row is None:
        return None
    plan = status_change(row[0], row[1], status, now, if_due)
    if plan is None:  # the sweep's poll was reopened since it was listed: nothing to write
        return await tx.seq(poll_id), False
    changed, closes_at = plan
    if status == "closed":
        await tx.close(poll_id, now)
    else:
        await tx.reopen(poll_id, closes_at)
    if changed:
        await tx.bump_seq(poll_id)
    return await tx.seq(poll_id), changed


DUE_POLLS = ("SELECT id FROM polls WHERE status = 'open' AND closes_at IS NOT NULL "
             "AND closes_at <= {mark}")


class WriteConflict(Exception):
    """A concurrent write got there first (e.g. another backend inserted the same voter's
    ballot): the transaction is rolled back and redone."""


class BallotTx(abc.ABC):
    """The per-dialect statements of the ballot algorithm (write_ballots), inside one open
    write transaction. Each takes the rows of a whole batch."""

    @abc.abstractmethod
    async def read(self, poll_ids: list[str], code_pairs: list[tuple[str, str]],
                   keys: list[tuple[str, str]]
                   ) -> tuple[dict[str, tuple[str, int | None, bool]], set[tuple[str, str]],
                              dict[tuple[str, str], tuple[str, int]]]:
        """Every reading of a batch at once (one round trip): poll id -> (status, closes_at,
        allow_revote), share-locked against close/reopen; which (poll_id, code_hash) pairs the
        polls issued; (poll_id, voter_key) -> (stored choices JSON, created_at) of the voters'
        current ballots, locked for update."""

    @abc.abstractmethod
    async def insert_ballots(self, rows: list[tuple[str, str, str, str, int, int]]) -> None:
        """(poll_id, voter_key, choices, receipt, created_at, updated_at) rows; WriteConflict
        when one of these voters' ballots was inserted meanwhile."""

    @abc.abstractmethod
    async def update_ballot(self, poll_id: str, voter_key: str, choices: str, receipt: str,
                            now: int) -> None: ...

    @abc.abstractmethod
    async def insert_idempotency(self, records: list[tuple[IdempotencyRecord, int, int]]) -> None:
        """(record, status, created_at) rows; IdempotencyConflict when a key exists."""

    @abc.abstractmethod
    async def add_counters(self, slot: int, rows: list[tuple[str, str, int]]) -> None:
        """Add n to each (poll_id, option_id, n) counter of the slot, atomically in SQL, in
        the order given (sorted: row locks are always taken in the same order)."""

    @abc.abstractmethod
    async def add_rankings(self, slot: int, rows: list[tuple[str, str, str, int]]) -> None:
        """Add n to each (poll_id, question_id, ranking, n) aggregate of the slot, atomically
        in SQL, in the order given."""


async def write_ballots(tx: BallotTx, batch: list[CastRequest],
                        alone: bool = False) -> list[tuple[BallotRecord, bool] | DomainError]:
    """The ballot algorithm, once for every dialect: checks (poll exists and is open, the code
    was issued, one ballot per voter unless revotes are allowed), then the ballots, their
    idempotency records and every counter of the batch in a few statements. Refusals are
    decided before anything is written; `alone` raises them (the caller rolls back)."""
    out: list[tuple[BallotRecord, bool] | DomainError | None] = [None] * len(batch)
    # Every reading at once (the refusals below need them all); the rows of ballots that
    # turn out refused are merely read (and locked) for nothing.
    polls, known, old = await tx.read(
        sorted({c.poll_id for c in batch}),
        sorted({(c.poll_id, c.code_hash) for c in batch if c.code_hash is not None}),
        sorted({(c.poll_id, c.voter_key) for c in batch}))
    for i, c in enumerate(batch):
        row = polls.get(c.poll_id)
        if row is None:
            out[i] = PollNotFound()
        elif status_at(row[0], row[1], c.now) == "closed":
            out[i] = PollClosed()
        elif c.code_hash is not None and (c.poll_id, c.code_hash) not in known:
            out[i] = InvalidCode()
        elif (c.poll_id, c.voter_key) in old and not row[2]:
            out[i] = CodeUsed() if c.code_hash is not None else AlreadyVoted()
    if alone and isinstance(out[0], DomainError):
        raise out[0]
    todo = [(i, c) for i, c in enumerate(batch) if out[i] is None]
    new = [c for _, c in todo if (c.poll_id, c.voter_key) not in old]
    if new:
        await tx.insert_ballots([(c.poll_id, c.voter_key, _payload(c), c.receipt, c.now, c.now)
                                 for c in new])
    idems: list[tuple[IdempotencyRecord, int, int]] = []
    counters: dict[str, dict[str, int]] = {}
    rankings: dict[str, dict[tuple[str, str], int]] = {}
    for i, c in todo:
        before = old.get((c.poll_id, c.voter_key))
        if before is not None:
            await tx.update_ballot(c.poll_id, c.voter_key, _payload(c), c.receipt, c.now)
        if c.idem is not None:
            idems.append((c.idem, 200 if before else 201, c.now))
        was = json.loads(before[0]) if before else None
        acc = counters.setdefault(c.poll_id, {})
        change = delta(ballot_counts(c.poll, c.choices),
                       ballot_counts(c.poll, was) if was is not None else None)
        change[SEQ_KEY] = 1
        if before is None:
            change[TOTAL_KEY] = 1
        for k, n in change.items():
            acc[k] = acc.get(k, 0) + n
        racc = rankings.setdefault(c.poll_id, {})
        for rk, n in delta(ballot_rankings(c.poll, c.choices),
                           ballot_rankings(c.poll, was) if was is not None else None).items():
            racc[rk] = racc.get(rk, 0) + n
        out[i] = (BallotRecord(c.poll_id, c.choices, c.receipt,
                               before[1] if before else c.now, c.now), before is not None)
    if idems:
        await tx.insert_idempotency(idems)
    slot = batch[0].slot
    # Every poll of the batch in one statement each, sorted: row locks in a fixed order
    # never deadlock, and a batch over many polls costs no statement per poll.
    counted = sorted((p, k, n) for p, acc in counters.items() for k, n in acc.items()
                     if n or k == SEQ_KEY)
    if counted:
        await tx.add_counters(slot, counted)
    ranked = sorted((p, q, r, n) for p, racc in rankings.items() for (q, r), n in racc.items()
                    if n)
    if ranked:
        await tx.add_rankings(slot, ranked)
    return [o for o in out if o is not None]


def _payload(c: CastRequest) -> str:
    return json.dumps(c.choices, ensure_ascii=False)


class Storage(abc.ABC):
    """Everything the service needs from a database. All methods may raise StorageUnavailable."""

    def __init__(self) -> None:
        # poll id -> (seq, the aggregated rankings at that seq): a tally read at the same seq
        # reuses them (and their runoff) instead of reading the rankings again.
        self._rankings_cache: OrderedDict[str, tuple[int, Rankings]] = OrderedDict()

    def _known_rankings(self, poll_id: str) -> tuple[int, Rankings] | None:
        return self._rankings_cache.get(poll_id)

    def _tally_from(self, poll_id: str, rows: Sequence[Sequence[Any]],
                    known: tuple[int, Rankings] | None, rankings: bool = True) -> Tally | None:
        """The Tally of tally_query's rows, read with tally_args(poll_id, known seq)."""
        counted = [r[1:] for r in rows if r[0] == "t"]
        if not counted:
            return None
        return self._with_rankings(tally_from_rows(poll_id, counted),
                                   (r for r in rows if r[0] == "r"), known, rankings)

    def _with_rankings(self, tally: Tally, rows: Iterable[Sequence[Any]],
                       known: tuple[int, Rankings] | None, rankings: bool = True) -> Tally:
        """`tally` with its aggregated rankings: tally_query's 'r' rows, ('r', question_id,
        NULL, ranking, n), or the ones held for its seq already."""
        if not rankings:
            return tally  # no rankings table: ranked questions show no rounds
        if known is not None and known[0] == tally.seq:
            tally.rankings = known[1]  # the statement left the rankings out: same seq
        else:
            tally.rankings = Rankings.from_rows((str(r[1]), str(r[3]), int(r[4])) for r in rows)
            self._rankings_cache[tally.poll_id] = (tally.seq, tally.rankings)
            self._rankings_cache.move_to_end(tally.poll_id)
            if len(self._rankings_cache) > RANKINGS_CACHE_SIZE:
                self._rankings_cache.popitem(last=False)
        return tally

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

    async def cast_ballot(self, poll: Poll, voter_key: str, choices: dict[str, list[str]],
                          receipt: str, slot: int, code_hash: str | None,
                          idem: IdempotencyRecord | None, now: int) -> CastResult:
        """Insert or (when the poll allows revotes) replace the voter's ballot and add to counters.

        `poll` gives the questions (their kinds say what is counted); `choices` are validated
        (domain.validate_choices). Raises PollNotFound, PollClosed, AlreadyVoted, CodeUsed,
        InvalidCode, IdempotencyConflict."""
        return await self._ballots.submit(
            CastRequest(poll, voter_key, choices, receipt, slot, code_hash, idem, now))

    # storage.batch_gap when unset: how long a commit takes here decides what waiting pays.
    DEFAULT_BATCH_GAP = 0.0

    def _ballot_batcher(self, max_batch: int, writers: int,
                        gap: float | None) -> Batcher[CastRequest, CastResult]:
        return Batcher(self._cast_batch, key=lambda c: (c.poll_id, c.voter_key),
                       max_batch=max_batch, writers=writers,
                       gap=self.DEFAULT_BATCH_GAP if gap is None else gap)

    @abc.abstractmethod
    async def _ballot_transaction(self, fn: Callable[[BallotTx], Awaitable[T]]
                                  ) -> tuple[T, str | None]:
        """fn in one write transaction (the dialect may redo it on a deadlock); returns its
        result and the read position of the commit."""

    async def _cast_batch(self, batch: list[CastRequest]) -> list[CastResult | BaseException]:
        """A batch (at most one ballot per voter and poll) in one transaction; when something
        in it needs its own answer mid-write (a reused idempotency key, a ballot raced in from
        another backend), each ballot alone. One outcome per ballot."""
        if len(batch) > 1:
            try:
                outcomes, pos = await self._ballot_transaction(
                    lambda tx: write_ballots(tx, batch))
            except (WriteConflict, IdempotencyConflict):
                pass
            else:
                return [o if isinstance(o, BaseException) else CastResult(o[0], o[1], pos)
                        for o in outcomes]
        return [await self._cast_alone(c) for c in batch]

    async def _cast_alone(self, c: CastRequest) -> CastResult | BaseException:
        for _ in range(5):
            try:
                outcomes, pos = await self._ballot_transaction(
                    lambda tx: write_ballots(tx, [c], alone=True))
            except WriteConflict:
                continue  # the other ballot is committed now: the next try sees it
            except (DomainError, IdempotencyConflict) as exc:
                return exc
            outcome = outcomes[0]
            if isinstance(outcome, BaseException):
                return outcome
            return CastResult(outcome[0], outcome[1], pos)
        return StorageUnavailable("The ballot kept conflicting with others; please retry.")

    @abc.abstractmethod
    async def get_ballot(self, poll_id: str, voter_key: str,
                         pos: str | None = None) -> BallotRecord | None: ...

    @abc.abstractmethod
    async def code_exists(self, poll_id: str, code_hash: str, pos: str | None = None) -> bool:
        """Whether the poll issued the access code of this hash."""

    @abc.abstractmethod
    async def set_status(self, poll_id: str, status: str, now: int,
                         if_due: bool = False) -> StatusChange | None:
        """Close or reopen; None when the poll is missing. Reopen clears a passed closes_at.
        if_due (the sweep's close): only a poll still open with its closes_at passed."""

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
