"""The pages, maps and export rooms (issue 13): old import paths still work, with a warning; no back doors.

The old paths (``gridmap.html_report``, ``gridmap.supervision_page``, ``gridmap.briefing_page``,
``gridmap.spreadsheet``, ``gridmap.privacy``) are deprecated shims: importing one warns and gives the very
objects of the new module. The rooms' rules are checked on the source with :mod:`ast`: no underscore name
crosses a subpackage, the analysis and the maps never import a page, and a function-local import in these
rooms only defers a heavy dependency and says so.
"""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "gridmap"

#: old path -> (new path, the public names the old module had before the move; written out, not read from code)
MOVES = {
    "gridmap.html_report": ("gridmap.pages.report", (
        "CHART_WEEKS", "DESCRIPTION_BUDGET", "HOTSPOT_CELL_M", "MAX_LISTED_CORNERS", "REPORT_LABELS", "check_assets",
        "default_title", "export_html", "page_html", "report_map", "save_page", "shareable", "shareable_coverage")),
    "gridmap.supervision_page": ("gridmap.pages.scoreboard", (
        "PAGE_LABELS", "chart_html", "scoreboard_html", "write_page")),
    "gridmap.briefing_page": ("gridmap.pages.briefing", (
        "A4_LANDSCAPE_IN", "RECTIFIED_STATUSES", "briefing", "community_table", "rectified_known", "rectified_share")),
    "gridmap.spreadsheet": ("gridmap.export.spreadsheet", (
        "EXCEL_MAX_TEXT", "FORMULA_PREFIXES", "neutralise_frame", "neutralise_text", "write_csv", "write_xlsx")),
    "gridmap.privacy": ("gridmap.export.privacy", (
        "COMPOUND_SURNAMES", "PHONE_RE", "PHONE_SEARCH_RE", "mask_name", "personal_columns", "redact_frame",
        "redact_text", "strip_exif")),
    "gridmap._errors": ("gridmap.errors", (
        "CRSError", "EncodingError", "GridmapError", "ReadError", "SchemaError", "UnsafeFileError",
        "WorkspaceBusyError", "WorkspaceError", "WorkspaceVersionError")),
}
HEAVY = ("folium", "branca", "matplotlib", "PIL", "openpyxl", "fontTools", "playwright", "reportlab")
ROOMS = ("pages", "maps", "export")


def _fresh_import(name: str) -> object:
    sys.modules.pop(name, None)
    return importlib.import_module(name)


@pytest.mark.parametrize("old", sorted(MOVES))
def test_old_path_warns_and_gives_the_same_objects(old: str) -> None:
    new_name, names = MOVES[old]
    new = importlib.import_module(new_name)
    with pytest.warns(DeprecationWarning, match=rf"{old} is deprecated: it moved to {new_name}"):
        shim = _fresh_import(old)
    for name in names:
        assert getattr(shim, name) is getattr(new, name), name
    assert set(names) <= set(shim.__all__)
    sys.modules.pop(old, None)


@pytest.mark.parametrize("old", sorted(MOVES))
def test_old_path_from_import_warns(old: str) -> None:
    new_name, names = MOVES[old]
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning):
        namespace: dict[str, object] = {}
        exec(f"from {old} import {names[0]}", namespace)  # noqa: S102 - the import statement a user writes
    assert namespace[names[0]] is getattr(importlib.import_module(new_name), names[0])
    sys.modules.pop(old, None)


def test_the_public_api_names_resolve_to_the_new_modules() -> None:
    import gridmap

    expected = {"export_html": "gridmap.pages.report", "report_map": "gridmap.pages.report",
                "briefing": "gridmap.pages.briefing", "scoreboard_html": "gridmap.pages.scoreboard",
                "write_csv": "gridmap.export.spreadsheet", "write_xlsx": "gridmap.export.spreadsheet",
                "redact_text": "gridmap.export.privacy", "redact_frame": "gridmap.export.privacy",
                "mask_name": "gridmap.export.privacy", "strip_exif": "gridmap.export.privacy"}
    for name, module in expected.items():
        assert getattr(gridmap, name) is getattr(importlib.import_module(module), name)
        assert getattr(gridmap, name).__module__ == module


def test_the_spot_check_page_is_the_same_page_from_the_method_and_the_pages_room(tmp_path: Path) -> None:
    import gridmap
    from gridmap.pages.spotcheck import spotcheck_html

    sample = gridmap.spot_check(gridmap.sample_layers(n_reports=300, track_days=1), n=8, seed=5)
    via_method = sample.to_html(tmp_path / "a.html", offline=False, lang="en").read_text(encoding="utf-8")
    assert via_method == spotcheck_html(sample, offline=False, lang="en")
    for rid in sample.checklist["report_id"]:
        assert str(rid) in via_method


# --- the rooms' rules, read from the source -------------------------------------------------------------------


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _room(module: str) -> str:
    """The subpackage a module sits in (``gridmap`` for the top floor)."""
    return module.rpartition(".")[0]


def _imports(path: Path) -> list[tuple[ast.ImportFrom | ast.Import, bool]]:
    """Every import of the file, with whether it sits inside a function."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    inside = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
              for n in ast.walk(f)}
    return [(n, id(n) in inside) for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]


def _in_rooms(module: str) -> bool:
    return any(module.startswith(f"gridmap.{room}") for room in ROOMS)


def test_no_underscore_name_crosses_into_or_out_of_the_rooms() -> None:
    back_doors = []
    for module, path in _modules().items():
        for node, _local in _imports(path):
            if not isinstance(node, ast.ImportFrom) or not (node.module or "").startswith("gridmap"):
                continue
            source = node.module or ""
            if not (_in_rooms(module) or _in_rooms(source)) or _room(source) == _room(module):
                continue
            private = [a.name for a in node.names if a.name.startswith("_")]
            private_module = [p for p in source.split(".")[1:] if p.startswith("_") and p != "_errors"]
            if private or private_module:
                names = ", ".join(a.name for a in node.names)
                back_doors.append(f"{module}:{node.lineno} from {source} import {names}")
    assert back_doors == []


def test_the_analysis_and_the_maps_never_import_a_page_at_load() -> None:
    """The package's lazy exports, the CLI, the jobs and the demo compose pages; SpotCheck.to_html is a job's."""
    found = []
    for module, path in _modules().items():
        if (module.startswith(("gridmap.pages", "gridmap.cli.", "gridmap.jobs.")) or module in MOVES
                or module in ("gridmap", "gridmap.cli", "gridmap.demo")):
            continue
        for node, _local in _imports(path):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            if any(n.startswith("gridmap.pages") for n in names):
                found.append(f"{module}:{node.lineno}")
    assert found == []


def test_function_local_imports_in_the_rooms_only_defer_heavy_dependencies() -> None:
    found = []
    for module, path in _modules().items():
        if not _in_rooms(module):
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        for node, local in _imports(path):
            if not local:
                continue
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            heavy = all(n.split(".")[0] in HEAVY for n in names)
            said = "# deferred" in lines[node.end_lineno - 1]
            if not (heavy and said):
                found.append(f"{module}:{node.lineno} {lines[node.lineno - 1].strip()}")
    assert found == []


def test_no_module_of_the_rooms_is_over_820_lines() -> None:
    sizes = {m: len(p.read_text(encoding="utf-8").splitlines()) for m, p in _modules().items() if _in_rooms(m)}
    assert {m: n for m, n in sizes.items() if n > 820} == {}
