"""Numbers a person reads: the rounding of every table the toolkit writes for people.

CSV, XLSX and JSON outputs meant for people (the churn list, explanations, profiles) show
probabilities to 4 decimals, money to 2, counts as whole numbers, ratios to 2 and dates as
YYYY-MM-DD. Parquet keeps full precision: it is for machines.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import os

    import pandas as pd

DECIMALS = {"probability": 4, "money": 2, "ratio": 2, "contribution": 4}
KINDS = (*DECIMALS, "count", "date")


def for_people(path: str | os.PathLike[str]) -> bool:
    """Whether a file is read by people (every format but Parquet)."""
    return Path(path).suffix.lower() not in (".parquet", ".pq")


def round_for_people(df: pd.DataFrame, kinds: Mapping[str, str]) -> pd.DataFrame:
    """A copy of ``df`` with the columns named in ``kinds`` rounded for reading.

    ``kinds`` maps a column to "probability" (4 decimals), "money" (2), "ratio" (2),
    "contribution" (4), "count" (a whole number; missing stays missing) or "date"
    (YYYY-MM-DD text). Datetime columns not named are shown as dates when every value is
    midnight. Columns that are absent are ignored.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"p": [0.9999998999999999], "v": [2.274348811419584e-07], "n": [3.0]})
    >>> r = round_for_people(df, {"p": "probability", "v": "money", "n": "count"})
    >>> r.to_csv(index=False).splitlines()
    ['p,v,n', '1.0,0.0,3']
    """
    import pandas as pd

    out = df.copy()
    for col, kind in kinds.items():
        if col not in out.columns:
            continue
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r} for {col!r}")
        s = out[col]
        if kind == "date":
            out[col] = _dates(s)
        elif kind == "count":
            values = pd.to_numeric(s, errors="coerce")
            out[col] = values.round(0).astype("Int64")
        elif pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            values = s.astype("float64")
            # -0.0 reads as a sign error to a person
            out[col] = values.round(DECIMALS[kind]) + 0.0
    for col in out.columns:
        if col not in kinds and pd.api.types.is_datetime64_any_dtype(out[col]):
            values = out[col]
            if bool((values.dropna() == values.dropna().dt.normalize()).all()):
                out[col] = _dates(values)
    out.attrs = dict(df.attrs)
    return out


def _dates(s: pd.Series) -> pd.Series:
    import pandas as pd

    values = pd.to_datetime(s, errors="coerce")
    text = values.dt.strftime("%Y-%m-%d")
    return text.where(values.notna(), pd.NA).astype("string")
