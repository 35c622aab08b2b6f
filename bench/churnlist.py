"""Benchmark: does the churn list put the money really lost first? (issue: the churn list)

    python bench/churnlist.py [--n 200] [--seeds 0,1,2]

On ../shared/data/online_retail.csv.gz: ``toolkit train --cutoff 2011-09-10 --horizon 91`` and
``toolkit predict`` at the same cutoff (each in its own process), then, among the first N rows of
three orders, the past-year spend of the customers who did not buy in the 91 days after the
cutoff:

- the list's default order (priority_rank: value at risk first),
- the order by churn probability (the baseline: what the list was before),
- the order by past-year spend (the other naive order).

Targets: the list's N rows hold at least 10x the churn-probability order's and more than the
past-spend order's. Also printed: the churn list's ROC-AUC (target >= 0.745) and, on CDNOW at
--cutoff 1997-10-01 --horizon 273 (longer than the history gives labels for), the list's ROC-AUC
beside BG/NBD's alone.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import measure  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
CDNOW_COLUMNS = [
    "--names", "master,customer_id,date,cds,amount", "--customer-col", "customer_id",
    "--date-col", "date", "--amount-col", "amount", "--date-format", "%Y%m%d",
]  # fmt: skip


def online_retail(toolkit: str, tmp: Path, n: int, seed: int) -> dict[str, float]:
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    from toolkit.features import compute_features
    from toolkit.io import read_transactions
    from toolkit.models.action._backtest import lost_in_first, spend_before

    data, cutoff, horizon = SHARED / "online_retail.csv.gz", "2011-09-10", 91
    model, out = tmp / f"M{seed}", tmp / f"churn{seed}.parquet"
    t = measure([toolkit, "train", str(data), "--cutoff", cutoff, "--horizon", str(horizon),
                 "--out", str(model), "--seed", str(seed)])  # fmt: skip
    p = measure([toolkit, "predict", str(model), str(data), "--cutoff", cutoff, "--out", str(out)])
    churn = pd.read_parquet(out)
    tx = read_transactions(data)
    truth = compute_features(tx, cutoff=cutoff, horizon=horizon)
    m = churn.merge(truth[["customer_id", "repeat_purchase"]], on="customer_id")
    spend = m["customer_id"].map(spend_before(tx, cutoff)).fillna(0.0)
    churned = 1 - m["repeat_purchase"]
    return {
        "auc": float(roc_auc_score(churned, m["churn_probability"])),
        "list": lost_in_first(-m["priority_rank"].astype(float), churned, spend, n),
        "by_risk": lost_in_first(m["churn_probability"], churned, spend, n),
        "by_spend": lost_in_first(spend, churned, spend, n),
        "no_reason": int((churn["reason_1"].fillna("") == "").sum()),
        "seconds": t["seconds"] + p["seconds"],
    }


def cdnow(toolkit: str, tmp: Path) -> tuple[float, float]:
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    from toolkit.btyd import fit_standard
    from toolkit.features import compute_features
    from toolkit.io import ColumnMapping, read_transactions

    data = SHARED / "CDNOW_sample.txt"
    model, out = tmp / "cdnow", tmp / "cdnow.parquet"
    measure([toolkit, "train", str(data), *CDNOW_COLUMNS, "--cutoff", "1997-10-01",
             "--horizon", "273", "--out", str(model)])  # fmt: skip
    measure([toolkit, "predict", str(model), str(data), *CDNOW_COLUMNS, "--cutoff", "1997-10-01",
             "--out", str(out)])  # fmt: skip
    tx = read_transactions(
        data,
        names=["master", "customer_id", "date", "cds", "amount"],
        mapping=ColumnMapping(customer="customer_id", timestamp="date", amount="amount"),
        date_format="%Y%m%d",
    )
    m = pd.read_parquet(out).merge(
        compute_features(tx, cutoff="1997-10-01", horizon=273), on="customer_id"
    )
    bg = fit_standard(m["frequency"], m["recency"], m["T"])
    alone = 1 - bg.p_any_purchase(273, m["frequency"], m["recency"], m["T"])
    churned = 1 - m["repeat_purchase"]
    return (
        float(roc_auc_score(churned, m["churn_probability"])),
        float(roc_auc_score(churned, alone)),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seeds", default="0")
    args = ap.parse_args()
    if not (SHARED / "online_retail.csv.gz").exists():
        sys.exit(f"needs {SHARED} (the real data sets beside the checkout)")
    toolkit = shutil.which("toolkit") or str(Path(sys.executable).parent / "toolkit")
    seeds = [int(s) for s in args.seeds.split(",")]
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        runs = [online_retail(toolkit, tmp, args.n, seed) for seed in seeds]
        for seed, r in zip(seeds, runs, strict=True):
            print(
                f"Online Retail, seed {seed}: money lost among the first {args.n} rows: "
                f"list {r['list']:,.0f}, by churn probability {r['by_risk']:,.0f}, by past-year "
                f"spend {r['by_spend']:,.0f}; ROC-AUC {r['auc']:.4f}; rows without a reason "
                f"{r['no_reason']}; train + predict {r['seconds']:.1f} s",
                flush=True,
            )
        over_risk = statistics.median(r["list"] / max(r["by_risk"], 1e-9) for r in runs)
        over_spend = statistics.median(r["list"] / max(r["by_spend"], 1e-9) for r in runs)
        print(
            f"median ratios: list / by churn probability {over_risk:.1f}x (target >= 10x), "
            f"list / by past-year spend {over_spend:.2f}x (target > 1)"
        )
        listed, alone = cdnow(toolkit, tmp)
        print(
            f"CDNOW 1997-10-01, 273 days: churn list ROC-AUC {listed:.4f}, BG/NBD alone "
            f"{alone:.4f} (target: list >= BG/NBD alone)"
        )


if __name__ == "__main__":
    main()
