"""Fuzzing the embedded server (`voting serve` as a process): see tests/fuzz.py."""
from __future__ import annotations

from typing import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import fuzz
from tests.conftest import start_server_process, stop_process


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[fuzz.Target]:
    proc = start_server_process(tmp_path_factory.mktemp("fuzz"), "fuzz")
    try:
        yield fuzz.make_target(proc.url)
    finally:
        stop_process(proc.proc)
    log = proc.log.read_text(errors="replace")
    assert "Traceback" not in log and "Uncaught exception" not in log, log[-3000:]


@pytest.mark.parametrize("endpoint", fuzz.ENDPOINTS)
@settings(max_examples=100, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_no_request_gives_a_5xx(target: fuzz.Target, endpoint: str, data: st.DataObject) -> None:
    fuzz.check_http(target, *data.draw(fuzz.http_requests(target, endpoint)))


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_no_websocket_message_drops_the_socket(target: fuzz.Target, data: st.DataObject) -> None:
    messages = data.draw(st.lists(fuzz.ws_messages(target), min_size=1, max_size=4))
    fuzz.check_ws(target, messages)
