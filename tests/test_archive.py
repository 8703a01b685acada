"""The GeoParquet archive (issue 15, first part): ``gridmap archive`` and ``gridmap.read_archive``.

What is checked against what: the files with pyarrow's own reading of their metadata (the ``geo`` key of
GeoParquet 1.1, the covering column, the codec of every column chunk) and the days by Asia/Shanghai dates
computed here; the rows read back against the workspace's layer filtered by brute force in pandas/shapely.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import shapely
from hypothesis import example, given, settings
from hypothesis import strategies as st

import gridmap
from gridmap.cli import main
from gridmap.errors import SchemaError

TZ = "Asia/Shanghai"
WEEK = ("2025-03-03", "2025-03-10")


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("archive")
    path = folder / "w.gpkg"
    with gridmap.init_workspace(path, sample=True) as ws:
        tracks, reports = ws.read_layer("tracks"), ws.read_layer("reports")
        done = gridmap.archive_layer(ws, folder / "a", layer="tracks", start=WEEK[0], end=WEEK[1])
        gridmap.archive_layer(ws, folder / "a", layer="reports", start="2025-01-01", end="2025-04-01")
    return {"path": path, "dir": folder / "a", "tracks": tracks, "reports": reports, "done": done}


def in_window(frame: pd.DataFrame, column: str, start: Any, end: Any, bbox: Any = None) -> pd.DataFrame:
    """The rows of `frame` with start <= time < end whose geometry meets bbox (brute force)."""
    keep = frame[column].notna()
    if start is not None:
        keep &= frame[column] >= pd.Timestamp(start, tz=TZ)
    if end is not None:
        keep &= frame[column] < pd.Timestamp(end, tz=TZ)
    if bbox is not None:
        keep &= frame.geometry.intersects(shapely.box(*bbox))
    return frame[keep.to_numpy()]


def by_key(frame: pd.DataFrame, key: list[str], time: str) -> pd.DataFrame:
    out = pd.DataFrame({k: frame[k].astype(str) for k in key if k != time})
    out[time] = pd.to_datetime(frame[time]).dt.tz_convert("UTC").to_numpy()
    out["wkb"] = shapely.to_wkb(frame.geometry.to_numpy())
    return out.sort_values(key).reset_index(drop=True)


def test_one_folder_a_day_of_valid_geoparquet(sample: dict[str, Any]) -> None:
    root = sample["dir"] / "tracks"
    week = in_window(sample["tracks"], "time", *WEEK)
    days = sorted(week["time"].dt.tz_convert(TZ).dt.strftime("%Y-%m-%d").unique())
    assert sorted(p.name for p in root.iterdir()) == [f"date={d}" for d in days] and len(days) == 7
    assert sample["done"].days == days and sample["done"].rows == len(week)
    for day in days:
        path = root / f"date={day}" / "part-0.parquet"
        meta = pq.read_metadata(path)
        geo = json.loads(meta.metadata[b"geo"])
        assert geo["version"] == "1.1.0" and geo["primary_column"] == "geometry"
        column = geo["columns"]["geometry"]
        assert column["encoding"] == "WKB" and column["geometry_types"] == ["Point"]
        assert column["covering"]["bbox"]["xmin"] == ["bbox", "xmin"]
        assert column.get("crs") is None or column["crs"]["id"] == {"authority": "EPSG", "code": 4326}
        codecs = {meta.row_group(g).column(c).compression for g in range(meta.num_row_groups)
                  for c in range(meta.num_columns)}
        assert codecs == {"ZSTD"}
        table = pq.read_table(path)
        times = pd.Series(table.column("time").to_pandas()).dt.tz_convert(TZ)
        assert set(times.dt.strftime("%Y-%m-%d")) == {day}
        assert len(table) == int((week["time"].dt.tz_convert(TZ).dt.strftime("%Y-%m-%d") == day).sum())


def test_a_day_is_sorted_so_that_near_fixes_are_near_in_the_file(sample: dict[str, Any]) -> None:
    """Consecutive rows are much nearer each other than in time order (the spatial sort row groups rely on)."""
    path = sample["dir"] / "tracks" / "date=2025-03-04" / "part-0.parquet"
    filed = gridmap.read_archive(sample["dir"], start="2025-03-04", end="2025-03-05").compute()
    stored = pq.read_table(path).num_rows
    assert len(filed) == stored

    def mean_step(frame: Any) -> float:
        xy = shapely.get_coordinates(frame.geometry.to_numpy())
        return float(np.hypot(*np.diff(xy, axis=0).T).mean())

    timed = filed.sort_values(["time", "inspector"])
    assert mean_step(filed) < mean_step(timed) / 5


def test_archiving_again_gives_the_same_bytes_and_new_days_leave_old_ones_alone(
        sample: dict[str, Any], tmp_path: Path) -> None:
    target = tmp_path / "again"
    with gridmap.open_workspace(sample["path"]) as ws:
        gridmap.archive_layer(ws, target, start="2025-03-03", end="2025-03-06")
        first = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(target.rglob("*.parquet"))}
        gridmap.archive_layer(ws, target, start="2025-03-06", end="2025-03-08")
        after_new = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in first}
        gridmap.archive_layer(ws, target, start="2025-03-03", end="2025-03-06")
    assert after_new == first  # the new days did not touch the old ones
    assert {p: p.read_bytes() for p in first} == {p: b for p, (b, _) in first.items()}  # re-archived: same bytes
    assert len(list(target.rglob("*.parquet"))) == 5
    assert not list(target.rglob("*.tmp"))


window_day = st.integers(0, 8).map(lambda d: pd.Timestamp("2025-03-02") + pd.Timedelta(days=d))


@settings(max_examples=12, deadline=None)
@given(start=st.none() | window_day, hours=st.none() | st.integers(1, 200),
       box=st.none() | st.tuples(st.floats(0, 0.6), st.floats(0, 0.6), st.floats(0.1, 0.5), st.floats(0.1, 0.5)))
@example(start=pd.Timestamp("2025-03-04"), hours=1, box=None)
@example(start=None, hours=None, box=(0.2, 0.2, 0.3, 0.3))
@example(start=pd.Timestamp("2025-03-09 23:00"), hours=3, box=None)  # the last hour of the week and after it
def test_a_window_read_back_is_the_workspace_filtered(sample: dict[str, Any], start: Any, hours: Any,
                                                      box: Any) -> None:
    end = None if hours is None else (start or pd.Timestamp(WEEK[0])) + pd.Timedelta(hours=hours)
    week = in_window(sample["tracks"], "time", *WEEK)
    bbox = None
    if box is not None:  # a box in the fixes' extent, as fractions of it
        x0, y0, x1, y1 = week.total_bounds
        fx, fy, w, h = box
        bbox = (x0 + fx * (x1 - x0), y0 + fy * (y1 - y0), x0 + (fx + w) * (x1 - x0), y0 + (fy + h) * (y1 - y0))
    want = in_window(week, "time", start, end, bbox)
    try:
        got = gridmap.read_archive(sample["dir"], start=start, end=end, bbox=bbox)
    except SchemaError:
        assert want.empty  # no archived day in the window
        return
    days = {d for d in want["time"].dt.tz_convert(TZ).dt.strftime("%Y-%m-%d")}
    assert got.npartitions >= len(days)
    pd.testing.assert_frame_equal(by_key(got.compute(), ["inspector", "time"], "time"),
                                  by_key(want, ["inspector", "time"], "time"))


def test_a_window_opens_only_its_days(sample: dict[str, Any]) -> None:
    assert gridmap.read_archive(sample["dir"], start="2025-03-04 08:00", end="2025-03-05 08:00").npartitions == 2
    assert gridmap.read_archive(sample["dir"]).npartitions == 7
    with pytest.raises(SchemaError, match="gridmap archive"):
        gridmap.read_archive(sample["dir"], start="2026-01-01")


def test_reports_are_archived_and_read_back_too(sample: dict[str, Any]) -> None:
    want = in_window(sample["reports"], "reported_at", "2025-02-01", "2025-03-01")
    got = gridmap.read_archive(sample["dir"], layer="reports", start="2025-02-01", end="2025-03-01").compute()
    assert len(want) > 100
    assert sorted(got["report_id"]) == sorted(want["report_id"])
    merged = got.set_index("report_id").loc[want["report_id"]]
    assert (merged["category"].to_numpy() == want["category"].to_numpy()).all()


def test_the_command_archives_and_refuses_what_it_cannot(sample: dict[str, Any], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "cli"
    assert main(["archive", str(sample["path"]), str(target), "--layer", "reports", "--from", "2025-03-01",
                 "--to", "2025-03-08", "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    want = in_window(sample["reports"], "reported_at", "2025-03-01", "2025-03-08")
    assert done["rows"] == len(want) and done["days"] == [f"2025-03-0{d}" for d in range(1, 8)]
    assert main(["archive", str(sample["path"]), str(target), "--from", "2030-01-01", "--to", "2030-01-02"]) == 0
    assert "nothing archived" in capsys.readouterr().out
    assert main(["archive", str(sample["path"]), str(target), "--layer", "grids"]) == 2
    assert "invalid choice" in capsys.readouterr().err


class CountingFile:
    """A file object that counts the bytes read through it (what a reader really touched)."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "rb")
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        data = self._file.read(size)
        self.bytes_read += len(data)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


def test_a_box_read_touches_only_the_row_groups_meeting_the_box(tmp_path: Path) -> None:
    # a day of 70,000 fixes: several row groups of ROW_GROUP_ROWS; one grid's box meets only a few of them
    boundaries = gridmap.sample_boundaries()
    tracks = gridmap.sample_tracks(boundaries, days=1, n_fixes=70_000)
    with gridmap.init_workspace(tmp_path / "w.gpkg") as ws:
        ws.append("grids", boundaries["grids"])
        ws.append("tracks", tracks)
        gridmap.archive_layer(ws, tmp_path / "a", start="2025-03-03", end="2025-03-04")
    day = gridmap.archive.archive_files(tmp_path / "a")[0]
    meta = pq.ParquetFile(day).metadata
    assert meta.num_row_groups >= 5 and all(
        meta.row_group(g).num_rows <= gridmap.archive.ROW_GROUP_ROWS for g in range(meta.num_row_groups))
    box = tuple(boundaries["grids"].geometry.iloc[0].bounds)
    # independently, from the footer's statistics: the row groups whose bbox columns can meet the box
    names = [meta.schema.column(c).path for c in range(meta.num_columns)]
    stat = {k: names.index(f"bbox.{k}") for k in ("xmin", "ymin", "xmax", "ymax")}
    meeting = [g for g in range(meta.num_row_groups)
               if meta.row_group(g).column(stat["xmin"]).statistics.min <= box[2]
               and meta.row_group(g).column(stat["xmax"]).statistics.max >= box[0]
               and meta.row_group(g).column(stat["ymin"]).statistics.min <= box[3]
               and meta.row_group(g).column(stat["ymax"]).statistics.max >= box[1]]
    assert 0 < len(meeting) < meta.num_row_groups / 2  # the Hilbert order keeps a grid's fixes together
    # the reader's filter, given to pyarrow, reads exactly those row groups' bytes, no others
    from gridmap.archive import _day_filter  # the window expression read_archive_points gives pyarrow

    counting = CountingFile(day)
    try:
        got = pq.read_table(counting, columns=["inspector", "time", "bbox"],
                            filters=_day_filter("time", None, None, box))
    finally:
        counting.close()
    chunk_bytes = {g: sum(meta.row_group(g).column(c).total_compressed_size for c in range(meta.num_columns)
                          if names[c].split(".")[0] in ("inspector", "time", "bbox"))
                   for g in range(meta.num_row_groups)}
    assert counting.bytes_read < sum(chunk_bytes[g] for g in meeting) + 200_000  # + the footer
    assert counting.bytes_read < sum(chunk_bytes.values()) / 2
    # and the rows are exactly those meeting the box (brute force on the workspace's fixes)
    want = tracks[tracks.geometry.intersects(shapely.box(*box))]
    points = gridmap.archive.read_archive_points(day, bbox=box)
    assert len(points.x) == len(want) > 0 and got.num_rows >= len(want)
    assert sorted(zip(points.x.round(9), points.y.round(9))) == sorted(
        zip(want.geometry.x.round(9).to_numpy(), want.geometry.y.round(9).to_numpy()))


def test_a_broken_day_file_is_named_with_how_to_write_it_again(sample: dict[str, Any], tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    # a day cut short or overwritten: every reader says which file and how to write the day again, no traceback
    from gridmap.errors import ReadError

    broken = tmp_path / "broken"
    for layer in ("tracks", "reports"):
        day = broken / layer / "date=2025-03-03"
        day.mkdir(parents=True)
        (day / "part-0.parquet").write_bytes(b"PAR1 cut short")
    with pytest.raises(ReadError, match="part-0.parquet is not a readable day of an archive.*gridmap archive"):
        gridmap.archive.read_archive_points(broken / "tracks" / "date=2025-03-03" / "part-0.parquet")
    with pytest.raises(ReadError, match="write that day again"):
        gridmap.read_archive(broken, start="2025-03-03", end="2025-03-04")
    for args in (["coverage", str(sample["path"]), "--tracks", str(broken), "--from", "2025-03-03", "--to",
                  "2025-03-04", "--scheduler", "synchronous", "--quiet"],
                 ["hotspots", str(sample["path"]), "--reports", str(broken), "--scheduler", "synchronous"]):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert "is not a readable day of an archive" in err and "gridmap archive" in err and "Traceback" not in err
