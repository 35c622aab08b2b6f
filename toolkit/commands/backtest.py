"""``toolkit backtest``: the models of ``toolkit train`` fitted at earlier cutoffs and judged on
what happened after each."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from toolkit._process import quiet_openmp
from toolkit.commands.common import (
    DataInput,
    ReadOptions,
    announce_reading,
    app,
    handle_errors,
    info,
    progress,
    with_read_options,
)


@app.command()
@with_read_options
@handle_errors
def backtest(
    data: DataInput,
    out: Annotated[
        Path,
        typer.Option("--out", file_okay=False, help="Output directory (created if missing)."),
    ],
    cutoffs: Annotated[
        int,
        typer.Option("--cutoffs", help="How many cutoffs, one --horizon apart, latest first."),
    ] = 4,
    horizon: Annotated[
        int,
        typer.Option(
            "--horizon", help="Days after each cutoff in which 'bought again' counts (90)."
        ),
    ] = 90,
    last_cutoff: Annotated[
        str | None,
        typer.Option(
            "--last-cutoff",
            help="The latest cutoff (YYYY-MM-DD). Default: the last day of data + 1 - "
            "--horizon, so that every cutoff's horizon is fully observed.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; same seed, same result.")] = 0,
    *,
    read: ReadOptions,
) -> None:
    """Back-test the churn and value forecasts at earlier cutoffs against what happened.

    At each cutoff D, D - H, D - 2H, ... the models of toolkit train are fitted on the history
    before it; the champion's churn probability, the naive ranking by days since the last
    purchase and every value forecast are then judged on the H days after it. Writes
    OUT/backtest.csv, OUT/backtest.json, OUT/report.html (with BG/NBD's two calibration
    pictures) and OUT/report.md.
    """
    quiet_openmp()
    from toolkit.models.action._backtest import backtest as run_backtest
    from toolkit.reports.backtest_report import table_rows, write_backtest_outputs

    with progress("backtest") as update:
        result = run_backtest(
            data,
            cutoffs=cutoffs,
            horizon=horizon,
            last_cutoff=last_cutoff,
            seed=seed,
            progress=update,
            on_log=announce_reading,
            **read.read_kwargs(),
        )
        update("writing")
        files = write_backtest_outputs(result, out)
    for note in result.notes:
        info(f"note: {note}")
    for line in _table(table_rows(result.summary)):
        info(line)
    info(f"wrote {', '.join(map(str, files))}")


def _table(rows: list[dict[str, Any]]) -> list[str]:
    """The per-cutoff table, short: churn ROC-AUC (champion, naive) and the used value."""
    lines = [
        f"{'cutoff':10s}  {'customers':>9s}  {'churned':>7s}  {'champion':10s}  "
        f"{'ROC-AUC':>7s}  {'naive':>5s}  {'PR-AUC':>6s}  {'value':10s}  {'Gini':>5s}  "
        f"{'total/real':>10s}"
    ]
    for r in rows:
        if "skipped" in r:
            lines.append(f"{r['cutoff']:10s}  skipped (see the note)")
            continue
        lines.append(
            f"{r['cutoff']:10s}  {r['customers']:>9s}  {r['churn_rate']:>7s}  "
            f"{r['champion']:10s}  {r['roc_auc'].split()[0]:>7s}  "
            f"{r['naive_roc_auc'].split()[0]:>5s}  {r['pr_auc'].split()[0]:>6s}  "
            f"{r['value_used']:10s}  {r['value_gini'].split()[0]:>5s}  "
            f"{r['value_total_ratio']:>10s}"
        )
    return lines
