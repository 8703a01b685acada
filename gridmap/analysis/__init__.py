"""Analysis: data frames in, data frames out.

The sweep's coverage and dead corners (:mod:`~gridmap.analysis.coverage`), kernel
density (:mod:`~gridmap.analysis.density`), Getis-Ord Gi* hot spots and their trends
(:mod:`~gridmap.analysis.hotspot`), recurrences (:mod:`~gridmap.analysis.recurrence`),
the supervision scoreboard (:mod:`~gridmap.analysis.supervision`), each report's grid, street
and area (:mod:`~gridmap.analysis.attribution`), spot checks (:mod:`~gridmap.analysis.spotcheck`),
grid validation (:mod:`~gridmap.analysis.validate`) and the selection of reports by period and
place (:mod:`~gridmap.analysis.selection`).

Nothing here knows pages, the command line or which store the data came from: a
caller reads the layers (:func:`gridmap.storage.read_layers`) and hands the frames in,
or hands in anything that reads a layer by name (:mod:`~gridmap.analysis.inputs`);
the jobs (:mod:`gridmap.jobs`) do so for a workspace or its path.
"""
