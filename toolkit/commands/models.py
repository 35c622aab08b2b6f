"""``toolkit train``, ``predict``, ``explain`` and ``report``: churn models and churn lists."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from toolkit._process import quiet_openmp
from toolkit.commands.common import (
    DataInput,
    Engine,
    EngineOption,
    InputFile,
    ReadOptions,
    SchedulerOption,
    TimeUnit,
    app,
    handle_errors,
    info,
    parse_models,
    parse_option_list,
    progress,
    with_raw_text,
    with_read_options,
)
from toolkit.commands.features import announce_read
from toolkit.errors import InputError

if TYPE_CHECKING:
    from toolkit.models._persist import ModelBundle


class SortBy(StrEnum):
    auto = "auto"
    value_at_risk = "value_at_risk"
    churn_probability = "churn_probability"


ModelDir = Annotated[
    Path,
    typer.Argument(
        exists=True, file_okay=False, dir_okay=True, help="A model directory from toolkit train."
    ),
]
CutoffOption = Annotated[
    str | None,
    typer.Option(
        "--cutoff",
        help="Score customers as of this date (YYYY-MM-DD): only transactions before it are "
        "read. Default: the day after the last purchase.",
    ),
]


# --- train --------------------------------------------------------------------------------------


@app.command()
@with_read_options
@handle_errors
def train(
    data: DataInput,
    out: Annotated[
        Path, typer.Option("--out", help="Model directory to write (created or replaced).")
    ],
    cutoff: Annotated[
        str | None,
        typer.Option(
            "--cutoff",
            help="The date the models are for (YYYY-MM-DD); nothing from it on is read. "
            "Default: the day after the last purchase.",
        ),
    ] = None,
    horizon: Annotated[
        int | None,
        typer.Option(
            "--horizon", min=1, help="Days after the cutoff in which 'bought again' counts (90)."
        ),
    ] = None,
    time_unit: Annotated[
        TimeUnit, typer.Option("--time-unit", help="Unit of the BTYD columns recency and T.")
    ] = TimeUnit.days,
    target: Annotated[
        str | None,
        typer.Option("--target", help="Customer table mode: the column to predict (e.g. Churn)."),
    ] = None,
    positive: Annotated[
        str | None,
        typer.Option("--positive", help="The value of --target that counts as positive (Yes)."),
    ] = None,
    models: Annotated[
        str,
        typer.Option(
            "--models",
            help="Comma-separated: linear (OLS baseline + logistic), tree, xgboost, bgnbd.",
        ),
    ] = "linear,tree,xgboost,bgnbd",
    n_origins: Annotated[
        int,
        typer.Option(
            "--origins",
            min=1,
            max=12,
            help="Training origins stacked, min(horizon, 30) days apart.",
        ),
    ] = 4,
    segmenter: Annotated[
        Path | None,
        typer.Option(
            "--segmenter",
            exists=True,
            file_okay=False,
            help="A saved segmenter directory (toolkit segment): names segments in the churn list.",
        ),
    ] = None,
    value_col: Annotated[
        str | None,
        typer.Option(
            "--value-col",
            help="Customer table mode: the column giving each customer's value per period "
            "(e.g. MonthlyCharges), for value_at_risk. Default: a spend-like column found by "
            "its name.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; same seed, same models.")] = 0,
    engine: EngineOption = Engine.embedded,
    scheduler: SchedulerOption = None,
    *,
    read: ReadOptions,
) -> None:
    """Fit and compare the churn models (out of time on transactions, CV on a customer table)."""
    quiet_openmp()
    from toolkit.engines import train_on_engine
    from toolkit.reports.model_dir import write_model_dir

    chosen = parse_models(models)
    kwargs = read.read_kwargs()
    with progress("train") as update:
        run = train_on_engine(
            data,
            cutoff=cutoff,
            horizon=horizon,
            time_unit=time_unit.value,
            target=target,
            positive=positive,
            value_column=value_col,
            models=chosen,
            n_origins=n_origins,
            seed=seed,
            segmenter=segmenter,
            engine=engine.value,
            scheduler=scheduler,
            progress=update,
            on_read=announce_read,
            notify=info,
            **kwargs,
        )
        update("writing the report")
        bundle = write_model_dir(run.result, out, source=data, segmenter=run.segmenter)
    _summary(bundle, run.result.notes)
    info(f"wrote the model directory {out} (report: {out / 'report.html'})")


def _summary(bundle: ModelBundle, notes: list[str]) -> None:
    s = bundle.settings
    info(f"positive class: {s.positive_class}")
    info(f"churn probability = {s.churn_probability}")
    ev = s.evaluation or {}
    if s.mode == "transactions":
        kind = "out of time" if ev.get("out_of_time") else "NOT out of time"
        info(
            f"evaluation ({kind}): {ev.get('customers')} customers at {ev.get('origin')}, "
            f"labels {ev.get('label_window')}"
        )
    else:
        info(f"evaluation: {ev.get('method')}")
    rows = sorted(bundle.metrics.items(), key=lambda kv: -kv[1]["roc_auc"]["value"])
    for name, m in rows:
        r = m["roc_auc"]
        flag = "  <- champion" if name == bundle.champion else ""
        if name == bundle.champion and s.long_horizon:
            flag += f" (at {s.long_horizon['asked_days']} days)"
        info(f"  {name:26s} ROC-AUC {r['value']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]{flag}")
    long = s.long_horizon
    if long:
        how = (
            "refitted there, no labels needed"
            if bundle.champion in ("bgnbd", "bgnbd_expected")
            else f"its probability carried from {long['label_days']} days"
        )
        info(
            f"champion at the asked {long['asked_days']} days: {bundle.champion} ({how}); the "
            f"table above is at {long['label_days']} days, the longest horizon with labels, "
            f"where {long['champion_at_labels']} ranks first"
        )
    if bundle.comparison.get("naive_champion"):
        info(f"note: {bundle.comparison['naive_champion']}")
    lead = None if long else bundle.comparison.get("lead_over_runner_up")
    if lead:
        verdict = "significant" if lead["significant"] else "not significant"
        info(
            f"champion {bundle.champion} leads {lead['over']} by {lead['roc_auc_difference']:+.4f} "
            f"[{lead['ci_low']:+.4f}, {lead['ci_high']:+.4f}] ({verdict})"
        )
    for line in value_forecast_lines(bundle.value_model.get("evaluation")):
        info(line)
    for n in notes:
        info(f"note: {n}")


def value_forecast_lines(vf: dict[str, Any] | None) -> list[str]:
    """The value forecasts' comparison as the commands print it (empty without one)."""
    if not vf or not vf.get("candidates"):
        return []
    at = f" at {vf['compared_at_days']} days" if vf.get("compared_at_days") else ""
    kind = "out of time" if vf.get("out_of_time") else "NOT out of time"
    lines = [
        f"value forecast ({kind}{at}): net spend of {vf['customers']:,} customers after "
        f"{vf.get('origin')}, forecast against what they really spent"
    ]
    for name, c in vf["candidates"].items():
        g, t = c["normalised_gini"], c["total_ratio"]
        flag = "  <- used" if name == vf.get("used", vf["champion"]) else ""
        lines.append(
            f"  {name:11s} normalised Gini {g['value']:.3f} [{g['ci_low']:.3f}, "
            f"{g['ci_high']:.3f}]  total forecast / real {t['value']:.2f}{flag}"
        )
    return lines


# --- scoring data -------------------------------------------------------------------------------


def _load(model_dir: Path) -> ModelBundle:
    from toolkit.models._persist import load_model_dir

    return load_model_dir(model_dir)


# --- predict ------------------------------------------------------------------------------------


@app.command()
@with_raw_text
@with_read_options
@handle_errors
def predict(
    model_dir: ModelDir,
    data: DataInput,
    out: Annotated[Path, typer.Option("--out", help="Churn list: .csv, .parquet or .json.")],
    top: Annotated[
        int | None, typer.Option("--top", min=1, help="Keep the N highest-risk customers.")
    ] = None,
    cutoff: CutoffOption = None,
    reasons: Annotated[
        bool, typer.Option("--reasons/--no-reasons", help="Explain each customer (reason_1..3).")
    ] = True,
    sort: Annotated[
        SortBy,
        typer.Option(
            "--sort",
            help="The list's order: value_at_risk (money at risk first; the default when "
            "customers can be valued) or churn_probability.",
        ),
    ] = SortBy.auto,
    columns: Annotated[
        str | None,
        typer.Option(
            "--columns",
            help="Context columns to add, comma-separated (default: all that apply): "
            "risk_band, expected_value, last_purchase, recency_days, n_orders, lifetime_spend, "
            "avg_days_between_orders, expected_next_order.",
        ),
    ] = None,
    context: Annotated[
        bool,
        typer.Option(
            "--context/--no-context", help="Add the context columns (--no-context: the bare list)."
        ),
    ] = True,
    engine: EngineOption = Engine.embedded,
    scheduler: SchedulerOption = None,
    *,
    read: ReadOptions,
) -> None:
    """The churn list in priority order: money at risk, churn probability, context, reasons."""
    quiet_openmp()
    from toolkit.engines import check_engine

    check_engine(engine.value, scheduler)
    from toolkit.io import output_format, write_frame
    from toolkit.io._present import for_people, round_for_people
    from toolkit.models import scoring_frame
    from toolkit.models.action._churnlist import CONTEXT, DISPLAY, churn_list

    if engine != Engine.dask or out.suffix:  # with dask, no extension: partitioned Parquet
        output_format(out)
    chosen = None
    if columns is not None:
        if not context:
            raise InputError("--columns and --no-context contradict each other: give one")
        chosen = parse_option_list(columns, "--columns", set(CONTEXT))
    if engine == Engine.dask:
        from toolkit.engines.dask_engine import predict_on_dask

        opts = {"with_reasons": reasons, "sort": sort.value, "context": context, "columns": chosen}
        for line in predict_on_dask(model_dir, data, out, read, cutoff, scheduler, top, **opts):
            info(line)
        return
    with progress("predict") as update:
        update("checking the model directory")
        bundle = _load(model_dir)
        update("computing features")
        frame, what = scoring_frame(data, bundle.settings, cutoff=cutoff, **read.read_kwargs())
        update("scoring")
        churn = churn_list(
            bundle,
            frame,
            top=top,
            with_reasons=reasons,
            sort=sort.value,
            context=context,
            columns=chosen,
        )
        update("writing")
        write_frame(round_for_people(churn, DISPLAY) if for_people(out) else churn, out)
    meta = churn.attrs.get("toolkit", {})
    info(f"champion {bundle.champion}; churn_probability = {bundle.settings.churn_probability}")
    order = (
        "money at risk first (value_at_risk)"
        if meta.get("order") == "value_at_risk"
        else "highest churn probability first"
    )
    info(f"scored {len(frame):,} {what}; wrote {len(churn):,} rows to {out}, {order}")
    vm = bundle.value_model
    if vm.get("kind") == "none":
        info(f"value_at_risk is empty: {vm.get('note')}")
    else:
        info(f"value_at_risk = churn_probability x expected_value; {vm.get('note')}")
    for flag in vm.get("bgnbd_flags") or []:
        info(f"flag (BG/NBD fit of the value model): {flag}")


# --- explain ------------------------------------------------------------------------------------

EXPLAIN_ROWS = 20_000


@app.command()
@with_raw_text
@with_read_options
@handle_errors
def explain(
    model_dir: ModelDir,
    data: InputFile,
    out: Annotated[Path, typer.Option("--out", help="Directory for importance.csv and plots.")],
    customer: Annotated[
        str | None,
        typer.Option("--customer", help="Customer id for the waterfall (default: highest risk)."),
    ] = None,
    cutoff: CutoffOption = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the row sample for plots.")] = 0,
    *,
    read: ReadOptions,
) -> None:
    """SHAP explanations of the champion: global importance, beeswarm, one customer's waterfall."""
    quiet_openmp()
    import numpy as np

    from toolkit.io import staged_outputs, write_atomic, write_frame
    from toolkit.io._present import round_for_people
    from toolkit.models import scoring_frame
    from toolkit.models.action._explain import (
        beeswarm_data,
        plot_beeswarm,
        plot_importance,
        plot_waterfall,
        waterfall_table,
        waterfall_text,
    )
    from toolkit.models.action._explain import (
        explain as explain_rows,
    )

    if out.exists() and not out.is_dir():
        raise InputError(f"--out {str(out)!r} exists and is not a directory")
    with progress("explain") as update:
        bundle = _load(model_dir)
        update("computing features")
        frame, what = scoring_frame(data, bundle.settings, cutoff=cutoff, **read.read_kwargs())
        batch = bundle.batch(frame)
        ids = batch.df["customer_id"].astype("string") if "customer_id" in batch.df else None
        if customer is not None:
            if ids is None or not (ids == customer).any():
                sample = [] if ids is None else ids.head(5).tolist()
                raise InputError(
                    f"--customer {customer!r} is not among the {len(frame):,} {what}; "
                    f"ids look like {sample}"
                )
        rng = np.random.default_rng(seed)
        n = len(batch)
        rows = np.sort(rng.choice(n, size=min(EXPLAIN_ROWS, n), replace=False))
        if customer is not None and ids is not None:
            rows = np.union1d(rows, np.flatnonzero((ids == customer).to_numpy()))
        update("explaining")
        expl = explain_rows(bundle, batch.take(rows))
        if customer is None:
            row = int(np.argmax(expl.churn))
        else:
            assert ids is not None
            row = int(np.flatnonzero((ids.iloc[rows] == customer).to_numpy())[0])
        cid = str(expl.data["customer_id"].iloc[row]) if "customer_id" in expl.data else str(row)
        # the five outputs land together, or none of them
        with staged_outputs(out) as stage:
            imp = expl.importance()
            write_frame(
                round_for_people(
                    imp,
                    {
                        "mean_abs_contribution": "contribution",
                        "mean_contribution": "contribution",
                        "share": "ratio",
                    },
                ),
                stage / "importance.csv",
            )
            title = f"{bundle.champion}: contribution to churn probability"
            with write_atomic(stage / "importance.png") as tmp:
                plot_importance(imp, tmp, title=f"Feature importance ({bundle.champion}, SHAP)")
            with write_atomic(stage / "beeswarm.png") as tmp:
                plot_beeswarm(beeswarm_data(expl, seed=seed), tmp, title=title)
            safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in cid)
            one = expl.customer(row)
            steps = waterfall_table(one, float(expl.base[row]), float(expl.churn[row]))
            write_frame(
                round_for_people(steps, {"contribution": "contribution", "running": "probability"}),
                stage / f"customer_{safe}.csv",
            )
            with write_atomic(stage / f"waterfall_{safe}.png") as tmp:
                plot_waterfall(
                    one,
                    float(expl.base[row]),
                    float(expl.churn[row]),
                    tmp,
                    title=f"customer {cid}: churn probability {expl.churn[row]:.3f}",
                )
    if customer is not None:
        typer.echo(waterfall_text(steps, customer=cid, model=bundle.champion))
    info(
        f"explained {bundle.champion} on {len(rows):,} of {n:,} {what}; "
        f"contributions are in churn-probability units ({bundle.settings.churn_probability})"
    )
    info(
        f"wrote {out / 'importance.csv'}, importance.png, beeswarm.png, customer_{safe}.csv and "
        f"waterfall_{safe}.png to {out}"
    )


# --- report -------------------------------------------------------------------------------------


@app.command()
@handle_errors
def report(
    model_dir: ModelDir,
    out: Annotated[Path, typer.Option("--out", help="Report file: .html, .md or .json.")],
) -> None:
    """Re-render the model comparison report from the model directory (no model is re-run)."""
    import json

    from toolkit.io import output_format, write_atomic
    from toolkit.models._persist import verify_directory
    from toolkit.reports.comparison import render

    fmt = output_format(out, (".html", ".md", ".json"))
    verify_directory(model_dir)  # (an --out inside it is refused for every command)
    path = model_dir / "report.json"
    if not path.exists():
        raise InputError(f"{model_dir} has no report.json (trained without a report)")
    text = render(json.loads(path.read_text(encoding="utf-8")), fmt)
    with write_atomic(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    info(f"wrote {out}")
