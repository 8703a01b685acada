"""Readers, one per format, and the quarantine they share.

``gridmap.io.read(path, ...)`` picks the reader by the file's extension;
:func:`read_excel` reads one sheet of an Excel workbook (``.xlsx``, ``.xls``).
"""

from gridmap.io.excel import read_excel

__all__ = ["read_excel"]
