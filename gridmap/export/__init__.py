"""Export: what leaves the workspace for other people.

:mod:`gridmap.export.spreadsheet` writes CSV and Excel files that open safely (no formula
injection, text kept as text); :mod:`gridmap.export.privacy` holds the rules for names, phone
numbers and photo metadata. Both are used by the pages and by the analysis' own writers.
"""
