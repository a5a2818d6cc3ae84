from tests.conftest import RunningServer


async def test_create_vote_results(sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    created = await api.create_poll()
    poll_id = created["poll"]["id"]
    token = await api.voter()
    r = await api.post(f"/api/polls/{poll_id}/ballots", {"choices": {"q1": ["o2"]}},
                       headers={"X-Voter-Token": token})
    assert r.status == 201, r.body
    res = (await api.get(f"/api/polls/{poll_id}/results")).json
    assert res["total"] == 1 and res["questions"][0]["counts"] == {"o1": 0, "o2": 1, "o3": 0}
