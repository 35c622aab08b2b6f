"""The churn list: who to call first, what they are worth, and why the model thinks they will go."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from toolkit.models._explain import explain, reasons
from toolkit.models._value import expected_value

if TYPE_CHECKING:
    import pandas as pd

    from toolkit.models._persist import ModelBundle

COLUMNS = (
    "customer_id",
    "churn_probability",
    "risk_rank",
    "risk_decile",
    "segment",
    "value_at_risk",
    "reason_1",
    "reason_2",
    "reason_3",
)


def churn_list(
    bundle: ModelBundle,
    features: pd.DataFrame,
    *,
    top: int | None = None,
    with_reasons: bool = True,
) -> pd.DataFrame:
    """Rank customers by churn probability, with value at risk and three reasons each.

    Parameters
    ----------
    bundle : ModelBundle
        A loaded model directory.
    features : DataFrame
        One row per customer with the features the model was trained on (and ``customer_id``).
    top : int, optional
        Keep only the ``top`` highest-risk customers.
    with_reasons : bool
        Explain each customer (``reason_1`` .. ``reason_3``).

    Returns
    -------
    DataFrame
        customer_id, churn_probability, risk_rank (1 = highest risk), risk_decile (1 = the 10 %
        highest risk), segment (when the model directory holds a segmenter), value_at_risk
        (churn probability x expected value over the horizon), reason_1..reason_3; sorted by
        risk_rank.

    Examples
    --------
    >>> # see tests/test_models_churnlist.py
    """
    import pandas as pd

    batch = bundle.batch(features)
    df = batch.df
    n = len(df)
    if with_reasons:
        expl = explain(bundle, batch)
        churn = expl.churn
        slots = reasons(
            expl,
            time_unit=bundle.settings.get("time_unit") or "days",
            categorical=list(bundle.schema.categorical),
        )
    else:
        churn = bundle.churn_probability(batch)
        slots = [np.full(n, "", dtype=object) for _ in range(3)]
    churn = np.clip(churn, 0.0, 1.0)
    order = np.argsort(-churn, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(1, n + 1)
    decile = np.minimum(10, (rank - 1) * 10 // max(n, 1) + 1).astype(np.int64)
    ids = (
        df["customer_id"].astype("string")
        if "customer_id" in df.columns
        else pd.Series(np.arange(n).astype(str), dtype="string")
    )
    out = pd.DataFrame(
        {
            "customer_id": ids.to_numpy(),
            "churn_probability": churn,
            "risk_rank": rank,
            "risk_decile": decile,
        }
    )
    if bundle.segmenter is not None:
        out["segment"] = bundle.segmenter.predict_names(df)
    out["value_at_risk"] = churn * expected_value(bundle.value_model, df)
    for i, texts in enumerate(slots[:3], start=1):
        out[f"reason_{i}"] = pd.array(texts, dtype="string")
    out = out.iloc[order].reset_index(drop=True)
    if top is not None:
        out = out.head(int(top))
    out["customer_id"] = out["customer_id"].astype("string")
    return out
