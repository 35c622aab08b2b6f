"""What the customers' histories can tell a segment's name: who has gone quiet, and whether
there is history enough to tell loyalty at all.

**Gone quiet.** A customer's *overdue ratio* is the time since their last purchase over their
usual gap between purchases (the feature ``overdue_ratio = recency_days / gap_mean``). A customer
without a repeat purchase has no gap of their own: their time since the last purchase is read
against the population's typical gap (the median ``gap_mean`` of the customers with one). A
segment **has gone quiet** when its median overdue ratio exceeds :data:`LAPSED_RATIO` (2): more
than half its members have been silent for longer than twice their usual gap. Such a segment is
not named for loyalty or value ("loyal", "big spenders" ...) but as lapsed ("lapsed big
spenders"), and its action is a win-back, not VIP treatment. A BTYD summary (``frequency``,
``recency``, ``T``: the lifetimes convention) gives the same ratio: time since the last purchase
``T - recency`` over the usual gap ``recency / frequency``. Without such columns (a customer
table of incomes and scores) there is no rhythm to compare with and the rule does not apply.

**Short history.** Loyalty shows only over time: with less than :data:`MIN_HISTORY_DAYS` days of
history before the cutoff (the longest ``tenure_days``), or fewer than
:data:`MIN_REPEAT_CUSTOMERS` customers who bought on a second day, nobody can tell a loyal
customer from a one-off buyer. The segments then get neutral names that say what their members
did ("segment 0: high spend, 1 order") and an onboarding action, and the segmentation says why
in one line. The rule needs ``tenure_days`` (days, as the toolkit's features give it); other
tables keep their names.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from toolkit._history import HISTORY_PER_HORIZON, MIN_REPEAT_CUSTOMERS
from toolkit.segments._io import norm_name

LAPSED_RATIO = 2.0
#: the history `toolkit run` needs to value customers over its default 90-day horizon
MIN_HISTORY_DAYS = HISTORY_PER_HORIZON * 90


def _column(df: pd.DataFrame, *names: str) -> pd.Series | None:
    by_norm = {norm_name(c): c for c in df.columns}
    for name in names:
        if name in by_norm:
            return pd.to_numeric(df[by_norm[name]], errors="coerce").astype("float64")
    return None


def overdue_ratios(df: pd.DataFrame) -> pd.Series | None:
    """Each customer's time since the last purchase in units of their usual gap (None when the
    columns to tell are missing); customers without a gap of their own are read against the
    population's median gap (NaN when nobody has one).

    Examples
    --------
    >>> df = pd.DataFrame({"recency_days": [30.0, 10.0, 40.0], "gap_mean": [10.0, 20.0, None]})
    >>> overdue_ratios(df).tolist()  # the third: 40 days / the median gap, 15
    [3.0, 0.5, 2.6666666666666665]
    """
    since = _column(df, "recencydays", "dayssincelastpurchase", "dayssincelastorder")
    gap = _column(df, "gapmean")
    if since is None or gap is None:
        lifetimes = (_column(df, "recency"), _column(df, "t"), _column(df, "frequency"))
        if any(c is None for c in lifetimes):
            return None
        recency, age, repeats = lifetimes
        since = age - recency  # type: ignore[operator]
        gap = (recency / repeats).where((repeats > 0) & (recency > 0))  # type: ignore[operator]
    gap = gap.where(gap > 0)
    typical = float(gap.median()) if gap.notna().any() else np.nan
    return since / gap.fillna(typical)


def segment_overdue(
    ratios: pd.Series, labels: np.ndarray, segments: list[int]
) -> dict[int, tuple[float, float]]:
    """``{segment: (median overdue ratio, share of members above LAPSED_RATIO)}`` over the
    members whose ratio is known (segments with none are left out).

    Examples
    --------
    >>> r = pd.Series([3.0, 2.5, 0.5, 1.0, 0.2])
    >>> segment_overdue(r, np.array([0, 0, 0, 1, 1]), [0, 1])
    {0: (2.5, 0.6666666666666666), 1: (0.6, 0.0)}
    """
    values = ratios.to_numpy(dtype=np.float64, na_value=np.nan)
    out = {}
    for seg in segments:
        part = values[(labels == seg) & np.isfinite(values)]
        if len(part):
            out[int(seg)] = (float(np.median(part)), float((part > LAPSED_RATIO).mean()))
    return out


def short_history(df: pd.DataFrame) -> str | None:
    """Why these customers' history is too short to tell loyalty (None when it is not, or when
    the table has no ``tenure_days`` to tell).

    Examples
    --------
    >>> df = pd.DataFrame({"tenure_days": [3, 2, 1], "frequency": [1, 0, 0]})
    >>> short_history(df).split(":")[0]
    '3 days of history and 1 customer who bought again'
    >>> short_history(pd.DataFrame({"tenure_days": [400] * 30, "frequency": [2] * 30})) is None
    True
    """
    tenure = _column(df, "tenuredays")
    if tenure is None or tenure.notna().sum() == 0:
        return None
    days = int(np.nanmax(tenure.to_numpy(dtype=np.float64, na_value=np.nan)))
    repeats = _column(df, "frequency")
    if repeats is None:
        gap = _column(df, "gapmean")
        repeat = int(gap.notna().sum()) if gap is not None else None
    else:
        repeat = int((repeats > 0).sum())
    short_days = days < MIN_HISTORY_DAYS
    few = repeat is not None and repeat < MIN_REPEAT_CUSTOMERS
    if not (short_days or few):
        return None
    what = [f"{days:,} day{'s' if days != 1 else ''} of history"] if short_days else []
    if few:
        what.append(
            f"{'only ' if not short_days else ''}{repeat:,} customer"
            f"{' who' if repeat == 1 else 's who'} bought again"
        )
    return (
        f"{' and '.join(what)}: too little to tell loyal customers from one-off buyers (that "
        f"needs {MIN_HISTORY_DAYS} days and {MIN_REPEAT_CUSTOMERS} repeat customers); segments "
        "are named by what their customers did, not by loyalty or value"
    )
