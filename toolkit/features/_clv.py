"""BG/NBD + Gamma-Gamma CLV for every customer of a file: what ``toolkit clv`` computes.

The file is a frequency / recency / T summary (:func:`toolkit.btyd.summary_from_table`) or a
transaction log, whose summary is its features (:func:`compute_features`): that is why this
lives here, above :mod:`toolkit.btyd`, which fits and scores (:func:`toolkit.btyd.run_clv`).
Nothing here prints: notes come back to the caller.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit._history import too_short_to_value
from toolkit.btyd._clv import clv_horizon, run_clv, summary_columns, summary_from_table
from toolkit.errors import InputError
from toolkit.features._build import compute_features
from toolkit.io import read_transactions

if TYPE_CHECKING:
    import pandas as pd

    from toolkit.btyd import BetaGeoModel
    from toolkit.io import ColumnMapping, Transactions


def _quiet(_text: str) -> None:
    pass


@dataclass
class ClvResult:
    """What :func:`fit_clv` computed: every customer's scores (customers.csv), the parameters
    (params.json), the fitted BG/NBD model, and the notes on the fit to tell the user."""

    customers: pd.DataFrame
    params: dict[str, Any]
    model: BetaGeoModel
    notes: list[str] = field(default_factory=list)
    #: whether the data was a transaction log (not a frequency / recency / T summary)
    from_log: bool = False
    #: the out-of-time comparison of the value forecasts, where one was made (the engines' clv)
    value_forecast: dict[str, Any] | None = None


def fit_clv(
    data: Path,
    *,
    horizon: float | None = None,
    discount_rate: float = 0.01,
    time_unit: str = "days",
    penalizer: float | None = None,
    cutoff: str | None = None,
    id_column: str | None = None,
    mapping: ColumnMapping | None = None,
    date_format: str | None = None,
    sep: str | None = None,
    names: list[str] | None = None,
    notify: Callable[[str], None] = _quiet,
    on_log: Callable[[Transactions], None] | None = None,
    progress: Callable[[str], None] = _quiet,
) -> ClvResult:
    """Read ``data`` (a summary table or a transaction log), fit BG/NBD and Gamma-Gamma, and
    score every customer over ``horizon`` (in ``time_unit``; default 12 months).

    ``cutoff`` applies to a transaction log only (default: the day after the last purchase);
    ``mapping``, ``date_format``, ``sep`` and ``names`` are the reading options of
    :func:`toolkit.io.read_transactions`. While reading, ``notify`` receives the notes as they
    arise and ``on_log`` the opened transaction log (to report how it was read), so that an
    error later still follows them; the fit's notes come back in the result.
    """
    horizon = clv_horizon(horizon, discount_rate=discount_rate, time_unit=time_unit)
    progress("reading")
    cols = summary_columns(data, sep=sep, names=names)
    if "frequency" in cols:
        if cutoff is not None:
            raise InputError(
                f"`cutoff` applies to transaction logs only; {data} is already a summary "
                f"(it has a {cols['frequency']!r} column)"
            )
        notify(
            f"{data} is a summary table: using "
            + ", ".join(f"{c!r} as {role}" for role, c in cols.items())
            + f" (recency and T in {time_unit})"
        )
        summary = summary_from_table(
            data, cols, sep=sep, names=names, id_column=id_column, notify=notify
        )
    else:
        progress("summarising transactions")
        summary = _summary_from_log(
            data,
            time_unit=time_unit,
            cutoff=cutoff,
            on_log=on_log,
            mapping=mapping,
            date_format=date_format,
            sep=sep,
            names=names,
        )
    progress("fitting")
    try:
        customers, params, bg, notes = run_clv(
            summary,
            horizon=horizon,
            discount_rate=discount_rate,
            time_unit=time_unit,
            penalizer=penalizer,
        )
    except InputError as exc:
        raise _named(data, cols, exc) from None
    params["source"] = str(data)
    if "frequency" not in cols:  # a log: its history is known, and may be too short
        days_per_unit = 7 if time_unit == "weeks" else 1
        # T is the age at the end of the calibration period: (cutoff - 1 day) - first purchase
        history = int(round(float(summary["T"].max()) * days_per_unit)) + 1
        short = too_short_to_value(
            history,
            float(horizon) * days_per_unit,
            int((summary["frequency"] > 0).sum()),
            "the expected purchases and clv in customers.csv reach beyond what this history "
            "can tell",
        )
        if short is not None:
            notes.insert(0, short)
    return ClvResult(customers, params, bg, notes, from_log="frequency" not in cols)


def _summary_from_log(
    path: Path,
    *,
    time_unit: str,
    cutoff: str | None,
    on_log: Callable[[Transactions], None] | None,
    **read_kwargs: Any,
) -> pd.DataFrame:
    """customer_id, frequency, recency, T and monetary_value of a transaction log's customers."""

    tx = read_transactions(path, **read_kwargs)
    try:
        if on_log is not None:
            on_log(tx)
        feats = compute_features(tx, cutoff=cutoff, time_unit=time_unit)
    finally:
        tx.close()
    out = feats[["customer_id", "frequency", "recency", "T", "monetary"]].rename(
        columns={"monetary": "monetary_value"}
    )
    return out.astype({"frequency": "float64", "recency": "float64", "T": "float64"})


def _named(path: Path, cols: dict[str, str], exc: InputError) -> InputError:
    names = (
        ", ".join(f"{role}={col!r}" for role, col in cols.items()) or "computed from transactions"
    )
    return InputError(f"{path} (columns {names}): {exc}")
