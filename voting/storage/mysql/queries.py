"""The SQL of the MySQL dialect that more than one operation uses: a poll by id, idempotency
records, counters, and the statements of the ballot and status algorithms (write_ballots and
write_status in voting.storage.base)."""
from __future__ import annotations

from typing import Any, Awaitable, Callable

from voting.domain import Poll
from voting.storage.base import POLL_COLUMNS, SEQ_KEY, BallotTx, IdempotencyConflict, \
    IdempotencyRecord, StatusTx, WriteConflict, poll_from_row
from voting.storage.mysql import driver as db


def poll_fn(poll_id: str) -> Callable[[db.Connection], Awaitable[Poll | None]]:
    async def fn(conn: db.Connection) -> Poll | None:
        async with conn.cursor(db.DictCursor) as cur:
            await cur.execute(f"SELECT {POLL_COLUMNS} FROM polls WHERE id = %s", (poll_id,))
            row = await cur.fetchone()
        return poll_from_row(row) if row else None
    return fn


def polls_fn(poll_ids: list[str]) -> Callable[[db.Connection], Awaitable[dict[str, Poll]]]:
    """The polls of these ids that exist, by id, in one statement."""
    unique = sorted(set(poll_ids))

    async def fn(conn: db.Connection) -> dict[str, Poll]:
        async with conn.cursor(db.DictCursor) as cur:
            await cur.execute(f"SELECT {POLL_COLUMNS} FROM polls WHERE id IN (" +
                              ",".join(["%s"] * len(unique)) + ")", unique)
            rows = await cur.fetchall()
        return {row["id"]: poll_from_row(row) for row in rows}
    return fn


# A poll's counters come back as one string (GROUP_CONCAT), so a read of a hundred polls is
# a hundred rows for the pure-Python driver to decode, not six hundred: a quarter of its
# CPU. The session's group_concat_max_len (pools.py) holds the largest poll's counters;
# should a server cut the string all the same, the count beside it and the space that ends
# every counter tell.
COUNTERS_SEPARATOR = " "  # option ids are "o<N>", "#seq", "#total": never a space
GROUP_CONCAT_MAX_LEN = 1 << 20


def tallies_query(count: int, rankings: bool = True) -> str:
    """The tallies of `count` polls in one statement (one reading, one result set): per poll
    a row ('t', id, status, closes_at, number of counters, "option n option n "), and
    rows ('r', id, question_id, NULL, ranking, n) of its rankings. Arguments: the ids,
    three times with rankings, else twice."""
    marks = ",".join(["%s"] * count)
    sql = ("SELECT 't', p.id, p.status, p.closes_at, COUNT(t.option_id), "
           f"GROUP_CONCAT(t.option_id, '{COUNTERS_SEPARATOR}', t.n, '{COUNTERS_SEPARATOR}' "
           "SEPARATOR '') "
           "FROM polls p LEFT JOIN (SELECT poll_id, option_id, SUM(n) AS n FROM tally_slots "
           f"WHERE poll_id IN ({marks}) GROUP BY poll_id, option_id) t ON t.poll_id = p.id "
           f"WHERE p.id IN ({marks}) GROUP BY p.id, p.status, p.closes_at")
    if rankings:
        sql += (" UNION ALL SELECT 'r', r.poll_id, r.question_id, NULL, r.ranking, SUM(r.n) "
                f"FROM rankings r WHERE r.poll_id IN ({marks}) "
                "GROUP BY r.poll_id, r.question_id, r.ranking HAVING SUM(r.n) <> 0")
    return sql


def tallies_args(poll_ids: list[str], rankings: bool = True) -> list[str]:
    return poll_ids * (3 if rankings else 2)


class TruncatedCounters(Exception):
    """A poll's counters string is shorter than its count says (group_concat_max_len)."""


def counters_from_row(count: Any, text: str | bytes | None) -> dict[str, int]:
    """The counters of tallies_query's 't' row: its count and "option n option n "."""
    if not text:
        if int(count):
            raise TruncatedCounters()
        return {}
    if isinstance(text, bytes):
        text = text.decode("ascii")
    parts = text.split(COUNTERS_SEPARATOR)
    # A string cut short misses its last space (maybe in the middle of a number) or counters.
    if parts[-1] or len(parts) != 2 * int(count) + 1:
        raise TruncatedCounters()
    return {parts[i]: int(parts[i + 1]) for i in range(0, len(parts) - 1, 2)}


def idempotency_insert(records: list[tuple[IdempotencyRecord, int, int]]
                       ) -> tuple[str, list[Any]]:
    return ("INSERT INTO idempotency (key_hash, request_hash, status, body, created_at) VALUES " +
            ",".join(["(%s,%s,%s,%s,%s)"] * len(records)),
            [v for rec, status, at in records
             for v in (rec.key_hash, rec.request_hash, status, rec.body, at)])


def counters_insert(slot: int, rows: list[tuple[str, str, int]]) -> tuple[str, list[Any]]:
    """Add to (poll_id, option_id, n) counters of the slot, rows locked in the given order."""
    return ("INSERT INTO tally_slots (poll_id, option_id, slot, n) VALUES " +
            ",".join(["(%s,%s,%s,%s)"] * len(rows)) +
            " ON DUPLICATE KEY UPDATE n = n + VALUES(n)",
            [v for poll_id, option_id, n in rows for v in (poll_id, option_id, slot, n)])


async def insert_idempotency(cur: db.Cursor,
                             records: list[tuple[IdempotencyRecord, int, int]]) -> None:
    """Store (record, status, created_at) rows; a key stored already raises IdempotencyConflict."""
    try:
        await cur.execute(*idempotency_insert(records))
    except db.IntegrityError:
        raise IdempotencyConflict() from None


async def add_counters(cur: db.Cursor, slot: int, rows: list[tuple[str, str, int]]) -> None:
    await cur.execute(*counters_insert(slot, rows))


class MySQLBallots(BallotTx):
    """The ballot algorithm's statements in MySQL, in two round trips: BEGIN and every
    reading in one multi-statement query, then every write with COMMIT and the read
    position in another (a round trip costs the backend about as much CPU as the ballot's
    own HTTP request). Multi-row, with the locks that keep backends apart: a shared lock on
    the poll row, so close/reopen waits for ballots in flight; the voters' existing ballots
    locked for update. Every value goes through the driver's escaping (mogrify)."""

    def __init__(self, cur: db.Cursor) -> None:
        self.cur = cur
        self.begun = False
        self.wrote = False  # the writes have been sent (a failure after may have committed)
        # (statement, what its IntegrityError means) until commit() sends them
        self.writes: list[tuple[str, type[Exception] | None]] = []

    async def read(self, poll_ids: list[str], code_pairs: list[tuple[str, str]],
                   keys: list[tuple[str, str]]
                   ) -> tuple[dict[str, tuple[str, int | None, bool]], set[tuple[str, str]],
                              dict[tuple[str, str], tuple[str, int]]]:
        m = self.cur.mogrify
        script: list[tuple[str, str]] = [] if self.begun else [("", "BEGIN")]
        if poll_ids:
            script.append(("polls", m(
                "SELECT id, status, closes_at, allow_revote FROM polls WHERE id IN (" +
                ",".join(["%s"] * len(poll_ids)) + ") LOCK IN SHARE MODE", poll_ids)))
        if code_pairs:
            script.append(("codes", m(
                "SELECT poll_id, code_hash FROM poll_codes WHERE " +
                " OR ".join(["(poll_id = %s AND code_hash = %s)"] * len(code_pairs)),
                [v for p in code_pairs for v in p])))
        if keys:
            script.append(("ballots", m(
                "SELECT poll_id, voter_key, choices, created_at FROM ballots WHERE " +
                " OR ".join(["(poll_id = %s AND voter_key = %s)"] * len(keys)) + " FOR UPDATE",
                [v for k in keys for v in k])))
        results = dict(zip([tag for tag, _ in script],
                           await run_script(self.cur, [(sql, None) for _, sql in script])))
        self.begun = True
        return ({r[0]: (r[1], r[2], bool(r[3])) for r in results.get("polls", [])},
                {(r[0], r[1]) for r in results.get("codes", [])},
                {(r[0], r[1]): (r[2], int(r[3])) for r in results.get("ballots", [])})

    async def insert_ballots(self, rows: list[tuple[str, str, str, str, int, int]]) -> None:
        # A duplicate: inserted by another backend since we looked.
        self.writes.append((self.cur.mogrify(
            "INSERT INTO ballots (poll_id, voter_key, choices, receipt, created_at, "
            "updated_at) VALUES " + ",".join(["(%s,%s,%s,%s,%s,%s)"] * len(rows)),
            [v for row in rows for v in row]), WriteConflict))

    async def update_ballot(self, poll_id: str, voter_key: str, choices: str, receipt: str,
                            now: int) -> None:
        self.writes.append((self.cur.mogrify(
            "UPDATE ballots SET choices = %s, receipt = %s, updated_at = %s "
            "WHERE poll_id = %s AND voter_key = %s",
            (choices, receipt, now, poll_id, voter_key)), None))

    async def insert_idempotency(self, records: list[tuple[IdempotencyRecord, int, int]]) -> None:
        self.writes.append((self.cur.mogrify(*idempotency_insert(records)), IdempotencyConflict))

    async def add_counters(self, slot: int, rows: list[tuple[str, str, int]]) -> None:
        self.writes.append((self.cur.mogrify(*counters_insert(slot, rows)), None))

    async def add_rankings(self, slot: int, rows: list[tuple[str, str, str, int]]) -> None:
        self.writes.append((self.cur.mogrify(
            "INSERT INTO rankings (poll_id, question_id, ranking, slot, n) VALUES " +
            ",".join(["(%s,%s,%s,%s,%s)"] * len(rows)) +
            " ON DUPLICATE KEY UPDATE n = n + VALUES(n)",
            [v for poll_id, qid, ranking, n in rows
             for v in (poll_id, qid, ranking, slot, n)]), None))

    async def commit(self, position_sql: str) -> str | None:
        """The queued writes, COMMIT and the commit's GTID position, in one round trip."""
        self.wrote = True
        script = ([] if self.begun else [("BEGIN", None)]) + self.writes + \
            [("COMMIT", None), (position_sql, None)]
        self.writes = []
        rows = (await run_script(self.cur, script))[-1]
        return str(rows[0][0]) if rows and rows[0][0] else None


async def run_script(cur: db.Cursor, script: list[tuple[str, type[Exception] | None]]
                     ) -> list[list[Any]]:
    """Statements sent as one multi-statement query; each one's rows. The server stops at the
    first error, which is raised (an IntegrityError as the statement's own exception)."""
    out: list[list[Any]] = []
    i = 0
    try:
        await cur.execute(";".join(sql for sql, _ in script))
        out.append(list(await cur.fetchall()))
        for i in range(1, len(script)):
            if not await cur.nextset():
                raise db.InterfaceError("a multi-statement query ended early")
            out.append(list(await cur.fetchall()))
    except db.IntegrityError:
        meaning = script[i][1]
        if meaning is None:
            raise
        raise meaning() from None
    return out


def statements(sql: str) -> list[str]:
    lines = [ln for ln in sql.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


class MySQLStatus(StatusTx):
    """Closing and reopening a poll in MySQL (write_status), one statement at a time: an
    admin's rare write."""

    def __init__(self, cur: db.Cursor) -> None:
        self.cur = cur

    async def lock_poll(self, poll_id: str) -> tuple[str, int | None] | None:
        await self.cur.execute("SELECT status, closes_at FROM polls WHERE id = %s FOR UPDATE",
                               (poll_id,))
        row = await self.cur.fetchone()
        return (row[0], row[1]) if row else None

    async def close(self, poll_id: str, now: int) -> None:
        await self.cur.execute("UPDATE polls SET status = 'closed', "
                               "closed_at = COALESCE(closed_at, %s) WHERE id = %s",
                               (now, poll_id))

    async def reopen(self, poll_id: str, closes_at: int | None) -> None:
        await self.cur.execute("UPDATE polls SET status = 'open', closed_at = NULL, "
                               "closes_at = %s WHERE id = %s", (closes_at, poll_id))

    async def bump_seq(self, poll_id: str) -> None:
        await add_counters(self.cur, 0, [(poll_id, SEQ_KEY, 1)])

    async def seq(self, poll_id: str) -> int:
        await self.cur.execute("SELECT COALESCE(SUM(n), 0) FROM tally_slots "
                               "WHERE poll_id = %s AND option_id = %s", (poll_id, SEQ_KEY))
        return int((await self.cur.fetchone())[0])
