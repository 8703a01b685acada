"""The area of a square clipped by half-planes, by shapely: the independent answer to the coverage's exact cell step
(tests/test_coverage_fast.py, tests/test_coverage_quick_paths.py)."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import box


def clipped_square_area(half: float, lines: np.ndarray) -> float:
    """Area of the square of half-side `half` (centre 0) clipped by every half-plane n·u <= s (shapely)."""
    part = box(-half, -half, half, half)
    for nx, ny, s in lines:
        if nx == 0 and ny == 0:
            continue
        foot, along, big = np.array([nx, ny]) * s, np.array([-ny, nx]) * 100 * half, np.array([nx, ny]) * 100 * half
        part = part.intersection(shapely.Polygon([foot + along, foot - along, foot - along - big, foot + along - big]))
    return float(part.area)
