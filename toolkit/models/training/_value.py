"""Which value forecast to trust: the candidates compared out of time on real net spend.

"What is this customer worth over the horizon?" has three candidate answers, each a forecast
of the customer's **net** spend (purchases less returns) in the horizon after a date:

- ``supervised``: the two-part model ``P(buy) x E[net spend | buy]``: the churn champion's
  probability of buying again, times XGBoost's spend of a buyer
  (:class:`toolkit.models.estimators._spend.SpendModel`), trained on the labelled frames at the
  origins before the date, exactly as the churn models are;
- ``bgnbd_gg``: BG/NBD expected purchase days x Gamma-Gamma spend per purchase day, fitted on
  the history before the date (no labels);
- ``naive``: the net spend of the recent window nearest the horizon, scaled to it ("last period
  carried forward", what an analyst would do first);
- ``combined``: the mean of the three (a forecast combination; its value if retained is the mean
  of the members' values).

The comparison is the churn models' out-of-time evaluation: at E = cutoff - horizon, each
candidate fitted only on what was known before E forecasts every customer's spend in
[E, cutoff), set against what they really spent there. Measures (95 % bootstrap intervals, the
same resamples for every candidate):

- ``normalised_gini``: the Gini of the real spend ordered by the forecast over the Gini of the
  real spend ordered by itself (1 = the perfect order of who spends most; 0 = random). Ties in a
  forecast (many customers forecast 0) are averaged, so no order among them counts;
- ``spearman``: rank correlation of forecast and real spend;
- ``total_ratio``: total forecast / total real spend (1 = the right total);
- ``deciles``: mean forecast and mean real spend per decile of the forecast (the calibration
  picture).

The champion is the candidate with the highest normalised Gini: the churn list orders money, so
ordering money is what the value must do best. It gives ``expected_value`` (the value if
retained: ``E[net spend | buy]`` for ``supervised``; BG/NBD's value if still active for
``bgnbd_gg``; the carried-forward spend for ``naive``) and the forecast ``toolkit clv`` writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from toolkit.btyd._value import fit_value_model, forecast_spend, naive_window
from toolkit.models.estimators._base import Batch
from toolkit.models.estimators._spend import MIN_BUYERS, SpendModel
from toolkit.models.training._evaluate import bootstrap_counts
from toolkit.models.training._train import _validation_split

if TYPE_CHECKING:
    import pandas as pd

    from toolkit.models.estimators._data import FeatureSchema

CANDIDATES = ("supervised", "bgnbd_gg", "naive")
TITLES = {
    "supervised": "P(buy) x XGBoost spend (two-part)",
    "bgnbd_gg": "BG/NBD x Gamma-Gamma",
    "naive": "last period carried forward",
    "combined": "mean of the three forecasts",
}
N_DECILES = 10


# --- measures -------------------------------------------------------------------------------------


def _lorenz_gini(W: np.ndarray, actual: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Gini of ``actual`` ordered by ``score`` (highest first), for each row of weights W.

    Customers with the same score form one step of the Lorenz curve (their spend spread evenly
    along it), so no order among ties counts.
    """
    order = np.argsort(-score, kind="mergesort")
    s = score[order]
    starts = np.flatnonzero(np.r_[True, np.diff(s) != 0])
    Wo = W[:, order]
    pop = np.add.reduceat(Wo, starts, axis=1)
    money = np.add.reduceat(Wo * actual[order], starts, axis=1)
    x = np.cumsum(pop, axis=1)
    y = np.cumsum(money, axis=1)
    total_x, total_y = x[:, -1:], y[:, -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        x, y = x / total_x, y / total_y
        prev_x = np.c_[np.zeros(len(W)), x[:, :-1]]
        prev_y = np.c_[np.zeros(len(W)), y[:, :-1]]
        area = ((x - prev_x) * (y + prev_y) / 2).sum(axis=1)
    return np.asarray(2 * area - 1)


def normalised_gini(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Gini of ``actual`` ordered by ``forecast`` over its Gini ordered by itself.

    Examples
    --------
    >>> a = np.array([0.0, 0.0, 10.0, 100.0])
    >>> normalised_gini(a, a), normalised_gini(a, np.array([3.0, 2.0, 1.0, 0.0])) < 0
    (1.0, True)
    """
    W = np.ones((1, len(actual)))
    a = np.asarray(actual, dtype=np.float64)
    return float(_lorenz_gini(W, a, np.asarray(forecast, np.float64))[0] / _lorenz_gini(W, a, a)[0])


def _ranks(v: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return np.asarray(rankdata(v), dtype=np.float64)


def _weighted_corr(W: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    n = W.sum(axis=1)
    ma, mb = (W @ a) / n, (W @ b) / n
    cov = (W @ (a * b)) / n - ma * mb
    va = (W @ (a * a)) / n - ma**2
    vb = (W @ (b * b)) / n - mb**2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(cov / np.sqrt(va * vb))


def _interval(point: float, samples: np.ndarray) -> dict[str, float]:
    ok = samples[np.isfinite(samples)]
    if not ok.size:
        return {"value": point, "ci_low": float("nan"), "ci_high": float("nan")}
    low, high = np.percentile(ok, [2.5, 97.5])
    return {"value": point, "ci_low": float(low), "ci_high": float(high)}


def forecast_metrics(
    actual: np.ndarray,
    forecasts: dict[str, np.ndarray],
    *,
    n_boot: int = 200,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """The measures of each forecast against ``actual``, with bootstrap intervals on the same
    resamples (Spearman's ranks are those of the whole sample, re-weighted per resample).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> real = rng.gamma(0.5, 100.0, 500)
    >>> m = forecast_metrics(real, {"good": real * rng.uniform(0.8, 1.2, 500),
    ...                             "flat": np.full(500, real.mean())}, n_boot=50)
    >>> m["good"]["normalised_gini"]["value"] > 0.9, m["flat"]["normalised_gini"]["value"]
    (True, 0.0)
    """
    y = np.asarray(actual, dtype=np.float64)
    n = len(y)
    names = list(forecasts)
    f = {k: np.nan_to_num(np.asarray(v, dtype=np.float64), nan=0.0) for k, v in forecasts.items()}
    ry = _ranks(y)
    rf = {k: _ranks(v) for k, v in f.items()}
    boot: dict[str, dict[str, list[np.ndarray]]] = {k: {} for k in names}
    oracle_rows: list[np.ndarray] = []
    for W in bootstrap_counts(n, n_boot, seed):
        oracle = _lorenz_gini(W, y, y)
        oracle_rows.append(oracle)
        real_total = W @ y
        for k in names:
            b = boot[k]
            b.setdefault("gini", []).append(_lorenz_gini(W, y, f[k]) / oracle)
            b.setdefault("spearman", []).append(_weighted_corr(W, ry, rf[k]))
            with np.errstate(invalid="ignore", divide="ignore"):
                b.setdefault("ratio", []).append((W @ f[k]) / real_total)
    one = np.ones((1, n))
    oracle_point = _lorenz_gini(one, y, y)[0]
    out: dict[str, dict[str, Any]] = {}
    for k in names:
        v = f[k]
        samples = {m: np.concatenate(rows) if rows else np.array([]) for m, rows in boot[k].items()}
        gini = float(_lorenz_gini(one, y, v)[0] / oracle_point)
        spearman = float(_weighted_corr(one, ry, rf[k])[0])
        ratio = float(v.sum() / y.sum()) if y.sum() > 0 else float("nan")
        out[k] = {
            "normalised_gini": _interval(gini, samples.get("gini", np.array([]))),
            "spearman": _interval(spearman, samples.get("spearman", np.array([]))),
            "total_ratio": _interval(ratio, samples.get("ratio", np.array([]))),
            "total_forecast": float(v.sum()),
            "total_real": float(y.sum()),
            "deciles": _deciles(y, v),
        }
    return out


def _deciles(actual: np.ndarray, forecast: np.ndarray) -> list[dict[str, float]]:
    """Mean forecast and mean real spend per decile of the forecast (1 = highest forecasts)."""
    n = len(actual)
    if n == 0:
        return []
    order = np.argsort(-forecast, kind="mergesort")
    rows = []
    for d, idx in enumerate(np.array_split(order, min(N_DECILES, n)), start=1):
        rows.append(
            {
                "decile": d,
                "customers": int(len(idx)),
                "mean_forecast": float(forecast[idx].mean()),
                "mean_real": float(actual[idx].mean()),
            }
        )
    return rows


# --- fitting the candidates ----------------------------------------------------------------------


def _buyers(frame: pd.DataFrame) -> np.ndarray:
    return np.asarray(frame["repeat_purchase"].to_numpy(dtype=np.float64, na_value=0.0) == 1)


def fit_spend_model(
    frame: pd.DataFrame,
    schema: FeatureSchema,
    *,
    seed: int = 0,
    config: dict[str, Any] | None = None,
) -> SpendModel | str:
    """The spend model on the buyers of labelled ``frame`` (stacked origins: the newest origin
    validates), or the reason it cannot be fitted."""
    frame = frame.reset_index(drop=True)
    buy = _buyers(frame)
    val = _validation_split(frame, seed) & buy
    tr = ~_validation_split(frame, seed) & buy
    if tr.sum() < MIN_BUYERS or val.sum() < MIN_BUYERS // 2:
        return (
            f"too few customers who bought again to learn their spend ({int(tr.sum())} to "
            f"train, {int(val.sum())} to validate; at least {MIN_BUYERS} and {MIN_BUYERS // 2})"
        )
    y = frame["holdout_spend"].to_numpy(dtype=np.float64, na_value=0.0)
    batch = Batch(frame, schema)
    model = SpendModel(schema, config=config)
    return model.fit(
        batch.take(np.flatnonzero(tr)),
        y[tr],
        batch.take(np.flatnonzero(val)),
        y[val],
        seed=seed,
    )


@dataclass
class ValueChoice:
    """The outcome of the comparison: the champion's value model (JSON-ready, the one the churn
    list and ``clv`` use), the comparison itself (``metrics.json``, the reports), and every
    candidate's forecast at the cutoff (``customer_id`` and a column per candidate; for ``clv``
    and the benchmarks, not stored)."""

    value_model: dict[str, Any]
    comparison: dict[str, Any]
    notes: list[str]
    at_cutoff: pd.DataFrame
    #: every candidate's value model at the cutoff (the champion's is ``value_model``)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)


def choose_value_model(
    *,
    older: pd.DataFrame,
    evaluate: pd.DataFrame,
    final: pd.DataFrame,
    at_cutoff: pd.DataFrame,
    schema: FeatureSchema,
    p_buy_evaluate: np.ndarray,
    p_buy_cutoff: np.ndarray,
    horizon: int,
    time_unit: str = "days",
    seed: int = 0,
    n_boot: int = 200,
    out_of_time: bool = True,
) -> ValueChoice:
    """Compare the value forecasts on ``evaluate`` (features at E with the real net spend in
    [E, cutoff)) and fit every candidate for the cutoff.

    ``older``: the labelled frames the evaluation fit learnt from (origins before E);
    ``final``: those of the final models (origins before the cutoff); ``at_cutoff``: the
    customers to score; ``p_buy_evaluate`` / ``p_buy_cutoff``: the churn champion's probability
    that each customer of ``evaluate`` / ``at_cutoff`` buys in the horizon (the evaluation fit's
    and the final fit's).
    """
    evaluate = evaluate.reset_index(drop=True)
    at_cutoff = at_cutoff.reset_index(drop=True)
    notes: list[str] = []
    naive_model = _naive_model(horizon)
    window = int(naive_model["window_days"])
    # the evaluation: each candidate from what was known at E
    early = _candidates(older, evaluate, schema, p_buy_evaluate, horizon, time_unit, seed, None)
    notes += early.notes
    _combine(early.forecasts, None, horizon)
    actual = evaluate["holdout_spend"].to_numpy(dtype=np.float64, na_value=0.0)
    metrics = forecast_metrics(actual, early.forecasts, n_boot=n_boot, seed=seed)
    ranked = sorted(metrics, key=lambda k: -metrics[k]["normalised_gini"]["value"])
    champion = ranked[0] if ranked else "none"
    # the same candidates at the cutoff (the spend model with the depth the evaluation chose)
    depth = int(early.spend.chosen_["max_depth"]) if early.spend is not None else None
    late = _candidates(final, at_cutoff, schema, p_buy_cutoff, horizon, time_unit, seed, depth)
    models = {**late.models, "naive": naive_model}
    _combine(late.forecasts, models, horizon)
    value_model = models.get(champion) or late.models.get("bgnbd_gg") or naive_model
    if value_model.get("kind") != champion:
        notes.append(
            f"Value: the champion {champion} could not be fitted at the cutoff; "
            f"using {value_model.get('kind')}."
        )
    comparison = {
        "target": f"net spend (purchases less returns) in the {horizon} days after the origin",
        "origin": str(evaluate["origin"].iloc[0].date()) if "origin" in evaluate.columns else None,
        "out_of_time": out_of_time,
        "customers": int(len(evaluate)),
        "champion": champion,
        "used": value_model.get("kind"),
        "criterion": "highest normalised Gini of real net spend ordered by the forecast",
        "candidates": {k: {"title": TITLES[k], **metrics[k]} for k in ranked},
        "naive_window_days": window,
    }
    value_model = {
        **_with_timing(value_model, late.models.get("bgnbd_gg")),
        "chosen_out_of_time": champion,
        "evaluation": comparison,
    }
    return ValueChoice(
        value_model=value_model,
        comparison=comparison,
        notes=notes,
        at_cutoff=forecast_frame(at_cutoff, late.forecasts),
        models=models,
    )


def _naive_model(horizon: float) -> dict[str, Any]:
    """The value model "last period carried forward" at ``horizon`` days."""
    window = naive_window(horizon)
    return {
        "kind": "naive",
        "horizon_days": float(horizon),
        "window_days": window,
        "note": (
            f"expected value = net spend of the last {window} days, scaled to {horizon:g} days "
            "(last period carried forward)"
        ),
    }


def _combine(
    forecasts: dict[str, np.ndarray], models: dict[str, dict[str, Any]] | None, horizon: float
) -> None:
    """Add the mean of the candidates' forecasts as a candidate of its own (a forecast
    combination: the errors of different methods partly cancel), with its value model (the mean
    of the members' values) when ``models`` is given."""
    members = [k for k in CANDIDATES if k in forecasts]
    if len(members) < 2:
        return
    forecasts["combined"] = np.mean([forecasts[k] for k in members], axis=0)
    if models is not None and all(k in models for k in members):
        models["combined"] = {
            "kind": "combined",
            "horizon_days": float(horizon),
            "members": [models[k] for k in members],
            "note": (
                f"expected value = the mean of the {', '.join(members)} values over "
                f"{horizon:g} days (their forecast combination)"
            ),
        }


def forecast_frame(customers: pd.DataFrame, forecasts: dict[str, np.ndarray]) -> pd.DataFrame:
    """``customer_id`` and one column per candidate's forecast (the features' row order)."""
    import pandas as pd

    out = pd.DataFrame({"customer_id": customers["customer_id"].to_numpy()})
    for name, values in forecasts.items():
        out[name] = np.asarray(values, dtype=np.float64)
    return out


def _member(value_model: dict[str, Any], kind: str) -> dict[str, Any] | None:
    """The ``kind`` value model in ``value_model`` (itself, or one of a combination's members)."""
    if value_model.get("kind") == kind:
        return value_model
    return next((m for m in value_model.get("members", []) if m.get("kind") == kind), None)


def _with_timing(value_model: dict[str, Any], bg: dict[str, Any] | None) -> dict[str, Any]:
    """``value_model`` with the cutoff's BG/NBD fit beside it (the churn list's expected next
    order comes from it, whichever value won); the fit is the one ``features`` and ``clv`` make
    at the same cutoff."""
    if bg is None or value_model.get("kind") == "bgnbd_gg":
        return value_model
    keep = ("bgnbd", "bgnbd_standard_errors", "bgnbd_flags", "bgnbd_fit", "time_unit")
    return {**value_model, **{k: bg[k] for k in keep if k in bg}}


@dataclass
class _Fitted:
    forecasts: dict[str, np.ndarray]
    models: dict[str, dict[str, Any]]
    spend: SpendModel | None
    notes: list[str]


def _candidates(
    labelled: pd.DataFrame,
    score: pd.DataFrame,
    schema: FeatureSchema,
    p_buy: np.ndarray,
    horizon: int,
    time_unit: str,
    seed: int,
    depth: int | None,
) -> _Fitted:
    """Every candidate fitted on what is known at ``score``'s date (the spend model on the
    ``labelled`` frames before it, BG/NBD x Gamma-Gamma on ``score``'s histories), with its
    forecast for each customer of ``score``."""
    out = _Fitted({}, {}, None, [])
    spend = fit_spend_model(
        labelled, schema, seed=seed, config=None if depth is None else {"max_depth": depth}
    )
    if isinstance(spend, SpendModel):
        out.spend = spend
        out.forecasts["supervised"] = np.asarray(p_buy, dtype=np.float64) * spend.predict(
            Batch(score, schema)
        )
        out.models["supervised"] = {
            "kind": "supervised",
            "horizon_days": float(horizon),
            "spend_model": spend.to_dict(),
            "note": (
                f"expected value = XGBoost's net spend in the next {horizon:g} days of a "
                "customer who buys again (forecast = P(buy) x that)"
            ),
        }
    else:
        out.notes.append(f"Value: no supervised spend model ({spend}).")
    bg = fit_value_model(score, horizon_days=horizon, time_unit=time_unit, seed=seed)
    if bg.get("kind") == "bgnbd_gg":
        out.forecasts["bgnbd_gg"] = forecast_spend(bg, score)
        out.models["bgnbd_gg"] = bg
    else:
        out.notes.append(f"Value: no BG/NBD x Gamma-Gamma forecast ({bg.get('note')}).")
    naive = {"kind": "naive", "horizon_days": float(horizon)}
    if f"spend_{naive_window(horizon)}d" in score.columns:
        out.forecasts["naive"] = forecast_spend(naive, score)
    out.forecasts = {k: kept_nothing_is_zero(score, v) for k, v in out.forecasts.items()}
    return out


def kept_nothing_is_zero(frame: pd.DataFrame, values: np.ndarray) -> np.ndarray:
    """0 for the customers who kept nothing of what they bought (net ``lifetime_spend`` <= 0),
    as the churn list values them (:func:`toolkit.models.estimators._spend.value_if_retained`)."""
    if "lifetime_spend" not in frame.columns:
        return values
    kept = frame["lifetime_spend"].to_numpy(dtype=np.float64, na_value=np.nan)
    return np.asarray(np.where(kept <= 0, 0.0, values), dtype=np.float64)


def extend_value_choice(
    choice: ValueChoice,
    *,
    at_cutoff: pd.DataFrame,
    label_days: int,
    horizon: int,
    time_unit: str = "days",
    seed: int = 0,
) -> ValueChoice:
    """The value at a horizon longer than the labels reach, chosen by the comparison at the
    longest horizon with labels (``label_days``): the champion there is used at ``horizon``.

    ``supervised``: its forecast and value at ``label_days`` scaled by ``horizon / label_days``
    (a spend rate carried to the longer horizon); ``bgnbd_gg``: BG/NBD x Gamma-Gamma fitted on the
    histories at the cutoff, at ``horizon`` (it needs no labels); ``naive``: the window nearest
    ``horizon`` carried forward.
    """
    at_cutoff = at_cutoff.reset_index(drop=True)
    scale = horizon / label_days
    forecasts: dict[str, np.ndarray] = {}
    models: dict[str, dict[str, Any]] = {}
    early = choice.at_cutoff.set_index("customer_id")
    ids = at_cutoff["customer_id"].to_numpy()
    supervised = choice.models.get("supervised") or _member(choice.value_model, "supervised")
    if "supervised" in early.columns and supervised is not None:
        # already 0 for those who kept nothing
        forecasts["supervised"] = early["supervised"].reindex(ids).to_numpy() * scale
        models["supervised"] = {
            **supervised,
            "horizon_days": float(horizon),
            "scale": scale,
            "note": (
                f"expected value = XGBoost's net spend in {label_days} days of a customer who "
                f"buys again (the longest horizon with labels) x {scale:.3g}, for {horizon} days"
            ),
        }
    bg = fit_value_model(at_cutoff, horizon_days=horizon, time_unit=time_unit, seed=seed)
    if bg.get("kind") == "bgnbd_gg":
        forecasts["bgnbd_gg"] = kept_nothing_is_zero(at_cutoff, forecast_spend(bg, at_cutoff))
        models["bgnbd_gg"] = bg
    naive = _naive_model(horizon)
    window = int(naive["window_days"])
    if f"spend_{window}d" in at_cutoff.columns:
        forecasts["naive"] = forecast_spend(naive, at_cutoff)
        models["naive"] = naive
    _combine(forecasts, models, horizon)
    champion = choice.comparison["champion"]
    value_model = models.get(champion) or models.get("bgnbd_gg") or naive
    note = (
        f"Value: no labels at {horizon} days; the value forecasts were compared at {label_days} "
        f"days, the longest horizon with labels, where {champion} won; it is used at {horizon} "
        "days"
        + ("" if value_model.get("kind") == champion else f" (as {value_model.get('kind')})")
        + "."
    )
    comparison = {
        **choice.comparison,
        "compared_at_days": label_days,
        "used_at_days": horizon,
        "used": value_model.get("kind"),
        "note": note,
    }
    value_model = {
        **_with_timing(value_model, models.get("bgnbd_gg")),
        "chosen_out_of_time": champion,
        "compared_at_days": label_days,
        "evaluation": comparison,
    }
    return ValueChoice(
        value_model=value_model,
        comparison=comparison,
        notes=[note],
        at_cutoff=forecast_frame(at_cutoff, forecasts),
        models=models,
    )
