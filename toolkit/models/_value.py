"""What a customer is expected to be worth over the horizon: the basis of ``value_at_risk``.

Preferred: BG/NBD + Gamma-Gamma customer lifetime value over the horizon (discounted monthly).
When that cannot be fitted (no repeat customers, no monetary column, an infinite population mean
spend), the historical spend rate: ``lifetime_spend / tenure_days x horizon days``. Both are
stored as plain parameters.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

BTYD = ("frequency", "recency", "T", "monetary")
RATE = ("lifetime_spend", "tenure_days")
DISCOUNT_RATE = 0.01  # per month


def fit_value_model(
    frame: pd.DataFrame,
    *,
    horizon_days: float | None,
    time_unit: str = "days",
    bgnbd_params: dict[str, float] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Choose and fit the value model on one observation period's customers.

    Returns a JSON-ready dict with ``kind`` = "clv", "spend_rate" or "none" and a ``note``.

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"lifetime_spend": [100.0, 50.0], "tenure_days": [100, 50]})
    >>> fit_value_model(f, horizon_days=30)["kind"]
    'spend_rate'
    """
    horizon = float(horizon_days or 90)
    problems: list[str] = []
    if all(c in frame.columns for c in BTYD):
        try:
            from toolkit.models.bgnbd import BetaGeoModel, GammaGammaModel

            x = frame["frequency"].to_numpy(dtype=np.float64)
            t = frame["recency"].to_numpy(dtype=np.float64)
            T = frame["T"].to_numpy(dtype=np.float64)
            m = frame["monetary"].to_numpy(dtype=np.float64)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                if bgnbd_params is None:
                    bgnbd_params = dict(BetaGeoModel(random_state=seed).fit(x, t, T).params_)
                gg = GammaGammaModel(random_state=seed).fit(x, np.where(x > 0, m, 0.0))
            if gg.params_["q"] <= 1:
                raise ValueError(f"Gamma-Gamma q = {gg.params_['q']:.3g} <= 1")
            return {
                "kind": "clv",
                "bgnbd": {k: float(v) for k, v in bgnbd_params.items()},
                "gamma_gamma": {k: float(v) for k, v in gg.params_.items()},
                "horizon_days": horizon,
                "time_unit": time_unit,
                "discount_rate_monthly": DISCOUNT_RATE,
                "note": (
                    f"expected value = BG/NBD + Gamma-Gamma CLV over the next {horizon:g} days, "
                    f"discounted at {DISCOUNT_RATE:.0%} a month"
                ),
                "fit_notes": sorted({str(w.message) for w in caught}),
            }
        except Exception as exc:  # any failure of the CLV fit falls back to the spend rate
            problems.append(f"the Gamma-Gamma CLV could not be fitted ({exc})")
    else:
        lacking = ", ".join(c for c in BTYD if c not in frame.columns)
        problems.append(f"the data has no {lacking} column for a CLV")
    if all(c in frame.columns for c in RATE):
        return {
            "kind": "spend_rate",
            "horizon_days": horizon,
            "note": "; ".join(problems)
            + f"; expected value = historical spend per day x {horizon:g} days",
        }
    return {
        "kind": "none",
        "note": "; ".join(problems) + ", and no spend columns for a spend rate either",
    }


def expected_value(model: dict[str, Any], frame: pd.DataFrame) -> np.ndarray:
    """Expected value of each customer over the horizon (NaN where it cannot be computed)."""
    n = len(frame)
    kind = model.get("kind")
    if kind == "clv" and all(c in frame.columns for c in BTYD):
        from toolkit.models.bgnbd import BetaGeoModel, GammaGammaModel

        bg = BetaGeoModel()
        bg.params_ = dict(model["bgnbd"])
        gg = GammaGammaModel()
        gg.params_ = dict(model["gamma_gamma"])
        x = frame["frequency"].to_numpy(dtype=np.float64)
        m = frame["monetary"].to_numpy(dtype=np.float64)
        months = float(model["horizon_days"]) / 30.0
        return np.asarray(
            gg.customer_lifetime_value(
                bg,
                x,
                frame["recency"].to_numpy(dtype=np.float64),
                frame["T"].to_numpy(dtype=np.float64),
                np.where(x > 0, np.nan_to_num(m), 0.0),
                horizon=months,
                discount_rate=float(model.get("discount_rate_monthly", DISCOUNT_RATE)),
                time_unit=model.get("time_unit", "days"),
                freq="monthly",
            ),
            dtype=np.float64,
        )
    if kind in ("clv", "spend_rate") and all(c in frame.columns for c in RATE):
        spend = frame["lifetime_spend"].to_numpy(dtype=np.float64)
        days = np.maximum(frame["tenure_days"].to_numpy(dtype=np.float64), 1.0)
        return np.asarray(spend / days * float(model["horizon_days"]))
    return np.full(n, np.nan)
