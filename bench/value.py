"""Benchmark: is the value the toolkit uses the best forecast of what customers really spent?

    python bench/value.py [--n-boot 200] [--seed 0]

For each setting, ``train_from_transactions`` at the cutoff (the same fit as ``toolkit train``)
gives every value candidate's forecast of each customer's net spend in the horizon after the
cutoff, and the one it chose out of time (one horizon earlier, on what was known then). Each is
set against the real net spend after the cutoff (purchases less returns, from the log itself),
in one run:

- ``supervised``: P(buy) x XGBoost spend of a buyer (the two-part model);
- ``bgnbd_gg``: BG/NBD expected purchases x Gamma-Gamma spend;
- ``naive``: the last period's net spend carried forward.

Settings: Online Retail (../shared/data/online_retail.csv.gz) at 2011-09-10 / 91 days and at
2011-06-10 / 182 days, and the demo data (``toolkit.datasets.generate_transactions``, 3,000
customers, seed 3) at the day 90 days before its end (a horizon with the November-December peak)
and at 2023-06-01 (one without). Targets: the chosen value's normalised
Gini >= 0.78 and >= 0.835 on Online Retail, not below the naive rule nor BG/NBD x Gamma-Gamma in
the same run; on the demo data the chosen total within +-15 % of the real total.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def one(data: Path, cutoff: str | None, horizon: int, seed: int, n_boot: int) -> dict:
    from toolkit.features import compute_features, data_range
    from toolkit.io import read_transactions
    from toolkit.models.training._from_log import train_from_transactions
    from toolkit.models.training._value import forecast_metrics

    tx = read_transactions(data)
    if cutoff is None:
        _, last = data_range(tx)
        cutoff = str(last + timedelta(days=1) - timedelta(days=horizon))
    t0 = time.perf_counter()
    res = train_from_transactions(tx, cutoff=cutoff, horizon=horizon, seed=seed, n_boot=n_boot)
    seconds = time.perf_counter() - t0
    truth = compute_features(tx, cutoff=cutoff, horizon=horizon)
    got = res.value_forecasts
    assert got is not None
    real = (
        got[["customer_id"]]
        .merge(truth[["customer_id", "holdout_spend"]], on="customer_id", how="left")[
            "holdout_spend"
        ]
        .fillna(0.0)
        .to_numpy()
    )
    forecasts = {c: got[c].to_numpy() for c in got.columns if c != "customer_id"}
    metrics = forecast_metrics(real, forecasts, n_boot=n_boot, seed=seed)
    tx.close()
    return {
        "cutoff": cutoff,
        "horizon": horizon,
        "customers": len(real),
        "seconds": seconds,
        "chosen": res.value_model.get("kind"),
        "chosen_out_of_time": res.value_comparison["champion"] if res.value_comparison else None,
        "earlier": res.value_comparison,
        "metrics": metrics,
    }


def show(name: str, r: dict) -> None:
    print(
        f"\n{name}: cutoff {r['cutoff']}, horizon {r['horizon']} days, {r['customers']:,} "
        f"customers; train {r['seconds']:.1f} s; chosen out of time: {r['chosen']}"
    )
    if r["earlier"]:
        e = r["earlier"]
        at = f", at {e['compared_at_days']} days" if "compared_at_days" in e else ""
        print(f"  the choice, at {e['origin']}{at} (out of time: {e['out_of_time']}):")
        for k, m in e["candidates"].items():
            g = m["normalised_gini"]
            print(f"    {k:11s} Gini {g['value']:.3f} [{g['ci_low']:.3f}, {g['ci_high']:.3f}]")
    print("  against real net spend after the cutoff:")
    naive = r["metrics"].get("naive", {}).get("normalised_gini", {}).get("value")
    for k, m in sorted(r["metrics"].items(), key=lambda kv: -kv[1]["normalised_gini"]["value"]):
        g, s, t = m["normalised_gini"], m["spearman"], m["total_ratio"]
        vs = f"  x{g['value'] / naive:.3f} naive" if naive else ""
        mark = "  <- used" if k == r["chosen"] else ""
        print(
            f"    {k:11s} Gini {g['value']:.3f} [{g['ci_low']:.3f}, {g['ci_high']:.3f}]  "
            f"Spearman {s['value']:.3f}  total forecast / real {t['value']:.3f} "
            f"({m['total_forecast']:,.0f} / {m['total_real']:,.0f}){vs}{mark}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-boot", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    retail = SHARED / "online_retail.csv.gz"
    if retail.exists():
        for cutoff, horizon in (("2011-09-10", 91), ("2011-06-10", 182)):
            show("Online Retail", one(retail, cutoff, horizon, args.seed, args.n_boot))
    else:
        print(f"{retail} not found: Online Retail skipped", file=sys.stderr)
    from toolkit.datasets import generate_transactions

    with tempfile.TemporaryDirectory() as tmp:
        demo = Path(tmp) / "demo.parquet"
        generate_transactions(3000, seed=3, out=demo)
        show("demo data", one(demo, None, 90, args.seed, args.n_boot))
        # a horizon without the November-December peak, which one year of history cannot show
        show("demo data", one(demo, "2023-06-01", 90, args.seed, args.n_boot))


if __name__ == "__main__":
    main()
