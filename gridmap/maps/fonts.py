"""Finding a real CJK font for static figures.

matplotlib's default font (DejaVu Sans) has no Chinese glyphs: labels come out
as empty boxes ("tofu") with a "Glyph missing" warning. This module looks
through the installed fonts (matplotlib's own list plus ``fc-list`` when
fontconfig is present) for a font known to cover Chinese, and checks with
fontTools that it really has the glyphs of a test string before using it.
"""

from __future__ import annotations

import functools
import logging
import re
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from gridmap.errors import GridmapError

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.font_manager import FontProperties

__all__ = ["CJK_SAMPLE", "find_cjk_font", "cjk_font_properties"]

logger = logging.getLogger(__name__)

#: Characters a font must have to be used: what our figures write most.
CJK_SAMPLE = "鼓楼网格覆盖率卫生死角"

# File-name hints of fonts that cover Chinese, most preferred first (sans before serif,
# Simplified Chinese before the others).
_NAME_HINTS: tuple[str, ...] = (
    "notosanscjksc", "notosanssc", "sourcehansanssc", "sourcehansanscn", "notosanscjk", "sourcehansans",
    "wqyzenhei", "wenquanyizenhei", "wqymicrohei", "wenquanyimicrohei", "droidsansfallback",
    "notoserifcjk", "notoserifsc", "sourcehanserif", "uming", "ukai", "msyh", "simhei", "simsun",
    "pingfang", "hiragino", "stheiti", "sarasa",
)
# Family names that mean Simplified Chinese inside a collection (.ttc) of several faces.
# Weights other than regular in a file name: used only when no regular file is there.
_OFF_WEIGHT = re.compile(r"(bold|black|heavy|light|thin|medium|semi)", re.IGNORECASE)
_SIMPLIFIED = re.compile(r"\b(SC|CN|GB|Hans)\b")
_INSTALL_HINT = (
    "no CJK font found: install one, e.g. Debian/Ubuntu `apt-get install fonts-noto-cjk`, "
    "Fedora `dnf install google-noto-sans-cjk-fonts`, Alpine `apk add font-noto-cjk`, "
    "conda `conda install -c conda-forge font-ttf-noto-cjk`; Windows and macOS ship one "
    "(Microsoft YaHei, PingFang)"
)


def _squash(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _fc_list_files() -> list[str]:
    """Files fontconfig says cover Chinese (empty without fontconfig)."""
    exe = shutil.which("fc-list")
    if exe is None:
        return []
    try:
        out = subprocess.run([exe, ":lang=zh", "file"], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError) as exc:  # pragma: no cover - depends on the system
        logger.debug("fc-list failed: %s", exc)
        return []
    return [line.split(":")[0].strip() for line in out.stdout.splitlines() if line.strip()]


def _candidate_files() -> list[Path]:
    """Installed font files that may cover Chinese, most preferred first."""
    from matplotlib import font_manager  # deferred: heavy, only drawing needs it

    fontconfig = _fc_list_files()
    files = {str(Path(f)) for f in font_manager.findSystemFonts()} | set(fontconfig)

    def rank(path: str) -> int:
        squashed = _squash(Path(path).name)
        for i, hint in enumerate(_NAME_HINTS):
            if hint in squashed:
                return i
        return len(_NAME_HINTS) if path in fontconfig else -1

    ranked = [(rank(f), bool(_OFF_WEIGHT.search(Path(f).name)), f) for f in files]
    return [Path(f) for r, _off, f in sorted(ranked) if r >= 0]


@functools.lru_cache(maxsize=64)
def _face_with_glyphs(path: str, mtime: float, text: str) -> int | None:
    """Index of the first face of font file `path` holding every character of `text`, or None."""
    from fontTools.ttLib import TTCollection, TTFont, TTLibError  # deferred: heavy

    try:
        holder = TTCollection(path, lazy=True) if path.lower().endswith((".ttc", ".otc")) else TTFont(path, lazy=True)
    except (OSError, TTLibError, ValueError, AssertionError) as exc:
        logger.debug("cannot read font %s: %s", path, exc)
        return None
    try:
        faces = list(holder.fonts) if isinstance(holder, TTCollection) else [holder]
        for index, face in enumerate(faces):
            cmap = face.getBestCmap() or {}
            if all(ord(ch) in cmap for ch in text):
                return index
        return None
    except (OSError, TTLibError, ValueError, AssertionError, KeyError) as exc:
        logger.debug("cannot read the character map of %s: %s", path, exc)
        return None
    finally:
        holder.close()


def _has_glyphs(path: Path, text: str = CJK_SAMPLE) -> bool:
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return False
    return _face_with_glyphs(str(path), mtime, text) is not None


def find_cjk_font() -> Path:
    """Return the file of an installed font with Chinese glyphs.

    Noto Sans CJK, Source Han Sans, WenQuanYi, Droid Sans Fallback, Noto Serif
    CJK, AR PL UMing/UKai and the system fonts of Windows and macOS are looked
    for, in that order, and the first one holding every character of
    :data:`CJK_SAMPLE` is returned.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    GridmapError
        When no installed font has the glyphs; the message says what to install.

    Examples
    --------
    >>> find_cjk_font().suffix.lower() in {".ttc", ".otc", ".otf", ".ttf"}
    True
    """
    for path in _candidate_files():
        if _has_glyphs(path):
            logger.debug("CJK font: %s", path)
            return path
    raise GridmapError(_INSTALL_HINT)


def cjk_font_properties(*, size: float | None = None, weight: str = "normal") -> "FontProperties":
    """matplotlib font properties of the font :func:`find_cjk_font` finds.

    In a collection (.ttc) of several faces the Simplified Chinese face is
    chosen when matplotlib lists it, so characters take their mainland forms.

    Parameters
    ----------
    size : float, optional
        Font size in points (matplotlib's default when omitted).
    weight : str
        ``"normal"`` or ``"bold"``; bold needs a bold face of the same family
        to be installed, otherwise matplotlib uses the regular one.

    Returns
    -------
    matplotlib.font_manager.FontProperties

    Raises
    ------
    GridmapError
        When no CJK font is installed.

    Examples
    --------
    >>> fp = cjk_font_properties(size=12)
    >>> fp.get_size()
    12.0
    """
    from matplotlib.font_manager import FontProperties, fontManager  # deferred: heavy, only drawing needs it

    path = find_cjk_font()
    families = [entry.name for entry in fontManager.ttflist if Path(entry.fname) == path]
    simplified = [name for name in families if _SIMPLIFIED.search(name) and "Mono" not in name]
    chosen = simplified or families
    family = chosen[0] if chosen else None
    if family is None:
        return FontProperties(fname=path, size=size, weight=weight)
    return FontProperties(family=family, size=size, weight=weight)
