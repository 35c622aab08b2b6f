"""Evaluation: metrics with seeded, vectorised bootstrap intervals, the champion, and curves.

Point estimates come from scikit-learn's functions. The intervals come from ``n_boot`` bootstrap
resamples of the evaluation rows, drawn once as a (resamples x rows) matrix of counts and shared by
every model, so differences between two models are paired (the same resampled customers judge
both). Every metric is computed for all resamples at once from cumulative sums over the rows
sorted by score (ties handled as scikit-learn does).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

#: metrics where lower is better
LOWER_IS_BETTER = ("brier", "log_loss")
N_BOOT = 200
#: resamples x rows materialised at once
_CHUNK_CELLS = 4_000_000


def choose_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The probability cut that maximises Youden's J = TPR - FPR (on validation rows).

    Unlike the F1-optimal cut it does not collapse to "everyone positive" when the positive class
    is the majority (as "bought again" often is). Falls back to 0.5 with a single class.

    Examples
    --------
    >>> choose_threshold(np.array([0, 0, 1, 1]), np.array([0.1, 0.3, 0.35, 0.8]))
    0.35
    """
    from sklearn.metrics import roc_curve

    y = np.asarray(y)
    if len(np.unique(y)) < 2:
        return 0.5
    fpr, tpr, thr = roc_curve(y, p)
    j = tpr - fpr
    k = int(np.argmax(j[1:])) + 1  # the first threshold is +inf
    return float(min(max(thr[k], 0.0), 1.0))


def point_metrics(
    y: np.ndarray, p: np.ndarray, threshold: float, linear_raw: np.ndarray | None = None
) -> dict[str, float]:
    """Every metric on the full evaluation data, with scikit-learn's functions.

    Examples
    --------
    >>> m = point_metrics(np.array([0, 1, 0, 1]), np.array([0.2, 0.7, 0.4, 0.9]), 0.5)
    >>> m["roc_auc"], m["accuracy"]
    (1.0, 1.0)
    """
    from sklearn.metrics import (
        accuracy_score,
        average_precision_score,
        brier_score_loss,
        f1_score,
        log_loss,
        precision_score,
        r2_score,
        recall_score,
        roc_auc_score,
    )

    y = np.asarray(y, dtype=np.int64)
    p = np.asarray(p, dtype=np.float64)
    pred = (p >= threshold).astype(np.int64)
    out = {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "accuracy": float(accuracy_score(y, pred)),
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
        "f1": float(f1_score(y, pred, zero_division=0)),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "top_decile_lift": top_decile_lift(y, p),
    }
    if linear_raw is not None:
        out["r2"] = float(r2_score(y, linear_raw))
    return out


def top_decile_lift(y: np.ndarray, p: np.ndarray) -> float:
    """Positive rate among the 10 % highest scores over the overall positive rate.

    Examples
    --------
    >>> top_decile_lift(np.array([1] + [0] * 9), np.arange(10.0)[::-1])
    10.0
    """
    y = np.asarray(y, dtype=np.float64)
    k = max(1, math.ceil(len(y) / 10))
    top = np.argsort(-np.asarray(p), kind="stable")[:k]
    base = y.mean()
    return float(y[top].mean() / base) if base > 0 else float("nan")


# --- vectorised, weighted versions (one row of W = one bootstrap resample) ----------------------


def bootstrap_counts(n: int, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """Chunks of a (n_boot x n) matrix of resampling counts; the same seed, the same matrix."""
    rng = np.random.default_rng(seed)
    per_chunk = max(1, _CHUNK_CELLS // max(n, 1))
    done = 0
    while done < n_boot:
        b = min(per_chunk, n_boot - done)
        idx = rng.integers(0, n, size=(b, n))
        flat = (idx + (np.arange(b) * n)[:, None]).ravel()
        yield np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.float64)
        done += b


def _groups(sorted_scores: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.r_[True, np.diff(sorted_scores) != 0])


def weighted_roc_auc(W: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """ROC-AUC of each row of weights W (Mann-Whitney with ties counted half)."""
    order = np.argsort(p, kind="mergesort")
    ys = y[order].astype(np.float64)
    starts = _groups(p[order])
    Ws = W[:, order]
    pos = np.add.reduceat(Ws * ys, starts, axis=1)
    neg = np.add.reduceat(Ws * (1 - ys), starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    P = pos.sum(axis=1)
    N = neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray((pos * (below + 0.5 * neg)).sum(axis=1) / (P * N))


def weighted_average_precision(W: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Average precision (area under the step precision-recall curve) per row of W."""
    order = np.argsort(-p, kind="mergesort")
    ys = y[order].astype(np.float64)
    starts = _groups(-p[order])
    Ws = W[:, order]
    tp = np.add.reduceat(Ws * ys, starts, axis=1)
    fp = np.add.reduceat(Ws * (1 - ys), starts, axis=1)
    TP = np.cumsum(tp, axis=1)
    FP = np.cumsum(fp, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        prec = np.where(TP + FP > 0, TP / (TP + FP), 0.0)
        return np.asarray((tp * prec).sum(axis=1) / TP[:, -1])


def weighted_metrics(
    W: np.ndarray,
    y: np.ndarray,
    p: np.ndarray,
    threshold: float,
    linear_raw: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Every metric for each row of W."""
    yf = y.astype(np.float64)
    total = W.sum(axis=1)
    pred = (p >= threshold).astype(np.float64)
    tp = W @ (yf * pred)
    fp = W @ ((1 - yf) * pred)
    fn = W @ (yf * (1 - pred))
    P = W @ yf
    pc = np.clip(p, np.finfo(np.float64).eps, 1 - np.finfo(np.float64).eps)
    k = max(1, math.ceil(len(y) / 10))
    top = np.zeros(len(y))
    top[np.argsort(-p, kind="stable")[:k]] = 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        out = {
            "roc_auc": weighted_roc_auc(W, y, p),
            "pr_auc": weighted_average_precision(W, y, p),
            "accuracy": (tp + (total - P - fp)) / total,
            "precision": np.where(tp + fp > 0, tp / (tp + fp), 0.0),
            "recall": np.where(P > 0, tp / P, 0.0),
            "f1": np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0),
            "brier": (W @ (p - yf) ** 2) / total,
            "log_loss": -(W @ (yf * np.log(pc) + (1 - yf) * np.log1p(-pc))) / total,
            "top_decile_lift": ((W @ (top * yf)) / (W @ top)) / (P / total),
        }
        if linear_raw is not None:
            ybar = P / total
            sse = W @ (yf - linear_raw) ** 2
            sst = W @ (yf**2) - total * ybar**2
            out["r2"] = 1 - sse / sst
    return out


def evaluate_models(
    y: np.ndarray,
    probs: dict[str, np.ndarray],
    thresholds: dict[str, float],
    *,
    linear_raw: dict[str, np.ndarray] | None = None,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> tuple[dict[str, dict[str, dict[str, float]]], dict[str, np.ndarray]]:
    """Metrics with 95 % percentile-bootstrap intervals for every model, on the same resamples.

    Returns
    -------
    metrics : dict
        ``{model: {metric: {"value", "ci_low", "ci_high"}}}``.
    auc_samples : dict
        ``{model: bootstrap ROC-AUCs}`` for paired comparisons.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 300)
    >>> p = np.clip(0.5 + 0.3 * (y - 0.5) + rng.normal(0, 0.2, 300), 0.01, 0.99)
    >>> m, _ = evaluate_models(y, {"m": p}, {"m": 0.5}, n_boot=50)
    >>> m["m"]["roc_auc"]["ci_low"] <= m["m"]["roc_auc"]["value"] <= m["m"]["roc_auc"]["ci_high"]
    True
    """
    y = np.asarray(y, dtype=np.int64)
    linear_raw = linear_raw or {}
    samples: dict[str, dict[str, list[np.ndarray]]] = {name: {} for name in probs}
    for W in bootstrap_counts(len(y), n_boot, seed):
        for name, p in probs.items():
            res = weighted_metrics(
                W, y, np.asarray(p, dtype=np.float64), thresholds[name], linear_raw.get(name)
            )
            for metric, values in res.items():
                samples[name].setdefault(metric, []).append(values)
    metrics: dict[str, dict[str, dict[str, float]]] = {}
    auc_samples: dict[str, np.ndarray] = {}
    for name, p in probs.items():
        point = point_metrics(y, p, thresholds[name], linear_raw.get(name))
        metrics[name] = {}
        for metric, value in point.items():
            boot = np.concatenate(samples[name][metric])
            lo, hi = _interval(boot)
            metrics[name][metric] = {"value": value, "ci_low": lo, "ci_high": hi}
        auc_samples[name] = np.concatenate(samples[name]["roc_auc"])
    return metrics, auc_samples


def _interval(boot: np.ndarray) -> tuple[float, float]:
    ok = boot[np.isfinite(boot)]
    if ok.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.percentile(ok, [2.5, 97.5])
    return float(lo), float(hi)


def compare(
    metrics: dict[str, dict[str, dict[str, float]]],
    auc_samples: dict[str, np.ndarray],
    candidates: list[str],
    references: list[str],
) -> dict[str, Any]:
    """The champion (best ROC-AUC among ``candidates``) and whether its leads are significant.

    A lead is significant when the 95 % interval of the paired bootstrap difference in ROC-AUC
    lies entirely above 0.
    """

    def auc(m: str) -> float:
        return float(metrics[m]["roc_auc"]["value"])

    ranked = sorted(candidates, key=auc, reverse=True)
    if not ranked:
        return {"champion": None, "ranking": []}
    champion = ranked[0]
    best_ref = max(references, key=auc) if references else None
    out: dict[str, Any] = {
        "champion": champion,
        "criterion": "highest ROC-AUC on the evaluation data",
        "ranking": ranked,
    }
    if best_ref is not None and auc(best_ref) > auc(champion):
        # the list is never knowingly below a naive rule the comparison ranked higher
        out["champion"] = champion = best_ref
        out["ranking"] = ranked = [best_ref, *ranked]
        out["naive_champion"] = (
            f"the naive rule {best_ref} ranks churn better than every model "
            f"(ROC-AUC {auc(best_ref):.3f} against {auc(ranked[1]):.3f}): it is the champion"
        )
        references = [r for r in references if r != best_ref]

    def lead(other: str) -> dict[str, Any]:
        diff = auc_samples[champion] - auc_samples[other]
        lo, hi = _interval(diff)
        value = metrics[champion]["roc_auc"]["value"] - metrics[other]["roc_auc"]["value"]
        return {
            "over": other,
            "roc_auc_difference": value,
            "ci_low": lo,
            "ci_high": hi,
            "significant": bool(lo > 0),
        }

    if len(ranked) > 1:
        out["runner_up"] = ranked[1]
        out["lead_over_runner_up"] = lead(ranked[1])
    if references:
        out["lead_over_best_naive"] = lead(max(references, key=auc))
    return out


# --- curves for the report (stored in the report dict, never recomputed from models) ------------


def _thin(*arrays: np.ndarray, max_points: int = 200) -> list[list[float]]:
    n = len(arrays[0])
    if n <= max_points:
        idx = np.arange(n)
    else:
        idx = np.unique(np.r_[np.linspace(0, n - 1, max_points).round().astype(int), n - 1])
    return [np.round(np.asarray(a)[idx], 5).tolist() for a in arrays]


def curves(y: np.ndarray, p: np.ndarray, threshold: float, *, bins: int = 10) -> dict[str, Any]:
    """ROC, precision-recall, calibration, cumulative gain / lift and the confusion matrix."""
    from sklearn.metrics import confusion_matrix, precision_recall_curve, roc_curve

    y = np.asarray(y, dtype=np.int64)
    p = np.asarray(p, dtype=np.float64)
    fpr, tpr, _ = roc_curve(y, p)
    prec, rec, _ = precision_recall_curve(y, p)
    fpr_l, tpr_l = _thin(fpr, tpr)
    rec_l, prec_l = _thin(rec[::-1], prec[::-1])
    # calibration: equal-count bins of the predicted probability
    order = np.argsort(p, kind="stable")
    chunks = np.array_split(order, min(bins, len(p)))
    calib = {
        "predicted": [float(p[c].mean()) for c in chunks if len(c)],
        "observed": [float(y[c].mean()) for c in chunks if len(c)],
        "count": [len(c) for c in chunks if len(c)],
    }
    desc = np.argsort(-p, kind="stable")
    cum = np.cumsum(y[desc])
    share = np.arange(1, 101) / 100
    k = np.maximum(1, np.ceil(share * len(y)).astype(int)) - 1
    gain = cum[k] / max(cum[-1], 1)
    tn, fp, fn, tp = confusion_matrix(y, (p >= threshold).astype(int), labels=[0, 1]).ravel()
    return {
        "roc": {"fpr": fpr_l, "tpr": tpr_l},
        "pr": {"recall": rec_l, "precision": prec_l, "base_rate": float(y.mean())},
        "calibration": calib,
        "gain": {
            "share": share.round(2).tolist(),
            "gain": gain.round(5).tolist(),
            "lift": (gain / share).round(4).tolist(),
        },
        "confusion": {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)},
        "threshold": float(threshold),
    }
