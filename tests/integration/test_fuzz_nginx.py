"""The fuzzing of tests/fuzz.py once through nginx, against the real cluster: nginx's own
answers (limits, errors) and the backends' behind it are never a 5xx, and the WebSocket
proxy never drops a socket without an error frame."""
from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import fuzz

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def target(local_cluster: Any) -> fuzz.Target:
    return fuzz.make_target(local_cluster.url)


@pytest.mark.parametrize("endpoint", fuzz.ENDPOINTS)
@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_no_request_through_nginx_gives_a_5xx(target: fuzz.Target, endpoint: str,
                                               data: st.DataObject) -> None:
    fuzz.check_http(target, *data.draw(fuzz.http_requests(target, endpoint)))


@settings(max_examples=20, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_no_websocket_message_through_nginx_drops_the_socket(target: fuzz.Target,
                                                             data: st.DataObject) -> None:
    fuzz.check_ws(target, data.draw(st.lists(fuzz.ws_messages(target), min_size=1, max_size=3)))
