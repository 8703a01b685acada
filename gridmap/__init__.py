"""gridmap: grid management (网格化管理) of urban sanitation campaigns.

The public API is importable from the package; heavy modules (geopandas, GDAL)
are imported on first use, so ``import gridmap`` is cheap.

Examples
--------
>>> import gridmap
>>> gridmap.category_key("柴草垛")
'firewood_pile'
>>> lon, lat = gridmap.from_wgs84([109.73], [38.29], "gcj02")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # model
    "LAYERS": "gridmap.model",
    "CATEGORIES": "gridmap.model",
    "ImportSummary": "gridmap.model",
    "category_key": "gridmap.model",
    "category_label": "gridmap.model",
    "register_category": "gridmap.model",
    # errors
    "GridmapError": "gridmap.errors",
    "CRSError": "gridmap.errors",
    "ReadError": "gridmap.errors",
    "UnsafeFileError": "gridmap.errors",
    "EncodingError": "gridmap.errors",
    "SchemaError": "gridmap.errors",
    "WorkspaceError": "gridmap.errors",
    "WorkspaceBusyError": "gridmap.errors",
    "WorkspaceVersionError": "gridmap.errors",
    # coverage figures
    "overall_coverage": "gridmap.analysis.coverage",
    # formatting
    "format_percent": "gridmap.formatting",
    # coordinates
    "to_wgs84": "gridmap.crs",
    "from_wgs84": "gridmap.crs",
    "metric_crs": "gridmap.crs",
    # reading and importing
    "read": "gridmap.io.dispatch",
    "ReadResult": "gridmap.io.base",
    "prepare": "gridmap.io.records",
    "PreparedBatch": "gridmap.io.records",
    "import_file": "gridmap.io.importer",
    "retry_quarantine": "gridmap.io.retry",
    "RetrySummary": "gridmap.io.retry",
    # workspace
    "Workspace": "gridmap.storage",
    "open_workspace": "gridmap.storage",
    "init_workspace": "gridmap.storage",
    "copy_workspace": "gridmap.storage.copy",
    "archive_layer": "gridmap.archive",
    "read_archive": "gridmap.archive",
    "dask_scheduler": "gridmap.jobs.scheduler",
    # checks
    "validate_grids": "gridmap.analysis.validate",
    "GridCheck": "gridmap.analysis.validate",
    # coverage
    "sweep_coverage": "gridmap.analysis.coverage",
    "CoverageResult": "gridmap.analysis.coverage",
    "coverage_map": "gridmap.maps.coverage",
    "coverage_png": "gridmap.maps.static",
    "briefing": "gridmap.pages.briefing",
    "export_html": "gridmap.pages.report",
    "report_map": "gridmap.pages.report",
    # a route that clears the dead corners
    "clear_route": "gridmap.analysis.route",
    "route_stops": "gridmap.analysis.route",
    "RouteResult": "gridmap.analysis.route",
    "build_street_graph": "gridmap.analysis.route",
    "grid_start": "gridmap.analysis.route",
    "route_map": "gridmap.maps.route",
    "write_route_gpx": "gridmap.export.gpx",
    "write_checklist": "gridmap.export.checklist",
    # reports to the right person: grid, street, area
    "attribute_reports": "gridmap.analysis.attribution",
    # privacy
    "redact_text": "gridmap.export.privacy",
    "redact_frame": "gridmap.export.privacy",
    "mask_name": "gridmap.export.privacy",
    "strip_exif": "gridmap.export.privacy",
    # choosing reports
    "select_reports": "gridmap.analysis.selection",
    "period_months": "gridmap.analysis.selection",
    # recurring problems
    "recurrences": "gridmap.analysis.recurrence",
    "recurring_sites": "gridmap.analysis.recurrence",
    "kde": "gridmap.analysis.density",
    "DensityGrid": "gridmap.analysis.density",
    "hotspots": "gridmap.analysis.hotspot",
    "emerging_hotspots": "gridmap.analysis.hotspot",
    "space_time_cube": "gridmap.analysis.hotspot",
    "fishnet": "gridmap.analysis.hotspot",
    "hexagons": "gridmap.analysis.hotspot",
    "heatmap_map": "gridmap.maps.density",
    "hotspot_map": "gridmap.maps.density",
    "heatmap_png": "gridmap.maps.static_density",
    "hotspot_png": "gridmap.maps.static_density",
    # supervision
    "scoreboard": "gridmap.jobs.supervision",
    "Rules": "gridmap.analysis.supervision",
    "weekly_figures": "gridmap.jobs.supervision",
    "write_scoreboard": "gridmap.analysis.supervision",
    "scoreboard_html": "gridmap.pages.scoreboard",
    "supervision_png": "gridmap.maps.static_supervision",
    "spot_check": "gridmap.jobs.spotcheck",
    "SpotCheck": "gridmap.jobs.spotcheck",
    "write_csv": "gridmap.export.spreadsheet",
    "write_xlsx": "gridmap.export.spreadsheet",
    # sample
    "sample_boundaries": "gridmap.sample",
    "sample_reports": "gridmap.sample",
    "sample_tracks": "gridmap.sample",
    "sample_layers": "gridmap.sample",
    "write_boundaries": "gridmap.sample",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gridmap' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from gridmap.errors import (
        CRSError, EncodingError, GridmapError, ReadError, SchemaError, UnsafeFileError,
        WorkspaceBusyError, WorkspaceError, WorkspaceVersionError,
    )
    from gridmap.pages.briefing import briefing
    from gridmap.pages.report import export_html, report_map
    from gridmap.analysis.coverage import CoverageResult, sweep_coverage
    from gridmap.analysis.route import RouteResult, build_street_graph, clear_route, grid_start, route_stops
    from gridmap.analysis.attribution import attribute_reports
    from gridmap.maps.route import route_map
    from gridmap.export.checklist import write_checklist
    from gridmap.export.gpx import write_route_gpx
    from gridmap.crs import from_wgs84, metric_crs, to_wgs84
    from gridmap.analysis.density import DensityGrid, kde
    from gridmap.analysis.hotspot import emerging_hotspots, fishnet, hexagons, hotspots, space_time_cube
    from gridmap.maps.coverage import coverage_map
    from gridmap.maps.density import heatmap_map, hotspot_map
    from gridmap.maps.static_density import heatmap_png, hotspot_png
    from gridmap.maps.static import coverage_png
    from gridmap.io.importer import import_file
    from gridmap.io.retry import RetrySummary, retry_quarantine
    from gridmap.io.base import ReadResult
    from gridmap.io.dispatch import read
    from gridmap.model import CATEGORIES, LAYERS, ImportSummary, category_key, category_label, register_category
    from gridmap.analysis.recurrence import recurrences, recurring_sites
    from gridmap.io.records import PreparedBatch, prepare
    from gridmap.export.privacy import mask_name, redact_frame, redact_text, strip_exif
    from gridmap.analysis.selection import period_months, select_reports
    from gridmap.analysis.supervision import Rules, write_scoreboard
    from gridmap.jobs.supervision import scoreboard, weekly_figures
    from gridmap.pages.scoreboard import scoreboard_html
    from gridmap.maps.static_supervision import supervision_png
    from gridmap.jobs.spotcheck import SpotCheck, spot_check
    from gridmap.export.spreadsheet import write_csv, write_xlsx
    from gridmap.sample import sample_boundaries, sample_reports, sample_tracks, sample_layers, write_boundaries
    from gridmap.analysis.validate import GridCheck, validate_grids
    from gridmap.storage import Workspace, init_workspace, open_workspace
    from gridmap.storage.copy import copy_workspace
    from gridmap.archive import archive_layer, read_archive
    from gridmap.jobs.scheduler import dask_scheduler
