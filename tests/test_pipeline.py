"""The whole pipeline: `toolkit demo` and `toolkit run` write every output, end to end."""

from __future__ import annotations

import json

import pandas as pd
import pytest

EXPECTED = [
    "validation.json",
    "features.parquet",
    "correlations/correlations.csv",
    "correlations/heatmap.png",
    "segments/segments.csv",
    "segments/profiles.csv",
    "segments/metrics.json",
    "segments/actions.csv",
    "segments/segmenter",
    "clv/customers.csv",
    "clv/params.json",
    "model/manifest.json",
    "model/metrics.json",
    "model/report.html",
    "churn_list.csv",
    "report.html",
    "report.md",
    "summary.json",
    "run.json",
]


@pytest.mark.slow
def test_demo_writes_every_output(demo_dir):
    missing = [p for p in EXPECTED if not (demo_dir / p).exists()]
    assert missing == []
    run = json.loads((demo_dir / "run.json").read_text())
    assert set(run["seconds"]) == {
        "validate",
        "features",
        "correlate",
        "segment",
        "clv",
        "train",
        "predict",
        "report",
        "total",
    }
    assert set(run["steps"].values()) == {"ran"}


@pytest.mark.slow
def test_demo_churn_list_is_consistent(demo_dir):
    churn = pd.read_csv(demo_dir / "churn_list.csv")
    features = pd.read_parquet(demo_dir / "features.parquet")
    assert len(churn) == len(features) == churn["customer_id"].nunique()
    assert churn["churn_probability"].between(0, 1).all()
    assert churn["priority_rank"].tolist() == list(range(1, len(churn) + 1))
    assert churn["value_at_risk"].is_monotonic_decreasing  # money at risk first
    assert sorted(churn["risk_rank"]) == list(range(1, len(churn) + 1))
    assert churn["segment"].notna().all()
    assert churn["reason_1"].notna().all()
    # a big spender judged gone is not worth nothing: the value is what they bring if retained
    spent = churn["lifetime_spend"] > churn["lifetime_spend"].median()
    vanished = (churn["churn_probability"] > 0.99) & (churn["value_at_risk"] < 0.01)
    assert not (spent & vanished).any()
    report = (demo_dir / "model" / "report.html").read_text()
    for name in ("xgboost", "tree", "linear", "bgnbd", "days_since_last_purchase"):
        assert name in report


@pytest.mark.slow
def test_demo_segments_carry_the_churn_risk(demo_dir):
    actions = pd.read_csv(demo_dir / "segments" / "actions.csv")
    churn = pd.read_csv(demo_dir / "churn_list.csv", dtype={"customer_id": str})
    assert actions["n_scored"].sum() == len(churn)
    assert actions["value_at_risk_total"].sum() == pytest.approx(churn["value_at_risk"].sum())
    # at-risk segments first, then by value at risk
    order = actions.sort_values(["at_risk", "value_at_risk_total"], ascending=[False, False])
    assert actions["segment"].tolist() == order["segment"].tolist()
    profiles = pd.read_csv(demo_dir / "segments" / "profiles.csv")
    assert {"action", "churn_probability_mean", "at_risk"} <= set(profiles.columns)


@pytest.mark.slow
def test_run_refuses_a_file_as_out(cli, tmp_path, demo_dir):
    target = tmp_path / "file.txt"
    target.write_text("keep me")
    result = cli("run", demo_dir / "data" / "transactions.parquet", "--out", target)
    assert result.exit_code == 2
    assert "is a file" in result.stderr
    assert target.read_text() == "keep me"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--models", "bogus"], "--models must be a comma-separated list of"),
        (["--models", ","], "--models is empty"),
        (["--cutoff", "someday"], "--cutoff must be a date"),
        (["--seed", "-1"], "--seed must be a non-negative whole number"),
    ],
    ids=["unknown-model", "no-model", "bad-cutoff", "negative-seed"],
)
def test_run_checks_its_options_before_any_step(cli, tmp_path, args, message):
    log = tmp_path / "log.csv"
    log.write_text("customer_id,date,amount\na,2024-01-01,3\na,2024-02-01,4\n")
    result = cli("run", log, "--out", tmp_path / "run", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert not (tmp_path / "run").exists()  # no step has written anything


@pytest.fixture(scope="module")
def zero_repeat_log(tmp_path_factory):
    """A small log where one customer's repeat purchases total 0.00 (free repeat orders)."""
    from toolkit.datasets import generate_transactions

    tx, _ = generate_transactions(250, seed=2, start="2023-01-01", end="2023-12-31")
    tx["amount"] = (tx["quantity"] * tx["unit_price"]).round(2)
    day = tx["invoice_date"].dt.normalize()
    repeat = day > day.groupby(tx["customer_id"]).transform("min")
    days = day[repeat].groupby(tx["customer_id"][repeat]).nunique()
    who = days[days >= 2].index[0]
    tx.loc[(tx["customer_id"] == who) & repeat, "amount"] = 0.0
    path = tmp_path_factory.mktemp("zero") / "tx.csv"
    tx.drop(columns=["quantity", "unit_price"]).to_csv(path, index=False)
    return path, str(who)


LEFT_OUT = "1 customer with repeat purchases but a mean repeat spend of 0 or less left out"


@pytest.mark.slow
def test_a_zero_repeat_spend_stops_no_command(cli, tmp_path, zero_repeat_log):
    """Gamma-Gamma leaves that customer out of its fit and scores them at the population mean;
    clv and features say how many were left out."""
    log, who = zero_repeat_log
    clv = cli("clv", log, "--out", tmp_path / "clv")
    assert clv.exit_code == 0, clv.output
    assert "1 with a mean repeat spend of 0 or less is left out of the fit" in clv.output
    params = json.loads((tmp_path / "clv" / "params.json").read_text())
    assert params["gamma_gamma"]["n_left_out_nonpositive_spend"] == 1
    customers = pd.read_csv(tmp_path / "clv" / "customers.csv", dtype={"customer_id": str})
    spend = customers.set_index("customer_id")["expected_avg_spend"]
    one_timer = customers.loc[customers["frequency"] == 0, "customer_id"].iloc[0]
    assert spend[who] == pytest.approx(spend[one_timer])  # the population mean
    assert customers["clv"].notna().all()

    features = cli("features", log, "--out", tmp_path / "f.csv")
    assert features.exit_code == 0, features.output
    assert LEFT_OUT in features.output
    assert "Gamma-Gamma not fitted" not in features.output
    f = pd.read_csv(tmp_path / "f.csv", dtype={"customer_id": str}).set_index("customer_id")
    assert f["expected_value"].notna().all() and f.loc[who, "expected_value"] > 0

    model = tmp_path / "M"
    for args in (
        ["train", log, "--out", model, "--horizon", "60", "--models", "tree,bgnbd"],
        ["predict", model, log, "--out", tmp_path / "churn.csv"],
        ["run", log, "--out", tmp_path / "run", "--horizon", "60", "--models", "tree,bgnbd"],
    ):
        result = cli(*args)
        assert result.exit_code == 0, result.output
    value_model = json.loads((model / "value_model.json").read_text())
    # BG/NBD x Gamma-Gamma was fitted and compared (whichever value forecast won)
    assert "bgnbd_gg" in value_model["evaluation"]["candidates"]
    assert value_model["kind"] == value_model["evaluation"]["used"]
    assert json.loads((tmp_path / "run" / "clv" / "params.json").read_text())["gamma_gamma"]
