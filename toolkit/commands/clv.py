"""``toolkit clv``: BG/NBD + Gamma-Gamma on a transaction log or a frequency/recency/T summary."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from toolkit.commands.common import (
    InputFile,
    ReadOptions,
    TimeUnit,
    announce_reading,
    announce_table,
    app,
    handle_errors,
    info,
    progress,
    with_raw_text,
    with_read_options,
)
from toolkit.errors import InputError

if TYPE_CHECKING:
    import pandas as pd


def _columns_of(path: Path, read: ReadOptions) -> list[str]:
    """The column names of ``path`` without reading its rows."""
    from toolkit.io import connect
    from toolkit.io._read import open_raw

    kwargs = read.read_kwargs()
    con = connect()
    try:
        raw = open_raw(con, path, sep=kwargs["sep"], names=kwargs["names"])
        raw.close()
    finally:
        con.close()
    return [str(c) for c in raw.columns]


def _summary_from_table(path: Path, read: ReadOptions, cols: dict[str, str]) -> pd.DataFrame:
    import pandas as pd

    from toolkit.io import find_id_column, read_table

    kwargs = read.read_kwargs()
    table = read_table(path, sep=kwargs["sep"], names=kwargs["names"], id_column=read.customer_col)
    announce_table(table)
    missing = [role for role in ("frequency", "recency", "T") if role not in cols]
    if missing:
        raise InputError(
            f"{path}: a summary table needs the columns frequency, recency and T (or x, t_x, T); "
            f"missing {', '.join(missing)}; columns found: {list(table.columns)}"
        )
    out = pd.DataFrame(index=table.index)
    idcol = read.customer_col or find_id_column(list(table.columns))
    if idcol is not None:
        out["customer_id"] = table[idcol].astype("string")
    else:
        out["customer_id"] = pd.Series(range(1, len(table) + 1), index=table.index).astype("string")
        info(f"{path} has no customer id column: rows are numbered 1..{len(table)} instead")
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


def _summary_from_transactions(
    path: Path, read: ReadOptions, time_unit: str, cutoff: str | None
) -> pd.DataFrame:
    from toolkit.features import compute_features
    from toolkit.io import read_transactions

    tx = read_transactions(path, **read.read_kwargs())
    try:
        announce_reading(tx)
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


#: the longest --horizon, in months
MAX_HORIZON_MONTHS = 1200


@app.command()
@with_raw_text
@with_read_options
@handle_errors
def clv(
    data: InputFile,
    out: Annotated[
        Path,
        typer.Option("--out", file_okay=False, help="Output directory (created if missing)."),
    ],
    horizon: Annotated[
        float | None,
        typer.Option(
            "--horizon",
            help="Prediction window in --time-unit for expected purchases, P(any purchase) and "
            "CLV. Default: 12 months (360 days or 52.14 weeks).",
        ),
    ] = None,
    discount_rate: Annotated[
        float,
        typer.Option(
            "--discount-rate",
            min=0.0,
            help="Discount rate per month for CLV (0.01 = 1 % a month, ~12.7 % a year).",
        ),
    ] = 0.01,
    time_unit: Annotated[
        TimeUnit,
        typer.Option(
            "--time-unit",
            help="Unit of recency, T and --horizon (a summary table's recency and T are read in "
            "it; a transaction log is summarised in it).",
        ),
    ] = TimeUnit.days,
    penalizer: Annotated[
        float | None,
        typer.Option(
            "--penalizer",
            min=0.0,
            help="L2 penalty on the log-parameters of both models (0 = plain maximum "
            "likelihood, as in the published fits). Default: the toolkit's standard fit "
            f"({0.001:g}), the same one features and train make at the same cutoff.",
        ),
    ] = None,
    cutoff: Annotated[
        str | None,
        typer.Option(
            "--cutoff",
            help="Transaction logs only: summarise purchases strictly before this date "
            "(YYYY-MM-DD). Default: the day after the last purchase.",
        ),
    ] = None,
    *,
    read: ReadOptions,
) -> None:
    """BG/NBD and Gamma-Gamma: P(alive), expected purchases and CLV for every customer.

    DATA is a transaction log, or a summary table with frequency, recency, T (and optionally
    monetary_value); the lifetimes/CDNOW names x, t_x, T, zbar work too. Writes
    OUT/customers.csv, OUT/params.json and OUT/p_alive_matrix.png.
    """
    import json

    import numpy as np

    from toolkit._json import jsonable
    from toolkit.btyd import PERIOD_LENGTH
    from toolkit.btyd._clv import find_summary_columns, run_clv
    from toolkit.io import staged_outputs, write_frame
    from toolkit.reports.btyd_plots import p_alive_matrix, plot_p_alive_matrix

    unit = time_unit.value
    if horizon is not None and not horizon > 0:
        raise InputError(f"--horizon must be > 0 (in {unit}), got {horizon:g}")
    # CLV sums a discounted term per month of the horizon: past a century it means nothing
    # and only costs time (1e9 weeks never finished)
    longest = MAX_HORIZON_MONTHS * PERIOD_LENGTH["monthly"][unit]
    if horizon is not None and not horizon <= longest:
        raise InputError(
            f"--horizon must be at most {longest:g} {unit} ({MAX_HORIZON_MONTHS // 12} years), "
            f"got {horizon:g}"
        )
    if not math.isfinite(discount_rate):
        raise InputError(f"--discount-rate must be a finite number >= 0, got {discount_rate:g}")
    if horizon is None:
        horizon = 12 * PERIOD_LENGTH["monthly"][unit]
    with progress("clv") as update:
        update("reading")
        cols = find_summary_columns(_columns_of(data, read))
        if "frequency" in cols:
            if cutoff is not None:
                raise InputError(
                    f"--cutoff applies to transaction logs only; {data} is already a summary "
                    f"(it has a {cols['frequency']!r} column)"
                )
            info(
                f"{data} is a summary table: using "
                + ", ".join(f"{c!r} as {role}" for role, c in cols.items())
                + f" (recency and T in {unit})"
            )
            summary = _summary_from_table(data, read, cols)
        else:
            update("summarising transactions")
            summary = _summary_from_transactions(data, read, unit, cutoff)
        update("fitting")
        try:
            customers, params, bg, notes = run_clv(
                summary,
                horizon=float(horizon),
                discount_rate=discount_rate,
                time_unit=unit,
                penalizer=penalizer,
            )
        except InputError as exc:
            raise _named(data, cols, exc) from None
        for note in notes:
            info(note)
        params["source"] = str(data)
        update("writing")
        # the three outputs land together, or none of them
        with staged_outputs(out) as stage:
            write_frame(customers, stage / "customers.csv")
            (stage / "params.json").write_text(
                json.dumps(jsonable(params), indent=2) + "\n", encoding="utf-8"
            )
            x = customers["frequency"].to_numpy(np.float64)
            matrix = p_alive_matrix(
                bg,
                T=float(customers["T"].max()),
                max_frequency=int(max(np.quantile(x, 0.99), 1)),
            )
            plot_p_alive_matrix(matrix, stage / "p_alive_matrix.png")
    b = params["bgnbd"]
    info(
        f"BG/NBD on {int(b['n_customers']):,} customers: r={b['r']:.4g} alpha={b['alpha']:.4g} "
        f"a={b['a']:.4g} b={b['b']:.4g}, log-likelihood {b['log_likelihood']:.1f}"
    )
    for flag in b["flags"]:
        info(f"flag: {flag}")
    info(f"wrote {out / 'customers.csv'}, {out / 'params.json'}, {out / 'p_alive_matrix.png'}")
