"""The storage room: the WorkspaceStore interface, the GeoPackage store behind it, the old path's shim.

Checks that :class:`gridmap.storage.Workspace` satisfies :class:`gridmap.storage.WorkspaceStore`
(every method, with the interface's signature), that an independent store of the interface is
enough for code typed against it, that ``gridmap.workspace`` warns and gives the same objects,
and the house rules of the room (no storage underscore names used outside it, module and
function sizes, no import cycles inside it).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import sys
import warnings
from pathlib import Path
from types import TracebackType
from typing import Any, Mapping, Sequence

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point

import gridmap
import gridmap.storage
from gridmap.io.importer import prepare_for
from gridmap.model import QUARANTINE_COLUMNS, Category, ImportSummary
from gridmap.storage import Workspace, WorkspaceStore, init_workspace, read_layers

PACKAGE = Path(gridmap.__file__).parent
STORAGE = PACKAGE / "storage"
#: The members of the interface: what tests/test_storage checks against the GeoPackage store.
MEMBERS = [name for name in dir(WorkspaceStore)
           if not name.startswith("_") or name in ("__enter__", "__exit__")]
MEMBERS = [name for name in MEMBERS if name in WorkspaceStore.__dict__]
PROPERTIES = ["path", "meta", "schema_version"]


@pytest.fixture()
def ws(tmp_path: Path) -> Workspace:
    workspace = init_workspace(tmp_path / "w.gpkg")
    yield workspace
    workspace.close()


def test_interface_lists_what_the_brief_asks() -> None:
    wanted = {"path", "meta", "schema_version", "read_layer", "read_window", "counts", "append", "quarantine",
              "quarantine_with_options", "imports", "report_states", "categories", "add_category",
              "column_aliases", "add_column_alias", "subdistrict_geometry", "integrity_check", "close",
              "__enter__", "__exit__", "restore"}  # restore: gridmap copy (issue 14)
    assert set(MEMBERS) == wanted


def test_geopackage_workspace_is_a_store(ws: Workspace) -> None:
    assert isinstance(ws, WorkspaceStore)
    assert not isinstance("w.gpkg", WorkspaceStore)  # a path is not a store: importer and retry open it
    assert not isinstance(_grid_frame(), WorkspaceStore)  # recurrence tells a frame of reports from a store
    assert not isinstance({"grids": _grid_frame()}, WorkspaceStore)  # read_layers tells a dict of layers


@pytest.mark.parametrize("name", [m for m in MEMBERS if m not in PROPERTIES])
def test_every_method_has_the_interface_signature(name: str) -> None:
    documented = inspect.signature(getattr(WorkspaceStore, name))
    implemented = inspect.signature(getattr(Workspace, name))
    assert [(p.name, p.kind, p.default) for p in implemented.parameters.values()] == \
        [(p.name, p.kind, p.default) for p in documented.parameters.values()]
    assert str(implemented.return_annotation).replace("Workspace", "Store") == \
        str(documented.return_annotation).replace("WorkspaceStore", "Store")


@pytest.mark.parametrize("name", PROPERTIES)
def test_properties_are_properties(name: str) -> None:
    assert isinstance(WorkspaceStore.__dict__[name], property)
    assert isinstance(Workspace.__dict__[name], property)


def test_report_states_match_the_layers(tmp_path: Path) -> None:
    """Independently: a report is rectified when some rectification row names it."""
    with init_workspace(tmp_path / "s.gpkg", sample=True) as ws:
        states = ws.report_states()
        reports, fixes = ws.read_layer("reports"), ws.read_layer("rectifications")
    assert len(reports) > 0 and 0 < len(fixes)
    fixed = set(fixes["report_id"].astype(str))
    assert states["report_id"].tolist() == reports["report_id"].tolist()
    assert states["status"].tolist() == reports["status"].tolist()
    assert states["rectified"].tolist() == [rid in fixed for rid in reports["report_id"].astype(str)]
    assert 0 < states["rectified"].sum() < len(states)


def test_report_states_of_an_empty_workspace(ws: Workspace) -> None:
    states = ws.report_states()
    assert list(states.columns) == ["report_id", "status", "rectified"] and len(states) == 0


class DictStore:
    """A store of the interface kept in memory: what a second store must offer, nothing SQLite."""

    def __init__(self, layers: Mapping[str, pd.DataFrame]) -> None:
        self._layers = dict(layers)
        self._closed = False

    @property
    def path(self) -> Path:
        return Path("memory")

    @property
    def meta(self) -> dict[str, str]:
        return {"schema_version": str(gridmap.storage.SCHEMA_VERSION)}

    @property
    def schema_version(self) -> int:
        return gridmap.storage.SCHEMA_VERSION

    def read_layer(self, name: str, *, where: str | None = None) -> pd.DataFrame:
        return self._layers[name].copy()

    def read_window(self, name: str, *, start: Any = None, end: Any = None,
                    bbox: tuple[float, float, float, float] | None = None) -> pd.DataFrame:
        return self._layers[name].copy()

    def counts(self) -> dict[str, int]:
        return {name: len(frame) for name, frame in self._layers.items()}

    def append(self, layer: str, frame: pd.DataFrame, *, quarantine: pd.DataFrame | None = None,
               source: str = "<frame>", source_digest: str = "", read: int | None = None,
               options: Mapping[str, Any] | None = None, raw_records: pd.DataFrame | None = None,
               replaces: Sequence[int] = ()) -> ImportSummary:
        raise NotImplementedError

    def restore(self, tables: Mapping[str, pd.DataFrame], meta: Mapping[str, str]) -> None:
        raise NotImplementedError

    def quarantine(self, source: str | None = None) -> pd.DataFrame:
        return pd.DataFrame()

    def quarantine_with_options(self, layer: str | None = None) -> pd.DataFrame:
        return pd.DataFrame()

    def imports(self) -> pd.DataFrame:
        return pd.DataFrame({"imported_at": ["2025-03-01T00:00:00+00:00", "2025-03-04T08:00:00+00:00"]})

    def report_states(self) -> pd.DataFrame:
        return pd.DataFrame({"report_id": ["r1", "r2", "r4"], "status": ["reported", "rectified", None],
                             "rectified": [False, False, True]})

    def categories(self) -> pd.DataFrame:
        return pd.DataFrame()

    def add_category(self, key: str, zh: str, en: str | None = None) -> Category:
        raise NotImplementedError

    def column_aliases(self, layer: str | None = None) -> pd.DataFrame:
        return pd.DataFrame({"layer": [], "source": [], "target": []}, dtype="string")

    def add_column_alias(self, layer: str, source: str, target: str) -> None:
        raise NotImplementedError

    def subdistrict_geometry(self) -> Any:
        return None

    def integrity_check(self) -> str:
        return "ok"

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> DictStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _grid_frame() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"grid_code": ["G1"]}, geometry=[Point(109.73, 38.29).buffer(0.01)], crs="EPSG:4326")


def test_read_layers_takes_any_store() -> None:
    grids = _grid_frame()
    store = DictStore({"grids": grids})
    assert isinstance(store, WorkspaceStore)
    layers, meta = read_layers(store, ["grids"])
    assert layers["grids"]["grid_code"].tolist() == ["G1"]
    assert meta["last_import"] == "2025-03-04T08:00:00+00:00"  # the latest of the two imports


def test_importer_prepares_spot_checks_against_any_store() -> None:
    """``prepare_for`` learns which reports were ever rectified from ``report_states``, not from SQL.

    Ever rectified: a stored rectification, or a status past ``reported`` (gridmap.io.records).
    """
    store = DictStore({"grids": _grid_frame().iloc[:0], "subdistrict": _grid_frame().iloc[:0]})
    records = pd.DataFrame({"report_id": ["r1", "r2", "r3", "r4"], "checked_at": ["2025-03-05 10:00"] * 4,
                            "result": ["verified"] * 4, "_record": [1, 2, 3, 4]})
    empty = pd.DataFrame({c.name: pd.Series(dtype="object") for c in QUARANTINE_COLUMNS})
    result = gridmap.ReadResult(records=records, quarantine=empty, source="checks.csv", source_digest="d")
    batch = prepare_for(store, "spotchecks", result, now=pd.Timestamp("2025-04-01", tz="Asia/Shanghai"))
    assert batch.accepted["report_id"].tolist() == ["r2", "r4"]
    assert dict(zip(batch.quarantine["record"].astype(int), batch.quarantine["reason"])) == {
        1: "not_rectified", 3: "unknown_report"}


def test_old_path_warns_and_gives_the_same_objects() -> None:
    sys.modules.pop("gridmap.workspace", None)
    with pytest.warns(DeprecationWarning, match="gridmap.workspace moved to gridmap.storage"):
        old = importlib.import_module("gridmap.workspace")
    for name in old.__all__:
        assert getattr(old, name) is getattr(gridmap.storage, name), name
    assert {"Workspace", "init_workspace", "open_workspace", "read_layers", "content_columns", "META_TABLE",
            "IMPORTS_TABLE", "QUARANTINE_TABLE", "CATEGORIES_TABLE", "ALIASES_TABLE"} <= set(old.__all__)
    sys.modules.pop("gridmap.workspace", None)


def test_public_api_points_to_storage() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert gridmap.Workspace is gridmap.storage.Workspace
        assert gridmap.open_workspace is gridmap.storage.open_workspace
        assert gridmap.init_workspace is gridmap.storage.init_workspace


# -- house rules of the room ----------------------------------------------------------------------------------


def _modules(root: Path) -> list[Path]:
    return sorted(root.rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every import in `path`, function-local ones too."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out.extend((a.name, []) for a in node.names)
    return out


def test_no_storage_private_name_is_used_outside_storage() -> None:
    bad = []
    for path in _modules(PACKAGE):
        if STORAGE in path.parents:
            continue
        for module, names in _imports(path):
            if module == "gridmap.storage" or module.startswith("gridmap.storage."):
                private = [p for p in module.split(".") if p.startswith("_")] + [n for n in names if n.startswith("_")]
                if private:
                    bad.append(f"{path.name}: {module} {private}")
            if module.startswith("gridmap.storage") and names == [] and "._" in module:
                bad.append(f"{path.name}: import {module}")
        text = path.read_text(encoding="utf-8")
        for attr in ("._query(", "._connect(", "._register_categories("):
            if attr in text:
                bad.append(f"{path.name}: {attr}")
    assert bad == []


def test_the_old_private_rtree_path_is_gone() -> None:
    assert not (PACKAGE / "_rtree.py").exists()
    assert (STORAGE / "gpkg" / "_rtree.py").exists()


def _code_lines(fn: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str]) -> int:
    body = fn.body
    first = body[0]
    docstring = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and \
        isinstance(first.value.value, str)
    if docstring and len(body) == 1:
        return 0
    start = body[1].lineno if docstring else first.lineno
    return sum(1 for line in lines[start - 1:fn.end_lineno] if line.strip() and not line.strip().startswith("#"))


@pytest.mark.parametrize("path", _modules(STORAGE), ids=lambda p: str(p.relative_to(STORAGE)))
def test_storage_modules_and_functions_are_small(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert len(lines) <= 800
    long = [(node.name, _code_lines(node, lines)) for node in ast.walk(ast.parse(text))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _code_lines(node, lines) > 60]
    assert long == []


def test_no_import_cycle_inside_storage() -> None:
    """Depth-first search over the imports between storage modules, function-local ones included."""
    names = {_module_name(p): p for p in _modules(STORAGE)}
    graph: dict[str, set[str]] = {}
    for name, path in names.items():
        targets = set()
        for module, imported in _imports(path):
            for candidate in [module, *(f"{module}.{n}" for n in imported)]:
                if candidate in names and candidate != name:
                    targets.add(candidate)
        graph[name] = targets
    # a package's __init__ re-exporting its modules is not a cycle with them: drop edges from a
    # module to its own enclosing package
    for name in graph:
        graph[name] = {t for t in graph[name] if not name.startswith(t + ".")}
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle.append(" -> ".join([*stack[stack.index(nxt):], nxt]))
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycle == []
