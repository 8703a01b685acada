"""Workspace locations: a GeoPackage path or a ``postgresql://`` URL, and how to show one safely.

A PostGIS workspace is named by a libpq URL (``postgresql://USER@HOST:PORT/DB``, also
``postgres://``), optionally with ``?schema=NAME`` (default ``gridmap``), the schema
holding the model's tables. Every other query parameter is libpq's (``host=`` for a
socket directory, ``sslmode=``, ``service=`` ...). The password should not be typed in the
URL at all: libpq finds it in ``PGPASSWORD``, ``~/.pgpass`` or a ``PGSERVICE`` entry. When
a URL does hold one, every echo of it (logs, messages, JSON, outputs) goes through
:func:`mask_url`, which replaces it with ``***``.

Examples
--------
>>> is_database_url("postgresql://office@db.example:5432/city?schema=gulou")
True
>>> is_database_url("gulou.gpkg")
False
>>> loc = parse_workspace_url("postgresql://office:s3cret@db.example:5432/city?schema=gulou&sslmode=require")
>>> loc.schema, loc.conninfo
('gulou', 'postgresql://office:s3cret@db.example:5432/city?sslmode=require')
>>> loc.masked
'postgresql://office:***@db.example:5432/city?schema=gulou&sslmode=require'
>>> mask_url("could not open postgres://a:pw@h/db?password=pw2")
'could not open postgres://a:***@h/db?password=***'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from os import PathLike, fspath
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from gridmap.errors import WorkspaceError

__all__ = ["DEFAULT_SCHEMA", "SCHEMES", "WorkspaceURL", "is_database_url", "mask_url", "parse_workspace_url"]

#: The schema that holds the model's tables when the URL names none.
DEFAULT_SCHEMA = "gridmap"
#: URL schemes that name a PostgreSQL/PostGIS workspace.
SCHEMES = ("postgresql://", "postgres://")
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_USERINFO_PASSWORD = re.compile(r"(?P<head>postgres(?:ql)?://[^:/@\s]*):(?P<password>[^@\s]*)@")
_PARAM_PASSWORD = re.compile(r"(?P<head>[?&\s]password=)(?P<password>[^&\s]*)", re.IGNORECASE)


@dataclass(frozen=True)
class WorkspaceURL:
    """A parsed PostGIS workspace URL.

    Attributes
    ----------
    conninfo : str
        The URL libpq is given (``schema`` removed; the password, if any, kept).
    schema : str
        The schema of the model's tables.
    masked : str
        The URL as it may be shown to anyone: the password replaced by ``***``.
    """

    conninfo: str
    schema: str
    masked: str

    def __str__(self) -> str:
        return self.masked

    def __repr__(self) -> str:
        return f"WorkspaceURL({self.masked!r}, schema={self.schema!r})"


def is_database_url(location: Any) -> bool:
    """Whether `location` (a str or path) names a PostgreSQL/PostGIS workspace rather than a file."""
    if isinstance(location, (str, PathLike)):
        return fspath(location).lower().startswith(SCHEMES)
    return False


def mask_url(text: str) -> str:
    """`text` with every password of a ``postgresql://`` URL in it replaced by ``***``."""
    text = _USERINFO_PASSWORD.sub(lambda m: f"{m.group('head')}:***@", text)
    return _PARAM_PASSWORD.sub(lambda m: f"{m.group('head')}***", text)


def parse_workspace_url(url: str | PathLike[str]) -> WorkspaceURL:
    """Split a workspace URL into what libpq takes and the schema of the tables.

    Raises
    ------
    WorkspaceError
        When `url` is not a ``postgresql://`` URL or names an invalid schema (lower-case
        letters, digits and ``_``, starting with a letter or ``_``, at most 63 characters).
    """
    text = fspath(url)
    if not is_database_url(text):
        raise WorkspaceError(f"not a PostgreSQL workspace URL: {mask_url(text)!r} (postgresql://USER@HOST:PORT/DB)")
    parts = urlsplit(text)
    params = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [value for key, value in params if key == "schema"]
    schema = schemas[-1] if schemas else DEFAULT_SCHEMA
    if not _SCHEMA_NAME.match(schema):
        raise WorkspaceError(f"invalid schema {schema!r} in {mask_url(text)!r}: use lower-case letters, digits "
                             "and _ (e.g. ?schema=gulou)")
    rest = [(key, value) for key, value in params if key != "schema"]
    conninfo = urlunsplit(parts._replace(query=urlencode(rest, safe="/")))
    return WorkspaceURL(conninfo=conninfo, schema=schema, masked=mask_url(text))
