"""``toolkit run`` and ``toolkit demo``: the whole pipeline, step after step.

Each step is the same code as its own command (called in-process, with the same options), so a
pipeline run and the commands run one by one give the same files:

validate -> features -> correlate -> segment -> clv -> train -> predict -> report

Before the first write, the run checks what every step needs (see ``_runsteps.preflight``); a
second run with the same input and options reuses what has not changed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from toolkit.commands._runsteps import step_key
from toolkit.commands.common import (
    DataInput,
    Engine,
    EngineOption,
    ReadOptions,
    SchedulerOption,
    SeedOption,
    TimeUnit,
    app,
    handle_errors,
    info,
    parse_models,
    with_raw_text,
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

CurrencyOption = Annotated[
    str | None,
    typer.Option(
        "--currency",
        help="Shown with every money figure of the report: a symbol (£, $, €) or a code (EUR). "
        "Default: plain numbers.",
    ),
]


def check_currency(currency: str | None) -> str | None:
    """``currency`` trimmed; at most 5 characters, no spaces inside (a symbol or a code)."""
    if currency is None:
        return None
    text = currency.strip()
    if not text or len(text) > 5 or any(c.isspace() for c in text):
        raise InputError(
            f"--currency must be a symbol or code of 1 to 5 characters without spaces "
            f"(£, $, EUR), got {currency!r}"
        )
    return text


#: every step of `toolkit run`, in order, with the outputs that must exist for it to be reused
STEPS: dict[str, list[str]] = {
    "validate": ["validation.json"],
    "features": ["features.parquet"],
    "correlate": ["correlations/correlations.csv", "correlations/summary.json"],
    "segment": ["segments/segments.csv", "segments/profiles.csv", "segments/segmenter"],
    "clv": ["clv/customers.csv", "clv/params.json"],
    "train": ["model/manifest.json", "model/report.json", "model/report.html"],
    "predict": ["churn_list.csv"],
    "report": ["report.html", "report.md", "summary.json"],
}
#: what a skipped step removes, so that the folder never mixes this run with an earlier one
_STALE = {"clv": ["clv"], "train": ["model"], "predict": ["churn_list.csv"]}


class _Runner:
    """Runs the steps in order: each is reused when its key is unchanged, skipped with its
    reason when the data cannot support it, timed otherwise."""

    def __init__(self, out: Path) -> None:
        from toolkit.commands._runsteps import StepCache

        self.out = out
        self.cache = StepCache(out)
        self.keys: dict[str, str] = {}
        self.seconds: dict[str, float] = {}
        self.status: dict[str, str] = {}  # ran / reused / skipped
        self.skipped: dict[str, str] = {}

    def skip(self, name: str, reason: str) -> None:
        from toolkit.commands._runsteps import remove_stale

        info(f"-- {name}: skipped: {reason}")
        self.status[name] = "skipped"
        self.skipped[name] = reason
        self.cache.begin(name)
        remove_stale(self.out, _STALE.get(name, []))

    def __call__(
        self,
        name: str,
        key: str,
        func: Callable[..., Any],
        /,
        after: tuple[str, ...] = (),
        **kwargs: Any,
    ) -> bool:
        """Run (or reuse) one step; False when it could not run on this data (then skipped).

        ``after``: the steps whose outputs this one reads or rewrites; when one of them ran
        now, this one runs too (its outputs were remade, even if with the same key).
        """
        self.keys[name] = key
        upstream_ran = any(self.status.get(s) == "ran" for s in after)
        if not upstream_ran and self.cache.fresh(name, key, STEPS[name]):
            info(f"-- {name}: unchanged since the last run (same input and options), reused")
            self.status[name] = "reused"
            self.seconds[name] = 0.0
            return True
        info(f"-- {name}")
        self.cache.begin(name)
        started = time.perf_counter()
        try:
            func(**kwargs)
        except InputError as exc:
            if name not in ("clv", "train", "predict"):
                raise
            # the data cannot support this model (too few customers, one class only ...): the
            # rest of the run stands on its own, so say why and go on
            self.skip(name, str(exc))
            return False
        self.seconds[name] = time.perf_counter() - started
        self.status[name] = "ran"
        self.cache.done(name, key)
        return True


@dataclass
class _Run:
    """What every step of one run reads: the options, the input as the steps read it, the plan."""

    data: Path
    out: Path
    read: ReadOptions
    cutoff: str | None
    horizon: int
    customers_table: Path | None
    seed: int
    target: str | None
    positive: str | None
    engine: Engine
    scheduler: str | None
    #: the file the steps read (the user's, or a Parquet copy of a slow format) and its options
    src: Path = Path()
    read_kwargs: dict[str, Any] = field(default_factory=dict)
    read_key: str = ""
    table: bool = False
    plan: Any = None

    @property
    def cols(self) -> dict[str, Any]:
        return _column_options(self.read_kwargs)

    @property
    def log_cutoff(self) -> str | None:
        """The cutoff of a transaction log's steps (a customer table has none)."""
        return None if self.table else self.cutoff


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
    pdf: bool = False,
    target: str | None = None,
    positive: str | None = None,
    engine: Engine = Engine.embedded,
    scheduler: str | None = None,
    currency: str | None = None,
) -> dict[str, Any]:
    """Run every step on a transaction log (or a customer table) and write everything to ``out``.

    ``out`` receives validation.json, features.parquet, correlations/, segments/, clv/, model/,
    churn_list.csv, the run's report (report.html, report.md, summary.json) and run.json (what
    ran, what was reused or skipped and why, how long each step took). Everything a step needs is
    checked before the first write; a second run with the same input and options reuses every
    output whose inputs have not changed.
    """
    started = time.perf_counter()
    ctx = _Run(
        data, out, read, cutoff, horizon, customers_table, seed, target, positive, engine, scheduler
    )
    run = _Runner(out)
    _check_before_writing(run, ctx, models)
    _describe_steps(run, ctx)
    trained = _model_steps(run, ctx)
    if not trained:
        run.skip("predict", ctx.plan.skip.get("predict") or "no churn models (see train)")
    summary = _summary(run, ctx)
    if currency:
        summary["options"]["currency"] = currency
    report_key = step_key("report", steps=run.keys, skipped=run.skipped, options=summary["options"])
    run("report", report_key, _write_report, after=tuple(STEPS), out=out, run_info=summary)
    summary["seconds"]["report"] = round(run.seconds.get("report", 0.0), 2)
    summary["seconds"]["total"] = round(time.perf_counter() - started, 2)
    from toolkit.io import write_atomic

    with write_atomic(out / "run.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2))
    if pdf:
        _print_pdf(out)
    return summary


def _check_before_writing(run: _Runner, ctx: _Run, models: str) -> None:
    """Read the input once, validate it and check what every step needs; only then create
    ``out``, keep the input's copy there and write validation.json."""
    from toolkit.commands._runsteps import fingerprint, preflight, read_once
    from toolkit.features import is_customer_table

    kwargs = ctx.read.read_kwargs()
    fp = {
        "data": fingerprint(ctx.data),
        "customers_table": fingerprint(ctx.customers_table),
        "read": {k: v for k, v in vars(ctx.read).items()},
    }
    ctx.read_key = step_key("read", **fp)
    source = read_once(ctx.data, kwargs, ctx.out, ctx.read_key)
    try:
        if source.pending is not None:
            info(f"read {ctx.data} once ({source.kind}); every step reads that copy")
            for note in source.notes:
                info(f"note: {note}")
        ctx.table = is_customer_table(source.path, **source.read_kwargs)
        validation, validation_fresh = _validation(run, source, ctx.data, ctx.read_key, ctx.table)
        ctx.plan = preflight(
            ctx.data,
            validation,
            cutoff=ctx.cutoff,
            horizon=ctx.horizon,
            models=models,
            customers_table=ctx.customers_table,
            target=ctx.target,
            positive=ctx.positive,
            read_kwargs=source.read_kwargs,
            source=source.path,
        )
    except BaseException:
        source.discard()
        raise
    # the checks passed: from here on, outputs are written
    ctx.out.mkdir(parents=True, exist_ok=True)
    source.keep(ctx.out, ctx.read_key)
    ctx.src, ctx.read_kwargs = source.path, source.read_kwargs
    if validation_fresh:
        from toolkit.io import write_atomic

        run.cache.begin("validate")
        with write_atomic(ctx.out / "validation.json") as tmp:
            tmp.write_text(json.dumps(validation, indent=2, default=str))
        run.cache.done("validate", run.keys["validate"])


def _describe_steps(run: _Runner, ctx: _Run) -> None:
    """features, correlate, segment and clv: the customers as they are."""
    from toolkit.commands._runsteps import btyd_check
    from toolkit.commands.clv import clv
    from toolkit.commands.correlate import correlate
    from toolkit.commands.features import features
    from toolkit.commands.segment import segment

    features_file = ctx.out / "features.parquet"
    run(
        "features",
        step_key("features", read=ctx.read_key, cutoff=ctx.cutoff),
        features,
        data=ctx.src,
        out=features_file,
        cutoff=ctx.log_cutoff,
        horizon=None,
        time_unit=TimeUnit.days,
        customers_table=ctx.customers_table,
        btyd=True,
        engine=ctx.engine,
        scheduler=ctx.scheduler,
        **ctx.cols,
    )
    k_features = run.keys["features"]
    run(
        "correlate",
        step_key("correlate", features=k_features),
        correlate,
        after=("features",),
        features=features_file,
        out=ctx.out / "correlations",
    )
    run(
        "segment",
        step_key("segment", features=k_features, seed=ctx.seed, target=ctx.target),
        segment,
        after=("features",),
        data=features_file,
        out=ctx.out / "segments",
        # a log's features: the behaviour a marketer reads at once; a customer table: the
        # segmentation's own column rules (ids, outcomes and constants stay out)
        columns=None if ctx.table else ",".join(SEGMENT_COLUMNS),
        target=ctx.target,
        seed=ctx.seed,
    )
    # too short a history or too few repeat customers: no value over the horizon (said once)
    no_btyd = None if ctx.table else btyd_check(features_file, ctx.horizon)
    if no_btyd is not None:
        ctx.plan.skip.setdefault("clv", no_btyd)
        requested = [m.strip() for m in ctx.plan.models.split(",") if m.strip()]
        if "bgnbd" in requested and len(requested) > 1 and "train" not in ctx.plan.skip:
            requested.remove("bgnbd")
            info(f"note: the bgnbd churn model is left out: {no_btyd}")
            ctx.plan.models = ",".join(requested)
    if "clv" in ctx.plan.skip:
        run.skip("clv", ctx.plan.skip["clv"])
        return
    run(
        "clv",
        step_key("clv", features=k_features, horizon=ctx.horizon),
        clv,
        after=("features",),
        data=features_file,
        out=ctx.out / "clv",
        horizon=ctx.horizon,
    )


def _model_steps(run: _Runner, ctx: _Run) -> bool:
    """train and predict: the churn models and the churn list; False when none was trained."""
    from toolkit.commands.models import predict, train

    if "train" in ctx.plan.skip:
        run.skip("train", ctx.plan.skip["train"])
        return False
    model_dir = ctx.out / "model"
    trained = run(
        "train",
        step_key(
            "train",
            read=ctx.read_key,
            cutoff=ctx.cutoff,
            horizon=ctx.horizon,
            models=ctx.plan.models,
            seed=ctx.seed,
            segment=run.keys["segment"],
            target=ctx.target,
            positive=ctx.positive,
            # (the Dask engine trains on a sample above 500k customers)
            engine=ctx.engine.value,
        ),
        train,
        after=("segment",),
        data=ctx.src,
        out=model_dir,
        # a customer table's models learn --target by cross-validation: no cutoff, horizon
        cutoff=ctx.log_cutoff,
        horizon=None if ctx.table else ctx.horizon,
        target=ctx.target,
        positive=ctx.positive,
        models=ctx.plan.models,
        segmenter=ctx.out / "segments" / "segmenter",
        seed=ctx.seed,
        engine=ctx.engine,
        scheduler=ctx.scheduler,
        **ctx.cols,
    )
    if trained:
        run(
            "predict",
            step_key("predict", train=run.keys["train"], cutoff=ctx.cutoff),
            _predict_and_attach,
            after=("train", "segment"),
            predict=predict,
            model_dir=model_dir,
            data=ctx.src,
            out=ctx.out,
            cutoff=ctx.log_cutoff,
            cols=ctx.cols,
            engine=ctx.engine,
            scheduler=ctx.scheduler,
        )
    return trained


def _summary(run: _Runner, ctx: _Run) -> dict[str, Any]:
    """run.json: the options, what ran, was reused or skipped (and why), the seconds."""
    options: dict[str, Any] = {"seed": ctx.seed}
    if ctx.table and ctx.target is not None:
        options = {
            "target": ctx.target,
            "positive": ctx.positive,
            "models": ctx.plan.models,
            **options,
        }
    if not ctx.table:  # a customer table has no cutoff, horizon or models
        options = {
            "cutoff": ctx.cutoff,
            "horizon_days": ctx.horizon,
            "models": ctx.plan.models,
            **options,
            "customers_table": str(ctx.customers_table) if ctx.customers_table else None,
        }
    options.update({k: v for k, v in vars(ctx.read).items() if v is not None})
    seconds = {k: round(v, 2) for k, v in run.seconds.items()}
    summary: dict[str, Any] = {
        "data": str(ctx.data),
        "kind": "customer table" if ctx.table else "transaction log",
        "cutoff": ctx.cutoff,
        "horizon_days": ctx.horizon,
        "options": options,
        "steps": run.status,
        "skipped": run.skipped,
        "seconds": seconds,
        "outputs": {
            "validation": "validation.json",
            "features": "features.parquet",
            "correlations": "correlations/",
            "segments": "segments/",
            "clv": "clv/",
            "model": "model/",
            "churn_list": "churn_list.csv",
            "report": "report.html",
            "report_markdown": "report.md",
            "summary": "summary.json",
        },
    }
    # a reused step's time is the one it took when it was computed (from the earlier run.json)
    try:
        earlier = json.loads((ctx.out / "run.json").read_text()).get("seconds_when_computed", {})
    except (OSError, ValueError):
        earlier = {}
    summary["seconds_when_computed"] = {
        k: earlier.get(k) if state == "reused" else seconds.get(k)
        for k, state in run.status.items()
        if state != "skipped"
    }
    return summary


def _validation(
    run: _Runner, source: Any, data: Path, read_key: str, table: bool
) -> tuple[dict[str, Any], bool]:
    """The validation report (in memory: nothing is written before the checks); True when it
    was computed now rather than reused."""
    from toolkit.commands._runsteps import step_key, table_summary

    key = step_key("validate", read=read_key)
    run.keys["validate"] = key
    if run.cache.fresh("validate", key, STEPS["validate"]):
        info("-- validate: unchanged since the last run (same input and options), reused")
        run.status["validate"] = "reused"
        run.seconds["validate"] = 0.0
        return json.loads((run.out / "validation.json").read_text()), False
    info("-- validate")
    started = time.perf_counter()
    if table:
        report = table_summary(source.path, source.read_kwargs)
        report["source"] = str(data)
        info(
            f"{data} is a customer table: {report['rows']:,} rows, {len(report['columns'])} "
            f"columns, {sum(report['missing'].values()):,} missing values"
        )
    else:
        report = _validate_log(source, data)
    run.seconds["validate"] = time.perf_counter() - started
    run.status["validate"] = "ran"
    return report, True


def _validate_log(source: Any, data: Path) -> dict[str, Any]:
    from toolkit.features import data_range
    from toolkit.io import read_transactions

    tx = read_transactions(source.path, **source.read_kwargs)
    try:
        report = tx.validate(full=True)
        d = report.to_dict()
        d["kind"] = "transactions"
        d["source"] = str(data)
        if report.usable:
            first, last = data_range(tx)
            days = tx.con.execute(
                "SELECT count(*) FROM (SELECT DISTINCT CAST(timestamp AS DATE) FROM purchases)"
            ).fetchone()
            d["purchase_first_date"] = str(first)
            d["purchase_last_date"] = str(last)
            d["purchase_days"] = int(days[0]) if days else 0
    finally:
        tx.close()
    if not report.usable:
        raise InputError(f"{data}: no usable purchase left (see `toolkit validate {data}`)")
    info(
        f"{report.rows:,} rows, {report.customers:,} customers, "
        f"{report.first_date:%Y-%m-%d} to {report.last_date:%Y-%m-%d}, "
        f"{len(report.problems)} kinds of problem (see validation.json)"
    )
    return d


def _column_options(read_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The steps' column keyword arguments from resolved read kwargs (the source may differ
    from the user's file: a Parquet copy needs no --sep or --names)."""
    m = read_kwargs["mapping"]
    names = read_kwargs.get("names")
    return {
        "customer_col": m.customer,
        "date_col": m.timestamp,
        "amount_col": m.amount,
        "quantity_col": m.quantity,
        "price_col": m.price,
        "invoice_col": m.invoice,
        "product_col": m.product,
        "date_format": read_kwargs.get("date_format"),
        "sep": read_kwargs.get("sep"),
        "names": ",".join(names) if names else None,
    }


def _predict_and_attach(
    *,
    predict: Callable[..., Any],
    model_dir: Path,
    data: Path,
    out: Path,
    cutoff: str | None,
    cols: dict[str, Any],
    engine: Any = None,
    scheduler: str | None = None,
) -> None:
    churn_list = out / "churn_list.csv"
    engine_options = {} if engine is None else {"engine": engine, "scheduler": scheduler}
    predict(model_dir=model_dir, data=data, out=churn_list, cutoff=cutoff, **engine_options, **cols)
    # the segments come before the models (train uses their segmenter), so their churn risk is
    # added once the churn list exists: profiles.csv and actions.csv, at-risk segments first
    from toolkit.segments._run import attach_churn

    attach_churn(out / "segments", churn_list)
    info("segments: churn risk per segment added to profiles.csv and actions.csv")


def _write_report(*, out: Path, run_info: dict[str, Any]) -> None:
    from toolkit.reports.run_report import write_run_report

    write_run_report(out, run_info)
    info(f"wrote the run's report: {out / 'report.html'} (and report.md, summary.json)")


def _print_pdf(out: Path) -> None:
    from toolkit.reports.browser import BrowserMissing, print_pdf

    try:
        print_pdf(out / "report.html", out / "report.pdf")
    except BrowserMissing as exc:
        info(f"no PDF: {exc}")
        return
    info(f"wrote {out / 'report.pdf'}")


def _where(out: Path) -> None:
    info("")
    info(f"results in {out}/:")
    for name, what in (
        ("report.html", "the run's report: data, features, segments, CLV, models, churn list"),
        ("report.md", "the same report as Markdown (summary.json: as JSON)"),
        ("churn_list.csv", "every customer's churn probability, rank, segment, value, reasons"),
        ("features.parquet", "customer features as of the cutoff"),
        ("segments/", "segments, profiles, names, actions, plots"),
        ("clv/", "BG/NBD + Gamma-Gamma: P(alive), expected purchases, CLV"),
        ("correlations/", "feature correlations with p- and q-values, heatmap"),
        ("model/", "the trained models (no pickles), metrics.json"),
    ):
        if (out / name.rstrip("/")).exists():  # a skipped step wrote nothing
            info(f"  {name:<18} {what}")


OutDir = Annotated[Path, typer.Option("--out", help="Output directory (created if missing).")]
PdfOpt = Annotated[
    bool,
    typer.Option(
        "--pdf", help="Also print the report to DIR/report.pdf (needs Chromium installed)."
    ),
]


@app.command()
@with_raw_text
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
    seed: SeedOption = 0,
    pdf: PdfOpt = False,
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            help="Customer table: the churn column the models learn (with --positive).",
        ),
    ] = None,
    positive: Annotated[
        str | None,
        typer.Option("--positive", help="The value of --target that means churned (Yes)."),
    ] = None,
    engine: EngineOption = Engine.embedded,
    scheduler: SchedulerOption = None,
    currency: CurrencyOption = None,
    *,
    read: ReadOptions,
) -> None:
    """The whole pipeline on your data and its report: features, segments, CLV, models, churn list.

    DIR/report.html tells the whole story (report.md and summary.json hold the same); a second
    run with the same input and options reuses what has not changed.
    """
    from toolkit.features import parse_cutoff

    if out.exists() and not out.is_dir():
        raise InputError(f"--out {str(out)!r} is a file; expected a directory")
    # checked now, not at the train step after five steps have written their outputs
    parse_cutoff(cutoff)
    parse_models(models)
    currency = check_currency(currency)
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
            pdf=pdf,
            target=target,
            positive=positive,
            engine=engine,
            scheduler=scheduler,
            currency=currency,
        )
    _where(out)


@app.command()
@with_raw_text
@handle_errors
def demo(
    out: Annotated[
        Path, typer.Option("--out", help="Output directory (created if missing).")
    ] = Path("demo-output"),
    customers: Annotated[
        int, typer.Option("--customers", min=200, help="Size of the generated demo data.")
    ] = 5000,
    seed: SeedOption = 0,
    pdf: PdfOpt = False,
    currency: CurrencyOption = None,
) -> None:
    """Generate the embedded demo data and run the whole pipeline on it."""
    from toolkit.datasets import generate_transactions

    if out.exists() and not out.is_dir():
        raise InputError(f"--out {str(out)!r} is a file; expected a directory")
    currency = check_currency(currency)
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
        pdf=pdf,
        currency=currency,
    )
    _where(out)
    info(f"  {'data/':<18} the generated demo data (transactions and customer table)")
