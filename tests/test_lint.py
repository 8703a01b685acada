"""CI runs the linter and the type checker (issue 13): ``ruff check gridmap`` and ``mypy``.

Both read their configuration from pyproject.toml (``[tool.ruff]``, ``[tool.mypy]``).
mypy checks the whole package except the modules listed with ``ignore_errors``
(they had type errors when the check came in); a second run without that
exemption proves the list is still needed entry by entry, so it can only shrink.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
ERROR_LINE = re.compile(r"^(?P<path>[^:\s]+\.py):\d+: error:", re.MULTILINE)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def exempt_modules() -> list[str]:
    modules = []
    for override in PYPROJECT["tool"]["mypy"].get("overrides", []):
        if override.get("ignore_errors"):
            names = override["module"]
            modules += [names] if isinstance(names, str) else names
    return modules


def covers(entry: str, module: str) -> bool:
    """Whether a mypy override entry names ``module`` (``a.b.*`` names ``a.b`` and its submodules)."""
    if entry.endswith(".*"):
        return module == entry[:-2] or module.startswith(entry[:-1])
    return module == entry


def test_no_module_is_exempt_from_mypy():
    # issue 13 is done when the whole package type-checks: the exemption list is gone
    assert exempt_modules() == []


def test_covers_follows_mypy_patterns():
    assert covers("gridmap.cli.*", "gridmap.cli") and covers("gridmap.cli.*", "gridmap.cli.pages")
    assert not covers("gridmap.cli.*", "gridmap.client") and not covers("gridmap.cli", "gridmap.cli.pages")


def module_of(path: str) -> str:
    name = Path(path).with_suffix("").as_posix().replace("/", ".")
    return name.removesuffix(".__init__")


@pytest.mark.slow
def test_ruff_passes_on_the_package():
    result = run("ruff", "check", "gridmap")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_mypy_passes_with_the_configured_exemptions():
    result = run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success" in result.stdout


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"unexpected mypy option value {value!r}")


@pytest.mark.slow
def test_every_exempt_module_still_has_type_errors(tmp_path):
    # the same options without the exemptions: the modules with errors must be
    # exactly the listed ones (a clean module leaves the list; a new one never joins it)
    options = {k: v for k, v in PYPROJECT["tool"]["mypy"].items() if k != "overrides"}
    options["cache_dir"] = str(ROOT / ".cache" / "mypy-unexempt")
    config = tmp_path / "mypy.toml"
    config.write_text("[tool.mypy]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in options.items()))
    result = run("mypy", "--config-file", str(config))
    assert "error:" in result.stdout or result.returncode == 0, result.stdout + result.stderr
    failing = {module_of(m.group("path")) for m in ERROR_LINE.finditer(result.stdout)}
    listed = set(exempt_modules())
    clean = sorted(entry for entry in listed if not any(covers(entry, module) for module in failing))
    assert not clean, f"type-clean now: remove from [[tool.mypy.overrides]] ignore_errors in pyproject.toml: {clean}"
    unlisted = sorted(m for m in failing if not any(covers(entry, m) for entry in listed))
    assert not unlisted  # else the first mypy test fails too; here for the message


# --- the public API is fully typed (checked from the source with ast) -------------------------


def _public_exports() -> dict[str, str]:
    """``gridmap._EXPORTS``: public name -> module, read from the source (not imported)."""
    import ast

    tree = ast.parse((ROOT / "gridmap" / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            if isinstance(target, ast.Name) and target.id == "_EXPORTS" and node.value is not None:
                return ast.literal_eval(node.value)
    raise AssertionError("gridmap/__init__.py has no _EXPORTS")


def _definition(module: str, name: str, depth: int = 0):
    """The ``def``/``class`` node of ``module.name``, following ``from x import name`` re-exports."""
    import ast

    base = ROOT / Path(*module.split("."))
    path = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return node
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gridmap") and depth < 5:
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    return _definition(node.module, alias.name, depth + 1)
    return None  # a constant (LAYERS, CATEGORIES, ...)


def _untyped(function) -> list[str]:
    """Parameters (and ``return``) of a ``def`` node without an annotation."""
    args = function.args
    params = args.posonlyargs + args.args + args.kwonlyargs + [a for a in (args.vararg, args.kwarg) if a]
    missing = [a.arg for a in params if a.annotation is None and a.arg not in ("self", "cls")]
    if function.returns is None and function.name != "__init__":
        missing.append("return")
    return missing


def test_the_annotation_check_sees_a_missing_annotation():
    import ast

    node = ast.parse("def f(a: int, b, *args, c: str = '', **kw) -> None: ...\ndef g(self, x: int): ...").body
    assert _untyped(node[0]) == ["b", "args", "kw"]
    assert _untyped(node[1]) == ["return"]


def test_every_public_function_and_method_is_annotated():
    import ast

    problems = {}
    for name, module in sorted(_public_exports().items()):
        node = _definition(module, name)
        assert node is not None or name.isupper(), f"gridmap.{name}: no def or class found in {module}"
        functions = [node] if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else []
        if isinstance(node, ast.ClassDef):
            functions = [n for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                         and (not n.name.startswith("_") or n.name == "__init__")]
        for function in functions:
            missing = _untyped(function)
            if missing:
                problems[f"{module}.{name}" + ("" if function is node else f".{function.name}")] = missing
    assert not problems, f"public API without annotations: {problems}"
