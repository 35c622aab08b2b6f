"""Plain JSON values for the files toolkit writes (model and segmenter directories)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np


def jsonable(obj: Any) -> Any:
    """numpy to Python, NaN/inf to None, tuples to lists, paths and dates to text, str Enums to str.

    Examples
    --------
    >>> jsonable({"a": np.float64("nan"), "b": (np.int64(1), 2.5)})
    {'a': None, 'b': [1, 2.5]}
    """
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "value") and isinstance(obj.value, str):  # str Enums
        return obj.value
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    return obj
