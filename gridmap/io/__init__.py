"""Readers, one per format, and the quarantine they share.

``gridmap.io.read(path, ...)`` picks the reader by the file's extension.
"""
