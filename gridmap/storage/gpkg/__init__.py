"""The GeoPackage store: one ``.gpkg`` file holding every layer of the model (:class:`Workspace`).

A workspace is an OGC GeoPackage that QGIS and GDAL open as is. It holds

* every layer of :data:`gridmap.model.LAYERS` (EPSG:4326, with an R-tree
  spatial index on each geometry column, a UNIQUE index on the layer's key and, since
  schema 4, an index on ``substr(code, 1, 9)``, the subdistrict of the layer's code, if it has one),
* ``quarantine``: records that could not be imported, with their reason,
* ``gridmap_meta``: key/value pairs (``schema_version``, ``created_at``,
  ``gridmap_version``, ``illustrative``),
* ``gridmap_imports``: one row per import (what was read, accepted, duplicated
  and quarantined).

The tables without geometry are registered in ``gpkg_contents`` as
``attributes`` so QGIS lists them.

Writes
------
:meth:`Workspace.append` is transactional and idempotent. The frame is first
written into a private staging GeoPackage: by GDAL (pyogrio, Arrow), which gives
correct GeoPackage geometry blobs, or, for a batch of plain 2-D points (reports,
tracks), by the ADBC SQLite driver's bulk ingest with the blobs GDAL would write
built by numpy (:mod:`gridmap.storage.gpkg._pointstage`); then, in **one** SQLite transaction on the
workspace (``BEGIN IMMEDIATE``), the staged rows are copied with
``INSERT OR IGNORE`` (the UNIQUE key index turns rows already stored into
counted duplicates; when some were, one join of the stage and the layer on the key
finds those stored with other content, quarantined as ``key_conflict``; into an
empty layer, a batch of 10,000 rows or more is copied without the layer's indexes,
which are built again once the rows are in, still inside the transaction), the
R-tree rows are inserted from bounding boxes computed with shapely (with SQL
for small batches; a batch of 10,000 new rows or more
rebuilds the R-tree in bulk, packed with Sort-Tile-Recursive, by writing its
shadow tables: see :mod:`gridmap.storage.gpkg._rtree`; the packing runs in a worker
thread while SQLite copies the rows, with the fids they are foreseen to get, checked
after the copy), ``gpkg_ogr_contents``/``gpkg_contents``
are brought up to date,
and the quarantine and import-log rows are added. GDAL's R-tree and feature
count triggers call SQL functions (``ST_MinX`` ...) that Python's ``sqlite3``
does not have, so they are dropped and recreated *inside* the transaction: a
killed process leaves them, like everything else, as they were.

Journaling
----------
The workspace uses SQLite's write-ahead log (``journal_mode=WAL``, set at
creation; it persists in the file) with ``synchronous=FULL``. Journaling is
never switched off, so an import killed half-way leaves the file intact and
without any of its rows. With WAL a reader (QGIS, a notebook) never blocks a
writer nor the reverse. A writer that waits for another writer longer than
``busy_timeout`` seconds gets :class:`~gridmap.errors.WorkspaceBusyError`.

.. warning::
   WAL needs shared memory between the processes using the file, so it does
   **not** work on network drives (SMB/NFS shares): keep workspaces on a local
   disk. See https://www.sqlite.org/wal.html ("WAL does not work over a network
   filesystem").

GDAL's wheels bundle their own SQLite, and two SQLite libraries in one
process do not see each other's POSIX locks
(https://www.sqlite.org/howtocorrupt.html, section 2.2.1): when GDAL closes the
workspace it deletes the ``-wal``/``-shm`` files under any ``sqlite3``
connection still open in the same process ("disk I/O error"). So gridmap
reads and writes the workspace only through Python's ``sqlite3``; GDAL and ADBC
only write the private staging file. Reading a workspace with GDAL/geopandas from
*another* process (QGIS, a second notebook) is safe; in the same process,
close your own ``sqlite3`` connections first.

Modules
-------
This subpackage implements :class:`gridmap.storage.WorkspaceStore`; everything
SQLite (WAL, busy timeout, triggers, the R-tree) stays inside it:

* ``workspace``: the :class:`Workspace` class, :func:`init_workspace`, :func:`open_workspace`;
* ``_schema``: creating the file (GDAL writes the empty layers), metadata, migrations (a file of an
  older schema is brought up to date when it is opened, in one transaction);
* ``_stage``: a frame in storage form, written to the private staging file;
* ``_conflicts``: key conflicts (one key, two contents);
* ``_append``: the one transaction of :meth:`Workspace.append`;
* ``_columns``: storage conversions (times, typed columns, GeoPackage geometry blobs);
* ``_rtree``: bulk loading of SQLite R-trees.

Examples
--------
>>> import tempfile, pathlib
>>> from gridmap.storage.gpkg import init_workspace
>>> tmp = tempfile.TemporaryDirectory()
>>> ws = init_workspace(pathlib.Path(tmp.name) / "gulou.gpkg")
>>> ws.counts()["reports"]
0
>>> ws.schema_version
4
>>> ws.close()
>>> tmp.cleanup()
"""


from gridmap.storage.gpkg._columns import GEOMETRY_COLUMN
from gridmap.storage.gpkg.workspace import Workspace, init_workspace, open_workspace

__all__ = ["Workspace", "init_workspace", "open_workspace", "GEOMETRY_COLUMN"]
