"""What a customer is worth if retained: the basis of ``expected_value`` and ``value_at_risk``.

``value_at_risk = churn_probability x expected_value``, where ``expected_value`` is what the
customer is expected to spend over the horizon **if still active**. It must not already be
discounted by the chance that the customer is gone (a CLV that multiplies by P(alive) makes a
customer judged lost worth nothing, so nothing would be at risk where most is).

The value models, in order of preference:

- ``bgnbd_gg`` (transaction logs): BG/NBD expected purchase days in the horizon *given alive*
  x Gamma-Gamma expected spend per purchase day. Both are fitted at the cutoff the models score
  (BG/NBD with :func:`toolkit.btyd.fit_standard`, Gamma-Gamma with
  :func:`toolkit.btyd.fit_spend`: the same fits ``toolkit features`` and ``toolkit clv`` make
  there; ``bgnbd_fit`` and ``gamma_gamma_fit`` in the model say whether either needed the
  penalty, ``gamma_gamma_left_out`` how many customers, whose purchases net to 0 or less, were
  left out of the spend fit and valued at the population mean). The Gamma-Gamma model is
  fitted on every purchase day of each customer, the first included (``n = frequency + 1``
  days, mean ``lifetime_spend / n``): for a one-time buyer that first purchase is the only
  evidence of what they spend (lifetimes leaves it out, which values every one-time buyer at
  the population mean; on Online Retail, counting it puts 2.5x more of the money really lost
  in the first 200 rows of the churn list).
- ``spend_rate``: the customer's historical spend per day x the horizon in days, when the
  models above cannot be fitted.
- ``column`` (customer tables): a spend column of the table (``--value-col``, or found by its
  name: MonthlyCharges, monthly_spend, revenue ...), the value per period as the table gives it.
- ``naive``: "last period carried forward": the customer's net spend in the recent window
  nearest the horizon (30, 90 or 180 days), scaled to the horizon (:func:`naive_forecast`).
- ``supervised``: XGBoost on net spend given a purchase (``toolkit.models``), when the
  out-of-time comparison of the value forecasts chose it.
- ``none``: nothing to value customers by; ``value_at_risk`` is empty.

Every spend here is net of returns (the features' ``lifetime_spend``, ``spend_90d`` ...).

Every model is stored as plain parameters in the model directory.
"""

from __future__ import annotations

import re
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from toolkit.btyd._bgnbd import BetaGeoModel, fit_flags, fit_standard
from toolkit.btyd._gamma_gamma import GammaGammaModel, fit_spend

if TYPE_CHECKING:
    import pandas as pd

BTYD = ("frequency", "recency", "T", "lifetime_spend")
RATE = ("lifetime_spend", "tenure_days")

#: words in a column name that mark a customer table's spend column, most specific first
_VALUE_WORDS = (
    "monthlycharges",
    "monthlyspend",
    "monthlyrevenue",
    "monthlyfee",
    "arpu",
    "charges",
    "spend",
    "spending",
    "revenue",
    "sales",
    "billing",
    "amount",
    "clv",
    "ltv",
)
#: ... and words that mark something else (a score, a count, a share)
_NOT_VALUE_WORDS = ("score", "count", "number", "num", "rate", "ratio", "pct", "percent", "share")


def find_value_column(frame: pd.DataFrame, exclude: tuple[str, ...] = ()) -> str | None:
    """A numeric, non-negative spend-like column of a customer table, by its name.

    Monthly charges or spend first, then revenue, sales, charges, spend, amount. Columns whose
    names speak of a score, count or rate are not spend.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"tenure": [1, 2], "MonthlyCharges": [20.5, 70.0],
    ...                   "TotalCharges": [20.5, 140.0], "Spending Score": [3, 4]})
    >>> find_value_column(t)
    'MonthlyCharges'
    """
    import pandas as pd

    def norm(name: str) -> str:
        return re.sub(r"[^a-z0-9]", "", name.lower())

    candidates = []
    for col in frame.columns:
        name = str(col)
        if name in exclude or name == "customer_id":
            continue
        key = norm(name)
        if any(w in key for w in _NOT_VALUE_WORDS):
            continue
        rank = next((i for i, w in enumerate(_VALUE_WORDS) if w in key), None)
        if rank is None:
            continue
        values = frame[col]
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            continue
        v = values.to_numpy(dtype=np.float64, na_value=np.nan)
        if not np.isfinite(v).any() or np.nanmin(v) < 0:
            continue
        candidates.append((rank, name))
    return min(candidates)[1] if candidates else None


def fit_value_model(
    frame: pd.DataFrame,
    *,
    horizon_days: float | None,
    time_unit: str = "days",
    value_column: str | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Choose and fit the value model on the customers at the cutoff the models score.

    Returns a JSON-ready dict with ``kind`` ("bgnbd_gg", "spend_rate", "column" or "none"), a
    ``note`` and, for ``bgnbd_gg``, the parameters and any flags of the fits.

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"lifetime_spend": [100.0, 50.0], "tenure_days": [100, 50]})
    >>> fit_value_model(f, horizon_days=30)["kind"]
    'spend_rate'
    >>> t = pd.DataFrame({"MonthlyCharges": [20.0, 70.0]})
    >>> fit_value_model(t, horizon_days=None, value_column="MonthlyCharges")["kind"]
    'column'
    """
    if value_column is not None:
        return {
            "kind": "column",
            "column": value_column,
            "note": f"expected value = {value_column!r} (the value per period, as the table "
            "gives it)",
        }
    horizon = float(horizon_days or 90)
    problems: list[str] = []
    if all(c in frame.columns for c in BTYD):
        try:
            return _fit_bgnbd_gg(frame, horizon, time_unit)
        except Exception as exc:  # any failure of the fits falls back to the spend rate
            problems.append(f"the BG/NBD + Gamma-Gamma value could not be fitted ({exc})")
    elif "frequency" in frame.columns or "tenure_days" in frame.columns:
        lacking = ", ".join(c for c in BTYD if c not in frame.columns)
        problems.append(f"the data has no {lacking} column for a BG/NBD value")
    if all(c in frame.columns for c in RATE):
        return {
            "kind": "spend_rate",
            "horizon_days": horizon,
            "note": "; ".join(
                problems + [f"expected value = historical spend per day x {horizon:g} days"]
            ),
        }
    problems.append(
        "no spend column: give `value_column` COL (a spend per customer, e.g. MonthlyCharges)"
    )
    return {"kind": "none", "note": "; ".join(problems)}


def _spend_days(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Purchase days (first included) and mean spend per purchase day of each customer."""
    n = frame["frequency"].to_numpy(dtype=np.float64, na_value=0.0) + 1.0
    spend = frame["lifetime_spend"].to_numpy(dtype=np.float64, na_value=0.0)
    return n, np.maximum(spend, 0.0) / n


def _fit_bgnbd_gg(frame: pd.DataFrame, horizon: float, time_unit: str) -> dict[str, Any]:
    x = frame["frequency"].to_numpy(dtype=np.float64)
    t = frame["recency"].to_numpy(dtype=np.float64)
    T = frame["T"].to_numpy(dtype=np.float64)
    n, mean = _spend_days(frame)
    ok = mean > 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bg = fit_standard(x, t, T)
        if int(ok.sum()) < 10:
            raise ValueError(f"{int(ok.sum())} customers with a positive spend (at least 10)")
        # a customer whose purchases net to 0 or less is left out of the fit (and valued at
        # the population mean spend per day, as one with no spend evidence)
        gg = fit_spend(n, mean, n_starts=1)
    if gg.params_["q"] <= 1:
        raise ValueError(f"Gamma-Gamma q = {gg.params_['q']:.3g} <= 1 (infinite mean spend)")
    bg_flags = fit_flags(bg.params_, bg.standard_errors_, bg.boundary_warnings_)
    return {
        "kind": "bgnbd_gg",
        "bgnbd": {k: float(v) for k, v in bg.params_.items()},
        "bgnbd_standard_errors": {k: float(v) for k, v in bg.standard_errors_.items()},
        "bgnbd_flags": bg_flags,
        "bgnbd_fit": bg.fit_,
        "gamma_gamma": {k: float(v) for k, v in gg.params_.items()},
        "gamma_gamma_fit": gg.fit_,
        "gamma_gamma_left_out": gg.n_nonpositive_,
        "horizon_days": horizon,
        "time_unit": time_unit,
        "note": (
            f"expected value = BG/NBD purchase days in the next {horizon:g} days if still active "
            "x Gamma-Gamma spend per purchase day"
        ),
        "fit_notes": sorted({str(w.message) for w in caught} - set(bg_flags)),
    }


def _bg(model: dict[str, Any]) -> Any:
    bg = BetaGeoModel()
    bg.params_ = dict(model["bgnbd"])
    return bg


def expected_value(model: dict[str, Any], frame: pd.DataFrame) -> np.ndarray:
    """Expected spend of each customer over the horizon if retained (NaN where unknown).

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"lifetime_spend": [100.0], "tenure_days": [50]})
    >>> expected_value({"kind": "spend_rate", "horizon_days": 10}, f).tolist()
    [20.0]
    """
    n = len(frame)
    kind = model.get("kind")
    if kind in ("bgnbd_gg", "clv") and all(
        c in frame.columns for c in ("frequency", "recency", "T")
    ):
        gg = GammaGammaModel()
        gg.params_ = dict(model["gamma_gamma"])
        x = frame["frequency"].to_numpy(dtype=np.float64)
        unit = 7.0 if model.get("time_unit") == "weeks" else 1.0
        alive = _bg(model).expected_purchases_if_alive(
            float(model["horizon_days"]) / unit,
            x,
            frame["recency"].to_numpy(dtype=np.float64),
            frame["T"].to_numpy(dtype=np.float64),
        )
        if kind == "bgnbd_gg" and "lifetime_spend" in frame.columns:
            days, mean = _spend_days(frame)
            spend = gg.expected_spend(days, mean)
        elif "monetary" in frame.columns:  # a model directory of an earlier version
            m = frame["monetary"].to_numpy(dtype=np.float64, na_value=0.0)
            spend = gg.expected_spend(x, np.where(x > 0, m, 0.0))
        else:
            return np.full(n, np.nan)
        return np.asarray(alive * np.nan_to_num(spend, nan=0.0))
    if kind in ("bgnbd_gg", "clv", "spend_rate") and all(c in frame.columns for c in RATE):
        spend = frame["lifetime_spend"].to_numpy(dtype=np.float64, na_value=np.nan)
        days = np.maximum(frame["tenure_days"].to_numpy(dtype=np.float64, na_value=np.nan), 1.0)
        return np.asarray(np.maximum(spend, 0.0) / days * float(model["horizon_days"]))
    if kind == "naive":
        return naive_forecast(frame, float(model["horizon_days"]))
    if kind == "column" and model.get("column") in frame.columns:
        values = frame[model["column"]].to_numpy(dtype=np.float64, na_value=np.nan)
        return np.asarray(np.maximum(values, 0.0))
    return np.full(n, np.nan)


#: the features' recent spend windows (days), for "last period carried forward"
NAIVE_WINDOWS = (30, 90, 180)


def naive_window(horizon_days: float) -> int:
    """The recent spend window nearest ``horizon_days`` (by ratio).

    Examples
    --------
    >>> naive_window(91), naive_window(182), naive_window(45), naive_window(365)
    (90, 180, 30, 180)
    """
    return min(NAIVE_WINDOWS, key=lambda w: (abs(np.log(horizon_days / w)), -w))


def naive_forecast(frame: pd.DataFrame, horizon_days: float) -> np.ndarray:
    """ "Last period carried forward": net spend in the window nearest the horizon, scaled to it.

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"spend_90d": [90.0, 0.0]})
    >>> naive_forecast(f, 60).tolist()
    [60.0, 0.0]
    """
    w = naive_window(horizon_days)
    spend = frame[f"spend_{w}d"].to_numpy(dtype=np.float64, na_value=0.0)
    return np.asarray(np.maximum(spend, 0.0) * horizon_days / w)


def forecast_spend(model: dict[str, Any], frame: pd.DataFrame) -> np.ndarray:
    """Expected net spend of each customer over the model's horizon, not given that he is
    retained (what is compared with real spend; NaN where unknown).

    ``bgnbd_gg``: BG/NBD expected purchase days (the chance that the customer is gone included)
    x Gamma-Gamma spend per purchase day; ``naive``: :func:`naive_forecast`; others: their
    :func:`expected_value`.

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"spend_30d": [30.0]})
    >>> forecast_spend({"kind": "naive", "horizon_days": 10}, f).tolist()
    [10.0]
    """
    if model.get("kind") in ("bgnbd_gg", "clv") and all(
        c in frame.columns for c in ("frequency", "recency", "T", "lifetime_spend")
    ):
        gg = GammaGammaModel()
        gg.params_ = dict(model["gamma_gamma"])
        unit = 7.0 if model.get("time_unit") == "weeks" else 1.0
        x = frame["frequency"].to_numpy(dtype=np.float64)
        purchases = _bg(model).expected_purchases(
            float(model["horizon_days"]) / unit,
            x,
            frame["recency"].to_numpy(dtype=np.float64),
            frame["T"].to_numpy(dtype=np.float64),
        )
        days, mean = _spend_days(frame)
        return np.asarray(purchases * np.nan_to_num(gg.expected_spend(days, mean), nan=0.0))
    return expected_value(model, frame)


def median_days_to_next_order(model: dict[str, Any], frame: pd.DataFrame) -> np.ndarray | None:
    """Median days from the cutoff to each customer's next order if still active (BG/NBD), or
    None when the value model has no BG/NBD fit."""
    # every value model of a log keeps its cutoff's BG/NBD fit for this, whichever value won
    if not model.get("bgnbd") or not all(c in frame.columns for c in ("frequency", "T")):
        return None
    unit = 7.0 if model.get("time_unit") == "weeks" else 1.0
    wait = _bg(model).median_wait_if_alive(
        frame["frequency"].to_numpy(dtype=np.float64), frame["T"].to_numpy(dtype=np.float64)
    )
    return np.asarray(wait * unit)
