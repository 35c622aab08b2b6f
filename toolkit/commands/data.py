"""Commands that read and check data: ``toolkit validate``."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from toolkit.commands.common import (
    DataInput,
    ReadOptions,
    app,
    handle_errors,
    info,
    out_console,
    progress,
    with_read_options,
)


@app.command()
@with_read_options
@handle_errors
def validate(
    data: DataInput,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON instead of text.")
    ] = False,
    *,
    read: ReadOptions,
) -> None:
    """Read a transaction file, report rows, customers, dates and every problem found at once.

    Exit code 0 when the data can be analysed (problems are reported, not fatal), 2 when it cannot
    (the report is still printed, then the reason on stderr).
    """
    from toolkit.io import check_usable, read_transactions

    with progress("validating") as update:
        update(str(data))
        tx = read_transactions(data, require_usable=False, **read.read_kwargs())
        try:
            report = tx.validate(full=True)
        finally:
            tx.close()
    for role, col in report.columns.items():
        if report.detected.get(role) == "detected":
            info(f"using column {col!r} as {role}")
    if as_json:
        # plain json (no rich re-rendering): stdout must parse as it is
        typer.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        out_console.print(report.render_text(), markup=False)
    check_usable(report)
