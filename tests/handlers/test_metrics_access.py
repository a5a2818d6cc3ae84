"""`server.metrics_allow` judges the real client address, also behind nginx."""
from __future__ import annotations

from tests.conftest import RunningServer

# The test client connects from 127.0.0.1, here trusted as a proxy (as nginx is in a cluster).
server_config = {"server": {"metrics_allow": ["10.0.0.0/8"], "trusted_proxies": ["127.0.0.1"]}}


async def test_metrics_allow_uses_the_forwarded_client_address(sqlite_server: RunningServer) -> None:
    api = sqlite_server.api
    inside = await api.get("/metrics", headers={"X-Real-IP": "10.1.2.3"})
    assert inside.status == 200 and b"voting_ballots_total" in inside.body
    outside = await api.get("/metrics", headers={"X-Real-IP": "192.0.2.7"})
    assert (outside.status, outside.error_code) == (403, "forbidden")
    direct = await api.get("/metrics")  # 127.0.0.1 itself is not in the list
    assert (direct.status, direct.error_code) == (403, "forbidden")
