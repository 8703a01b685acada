"""Run a measurement in a forked child, so that its peak memory (``ru_maxrss``) is its own."""

from __future__ import annotations

import multiprocessing as mp
from typing import Any, Callable


def in_child(target: Callable[..., None], *args: Any) -> Any:
    """Call ``target(queue, *args)`` in a forked process and return what it put on the queue."""
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=target, args=(queue, *args))
    child.start()
    out = queue.get()
    child.join()
    return out
