"""The inspectors' numbering used to sort GPS fixes (sweep coverage) equals pandas' numbering of the cleaned names."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import example, given, settings
from hypothesis import strategies as st

NAMES = st.sampled_from(["张三", " 张三", "张三 ", "李四", "", "  ", None, "A", "a", " A"])


@settings(max_examples=80, deadline=None)
@given(st.lists(NAMES, max_size=40), st.lists(st.booleans(), max_size=40))
@example([None, " A", "A", "张三"], [False, True, True, True])  # the first kept name is not the first given
def test_name_numbers_renumbered_by_first_appearance_are_pandas_factorize_of_the_kept_names(
        raw: list, kept: list) -> None:
    from gridmap.analysis._coverage_tracks import _first_seen, _named  # private: the numbering itself

    values = pd.Series(raw, dtype=object)
    names, numbers = _named(values)
    expected_names = [("" if v is None else str(v).strip()) for v in raw]
    assert list(names) == expected_names
    keep = np.array([k for k, _ in zip(kept, raw)] + [True] * max(len(raw) - len(kept), 0), dtype=bool)
    keep &= names != ""
    renumbered = _first_seen(numbers[keep])
    reference, _ = pd.factorize(np.array(expected_names, dtype=object)[keep])
    assert renumbered.tolist() == reference.tolist()
