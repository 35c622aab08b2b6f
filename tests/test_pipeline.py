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
