"""Safe XML parsing shared by the KML and GPX readers.

XML from the field is parsed with :mod:`defusedxml` on top of the stdlib expat
parser, with these rules (BAD-INPUTS.md cases 6 and 7):

* any entity declaration (the "billion laughs" bomb, ``SYSTEM`` entities that
  read ``file:///etc/passwd``) is refused with :class:`UnsafeFileError`, before
  any entity is expanded or any referenced file is opened;
* a DOCTYPE naming an external DTD (``SYSTEM``/``PUBLIC``) is refused the same
  way; a bare ``<!DOCTYPE kml>`` is harmless and accepted;
* the input is capped in size before parsing;
* an ill-formed or truncated document is refused whole with :class:`ReadError`:
  the tree is built completely before any record is taken from it, so a reader
  never returns the first records of a damaged file.

Messages never quote the document's content, so the content of a file an
attacker points an entity at can never leak through them.
"""

from __future__ import annotations

import codecs
import logging
import os
import re
import xml.etree.ElementTree as ET
import xml.parsers.expat
from os import PathLike
from pathlib import Path
from typing import Iterator

from defusedxml.common import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import DefusedXMLParser

from gridmap.errors import EncodingError, ReadError, UnsafeFileError

__all__ = [
    "MAX_XML_BYTES",
    "parse_xml_bytes",
    "parse_xml_file",
    "local_name",
    "children",
    "child",
    "child_text",
]

logger = logging.getLogger(__name__)

#: Largest XML document parsed, in bytes (200 MiB).
MAX_XML_BYTES = 200 * 1024 * 1024

# Encodings expat decodes itself; anything else is transcoded to UTF-8 first.
_EXPAT_ENCODINGS = {"utf-8", "utf-16", "utf-16-le", "utf-16-be", "latin-1", "iso8859-1", "ascii"}
_DECL_RE = re.compile(rb"^(\s*<\?xml[^>]*?encoding\s*=\s*[\"'])([A-Za-z0-9._:-]+)([\"'])")


class _GuardedParser(DefusedXMLParser):
    """defusedxml's parser, also refusing DOCTYPEs that name an external DTD."""

    def __init__(self) -> None:
        super().__init__(forbid_dtd=False, forbid_entities=True, forbid_external=True)
        self.parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
        self.parser.StartDoctypeDeclHandler = self._check_doctype

    @staticmethod
    def _check_doctype(name: str, sysid: str | None, pubid: str | None, has_internal_subset: bool) -> None:
        if sysid or pubid:
            raise DTDForbidden(name, sysid, pubid)


def local_name(tag: object) -> str:
    """Return an element tag without its namespace.

    Examples
    --------
    >>> local_name("{http://www.opengis.net/kml/2.2}Placemark")
    'Placemark'
    >>> local_name("name")
    'name'
    """
    text = tag if isinstance(tag, str) else ""
    return text.rsplit("}", 1)[-1]


def children(elem: ET.Element, name: str) -> Iterator[ET.Element]:
    """Yield the direct children of `elem` whose local name is `name`, in order.

    Examples
    --------
    >>> root = parse_xml_bytes(b"<a xmlns='urn:x'><b/><c/><b/></a>", source="t.xml")
    >>> len(list(children(root, "b")))
    2
    """
    for sub in elem:
        if local_name(sub.tag) == name:
            yield sub


def child(elem: ET.Element, name: str) -> ET.Element | None:
    """The first direct child of `elem` with local name `name`, or None."""
    return next(children(elem, name), None)


def child_text(elem: ET.Element, name: str) -> str | None:
    """Stripped text of the first direct child named `name`; None when absent.

    Examples
    --------
    >>> root = parse_xml_bytes("<a><name> 鼓楼 </name></a>".encode(), source="t.xml")
    >>> child_text(root, "name"), child_text(root, "desc")
    ('鼓楼', None)
    """
    sub = child(elem, name)
    if sub is None:
        return None
    return "".join(sub.itertext()).strip()


def _transcode(data: bytes, *, source: str) -> bytes:
    """Re-encode a document declared in an encoding expat cannot read (GBK...) to UTF-8."""
    head = _DECL_RE.match(data[:512])
    if head is None:
        return data
    declared = head.group(2).decode("ascii")
    try:
        codec = codecs.lookup(declared).name
    except LookupError:
        raise ReadError(
            f"{source}: the XML declares the unknown encoding {declared!r}; re-save the file as UTF-8"
        ) from None
    if codec in _EXPAT_ENCODINGS or codec.startswith("utf"):
        return data
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        raise EncodingError(
            f"{source}: the XML declares encoding {declared!r} but byte {exc.start} does not decode in it;"
            " re-save the file as UTF-8"
        ) from None
    logger.info("%s: transcoding XML from %s to UTF-8", source, codec)
    body = text.encode("utf-8")
    return _DECL_RE.sub(lambda m: m.group(1) + b"UTF-8" + m.group(3), body, count=1)


def _unsafe(source: str, exc: Exception) -> UnsafeFileError:
    if isinstance(exc, EntitiesForbidden):
        what = f"declares the XML entity {exc.name!r}"
    elif isinstance(exc, ExternalReferenceForbidden):
        what = "refers to an external entity"
    else:
        what = "names an external DTD"
    return UnsafeFileError(
        f"{source}: refused: the file {what}. Entity declarations and external references are how"
        " 'billion laughs' bombs and hidden file reads work, and KML/GPX never need them;"
        " re-export the file from the GPS or map application"
    )


def parse_xml_bytes(data: bytes, *, source: str, max_bytes: int = MAX_XML_BYTES) -> ET.Element:
    """Parse a whole XML document safely and return its root element.

    Parameters
    ----------
    data : bytes
        The document.
    source : str
        Name of the file, used in messages.
    max_bytes : int, optional
        Larger documents are refused.

    Returns
    -------
    xml.etree.ElementTree.Element

    Raises
    ------
    UnsafeFileError
        Entity declarations, external entities or DTDs, or a document over `max_bytes`.
    ReadError
        An ill-formed or truncated document (nothing of it is returned).

    Examples
    --------
    >>> local_name(parse_xml_bytes(b"<kml xmlns='http://www.opengis.net/kml/2.2'/>", source="a.kml").tag)
    'kml'
    >>> parse_xml_bytes(b"<kml><Placemark>", source="cut.kml")
    Traceback (most recent call last):
    ...
    gridmap.errors.ReadError: cut.kml: ill-formed XML ...
    """
    if len(data) > max_bytes:
        raise UnsafeFileError(f"{source}: {len(data)} bytes of XML is over the {max_bytes}-byte limit; split the file")
    data = _transcode(data, source=source)
    parser = _GuardedParser()
    try:
        parser.feed(data)
        return parser.close()
    except (DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden) as exc:
        raise _unsafe(source, exc) from None
    except (ET.ParseError, xml.parsers.expat.ExpatError) as exc:
        line, col = getattr(exc, "position", (getattr(exc, "lineno", 0), getattr(exc, "offset", 0)))
        reason = xml.parsers.expat.ErrorString(exc.code) if isinstance(getattr(exc, "code", None), int) else "syntax"
        raise ReadError(
            f"{source}: ill-formed XML at line {line}, column {col} ({reason}); the file is truncated or damaged,"
            " so nothing was imported: copy or export it again"
        ) from None


def read_capped(path: str | PathLike[str], *, max_bytes: int) -> bytes:
    """Read a file's bytes, refusing it when it holds more than `max_bytes`.

    The size is checked before reading and the read itself stops at the cap,
    so a file growing meanwhile cannot slip through.
    """
    p = Path(path)
    try:
        size = os.stat(p).st_size
        if size > max_bytes:
            raise UnsafeFileError(f"{p}: {size} bytes is over the {max_bytes}-byte limit; split the file")
        with open(p, "rb") as fh:
            # read what stat announced (fh.read(max_bytes) would allocate the whole cap up front),
            # then, should the file have grown meanwhile, at most up to the cap
            data = fh.read(size + 1)
            if len(data) > size:
                data += fh.read(max_bytes + 1 - len(data))
    except OSError as exc:
        raise ReadError(f"cannot read {p}: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise UnsafeFileError(f"{p}: over the {max_bytes}-byte limit; split the file")
    return data


def parse_xml_file(path: str | PathLike[str], *, max_bytes: int = MAX_XML_BYTES) -> ET.Element:
    """Read and parse an XML file safely (see :func:`parse_xml_bytes`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.gpx"
    >>> _ = p.write_bytes(b"<gpx version='1.1'/>")
    >>> parse_xml_file(p).get("version")
    '1.1'
    """
    return parse_xml_bytes(read_capped(path, max_bytes=max_bytes), source=str(path), max_bytes=max_bytes)
