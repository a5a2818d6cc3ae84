"""Per-address rate limits (DESIGN.md §4), with small limits for this module's server."""
from __future__ import annotations

from tests.conftest import RunningServer, freeze_rate_limits
from tests.handlers.helpers import assert_error

server_config = {"rate_limits": {"voters_per_minute": 3, "ballots_per_minute": 3},
                 "server": {"trusted_proxies": ["127.0.0.1"]}}  # as nginx in a cluster


async def test_fourth_voter_in_a_minute_is_rate_limited(sqlite_server: RunningServer) -> None:
    freeze_rate_limits(sqlite_server.server)
    api = sqlite_server.api
    for _ in range(3):
        assert (await api.session().post("/api/voters")).status == 201
    r = await api.session().post("/api/voters")
    assert_error(r, 429, "rate_limited")
    assert int(r.headers["Retry-After"]) >= 1
    assert r.headers.get("X-Backend") == "test1"
    assert "voter" not in [c.split("=")[0] for c in r.headers.get_list("Set-Cookie")]
    # Other endpoints are not limited by the voters bucket.
    assert (await api.get("/healthz")).status == 200
    assert (await api.post("/api/polls", {"title": "t", "questions": [
        {"text": "q", "options": [{"label": "a"}, {"label": "b"}]}]})).status == 201


async def test_limits_are_per_client_address(sqlite_server: RunningServer) -> None:
    """Behind the (trusted, local) proxy the real address is X-Real-IP / X-Forwarded-For."""
    freeze_rate_limits(sqlite_server.server)
    api = sqlite_server.api
    for _ in range(3):
        r = await api.session().post("/api/voters", headers={"X-Real-IP": "203.0.113.7"})
        assert r.status == 201
    assert_error(await api.session().post("/api/voters", headers={"X-Real-IP": "203.0.113.7"}),
                 429, "rate_limited")
    r = await api.session().post("/api/voters", headers={"X-Forwarded-For": "198.51.100.1"})
    assert r.status == 201
    r = await api.session().post("/api/voters", headers={"X-Real-IP": "2001:db8::1"})
    assert r.status == 201


async def test_ballots_are_rate_limited(sqlite_server: RunningServer) -> None:
    freeze_rate_limits(sqlite_server.server)
    api = sqlite_server.api
    pid = (await api.create_poll())["poll"]["id"]
    addr = {"X-Real-IP": "192.0.2.10"}
    tokens = [await api.session().voter() for _ in range(3)]
    r = await api.session().post("/api/voters", headers={"X-Real-IP": "192.0.2.99"})
    tokens.append(r.json["voter_token"])  # 127.0.0.1 used its 3 voters a minute
    for t in tokens[:3]:
        r = await api.post(f"/api/polls/{pid}/ballots", {"choices": {"q1": ["o1"]}},
                           headers={**addr, "X-Voter-Token": t})
        assert r.status == 201, r.body
    r = await api.post(f"/api/polls/{pid}/ballots", {"choices": {"q1": ["o1"]}},
                       headers={**addr, "X-Voter-Token": tokens[3]})
    assert_error(r, 429, "rate_limited")
    assert int(r.headers["Retry-After"]) >= 1
    res = (await api.get(f"/api/polls/{pid}/results")).json
    assert res["total"] == 3
    # A repeated ballot is 409 even past the limit, and carries no Retry-After.
    r = await api.post(f"/api/polls/{pid}/ballots", {"choices": {"q1": ["o2"]}},
                       headers={**addr, "X-Voter-Token": tokens[0]})
    assert_error(r, 409, "already_voted")
    assert "Retry-After" not in r.headers


async def test_repeated_ballot_is_409_not_429(sqlite_server: RunningServer) -> None:
    freeze_rate_limits(sqlite_server.server)
    api = sqlite_server.api
    created = await api.create_poll()
    pid = created["poll"]["id"]
    token = await api.session().voter()
    h = {"X-Voter-Token": token, "X-Real-IP": "192.0.2.20"}
    assert (await api.post(f"/api/polls/{pid}/ballots", {"choices": {"q1": ["o1"]}},
                           headers=h)).status == 201
    for _ in range(6):  # more repeats than the limit admits ballots
        assert_error(await api.post(f"/api/polls/{pid}/ballots", {"choices": {"q1": ["o1"]}},
                                    headers=h), 409, "already_voted")
    codes = await api.create_poll(eligibility="codes", code_count=1)
    url = f"/api/polls/{codes['poll']['id']}/ballots"
    body = {"choices": {"q1": ["o1"]}, "code": codes["codes"][0]}
    h = {"X-Real-IP": "192.0.2.21"}
    assert (await api.post(url, body, headers=h)).status == 201
    for _ in range(6):
        assert_error(await api.post(url, body, headers=h), 403, "code_used")
