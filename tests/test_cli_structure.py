"""The ``gridmap`` command's surface stays exactly what it was: every command, option, default and help.

``tests/data/cli_parser.json`` was recorded from the parser of the single-module ``gridmap/cli.py``
before it became the ``gridmap.cli`` package; the package's parser must describe itself identically.
Regenerate the record only for a deliberate change of the command line::

    PYTHONPATH=$PWD python tests/test_cli_structure.py > tests/data/cli_parser.json
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import tomllib

from gridmap.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "tests" / "data" / "cli_parser.json"
HEAVY = ("pandas", "numpy", "geopandas", "shapely", "pyproj", "folium", "matplotlib")


def _plain(value: Any) -> Any:
    """A JSON-able stand-in of a default or choice: a path keeps its kind, a function its name."""
    if isinstance(value, Path):
        return {"Path": str(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if callable(value):
        return {"callable": getattr(value, "__name__", repr(value))}
    return value


def _action(action: argparse.Action) -> dict[str, Any]:
    record: dict[str, Any] = {
        "kind": type(action).__name__,
        "option_strings": list(action.option_strings),
        "dest": action.dest,
        "default": _plain(action.default),
        "const": _plain(action.const),
        "nargs": action.nargs,
        "metavar": _plain(action.metavar),
        "required": action.required,
        "help": action.help,
        "type": None if action.type is None else getattr(action.type, "__name__", repr(action.type)),
    }
    if isinstance(action, argparse._SubParsersAction):
        helps = {choice.dest: choice.help for choice in action._choices_actions}
        record["subcommands"] = {name: {"help": helps.get(name), "parser": parser_structure(sub)}
                                 for name, sub in action.choices.items()}
    else:
        record["choices"] = _plain(list(action.choices)) if action.choices is not None else None
    return record


def parser_structure(parser: argparse.ArgumentParser) -> dict[str, Any]:
    """Everything argparse knows of `parser`'s command line, as plain JSON (argparse has no public API for it)."""
    return {
        "prog": parser.prog,
        "description": parser.description,
        "has_handler": parser.get_default("func") is not None,
        "actions": [_action(a) for a in parser._actions],
        "mutually_exclusive": [{"required": group.required, "dests": [a.dest for a in group._group_actions],
                                "options": [a.option_strings for a in group._group_actions]}
                               for group in parser._mutually_exclusive_groups],
    }


def _commands(structure: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command line that reaches a handler, e.g. ("coverage",) and ("assets", "fetch")."""
    found = []
    for action in structure["actions"]:
        for name, sub in action.get("subcommands", {}).items():
            found.append(prefix + (name,))
            found.extend(_commands(sub["parser"], prefix + (name,)))
    return found


RECORDED = json.loads(RECORD.read_text(encoding="utf-8")) if RECORD.exists() else {"actions": []}
COMMANDS = _commands(RECORDED)


def test_record_covers_every_command() -> None:
    """The record is not empty or stale: the README's commands (``copy``, ``grant``: issue 14; ``archive``: issue 15;
    ``route``: issue 17), ``assets fetch``."""
    names = {c[0] for c in COMMANDS}
    assert names == {"init", "import", "validate", "category", "alias", "coverage", "heatmap", "hotspots",
                     "briefing", "report", "scoreboard", "spotcheck", "assets", "info", "quarantine", "demo", "copy",
                     "grant", "archive", "route"}
    assert ("assets", "fetch") in COMMANDS


def test_parser_is_the_recorded_one() -> None:
    """Every command's options in their order, with their defaults, choices, help ...; the commands as a set.

    The order in which ``gridmap --help`` lists the commands is not compared: the package lists them by
    command module (workspace, import, analysis, pages, assets, demo).
    """
    structure = json.loads(json.dumps(parser_structure(build_parser())))
    assert structure["actions"][-1]["subcommands"].keys() == RECORDED["actions"][-1]["subcommands"].keys()
    for name, sub in RECORDED["actions"][-1]["subcommands"].items():  # one command at a time: a readable diff
        assert structure["actions"][-1]["subcommands"][name] == sub, name
    assert structure == RECORDED


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_command_help_exits_0(command: tuple[str, ...]) -> None:
    """``gridmap CMD --help`` in a fresh interpreter: status 0, every recorded option named in the help."""
    done = subprocess.run([sys.executable, "-m", "gridmap", *command, "--help"], check=False, capture_output=True,
                          text=True, encoding="utf-8", cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: gridmap " + " ".join(command))
    parser = RECORDED
    for word in command:
        parser = next(a["subcommands"][word]["parser"] for a in parser["actions"] if "subcommands" in a)
    for action in parser["actions"]:
        for option in action["option_strings"]:
            assert option in done.stdout, option


def test_top_level_help_exits_0_and_lists_every_command() -> None:
    done = subprocess.run([sys.executable, "-m", "gridmap", "--help"], check=False, capture_output=True, text=True,
                          encoding="utf-8", cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    for command in {c[0] for c in COMMANDS}:
        assert f"    {command} " in done.stdout, command


def test_in_process_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["coverage", "--help"])
    assert exc.value.code == 0
    assert "--dead-corners FILE.geojson" in capsys.readouterr().out


def test_help_imports_no_heavy_dependency() -> None:
    """Parsing a command line and printing help loads none of pandas, geopandas, folium, matplotlib ..."""
    code = ("import sys, gridmap.cli as c\n"
            "p = c.build_parser(); p.format_help()\n"
            "[p.parse_args(w) for w in (['coverage', 'ws'], ['report', 'ws', '--html', 'x.html'], ['demo'])]\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))\n")
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_console_script_and_module_entry_points_are_main() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    module, _, name = scripts["gridmap"].partition(":")
    assert getattr(importlib.import_module(module), name) is main
    assert importlib.import_module("gridmap.__main__").main is main


if __name__ == "__main__":  # regenerate the record (see the module docstring)
    sys.stdout.write(json.dumps(parser_structure(build_parser()), ensure_ascii=False, indent=1) + "\n")
