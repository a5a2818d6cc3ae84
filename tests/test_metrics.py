"""Metrics (DESIGN.md §6): every family the design lists is exported, and those an embedded
server drives move under traffic. (Relay delay, DB pool use per role and replica lag move
only in a cluster: tests/integration/test_cluster.py; coalesced and dropped frames need a
stalled reader: tests/ws/test_registry.py and tests/ws/test_feed.py count them exactly.)"""
from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.client import Api, Feed, eventually
from tests.conftest import RunningServer

# DESIGN.md §6 "Metrics" -> the families that carry each promise.
DESIGN_METRICS = {
    "HTTP requests by route and status": "voting_http_requests_total",
    "latency histograms": "voting_http_request_duration_seconds",
    "open WebSockets": "voting_websockets_open",
    "subscriptions": "voting_ws_subscriptions",
    "frames sent": "voting_ws_frames_sent_total",
    "frames coalesced": "voting_ws_frames_coalesced_total",
    "frames dropped": "voting_ws_frames_dropped_total",
    "ballots accepted and rejected by reason": "voting_ballots_total",
    "relay delay from Redis": "voting_relay_delay_seconds",
    "DB pool use per role": "voting_db_pool_connections_in_use",
    "replica lag": "voting_replica_lag_seconds",
}

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(api: Api) -> tuple[set[str], Samples]:
    """(exported family names, {(sample name, sorted labels): value})."""
    r = await api.get("/metrics")
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain"), r.body[:200]
    text = r.body.decode()
    families: set[str] = set()
    samples: Samples = {}
    for fam in text_string_to_metric_families(text):
        families.add(fam.name)
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    # The exposition names counters with _total; the parser strips it from the family name.
    families |= {f + "_total" for f in families}
    return families, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_every_design_metric_is_exported(sqlite_server: RunningServer) -> None:
    families, _ = await scrape(sqlite_server.api)
    missing = {what: name for what, name in DESIGN_METRICS.items() if name not in families}
    assert not missing, missing


async def test_metrics_move_under_traffic(sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    _, before = await scrape(api)
    assert value(before, "voting_websockets_open") == 0
    pid = (await api.create_poll())["poll"]["id"]
    feed = await Feed.connect(sqlite_server.ws_url)
    try:
        feed.send({"type": "subscribe", "poll": pid})
        await feed.wait_for(lambda f: f["type"] == "snapshot")
        _, during = await scrape(api)
        assert value(during, "voting_websockets_open") == 1
        assert value(during, "voting_ws_subscriptions") == 1
        # Three ballots accepted, one refused as a repeat, one as invalid.
        voters = [api.session() for _ in range(3)]
        for s in voters:
            await s.voter()
        statuses = await asyncio.gather(*(
            s.post(f"/api/polls/{pid}/ballots", {"choices": {"q1": ["o1"]}}) for s in voters))
        assert [r.status for r in statuses] == [201] * 3
        again = await voters[0].post(f"/api/polls/{pid}/ballots", {"choices": {"q1": ["o2"]}})
        assert again.status == 409
        bad = await voters[1].post(f"/api/polls/{pid}/ballots", {"choices": {"q1": ["o9"]}})
        assert bad.status == 422
        await feed.wait_for(lambda f: f["type"] == "tally" and f["total"] == 3)
        _, after = await scrape(api)
    finally:
        await feed.close()

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("voting_http_requests_total", method="POST", route="/api/polls",
                 status="201") == 1
    assert moved("voting_http_requests_total", method="POST", route="/api/polls/{id}/ballots",
                 status="201") == 3
    assert moved("voting_http_requests_total", method="POST", route="/api/polls/{id}/ballots",
                 status="409") == 1
    assert moved("voting_http_request_duration_seconds_count", method="POST",
                 route="/api/polls/{id}/ballots") == 5
    assert moved("voting_http_request_duration_seconds_sum", method="POST",
                 route="/api/polls/{id}/ballots") > 0
    assert moved("voting_ballots_total", outcome="accepted") == 3
    assert moved("voting_ballots_total", outcome="already_voted") == 1
    assert moved("voting_ballots_total", outcome="invalid_ballot") == 1
    for frame in ("hello", "snapshot", "tally"):
        assert moved("voting_ws_frames_sent_total", type=frame) >= 1, frame
    cfg = sqlite_server.server.config.ws
    assert cfg.tally_interval <= value(after, "voting_ws_tally_interval_seconds") \
        <= cfg.max_tally_interval

    async def closed_counted() -> Any:
        _, now = await scrape(api)
        return value(now, "voting_websockets_open") == 0 and \
            value(now, "voting_ws_subscriptions") == 0

    await eventually(closed_counted, timeout=10)


async def test_a_made_up_method_is_counted_as_other_not_as_a_new_label(
        sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    _, before = await scrape(api)
    for method in ("FROB", "XYZZY"):
        r = await api.request(method, "/api/polls")
        assert r.status == 405
    _, after = await scrape(api)
    labels = {dict(k[1]).get("method") for k in after if k[0] == "voting_http_requests_total"}
    assert "FROB" not in labels and "XYZZY" not in labels
    assert value(after, "voting_http_requests_total", method="other", route="/api/polls",
                 status="405") - value(before, "voting_http_requests_total", method="other",
                                       route="/api/polls", status="405") == 2
