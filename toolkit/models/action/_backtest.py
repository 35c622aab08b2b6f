"""Back-testing a churn list's order: how much of the money really lost its first rows hold.

A list is worth acting on when the customers at its top are the ones whose loss costs most. With
data after the cutoff, the test is direct: among the first ``n`` rows, add up the past spend of
the customers who did not come back in the horizon. ``bench/churnlist.py`` and the real-data
tests compare the list's order with the two naive ones (by churn probability, by past spend).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

from toolkit.features import compute_features, data_range, parse_cutoff

if TYPE_CHECKING:
    import pandas as pd

    from toolkit.io import Transactions


def spend_before(tx: Transactions, cutoff: str | date, days: int = 365) -> pd.Series:
    """Each customer's spend in the ``days`` before ``cutoff`` (index: customer_id).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from toolkit.io import read_transactions
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = p.write_text("customer_id,date,amount\\na,2023-01-01,10\\na,2024-01-05,20\\n")
    >>> spend_before(read_transactions(p), "2024-02-01").to_dict()
    {'a': 20.0}
    """

    cut = parse_cutoff(cutoff)
    assert cut is not None
    start = cut - timedelta(days=days)
    now = compute_features(tx, cutoff=cut).set_index("customer_id")["lifetime_spend"]
    if start <= data_range(tx)[0]:
        return now.astype("float64")  # the whole history lies in the window
    then = compute_features(tx, cutoff=start).set_index("customer_id")["lifetime_spend"]
    return now.sub(then.reindex(now.index).fillna(0.0)).astype("float64")


def lost_in_first(key: pd.Series, churned: pd.Series, value: pd.Series, n: int = 200) -> float:
    """``value`` summed over the customers among the ``n`` highest ``key`` who churned.

    The three series share an index; ties in ``key`` keep their order.

    Examples
    --------
    >>> import pandas as pd
    >>> key = pd.Series([0.9, 0.8, 0.1]); churned = pd.Series([1, 0, 1])
    >>> lost_in_first(key, churned, pd.Series([5.0, 7.0, 9.0]), n=2)
    5.0
    """
    top = key.sort_values(ascending=False, kind="stable").index[:n]
    return float(value.loc[top][churned.loc[top].astype(bool)].sum())
