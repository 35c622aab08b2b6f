"""Explanations: each feature's share of a customer's churn probability, and reasons in words.

The champion's additive contributions (XGBoost's exact TreeSHAP values, shap's TreeExplainer for
the tree, exact ``coef * (z - mean z)`` for the linear models, exact Shapley values over
frequency / recency / T for BG/NBD) are moved onto the churn-probability scale
(:func:`toolkit.models.estimators._base.probability_contributions`), so that for every customer
``base + sum(contributions) = churn_probability`` and a reason can say "raises risk by 0.21".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from toolkit.models.estimators._base import Batch, probability_contributions

if TYPE_CHECKING:
    import pandas as pd

    from toolkit.models._persist import ModelBundle

#: a reason is given only for a contribution of at least this much churn probability
MIN_EFFECT = 0.005
N_REASONS = 3


@dataclass
class Explanation:
    """Contributions of each feature to each customer's churn probability.

    Attributes
    ----------
    values : ndarray (n, n_features)
        Contribution to the churn probability (positive = raises risk).
    base : ndarray (n,)
        Churn probability at the base value (the model's expectation).
    churn : ndarray (n,)
        Churn probability (= base + values.sum(axis=1)).
    features : list of str
    data : DataFrame
        The rows explained (their feature values).
    model : str
    """

    values: np.ndarray
    base: np.ndarray
    churn: np.ndarray
    features: list[str]
    data: pd.DataFrame
    model: str

    def importance(self) -> pd.DataFrame:
        """Mean |contribution| per feature (churn-probability units), largest first."""
        import pandas as pd

        df = pd.DataFrame(
            {
                "feature": self.features,
                "mean_abs_contribution": np.abs(self.values).mean(axis=0),
                "mean_contribution": self.values.mean(axis=0),
                "share": np.abs(self.values).mean(axis=0)
                / max(float(np.abs(self.values).mean(axis=0).sum()), 1e-12),
            }
        )
        return df.sort_values("mean_abs_contribution", ascending=False, ignore_index=True)

    def customer(self, row: int) -> pd.DataFrame:
        """One customer's contributions, largest |effect| first."""
        import pandas as pd

        vals = self.values[row]
        df = pd.DataFrame(
            {
                "feature": self.features,
                "value": [self.data.iloc[row][f] for f in self.features],
                "contribution": vals,
            }
        )
        order = np.argsort(-np.abs(vals), kind="stable")
        return df.iloc[order].reset_index(drop=True)


def explain(bundle: ModelBundle, batch: Batch, model: str | None = None) -> Explanation:
    """Contributions of the champion (or ``model``) for every row of ``batch``.

    Examples
    --------
    >>> # see tests/test_models_explain.py for a worked example on a hand-made frame
    """
    name = model or bundle.champion
    scorer = bundle.scorers[name]
    C, p0, p = probability_contributions(scorer, batch)
    if bundle.settings.churn_is_positive:
        values, base, churn = C, p0, p
    else:  # churn = 1 - P(bought again)
        values, base, churn = -C, 1.0 - p0, 1.0 - p
    return Explanation(
        values=values,
        base=base,
        churn=churn,
        features=list(bundle.schema.features),
        data=batch.df,
        model=name,
    )


# --- reasons in words -----------------------------------------------------------------------------


def _num(v: float, fmt: str) -> str:
    return format(v, fmt)


def _plural(v: float, one: str, many: str) -> str:
    return one if round(v) == 1 else many


def _describers(time_unit: str) -> dict[str, Callable[[float, dict[str, float]], str]]:
    unit = "weeks" if time_unit == "weeks" else "days"

    def recency_days(v: float, ctx: dict[str, float]) -> str:
        gap = ctx.get("gap_mean", np.nan)
        base = f"{v:.0f} days since last purchase"
        return base + (
            f" (usual gap {gap:.0f})" if np.isfinite(gap) else " (only one purchase day)"
        )

    def frequency(v: float, ctx: dict[str, float]) -> str:
        if v == 0:
            return "no repeat purchase yet"
        return f"{v:.0f} repeat purchase {_plural(v, 'day', 'days')}"

    def orders(window: str) -> Callable[[float, dict[str, float]], str]:
        return lambda v, ctx: (
            f"no orders in the last {window}"
            if v == 0
            else f"{v:.0f} {_plural(v, 'order', 'orders')} in the last {window}"
        )

    def spend(window: str) -> Callable[[float, dict[str, float]], str]:
        return lambda v, ctx: (
            f"nothing spent in the last {window}"
            if v == 0
            else f"spent {v:,.0f} in the last {window}"
        )

    def gap_mean(v: float, ctx: dict[str, float]) -> str:
        return f"usual gap between purchases {v:.0f} days"

    return {
        "recency_days": recency_days,
        "tenure_days": lambda v, ctx: f"customer for {v:.0f} days",
        "frequency": frequency,
        "recency": lambda v, ctx: f"{v:.0f} {unit} between first and last purchase",
        "T": lambda v, ctx: f"first purchase {v:.0f} {unit} ago",
        "n_orders": lambda v, ctx: f"{v:.0f} {_plural(v, 'order', 'orders')} in total",
        "n_items": lambda v, ctx: f"{v:,.0f} {_plural(v, 'item', 'items')} bought in total",
        "n_products": lambda v, ctx: (
            f"{v:.0f} different {_plural(v, 'product', 'products')} bought"
        ),
        "lifetime_spend": lambda v, ctx: f"total spend {v:,.0f} (net of returns)",
        "gross_spend": lambda v, ctx: f"bought {v:,.0f} in total (before returns)",
        "returned_value": lambda v, ctx: (
            "nothing returned" if v == 0 else f"returned {v:,.0f} of purchases"
        ),
        "avg_order_value": lambda v, ctx: f"average order value {v:,.0f}",
        "monetary": lambda v, ctx: (
            "no spend on repeat purchases yet" if v == 0 else f"average repeat purchase {v:,.0f}"
        ),
        "gap_mean": gap_mean,
        "gap_std": lambda v, ctx: f"gaps between purchases vary by {v:.0f} days",
        "gap_cv": lambda v, ctx: f"irregular buying rhythm (gap variation {v:.2f})",
        "overdue_ratio": lambda v, ctx: f"{v:.1f} times the usual gap since last purchase",
        "orders_30d": orders("30 days"),
        "orders_90d": orders("90 days"),
        "orders_180d": orders("180 days"),
        "spend_30d": spend("30 days"),
        "spend_90d": spend("90 days"),
        "spend_180d": spend("180 days"),
        "spend_trend": lambda v, ctx: (
            f"spending trend {v:+.2f} (last 90 days against the 90 before)"
        ),
        "loyalty_index": lambda v, ctx: f"bought in {v:.0%} of months since first purchase",
        "return_rate": lambda v, ctx: (
            "returned more than bought in the period (returns of earlier purchases)"
            if v >= 1
            else f"returned {v:.0%} of purchase value"
        ),
    }


_MISSING = {
    "gap_mean": "no repeat purchase yet, so no usual gap",
    "gap_std": "no repeat purchases to measure a buying rhythm",
    "gap_cv": "no repeat purchases to measure a buying rhythm",
    "overdue_ratio": "no repeat purchase yet, so no usual gap to be overdue on",
    "return_rate": "return rate unknown",
}


#: decimals shown for each feature: values are rounded to them once, and every distinct rounded
#: value (with its context) is formatted once, so a million reasons cost a few thousand formats
_DECIMALS = {
    "recency_days": 0,
    "tenure_days": 0,
    "frequency": 0,
    "recency": 0,
    "T": 0,
    "n_orders": 0,
    "n_items": 0,
    "n_products": 0,
    "lifetime_spend": 0,
    "gross_spend": 0,
    "returned_value": 0,
    "avg_order_value": 0,
    "monetary": 0,
    "gap_mean": 0,
    "gap_std": 0,
    "gap_cv": 2,
    "overdue_ratio": 1,
    "orders_30d": 0,
    "orders_90d": 0,
    "orders_180d": 0,
    "spend_30d": 0,
    "spend_90d": 0,
    "spend_180d": 0,
    "spend_trend": 2,
    "loyalty_index": 2,
    "return_rate": 2,
}


def describe_values(
    feature: str,
    values: np.ndarray,
    context: dict[str, np.ndarray],
    *,
    time_unit: str = "days",
    categorical: bool = False,
) -> np.ndarray:
    """Human text for ``feature`` at each value ("142 days since last purchase (usual gap 30)").

    Returns an object array of str.

    Examples
    --------
    >>> describe_values("recency_days", np.array([142.0]), {"gap_mean": np.array([30.0])}).tolist()
    ['142 days since last purchase (usual gap 30)']
    >>> describe_values("plan", np.array(["Gold"], dtype=object), {}, categorical=True).tolist()
    ['plan is Gold']
    """
    n = len(values)
    if categorical:
        text = np.asarray(values, dtype=object).astype(str)
        missing = (
            np.asarray([v is None or v != v for v in values], dtype=bool)
            if n
            else np.zeros(0, bool)
        )
        return np.where(missing, f"{feature} unknown", np.char.add(f"{feature} is ", text)).astype(
            object
        )
    fn = _describers(time_unit).get(feature)
    vals = np.asarray(values, dtype=np.float64)
    decimals = _DECIMALS.get(feature)
    key_cols: list[np.ndarray] = [np.round(vals, decimals) if decimals is not None else vals]
    names = []
    if fn is not None and feature == "recency_days" and "gap_mean" in context:
        key_cols.append(np.round(np.asarray(context["gap_mean"], dtype=np.float64), 0))
        names.append("gap_mean")
    keys = np.column_stack(key_cols)
    # NaN never equals NaN: give missing values a sentinel so they group together
    finite = np.isfinite(keys)
    keys = np.where(finite, keys, np.inf)
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    texts = np.empty(len(uniq), dtype=object)
    for i, row in enumerate(uniq):
        v = row[0]
        if not np.isfinite(v):
            texts[i] = _MISSING.get(feature, f"{feature} unknown")
        elif fn is None:
            texts[i] = f"{feature} = {v:.4g}"
        else:
            ctx = {
                name: (row[j + 1] if np.isfinite(row[j + 1]) else np.nan)
                for j, name in enumerate(names)
            }
            texts[i] = fn(float(v), ctx)
    return texts[np.asarray(inverse).ravel()]


def reasons(
    expl: Explanation,
    *,
    n_reasons: int = N_REASONS,
    min_effect: float = MIN_EFFECT,
    time_unit: str = "days",
    categorical: tuple[str, ...] | list[str] = (),
) -> list[np.ndarray]:
    """``n_reasons`` object arrays (one per slot) of texts, for every customer.

    First the features that raise the risk most (by at least ``min_effect``); where fewer than
    ``n_reasons`` do, the features that lower it most ("14 orders in the last 180 days lowers
    risk by 0.12"). A customer on whom no feature has that much effect still gets the strongest
    one as ``reason_1`` ("... (little effect on risk)"), so no row is left without a reason.
    Later slots are empty ("") when nothing more qualifies.

    Examples
    --------
    >>> import pandas as pd
    >>> e = Explanation(values=np.array([[0.2, -0.1], [0.001, 0.0]]), base=np.zeros(2),
    ...                 churn=np.zeros(2), features=["n_orders", "tenure_days"],
    ...                 data=pd.DataFrame({"n_orders": [1, 9], "tenure_days": [400, 30]}),
    ...                 model="m")
    >>> first, second = reasons(e, n_reasons=2)
    >>> first.tolist()
    ['1 order in total raises risk by 0.20', '9 orders in total (little effect on risk)']
    >>> second.tolist()
    ['customer for 400 days lowers risk by 0.10', '']
    """
    values = expl.values
    n, p = values.shape
    k = min(n_reasons, p)
    # one score orders each row's candidates: raising first (by effect), then lowering (by
    # |effect|), then the rest (by |effect|); |contribution| <= 1 in probability units
    size = np.abs(values)
    score = np.where(
        values >= min_effect, 4.0 + size, np.where(values <= -min_effect, 2.0 + size, size)
    )
    if p > k:
        part = np.argpartition(-score, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(score, part, axis=1), axis=1, kind="stable")
        top = np.take_along_axis(part, order, axis=1)
    else:
        top = np.argsort(-score, axis=1, kind="stable")[:, :k]
    effect = np.take_along_axis(values, top, axis=1)
    top_score = np.take_along_axis(score, top, axis=1)
    data = expl.data
    context_cols = [c for c in ("gap_mean",) if c in data.columns]
    # the effect as shown: 2 decimals, never "by 0.00" for an effect that qualified
    shown = np.maximum(np.round(np.abs(effect), 2), 0.01)
    kind = np.where(top_score >= 4.0, 0, np.where(top_score >= 2.0, 1, 2))
    keys = np.round(shown * 100).astype(np.int64) * 3 + kind
    uniq, inv = np.unique(keys, return_inverse=True)
    words = (" raises risk by ", " lowers risk by ")
    suffixes = np.array(
        [
            words[int(key % 3)] + f"{(key // 3) / 100:.2f}"
            if key % 3 < 2
            else " (little effect on risk)"
            for key in uniq
        ],
        dtype=object,
    )
    suffix = suffixes[np.asarray(inv).reshape(keys.shape)]
    # slot 0 always speaks; later slots only for a qualifying effect
    usable = (top_score >= 2.0) | (np.arange(k)[None, :] == 0)
    slots: list[np.ndarray] = []
    for s in range(k):
        texts = np.full(n, "", dtype=object)
        for j in np.unique(top[:, s]):
            rows = np.flatnonzero((top[:, s] == j) & usable[:, s])
            if rows.size == 0:
                continue
            feat = expl.features[int(j)]
            col = data[feat].iloc[rows]
            is_cat = feat in categorical
            vals = (
                col.astype(object).to_numpy()
                if is_cat
                else col.to_numpy(dtype=np.float64, na_value=np.nan)
            )
            ctx = {
                c: data[c].iloc[rows].to_numpy(dtype=np.float64, na_value=np.nan)
                for c in context_cols
            }
            desc = describe_values(feat, vals, ctx, time_unit=time_unit, categorical=is_cat)
            texts[rows] = desc + suffix[rows, s]
        slots.append(texts)
    while len(slots) < n_reasons:
        slots.append(np.full(n, "", dtype=object))
    return slots


# --- one customer, step by step ----------------------------------------------------------------


def waterfall_table(
    contrib: pd.DataFrame, base: float, final: float, *, top: int = 10
) -> pd.DataFrame:
    """One customer's way from the base churn probability to theirs, as rows to read or save.

    The first row is the base rate (the model's expectation), then the ``top`` largest
    contributions, then the other features together, then the final probability; ``running``
    is the probability after each step (the last equals ``final``).

    Examples
    --------
    >>> import pandas as pd
    >>> c = pd.DataFrame({"feature": ["recency_days", "n_orders"], "value": [120, 2],
    ...                   "contribution": [0.25, -0.05]})
    >>> waterfall_table(c, 0.4, 0.6)["running"].round(2).tolist()
    [0.4, 0.65, 0.6, 0.6]
    """
    import pandas as pd

    head = contrib.head(top)
    rows = [
        {"step": "base rate", "feature": "", "value": "", "contribution": np.nan, "running": base}
    ]
    running = base
    for r in head.itertuples():
        running += float(r.contribution)
        rows.append(
            {
                "step": "feature",
                "feature": str(r.feature),
                "value": _short(r.value),
                "contribution": float(r.contribution),
                "running": running,
            }
        )
    if len(contrib) > top:
        rest = float(contrib["contribution"].iloc[top:].sum())
        running += rest
        rows.append(
            {
                "step": "others",
                "feature": f"{len(contrib) - top} other features",
                "value": "",
                "contribution": rest,
                "running": running,
            }
        )
    rows.append(
        {
            "step": "churn probability",
            "feature": "",
            "value": "",
            "contribution": np.nan,
            "running": final,
        }
    )
    out = pd.DataFrame(rows)
    numbers = pd.to_numeric(out["value"].replace("", np.nan), errors="coerce")
    if numbers.notna().sum() == (out["value"] != "").sum():
        # every value is a number: keep it one (a spreadsheet reads it, nothing to neutralise)
        out["value"] = numbers
    else:
        out["value"] = out["value"].astype("string")
    return out


def waterfall_text(steps: pd.DataFrame, *, customer: str, model: str) -> str:
    """The waterfall as terminal text: base rate, each contribution with a bar, final value."""
    body = steps[steps["step"].isin(["feature", "others"])]
    labels = [
        str(f)
        if v is None or (isinstance(v, float) and np.isnan(v)) or v == ""
        else f"{f} = {v:g}"
        if isinstance(v, float)
        else f"{f} = {v}"
        for f, v in zip(body["feature"], body["value"].astype(object), strict=True)
    ]
    width = max([len(x) for x in labels] + [20])
    biggest = max(float(body["contribution"].abs().max()) if len(body) else 0.0, 1e-12)
    base = float(steps["running"].iloc[0])
    final = float(steps["running"].iloc[-1])
    lines = [
        f"customer {customer}: why {model} gives a churn probability of {final:.4f}",
        f"  {'base rate (the average customer)':<{width}}  {base:.4f}",
    ]
    for label, c, run in zip(labels, body["contribution"], body["running"], strict=True):
        bar = ("+" if c > 0 else "-") * max(1, round(abs(c) / biggest * 20)) if c else ""
        lines.append(f"  {label:<{width}}  {c:+.4f}  -> {run:.4f}  {bar}")
    lines.append(f"  {'churn probability':<{width}}  {final:.4f}")
    return "\n".join(lines)


# --- plots (matplotlib, Agg) ----------------------------------------------------------------------


def new_figure(width: float, height: float, ncols: int = 1) -> tuple[Any, Any]:
    """A matplotlib Figure on the Agg canvas (object API: no pyplot, no global backend state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig, fig.subplots(1, ncols)


def save_figure(fig: Any, path: Any) -> None:
    """PNG without a software/date stamp (the same figure gives the same bytes)."""
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110, metadata={"Software": None})


def plot_importance(importance: pd.DataFrame, path: Any, *, top: int = 20, title: str = "") -> None:
    """Horizontal bar chart of mean |contribution|."""
    d = importance.head(top).iloc[::-1]
    fig, ax = new_figure(7, 0.32 * len(d) + 1.2)
    ax.barh(d["feature"], d["mean_abs_contribution"], color="#3b75af")
    ax.set_xlabel("mean |contribution to churn probability|")
    ax.set_title(title or "Feature importance (SHAP)")
    save_figure(fig, path)


def beeswarm_data(
    expl: Explanation, *, top: int = 15, sample: int = 600, seed: int = 0
) -> dict[str, Any]:
    """A sample of contributions and scaled feature values per feature (for re-rendering)."""
    imp = expl.importance()
    # features the model does not use (all contributions 0) say nothing
    imp = imp[imp["mean_abs_contribution"] > 0].head(top)
    rng = np.random.default_rng(seed)
    n = len(expl.churn)
    rows = np.sort(rng.choice(n, size=min(sample, n), replace=False)) if n else np.arange(0)
    out = []
    for feat in imp["feature"]:
        j = expl.features.index(feat)
        col = expl.data[feat]
        try:
            x = col.to_numpy(dtype=np.float64, na_value=np.nan)[rows]
            lo, hi = np.nanpercentile(x, [5, 95]) if np.isfinite(x).any() else (0.0, 1.0)
            scaled = np.clip((x - lo) / (hi - lo), 0, 1) if hi > lo else np.full(len(x), 0.5)
        except (TypeError, ValueError):
            scaled = np.full(len(rows), 0.5)
        out.append(
            {
                "feature": feat,
                "contribution": np.round(expl.values[rows, j], 5).tolist(),
                "scaled_value": [
                    None if not np.isfinite(v) else round(float(v), 3) for v in scaled
                ],
            }
        )
    return {"features": out}


def plot_beeswarm(data: dict[str, Any], path: Any, *, title: str = "") -> None:
    """Each customer a dot: contribution (x) per feature (rows), coloured by the feature's value."""
    feats = data["features"][::-1]
    fig, ax = new_figure(8, 0.4 * len(feats) + 1.5)
    rng = np.random.default_rng(0)
    sc = None
    for i, f in enumerate(feats):
        x = np.asarray(f["contribution"], dtype=np.float64)
        c = np.asarray([np.nan if v is None else v for v in f["scaled_value"]], dtype=np.float64)
        y = i + rng.uniform(-0.3, 0.3, len(x))
        ok = np.isfinite(c)
        ax.scatter(x[~ok], y[~ok], s=6, color="#999999", alpha=0.6)
        sc = ax.scatter(x[ok], y[ok], s=6, c=c[ok], cmap="coolwarm", vmin=0, vmax=1, alpha=0.7)
    ax.axvline(0, color="#444444", lw=0.8)
    ax.set_yticks(range(len(feats)))
    ax.set_yticklabels([f["feature"] for f in feats])
    ax.set_xlabel("contribution to churn probability (positive = raises risk)")
    ax.set_title(title or "SHAP summary (beeswarm)")
    if sc is not None:
        cb = fig.colorbar(sc, ax=ax, pad=0.01)
        cb.set_label("feature value (low to high)")
    save_figure(fig, path)


def plot_waterfall(
    contrib: pd.DataFrame, base: float, final: float, path: Any, *, title: str = "", top: int = 10
) -> None:
    """One customer: from the base churn probability to theirs, feature by feature."""
    d = contrib.head(top)
    rest = float(contrib["contribution"].iloc[top:].sum()) if len(contrib) > top else 0.0
    labels = [f"{r.feature} = {_short(r.value)}" for r in d.itertuples()]
    vals = d["contribution"].tolist()
    if len(contrib) > top:
        labels.append(f"{len(contrib) - top} other features")
        vals.append(rest)
    fig, ax = new_figure(8, 0.42 * len(vals) + 1.6)
    start = base
    for i, v in enumerate(vals):
        y = len(vals) - i
        ax.barh(y, v, left=start, color="#d62728" if v > 0 else "#1f77b4")
        ax.text(
            start + v, y, f" {v:+.3f}", va="center", ha="left" if v >= 0 else "right", fontsize=8
        )
        start += v
    ax.set_yticks(range(len(vals), 0, -1))
    ax.set_yticklabels(labels, fontsize=8)
    ax.axvline(base, color="#777777", lw=0.8, ls="--")
    ax.axvline(final, color="#000000", lw=0.8)
    ax.set_xlabel(f"churn probability: base {base:.3f} -> {final:.3f}")
    ax.set_title(title or "Why this customer")
    save_figure(fig, path)


def _short(v: Any) -> str:
    if isinstance(v, float | np.floating):
        return "missing" if not np.isfinite(v) else f"{v:.4g}"
    return str(v)
