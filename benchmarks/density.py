"""Benchmark: heat maps and hot spots, each side by side with its peer in one run on the same data.

- ``kde`` at 1M points on a 512×512 grid against KDEpy's ``FFTKDE``, both checked
  against a direct sum at a few hundred sampled cells (targets: at most 1.2×
  KDEpy's time; max relative error ≤ 0.5 % where the density exceeds 1 % of its
  peak); at 10k points against scipy's ``gaussian_kde`` on the same grid
  (target: ≥ 100× faster). See ``benchmarks/_kde_bench.py``.
- ``hotspots`` at 100k cells with 200k reports against the pipeline people write
  (geopandas ``sjoin`` for the counts, libpysal ``Queen``, esda ``G_Local``)
  (target ≥ 5× faster, z equal within 1e-6); ``emerging_hotspots`` at 10k cells ×
  52 weeks (target ≤ 2 s). See ``benchmarks/_hotspot_bench.py``.

Needs the ``bench`` extra (KDEpy, esda, libpysal): ``pip install -e ".[bench]"``.

Run: ``python benchmarks/density.py``
"""

from __future__ import annotations

import sys
from pathlib import Path


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import _hotspot_bench
    import _kde_bench

    def say(line: str) -> None:
        print(line, flush=True)

    say("== kde")
    _kde_bench.run(say)
    say("== hot spots")
    _hotspot_bench.run(say)


if __name__ == "__main__":
    main()
