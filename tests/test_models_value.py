"""The value forecast: net spend, its measures, the spend model and the out-of-time choice
(toolkit.models.training._value, toolkit.models.estimators._spend)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.models_synthetic import features_frame
from toolkit.btyd._value import forecast_spend, naive_forecast, naive_window
from toolkit.models.estimators._base import Batch
from toolkit.models.estimators._data import FeatureSchema
from toolkit.models.estimators._spend import SpendModel, value_if_retained
from toolkit.models.training._value import (
    choose_value_model,
    forecast_metrics,
    normalised_gini,
)

# --- the measures, by hand -------------------------------------------------------------------


def test_normalised_gini_by_hand():
    # forecast order (highest first): customer 1 (0), customer 2 (30), customer 0 (10).
    # Lorenz points (1/3, 0), (2/3, 0.75), (1, 1): area 0 + 0.125 + 0.2917 = 0.4167, Gini -1/6.
    # The real order 30, 10, 0: points (1/3, .75), (2/3, 1), (1, 1): area 0.75, Gini 0.5.
    actual = np.array([10.0, 0.0, 30.0])
    assert normalised_gini(actual, np.array([1.0, 3.0, 2.0])) == pytest.approx(-1 / 3)
    assert normalised_gini(actual, actual) == pytest.approx(1.0)
    assert normalised_gini(actual, np.array([2.0, 1.0, 3.0])) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("forecast", "expected"),
    [
        # everyone tied: one step of the Lorenz curve, the diagonal: 0, whatever the row order
        ([5.0, 5.0, 5.0, 5.0], 0.0),
        # the two spenders tied on top, the zeros below: Lorenz points (1/2, 1), (1, 1), area
        # 0.75, Gini 0.5; the real order 60, 40, (0, 0): area 0.775, Gini 0.55
        ([1.0, 1.0, 0.0, 0.0], 0.5 / 0.55),
    ],
    ids=["all-tied", "tied-in-groups"],
)
def test_ties_in_a_forecast_are_averaged(forecast, expected):
    actual = np.array([40.0, 60.0, 0.0, 0.0])
    assert normalised_gini(actual, np.array(forecast)) == pytest.approx(expected)
    # the same tie groups in another row order give the same value
    assert normalised_gini(actual[::-1], np.array(forecast)[::-1]) == pytest.approx(expected)


def test_forecast_metrics_totals_deciles_and_intervals():
    rng = np.random.default_rng(1)
    real = rng.gamma(0.6, 80.0, 400)
    m = forecast_metrics(real, {"half": real / 2, "noise": rng.random(400)}, n_boot=60, seed=0)
    half = m["half"]
    assert half["total_ratio"]["value"] == pytest.approx(0.5)
    assert half["total_ratio"]["ci_low"] == pytest.approx(0.5)  # a ratio of sums, every resample
    assert half["normalised_gini"]["value"] == pytest.approx(1.0)
    assert half["spearman"]["value"] == pytest.approx(1.0)
    assert [d["decile"] for d in half["deciles"]] == list(range(1, 11))
    assert sum(d["customers"] for d in half["deciles"]) == 400
    assert half["deciles"][0]["mean_real"] > half["deciles"][-1]["mean_real"]
    g = m["noise"]["normalised_gini"]
    assert g["ci_low"] <= g["value"] <= g["ci_high"]
    assert abs(g["value"]) < 0.2


@pytest.mark.parametrize(
    ("horizon", "window", "value"),
    [(91, 90, 91.0), (182, 180, 182.0), (30, 30, 30.0), (45, 30, 45.0)],
)
def test_naive_rule_carries_the_nearest_window_forward(horizon, window, value):
    frame = pd.DataFrame({"spend_30d": [30.0], "spend_90d": [90.0], "spend_180d": [180.0]})
    assert naive_window(horizon) == window
    assert naive_forecast(frame, horizon).tolist() == [value]
    assert forecast_spend({"kind": "naive", "horizon_days": horizon}, frame).tolist() == [value]


# --- the spend model ----------------------------------------------------------------------------


def _spend_frames(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stacked frames at two origins where the spend of a buyer follows his recent spend."""
    frames = []
    for k, origin in enumerate(("2023-10-01", "2023-11-01")):
        f = features_frame(1200, seed=seed + k, origin=origin)
        f["spend_90d"] = f["lifetime_spend"] * np.random.default_rng(k).uniform(0.2, 0.6, len(f))
        f["holdout_spend"] = f["repeat_purchase"] * f["spend_90d"] * 1.1
        frames.append(f)
    return frames[0], pd.concat(frames, ignore_index=True)


def test_spend_model_learns_the_spend_of_buyers_and_round_trips_as_json():
    _, stacked = _spend_frames()
    schema = FeatureSchema.infer(stacked, exclude=("repeat_purchase",))
    b = Batch(stacked, schema)
    buy = stacked["repeat_purchase"].to_numpy() == 1
    rows = np.flatnonzero(buy)
    half = len(rows) // 2
    y = stacked["holdout_spend"].to_numpy()
    m = SpendModel(schema).fit(b.take(rows[:half]), y[rows[:half]], b.take(rows[half:]),
                               y[rows[half:]])  # fmt: skip
    pred = m.predict(b.take(rows[half:]))
    assert np.corrcoef(pred, y[rows[half:]])[0, 1] > 0.9
    state = json.loads(json.dumps(m.to_dict()))  # plain JSON: no pickle anywhere
    again = SpendModel.from_dict(schema, state)
    np.testing.assert_allclose(again.predict(b), m.predict(b), rtol=1e-6)
    assert m.chosen_["max_depth"] in (2, 3, 4) and m.chosen_["rounds"] >= 1


def test_value_if_retained_is_zero_for_customers_who_kept_nothing():
    frame = pd.DataFrame(
        {"lifetime_spend": [0.0, 100.0, -5.0], "tenure_days": [10, 10, 10], "x": [1.0, 2.0, 3.0]}
    )
    schema = FeatureSchema.infer(frame)
    got = value_if_retained({"kind": "spend_rate", "horizon_days": 10}, Batch(frame, schema))
    assert got.tolist() == [0.0, 100.0, 0.0]


# --- the choice -----------------------------------------------------------------------------------


def test_choice_is_the_best_gini_out_of_time_and_is_what_the_list_uses():
    older, final = _spend_frames(0)
    evaluate = features_frame(900, seed=7, origin="2023-12-01")
    evaluate["spend_90d"] = evaluate["lifetime_spend"] * 0.4
    evaluate["holdout_spend"] = evaluate["repeat_purchase"] * evaluate["spend_90d"] * 1.1
    at_cutoff = features_frame(700, seed=8).drop(columns=["repeat_purchase", "holdout_spend"])
    at_cutoff["spend_90d"] = at_cutoff["lifetime_spend"] * 0.4
    schema = FeatureSchema.infer(older, exclude=("repeat_purchase",))
    p_eval = evaluate["repeat_purchase"].to_numpy() * 0.8 + 0.1
    choice = choose_value_model(
        older=older,
        evaluate=evaluate,
        final=final,
        at_cutoff=at_cutoff,
        schema=schema,
        p_buy_evaluate=p_eval,
        p_buy_cutoff=np.full(len(at_cutoff), 0.5),
        horizon=91,
        n_boot=40,
    )
    cands = choice.comparison["candidates"]
    ginis = {k: c["normalised_gini"]["value"] for k, c in cands.items()}
    assert set(ginis) <= {"supervised", "bgnbd_gg", "naive", "combined"} and "naive" in ginis
    # the combination is the mean of the others, at the evaluation and at the cutoff
    members = [k for k in ("supervised", "bgnbd_gg", "naive") if k in ginis]
    assert ("combined" in ginis) == (len(members) >= 2)
    got = choice.at_cutoff
    np.testing.assert_allclose(got["combined"], got[members].mean(axis=1))
    assert choice.comparison["champion"] == max(ginis, key=ginis.__getitem__)
    # the forecasts at the cutoff: one row per customer of the cutoff, a column per candidate
    assert list(choice.at_cutoff["customer_id"]) == list(at_cutoff["customer_id"])
    assert set(choice.at_cutoff.columns) - {"customer_id"} == set(ginis)
    vm = choice.value_model
    assert vm["kind"] == choice.comparison["champion"]
    assert vm["evaluation"] is choice.comparison
    values = value_if_retained(json.loads(json.dumps(vm)), Batch(at_cutoff, schema))
    assert values.shape == (len(at_cutoff),) and np.isfinite(values).all()
    # every candidate's value model works from its JSON, the combination as its members' mean
    batch = Batch(at_cutoff, schema)
    each = {
        k: value_if_retained(json.loads(json.dumps(m)), batch) for k, m in choice.models.items()
    }
    np.testing.assert_allclose(each["combined"], np.mean([each[k] for k in members], axis=0))


# --- end to end on the demo data --------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_model(tmp_path_factory) -> Path:
    from typer.testing import CliRunner

    from toolkit.cli import app
    from toolkit.datasets import generate_transactions

    root = tmp_path_factory.mktemp("value")
    data = root / "t.parquet"
    generate_transactions(1500, seed=4, out=data)
    res = CliRunner().invoke(app, ["train", str(data), "--horizon", "60", "--out", str(root / "M")])
    assert res.exit_code == 0, res.output
    assert "value forecast (out of time)" in res.output
    assert "<- used" in res.output
    return root


def test_train_records_prints_and_reports_the_value_comparison(demo_model: Path):
    metrics = json.loads((demo_model / "M" / "metrics.json").read_text())
    vf = metrics["value_forecast"]
    assert vf["out_of_time"] is True
    assert set(vf["candidates"]) >= {"bgnbd_gg", "naive"}
    value_model = json.loads((demo_model / "M" / "value_model.json").read_text())
    assert value_model["kind"] == vf["used"] == vf["champion"]
    md = (demo_model / "M" / "report.md").read_text()
    assert "## Value forecast (net spend, forecast against what happened)" in md
    html = (demo_model / "M" / "report.html").read_text()
    assert 'alt="Value forecast by decile"' in html
    # the booster stays out of the report
    assert "spend_model" not in (demo_model / "M" / "report.json").read_text()


def test_predict_values_with_the_chosen_model(demo_model: Path):
    from typer.testing import CliRunner

    from toolkit.cli import app

    out = demo_model / "churn.csv"
    res = CliRunner().invoke(
        app, ["predict", str(demo_model / "M"), str(demo_model / "t.parquet"), "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    churn = pd.read_csv(out)
    assert (churn["expected_value"] >= 0).all()
    # the list rounds money to cents and probabilities to 4 decimals
    np.testing.assert_allclose(
        churn["value_at_risk"],
        churn["churn_probability"] * churn["expected_value"],
        rtol=0.005,
        atol=0.01,
    )
    assert not ((churn["lifetime_spend"] <= 0) & (churn["value_at_risk"] > 0)).any()
