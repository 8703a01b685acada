"""Which Dask scheduler computes an archive's analysis: this machine's threads or processes, or a cluster.

The analyses that read a GeoParquet archive (``sweep_coverage`` of an archive's tracks, ``hotspots`` of its
reports) build Dask graphs and compute them with whatever scheduler is active. :func:`dask_scheduler` makes
one active for a ``with`` block, as the command line's ``--scheduler`` and ``--workers`` choose it:

* ``"threads"``: a :class:`distributed.LocalCluster` of threads inside this process (one worker with
  a thread per core, or ``workers`` workers sharing the cores);
* ``"processes"``: a :class:`distributed.LocalCluster` of ``workers`` worker processes (default: one per
  core), one thread each: for the parts of the work that hold Python's GIL;
* ``"synchronous"``: Dask's synchronous scheduler, everything in the calling thread (for debugging and
  for the smallest archives);
* ``"tcp://HOST:PORT"``: a :class:`distributed.Client` of a running scheduler, whose workers (started
  with ``dask scheduler`` and ``dask worker tcp://HOST:PORT``, on any machines that can read the
  archive) do the work.

A local cluster starts without its dashboard and with its logs silenced, and everything started is
closed when the block ends, also on an error. Dask is an optional extra (``pip install 'gridmap[dask]'``),
imported only when a scheduler is made.

Examples
--------
>>> import dask
>>> with dask_scheduler("synchronous") as client:
...     client, dask.config.get("scheduler")
(None, 'synchronous')
>>> scheduler_kind("tcp://10.0.0.5:8786"), scheduler_kind("threads")
('address', 'threads')
>>> check_scheduler("gpu")
Traceback (most recent call last):
gridmap.errors.SchemaError: --scheduler 'gpu' is not a scheduler: give --scheduler threads|processes|...
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from urllib.parse import urlsplit

from gridmap.errors import GridmapError, SchemaError

__all__ = ["SCHEDULERS", "SCHEDULER_FLAG", "check_scheduler", "dask_scheduler", "scheduler_kind"]

logger = logging.getLogger(__name__)

#: The schedulers on this machine; a running cluster is named by its address ``tcp://HOST:PORT``.
SCHEDULERS = ("threads", "processes", "synchronous")
#: How the command line names the choice.
SCHEDULER_FLAG = "--scheduler threads|processes|synchronous|tcp://HOST:PORT"
#: Seconds to wait for a cluster's scheduler to answer.
CONNECT_TIMEOUT_S = 10.0
_INSTALL = "pip install 'gridmap[dask]'"


def scheduler_kind(scheduler: str) -> str:
    """``"threads"``, ``"processes"`` or ``"synchronous"`` as given, ``"address"`` for ``tcp://HOST:PORT``.

    Raises
    ------
    SchemaError
        Anything else (the message names ``--scheduler`` and its values).
    """
    text = scheduler.strip() if isinstance(scheduler, str) else scheduler
    if text in SCHEDULERS:
        return str(text)
    if isinstance(text, str) and text.lower().startswith("tcp://"):
        _host_port(text)
        return "address"
    raise SchemaError(f"--scheduler {scheduler!r} is not a scheduler: give {SCHEDULER_FLAG} (the address of a "
                      "running `dask scheduler`)")


def _host_port(address: str) -> tuple[str, int]:
    """The host and port of ``tcp://HOST:PORT`` (refused without either, or with a path)."""
    try:
        parts = urlsplit(address.strip())
        port = parts.port
    except ValueError:  # a bad port or IPv6 literal
        parts, port = urlsplit(""), None
    host = parts.hostname or ""
    if not host or any(c.isspace() for c in host) or port is None or "@" in parts.netloc \
            or parts.path not in ("", "/") or parts.query or parts.fragment or "#" in address or "?" in address:
        raise SchemaError(f"--scheduler {address!r} is not an address: give tcp://HOST:PORT, e.g. "
                          f"tcp://10.0.0.5:8786 ({SCHEDULER_FLAG})")
    return host, port


def check_scheduler(scheduler: str, workers: int | None = None) -> str:
    """Refuse a bad ``--scheduler``/``--workers`` pair before any work; return :func:`scheduler_kind`.

    ``workers`` must be 1 or more; a cluster's address takes none (its workers are its own) and the
    synchronous scheduler runs one.

    Examples
    --------
    >>> check_scheduler("processes", 2)
    'processes'
    >>> check_scheduler("tcp://127.0.0.1:8786", 2)
    Traceback (most recent call last):
    gridmap.errors.SchemaError: --workers is for threads or processes on this machine: the cluster at ...
    """
    kind = scheduler_kind(scheduler)
    if workers is None:
        return kind
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise SchemaError(f"--workers must be a whole number of 1 or more, got {workers!r}")
    if kind == "address":
        raise SchemaError(f"--workers is for threads or processes on this machine: the cluster at {scheduler} has "
                          "its own workers (start more with `dask worker ADDRESS`); drop --workers")
    if kind == "synchronous" and workers != 1:
        raise SchemaError("--scheduler synchronous computes in one thread: drop --workers, or choose "
                          "--scheduler threads or processes")
    return kind


@contextmanager
def dask_scheduler(scheduler: str = "threads", workers: int | None = None) -> Iterator[Any]:
    """Make a Dask scheduler the active one for a ``with`` block; yield its :class:`distributed.Client`.

    Parameters
    ----------
    scheduler : str
        ``"threads"`` (default), ``"processes"``, ``"synchronous"`` or a running scheduler's address
        ``"tcp://HOST:PORT"`` (see the module's description).
    workers : int, optional
        Workers of a local cluster: threads (default 1 worker with a thread per core; N workers share
        the cores) or processes (default one per core, one thread each). Not with an address (the
        cluster has its own) nor, above 1, with ``"synchronous"``.

    Yields
    ------
    distributed.Client or None
        The client, made the default one inside the block; None for ``"synchronous"``.

    Raises
    ------
    SchemaError
        A bad `scheduler` or `workers` (the message names ``--scheduler`` or ``--workers``).
    GridmapError
        Dask or distributed not installed (the message names ``pip install 'gridmap[dask]'``), or no
        scheduler answering at the address (the message says how to start one).
    """
    kind = check_scheduler(scheduler, workers)
    if kind == "synchronous":
        dask = _import("dask")
        with dask.config.set(scheduler="synchronous"):
            yield None
        return
    distributed = _import("distributed")
    with ExitStack() as stack:
        _quiet(stack, "distributed", "bokeh")
        if kind == "address":
            client = _connect(distributed, scheduler.strip())
        else:
            cluster = stack.enter_context(_local_cluster(distributed, kind, workers))
            client = distributed.Client(cluster, set_as_default=True)
        stack.callback(client.close)
        logger.info("Dask scheduler %s: %d worker(s)", client.scheduler.address,
                    len(client.scheduler_info(n_workers=-1).get("workers", {})))
        yield client


def _import(name: str) -> Any:
    """The module `name` of the dask extra, or an error naming how to install it."""
    try:
        return importlib.import_module(name)  # deferred: Dask is an optional extra
    except ImportError:
        raise GridmapError(f"--scheduler needs Dask ({name} is not installed): {_INSTALL}") from None


def _quiet(stack: ExitStack, *names: str) -> None:
    """Only errors from the loggers `names` until `stack` closes (a cluster's start and stop log at INFO); also
    their warnings (a worker near its memory limit) when gridmap logs its own information (``gridmap -v``)."""
    level = logging.WARNING if logger.isEnabledFor(logging.INFO) else logging.ERROR
    for name in names:
        log = logging.getLogger(name)
        stack.callback(log.setLevel, log.level)
        log.setLevel(max(log.getEffectiveLevel(), level))


def _local_cluster(distributed: Any, kind: str, workers: int | None) -> Any:
    """A LocalCluster of threads or processes on this machine, without a dashboard, its logs silenced."""
    cores = os.cpu_count() or 1
    if kind == "threads":
        n_workers = workers or 1
        threads = max(1, cores // n_workers)
    else:
        n_workers, threads = workers or cores, 1
    logger.info("starting a local Dask cluster of %d worker(s) (%s), %d thread(s) each", n_workers, kind, threads)
    return distributed.LocalCluster(processes=kind == "processes", n_workers=n_workers, threads_per_worker=threads,
                                    dashboard_address=None, silence_logs=logging.ERROR,
                                    # no dashboard; its health routes on a free port of this machine only (the
                                    # default 8787 may be another cluster's)
                                    scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})


def _connect(distributed: Any, address: str) -> Any:
    """A Client of the scheduler at `address`, or an error that says how to start one."""
    host, port = _host_port(address)
    how = (f"start one with `dask scheduler --port {port}` on {host} and workers with `dask worker {address}`, "
           f"or choose --scheduler threads|processes to compute on this machine")
    try:  # a refused connection fails at once; distributed would retry it until its timeout
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise GridmapError(f"no Dask scheduler answers at {address} ({exc.strerror or exc}): {how}") from None
    try:
        return distributed.Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=True)
    except (OSError, TimeoutError) as exc:
        raise GridmapError(f"no Dask scheduler answers at {address} ({exc}): {how}") from None
