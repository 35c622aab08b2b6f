"""CLV for every customer of a BTYD summary: BG/NBD + Gamma-Gamma, as ``toolkit clv`` writes it.

The summary is one row per customer with frequency, recency, T and optionally the mean spend
of repeat purchases (lifetimes' names, or the CDNOW paper's x, t_x, T, zbar).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.btyd._bgnbd import BetaGeoModel, fit_flags, fit_standard
from toolkit.btyd._gamma_gamma import PERIOD_LENGTH, fit_spend
from toolkit.errors import InputError
from toolkit.io import connect, find_id_column, normalise, read_table
from toolkit.io._read import open_raw

if TYPE_CHECKING:
    import pandas as pd

#: the longest `horizon`, in months
MAX_HORIZON_MONTHS = 1200

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


def clv_horizon(horizon: float | None, *, discount_rate: float, time_unit: str) -> float:
    """The prediction window in ``time_unit``, checked (default: 12 months); also checks that
    ``discount_rate`` is finite.

    Examples
    --------
    >>> clv_horizon(None, discount_rate=0.01, time_unit="days")
    360.0
    """
    if horizon is not None and not horizon > 0:
        raise InputError(f"`horizon` must be > 0 (in {time_unit}), got {horizon:g}")
    # CLV sums a discounted term per month of the horizon: past a century it means nothing
    # and only costs time (1e9 weeks never finished)
    longest = MAX_HORIZON_MONTHS * PERIOD_LENGTH["monthly"][time_unit]
    if horizon is not None and not horizon <= longest:
        raise InputError(
            f"`horizon` must be at most {longest:g} {time_unit} ({MAX_HORIZON_MONTHS // 12} "
            f"years), got {horizon:g}"
        )
    if not math.isfinite(discount_rate):
        raise InputError(f"`discount_rate` must be a finite number >= 0, got {discount_rate:g}")
    if horizon is None:
        horizon = 12 * PERIOD_LENGTH["monthly"][time_unit]
    return float(horizon)


def summary_columns(
    path: Path, *, sep: str | None = None, names: list[str] | None = None
) -> dict[str, str]:
    """:func:`find_summary_columns` of the file ``path``, read without its rows."""

    con = connect()
    try:
        raw = open_raw(con, path, sep=sep, names=names)
        raw.close()
    finally:
        con.close()
    return find_summary_columns([str(c) for c in raw.columns])


def summary_from_table(
    path: Path,
    cols: dict[str, str],
    *,
    sep: str | None = None,
    names: list[str] | None = None,
    id_column: str | None = None,
    notify: Callable[[str], None] = lambda _note: None,
) -> pd.DataFrame:
    """The summary table in ``path`` (its columns ``cols``, from :func:`summary_columns`) as
    customer_id (text), frequency, recency, T and monetary_value when there is one (floats).

    ``notify`` receives the notes on the reading as they arise, so that an error later still
    follows them.
    """
    import pandas as pd

    table = read_table(path, sep=sep, names=names, id_column=id_column)
    for note in getattr(table, "attrs", {}).get("notes", []):
        notify(f"note: {note}")
    missing = [role for role in ("frequency", "recency", "T") if role not in cols]
    if missing:
        raise InputError(
            f"{path}: a summary table needs the columns frequency, recency and T (or x, t_x, T); "
            f"missing {', '.join(missing)}; columns found: {list(table.columns)}"
        )
    out = pd.DataFrame(index=table.index)
    idcol = id_column or find_id_column(list(table.columns))
    if idcol is not None:
        out["customer_id"] = table[idcol].astype("string")
    else:
        out["customer_id"] = pd.Series(range(1, len(table) + 1), index=table.index).astype("string")
        notify(f"{path} has no customer id column: rows are numbered 1..{len(table)} instead")
    for role, col in cols.items():
        values = pd.to_numeric(table[col], errors="coerce")
        bad = values.isna() & table[col].notna()
        if bad.any():
            example = table[col][bad].iloc[0]
            raise InputError(
                f"{path}: column {col!r} ({role}) must be numeric; {int(bad.sum())} rows are not, "
                f"e.g. {example!r}"
            )
        out[role] = values.astype("float64")
    return out


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

    ``penalizer`` None is the toolkit's standard fit (:func:`toolkit.btyd.fit_standard`,
    :func:`toolkit.btyd.fit_spend`), the one ``toolkit features`` and ``toolkit train`` make at
    the same cutoff: plain maximum likelihood where it is interior and well determined, else a
    small penalty, said in the notes and under ``fit`` in the params. A number fits both
    models with that penalty on every customer (0: plain maximum likelihood, as in the
    published fits, even at a boundary).

    Repeat customers whose mean repeat spend is 0 or less are left out of the Gamma-Gamma fit
    (the notes and ``gamma_gamma.n_left_out_nonpositive_spend`` count them) and get the
    population mean spend; a missing spend of a repeat customer is an input error.
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
    if penalizer is None:
        notes.append(f"BG/NBD fit: {bg.fit_}")

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
    with np.errstate(invalid="ignore"):
        positive = int(((x > 0) & (m > 0)).sum())
    if has_spend and (x > 0).sum() >= 2 and positive >= 2:
        # a missing spend of a repeat customer is an input error; one of 0 or less is left out
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gg = fit_spend(x, m, penalizer=penalizer)
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
        n_left = gg.n_nonpositive_
        left_out = (
            f"; {n_left:,} with a mean repeat spend of 0 or less {'is' if n_left == 1 else 'are'} "
            "left out of the fit and get it too"
            if n_left
            else ""
        )
        notes.append(
            f"Gamma-Gamma on {gg.n_customers_:,} customers with repeat purchases "
            f"({gg.n_excluded_:,} without are not fitted; they get the population mean spend"
            f"{left_out})"
        )
        if penalizer is None:
            notes.append(f"Gamma-Gamma fit: {gg.fit_}")
    else:
        out["expected_avg_spend"] = np.nan
        out["clv"] = np.nan
        why = (
            "no monetary value column"
            if not has_spend
            else "fewer than 2 repeat customers"
            if (x > 0).sum() < 2
            else "fewer than 2 repeat customers with a mean repeat spend > 0"
        )
        notes.append(
            f"no Gamma-Gamma spend model ({why}): expected_avg_spend and clv are left empty"
        )

    params = {
        "bgnbd": {
            **bg.summary(),
            "time_unit": time_unit,
            "fit": bg.fit_ if penalizer is None else f"{bg.fit_} (the penalty asked for)",
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
