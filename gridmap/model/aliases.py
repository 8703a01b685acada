"""Header spellings accepted on import: which model column a file's column name stands for.

Part of :mod:`gridmap.model` (which re-exports every public name here). The README's table of
spellings (section "Your own files") is :func:`alias_table_markdown`.

Examples
--------
>>> alias_target("上报时间", "reports")
'reported_at'
"""

from __future__ import annotations

from typing import Mapping

from gridmap.model.layers import LAYERS, LayerSpec, layer_spec

#: Column names accepted on import (stripped and lower-cased English or Chinese) for every layer, mapped
#: to model names. An alias applies only in a layer that has its target column (网格员 → cadre in grids;
#: a ledger of reports keeps its 网格员 column in ``extra``). Layer-specific spellings that would mean
#: another column elsewhere are in :data:`LAYER_COLUMN_ALIASES`, which wins; :func:`alias_target` resolves
#: a header, and the README's table (section "Your own files") is :func:`alias_table_markdown`.
COLUMN_ALIASES: Mapping[str, str] = {
    # reports
    "id": "report_id", "编号": "report_id", "事件编号": "report_id", "上报编号": "report_id",
    "问题编号": "report_id", "案件编号": "report_id", "工单编号": "report_id", "工单号": "report_id",
    "time": "reported_at", "datetime": "reported_at", "reported": "reported_at", "上报时间": "reported_at",
    "时间": "reported_at", "report_time": "reported_at", "发现时间": "reported_at", "上报日期": "reported_at",
    "发现日期": "reported_at", "巡查时间": "reported_at", "立案时间": "reported_at",
    "类别": "category", "类型": "category", "问题类型": "category", "事件类型": "category",
    "问题类别": "category", "问题分类": "category", "案件类型": "category", "案件类别": "category",
    "事件类别": "category", "事件小类": "category",
    "描述": "description", "问题描述": "description", "内容": "description", "desc": "description",
    "问题内容": "description", "事件描述": "description", "情况描述": "description", "案件描述": "description",
    "具体问题": "description", "存在问题": "description",
    "来源": "source", "问题来源": "source", "案件来源": "source", "上报来源": "source", "上报方式": "source",
    "状态": "status",
    "照片": "photo", "图片": "photo", "现场照片": "photo", "照片路径": "photo",
    # coordinates of a table (a CSV's are found by its reader)
    "lon": "lon", "lng": "lon", "long": "lon", "longitude": "lon", "x": "lon", "经度": "lon",
    "lat": "lat", "latitude": "lat", "y": "lat", "纬度": "lat",
    # grids (also the grid of a report or target; those are assigned by location anyway)
    "网格编号": "grid_code", "网格编码": "grid_code", "网格代码": "grid_code", "网格号": "grid_code",
    "gridcode": "grid_code", "grid_id": "grid_code", "grid_no": "grid_code",
    "网格员": "cadre", "网格长": "cadre", "包抓干部": "cadre", "责任人": "cadre", "驻组干部": "cadre",
    "网格责任人": "cadre", "包抓人": "cadre", "网格员姓名": "cadre",
    "电话": "cadre_phone", "联系电话": "cadre_phone", "手机": "cadre_phone", "手机号": "cadre_phone",
    "手机号码": "cadre_phone", "电话号码": "cadre_phone", "联系方式": "cadre_phone", "网格员电话": "cadre_phone",
    "phone": "cadre_phone", "mobile": "cadre_phone", "tel": "cadre_phone",
    "片区": "area_code", "片区编码": "area_code", "片区编号": "area_code", "片区代码": "area_code",
    "所属片区": "area_code",
    # communities: the code; a community NAME in one of COMMUNITY_NAME_HEADERS is resolved to its code
    "社区编码": "community_code", "社区代码": "community_code", "社区编号": "community_code",
    "所属社区编码": "community_code", "所属社区": "community_code", "社区": "community_code",
    "书记": "secretary", "社区书记": "secretary", "支部书记": "secretary", "党支部书记": "secretary",
    # names of places
    "名称": "name",
    # areas
    "领导": "leader", "包片领导": "leader", "片长": "leader", "包片负责人": "leader",
    # streets
    "街长": "street_chief", "路长": "street_chief", "街巷长": "street_chief",
    "街道名称": "street_name", "街道": "street_name", "道路名称": "street_name", "道路": "street_name",
    "路名": "street_name", "街路名称": "street_name", "街巷名称": "street_name",
    # targets
    "点位类型": "kind", "点位编号": "target_id",
    # rectifications
    "整改时间": "rectified_at", "整改日期": "rectified_at", "整改完成时间": "rectified_at", "处置时间": "rectified_at",
    "核验时间": "verified_at", "核验日期": "verified_at", "验收时间": "verified_at",
    "整改人": "by", "整改责任人": "by", "处置人": "by",
    "吨数": "tonnes", "清运量": "tonnes", "清运吨数": "tonnes", "车次": "truck_trips", "清运车次": "truck_trips",
    # tracks
    "巡查员": "inspector", "巡查人": "inspector", "巡查人员": "inspector", "定位时间": "time",
    "轨迹编号": "track_id",
    # tracks: the device of a watch/terminal platform's export is its own inspector (one track per device)
    "设备号": "inspector", "设备编号": "inspector", "终端号": "inspector", "终端编号": "inspector", "imei": "inspector",
    "gps时间": "time", "gps_time": "time",
    # spot checks
    "抽查时间": "checked_at", "核查时间": "checked_at", "抽查日期": "checked_at", "督查时间": "checked_at",
    "抽查结果": "result", "核查结果": "result", "结果": "result", "督查结果": "result",
    "抽查人": "checker", "核查人": "checker", "督查人": "checker", "抽查人员": "checker",
    "备注": "note", "抽查意见": "note", "说明": "note",
}

#: Spellings whose meaning depends on the layer: layer → header → column. They win over
#: :data:`COLUMN_ALIASES` in their layer (社区名称 is a community's own name in ``communities`` but
#: names the community a grid belongs to in ``grids``; 类型 is a target's kind but a report's category).
LAYER_COLUMN_ALIASES: Mapping[str, Mapping[str, str]] = {
    "subdistrict": {"街道编码": "code", "街道代码": "code", "街道名称": "name", "街道": "name"},
    "communities": {"社区名称": "name", "社区": "name"},
    "grids": {"网格名称": "name", "社区名称": "community_code", "负责人": "cadre"},
    "areas": {"片区名称": "name", "片区": "name", "负责人": "leader"},
    "streets": {"负责人": "street_chief"},
    "wall": {},
    "demolition_zones": {"拆迁片区": "name", "片区名称": "name", "拆迁片区名称": "name", "片区编号": "zone_id",
                         "拆迁片区编号": "zone_id", "拆迁状态": "status", "进度": "status"},
    "targets": {"类型": "kind", "点位": "name", "点位名称": "name", "地点名称": "name"},
    "reports": {"处理状态": "status", "办理状态": "status", "整改状态": "status", "案件状态": "status"},
    "rectifications": {"完成时间": "rectified_at", "负责人": "by"},
    "spotchecks": {"检查时间": "checked_at", "检查结果": "result", "检查人": "checker"},
    "tracks": {},
}

#: Headers whose values are community NAMES (所属社区 ``北门社区``): stored as the community's code when the
#: workspace's communities layer knows the name; a value that already is a code is kept.
COMMUNITY_NAME_HEADERS: frozenset[str] = frozenset({"所属社区", "社区名称", "社区"})

#: Length of a DBF field name: a shapefile's ``community_code`` is read back as ``community_``.
DBF_NAME_LENGTH = 10
#: Headers that mean "the identifier" or "the time" whatever the layer (``编号`` is a grid's grid_code).
GENERIC_ID_HEADERS: frozenset[str] = frozenset({"id", "编号"})
GENERIC_TIME_HEADERS: frozenset[str] = frozenset({"time", "datetime", "时间"})
_COORDINATES = ("lon", "lat")


def dbf_truncated(layer: str) -> dict[str, str]:
    """The DBF-truncated form (first 10 characters) of every column of `layer` longer than that.

    Examples
    --------
    >>> dbf_truncated("grids")
    {'community_': 'community_code', 'cadre_phon': 'cadre_phone'}
    """
    spec = layer_spec(layer)
    return {c.name[:DBF_NAME_LENGTH]: c.name for c in spec.columns if len(c.name) > DBF_NAME_LENGTH}


def _id_column(spec: LayerSpec) -> str | None:
    first = spec.key[0]
    return first if first == "code" or first.endswith(("_id", "_code")) else None


def alias_target(header: str, layer: str) -> str | None:
    """The model column (or ``lon``/``lat``) a built-in spelling of header stands for in `layer`, or None.

    `header` is compared stripped and lower-cased. Precedence: the model's own name; a
    layer-specific alias (:data:`LAYER_COLUMN_ALIASES`); an alias of :data:`COLUMN_ALIASES`
    whose column the layer has; a DBF-truncated model name (:func:`dbf_truncated`); the generic
    ``id``/``编号`` (the layer's identifier) and ``time``/``时间`` (its first time column).
    Mappings a user gives (``--map``, ``gridmap alias``) win over all of these; see
    :func:`gridmap.io.importer.import_file`.

    Examples
    --------
    >>> alias_target("网格编号", "grids"), alias_target("社区名称", "communities"), alias_target("社区名称", "grids")
    ('grid_code', 'name', 'community_code')
    >>> alias_target("类型", "targets"), alias_target("类型", "reports"), alias_target("网格员", "reports")
    ('kind', 'category', None)
    >>> alias_target("Community_", "grids"), alias_target("编号", "grids"), alias_target("时间", "tracks")
    ('community_code', 'grid_code', 'time')
    """
    spec = layer_spec(layer)
    name = str(header).replace("\ufeff", "").strip().lower()
    columns = spec.column_names
    coordinates = _COORDINATES if spec.geometry is not None else ()  # a table without geometry keeps them in extra
    if name in columns or name in coordinates:
        return name
    if name in LAYER_COLUMN_ALIASES.get(spec.name, {}):
        return LAYER_COLUMN_ALIASES[spec.name][name]
    target = COLUMN_ALIASES.get(name)
    if target is not None and (target in columns or target in coordinates):
        return target
    truncated = dbf_truncated(spec.name).get(name)
    if truncated is not None:
        return truncated
    if name in GENERIC_ID_HEADERS:
        return _id_column(spec)
    if name in GENERIC_TIME_HEADERS:
        return next((c.name for c in spec.columns if c.dtype == "datetime"), None)
    return None


def alias_table() -> list[tuple[str, str]]:
    """Every built-in header spelling with what it means in each layer: (header, "column (layers); ...").

    Built from :data:`COLUMN_ALIASES` and :data:`LAYER_COLUMN_ALIASES` through :func:`alias_target`,
    sorted by header; a header that means nothing in a layer is kept in ``extra`` there.

    Examples
    --------
    >>> dict(alias_table())["类型"]
    'kind (targets); category (reports)'
    """
    headers = set(COLUMN_ALIASES) | {h for table in LAYER_COLUMN_ALIASES.values() for h in table}
    rows = []
    for header in sorted(headers):
        where: dict[str, list[str]] = {}
        for layer in LAYERS:
            target = alias_target(header, layer)
            if target is not None:
                where.setdefault(target, []).append(layer)
        rows.append((header, "; ".join(f"{t} ({', '.join(ls)})" for t, ls in where.items())))
    return rows


def alias_table_markdown() -> str:
    """The README's table of built-in header spellings (section "Your own files", "Column names").

    Examples
    --------
    >>> alias_table_markdown().splitlines()[:2]
    ['| header | column (layers) |', '|---|---|']
    """
    lines = ["| header | column (layers) |", "|---|---|"]
    lines += [f"| {header} | {meaning} |" for header, meaning in alias_table()]
    return "\n".join(lines)
