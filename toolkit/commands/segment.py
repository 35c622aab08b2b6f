"""``toolkit segment``: cluster customers, choose k / eps from evidence, profile and name them."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from toolkit.commands.common import (
    InputFile,
    ReadOptions,
    SeedOption,
    app,
    handle_errors,
    info,
    option_name,
    out_console,
    progress,
    with_raw_text,
    with_read_options,
)
from toolkit.errors import InputError

if TYPE_CHECKING:
    from toolkit.segments import SegmentationRun
    from toolkit.segments._workflow import Assignment


class Method(StrEnum):
    kmeans = "kmeans"
    dbscan = "dbscan"
    hierarchical = "hierarchical"
    gmm = "gmm"
    all = "all"


class Scale(StrEnum):
    minmax = "minmax"
    standard = "standard"
    robust = "robust"
    none = "none"


class Categorical(StrEnum):
    onehot = "onehot"
    refuse = "refuse"


class Embed(StrEnum):
    pca = "pca"
    tsne = "tsne"


_METHOD_TITLE = {
    "kmeans": "k-means",
    "dbscan": "DBSCAN",
    "hierarchical": "hierarchical",
    "gmm": "Gaussian mixture",
}


# the options of `toolkit segment`
OutOpt = Annotated[
    Path,
    typer.Option("--out", file_okay=False, help="Output directory (created if needed)."),
]
MethodOpt = Annotated[
    Method,
    typer.Option("--method", help="Clustering method; 'all' runs the four and compares them."),
]
KOpt = Annotated[
    str, typer.Option("--k", help="Number of segments, or 'auto' to choose it from evidence.")
]
ColumnsOpt = Annotated[
    str | None,
    typer.Option(
        "--columns",
        help="Comma-separated clustering columns (default: the behavioural numbers; ids, "
        "outcomes, constants, free text and dates stay out, categories describe).",
    ),
]
IncludeCategoricalOpt = Annotated[
    bool,
    typer.Option(
        "--include-categorical",
        help="Cluster on the categories (text, 0/1 flags, codes) too, one-hot encoded, "
        "instead of only describing the segments with them.",
    ),
]
TargetOpt = Annotated[
    str | None,
    typer.Option(
        "--target",
        help="An outcome column (as train's --target) to keep out of the clustering.",
    ),
]
ChurnListOpt = Annotated[
    Path | None,
    typer.Option(
        "--churn-list",
        exists=True,
        dir_okay=False,
        help="A churn list (toolkit predict's CSV: customer_id, churn_probability, "
        "value_at_risk): each segment's churn risk, at-risk segments first in actions.csv.",
    ),
]
ScaleOpt = Annotated[Scale, typer.Option("--scale", help="Scaling of the columns.")]
LogSkewedOpt = Annotated[
    bool,
    typer.Option(
        "--log-skewed/--no-log-skewed",
        help="log1p non-negative columns with skewness > 1 (money, counts).",
    ),
]
KRangeOpt = Annotated[
    str, typer.Option("--k-range", help="Range of k tried by --k auto, e.g. 2..10.")
]
ImputeOpt = Annotated[
    bool,
    typer.Option(
        "--impute/--no-impute",
        help="Impute missing values (median / most frequent) or refuse them.",
    ),
]
CategoricalOpt = Annotated[
    Categorical,
    typer.Option("--categorical", help="One-hot encode text columns or refuse them."),
]
EmbedOpt = Annotated[
    Embed, typer.Option("--embed", help="2-D scatter of more than two columns: PCA or t-SNE.")
]
SampleSizeOpt = Annotated[
    int,
    typer.Option(
        "--sample-size",
        min=100,
        help="Above this many customers, parameters are chosen on a seeded sample.",
    ),
]
PlotsOpt = Annotated[bool, typer.Option("--plots/--no-plots", help="Write the PNG plots.")]
AssignOpt = Annotated[
    Path | None,
    typer.Option(
        "--assign",
        exists=True,
        file_okay=False,
        help="Apply the segmenter saved in this directory (a DIR/segmenter of an earlier "
        "run) to DATA instead of fitting.",
    ),
]


@app.command()
@with_raw_text
@with_read_options
@handle_errors
def segment(
    data: InputFile,
    out: OutOpt,
    method: MethodOpt = Method.kmeans,
    k: KOpt = "auto",
    columns: ColumnsOpt = None,
    include_categorical: IncludeCategoricalOpt = False,
    target: TargetOpt = None,
    churn_list: ChurnListOpt = None,
    scale: ScaleOpt = Scale.minmax,
    log_skewed: LogSkewedOpt = True,
    k_range: KRangeOpt = "2..10",
    impute: ImputeOpt = True,
    categorical: CategoricalOpt = Categorical.onehot,
    embed: EmbedOpt = Embed.pca,
    sample_size: SampleSizeOpt = 20_000,
    plots: PlotsOpt = True,
    assign: AssignOpt = None,
    seed: SeedOption = 0,
    *,
    read: ReadOptions,
) -> None:
    """Cluster customers, choose k (or eps) from evidence, profile and name the segments."""
    from toolkit.segments._workflow import assign_customers, load_customers, segment_customers

    with progress("segment") as update:
        update("reading")
        customers = load_customers(data, id_column=read.customer_col, **read.read_kwargs())
        for note in customers.notes:
            info(note)
        if assign is not None:
            fitting = {
                "method": method,
                "k": k,
                "columns": columns,
                "include_categorical": include_categorical,
                "target": target,
                "churn_list": churn_list,
                "scale": scale,
                "log_skewed": log_skewed,
                "k_range": k_range,
                "impute": impute,
                "categorical": categorical,
                "sample_size": sample_size,
            }
            _refuse_fitting_options_with_assign(fitting)
            update("assigning")
            _report_assignment(assign_customers(assign, customers, out))
            return
        run = segment_customers(
            customers,
            out,
            method=method.value,
            k=k,
            k_range=k_range,
            columns=[c.strip() for c in columns.split(",") if c.strip()] if columns else None,
            scale=scale.value,
            log_skewed=log_skewed,
            impute=impute,
            categorical=categorical.value,
            sample_size=sample_size,
            random_state=seed,
            include_categorical=include_categorical,
            target=target,
            churn_list=churn_list,
            embed=embed.value,
            plots=plots,
            progress=update,
        )
    for note in run.notes:
        info(note)
    _report(run, out, churn_list is not None)


def _report_assignment(done: Assignment) -> None:
    n_segments = done.segmenter.n_segments_
    info(f"assigned {len(done.segments):,} customers to {n_segments} saved segments:")
    for name, n in done.counts.items():
        info(f"  {name}: {n:,}")
    info(f"wrote {', '.join(str(f) for f in done.files)}")


def _fmt(v: Any, spec: str = ".3f") -> str:
    return "n/a" if v is None else format(v, spec)


def _report(run: SegmentationRun, out: Path, churn: bool = False) -> None:
    first = next(iter(run.segmenters.values()))
    prep = first.preprocessor_
    if prep.reasons:
        info("column rules:")
        for col, why in prep.reasons.items():
            info(f"  {col}: {why}")
    info(f"columns: {', '.join(prep.model_columns)} (scale {prep.scale})")
    if prep.log_columns:
        info(f"log1p applied to skewed columns: {', '.join(prep.log_columns)}")
    imputed = {c: n for c, n in prep.n_imputed.items() if n}
    if imputed:
        info("imputed missing values: " + ", ".join(f"{c} ({n})" for c, n in imputed.items()))
    for m, seg in run.segmenters.items():
        mt = seg.metrics_
        line = (
            f"{_METHOD_TITLE[m]}: {mt['k']} segment{'' if mt['k'] == 1 else 's'}, "
            f"silhouette {_fmt(mt['silhouette'])}, "
            f"Calinski-Harabasz {_fmt(mt['calinski_harabasz'], '.1f')}, "
            f"Davies-Bouldin {_fmt(mt['davies_bouldin'])}"
        )
        if "inertia" in mt:
            line += f", inertia {mt['inertia']:,.1f}"
        if "n_noise" in mt:
            line += f", noise {mt['n_noise']:,}"
        if mt.get("stability_ari") is not None:
            line += f", stability ARI {mt['stability_ari']:.2f}"
        info(line)
        info(f"  why: {mt['reason']}")
        if mt.get("sampled"):
            info(f"  sampled: {mt['sampling']}")
    for m, why in run.skipped.items():
        info(f"{_METHOD_TITLE[m]}: skipped ({why})")
    if len(run.segmenters) > 1:
        info(f"chosen: {run.reason}")
    seg = run.segmenter
    sizes = seg.profiles_.set_index("segment")["size"]
    total = int(sizes.sum())
    out_console.print(f"segments ({_METHOD_TITLE[run.best]}):", markup=False)
    for s, name in seg.names_.items():
        n = int(sizes.get(s, 0))
        out_console.print(f"  {s:>3}  {name}  {n:,} ({n / total:.1%})", markup=False)
        if s in seg.actions_:
            out_console.print(f"       action (heuristic): {seg.actions_[s][1]}", markup=False)
    written = ["segments.csv", "profiles.csv", "actions.csv"]
    if any(f.name == "segment_products.csv" for f in run.files):
        written.append("segment_products.csv")
    if churn:
        info("churn risk per segment in profiles.csv and actions.csv (at-risk segments first)")
    info(f"wrote {', '.join(written)}, metrics.json, plots and segmenter/ to {out}")


def _refuse_fitting_options_with_assign(values: dict[str, Any]) -> None:
    """--assign applies a saved segmenter as it was fitted: an option that would change the fit
    (given with a value other than its default) would be silently ignored."""
    import inspect

    defaults = inspect.signature(segment).parameters
    given = [option_name(name) for name, value in values.items() if value != defaults[name].default]
    if given:
        raise InputError(
            f"--assign applies the saved segmenter as it was fitted: {', '.join(given)} "
            f"{'does' if len(given) == 1 else 'do'} not apply (fit a new one without --assign)"
        )
