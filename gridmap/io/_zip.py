"""Safe zip handling shared by the KMZ and zipped-shapefile readers.

BAD-INPUTS.md case 8: a KMZ may carry ``../`` member names or a 2 GB
``doc.kml`` inside a 2 MB zip. The rules here:

1. :func:`check_zip` reads only the zip's central directory and refuses the
   archive before anything is decompressed when a member name is absolute, has
   a drive letter or a ``..`` part, when there are too many members, when the
   declared uncompressed sizes add up to too much, when a large member claims a
   compression ratio no real document reaches, when a member is encrypted, or
   (on request) when a member is a symbolic link.
2. :func:`read_member_capped` decompresses one member in memory, in chunks, and
   stops as soon as more than `cap` bytes come out: the declared size is never
   trusted alone. :func:`copy_member_capped` does the same into an open binary
   file, for a caller that unpacks to its own temporary folder.
"""

from __future__ import annotations

import io
import logging
import re
import stat
import zipfile
from os import PathLike
from pathlib import Path
from typing import BinaryIO

from gridmap.errors import ReadError, UnsafeFileError

__all__ = [
    "MAX_TOTAL_BYTES",
    "MAX_MEMBER_BYTES",
    "MAX_RATIO",
    "MAX_MEMBERS",
    "RATIO_MIN_BYTES",
    "check_zip",
    "check_member_name",
    "copy_member_capped",
    "read_member_capped",
]

logger = logging.getLogger(__name__)

#: Largest sum of declared uncompressed member sizes (1 GiB).
MAX_TOTAL_BYTES = 1024 * 1024 * 1024
#: Largest uncompressed member read into memory (100 MiB).
MAX_MEMBER_BYTES = 100 * 1024 * 1024
#: Largest compression ratio (uncompressed : compressed) of one large member.
#: Text compresses 3-20:1 and DEFLATE cannot exceed about 1032:1, so 100:1 only
#: stops padding bombs.
MAX_RATIO = 100.0
#: Members smaller than this are not ratio-checked (a small run of blanks is harmless).
RATIO_MIN_BYTES = 1024 * 1024
#: Largest number of members.
MAX_MEMBERS = 10_000

_CHUNK = 64 * 1024
_DRIVE_RE = re.compile(r"^[A-Za-z]:")


def check_member_name(name: str) -> None:
    """Refuse a member name that could write or read outside the archive's folder.

    Raises
    ------
    UnsafeFileError
        For absolute paths, drive letters, ``..`` parts and NUL characters.

    Examples
    --------
    >>> check_member_name("files/photo.jpg")
    >>> check_member_name("../x.kml")
    Traceback (most recent call last):
    ...
    gridmap.errors.UnsafeFileError: zip member '../x.kml' has a '..' part...
    """
    parts = re.split(r"[\\/]", name)
    if name.startswith(("/", "\\")):
        problem = "is an absolute path"
    elif _DRIVE_RE.match(name):
        problem = "starts with a drive letter"
    elif ".." in parts:
        problem = "has a '..' part"
    elif "\0" in name:
        problem = "contains a NUL character"
    else:
        return
    raise UnsafeFileError(
        f"zip member {name!r} {problem}, which could reach outside the archive's folder;"
        f" the archive with this unsafe path {name!r} is refused: re-create it with relative member names"
    )


def _check_member(
    info: zipfile.ZipInfo, *, source: str, max_ratio: float, ratio_min_bytes: int, refuse_symlinks: bool
) -> None:
    check_member_name(info.filename)
    if info.flag_bits & 0x1:
        raise UnsafeFileError(
            f"{source}: zip member {info.filename!r} is encrypted; re-create the archive without a password"
        )
    # Unix zip tools keep the file mode in the high 16 bits of external_attr (APPNOTE.TXT 4.4.15).
    if refuse_symlinks and stat.S_ISLNK(info.external_attr >> 16):
        raise UnsafeFileError(
            f"{source}: zip member {info.filename!r} is a symbolic link, which could point outside the"
            " archive's folder; re-create the archive with the file itself"
        )
    if info.file_size >= ratio_min_bytes:
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > max_ratio:
            raise UnsafeFileError(
                f"{source}: zip member {info.filename!r} claims {info.file_size} bytes from {info.compress_size}"
                f" (ratio {ratio:.0f}:1, limit {max_ratio:.0f}:1); this looks like a zip bomb and is refused"
            )


def check_zip(
    path: str | PathLike[str],
    *,
    max_total_bytes: int = MAX_TOTAL_BYTES,
    max_ratio: float = MAX_RATIO,
    max_members: int = MAX_MEMBERS,
    ratio_min_bytes: int = RATIO_MIN_BYTES,
    refuse_symlinks: bool = False,
) -> list[zipfile.ZipInfo]:
    """Check a zip archive's index without decompressing anything.

    Parameters
    ----------
    path : str or path-like
        The archive (.kmz, .zip).
    max_total_bytes : int, optional
        Limit on the sum of declared uncompressed sizes.
    max_ratio : float, optional
        Limit on the compression ratio of members of at least
        `ratio_min_bytes` declared bytes.
    max_members : int, optional
        Limit on the number of members.
    ratio_min_bytes : int, optional
        Members declaring fewer bytes are not ratio-checked.
    refuse_symlinks : bool, optional
        Also refuse members stored as symbolic links (for callers that unpack
        to disk).

    Returns
    -------
    list of zipfile.ZipInfo
        The members, in archive order (directories included).

    Raises
    ------
    ReadError
        The file is not a zip archive or cannot be opened.
    UnsafeFileError
        Any of the limits is exceeded, a member name is unsafe, a member is
        encrypted, or a symbolic link when `refuse_symlinks` is true.

    Examples
    --------
    >>> import tempfile, zipfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.kmz"
    >>> with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as zf:
    ...     zf.writestr("doc.kml", "<kml/>")
    >>> [i.filename for i in check_zip(p)]
    ['doc.kml']
    >>> with zipfile.ZipFile(p, "w") as zf:
    ...     zf.writestr("../evil.kml", "<kml/>")
    >>> check_zip(p)
    Traceback (most recent call last):
    ...
    gridmap.errors.UnsafeFileError: zip member '../evil.kml' has a '..' part...
    """
    source = str(path)
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise ReadError(f"{source}: not a readable zip archive ({exc}); check the file is complete") from None
    except OSError as exc:
        raise ReadError(f"cannot read {source}: {exc.strerror or exc}") from None
    if len(infos) > max_members:
        raise UnsafeFileError(f"{source}: {len(infos)} zip members is over the limit of {max_members}")
    for info in infos:
        _check_member(
            info, source=source, max_ratio=max_ratio, ratio_min_bytes=ratio_min_bytes, refuse_symlinks=refuse_symlinks
        )
    total = sum(i.file_size for i in infos)
    if total > max_total_bytes:
        raise UnsafeFileError(
            f"{source}: zip members declare {total} uncompressed bytes, over the limit of {max_total_bytes}:"
            f" unpacked it would be more than the {max_total_bytes} allowed; unzip it yourself and read the files"
        )
    logger.debug("%s: zip index ok, %d members, %d bytes declared", source, len(infos), total)
    return infos


def read_member_capped(zf: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> bytes:
    """Decompress one zip member into memory, refusing it past `cap` bytes.

    The member is read in chunks and the read stops at ``cap + 1`` bytes
    whatever size the index declares; a member whose data disagrees with its
    index (wrong size or CRC) is refused.

    Parameters
    ----------
    zf : zipfile.ZipFile
        The open archive.
    info : zipfile.ZipInfo
        The member, from :func:`check_zip` or ``zf.infolist()``.
    cap : int
        Largest number of bytes accepted.

    Returns
    -------
    bytes

    Raises
    ------
    UnsafeFileError
        More than `cap` bytes, or data that does not match the index.

    Examples
    --------
    >>> import io, zipfile
    >>> buf = io.BytesIO()
    >>> with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
    ...     zf.writestr("doc.kml", b" " * 5000)
    >>> zf = zipfile.ZipFile(buf)
    >>> len(read_member_capped(zf, zf.getinfo("doc.kml"), 10_000))
    5000
    >>> read_member_capped(zf, zf.getinfo("doc.kml"), 1000)
    Traceback (most recent call last):
    ...
    gridmap.errors.UnsafeFileError: zip member 'doc.kml' declares 5000 bytes, over the limit of 1000...
    """
    sink = io.BytesIO()
    copy_member_capped(zf, info, sink, cap=cap)
    return sink.getvalue()


def copy_member_capped(zf: zipfile.ZipFile, info: zipfile.ZipInfo, sink: BinaryIO, *, cap: int) -> int:
    """Decompress one zip member into `sink`, refusing it past `cap` bytes.

    Like :func:`read_member_capped` but writes chunk by chunk to an open
    binary file instead of holding the member in memory. On refusal `sink`
    may hold a partial copy: the caller discards it.

    Parameters
    ----------
    zf : zipfile.ZipFile
        The open archive.
    info : zipfile.ZipInfo
        The member, from :func:`check_zip` or ``zf.infolist()``.
    sink : binary file
        Where the decompressed bytes go.
    cap : int
        Largest number of bytes accepted; pass ``info.file_size`` to refuse a
        member holding more than its index declares.

    Returns
    -------
    int
        The number of bytes written.

    Raises
    ------
    UnsafeFileError
        More than `cap` bytes, or data that does not match the index.

    Examples
    --------
    >>> import io, zipfile
    >>> buf = io.BytesIO()
    >>> with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
    ...     zf.writestr("a.dbf", b"x" * 3000)
    >>> zf = zipfile.ZipFile(buf)
    >>> info = zf.getinfo("a.dbf")
    >>> out = io.BytesIO()
    >>> copy_member_capped(zf, info, out, cap=info.file_size), out.getvalue() == b"x" * 3000
    (3000, True)
    """
    check_member_name(info.filename)
    if info.file_size > cap:
        raise UnsafeFileError(
            f"zip member {info.filename!r} declares {info.file_size} bytes, over the limit of {cap}; split the file"
        )
    got = 0
    try:
        with zf.open(info) as fh:
            while got <= cap:
                chunk = fh.read(min(_CHUNK, cap + 1 - got))
                if not chunk:
                    break
                got += len(chunk)
                if got > cap:
                    break
                sink.write(chunk)
    except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
        raise UnsafeFileError(
            f"zip member {info.filename!r} does not match the archive's index or cannot be decompressed ({exc});"
            " the archive is damaged or forged and is refused"
        ) from None
    if got > cap:
        raise UnsafeFileError(
            f"zip member {info.filename!r} holds more than {cap} bytes although its index declares"
            f" {info.file_size}; refused"
        )
    return got


def open_zip(path: str | PathLike[str]) -> zipfile.ZipFile:
    """Open an archive already checked with :func:`check_zip`, turning errors into ReadError."""
    try:
        return zipfile.ZipFile(Path(path))
    except (zipfile.BadZipFile, OSError) as exc:
        raise ReadError(f"{path}: not a readable zip archive ({exc})") from None
