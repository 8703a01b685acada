"""Bulk loading of a 2-D SQLite R-tree (packed with Sort-Tile-Recursive), inside the caller's transaction.

SQLite inserts R-tree entries one at a time with the R*-tree algorithm, which
costs ~15 s per million points. This module instead gathers every entry (the
ones already in the tree, read from its leaf nodes, and the new ones), packs
them into full nodes with Sort-Tile-Recursive (STR: S. T. Leutenegger,
M. A. Lopez, J. Edgington, "STR: A Simple and Efficient Algorithm for R-Tree
Packing", Proc. 13th ICDE, 1997, pp. 497-506) and rewrites the R-tree's three
shadow tables directly, the way GDAL bulk-loads its own R-trees.

The on-disk format written here follows SQLite's R-tree documentation
(https://www.sqlite.org/rtree.html, section "Shadow tables", and the format
comment at the top of SQLite's ``ext/rtree/rtree.c``):

* ``<name>_node(nodeno INTEGER PRIMARY KEY, data)``: one blob per node, the
  root being node 1. A blob is a 2-byte big-endian tree depth (only meaningful
  in the root; 0 means the root is a leaf), a 2-byte big-endian cell count,
  then the cells, zero-padded to the node size (the length of node 1's blob).
  A 2-D cell is an 8-byte big-endian int64 (a rowid in a leaf, a child node
  number in an inner node) and four big-endian float32 ``minx, maxx, miny,
  maxy``.
* ``<name>_rowid(rowid INTEGER PRIMARY KEY, nodeno)``: the leaf of each entry.
* ``<name>_parent(nodeno INTEGER PRIMARY KEY, parentnode)``: the parent of each
  non-root node.

Coordinates are rounded outward to float32 (minima toward -inf, maxima toward
+inf) as SQLite does, so each stored box contains the float64 box.

Only plain 2-D ``rtree`` tables with columns ``id, minx, maxx, miny, maxy`` and
no auxiliary columns are bulk loaded (GDAL's GeoPackage R-trees are such
tables); :func:`bulk_load` returns False for anything else, and the caller
falls back to SQL inserts.

Examples
--------
>>> import sqlite3, numpy as np
>>> con = sqlite3.connect(":memory:")
>>> _ = con.execute("CREATE VIRTUAL TABLE idx USING rtree(id, minx, maxx, miny, maxy)")
>>> x = np.arange(1000, dtype="float64")
>>> bulk_load(con, "idx", np.arange(1, 1001), x, x + 0.5, x, x + 0.5)
True
>>> con.execute("SELECT rtreecheck('idx')").fetchone()[0]
'ok'
>>> con.execute("SELECT id FROM idx WHERE maxx >= 10 AND minx <= 11 AND maxy >= 10 AND miny <= 11").fetchall()
[(11,), (12,)]
"""

from __future__ import annotations

import json
import logging
import math
import re
import sqlite3
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["BulkLoad", "RTreeLayout", "TreeRows", "bulk_load", "outward_float32", "rtree_layout", "start_bulk_load",
           "tree_rows"]

logger = logging.getLogger(__name__)

#: One 2-D cell of an R-tree node, as stored (big-endian).
CELL = np.dtype([("id", ">i8"), ("minx", ">f4"), ("maxx", ">f4"), ("miny", ">f4"), ("maxy", ">f4")])
_HEADER = 4
_COLUMNS = ("id", "minx", "maxx", "miny", "maxy")
_SHADOW_COLUMNS = {"node": ["nodeno", "data"], "rowid": ["rowid", "nodeno"], "parent": ["nodeno", "parentnode"]}
_USING = re.compile(r"\bUSING\s+rtree\s*\((?P<args>[^)]*)\)\s*;?\s*$", re.IGNORECASE | re.DOTALL)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class RTreeLayout:
    """Where and how big the nodes of a 2-D SQLite R-tree are."""

    name: str
    node_size: int

    @property
    def max_cells(self) -> int:
        """Cells that fit in one node."""
        return (self.node_size - _HEADER) // CELL.itemsize

    def shadow(self, suffix: str) -> str:
        """The quoted name of the ``<name>_<suffix>`` shadow table."""
        return _q(f"{self.name}_{suffix}")


def rtree_layout(con: sqlite3.Connection, name: str) -> RTreeLayout | None:
    """The layout of R-tree `name` when it is a plain 2-D ``rtree`` without auxiliary columns, else None.

    Reads ``sqlite_master`` and the shadow tables only, never the virtual table.

    Examples
    --------
    >>> import sqlite3
    >>> con = sqlite3.connect(":memory:")
    >>> _ = con.execute("CREATE VIRTUAL TABLE a USING rtree(id, minx, maxx, miny, maxy)")
    >>> _ = con.execute("CREATE VIRTUAL TABLE b USING rtree(id, minx, maxx, miny, maxy, +label)")
    >>> rtree_layout(con, "a").max_cells, rtree_layout(con, "b")
    (51, None)
    """
    row = con.execute("SELECT sql FROM main.sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone()
    match = _USING.search(row[0]) if row and row[0] else None
    if match is None or [a.strip().strip('"`[]').lower() for a in match["args"].split(",")] != list(_COLUMNS):
        return None
    for suffix, expected in _SHADOW_COLUMNS.items():
        found = [r[1].lower() for r in con.execute(f"PRAGMA main.table_info({_q(f'{name}_{suffix}')})")]
        if found != expected:
            return None
    root = con.execute(f"SELECT length(data) FROM main.{_q(f'{name}_node')} WHERE nodeno = 1").fetchone()
    if root is None or root[0] is None or (root[0] - _HEADER) // CELL.itemsize < 2:
        return None
    return RTreeLayout(name, int(root[0]))


def outward_float32(low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`low` rounded down and `high` rounded up to float32, so ``[low32, high32]`` contains ``[low, high]``.

    Examples
    --------
    >>> lo, hi = outward_float32(np.array([0.1]), np.array([0.1]))
    >>> bool(lo[0] <= 0.1 <= hi[0]), bool(lo[0] < hi[0])
    (True, True)
    """
    lo = np.asarray(low, dtype="float64").astype("float32")
    hi = np.asarray(high, dtype="float64").astype("float32")
    down = lo.astype("float64") > low
    up = hi.astype("float64") < high
    lo[down] = np.nextafter(lo[down], np.float32(-np.inf))
    hi[up] = np.nextafter(hi[up], np.float32(np.inf))
    return lo, hi


def _read_entries(con: sqlite3.Connection, layout: RTreeLayout) -> np.ndarray:
    """Every entry stored in the tree's leaves (the nodes named in ``_rowid``), as native-endian cells."""
    blobs = [bytes(b) for (b,) in con.execute(
        f"SELECT data FROM main.{layout.shadow('node')}"
        f" WHERE nodeno IN (SELECT DISTINCT nodeno FROM main.{layout.shadow('rowid')})"
    )]
    native = CELL.newbyteorder("=")
    if not blobs:
        return np.empty(0, dtype=native)
    size, cells = layout.node_size, layout.max_cells
    raw = np.frombuffer(b"".join(blobs), dtype=np.uint8)
    if raw.size != size * len(blobs):
        raise ValueError(f"R-tree {layout.name}: leaf blobs are not all {size} bytes long")
    raw = raw.reshape(len(blobs), size)
    counts = (raw[:, 2].astype(np.int64) << 8) | raw[:, 3]
    body = np.ascontiguousarray(raw[:, _HEADER:_HEADER + cells * CELL.itemsize]).view(CELL)
    used = np.arange(cells)[None, :] < counts[:, None]
    return body[used].astype(native)


@dataclass(frozen=True)
class _Level:
    """One level of the packed tree below the root: its nodes' cells in node order."""

    ids: np.ndarray  # rowids (leaves) or indices of the nodes of the level below
    boxes: np.ndarray  # float32 (n, 4): minx, maxx, miny, maxy


def _str_order(boxes: np.ndarray, capacity: int) -> np.ndarray:
    """The STR order of `boxes`: consecutive runs of `capacity` entries form the nodes.

    Leutenegger, Lopez & Edgington (1997), section 2.3: with P = ceil(r / n)
    nodes, sort by x centre, cut into S = ceil(sqrt(P)) vertical slices of
    S * n entries, sort each slice by y centre and pack runs of n.
    """
    count = len(boxes)
    slices = math.ceil(math.sqrt(math.ceil(count / capacity)))
    cx = boxes[:, 0].astype("float64") + boxes[:, 1]
    cy = boxes[:, 2].astype("float64") + boxes[:, 3]
    by_x = np.argsort(cx, kind="stable")
    # each slice sorted on its own by (y centre, index): what a lexsort on (slice, y centre) gives, in cache-sized sorts
    order = np.empty(count, dtype=np.int64)
    step = slices * capacity
    for start in range(0, count, step):
        members = np.sort(by_x[start:start + step])
        order[start:start + len(members)] = members[np.argsort(cy[members], kind="stable")]
    return order


def _pack(ids: np.ndarray, boxes: np.ndarray, capacity: int) -> tuple[list[_Level], np.ndarray, np.ndarray]:
    """Pack entries into levels of full nodes; returns the levels (leaves first) and the root's cells."""
    levels: list[_Level] = []
    while len(ids) > capacity:
        order = _str_order(boxes, capacity)
        level = _Level(ids[order], boxes[order])
        levels.append(level)
        starts = np.arange(0, len(ids), capacity)
        boxes = np.column_stack([
            np.minimum.reduceat(level.boxes[:, 0], starts), np.maximum.reduceat(level.boxes[:, 1], starts),
            np.minimum.reduceat(level.boxes[:, 2], starts), np.maximum.reduceat(level.boxes[:, 3], starts),
        ])
        ids = np.arange(len(starts), dtype=np.int64)
    return levels, ids, boxes


def _node_blobs(ids: np.ndarray, boxes: np.ndarray, layout: RTreeLayout, *, depth: int = 0) -> list[bytes]:
    """Node blobs for cells already in node order, `max_cells` to a node (the last one may hold fewer)."""
    cells = layout.max_cells
    nodes = max(1, math.ceil(len(ids) / cells))
    body = np.zeros((nodes, cells), dtype=CELL)
    flat = body.reshape(-1)[:len(ids)]
    flat["id"] = ids
    for i, name in enumerate(_COLUMNS[1:]):
        flat[name] = boxes[:, i]
    raw = np.zeros((nodes, layout.node_size), dtype=np.uint8)
    counts = np.full(nodes, cells, dtype=np.int64)
    counts[-1] = len(ids) - cells * (nodes - 1)
    raw[:, 0], raw[:, 1] = depth >> 8, depth & 0xFF
    raw[:, 2], raw[:, 3] = counts >> 8, counts & 0xFF
    raw[:, _HEADER:_HEADER + cells * CELL.itemsize] = body.view(np.uint8).reshape(nodes, -1)
    return [row.tobytes() for row in raw]


@dataclass(frozen=True)
class TreeRows:
    """The rows of a packed tree's three shadow tables (what :func:`tree_rows` computes, without SQL)."""

    nodes: list[tuple[int, bytes]]  # (nodeno, data)
    rowid_ids: np.ndarray  # the entries' ids, ascending
    rowid_nodes: np.ndarray  # the leaf holding each of them
    parents: list[tuple[int, int]]  # (nodeno, parentnode), by nodeno


def tree_rows(layout: RTreeLayout, ids: np.ndarray, boxes: np.ndarray) -> TreeRows:
    """The shadow-table rows of an STR-packed tree of the entries (`boxes`: float32, n x 4).

    Pure numpy: it may run in another thread while the caller's connection works on.
    """
    capacity = layout.max_cells
    levels, root_ids, root_boxes = _pack(ids, boxes, capacity)
    # node numbers: the root is 1, then each level from the top down, in STR order
    numbers: list[np.ndarray] = [np.empty(0, dtype=np.int64)] * len(levels)
    first = 2
    for k in range(len(levels) - 1, -1, -1):
        nodes = math.ceil(len(levels[k].ids) / capacity)
        numbers[k] = np.arange(first, first + nodes, dtype=np.int64)
        first += nodes
    node_rows: list[tuple[int, bytes]] = []
    parent_rows: list[tuple[int, int]] = []
    top_ids = numbers[-1][root_ids] if levels else root_ids
    node_rows.append((1, _node_blobs(top_ids, root_boxes, layout, depth=len(levels))[0]))
    for k, level in enumerate(levels):
        cell_ids = numbers[k - 1][level.ids] if k else level.ids
        node_rows.extend(zip(numbers[k].tolist(), _node_blobs(cell_ids, level.boxes, layout)))
        owner = numbers[k][np.arange(len(level.ids)) // capacity]  # the node holding each cell
        if k:
            parent_rows.extend(zip(cell_ids.tolist(), owner.tolist()))
    if levels:
        parent_rows.extend((int(n), 1) for n in numbers[-1])
        leaf_ids, leaf_nodes = levels[0].ids, numbers[0][np.arange(len(levels[0].ids)) // capacity]
    else:
        leaf_ids, leaf_nodes = root_ids, np.ones(len(root_ids), dtype=np.int64)
    rowid_ids, rowid_nodes = _by_id(leaf_ids, leaf_nodes)
    return TreeRows(node_rows, rowid_ids, rowid_nodes, sorted(parent_rows))


def _store_tree(con: sqlite3.Connection, layout: RTreeLayout, rows: TreeRows) -> None:
    """Replace the tree's shadow tables by `rows`."""
    for suffix in ("node", "rowid", "parent"):
        con.execute(f"DELETE FROM main.{layout.shadow(suffix)}")
    con.executemany(f"INSERT INTO main.{layout.shadow('node')} (nodeno, data) VALUES (?, ?)", rows.nodes)
    _insert_rowids(con, layout.shadow("rowid"), rows.rowid_ids, rows.rowid_nodes)
    con.executemany(f"INSERT INTO main.{layout.shadow('parent')} (nodeno, parentnode) VALUES (?, ?)", rows.parents)


def _by_id(ids: np.ndarray, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`ids` ascending and their `nodes`; when the ids are a gap-free run, placed by value instead of sorted.

    Examples
    --------
    >>> _by_id(np.array([12, 10, 11]), np.array([3, 1, 2]))
    (array([10, 11, 12]), array([1, 2, 3]))
    >>> _by_id(np.array([12, 10, 12]), np.array([3, 1, 2]))
    (array([10, 12, 12]), array([1, 3, 2]))
    """
    if len(ids):
        low = int(ids.min())
        slot = ids - low
        if int(slot.max()) == len(ids) - 1:
            seen = np.zeros(len(ids), dtype=bool)
            seen[slot] = True
            if seen.all():  # a permutation of low .. low + n - 1: each id's place is its value
                placed = np.empty_like(nodes)
                placed[slot] = nodes
                return np.arange(low, low + len(ids), dtype=ids.dtype), placed
    by_id = np.argsort(ids, kind="stable")
    return ids[by_id], nodes[by_id]


def _insert_rowids(con: sqlite3.Connection, table: str, ids: np.ndarray, nodes: np.ndarray) -> None:
    """Insert (rowid, nodeno) rows, ids ascending; a gap-free run of ids goes in as one JSON array of node numbers.

    SQLite's ``json_each`` walks the array in C, about twice as fast as binding a
    million pairs from Python (and without a Python int per value).
    """
    if len(ids) and int(ids[-1]) - int(ids[0]) + 1 == len(ids) and _has_json_each(con):
        text = json.dumps(np.asarray(nodes, dtype=np.int64).tolist())
        con.execute(f"INSERT INTO main.{table} (rowid, nodeno) SELECT ? + key, value FROM json_each(?)",
                    (int(ids[0]), text))
        return
    con.executemany(f"INSERT INTO main.{table} (rowid, nodeno) VALUES (?, ?)", zip(ids.tolist(), nodes.tolist()))


def _has_json_each(con: sqlite3.Connection) -> bool:
    try:
        con.execute("SELECT count(*) FROM json_each('[]')").fetchone()
    except sqlite3.OperationalError:
        return False
    return True


def bulk_load(con: sqlite3.Connection, name: str, ids: np.ndarray, minx: np.ndarray, maxx: np.ndarray,
              miny: np.ndarray, maxy: np.ndarray) -> bool:
    """Add entries to the 2-D R-tree `name` by rebuilding it, STR-packed, with its existing entries.

    Runs in the caller's transaction (it only executes statements on `con`).
    Do not read the virtual table through `con` while this runs.

    Parameters
    ----------
    con : sqlite3.Connection
        A connection to the database holding the R-tree (schema ``main``).
    name : str
        The R-tree virtual table, e.g. ``rtree_reports_geom``.
    ids : numpy.ndarray
        The new entries' ids (int64), none of them already in the tree.
    minx, maxx, miny, maxy : numpy.ndarray
        Their boxes (float64; rounded outward to float32 when stored).

    Returns
    -------
    bool
        True when the tree was rebuilt; False (nothing written) when the table
        is not a plain 2-D ``rtree(id, minx, maxx, miny, maxy)``, its stored
        entries do not match ``_rowid``, or a box is not finite with
        ``min <= max``: add the entries with SQL instead.

    Examples
    --------
    >>> import sqlite3, numpy as np
    >>> con = sqlite3.connect(":memory:")
    >>> _ = con.execute("CREATE VIRTUAL TABLE idx USING rtree(id, minx, maxx, miny, maxy)")
    >>> _ = con.execute("INSERT INTO idx VALUES (7, 0, 1, 0, 1)")
    >>> v = np.array([5.0, 6.0])
    >>> bulk_load(con, "idx", np.array([8, 9]), v, v, v, v)
    True
    >>> con.execute("SELECT id FROM idx ORDER BY id").fetchall()
    [(7,), (8,), (9,)]
    """
    entries = _entries(con, name, ids, minx, maxx, miny, maxy)
    if entries is None:
        return False
    layout, all_ids, all_boxes = entries
    return _store_or_refuse(con, layout, lambda: tree_rows(layout, all_ids, all_boxes), len(ids))


def _entries(con: sqlite3.Connection, name: str, ids: np.ndarray, minx: np.ndarray, maxx: np.ndarray,
             miny: np.ndarray, maxy: np.ndarray) -> tuple[RTreeLayout, np.ndarray, np.ndarray] | None:
    """The tree's layout and every entry it is to hold (the stored ones, then the new ones, boxes as float32), or
    None when the tree cannot be bulk loaded (see :func:`bulk_load`). Reads the shadow tables only."""
    layout = rtree_layout(con, name)
    if layout is None:
        logger.info("R-tree %s is not a plain 2-D rtree: no bulk load", name)
        return None
    box = [np.asarray(v, dtype="float64") for v in (minx, maxx, miny, maxy)]
    if not (all(np.isfinite(v).all() for v in box) and (box[0] <= box[1]).all() and (box[2] <= box[3]).all()):
        logger.info("R-tree %s: some new boxes are not finite or have min > max: no bulk load", name)
        return None
    old = _read_entries(con, layout)
    stored = con.execute(f"SELECT count(*) FROM main.{layout.shadow('rowid')}").fetchone()[0]
    if len(old) != stored:
        logger.warning("R-tree %s: %s entries in its leaves but %s in %s_rowid: no bulk load",
                       name, len(old), stored, name)
        return None
    all_ids = np.concatenate([old["id"].astype(np.int64), np.asarray(ids, dtype=np.int64)])
    all_boxes = np.empty((len(all_ids), 4), dtype="float32")
    for k, column in enumerate(_COLUMNS[1:]):
        all_boxes[:len(old), k] = old[column]
    all_boxes[len(old):, 0], all_boxes[len(old):, 1] = outward_float32(box[0], box[1])
    all_boxes[len(old):, 2], all_boxes[len(old):, 3] = outward_float32(box[2], box[3])
    return layout, all_ids, all_boxes


def _store_or_refuse(con: sqlite3.Connection, layout: RTreeLayout, rows: Callable[[], TreeRows], new: int) -> bool:
    """Store the tree `rows()` gives; False (nothing written) where the shadow tables are read-only."""
    try:
        # an empty DELETE first: in SQLite's defensive mode it fails before rows() is computed or anything written
        con.execute(f"DELETE FROM main.{layout.shadow('parent')} WHERE 0")
        _store_tree(con, layout, rows())
    except sqlite3.DatabaseError as exc:
        # SQLite's defensive mode forbids writing shadow tables: the first DELETE fails and
        # nothing has been written, so the caller can still insert through the virtual table.
        if "may not be modified" not in str(exc):
            raise
        logger.info("R-tree %s: shadow tables are read-only here (%s): no bulk load", layout.name, exc)
        return False
    logger.debug("R-tree %s: bulk loaded (%s new entries)", layout.name, new)
    return True


class BulkLoad:
    """A bulk load (:func:`bulk_load`) whose packing runs in a worker thread: :func:`start_bulk_load`.

    The caller's connection goes on meanwhile (SQLite and numpy's sorts release the GIL):
    :meth:`finish` stores the packed tree, :meth:`discard` waits for the worker and drops it.
    """

    def __init__(self, layout: RTreeLayout, ids: np.ndarray, boxes: np.ndarray) -> None:
        self.layout, self._new = layout, len(ids)
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gridmap-rtree")
        self._rows = pool.submit(tree_rows, layout, ids, boxes)
        pool.shutdown(wait=False)  # the worker ends with its one task

    def finish(self, con: sqlite3.Connection) -> bool:
        """Store the packed tree in its shadow tables (in `con`'s transaction); False where they are read-only."""
        return _store_or_refuse(con, self.layout, self._rows.result, self._new)

    def discard(self) -> None:
        """Wait for the worker and drop what it computed."""
        self._rows.cancel()
        wait([self._rows])


def start_bulk_load(con: sqlite3.Connection, name: str, ids: np.ndarray, minx: np.ndarray, maxx: np.ndarray,
                    miny: np.ndarray, maxy: np.ndarray) -> BulkLoad | None:
    """Begin :func:`bulk_load` of entries whose ids are known before their rows are written.

    Reads the tree's stored entries through `con` now (its shadow tables only) and packs
    them with the new ones in a worker thread; None when the tree cannot be bulk loaded.
    Call :meth:`BulkLoad.finish` (or :meth:`BulkLoad.discard`) before `con` reads the tree.

    Examples
    --------
    >>> import sqlite3, numpy as np
    >>> con = sqlite3.connect(":memory:")
    >>> _ = con.execute("CREATE VIRTUAL TABLE idx USING rtree(id, minx, maxx, miny, maxy)")
    >>> x = np.arange(100, dtype="float64")
    >>> load = start_bulk_load(con, "idx", np.arange(1, 101), x, x, x, x)
    >>> load.finish(con), con.execute("SELECT rtreecheck('idx')").fetchone()[0]
    (True, 'ok')
    """
    entries = _entries(con, name, ids, minx, maxx, miny, maxy)
    return None if entries is None else BulkLoad(*entries)
