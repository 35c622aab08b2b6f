"""A whole segmentation run: fit one or all methods, write segments, profiles, metrics, plots and
the saved segmenter (what ``toolkit segment`` does, usable from Python too)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from toolkit._version import __version__
from toolkit.errors import InputError
from toolkit.io._present import round_for_people
from toolkit.segments._io import find_id_column, read_table, write_frame, write_text
from toolkit.segments._methods import METHODS
from toolkit.segments._persist import jsonable
from toolkit.segments._playbook import actions_table, churn_by_segment
from toolkit.segments._prep import as_frame, id_columns
from toolkit.segments._products import segment_products
from toolkit.segments._profiles import profile_table
from toolkit.segments._segmenter import Segmenter

HEADLINE = (
    "k",
    "silhouette",
    "calinski_harabasz",
    "davies_bouldin",
    "inertia",
    "n_noise",
    "stability_ari",
    "sampled",
)
MAX_NOISE_SHARE = 0.5


@dataclass
class SegmentationRun:
    """What :func:`segment_table` did: fitted segmenters, the chosen method, files written."""

    segmenters: dict[str, Segmenter]
    best: str
    reason: str
    metrics: dict[str, Any]
    comparison: pd.DataFrame | None
    files: list[Path] = field(default_factory=list)
    #: with method="all": the methods that found no segmentation, and why
    skipped: dict[str, str] = field(default_factory=dict)
    #: what to tell the user about the run (the libraries' warnings, summed up)
    notes: list[str] = field(default_factory=list)

    @property
    def segmenter(self) -> Segmenter:
        """The chosen method's segmenter."""
        return self.segmenters[self.best]


def customer_ids(df: pd.DataFrame, id_column: str | None = None) -> tuple[str, pd.Series]:
    """``("customer_id", ids as text)`` from the id column, else ``("row", 0, 1, ...)``."""
    if id_column is not None:
        if id_column not in df.columns:
            raise InputError(
                f"customer id column {id_column!r} not found; available columns: "
                f"{', '.join(map(repr, map(str, df.columns)))}"
            )
        return "customer_id", df[id_column].astype("string").reset_index(drop=True)
    ids = id_columns(df)
    if ids:
        return "customer_id", df[ids[0]].astype("string").reset_index(drop=True)
    return "row", pd.Series(np.arange(len(df)), name="row")


def segments_frame(seg: Segmenter, labels: np.ndarray, ids: tuple[str, pd.Series]) -> pd.DataFrame:
    """``customer_id`` (or ``row``), ``segment``, ``segment_name``."""
    codes = sorted(seg.names_)
    position = np.searchsorted(codes, labels)
    names = pd.Categorical.from_codes(position, categories=[seg.names_[c] for c in codes])
    return pd.DataFrame(
        {ids[0]: ids[1].to_numpy(), "segment": labels.astype(np.int64), "segment_name": names}
    )


def choose_best(segs: dict[str, Segmenter]) -> tuple[str, str]:
    """Highest silhouette among solutions with >= 2 segments and at most half noise.

    DBSCAN's silhouette leaves its noise out, which flatters it; for the comparison its noise
    customers count as silhouette 0 (scikit-learn's value for a customer alone in a segment),
    i.e. its silhouette is multiplied by the share of customers that are not noise.
    """
    ok = {
        m: s.metrics_["silhouette"] * (1.0 - s.metrics_.get("noise_share", 0.0))
        for m, s in segs.items()
        if s.metrics_["silhouette"] is not None
        and s.n_segments_ >= 2
        and s.metrics_.get("noise_share", 0.0) <= MAX_NOISE_SHARE
    }
    if not ok:
        first = next(iter(segs))
        return first, f"{first}: no method produced two or more segments with a silhouette"
    best = max(ok, key=lambda m: (round(ok[m], 9), -METHODS.index(m)))
    listed = ", ".join(f"{m} {v:.3f}" for m, v in ok.items())
    return best, (
        f"{best}: highest silhouette ({listed}; DBSCAN's noise counted as 0) among methods with "
        f"at least 2 segments and at most {MAX_NOISE_SHARE:.0%} noise"
    )


def _data_summary(seg: Segmenter, n_rows: int, id_name: str, id_col: str | None) -> dict[str, Any]:
    prep = seg.preprocessor_
    return {
        "rows": n_rows,
        "id_column": id_col if id_name == "customer_id" else None,
        "columns": prep.model_columns,
        "features": prep.feature_names,
        "skipped_columns": prep.skipped,
        "imputed": {c: n for c, n in prep.n_imputed.items() if n},
        "n_imputed": int(sum(prep.n_imputed.values())),
        "log_columns": prep.log_columns,
        "skew_threshold": seg.skew_threshold,
        "scale": prep.scale,
        "one_hot": prep.categories,
        "describe": prep.describe,
        "derived": {c: {"from": v[0], "days_before": v[1]} for c, v in prep.ages.items()},
        "column_rules": prep.reasons,
    }


def _metrics_doc(
    segs: dict[str, Segmenter], best: str, reason: str, data: dict[str, Any]
) -> dict[str, Any]:
    head = {k: segs[best].metrics_.get(k) for k in HEADLINE if k in segs[best].metrics_}
    return {
        "toolkit_version": __version__,
        "data": data,
        "method": best,
        "choice": reason,
        **head,
        "names": {str(k): v for k, v in segs[best].names_.items()},
        "naming": segs[best].metrics_.get("naming"),
        "methods": {m: s.metrics_ for m, s in segs.items()},
    }


def read_churn_list(path: str | Path) -> pd.DataFrame:
    """A churn list (``toolkit predict``'s CSV, or any table with a customer id column and
    ``churn_probability``, optionally ``value_at_risk``) as ``customer_id`` (text),
    ``churn_probability`` and ``value_at_risk``; bad input is an :class:`InputError` naming it."""
    path = Path(path)
    table = read_table(path)
    id_col = "customer_id" if "customer_id" in table.columns else find_id_column(table)
    if id_col is None:
        raise InputError(
            f"`churn_list` {str(path)!r}: no customer id column (expected 'customer_id'); "
            f"columns: {', '.join(map(repr, map(str, table.columns)))}"
        )
    if "churn_probability" not in table.columns:
        raise InputError(
            f"`churn_list` {str(path)!r}: no 'churn_probability' column; columns: "
            f"{', '.join(map(repr, map(str, table.columns)))}"
        )
    out = pd.DataFrame({"customer_id": table[id_col].astype("string")})
    for col in ("churn_probability", "value_at_risk"):
        if col not in table.columns:
            continue
        values = pd.to_numeric(table[col], errors="coerce")
        bad = values.isna() & table[col].notna()
        if bad.any():
            raise InputError(
                f"`churn_list` {str(path)!r}: column {col!r} must be numeric; found "
                f"{table[col][bad].iloc[0]!r}"
            )
        out[col] = values.astype("float64")
    p = out["churn_probability"].dropna()
    if ((p < 0) | (p > 1)).any():
        raise InputError(
            f"`churn_list` {str(path)!r}: 'churn_probability' must lie in [0, 1]; found "
            f"{float(p[(p < 0) | (p > 1)].iloc[0])!r}"
        )
    return out.drop_duplicates("customer_id")


def playbook_outputs(
    seg: Segmenter,
    profiles: pd.DataFrame,
    segments: pd.DataFrame,
    churn: pd.DataFrame | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(profiles, actions)``: the actions (with each segment's churn risk when a churn list is
    given, at-risk segments first) and the profiles with the same action and risk columns."""
    stats = None
    if churn is not None and segments.columns[0] == "customer_id":
        stats = churn_by_segment(segments, churn)
        if stats.attrs["n_matched"] == 0:
            raise InputError(
                "the churn list shares no customer id with the segmented data; "
                "check that both come from the same customers"
            )
    actions = actions_table(profiles, getattr(seg, "actions_", {}), stats)
    # columns of an earlier playbook (profiles.csv read back by attach_churn) are replaced
    earlier = ["action", "rule", "evidence", "basis", "at_risk", "n_scored"]
    earlier += [c for c in profiles.columns if c.startswith(("churn_probability", "value_at_risk"))]
    profiles = profiles.drop(columns=earlier, errors="ignore")
    extra = [c for c in actions.columns if c not in ("priority", "segment_name", "size", "share")]
    merged = profiles.merge(actions[extra], on="segment", how="left")
    # the action right after the share, as before; risk columns after it
    front = ["segment", "segment_name", "size", "share", "action"]
    risk = [c for c in extra if c not in ("segment", "action", "rule", "evidence", "basis")]
    rest = [c for c in merged.columns if c not in front + risk + ["rule", "evidence", "basis"]]
    return merged[front + risk + rest], actions


def _for_people(table: pd.DataFrame) -> pd.DataFrame:
    """Profiles and actions with numbers a person reads (shares to 4 decimals, the rest to 2)."""

    kinds: dict[str, str] = {}
    for col in table.columns:
        name = str(col)
        if name == "share" or name.endswith("_share") or name.startswith("churn_probability"):
            kinds[name] = "probability"
        elif name.startswith("value_at_risk"):
            kinds[name] = "money"
        elif name.endswith(("_mean", "_median", "_ratio")):
            kinds[name] = "ratio"
    return round_for_people(table, kinds)


def write_method_outputs(
    seg: Segmenter,
    df: pd.DataFrame,
    X: np.ndarray,
    ids: tuple[str, pd.Series],
    out: Path,
    metrics_doc: dict[str, Any],
    *,
    embed: str = "pca",
    plots: bool = True,
    products: tuple[pd.DataFrame, pd.Series | None] | None = None,
    churn: pd.DataFrame | None = None,
) -> list[Path]:
    """segments.csv, profiles.csv, actions.csv, segment_products.csv (with ``products``),
    metrics.json, plots and segmenter/ for one method."""
    from toolkit.segments._plots import write_plots

    out.mkdir(parents=True, exist_ok=True)
    files = [
        out / "segments.csv",
        out / "profiles.csv",
        out / "actions.csv",
        out / "metrics.json",
    ]
    segments = segments_frame(seg, seg.labels_, ids)
    profiles, actions = playbook_outputs(seg, seg.profiles_, segments, churn)
    write_frame(segments, files[0])
    write_frame(_for_people(profiles), files[1])
    write_frame(_for_people(actions), files[2])
    if products is not None and ids[0] == "customer_id":
        table = segment_products(segments, products[0], products[1])
        files.append(out / "segment_products.csv")
        write_frame(table, files[-1])
    write_text(json.dumps(jsonable(metrics_doc), indent=1, allow_nan=False) + "\n", files[3])
    if plots:
        files += write_plots(seg, df, X, out, embed=embed)
    files.append(seg.save(out / "segmenter"))
    return files


def attach_churn(directory: str | Path, churn_list: str | Path) -> list[Path]:
    """Add each segment's churn risk to a written segmentation (``toolkit run``: the churn list
    comes after the segments, whose segmenter the models use): rewrites ``profiles.csv`` and
    ``actions.csv`` in ``directory``, at-risk segments first."""
    directory = Path(directory)
    seg = Segmenter.load(directory / "segmenter")
    segments = pd.read_csv(directory / "segments.csv", dtype={"customer_id": "string"})
    profiles = pd.read_csv(directory / "profiles.csv")
    churn = read_churn_list(churn_list)
    profiles, actions = playbook_outputs(seg, profiles, segments, churn)
    files = [directory / "profiles.csv", directory / "actions.csv"]
    write_frame(_for_people(profiles), files[0])
    write_frame(_for_people(actions), files[1])
    return files


def segment_table(
    data: Any,
    out: str | Path,
    *,
    method: str = "kmeans",
    id_column: str | None = None,
    embed: str = "pca",
    plots: bool = True,
    products: tuple[pd.DataFrame, pd.Series | None] | None = None,
    churn: pd.DataFrame | None = None,
    **params: Any,
) -> SegmentationRun:
    """Segment a customer table and write every output into ``out``.

    ``products`` (from :func:`toolkit.segments._products.customer_products`) adds
    ``segment_products.csv``; ``churn`` (from :func:`read_churn_list`) adds each segment's churn
    risk to ``profiles.csv`` and ``actions.csv``.

    ``method="all"`` fits the four methods, writes each into ``out/<method>/``, the comparison
    table ``out/comparison.csv``, and the chosen one (highest silhouette, see
    :func:`choose_best`) again at the top of ``out``.

    Examples
    --------
    >>> import numpy as np, pandas as pd, tempfile, pathlib
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"id": [f"c{i}" for i in range(60)],
    ...                    "x": np.r_[rng.normal(0, 1, 30), rng.normal(10, 1, 30)]})
    >>> with tempfile.TemporaryDirectory() as d:
    ...     run = segment_table(df, d, k=2, n_bootstrap=0, plots=False)
    ...     sorted(p.name for p in pathlib.Path(d).iterdir())
    ['actions.csv', 'metrics.json', 'profiles.csv', 'segmenter', 'segments.csv']
    """
    df = as_frame(data)
    out = Path(out)
    embed = str(getattr(embed, "value", embed))
    if embed not in ("pca", "tsne"):
        raise InputError(f"embed must be 'pca' or 'tsne', got {embed!r}")
    method = str(getattr(method, "value", method))
    methods = list(METHODS) if method == "all" else [method]
    ids = customer_ids(df, id_column)
    id_col = id_column or (id_columns(df)[0] if ids[0] == "customer_id" else None)
    segs: dict[str, Segmenter] = {}
    encoded: dict[str, np.ndarray] = {}
    skipped: dict[str, str] = {}
    for m in methods:
        try:
            seg = Segmenter(method=m, **params).fit(df)
        except InputError as exc:
            # one method finding nothing (DBSCAN: all noise) leaves the others to compare
            if len(methods) == 1 or (not segs and len(skipped) == len(methods) - 1):
                raise
            skipped[m] = str(exc)
            continue
        segs[m] = seg
        encoded[m] = seg.encode(df)
    compare = len(methods) > 1
    methods = list(segs)
    data_summary = _data_summary(next(iter(segs.values())), len(df), ids[0], id_col)
    files: list[Path] = []
    comparison = None
    if not compare:
        best, reason = methods[0], f"{methods[0]}: the method asked for"
    else:
        best, reason = choose_best(segs)
        rows = []
        for m, s in segs.items():
            mt = s.metrics_
            rows.append(
                {
                    "method": m,
                    "k": mt["k"],
                    "silhouette": mt["silhouette"],
                    "silhouette_noise_as_0": None
                    if mt["silhouette"] is None
                    else mt["silhouette"] * (1.0 - mt.get("noise_share", 0.0)),
                    "calinski_harabasz": mt["calinski_harabasz"],
                    "davies_bouldin": mt["davies_bouldin"],
                    "inertia": mt.get("inertia"),
                    "n_noise": mt.get("n_noise"),
                    "stability_ari": mt["stability_ari"],
                    "sampled": mt["sampled"],
                    "chosen": m == best,
                    "params": json.dumps(jsonable(mt["params"])),
                    "reason": mt["reason"],
                }
            )
        comparison = pd.DataFrame(rows)
        comparison["n_noise"] = comparison["n_noise"].astype("Int64")
        for m, s in segs.items():
            doc = _metrics_doc({m: s}, m, f"{m}: one of --method all", data_summary)
            files += write_method_outputs(
                s,
                df,
                encoded[m],
                ids,
                out / m,
                doc,
                embed=embed,
                plots=plots,
                products=products,
                churn=churn,
            )
        write_frame(comparison, out / "comparison.csv")
        files.append(out / "comparison.csv")
    doc = _metrics_doc(segs, best, reason, data_summary)
    files += write_method_outputs(
        segs[best],
        df,
        encoded[best],
        ids,
        out,
        doc,
        embed=embed,
        plots=plots,
        products=products,
        churn=churn,
    )
    return SegmentationRun(segs, best, reason, doc, comparison, files, skipped)


def assign_table(
    segmenter_dir: str | Path, data: Any, out: str | Path, *, id_column: str | None = None
) -> tuple[Segmenter, pd.DataFrame, list[Path]]:
    """Apply a saved segmenter to ``data``; writes ``out/segments.csv``, ``out/profiles.csv``
    (with the saved segments' actions) and ``out/actions.csv``."""
    seg = Segmenter.load(segmenter_dir)
    df = as_frame(data)
    labels = seg.predict(df)
    ids = customer_ids(df, id_column)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    segments = segments_frame(seg, labels, ids)
    files = [out / "segments.csv", out / "profiles.csv", out / "actions.csv"]
    profiles = profile_table(
        df, seg.preprocessor_, labels, seg.names_, {s: a[1] for s, a in seg.actions_.items()}
    )
    profiles, actions = playbook_outputs(seg, profiles, segments, None)
    write_frame(segments, files[0])
    write_frame(_for_people(profiles), files[1])
    write_frame(_for_people(actions), files[2])
    return seg, segments, files
