"""QGIS opens a PostGIS workspace as a PostGIS user expects (Debian's QGIS 3.22 as the client).

QGIS runs in ``/usr/bin/python3`` (python3-qgis) in a subprocess with a clean environment: the
venv's GDAL/PROJ wheels and PYTHONPATH crash QGIS's embedded Python. libpq's ``PG*`` variables are
passed through, so QGIS logs in as the tests do. Each script prints one JSON line that the test
compares with what gridmap reads and with the model.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import textwrap
import uuid
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from gridmap import init_workspace, open_workspace
from gridmap.model import CATEGORIES, LAYERS

pytestmark = [pytest.mark.qgis, pytest.mark.postgis]

QGIS_PYTHON = "/usr/bin/python3"
SCHEMA = "gridmap"
#: QGIS's geometry type names for the model's (QgsWkbTypes.displayString).
WKB_NAMES = {"Point": "Point", "MultiPolygon": "MultiPolygon", "MultiLineString": "MultiLineString"}
#: Geometry types QGIS lists for the model's generic "Geometry" (targets: points or polygons).
KIND_OF_SHAPE = {"Point": "Point", "Polygon": "Polygon", "MultiPolygon": "Polygon"}

_PRELUDE = """
import json, sys
from qgis.PyQt.QtCore import QDateTime, Qt
from qgis.PyQt.QtXml import QDomDocument
from qgis.core import (QgsApplication, QgsFeature, QgsFields, QgsProviderRegistry, QgsRenderContext,
                       QgsVectorDataProvider, QgsVectorLayer, QgsWkbTypes)
app = QgsApplication([], False)
app.initQgis()
args = json.loads(sys.argv[1])
"""

_OPEN_SCRIPT = _PRELUDE + """
P = QgsVectorDataProvider
out = {"layers": {}, "edits": {}, "tables": {}}

def other_category_symbol(lyr):
    renderer = lyr.renderer().clone()
    ctx = QgsRenderContext()
    renderer.startRender(ctx, lyr.fields())
    feature = QgsFeature(lyr.fields())
    feature.setAttribute("category", "not_a_gridmap_category")
    symbol = renderer.symbolForFeature(feature, ctx)
    renderer.stopRender(ctx)
    return None if symbol is None else symbol.color().name()

for item in args["layers"]:
    lyr = QgsVectorLayer(item["uri"], item["label"], "postgres")
    prov = lyr.dataProvider()
    caps = prov.capabilities()
    renderer = lyr.renderer()
    n, ids, names, descriptions, err = lyr.listStylesInDatabase()
    row = {"valid": lyr.isValid(), "count": lyr.featureCount(), "wkb": QgsWkbTypes.displayString(lyr.wkbType()),
           "crs": lyr.crs().authid(), "pk": [lyr.fields()[i].name() for i in prov.pkAttributeIndexes()],
           "add": bool(caps & P.AddFeatures), "change": bool(caps & P.ChangeAttributeValues),
           "delete": bool(caps & P.DeleteFeatures), "geometry": bool(caps & P.ChangeGeometries),
           "styles": names[:n], "renderer": renderer.type(), "labels": lyr.labelsEnabled(),
           "label_field": lyr.labeling().settings().fieldName if lyr.labeling() else None,
           "aliases": {f.name(): f.alias() for f in lyr.fields()}}
    if renderer.type() == "categorizedSymbol":
        row["categories"] = [[c.value(), c.label()] for c in renderer.categories()]
        row["other_symbol"] = other_category_symbol(lyr)
        doc = QDomDocument()
        doc.setContent(lyr.getStyleFromDatabase(ids[names.index("gridmap-en")])[0])
        row["imported_en"] = lyr.importNamedStyle(doc)
        row["categories_en"] = [[c.value(), c.label()] for c in lyr.renderer().categories()]
        row["aliases_en"] = {f.name(): f.alias() for f in lyr.fields()}
    out["layers"][item["label"]] = row

for edit in args["edits"]:
    lyr = QgsVectorLayer(edit["uri"], "edit", "postgres")
    feature = next(lyr.getFeatures(edit["where"]))
    lyr.startEditing()
    changed = lyr.changeAttributeValue(feature.id(), lyr.fields().indexOf(edit["field"]), edit["value"])
    committed = lyr.commitChanges()
    key = [feature[name] for name in edit["key"]]
    key = [v.toUTC().toString(Qt.ISODateWithMs) if isinstance(v, QDateTime) else v for v in key]
    out["edits"][edit["layer"]] = [changed, committed, lyr.commitErrors(), key]

conn = QgsProviderRegistry.instance().providerMetadata("postgres").createConnection(args["base"], {})
for table in conn.tables(args["schema"]):
    out["tables"][table.tableName()] = {
        "pk": table.primaryKeyColumns(), "column": table.geometryColumn(),
        "types": sorted([QgsWkbTypes.displayString(g.wkbType), g.crs.authid()] for g in table.geometryColumnTypes())}
print(json.dumps(out))
"""

_SAVE_SCRIPT = _PRELUDE + """
lyr = QgsVectorLayer(args["uri"], "grids", "postgres")
print(json.dumps([lyr.isValid(), lyr.saveStyleToDatabase("qgis-made", "saved by QGIS", False, "")]))
"""


def _qgis_or_skip() -> None:
    probe = subprocess.run([QGIS_PYTHON, "-c", "import qgis.core"], capture_output=True, env=_clean_env())
    if probe.returncode != 0:
        pytest.skip("python3-qgis is not installed (apt-get install --no-install-recommends python3-qgis "
                    "qgis-providers to run this check)")


def _clean_env() -> dict[str, str]:
    """PATH of the system and libpq's variables only (no PYTHONPATH, GDAL_DATA or PROJ_DATA of the wheels)."""
    env = {"PATH": "/usr/bin:/bin", "QT_QPA_PLATFORM": "offscreen", "HOME": os.environ.get("HOME", "/tmp")}
    env.update({k: v for k, v in os.environ.items() if k in {"PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE"}})
    return env


def _run_qgis(script: str, args: dict[str, Any]) -> Any:
    done = subprocess.run([QGIS_PYTHON, "-c", textwrap.dedent(script), json.dumps(args)], capture_output=True,
                          text=True, env=_clean_env(), timeout=300)
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    return json.loads(lines[-1])


def _base(url: str) -> str:
    """The QGIS connection string of the test database (host, port and user as libpq's environment has them)."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    host = query.get("host", [parts.hostname or os.environ.get("PGHOST", "localhost")])[0]
    port = query.get("port", [str(parts.port or os.environ.get("PGPORT", "5432"))])[0]
    return (f"dbname='{parts.path.lstrip('/')}' host={host} port={port} "
            f"user='{unquote(parts.username or os.environ.get('PGUSER', 'postgres'))}'")


def _uri(base: str, layer: str, key: tuple[str, ...] = (), wkb: str | None = None) -> str:
    """A layer's QGIS data source; without `key` QGIS takes the table's primary key, without `wkb` no geometry."""
    keys = ",".join(f'"{k}"' for k in key)
    source = f'table="{SCHEMA}"."{layer}"' + (" (geom)" if wkb else "")
    return (f"{base} " + (f"key='{keys}' " if key else "") + "checkPrimaryKeyUnicity='1' "
            + (f"srid=4326 type={wkb} " if wkb else "") + source)


def _qgis_key(spec: Any) -> tuple[str, ...]:
    """The primary key QGIS edits by: the layer's key, or ``fid`` when the key holds a time (QGIS 3.22 finds a row
    by its key cast to text and writes a time as 2025-03-03T00:39:36.000Z, which a timestamptz's text never is)."""
    return ("fid",) if any(spec.column(k).dtype == "datetime" for k in spec.key) else spec.key


def _expected_layers(ws: Any) -> dict[str, dict[str, Any]]:
    """Per QGIS layer (targets split into points and polygons): table, type, key and gridmap's row count."""
    out = {}
    for spec in LAYERS.values():
        if spec.geometry is None:
            continue
        frame = ws.read_layer(spec.name)
        if spec.geometry != "Geometry":
            out[spec.name] = {"table": spec.name, "wkb": WKB_NAMES[spec.geometry], "key": _qgis_key(spec),
                              "count": len(frame)}
            continue
        shapes = frame.geometry.geom_type.map(KIND_OF_SHAPE)
        for kind in ("Point", "Polygon"):
            out[f"{spec.name}:{kind}"] = {"table": spec.name, "wkb": kind, "key": _qgis_key(spec),
                                          "count": int((shapes == kind).sum()),
                                          "stored": sorted(set(frame.geometry.geom_type))}
    return out


def _utc_text(times: Any) -> list[str]:
    """Times as QGIS writes them in UTC: 2025-03-03T00:39:36.000Z."""
    return [t.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z" for t in times]


@pytest.fixture(scope="module")
def qgis_available() -> None:
    _qgis_or_skip()


def test_qgis_opens_lists_styles_and_edits_every_layer(postgis_url: str, qgis_available: None) -> None:
    url = f"{postgis_url}{'&' if '?' in postgis_url else '?'}schema={SCHEMA}"
    with init_workspace(url, sample=True) as ws:
        expected = _expected_layers(ws)
        grid = ws.read_layer("grids").iloc[0]
        tracks = ws.read_layer("tracks")
        fixes = ws.read_layer("rectifications")
    assert all(e["count"] > 0 for e in expected.values()), expected  # the sample fills every spatial layer
    base = _base(postgis_url)
    inspector = tracks["inspector"].iloc[-1]
    fix = fixes.iloc[len(fixes) // 2]
    args = {
        "base": base, "schema": SCHEMA,
        "layers": [{"label": name, "uri": _uri(base, e["table"], e["key"], e["wkb"])} for name, e in expected.items()],
        "edits": [
            {"layer": "grids", "uri": _uri(base, "grids", wkb="MultiPolygon"),
             "where": f"\"grid_code\" = '{grid['grid_code']}'", "key": ["grid_code"], "field": "name",
             "value": "QGIS 改过的网格"},
            {"layer": "tracks", "uri": _uri(base, "tracks", wkb="Point"),
             "where": f"\"inspector\" = '{inspector}'", "key": ["inspector", "time"], "field": "track_id",
             "value": "edited-in-qgis"},
            {"layer": "rectifications", "uri": _uri(base, "rectifications"),
             "where": f"\"report_id\" = '{fix['report_id']}'", "key": ["report_id", "rectified_at"],
             "field": "truck_trips", "value": 77},
        ],
    }
    result = _run_qgis(_OPEN_SCRIPT, args)

    for label, e in expected.items():
        row = result["layers"][label]
        assert row["valid"] and row["count"] == e["count"], (label, row)
        assert (row["wkb"], row["crs"]) == (e["wkb"], "EPSG:4326"), label
        assert row["pk"] == list(e["key"]), label
        assert row["add"] and row["change"] and row["delete"] and row["geometry"], label
        assert row["styles"][:2] == ["gridmap", "gridmap-en"], (label, row["styles"])  # the layer's own first
    reports = result["layers"]["reports"]
    assert reports["renderer"] == "categorizedSymbol"  # gridmap's default, not QGIS's single symbol
    assert reports["categories"] == [[c.key, c.zh] for c in CATEGORIES.values()] + [["", "其他类别"]]
    assert reports["other_symbol"] == "#bdbdbd"  # a category added later is drawn, grey
    assert reports["aliases"]["category"] == "问题类别" and reports["aliases"]["reported_at"] == "上报时间"
    assert reports["imported_en"] == [True, ""]  # the English style, as a QGIS user loads it from the database
    assert reports["categories_en"] == [[c.key, c.en] for c in CATEGORIES.values()] + [["", "other categories"]]
    assert set(reports["aliases_en"].values()) == {""}  # English: the column names themselves
    grids = result["layers"]["grids"]
    assert grids["renderer"] == "singleSymbol" and grids["labels"] and grids["label_field"] == "name"
    assert grids["aliases"]["grid_code"] == "网格编码"
    assert not result["layers"]["tracks"]["labels"]

    edited_time, fixed_time = result["edits"]["tracks"][3][1], result["edits"]["rectifications"][3][1]
    done = ["SUCCESS: 1 attribute value(s) changed."]  # QGIS's commit report
    assert result["edits"] == {"grids": [True, True, done, [grid["grid_code"]]],
                               "tracks": [True, True, done, [inspector, edited_time]],
                               "rectifications": [True, True, done, [fix["report_id"], fixed_time]]}
    with open_workspace(url) as ws:
        grids_after = ws.read_layer("grids").set_index("grid_code")
        tracks_after = ws.read_layer("tracks")
        fixes_after = ws.read_layer("rectifications")
    assert grids_after.loc[grid["grid_code"], "name"] == "QGIS 改过的网格"
    edited = tracks_after[tracks_after["track_id"] == "edited-in-qgis"]  # that one fix, no other
    assert edited["inspector"].tolist() == [inspector]
    assert _utc_text(edited["time"]) == [edited_time]
    assert len(tracks_after) == len(tracks)
    fixed = fixes_after[fixes_after["truck_trips"] == 77]
    assert fixed["report_id"].tolist() == [fix["report_id"]] and _utc_text(fixed["rectified_at"]) == [fixed_time]

    for spec in LAYERS.values():
        if spec.geometry is None:
            continue
        listed = result["tables"][spec.name]
        assert listed["pk"] == list(_qgis_key(spec)) and listed["column"] == "geom", spec.name
        # a typed column is listed with its type; the generic one (targets) with the types QGIS finds in it
        kinds = [WKB_NAMES[spec.geometry]] if spec.geometry != "Geometry" else expected["targets:Point"]["stored"]
        assert listed["types"] == [[k, "EPSG:4326"] for k in kinds], spec.name


def _columns(con: Any, table: str) -> list[tuple[Any, ...]]:
    rows = con.execute("SELECT column_name, data_type, character_maximum_length, is_nullable, column_default"
                       " FROM information_schema.columns WHERE table_schema = 'public' AND table_name = %s"
                       " ORDER BY ordinal_position", [table]).fetchall()
    return [(*r[:4], re.sub(r"layer_styles_id_seq\d*", "SEQ", r[4] or "")) for r in rows]


def test_layer_styles_table_is_the_one_qgis_makes(postgis_url: str, qgis_available: None) -> None:
    import psycopg

    url = f"{postgis_url}{'&' if '?' in postgis_url else '?'}schema={SCHEMA}"
    init_workspace(url).close()
    with psycopg.connect(dbname=urlsplit(postgis_url).path.lstrip("/"), autocommit=True) as con:
        ours = _columns(con, "layer_styles")
        con.execute("ALTER TABLE public.layer_styles RENAME TO gridmap_made")
        base = _base(postgis_url)
        assert _run_qgis(_SAVE_SCRIPT, {"uri": _uri(base, "grids", ("grid_code",), "MultiPolygon")}) == [True, ""]
        theirs = _columns(con, "layer_styles")
        saved = con.execute("SELECT f_table_catalog, f_table_schema, f_table_name, f_geometry_column, type"
                            " FROM public.layer_styles").fetchall()
        mine = con.execute("SELECT DISTINCT f_table_catalog, f_table_schema, f_table_name, f_geometry_column, type"
                           " FROM public.gridmap_made WHERE f_table_name = 'grids'").fetchall()
    assert [c[0] for c in theirs][:13] == ["id", "f_table_catalog", "f_table_schema", "f_table_name",
                                           "f_geometry_column", "stylename", "styleqml", "stylesld", "useasdefault",
                                           "description", "owner", "ui", "update_time"]
    assert ours == theirs
    assert mine == saved  # gridmap's rows name the layer as QGIS does


def test_without_rights_on_public_the_workspace_is_made_without_styles(
        postgis_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import psycopg

    dbname = urlsplit(postgis_url).path.lstrip("/")
    role = f"gm_no_styles_{uuid.uuid4().hex[:8]}"  # roles are the cluster's: one per run
    with psycopg.connect(dbname=dbname, autocommit=True) as con:
        con.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'no-styles-pw'")
        con.execute(f'GRANT CREATE ON DATABASE "{dbname}" TO {role}')
    user = unquote(urlsplit(postgis_url).username or "")
    monkeypatch.setenv("PGPASSWORD", "no-styles-pw")
    try:
        url = postgis_url.replace(f"{user}@", f"{role}@", 1) + ("&" if "?" in postgis_url else "?") + "schema=x"
        with init_workspace(url, sample=False) as ws:
            assert ws.counts()["grids"] == 0
        assert "no QGIS styles written" in caplog.text and "no-styles-pw" not in caplog.text
        monkeypatch.undo()
        with psycopg.connect(dbname=dbname, autocommit=True) as con:
            assert con.execute("SELECT to_regclass('public.layer_styles')").fetchone() == (None,)
            assert con.execute("SELECT count(*) FROM x.grids").fetchone() == (0,)
    finally:
        monkeypatch.undo()
        with psycopg.connect(dbname=dbname, autocommit=True) as con:
            con.execute("DROP SCHEMA IF EXISTS x CASCADE")
            con.execute(f"DROP OWNED BY {role}")
            con.execute(f"DROP ROLE {role}")
