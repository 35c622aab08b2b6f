"""``toolkit features``: one row per customer as of a cutoff, with labels."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from toolkit.commands.common import (
    DataInput,
    Engine,
    EngineOption,
    ReadOptions,
    SchedulerOption,
    TimeUnit,
    announce_reading,
    announce_table,
    app,
    count,
    handle_errors,
    info,
    progress,
    with_raw_text,
    with_read_options,
)

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
@with_raw_text
@with_read_options
@handle_errors
def features(
    data: DataInput,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Output file: .parquet, .csv or .json; with --engine dask, a path without an "
            "extension is a directory of Parquet files, one per partition.",
        ),
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
    engine: EngineOption = Engine.embedded,
    scheduler: SchedulerOption = None,
    *,
    read: ReadOptions,
) -> None:
    """One row per customer as of the cutoff (recency, frequency, monetary, rhythm, loyalty...).

    A file that already has one row per customer (no date column) passes through with typed
    columns.
    """
    from toolkit.engines import write_features_on_engine

    kwargs = read.read_kwargs()
    with progress("features") as update:
        summary = write_features_on_engine(
            data,
            out,
            cutoff=cutoff,
            horizon=horizon,
            time_unit=time_unit.value,
            customers=customers_table,
            btyd=btyd,
            engine=engine.value,
            scheduler=scheduler,
            progress=update,
            on_read=announce_read,
            notify=info,
            **kwargs,
        )
    if "customer_table_rows" in summary:
        rows = count(summary["customer_table_rows"], "row")
        info(f"{data} is a customer table (no date column): wrote {rows} to {out}")
        return
    _say_written(summary, out, horizon, customers_table)


def _say_written(
    summary: dict[str, Any], out: Path, horizon: int | None, customers_table: Path | None
) -> None:
    """What was written: customers, cutoff, repeat rate, the customer table's match, BTYD fit."""
    msg = f"wrote features of {summary['customers']:,} customers as of {summary['cutoff']} to {out}"
    if summary.get("partitions"):
        msg += f" (Dask: {summary['partitions']} hash partitions by customer)"
    if summary["repeat_rate"] is not None:
        msg += f"; {summary['repeat_rate']:.1%} bought again in the {horizon} days after the cutoff"
    info(msg)
    matched = summary.get("in_customer_table")
    if matched is not None and matched < summary["customers"]:
        info(
            f"note: {customers_table} describes {matched:,} of the {summary['customers']:,} "
            "customers; the others' columns from it are empty"
        )
    if summary.get("btyd"):
        fit = summary["btyd"]
        p = fit["bgnbd"]
        if p is not None:
            how = str(fit.get("bgnbd_fit") or "").split(":")[0]
            how = f", {'by ' if how == 'maximum likelihood' else ''}{how}" if how else ""
            info(
                f"BG/NBD fitted on the history before the cutoff{how}: "
                + ", ".join(f"{k}={v:.4g}" for k, v in p.items())
            )
        flagged = set(fit.get("bgnbd_flags") or [])
        for flag in fit.get("bgnbd_flags") or []:
            info(f"flag: {flag}")
        for warning in fit["warnings"]:
            if warning not in flagged:
                info(f"note: {warning}")


def announce_read(read: Any) -> None:
    """How the data was read (a library's ``on_read``): a transaction log's columns, notes and
    rows left out, or a table's reading notes."""
    from toolkit.io import Transactions

    if isinstance(read, Transactions):
        announce_reading(read)
    else:
        announce_table(read)
