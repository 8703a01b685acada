"""``python -m gridmap`` runs the same command line as ``gridmap``."""

from gridmap.cli import main

if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
