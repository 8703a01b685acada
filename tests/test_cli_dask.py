"""Issue 15: ``gridmap coverage --tracks DIR`` and ``gridmap hotspots --reports DIR``, ``--scheduler``/``--workers``.

What is checked against what: the CSV of a command reading the archive with Dask against the CSV of the same
command reading the workspace (the archive holds the same rows: ``gridmap archive`` of the same window), per
grid or cell; the refusals by hand: exit status 2, one ``gridmap: error:`` line on stderr naming the flag or
the command that fixes it, no traceback, no file written. The equalities need the archive paths of
``sweep_coverage`` and ``hotspots`` (issue 15's helpers ``dcov`` and ``dhot``); the refusals need only the CLI.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gridmap.cli import main
from gridmap.errors import SchemaError
from gridmap.jobs.scheduler import SCHEDULERS, check_scheduler, scheduler_kind

Cap = pytest.CaptureFixture[str]
DAYS = ["--from", "2025-03-03", "--to", "2025-03-05"]
MONTHS = ["--from", "2025-01-01", "--to", "2025-03-01"]


@pytest.fixture(scope="module")
def archive(sample_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample's fixes of two days and reports of two months, archived with ``gridmap archive``."""
    folder = tmp_path_factory.mktemp("cli-archive") / "archive"
    assert main(["archive", str(sample_template), str(folder), *DAYS]) == 0
    assert main(["archive", str(sample_template), str(folder), "--layer", "reports", *MONTHS]) == 0
    return folder


def _coverage_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"grid_code": str, "community_code": str}, encoding="utf-8-sig") \
        .sort_values("grid_code").reset_index(drop=True)


# -- the same answers -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", [["--scheduler", "synchronous"], ["--scheduler", "threads", "--workers", "2"]],
                         ids=["synchronous", "threads-2"])
def test_coverage_of_the_archive_gives_the_workspace_csv(sample_template: Path, archive: Path, tmp_path: Path,
                                                         how: list[str], capsys: Cap) -> None:
    ws = str(sample_template)
    assert main(["coverage", ws, *DAYS, "--quiet", "--csv", str(tmp_path / "ws.csv")]) == 0
    assert main(["coverage", ws, *DAYS, "--quiet", "--tracks", str(archive), *how,
                 "--csv", str(tmp_path / "dask.csv")]) == 0
    ours, theirs = _coverage_csv(tmp_path / "ws.csv"), _coverage_csv(tmp_path / "dask.csv")
    assert list(theirs.columns) == list(ours.columns) and len(ours) == 36
    assert ours["covered_m2"].gt(0).any()
    close = ["covered_m2", "coverage_ratio"]
    pd.testing.assert_frame_equal(theirs.drop(columns=close), ours.drop(columns=close))
    tolerance = 1e-9 * ours["area_m2"].to_numpy()
    assert np.all(np.abs(theirs["covered_m2"].to_numpy() - ours["covered_m2"].to_numpy()) <= tolerance)
    out = capsys.readouterr().out.splitlines()
    summaries = [line for line in out if line.startswith("coverage of 36 grids")]
    assert len(summaries) == 2 and summaries[0] == summaries[1]  # the same percent and the same fixes used


def test_hotspots_of_the_archive_give_the_workspace_csv(sample_template: Path, archive: Path, tmp_path: Path) -> None:
    ws, cells = str(sample_template), ["--cells", "fishnet", "--size", "250", "--interval", "week"]
    assert main(["hotspots", ws, *MONTHS, *cells, "--csv", str(tmp_path / "ws.csv")]) == 0
    assert main(["hotspots", ws, *MONTHS, *cells, "--reports", str(archive), "--scheduler", "synchronous",
                 "--csv", str(tmp_path / "dask.csv")]) == 0
    ours = pd.read_csv(tmp_path / "ws.csv", encoding="utf-8-sig")
    theirs = pd.read_csv(tmp_path / "dask.csv", encoding="utf-8-sig")
    assert ours["count"].sum() > 0
    pd.testing.assert_frame_equal(theirs, ours, rtol=1e-12)


# -- refusals -------------------------------------------------------------------------------------------------------


def _refused(words: list[str], capsys: Cap, *fragments: str) -> str:
    """Run the command; it must fail with status 2 and one error line naming every fragment, nothing on stdout."""
    capsys.readouterr()
    assert main(words) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = [line for line in captured.err.splitlines() if line.startswith("gridmap: error:")]
    assert len(lines) == 1 and "Traceback" not in captured.err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def _closed_port() -> int:
    """A port of 127.0.0.1 where nothing listens (bound, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("words, fragments", [
    (["--scheduler", "threads"], ["--scheduler and --workers", "--tracks DIR", "gridmap archive"]),
    (["--workers", "2"], ["--scheduler and --workers", "--tracks DIR"]),
    (["--tracks", "{archive}", "--workers", "0"], ["--workers", "1 or more"]),
    (["--tracks", "{archive}", "--workers", "-3"], ["--workers", "1 or more"]),
    (["--tracks", "{archive}", "--scheduler", "gpu"], ["--scheduler threads|processes|synchronous|tcp://HOST:PORT"]),
    (["--tracks", "{archive}", "--scheduler", "tcp://127.0.0.1"], ["tcp://HOST:PORT", "--scheduler"]),
    (["--tracks", "{archive}", "--scheduler", "tcp://127.0.0.1:8786", "--workers", "2"],
     ["--workers", "its own workers", "drop --workers"]),
    (["--tracks", "{archive}", "--scheduler", "synchronous", "--workers", "2"], ["synchronous", "drop --workers"]),
    (["--tracks", "{empty}"], ["is not an archive of tracks", "gridmap archive WORKSPACE", "--from DAY --to DAY"]),
    (["--tracks", "{archive}/tracks"], ["is not an archive of tracks", "gridmap archive WORKSPACE"]),
], ids=["scheduler-alone", "workers-alone", "workers-0", "workers-negative", "unknown-scheduler", "no-port",
        "workers-with-address", "workers-with-synchronous", "empty-folder", "the-layer-folder"])
def test_coverage_refusals(sample_template: Path, archive: Path, tmp_path: Path, capsys: Cap, words: list[str],
                           fragments: list[str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    words = [w.format(archive=archive, empty=empty) for w in words]
    csv = tmp_path / "out.csv"
    _refused(["coverage", str(sample_template), *DAYS, "--quiet", "--csv", str(csv), *words], capsys, *fragments)
    assert not csv.exists()


def test_an_unreachable_cluster_is_named_with_how_to_start_one(sample_template: Path, archive: Path, tmp_path: Path,
                                                               capsys: Cap) -> None:
    address = f"tcp://127.0.0.1:{_closed_port()}"
    line = _refused(["coverage", str(sample_template), *DAYS, "--quiet", "--tracks", str(archive),
                     "--scheduler", address, "--csv", str(tmp_path / "out.csv")], capsys,
                    f"no Dask scheduler answers at {address}", "dask scheduler", f"dask worker {address}")
    assert "--scheduler threads|processes" in line and not (tmp_path / "out.csv").exists()


def test_without_dask_the_message_names_the_extra(sample_template: Path, archive: Path, capsys: Cap,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` now raises ImportError
    _refused(["coverage", str(sample_template), *DAYS, "--quiet", "--tracks", str(archive)], capsys,
             "pip install 'gridmap[dask]'")


def test_a_bad_workers_number_is_a_usage_error(sample_template: Path, archive: Path, capsys: Cap) -> None:
    _refused(["coverage", str(sample_template), "--tracks", str(archive), "--workers", "two"], capsys,
             "--workers", "invalid int value")


@pytest.mark.parametrize("words, fragments", [
    (["--scheduler", "processes"], ["--scheduler and --workers", "--reports DIR", "--layer reports"]),
    (["--reports", "{archive}/../nowhere"], ["is not an archive of reports", "--layer reports"]),
    (["--reports", "{archive}", "--workers", "0"], ["--workers", "1 or more"]),
    (["--reports", "{archive}", "--from", "2024-01-01", "--to", "2024-02-01"],
     ["holds no day of reports in the window", "gridmap archive WORKSPACE"]),
], ids=["scheduler-alone", "missing-folder", "workers-0", "no-day-in-window"])
def test_hotspots_refusals(sample_template: Path, archive: Path, tmp_path: Path, capsys: Cap, words: list[str],
                           fragments: list[str]) -> None:
    words = [w.format(archive=archive) for w in words]
    _refused(["hotspots", str(sample_template), *MONTHS, "--csv", str(tmp_path / "h.csv"), *words], capsys,
             *fragments)
    assert not (tmp_path / "h.csv").exists()


def test_a_tracks_only_archive_is_no_reports_archive(sample_template: Path, tmp_path: Path, capsys: Cap) -> None:
    folder = tmp_path / "tracks-only"
    assert main(["archive", str(sample_template), str(folder), *DAYS]) == 0
    _refused(["hotspots", str(sample_template), *MONTHS, "--reports", str(folder)], capsys,
             "is not an archive of reports", f"gridmap archive WORKSPACE {folder} --layer reports")


# -- the choice of scheduler, as text -------------------------------------------------------------------------------

HOSTS = st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z0-9-]{1,10}){0,3}", fullmatch=True)


@given(host=HOSTS, port=st.integers(0, 65535))
@example(host="localhost", port=8786)
def test_an_address_is_a_scheduler(host: str, port: int) -> None:
    address = f"tcp://{host}:{port}"
    assert scheduler_kind(address) == "address" and check_scheduler(address) == "address"


@given(text=st.text(max_size=30))
@example(text="")
@example(text="thread")
@example(text="tcp://")
@example(text="tcp://host")
@example(text="tcp://host:70000")
@example(text="tcp://host:port")
@example(text="tcp://:8786")
@example(text="tcp://host:8786/path")
@example(text="tls://host:8786")
@example(text="tcp://[::1]:8786")
@example(text="tcp://[::1:8786")
@example(text="tcp://[zz]:8786")
@example(text="tcp://host:+1")
@example(text="tcp://host:１")
@example(text="tcp://user@host:8786")
@example(text=" threads ")
def test_anything_else_is_refused_naming_the_flag(text: str) -> None:
    """Only the three names and tcp://HOST:PORT (a host, a port of 0-65535, nothing after) are schedulers."""
    import ipaddress
    import re

    plain = text.strip()
    match = re.fullmatch(r"tcp://([^:/?#@\[\]\s]+|\[[^\]]*\]):([0-9]+)/?", plain, flags=re.IGNORECASE)
    valid = plain in SCHEDULERS or (match is not None and int(match.group(2)) <= 65535)
    if valid and match is not None and match.group(1).startswith("["):
        try:
            ipaddress.IPv6Address(match.group(1)[1:-1])
        except ValueError:
            valid = False
    if valid:
        assert scheduler_kind(text) in (*SCHEDULERS, "address")
    else:
        with pytest.raises(SchemaError, match="--scheduler"):
            scheduler_kind(text)
