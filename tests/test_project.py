"""The project's promises about itself: README, CI, packaging, style."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gridmap.model import LAYERS, QUARANTINE_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _quick_start_commands() -> list[str]:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section, flags=re.S)


def test_quick_start_has_exactly_two_commands() -> None:
    commands = _quick_start_commands()
    assert len(commands) == 2
    assert all("\n" not in c for c in commands)
    assert "gridmap demo" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    test_command = _quick_start_commands()[1]
    # verbatim, on one line (CI runs it inside pg_virtualenv, a throwaway PostGIS cluster)
    assert any(line.strip() == test_command or f"'{test_command}'" in line for line in ci.splitlines())
    assert "apt-get update" in ci


@pytest.mark.parametrize("layer", list(LAYERS))
def test_readme_documents_every_layer_and_column(layer: str) -> None:
    row = next((line for line in README.splitlines() if line.startswith(f"| `{layer}` |")), None)
    assert row is not None, f"README data model has no row for {layer}"
    for column in LAYERS[layer].column_names:
        assert f"`{column}`" in row, f"README row for {layer} lacks column {column}"


def test_readme_documents_quarantine_columns() -> None:
    row = next(line for line in README.splitlines() if line.startswith("| `quarantine` |"))
    for column in QUARANTINE_COLUMNS:
        assert f"`{column.name}`" in row


def test_readme_says_the_sample_is_illustrative() -> None:
    assert "illustrative" in README.lower() and "not surveyed" in README.lower().replace("no surveyed", "not surveyed")


def test_py_typed_is_shipped() -> None:
    assert (ROOT / "gridmap" / "py.typed").exists()
    assert "py.typed" in (ROOT / "pyproject.toml").read_text(encoding="utf-8")


def test_setup_cfg_configures_flake8_and_flake8_is_clean() -> None:
    cfg = (ROOT / "setup.cfg").read_text(encoding="utf-8")
    assert "[flake8]" in cfg
    if shutil.which("flake8") is None and subprocess.run(
            [sys.executable, "-m", "flake8", "--version"], capture_output=True).returncode != 0:
        pytest.skip("flake8 is not installed (it comes with the [test] extra)")
    result = subprocess.run([sys.executable, "-m", "flake8", "gridmap", "tests", "benchmarks"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_library_never_prints() -> None:
    offenders = []
    for path in (ROOT / "gridmap").rglob("*.py"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.match(r"\s*print\(", line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}")
    assert offenders == []


def test_import_gridmap_is_light() -> None:
    heavy = "('geopandas', 'pyogrio', 'fiona', 'folium')"
    code = f"import sys, gridmap; print(','.join(m for m in {heavy} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_every_public_name_resolves_and_no_module_shadows_a_function() -> None:
    code = (
        "import importlib, types, gridmap\n"
        "for name, module in gridmap._EXPORTS.items():\n"
        "    importlib.import_module(module)\n"
        "bad = [n for n in gridmap._EXPORTS if isinstance(getattr(gridmap, n), types.ModuleType)]\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_importing_a_benchmark_never_puts_benchmarks_first_on_sys_path() -> None:
    # benchmarks/html.py would shadow the standard library's html (dask imports it) in the importing process
    # and in every process it spawns (multiprocessing hands sys.path on to Dask's worker processes)
    import importlib.util

    saved = list(sys.path)
    here = (ROOT / "benchmarks").resolve()
    try:
        for name in ("coverage", "postgis", "city"):
            spec = importlib.util.spec_from_file_location(f"_bench_path_{name}", here / f"{name}.py")
            assert spec is not None and spec.loader is not None
            spec.loader.exec_module(importlib.util.module_from_spec(spec))
            assert Path(sys.path[0] or ".").resolve() != here, name
    finally:
        sys.path[:] = saved
