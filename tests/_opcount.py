"""Count the work a call does in Python, deterministically: the number of Python-level function calls.

Tests use it instead of wall-clock time to state "no per-row Python work": the count for a
large input must not grow with the number of rows (vectorised code), which a row-by-row loop
would break by a factor of the size ratio. Timings themselves belong in ``benchmarks/``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any


def python_calls(call: Callable[[], Any]) -> tuple[Any, int]:
    """Return ``call()``'s result and how many Python functions (and generators resumed) ran inside it."""
    count = 0

    def profiler(frame: Any, event: str, arg: Any) -> None:
        nonlocal count
        if event == "call":
            count += 1

    previous = sys.getprofile()
    sys.setprofile(profiler)
    try:
        result = call()
    finally:
        sys.setprofile(previous)
    return result, count


def extra_calls(small: Callable[[], Any], big: Callable[[], Any]) -> tuple[Any, int]:
    """Return ``big()``'s result and how many more Python calls it made than ``small()`` (after a warm-up run).

    The warm-up keeps one-time work (imports, caches) out of the comparison.
    """
    small()
    _, base = python_calls(small)
    result, count = python_calls(big)
    return result, count - base
