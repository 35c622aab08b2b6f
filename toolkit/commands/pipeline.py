"""``toolkit run`` and ``toolkit demo``: the whole pipeline, step after step.

Each step is the same code as its own command (called in-process, with the same options), so a
pipeline run and the commands run one by one give the same files:

validate -> features -> correlate -> segment -> clv -> train -> predict -> report.html
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from toolkit.commands.common import (
    DataInput,
    Engine,
    EngineOption,
    ReadOptions,
    SchedulerOption,
    app,
    handle_errors,
    info,
    with_read_options,
)
from toolkit.errors import InputError

# Features that describe purchase behaviour in a way a marketer reads at once: the segmentation
# of the pipeline uses these (the full table is still there for `toolkit segment --columns`).
SEGMENT_COLUMNS = (
    "recency_days",
    "frequency",
    "lifetime_spend",
    "avg_order_value",
    "tenure_days",
)
DEFAULT_HORIZON = 90


def _step(name: str, func: Callable[..., Any], /, **kwargs: Any) -> float:
    info(f"-- {name}")
    started = time.perf_counter()
    func(**kwargs)
    return time.perf_counter() - started


def run_pipeline(
    data: Path,
    out: Path,
    *,
    read: ReadOptions,
    cutoff: str | None = None,
    horizon: int = DEFAULT_HORIZON,
    customers_table: Path | None = None,
    models: str = "linear,tree,xgboost,bgnbd",
    seed: int = 0,
    engine: Engine = Engine.embedded,
    scheduler: str | None = None,
) -> dict[str, Any]:
    """Run every step on a transaction log and write everything into ``out``.

    ``out`` receives validation.json, features.parquet, correlations/, segments/, clv/, model/,
    churn_list.csv, report.html and run.json (what ran, how long, where the results are).
    """
    from toolkit.commands.clv import clv
    from toolkit.commands.correlate import correlate
    from toolkit.commands.features import TimeUnit, features
    from toolkit.commands.models import predict, train
    from toolkit.commands.segment import segment
    from toolkit.io import read_transactions, write_atomic

    out.mkdir(parents=True, exist_ok=True)
    cols = {f"{k}": v for k, v in vars(read).items()}
    timings: dict[str, float] = {}

    info("-- validate")
    started = time.perf_counter()
    tx = read_transactions(data, **read.read_kwargs())
    try:
        report = tx.validate(full=True)
    finally:
        tx.close()
    with write_atomic(out / "validation.json") as tmp:
        tmp.write_text(json.dumps(report.to_dict(), indent=2, default=str))
    info(
        f"{report.rows:,} rows, {report.customers:,} customers, "
        f"{report.first_date:%Y-%m-%d} to {report.last_date:%Y-%m-%d}, "
        f"{len(report.problems)} kinds of problem (see validation.json)"
    )
    timings["validate"] = time.perf_counter() - started

    features_file = out / "features.parquet"
    timings["features"] = _step(
        "features",
        features,
        data=data,
        out=features_file,
        cutoff=cutoff,
        horizon=None,
        time_unit=TimeUnit.days,
        customers_table=customers_table,
        btyd=True,
        engine=engine,
        scheduler=scheduler,
        **cols,
    )
    timings["correlate"] = _step(
        "correlate", correlate, features=features_file, out=out / "correlations"
    )
    timings["segment"] = _step(
        "segment",
        segment,
        data=features_file,
        out=out / "segments",
        columns=",".join(SEGMENT_COLUMNS),
        seed=seed,
    )
    timings["clv"] = _step("clv", clv, data=features_file, out=out / "clv", horizon=horizon)
    model_dir = out / "model"
    timings["train"] = _step(
        "train",
        train,
        data=data,
        out=model_dir,
        cutoff=cutoff,
        horizon=horizon,
        models=models,
        segmenter=out / "segments" / "segmenter",
        seed=seed,
        engine=engine,
        scheduler=scheduler,
        **cols,
    )
    churn_list = out / "churn_list.csv"
    timings["predict"] = _step(
        "predict",
        predict,
        model_dir=model_dir,
        data=data,
        out=churn_list,
        cutoff=cutoff,
        engine=engine,
        scheduler=scheduler,
        **cols,
    )
    # the segments come before the models (train uses their segmenter), so their churn risk is
    # added once the churn list exists: profiles.csv and actions.csv, at-risk segments first
    started = time.perf_counter()
    from toolkit.segments._run import attach_churn

    attach_churn(out / "segments", churn_list)
    info("segments: churn risk per segment added to profiles.csv and actions.csv")
    timings["predict"] += time.perf_counter() - started
    with write_atomic(out / "report.html") as tmp:
        shutil.copyfile(model_dir / "report.html", tmp)
    summary = {
        "data": str(data),
        "cutoff": cutoff,
        "horizon_days": horizon,
        "seconds": {k: round(v, 2) for k, v in timings.items()},
        "outputs": {
            "validation": "validation.json",
            "features": "features.parquet",
            "correlations": "correlations/",
            "segments": "segments/",
            "clv": "clv/",
            "model": "model/",
            "churn_list": "churn_list.csv",
            "report": "report.html",
        },
    }
    with write_atomic(out / "run.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2))
    return summary


def _where(out: Path) -> None:
    info("")
    info(f"results in {out}/:")
    for name, what in (
        ("report.html", "model comparison report (open in a browser)"),
        ("churn_list.csv", "every customer's churn probability, rank, segment, value, reasons"),
        ("features.parquet", "customer features as of the cutoff"),
        ("segments/", "segments, profiles, names, plots"),
        ("clv/", "BG/NBD + Gamma-Gamma: P(alive), expected purchases, CLV"),
        ("correlations/", "feature correlations with p- and q-values, heatmap"),
        ("model/", "the trained models (no pickles), metrics.json"),
    ):
        info(f"  {name:<18} {what}")


OutDir = Annotated[Path, typer.Option("--out", help="Output directory (created if missing).")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed; same seed, same results.")]


@app.command()
@with_read_options
@handle_errors
def run(
    data: DataInput,
    out: OutDir,
    cutoff: Annotated[
        str | None,
        typer.Option(
            "--cutoff",
            help="Score customers as of this date (YYYY-MM-DD); nothing from it on is used. "
            "Default: the day after the last purchase.",
        ),
    ] = None,
    horizon: Annotated[
        int, typer.Option("--horizon", min=1, help="Days in which 'bought again' counts.")
    ] = DEFAULT_HORIZON,
    customers_table: Annotated[
        Path | None,
        typer.Option(
            "--customers-table",
            exists=True,
            dir_okay=False,
            help="A customer table (demographics) joined to the features by customer id.",
        ),
    ] = None,
    models: Annotated[
        str, typer.Option("--models", help="Models to compare: linear,tree,xgboost,bgnbd.")
    ] = "linear,tree,xgboost,bgnbd",
    seed: SeedOpt = 0,
    engine: EngineOption = Engine.embedded,
    scheduler: SchedulerOption = None,
    *,
    read: ReadOptions,
) -> None:
    """The whole pipeline on your transaction log: features, segments, CLV, models, churn list."""
    from toolkit.commands.common import parse_option_list
    from toolkit.features import parse_cutoff
    from toolkit.models._train import MODEL_CHOICES

    if out.exists() and not out.is_dir():
        raise InputError(f"--out {str(out)!r} is a file; expected a directory")
    # checked now, not at the train step after five steps have written their outputs
    parse_cutoff(cutoff)
    if not parse_option_list(models, "--models", set(MODEL_CHOICES)):
        raise InputError(f"--models is empty; choose from {list(MODEL_CHOICES)}")
    from toolkit.engines import engine_session

    # one cluster for the features, training and scoring steps
    with engine_session(engine.value, scheduler):
        run_pipeline(
            data,
            out,
            read=read,
            cutoff=cutoff,
            horizon=horizon,
            customers_table=customers_table,
            models=models,
            seed=seed,
            engine=engine,
            scheduler=scheduler,
        )
    _where(out)


@app.command()
@handle_errors
def demo(
    out: Annotated[
        Path, typer.Option("--out", help="Output directory (created if missing).")
    ] = Path("demo-output"),
    customers: Annotated[
        int, typer.Option("--customers", min=200, help="Size of the generated demo data.")
    ] = 5000,
    seed: SeedOpt = 0,
) -> None:
    """Generate the embedded demo data and run the whole pipeline on it."""
    from toolkit.datasets import generate_transactions

    if out.exists() and not out.is_dir():
        raise InputError(f"--out {str(out)!r} is a file; expected a directory")
    data_dir = out / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    tx_file = data_dir / "transactions.parquet"
    cust_file = data_dir / "customers.parquet"
    info(f"-- generate: {customers:,} synthetic customers (seed {seed})")
    generate_transactions(customers, seed=seed, out=tx_file, customers_out=cust_file)
    run_pipeline(
        tx_file,
        out,
        read=ReadOptions(),
        customers_table=cust_file,
        seed=seed,
    )
    _where(out)
    info(f"  {'data/':<18} the generated demo data (transactions and customer table)")
