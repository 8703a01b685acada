"""Office roles of the PostGIS store: each office fenced to its own rows by PostgreSQL's row-level security.

How a row knows its office
--------------------------
Every layer table, the import log and the quarantine have a column ``office`` (text, the 9-digit
subdistrict code; never read into a frame):

* a table whose rows carry a code (``subdistrict``: ``code``; ``communities``: ``community_code``;
  ``grids``, ``reports``, ``targets``: ``grid_code``; ``areas``: ``area_code``) gets it from the code's
  first nine digits (the model's codes are hierarchical: :func:`gridmap.model.layers.code_level`), by a
  ``BEFORE INSERT OR UPDATE`` trigger, whatever the writer says; a row without a code gets the writer's office;
* ``rectifications`` and ``spotchecks`` get the office of the report they name (looked up as the owner,
  ``gridmap_report_office``, so a report of another office gives that office and the row is refused),
  else the writer's office;
* ``tracks``: a fix written by an office role gets that office (``DEFAULT gridmap_office()``, checked by
  the policy); a fix that arrives without an office, as every fix the owner writes (``gridmap import``
  for many offices at once, ``gridmap copy``, a QGIS edit as the owner), gets the office of the grid its
  point lies in: ``grids.office`` of the grid ``ST_Intersects`` finds (served by the grids' GiST index;
  the boundary counts, so a point on an edge shared by two grids gets the one with the smallest
  ``grid_code``; :func:`grid_office_sql`). gridmap's bulk insert (import, ``gridmap copy``) sets it in the
  ``INSERT ... SELECT`` itself (:func:`staged_office_sql`); a ``BEFORE INSERT ... WHEN (NEW.office IS
  NULL)`` trigger does it for every other writer (QGIS, psql). A fix outside every grid stays of no
  office: a district row, which only read-all roles and the owner read. When the owner moves
  a fix or sets its ``office`` (``UPDATE tracks SET office = NULL`` after the grids changed), a
  ``BEFORE UPDATE OF geom, office`` trigger looks it up again; an office's own updates keep its office.
  The office is the grid's when the fix is written: a later change of the grids moves no stored fix;
* ``streets``, ``wall``, ``demolition_zones``, the import log and the quarantine get the writer's office
  (``DEFAULT gridmap_office()``).

``gridmap_office()`` is the office of ``current_user`` in the table ``gridmap_roles`` (role → office,
or ``read_all``), which :func:`grant_office` fills; it is NULL for every other role, the workspace's
owner included. So the owner's streets, wall and demolition zones, its rectifications and spot checks
naming no stored report, and its fixes outside every grid belong to no office (the import log and the
quarantine of the owner's imports too).

Keys are shared by all offices: a layer's primary key spans the rows of every office, so an office
cannot store a row whose key another office's row already holds. It cannot see that row either, so the
append quarantines such a record as ``key_conflict`` with a detail that says only that the key is used
by a row of another office (:mod:`gridmap.storage.postgis._append`), never whether its content is equal.

The policies (https://www.postgresql.org/docs/15/ddl-rowsecurity.html)
------------------------------------------------------------------------
Row-level security is enabled on each of these tables, with the permissive policies

* ``gridmap_office_rows``: every command, ``USING (office = gridmap_office())`` and
  ``WITH CHECK (office = gridmap_office())``: an office role reads, updates and deletes only its own
  rows and cannot insert or move a row into another office (the server refuses it: "new row violates
  row-level security policy");
* ``gridmap_read_all``: ``SELECT`` only, for the roles marked ``read_all``;
* ``gridmap_district_rows`` (``streets``, ``wall``, ``demolition_zones`` only): ``SELECT`` of the rows of
  no office, i.e. the reference layers the district loaded, readable by every office.

A role without a policy sees no row. Per the PostgreSQL manual, the table's owner (who runs ``gridmap
init``, imports for the whole district and grants) and superusers or ``BYPASSRLS`` roles are not subject
to row security (RLS is enabled, not forced); :func:`grant_office` therefore refuses such a role.
Privileges do the rest: an office role has ``SELECT, INSERT, UPDATE, DELETE`` on the fenced tables and
``SELECT`` on the metadata, categories and aliases; a read-all role has ``SELECT`` only.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from os import PathLike
from typing import Any

from gridmap.errors import WorkspaceError
from gridmap.model import LAYERS
from gridmap.storage.base import IMPORTS_TABLE, QUARANTINE_TABLE, SUBDISTRICT_CODE_COLUMNS
from gridmap.storage.url import WorkspaceURL, parse_workspace_url
from gridmap.storage.postgis._sql import GEOMETRY_COLUMN, connect, q, raise_for

logger = logging.getLogger(__name__)

#: The table mapping a role to its office (or to ``read_all``).
ROLES_TABLE = "gridmap_roles"
#: Name of the column holding each row's office in every fenced table.
OFFICE_COLUMN = "office"
#: The code column each layer's office comes from.
CODE_COLUMNS = SUBDISTRICT_CODE_COLUMNS  # one rule: a row's subdistrict (read by subdistrict, or fenced) by its code
#: Layers whose office is that of the report they name.
REPORT_EVENT_LAYERS = ("rectifications", "spotchecks")
#: Layers whose rows written by a role of no office (the owner) get the office of the grid their point lies in.
GRID_POINT_LAYERS = ("tracks",)
#: Reference layers whose rows of no office (loaded by the district) every office may read.
DISTRICT_LAYERS = ("streets", "wall", "demolition_zones")
#: Every table with an ``office`` column and the policies.
FENCED_TABLES = (*LAYERS, IMPORTS_TABLE, QUARANTINE_TABLE)

_OFFICE_RE = re.compile(r"[0-9]{9}")  # ASCII digits only (\d would take any Unicode digit)
_ROLE_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")


@dataclass(frozen=True)
class Grant:
    """What :func:`grant_office` did: the role, its office (None for read-all), whether it was created."""

    role: str
    office: str | None
    read_all: bool
    created: bool

    def to_dict(self) -> dict[str, Any]:
        """As JSON-ready values."""
        return {"role": self.role, "office": self.office, "read_all": self.read_all, "created": self.created}


def check_office(office: str) -> str:
    """`office` when it is a 9-digit subdistrict code; else :class:`WorkspaceError` naming the format.

    Examples
    --------
    >>> check_office("610802001")
    '610802001'
    >>> check_office("6108020")
    Traceback (most recent call last):
    ...
    gridmap.errors.WorkspaceError: --office '6108020' is not a subdistrict code: give its 9 digits, e.g. 610802001
    """
    text = str(office)
    if not _OFFICE_RE.fullmatch(text):
        raise WorkspaceError(f"--office {text!r} is not a subdistrict code: give its 9 digits, e.g. 610802001")
    return text


def check_role(role: str) -> str:
    """`role` when it is a plain PostgreSQL role name (lower-case letters, digits, ``_``; at most 63).

    Examples
    --------
    >>> check_role("office_gulou")
    'office_gulou'
    >>> check_role("Office-1")
    Traceback (most recent call last):
    ...
    gridmap.errors.WorkspaceError: --role 'Office-1' is not a plain role name: use lower-case letters, digits and _ \
(at most 63, not starting with a digit), e.g. office_610802001
    """
    if not _ROLE_RE.fullmatch(str(role)):
        raise WorkspaceError(f"--role {role!r} is not a plain role name: use lower-case letters, digits and _ "
                             "(at most 63, not starting with a digit), e.g. office_610802001")
    return str(role)


def grid_office_sql(point: str, schema: str | None = None) -> str:
    """SQL of the office of the grid `point` (an SQL geometry) lies in; NULL outside every grid.

    The grid ``ST_Intersects`` finds (https://postgis.net/docs/ST_Intersects.html: the boundary counts), the
    smallest ``grid_code`` when the point is on an edge or corner shared by several; the ``&&`` test it
    implies is served by the grids' GiST index.

    Examples
    --------
    >>> print(grid_office_sql("s.geom"))
    (SELECT g.office FROM grids AS g WHERE ST_Intersects(g.geom, s.geom) ORDER BY g.grid_code LIMIT 1)
    """
    grids = "grids" if schema is None else f"{q(schema)}.grids"
    return (f"(SELECT g.{OFFICE_COLUMN} FROM {grids} AS g WHERE ST_Intersects(g.{GEOMETRY_COLUMN}, {point})"
            " ORDER BY g.grid_code LIMIT 1)")


def staged_office_sql(layer: str, alias: str) -> str | None:
    """SQL of the office of a staged row of `layer` (table alias `alias`) as a bulk insert sets it; None: the default.

    For :data:`GRID_POINT_LAYERS`: the writer's office, else (a role of no office) :func:`grid_office_sql`, in
    the ``INSERT ... SELECT`` itself: one index probe per row, without the trigger's per-row call (which then
    fires only for the fixes outside every grid, left NULL, and finds NULL again).

    Examples
    --------
    >>> print(staged_office_sql("tracks", "s"))  # doctest: +NORMALIZE_WHITESPACE
    coalesce((SELECT gridmap_office()), (SELECT g.office FROM grids AS g WHERE ST_Intersects(g.geom, s.geom)
      ORDER BY g.grid_code LIMIT 1))
    >>> staged_office_sql("reports", "s") is None
    True
    """
    if layer not in GRID_POINT_LAYERS:
        return None
    return f"coalesce((SELECT gridmap_office()), {grid_office_sql(f'{alias}.{GEOMETRY_COLUMN}')})"


def _functions_ddl(schema: str) -> list[str]:
    """The role table and the functions the policies and triggers call (schema-qualified bodies)."""
    s = q(schema)
    out = [
        f"CREATE TABLE IF NOT EXISTS {s}.{ROLES_TABLE} (role name PRIMARY KEY, office text, "
        "read_all boolean NOT NULL DEFAULT false, CHECK ((office IS NULL) = read_all))",
        f"ALTER TABLE {s}.{ROLES_TABLE} ENABLE ROW LEVEL SECURITY",
        f"DROP POLICY IF EXISTS gridmap_own_role ON {s}.{ROLES_TABLE}",
        f"CREATE POLICY gridmap_own_role ON {s}.{ROLES_TABLE} FOR SELECT USING (role = current_user)",
        f"CREATE OR REPLACE FUNCTION {s}.gridmap_office() RETURNS text LANGUAGE sql STABLE"
        f" AS $$ SELECT office FROM {s}.{ROLES_TABLE} WHERE role = current_user $$",
        f"CREATE OR REPLACE FUNCTION {s}.gridmap_reads_all() RETURNS boolean LANGUAGE sql STABLE"
        f" AS $$ SELECT coalesce((SELECT read_all FROM {s}.{ROLES_TABLE} WHERE role = current_user), false) $$",
        # the owner's view of a report's office (SECURITY DEFINER: the owner is not bound by the policies), so that
        # an office cannot file a rectification or spot check under a report of another office
        f"CREATE OR REPLACE FUNCTION {s}.gridmap_report_office(id text) RETURNS text LANGUAGE plpgsql STABLE"
        f" SECURITY DEFINER SET search_path = pg_catalog, pg_temp"
        f" AS $$ BEGIN RETURN (SELECT r.office FROM {s}.reports AS r WHERE r.report_id = id); END $$",
        f"CREATE OR REPLACE FUNCTION {s}.gridmap_office_of_report() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        f" NEW.office := coalesce({s}.gridmap_report_office(NEW.report_id), {s}.gridmap_office()); RETURN NEW;"
        " END $$",
        # a fix that arrives without an office: see grid_office_sql; when a fix moves or its office is set, again for
        # a role of no office only (an office's fix keeps its office, checked by the policy); PostGIS found in public
        # (as by init) whatever the writing session's search_path
        f"CREATE OR REPLACE FUNCTION {s}.gridmap_office_of_grid_point() RETURNS trigger LANGUAGE plpgsql"
        " SET search_path = pg_catalog, public, pg_temp AS $$ BEGIN"
        f" IF TG_OP = 'INSERT' OR {s}.gridmap_office() IS NULL THEN"
        f" NEW.office := {grid_office_sql(f'NEW.{GEOMETRY_COLUMN}', schema)}; END IF; RETURN NEW; END $$",
    ]
    for column in sorted(set(CODE_COLUMNS.values())):
        out.append(f"CREATE OR REPLACE FUNCTION {s}.{q(f'gridmap_office_of_{column}')}() RETURNS trigger"
                   f" LANGUAGE plpgsql AS $$ BEGIN NEW.office := coalesce(left(NEW.{q(column)}, 9),"
                   f" {s}.gridmap_office()); RETURN NEW; END $$")
    return out


def _grid_point_triggers(schema: str, table: str) -> list[str]:
    """The triggers giving a fix of no office the office of its grid (see this module).

    On insert only when the row arrives without an office (``WHEN``, evaluated by the server without calling
    the function: an office's fix costs nothing more); on an update of the point or of ``office``.
    """
    t, function = f"{q(schema)}.{q(table)}", f"{q(schema)}.gridmap_office_of_grid_point()"
    return [f"CREATE TRIGGER gridmap_office BEFORE INSERT ON {t} FOR EACH ROW WHEN (NEW.{OFFICE_COLUMN} IS NULL)"
            f" EXECUTE FUNCTION {function}",
            f"CREATE TRIGGER gridmap_office_moved BEFORE UPDATE OF {GEOMETRY_COLUMN}, {OFFICE_COLUMN} ON {t}"
            f" FOR EACH ROW EXECUTE FUNCTION {function}"]


def _table_ddl(schema: str, table: str) -> list[str]:
    """The office column, its trigger and the policies of one table."""
    s, t = q(schema), f"{q(schema)}.{q(table)}"
    office = f"{s}.gridmap_office()"
    out = [f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS {OFFICE_COLUMN} text DEFAULT {office}",
           f"DROP TRIGGER IF EXISTS gridmap_office ON {t}", f"DROP TRIGGER IF EXISTS gridmap_office_moved ON {t}"]
    function = ("gridmap_office_of_report" if table in REPORT_EVENT_LAYERS
                else f"gridmap_office_of_{CODE_COLUMNS[table]}" if table in CODE_COLUMNS else None)
    if function is not None:
        out.append(f"CREATE TRIGGER gridmap_office BEFORE INSERT OR UPDATE ON {t} FOR EACH ROW"
                   f" EXECUTE FUNCTION {s}.{q(function)}()")
    elif table in GRID_POINT_LAYERS:
        out += _grid_point_triggers(schema, table)
    out.append(f"ALTER TABLE {t} ENABLE ROW LEVEL SECURITY")
    policies = [("gridmap_office_rows", f"FOR ALL USING (office = {office}) WITH CHECK (office = {office})"),
                ("gridmap_read_all", f"FOR SELECT USING ({s}.gridmap_reads_all())")]
    if table in DISTRICT_LAYERS:
        policies.append(("gridmap_district_rows", "FOR SELECT USING (office IS NULL)"))
    for name, body in policies:
        out += [f"DROP POLICY IF EXISTS {name} ON {t}", f"CREATE POLICY {name} ON {t} {body}"]
    return out


def fence_ddl(schema: str) -> list[str]:
    """Every statement that fences the tables of `schema` (idempotent: safe to run again).

    Examples
    --------
    >>> statements = fence_ddl("gridmap")
    >>> [s for s in statements if s.startswith("CREATE TRIGGER") and '"grids"' in s]  # doctest: +NORMALIZE_WHITESPACE
    ['CREATE TRIGGER gridmap_office BEFORE INSERT OR UPDATE ON "gridmap"."grids" FOR EACH ROW
      EXECUTE FUNCTION "gridmap"."gridmap_office_of_grid_code"()']
    >>> print([s for s in statements if "gridmap_office_rows ON" in s and '"tracks"' in s][-1])
    CREATE POLICY gridmap_office_rows ON "gridmap"."tracks" FOR ALL USING (office = "gridmap".gridmap_office()) \
WITH CHECK (office = "gridmap".gridmap_office())
    """
    out = _functions_ddl(schema)
    for table in FENCED_TABLES:
        out += _table_ddl(schema, table)
    return out


def _role_flags(con: Any, schema: str, role: str) -> tuple[bool, bool] | None:
    """(bypasses row security, is or includes the owner of the tables) of an existing role; None when none."""
    row = con.execute("SELECT r.rolsuper OR r.rolbypassrls, pg_has_role(r.oid, c.relowner, 'MEMBER')"
                      " FROM pg_roles AS r, pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace"
                      " WHERE r.rolname = %s AND n.nspname = %s AND c.relname = 'reports'",
                      [role, schema]).fetchone()
    return None if row is None else (bool(row[0]), bool(row[1]))


def _privileges(schema: str, role: str, *, read_all: bool) -> list[str]:
    """Revoke what the role had in the schema, then grant what an office (or a read-all role) needs."""
    s, r = q(schema), q(role)
    out = [f"REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {r}", f"GRANT USAGE ON SCHEMA {s} TO {r}",
           f"GRANT SELECT ON ALL TABLES IN SCHEMA {s} TO {r}"]
    if not read_all:
        tables = ", ".join(f"{s}.{q(t)}" for t in FENCED_TABLES)
        out += [f"GRANT INSERT, UPDATE, DELETE ON {tables} TO {r}",
                f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {s} TO {r}"]
    return out


def _grant_in_transaction(con: Any, loc: WorkspaceURL, role: str, office: str | None) -> bool:
    """Fence the tables (if not yet), create or update the role; whether it was created."""
    con.execute(f"SET LOCAL search_path = {q(loc.schema)}, public")
    if con.execute("SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = 'reports'",
                   [loc.schema]).fetchone() is None:
        raise WorkspaceError(f"schema {loc.schema!r} of {loc.masked} holds no gridmap workspace; create one with "
                             f"`gridmap init {loc.masked}`")
    for statement in fence_ddl(loc.schema):
        con.execute(statement)
    flags = _role_flags(con, loc.schema, role)
    if flags is not None and (flags[0] or flags[1]):
        raise WorkspaceError(f"role {role!r} is a superuser, has BYPASSRLS or owns the workspace, so row-level "
                             "security would not bind it; grant another --role")
    if flags is None:
        con.execute(f"CREATE ROLE {q(role)} LOGIN")
    for statement in _privileges(loc.schema, role, read_all=office is None):
        con.execute(statement)
    if con.execute("SELECT to_regclass('public.layer_styles')").fetchone()[0] is not None:
        con.execute(f"GRANT SELECT ON public.layer_styles TO {q(role)}")  # QGIS reads the default styles there
    con.execute(f"INSERT INTO {q(loc.schema)}.{ROLES_TABLE} (role, office, read_all) VALUES (%s, %s, %s)"
                " ON CONFLICT (role) DO UPDATE SET office = EXCLUDED.office, read_all = EXCLUDED.read_all",
                [role, office, office is None])
    return flags is None


def grant_office(url: str | PathLike[str], *, role: str, office: str | None = None,
                 read_all: bool = False) -> Grant:
    """Create (or update) PostgreSQL role `role` fenced to the rows of subdistrict `office`, or reading all.

    The fence is the database's row-level security (see this module); gridmap only writes the role, its
    privileges and its office. The role gets no password: set one with ``ALTER ROLE name PASSWORD ...``
    (psql's ``\\password name``) or let it log in by peer or certificate authentication. Run it as the
    workspace's owner (who needs ``CREATEROLE`` to create the role); running it again is harmless, and
    moves the role to the office (or read-all) now given.

    Parameters
    ----------
    url : str
        The workspace, ``postgresql://OWNER@HOST/DB[?schema=NAME]``.
    role : str
        The role to create or update (lower-case letters, digits, ``_``).
    office : str, optional
        The 9-digit subdistrict code whose rows the role may read and write.
    read_all : bool
        Instead of `office`: a district role that reads every row and writes none.

    Raises
    ------
    WorkspaceError
        A bad `office` or `role`, both or neither of `office` and `read_all`, a role that row security would
        not bind (superuser, ``BYPASSRLS``, the owner), or the server refusing (the message is masked).
    """
    import psycopg  # deferred: psycopg is needed only by a PostGIS workspace

    if read_all == (office is not None):
        raise WorkspaceError("give either --office CODE (a 9-digit subdistrict code) or --read-all, not both "
                             "nor neither")
    code = None if office is None else check_office(office)
    name = check_role(role)
    loc = parse_workspace_url(str(url))
    con = connect(loc)
    try:
        with con.transaction():
            con.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"gridmap-grant:{loc.schema}"])
            created = _grant_in_transaction(con, loc, name, code)
    except psycopg.Error as exc:
        raise_for(exc, loc, f"grant role {name!r} (run it as the workspace's owner, with CREATEROLE)")
        raise  # unreachable: raise_for raises
    finally:
        con.close()
    logger.info("role %s %s in %s: %s", name, "created" if created else "updated", loc.masked,
                "reads all" if code is None else f"office {code}")
    return Grant(name, code, code is None, created)
