"""The house rules of issue 13, checked from the source with :mod:`ast`.

Nothing here imports gridmap: every rule is computed from the text of the
modules under ``gridmap/`` (parsed with :mod:`ast`, lines counted with
:mod:`tokenize`), so a broken or slow package cannot hide a violation.

The rules (see CONTRIBUTING.md and ARCHITECTURE.md):

* ``import_cycles``: no import cycle between gridmap modules, counting every
  ``import`` / ``from ... import`` anywhere in a module (function-local ones
  too; imports under ``if TYPE_CHECKING:`` never run and are not counted; the
  implicit import of parent packages is not counted either). A violation is an
  import edge ``a -> b`` whose two ends lie in one strongly connected component.
* ``undeclared_local_imports``: a gridmap module imported inside a function
  must say why, with a comment ``# deferred: <what is heavy>`` on the import's line or
  on the comment line just above it (it defers a heavy optional dependency so
  ``import gridmap`` stays cheap).
  Third-party imports inside functions need no comment.
* ``private_names``: no module imports another room's underscore names
  (``from gridmap.x import _y``, ``import gridmap.io._base``, ``x._y`` on an
  imported gridmap module) unless it sits in the same (sub)package as the
  owner of the name.
* ``room_arrows``: a room imports only the rooms the table "The arrows" of
  ARCHITECTURE.md allows (``ROOMS`` places every module, ``ARROWS`` is that table);
  a module in no room is a violation too.
* ``long_modules``: no module over 800 lines.
* ``long_functions``: no function over 60 lines of code (docstrings,
  comments and blank lines not counted).

The violations of today are listed in ``tests/data/architecture_allowlist.json``
(each entry with the issue that will remove it). A test fails on a violation
that is not listed and on a listed one that no longer occurs: the list can only
shrink. ``python tests/test_architecture.py`` prints the list the tree would
need now (``--write`` writes it) for a person to review after a move.
"""

from __future__ import annotations

import argparse
import ast
import io
import itertools
import json
import re
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
ALLOWLIST_PATH = ROOT / "tests" / "data" / "architecture_allowlist.json"
PACKAGE = "gridmap"
ISSUE = 13
MAX_MODULE_LINES = 800
MAX_FUNCTION_CODE_LINES = 60
DEFERRED_MARK = "# deferred:"
DEFERRED = re.compile(r"#\s*deferred:\s*\S")  # the mark followed by a reason
RULES = ("import_cycles", "undeclared_local_imports", "private_names", "room_arrows", "long_modules", "long_functions")

# The rooms of ARCHITECTURE.md: the longest matching prefix names a module's room
# (old top-level paths that become shims keep the room of their new home).
ROOMS = {
    "gridmap": "hall",
    "gridmap.__main__": "cli",
    "gridmap.cli": "cli",
    "gridmap.demo": "cli",
    "gridmap.jobs": "jobs",
    "gridmap.pages": "pages",
    "gridmap.html_report": "pages",
    "gridmap.supervision_page": "pages",
    "gridmap.briefing_page": "pages",
    "gridmap.maps": "maps",
    "gridmap.export": "export",
    "gridmap.spreadsheet": "export",
    "gridmap.privacy": "export",
    "gridmap.analysis": "analysis",
    "gridmap.coverage": "analysis",
    "gridmap.density": "analysis",
    "gridmap.hotspot": "analysis",
    "gridmap.recurrence": "analysis",
    "gridmap.supervision": "jobs",  # the shim gives the analysis' names and the jobs' (which open a path)
    "gridmap.spotcheck": "jobs",  # the same: spot_check and SpotCheck are the job's now
    "gridmap.validate": "analysis",
    "gridmap.selection": "analysis",
    "gridmap.io": "io",
    "gridmap.records": "io",
    "gridmap.importer": "io",
    "gridmap.retry": "io",
    "gridmap.archive": "archive",
    "gridmap.storage": "storage",
    "gridmap.workspace": "storage",
    "gridmap._rtree": "storage",
    "gridmap.sample": "sample",
    "gridmap.model": "bottom",
    "gridmap.crs": "bottom",
    "gridmap.formatting": "bottom",
    "gridmap.errors": "bottom",
    "gridmap._errors": "bottom",  # the deprecated shim of gridmap.errors
}
# which rooms a room may import besides itself (the table "The arrows" of ARCHITECTURE.md);
# the hall (gridmap/__init__.py, no runtime imports) may be imported by anyone
ARROWS = {
    "hall": {"cli", "jobs", "pages", "maps", "export", "analysis", "archive", "io", "storage", "sample", "bottom"},
    "cli": {"jobs", "pages", "maps", "export", "analysis", "archive", "io", "storage", "sample", "bottom"},
    "jobs": {"pages", "maps", "export", "analysis", "archive", "io", "storage", "sample", "bottom"},
    "pages": {"maps", "export", "analysis", "archive", "storage", "bottom"},
    "maps": {"analysis", "bottom"},
    "export": {"bottom"},
    "analysis": {"export", "archive", "bottom"},
    "archive": {"bottom"},
    "io": {"storage", "sample", "bottom"},
    "storage": {"sample", "bottom"},
    "sample": {"bottom"},
    "bottom": set(),
}


# ---------------------------------------------------------------------------
# the checker (pure ast/tokenize, no import of the package)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Tree:
    """The modules of one package: dotted name -> path, and which are packages."""

    modules: dict[str, Path]
    packages: frozenset[str]

    def package_of(self, module: str) -> str:
        """The package a module sits in (a package's ``__init__`` sits in itself)."""
        return module if module in self.packages else module.rpartition(".")[0]


def discover(root: Path, package: str = PACKAGE) -> Tree:
    """Every ``.py`` file under ``root/package`` as a dotted module name."""
    modules: dict[str, Path] = {}
    packages: set[str] = set()
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
            packages.add(".".join(parts))
        modules[".".join(parts)] = path
    return Tree(modules, frozenset(packages))


@dataclass(frozen=True)
class Import:
    """One imported gridmap module or name, where and how it is imported."""

    source: str  # importing module
    target: str  # imported module (the module a name is taken from)
    path: str  # full dotted path of what is imported (module or module.name)
    lineno: int
    local: bool  # inside a function body
    marked: bool  # carries the DEFERRED_MARK comment


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(tree: ast.AST, type_checking: bool = False) -> list[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Import nodes that run (and, with ``type_checking``, those for type checkers), each with whether
    it sits inside a function."""
    found: list[tuple[ast.Import | ast.ImportFrom, bool]] = []

    def visit(node: ast.AST, local: bool) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append((node, local))
            return
        if isinstance(node, ast.If) and _is_type_checking(node.test) and not type_checking:
            children: list[ast.AST] = list(node.orelse)
        else:
            children = list(ast.iter_child_nodes(node))
        inner = local or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in children:
            visit(child, inner)

    visit(tree, False)
    return found


def _from_base(tree: Tree, module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = tree.package_of(module).split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def module_imports(tree: Tree, module: str, type_checking: bool = False) -> list[Import]:
    """The gridmap-internal imports of one module (relative ones resolved)."""
    source = tree.modules[module].read_text(encoding="utf-8")
    lines = source.splitlines()
    result = []
    for node, local in _runtime_imports(ast.parse(source), type_checking):
        end = node.end_lineno or node.lineno
        above = lines[node.lineno - 2].strip() if node.lineno >= 2 else ""
        marked = any(DEFERRED.search(line) for line in lines[node.lineno - 1 : end]) or (
            above.startswith("#") and DEFERRED.search(above) is not None)
        if isinstance(node, ast.Import):
            pairs = [(alias.name, alias.name) for alias in node.names]
        else:
            base = _from_base(tree, module, node)
            pairs = []
            for alias in node.names:
                full = f"{base}.{alias.name}"
                pairs.append((full if full in tree.modules else base, full))
        for target, path in pairs:
            if target in tree.modules:
                result.append(Import(module, target, path, node.lineno, local, marked))
    return result


def all_imports(tree: Tree) -> list[Import]:
    return [imp for module in tree.modules for imp in module_imports(tree, module)]


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's strongly connected components (iterative), every node once."""
    nodes = sorted(set(graph) | {b for targets in graph.values() for b in targets})
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []
    counter = itertools.count()
    for start in nodes:
        if start in index:
            continue
        index[start] = low[start] = next(counter)
        stack.append(start)
        on_stack.add(start)
        work = [(start, iter(sorted(graph.get(start, ()))))]
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    components.append(component)
            elif child not in index:
                index[child] = low[child] = next(counter)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return components


def import_graph(tree: Tree) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {module: set() for module in tree.modules}
    for imp in all_imports(tree):
        graph[imp.source].add(imp.target)
    return graph


def cycle_violations(tree: Tree) -> dict[str, dict]:
    """Import edges ``a -> b`` with both ends in one cycle (a strongly connected component)."""
    graph = import_graph(tree)
    where = {}
    for number, component in enumerate(strongly_connected(graph)):
        for member in component:
            where[member] = (number, len(component))
    found = {}
    for a, targets in graph.items():
        for b in targets:
            if where[a][0] == where[b][0] and (where[a][1] > 1 or a == b):
                found[f"{a} -> {b}"] = {"cycle_size": where[a][1]}
    return found


def local_import_violations(tree: Tree) -> dict[str, dict]:
    """Function-local imports of gridmap modules without a ``# deferred: <reason>`` comment."""
    found: dict[str, dict] = {}
    for imp in all_imports(tree):
        if imp.local and not imp.marked and imp.target != imp.source:
            entry = found.setdefault(f"{imp.source} -> {imp.target}", {"names": 0})
            entry["names"] += 1  # names (or modules) imported, not statements
    return found


def private_part(tree: Tree, path: str) -> tuple[str, str] | None:
    """The first underscore name on a dotted path (the path up to it) and the package owning it.

    A private name of module ``pkg.sub.m`` (or a private module ``pkg.sub._m``)
    belongs to the subpackage ``pkg.sub``; one at the top level (``pkg._errors``,
    ``pkg.top._helper``) belongs to no room but its own module.
    """
    parts = path.split(".")
    for i, part in enumerate(parts):
        if part.startswith("_") and not (part.startswith("__") and part.endswith("__")):
            prefix = ".".join(parts[:i])
            owner = prefix if prefix in tree.packages else prefix.rpartition(".")[0]
            return ".".join(parts[: i + 1]), owner
    return None


def may_use(tree: Tree, module: str, owner: str) -> bool:
    """Whether ``module`` sits in the subpackage ``owner`` (the root package is the house, not a room),
    or is the owning package's ``__init__`` itself (which may re-export its private modules' names)."""
    return module == owner or ("." in owner and tree.package_of(module) == owner)


def _attribute_paths(tree: Tree, module: str) -> list[tuple[str, int]]:
    """``m._y`` accesses on imported gridmap modules, as dotted paths."""
    bound: dict[str, str] = {}
    syntax = ast.parse(tree.modules[module].read_text(encoding="utf-8"))
    for node in ast.walk(syntax):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in tree.modules:
                    if alias.asname:
                        bound[alias.asname] = alias.name
                    else:
                        bound[alias.name.split(".")[0]] = alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            base = _from_base(tree, module, node)
            for alias in node.names:
                if f"{base}.{alias.name}" in tree.modules:
                    bound[alias.asname or alias.name] = f"{base}.{alias.name}"
    paths = []
    for node in ast.walk(syntax):
        if not isinstance(node, ast.Attribute):
            continue
        chain = []
        value: ast.expr = node
        while isinstance(value, ast.Attribute):
            chain.append(value.attr)
            value = value.value
        if not isinstance(value, ast.Name) or value.id not in bound:
            continue
        path = bound[value.id]
        for attr in reversed(chain):
            path = f"{path}.{attr}"
            if path not in tree.modules:
                break
        paths.append((path, node.lineno))
    return paths


def private_name_violations(tree: Tree) -> dict[str, dict]:
    """Underscore names (or modules) used from outside the package that owns them.

    Imports for type checkers (under ``if TYPE_CHECKING:``) count here: they tie a module to
    another room's private name all the same.
    """
    found: dict[str, dict] = {}
    for module in tree.modules:
        used = [(imp.path, imp.lineno) for imp in module_imports(tree, module, type_checking=True)]
        used += _attribute_paths(tree, module)
        for path, _ in used:
            private = private_part(tree, path)
            if private is not None and not may_use(tree, module, private[1]) and private[0] != module:
                found[f"{module} -> {private[0]}"] = {}
    return found


def long_module_violations(tree: Tree) -> dict[str, dict]:
    found = {}
    for module, path in tree.modules.items():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_MODULE_LINES:
            found[module] = {"lines": lines}
    return found


def code_lines_of(source: str) -> tuple[set[int], ast.AST]:
    """Line numbers holding code: not blank, not only a comment, not a docstring."""
    syntax = ast.parse(source)
    lines: set[int] = set()
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
            tokenize.ENCODING, tokenize.ENDMARKER}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in skip:
            lines.update(range(token.start[0], token.end[0] + 1))
    for node in ast.walk(syntax):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)):
                lines.difference_update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    return lines, syntax


def function_code_lines(source: str) -> dict[str, int]:
    """Lines of code of every function (nested ones counted in their parent too), by qualified name."""
    lines, syntax = code_lines_of(source)
    result: dict[str, int] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    end = child.end_lineno or child.lineno
                    result[name] = sum(1 for line in lines if child.lineno <= line <= end)
                visit(child, f"{name}.")
            else:
                visit(child, prefix)

    visit(syntax, "")
    return result


def long_function_violations(tree: Tree) -> dict[str, dict]:
    found = {}
    for module, path in tree.modules.items():
        for name, count in function_code_lines(path.read_text(encoding="utf-8")).items():
            if count > MAX_FUNCTION_CODE_LINES:
                found[f"{module}:{name}"] = {"code_lines": count}
    return found


def room_of(module: str, rooms: dict[str, str] = ROOMS) -> str | None:
    """The room of the longest listed prefix (the root package is the hall only by itself)."""
    if module in rooms:
        return rooms[module]
    parts = module.split(".")
    for i in range(len(parts) - 1, 1, -1):
        room = rooms.get(".".join(parts[:i]))
        if room is not None:
            return room
    return None


def arrow_violations(tree: Tree, rooms: dict[str, str] = ROOMS,
                     arrows: dict[str, set[str]] = ARROWS) -> dict[str, dict]:
    """Imports from a room into one it may not import (see ARCHITECTURE.md); unplaced modules too."""
    found: dict[str, dict] = {}
    for module in tree.modules:
        if room_of(module, rooms) is None:
            found[f"{module} (in no room: add it to ROOMS)"] = {}
    for imp in all_imports(tree):
        a, b = room_of(imp.source, rooms), room_of(imp.target, rooms)
        if a and b and a != b and b != "hall" and b not in arrows[a]:
            found[f"{imp.source} -> {imp.target}"] = {"rooms": f"{a} -> {b}"}
    return found


CHECKS = {
    "import_cycles": cycle_violations,
    "undeclared_local_imports": local_import_violations,
    "private_names": private_name_violations,
    "room_arrows": arrow_violations,
    "long_modules": long_module_violations,
    "long_functions": long_function_violations,
}


def current_allowlist(tree: Tree) -> dict[str, dict[str, dict]]:
    """What the allowlist would have to say for the tree as it is."""
    return {
        rule: {key: {"issue": ISSUE, **info} for key, info in sorted(check(tree).items())}
        for rule, check in CHECKS.items()
    }


# ---------------------------------------------------------------------------
# the rules on the real package
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def package_tree() -> Tree:
    return discover(ROOT)


@pytest.fixture(scope="module")
def allowlist() -> dict[str, dict[str, dict]]:
    return json.loads(ALLOWLIST_PATH.read_text(encoding="utf-8"))


def test_allowlist_entries_name_their_issue(allowlist):
    assert set(allowlist) - {"_about"} == set(RULES)
    for rule in RULES:
        for key, entry in allowlist[rule].items():
            assert entry.get("issue") == ISSUE, f"{rule}: {key} names no issue"


@pytest.mark.parametrize("rule", RULES)
def test_house_rule(rule, package_tree, allowlist):
    found = set(CHECKS[rule](package_tree))
    allowed = set(allowlist[rule])
    new = sorted(found - allowed)
    gone = sorted(allowed - found)
    assert not new, (
        f"new violations of the house rule {rule!r} (see CONTRIBUTING.md; fix them rather than "
        f"listing them): {new}"
    )
    assert not gone, (
        f"these allowlisted violations of {rule!r} no longer occur: remove them from "
        f"{ALLOWLIST_PATH.relative_to(ROOT)} so the list only shrinks: {gone}"
    )


def test_the_rules_hold_with_nothing_excused():
    # issue 13 is done when every rule holds outright: no entry left in the allowlist
    allowlist = json.loads(ALLOWLIST_PATH.read_text(encoding="utf-8"))
    assert {rule: sorted(allowlist[rule]) for rule in RULES if allowlist[rule]} == {}


def test_arrows_match_the_architecture_document():
    # the table "The arrows" of ARCHITECTURE.md, parsed independently of ARROWS
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    table = text.split("## The arrows", 1)[1].split("\n\n", 2)[1]
    names = {"every room below it": None, "nothing in gridmap": None}
    documented = {}
    for line in table.splitlines()[2:]:
        room, may = [cell.strip() for cell in line.strip("|").split("|")]
        allowed = set() if may in names else {w.split()[0].strip(",") for w in may.split(", ")}
        documented[room] = allowed
    assert set(documented) == set(ARROWS) - {"hall", "sample"}
    for room, allowed in documented.items():
        if room == "cli":
            continue
        assert allowed == ARROWS[room], room
    assert ARROWS["cli"] == set(ARROWS) - {"hall", "cli"}


def test_the_scan_sees_the_whole_package(package_tree):
    # an independent listing of the files: a checker that silently skipped a
    # subpackage would pass every rule above
    files = {p for p in (ROOT / PACKAGE).rglob("*.py")}
    assert set(package_tree.modules.values()) == files
    assert {"gridmap", "gridmap.io", "gridmap.maps"} <= package_tree.packages


def test_readme_links_both_documents():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    development = readme.split("## Development", 1)[1].split("\n## ", 1)[0]
    for name in ("ARCHITECTURE.md", "CONTRIBUTING.md"):
        assert f"]({name})" in development, f"README's Development section does not link {name}"
        assert (ROOT / name).is_file()


def test_architecture_document_is_short_and_names_every_room(package_tree):
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 100  # two screens
    rooms = sorted({p.split(".")[1] for p in package_tree.packages if p.count(".") == 1})
    assert rooms, "no subpackage found"
    missing = [room for room in rooms if f"gridmap/{room}/" not in text]
    assert not missing, f"ARCHITECTURE.md does not say what these rooms own: {missing}"


def test_contributing_states_the_rules_the_tests_check():
    text = " ".join((ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8").split())
    assert f"`{DEFERRED_MARK} <what is heavy>`" in text
    assert f"no module over {MAX_MODULE_LINES} lines" in text
    assert f"no function over {MAX_FUNCTION_CODE_LINES} lines of code" in text
    assert "architecture_allowlist.json" in text and "[[tool.mypy.overrides]]" in text


# ---------------------------------------------------------------------------
# the checker itself, on small synthetic trees
# ---------------------------------------------------------------------------


def write_tree(root: Path, files: dict[str, str]) -> Tree:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return discover(root, "pkg")


def test_cycle_through_a_function_local_import_is_found(tmp_path):
    tree = write_tree(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg.b import g\n\ndef f():\n    return g()\n",
        "pkg/b.py": "def g():\n    from pkg import a\n    return a\n",
        "pkg/c.py": "import pkg.a\n",
    })
    assert set(cycle_violations(tree)) == {"pkg.a -> pkg.b", "pkg.b -> pkg.a"}
    assert set(local_import_violations(tree)) == {"pkg.b -> pkg.a"}


def test_marked_deferred_import_is_allowed_but_still_counts_for_cycles(tmp_path):
    tree = write_tree(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "import pkg.b\n",
        "pkg/b.py": "def g():\n    import pkg.a  # deferred: heavy (pulls geopandas)\n    import json\n",
    })
    assert local_import_violations(tree) == {}
    assert set(cycle_violations(tree)) == {"pkg.a -> pkg.b", "pkg.b -> pkg.a"}


def test_deferred_mark_needs_a_reason_on_the_line_or_just_above(tmp_path):
    tree = write_tree(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "",
        "pkg/above.py": "def g():\n    # deferred: pandas and folium\n    from pkg import a\n",
        "pkg/multi.py": "def g():\n    from pkg.a import (  # deferred: GeoPandas\n        x,\n    )\n",
        "pkg/bare.py": "def g():\n    from pkg import a  # deferred:\n",
        "pkg/far.py": "def g():\n    # deferred: pandas\n    x = 1\n    from pkg import a\n",
        "pkg/code_above.py": "def g():\n    y = 1  # deferred: pandas\n    from pkg import a\n",
    })
    assert set(local_import_violations(tree)) == {"pkg.bare -> pkg.a", "pkg.far -> pkg.a", "pkg.code_above -> pkg.a"}


def test_relative_imports_are_resolved_and_type_checking_ones_skipped(tmp_path):
    tree = write_tree(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/sub/__init__.py": "from . import x\n",
        "pkg/sub/x.py": "from ..y import h\n",
        "pkg/y.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.sub import x\n"
                    "else:\n    import os\n\ndef h():\n    from .sub.x import k\n",
    })
    graph = import_graph(tree)
    assert graph["pkg.sub"] == {"pkg.sub.x"}
    assert graph["pkg.sub.x"] == {"pkg.y"}
    assert graph["pkg.y"] == {"pkg.sub.x"}  # the TYPE_CHECKING import is not an edge
    assert set(cycle_violations(tree)) == {"pkg.sub.x -> pkg.y", "pkg.y -> pkg.sub.x"}


def test_private_import_within_the_same_subpackage_is_allowed(tmp_path):
    tree = write_tree(tmp_path, {
        "pkg/maps/__init__.py": "",
        "pkg/maps/_common.py": "def _style():\n    pass\n",
        "pkg/maps/static.py": "from pkg.maps._common import _style\n_x = 1\n",
        "pkg/maps/other.py": "from pkg.maps import static\nstatic._x\n",
        "pkg/page.py": "from pkg.maps.static import _x\n",
        "pkg/brief.py": "import pkg.maps.static as s\nfrom pkg.maps import static\n"
                        "def f():\n    return s._x, static.__name__, static.public\n",
        "pkg/deep.py": "import pkg.maps.static\npkg.maps.static._x\n",
        "pkg/usesmod.py": "from pkg.maps._common import style\n",
        "pkg/typed.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.maps.static import _x\n",
        "pkg/_errors.py": "class E(Exception):\n    pass\n",
        "pkg/top.py": "from pkg._errors import E\n_helper = 1\n",
        "pkg/top2.py": "from pkg.top import _helper\n",
        "pkg/__init__.py": "from pkg._errors import E\nfrom pkg.maps._common import style\n",
    })
    assert set(private_name_violations(tree)) == {
        "pkg.page -> pkg.maps.static._x",
        "pkg.brief -> pkg.maps.static._x",
        "pkg.deep -> pkg.maps.static._x",
        "pkg.usesmod -> pkg.maps._common",  # a private module of another room
        "pkg.typed -> pkg.maps.static._x",  # for type checkers only, still a back door
        # the top level is the house, not a room: its private names are its modules' own
        "pkg.top -> pkg._errors",
        "pkg.top2 -> pkg.top._helper",
        "pkg -> pkg.maps._common",  # the root package re-exports its own _errors, not a room's private module
    }


def test_arrow_into_a_room_above_is_found(tmp_path):
    tree = write_tree(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/low.py": "def f():\n    from pkg import high  # deferred: heavy\n",
        "pkg/high.py": "import pkg.low\nimport pkg\n",
        "pkg/stray.py": "",
    })
    rooms = {"pkg": "hall", "pkg.low": "bottom", "pkg.high": "maps"}
    assert arrow_violations(tree, rooms, {"hall": set(), "bottom": set(), "maps": {"bottom"}}) == {
        "pkg.low -> pkg.high": {"rooms": "bottom -> maps"},
        "pkg.stray (in no room: add it to ROOMS)": {},
    }


def test_long_docstring_and_comments_are_not_code_lines(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_CODE_LINES - 2))
    docstring = '    """Summary.\n\n' + "    more words\n" * 200 + '    """\n'
    source = (
        "@decorator\n"
        f"def f(a,\n      b):\n{docstring}"
        "    # a comment\n\n    # another\n"
        f"{body}\n"
        "    return (a +\n            b)\n"
    )
    # hand count: the two-line signature, MAX-2 assignments, the two-line return
    assert function_code_lines(source) == {"f": MAX_FUNCTION_CODE_LINES + 2}
    tree = write_tree(tmp_path, {"pkg/__init__.py": "", "pkg/m.py": source})
    assert set(long_function_violations(tree)) == {"pkg.m:f"}
    assert set(long_module_violations(tree)) == set()  # 270 lines < 800


def test_nested_functions_and_methods_are_named_and_counted():
    source = (
        "class C:\n"
        "    '''doc'''\n"
        "    def m(self):\n"
        "        '''doc'''\n"
        "        def inner():\n"
        "            return 1\n"
        "        s = '''not a docstring\n"
        "        still code'''\n"
        "        return inner()\n"
    )
    assert function_code_lines(source) == {"C.m": 6, "C.m.inner": 2}


def test_long_module_counts_physical_lines(tmp_path):
    tree = write_tree(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/big.py": "\n" * MAX_MODULE_LINES + "x = 1\n",
        "pkg/ok.py": "x = 1\n" * MAX_MODULE_LINES,
    })
    assert long_module_violations(tree) == {"pkg.big": {"lines": MAX_MODULE_LINES + 1}}


def _reaches(graph: dict[str, set[str]], a: str, b: str) -> bool:
    seen, todo = set(), [a]
    while todo:
        node = todo.pop()
        for nxt in graph.get(node, ()):
            if nxt == b:
                return True
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return False


@given(st.dictionaries(st.sampled_from("abcdefg"), st.sets(st.sampled_from("abcdefg"), max_size=3), max_size=7))
@example({"a": {"b"}, "b": {"a"}, "c": {"c"}})
@example({"a": {"b"}, "b": {"c"}, "c": set()})
def test_strongly_connected_matches_brute_force_reachability(graph):
    components = strongly_connected(graph)
    nodes = set(graph) | {b for t in graph.values() for b in t}
    assert sorted(m for c in components for m in c) == sorted(nodes)  # a partition
    where = {m: i for i, c in enumerate(components) for m in c}
    for a, b in itertools.product(nodes, repeat=2):
        same = a == b or (_reaches(graph, a, b) and _reaches(graph, b, a))
        assert (where[a] == where[b]) == same


def dump_allowlist(data: dict) -> str:
    """JSON with one entry per line, so a diff of the list reads as the violations fixed."""
    out = ["{"]
    for i, (rule, entries) in enumerate(data.items()):
        comma = "," if i < len(data) - 1 else ""
        if not isinstance(entries, dict):
            out.append(f"  {json.dumps(rule)}: {json.dumps(entries, ensure_ascii=False)}{comma}")
            continue
        out.append(f"  {json.dumps(rule)}: {{")
        for j, (key, entry) in enumerate(entries.items()):
            more = "," if j < len(entries) - 1 else ""
            out.append(f"    {json.dumps(key)}: {json.dumps(entry, ensure_ascii=False)}{more}")
        out.append(f"  }}{comma}")
    out.append("}")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print (or --write) the allowlist the tree needs now.")
    parser.add_argument("--write", action="store_true", help=f"write {ALLOWLIST_PATH}")
    args = parser.parse_args(argv)
    data = {"_about": "Known violations of the house rules (tests/test_architecture.py); empty since issue 13 "
                      "and it stays empty: the list may only shrink."}
    data.update(current_allowlist(discover(ROOT)))
    text = dump_allowlist(data)
    if args.write:
        ALLOWLIST_PATH.parent.mkdir(parents=True, exist_ok=True)
        ALLOWLIST_PATH.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
