"""Default QGIS styles of a PostGIS workspace, stored where QGIS looks for them (``public.layer_styles``).

QGIS keeps the styles of PostGIS layers in a table ``layer_styles`` of the database (the schema first
on the search path, ``public``), one row per style: the layer's catalog (database), schema, table and
geometry column, the style's name, its QML, whether it is the layer's default, and since QGIS 3.16 the
geometry ``type`` of the layer (``Point``, ``Line``, ``Polygon``; QGIS loads a row whose type is its
layer's or NULL). When a layer is added, QGIS loads its default row ("Loaded from Provider").

:func:`write_default_styles` gives every spatial layer of a new workspace a default style
(:data:`STYLE_NAME`, zh-Hans) and an English one (:data:`STYLE_NAME_EN`): boundaries outlined, not
filled, grids labelled with their names, reports coloured by category with the categories' labels in
the legend, tracks as small grey dots. Field aliases name the columns in the attribute table. The QML is
written here by gridmap (:func:`layer_qml`); the table, when missing, is created with the definition
QGIS 3.22 itself gives it (``QgsPostgresProviderMetadata::saveStyle``; checked by the tests against a
table QGIS made). A user who may not create the table gets the workspace without styles and a warning.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from typing import Any, Mapping

from gridmap.model import CATEGORIES, LAYERS, LayerSpec
from gridmap.storage.url import WorkspaceURL
from gridmap.storage.postgis._sql import GEOMETRY_COLUMN

logger = logging.getLogger(__name__)

#: Name of gridmap's default (zh-Hans) style of each spatial layer.
STYLE_NAME = "gridmap"
#: Name of gridmap's English style of each spatial layer (not the default).
STYLE_NAME_EN = "gridmap-en"
#: The style table as QGIS 3.22 creates it on its first ``saveStyleToDatabase`` in a database.
LAYER_STYLES_DDL = (
    "CREATE TABLE public.layer_styles (id SERIAL PRIMARY KEY, f_table_catalog varchar, f_table_schema varchar,"
    " f_table_name varchar, f_geometry_column varchar, stylename text, styleqml xml, stylesld xml,"
    " useasdefault boolean, description text, owner varchar(63) DEFAULT CURRENT_USER, ui xml,"
    " update_time timestamp DEFAULT CURRENT_TIMESTAMP, type varchar)"
)

#: ColorBrewer "Paired", 12 classes (Brewer, Harrower and The Pennsylvania State University,
#: https://colorbrewer2.org), as QGIS colours; categories past the 12th repeat it with another marker.
_PAIRED = ("166,206,227", "31,120,180", "178,223,138", "51,160,44", "251,154,153", "227,26,28", "253,191,111",
           "255,127,0", "202,178,214", "106,61,154", "255,255,153", "177,89,40")
_MARKERS = ("circle", "triangle", "square", "diamond")
_OTHER = {"zh": "其他类别", "en": "other categories"}
#: How each spatial layer is drawn: outline colour (polygons, lines) or fill (points), width in mm,
#: and the field labelled on the map (polygons only).
_LOOK: Mapping[str, tuple[str, float, str | None]] = {
    "subdistrict": ("40,40,40,255", 0.8, None),
    "communities": ("90,90,90,255", 0.5, None),
    "grids": ("31,120,180,255", 0.4, "name"),
    "areas": ("255,127,0,255", 0.6, None),
    "streets": ("120,120,120,255", 0.5, None),
    "wall": ("120,72,28,255", 1.2, None),
    "demolition_zones": ("140,81,10,255", 0.4, None),
    "targets": ("227,26,28,255", 0.5, None),
    "reports": ("31,120,180,255", 2.0, None),
    "tracks": ("150,150,150,110", 0.7, None),
}
#: Column names in zh-Hans (field aliases of the default style).
_FIELDS_ZH: Mapping[str, str] = {
    "fid": "序号", "code": "街道编码", "name": "名称", "community_code": "社区编码", "secretary": "社区书记",
    "grid_code": "网格编码", "cadre": "驻组干部", "cadre_phone": "干部电话", "area_code": "片区编码",
    "leader": "包片领导", "street_name": "街道名称", "street_chief": "街长", "zone_id": "拆迁片区编号",
    "status": "状态", "target_id": "目标编号", "kind": "类型", "report_id": "报告编号",
    "reported_at": "上报时间", "category": "问题类别", "description": "描述", "source": "来源", "photo": "照片",
    "inspector": "巡查员", "time": "时间", "track_id": "轨迹编号", "extra": "其他列",
}
_DESCRIPTION = {"zh": "gridmap 默认样式：{name}", "en": "gridmap style (English): {name}"}


def fid_is_primary(spec: LayerSpec) -> bool:
    """Whether the layer's primary key is ``fid`` (its key then a ``UNIQUE`` constraint): when the key holds a time.

    QGIS 3.22 edits a PostGIS table through its primary key, finding the row by each key column cast to
    text, and writes a time as ``2025-03-03T00:39:36.000Z``, which the text of a ``timestamptz`` never
    equals: an edit of a row keyed by (inspector, time) reports success and changes nothing. With the
    integer ``fid`` as primary key QGIS edits the row; ``UNIQUE`` on the key keeps imports idempotent
    (``ON CONFLICT (key)``), as the GeoPackage's unique index beside its ``fid`` does.

    Examples
    --------
    >>> from gridmap.model import layer_spec
    >>> [fid_is_primary(layer_spec(n)) for n in ("grids", "reports", "tracks", "rectifications")]
    [False, False, True, True]
    """
    return any(spec.column(k).dtype == "datetime" for k in spec.key)


def geometry_kinds(spec: LayerSpec) -> tuple[str, ...]:
    """The geometry types QGIS shows a layer as (``layer_styles.type``): one, or two for generic geometry.

    Examples
    --------
    >>> from gridmap.model import layer_spec
    >>> [geometry_kinds(layer_spec(n)) for n in ("grids", "streets", "reports", "targets", "rectifications")]
    [('Polygon',), ('Line',), ('Point',), ('Point', 'Polygon'), ()]
    """
    if spec.geometry is None:
        return ()
    if spec.geometry == "Geometry":
        return ("Point", "Polygon")
    return ({"Point": "Point", "MultiPolygon": "Polygon", "MultiLineString": "Line"}[spec.geometry],)


def _options(parent: ET.Element, values: Mapping[str, str]) -> None:
    box = ET.SubElement(parent, "Option", type="Map")
    for key, value in values.items():
        ET.SubElement(box, "Option", name=key, type="QString", value=value)


def _symbol(kind: str, colour: str, width: float, name: str, marker: str = "circle") -> ET.Element:
    """One QGIS symbol: an outlined polygon (``fill``), a line, or a marker of `colour` (outlined when opaque)."""
    symbol_type = {"Polygon": "fill", "Line": "line", "Point": "marker"}[kind]
    symbol = ET.Element("symbol", type=symbol_type, name=name, alpha="1", clip_to_extent="1", force_rhr="0")
    if kind == "Polygon":
        cls, props = "SimpleFill", {"style": "no", "color": "0,0,0,0", "outline_color": colour,
                                    "outline_style": "solid", "outline_width": str(width), "outline_width_unit": "MM"}
    elif kind == "Line":
        cls, props = "SimpleLine", {"line_color": colour, "line_style": "solid", "line_width": str(width),
                                    "line_width_unit": "MM", "capstyle": "round", "joinstyle": "round"}
    else:
        cls, props = "SimpleMarker", {"name": marker, "color": colour, "size": str(width), "size_unit": "MM",
                                      "outline_color": "35,35,35,255",
                                      "outline_style": "solid" if colour.endswith(",255") else "no",
                                      "outline_width": "0.2", "outline_width_unit": "MM"}
    _options(ET.SubElement(symbol, "layer", attrib={"class": cls, "enabled": "1", "locked": "0", "pass": "0"}),
             props)
    return symbol


def _single_renderer(kind: str, colour: str, width: float, marker: str = "circle") -> ET.Element:
    renderer = ET.Element("renderer-v2", type="singleSymbol", forceraster="0", symbollevels="0", enableorderby="0")
    ET.SubElement(renderer, "symbols").append(_symbol(kind, colour, width, "0", marker))
    return renderer


def _category_renderer(width: float, lang: str) -> ET.Element:
    """Reports by category: one colour (and marker) per category, labelled in `lang`; others grey."""
    renderer = ET.Element("renderer-v2", type="categorizedSymbol", attr="category", forceraster="0",
                          symbollevels="0", enableorderby="0")
    categories, symbols = ET.SubElement(renderer, "categories"), ET.SubElement(renderer, "symbols")
    for i, cat in enumerate(CATEGORIES.values()):
        ET.SubElement(categories, "category", render="true", symbol=str(i), value=cat.key,
                      label=cat.en if lang == "en" else cat.zh)
        marker = _MARKERS[(i // len(_PAIRED)) % len(_MARKERS)]
        symbols.append(_symbol("Point", f"{_PAIRED[i % len(_PAIRED)]},255", width, str(i), marker))
    other = str(len(CATEGORIES))
    ET.SubElement(categories, "category", render="true", symbol=other, value="", label=_OTHER[lang])
    symbols.append(_symbol("Point", "189,189,189,255", width, other))
    return renderer


def _labeling(field: str) -> ET.Element:
    """Labels of `field` over each polygon, dark text with a white halo."""
    labeling = ET.Element("labeling", type="simple")
    settings = ET.SubElement(labeling, "settings", calloutType="simple")
    ET.SubElement(settings, "text-style", fieldName=field, isExpression="0", fontSize="9", fontSizeUnit="Point",
                  textColor="50,50,50,255", textOpacity="1")
    ET.SubElement(settings, "text-buffer", bufferDraw="1", bufferSize="0.8", bufferSizeUnits="MM",
                  bufferColor="255,255,255,255", bufferOpacity="1")
    ET.SubElement(settings, "placement", placement="1", priority="5", fitInPolygonOnly="0")
    ET.SubElement(settings, "rendering", obstacle="1", drawLabels="1", scaleVisibility="0")
    return labeling


def layer_qml(spec: LayerSpec, kind: str, *, lang: str = "zh") -> str:
    """QML of gridmap's style of a spatial layer drawn as `kind` (``Point``, ``Line`` or ``Polygon``).

    Parameters
    ----------
    spec : LayerSpec
        The layer.
    kind : str
        One of :func:`geometry_kinds` of the layer.
    lang : {"zh", "en"}
        Language of the legend's category labels and of the field aliases (English: the column names).

    Examples
    --------
    >>> from gridmap.model import layer_spec
    >>> root = ET.fromstring(layer_qml(layer_spec("reports"), "Point"))
    >>> root.find("renderer-v2").get("type"), root.find("renderer-v2/categories/category").get("label")
    ('categorizedSymbol', '乱堆乱放')
    >>> root.find("aliases/alias[@field='category']").get("name")
    '问题类别'
    >>> ET.fromstring(layer_qml(layer_spec("grids"), "Polygon")).find("labeling/settings/text-style").get("fieldName")
    'name'
    """
    colour, width, label = _LOOK[spec.name]
    root = ET.Element("qgis", version="3.22.16-Białowieża", styleCategories="AllStyleCategories",
                      labelsEnabled="1" if label and kind == "Polygon" else "0")
    if spec.name == "reports":
        root.append(_category_renderer(width, lang))
    elif spec.name == "targets" and kind == "Point":  # must-visit places: red stars
        root.append(_single_renderer(kind, colour, 3.5, marker="star"))
    else:
        root.append(_single_renderer(kind, colour, width))
    if label and kind == "Polygon":
        root.append(_labeling(label))
    aliases = ET.SubElement(root, "aliases")
    for index, name in enumerate(["fid", *spec.column_names]):
        ET.SubElement(aliases, "alias", field=name, index=str(index),
                      name=_FIELDS_ZH.get(name, "") if lang == "zh" else "")
    ET.SubElement(root, "layerGeometryType").text = str({"Point": 0, "Line": 1, "Polygon": 2}[kind])
    ET.indent(root, space=" ")
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + ET.tostring(root, encoding="unicode")


def style_rows(schema: str) -> list[tuple[Any, ...]]:
    """Rows of ``layer_styles`` for every spatial layer of a workspace in `schema` (catalog left to the caller).

    Each row: schema, table, geometry column, style name, QML, default?, description, type.

    Examples
    --------
    >>> rows = style_rows("gridmap")
    >>> sorted({(r[1], r[7]) for r in rows if r[5]})[:3]
    [('areas', 'Polygon'), ('communities', 'Polygon'), ('demolition_zones', 'Polygon')]
    >>> len(rows) == 2 * len({(r[1], r[7]) for r in rows})
    True
    """
    rows = []
    for spec in LAYERS.values():
        for kind in geometry_kinds(spec):
            for name, lang in ((STYLE_NAME, "zh"), (STYLE_NAME_EN, "en")):
                rows.append((schema, spec.name, GEOMETRY_COLUMN, name, layer_qml(spec, kind, lang=lang),
                             lang == "zh", _DESCRIPTION[lang].format(name=spec.doc), kind))
    return rows


def _ensure_table(con: Any) -> bool:
    """Create ``public.layer_styles`` as QGIS does when missing; whether it has QGIS's ``type`` column."""
    if con.execute("SELECT to_regclass('public.layer_styles')").fetchone()[0] is None:
        con.execute(LAYER_STYLES_DDL)
    found = con.execute("SELECT 1 FROM information_schema.columns WHERE table_schema = 'public'"
                        " AND table_name = 'layer_styles' AND column_name = 'type'").fetchone()
    return found is not None


def _store(con: Any, schema: str) -> int:
    """Replace gridmap's styles of the workspace in `schema`; they become the layers' defaults."""
    has_type = _ensure_table(con)
    tables = [spec.name for spec in LAYERS.values() if spec.geometry is not None]
    where = "f_table_catalog = current_database() AND f_table_schema = %s AND f_table_name = ANY(%s)"
    con.execute(f"DELETE FROM public.layer_styles WHERE {where} AND stylename IN (%s, %s)",
                [schema, tables, STYLE_NAME, STYLE_NAME_EN])
    con.execute(f"UPDATE public.layer_styles SET useasdefault = false WHERE {where}", [schema, tables])
    rows = style_rows(schema)
    columns = "f_table_schema, f_table_name, f_geometry_column, stylename, styleqml, useasdefault, description"
    with con.cursor() as cur:
        if has_type:
            cur.executemany(f"INSERT INTO public.layer_styles (f_table_catalog, {columns}, type)"
                            " VALUES (current_database(), %s, %s, %s, %s, %s, %s, %s, %s)", rows)
        else:
            cur.executemany(f"INSERT INTO public.layer_styles (f_table_catalog, {columns})"
                            " VALUES (current_database(), %s, %s, %s, %s, %s, %s, %s)", [r[:7] for r in rows])
    return len(rows)


def write_default_styles(con: Any, url: WorkspaceURL) -> int:
    """Store gridmap's QGIS styles of every spatial layer of the workspace at `url` (one transaction).

    Returns the number of styles written; 0 (and a warning) when this user may not create or write
    ``public.layer_styles``: the workspace works without them, QGIS then draws its own default.
    """
    import psycopg  # deferred: psycopg is needed only by a PostGIS workspace

    try:
        with con.transaction():
            written = _store(con, url.schema)
    except psycopg.errors.InsufficientPrivilege as exc:
        logger.warning("no QGIS styles written to %s: this user may not write public.layer_styles (%s); ask the "
                       "database owner to create it (QGIS: save a style to the database once)", url.masked,
                       str(exc).strip().splitlines()[0])
        return 0
    logger.info("wrote %d QGIS styles to public.layer_styles of %s", written, url.masked)
    return written
