"""Coverage classes shared by the web map and the static figure, and an HTML legend box.

The five classes (0-50, 50-70, 70-85, 85-95 and 95-100 %) read from "clearly
not swept" to "swept, no dead corners to speak of". Their colours are the
five-class *PiYG* scheme of ColorBrewer (Cynthia Brewer, colorbrewer2.org),
a diverging magenta-red to green scheme that ColorBrewer lists as safe for
colour-blind readers, unlike the red-yellow-green scheme.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from gridmap.maps.escape import html_text

__all__ = [
    "COVERAGE_BREAKS",
    "COVERAGE_COLOURS",
    "NO_DATA_COLOUR",
    "coverage_class",
    "coverage_colour",
    "coverage_class_labels",
    "legend_html",
]

#: Class limits of the coverage ratio; a class holds ``lower <= ratio < upper`` (the last one includes 1).
COVERAGE_BREAKS: tuple[float, ...] = (0.0, 0.5, 0.7, 0.85, 0.95, 1.0)
#: ColorBrewer PiYG, 5 classes, from low coverage to high.
COVERAGE_COLOURS: tuple[str, ...] = ("#d01c8b", "#f1b6da", "#f7f7f7", "#b8e186", "#4dac26")
#: Colour of a grid without a coverage ratio (no area).
NO_DATA_COLOUR = "#bdbdbd"


def coverage_class(ratio: float) -> int:
    """Index of the coverage class of `ratio`, or -1 when it is missing.

    Examples
    --------
    >>> [coverage_class(r) for r in (0.0, 0.49, 0.5, 0.9, 0.95, 1.0, float("nan"))]
    [0, 0, 1, 3, 4, 4, -1]
    """
    if ratio is None or not math.isfinite(float(ratio)):
        return -1
    inner = np.asarray(COVERAGE_BREAKS[1:-1])
    return int(np.searchsorted(inner, float(ratio), side="right"))


def coverage_colour(ratio: float) -> str:
    """Fill colour of the class of `ratio`.

    Examples
    --------
    >>> coverage_colour(0.2), coverage_colour(0.99)
    ('#d01c8b', '#4dac26')
    """
    index = coverage_class(ratio)
    return NO_DATA_COLOUR if index < 0 else COVERAGE_COLOURS[index]


def coverage_class_labels() -> list[str]:
    """Labels of the classes in percent, low to high.

    Examples
    --------
    >>> coverage_class_labels()
    ['0–50 %', '50–70 %', '70–85 %', '85–95 %', '95–100 %']
    """
    pct = [round(b * 100) for b in COVERAGE_BREAKS]
    return [f"{lo}–{hi} %" for lo, hi in zip(pct[:-1], pct[1:])]


def legend_html(title: str, entries: Sequence[tuple[str, str]], *, position: str = "bottom:24px;right:10px") -> str:
    """A fixed legend box for a Leaflet page: a title and one swatch per (colour, label).

    Labels and title are escaped (they may hold user text).

    Examples
    --------
    >>> "网格覆盖率" in legend_html("网格覆盖率", [("#d01c8b", "0–50 %")])
    True
    """
    rows = "".join(
        f'<div><span style="display:inline-block;width:14px;height:14px;margin-right:6px;'
        f'vertical-align:middle;border:1px solid #555;background:{html_text(colour)}"></span>'
        f"{html_text(label)}</div>"
        for colour, label in entries
    )
    return (
        f'<div class="gridmap-legend" style="position:fixed;{position};z-index:9999;background:#fff;'
        f'padding:6px 10px;border:1px solid #999;border-radius:4px;font:13px sans-serif;line-height:20px">'
        f"<b>{html_text(title)}</b>{rows}</div>"
    )
