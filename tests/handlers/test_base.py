"""The read-position cookie written by hand equals what set_cookie would write."""
from __future__ import annotations

import http.cookies

from hypothesis import given, strategies as st

from voting.handlers.base import POS_COOKIE, pos_cookie_header

PLAIN = "abcXYZ0189!#$%&'*+-.^_`|~:"


def set_cookie_output(value: str) -> str:
    """What tornado's set_cookie(POS_COOKIE, value, httponly, samesite="Lax", max_age=300)
    sends."""
    cookie: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
    cookie[POS_COOKIE] = value
    morsel = cookie[POS_COOKIE]
    morsel["path"] = "/"
    morsel["max-age"] = "300"
    morsel["httponly"] = True
    morsel["samesite"] = "Lax"
    return morsel.OutputString(None)


@given(st.text(alphabet=PLAIN, min_size=1, max_size=80))
def test_a_plain_position_is_written_as_set_cookie_would(pos: str) -> None:
    assert pos_cookie_header(pos) == set_cookie_output(pos)


def test_a_mariadb_gtid_is_plain_and_a_mysql_gtid_set_is_left_to_set_cookie() -> None:
    assert pos_cookie_header("0-1-12345") == set_cookie_output("0-1-12345")
    mysql = "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,\n4f22fa47-71ca-11e1-9e33-c80aa9429562:1-2"
    for needs_quoting in (mysql, "a b", 'a"b', "a;b", "a\\b", "é"):
        assert pos_cookie_header(needs_quoting) is None
