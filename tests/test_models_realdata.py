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
