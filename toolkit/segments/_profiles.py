"""Segment profiles: size, share, mean / median of every input column, ratio to the overall mean."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from toolkit.segments._prep import Preprocessor


def profile_table(
    df: pd.DataFrame, prep: Preprocessor, labels: np.ndarray, names: dict[int, str]
) -> pd.DataFrame:
    """One row per segment (noise last), in the input columns' own units.

    Numeric columns give ``<col>_mean``, ``<col>_median`` and ``<col>_ratio`` (segment mean /
    overall mean; empty when the overall mean is 0); one-hot columns give ``<col>=<value>_share``
    and ``<col>=<value>_ratio``. Missing values are left out of the means, not imputed.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from toolkit.segments._prep import fit_preprocessor
    >>> df = pd.DataFrame({"x": [1.0, 3.0, 10.0, 18.0]})
    >>> prep = fit_preprocessor(df, None)
    >>> t = profile_table(df, prep, np.array([0, 0, 1, 1]), {0: "low x", 1: "high x"})
    >>> t[["size", "x_mean", "x_median", "x_ratio"]].values.tolist()
    [[2.0, 2.0, 2.0, 0.25], [2.0, 14.0, 14.0, 1.75]]
    """
    segs = sorted(s for s in names if s >= 0) + ([-1] if -1 in names else [])
    lab = pd.Series(labels, index=df.index)
    n = len(df)
    out = pd.DataFrame(
        {
            "segment": segs,
            "segment_name": [names[s] for s in segs],
            "size": [int((labels == s).sum()) for s in segs],
        }
    )
    out["share"] = out["size"] / n if n else 0.0
    cols: dict[str, list[float]] = {}
    for col in prep.numeric:
        values = pd.to_numeric(df[col], errors="coerce").astype("float64")
        grouped = values.groupby(lab)
        mean, median = grouped.mean(), grouped.median()
        overall = float(values.mean())
        cols[f"{col}_mean"] = [float(mean.get(s, np.nan)) for s in segs]
        cols[f"{col}_median"] = [float(median.get(s, np.nan)) for s in segs]
        cols[f"{col}_ratio"] = [
            float(mean.get(s, np.nan)) / overall if overall else np.nan for s in segs
        ]
    for col in prep.categorical:
        s_all = df[col].astype("string")
        for value in prep.categories[col]:
            hit = (s_all == value).fillna(False).astype("float64")
            share = hit.groupby(lab).mean()
            overall = float(hit.mean())
            cols[f"{col}={value}_share"] = [float(share.get(s, np.nan)) for s in segs]
            cols[f"{col}={value}_ratio"] = [
                float(share.get(s, np.nan)) / overall if overall else np.nan for s in segs
            ]
    return pd.concat([out, pd.DataFrame(cols)], axis=1)
