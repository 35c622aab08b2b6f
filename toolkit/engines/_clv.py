"""``toolkit clv`` as one library call: BG/NBD + Gamma-Gamma, and on a transaction log the
value forecasts compared out of time, the champion's forecast written as ``clv``.

On a summary table (frequency, recency, T) there is nothing to compare with: ``clv`` is BG/NBD x
Gamma-Gamma, as lifetimes computes it. On a transaction log with a horizon in days, the value
forecasts (:mod:`toolkit.models.training._value`) are compared out of time at that horizon and
``clv`` is the champion's forecast of net spend over the horizon, discounted with BG/NBD's timing
of each customer's purchases (its discounted over its undiscounted value; 1 at
``discount_rate`` 0); every candidate's undiscounted forecast is a column of its own
(``value_supervised``, ``value_bgnbd_gg``, ``value_naive``, ``value_combined``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from toolkit.features._clv import ClvResult, fit_clv
from toolkit.io import read_transactions
from toolkit.models.training._from_log import value_forecasts_for_log


def _quiet(_text: str) -> None:
    pass


def clv_with_value_forecast(
    data: Path, *, compare: bool = True, seed: int = 0, **kwargs: Any
) -> ClvResult:
    """:func:`toolkit.features._clv.fit_clv` (same keywords), then, for a transaction log with
    ``time_unit`` days and ``compare``, the value comparison and its champion as ``clv``."""
    result = fit_clv(data, **kwargs)
    if not (compare and result.from_log and kwargs.get("time_unit", "days") == "days"):
        return result
    progress = kwargs.get("progress") or _quiet
    horizon = int(round(float(result.params["prediction"]["horizon"])))
    read = {k: kwargs[k] for k in ("mapping", "date_format", "sep", "names") if k in kwargs}
    tx = read_transactions(data, **read)
    try:
        progress("comparing the value forecasts")
        choice = value_forecasts_for_log(
            tx, cutoff=kwargs.get("cutoff"), horizon=horizon, seed=seed, progress=progress
        )
    finally:
        tx.close()
    if isinstance(choice, str):
        result.notes.append(
            f"value forecasts not compared out of time ({choice}): clv is BG/NBD x Gamma-Gamma"
        )
        return result
    customers = result.customers
    forecasts = choice.at_cutoff.set_index("customer_id")
    ids = customers["customer_id"].astype("string").to_numpy()
    forecasts.index = forecasts.index.astype("string")
    for name in forecasts.columns:
        customers[f"value_{name}"] = forecasts[name].reindex(ids).to_numpy()
    used = str(choice.comparison.get("used") or choice.comparison["champion"])
    if f"value_{used}" in customers.columns:
        undiscounted = customers["expected_purchases"].to_numpy(np.float64) * customers[
            "expected_avg_spend"
        ].to_numpy(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            factor = customers["clv"].to_numpy(np.float64) / undiscounted
        factor = np.where(np.isfinite(factor), factor, 1.0)
        customers["clv"] = customers[f"value_{used}"].to_numpy(np.float64) * factor
        result.params["prediction"]["columns"]["clv"] = (
            f"the {used} forecast of net spend over the horizon (the champion of the "
            "out-of-time comparison), discounted monthly with BG/NBD's timing"
        )
    result.params["value_forecast"] = choice.comparison
    result.value_forecast = choice.comparison
    result.notes += choice.notes
    return result
