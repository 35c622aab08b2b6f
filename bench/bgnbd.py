"""Benchmark: BG/NBD on 1,000,000 customers resampled (seeded) from the CDNOW summary.

Times, as the median of ``--repeats`` runs (wall clock and CPU):

* ``fit``: :class:`toolkit.btyd.BetaGeoModel` ``fit`` on the 10^6 rows (validation, row
  compression, 4 optimiser starts, Newton polish, standard errors). Target: <= 1 s.
* ``p_alive + expected_purchases``: both predictions (39 weeks) for all 10^6 customers.
  Target: <= 0.5 s. Also shown for 10^6 *distinct* rows (T jittered by < 1e-6 weeks), where no
  row compression can help: the honest worst case.
* baseline: the same stable log-likelihood minimised by scipy's L-BFGS-B with numeric (2-point)
  gradients on the uncompressed rows, one start: what a straightforward implementation does.
  It runs once on the same 10^6 rows (7-15 s here); ``--baseline-n 100000`` runs it on a
  subsample instead, and the printed ratio then understates the speed-up about tenfold.
* ``fit_standard``: :func:`toolkit.btyd.fit_standard` (the fit every command makes) on the same
  rows (fitted on its seeded 50,000-customer sample), and on Online Retail at 2011-09-10, where
  the unpenalised fit runs to a boundary and the standard fit falls back to the penalty (skipped
  without ``online_retail.csv.gz`` beside the CDNOW file). Run with the code before and after a
  change to compare: the printed parameters show that the fit is deterministic.
* ``--lifetimes``: lifetimes' ``BetaGeoFitter`` on the same 10^6 rows, if it is importable
  (it is not a dependency of toolkit).

Run: ``python bench/bgnbd.py`` (needs ../shared/data beside the checkout, or ``--data FILE``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

DEFAULT_DATA = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cdnow_customers_summary.csv"
)
PAPER = {"r": 0.2426, "alpha": 4.4135, "a": 0.7929, "b": 2.4259}


def timed(func: Callable[[], Any], repeats: int) -> tuple[float, float, Any]:
    """Median wall and CPU seconds of ``repeats`` calls, and the last result."""
    walls, cpus = [], []
    result = None
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        result = func()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus), result


def baseline_fit(
    x: np.ndarray, tx: np.ndarray, T: np.ndarray
) -> tuple[float, float, dict[str, float]]:
    """Plain approach: numeric gradients, no row compression, one start.

    Returns wall seconds, CPU seconds and the parameters.
    """
    from scipy.optimize import minimize

    from toolkit.btyd._bgnbd import _Data, _loglik

    d = _Data.make(x, tx, T, np.ones_like(x))

    def negll(theta: np.ndarray) -> float:
        ll, _ = _loglik(np.exp(theta), d)
        return -float(ll.sum()) / x.size

    rate = x.sum() / T.sum()
    theta0 = np.array([0.0, np.log(1 / rate), 0.0, np.log(3.0)])
    w0, c0 = time.perf_counter(), time.process_time()
    res = minimize(negll, theta0, method="L-BFGS-B", bounds=[(-18, 18)] * 4)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    return wall, cpu, dict(zip(("r", "alpha", "a", "b"), np.exp(res.x).tolist(), strict=True))


def standard(x: np.ndarray, tx: np.ndarray, T: np.ndarray, retail: Path, repeats: int) -> None:
    """Time fit_standard on the resampled rows and (if present) on Online Retail."""
    from toolkit.btyd import fit_standard

    cases = [("resampled CDNOW", x, tx, T)]
    if retail.exists():
        from toolkit.features import compute_features
        from toolkit.io import read_transactions

        log = read_transactions(retail)
        try:
            f = compute_features(log, cutoff="2011-09-10")
        finally:
            log.close()
        cases.append(
            (
                "Online Retail 2011-09-10",
                *(f[c].to_numpy(np.float64) for c in ("frequency", "recency", "T")),
            )
        )
    for name, *rfm in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wall, cpu, m = timed(lambda rfm=rfm: fit_standard(*rfm), repeats)
            again = fit_standard(*rfm)
        print(
            f"fit_standard on {name} ({rfm[0].size:,} rows): {wall:7.3f} s wall  {cpu:7.3f} s CPU"
            f"  fit: {getattr(m, 'fit_', 'penalised (0.001)')}; deterministic: "
            f"{again.params_ == m.params_}"
        )
        print("  params: " + "  ".join(f"{k}={v:.4f}" for k, v in m.params_.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--baseline-n", type=int, default=None, help="default: --n")
    parser.add_argument("--lifetimes", action="store_true", help="also time lifetimes if installed")
    args = parser.parse_args(argv)
    if not args.data.exists():
        print(f"data not found: {args.data} (pass --data)", file=sys.stderr)
        return 2

    from toolkit.btyd import BetaGeoModel

    summary = pd.read_csv(args.data)
    rng = np.random.default_rng(args.seed)
    idx = rng.integers(0, len(summary), args.n)
    x, tx, T = (summary[c].to_numpy(np.float64)[idx] for c in ("frequency", "recency", "T"))
    print(
        f"BG/NBD benchmark: {args.n:,} customers resampled (seed {args.seed}) from {args.data.name}"
    )

    BetaGeoModel(n_starts=1).fit(x[:1000], tx[:1000], T[:1000])  # imports and first-call costs

    fit_wall, fit_cpu, model = timed(lambda: BetaGeoModel().fit(x, tx, T), args.repeats)
    print(
        f"fit:                               {fit_wall:7.3f} s wall  {fit_cpu:7.3f} s CPU  "
        f"(target <= 1 s; {model.n_unique_rows_:,} distinct rows)"
    )
    print(
        "  params: "
        + "  ".join(f"{k}={v:.4f}" for k, v in model.params_.items())
        + f"  log-likelihood={model.log_likelihood_:.1f}  converged={model.converged_}"
    )
    print("  paper (2,357 customers): " + "  ".join(f"{k}={v}" for k, v in PAPER.items()))

    def predict(T_: np.ndarray) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
        return lambda: (model.p_alive(x, tx, T_), model.expected_purchases(39.0, x, tx, T_))

    p_wall, p_cpu, (alive, expected) = timed(predict(T), args.repeats)
    print(
        f"p_alive + expected_purchases:      {p_wall:7.3f} s wall  {p_cpu:7.3f} s CPU  "
        "(target <= 0.5 s)"
    )
    jitter = T + rng.uniform(0, 1e-6, T.size)
    d_wall, d_cpu, _ = timed(predict(jitter), args.repeats)
    print(f"  same on {args.n:,} distinct rows:   {d_wall:7.3f} s wall  {d_cpu:7.3f} s CPU")
    print(
        f"  mean P(alive)={alive.mean():.4f}  "
        f"total expected purchases in 39 weeks={expected.sum():,.0f}"
    )

    standard(x, tx, T, args.data.parent / "online_retail.csv.gz", args.repeats)

    nb = min(args.baseline_n or args.n, args.n)
    base_wall, base_cpu, base_params = baseline_fit(x[:nb], tx[:nb], T[:nb])
    print(
        f"baseline (scipy numeric gradients, uncompressed, 1 start) on {nb:,} rows: "
        f"{base_wall:7.2f} s wall  {base_cpu:7.2f} s CPU -> {base_wall / fit_wall:,.0f}x "
        f"(wall) / {base_cpu / fit_cpu:,.0f}x (CPU) our fit on {args.n:,} rows"
    )
    print("  baseline params: " + "  ".join(f"{k}={v:.4f}" for k, v in base_params.items()))

    if args.lifetimes:
        try:
            from lifetimes import BetaGeoFitter
        except ImportError:
            print("lifetimes: not installed (pip install lifetimes to compare)")
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                w0 = time.perf_counter()
                lt = BetaGeoFitter().fit(pd.Series(x), pd.Series(tx), pd.Series(T))
                lt_s = time.perf_counter() - w0
            print(
                f"lifetimes BetaGeoFitter on {args.n:,} rows: {lt_s:7.2f} s wall -> "
                f"{lt_s / fit_wall:,.0f}x our fit; params "
                + "  ".join(f"{k}={v:.4f}" for k, v in lt.params_.items())
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
