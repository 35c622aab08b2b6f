"""CLV for every customer of a BTYD summary: BG/NBD + Gamma-Gamma, as ``toolkit clv`` writes it.

The summary is one row per customer with frequency, recency, T and optionally the mean spend
of repeat purchases (lifetimes' names, or the CDNOW paper's x, t_x, T, zbar).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from toolkit.btyd._bgnbd import STANDARD_PENALIZER, BetaGeoModel, fit_flags, fit_standard
from toolkit.btyd._gamma_gamma import PERIOD_LENGTH, GammaGammaModel

if TYPE_CHECKING:
    import pandas as pd

# accepted spellings of the summary columns, compared after toolkit.io.normalise
# (case, spaces and underscores ignored): lifetimes' names and the BTYD/CDNOW ones
SUMMARY_SPELLINGS = {
    "frequency": ("frequency", "x"),
    "recency": ("recency", "tx"),
    "T": ("t",),
    "monetary_value": ("monetaryvalue", "monetary", "zbar"),
}

OUTPUT_COLUMNS = [
    "customer_id",
    "frequency",
    "recency",
    "T",
    "monetary_value",
    "p_alive",
    "expected_purchases",
    "p_any_purchase",
    "expected_avg_spend",
    "clv",
]


def find_summary_columns(columns: list[str]) -> dict[str, str]:
    """Map frequency / recency / T / monetary_value to the columns of a summary table.

    Examples
    --------
    >>> find_summary_columns(["ID", "x", "t_x", "T", "zbar"])
    {'frequency': 'x', 'recency': 't_x', 'T': 'T', 'monetary_value': 'zbar'}
    """
    from toolkit.io import normalise

    by_norm: dict[str, str] = {}
    for col in columns:
        by_norm.setdefault(normalise(str(col)), col)
    found = {}
    for role, spellings in SUMMARY_SPELLINGS.items():
        for s in spellings:
            if s in by_norm:
                found[role] = by_norm[s]
                break
    return found


def run_clv(
    summary: pd.DataFrame,
    *,
    horizon: float,
    discount_rate: float,
    time_unit: str,
    penalizer: float | None,
) -> tuple[pd.DataFrame, dict[str, Any], BetaGeoModel, list[str]]:
    """Fit BG/NBD (+ Gamma-Gamma when there is spend) and score every customer.

    ``summary`` has customer_id, frequency, recency, T and optionally monetary_value;
    ``horizon`` is in the time unit of the summary. Returns the customers frame, the params dict
    written to params.json, the fitted BG/NBD model, and the notes to tell the user (fitting
    warnings other than the flags in the params, what the spend model covered).

    ``penalizer`` None is the toolkit's standard fit (:func:`toolkit.btyd.fit_standard`), the
    one ``toolkit features`` and ``toolkit train`` make at the same cutoff; a number fits both
    models with that penalty on every customer (0: plain maximum likelihood, as in the
    published fits).
    """
    import warnings

    import numpy as np

    notes: list[str] = []
    x = summary["frequency"].to_numpy(np.float64)
    tx = summary["recency"].to_numpy(np.float64)
    T = summary["T"].to_numpy(np.float64)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if penalizer is None:
            bg = fit_standard(x, tx, T)
        else:
            bg = BetaGeoModel(penalizer=penalizer).fit(x, tx, T)
    flags = fit_flags(bg.params_, bg.standard_errors_, bg.boundary_warnings_)
    for w in caught:
        if str(w.message) not in flags:
            notes.append(f"warning: {w.message}")

    out = summary.copy()
    if "monetary_value" not in out.columns:
        out["monetary_value"] = np.nan
    out["p_alive"] = bg.p_alive(x, tx, T)
    out["expected_purchases"] = bg.expected_purchases(horizon, x, tx, T)
    out["p_any_purchase"] = bg.p_any_purchase(horizon, x, tx, T)

    period = PERIOD_LENGTH["monthly"][time_unit]
    gg_params: dict[str, Any] | None = None
    m = out["monetary_value"].to_numpy(np.float64)
    has_spend = "monetary_value" in summary.columns and bool(np.isfinite(m).any())
    if has_spend and (x > 0).sum() >= 2:
        # the spend of every repeat customer is validated: a bad value is an input error
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gg = GammaGammaModel(
                penalizer=STANDARD_PENALIZER if penalizer is None else penalizer
            ).fit(x, m)
        for w in caught:
            notes.append(f"warning: {w.message}")
        gg_params = gg.summary()
        out["expected_avg_spend"] = gg.expected_spend(x, m)
        out["clv"] = gg.customer_lifetime_value(
            bg,
            x,
            tx,
            T,
            m,
            horizon=horizon / period,
            discount_rate=discount_rate,
            time_unit=time_unit,  # type: ignore[arg-type]
        )
        notes.append(
            f"Gamma-Gamma on {gg.n_customers_:,} customers with repeat purchases "
            f"({gg.n_excluded_:,} without are not fitted; they get the population mean spend)"
        )
    else:
        out["expected_avg_spend"] = np.nan
        out["clv"] = np.nan
        why = "no monetary value column" if not has_spend else "fewer than 2 repeat customers"
        notes.append(
            f"no Gamma-Gamma spend model ({why}): expected_avg_spend and clv are left empty"
        )

    params = {
        "bgnbd": {
            **bg.summary(),
            "time_unit": time_unit,
            "fit": "standard (toolkit.btyd.fit_standard)"
            if penalizer is None
            else f"penalizer {penalizer:g}, every customer",
            "flags": flags,
        },
        "gamma_gamma": gg_params,
        "prediction": {
            "horizon": horizon,
            "time_unit": time_unit,
            "discount_rate": discount_rate,
            "discount_period": f"month ({period:g} {time_unit})",
            "n_periods": horizon / period,
            "columns": {
                "p_alive": "P(alive) at the end of the observation period",
                "expected_purchases": f"expected purchases in the next {horizon:g} {time_unit}",
                "p_any_purchase": f"P(at least one purchase in the next {horizon:g} {time_unit})",
                "expected_avg_spend": "Gamma-Gamma expected spend per purchase",
                "clv": "expected purchases x expected spend, discounted monthly, over the horizon",
            },
        },
    }
    return out[OUTPUT_COLUMNS], params, bg, notes
