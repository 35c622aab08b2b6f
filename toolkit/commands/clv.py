"""``toolkit clv``: BG/NBD + Gamma-Gamma on a transaction log or a frequency/recency/T summary."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from toolkit.commands.common import (
    InputFile,
    ReadOptions,
    TimeUnit,
    announce_reading,
    app,
    handle_errors,
    info,
    progress,
    with_raw_text,
    with_read_options,
)


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
            help="L2 penalty on the log-parameters of both models, forced (0 = plain maximum "
            "likelihood, even at a boundary). Default: the toolkit's standard fit, the one "
            "features and train make at the same cutoff: maximum likelihood where it is "
            "interior and well determined, else the smallest penalty of 0.001, 0.01, 0.1 "
            "that is (said in the output and params.json).",
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
    from toolkit.btyd._clv import clv_horizon
    from toolkit.commands.models import value_forecast_lines
    from toolkit.engines._clv import clv_with_value_forecast
    from toolkit.reports.clv_outputs import write_clv_outputs

    unit = time_unit.value
    horizon = clv_horizon(horizon, discount_rate=discount_rate, time_unit=unit)
    with progress("clv") as update:
        result = clv_with_value_forecast(
            data,
            horizon=horizon,
            discount_rate=discount_rate,
            time_unit=unit,
            penalizer=penalizer,
            cutoff=cutoff,
            id_column=read.customer_col,
            notify=info,
            on_log=announce_reading,
            progress=update,
            **read.read_kwargs(),
        )
        for note in result.notes:
            info(note)
        update("writing")
        files = write_clv_outputs(result, out)
    b = result.params["bgnbd"]
    info(
        f"BG/NBD on {int(b['n_customers']):,} customers: r={b['r']:.4g} alpha={b['alpha']:.4g} "
        f"a={b['a']:.4g} b={b['b']:.4g}, log-likelihood {b['log_likelihood']:.1f}"
    )
    for flag in b["flags"]:
        info(f"flag: {flag}")
    for line in value_forecast_lines(result.value_forecast):
        info(line)
    info(f"wrote {', '.join(map(str, files))}")
