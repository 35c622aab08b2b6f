"""BG/NBD and Gamma-Gamma scores as features: ``p_alive``, ``expected_purchases``,
``expected_value``.

The models are fitted on the same customers, from their history before the cutoff only
(frequency, recency, T, monetary), so the columns leak nothing from after the cutoff. Fitting
takes well under a second even for millions of customers (identical histories are compressed).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from toolkit.btyd import GammaGammaModel, fit_flags, fit_spend, fit_standard
from toolkit.errors import ToolkitError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

# without a label horizon, expected purchases are for the next 90 days
DEFAULT_BTYD_DAYS = 90
# Above this many customers the population parameters are fitted on a seeded sample of them
# (their standard errors are already tiny at this size) and every customer is scored.
FIT_SAMPLE = 50_000


def btyd_scores(
    frequency: np.ndarray,
    recency: np.ndarray,
    T: np.ndarray,
    monetary: np.ndarray,
    *,
    horizon_days: int,
    time_unit: str = "days",
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Fit BG/NBD (+ Gamma-Gamma on repeat customers) and score every customer.

    Returns the three columns and a summary of the fits (parameters and any warnings); no columns
    (and ``info["bgnbd"]`` None) when every history is a single day, with nothing to fit. With more
    than ``FIT_SAMPLE`` customers the models are fitted on a seeded sample of that size; every
    customer is scored.
    ``expected_value`` = expected purchases in the horizon x expected spend per purchase (the
    Gamma-Gamma estimate, or the customer's own mean when the spend model cannot be fitted).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([0, 1, 2, 5, 0, 3]); t = np.array([0, 10, 30, 60, 0, 40.0])
    >>> T = np.array([50, 60, 70, 80, 30, 90.0]); m = np.array([0, 10, 12, 9, 0, 20.0])
    >>> cols, info = btyd_scores(x, t, T, m, horizon_days=30)
    >>> sorted(cols)
    ['expected_purchases', 'expected_value', 'p_alive']
    """
    import numpy as np

    t = horizon_days / (7.0 if time_unit == "weeks" else 1.0)
    info: dict[str, Any] = {"horizon_days": horizon_days, "warnings": []}
    fit = np.arange(len(frequency))
    if len(fit) > FIT_SAMPLE:
        fit = np.sort(np.random.default_rng(0).choice(len(fit), FIT_SAMPLE, replace=False))
        info["fit_sample"] = FIT_SAMPLE
    from concurrent.futures import ThreadPoolExecutor

    def spend_model() -> GammaGammaModel:
        if int((frequency[fit] > 0).sum()) < 10:
            raise ToolkitError("fewer than 10 repeat customers")
        # one start: on the retail logs tried (Online Retail, the demo data) the extra starts
        # of the default found the same optimum to 8 digits, at 2.5x the time
        return fit_spend(frequency[fit], monetary[fit], n_starts=1)

    if not (T[fit] > 0).any():
        # every history is one day long (T = 0): nothing to fit a purchase rate on
        info["bgnbd"] = info["gamma_gamma"] = None
        info["warnings"].append(
            "BG/NBD scores (p_alive, expected_purchases, expected_value) not added: every "
            "customer's history before the cutoff is a single day (T = 0), so there is no "
            "purchase rate to fit"
        )
        return {}, info
    with warnings.catch_warnings(record=True) as caught, ThreadPoolExecutor(1) as pool:
        warnings.simplefilter("always")
        # the two fits are independent: the spend model's runs beside the BG/NBD one
        spend_fit = pool.submit(spend_model)
        # the same fit as every other command's at this cutoff (same sample, same settings)
        bg = fit_standard(frequency, recency, T)
        p_alive = _in_chunks(bg.p_alive, frequency, recency, T)
        expected = _in_chunks(lambda *h: bg.expected_purchases(t, *h), frequency, recency, T)
        info["bgnbd"] = {k: float(v) for k, v in bg.params_.items()}
        info["bgnbd_flags"] = fit_flags(bg.params_, bg.standard_errors_, bg.boundary_warnings_)
        info["bgnbd_fit"] = bg.fit_
        spend = np.where(frequency > 0, monetary, np.nan)
        try:
            gg = spend_fit.result()
            spend = _in_chunks(gg.expected_spend, frequency, monetary)
            info["gamma_gamma"] = {k: float(v) for k, v in gg.params_.items()}
            info.update(spend_fit_info(gg))
        except ToolkitError as exc:
            info["gamma_gamma"] = None
            info["warnings"].append(f"Gamma-Gamma not fitted ({exc}); spend = own mean")
            fallback = np.nanmean(spend) if np.isfinite(spend).any() else 0.0
            spend = np.where(np.isfinite(spend), spend, fallback)
    info["warnings"] += [str(w.message) for w in caught] + fit_notes(info)
    value = expected * spend
    return {
        "p_alive": p_alive,
        "expected_purchases": expected,
        "expected_value": value,
    }, info


def spend_fit_info(gg: GammaGammaModel) -> dict[str, Any]:
    """How the Gamma-Gamma model was fitted, for the fit summary (either engine)."""
    return {"gamma_gamma_fit": gg.fit_, "gamma_gamma_left_out": gg.n_nonpositive_}


def fit_notes(info: dict[str, Any]) -> list[str]:
    """The notes on a fit summary to tell the user (either engine): a fit that needed the
    penalty, and the customers left out of the Gamma-Gamma fit.

    Examples
    --------
    >>> fit_notes({"bgnbd_fit": "maximum likelihood", "gamma_gamma_left_out": 1})[0][:61]
    'Gamma-Gamma: 1 customer with repeat purchases but a mean repe'
    """
    notes = []
    for name, key in (("BG/NBD", "bgnbd_fit"), ("Gamma-Gamma", "gamma_gamma_fit")):
        how = info.get(key)
        if how and how != "maximum likelihood":
            notes.append(f"{name} fit {how}")
    left = info.get("gamma_gamma_left_out") or 0
    if left:
        notes.append(
            f"Gamma-Gamma: {left:,} customer{'s' if left != 1 else ''} with repeat purchases but "
            "a mean repeat spend of 0 or less left out of the fit (scored with the population "
            "mean spend)"
        )
    return notes


# scoring runs in chunks of this many customers, on every core (numpy and scipy release the GIL)
SCORE_CHUNK = 250_000


def _in_chunks(func: Callable[..., np.ndarray], *cols: np.ndarray) -> np.ndarray:
    """``func(*cols)`` evaluated on row chunks in a thread pool (row-wise functions only)."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    n = len(cols[0])
    workers = min(os.cpu_count() or 1, -(-n // SCORE_CHUNK))
    if workers <= 1:
        return np.asarray(func(*cols))
    bounds = range(0, n, SCORE_CHUNK)
    with ThreadPoolExecutor(workers) as pool:
        parts = pool.map(
            lambda i: np.asarray(func(*(c[i : i + SCORE_CHUNK] for c in cols))), bounds
        )
        return np.concatenate(list(parts))


def prefetch() -> Callable[[], None]:
    """Start importing the model code (pyarrow, pandas, scipy.optimize, the BG/NBD module) in
    the background.

    The imports take about half a second; started before the feature query, they run while
    DuckDB works (it releases the GIL). Returns a function that waits for them.
    """
    import threading

    def load() -> None:
        # the feature query's result comes back as Arrow, which turns into numpy through pandas
        import pandas  # noqa: F401
        import pyarrow.compute  # noqa: F401
        import scipy.optimize  # noqa: F401

        import toolkit.btyd  # noqa: F401

    thread = threading.Thread(target=load, name="toolkit-prefetch", daemon=True)
    thread.start()
    return thread.join


def add_btyd_columns(
    df: pd.DataFrame, *, horizon_days: int | None, time_unit: str = "days"
) -> dict[str, Any]:
    """Add ``p_alive``, ``expected_purchases`` and ``expected_value`` to a features frame in place.

    Returns the fit summary.
    """
    import numpy as np

    cols, info = btyd_scores(
        df["frequency"].to_numpy(np.float64),
        df["recency"].to_numpy(np.float64),
        df["T"].to_numpy(np.float64),
        df["monetary"].to_numpy(np.float64),
        horizon_days=horizon_days or DEFAULT_BTYD_DAYS,
        time_unit=time_unit,
    )
    for name, values in cols.items():
        df[name] = values
    return info
