"""``toolkit correlate``: pairwise correlations of a features file, with q-values and a heatmap."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from toolkit.commands.common import (
    InputFile,
    announce_table,
    app,
    count,
    handle_errors,
    info,
    out_console,
    parse_option_list,
    progress,
    with_raw_text,
)
from toolkit.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

#: how many pairs the command prints
N_PRINTED = 5


class Method(StrEnum):
    """Correlation coefficient."""

    pearson = "pearson"
    spearman = "spearman"


@app.command()
@with_raw_text
@handle_errors
def correlate(
    features: InputFile,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            file_okay=False,
            help="Output directory: correlations.csv, heatmap.png, summary.json.",
        ),
    ],
    method: Annotated[
        Method,
        typer.Option(
            "--method",
            case_sensitive=False,
            help="pearson (linear) or spearman (rank, robust to skew and outliers).",
        ),
    ] = Method.pearson,
    columns: Annotated[
        str | None,
        typer.Option(
            "--columns",
            help="Comma-separated columns to correlate (default: every numeric column but ids).",
        ),
    ] = None,
    id_col: Annotated[
        str | None,
        typer.Option("--id-col", help="The id column, if it is not found from its name."),
    ] = None,
) -> None:
    """Correlate every pair of numeric columns: r, p-value, Benjamini-Hochberg q-value, heatmap."""
    from toolkit.features._correlate import correlate as compute
    from toolkit.io import read_table, staged_outputs, write_frame
    from toolkit.reports.heatmap import write_heatmap

    if out.exists() and not out.is_dir():
        raise InputError(f"--out {str(out)!r} is a file; give a directory for the outputs")
    chosen = parse_option_list(columns, "--columns") or None
    if columns is not None and not chosen:
        raise InputError(f"--columns must name at least 2 columns, got {columns!r}")

    with progress("correlating") as update:
        update(f"reading {features}")
        df = read_table(features, id_column=id_col)
        announce_table(df)
        if chosen is not None:
            unknown = [c for c in chosen if c not in df.columns]
            if unknown:
                raise InputError(
                    f"--columns: {unknown!r} not in {features}; its columns: {list(df.columns)}"
                )
        _note_repeated_ids(features, df, id_col)
        update(f"{method.value} on {len(df):,} rows")
        result = compute(df, method=method.value, columns=chosen, id_column=id_col)
        update("writing")
        # the three outputs land together, or none of them
        with staged_outputs(out) as stage:
            write_frame(result.pairs, stage / "correlations.csv")
            write_heatmap(result, stage / "heatmap.png")
            (stage / "summary.json").write_text(
                json.dumps(result.summary(), indent=2, allow_nan=False) + "\n"
            )

    summary = result.summary()
    info(
        f"{features}: {len(df):,} rows, {len(result.columns)} columns, "
        f"{count(summary['n_pairs'], 'pair')}, {summary['n_significant']} with q < "
        f"{summary['alpha']}"
    )
    for col, n in result.infinite.items():
        info(f"note: {col!r} has {count(n, 'infinite value')}, counted as missing")
    if result.skipped:
        info("skipped: " + ", ".join(f"{c} ({why})" for c, why in result.skipped.items()))
    info(f"wrote {out / 'correlations.csv'}, {out / 'heatmap.png'}, {out / 'summary.json'}")

    # a pair true by construction (tenure_days ~ T) tells nothing: print the others
    from toolkit.features._correlate import definitional

    pairs = result.strongest(len(result.pairs))
    by_definition = [
        definitional(a, b, r) for a, b, r in zip(pairs.var_1, pairs.var_2, pairs.r, strict=True)
    ]
    top = pairs[[not d for d in by_definition]].head(N_PRINTED)
    if any(by_definition):
        info(
            f"{sum(by_definition)} pairs hold by definition (such as "
            f"{pairs.var_1[by_definition.index(True)]} ~ {pairs.var_2[by_definition.index(True)]}) "
            "and are left out below; correlations.csv has every pair"
        )
    width = max(
        [len("pair")] + [len(f"{a} ~ {b}") for a, b in zip(top.var_1, top.var_2, strict=True)]
    )
    out_console.print(f"{'pair':<{width}}  {'r':>7}  {'q_value':>9}  {'n':>9}", markup=False)
    for row in top.itertuples(index=False):
        out_console.print(
            f"{f'{row.var_1} ~ {row.var_2}':<{width}}  {row.r:>7.3f}  {row.q_value:>9.2g}  "
            f"{row.n:>9,}",
            markup=False,
        )


def _note_repeated_ids(path: Path, df: pd.DataFrame, id_col: str | None) -> None:
    """Correlations of features are over customers: say so when the rows are not one per
    customer (a transaction log given by mistake: its ids repeat)."""
    from toolkit.io import find_id_column

    col = id_col or find_id_column([str(c) for c in df.columns])
    if col is None or col not in df.columns:
        return
    ids = df[col].dropna()
    distinct = ids.nunique()
    if distinct < len(ids):
        info(
            f"note: the ids in {col!r} repeat ({len(ids):,} rows, {distinct:,} distinct): "
            f"{path} is not one row per customer (a transaction log?); toolkit features makes "
            "one; these correlations are over rows"
        )
