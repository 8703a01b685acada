"""A real Dask cluster for the tests: one ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1.

Not a LocalCluster inside the test process: three separate programs, started as a person starts them
(``python -m dask scheduler`` / ``python -m dask worker tcp://...``, the ``dask`` command of this Python),
talking over TCP. The scheduler takes a free port (``--port 0``) and writes its address to a scheduler
file; each worker has one process of one thread (the machine has 2 cores) and imports the gridmap of this
checkout (``PYTHONPATH`` is the repository's root). The fixture waits until both workers have joined (or
fails with the programs' stderr), yields the address, and stops the programs afterwards, also when a test
or the start failed.

Use it in a test module as::

    from _dask_cluster import dask_cluster  # noqa: F401  (the module-scoped fixture)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Generator, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKERS = 2
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 15.0


@dataclass
class Cluster:
    """The running cluster: its address and the processes started for it (scheduler first)."""

    address: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    @property
    def worker_pids(self) -> list[int]:
        """The process ids of the ``dask worker`` programs started (each the parent of its worker)."""
        return [p.pid for p in self.processes[1:]]


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env.pop("PYTHONWARNINGS", None)
    return env


def _start(args: list[str], log: Path, folder: Path) -> subprocess.Popen[bytes]:
    """Start ``python -m dask ARGS`` in its own process group, its output to `log`."""
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "dask", *args], stdout=out, stderr=subprocess.STDOUT,
                                cwd=folder, env=_environment(), start_new_session=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop one started program and its children (its process group): SIGTERM, then SIGKILL after a while."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT_S)
    except ProcessLookupError:
        process.wait(timeout=STOP_TIMEOUT_S)


def _logs(cluster: Cluster) -> str:
    return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-4000:]}" for log in cluster.logs
                     if log.exists())


def _wait_for_address(cluster: Cluster, scheduler_file: Path, deadline: float) -> str:
    while time.monotonic() < deadline:
        if cluster.processes[0].poll() is not None:
            pytest.fail(f"dask scheduler exited with {cluster.processes[0].returncode}:\n{_logs(cluster)}")
        if scheduler_file.exists():
            try:
                return str(json.loads(scheduler_file.read_text())["address"])
            except (ValueError, KeyError):
                pass  # written but not complete yet
        time.sleep(0.2)
    pytest.fail(f"dask scheduler wrote no address in {START_TIMEOUT_S:.0f} s:\n{_logs(cluster)}")


def _wait_for_workers(cluster: Cluster, deadline: float) -> None:
    from distributed import Client

    with Client(cluster.address, timeout=max(1.0, deadline - time.monotonic())) as client:
        while time.monotonic() < deadline:
            if len(client.scheduler_info(n_workers=-1)["workers"]) >= WORKERS:
                return
            dead = [p for p in cluster.processes if p.poll() is not None]
            if dead:
                pytest.fail(f"a dask program exited with {dead[0].returncode}:\n{_logs(cluster)}")
            time.sleep(0.2)
    pytest.fail(f"{WORKERS} dask workers did not join in {START_TIMEOUT_S:.0f} s:\n{_logs(cluster)}")


@contextmanager
def running_cluster(folder: Path) -> Iterator[Cluster]:
    """Start the scheduler and the workers in `folder`, wait for them, yield the cluster, stop them all."""
    deadline = time.monotonic() + START_TIMEOUT_S
    scheduler_file = folder / "scheduler.json"
    cluster = Cluster(address="")
    with ExitStack() as stack:
        log = folder / "scheduler.log"
        cluster.logs.append(log)
        scheduler = _start(["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                            "--dashboard-address", "127.0.0.1:0",
                            "--scheduler-file", str(scheduler_file)], log, folder)
        cluster.processes.append(scheduler)
        stack.callback(_stop, scheduler)
        cluster.address = _wait_for_address(cluster, scheduler_file, deadline)
        for number in range(WORKERS):
            log = folder / f"worker-{number}.log"
            cluster.logs.append(log)
            worker = _start(["worker", cluster.address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard",
                             "--memory-limit", "2GiB", "--name", f"gridmap-test-{number}",
                             "--local-directory", str(folder / f"worker-{number}")], log, folder)
            cluster.processes.append(worker)
            stack.callback(_stop, worker)  # stopped before the scheduler (last in, first out)
        _wait_for_workers(cluster, deadline)
        yield cluster


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Generator[Cluster, None, None]:
    """A real two-worker Dask cluster on 127.0.0.1 for the test module (see the module's description)."""
    with running_cluster(tmp_path_factory.mktemp("dask-cluster")) as cluster:
        yield cluster
