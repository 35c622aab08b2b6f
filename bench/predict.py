"""Benchmark: ``toolkit train`` on Online Retail, ``toolkit predict`` with reasons on 1M customers.

    python bench/predict.py [--customers 1000000] [--data-dir bench/data] [--skip-train]

1. ``toolkit train`` on ../shared/data/online_retail.csv.gz (cutoff 2011-09-10, horizon 91 days),
   in a fresh process (imports, reading, features at every origin, both fits, report); then
   ``toolkit predict`` at the same cutoff and the ROC-AUC of churn_probability against "did not
   buy in [2011-09-10, 2011-12-10)". Targets: train <= 60 s, ROC-AUC >= 0.745.
2. ``toolkit predict`` with reasons for N synthetic customers (default 1,000,000), scored by that
   model (or, without ../shared/data, by one trained on a synthetic log): from a features file
   (scoring, SHAP reasons, value at risk, writing) and from the transaction log itself (features
   included). Target: <= 60 s on the 2-core machine.

Each command runs in its own process (bench/_measure.py): wall seconds and peak RSS.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import gb, measure  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def _auc(churn: Path, data: Path, cutoff: str, horizon: int) -> float:
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    from toolkit.features import compute_features
    from toolkit.io import read_transactions

    c = pd.read_csv(churn, dtype={"customer_id": str})
    truth = compute_features(read_transactions(data), cutoff=cutoff, horizon=horizon)
    m = c.merge(truth[["customer_id", "repeat_purchase"]], on="customer_id")
    return float(roc_auc_score(1 - m["repeat_purchase"], m["churn_probability"]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--data-dir", default=str(ROOT / "bench" / "data"))
    ap.add_argument("--skip-train", action="store_true")
    args = ap.parse_args()
    toolkit = shutil.which("toolkit") or str(Path(sys.executable).parent / "toolkit")
    data_dir = Path(args.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        model = tmp / "M"
        retail = SHARED / "online_retail.csv.gz"
        if retail.exists() and not args.skip_train:
            for cutoff, horizon in (("2011-09-10", 91), ("2011-08-01", 60)):
                out = tmp / f"M_{horizon}"
                r = measure(
                    [
                        toolkit,
                        "train",
                        str(retail),
                        "--cutoff",
                        cutoff,
                        "--horizon",
                        str(horizon),
                        "--out",
                        str(out),
                    ]
                )
                churn = tmp / f"churn_{horizon}.csv"
                p = measure(
                    [
                        toolkit,
                        "predict",
                        str(out),
                        str(retail),
                        "--cutoff",
                        cutoff,
                        "--out",
                        str(churn),
                    ]
                )
                auc = _auc(churn, retail, cutoff, horizon)
                print(
                    f"Online Retail cutoff {cutoff} horizon {horizon} d: "
                    f"train {r['seconds']:.1f} s (peak {gb(r['peak_rss_bytes'])}), "
                    f"predict {p['seconds']:.1f} s, churn-list ROC-AUC {auc:.4f}",
                    flush=True,
                )
            shutil.copytree(tmp / "M_91", model)
        else:
            small = data_dir / "tx_20000.parquet"
            if not small.exists():
                measure(
                    [
                        toolkit,
                        "generate",
                        "--customers",
                        "20000",
                        "--out",
                        str(small),
                        "--seed",
                        "2",
                    ]
                )
            r = measure([toolkit, "train", str(small), "--horizon", "90", "--out", str(model)])
            print(f"synthetic 20,000 customers: train {r['seconds']:.1f} s", flush=True)

        n = args.customers
        log = data_dir / f"tx_{n}.parquet"
        if not log.exists():
            print(f"generating {log} ...", flush=True)
            measure([toolkit, "generate", "--customers", str(n), "--out", str(log), "--seed", "1"])
        feats = data_dir / f"features_{n}.parquet"
        if not feats.exists():
            measure([toolkit, "features", str(log), "--out", str(feats)])
        import pyarrow.parquet as pq

        rows = pq.ParquetFile(feats).metadata.num_rows
        for label, source in (("features file", feats), ("transaction log", log)):
            out = tmp / "churn.parquet"
            r = measure([toolkit, "predict", str(model), str(source), "--out", str(out)])
            print(
                f"predict with reasons, {rows:,} customers from the {label}: "
                f"{r['seconds']:.1f} s (peak {gb(r['peak_rss_bytes'])})",
                flush=True,
            )
        import pandas as pd

        sample = pd.read_parquet(out).head(3)
        print(sample[["customer_id", "churn_probability", "reason_1"]].to_string(index=False))


if __name__ == "__main__":
    main()
