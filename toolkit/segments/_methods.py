"""The four clustering methods: choose their parameters from evidence, fit, resample.

Rules (also written into ``metrics.json`` as each run's ``reason``):

* **k-means** and **hierarchical**: for every k in the range the within-cluster sum of squares
  (k-means' inertia), silhouette, Calinski-Harabasz and Davies-Bouldin are computed; the knee of
  the sum-of-squares curve is found with ``kneed``. Four criteria vote (elbow knee, highest
  silhouette, highest Calinski-Harabasz, lowest Davies-Bouldin); the k with most votes wins and
  ties go to the higher silhouette. **Parsimony**: the silhouette of every k comes with its noise
  (the standard deviation of the mean silhouette over 200 bootstrap resamples of the customers'
  silhouette values); when smaller k have a silhouette within one such deviation of the voted
  k's, the evidence does not tell them apart and the smallest of them wins. Hierarchical runs
  Ward and average linkage; the linkage whose chosen solution has the higher silhouette wins,
  among solutions whose smallest segment holds at least 1 % of the customers (average linkage
  likes to split off single outliers).
* **Gaussian mixture**: BIC and AIC for every k and covariance type; the lowest BIC wins.
* **DBSCAN**: ``min_samples`` = 2 x dimensions; ``eps`` = the knee of the sorted distances to the
  ``min_samples``-th neighbour (k-distance curve). Noise is kept as segment -1.

Indices are computed in the scaled model space; DBSCAN's on its non-noise customers.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from toolkit.segments._models import (
    CentroidModel,
    CoreModel,
    GaussianModel,
    Model,
    NearestPointModel,
)

METHODS = ("kmeans", "dbscan", "hierarchical", "gmm")
#: the rule each method's automatic choice follows (also in metrics.json as "rule")
RULES = {
    "kmeans": "k with the most votes among the elbow knee (kneed), the silhouette peak, the "
    "Calinski-Harabasz maximum and the Davies-Bouldin minimum; ties go to the higher silhouette; "
    "then the smallest k whose silhouette lies within one bootstrap sd of the voted k's",
    "hierarchical": "per linkage (Ward, average), k by the same vote as k-means (knee of the "
    "within-cluster sum of squares); then the linkage with the higher silhouette among solutions "
    "whose smallest segment holds at least 1% of the customers; the parsimony rule of k-means "
    "applies per linkage",
    "gmm": "the number of components and covariance type with the lowest BIC",
    "dbscan": "eps at the knee (kneed) of the sorted distances to the min_samples-th neighbour; "
    "min_samples = 2 x number of model columns; noise kept as segment -1",
}
LINKAGES = ("ward", "average")
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
MIN_SHARE = 0.01  # smallest segment a hierarchical solution may have to win the linkage choice
N_SILHOUETTE_BOOT = 200  # resamples for the noise of a mean silhouette (cheap: no refits)


@dataclass
class Context:
    """What every method needs besides the data."""

    k: int | None
    k_range: tuple[int, int]
    random_state: int
    n_init: int
    sil_idx: np.ndarray  # rows of the evaluation matrix used for silhouette
    eps: float | None = None
    min_samples: int | None = None
    linkage: str = "auto"
    covariance_type: str = "auto"
    linkage_size: int = 5000


@dataclass
class MethodResult:
    """A fitted method on the evaluation matrix."""

    model: Model
    labels: np.ndarray  # raw labels of the evaluation rows
    selection: pd.DataFrame
    params: dict[str, Any]
    reason: str
    refit: Callable[[np.ndarray, int], Model]
    fit_rows: np.ndarray | None = None  # rows of the evaluation matrix the model was fitted on
    extra: dict[str, Any] = field(default_factory=dict)


# --- indices -------------------------------------------------------------------------------------


def indices(
    X: np.ndarray,
    labels: np.ndarray,
    sil_idx: np.ndarray | None = None,
    *,
    keep_samples: bool = False,
) -> dict[str, Any]:
    """Silhouette (on ``sil_idx`` rows), Calinski-Harabasz, Davies-Bouldin, within-cluster SS.

    Noise (-1) is left out. Indices are ``None`` when fewer than two segments remain. The
    silhouette is the mean of :func:`sklearn.metrics.silhouette_samples`, which is exactly how
    ``silhouette_score`` computes it; ``keep_samples`` also returns the rows and their values.
    """
    from sklearn.metrics import (
        calinski_harabasz_score,
        davies_bouldin_score,
        silhouette_samples,
    )

    keep = labels >= 0
    out: dict[str, Any] = {
        "silhouette": None,
        "calinski_harabasz": None,
        "davies_bouldin": None,
        "wss": within_ss(X[keep], labels[keep]),
        "silhouette_n": 0,
        "silhouette_sd": None,
    }
    n_seg = np.unique(labels[keep]).size
    if n_seg < 2 or n_seg >= keep.sum():
        return out
    Xk, lk = X[keep], labels[keep]
    out["calinski_harabasz"] = float(calinski_harabasz_score(Xk, lk))
    out["davies_bouldin"] = float(davies_bouldin_score(Xk, lk))
    if sil_idx is None:
        sil_idx = np.arange(len(X))
    sub = sil_idx[keep[sil_idx]]
    if 2 <= np.unique(labels[sub]).size < sub.size:
        values = silhouette_samples(X[sub], labels[sub])
        out["silhouette"] = float(np.mean(values))
        out["silhouette_n"] = int(sub.size)
        out["silhouette_sd"] = silhouette_noise(values)
        if keep_samples:
            out["silhouette_rows"], out["silhouette_values"] = sub, values
    return out


def silhouette_noise(values: np.ndarray, seed: int = 0) -> float:
    """Bootstrap standard deviation of a mean silhouette: how much it moves when other customers
    of the same population had been drawn (resampling the per-customer values, no refits).

    Examples
    --------
    >>> round(silhouette_noise(np.zeros(50)), 3)
    0.0
    """
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(N_SILHOUETTE_BOOT, len(values)))
    return float(values[idx].mean(axis=1).std())


def within_ss(X: np.ndarray, labels: np.ndarray) -> float:
    """Sum of squared distances to the segment means (k-means' inertia)."""
    total = 0.0
    for lab in np.unique(labels):
        part = X[labels == lab]
        total += float(((part - part.mean(axis=0)) ** 2).sum())
    return total


def knee(x: list[int] | np.ndarray, y: list[float] | np.ndarray, *, increasing: bool) -> Any:
    """The knee of a convex curve (``kneed``); ``None`` when there is none."""
    from kneed import KneeLocator

    if len(x) < 3:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loc = KneeLocator(
            list(x),
            list(y),
            curve="convex",
            direction="increasing" if increasing else "decreasing",
        )
    return loc.knee


def vote_k(table: pd.DataFrame, knee_k: Any) -> tuple[int, str]:
    """Choose k from the evidence table (k, silhouette, calinski_harabasz, davies_bouldin)."""
    t = table.dropna(subset=["silhouette"])
    if t.empty:
        k = int(table["k"].iloc[0])
        return k, f"k={k}: no k in the range gives two or more segments"
    sil = dict(zip(t["k"].astype(int), t["silhouette"], strict=True))
    picks: dict[str, int] = {
        "silhouette peak": int(t.loc[t["silhouette"].idxmax(), "k"]),
        "Calinski-Harabasz maximum": int(t.loc[t["calinski_harabasz"].idxmax(), "k"]),
        "Davies-Bouldin minimum": int(t.loc[t["davies_bouldin"].idxmin(), "k"]),
    }
    if knee_k is not None and int(knee_k) in sil:
        picks = {"elbow knee": int(knee_k), **picks}
    votes = Counter(picks.values())
    best = max(votes, key=lambda k: (votes[k], sil[k], -k))
    agree = [name for name, k in picks.items() if k == best]
    other = [f"{name} at {k}" for name, k in picks.items() if k != best]
    reason = (
        f"k={best}: chosen by {len(agree)} of {len(picks)} criteria ({', '.join(agree)})"
        + (f"; {', '.join(other)}" if other else "")
        + ". Rule: most votes among elbow knee, silhouette peak, Calinski-Harabasz maximum and "
        "Davies-Bouldin minimum; ties go to the higher silhouette."
    )
    if knee_k is None:
        reason += " No knee was found in the sum-of-squares curve."
    if "silhouette_sd" in t and pd.notna(t.loc[t["k"] == best, "silhouette_sd"]).all():
        noise = float(t.loc[t["k"] == best, "silhouette_sd"].iloc[0])
        floor = sil[best] - noise
        flat = sorted(k for k in sil if k < best and sil[k] >= floor)
        if flat:
            voted, best = best, flat[0]
            listed = ", ".join(f"k={k} {sil[k]:.3f}" for k in [*flat, voted])
            reason = (
                f"k={best}: parsimony. The vote chose k={voted} (silhouette {sil[voted]:.3f}), but "
                f"smaller k reach at least its silhouette less one bootstrap sd ({noise:.3f}) "
                f"({listed}): the evidence does not favour the larger k, so the smallest such k "
                f"wins. Vote: {reason}"
            )
    return best, reason


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def sample_rows(n: int, size: int, seed: int) -> np.ndarray:
    """All rows when ``n <= size``, else a sorted seeded sample of ``size`` rows."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))


def _k_values(ctx: Context, n: int) -> list[int]:
    if ctx.k is not None:
        return [ctx.k]
    lo, hi = ctx.k_range
    hi = min(hi, n - 1)
    return list(range(lo, hi + 1))


def _ari_stability(
    X: np.ndarray,
    ref: np.ndarray,
    refit: Callable[[np.ndarray, int], Model],
    n_boot: int,
    seed: int,
) -> tuple[float | None, float | None]:
    """Mean and sd of the adjusted Rand index between ``ref`` and bootstrap refits.

    Each resample draws the rows with replacement, refits the chosen configuration on it, assigns
    every original row with the refitted model and compares with the reference labels.
    """
    from sklearn.metrics import adjusted_rand_score

    if n_boot <= 0 or len(X) < 3:
        return None, None
    rng = np.random.default_rng(seed)
    scores = []
    for b in range(n_boot):
        idx = rng.integers(0, len(X), len(X))
        model = refit(X[idx], seed + b + 1)
        scores.append(adjusted_rand_score(ref, model.assign(X)))
    return float(np.mean(scores)), float(np.std(scores))


stability = _ari_stability


# --- k-means -------------------------------------------------------------------------------------


def run_kmeans(X: np.ndarray, ctx: Context) -> MethodResult:
    from sklearn.cluster import KMeans

    rows = []
    fitted: dict[int, Any] = {}
    for k in _k_values(ctx, len(X)):
        km = KMeans(n_clusters=k, n_init=ctx.n_init, random_state=ctx.random_state).fit(X)
        fitted[k] = km
        ix = indices(X, km.labels_, ctx.sil_idx)
        rows.append(
            {
                "k": k,
                "inertia": float(km.inertia_),
                "silhouette": ix["silhouette"],
                "silhouette_sd": ix["silhouette_sd"],
                "calinski_harabasz": ix["calinski_harabasz"],
                "davies_bouldin": ix["davies_bouldin"],
            }
        )
    table = pd.DataFrame(rows)
    if ctx.k is not None:
        k, knee_k = ctx.k, None
        reason = f"k={k} given by the user"
    else:
        knee_k = knee(table["k"], table["inertia"], increasing=False)
        k, reason = vote_k(table, knee_k)
    table["knee"] = table["k"] == knee_k
    table["chosen"] = table["k"] == k
    km = fitted[k]

    def refit(Xb: np.ndarray, seed: int) -> Model:
        return CentroidModel(
            KMeans(n_clusters=k, n_init=ctx.n_init, random_state=seed).fit(Xb).cluster_centers_
        )

    return MethodResult(
        model=CentroidModel(km.cluster_centers_.astype(np.float64)),
        labels=km.labels_.astype(np.int64),
        selection=table,
        params={"k": k, "n_init": ctx.n_init, "knee": None if knee_k is None else int(knee_k)},
        reason=reason,
        refit=refit,
    )


def kmeans_full(X: np.ndarray, centroids: np.ndarray) -> tuple[CentroidModel, np.ndarray, float]:
    """Fit k-means on all of ``X`` starting from centroids found on a sample (one init)."""
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=len(centroids), init=centroids, n_init=1).fit(X)
    return CentroidModel(km.cluster_centers_), km.labels_.astype(np.int64), float(km.inertia_)


# --- Gaussian mixture ----------------------------------------------------------------------------


def run_gmm(X: np.ndarray, ctx: Context) -> MethodResult:
    from sklearn.mixture import GaussianMixture

    types = COVARIANCE_TYPES if ctx.covariance_type == "auto" else (ctx.covariance_type,)
    rows = []
    best: tuple[float, int, str, Any] | None = None
    for cov in types:
        for k in _k_values(ctx, len(X)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # ConvergenceWarning on tiny data
                gmm = GaussianMixture(
                    n_components=k, covariance_type=cov, random_state=ctx.random_state, n_init=1
                ).fit(X)
            bic, aic = float(gmm.bic(X)), float(gmm.aic(X))
            rows.append({"covariance_type": cov, "k": k, "bic": bic, "aic": aic})
            if best is None or bic < best[0]:
                best = (bic, k, cov, gmm)
    assert best is not None
    _, k, cov, gmm = best
    table = pd.DataFrame(rows)
    table["chosen"] = (table["k"] == k) & (table["covariance_type"] == cov)
    model = GaussianModel.from_sklearn(gmm)
    if ctx.k is not None and ctx.covariance_type != "auto":
        reason = f"k={k} and covariance type {cov!r} given by the user"
    else:
        reason = (
            f"k={k}, covariance {cov!r}: lowest BIC ({best[0]:.1f}) over "
            + (f"k in {ctx.k_range[0]}..{ctx.k_range[1]}" if ctx.k is None else f"k={ctx.k}")
            + f" and covariance types {', '.join(types)}. Rule: lowest BIC."
        )

    def refit(Xb: np.ndarray, seed: int) -> Model:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            g = GaussianMixture(n_components=k, covariance_type=cov, random_state=seed).fit(Xb)
        return GaussianModel.from_sklearn(g)

    return MethodResult(
        model=model,
        labels=model.assign(X),
        selection=table,
        params={"k": k, "covariance_type": cov, "bic": best[0], "aic": float(gmm.aic(X))},
        reason=reason,
        refit=refit,
    )


# --- hierarchical --------------------------------------------------------------------------------


def _cut(Z: np.ndarray, k: int) -> np.ndarray:
    from scipy.cluster.hierarchy import fcluster

    return (fcluster(Z, k, criterion="maxclust") - 1).astype(np.int64)


def run_hierarchical(X: np.ndarray, ctx: Context) -> MethodResult:
    from scipy.cluster.hierarchy import linkage

    rows_idx = np.arange(len(X))
    if len(X) > ctx.linkage_size:
        rng = np.random.default_rng(ctx.random_state + 7)
        rows_idx = np.sort(rng.choice(len(X), ctx.linkage_size, replace=False))
    Xh = X[rows_idx]
    sil_h = sample_rows(len(Xh), len(ctx.sil_idx), ctx.random_state + 11)
    links = LINKAGES if ctx.linkage == "auto" else (ctx.linkage,)
    rows = []
    per_link: dict[str, tuple[int, str, np.ndarray]] = {}
    for method in links:
        Z = linkage(Xh, method=method)
        t_rows = []
        for k in _k_values(ctx, len(Xh)):
            labels = _cut(Z, k)
            ix = indices(Xh, labels, sil_h)
            t_rows.append(
                {
                    "linkage": method,
                    "k": k,
                    "n_segments": int(np.unique(labels).size),
                    "wss": ix["wss"],
                    "silhouette": ix["silhouette"],
                    "silhouette_sd": ix["silhouette_sd"],
                    "calinski_harabasz": ix["calinski_harabasz"],
                    "davies_bouldin": ix["davies_bouldin"],
                    "min_share": float(np.bincount(labels).min() / len(labels)),
                }
            )
        t = pd.DataFrame(t_rows)
        if ctx.k is not None:
            k, reason, knee_k = ctx.k, f"k={ctx.k} given by the user", None
        else:
            knee_k = knee(t["k"], t["wss"], increasing=False)
            k, reason = vote_k(t, knee_k)
        t["knee"] = t["k"] == knee_k
        per_link[method] = (k, reason, Z)
        rows.append(t)
    table = pd.concat(rows, ignore_index=True)

    def score(method: str) -> tuple[bool, float]:
        row = table[(table["linkage"] == method) & (table["k"] == per_link[method][0])].iloc[0]
        sil = row["silhouette"]
        return bool(row["min_share"] >= MIN_SHARE), -np.inf if pd.isna(sil) else float(sil)

    chosen = max(links, key=lambda m: (*score(m), m == "ward"))
    k, reason, Z = per_link[chosen]
    if len(links) > 1:
        others = [
            f"{m} linkage at k={per_link[m][0]}: silhouette {score(m)[1]:.3f}"
            + ("" if score(m)[0] else f" (a segment under {MIN_SHARE:.0%})")
            for m in links
        ]
        reason = (
            f"{chosen} linkage, {reason} Linkage: highest silhouette at its chosen k among "
            f"solutions whose smallest segment holds at least {MIN_SHARE:.0%} "
            f"({'; '.join(others)})."
        )
    table["chosen"] = (table["linkage"] == chosen) & (table["k"] == k)
    labels = _cut(Z, k)

    def refit(Xb: np.ndarray, seed: int) -> Model:
        return NearestPointModel(Xb, _cut(linkage(Xb, method=chosen), k))

    # evaluation rows outside the linkage sample go to the nearest fitted point
    model = NearestPointModel(Xh, labels)
    full = np.empty(len(X), dtype=np.int64)
    full[rows_idx] = labels
    rest = np.setdiff1d(np.arange(len(X)), rows_idx)
    if rest.size:
        full[rest] = model.assign(X[rest])
    return MethodResult(
        model=model,
        labels=full,
        selection=table,
        params={"k": k, "linkage": chosen},
        reason=reason,
        refit=refit,
        fit_rows=rows_idx,
        extra={"linkage_matrix": Z, "cut_k": k},
    )


# --- DBSCAN --------------------------------------------------------------------------------------


def k_distances(X: np.ndarray, min_samples: int) -> np.ndarray:
    """Sorted distance of every row to its ``min_samples``-th neighbour (itself included)."""
    from sklearn.neighbors import NearestNeighbors

    m = min(min_samples, len(X))
    dist, _ = NearestNeighbors(n_neighbors=m).fit(X).kneighbors(X)
    return np.sort(dist[:, -1])


def _dbscan(X: np.ndarray, eps: float, min_samples: int) -> tuple[np.ndarray, CoreModel]:
    from sklearn.cluster import DBSCAN

    db = DBSCAN(eps=eps, min_samples=min_samples).fit(X)
    core = db.core_sample_indices_
    return db.labels_.astype(np.int64), CoreModel(X[core], db.labels_[core].astype(np.int64), eps)


def run_dbscan(X: np.ndarray, ctx: Context) -> MethodResult:
    d = X.shape[1]
    min_samples = ctx.min_samples or 2 * d
    kd = k_distances(X, min_samples)
    # kneed on at most ~2,000 points of the curve: same knee, bounded time
    step = max(1, len(kd) // 2000)
    xs = np.arange(0, len(kd), step)
    knee_x = knee(xs, kd[xs], increasing=True)
    if ctx.eps is not None:
        eps = float(ctx.eps)
        reason = f"eps={eps:.4g} given by the user, min_samples={min_samples}"
    elif knee_x is not None and kd[int(knee_x)] > 0:
        eps = float(kd[int(knee_x)])
        reason = (
            f"eps={eps:.4g}: knee of the k-distance curve (distance to the {min_samples}-th "
            f"neighbour, min_samples = 2 x {d} dimensions)"
            if ctx.min_samples is None
            else f"eps={eps:.4g}: knee of the k-distance curve, min_samples={min_samples}"
        )
    else:
        positive = kd[kd > 0]
        eps = float(np.quantile(positive, 0.95)) if positive.size else 1.0
        reason = (
            f"eps={eps:.4g}: no knee in the k-distance curve, so its 95th percentile; "
            f"min_samples={min_samples}"
        )
    labels, model = _dbscan(X, eps, min_samples)
    # the neighbourhood of eps x 2 can be large: the sweep runs on at most 5,000 rows
    sub = sample_rows(len(X), 5000, ctx.random_state + 13)
    sil_sub = sample_rows(len(sub), len(ctx.sil_idx), ctx.random_state + 17)
    rows = []
    for factor in (0.5, 0.75, 1.0, 1.25, 1.5, 2.0):
        if factor == 1.0:
            lab, Xf, sil = labels, X, ctx.sil_idx
        else:
            lab, Xf, sil = _dbscan(X[sub], eps * factor, min_samples)[0], X[sub], sil_sub
        ix = indices(Xf, lab, sil)
        rows.append(
            {
                "eps": eps * factor,
                "eps_factor": factor,
                "n": len(Xf),
                "n_segments": int(np.unique(lab[lab >= 0]).size),
                "n_noise": int((lab < 0).sum()),
                "noise_share": float((lab < 0).mean()),
                "silhouette": ix["silhouette"],
                "calinski_harabasz": ix["calinski_harabasz"],
                "davies_bouldin": ix["davies_bouldin"],
                "chosen": factor == 1.0,
            }
        )
    n_noise = int((labels < 0).sum())
    reason += (
        f"; {_plural(np.unique(labels[labels >= 0]).size, 'segment')} and "
        f"{_plural(n_noise, 'noise customer')} among the {len(X):,} it was fitted on "
        "(segment -1, kept as their own group). Rule: eps at the k-distance knee."
    )

    def refit(Xb: np.ndarray, seed: int) -> Model:
        return _dbscan(Xb, eps, min_samples)[1]

    return MethodResult(
        model=model,
        labels=labels,
        selection=pd.DataFrame(rows),
        params={"eps": eps, "min_samples": min_samples},
        reason=reason,
        refit=refit,
        extra={"k_distances": kd, "knee_index": None if knee_x is None else int(knee_x)},
    )


RUNNERS: dict[str, Callable[[np.ndarray, Context], MethodResult]] = {
    "kmeans": run_kmeans,
    "gmm": run_gmm,
    "hierarchical": run_hierarchical,
    "dbscan": run_dbscan,
}
