"""A horizon longer than the labels reach: the champion is the model that ranked churn best where
it could be judged, and its probability is carried to the asked horizon
(toolkit.models.training._from_log, toolkit.models.estimators._calibrate.HorizonCalibrator)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.models_synthetic import features_frame
from toolkit.models.estimators._base import Batch
from toolkit.models.estimators._calibrate import (
    HorizonCalibrator,
    IsotonicCalibrator,
    PlattCalibrator,
    calibrator_from_dict,
)
from toolkit.models.estimators._data import FeatureSchema
from toolkit.models.estimators._reference import BGNBDExpected, BGNBDScorer
from toolkit.models.training._evaluate import compare


@pytest.mark.parametrize(
    "base",
    [PlattCalibrator(a=0.7, b=-0.2), IsotonicCalibrator(x=[-1.0, 0.0, 2.0], y=[0.1, 0.4, 0.9])],
    ids=["platt", "isotonic"],
)
def test_horizon_calibrator_carries_the_probability_and_keeps_the_order(base):
    c = HorizonCalibrator(base=base, power=3.0)
    s = np.linspace(-3, 3, 50)
    p = base.predict(s)
    np.testing.assert_allclose(c.predict(s), 1 - (1 - p) ** 3, rtol=1e-9)
    assert np.all(np.diff(c.predict(s)) > 0)
    again = calibrator_from_dict(c.to_dict())
    np.testing.assert_allclose(again.predict(s), c.predict(s))


def test_bgnbd_expected_orders_by_expected_purchases():
    df = features_frame(600, seed=5)
    schema = FeatureSchema.infer(df, exclude=("repeat_purchase",))
    b = Batch(df, schema)
    y = df["repeat_purchase"].to_numpy()
    exp = BGNBDExpected(schema, horizon=90.0).fit(b, y, b, y)
    p_any = BGNBDScorer(schema, horizon=90.0).fit(b, y, b, y)
    x, t, T = (b.column(c) for c in ("frequency", "recency", "T"))
    want = exp.model().expected_purchases(90.0, x, t, T)
    # the same fit; raw is a strictly increasing function of the expected purchases
    assert exp.params_ == p_any.params_
    order = np.argsort(want, kind="mergesort")
    assert np.all(np.diff(exp.raw(b)[order]) >= -1e-12)


def _metrics(aucs: dict[str, float]) -> dict[str, dict[str, dict[str, float]]]:
    return {k: {"roc_auc": {"value": v, "ci_low": v, "ci_high": v}} for k, v in aucs.items()}


@pytest.mark.parametrize(
    ("aucs", "champion"),
    [
        ({"xgboost": 0.74, "bgnbd": 0.72, "days_since_last_purchase": 0.70}, "xgboost"),
        # a naive rule ahead of every model is the champion: the list is never knowingly below it
        ({"xgboost": 0.69, "bgnbd": 0.68, "days_since_last_purchase": 0.70},
         "days_since_last_purchase"),
    ],
    ids=["model-wins", "naive-wins"],
)  # fmt: skip
def test_the_champion_is_never_below_a_naive_rule(aucs, champion):
    samples = {k: np.full(20, v) for k, v in aucs.items()}
    out = compare(_metrics(aucs), samples, ["xgboost", "bgnbd"], ["days_since_last_purchase"])
    assert out["champion"] == champion
    assert out["ranking"][0] == champion
    assert ("naive_champion" in out) == (champion == "days_since_last_purchase")


@pytest.mark.parametrize(
    ("champion", "says"),
    [
        ("bgnbd_expected", "a BG/NBD score, refitted at the asked horizon"),
        ("xgboost", "its probability of buying carried from there to the asked horizon"),
    ],
)
def test_the_verdict_says_how_the_long_horizon_champion_scores(champion, says):
    from toolkit.reports.comparison import _verdict

    long = {"asked_days": 273, "label_days": 106, "champion_at_labels": champion}
    report = {"champion": champion, "comparison": {}, "settings": {"long_horizon": long}}
    (line,) = _verdict(report)
    assert "it ranked churn best at 106 days" in line and says in line


def test_the_verdict_says_when_a_naive_rule_is_the_champion():
    from toolkit.reports.comparison import _verdict

    metrics = _metrics({"xgboost": 0.69, "days_since_last_purchase": 0.70})
    samples = {k: np.full(20, v["roc_auc"]["value"]) for k, v in metrics.items()}
    comp = compare(metrics, samples, ["xgboost"], ["days_since_last_purchase"])
    lines = _verdict({"champion": comp["champion"], "comparison": comp, "settings": {}})
    assert lines[1].startswith("Note: the naive rule days_since_last_purchase ranks churn better")
