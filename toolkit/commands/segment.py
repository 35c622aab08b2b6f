"""``toolkit segment``: cluster customers, choose k / eps from evidence, profile and name them."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from toolkit.commands.common import (
    InputFile,
    ReadOptions,
    SeedOption,
    announce_table,
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


def _parse_k(value: str) -> int | str:
    v = value.strip().lower()
    if v == "auto":
        return "auto"
    try:
        k = int(v)
    except ValueError:
        raise InputError(f"--k must be 'auto' or a whole number >= 2, got {value!r}") from None
    if k < 2:
        raise InputError(f"--k must be 'auto' or a whole number >= 2, got {value!r}")
    return k


def _load_customers(data: Path, read: ReadOptions) -> tuple[Any, str | None, Any]:
    """The customer table in DATA and, for a transaction log with a product column, what each
    customer bought (for segment_products.csv); a log is turned into features first."""
    from toolkit.segments._io import read_table

    kwargs = read.read_kwargs()
    try:
        from toolkit.features import compute_features, is_customer_table
    except ImportError:  # pragma: no cover - features is part of the package
        is_customer_table = compute_features = None  # type: ignore[assignment]
    if is_customer_table is not None and not is_customer_table(data, **kwargs):
        from toolkit.io import read_transactions
        from toolkit.segments._products import customer_products

        tx = read_transactions(data, **kwargs)
        try:
            features = compute_features(tx)
            products = customer_products(tx)
        finally:
            close = getattr(tx, "close", None)
            if close is not None:
                close()
        info(
            f"{data} is a transaction log: segmenting the features of {len(features):,} "
            "customers computed as of the day after the last purchase"
        )
        return features, "customer_id", products
    df = read_table(data, sep=read.sep, names=kwargs["names"], id_column=read.customer_col)
    announce_table(df)
    return df, read.customer_col, None


@app.command()
@with_raw_text
@with_read_options
@handle_errors
def segment(
    data: InputFile,
    out: Annotated[
        Path,
        typer.Option("--out", file_okay=False, help="Output directory (created if needed)."),
    ],
    method: Annotated[
        Method,
        typer.Option("--method", help="Clustering method; 'all' runs the four and compares them."),
    ] = Method.kmeans,
    k: Annotated[
        str, typer.Option("--k", help="Number of segments, or 'auto' to choose it from evidence.")
    ] = "auto",
    columns: Annotated[
        str | None,
        typer.Option(
            "--columns",
            help="Comma-separated clustering columns (default: the behavioural numbers; ids, "
            "outcomes, constants, free text and dates stay out, categories describe).",
        ),
    ] = None,
    include_categorical: Annotated[
        bool,
        typer.Option(
            "--include-categorical",
            help="Cluster on the categories (text, 0/1 flags, codes) too, one-hot encoded, "
            "instead of only describing the segments with them.",
        ),
    ] = False,
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            help="An outcome column (as train's --target) to keep out of the clustering.",
        ),
    ] = None,
    churn_list: Annotated[
        Path | None,
        typer.Option(
            "--churn-list",
            exists=True,
            dir_okay=False,
            help="A churn list (toolkit predict's CSV: customer_id, churn_probability, "
            "value_at_risk): each segment's churn risk, at-risk segments first in actions.csv.",
        ),
    ] = None,
    scale: Annotated[Scale, typer.Option("--scale", help="Scaling of the columns.")] = (
        Scale.minmax
    ),
    log_skewed: Annotated[
        bool,
        typer.Option(
            "--log-skewed/--no-log-skewed",
            help="log1p non-negative columns with skewness > 1 (money, counts).",
        ),
    ] = True,
    k_range: Annotated[
        str, typer.Option("--k-range", help="Range of k tried by --k auto, e.g. 2..10.")
    ] = "2..10",
    impute: Annotated[
        bool,
        typer.Option(
            "--impute/--no-impute",
            help="Impute missing values (median / most frequent) or refuse them.",
        ),
    ] = True,
    categorical: Annotated[
        Categorical,
        typer.Option("--categorical", help="One-hot encode text columns or refuse them."),
    ] = Categorical.onehot,
    embed: Annotated[
        Embed, typer.Option("--embed", help="2-D scatter of more than two columns: PCA or t-SNE.")
    ] = Embed.pca,
    sample_size: Annotated[
        int,
        typer.Option(
            "--sample-size",
            min=100,
            help="Above this many customers, parameters are chosen on a seeded sample.",
        ),
    ] = 20_000,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Write the PNG plots.")] = True,
    assign: Annotated[
        Path | None,
        typer.Option(
            "--assign",
            exists=True,
            file_okay=False,
            help="Apply the segmenter saved in this directory (a DIR/segmenter of an earlier "
            "run) to DATA instead of fitting.",
        ),
    ] = None,
    seed: SeedOption = 0,
    *,
    read: ReadOptions,
) -> None:
    """Cluster customers, choose k (or eps) from evidence, profile and name the segments."""
    from toolkit.io import staged_outputs
    from toolkit.segments._run import assign_table, segment_table

    with progress("segment") as update:
        update("reading")
        df, id_column, products = _load_customers(data, read)
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
            with staged_outputs(out) as stage:
                seg, segments, files = assign_table(assign, df, stage, id_column=id_column)
            files = [out / f.relative_to(stage) for f in files]
            counts = segments["segment_name"].value_counts()
            info(f"assigned {len(segments):,} customers to {seg.n_segments_} saved segments:")
            for name, n in counts.items():
                info(f"  {name}: {n:,}")
            info(f"wrote {', '.join(str(f) for f in files)}")
            return
        params: dict[str, Any] = {
            "k": _parse_k(k),
            "k_range": k_range,
            "columns": [c.strip() for c in columns.split(",") if c.strip()] if columns else None,
            "scale": scale.value,
            "log_skewed": log_skewed,
            "impute": impute,
            "categorical": categorical.value,
            "sample_size": sample_size,
            "random_state": seed,
            "include_categorical": include_categorical,
            "target": target,
        }
        if target is not None and target not in df.columns:
            raise InputError(
                f"--target {target!r} is not a column of {data}; columns: "
                f"{', '.join(map(repr, map(str, df.columns)))}"
            )
        churn = None
        if churn_list is not None:
            from toolkit.segments._run import read_churn_list

            churn = read_churn_list(churn_list)
        update("clustering")
        # every output lands at the end, together (a failed run leaves an older one whole);
        # scikit-learn's warnings (a k-means that finds fewer distinct points than k) are
        # summed up once each instead of printed per fit with file and line
        with staged_outputs(out) as stage, _library_warnings():
            run = segment_table(
                df,
                stage,
                method=method.value,
                id_column=id_column,
                embed=embed.value,
                plots=plots,
                products=products,
                churn=churn,
                **params,
            )
    _report(run, out, churn_list is not None)


def _fmt(v: Any, spec: str = ".3f") -> str:
    return "n/a" if v is None else format(v, spec)


def _report(run: Any, out: Path, churn: bool = False) -> None:
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


@contextmanager
def _library_warnings() -> Iterator[None]:
    """Collect the warnings of the libraries under a run; print each distinct one once."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    import re

    # one line per kind of warning: the same text but for its numbers is the same kind
    kinds: dict[str, tuple[str, int]] = {}
    for w in caught:
        if issubclass(w.category, DeprecationWarning | PendingDeprecationWarning | FutureWarning):
            continue  # for the libraries' developers, hidden from users as Python does
        lines = str(w.message).strip().splitlines()
        if lines:
            key = re.sub(r"\d+", "#", lines[0])
            first, n = kinds.get(key, (lines[0], 0))
            kinds[key] = (first, n + 1)
    for text, n in kinds.values():
        info(f"note: {text}" + (f" (and {n - 1} more like it)" if n > 1 else ""))


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
