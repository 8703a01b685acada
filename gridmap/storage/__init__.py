"""Storage: the workspace interface and its stores.

The analysis, the importer and the pages reach the stored model only through
:class:`WorkspaceStore` (:mod:`gridmap.storage.base`): open or create a workspace,
read a layer (or the rows matching a condition), append in one transaction with
idempotent keys and quarantine, the import log, metadata, categories and column
aliases, the schema version (older workspaces are migrated when opened).

* :mod:`gridmap.storage.base`: the interface, the bookkeeping table names, the rule of
  idempotent keys (:func:`content_columns`);
* :mod:`gridmap.storage.gpkg`: the GeoPackage store (:class:`Workspace`), whose SQLite
  details (WAL, busy timeout, triggers, R-tree bulk load) are private to it;
* :mod:`gridmap.storage.stores`: :func:`open_workspace` and :func:`init_workspace`, which take a
  GeoPackage path or a ``postgresql://`` URL and call the store it names (the PostGIS store,
  :mod:`gridmap.storage.postgis`, is imported only for a URL: a GeoPackage user needs no psycopg);
* :mod:`gridmap.storage.url`: workspace URLs (``?schema=``) and :func:`mask_url`, through which every
  echo of a URL goes so that no password is ever shown;
* :mod:`gridmap.storage.layers`: :func:`read_layers`, layers from a store, a path, a URL or a dict;
* :mod:`gridmap.storage.copy`: :func:`copy_workspace`, every table of one store into another (``gridmap copy``).

A new store (PostgreSQL/PostGIS) is a subpackage next to ``gpkg`` whose workspace
class satisfies :class:`WorkspaceStore` (``tests/test_storage.py`` checks the
GeoPackage one).

Examples
--------
>>> import tempfile, pathlib
>>> from gridmap.storage import WorkspaceStore, init_workspace, open_workspace
>>> tmp = tempfile.TemporaryDirectory()
>>> init_workspace(pathlib.Path(tmp.name) / "w.gpkg").close()
>>> with open_workspace(pathlib.Path(tmp.name) / "w.gpkg") as ws:
...     isinstance(ws, WorkspaceStore), ws.counts()["reports"]
(True, 0)
>>> tmp.cleanup()
"""

from gridmap.model import SCHEMA_VERSION
from gridmap.storage.base import (
    ALIASES_TABLE,
    CATEGORIES_TABLE,
    GEOMETRY_TOLERANCE,
    IMPORTS_TABLE,
    META_TABLE,
    NOT_CONTENT,
    QUARANTINE_TABLE,
    WorkspaceStore,
    content_columns,
)
from gridmap.storage.gpkg import GEOMETRY_COLUMN, Workspace
from gridmap.storage.layers import LayerReads, read_layers
from gridmap.storage.stores import describe_location, init_workspace, open_workspace
from gridmap.storage.url import is_database_url, mask_url

__all__ = [
    "WorkspaceStore", "Workspace", "init_workspace", "open_workspace", "read_layers", "LayerReads",
    "META_TABLE", "IMPORTS_TABLE", "QUARANTINE_TABLE", "CATEGORIES_TABLE", "ALIASES_TABLE", "GEOMETRY_COLUMN",
    "content_columns", "NOT_CONTENT", "GEOMETRY_TOLERANCE", "SCHEMA_VERSION",
    "describe_location", "is_database_url", "mask_url",
]
