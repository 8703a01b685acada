"""A ``postgresql://`` workspace URL works wherever a workspace path does, and its password is never shown.

Without a server: every entry point (``open_workspace``, ``init_workspace``, ``read_layers``, ``import_file``,
``retry_quarantine``, the jobs, the pages, every CLI command taking a WORKSPACE) hands a URL to the PostGIS store;
with psycopg (or the store) missing the error names ``pip install 'gridmap[postgis]'`` and masks the password;
against an unreachable server the command fails with one line, no traceback, no password. With a server
(``@pytest.mark.postgis``): the commands run against a URL holding the password, and it appears in none of
stdout, stderr, the log records or the files written.
"""

from __future__ import annotations

import json
import logging
import os
import string
import sys
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import gridmap
import gridmap.storage.copy
import gridmap.storage.stores
from gridmap.cli import build_parser, main
from gridmap.errors import WorkspaceError
from gridmap.storage import init_workspace, open_workspace, read_layers

PASSWORD = "S3cr3t-pw-4711"
URL = f"postgresql://office:{PASSWORD}@db.example:5432/city?schema=gulou"
UNREACHABLE = f"postgresql://office:{PASSWORD}@127.0.0.1:1/city?connect_timeout=2"
FIX = "pip install 'gridmap[postgis]'"


@pytest.fixture(params=["gridmap.storage.postgis", "psycopg"])
def no_driver(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The PostGIS store (or psycopg under it) cannot be imported, as without ``gridmap[postgis]``."""
    monkeypatch.setitem(sys.modules, request.param, None)
    if request.param == "psycopg":
        monkeypatch.delitem(sys.modules, "gridmap.storage.postgis", raising=False)
    return request.param


def _commands(tmp: Path, url: str) -> dict[str, list[str]]:
    """Every command that takes a WORKSPACE, with the arguments it requires, run against `url`."""
    csv = tmp / "r.csv"
    csv.write_text("report_id,reported_at,category,lon,lat\nR1,2025-03-01 08:00,垃圾乱倒,109.73,38.29\n",
                   encoding="utf-8")
    return {
        "init": ["init", url], "info": ["info", url, "--json"], "category": ["category", url],
        "alias": ["alias", url, "--json"], "quarantine": ["quarantine", url],
        "quarantine --retry": ["quarantine", url, "--retry", "--json"],
        "import": ["import", url, "reports", str(csv), "--coords", "wgs84", "--json"],
        "validate": ["validate", url, "--json"], "coverage": ["coverage", url, "--quiet"],
        "heatmap": ["heatmap", url], "hotspots": ["hotspots", url],
        "briefing": ["briefing", url, "--png", str(tmp / "b.png")],
        "report": ["report", url, "--html", str(tmp / "r.html"), "--online"],
        "scoreboard": ["scoreboard", url, "--csv", str(tmp / "s.csv")],
        "spotcheck": ["spotcheck", url, "--n", "1", "--seed", "7"],
        "copy from": ["copy", url, str(tmp / "c.gpkg")],
        "copy to": ["copy", str(tmp / "src.gpkg"), url],
    }


def _written_text(folder: Path) -> str:
    """Every file under `folder`, read as bytes and decoded leniently (a password would show as is)."""
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in sorted(folder.rglob("*")) if p.is_file())


def test_the_hall_names_the_dispatching_functions() -> None:
    assert gridmap.open_workspace is gridmap.storage.stores.open_workspace
    assert gridmap.init_workspace is gridmap.storage.stores.init_workspace
    assert gridmap.copy_workspace is gridmap.storage.copy.copy_workspace and "copy_workspace" in gridmap.__all__


@pytest.mark.parametrize("call", ["open", "init", "read_layers"])
def test_storage_entry_points_name_the_fix_and_mask_the_password(call: str, no_driver: str) -> None:
    with pytest.raises(WorkspaceError) as info:
        if call == "open":
            open_workspace(URL)
        elif call == "init":
            init_workspace(URL, sample=True)
        else:
            read_layers(URL, ["grids"])
    message = str(info.value)
    assert FIX in message and PASSWORD not in message


def test_importer_retry_jobs_and_pages_take_a_url(tmp_path: Path, no_driver: str) -> None:
    from gridmap.io.importer import import_file
    from gridmap.io.retry import retry_quarantine
    from gridmap.jobs.spotcheck import spot_check
    from gridmap.jobs.supervision import run_scoreboard

    csv = tmp_path / "r.csv"
    csv.write_text("report_id,reported_at,category,lon,lat\n", encoding="utf-8")
    calls = [
        lambda: import_file(URL, "reports", csv, coords="wgs84"),
        lambda: retry_quarantine(URL),
        lambda: spot_check(URL, n=1, seed=1),
        lambda: run_scoreboard(URL, start=None, end=None),
        lambda: gridmap.export_html(URL, tmp_path / "r.html", offline=False),
    ]
    for call in calls:
        with pytest.raises(WorkspaceError) as info:
            call()
        assert FIX in str(info.value) and PASSWORD not in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv"]  # nothing written before the store opened


def test_a_url_is_not_folded_into_a_path() -> None:
    """argparse hands the URL on exactly as typed (a pathlib.Path would turn ``//`` into ``/``)."""
    parser = build_parser()
    for command in ("info", "import", "coverage", "report", "copy"):
        extra = {"import": ["reports", "f.csv"], "report": ["--html", "x.html"], "copy": ["b.gpkg"]}.get(command, [])
        args = parser.parse_args([command, URL, *extra])
        location = args.src if command == "copy" else args.workspace
        assert location == URL and isinstance(location, str)
    assert isinstance(parser.parse_args(["info", "w.gpkg"]).workspace, Path)


def test_every_workspace_command_accepts_a_url(tmp_path: Path, no_driver: str, capsys: pytest.CaptureFixture[str],
                                               caplog: pytest.LogCaptureFixture) -> None:
    """Each command reaches the store (the missing driver's error, not a file check) and shows no password."""
    init_workspace(tmp_path / "src.gpkg").close()  # `copy to` reads a real GeoPackage first
    caplog.set_level(logging.DEBUG)
    for name, argv in _commands(tmp_path, URL).items():
        status = main(argv)
        out, err = capsys.readouterr()
        assert status == 2, (name, out, err)
        assert FIX in err and err.startswith("gridmap: error:") and "Traceback" not in err, (name, err)
        assert PASSWORD not in out + err, name
        if "--json" in argv:
            assert json.loads(out)["exit"] == 2 and FIX in json.loads(out)["error"]
    assert PASSWORD not in caplog.text
    assert PASSWORD not in _written_text(tmp_path)
    assert not (tmp_path / "c.gpkg").exists()  # a copy that could not read its source writes nothing


def test_unreachable_server_fails_in_one_line_without_the_password(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    """Nothing listens on port 1: whatever the store says, it is one error line and the password is masked."""
    init_workspace(tmp_path / "src.gpkg").close()
    caplog.set_level(logging.DEBUG)
    for name, argv in _commands(tmp_path, UNREACHABLE).items():
        status = main(argv)
        out, err = capsys.readouterr()
        assert status == 2, (name, out, err)
        assert err.startswith("gridmap: error:") and "Traceback" not in err, (name, err)
        assert PASSWORD not in out + err, name
        assert "office:***@127.0.0.1" in err or "127.0.0.1" not in err, (name, err)
    assert PASSWORD not in caplog.text
    assert PASSWORD not in _written_text(tmp_path)


_PASSWORDS = st.text(alphabet=string.ascii_letters + string.digits + "-._~%!$*+,;=&'()/:", min_size=6, max_size=24)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(password=_PASSWORDS)
@example(password="p:a:ss/word")
@example(password="a&password=b")
def test_an_echoed_url_shows_stars_for_any_password(password: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``gridmap copy URL URL`` names the URL in its refusal, with ``***`` for the password (stderr and JSON)."""
    url = f"postgresql://office:{password}@db.example:5432/city?schema=gulou"
    shown = "postgresql://office:***@db.example:5432/city?schema=gulou"  # written out, not computed by gridmap
    assume(password not in shown and password not in "gridmap: error: copy needs two workspaces; SRC and DST are both")
    assert main(["copy", url, url, "--json"]) == 2
    out, err = capsys.readouterr()
    assert shown in err and shown in json.loads(out)["error"]
    assert password not in out + err


@pytest.mark.parametrize("command", ["init", "info", "category", "alias", "quarantine", "import", "validate",
                                     "coverage", "heatmap", "hotspots", "briefing", "report", "scoreboard",
                                     "spotcheck", "copy"])
def test_help_says_a_workspace_may_be_a_url(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "postgresql://" in text and "PGPASSWORD" in text


def test_geopackage_init_still_refuses_an_existing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "w.gpkg").write_bytes(b"")
    assert main(["init", str(tmp_path / "w.gpkg")]) == 2
    assert "--overwrite" in capsys.readouterr().err


# --- with a server -------------------------------------------------------------------------------------------


def _with_password(url: str) -> tuple[str, str]:
    """`url` with the environment's password (or a made-up one, which trust auth ignores) in it."""
    password = os.environ.get("PGPASSWORD") or PASSWORD
    parts = urlsplit(url)
    user, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user}:{quote(password, safe='')}@{host}")), quote(password, safe="")


@pytest.mark.postgis
def test_commands_against_a_server_never_show_the_password(postgis_url: str, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str],
                                                           caplog: pytest.LogCaptureFixture) -> None:
    url, password = _with_password(postgis_url)
    assert len(password) >= 6
    caplog.set_level(logging.DEBUG)
    init_workspace(tmp_path / "src.gpkg", sample=True).close()
    second = url + ("&" if "?" in url else "?") + "schema=copied"
    runs = [["init", url, "--sample"], ["info", url, "--json"], ["category", url], ["alias", url, "--json"],
            ["quarantine", url], ["validate", url, "--json"], ["coverage", url, "--quiet"],
            ["scoreboard", url, "--csv", str(tmp_path / "s.csv")],
            ["spotcheck", url, "--n", "12", "--seed", "7", "--csv", str(tmp_path / "c.csv")],
            ["report", url, "--html", str(tmp_path / "r.html"), "--online"],
            ["copy", str(tmp_path / "src.gpkg"), second, "--json"], ["copy", url, str(tmp_path / "back.gpkg")],
            ["init", url]]  # the last one is refused: the schema exists
    statuses = []
    for argv in runs:
        statuses.append(main(argv))
        out, err = capsys.readouterr()
        assert password not in out + err and PASSWORD not in out + err, argv
    assert statuses[:-1] == [0, 0, 0, 0, 0, statuses[5], 0, 0, 0, 0, 0, 0] and statuses[-1] == 2
    assert password not in caplog.text
    assert password not in _written_text(tmp_path)
