"""The churn list: who to call first, what they are worth, and why the model thinks they will go.

One row per customer, in **priority order**: by ``value_at_risk`` (the money expected to be lost
if nothing is done) when customers can be valued, else by churn probability.

- ``churn_probability``: the champion model's probability that the customer does not buy in the
  horizon (or, for a customer table, that the target takes its positive value).
- ``risk_rank`` / ``risk_decile``: rank and decile by churn probability (1 = highest risk);
  ``priority_rank``: the row's place in the list's order.
- ``risk_band``: low (< 0.33), medium (0.33 to 0.66), high (>= 0.66).
- ``expected_value``: what the customer is expected to spend over the horizon *if retained*
  (:mod:`toolkit.btyd._value`); ``value_at_risk = churn_probability x expected_value``.
- context from the customer's history at the cutoff: ``last_purchase``, ``recency_days``,
  ``n_orders``, ``lifetime_spend``, ``avg_days_between_orders`` (mean gap between purchase days)
  and ``expected_next_order``: the cutoff plus the median wait to the next purchase of a customer
  still active (BG/NBD; without it the customer's own rhythm, last purchase + average gap), empty
  when the churn probability is 0.5 or more (a purchase in the horizon is less likely than not).
- ``reason_1..3``: the features that raise the risk most; where fewer than three raise it, the
  ones that lower it most. Every row has ``reason_1``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from toolkit.btyd._value import median_days_to_next_order
from toolkit.errors import InputError
from toolkit.models.action._explain import explain, reasons
from toolkit.models.estimators._spend import value_if_retained

if TYPE_CHECKING:
    import pandas as pd

    from toolkit.models._persist import ModelBundle

#: always in the list (segment only with a segmenter)
CORE = (
    "customer_id",
    "priority_rank",
    "churn_probability",
    "risk_rank",
    "risk_decile",
    "segment",
    "value_at_risk",
)
#: beside the score, unless ``context=False``; ``columns`` picks among them
CONTEXT = (
    "risk_band",
    "expected_value",
    "last_purchase",
    "recency_days",
    "n_orders",
    "lifetime_spend",
    "avg_days_between_orders",
    "expected_next_order",
)
REASONS = ("reason_1", "reason_2", "reason_3")
#: every column, in the order the list shows them
COLUMNS = (
    "customer_id",
    "priority_rank",
    "churn_probability",
    "risk_band",
    "risk_rank",
    "risk_decile",
    "segment",
    "expected_value",
    "value_at_risk",
    "last_purchase",
    "recency_days",
    "n_orders",
    "lifetime_spend",
    "avg_days_between_orders",
    "expected_next_order",
    *REASONS,
)
SORTS = ("auto", "value_at_risk", "churn_probability")
#: risk bands: low < 0.33 <= medium < 0.66 <= high
BANDS = ((0.33, "low"), (0.66, "medium"), (np.inf, "high"))
#: no expected next order at or above this churn probability
GONE = 0.5

#: how each column is shown to people (CSV, XLSX, JSON): see toolkit.io.round_for_people
DISPLAY = {
    "priority_rank": "count",
    "risk_rank": "count",
    "risk_decile": "count",
    "churn_probability": "probability",
    "expected_value": "money",
    "value_at_risk": "money",
    "recency_days": "count",
    "n_orders": "count",
    "lifetime_spend": "money",
    "avg_days_between_orders": "ratio",
}


def risk_band(p: np.ndarray) -> np.ndarray:
    """ "low" / "medium" / "high" for each churn probability.

    Examples
    --------
    >>> risk_band(np.array([0.1, 0.33, 0.65, 0.66, 0.99])).tolist()
    ['low', 'medium', 'medium', 'high', 'high']
    """
    edges = np.array([b for b, _ in BANDS[:-1]])
    names = np.array([n for _, n in BANDS], dtype=object)
    return names[np.searchsorted(edges, np.asarray(p, dtype=np.float64), side="right")]


def formula(bundle: ModelBundle) -> dict[str, str]:
    """What each money column means for this model (printed, and stored with the list)."""
    vm = bundle.value_model
    return {
        "churn_probability": bundle.settings.churn_probability,
        "expected_value": str(vm.get("note") or "not available"),
        "value_at_risk": "churn_probability x expected_value",
        "risk_band": "low < 0.33 <= medium < 0.66 <= high (churn probability)",
        "expected_next_order": (
            "cutoff + median wait to the next purchase if still active (BG/NBD), or last "
            f"purchase + average gap; empty when churn_probability >= {GONE}"
        ),
    }


def list_order(
    churn: np.ndarray, at_risk: np.ndarray, sort: str = "auto"
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """The list's ranks: ``(risk_rank, risk_decile, order, order_by)``.

    ``risk_rank`` / ``risk_decile`` count by churn probability (1 = highest risk, equal-count
    deciles); ``order`` puts the rows in the list's order: by value at risk when any customer
    is valued (``sort="auto"``), customers without a value after them, ties by risk.

    Examples
    --------
    >>> rank, decile, order, by = list_order(np.array([0.9, 0.2, 0.5]), np.array([1.0, 50, 5]))
    >>> rank.tolist(), order.tolist(), by
    ([1, 3, 2], [1, 2, 0], 'value_at_risk')
    """
    n = len(churn)
    by_risk = np.argsort(-churn, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[by_risk] = np.arange(1, n + 1)
    decile = np.minimum(10, (rank - 1) * 10 // max(n, 1) + 1).astype(np.int64)
    valued = bool(np.isfinite(at_risk).any())
    order_by = ("value_at_risk" if valued else "churn_probability") if sort == "auto" else sort
    if order_by == "value_at_risk":
        # the money first; customers without a value after them, by risk; ties by risk
        key = np.where(np.isfinite(at_risk), at_risk, -np.inf)
        order = np.lexsort((-churn, -key))
    else:
        order = by_risk
    return rank, decile, order, order_by


def _choose_columns(available: list[str], *, context: bool, columns: list[str] | None) -> list[str]:
    if columns is not None:
        unknown = [c for c in columns if c not in COLUMNS]
        if unknown:
            raise InputError(
                f"`columns`: unknown column{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(map(repr, unknown))}; the churn list has {', '.join(COLUMNS)}"
            )
        missing = [c for c in columns if c not in available]
        if missing:
            raise InputError(
                f"`columns`: {', '.join(map(repr, missing))} cannot be computed for this data "
                f"(available: {', '.join(available)})"
            )
        wanted = set(columns) | (set(CORE) & set(available))
        return [c for c in COLUMNS if c in wanted and c in available]
    keep = set(CORE) | set(REASONS) | (set(CONTEXT) if context else set())
    return [c for c in COLUMNS if c in keep and c in available]


def churn_list(
    bundle: ModelBundle,
    features: pd.DataFrame,
    *,
    top: int | None = None,
    with_reasons: bool = True,
    sort: str = "auto",
    context: bool = True,
    columns: list[str] | None = None,
) -> pd.DataFrame:
    """The churn list: every customer's churn probability, value at risk, context and reasons.

    Parameters
    ----------
    bundle : ModelBundle
        A loaded model directory.
    features : DataFrame
        One row per customer with the features the model was trained on (and ``customer_id``).
    top : int, optional
        Keep only the first ``top`` rows of the list's order.
    with_reasons : bool
        Explain each customer (``reason_1`` .. ``reason_3``).
    sort : {"auto", "value_at_risk", "churn_probability"}
        The list's order; "auto" is by value at risk when customers can be valued, else by churn
        probability.
    context : bool
        Add the context columns (risk band, expected value, last purchase, ...).
    columns : list of str, optional
        The context columns to add (the core columns are always there).

    Returns
    -------
    DataFrame
        In priority order; ``df.attrs["toolkit"]`` holds the formulas and the order.

    Examples
    --------
    >>> # see tests/test_models_churnlist.py
    """
    import pandas as pd

    if sort not in SORTS:
        raise InputError(f"`sort` must be one of {list(SORTS)}, got {sort!r}")
    batch = bundle.batch(features)
    df = batch.df
    n = len(df)
    if with_reasons:
        expl = explain(bundle, batch)
        churn = expl.churn
        slots = reasons(
            expl,
            time_unit=bundle.settings.time_unit or "days",
            categorical=list(bundle.schema.categorical),
        )
    else:
        churn = bundle.churn_probability(batch)
        slots = [np.full(n, "", dtype=object) for _ in REASONS]
    churn = np.clip(churn, 0.0, 1.0)
    ids = (
        df["customer_id"].astype("string")
        if "customer_id" in df.columns
        else pd.Series(np.arange(n).astype(str), dtype="string")
    )
    value = value_if_retained(bundle.value_model, batch)
    at_risk = churn * value
    rank, decile, order, order_by = list_order(churn, at_risk, sort)
    cols: dict[str, Any] = {
        "customer_id": ids.to_numpy(),
        "churn_probability": churn,
        "risk_band": pd.Categorical(risk_band(churn), categories=[b for _, b in BANDS]),
        "risk_rank": rank,
        "risk_decile": decile,
    }
    if bundle.segmenter is not None:
        cols["segment"] = bundle.segmenter.predict_names(df)
    cols["expected_value"] = value
    cols["value_at_risk"] = at_risk
    cols.update(_history(bundle, df, churn))
    for name, texts in zip(REASONS, slots[:3], strict=True):
        cols[name] = pd.array(texts, dtype="string")
    out = pd.DataFrame(cols)

    out = out.iloc[order].reset_index(drop=True)
    out.insert(1, "priority_rank", np.arange(1, n + 1, dtype=np.int64))
    if top is not None:
        out = out.head(int(top))
    out = out[_choose_columns(list(out.columns), context=context, columns=columns)]
    out["customer_id"] = out["customer_id"].astype("string")
    out.attrs["toolkit"] = {
        "order": order_by,
        "formulas": formula(bundle),
        "champion": bundle.champion,
    }
    return out


def _history(bundle: ModelBundle, df: pd.DataFrame, churn: np.ndarray) -> dict[str, Any]:
    """Context columns from the customer's history at the cutoff (those the frame allows)."""
    import pandas as pd

    out: dict[str, Any] = {}
    last = None
    if "last_purchase" in df.columns:
        last = pd.to_datetime(df["last_purchase"]).dt.normalize()
        out["last_purchase"] = last.to_numpy()
    for col in ("recency_days", "n_orders"):
        if col in df.columns:
            out[col] = df[col].to_numpy(dtype=np.float64, na_value=np.nan)
    if "lifetime_spend" in df.columns:
        out["lifetime_spend"] = df["lifetime_spend"].to_numpy(dtype=np.float64, na_value=np.nan)
    gap = None
    if "gap_mean" in df.columns:
        gap = df["gap_mean"].to_numpy(dtype=np.float64, na_value=np.nan)
        out["avg_days_between_orders"] = gap
    if last is not None and "recency_days" in df.columns:
        cutoff = last + pd.to_timedelta(df["recency_days"].astype("float64"), unit="D")
        wait = median_days_to_next_order(bundle.value_model, df)
        if wait is not None:
            nxt = cutoff + pd.to_timedelta(np.round(wait), unit="D")
        elif gap is not None:
            nxt = last + pd.to_timedelta(np.round(gap), unit="D")
            nxt = nxt.where(nxt >= cutoff, cutoff)
        else:
            nxt = pd.Series(pd.NaT, index=df.index)
        nxt = nxt.where((churn < GONE) & nxt.notna())
        out["expected_next_order"] = nxt.to_numpy()
    return out
