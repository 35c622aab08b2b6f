"""PNG plots of a fitted segmentation (matplotlib's object API with the Agg renderer, no pyplot).

They read what the fit stored (selection table, labels, linkage, distinctiveness); the only
computation here is the silhouette of each plotted point and the 2-D embedding.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from toolkit.segments._io import write_atomic
from toolkit.segments._methods import sample_rows
from toolkit.segments._names import readable

if TYPE_CHECKING:
    from toolkit.segments._segmenter import Segmenter

MAX_SCATTER = 20_000
MAX_TSNE = 2_000  # t-SNE is quadratic-ish: about 10 s single-threaded for 2,000 points
NOISE_COLOR = "#9e9e9e"


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def _save(fig: Any, path: Path) -> Path:
    with write_atomic(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def _colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def _seg_label(seg: Segmenter, s: int) -> str:
    # segments are named by their names, never by their numbers (the names are unique)
    return str(seg.names_.get(s, "outliers / noise" if s < 0 else s))


def plot_selection(seg: Segmenter, path: Path) -> Path | None:
    """Evidence against the parameter: elbow + silhouette (+ CH, DB), BIC/AIC, or k-distance."""
    t = seg.selection_
    method = seg.metrics_["method"]
    if method in ("kmeans", "hierarchical"):
        if len(t) < 2:
            return None
        fig = _figure(10, 7)
        axes = fig.subplots(2, 2).ravel()
        ss = "inertia" if method == "kmeans" else "wss"
        panels = [
            (ss, "within-cluster sum of squares" + (" (inertia)" if method == "kmeans" else "")),
            ("silhouette", "mean silhouette (higher is better)"),
            ("calinski_harabasz", "Calinski-Harabasz (higher is better)"),
            ("davies_bouldin", "Davies-Bouldin (lower is better)"),
        ]
        groups = [("", t)] if method == "kmeans" else list(t.groupby("linkage", sort=False))
        for ax, (col, ylabel) in zip(axes, panels, strict=True):
            for name, g in groups:
                ax.plot(g["k"], g[col], marker="o", label=f"{name} linkage" if name else None)
                knees = g[g.get("knee", pd.Series(False, index=g.index)).astype(bool)]
                if col == ss and not knees.empty:
                    ax.axvline(knees["k"].iloc[0], color="grey", ls=":", lw=1)
                    ax.annotate(
                        "knee",
                        (knees["k"].iloc[0], knees[col].iloc[0]),
                        textcoords="offset points",
                        xytext=(6, 6),
                    )
            chosen = t[t["chosen"].astype(bool)]
            if not chosen.empty:
                ax.plot(
                    chosen["k"],
                    chosen[col],
                    marker="*",
                    ms=16,
                    color="crimson",
                    ls="none",
                    label=f"chosen k={int(chosen['k'].iloc[0])}",
                )
            ax.set_xlabel("number of segments k")
            ax.set_ylabel(ylabel)
            ax.grid(alpha=0.3)
        axes[1].legend(loc="best", fontsize=8)
        title = (
            "k-means: elbow and indices over k"
            if method == "kmeans"
            else ("hierarchical clustering: indices over k")
        )
        fig.suptitle(title)
        return _save(fig, path)
    if method == "gmm":
        fig = _figure(10, 4.2)
        axes = fig.subplots(1, 2)
        for ax, col in zip(axes, ("bic", "aic"), strict=True):
            for cov, g in t.groupby("covariance_type", sort=False):
                ax.plot(g["k"], g[col], marker="o", label=f"{cov} covariance")
            chosen = t[t["chosen"].astype(bool)]
            ax.plot(
                chosen["k"],
                chosen[col],
                marker="*",
                ms=16,
                color="crimson",
                ls="none",
                label="chosen (lowest BIC)",
            )
            ax.set_xlabel("number of components k")
            ax.set_ylabel(f"{col.upper()} (lower is better)")
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=8)
        fig.suptitle("Gaussian mixture: BIC and AIC over k and covariance type")
        return _save(fig, path)
    # dbscan
    kd = seg.extra_.get("k_distances")
    if kd is None:
        return None
    fig = _figure(10, 4.2)
    ax1, ax2 = fig.subplots(1, 2)
    ax1.plot(np.arange(len(kd)), kd, lw=1.5)
    eps = float(seg.params_["eps"])
    ax1.axhline(eps, color="crimson", ls="--", label=f"eps = {eps:.4g}")
    knee_i = seg.extra_.get("knee_index")
    if knee_i is not None:
        ax1.plot([knee_i], [kd[knee_i]], marker="o", color="crimson")
    ax1.set_xlabel("customers, sorted by k-distance")
    ax1.set_ylabel(f"distance to neighbour {seg.params_['min_samples']} (scaled units)")
    ax1.set_title("k-distance curve")
    ax1.legend()
    ax1.grid(alpha=0.3)
    ax2.plot(t["eps"], t["n_segments"], marker="o", label="segments")
    ax2.set_xlabel("eps")
    ax2.set_ylabel("number of segments")
    ax3 = ax2.twinx()
    ax3.plot(t["eps"], t["noise_share"], marker="s", color="grey", label="noise share")
    ax3.set_ylabel("share of customers marked noise")
    ax2.axvline(eps, color="crimson", ls="--")
    ax2.set_title("segments and noise around the chosen eps")
    ax2.grid(alpha=0.3)
    fig.suptitle("DBSCAN: choosing eps")
    return _save(fig, path)


def plot_silhouette(seg: Segmenter, X: np.ndarray, path: Path) -> Path | None:
    """Silhouette of every (sampled) customer, grouped by segment, with the mean."""
    from sklearn.metrics import silhouette_samples

    labels = seg.labels_
    if "silhouette_values" in seg.extra_:  # computed by fit for the metric
        rows, sil = seg.extra_["silhouette_rows"], seg.extra_["silhouette_values"]
        lab = labels[rows]
    else:
        rows = sample_rows(len(X), int(seg.silhouette_size), int(seg.random_state) + 2)
        rows = rows[labels[rows] >= 0]
        lab = labels[rows]
        if not 2 <= np.unique(lab).size < len(rows):
            return None
        sil = silhouette_samples(X[rows], lab)
    segs = sorted(np.unique(lab).tolist())
    colors = _colors(len(segs))
    fig = _figure(8, max(4.0, 0.5 * len(segs) + 3))
    ax = fig.subplots()
    y = 0
    ticks = []
    for i, s in enumerate(segs):
        vals = np.sort(sil[lab == s])
        ax.fill_betweenx(np.arange(y, y + len(vals)), 0, vals, color=colors[i], alpha=0.85)
        ticks.append(y + len(vals) / 2)
        y += len(vals) + max(2, len(rows) // 100)
    mean = float(sil.mean())
    ax.axvline(mean, color="crimson", ls="--", label=f"mean silhouette {mean:.3f}")
    ax.set_xlim(min(-0.1, float(sil.min()) - 0.05), 1)
    ax.set_yticks(ticks)
    ax.set_yticklabels([_seg_label(seg, s) for s in segs], fontsize=8)
    ax.set_xlabel("silhouette coefficient")
    ax.set_ylabel("segment (bar height = number of customers)")
    note = f" (sample of {len(rows):,})" if len(rows) < len(X) else ""
    ax.set_title(f"Silhouette of the chosen solution{note}")
    ax.legend(loc="lower right")
    return _save(fig, path)


def embedding(
    seg: Segmenter, df: pd.DataFrame, X: np.ndarray, how: str = "pca"
) -> tuple[np.ndarray, np.ndarray, str, str, str]:
    """2-D coordinates of (a sample of) the customers: rows, coords, x label, y label, kind."""
    prep = seg.preprocessor_
    seed = int(seg.random_state)
    if len(prep.numeric) == 2 and not prep.categorical and how == "pca":
        rows = sample_rows(len(X), MAX_SCATTER, seed + 3)
        a, b = prep.numeric
        coords = np.column_stack(
            [
                pd.to_numeric(prep.values(df, c), errors="coerce").to_numpy(dtype=float)[rows]
                for c in (a, b)
            ]
        )
        return rows, coords, a, b, "columns"
    if how == "tsne":
        from sklearn.manifold import TSNE
        from threadpoolctl import threadpool_limits

        rows = sample_rows(len(X), MAX_TSNE, seed + 3)
        perplexity = float(min(30, max(2, (len(rows) - 1) // 3)))
        with threadpool_limits(1):  # its OpenMP threads spin on a shared machine
            coords = TSNE(
                n_components=2, init="pca", random_state=seed, perplexity=perplexity
            ).fit_transform(X[rows])
        return rows, coords, "t-SNE 1", "t-SNE 2", "tsne"
    from sklearn.decomposition import PCA

    rows = sample_rows(len(X), MAX_SCATTER, seed + 3)
    if X.shape[1] == 1:
        coords = np.column_stack([X[rows, 0], np.zeros(len(rows))])
        return rows, coords, prep.feature_names[0] + " (scaled)", "", "columns"
    pca = PCA(n_components=2, random_state=seed).fit(X[rows])
    coords = pca.transform(X[rows])
    ev = pca.explained_variance_ratio_
    return rows, coords, f"PC1 ({ev[0]:.0%} of variance)", f"PC2 ({ev[1]:.0%} of variance)", "pca"


def plot_scatter(
    seg: Segmenter, df: pd.DataFrame, X: np.ndarray, path: Path, how: str = "pca"
) -> Path:
    """Customers in 2-D coloured by segment (the two columns, PCA or t-SNE)."""
    rows, coords, xlabel, ylabel, kind = embedding(seg, df, X, how)
    lab = seg.labels_[rows]
    segs = sorted(s for s in seg.names_ if s >= 0)
    colors = _colors(max(1, len(segs)))
    fig = _figure(8.5, 6.5)
    ax = fig.subplots()
    size = 14 if len(rows) <= 2000 else 4
    for i, s in enumerate(segs):
        m = lab == s
        ax.scatter(
            coords[m, 0],
            coords[m, 1],
            s=size,
            color=colors[i],
            alpha=0.75,
            label=_seg_label(seg, s),
            edgecolors="none",
        )
        if kind == "columns" and m.any():
            cx, cy = np.nanmean(coords[m, 0]), np.nanmean(coords[m, 1])
            ax.scatter([cx], [cy], marker="X", s=120, color="black")
    if (lab < 0).any():
        m = lab < 0
        ax.scatter(
            coords[m, 0],
            coords[m, 1],
            s=size + 6,
            color=NOISE_COLOR,
            marker="x",
            label=_seg_label(seg, -1),
        )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    what = {"columns": "", "pca": " (PCA of the scaled features)", "tsne": " (t-SNE)"}[kind]
    note = f", sample of {len(rows):,}" if len(rows) < len(X) else ""
    ax.set_title(f"Segments{what}{note}")
    ax.legend(fontsize=8, markerscale=2 if size < 10 else 1, loc="best")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_dendrogram(seg: Segmenter, path: Path) -> Path | None:
    """Truncated dendrogram (last 30 merges) with the cut that gives the chosen k."""
    from scipy.cluster.hierarchy import dendrogram

    Z = seg.extra_.get("linkage_matrix")
    if Z is None:
        return None
    k = int(seg.extra_.get("cut_k", seg.n_segments_))
    n_leaves = len(Z) + 1
    p = min(30, n_leaves)
    cut = float((Z[-k, 2] + Z[-(k - 1), 2]) / 2) if 1 < k < n_leaves else float(Z[-1, 2])
    d = dendrogram(Z, truncate_mode="lastp", p=p, no_plot=True, color_threshold=cut)
    fig = _figure(10, 5)
    ax = fig.subplots()
    for xs, ys, c in zip(d["icoord"], d["dcoord"], d["color_list"], strict=True):
        ax.plot(xs, ys, color=c if c != "C0" else "#555555", lw=1.2)
    ax.axhline(cut, color="crimson", ls="--", label=f"cut: k = {k}")
    ticks = 5 + 10 * np.arange(len(d["ivl"]))
    ax.set_xticks(ticks)
    ax.set_xticklabels(d["ivl"], rotation=90, fontsize=7)
    ax.set_xlabel("customers (in parentheses: how many a truncated branch holds)")
    linkage = seg.params_.get("linkage", "")
    ax.set_ylabel(f"merge distance ({linkage} linkage)")
    ax.set_title(f"Dendrogram ({linkage} linkage, last {p} merges)")
    ax.legend()
    return _save(fig, path)


def plot_heatmap(seg: Segmenter, path: Path) -> Path | None:
    """Segments x columns: standardised difference from the overall mean."""
    z = seg.distinctiveness_
    if z.empty:
        return None
    fig = _figure(max(6.0, 0.9 * z.shape[1] + 4), max(3.0, 0.55 * z.shape[0] + 2))
    ax = fig.subplots()
    im = ax.imshow(z.to_numpy(), cmap="RdBu_r", vmin=-2, vmax=2, aspect="auto")
    ax.set_xticks(range(z.shape[1]))
    ax.set_xticklabels([c if "=" in c else readable(c) for c in z.columns], rotation=35, ha="right")
    sizes = seg.profiles_.set_index("segment")["size"] if not seg.profiles_.empty else {}
    ax.set_yticks(range(z.shape[0]))
    ax.set_yticklabels([f"{_seg_label(seg, int(s))} (n={int(sizes.get(s, 0)):,})" for s in z.index])
    if z.size <= 400:
        for (i, j), v in np.ndenumerate(z.to_numpy()):
            ax.text(
                j,
                i,
                f"{v:+.1f}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if abs(v) > 1.2 else "black",
            )
    ax.set_xlabel("input column")
    ax.set_ylabel("segment")
    cb = fig.colorbar(im, ax=ax)
    logged = " (log1p columns on the log scale)" if seg.preprocessor_.log_columns else ""
    cb.set_label(f"(segment mean - overall mean) / overall sd{logged}")
    ax.set_title("Segment profiles")
    return _save(fig, path)


def write_plots(
    seg: Segmenter, df: pd.DataFrame, X: np.ndarray, out: Path, embed: str = "pca"
) -> list[Path]:
    """Every plot that applies to ``seg``, into ``out``; returns the files written."""
    method = seg.metrics_["method"]
    selection_name = {
        "kmeans": "elbow_silhouette.png",
        "hierarchical": "elbow_silhouette.png",
        "gmm": "bic_aic.png",
        "dbscan": "k_distance.png",
    }[method]
    written = [
        plot_selection(seg, out / selection_name),
        plot_silhouette(seg, X, out / "silhouette.png"),
        plot_scatter(seg, df, X, out / "scatter.png", embed),
        plot_dendrogram(seg, out / "dendrogram.png"),
        plot_heatmap(seg, out / "profiles_heatmap.png"),
    ]
    return [p for p in written if p is not None]
