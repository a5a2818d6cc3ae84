"""The caller's address behind trusted proxies, and the budget it is counted on (cached)."""
from __future__ import annotations

import ipaddress

from hypothesis import given, strategies as st

from voting.ratelimit import rate_key, real_client_address

NGINX = (ipaddress.ip_network("127.0.0.1/32"),)


def test_a_trusted_proxy_speaks_for_the_client_and_nobody_else_does() -> None:
    headers = {"X-Real-IP": "203.0.113.7"}
    assert real_client_address("127.0.0.1", headers, NGINX) == "203.0.113.7"
    # The same peer and headers under another config: the cache must not answer for it.
    assert real_client_address("127.0.0.1", headers, ()) == "127.0.0.1"
    assert real_client_address("198.51.100.1", headers, NGINX) == "198.51.100.1"


def test_forwarded_for_garbage_and_odd_peers_fall_back_to_the_peer() -> None:
    assert real_client_address("127.0.0.1", {"X-Forwarded-For": "1.2.3.4, 10.0.0.9"},
                               NGINX) == "10.0.0.9"
    assert real_client_address("127.0.0.1", {"X-Real-IP": "not-an-address"},
                               NGINX) == "127.0.0.1"
    assert real_client_address("127.0.0.1", {"X-Real-IP": "0:0::1"}, NGINX) == "::1"
    assert real_client_address("unix-socket", {"X-Real-IP": "1.2.3.4"}, NGINX) == "unix-socket"


@given(st.ip_addresses())
def test_cached_answers_equal_fresh_ones(ip: ipaddress.IPv4Address | ipaddress.IPv6Address
                                         ) -> None:
    text = str(ip)
    assert real_client_address("127.0.0.1", {"X-Real-IP": text}, NGINX) == text
    assert real_client_address(text, {"X-Real-IP": "192.0.2.1"}, ()) == text
    if isinstance(ip, ipaddress.IPv4Address):
        expected = text
    elif ip.ipv4_mapped is not None:
        expected = str(ip.ipv4_mapped)
    else:
        expected = str(ipaddress.ip_network((ip, 64), strict=False))
    assert rate_key(text) == expected == rate_key(text)
