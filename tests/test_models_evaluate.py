"""Metrics, bootstrap intervals, thresholds and the champion comparison."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from toolkit.models.training._evaluate import (
    bootstrap_counts,
    choose_threshold,
    compare,
    curves,
    evaluate_models,
    point_metrics,
    top_decile_lift,
    weighted_metrics,
)


def _data(kind: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    if kind == "ties":  # few distinct scores: ties everywhere
        y = rng.integers(0, 2, 300)
        p = np.round(np.clip(0.5 + 0.2 * (y - 0.5) + rng.normal(0, 0.2, 300), 0.01, 0.99), 1)
        return y, p
    if kind == "imbalanced":
        y = (rng.random(500) < 0.1).astype(int)
        p = np.clip(0.1 + 0.3 * y + rng.normal(0, 0.15, 500), 0.001, 0.999)
        return y, p
    y = rng.integers(0, 2, 400)
    p = np.clip(0.5 + 0.25 * (y - 0.5) + rng.normal(0, 0.2, 400), 0.001, 0.999)
    return y, p


KINDS = ["plain", "ties", "imbalanced"]


@pytest.mark.parametrize("kind", KINDS)
def test_point_metrics_equal_sklearn(kind: str) -> None:
    y, p = _data(kind)
    thr = 0.4
    pred = (p >= thr).astype(int)
    m = point_metrics(y, p, thr, linear_raw=p)
    assert m["roc_auc"] == skm.roc_auc_score(y, p)
    assert m["pr_auc"] == skm.average_precision_score(y, p)
    assert m["accuracy"] == skm.accuracy_score(y, pred)
    assert m["precision"] == skm.precision_score(y, pred, zero_division=0)
    assert m["recall"] == skm.recall_score(y, pred)
    assert m["f1"] == skm.f1_score(y, pred)
    assert m["brier"] == skm.brier_score_loss(y, p)
    assert m["log_loss"] == skm.log_loss(y, p)
    assert m["r2"] == skm.r2_score(y, p)


@pytest.mark.parametrize("kind", KINDS)
def test_vectorised_metrics_with_unit_weights_equal_sklearn(kind: str) -> None:
    y, p = _data(kind)
    W = np.ones((2, len(y)))
    got = weighted_metrics(W, y, p, 0.4, linear_raw=p)
    want = point_metrics(y, p, 0.4, linear_raw=p)
    for name, value in want.items():
        assert got[name] == pytest.approx([value, value], rel=1e-10, abs=1e-12), name


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 1), st.integers(0, 5), st.integers(1, 3)), min_size=4, max_size=40
    )
)
def test_weighted_auc_and_ap_equal_replicated_rows(rows: list[tuple[int, int, int]]) -> None:
    """Integer weights mean repeated rows: the weighted metrics equal sklearn on the repeats."""
    y = np.array([r[0] for r in rows])
    p = np.array([r[1] / 5 for r in rows])
    w = np.array([r[2] for r in rows], dtype=float)
    if len(set(y)) < 2:
        return
    got = weighted_metrics(w[None, :], y, p, 0.5)
    yy, pp = np.repeat(y, w.astype(int)), np.repeat(p, w.astype(int))
    assert got["roc_auc"][0] == pytest.approx(skm.roc_auc_score(yy, pp))
    assert got["pr_auc"][0] == pytest.approx(skm.average_precision_score(yy, pp))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bootstrap_intervals_contain_the_point_estimate(seed: int) -> None:
    y, p = _data("plain")
    m, samples = evaluate_models(
        y, {"a": p, "b": 1 - p}, {"a": 0.5, "b": 0.5}, n_boot=100, seed=seed
    )
    for model in m.values():
        for name, v in model.items():
            assert v["ci_low"] <= v["value"] <= v["ci_high"], name
    assert samples["a"].shape == (100,)


def test_bootstrap_is_seeded_and_shared() -> None:
    a = np.vstack(list(bootstrap_counts(50, 30, seed=7)))
    b = np.vstack(list(bootstrap_counts(50, 30, seed=7)))
    assert a.shape == (30, 50)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a.sum(axis=1), 50)


def test_top_decile_lift_by_hand() -> None:
    # 20 rows, top 2 by score are 1 and 0; base rate 4/20
    y = np.array([1, 0] + [1, 1, 1] + [0] * 15)
    p = np.linspace(1, 0, 20)
    assert top_decile_lift(y, p) == pytest.approx((1 / 2) / (4 / 20))


def test_youden_threshold_by_hand() -> None:
    y = np.array([0, 0, 0, 1, 1, 1, 1])
    p = np.array([0.1, 0.2, 0.6, 0.5, 0.7, 0.8, 0.9])
    # at 0.7: TPR 3/4, FPR 0 -> J = 0.75; at 0.5: TPR 1, FPR 1/3 -> J = 0.67
    assert choose_threshold(y, p) == 0.7


def test_compare_names_champion_and_significance() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000)
    good = np.clip(0.5 + 0.4 * (y - 0.5) + rng.normal(0, 0.15, 2000), 0, 1)
    close = np.clip(good + rng.normal(0, 0.01, 2000), 0, 1)
    weak = rng.random(2000)
    probs = {"good": good, "close": close, "weak": weak}
    m, s = evaluate_models(y, probs, dict.fromkeys(probs, 0.5), n_boot=100)
    out = compare(m, s, ["good", "close"], ["weak"])
    assert out["champion"] in ("good", "close")
    assert out["lead_over_runner_up"]["over"] in ("good", "close")
    assert out["lead_over_best_naive"]["significant"] is True
    lead = out["lead_over_runner_up"]
    assert lead["ci_low"] <= lead["roc_auc_difference"] <= lead["ci_high"]


def test_curves_hold_what_the_report_draws() -> None:
    y, p = _data("plain")
    c = curves(y, p, 0.5)
    assert set(c) == {"roc", "pr", "calibration", "gain", "confusion", "threshold"}
    assert sum(c["confusion"].values()) == len(y)
    assert c["gain"]["gain"][-1] == pytest.approx(1.0)
    assert len(c["roc"]["fpr"]) <= 201
