"""The analysis and io rooms (issue 13): the modules that moved keep their old import paths for one release.

``gridmap.coverage``, ``gridmap.density``, ``gridmap.hotspot``, ``gridmap.recurrence``, ``gridmap.supervision``,
``gridmap.spotcheck``, ``gridmap.validate`` and ``gridmap.selection`` moved to :mod:`gridmap.analysis`;
``gridmap.records``, ``gridmap.importer`` and ``gridmap.retry`` moved to :mod:`gridmap.io`. Each old path is a
shim: importing it warns with a :class:`DeprecationWarning` and gives the very objects of the new module.
The names below are the public names each module had before the move, written out (not read from the code).
"""

from __future__ import annotations

import importlib
import sys
import warnings

import pytest

import gridmap

#: old path -> (new path, the public names the old module had before the move)
MOVES = {
    "gridmap.coverage": ("gridmap.analysis.coverage", (
        "CSV_COLUMNS", "CoverageResult", "DEAD_CORNER_COLUMNS", "GRID_COLUMNS", "overall_coverage",
        "sweep_coverage",)),
    "gridmap.density": ("gridmap.analysis.density", (
        "Bounds", "DensityGrid", "GAUSS_BOUNDS_SIGMAS", "GAUSS_SUPPORT_SIGMAS", "KERNELS", "UNITS",
        "default_bandwidth", "kde",)),
    "gridmap.hotspot": ("gridmap.analysis.hotspot", (
        "EMERGING_CATEGORIES", "MIN_STEPS", "categorise", "emerging_hotspots", "fdr_reject", "fishnet", "gi_star",
        "hexagons", "hotspots", "mann_kendall", "neighbour_matrix", "space_time_cube",)),
    "gridmap.importer": ("gridmap.io.importer", (
        "import_file", "import_options", "prepare_for",)),
    "gridmap.records": ("gridmap.io.records", (
        "CHINA_BOUNDS", "COORDS", "DERIVED_ID_PREFIX", "DERIVED_ID_SOURCES", "EARLIEST_TIME", "FUTURE_SLACK",
        "PreparedBatch", "READER_COLUMNS", "REPAIR_COLUMNS", "SURVEY_ALIASES", "TIME_DTYPE", "UTC_HEADERS",
        "check_column_map", "check_defaults", "derived_ids", "extra_json", "parse_times", "prepare",)),
    "gridmap.recurrence": ("gridmap.analysis.recurrence", (
        "RECURRENCE_COLUMNS", "SITE_COLUMNS", "recurrences", "recurring_sites",)),
    "gridmap.retry": ("gridmap.io.retry", (
        "RetrySummary", "SKIP_REASONS", "retry_quarantine",)),
    "gridmap.selection": ("gridmap.analysis.selection", (
        "DAYS_PER_MONTH", "as_time", "period_months", "select_reports",)),
    "gridmap.spotcheck": ("gridmap.analysis.spotcheck", (
        "CHECKLIST_COLUMNS", "NO_STRATUM", "SpotCheck", "allocate", "draw_order", "spot_check",)),
    "gridmap.supervision": ("gridmap.analysis.supervision", (
        "BY_CHOICES", "DEFAULT_DEADLINES_HOURS", "DEFAULT_DEADLINE_HOURS", "Rules", "SCOREBOARD_COLUMNS",
        "ScoreboardRun", "cadre_keys", "period_figures", "presented", "resolve_period", "run_scoreboard",
        "scoreboard", "scoreboard_headers", "weekly_figures", "write_scoreboard",)),
    "gridmap.validate": ("gridmap.analysis.validate", (
        "GridCheck", "PROBLEM_KINDS", "TERRITORIES", "validate_grids",)),
}
#: the names whose new home is not their module's new path above: the functions that also open a workspace
#: from its path (and the spot check that writes its page) live one floor up, in the jobs room
HOMES = {
    "gridmap.supervision": {name: "gridmap.jobs.supervision" for name in ("run_scoreboard", "scoreboard",
                                                                          "weekly_figures")},
    "gridmap.spotcheck": {name: "gridmap.jobs.spotcheck" for name in ("SpotCheck", "spot_check")},
}


def _home(old: str, name: str) -> str:
    return HOMES.get(old, {}).get(name, MOVES[old][0])


@pytest.mark.parametrize("old", sorted(MOVES))
def test_old_path_warns_and_gives_the_same_objects(old: str) -> None:
    new_name, names = MOVES[old]
    new = importlib.import_module(new_name)
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=rf"{old} is deprecated: it moved to {new_name}"):
        shim = importlib.import_module(old)
    for name in names:
        home = new if _home(old, name) == new_name else importlib.import_module(_home(old, name))
        assert getattr(shim, name) is getattr(home, name), name
    assert set(names) <= set(shim.__all__)
    sys.modules.pop(old, None)


def test_the_package_never_imports_an_old_path() -> None:
    """Loading every public name of the package touches no shim (a shim would warn: warnings are errors here)."""
    for old in MOVES:
        sys.modules.pop(old, None)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        for name in gridmap.__all__:
            getattr(gridmap, name)
    assert not set(MOVES) & set(sys.modules)


def test_the_public_api_points_at_the_new_homes() -> None:
    """Every public name that lived in a moved module is now defined in its new home."""
    for old, (new_name, names) in MOVES.items():
        for name in set(names) & set(gridmap.__all__):
            obj = getattr(gridmap, name)
            if hasattr(obj, "__module__"):
                assert obj.__module__ == _home(old, name), (name, obj.__module__)
