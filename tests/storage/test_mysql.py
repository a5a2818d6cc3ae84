"""MySQLStorage against a real MariaDB primary + 2 GTID replicas started by the harness
(the same code as `voting cluster up`): the storage contract plus routing specifics."""
from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator

import pymysql
import pytest

from tests.conftest import require_binary
from tests.storage import contract
from voting import config as config_mod
from voting import domain
from voting.cluster import ReplicationSet
from voting.domain import Tally
from voting.errors import StorageUnavailable
from voting.storage.mysql import MySQLStorage, decode_pos

pytestmark = pytest.mark.integration

TABLES = ("polls", "ballots", "poll_codes", "tally_slots", "rankings")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def rs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplicationSet]:
    for binary in ("mariadbd", "mariadb-install-db", "mariadb"):
        require_binary(binary, f"/usr/sbin/{binary}", f"/usr/bin/{binary}")
    r = ReplicationSet(tmp_path_factory.mktemp("mysql"), schema=True)
    try:
        r.up()
        yield r
    finally:
        r.down(purge=True)


def storage_config(rs: ReplicationSet, **storage: Any) -> config_mod.Config:
    keys: dict[str, Any] = {
        "backend": "mysql", "host": "127.0.0.1", "port": rs.primary_port,
        "user": rs.app_user, "password": rs.app_password, "database": rs.database,
        "replicas": [f"127.0.0.1:{p}" for p in rs.replica_ports],
        "connect_timeout": 1.0, "query_timeout": 5.0}
    keys.update(storage)
    return config_mod.load(None, environ={}, overrides={
        "server": {"name": "storage-test", "mode": "cluster", "secret": "s" * 32},
        "storage": keys})


@pytest.mark.parametrize("configured, expected", [(None, 0.008), (0.0, 0.0), (0.002, 0.002)])
def test_the_ballot_batches_gap_is_the_storages_own_unless_configured(
        configured: float | None, expected: float) -> None:
    # Built only (no connection): the batcher is made with the storage.
    keys: dict[str, Any] = {"backend": "mysql", "port": 1}
    if configured is not None:
        keys["batch_gap"] = configured
    config = config_mod.load(None, environ={}, overrides={
        "server": {"name": "gap-test", "mode": "cluster", "secret": "s" * 32},
        "storage": keys})
    assert MySQLStorage(config.storage, config.server.name)._ballots.gap == expected


@asynccontextmanager
async def opened(config: config_mod.Config) -> AsyncIterator[MySQLStorage]:
    s = MySQLStorage(config.storage, config.server.name)
    await s.open()
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def storage(rs: ReplicationSet) -> AsyncIterator[MySQLStorage]:
    """Primary only: the contract checks read right after they write, without positions."""
    async with opened(storage_config(rs, replicas=[])) as s:
        yield s


@pytest.fixture
async def routed(rs: ReplicationSet) -> AsyncIterator[MySQLStorage]:
    """Primary and both replicas, as the backends use it."""
    async with opened(storage_config(rs)) as s:
        yield s


@pytest.fixture
def count_rows(rs: ReplicationSet) -> Callable[[str], Awaitable[dict[str, int]]]:
    async def count(poll_id: str) -> dict[str, int]:
        out = {}
        for table in TABLES:
            column = "id" if table == "polls" else "poll_id"
            rows = await asyncio.to_thread(
                rs.primary.query, f"SELECT COUNT(*) FROM {rs.database}.{table} "
                                  f"WHERE {column} = %s", [poll_id])
            out[table] = int(rows[0][0])
        return out
    return count


@pytest.mark.parametrize("check", contract.CHECKS, ids=[c.__name__ for c in contract.CHECKS])
async def test_contract(storage: MySQLStorage, count_rows: contract.CountRows,
                        check: Callable[..., Awaitable[None]]) -> None:
    await check(storage, count_rows)


async def test_unique_key_allows_one_ballot_per_voter(storage: MySQLStorage,
                                                      rs: ReplicationSet) -> None:
    poll, _ = await contract.make_poll(storage)
    await contract.cast(storage, poll, "v:dup", {"q1": ["o1"]})
    with pytest.raises(pymysql.err.IntegrityError):
        await asyncio.to_thread(
            rs.primary.query,
            f"INSERT INTO {rs.database}.ballots (poll_id, voter_key, choices, receipt, "
            "created_at, updated_at) VALUES (%s, 'v:dup', '{}', 'r', 0, 0)", [poll.id])


async def test_app_user_cannot_write_on_a_replica(rs: ReplicationSet) -> None:
    def try_write() -> None:
        conn = pymysql.connect(host="127.0.0.1", port=rs.replica_ports[0], user=rs.app_user,
                               password=rs.app_password, database=rs.database)
        try:
            with conn.cursor() as cur:
                cur.execute("INSERT INTO heartbeat (name, ts) VALUES ('intruder', 1)")
        finally:
            conn.close()
    with pytest.raises(pymysql.err.MySQLError) as info:
        await asyncio.to_thread(try_write)
    assert info.value.args[0] in (1290, 1142)  # read-only, or no privilege


async def test_writes_return_a_position_and_reads_with_it_see_the_write(
        routed: MySQLStorage, rs: ReplicationSet) -> None:
    storage = routed
    poll, _ = await contract.make_poll(storage)
    result = await contract.cast(storage, poll, "v:ryw", {"q1": ["o3"]})
    assert result.pos is not None and decode_pos(result.pos)
    # Stop applying on both replicas: only the position makes a read fresh.
    await asyncio.to_thread(_replicas_sql_thread, rs, "STOP")
    try:
        result = await contract.cast(storage, poll, "v:ryw2", {"q1": ["o2"]})
        ballot = await storage.get_ballot(poll.id, "v:ryw2", result.pos)
        assert ballot is not None and ballot.choices["q1"] == ["o2"]
        tally = await storage.get_tally(poll.id, result.pos)
        assert tally is not None and tally.total == 2
        # Without a position a missing poll is still looked up on the primary before None.
        fresh_poll, _ = await contract.make_poll(storage)
        assert await storage.get_poll(fresh_poll.id) is not None
    finally:
        await asyncio.to_thread(_replicas_sql_thread, rs, "START")


def _replicas_sql_thread(rs: ReplicationSet, verb: str) -> None:
    for node in rs.replicas:
        node.execute(f"{verb} SLAVE SQL_THREAD")


async def test_reads_go_to_replicas(routed: MySQLStorage, rs: ReplicationSet) -> None:
    storage = routed
    poll, _ = await contract.make_poll(storage)
    await asyncio.to_thread(rs.wait_replicated)

    def selects() -> list[int]:
        return [int(n.query("SHOW GLOBAL STATUS LIKE 'Com_select'")[0][1]) for n in rs.replicas]
    before = await asyncio.to_thread(selects)
    for _ in range(20):
        assert await storage.get_tally(poll.id) is not None
    after = await asyncio.to_thread(selects)
    assert all(a - b >= 5 for a, b in zip(after, before)), (before, after)


async def test_primary_down_is_unavailable_fast_and_recovers(rs: ReplicationSet) -> None:
    async with opened(storage_config(rs)) as s:
        poll, _ = await contract.make_poll(s)
        await asyncio.to_thread(rs.wait_replicated)
        await asyncio.to_thread(rs.stop, "primary")
        try:
            with pytest.raises(StorageUnavailable):
                await asyncio.wait_for(contract.cast(s, poll, "v:down", {"q1": ["o1"]}), 10)
            # Reads keep coming from the replicas.
            assert await s.get_poll(poll.id) is not None
            assert await s.get_tally(poll.id) is not None
        finally:
            await asyncio.to_thread(rs.up)
        result = await contract.cast(s, poll, "v:back", {"q1": ["o1"]})
        assert result.ballot.choices == {"q1": ["o1"], "q2": []}


async def test_a_batch_over_many_polls_counts_each_poll_exactly(rs: ReplicationSet) -> None:
    """Ballots on many polls at once (a campus) share transactions, their counters and
    rankings written in one statement each; two storages (two backends) race on the same
    polls, so the same slot rows are locked from both sides. Every poll equals its recount."""
    async with opened(storage_config(rs, replicas=[])) as one, \
            opened(storage_config(rs, replicas=[])) as two:
        polls = [(await contract.make_poll(one, **contract.KINDS_POLL))[0] for _ in range(6)]
        polls += [(await contract.make_poll(one))[0] for _ in range(6)]
        jobs = []
        for i in range(240):
            poll = polls[i % len(polls)]
            storage = one if i % 2 else two
            if poll.questions[0].kind == "ranked":
                a, b, c, d = poll.questions[0].option_ids()
                order = [[a, b], [c, d, a], [b], [d, c]][i % 4]
                choices = {"q1": order, "q2": [poll.questions[1].option_ids()[i % 5]]}
            else:
                choices = {"q1": [f"o{1 + i % 3}"]}
            jobs.append(contract.cast(storage, poll, f"v:{i}", choices))
        results = await asyncio.gather(*jobs, return_exceptions=True)
        assert not [r for r in results if isinstance(r, BaseException)]
        assert max(one._ballots.largest, two._ballots.largest) > 1  # batches did form
        for poll in polls:
            _, total, _ = await contract.tally_counts(one, poll)
            assert total == 20
            await contract.assert_matches_recount(one, poll)


async def test_two_backends_racing_the_same_voters_write_one_ballot_each(
        rs: ReplicationSet, storage: MySQLStorage) -> None:
    """Batches of two backends insert the same voters at once: the loser's batch hits the
    duplicate inside its multi-statement write (WriteConflict), is rolled back whole, and its
    ballots are redone one by one (AlreadyVoted); nothing is counted twice."""
    from voting.errors import AlreadyVoted
    async with opened(storage_config(rs, replicas=[])) as other:
        poll, _ = await contract.make_poll(storage)
        voters = [f"v:race{i}" for i in range(40)]
        jobs = [contract.cast(s, poll, v, {"q1": ["o2"]}) for v in voters for s in (storage, other)]
        results = await asyncio.gather(*jobs, return_exceptions=True)
        won = [r for r in results if not isinstance(r, BaseException)]
        lost = [r for r in results if isinstance(r, BaseException)]
        assert len(won) == 40 and all(isinstance(r, AlreadyVoted) for r in lost), lost[:3]
        seq, total, counts = await contract.tally_counts(storage, poll)
        assert (seq, total, counts["o2"]) == (40, 40, 40)
        await contract.assert_matches_recount(storage, poll)


async def test_a_batch_keeps_quotes_and_semicolons_and_answers_a_reused_key_alone(
        storage: MySQLStorage) -> None:
    """Values reach the multi-statement batch only through the driver's escaping; an
    idempotency key stored meanwhile fails the batch's write, and each ballot is redone."""
    from voting.storage.base import IdempotencyConflict, IdempotencyRecord
    poll, _ = await contract.make_poll(storage)
    nasty = "v:'; DROP TABLE ballots; -- \\\" `x`"
    taken = IdempotencyRecord("k" * 64, "r" * 64, 201, '{"ballot": "first"}')
    await contract.cast(storage, poll, "v:first", {"q1": ["o1"]}, idem=taken)
    body = '{"x": "\'); DELETE FROM polls; --"}'
    jobs = [contract.cast(storage, poll, nasty, {"q1": ["o3"]},
                          idem=IdempotencyRecord("n" * 64, "r" * 64, 201, body))]
    jobs += [contract.cast(storage, poll, f"v:b{i}", {"q1": ["o2"]}) for i in range(20)]
    jobs += [contract.cast(storage, poll, "v:again", {"q1": ["o2"]},
                           idem=IdempotencyRecord("k" * 64, "r" * 64, 201, "{}"))]
    results = await asyncio.gather(*jobs, return_exceptions=True)
    assert isinstance(results[-1], IdempotencyConflict)
    assert all(not isinstance(r, BaseException) for r in results[:-1]), results
    ballot = await storage.get_ballot(poll.id, nasty)
    assert ballot is not None and ballot.choices["q1"] == ["o3"]
    stored = await storage.get_idempotency("n" * 64, 0)
    assert stored is not None and stored.body == body
    seq, total, _ = await contract.tally_counts(storage, poll)
    assert (seq, total) == (22, 22)
    await contract.assert_matches_recount(storage, poll)


async def test_fresh_tallies_of_many_polls_read_together_are_each_right(
        storage: MySQLStorage) -> None:
    polls = [(await contract.make_poll(storage))[0] for _ in range(12)]
    for i, poll in enumerate(polls):
        for v in range(i):
            await contract.cast(storage, poll, f"v:{v}", {"q1": ["o1"]})
    tallies = await asyncio.gather(*(storage.get_tally(p.id, fresh=True) for p in polls),
                                   storage.get_tally("nosuchpoll", fresh=True))
    assert storage._fresh_tallies.largest > 1  # they did share round trips
    assert [t.total if t else None for t in tallies] == list(range(12)) + [None]
    assert all(t is not None and t.poll_id == p.id and t.counts.get("o1", 0) == i
               for i, (t, p) in enumerate(zip(tallies, polls)))
    # Ranked polls in one statement with others: each keeps its own rankings, equal to a
    # recount, and a read at the same seq keeps the rankings (and runoff) it had.
    ranked = [(await contract.make_poll(storage, **contract.KINDS_POLL))[0] for _ in range(3)]
    for i, poll in enumerate(ranked):
        a, b, c, _ = poll.questions[0].option_ids()
        point = poll.questions[1].option_ids()[2]
        for v, order in enumerate([[a, b], [c], [b, a, c]][:i + 1]):
            await contract.cast(storage, poll, f"v:{v}", {"q1": order, "q2": [point]})
    first = await asyncio.gather(*(storage.get_tally(p.id, fresh=True) for p in ranked + polls))
    again = await asyncio.gather(*(storage.get_tally(p.id, fresh=True) for p in ranked))
    for poll, t, t2 in zip(ranked, first, again):
        assert t is not None and t2 is not None and t2.rankings is t.rankings
        await contract.assert_matches_recount(storage, poll)
    assert [t.total if t else None for t in first] == [1, 2, 3] + list(range(12))
    # A database made before ranked questions (no rankings table): counts without rounds.
    storage.has_rankings = False
    plain = await asyncio.gather(*(storage.get_tally(p.id, fresh=True) for p in ranked + polls))
    assert [t.total if t else None for t in plain] == [1, 2, 3] + list(range(12))
    assert plain[2] is not None and plain[2].counts == first[2].counts


async def test_polls_asked_for_together_are_read_together_and_each_right(
        routed: MySQLStorage, rs: ReplicationSet) -> None:
    """A burst of ballots on polls this process has not seen: their definitions share reads
    (duplicates and positions included), and a poll a replica lacks is found on the primary."""
    polls = [(await contract.make_poll(routed))[0] for _ in range(8)]
    await asyncio.to_thread(rs.wait_replicated)
    await asyncio.to_thread(_replicas_sql_thread, rs, "STOP")
    try:
        fresh, _ = await contract.make_poll(routed)  # on the primary only
        pos = (await contract.cast(routed, polls[1], "v:pos", {"q1": ["o1"]})).pos
        asks = [p.id for p in polls] + [polls[0].id, fresh.id, "nosuchpoll"]
        got = await asyncio.gather(*(routed.get_poll(i) for i in asks),
                                   routed.get_poll(fresh.id, pos))
    finally:
        await asyncio.to_thread(_replicas_sql_thread, rs, "START")
    assert routed._poll_reads.largest > 1  # they did share round trips
    assert [g.id if g else None for g in got] == asks[:-1] + [None, fresh.id]
    assert got[0] is not got[8]  # each caller its own copy
    assert [q.id for q in got[3].questions] == [q.id for q in polls[3].questions]


def counted(tallies: list[Tally | None]) -> list[tuple[Any, ...]]:
    return [(t.poll_id, t.seq, t.status, t.total, t.counts) if t else () for t in tallies]


LARGEST_POLL: dict[str, Any] = {"title": "largest", "questions": [
    {"text": f"q{i}", "kind": "multiple", "min_choices": 0, "max_choices": domain.OPTIONS_MAX,
     "options": [{"label": f"o{j}"} for j in range(domain.OPTIONS_MAX)]}
    for i in range(domain.QUESTIONS_MAX)]}


async def test_a_fresh_read_of_the_largest_poll_equals_its_one_poll_read(
        rs: ReplicationSet, caplog: pytest.LogCaptureFixture) -> None:
    """The live feeds read a poll's counters as one string: the largest poll allowed must
    come back whole, and a server that cuts the string short must not cost a count."""
    async with opened(storage_config(rs, replicas=[])) as storage:
        big, _ = await contract.make_poll(storage, **LARGEST_POLL)
        small, _ = await contract.make_poll(storage)
        everything = {q.id: q.option_ids() for q in big.questions}
        for v in range(3):
            await contract.cast(storage, big, f"v:{v}", everything)
        await contract.cast(storage, small, "v:0", {"q1": ["o2"]})
        fresh = await asyncio.gather(storage.get_tally(big.id, fresh=True),
                                     storage.get_tally(small.id, fresh=True))
        alone = [await storage.get_tally(big.id), await storage.get_tally(small.id)]
        assert counted(fresh) == counted(alone)
        assert fresh[0] is not None and len(fresh[0].counts) == len(big.option_ids())
        assert set(fresh[0].counts.values()) == {3} and fresh[0].seq == 3
    # A session limit far below the largest poll: the batch is read again one poll at a time.
    s = MySQLStorage(storage_config(rs, replicas=[]).storage, "storage-test")
    s.group_concat_max_len = 64
    await s.open()
    try:
        again = await asyncio.gather(s.get_tally(big.id, fresh=True),
                                     s.get_tally(small.id, fresh=True))
        assert "cut by GROUP_CONCAT" in caplog.text  # the server's warning, as the driver logs it
        assert counted(again) == counted(alone)
    finally:
        await s.close()
