"""Explanations: additivity, exactness against the libraries, and reasons in words."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from models_synthetic import features_frame, trained_result

from toolkit.models._persist import ModelBundle
from toolkit.models.action._explain import describe_values, explain, reasons
from toolkit.models.estimators._base import Batch, probability_contributions


def _bundle(champion: str | None = None) -> ModelBundle:
    res = trained_result()
    b = ModelBundle.from_result(res)
    if champion:
        b.champion = champion
    return b


MODELS = [
    "linear",
    "logistic",
    "tree",
    "xgboost",
    "bgnbd",
    "bgnbd_expected",
    "ensemble",
    "days_since_last_purchase",
    "repeat_purchases",
]


@pytest.mark.parametrize("name", MODELS)
def test_contributions_add_up_to_the_probability(name: str) -> None:
    res = trained_result()
    scorer = res.scorers[name]
    b = Batch(features_frame(200, 31), res.schema)
    phi, base = scorer.contributions(b)
    np.testing.assert_allclose(base + phi.sum(axis=1), scorer.raw(b), atol=1e-6)
    C, p0, p = probability_contributions(scorer, b)
    np.testing.assert_allclose(p0 + C.sum(axis=1), p, atol=1e-9)
    np.testing.assert_allclose(p, scorer.predict_proba(b), atol=1e-6)


def test_xgboost_contributions_equal_xgboosts_own() -> None:
    import xgboost as xgb

    res = trained_result()
    s = res.scorers["xgboost"]
    frame = features_frame(400, 32)
    frame.loc[::7, "gap_mean"] = np.nan
    b = Batch(frame, res.schema)
    phi, bias = s.contributions(b)
    ref = s.booster_.predict(
        xgb.DMatrix(b.X, missing=np.nan, feature_names=s.booster_.feature_names),
        pred_contribs=True,
    )
    np.testing.assert_allclose(phi, ref[:, :-1], atol=1e-5)
    np.testing.assert_allclose(bias, ref[:, -1], atol=1e-6)


def test_tree_contributions_equal_shaps_own() -> None:
    res = trained_result()
    s = res.scorers["tree"]
    b = Batch(features_frame(300, 33), res.schema)
    phi, _ = s.contributions(b)
    ref = s._explainer().shap_values(b.X.astype(np.float32).astype(np.float64))
    np.testing.assert_allclose(phi, np.asarray(ref), atol=1e-9)


def test_linear_contributions_are_coef_times_centred_input() -> None:
    res = trained_result()
    s = res.scorers["logistic"]
    b = Batch(features_frame(50, 34), res.schema)
    Z = s.prep_.transform(b)
    phi, base = s.contributions(b)
    j = res.schema.features.index("recency_days")
    cols = [i for i, g in enumerate(s.prep_.groups_) if g == j]
    np.testing.assert_allclose(phi[:, j], (Z[:, cols] * s.coef_[cols]).sum(axis=1))
    assert base[0] == pytest.approx(s.intercept_)


def test_churn_contributions_point_the_right_way() -> None:
    """Churn = 1 - P(buy again): a long silence raises churn risk, recent buying lowers it."""
    bundle = _bundle("logistic")
    frame = features_frame(400, 35)
    expl = explain(bundle, bundle.batch(frame))
    np.testing.assert_allclose(expl.base + expl.values.sum(axis=1), expl.churn, atol=1e-9)
    j = expl.features.index("recency_days")
    r = np.corrcoef(frame["recency_days"], expl.values[:, j])[0, 1]
    assert r > 0.5


def test_reasons_name_the_features_that_raise_risk() -> None:
    """A hand-made case: one long-silent customer, one who just bought."""
    bundle = _bundle("logistic")
    frame = features_frame(2, 36)
    frame.loc[0, ["recency_days", "recency", "frequency", "gap_mean", "orders_90d"]] = [
        350,
        20.0,
        1,
        20.0,
        0,
    ]
    frame.loc[1, ["recency_days", "recency", "frequency", "gap_mean", "orders_90d"]] = [
        2,
        300.0,
        12,
        25.0,
        3,
    ]
    frame["tenure_days"] = 371
    frame["T"] = 370.0
    expl = explain(bundle, bundle.batch(frame))
    slots = reasons(expl)
    first = [s[0] for s in slots]
    assert "350 days since last purchase (usual gap 20) raises risk by" in " | ".join(first)
    assert expl.churn[0] > expl.churn[1]
    for text in first:
        assert text == "" or " raises risk by 0." in text


@pytest.mark.parametrize(
    ("feature", "value", "ctx", "text"),
    [
        ("recency_days", 142.0, {"gap_mean": 30.0}, "142 days since last purchase (usual gap 30)"),
        (
            "recency_days",
            9.0,
            {"gap_mean": np.nan},
            "9 days since last purchase (only one purchase day)",
        ),
        ("frequency", 0.0, {}, "no repeat purchase yet"),
        ("frequency", 1.0, {}, "1 repeat purchase day"),
        ("orders_90d", 0.0, {}, "no orders in the last 90 days"),
        ("gap_mean", np.nan, {}, "no repeat purchase yet, so no usual gap"),
        ("loyalty_index", 0.25, {}, "bought in 25% of months since first purchase"),
        ("mystery", 1.23456, {}, "mystery = 1.235"),
    ],
)
def test_describe_values(feature: str, value: float, ctx: dict, text: str) -> None:
    got = describe_values(feature, np.array([value]), {k: np.array([v]) for k, v in ctx.items()})
    assert got.tolist() == [text]


def test_importance_and_customer_tables() -> None:
    bundle = _bundle("xgboost")
    expl = explain(bundle, bundle.batch(features_frame(200, 37)))
    imp = expl.importance()
    assert list(imp.columns) == ["feature", "mean_abs_contribution", "mean_contribution", "share"]
    assert imp["mean_abs_contribution"].is_monotonic_decreasing
    assert imp["share"].sum() == pytest.approx(1.0)
    one = expl.customer(0)
    assert one["contribution"].sum() == pytest.approx(expl.churn[0] - expl.base[0])
    assert isinstance(one, pd.DataFrame)


def test_bgnbd_blames_a_frequent_buyers_silence_not_their_purchases() -> None:
    """30 purchase days, then 200 days of silence: the silence raises the risk, the purchases
    do not (against a typical repeat customer at the customer's own rhythm)."""
    bundle = _bundle("bgnbd")
    frame = features_frame(3, 60)
    frame.loc[:, "frequency"] = [30, 30, 0]
    frame.loc[:, "T"] = [300.0, 300.0, 300.0]
    frame.loc[:, "recency"] = [100.0, 295.0, 0.0]  # silent 200 days; bought 5 days ago; once
    frame.loc[:, "recency_days"] = (frame["T"] - frame["recency"] + 1).astype(int)
    frame.loc[:, "gap_mean"] = [100 / 30, 295 / 30, np.nan]
    batch = bundle.batch(frame)
    expl = explain(bundle, batch)
    first = reasons(expl)[0]
    silence = expl.features.index("recency_days")
    purchases = expl.features.index("frequency")
    assert expl.values[0, silence] > 0.1 and first[0].startswith("201 days since last purchase")
    assert "raises risk" in first[0]
    assert expl.values[0, purchases] < expl.values[0, silence]
    assert expl.churn[1] < expl.churn[0]  # the same buyer, active, is at low risk
    np.testing.assert_allclose(expl.base + expl.values.sum(axis=1), expl.churn, atol=1e-9)
