"""A sheet's columns turned into text in one go (gridmap.io.excel.column_text) agree with the cell-by-cell rule.

The fast paths for whole columns of numbers and of dates/times (pyarrow and numpy, no Python object per
cell) are checked against :func:`gridmap.io.excel.cell_text`, applied to each cell on its own, which is
itself checked against Python's ``repr``/``isoformat`` in ``tests/test_io_excel.py``.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
from hypothesis import example, given
from hypothesis import strategies as st

from gridmap.io.excel import cell_text, column_text

_TIMES = st.datetimes(min_value=dt.datetime(1900, 3, 1), max_value=dt.datetime(2100, 1, 1))
_DAYS = st.dates(min_value=dt.date(1900, 3, 1), max_value=dt.date(2100, 1, 1))


@given(st.lists(st.floats(), min_size=1, max_size=20))
@example([109.73, 38.2912345, 1001.0, -0.0, float("nan"), float("inf")])
@example([1e-4, 9.99999e-5, 6.472870919877994e-05, 2.687945642415965e-06, 5e-324])  # repr writes an exponent
@example([238784737778.80173, 1e15 + 0.5, 9999999999999998.0, 1e16, 2e16, 1.7976931348623157e308])  # pyarrow does
def test_a_column_of_numbers_reads_as_each_cell_does(values):
    assert column_text(pd.Series(values, dtype=object)).tolist() == [cell_text(v) for v in values]


@given(st.lists(st.one_of(_TIMES, _DAYS), min_size=1, max_size=20))
@example([dt.datetime(2025, 3, 1, 7, 0), dt.date(2025, 5, 15)])  # calamine gives a date for a whole-day serial
@example([dt.datetime(2025, 3, 1, 8, 4, 59, 999_999), dt.datetime(2025, 3, 1, 8, 5, 7, 123_000),
          dt.datetime(2025, 3, 1, 8, 5, 0, 500), dt.datetime(2025, 3, 1, 8, 5, 0, 1500)])
def test_a_column_of_dates_and_times_reads_as_each_cell_does(values):
    assert column_text(pd.Series(values, dtype=object)).tolist() == [cell_text(v) for v in values]


@given(st.lists(st.one_of(_TIMES, _DAYS, st.just("2025-03-01"), st.none()), min_size=1, max_size=10))
@example([dt.datetime(2025, 3, 1, 7, 0), "2025-03-01", None])
def test_dates_mixed_with_text_or_blanks_read_as_each_cell_does(values):
    assert column_text(pd.Series(values, dtype=object)).tolist() == [cell_text(v) for v in values]
