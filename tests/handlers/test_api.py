"""Every endpoint of DESIGN.md §4, end to end against the embedded server."""
from __future__ import annotations

import csv
import io
import re
import time
from http.cookies import SimpleCookie
from typing import Any

import tornado.web

from tests.client import Api, Response, eventually
from tests.conftest import RunningServer
from tests.handlers.helpers import assert_error, db_state, in_seconds, poll_body, \
    two_question_body
from voting.handlers.client import ClientFileHandler, ClientPageHandler
from voting.ws.handler import FeedSocket

POLL_ID = re.compile(r"^[a-z0-9]{8}$")
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def vote(api: Api, poll_id: str, choices: dict[str, list[str]], token: str | None = None,
               **extra: Any) -> Response:
    if token is None:
        token = await api.session().voter()
    return await api.post(f"/api/polls/{poll_id}/ballots", {"choices": choices, **extra},
                          headers={"X-Voter-Token": token})


async def results(api: Api, poll_id: str, token: str | None = None) -> dict[str, Any]:
    r = await api.get(f"/api/polls/{poll_id}/results", headers=bearer(token) if token else None)
    assert r.status == 200, r.body
    return r.json  # type: ignore[no-any-return]


def counts(res: dict[str, Any], qi: int = 0) -> dict[str, int]:
    return res["questions"][qi]["counts"]  # type: ignore[no-any-return]


# --- create ---------------------------------------------------------------------

async def test_create_poll_returns_full_poll_location_and_admin_token(
        sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    r = await api.post("/api/polls", two_question_body())
    assert r.status == 201, r.body
    body = r.json
    assert set(body) == {"poll", "admin_token"}  # no codes for an open poll
    poll = body["poll"]
    assert POLL_ID.match(poll["id"])
    assert r.headers["Location"] == f"/api/polls/{poll['id']}"
    assert isinstance(body["admin_token"], str) and len(body["admin_token"]) >= 16
    assert poll["title"] == "Lunch?" and poll["description"] == ""
    assert (poll["results"], poll["allow_revote"], poll["eligibility"], poll["visibility"]) == \
        ("live", False, "open", "unlisted")
    assert poll["code_count"] is None and poll["closes_at"] is None
    assert poll["status"] == "open" and poll["closed_at"] is None
    assert TIME.match(poll["created_at"])
    q1, q2 = poll["questions"]
    assert (q1["id"], q1["kind"], q1["min_choices"], q1["max_choices"]) == ("q1", "single", 1, 1)
    assert q1["options"] == [{"id": "o1", "label": "Pizza"}, {"id": "o2", "label": "Sushi"},
                             {"id": "o3", "label": "Tacos"}]
    assert (q2["id"], q2["kind"], q2["min_choices"], q2["max_choices"]) == ("q2", "multiple", 1, 2)
    assert [o["id"] for o in q2["options"]] == ["o4", "o5", "o6"]
    # Multiple-choice defaults: min 1, max = number of options.
    r = await api.post("/api/polls", poll_body(questions=[
        {"text": "Which?", "kind": "multiple", "options": [{"label": "a"}, {"label": "b"},
                                                         {"label": "c"}, {"label": "d"}]}]))
    assert r.status == 201
    q = r.json["poll"]["questions"][0]
    assert (q["min_choices"], q["max_choices"]) == (1, 4)
    # Every id is a string, and two polls get different ids.
    assert r.json["poll"]["id"] != poll["id"]


async def test_create_codes_poll_returns_code_count_codes(sqlite_server: RunningServer) -> None:
    r = await sqlite_server.api.post("/api/polls", poll_body(eligibility="codes", code_count=25))
    assert r.status == 201, r.body
    codes = r.json["codes"]
    assert len(codes) == 25 and len(set(codes)) == 25
    assert all(isinstance(c, str) and 1 <= len(c) <= 64 for c in codes)
    assert r.json["poll"]["eligibility"] == "codes" and r.json["poll"]["code_count"] == 25
    # Codes and the admin token appear only in the create response.
    got = await sqlite_server.api.get(f"/api/polls/{r.json['poll']['id']}")
    assert "codes" not in got.json and "admin_token" not in got.json
    assert codes[0] not in got.body.decode()


# --- get poll -------------------------------------------------------------------

async def test_get_poll_includes_tally_for_live_results(sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    created = await api.create_poll()
    pid = created["poll"]["id"]
    r = await api.get(f"/api/polls/{pid}")
    assert r.status == 200
    poll = r.json["poll"]
    assert poll == created["poll"]  # the create response carries the (empty) tally too
    assert poll["tally"] == {"seq": 0, "total": 0,
                             "questions": [{"id": "q1", "counts": {"o1": 0, "o2": 0, "o3": 0}}]}
    assert (await vote(api, pid, {"q1": ["o3"]})).status == 201
    tally = (await api.get(f"/api/polls/{pid}")).json["poll"]["tally"]
    assert tally["total"] == 1 and tally["seq"] == 1
    assert tally["questions"][0]["counts"] == {"o1": 0, "o2": 0, "o3": 1}


async def test_after_close_tally_hidden_until_close_unless_admin(
        sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    created = await api.create_poll(results="after_close")
    pid, admin = created["poll"]["id"], created["admin_token"]
    assert (await vote(api, pid, {"q1": ["o1"]})).status == 201
    anon = (await api.get(f"/api/polls/{pid}")).json["poll"]
    assert "tally" not in anon
    assert_error(await api.get(f"/api/polls/{pid}/results"), 403, "results_hidden")
    assert_error(await api.get(f"/api/polls/{pid}/results?format=csv"), 403, "results_hidden")
    wrong = (await api.get(f"/api/polls/{pid}", headers=bearer("wrong"))).json["poll"]
    assert "tally" not in wrong
    as_admin = (await api.get(f"/api/polls/{pid}", headers=bearer(admin))).json["poll"]
    assert as_admin["tally"]["total"] == 1
    assert counts(await results(api, pid, admin)) == {"o1": 1, "o2": 0, "o3": 0}
    assert (await api.post(f"/api/polls/{pid}/close", headers=bearer(admin))).status == 200
    closed = (await api.get(f"/api/polls/{pid}")).json["poll"]
    assert closed["status"] == "closed"
    assert closed["tally"]["questions"][0]["counts"] == {"o1": 1, "o2": 0, "o3": 0}
    assert counts(await results(api, pid)) == {"o1": 1, "o2": 0, "o3": 0}


# --- list -----------------------------------------------------------------------

async def test_list_public_polls_newest_first_with_cursor_pages(
        sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    created = []
    for i in range(7):
        created.append((await api.create_poll(title=f"public {i}", visibility="public"))["poll"])
        if i % 3 == 0:
            await api.create_poll(title=f"unlisted {i}")  # default visibility: unlisted
    await api.create_poll(title="explicitly unlisted", visibility="unlisted")
    assert (await vote(api, created[2]["id"], {"q1": ["o1"]})).status == 201
    expected = [p["id"] for p in sorted(created, key=lambda p: (p["created_at"], p["id"]),
                                        reverse=True)]
    seen: list[dict[str, Any]] = []
    pages = []
    cursor: str | None = None
    while True:
        r = await api.get("/api/polls?limit=3" + (f"&cursor={cursor}" if cursor else ""))
        assert r.status == 200, r.body
        pages.append(len(r.json["polls"]))
        seen.extend(r.json["polls"])
        cursor = r.json["next_cursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str)
        assert len(pages) < 10
    assert pages == [3, 3, 1]
    assert [p["id"] for p in seen] == expected
    assert all(not p["title"].startswith(("unlisted", "explicitly")) for p in seen)
    stamps = [p["created_at"] for p in seen]
    assert stamps == sorted(stamps, reverse=True)
    for p in seen:
        assert set(p) == {"id", "title", "status", "created_at", "total"}
        assert p["status"] == "open"
        assert p["total"] == (1 if p["id"] == created[2]["id"] else 0)
    # The default page holds all 7; limit=100 is allowed.
    assert [p["id"] for p in (await api.get("/api/polls")).json["polls"]] == expected
    assert (await api.get("/api/polls?limit=100")).json["next_cursor"] is None


# --- results --------------------------------------------------------------------

async def test_results_json_and_csv(sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    pid = (await api.create_poll(**two_question_body()))["poll"]["id"]
    for choice in (["o1"], ["o1"], ["o2"]):
        assert (await vote(api, pid, {"q1": choice, "q2": ["o4", "o6"]})).status == 201
    res = await results(api, pid)
    assert res == {"poll_id": pid, "status": "open", "seq": 3, "total": 3, "questions": [
        {"id": "q1", "counts": {"o1": 2, "o2": 1, "o3": 0}},
        {"id": "q2", "counts": {"o4": 3, "o5": 0, "o6": 3}}]}
    expected_rows = [
        ["question_id", "question", "option_id", "option", "count"],
        ["q1", "Where?", "o1", "Pizza", "2"], ["q1", "Where?", "o2", "Sushi", "1"],
        ["q1", "Where?", "o3", "Tacos", "0"], ["q2", "Drinks?", "o4", "Water", "3"],
        ["q2", "Drinks?", "o5", "Tea", "0"], ["q2", "Drinks?", "o6", "Coffee", "3"]]
    for kw in ({"path": f"/api/polls/{pid}/results?format=csv"},
               {"path": f"/api/polls/{pid}/results", "headers": {"Accept": "text/csv"}}):
        r = await api.get(**kw)
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/csv")
        text = r.body.decode("utf-8")
        assert text.splitlines()[0] == "question_id,question,option_id,option,count"
        assert list(csv.reader(io.StringIO(text))) == expected_rows
    # An explicit format=json wins over Accept.
    r = await api.get(f"/api/polls/{pid}/results?format=json", headers={"Accept": "text/csv"})
    assert r.headers["Content-Type"].startswith("application/json") and r.json == res


# --- voters ---------------------------------------------------------------------

async def test_post_voters_sets_httponly_samesite_cookie(sqlite_server: RunningServer) -> None:
    api = sqlite_server.api.session()
    r = await api.post("/api/voters")
    assert r.status == 201
    token = r.json["voter_token"]
    assert isinstance(token, str) and token
    raw = [c for c in r.headers.get_list("Set-Cookie") if c.startswith("voter=")]
    assert len(raw) == 1
    cookie = SimpleCookie()
    cookie.load(raw[0])
    assert cookie["voter"].value == token
    assert "httponly" in raw[0].lower()
    assert "samesite=lax" in raw[0].lower()
    assert api.cookies["voter"] == token
    # Two calls give two different voters.
    assert (await sqlite_server.api.session().voter()) != token


# --- ballots --------------------------------------------------------------------

async def test_ballot_accepted_then_already_voted(sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    pid = (await api.create_poll(**two_question_body()))["poll"]["id"]
    token = await api.session().voter()
    r = await vote(api, pid, {"q2": ["o6", "o4"], "q1": ["o2"]}, token)
    assert r.status == 201, r.body
    ballot = r.json["ballot"]
    assert set(r.json) <= {"ballot", "tally"}
    assert ballot["poll_id"] == pid
    assert ballot["choices"] == {"q1": ["o2"], "q2": ["o4", "o6"]}  # poll order
    assert isinstance(ballot["receipt"], str) and ballot["receipt"]
    again = await vote(api, pid, {"q1": ["o1"], "q2": ["o5"]}, token)
    assert_error(again, 409, "already_voted")
    res = await results(api, pid)
    assert res["total"] == 1 and counts(res) == {"o1": 0, "o2": 1, "o3": 0}
    got = await api.get(f"/api/polls/{pid}/ballot", headers={"X-Voter-Token": token})
    assert got.status == 200 and got.json == {"ballot": ballot}


async def test_revote_replaces_the_ballot_and_moves_counts(sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    pid = (await api.create_poll(**two_question_body(allow_revote=True)))["poll"]["id"]
    token = await api.session().voter()
    assert (await vote(api, pid, {"q1": ["o1"], "q2": ["o4", "o5"]}, token)).status == 201
    assert (await vote(api, pid, {"q1": ["o1"], "q2": ["o4"]})).status == 201  # someone else
    first = await results(api, pid)
    r = await vote(api, pid, {"q1": ["o3"], "q2": ["o6"]}, token)
    assert r.status == 200, r.body
    assert r.json["ballot"]["choices"] == {"q1": ["o3"], "q2": ["o6"]}
    res = await results(api, pid)
    assert res["total"] == 2 and res["seq"] > first["seq"]
    assert counts(res, 0) == {"o1": 1, "o2": 0, "o3": 1}
    assert counts(res, 1) == {"o4": 1, "o5": 0, "o6": 1}
    got = await api.get(f"/api/polls/{pid}/ballot", headers={"X-Voter-Token": token})
    assert got.json["ballot"] == r.json["ballot"]


async def test_optional_question_may_be_left_out(sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    pid = (await api.create_poll(questions=[
        {"text": "Main", "options": [{"label": "a"}, {"label": "b"}]},
        {"text": "Extras", "kind": "multiple", "min_choices": 0,
         "options": [{"label": "c"}, {"label": "d"}]}]))["poll"]["id"]
    r = await vote(api, pid, {"q1": ["o2"]})
    assert r.status == 201, r.body
    assert r.json["ballot"]["choices"] == {"q1": ["o2"], "q2": []}
    res = await results(api, pid)
    assert counts(res, 1) == {"o3": 0, "o4": 0} and res["total"] == 1


async def test_cookie_only_voter(sqlite_server: RunningServer) -> None:
    api = sqlite_server.api.session()
    pid = (await api.create_poll())["poll"]["id"]
    await api.voter()  # the jar keeps the 'voter' cookie
    r = await api.post(f"/api/polls/{pid}/ballots", {"choices": {"q1": ["o1"]}})
    assert r.status == 201, r.body
    got = await api.get(f"/api/polls/{pid}/ballot")
    assert got.status == 200 and got.json["ballot"]["choices"] == {"q1": ["o1"]}
    assert_error(await api.post(f"/api/polls/{pid}/ballots", {"choices": {"q1": ["o2"]}}),
                 409, "already_voted")
    # The header wins over the cookie.
    other = await sqlite_server.api.session().voter()
    r = await api.post(f"/api/polls/{pid}/ballots", {"choices": {"q1": ["o2"]}},
                       headers={"X-Voter-Token": other})
    assert r.status == 201
    assert (await results(api, pid))["total"] == 2


async def test_codes_poll_ballots(sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    created = await api.create_poll(eligibility="codes", code_count=3)
    pid, codes = created["poll"]["id"], created["codes"]
    token = await api.session().voter()
    # A voter token is not enough; a code is the voter.
    assert_error(await vote(api, pid, {"q1": ["o1"]}, token), 401, "voter_required")
    assert_error(await vote(api, pid, {"q1": ["o1"]}, token, code="nope-nope"), 403,
                 "invalid_code")
    r = await vote(api, pid, {"q1": ["o1"]}, token, code=codes[0])
    assert r.status == 201, r.body
    # Without any voter token too, and codes are case-insensitive on paper.
    r2 = await api.post(f"/api/polls/{pid}/ballots",
                        {"choices": {"q1": ["o2"]}, "code": codes[1].upper()})
    assert r2.status == 201, r2.body
    assert_error(await api.post(f"/api/polls/{pid}/ballots",
                                {"choices": {"q1": ["o3"]}, "code": codes[0]}), 403, "code_used")
    res = await results(api, pid)
    assert res["total"] == 2 and counts(res) == {"o1": 1, "o2": 1, "o3": 0}
    # The organizer holds every code: a code alone never reveals its ballot (DESIGN §4).
    receipt = r.json["ballot"]["receipt"]
    got = await api.get(f"/api/polls/{pid}/ballot?code={codes[0]}&receipt={receipt}")
    assert got.status == 200 and got.json == {"ballot": r.json["ballot"]}
    assert_error(await api.get(f"/api/polls/{pid}/ballot?code={codes[0]}"), 404, "no_ballot")
    assert_error(await api.get(f"/api/polls/{pid}/ballot?code={codes[0]}&receipt=0000"),
                 404, "no_ballot")
    assert_error(await api.get(f"/api/polls/{pid}/ballot?code={codes[1]}&receipt={receipt}"),
                 404, "no_ballot")  # another code's ballot, with this ballot's receipt
    assert_error(await api.get(f"/api/polls/{pid}/ballot?code={codes[2]}"), 404, "no_ballot")
    assert_error(await api.get(f"/api/polls/{pid}/ballot?code=zzzzzzzzzz"), 404, "no_ballot")
    assert_error(await api.get(f"/api/polls/{pid}/ballot"), 401, "voter_required")


async def test_codes_poll_revote_by_code(sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    created = await api.create_poll(eligibility="codes", code_count=2, allow_revote=True)
    pid, code = created["poll"]["id"], created["codes"][0]
    url = f"/api/polls/{pid}/ballots"
    assert (await api.post(url, {"choices": {"q1": ["o1"]}, "code": code})).status == 201
    r = await api.post(url, {"choices": {"q1": ["o3"]}, "code": code})
    assert r.status == 200, r.body
    res = await results(api, pid)
    assert res["total"] == 1 and counts(res) == {"o1": 0, "o2": 0, "o3": 1}
    got = await api.get(f"/api/polls/{pid}/ballot?code={code}&receipt={r.json['ballot']['receipt']}")
    assert got.json["ballot"]["choices"] == {"q1": ["o3"]}
    # Not after the close.
    assert (await api.post(f"/api/polls/{pid}/close", headers=bearer(created["admin_token"]))
            ).status == 200
    assert_error(await api.post(url, {"choices": {"q1": ["o2"]}, "code": code}), 403,
                 "poll_closed")


async def test_get_ballot_without_one(sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    pid = (await api.create_poll())["poll"]["id"]
    token = await api.session().voter()
    assert_error(await api.get(f"/api/polls/{pid}/ballot", headers={"X-Voter-Token": token}),
                 404, "no_ballot")


# --- close, reopen, delete ------------------------------------------------------

async def test_close_and_reopen(sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    created = await api.create_poll()
    pid, admin = created["poll"]["id"], created["admin_token"]
    assert (await vote(api, pid, {"q1": ["o1"]})).status == 201
    seq0 = (await results(api, pid))["seq"]
    r = await api.post(f"/api/polls/{pid}/close", headers=bearer(admin))
    assert r.status == 200, r.body
    poll = r.json["poll"]
    assert poll["status"] == "closed" and TIME.match(poll["closed_at"])
    assert poll["tally"]["total"] == 1
    res = await results(api, pid)
    assert res["status"] == "closed" and res["seq"] > seq0
    assert_error(await vote(api, pid, {"q1": ["o2"]}), 403, "poll_closed")
    assert (await results(api, pid))["total"] == 1
    r = await api.post(f"/api/polls/{pid}/reopen", headers=bearer(admin))
    assert r.status == 200, r.body
    assert r.json["poll"]["status"] == "open" and r.json["poll"]["closed_at"] is None
    res2 = await results(api, pid)
    assert res2["status"] == "open" and res2["seq"] > res["seq"]
    assert (await vote(api, pid, {"q1": ["o2"]})).status == 201
    res3 = await results(api, pid)
    assert res3["total"] == 2 and res3["seq"] > res2["seq"]
    assert counts(res3) == {"o1": 1, "o2": 1, "o3": 0}


async def test_delete_poll(sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    created = await api.create_poll(visibility="public")
    pid, admin = created["poll"]["id"], created["admin_token"]
    token = await api.session().voter()
    assert (await vote(api, pid, {"q1": ["o1"]}, token)).status == 201
    r = await api.delete(f"/api/polls/{pid}", headers=bearer(admin))
    assert r.status == 204 and r.body == b""
    assert_error(await api.get(f"/api/polls/{pid}"), 404, "poll_not_found")
    assert_error(await api.get(f"/api/polls/{pid}/results"), 404, "poll_not_found")
    assert_error(await api.get(f"/api/polls/{pid}/ballot", headers={"X-Voter-Token": token}),
                 404, "poll_not_found")
    assert_error(await vote(api, pid, {"q1": ["o1"]}), 404, "poll_not_found")
    assert_error(await api.delete(f"/api/polls/{pid}", headers=bearer(admin)), 404,
                 "poll_not_found")
    assert pid not in [p["id"] for p in (await api.get("/api/polls")).json["polls"]]
    polls, ballots, *_ = await db_state(sqlite_server)
    assert (polls, ballots) == (0, 0)


# --- closes_at ------------------------------------------------------------------

# Far enough ahead that the create (and a ballot) surely land before it on a loaded machine.
CLOSES_IN = 3.0
# "A poll whose closes_at has passed reads as closed everywhere at once": this late at most.
CLOSE_SLACK = 0.5


async def closed_at_once(api: Api, pid: str, closes_at: str) -> None:
    """Wait until the poll reads as closed; fail unless it does by closes_at + CLOSE_SLACK."""
    from datetime import datetime
    due = datetime.fromisoformat(closes_at.replace("Z", "+00:00")).timestamp()

    async def closed() -> bool:
        return (await api.get(f"/api/polls/{pid}")).json["poll"]["status"] == "closed"

    assert not await closed(), "closed before its closes_at"
    await eventually(closed, timeout=max(0.0, due + CLOSE_SLACK - time.time()))


async def test_closes_at_closes_the_poll_and_reopen_clears_it(
        sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    closes_at = in_seconds(CLOSES_IN)
    created = await api.create_poll(closes_at=closes_at)
    pid, admin = created["poll"]["id"], created["admin_token"]
    assert created["poll"]["closes_at"] == closes_at
    assert (await vote(api, pid, {"q1": ["o1"]})).status == 201
    await closed_at_once(api, pid, closes_at)
    poll = (await api.get(f"/api/polls/{pid}")).json["poll"]
    assert TIME.match(poll["closed_at"])
    assert (await results(api, pid))["status"] == "closed"
    assert_error(await vote(api, pid, {"q1": ["o2"]}), 403, "poll_closed")
    r = await api.post(f"/api/polls/{pid}/reopen", headers=bearer(admin))
    assert r.status == 200, r.body
    assert r.json["poll"]["status"] == "open" and r.json["poll"]["closes_at"] is None
    assert (await vote(api, pid, {"q1": ["o2"]})).status == 201
    assert (await results(api, pid))["total"] == 2
    # A closes_at still in the future survives a close and reopen.
    later = in_seconds(3600)
    created = await api.create_poll(closes_at=later)
    pid2, admin2 = created["poll"]["id"], created["admin_token"]
    assert (await api.post(f"/api/polls/{pid2}/close", headers=bearer(admin2))).status == 200
    r = await api.post(f"/api/polls/{pid2}/reopen", headers=bearer(admin2))
    assert r.json["poll"]["closes_at"] == later


# --- Idempotency-Key ------------------------------------------------------------

async def test_idempotent_create(sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    body = poll_body(visibility="public", eligibility="codes", code_count=3)
    # Creation keys are scoped to the voter token: a replay carries the admin token and codes.
    assert_error(await api.session().post("/api/polls", body,
                                          headers={"Idempotency-Key": "create-1"}),
                 401, "voter_required")
    key = {"Idempotency-Key": "create-1", "X-Voter-Token": await api.session().voter()}
    first = await api.post("/api/polls", body, headers=key)
    assert first.status == 201, first.body
    state = await db_state(sqlite_server)
    # Same body (keys reordered, other whitespace) gives the identical first response.
    reordered = '{"questions": %s,\n "code_count": 3, "eligibility": "codes", ' \
        '"visibility": "public", "title": "Lunch?"}' % __import__("json").dumps(body["questions"])
    for kw in ({"json_body": body}, {"body": reordered}):
        again = await api.request("POST", "/api/polls", headers=key, **kw)
        assert again.status == 201, again.body
        assert again.json == first.json
        assert again.headers["Location"] == first.headers["Location"]
    assert await db_state(sqlite_server) == state
    assert len((await api.get("/api/polls")).json["polls"]) == 1
    # The key is scoped to the caller: another voter's same key makes its own poll, with its
    # own admin token and codes (the security review's replay: nobody gets another's).
    other = api.session()
    theirs = await other.post("/api/polls", body, headers={
        "Idempotency-Key": "create-1", "X-Voter-Token": await other.voter()})
    assert theirs.status == 201 and theirs.json["poll"]["id"] != first.json["poll"]["id"]
    assert theirs.json["admin_token"] != first.json["admin_token"]
    assert not set(theirs.json["codes"]) & set(first.json["codes"])
    assert_error(await api.post("/api/polls", poll_body(title="changed"), headers=key), 422,
                 "idempotency_key_reused")


async def test_idempotent_ballot(sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    pid = (await api.create_poll(**two_question_body()))["poll"]["id"]
    token = await api.session().voter()
    h = {"X-Voter-Token": token, "Idempotency-Key": "ballot-1"}
    url = f"/api/polls/{pid}/ballots"
    ballot = {"choices": {"q1": ["o2"], "q2": ["o5"]}}
    first = await api.post(url, ballot, headers=h)
    assert first.status == 201, first.body
    state = await db_state(sqlite_server)
    for _ in range(3):
        again = await api.post(url, ballot, headers=h)
        assert again.status == 201 and again.json == first.json
    assert await db_state(sqlite_server) == state
    assert (await results(api, pid))["total"] == 1
    # Without the key the repeat is a second ballot, refused.
    assert_error(await api.post(url, ballot, headers={"X-Voter-Token": token}), 409,
                 "already_voted")
    # The same key from another voter is another caller.
    other = await api.session().voter()
    r = await api.post(url, ballot, headers={"X-Voter-Token": other, "Idempotency-Key": "ballot-1"})
    assert r.status == 201 and r.json["ballot"]["receipt"] != first.json["ballot"]["receipt"]
    assert (await results(api, pid))["total"] == 2
    assert_error(await api.post(url, {"choices": {"q1": ["o1"], "q2": ["o5"]}}, headers=h), 422,
                 "idempotency_key_reused")


async def test_idempotent_replay_after_close(sqlite_server: RunningServer) -> None:
    """A retried request gets its first answer even when the poll has closed since."""
    api = sqlite_server.api
    created = await api.create_poll()
    pid = created["poll"]["id"]
    h = {"X-Voter-Token": await api.session().voter(), "Idempotency-Key": "late-retry"}
    first = await api.post(f"/api/polls/{pid}/ballots", {"choices": {"q1": ["o1"]}}, headers=h)
    assert first.status == 201
    assert (await api.post(f"/api/polls/{pid}/close", headers=bearer(created["admin_token"]))
            ).status == 200
    again = await api.post(f"/api/polls/{pid}/ballots", {"choices": {"q1": ["o1"]}}, headers=h)
    assert again.status == 201 and again.json == first.json
    assert (await results(api, pid))["total"] == 1


async def test_idempotent_create_replay_after_closes_at_passed(
        sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    body = poll_body(closes_at=in_seconds(CLOSES_IN))
    key = {"Idempotency-Key": "create-with-deadline", "X-Voter-Token": await api.session().voter()}
    first = await api.post("/api/polls", body, headers=key)
    assert first.status == 201, first.body
    pid = first.json["poll"]["id"]
    await closed_at_once(api, pid, body["closes_at"])
    again = await api.post("/api/polls", body, headers=key)
    assert again.status == 201, again.body
    assert again.json == first.json
    assert (await db_state(sqlite_server))[0] == 1


# --- OpenAPI, health, metrics ---------------------------------------------------

def _route_paths(pattern: str) -> list[str]:
    """'/api/polls/([^/]+)/(close|reopen)$' -> ['/api/polls/{id}/close', '/api/polls/{id}/reopen']"""
    pattern = pattern.rstrip("$").replace("([^/]+)", "{id}", 1).replace("([^/]+)", "{code}")
    m = re.search(r"\(([a-z|]+)\)", pattern)
    if m:
        return [p for alt in m.group(1).split("|")
                for p in _route_paths(pattern[:m.start()] + alt + pattern[m.end():])]
    assert "(" not in pattern and "\\" not in pattern.replace("\\.", ""), pattern
    return [pattern.replace("\\.", ".")]


# The table of DESIGN.md §4, written out here: the app and its document are checked against
# the contract, not against each other (a route missing from both must fail).
DESIGN_ROUTES = [
    ("post", "/api/polls"), ("get", "/api/polls"), ("get", "/api/polls/{id}"),
    ("get", "/api/polls/{id}/results"), ("post", "/api/voters"),
    ("post", "/api/polls/{id}/ballots"), ("get", "/api/polls/{id}/ballot"),
    ("get", "/api/polls/{id}/codes/{code}"), ("post", "/api/polls/{id}/close"),
    ("post", "/api/polls/{id}/reopen"), ("delete", "/api/polls/{id}"),
    ("get", "/api/openapi.json"), ("get", "/healthz"), ("get", "/readyz"), ("get", "/metrics"),
]


async def test_every_design_route_is_served_and_documented(sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    doc = (await api.get("/api/openapi.json")).json
    created = await api.create_poll()
    pid, admin = created["poll"]["id"], created["admin_token"]
    for method, template in DESIGN_ROUTES:
        documented = doc["paths"].get(template, {})
        assert method in documented and "responses" in documented[method], \
            f"{method.upper()} {template} is missing from openapi.json"
        path = template.replace("{id}", pid).replace("{code}", "NOSUCHCODE")
        headers = bearer(admin) if method == "delete" else {}
        if method == "post":
            headers["Content-Type"] = "application/json"
        r = await api.request(method.upper(), path, headers=headers,
                              body=b"{}" if method == "post" else None)
        # Served: whatever the answer, not the app's "no such route" or "no such method".
        assert r.error_code not in ("not_found", "method_not_allowed"), \
            (method, path, r.status, r.body[:200])
        assert r.status < 500, (method, path, r.status, r.body[:200])


async def test_openapi_document_lists_every_route(sqlite_server: RunningServer) -> None:
    r = await sqlite_server.api.get("/api/openapi.json")
    assert r.status == 200 and r.headers["Content-Type"].startswith("application/json")
    doc = r.json
    assert re.match(r"^3\.1\.\d+$", doc["openapi"])
    assert doc["info"]["title"] and doc["info"]["version"]
    paths = doc["paths"]
    for method, template in DESIGN_ROUTES:  # the contract first, then whatever else is routed
        assert method in paths.get(template, {}), f"{method.upper()} {template} is undocumented"
    skip = (FeedSocket, ClientPageHandler, ClientFileHandler)
    checked = 0
    for rule in sqlite_server.server.app.wildcard_router.rules:
        handler = rule.target
        if not isinstance(handler, type) or issubclass(handler, skip):
            continue
        methods = [m for m in ("get", "post", "put", "patch", "delete")
                   if getattr(handler, m) is not getattr(tornado.web.RequestHandler, m)]
        assert methods, handler
        matcher: Any = rule.matcher
        for path in _route_paths(matcher.regex.pattern):
            assert path in paths, f"{path} ({handler.__name__}) is missing from openapi.json"
            for m in methods:
                assert m in paths[path], f"{m.upper()} {path} is missing from openapi.json"
                assert "responses" in paths[path][m]
            checked += 1
    assert checked >= 12
    # Every $ref resolves.
    schemas = doc["components"]["schemas"]
    for ref in re.findall(r'"\$ref": "#/components/schemas/([A-Za-z]+)"', r.body.decode()):
        assert ref in schemas, ref


async def test_health_and_ready(sqlite_server: RunningServer) -> None:
    for path in ("/healthz", "/readyz"):
        r = await sqlite_server.api.get(path)
        assert r.status == 200, r.body
        assert r.json["status"] == "ok"


async def test_metrics(sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    pid = (await api.create_poll())["poll"]["id"]
    assert (await vote(api, pid, {"q1": ["o1"]})).status == 201
    r = await api.get("/metrics")
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain")
    text = r.body.decode()
    for name in ("voting_http_requests_total", "voting_ballots_total", "voting_websockets_open"):
        assert name in text, name
    assert re.search(r'voting_ballots_total\{outcome="accepted"\} 1\.0', text), text
    assert re.search(r'voting_http_requests_total\{method="POST",route="/api/polls",'
                     r'status="201"\} 1\.0', text)


async def test_x_backend_header_on_every_response(sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    created = await api.create_poll()
    pid, admin = created["poll"]["id"], created["admin_token"]
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/api/polls", {}), ("GET", f"/api/polls/{pid}", {}),
        ("GET", f"/api/polls/{pid}/results", {}),
        ("GET", f"/api/polls/{pid}/results?format=csv", {}),
        ("POST", "/api/voters", {}), ("POST", "/api/polls", {"json_body": poll_body()}),
        ("POST", f"/api/polls/{pid}/ballots", {"json_body": {"choices": {"q1": ["o1"]}}}),
        ("GET", f"/api/polls/{pid}/ballot", {}),
        ("POST", f"/api/polls/{pid}/close", {"headers": bearer(admin)}),
        ("GET", "/api/openapi.json", {}), ("GET", "/healthz", {}), ("GET", "/readyz", {}),
        ("GET", "/metrics", {}), ("GET", "/", {}), ("GET", f"/p/{pid}", {}),
        ("GET", "/favicon.ico", {}), ("GET", "/assets/missing.js", {}),
        ("GET", "/api/nope", {}), ("PUT", "/api/polls", {"body": b"{}"}),
        ("POST", "/api/polls", {"body": b"{"}), ("GET", "/api/polls?limit=0", {}),
        ("POST", "/api/polls", {"body": b" " * (65 * 1024)}),
        ("DELETE", f"/api/polls/{pid}", {}), ("GET", "/ws", {}),
        ("DELETE", f"/api/polls/{pid}", {"headers": bearer(admin)}),
    ]
    statuses = set()
    for method, path, kw in requests:
        r = await api.request(method, path, **kw)
        statuses.add(r.status)
        assert r.headers.get("X-Backend") == "test1", (method, path, r.status)
        if r.status >= 400:
            assert r.json["error"]["code"], (method, path)
    assert {200, 201, 204, 400, 401, 404, 405, 413, 422} <= statuses


# --- more of the contract -------------------------------------------------------

async def test_the_design_example_body_and_explicit_nulls(sqlite_server: RunningServer) -> None:
    """The create body of DESIGN.md §4, defaults spelled out, is accepted as is."""
    example = {"title": "Lunch?", "description": "", "results": "live", "allow_revote": False,
               "eligibility": "open", "code_count": None, "visibility": "unlisted",
               "closes_at": None,
               "questions": [{"text": "Where?", "kind": "single",
                              "options": [{"label": "Pizza"}, {"label": "Sushi"}]}]}
    r = await sqlite_server.api.post("/api/polls", example)
    assert r.status == 201, r.body
    poll = r.json["poll"]
    for key, value in example.items():
        if key != "questions":
            assert poll[key] == value, key
    # null means "the default" for every optional field.
    nulls = {"title": "n", "description": None, "results": None, "allow_revote": None,
             "eligibility": None, "visibility": None, "closes_at": None, "code_count": None,
             "questions": [{"text": "q", "kind": None, "min_choices": None, "max_choices": None,
                            "options": [{"label": "a"}, {"label": "b"}]}]}
    r = await sqlite_server.api.post("/api/polls", nulls)
    assert r.status == 201, r.body
    poll = r.json["poll"]
    assert (poll["description"], poll["results"], poll["allow_revote"], poll["eligibility"],
            poll["visibility"]) == ("", "live", False, "open", "unlisted")
    assert poll["questions"][0]["kind"] == "single"


async def test_closes_at_with_an_offset_is_normalized(sqlite_server: RunningServer) -> None:
    from datetime import datetime, timedelta, timezone
    local = datetime.now(timezone(timedelta(hours=2))).replace(microsecond=0) + timedelta(days=1)
    r = await sqlite_server.api.post("/api/polls", poll_body(closes_at=local.isoformat()))
    assert r.status == 201, r.body
    got = datetime.fromisoformat(r.json["poll"]["closes_at"].replace("Z", "+00:00"))
    assert got == local and r.json["poll"]["closes_at"].endswith("Z")


async def test_idempotency_keeps_only_success_and_is_scoped_to_the_path(
        sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    p1 = (await api.create_poll())["poll"]["id"]
    p2 = (await api.create_poll())["poll"]["id"]
    token = await api.session().voter()
    h = {"X-Voter-Token": token, "Idempotency-Key": "k"}
    # A failed request is not kept: the key still works for a different body.
    assert_error(await api.post(f"/api/polls/{p1}/ballots", {"choices": {"q1": ["o9"]}},
                                headers=h), 422, "invalid_ballot")
    first = await api.post(f"/api/polls/{p1}/ballots", {"choices": {"q1": ["o1"]}}, headers=h)
    assert first.status == 201, first.body
    # Another path with the same key and body is another request.
    other = await api.post(f"/api/polls/{p2}/ballots", {"choices": {"q1": ["o1"]}}, headers=h)
    assert other.status == 201 and other.json["ballot"]["poll_id"] == p2
    assert other.json["ballot"]["receipt"] != first.json["ballot"]["receipt"]
    # A failed create is not kept either.
    hc = {"X-Voter-Token": token, "Idempotency-Key": "c"}
    assert_error(await api.post("/api/polls", {"title": ""}, headers=hc), 422, "invalid_poll")
    assert (await api.post("/api/polls", poll_body(), headers=hc)).status == 201


async def test_readyz_is_503_when_not_ready(sqlite_server: RunningServer) -> None:
    from voting.errors import StorageUnavailable
    storage: Any = sqlite_server.server.storage
    real_ping = storage.ping

    async def down() -> dict[str, Any]:
        raise StorageUnavailable("SQLite is not usable: disk on fire")

    storage.ping = down
    try:
        r = await sqlite_server.api.get("/readyz")
        assert r.status == 503 and r.json["status"] != "ok"
        assert (await sqlite_server.api.get("/healthz")).status == 200  # alive, not ready
    finally:
        storage.ping = real_ping
    assert (await sqlite_server.api.get("/readyz")).status == 200
    sqlite_server.server.app.settings["voting_shutting_down"] = True
    try:
        assert (await sqlite_server.api.get("/readyz")).status == 503
    finally:
        sqlite_server.server.app.settings["voting_shutting_down"] = False


# --- where DESIGN allows more than a stricter reading would -----------------------

async def test_labels_differing_in_case_are_two_labels(sqlite_server: RunningServer) -> None:
    r = await sqlite_server.api.post("/api/polls", poll_body(questions=[
        {"text": "Q?", "options": [{"label": "Yes"}, {"label": "yes"}]}]))
    assert r.status == 201, r.body
    assert [o["label"] for o in r.json["poll"]["questions"][0]["options"]] == ["Yes", "yes"]


async def test_multiple_question_with_max_zero_takes_no_choices(sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    r = await api.post("/api/polls", poll_body(questions=[
        {"text": "Pick", "options": [{"label": "a"}, {"label": "b"}]},
        {"text": "Nothing", "kind": "multiple", "min_choices": 0, "max_choices": 0,
         "options": [{"label": "c"}, {"label": "d"}]}]))
    assert r.status == 201, r.body
    pid = r.json["poll"]["id"]
    assert_error(await vote(api, pid, {"q1": ["o1"], "q2": ["o3"]}), 422, "invalid_ballot")
    assert (await vote(api, pid, {"q1": ["o1"]})).status == 201
    assert (await results(api, pid))["questions"][1]["counts"] == {"o3": 0, "o4": 0}


async def test_closes_at_far_ahead_is_accepted(sqlite_server: RunningServer) -> None:
    r = await sqlite_server.api.post("/api/polls", poll_body(closes_at="2999-01-01T00:00:00Z"))
    assert r.status == 201, r.body
    assert r.json["poll"]["closes_at"] == "2999-01-01T00:00:00.000Z"


async def test_unknown_query_parameters_are_ignored(sqlite_server: RunningServer) -> None:
    r = await sqlite_server.api.get("/api/polls?limit=5&_=1732900000000&utm_source=qr")
    assert r.status == 200 and r.json["polls"] == [] and r.json["next_cursor"] is None


async def test_health_answers_head(sqlite_server: RunningServer) -> None:
    for path in ("/healthz", "/readyz"):
        r = await sqlite_server.api.request("HEAD", path)
        assert r.status == 200 and r.body == b"", path


async def test_metrics_count_every_rejected_ballot_by_reason(sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    pid = (await api.create_poll())["poll"]["id"]
    s = api.session()
    await s.voter()
    assert (await s.post(f"/api/polls/{pid}/ballots", {"choices": {"q1": ["o9"]}})).status == 422
    assert (await s.post(f"/api/polls/{pid}/ballots", {"choices": {}, "x": 1})).status == 422
    assert (await s.post(f"/api/polls/{pid}/ballots", body=b"{")).status == 400
    assert (await s.post("/api/polls/zzzzzzzz/ballots", {"choices": {}})).status == 404
    anon = Api(api.base, client=api.client)
    anon.keep_cookies = False
    assert (await anon.post(f"/api/polls/{pid}/ballots", {"choices": {"q1": ["o1"]}})).status == 401
    assert (await s.post(f"/api/polls/{pid}/ballots", {"choices": {"q1": ["o1"]}})).status == 201
    assert (await s.post(f"/api/polls/{pid}/ballots", {"choices": {"q1": ["o1"]}})).status == 409
    text = (await api.get("/metrics")).body.decode()
    for outcome in ("invalid_ballot", "unknown_field", "invalid_json", "poll_not_found",
                    "voter_required", "accepted", "already_voted"):
        assert re.search(rf'voting_ballots_total\{{outcome="{outcome}"\}} 1\.0', text), outcome
