"""The PostgreSQL/PostGIS store: a workspace in a schema of a PostGIS database (:class:`PostgisWorkspace`).

Loaded only for a ``postgresql://`` URL (``import gridmap.storage`` does not import it, nor psycopg).
:func:`init_postgis` creates the workspace in the schema the URL names (``?schema=``, default
``gridmap``): a table per layer of :data:`gridmap.model.LAYERS` with a primary key on the layer's key
(on ``fid``, the key ``UNIQUE``, when the key holds a time, so that QGIS can edit the rows),
geometry typed ``geometry(TYPE, 4326)`` with a GiST index, B-tree indexes on the time columns, on
``left(code, 9)`` (the subdistrict of a layer's code) and on ``office``, ``extra`` as ``json``, and the
bookkeeping tables (metadata, import log, quarantine, categories, column aliases).
:func:`open_postgis` opens it. :class:`PostgisWorkspace` implements
:class:`gridmap.storage.WorkspaceStore` with the GeoPackage's semantics, and reads a period or a box
through the indexes (:meth:`PostgisWorkspace.read_window`).

Writes
------
:meth:`PostgisWorkspace.append` is one transaction: advisory locks per table, ``COPY`` into a temporary
staging table, key conflicts found with one join, ``INSERT ... SELECT ... ON CONFLICT (key) DO NOTHING``,
the quarantine and the import log (see :mod:`gridmap.storage.postgis._append`). Two importers of
overlapping rows both finish, each row accepted by one and a duplicate for the other; a killed importer's
transaction is rolled back by the server.

Passwords
---------
Give none in the URL: libpq reads ``PGPASSWORD``, ``~/.pgpass`` or a ``PGSERVICE`` entry. Every message
shows the URL masked (:func:`gridmap.storage.url.mask_url`), and :attr:`PostgisWorkspace.path` is the
masked URL.

Modules
-------
* ``workspace``: :class:`PostgisWorkspace`, :func:`init_postgis`, :func:`open_postgis`;
* ``_schema``: the tables and indexes, metadata, the version check and migrations (a workspace of an
  older schema is brought up to date by its owner's first open, in one transaction);
* ``_stage``: a frame in storage form (values, EWKB), repeats and key conflicts in the frame;
* ``_append``: the one transaction of an append;
* ``_qgis``: the layers' default QGIS styles in ``public.layer_styles``;
* ``_access``: office roles, :func:`grant_office`: the ``office`` column, triggers and row-level security
  policies that fence each office to its own rows;
* ``_sql``: connections, masked errors, conversions between stored values and frames.
"""

import psycopg  # noqa: F401 - the driver: a missing one fails this import (stores.py names the fix)

from gridmap.storage.postgis._access import Grant, check_office, grant_office
from gridmap.storage.postgis._sql import BUSY_TIMEOUT, GEOMETRY_COLUMN
from gridmap.storage.postgis.workspace import PostgisWorkspace, init_postgis, open_postgis

__all__ = ["PostgisWorkspace", "init_postgis", "open_postgis", "grant_office", "Grant", "check_office", "BUSY_TIMEOUT",
           "GEOMETRY_COLUMN"]
