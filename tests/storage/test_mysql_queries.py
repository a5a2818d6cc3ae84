"""The MySQL dialect's statement text and row decoding, without a server."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voting.storage.base import SEQ_KEY, TOTAL_KEY
from voting.storage.mysql.queries import TruncatedCounters, counters_from_row

COUNTER_IDS = st.one_of(st.just(SEQ_KEY), st.just(TOTAL_KEY),
                        st.integers(1, 1000).map(lambda n: f"o{n}"))


@given(st.dictionaries(COUNTER_IDS, st.integers(-10**12, 10**12)))
def test_counters_come_back_as_group_concat_wrote_them(counters: dict[str, int]) -> None:
    text = "".join(f"{k} {n} " for k, n in counters.items())
    assert counters_from_row(len(counters), text or None) == counters
    assert counters_from_row(str(len(counters)), text.encode()) == counters  # a UNION's types


@given(st.dictionaries(COUNTER_IDS, st.integers(0, 10**6), min_size=1), st.data())
def test_a_string_cut_short_is_caught(counters: dict[str, int], data: st.DataObject) -> None:
    text = "".join(f"{k} {n} " for k, n in counters.items())
    cut = data.draw(st.integers(0, len(text) - 1))
    with pytest.raises(TruncatedCounters):
        counters_from_row(len(counters), text[:cut] or None)
