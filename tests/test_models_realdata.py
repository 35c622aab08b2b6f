"""Acceptance on Online Retail: out of time, judged from the churn list alone.

``toolkit train`` at the cutoff (the models see nothing from the cutoff on), ``toolkit predict`` at
the same cutoff, then the ROC-AUC of churn_probability against "did not buy in
[cutoff, cutoff + horizon)". Every row of the yardstick in ../shared/data/DATA.md is below the
targets (best 0.739 and 0.756).
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

import toolkit.cli  # noqa: F401
from toolkit.commands.common import app

pytestmark = [pytest.mark.slow, pytest.mark.realdata]


@pytest.mark.parametrize(
    ("cutoff", "horizon", "target"),
    [("2011-09-10", 91, 0.745), ("2011-08-01", 60, 0.760)],
    ids=["2011-09-10/91", "2011-08-01/60"],
)
def test_churn_list_beats_the_yardstick(
    shared_data: Path, tmp_path: Path, cutoff: str, horizon: int, target: float
) -> None:
    from toolkit.features import compute_features
    from toolkit.io import read_transactions

    data = shared_data / "online_retail.csv.gz"
    runner = CliRunner()
    t = time.perf_counter()
    res = runner.invoke(
        app,
        [
            "train",
            str(data),
            "--cutoff",
            cutoff,
            "--horizon",
            str(horizon),
            "--out",
            str(tmp_path / "M"),
        ],
        catch_exceptions=False,
    )
    train_seconds = time.perf_counter() - t
    assert res.exit_code == 0, res.output
    out = tmp_path / "churn.csv"
    res = runner.invoke(
        app,
        ["predict", str(tmp_path / "M"), str(data), "--cutoff", cutoff, "--out", str(out)],
        catch_exceptions=False,
    )
    assert res.exit_code == 0, res.output
    churn = pd.read_csv(out, dtype={"customer_id": str})
    truth = compute_features(read_transactions(data), cutoff=cutoff, horizon=horizon)
    m = churn.merge(truth[["customer_id", "repeat_purchase"]], on="customer_id", how="inner")
    assert len(m) == len(truth) == len(churn)
    auc = roc_auc_score(1 - m["repeat_purchase"], m["churn_probability"])
    print(
        f"\nOnline Retail {cutoff} / {horizon} d: churn-list ROC-AUC {auc:.4f} "
        f"(target {target}); train {train_seconds:.1f} s"
    )
    assert auc >= target
    # generous bound: the 60 s target is for a quiet 2-core machine (bench/predict.py measures it)
    assert train_seconds < 240


def test_the_default_order_puts_the_money_lost_first(shared_data: Path, tmp_path: Path) -> None:
    """The first 200 rows hold more of the money really lost than either naive order."""
    from toolkit.features import compute_features
    from toolkit.io import read_transactions

    data, cutoff, horizon = shared_data / "online_retail.csv.gz", "2011-09-10", 91
    runner = CliRunner()
    for args in (
        ["train", data, "--cutoff", cutoff, "--horizon", horizon, "--out", tmp_path / "M"],
        ["predict", tmp_path / "M", data, "--cutoff", cutoff, "--out", tmp_path / "c.parquet"],
    ):
        res = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
        assert res.exit_code == 0, res.output
    churn = pd.read_parquet(tmp_path / "c.parquet")
    assert churn["reason_1"].notna().all() and (churn["reason_1"] != "").all()
    from toolkit.models.action._backtest import lost_in_first, spend_before

    tx = read_transactions(data)
    truth = compute_features(tx, cutoff=cutoff, horizon=horizon)
    m = churn.merge(truth[["customer_id", "repeat_purchase"]], on="customer_id")
    spend = m["customer_id"].map(spend_before(tx, cutoff)).fillna(0.0)
    churned = 1 - m["repeat_purchase"]
    assert roc_auc_score(churned, m["churn_probability"]) >= 0.745
    listed = lost_in_first(-m["priority_rank"].astype(float), churned, spend)
    by_risk = lost_in_first(m["churn_probability"], churned, spend)
    by_spend = lost_in_first(spend, churned, spend)
    print(f"\nlost in the first 200: list {listed:,.0f}, by risk {by_risk:,.0f}, ", end="")
    print(f"by past-year spend {by_spend:,.0f}")
    assert listed >= 10 * by_risk
    assert listed > by_spend
    # money is net of returns: no one who kept nothing has money at risk, and the customers who
    # returned (nearly) everything are valued on what they kept, as the raw log shows it
    kept_nothing = churn["lifetime_spend"] <= 0
    assert kept_nothing.any() and (churn.loc[kept_nothing, "value_at_risk"] == 0).all()
    raw = pd.read_csv(data, dtype={"CustomerID": str, "InvoiceNo": str}, encoding="latin-1")
    raw = raw[pd.to_datetime(raw["InvoiceDate"]) < pd.Timestamp(cutoff)]
    raw["CustomerID"] = raw["CustomerID"].str.replace(r"\.0$", "", regex=True)
    net = (raw["Quantity"] * raw["UnitPrice"]).groupby(raw["CustomerID"]).sum().clip(lower=0)
    listed_spend = churn.set_index("customer_id")["lifetime_spend"]
    for cid, most in (("15098", 700.0), ("12346", 0.0), ("16446", 5.0)):
        assert listed_spend[cid] == pytest.approx(net[cid], abs=0.01), cid
        assert listed_spend[cid] <= most, cid


def test_cdnow_long_horizon_scores_like_bgnbd_at_least(shared_data: Path, tmp_path: Path) -> None:
    """A horizon longer than the history gives labels for: the models are compared at the
    longest horizon with labels, the best there scores the asked one, and the list ranks churn
    at least as well as BG/NBD alone and as days since the last purchase (the naive rule)."""
    import numpy as np

    from toolkit.btyd import fit_standard
    from toolkit.features import compute_features
    from toolkit.io import ColumnMapping, read_transactions

    data = shared_data / "CDNOW_sample.txt"
    cols = ["--names", "master,customer_id,date,cds,amount", "--customer-col", "customer_id",
            "--date-col", "date", "--amount-col", "amount", "--date-format", "%Y%m%d"]  # fmt: skip
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "train",
            str(data),
            *cols,
            "--cutoff",
            "1997-10-01",
            "--horizon",
            "273",
            "--out",
            str(tmp_path / "M"),
        ],  # fmt: skip
        catch_exceptions=False,
    )
    assert res.exit_code == 0, res.output
    assert "longer than the history before 1997-10-01 gives labels for" in res.output
    assert "champion at the asked 273 days: " in res.output
    assert "ranked churn best there, so the churn list uses" in res.output
    res = runner.invoke(
        app,
        [
            "predict",
            str(tmp_path / "M"),
            str(data),
            *cols,
            "--cutoff",
            "1997-10-01",
            "--out",
            str(tmp_path / "c.parquet"),
        ],  # fmt: skip
        catch_exceptions=False,
    )
    assert res.exit_code == 0, res.output
    churn = pd.read_parquet(tmp_path / "c.parquet")
    tx = read_transactions(
        data,
        names=["master", "customer_id", "date", "cds", "amount"],
        mapping=ColumnMapping(customer="customer_id", timestamp="date", amount="amount"),
        date_format="%Y%m%d",
    )
    truth = compute_features(tx, cutoff="1997-10-01", horizon=273)
    assert len(truth) == len(churn) == 2357
    m = churn.merge(truth, on="customer_id")
    bg = fit_standard(m["frequency"], m["recency"], m["T"])
    alone = 1 - bg.p_any_purchase(273, m["frequency"], m["recency"], m["T"])
    churned = 1 - m["repeat_purchase"]
    listed_auc = roc_auc_score(churned, m["churn_probability"])
    alone_auc = roc_auc_score(churned, alone)
    naive_auc = roc_auc_score(churned, m["recency_days_y"])
    print(
        f"\nCDNOW 273 d: churn list ROC-AUC {listed_auc:.4f}, BG/NBD alone {alone_auc:.4f}, "
        f"days since last purchase {naive_auc:.4f}"
    )
    assert listed_auc >= alone_auc - 1e-9
    assert listed_auc >= naive_auc
    assert np.isfinite(m["value_at_risk"]).all()
