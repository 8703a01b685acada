"""A static PNG of sweep coverage for briefings, drawn with matplotlib in the metric CRS.

The figure is drawn on a :class:`matplotlib.figure.Figure` of its own with the
Agg canvas, never through ``pyplot``, so nothing leaks into a notebook's or a
program's global matplotlib state. It is drawn in the metric CRS of the grids
(:func:`gridmap.crs.metric_crs`), so the scale bar is true; the north arrow
points to true north (it differs from grid north by the meridian convergence).
All text uses a real CJK font (:func:`gridmap.maps.fonts.cjk_font_properties`).
"""

from __future__ import annotations

import logging
import math
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import shapely
from pyproj import CRS, Transformer

from gridmap.errors import SchemaError
from gridmap.analysis.coverage import overall_coverage
from gridmap.crs import metric_crs, require_crs
from gridmap.formatting import format_percent, is_missing
from gridmap.maps.coverage import COLOURS, labels_for
from gridmap.maps.fonts import cjk_font_properties
from gridmap.maps.streets import draw_streets, street_labels, street_legend_handles
from gridmap.maps.legend import COVERAGE_COLOURS, NO_DATA_COLOUR, coverage_class_labels, coverage_colour

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties
    from matplotlib.path import Path as MplPath

    from gridmap.analysis.coverage import CoverageResult

__all__ = ["coverage_png", "nice_scale_length"]

logger = logging.getLogger(__name__)

_FIGSIZE_IN = (11.0, 9.0)
#: An axes box: left, bottom, width, height as fractions of the figure.
Box = tuple[float, float, float, float]
_MAP_BOX: Box = (0.02, 0.05, 0.72, 0.86)  # the map axes


def nice_scale_length(width_m: float) -> float:
    """A round scale-bar length (1, 2 or 5 times a power of ten) of at most a fifth of `width_m`.

    Examples
    --------
    >>> nice_scale_length(2300), nice_scale_length(1000), nice_scale_length(26000)
    (200.0, 200.0, 5000.0)
    """
    if not math.isfinite(width_m) or width_m <= 0:
        raise SchemaError(f"map width must be a positive number of metres, not {width_m!r}")
    target = width_m / 5
    power = 10.0 ** math.floor(math.log10(target))
    step = max(m for m in (1.0, 2.0, 5.0) if m * power <= target * (1 + 1e-9))
    return step * power


def _literal(text: str) -> str:
    """`text` as matplotlib draws it literally: a ``$`` would start math mode."""
    return str(text).replace("$", r"\$")


def sized_font(font: "FontProperties", size: float, *, bold: bool = False) -> "FontProperties":
    """A copy of `font` in `size` points, bold when asked for."""
    out = font.copy()
    out.set_size(size)
    if bold:
        out.set_weight("bold")
    return out


def _length_text(metres: float) -> str:
    return f"{metres / 1000:g} km" if metres >= 1000 else f"{metres:g} m"


def _polygon_path(geometry: Any) -> "MplPath | None":
    """One matplotlib path holding every polygon ring of `geometry` (holes included), or None."""
    from matplotlib.path import Path as MplPath  # deferred: heavy, only drawing needs it

    vertices, codes = [], []
    for part in shapely.get_parts(geometry):
        if part.geom_type != "Polygon" or part.is_empty:
            continue
        for ring in (part.exterior, *part.interiors):
            xy = np.asarray(ring.coords)[:, :2]
            ring_codes = np.full(len(xy), MplPath.LINETO, dtype=MplPath.code_type)
            ring_codes[0], ring_codes[-1] = MplPath.MOVETO, MplPath.CLOSEPOLY
            vertices.append(xy)
            codes.append(ring_codes)
    if not vertices:
        return None
    return MplPath(np.concatenate(vertices), np.concatenate(codes))


def _draw_polygons(ax: "Axes", geometries: Sequence[Any], *, facecolors: Sequence[str] | str,
                   edgecolor: str, linewidth: float, alpha: float = 1.0, linestyle: str = "solid",
                   zorder: float = 1) -> None:
    from matplotlib.collections import PatchCollection  # deferred: heavy, only drawing needs it
    from matplotlib.patches import PathPatch  # deferred: heavy, only drawing needs it

    faces = [facecolors] * len(geometries) if isinstance(facecolors, str) else list(facecolors)
    patches, colours = [], []
    for geometry, face in zip(geometries, faces):
        path = None if geometry is None else _polygon_path(geometry)
        if path is not None:
            patches.append(PathPatch(path))
            colours.append(face)
    if patches:
        ax.add_collection(PatchCollection(patches, facecolors=colours, edgecolors=edgecolor, linewidths=linewidth,
                                          alpha=alpha, linestyles=linestyle, zorder=zorder))


def _draw_lines(ax: "Axes", geometries: Sequence[Any], *, colour: str, linewidth: float, zorder: float) -> None:
    from matplotlib.collections import LineCollection  # deferred: heavy, only drawing needs it

    segments = [np.asarray(part.coords)[:, :2] for g in geometries if g is not None
                for part in shapely.get_parts(g) if part.geom_type in ("LineString", "LinearRing")]
    if segments:
        ax.add_collection(LineCollection(segments, colors=colour, linewidths=linewidth, zorder=zorder))


def _metric(gdf: "gpd.GeoDataFrame | None", crs: CRS, *, what: str) -> "gpd.GeoDataFrame | None":
    if gdf is None or not len(gdf):
        return None
    require_crs(gdf, what=what)
    out = gdf[~(gdf.geometry.isna() | gdf.geometry.is_empty)]
    return out.to_crs(crs)


def _draw_grids(ax: "Axes", grids: "gpd.GeoDataFrame", font: "FontProperties") -> None:
    colours = [coverage_colour(r) for r in grids["coverage_ratio"]]
    _draw_polygons(ax, list(grids.geometry), facecolors=colours, edgecolor="#444444", linewidth=0.6, zorder=1)
    from matplotlib.patheffects import withStroke  # deferred: heavy, only drawing needs it

    small = sized_font(font, 7)
    halo = [withStroke(linewidth=2.5, foreground="#ffffff")]
    for geometry, ratio in zip(grids.geometry, grids["coverage_ratio"]):
        if is_missing(ratio):  # grey says "no data"; a label on every grid would only repeat it
            continue
        point = geometry.representative_point()
        ax.text(point.x, point.y, format_percent(ratio).replace(" %", "%"), fontproperties=small, ha="center",
                va="center", color="#111111", zorder=8, path_effects=halo)


def _draw_targets(ax: "Axes", targets: "gpd.GeoDataFrame") -> None:
    known = targets["visited"].notna().to_numpy()
    visited = targets["visited"].fillna(False).astype(bool).to_numpy()
    geoms = targets.geometry.to_numpy()
    is_point = np.array([g.geom_type == "Point" for g in geoms], dtype=bool)
    for flag, colour, marker in ((True, COLOURS["visited"], "o"), (False, COLOURS["unvisited"], "X"),
                                 (None, NO_DATA_COLOUR, "o")):  # None: unknown (no GPS fix), grey, not "unvisited"
        chosen = ~known if flag is None else known & (visited == flag)
        pts = geoms[chosen & is_point]
        if len(pts):
            ax.scatter([p.x for p in pts], [p.y for p in pts], s=46 if flag is False else 28, c=colour, marker=marker,
                       edgecolors="#222222", linewidths=0.5, zorder=7)
        polys = list(geoms[chosen & ~is_point])
        _draw_polygons(ax, polys, facecolors="none", edgecolor=colour, linewidth=1.4, zorder=5)


def draw_coverage_layers(ax: "Axes", result: "CoverageResult", crs: CRS, font: "FontProperties", *,
                         demolition_zones: "gpd.GeoDataFrame | None", wall: "gpd.GeoDataFrame | None") -> None:
    """Draw the coverage layers (grids by class, covered ground, dead corners, zones, wall) on the map axes `ax`."""

    grids = result.grids.to_crs(crs)
    unknown = is_missing(overall_coverage(result))
    if unknown:  # no GPS fix in the period: coverage unknown, drawn grey, not 0 %, and no dead corner drawn
        grids = grids.assign(coverage_ratio=float("nan"))
    _draw_grids(ax, grids, font)
    zones = _metric(demolition_zones, crs, what="demolition zones")
    if zones is not None:
        _draw_polygons(ax, list(zones.geometry), facecolors="none", edgecolor=COLOURS["zone"], linewidth=1.2,
                       linestyle="dashed", zorder=3)
    lines = _metric(wall, crs, what="wall")
    if lines is not None:
        _draw_lines(ax, list(lines.geometry), colour=COLOURS["wall"], linewidth=3.0, zorder=4)
    corners = None if unknown else _metric(result.dead_corners, crs, what="dead corners")
    if corners is not None:
        _draw_polygons(ax, list(corners.geometry), facecolors=COLOURS["dead_corner"],
                       edgecolor=COLOURS["dead_corner"], linewidth=0.4, zorder=5)
    draw_streets(ax, _metric(getattr(result, "streets", None), crs, what="streets"),
                 _metric(getattr(result, "dead_stretches", None), crs, what="dead stretches"))
    targets = _metric(getattr(result, "targets", None), crs, what="targets")
    if targets is not None:
        _draw_targets(ax, targets)


def draw_coverage_legend(fig: "Figure", labels: dict[str, str], font: "FontProperties", *, zones: bool,
                         wall: bool, result: "CoverageResult | None" = None) -> None:
    """Draw the legend of the coverage figure (coverage classes, dead corners, zones and wall when drawn) on `fig`.

    With a `result` that has streets, the street lines and the dead stretches are listed too.
    """
    from matplotlib.lines import Line2D  # deferred: heavy, only drawing needs it
    from matplotlib.patches import Patch  # deferred: heavy, only drawing needs it

    handles: list[Any] = [Patch(facecolor=c, edgecolor="#444444", label=t)
                          for c, t in zip(COVERAGE_COLOURS, coverage_class_labels())]
    handles += [
        Patch(facecolor=COLOURS["dead_corner"], label=labels["dead_corners"]),
        Line2D([], [], marker="o", ls="none", color=COLOURS["visited"], mec="#222222", label=labels["visited_targets"]),
        Line2D([], [], marker="X", ls="none", color=COLOURS["unvisited"], mec="#222222", markersize=8,
               label=labels["unvisited_targets"]),
    ]
    if zones:
        handles.append(Patch(facecolor="none", edgecolor=COLOURS["zone"], linestyle="dashed", label=labels["zones"]))
    if wall:
        handles.append(Line2D([], [], color=COLOURS["wall"], lw=3, label=labels["wall"]))
    handles += street_legend_handles(result, street_labels(labels["lang"]))
    title_font = font.copy()
    title_font.set_weight("bold")
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(0.75, 0.5), prop=font, title=labels["legend"],
               title_fontproperties=title_font, frameon=True, borderpad=0.8, labelspacing=0.7)


def _scale_bar(ax: "Axes", font: "FontProperties") -> None:
    from matplotlib.patches import Rectangle  # deferred: heavy, only drawing needs it

    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    width, height = x1 - x0, y1 - y0
    length = nice_scale_length(width)
    left, bottom, thick = x0 + 0.04 * width, y0 + 0.04 * height, 0.012 * height
    for i, face in enumerate(("#000000", "#ffffff")):
        ax.add_patch(Rectangle((left + i * length / 2, bottom), length / 2, thick, facecolor=face,
                               edgecolor="#000000", linewidth=0.8, zorder=9))
    for x, text in ((left, "0"), (left + length, _length_text(length))):
        ax.text(x, bottom + thick * 1.6, text, fontproperties=font, ha="center", va="bottom", zorder=9)


def _north_angle(crs: CRS, lon: float, lat: float) -> float:
    """Direction of true north in the map, radians counter-clockwise from the map's +x axis."""
    to_map = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x0, y0 = to_map.transform(lon, lat)
    x1, y1 = to_map.transform(lon, lat + 0.01)
    return math.atan2(y1 - y0, x1 - x0)


def _north_arrow(ax: "Axes", angle: float, label: str, font: "FontProperties") -> None:
    dx, dy = math.cos(angle), math.sin(angle)
    head = (0.93, 0.90)
    ax.annotate("", xy=head, xycoords="axes fraction", xytext=(-dx * 36, -dy * 36), textcoords="offset points",
                arrowprops={"arrowstyle": "-|>,head_width=0.5,head_length=0.9", "color": "#000000", "lw": 2.2},
                zorder=9)
    ax.annotate(label, xy=head, xycoords="axes fraction", xytext=(dx * 12, dy * 12), textcoords="offset points",
                ha="center", va="center", fontproperties=sized_font(font, 13, bold=True), zorder=9)


def draw_scale_and_north(ax: "Axes", crs: CRS, centre: tuple[float, float], label: str, font: "FontProperties") -> None:
    """A scale bar and a north arrow (to true north at the lon/lat `centre`), once the equal aspect is settled."""
    ax.apply_aspect()  # settle the limits the equal aspect gives before measuring the scale bar
    _scale_bar(ax, font)
    _north_arrow(ax, _north_angle(crs, *centre), label, font)


def _overall(result: "CoverageResult") -> tuple[float, int]:

    return overall_coverage(result), int(len(result.dead_corners)) if result.dead_corners is not None else 0


def _window_text(result: "CoverageResult") -> str:
    stats = getattr(result, "stats", None) or {}
    start, end = stats.get("start"), stats.get("end")
    if not start and not end:
        return ""
    return f"{str(start or '…')[:16]} – {str(end or '…')[:16]}".replace("T", " ")


def _heading(fig: "Figure", title: str, font: "FontProperties", parts: Sequence[str] = (), *,
             size: float = 11) -> None:
    """The title (drawn literally) at the top left and, below it, `parts` on one line in `size` points."""
    fig.text(0.02, 0.965, _literal(title), fontproperties=sized_font(font, 17, bold=True), ha="left", va="center")
    if parts:
        fig.text(0.02, 0.930, "   ".join(parts), fontproperties=sized_font(font, size), ha="left", va="center",
                 color="#333333")


def draw_heading(fig: "Figure", title: str, font: "FontProperties", parts: Sequence[str] = (), *,
                 size: float = 11) -> None:
    """Draw a static figure's heading: `title` (literally) at the top left, `parts` on one line below it.

    The one heading of every static figure (coverage, density, briefing): pages call this, maps
    modules call it too, so all headings look alike.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure drawn on.
    title : str
        Drawn literally (no mathtext).
    font : matplotlib.font_manager.FontProperties
        A font that has the CJK glyphs (:func:`gridmap.maps.fonts.cjk_font_properties`).
    parts : sequence of str
        The facts under the title (period, figures), joined on one line.
    size : float
        Points of the line of parts.
    """
    _heading(fig, title, font, parts, size=size)


def _titles(fig: "Figure", result: "CoverageResult", labels: dict[str, str], font: "FontProperties",
            title: str | None) -> None:
    ratio, corners = _overall(result)
    corner_text = labels["no_data"] if is_missing(ratio) else f"{corners} {labels['count']}".strip()
    parts = [f"{labels['overall']} {format_percent(ratio, lang=labels['lang'])}",
             f"{labels['dead_corners']} {corner_text}"]
    window = _window_text(result)
    if window:
        parts.append(f"{labels['window']} {window}")
    _heading(fig, title or labels["title"], font, parts)


def draw_footer(fig: "Figure", labels: Mapping[str, str], crs: CRS, font: "FontProperties", illustrative: bool) -> None:
    """Draw the footer of a static figure: the CRS used, and the "illustrative data" mark when `illustrative`."""
    epsg = crs.to_epsg()
    fig.text(0.02, 0.018, f"{labels['crs']}: {'EPSG:%d' % epsg if epsg else crs.name}",
             fontproperties=sized_font(font, 8), color="#555555")
    if illustrative:
        fig.text(0.98, 0.018, labels["illustrative"], fontproperties=sized_font(font, 11), color="#8a6d00", ha="right",
                 bbox={"facecolor": "#fff3cd", "edgecolor": "#cc9900", "boxstyle": "round,pad=0.3"})


def new_figure(dpi: float) -> "Figure":
    """A new matplotlib figure (A4 landscape, Agg canvas, no pyplot state) at `dpi`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # deferred: heavy, only drawing needs it
    from matplotlib.figure import Figure  # deferred: heavy, only drawing needs it

    fig = Figure(figsize=_FIGSIZE_IN, dpi=dpi, facecolor="#ffffff")
    FigureCanvasAgg(fig)
    return fig


def map_axes(fig: "Figure", bounds: Sequence[float], box: Box = _MAP_BOX) -> "Axes":
    """Map axes at `box` (figure fraction) showing `bounds` with a margin, equal aspect, no frame."""
    ax = fig.add_axes(box)
    minx, miny, maxx, maxy = bounds
    pad = 0.04 * max(maxx - minx, maxy - miny)
    ax.set_xlim(minx - pad, maxx + pad)
    ax.set_ylim(miny - pad, maxy + pad)
    ax.set_aspect("equal", adjustable="box")
    ax.set_axis_off()
    return ax


def _save(fig: "Figure", path: str | PathLike[str], dpi: float, *, log: logging.Logger = logger) -> Path:
    """Write `fig` as a PNG at `path` on a white ground and log it to `log` (the calling module's logger)."""
    out = Path(path)
    fig.savefig(out, dpi=dpi, format="png", facecolor="#ffffff")
    log.info("wrote %s", out)
    return out


def _check_dpi(dpi: float) -> float:
    if isinstance(dpi, bool) or not isinstance(dpi, (int, float)) or not math.isfinite(dpi) or not 20 <= dpi <= 1200:
        raise SchemaError(f"dpi must be a number between 20 and 1200, not {dpi!r} (150 suits slides, 300 print)")
    return float(dpi)


def coverage_png(
    result: "CoverageResult",
    path: str | PathLike[str],
    *,
    demolition_zones: "gpd.GeoDataFrame | None" = None,
    wall: "gpd.GeoDataFrame | None" = None,
    lang: str = "zh",
    title: str | None = None,
    dpi: float = 150,
    illustrative: bool = False,
) -> Path:
    """Write a static PNG of a sweep-coverage result for briefings.

    The figure shows the grids coloured by the coverage classes of the web map
    (:func:`gridmap.maps.coverage.coverage_map`) with each grid's coverage in
    percent, dead corners in red, visited and unvisited
    must-visit places, demolition zones and the wall; a title with the overall
    coverage, the number of dead corners and the time window; a legend; a
    scale bar; a north arrow. Covered ground is left out (on paper it would
    tint every class colour; the dead corners show what is not covered). It is 11 × 9 inches: ``1650 × 1350`` pixels at
    the default 150 dpi. No track, inspector name or phone number is drawn.

    Parameters
    ----------
    result : gridmap.analysis.coverage.CoverageResult
        What :func:`gridmap.sweep_coverage` returned.
    path : str or os.PathLike
        The PNG file to write (its folder must exist); overwritten.
    demolition_zones : geopandas.GeoDataFrame, optional
        The ``demolition_zones`` layer (any CRS).
    wall : geopandas.GeoDataFrame, optional
        The ``wall`` layer (any CRS).
    lang : {"zh", "en"}
        Language of the labels: zh-Hans (default) or English.
    title : str, optional
        Title; by default "网格清扫覆盖率" / "sweep coverage by grid".
    dpi : float
        Resolution, 20 to 1200 dots per inch.
    illustrative : bool
        Add a visible "illustrative data (not surveyed boundaries)" note.

    Returns
    -------
    pathlib.Path
        `path`.

    Raises
    ------
    GridmapError
        When no CJK font is installed (the message says which package to install).
    SchemaError
        When `lang` or `dpi` is out of range.
    CRSError
        When a layer has no CRS.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import gridmap
    >>> from gridmap.maps.static import coverage_png
    >>> b = gridmap.sample_boundaries()
    >>> result = gridmap.sweep_coverage(b["grids"], gridmap.sample_tracks(n_fixes=3000, days=1))
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     out = coverage_png(result, pathlib.Path(tmp) / "coverage.png", wall=b["wall"], dpi=50)
    ...     out.read_bytes()[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
    True
    """
    labels = labels_for(lang)
    dpi = _check_dpi(dpi)
    require_crs(result.grids, what="coverage grids")
    font = cjk_font_properties(size=10)
    crs = metric_crs(result.grids)
    fig = new_figure(dpi)
    ax = map_axes(fig, result.grids.to_crs(crs).total_bounds)
    draw_coverage_layers(ax, result, crs, font, demolition_zones=demolition_zones, wall=wall)
    minx, miny, maxx, maxy = result.grids.to_crs("EPSG:4326").total_bounds
    draw_scale_and_north(ax, crs, ((minx + maxx) / 2, (miny + maxy) / 2), labels["north"], font)
    draw_coverage_legend(fig, labels, font, zones=demolition_zones is not None and len(demolition_zones) > 0,
                         wall=wall is not None and len(wall) > 0, result=result)
    _titles(fig, result, labels, font, title)
    draw_footer(fig, labels, crs, font, illustrative)
    return _save(fig, path, dpi)
