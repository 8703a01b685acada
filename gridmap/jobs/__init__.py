"""Jobs: the wiring one floor above the analysis, for callers that hold a workspace (or its path).

A job takes the layers from wherever they are (an open store, a workspace's path
opened and closed here, or a dict of layers: :mod:`gridmap.jobs.source`), hands
them to the analysis, and gives back a result that can also write its files and
pages. The analysis (:mod:`gridmap.analysis`) never knows the
store, the pages or the maps; the jobs may use every room below the CLI.

* :mod:`gridmap.jobs.supervision`: the scoreboard and the weekly figures of a
  workspace (:func:`gridmap.scoreboard`, :func:`gridmap.weekly_figures`);
* :mod:`gridmap.jobs.spotcheck`: the spot-check sample of a workspace, with its
  page (:func:`gridmap.spot_check`, :class:`gridmap.SpotCheck`);
* :mod:`gridmap.jobs.source`: what a job reads from, and a path opened for the analysis;
* :mod:`gridmap.jobs.scheduler`: which Dask scheduler computes an archive's analysis
  (:func:`gridmap.dask_scheduler`: this machine's threads or processes, or a cluster).

The CLI and the package's public names call the jobs; the pages never do.
"""
