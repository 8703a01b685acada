"""Benchmark: heat maps and hot spots, each side by side with its peer in one run on the same data.

- ``kde`` at 1M points on a 512×512 grid next to KDEpy's ``FFTKDE`` with the same
  kernel (quartic = KDEpy's biweight, and Gaussian), at bandwidths of 1-60 cells,
  and on 10k points next to scipy's ``gaussian_kde`` (Gaussian); every side starts
  from the same WGS84 GeoDataFrame (the peers' times include pyproj) and is timed
  best of 3; each line gives both times and their ratio, the max relative error of
  each against a direct sum at 300 sampled cells above 1 % of the peak, and each
  side's peak memory. Targets: gridmap's error ≤ 0.5 % at every bandwidth; at
  most 1.2× KDEpy's time for bandwidths of 10-60 cells; ≥ 100× faster than
  scipy. See ``benchmarks/_kde_bench.py``.
- ``hotspots`` at 100k cells with 200k reports against the pipeline people write
  (geopandas ``sjoin`` for the counts, libpysal ``Queen``, esda ``G_Local``)
  (target ≥ 5× faster, z equal within 1e-6); ``emerging_hotspots`` at 10k cells ×
  52 weeks (target ≤ 2 s). See ``benchmarks/_hotspot_bench.py``.

Needs the ``bench`` extra (KDEpy, esda, libpysal): ``pip install -e ".[bench]"``.

Run: ``python benchmarks/density.py`` (``--only kde`` or ``--only hotspots`` for one part)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("kde", "hotspots"), help="run one part only")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))

    def say(line: str) -> None:
        print(line, flush=True)

    if args.only in (None, "kde"):
        import _kde_bench

        say("== kde")
        _kde_bench.run(say)
    if args.only in (None, "hotspots"):
        import _hotspot_bench

        say("== hot spots")
        _hotspot_bench.run(say)


if __name__ == "__main__":
    main()
