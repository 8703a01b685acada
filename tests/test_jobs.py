"""The jobs room (issue 13): the analysis reads frames or any ``read_layer`` object and never opens a path;
the jobs open a workspace (or its path), hand the frames in, and give the public results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import gridmap
from gridmap.analysis import spotcheck as analysis_spotcheck
from gridmap.analysis import supervision as analysis_supervision
from gridmap.analysis.inputs import LayerReader
from gridmap.analysis.recurrence import recurrences
from gridmap.errors import SchemaError
from gridmap.jobs import spotcheck as job_spotcheck
from gridmap.jobs import supervision as job_supervision

WEEK = {"start": "2025-03-03", "end": "2025-03-10"}


class Reader:
    """A store as the analysis sees it: layers by name (each read counted) and facts; no path, no SQL."""

    def __init__(self, layers: dict[str, Any], meta: dict[str, str] | None = None) -> None:
        self._layers = layers
        self.meta = dict(meta or {})
        self.reads: list[str] = []

    def read_layer(self, name: str) -> Any:
        self.reads.append(name)
        return self._layers.get(name)


@pytest.fixture(scope="module")
def layers() -> dict[str, Any]:
    return gridmap.sample_layers(n_reports=400, track_days=7)


def test_the_analysis_reads_a_reader_once_and_as_a_dict(layers: dict[str, Any]) -> None:
    reader = Reader(layers, {"illustrative": "true"})
    from_reader = analysis_supervision.scoreboard(reader, **WEEK, lang="en", now=pd.Timestamp("2026-01-01", tz="UTC"))
    from_dict = analysis_supervision.scoreboard(layers, **WEEK, lang="en", now=pd.Timestamp("2026-01-01", tz="UTC"))
    pd.testing.assert_frame_equal(from_reader, from_dict)
    # each layer read exactly once, and only the layers the scoreboard documents
    assert sorted(reader.reads) == sorted(set(reader.reads))
    assert set(reader.reads) == {"grids", "communities", "reports", "rectifications", "spotchecks", "tracks",
                                 "streets", "areas"}
    # the reader's facts reach the table; a dict of layers has none
    assert from_reader.attrs["illustrative"] is True and from_dict.attrs["illustrative"] is False


@pytest.mark.parametrize("call", [
    lambda src: analysis_supervision.scoreboard(src, **WEEK),
    lambda src: analysis_supervision.run_scoreboard(src, **WEEK),
    lambda src: analysis_supervision.weekly_figures(src, end=WEEK["end"]),
    lambda src: analysis_spotcheck.spot_check(src, n=5, seed=1),
], ids=["scoreboard", "run_scoreboard", "weekly_figures", "spot_check"])
@pytest.mark.parametrize("as_text", [True, False])
def test_the_analysis_refuses_a_path_and_names_what_opens_it(call: Any, as_text: bool, tmp_path: Path) -> None:
    path = tmp_path / "w.gpkg"
    with pytest.raises(SchemaError, match=r"not a path .*gridmap\.open_workspace"):
        call(str(path) if as_text else path)
    assert not path.exists()  # nothing opened, nothing created


def test_the_jobs_open_a_path_and_give_what_the_analysis_gives_the_open_store(tmp_path: Path) -> None:
    path = tmp_path / "w.gpkg"
    gridmap.init_workspace(path, sample=True).close()
    now = pd.Timestamp("2026-01-01", tz="UTC")
    board = job_supervision.scoreboard(path, **WEEK, lang="en", now=now)
    with gridmap.open_workspace(path) as ws:
        assert isinstance(ws, LayerReader)
        same = analysis_supervision.scoreboard(ws, **WEEK, lang="en", now=now)
        drawn = analysis_spotcheck.spot_check(ws, n=9, seed=7, **WEEK)
    pd.testing.assert_frame_equal(board, same)
    assert board.attrs["illustrative"] is True  # the sample workspace says so in its metadata
    sample = job_spotcheck.spot_check(path, n=9, seed=7, **WEEK)
    assert sample.checklist["report_id"].tolist() == drawn.checklist["report_id"].tolist()
    assert sample.illustrative and drawn.illustrative


def test_the_public_names_are_the_jobs_and_a_job_sample_is_an_analysis_sample(layers: dict[str, Any]) -> None:
    assert gridmap.scoreboard is job_supervision.scoreboard
    assert gridmap.weekly_figures is job_supervision.weekly_figures
    assert gridmap.spot_check is job_spotcheck.spot_check and gridmap.SpotCheck is job_spotcheck.SpotCheck
    assert gridmap.Rules is analysis_supervision.Rules
    assert gridmap.write_scoreboard is analysis_supervision.write_scoreboard
    sample = gridmap.spot_check(layers, n=10, seed=3)
    drawn = analysis_spotcheck.spot_check(layers, n=10, seed=3)
    assert isinstance(sample, analysis_spotcheck.SpotCheck) and not hasattr(drawn, "to_html")
    pd.testing.assert_frame_equal(pd.DataFrame(sample.checklist), pd.DataFrame(drawn.checklist))
    # the job rounds the grid outlines for the page (6 decimals); the analysis keeps them as they are, in EPSG:4326
    assert sample.grids is not None and drawn.grids is not None
    assert drawn.grids.crs.to_epsg() == 4326 and len(sample.grids) == len(drawn.grids)
    xy = shapely.get_coordinates(np.asarray(sample.grids.geometry.values, dtype=object))
    assert np.array_equal(xy, np.round(xy, 6))
    raw = shapely.get_coordinates(np.asarray(drawn.grids.geometry.values, dtype=object))
    assert np.abs(raw - xy).max() <= 0.5e-6 + 1e-12


def test_recurrences_read_a_reader_like_the_frames(layers: dict[str, Any]) -> None:
    reader = Reader(layers)
    assert not isinstance(layers["reports"], LayerReader)  # a frame is never taken for a store
    via_reader = recurrences(reader)
    via_frames = recurrences(layers["reports"], rectifications=layers["rectifications"])
    pd.testing.assert_frame_equal(via_reader, via_frames)
    assert reader.reads == ["reports", "rectifications"]
    assert isinstance(layers["reports"], gpd.GeoDataFrame)


def test_a_job_checks_its_options_before_it_opens_a_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.gpkg"
    with pytest.raises(SchemaError, match="by='street' is not known"):
        gridmap.spot_check(missing, n=5, seed=1, by="street")
    with pytest.raises(SchemaError, match="weeks must be 1 or more"):
        gridmap.weekly_figures(missing, weeks=0)
    assert not missing.exists()
    with pytest.raises(SchemaError, match="takes a workspace, its path or a dict of layers, not int"):
        gridmap.spot_check(42, n=5, seed=1)  # type: ignore[arg-type]


def test_a_frame_is_never_taken_for_a_store_even_with_a_read_layer_column(layers: dict[str, Any]) -> None:
    reports = layers["reports"].assign(read_layer=1)
    out = recurrences(reports, rectifications=layers["rectifications"])
    ref = recurrences(layers["reports"], rectifications=layers["rectifications"])
    assert out["report_id"].tolist() == ref["report_id"].tolist()
    with pytest.raises(SchemaError, match="not DataFrame"):
        analysis_supervision.scoreboard(pd.DataFrame({"read_layer": [1]}), **WEEK)
