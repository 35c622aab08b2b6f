"""``toolkit features``: one row per customer as of a cutoff, with labels."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from toolkit.commands.common import (
    InputFile,
    ReadOptions,
    app,
    handle_errors,
    info,
    progress,
    with_read_options,
)
from toolkit.errors import InputError


class TimeUnit(StrEnum):
    days = "days"
    weeks = "weeks"


CutoffOption = Annotated[
    str | None,
    typer.Option(
        "--cutoff",
        help="Features use only transactions strictly before this date (YYYY-MM-DD). "
        "Default: the day after the last purchase.",
    ),
]
HorizonOption = Annotated[
    int | None,
    typer.Option(
        "--horizon",
        min=1,
        help="Label window in days after the cutoff: adds repeat_purchase and holdout_spend.",
    ),
]
TimeUnitOption = Annotated[
    TimeUnit, typer.Option("--time-unit", help="Unit of the BTYD columns recency and T.")
]


@app.command()
@with_read_options
@handle_errors
def features(
    data: InputFile,
    out: Annotated[
        Path, typer.Option("--out", help="Output file: .parquet, .csv or .json.", dir_okay=False)
    ],
    cutoff: CutoffOption = None,
    horizon: HorizonOption = None,
    time_unit: TimeUnitOption = TimeUnit.days,
    customers_table: Annotated[
        Path | None,
        typer.Option(
            "--customers-table",
            exists=True,
            dir_okay=False,
            help="A customer table (demographics) joined to the features by customer id.",
        ),
    ] = None,
    btyd: Annotated[
        bool,
        typer.Option(
            "--btyd/--no-btyd",
            help="Add BG/NBD + Gamma-Gamma scores fitted on the history before the cutoff: "
            "p_alive, expected_purchases (over the horizon, or 90 days), expected_value.",
        ),
    ] = True,
    *,
    read: ReadOptions,
) -> None:
    """One row per customer as of the cutoff (recency, frequency, monetary, rhythm, loyalty...).

    A file that already has one row per customer (no date column) passes through with typed
    columns.
    """
    from toolkit.features import is_customer_table, parse_cutoff, resolve_spec, write_features
    from toolkit.io import output_format, read_table, read_transactions, write_frame

    output_format(out)
    parse_cutoff(cutoff)  # a typo fails now, not after reading the whole log
    kwargs = read.read_kwargs()
    if is_customer_table(data, **kwargs):
        given = [
            opt
            for opt, value in (
                ("--cutoff", cutoff),
                ("--horizon", horizon),
                ("--customers-table", customers_table),
            )
            if value is not None
        ]
        if given:
            raise InputError(
                f"{data} is a customer table (one row per customer, no date column): "
                f"{', '.join(given)} only apply to a transaction log"
            )
        table = read_table(data, sep=read.sep, names=kwargs["names"])
        write_frame(table, out)
        info(f"{data} is a customer table (no date column): wrote {len(table):,} rows to {out}")
        return
    customers = read_table(customers_table) if customers_table else None
    with progress("features") as update:
        update("reading")
        tx = read_transactions(data, **kwargs)
        try:
            for role, col in tx.report.columns.items():
                if tx.report.detected.get(role) == "detected":
                    info(f"using column {col!r} as {role}")
            spec, notes = resolve_spec(tx, cutoff, horizon, time_unit.value)
            for note in notes:
                info(note)
            update("computing")
            summary = write_features(tx, out, spec, customers, btyd=btyd)
        finally:
            tx.close()
    msg = f"wrote features of {summary['customers']:,} customers as of {spec.cutoff} to {out}"
    if summary["repeat_rate"] is not None:
        msg += f"; {summary['repeat_rate']:.1%} bought again in the {horizon} days after the cutoff"
    info(msg)
    if summary.get("btyd"):
        fit = summary["btyd"]
        p = fit["bgnbd"]
        info(
            "BG/NBD fitted on the history before the cutoff: "
            + ", ".join(f"{k}={v:.4g}" for k, v in p.items())
        )
        for warning in fit["warnings"]:
            info(f"note: {warning}")
