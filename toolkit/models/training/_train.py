"""Training: labelled frames at several origins, the models, the out-of-time test, the champion.

Transaction data (``train_from_transactions``, in ``_from_log.py``). At a cutoff C with horizon
H, the models that will score customers at C can only learn from labels observed before C:

- the **final models** learn from features at the origins C - H, C - H - s, C - H - 2s, ... (s =
  ``min(H, 30)`` days, at most ``n_origins`` of them, each with at least ``min_history_days`` of
  history before it) with labels "bought in [origin, origin + H)", stacked;
- the **evaluation** repeats the whole fit one horizon earlier (origins E - H, E - H - s, ... with
  E = C - H) and judges every model on the customers at E against "bought in [E, C)": out of time,
  nothing from the label period reaches a model that is judged on it. The metrics, the champion
  and the report come from there.

Customer tables with a target column (``train_from_table``, in ``_from_table.py``): stratified
k-fold cross-validation gives out-of-fold probabilities for the metrics; the final models learn
from every row.

This module holds what both share: the labelled frames, fitting a set of scorers, judging them,
and ``train_models`` (train and evaluation frames given).

Inside every fit a validation split is held out, on which hyperparameters, early stopping,
calibration and the decision threshold are chosen: with stacked origins it is time-ordered (the
newest origin's rows validate, the older origins' rows train); with one origin or a customer
table, a random quarter of the customers (all their rows).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from toolkit.btyd._value import fit_value_model
from toolkit.errors import InputError
from toolkit.features import compute_features, data_range, parse_cutoff
from toolkit.models.estimators._base import Batch, Scorer
from toolkit.models.estimators._boost import XGBoostModel
from toolkit.models.estimators._data import FeatureSchema, check_classes, label_vector
from toolkit.models.estimators._linear import LinearProbabilityModel, LogisticModel
from toolkit.models.estimators._reference import (
    BGNBDExpected,
    BGNBDScorer,
    DaysSinceLastPurchase,
    EnsembleModel,
    RepeatPurchases,
)
from toolkit.models.estimators._tree import DecisionTreeModel
from toolkit.models.training._evaluate import compare, evaluate_models
from toolkit.models.training._settings import TrainSettings

if TYPE_CHECKING:
    import pandas as pd

    from toolkit.io import Transactions

#: what ``--models`` accepts; "linear" brings the OLS baseline and the logistic regression
MODEL_CHOICES = ("linear", "tree", "xgboost", "bgnbd")
DEFAULT_HORIZON = 90
N_ORIGINS = 4
MIN_HISTORY_DAYS = 60
VALIDATION_SHARE = 0.25
CV_FOLDS = 5
MIN_ROWS = 100

Progress = Callable[[str], None]


def _quiet(_msg: str) -> None:
    pass


# --- labelled frames ----------------------------------------------------------------------------


def origin_dates(
    cutoff: date,
    horizon: int,
    first_day: date,
    *,
    n_origins: int = N_ORIGINS,
    step_days: int | None = None,
    min_history_days: int = MIN_HISTORY_DAYS,
) -> list[date]:
    """Origins C - H - k*s (newest first) with enough history before them.

    Examples
    --------
    >>> origin_dates(date(2011, 9, 10), 91, date(2010, 12, 1))
    [datetime.date(2011, 6, 11), datetime.date(2011, 5, 12), datetime.date(2011, 4, 12), \
datetime.date(2011, 3, 13)]
    """
    step = step_days or min(horizon, 30)
    out = []
    for k in range(n_origins):
        o = cutoff - timedelta(days=horizon + k * step)
        if (o - first_day).days < min_history_days:
            break
        out.append(o)
    return out


def build_training_frames(
    tx: Transactions,
    cutoff: str | date,
    horizon: int,
    n_origins: int = N_ORIGINS,
    *,
    time_unit: str = "days",
    step_days: int | None = None,
    min_history_days: int = MIN_HISTORY_DAYS,
    cache: dict[date, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """Features with labels at each origin before ``cutoff``, stacked, with an ``origin`` column.

    Every label window ``[origin, origin + horizon)`` ends on or before ``cutoff``.

    Parameters
    ----------
    tx : Transactions
        From :func:`toolkit.io.read_transactions`.
    cutoff : date or str
        The date the models will score customers at.
    horizon : int
        Label window in days.
    n_origins : int
        At most this many origins, newest first, ``min(horizon, 30)`` days apart.
    cache : dict, optional
        Frames already computed, by origin (filled in as a side effect).

    Examples
    --------
    >>> from toolkit.datasets import generate_transactions
    >>> from toolkit.io import read_transactions
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.parquet"
    >>> _ = generate_transactions(300, seed=1, out=p)
    >>> f = build_training_frames(read_transactions(p), "2023-10-01", 60, 2)
    >>> sorted(f["origin"].dt.date.astype(str).unique())
    ['2023-07-03', '2023-08-02']
    """
    import pandas as pd

    cut = parse_cutoff(cutoff)
    assert cut is not None
    first, _ = data_range(tx)
    origins = origin_dates(
        cut,
        horizon,
        first,
        n_origins=n_origins,
        step_days=step_days,
        min_history_days=min_history_days,
    )
    if not origins:
        raise InputError(
            f"`cutoff` {cut} with `horizon` {horizon}: training needs labels from "
            f"[cutoff - horizon, cutoff) and at least {min_history_days} days of history before "
            f"that, i.e. data from {cut - timedelta(days=horizon + min_history_days)} on; "
            f"the data starts on {first}"
        )
    frames = [
        _features_at(tx, o, horizon, time_unit, cache).assign(origin=pd.Timestamp(o))
        for o in origins
    ]
    return pd.concat(frames, ignore_index=True)


def _features_at(
    tx: Transactions,
    origin: date,
    horizon: int,
    time_unit: str,
    cache: dict[date, pd.DataFrame] | None,
) -> pd.DataFrame:

    if cache is not None and origin in cache:
        return cache[origin]
    f = compute_features(tx, cutoff=origin, horizon=horizon, time_unit=time_unit)
    if cache is not None:
        cache[origin] = f
    return f


# --- fitting a set of scorers -------------------------------------------------------------------


def _validation_split(df: pd.DataFrame, seed: int) -> np.ndarray:
    """Boolean mask of the validation rows of one fit.

    Stacked origins: the newest origin's rows (time-ordered: the models are tuned, early-stopped
    and calibrated on the most recent labels and learn from the older ones; on Online Retail
    this beat a random quarter of the customers at both yardstick cutoffs). Otherwise a random
    quarter of the customers, all of their rows.
    """
    if "origin" in df.columns and df["origin"].nunique() > 1:
        return np.asarray(df["origin"] == df["origin"].max())
    return _split(df, seed)


def _split(df: pd.DataFrame, seed: int, share: float = VALIDATION_SHARE) -> np.ndarray:
    """Boolean mask of a random ``share`` of customers, all of their rows."""
    rng = np.random.default_rng(seed)
    if "customer_id" in df.columns:
        ids = df["customer_id"].astype("string").to_numpy(dtype=object)
        uniq, inv = np.unique(ids, return_inverse=True)
        pick = rng.random(len(uniq)) < share
        return np.asarray(pick[inv])
    return rng.random(len(df)) < share


def fit_scorers(
    frame: pd.DataFrame,
    y: np.ndarray,
    schema: FeatureSchema,
    *,
    models: Sequence[str] = MODEL_CHOICES,
    horizon_units: float | None = None,
    seed: int = 0,
    hints: dict[str, dict[str, Any]] | None = None,
    progress: Progress = _quiet,
) -> dict[str, Scorer]:
    """Fit every requested scorer (and the naive rules, and the ensemble) on ``frame``.

    ``hints`` maps a model name to hyperparameters already chosen (by the evaluation fit), so that
    the final fit only re-chooses what depends on the data size (XGBoost's number of rounds).
    """
    from threadpoolctl import threadpool_limits

    # the fits make many small BLAS calls (L-BFGS on a few dozen columns); a multi-threaded BLAS
    # makes each of them many times slower than one thread, worst on a busy machine
    with threadpool_limits(limits=1, user_api="blas"):
        return _fit_scorers(
            frame,
            y,
            schema,
            models=models,
            horizon_units=horizon_units,
            seed=seed,
            hints=hints or {},
            progress=progress,
        )


def _fit_scorers(
    frame: pd.DataFrame,
    y: np.ndarray,
    schema: FeatureSchema,
    *,
    models: Sequence[str],
    horizon_units: float | None,
    seed: int,
    hints: dict[str, dict[str, Any]],
    progress: Progress,
) -> dict[str, Scorer]:

    val_mask = _validation_split(frame, seed)
    if len(np.unique(y[val_mask])) < 2 or len(np.unique(y[~val_mask])) < 2:
        val_mask = np.random.default_rng(seed + 1).random(len(y)) < VALIDATION_SHARE
    batch = Batch(frame.reset_index(drop=True), schema)
    tr = batch.take(np.flatnonzero(~val_mask))
    va = batch.take(np.flatnonzero(val_mask))
    ytr, yva = y[~val_mask], y[val_mask]
    check_classes(ytr, "the training split")
    check_classes(yva, "the validation split", minimum=5)

    out: dict[str, Scorer] = {}
    plan: list[Scorer] = []

    def cfg(name: str) -> dict[str, Any]:
        return {"config": hints[name]} if hints.get(name) else {}

    if "linear" in models:
        plan += [LinearProbabilityModel(schema), LogisticModel(schema, **cfg("logistic"))]
    if "tree" in models:
        plan.append(DecisionTreeModel(schema, **cfg("tree")))
    if "xgboost" in models:
        plan.append(XGBoostModel(schema, **cfg("xgboost")))
    features = set(schema.numeric)
    if "bgnbd" in models and horizon_units and set(BGNBDScorer.COLUMNS) <= features:
        plan.append(BGNBDScorer(schema, horizon=float(horizon_units)))
        plan.append(BGNBDExpected(schema, horizon=float(horizon_units)))
    for rule in (DaysSinceLastPurchase, RepeatPurchases):
        if rule.column in features:
            plan.append(rule(schema))
    for scorer in plan:
        progress(f"fitting {scorer.name}")
        out[scorer.name] = scorer.fit(tr, ytr, va, yva, seed=seed)
    if "logistic" in out and "xgboost" in out:
        ens = EnsembleModel(schema)
        ens.members_ = [out["logistic"], out["xgboost"]]
        out["ensemble"] = ens.fit(tr, ytr, va, yva, seed=seed)
    return out


# --- results ------------------------------------------------------------------------------------


@dataclass
class Evaluation:
    """What the models were judged on, framed on churn: the report's curves come from here.

    Attributes
    ----------
    y : ndarray
        1 = churned (did not buy in the horizon, or the target's positive value), 0 = stayed.
    probs : dict of str to ndarray
        Each model's churn probability for the same rows.
    thresholds : dict of str to ndarray
        Each model's churn-probability threshold (per row: with cross-validation, each fold's).
    frame : DataFrame, optional
        The evaluation rows' features (for the report's SHAP summary).
    scorers : dict of str to Scorer
        The models that were judged (before the final refit).
    """

    y: np.ndarray
    probs: dict[str, np.ndarray]
    thresholds: dict[str, np.ndarray]
    frame: pd.DataFrame | None = None
    scorers: dict[str, Scorer] = field(default_factory=dict)


@dataclass
class TrainResult:
    """Everything a training run produced: final scorers, evaluation, settings, notes.

    ``evaluation`` keeps the evaluation rows' labels and every model's probabilities, from which
    :func:`toolkit.reports.comparison.build_report` computes the report once.
    """

    schema: FeatureSchema
    scorers: dict[str, Scorer]
    champion: str
    metrics: dict[str, dict[str, dict[str, float]]]
    comparison: dict[str, Any]
    settings: TrainSettings
    value_model: dict[str, Any]
    evaluation: Evaluation
    notes: list[str] = field(default_factory=list)
    #: every value candidate's forecast of each customer's net spend in the horizon after the
    #: cutoff (``customer_id`` and a column per candidate; not stored in the model directory)
    value_forecasts: pd.DataFrame | None = None
    #: every value candidate's model at the cutoff (the champion's is ``value_model``; not stored)
    value_models: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def champion_scorer(self) -> Scorer:
        return self.scorers[self.champion]

    @property
    def value_comparison(self) -> dict[str, Any] | None:
        """The out-of-time comparison of the value forecasts (a transaction log's; see
        :mod:`toolkit.models.training._value`), None where it was not made."""
        return self.value_model.get("evaluation")


def _evaluate(
    scorers: dict[str, Scorer],
    frame: pd.DataFrame,
    y: np.ndarray,
    schema: FeatureSchema,
    *,
    seed: int,
    n_boot: int,
) -> tuple[dict[str, Any], dict[str, Any], Evaluation]:
    batch = Batch(frame.reset_index(drop=True), schema)
    probs = {name: s.predict_proba(batch) for name, s in scorers.items()}
    thresholds = {name: s.threshold_ for name, s in scorers.items()}
    linear_raw = {"linear": scorers["linear"].raw(batch)} if "linear" in scorers else {}
    # the models predict "label = 1" (bought again); the product is a churn list, so every
    # metric is stated for the churners: labels, probabilities and thresholds turned round
    return _judge(
        1 - y,
        {k: 1.0 - v for k, v in probs.items()},
        {k: 1.0 - np.asarray(v, dtype=np.float64) for k, v in thresholds.items()},
        {k: 1.0 - v for k, v in linear_raw.items()},
        scorers,
        seed=seed,
        n_boot=n_boot,
    )


def _judge(
    y: np.ndarray,
    probs: dict[str, np.ndarray],
    thresholds: dict[str, Any],
    linear_raw: dict[str, np.ndarray],
    scorers: dict[str, Scorer],
    *,
    seed: int,
    n_boot: int,
) -> tuple[dict[str, Any], dict[str, Any], Evaluation]:

    metrics, auc_samples = evaluate_models(
        y, probs, thresholds, linear_raw=linear_raw, n_boot=n_boot, seed=seed
    )
    candidates = [n for n, s in scorers.items() if s.role == "model"]
    references = [n for n, s in scorers.items() if s.role == "reference"]
    comparison = compare(metrics, auc_samples, candidates, references)
    evaluation = Evaluation(
        y=y,
        probs=probs,
        thresholds={k: np.asarray(v, dtype=np.float64) for k, v in thresholds.items()},
        scorers=scorers,
    )
    return metrics, comparison, evaluation


def _check_models(models: Sequence[str]) -> list[str]:
    bad = [m for m in models if m not in MODEL_CHOICES]
    if bad:
        raise InputError(
            f"`models` must be a comma-separated list of {list(MODEL_CHOICES)}, got {bad}"
        )
    if not models:
        raise InputError(f"`models` is empty; choose from {list(MODEL_CHOICES)}")
    return list(models)


def train_models(
    train: pd.DataFrame,
    evaluate: pd.DataFrame,
    *,
    label: str = "repeat_purchase",
    models: Sequence[str] = MODEL_CHOICES,
    horizon: int | None = None,
    time_unit: str = "days",
    seed: int = 0,
    refit: pd.DataFrame | None | bool = None,
    value_frame: pd.DataFrame | None = None,
    n_boot: int = 200,
    progress: Progress = _quiet,
) -> TrainResult:
    """Fit the models on ``train``, judge them on ``evaluate``, refit the final models.

    Parameters
    ----------
    train, evaluate : DataFrame
        Features frames with the 0/1 ``label`` (``evaluate`` later in time for an honest test).
    label : str
        The label column; positive class = 1 ("bought again" for ``repeat_purchase``).
    models : sequence of {"linear", "tree", "xgboost", "bgnbd"}
        ``linear`` = the OLS baseline and the logistic regression. The naive rules are always
        added when their columns exist; the ensemble when logistic and XGBoost are both there.
    horizon : int, optional
        Label window in days (needed by BG/NBD).
    time_unit : {"days", "weeks"}
        Unit of ``recency`` / ``T``.
    refit : DataFrame or bool, optional
        Rows for the final models: default ``train`` and ``evaluate`` together; ``False`` keeps
        the models that were evaluated.
    value_frame : DataFrame, optional
        The customers at the cutoff the models will score, on which the value model (what a
        customer is worth if retained) is fitted; default the newest rows of the final fit.

    Returns
    -------
    TrainResult

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> def frame(n):
    ...     x = rng.normal(size=n)
    ...     y = (rng.random(n) < 1 / (1 + np.exp(-2 * x))).astype(int)
    ...     return pd.DataFrame({"x": x, "z": rng.normal(size=n), "repeat_purchase": y})
    >>> res = train_models(frame(800), frame(400), models=["linear"], refit=False, n_boot=20)
    >>> res.champion in ("linear", "logistic"), res.metrics["logistic"]["roc_auc"]["value"] > 0.7
    (True, True)
    """
    models = _check_models(models)
    schema, y_tr, y_ev = _labelled(train, evaluate, label)
    horizon_units = horizon / (7 if time_unit == "weeks" else 1) if horizon else None
    fit: dict[str, Any] = dict(models=models, horizon_units=horizon_units, seed=seed)
    fit["progress"] = progress
    progress("fitting the models to evaluate")
    scorers = fit_scorers(train, y_tr, schema, **fit)
    progress("evaluating")
    metrics, comparison, evaluation = _evaluate(
        scorers, evaluate, y_ev, schema, seed=seed, n_boot=n_boot
    )
    evaluation.frame = evaluate.reset_index(drop=True)
    final, newest = scorers, train
    if refit is not False:
        final, newest = _refit(train, evaluate, refit, scorers, schema, label=label, fit=fit)

    newest = _latest(newest) if value_frame is None else value_frame
    return TrainResult(
        schema=schema,
        scorers=final,
        champion=comparison["champion"],
        metrics=metrics,
        comparison=comparison,
        settings=_frame_settings(
            label, models, seed, n_boot, horizon, time_unit, train, evaluate, y_ev
        ),
        value_model=fit_value_model(newest, horizon_days=horizon, time_unit=time_unit, seed=seed),
        evaluation=evaluation,
        notes=_model_notes(final),
    )


def _labelled(
    train: pd.DataFrame, evaluate: pd.DataFrame, label: str
) -> tuple[FeatureSchema, np.ndarray, np.ndarray]:
    """The schema of ``train`` (checked on ``evaluate``) and both frames' labels, checked."""
    schema = FeatureSchema.infer(train, exclude=(label,))
    schema.check(evaluate, source="the evaluation frame")
    y_tr = label_vector(train, label)
    y_ev = label_vector(evaluate, label)
    if len(train) < MIN_ROWS:
        raise InputError(f"too few training rows to fit models: {len(train)} (at least {MIN_ROWS})")
    check_classes(y_tr, "the training data")
    check_classes(y_ev, "the evaluation data", minimum=5)
    return schema, y_tr, y_ev


def _refit(
    train: pd.DataFrame,
    evaluate: pd.DataFrame,
    refit: pd.DataFrame | None | bool,
    scorers: dict[str, Scorer],
    schema: FeatureSchema,
    *,
    label: str,
    fit: dict[str, Any],
) -> tuple[dict[str, Scorer], pd.DataFrame]:
    """The final models, on ``refit`` (None or True: ``train`` and ``evaluate`` together) with
    the hyperparameters the evaluated ``scorers`` chose; and the rows they learnt from."""
    import pandas as pd

    rows = (
        pd.concat([train, evaluate], ignore_index=True)
        if refit is None or isinstance(refit, bool)
        else refit
    )
    fit["progress"]("fitting the final models")
    hints = chosen_hyperparameters(scorers)
    return fit_scorers(rows, label_vector(rows, label), schema, hints=hints, **fit), rows


def _frame_settings(
    label: str,
    models: list[str],
    seed: int,
    n_boot: int,
    horizon: int | None,
    time_unit: str,
    train: pd.DataFrame,
    evaluate: pd.DataFrame,
    y_ev: np.ndarray,
) -> TrainSettings:
    """The settings of a fit on labelled frames (``repeat_purchase``: a transaction log's)."""
    return TrainSettings(
        label=label,
        models_requested=list(models),
        seed=seed,
        n_boot=n_boot,
        mode="transactions" if label == "repeat_purchase" else "labelled frame",
        horizon=horizon,
        time_unit=time_unit,
        positive_class=(
            "churned: did not buy in the horizon (repeat_purchase = 0)"
            if label == "repeat_purchase"
            else f"churned: {label} = 0"
        ),
        churn_probability=(
            f"1 - P({label} = 1): the probability of not buying in the horizon"
            if label == "repeat_purchase"
            else f"1 - P({label} = 1)"
        ),
        churn_is_positive=False,
        n_train_rows=int(len(train)),
        n_evaluation_rows=int(len(evaluate)),
        evaluation_positive_rate=float(1.0 - y_ev.mean()),
    )


def chosen_hyperparameters(scorers: dict[str, Scorer]) -> dict[str, dict[str, Any]]:
    """The hyperparameters the evaluation fit chose, to reuse in the final fit."""
    out: dict[str, dict[str, Any]] = {}
    for name, keys in (
        ("logistic", ("C",)),
        ("tree", ("max_depth", "leaf_share")),
        ("xgboost", ("max_depth", "learning_rate", "min_child_weight")),
    ):
        chosen = getattr(scorers.get(name), "chosen_", None)
        if chosen and all(k in chosen for k in keys):
            out[name] = {k: chosen[k] for k in keys}
    return out


def _latest(frame: pd.DataFrame) -> pd.DataFrame:
    if "origin" in frame.columns and frame["origin"].nunique() > 1:
        return frame[frame["origin"] == frame["origin"].max()]
    return frame


def _model_notes(scorers: dict[str, Scorer]) -> list[str]:
    notes = []
    lin = scorers.get("logistic") or scorers.get("linear")
    if lin is not None:
        from toolkit.models.estimators._linear import LinearPreprocessor

        prep: LinearPreprocessor = lin.prep_  # type: ignore[attr-defined]
        notes.append("Linear models: " + prep.note(lin.schema.encoded_names) + ".")
    if "xgboost" in scorers or "tree" in scorers:
        notes.append("XGBoost and the decision tree take missing values as they are.")
    bg = scorers.get("bgnbd")
    if bg is not None:
        flags = bg.describe().get("flags") or []
        others = [n for n in getattr(bg, "fit_notes_", []) if n not in flags]
        if flags:
            notes.append("BG/NBD fit FLAGGED: " + " ".join(flags))
        if others:
            notes.append("BG/NBD fit: " + " ".join(others))
    return notes
