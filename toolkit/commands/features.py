"""``toolkit features``: one row per customer as of a cutoff, with labels."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
from toolkit.errors import InputError

if TYPE_CHECKING:
    import pandas as pd


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
    from toolkit.engines import attach_engine, check_engine
    from toolkit.features import is_customer_table, parse_cutoff, resolve_spec, write_features
    from toolkit.io import output_format, read_table, read_transactions, write_frame

    check_engine(engine.value, scheduler)
    partitioned = engine == Engine.dask and not out.suffix
    if not partitioned:
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
                ("--date-format", read.date_format),
                ("--time-unit", None if time_unit == TimeUnit.days else time_unit),
            )
            if value is not None
        ]
        if given:
            raise InputError(
                f"{data} is a customer table (one row per customer, no date column): "
                f"{', '.join(given)} {'applies' if len(given) == 1 else 'apply'} only to a "
                "transaction log (name its date column with --date-col)"
            )
        table = read_table(data, sep=read.sep, names=kwargs["names"])
        announce_table(table)
        _check_passthrough(data, table, read.customer_col)
        write_frame(table, out)
        info(
            f"{data} is a customer table (no date column): wrote {count(len(table), 'row')} "
            f"to {out}"
        )
        return
    customers = read_table(customers_table) if customers_table else None
    if customers is not None:
        announce_table(customers)
    with progress("features") as update:
        update("reading")
        tx = read_transactions(data, **kwargs)
        try:
            announce_reading(tx)
            spec, notes = resolve_spec(tx, cutoff, horizon, time_unit.value)
            for note in notes:
                info(note)
            update("computing")
            with attach_engine(tx, engine.value, scheduler):
                summary = write_features(tx, out, spec, customers, btyd=btyd)
        finally:
            tx.close()
    msg = f"wrote features of {summary['customers']:,} customers as of {spec.cutoff} to {out}"
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
            info(
                "BG/NBD fitted on the history before the cutoff: "
                + ", ".join(f"{k}={v:.4g}" for k, v in p.items())
            )
        flagged = set(fit.get("bgnbd_flags") or [])
        for flag in fit.get("bgnbd_flags") or []:
            info(f"flag: {flag}")
        for warning in fit["warnings"]:
            if warning not in flagged:
                info(f"note: {warning}")


def _check_passthrough(data: Path, table: pd.DataFrame, customer_col: str | None) -> None:
    """A customer table passed through must look like one: an id column and more than one
    column (one column usually means the wrong separator)."""
    from toolkit.io import find_id_column

    columns = list(table.columns)
    if len(columns) == 1:
        raise InputError(
            f"{data}: read as a single column {columns[0]!r}; if its fields are separated by "
            "something else, give --sep"
        )
    if (customer_col or find_id_column(columns)) is None:
        raise InputError(
            f"{data} has neither a date column nor a customer id column (columns: "
            f"{', '.join(map(repr, columns))}): for a transaction log give --date-col and "
            "--customer-col; a customer table needs an id column (CustomerID, customer_id, ID, "
            "...) or --customer-col"
        )
