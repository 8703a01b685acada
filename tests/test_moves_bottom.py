"""The model and the sample split into subpackages (issue 13): every public name keeps its old import path.

``gridmap.model`` became ``gridmap/model/`` (layers, quarantine, categories, aliases) and
``gridmap.sample`` became ``gridmap/sample/`` (common, boundaries, writer, reports, tracks);
``raw_json`` moved from the io room into the bottom (``gridmap.model.quarantine``) so the store
need not import io. The lists below are written out by hand (the ``__all__`` of the modules
before the split), not read from the code.
"""

from __future__ import annotations

import importlib
import json
import math
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from shapely.geometry import Point

from gridmap.model.quarantine import raw_json

ROOT = Path(__file__).resolve().parents[1]

MODEL_NAMES = (
    "DEFAULT_TZ DISTRICT_CODE SCHEMA_VERSION LAYERS_ADDED_IN COLUMNS_ADDED_IN EXTRA_COLUMN STORAGE_CRS Column "
    "LayerSpec LAYERS CATEGORIES TARGET_KINDS REPORT_STATUSES STATUS_TRANSITIONS SPOTCHECK_RESULTS spotcheck_result "
    "QUARANTINE_REASONS QUARANTINE_COLUMNS ImportSummary COLUMN_ALIASES LAYER_COLUMN_ALIASES COMMUNITY_NAME_HEADERS "
    "DBF_NAME_LENGTH GENERIC_ID_HEADERS GENERIC_TIME_HEADERS dbf_truncated alias_target alias_table "
    "alias_table_markdown Category CATEGORY_ALIASES STANDARD_CATEGORY_SOURCE normalize_label category_lookup "
    "unknown_category_hint category_key builtin_category_keys category_label register_category code_level "
    "is_child_code layer_spec"
).split()
SAMPLE_NAMES = (
    "BOUNDARY_LAYERS ILLUSTRATIVE_NOTE METRIC_CRS sample_boundaries sample_reports sample_tracks sample_spotchecks "
    "sample_layers write_boundaries"
).split()


@pytest.mark.parametrize(("module", "names"), [("gridmap.model", MODEL_NAMES), ("gridmap.sample", SAMPLE_NAMES)])
def test_every_public_name_still_imports_from_its_old_path(module: str, names: list[str]) -> None:
    mod = importlib.import_module(module)
    assert sorted(mod.__all__) == sorted(names)
    for name in names:
        owner = importlib.import_module(getattr(mod, name).__module__) if callable(getattr(mod, name)) else mod
        assert getattr(owner, name) is getattr(mod, name), name  # one object, not a copy


def test_the_category_registry_is_one_dict_at_both_paths() -> None:
    from gridmap.model import CATEGORIES
    from gridmap.model.categories import CATEGORIES as inner

    assert CATEGORIES is inner  # register_category fills the dict every caller reads


def test_importing_the_model_loads_neither_pandas_nor_geopandas() -> None:
    code = "import sys, gridmap.model; print(sorted(m for m in ('pandas', 'geopandas') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.text(max_size=8),
                    st.floats(allow_infinity=False))


@given(st.dictionaries(st.text(max_size=6), scalars, max_size=6))
@example({"a": float("nan"), "名称": "北门社区"})
def test_raw_json_keeps_plain_values_and_writes_nan_as_null(values: dict) -> None:
    expected = {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in values.items()}
    assert json.loads(raw_json(values)) == expected


def test_raw_json_of_values_a_reader_returns() -> None:
    values = {
        "where": Point(109.5, 38.25),
        "n": np.int64(7),
        "x": np.float64("nan"),
        "blob": b"\x01\xff",
        "when": pd.Timestamp("2025-03-01 08:30", tz="Asia/Shanghai"),
        "missing": pd.NA,
        "not_a_number": Decimal("NaN"),
        "odd": Decimal("1.5"),
    }
    assert json.loads(raw_json(values)) == {
        "where": "POINT (109.5 38.25)",
        "n": 7,
        "x": None,
        "blob": "01ff",
        "when": "2025-03-01T08:30:00+08:00",
        "missing": None,
        "not_a_number": None,
        "odd": "1.5",
    }
