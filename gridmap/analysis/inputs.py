"""What the analysis reads from: frames by layer name, or anything that reads a layer by name.

The analysis never knows which store it reads. It takes either a mapping of
layers (``{"grids": ..., "reports": ...}``, e.g. :func:`gridmap.sample.sample_layers`)
or any object with a ``read_layer(name)`` method (:class:`LayerReader`, a structural
type: every :class:`gridmap.storage.WorkspaceStore` is one, without this room importing
the storage). Opening a workspace from its path is a job one floor up
(:mod:`gridmap.jobs`), which reads the layers and hands the frames in.

Examples
--------
>>> class Store:
...     meta = {"illustrative": "true"}
...     def read_layer(self, name):
...         return f"<{name}>"
>>> isinstance(Store(), LayerReader), isinstance({"grids": 1}, LayerReader)
(True, False)
>>> read_frames(Store(), ["grids", "reports"], what="the example")
({'grids': '<grids>', 'reports': '<reports>'}, {'illustrative': 'true'})
>>> read_frames({"grids": "g"}, ["grids", "reports"], what="the example")
({'grids': 'g', 'reports': None}, {})
>>> read_frames("w.gpkg", ["grids"], what="the example")
Traceback (most recent call last):
gridmap.errors.SchemaError: the example takes a dict of layers or an open workspace, not a path ('w.gpkg'); ...
"""

from __future__ import annotations

from os import PathLike
from typing import Any, Mapping, Protocol, Sequence, Union, cast, runtime_checkable

import pandas as pd

from gridmap.errors import SchemaError

__all__ = ["LayerReader", "LayerSource", "is_reader", "read_frames"]


@runtime_checkable
class LayerReader(Protocol):
    """Anything that reads a layer of the model by name (a workspace store, a test double).

    ``read_layer(name)`` returns the layer's frame (a GeoDataFrame for spatial
    layers). A reader may also offer ``meta``, a mapping of facts such as
    ``illustrative``; the analysis reads it when present.
    """

    def read_layer(self, name: str) -> pd.DataFrame:
        """Every row of layer `name`."""


#: What an analysis function takes: frames by layer name, or a :class:`LayerReader`.
LayerSource = Union[Mapping[str, Any], LayerReader]


def is_reader(source: Any) -> bool:
    """Whether `source` reads layers by name (a frame never does, even with a column called ``read_layer``).

    Examples
    --------
    >>> import pandas as pd
    >>> is_reader(pd.DataFrame({"read_layer": [1]})), isinstance(pd.DataFrame({"read_layer": [1]}), LayerReader)
    (False, True)
    """
    return isinstance(source, LayerReader) and not isinstance(source, pd.DataFrame)


def read_frames(source: LayerSource, names: Sequence[str], *,
                what: str = "this function") -> tuple[dict[str, Any], dict[str, str]]:
    """The layers `names` of `source` (missing ones None), and its metadata (empty for a mapping).

    Parameters
    ----------
    source : mapping or LayerReader
        Frames by layer name (used as they are, not copied), or an object with
        ``read_layer(name)`` (and optionally ``meta``).
    names : sequence of str
        The layers wanted.
    what : str
        Who asks, for the error message.

    Returns
    -------
    layers : dict
        By name, in the order of `names`.
    meta : dict
        The reader's ``meta`` (copied), or empty.

    Raises
    ------
    SchemaError
        When `source` is neither; a path gets a message naming the function
        that opens it (:mod:`gridmap.jobs`).
    """
    if isinstance(source, Mapping):
        return {name: source.get(name) for name in names}, {}
    if is_reader(source):
        reader = cast(LayerReader, source)
        meta = getattr(reader, "meta", None)
        return {name: reader.read_layer(name) for name in names}, dict(meta) if isinstance(meta, Mapping) else {}
    if isinstance(source, (str, PathLike)):
        raise SchemaError(f"{what} takes a dict of layers or an open workspace, not a path ({str(source)!r}); "
                          "open it with gridmap.open_workspace, or call the gridmap.* function of the same name, "
                          "which opens a path (gridmap.jobs)")
    raise SchemaError(f"{what} takes a dict of layers or an open workspace, not {type(source).__name__}")
