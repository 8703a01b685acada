"""The illustrative Gulou sample: boundaries, reports and GPS tracks, made by a seeded generator.

**Nothing here is surveyed.** We have no boundaries of Gulou Subdistrict (鼓楼街道,
Yuyang District 榆阳区, Yulin, Shaanxi). Everything this package makes is invented
around the old town of Yulin (about 109.73° E, 38.29° N) so that gridmap can be shown
and tested on data shaped like the real thing: one subdistrict of about 2.4 km by
2.9 km, 6 communities, 36 grids with one cadre each, 3 leaders' areas, streets with
street chiefs, an old city wall with demolition zones along it, must-visit targets,
a year of problem reports and inspectors' GPS fixes. Names and phone numbers are
invented (phones are ``138000000nn``). Written files say so too (the GeoJSON member
``"gridmap_illustrative": true``).

How the boundaries are built
----------------------------
Everything is constructed in metres in CGCS2000 / 3-degree Gauss-Kruger CM 111E
(EPSG:4546). Community and grid boundaries are Voronoi ridges (smoothed by a few
Lloyd iterations) clipped to an irregular outline. All lines are noded together
with snap rounding on a 10 cm grid and polygonised into faces, so neighbouring
faces share identical vertices. Every vertex is then converted to WGS84 with one
transformer and rounded to 7 decimals (about 1 cm); grids, communities, areas and
the subdistrict are dissolved from those faces by cancelling shared edges, never by
a floating-point overlay. Shared vertices therefore stay bit-identical and the
layers tile each other exactly, also after writing and reading GeoJSON.

The parts (each re-exported here, each as invented as the rest)
----------------------------------------------------------------
* :mod:`gridmap.sample.boundaries`: the boundary layers (:func:`sample_boundaries`);
* :mod:`gridmap.sample.writer`: the GeoJSON files saying they are illustrative
  (:func:`write_boundaries`);
* :mod:`gridmap.sample.reports`: reports, rectifications and spot checks;
* :mod:`gridmap.sample.tracks`: inspectors' GPS fixes;
* :mod:`gridmap.sample.common`: what they share (seeded generators, the metric CRS,
  invented names).

The sample imports only the bottom of the house (:mod:`gridmap.model`, :mod:`gridmap.crs`,
:mod:`gridmap.errors`), so every room above it may use it.

Examples
--------
>>> from gridmap.sample import sample_boundaries
>>> b = sample_boundaries()
>>> len(b["communities"]), len(b["grids"])
(6, 36)
>>> b["subdistrict"].loc[0, "name"], b["subdistrict"].loc[0, "code"]
('鼓楼街道', '610802001')
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd

from gridmap.model import LAYERS
from gridmap.sample.boundaries import BOUNDARY_LAYERS, sample_boundaries
from gridmap.sample.common import METRIC_CRS
from gridmap.sample.reports import sample_reports, sample_spotchecks
from gridmap.sample.tracks import sample_tracks
from gridmap.sample.writer import ILLUSTRATIVE_NOTE, write_boundaries

__all__ = [
    "BOUNDARY_LAYERS",
    "ILLUSTRATIVE_NOTE",
    "METRIC_CRS",
    "sample_boundaries",
    "sample_reports",
    "sample_tracks",
    "sample_spotchecks",
    "sample_layers",
    "write_boundaries",
]


def sample_layers(*, seed: int = 0, n_reports: int = 2000,
                  track_days: int = 7) -> dict[str, gpd.GeoDataFrame | pd.DataFrame]:
    """Make every layer of the model with illustrative data: what ``gridmap init --sample`` stores.

    Parameters
    ----------
    seed : int
        Seed of the generator.
    n_reports : int
        Number of reports over the year 2025.
    track_days : int
        Days of inspectors' GPS tracks from 2025-03-03 (one hour of fixes a
        day per inspector, 36 inspectors).

    Returns
    -------
    dict of str to geopandas.GeoDataFrame or pandas.DataFrame
        One frame per layer of :data:`gridmap.model.LAYERS`, in that order;
        ``rectifications`` is a plain DataFrame.

    Examples
    --------
    >>> from gridmap.model import LAYERS
    >>> layers = sample_layers(n_reports=50, track_days=1)
    >>> list(layers) == list(LAYERS)
    True
    >>> len(layers["reports"]), len(layers["tracks"])
    (50, 12960)
    """
    boundaries = sample_boundaries(seed=seed)
    reports, rectifications = sample_reports(boundaries, seed=seed, n_reports=n_reports)
    tracks = sample_tracks(boundaries, seed=seed, days=track_days)
    layers: dict[str, gpd.GeoDataFrame | pd.DataFrame] = {
        **boundaries, "reports": reports, "rectifications": rectifications, "tracks": tracks,
        "spotchecks": sample_spotchecks(reports, rectifications),
    }
    return {name: layers[name] for name in LAYERS}
