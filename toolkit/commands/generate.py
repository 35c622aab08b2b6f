"""``toolkit generate``: synthetic transactions of any size (the embedded demo data)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from toolkit.commands.common import SeedOption, app, handle_errors, info, progress

# the same as toolkit.datasets.DEFAULT_START / DEFAULT_END (a test checks), written out here so
# that --help does not import numpy
_START = "2022-01-01"
_END = "2023-12-31"


@app.command()
@handle_errors
def generate(
    customers: Annotated[
        int, typer.Option("--customers", help="Number of customers to simulate (at least 1).")
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="Transaction file to write: .parquet, .csv or .csv.gz.", dir_okay=False
        ),
    ],
    seed: SeedOption = 0,
    start: Annotated[
        str, typer.Option("--start", help="First day of the period (YYYY-MM-DD).")
    ] = _START,
    end: Annotated[
        str, typer.Option("--end", help="Last day of the period, included (YYYY-MM-DD).")
    ] = _END,
    customers_out: Annotated[
        Path | None,
        typer.Option(
            "--customers-out",
            help="Customer table to write (default: <out stem>_customers<ext> beside --out).",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Simulate a retailer's invoice lines and customer table (seeded, any size, bounded memory)."""
    from toolkit.datasets import check_generate_args, generate_transactions

    names = {
        "n_customers": "--customers",
        "seed": "--seed",
        "start": "--start",
        "end": "--end",
        "out": "--out",
        "customers_out": "--customers-out",
    }
    check_generate_args(customers, seed, start, end, out, customers_out, names)
    began = time.perf_counter()
    with progress("generating") as update:
        result = generate_transactions(
            customers,
            seed=seed,
            start=start,
            end=end,
            out=out,
            customers_out=customers_out,
            on_progress=lambda done, rows: update(
                f"{done:,} / {customers:,} customers, {rows:,} lines"
            ),
        )
    info(
        f"wrote {result.rows:,} transaction lines ({result.returns:,} of them returns) of "
        f"{result.n_customers:,} customers, {start} to {end}, seed {seed}, to {result.transactions}"
    )
    info(f"wrote the customer table ({result.n_customers:,} rows) to {result.customers}")
    info(f"took {time.perf_counter() - began:.1f} s")
