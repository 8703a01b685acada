"""Static PNGs of recurring problems: the KDE heatmap in true units and the Gi* hot spots.

The figures follow :mod:`gridmap.maps.static`: drawn on a figure of their own
with the Agg canvas (never ``pyplot``), in the metric CRS so the scale bar is
true, with a north arrow to true north and every label in a real CJK font
(:func:`gridmap.maps.fonts.cjk_font_properties`). The colours and labels are
those of the web maps (:mod:`gridmap.maps.density`). User text is never drawn
(markers only), so no name or phone number reaches the figure; a title given by
the caller is drawn literally (``$`` does not start matplotlib math).
"""

from __future__ import annotations

import logging
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
from pyproj import CRS, Transformer

from gridmap.errors import SchemaError
from gridmap.crs import metric_crs, require_crs
from gridmap.maps.fonts import cjk_font_properties
from gridmap.maps.density import (
    DENSITY_CMAP,
    EMERGING_CATEGORIES,
    EMERGING_COLOURS,
    FLOOR_FRACTION,
    HOTSPOT_BIN_COLOURS,
    _check_months,
    number_text,
    bin_label,
    emerging_label,
    labels_for,
    units_text,
)
from gridmap.maps.static import (
    _check_dpi,
    _draw_lines,
    _draw_polygons,
    new_figure,
    draw_footer,
    draw_heading,
    map_axes,
    _metric,
    _save,
    draw_scale_and_north,
    sized_font,
)

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

__all__ = ["heatmap_png", "hotspot_png"]

logger = logging.getLogger(__name__)

SITE_COLOUR = "#6a3d9a"
_WALL_COLOUR = "#4d3319"
_GRID_EDGE = "#555555"
_PANELS = ((0.02, 0.22, 0.47, 0.68), (0.51, 0.22, 0.47, 0.68))  # two maps side by side (figure fraction)


def lonlat_centre(crs: CRS, bounds: Sequence[float]) -> tuple[float, float]:
    """The lon/lat of the centre of `bounds` given in `crs` (for the north arrow)."""

    to_wgs = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    lon, lat = to_wgs.transform((bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2)
    return float(lon), float(lat)


def draw_heat_layers(ax: "Axes", crs: CRS, *, sites: "gpd.GeoDataFrame | None", grids: "gpd.GeoDataFrame | None",
                     wall: "gpd.GeoDataFrame | None") -> dict[str, bool]:
    """Draw the context layers of a heat map (grids, wall, recurring sites) on `ax`; which ones were drawn."""
    drawn = {"grids": False, "wall": False, "sites": False}
    outlines = _metric(grids, crs, what="grids")
    if outlines is not None:
        _draw_polygons(ax, list(outlines.geometry), facecolors="none", edgecolor=_GRID_EDGE, linewidth=0.6, zorder=3)
        drawn["grids"] = True
    lines = _metric(wall, crs, what="wall")
    if lines is not None:
        _draw_lines(ax, list(lines.geometry), colour=_WALL_COLOUR, linewidth=3.0, zorder=4)
        drawn["wall"] = True
    points = _metric(sites, crs, what="recurring sites")
    if points is not None:
        centres = [g.representative_point() for g in points.geometry]
        counts = np.asarray(points["reports"] if "reports" in points else np.ones(len(points)), dtype=float)
        ax.scatter([p.x for p in centres], [p.y for p in centres], s=12 + 10 * np.sqrt(np.clip(counts, 1, None)),
                   c=SITE_COLOUR, edgecolors="#ffffff", linewidths=0.8, zorder=6)
        drawn["sites"] = True
    return drawn


def _heat_legend(fig: "Figure", drawn: Mapping[str, bool], labels: Mapping[str, str], font: "FontProperties") -> None:
    from matplotlib.lines import Line2D  # deferred: heavy, only drawing needs it
    from matplotlib.patches import Patch  # deferred: heavy, only drawing needs it

    handles: list[Any] = []
    if drawn["sites"]:
        handles.append(Line2D([], [], marker="o", ls="none", color=SITE_COLOUR, mec="#ffffff", markersize=9,
                              label=labels["sites"]))
    if drawn["grids"]:
        handles.append(Patch(facecolor="none", edgecolor=_GRID_EDGE, label=labels["grids"]))
    if drawn["wall"]:
        handles.append(Line2D([], [], color=_WALL_COLOUR, lw=3, label=labels["wall"]))
    if handles:
        fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.76, 0.22), prop=font, frameon=True)


def _colour_bar(fig: "Figure", image: Any, ticks: "Sequence[float] | np.ndarray", label: str,
                font: "FontProperties") -> None:
    cax = fig.add_axes((0.78, 0.30, 0.03, 0.52))
    bar = fig.colorbar(image, cax=cax, ticks=list(ticks))
    bar.set_label(label, fontproperties=sized_font(font, 11))
    for tick in cax.get_yticklabels():
        tick.set_fontproperties(sized_font(font, 9))


def _heat_titles(fig: "Figure", density: Any, months: float, peak: float, labels: Mapping[str, str],
                 font: "FontProperties", title: str | None) -> None:
    parts = [f"{labels['total']} {number_text(float(density.total))}",
             f"{labels['months']} {months:.1f}",
             f"{labels['peak']} {number_text(peak)} {labels['density_units']}",
             f"{labels['kernel']} {density.kernel}", f"{labels['bandwidth']} {float(density.bandwidth_m):.0f} m"]
    draw_heading(fig, title or labels["report_heat_title"], font, parts, size=10)


def heatmap_png(
    density: Any,
    path: str | PathLike[str],
    *,
    sites: "gpd.GeoDataFrame | None" = None,
    grids: "gpd.GeoDataFrame | None" = None,
    wall: "gpd.GeoDataFrame | None" = None,
    months: float = 1.0,
    lang: str = "zh",
    title: str | None = None,
    illustrative: bool = False,
    dpi: float = 150,
) -> Path:
    """Write a static PNG of a KDE density grid in true units (reports per km² per month).

    The density, divided by `months`, is drawn in its own metric CRS with the
    colour ramp of the web map (:func:`gridmap.maps.density.heatmap_map`),
    transparent below 1 % of the peak, with a colour bar labelled
    "报告密度（次/平方公里/月）" / "report density (reports per km² per month)";
    grid outlines, the wall and recurring sites (markers sized by their
    reports) on top; a scale bar; a north arrow; a subtitle with the total,
    the months, the peak, the kernel and the bandwidth. 11 × 9 inches.

    Parameters
    ----------
    density : gridmap.analysis.density.DensityGrid
        What :func:`gridmap.kde` returned.
    path : str or os.PathLike
        The PNG file to write; overwritten.
    sites, grids, wall : geopandas.GeoDataFrame, optional
        Recurring sites (:func:`gridmap.recurring_sites`), the grids and the wall layer.
    months : float
        The number of months the reports span.
    lang : {"zh", "en"}
        Language of the labels.
    title : str, optional
        Title; by default "问题报告密度热力图" / "problem reports: density" (pass the ``heat_title`` label,
        "问题反弹热力图", when the density is of recurring reports only).
    illustrative : bool
        Add a visible "illustrative data (not surveyed boundaries)" note.
    dpi : float
        Resolution, 20 to 1200.

    Returns
    -------
    pathlib.Path
        `path`.

    Raises
    ------
    SchemaError
        When `lang`, `months` or `dpi` is out of range.
    GridmapError
        When no CJK font is installed.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import gridmap
    >>> reports, _ = gridmap.sample_reports(gridmap.sample_boundaries(), n_reports=200)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     out = heatmap_png(gridmap.kde(reports), pathlib.Path(tmp) / "heat.png", months=3, dpi=40)
    ...     out.read_bytes()[:4] == b"\\x89PNG"
    True
    """
    from matplotlib import colormaps  # deferred: heavy, only drawing needs it

    labels = labels_for(lang)
    months = _check_months(months)
    dpi = _check_dpi(dpi)
    font = cjk_font_properties(size=10)
    crs = CRS.from_user_input(density.crs)
    values = np.asarray(density.scaled(1.0 / months, units=labels["density_units"]).values, dtype=np.float64)
    peak = float(np.nanmax(values, initial=0.0))
    fig = new_figure(dpi)
    ax = map_axes(fig, density.bounds)
    minx, miny, maxx, maxy = density.bounds
    floor = FLOOR_FRACTION * peak
    shown = np.ma.masked_where(~np.isfinite(values) | (values < floor) | (peak <= 0), values)
    image = ax.imshow(shown, extent=(minx, maxx, miny, maxy), origin="upper", cmap=colormaps[DENSITY_CMAP],
                      vmin=floor, vmax=max(peak, floor + 1e-12), alpha=0.85, interpolation="bilinear", zorder=1)
    drawn = draw_heat_layers(ax, crs, sites=sites, grids=grids, wall=wall)
    draw_scale_and_north(ax, crs, lonlat_centre(crs, density.bounds), labels["north"], font)
    _colour_bar(fig, image, np.linspace(floor, peak, 5) if peak > 0 else [0.0], units_text(labels, lang), font)
    _heat_legend(fig, drawn, labels, font)
    _heat_titles(fig, density, months, peak, labels, font, title)
    draw_footer(fig, labels, crs, font, illustrative)
    return _save(fig, path, dpi, log=logger)


def _finish_panel(ax: "Axes", crs: CRS, bounds: Sequence[float], labels: Mapping[str, str], font: "FontProperties",
                  heading: str) -> None:
    draw_scale_and_north(ax, crs, lonlat_centre(crs, bounds), labels["north"], font)
    ax.set_title(heading, fontproperties=sized_font(font, 12, bold=True))


def _bin_panel(fig: "Figure", ax: "Axes", cells: "gpd.GeoDataFrame", lang: str, font: "FontProperties",
               anchor: tuple[float, float], columns: int) -> None:
    from matplotlib.patches import Patch  # deferred: heavy, only drawing needs it

    bins = cells["gi_bin"].fillna(0).astype(int).clip(-3, 3)
    _draw_polygons(ax, list(cells.geometry), facecolors=[HOTSPOT_BIN_COLOURS[b] for b in bins], edgecolor="#888888",
                   linewidth=0.3, zorder=1)
    handles = [Patch(facecolor=HOTSPOT_BIN_COLOURS[b], edgecolor="#888888", label=bin_label(b, lang))
               for b in (3, 2, 1, 0, -1, -2, -3)]
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=anchor, prop=sized_font(font, 9), ncol=columns,
               frameon=True)


def _emerging_panel(fig: "Figure", ax: "Axes", cells: "gpd.GeoDataFrame", lang: str, font: "FontProperties",
                    anchor: tuple[float, float]) -> None:
    from matplotlib.patches import Patch  # deferred: heavy, only drawing needs it

    keys = [str(c) for c in cells["category"]]
    _draw_polygons(ax, list(cells.geometry), facecolors=[EMERGING_COLOURS.get(k, "#eeeeee") for k in keys],
                   edgecolor="#888888", linewidth=0.3, zorder=1)
    present = [c for c in EMERGING_CATEGORIES if c in set(keys)]
    handles = [Patch(facecolor=EMERGING_COLOURS[c], edgecolor="#888888", label=emerging_label(c, lang))
               for c in present]
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=anchor, prop=sized_font(font, 9), ncol=3,
               frameon=True)


def hotspot_png(
    hot: "gpd.GeoDataFrame",
    path: str | PathLike[str],
    *,
    emerging: "gpd.GeoDataFrame | None" = None,
    lang: str = "zh",
    title: str | None = None,
    illustrative: bool = False,
    dpi: float = 150,
) -> Path:
    """Write a static PNG of Gi* hot spots, and of the emerging patterns beside them when given.

    Cells are coloured by ``gi_bin`` in the seven classes of the web map
    (:func:`gridmap.maps.density.hotspot_map`) with a legend; with `emerging`,
    a second map beside the first colours the cells by their emerging
    hot-spot category (legend lists the categories present). Each map has a
    scale bar and a north arrow. 11 × 9 inches.

    Parameters
    ----------
    hot : geopandas.GeoDataFrame
        What :func:`gridmap.hotspots` returned.
    path : str or os.PathLike
        The PNG file to write; overwritten.
    emerging : geopandas.GeoDataFrame, optional
        What :func:`gridmap.emerging_hotspots` returned.
    lang : {"zh", "en"}
        Language of the labels.
    title : str, optional
        Title; by default "问题热点分析（Gi*）" / "problem hot spots (Gi*)".
    illustrative : bool
        Add a visible "illustrative data (not surveyed boundaries)" note.
    dpi : float
        Resolution, 20 to 1200.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    SchemaError
        When `lang` or `dpi` is out of range.
    CRSError
        When the cells have no CRS.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> cells = gpd.GeoDataFrame({"cell_id": [1, 2], "gi_bin": [3, -1]}, crs="EPSG:4326",
    ...                          geometry=[box(109.73, 38.29, 109.731, 38.291), box(109.731, 38.29, 109.732, 38.291)])
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     hotspot_png(cells, pathlib.Path(tmp) / "hot.png", dpi=40).stat().st_size > 0
    True
    """
    labels = labels_for(lang)
    dpi = _check_dpi(dpi)
    require_crs(hot, what="hot-spot cells")
    font = cjk_font_properties(size=10)
    crs = metric_crs(hot)
    cells = _metric(hot, crs, what="hot-spot cells")
    if cells is None:
        raise SchemaError("no cells to draw: the hot-spot result is empty or has no geometry")
    bounds = cells.total_bounds
    fig = new_figure(dpi)
    if emerging is None or not len(emerging):
        ax = map_axes(fig, bounds)
        _bin_panel(fig, ax, cells, lang, font, (0.87, 0.75), 1)
        _finish_panel(ax, crs, bounds, labels, font, labels["hot_legend"])
    else:
        left, right = map_axes(fig, bounds, _PANELS[0]), map_axes(fig, bounds, _PANELS[1])
        _bin_panel(fig, left, cells, lang, font, (0.255, 0.21), 2)
        _emerging_panel(fig, right, _metric(emerging, crs, what="emerging hot spots"), lang, font, (0.745, 0.21))
        _finish_panel(left, crs, bounds, labels, font, labels["hot_legend"])
        _finish_panel(right, crs, bounds, labels, font, labels["emerging_legend"])
    draw_heading(fig, title or labels["hot_title"], font)
    draw_footer(fig, labels, crs, font, illustrative)
    return _save(fig, path, dpi, log=logger)
