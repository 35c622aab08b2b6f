"""Segment profiles: size, share, mean / median of every input column, ratio to the overall mean."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from toolkit.segments._columns import category_text

if TYPE_CHECKING:
    from toolkit.segments._prep import Preprocessor


def profile_table(
    df: pd.DataFrame,
    prep: Preprocessor,
    labels: np.ndarray,
    names: dict[int, str],
    actions: dict[int, str] | None = None,
    overdue: dict[int, tuple[float, float]] | None = None,
) -> pd.DataFrame:
    """One row per segment (noise last), in the input columns' own units.

    ``overdue`` (from :func:`toolkit.segments._history.segment_overdue`) adds
    ``overdue_median`` (the median member's time since the last purchase in units of their
    usual gap) and ``overdue_share`` (the share silent for over twice it): the numbers behind
    "gone quiet".

    Numeric columns give ``<col>_mean``, ``<col>_median`` and ``<col>_ratio`` (segment mean /
    overall mean; empty when the overall mean is 0); categories, clustered (one-hot) or only
    describing the segments, give ``<col>=<value>_share`` and ``<col>=<value>_ratio`` (share in the
    segment / share overall). Missing values are left out of the means, not imputed.

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
    if actions is not None:
        # the playbook's suggestion (heuristic rules; see toolkit.segments._playbook)
        out["action"] = [
            actions.get(s, "review by hand: customers unlike any segment") for s in segs
        ]
    if overdue is not None:
        out["overdue_median"] = [overdue.get(s, (np.nan, np.nan))[0] for s in segs]
        out["overdue_share"] = [overdue.get(s, (np.nan, np.nan))[1] for s in segs]
    cols: dict[str, list[float]] = {}
    for col in prep.numeric:
        values = pd.to_numeric(prep.values(df, col), errors="coerce").astype("float64")
        grouped = values.groupby(lab)
        mean, median = grouped.mean(), grouped.median()
        overall = float(values.mean())
        cols[f"{col}_mean"] = [float(mean.get(s, np.nan)) for s in segs]
        cols[f"{col}_median"] = [float(median.get(s, np.nan)) for s in segs]
        cols[f"{col}_ratio"] = [
            float(mean.get(s, np.nan)) / overall if overall else np.nan for s in segs
        ]
    described = [(c, prep.categories[c]) for c in prep.categorical]
    described += [(c, prep.describe_categories.get(c, [])) for c in prep.describe if c in df]
    for col, values_of in described:
        s_all = category_text(df[col])
        for value in values_of:
            hit = (s_all == value).fillna(False).astype("float64")
            share = hit.groupby(lab).mean()
            overall = float(hit.mean())
            cols[f"{col}={value}_share"] = [float(share.get(s, np.nan)) for s in segs]
            cols[f"{col}={value}_ratio"] = [
                float(share.get(s, np.nan)) / overall if overall else np.nan for s in segs
            ]
    return pd.concat([out, pd.DataFrame(cols)], axis=1)
