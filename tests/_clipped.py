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


def random_cut_cells(rng: np.random.Generator, cells: int, lines: int, half: float, low: float) -> np.ndarray:
    """A (cells, 5 + lines, 3) table of half-planes n·u <= s cutting square cells of half-side `half`: the four
    sides, a grid's edge crossing every third cell (slot 4), then `lines` random cuts (about 80 % used, offsets
    from `low` to 1.6 half-sides); an unused slot is 0·u <= 1, no constraint."""
    table = np.zeros((cells, 5 + lines, 3))
    table[:, :, 2] = 1.0
    table[:, :4] = [[1, 0, half], [-1, 0, half], [0, 1, half], [0, -1, half]]
    angle = rng.uniform(0, 2 * np.pi, (cells, lines))
    used = rng.random((cells, lines)) < 0.8
    table[:, 5:, 0] = np.where(used, np.cos(angle), 0.0)
    table[:, 5:, 1] = np.where(used, np.sin(angle), 0.0)
    table[:, 5:, 2] = np.where(used, rng.uniform(low * half, 1.6 * half, (cells, lines)), 1.0)
    table[::3, 4] = [0.6, 0.8, 0.1 * half]
    return table
