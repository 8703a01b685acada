"""Pages: the composed outputs a person opens (leaders' report, scoreboard page, spot-check sheet, briefing).

Each page reads data frames from the analysis (:mod:`gridmap.analysis.coverage`, :mod:`gridmap.analysis.density`,
:mod:`gridmap.analysis.supervision`, ...) and draws with :mod:`gridmap.maps`; they share one way to become a
file: :mod:`gridmap.pages.common` (offline inlining, the privacy checks, the internal-use banner).
The analysis and the maps never import a page.
"""
