"""Training: labelled frames at several origins, the models, the out-of-time test, the champion.

Transaction data (``train_from_transactions``). At a cutoff C with horizon H, the models that will
score customers at C can only learn from labels observed before C:

- the **final models** learn from features at the origins C - H, C - H - s, C - H - 2s, ... (s =
  ``min(H, 30)`` days, at most ``n_origins`` of them, each with at least ``min_history_days`` of
  history before it) with labels "bought in [origin, origin + H)", stacked;
- the **evaluation** repeats the whole fit one horizon earlier (origins E - H, E - H - s, ... with
  E = C - H) and judges every model on the customers at E against "bought in [E, C)": out of time,
  nothing from the label period reaches a model that is judged on it. The metrics, the champion
  and the report come from there.

Customer tables with a target column (``train_from_table``): stratified k-fold cross-validation
gives out-of-fold probabilities for the metrics; the final models learn from every row.

Inside every fit a validation split is held out, on which hyperparameters, early stopping,
calibration and the decision threshold are chosen: with stacked origins it is time-ordered (the
newest origin's rows validate, the older origins' rows train); with one origin or a customer
table, a random quarter of the customers (all their rows).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from toolkit.btyd._value import find_value_column, fit_value_model
from toolkit.errors import InputError
from toolkit.features import compute_features, data_range, parse_cutoff
from toolkit.models.estimators._base import Batch, Scorer
from toolkit.models.estimators._boost import XGBoostModel
from toolkit.models.estimators._calibrate import PlattCalibrator
from toolkit.models.estimators._data import FeatureSchema, check_classes, label_vector
from toolkit.models.estimators._linear import LinearProbabilityModel, LogisticModel
from toolkit.models.estimators._reference import (
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

    @property
    def champion_scorer(self) -> Scorer:
        return self.scorers[self.champion]


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


# --- transaction data ---------------------------------------------------------------------------


def train_from_transactions(
    tx: Transactions,
    *,
    cutoff: str | date | None = None,
    horizon: int | None = None,
    time_unit: str = "days",
    models: Sequence[str] = MODEL_CHOICES,
    n_origins: int = N_ORIGINS,
    seed: int = 0,
    n_boot: int = 200,
    progress: Progress = _quiet,
) -> TrainResult:
    """Train and evaluate out of time on a transaction log (see the module docstring).

    Parameters
    ----------
    tx : Transactions
        From :func:`toolkit.io.read_transactions`.
    cutoff : date or str, optional
        The date the models are for; default the day after the last purchase. Nothing from the
        cutoff on is read.
    horizon : int, optional
        Label window in days (default 90).

    Examples
    --------
    >>> from toolkit.datasets import generate_transactions
    >>> from toolkit.io import read_transactions
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.parquet"
    >>> _ = generate_transactions(1500, seed=2, out=p)
    >>> res = train_from_transactions(read_transactions(p), horizon=90, models=["linear"],
    ...                               n_boot=20)
    >>> res.settings.evaluation["out_of_time"]
    True
    """

    models = _check_models(models)
    horizon, cut, first, last = _log_window(tx, cutoff, horizon, time_unit)
    if not origin_dates(cut, horizon, first, n_origins=1):
        return _train_long_horizon(
            tx,
            cut=cut,
            horizon=horizon,
            first=first,
            last=last,
            time_unit=time_unit,
            models=models,
            n_origins=n_origins,
            seed=seed,
            n_boot=n_boot,
            progress=progress,
        )
    cache: dict[date, pd.DataFrame] = {}
    progress("computing features at the training origins")
    final_frames = build_training_frames(
        tx, cut, horizon, n_origins, time_unit=time_unit, cache=cache
    )
    older, evaluate, notes = _evaluation_frames(
        tx, final_frames, cut, horizon, n_origins, time_unit, seed, cache
    )
    progress("computing features at the cutoff")
    at_cutoff = compute_features(tx, cutoff=cut, time_unit=time_unit)
    result = train_models(
        older,
        evaluate,
        label="repeat_purchase",
        models=models,
        horizon=horizon,
        time_unit=time_unit,
        seed=seed,
        refit=final_frames,
        value_frame=at_cutoff,
        n_boot=n_boot,
        progress=progress,
    )
    result.value_model["fitted_at"] = str(cut)
    result.settings = _log_settings(
        result.settings, final_frames, older, evaluate, cut, first, last, horizon, not notes
    )
    result.notes = notes + result.notes
    return result


def _log_window(
    tx: Transactions, cutoff: str | date | None, horizon: int | None, time_unit: str
) -> tuple[int, date, date, date]:
    """The horizon (default 90 days) and the cutoff (default the day after the last purchase),
    checked against the data; with the data's first and last day."""

    if time_unit not in ("days", "weeks"):
        raise InputError(f"`time_unit` must be 'days' or 'weeks', got {time_unit!r}")
    horizon = int(horizon or DEFAULT_HORIZON)
    if horizon <= 0:
        raise InputError(f"`horizon` must be a positive number of days, got {horizon}")
    first, last = data_range(tx)
    cut = parse_cutoff(cutoff) or last + timedelta(days=1)
    if not first < cut <= last + timedelta(days=1):
        raise InputError(
            f"`cutoff` {cut} is outside the data ({first} to {last}); choose a date after the "
            "first purchase and at most the day after the last one"
        )
    return horizon, cut, first, last


def _evaluation_frames(
    tx: Transactions,
    final_frames: pd.DataFrame,
    cut: date,
    horizon: int,
    n_origins: int,
    time_unit: str,
    seed: int,
    cache: dict[date, pd.DataFrame],
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """The rows of the evaluation fit and the rows it is judged on, with a note when they are
    not out of time.

    Out of time: the fit learns at the origins one horizon before E = ``cut`` - ``horizon`` and
    is judged on the customers at E. With too little history for that, a random quarter of the
    customers at E is held out instead, and the note says so.
    """
    import pandas as pd

    eval_origin = cut - timedelta(days=horizon)

    try:
        older = build_training_frames(
            tx, eval_origin, horizon, n_origins, time_unit=time_unit, cache=cache
        )
        evaluate = final_frames[final_frames["origin"] == pd.Timestamp(eval_origin)]
        y_old = label_vector(older, "repeat_purchase")
        check_classes(y_old, "the older origins")
        if len(older) < MIN_ROWS:
            raise InputError("too few rows at the older origins")
        return older, evaluate, []
    except InputError as exc:
        # too little history for a second, earlier fit: hold out a quarter of the customers at
        # the latest origin instead, and say so
        note = (
            "The data is too short for an out-of-time evaluation "
            f"({exc}); the models were judged on a random quarter of the customers at "
            f"{eval_origin} instead (not out of time)."
        )
    holdout = _split(final_frames, seed + 7)
    latest = (final_frames["origin"] == pd.Timestamp(eval_origin)).to_numpy()
    return final_frames[~holdout], final_frames[holdout & latest], [note]


def _log_settings(
    settings: TrainSettings,
    final_frames: pd.DataFrame,
    older: pd.DataFrame,
    evaluate: pd.DataFrame,
    cut: date,
    first: date,
    last: date,
    horizon: int,
    out_of_time: bool,
) -> TrainSettings:
    """``settings`` of the fit on labelled frames, with what a transaction log adds: the
    cutoff, the data's span, the training origins and the evaluation's origin and window."""
    eval_origin = cut - timedelta(days=horizon)
    return dataclasses.replace(
        settings,
        mode="transactions",
        cutoff=str(cut),
        data_first_day=str(first),
        data_last_day=str(last),
        training={
            "origins": sorted({str(o.date()) for o in final_frames["origin"]}),
            "rows": int(len(final_frames)),
            "labels": f"bought in [origin, origin + {horizon} days), all before {cut}",
        },
        evaluation={
            "out_of_time": out_of_time,
            "origin": str(eval_origin),
            "label_window": f"[{eval_origin}, {cut})",
            "customers": int(len(evaluate)),
            "trained_on_origins": sorted({str(o.date()) for o in older["origin"]}),
            "positive_rate": float(1.0 - evaluate["repeat_purchase"].mean()),
            "repeat_rate": float(evaluate["repeat_purchase"].mean()),
        },
    )


#: the shortest label window worth training supervised models on
MIN_LABEL_DAYS = 14


def longest_label_horizon(cut: date, first: date) -> tuple[int, bool]:
    """The longest horizon the history before ``cut`` gives labels for, and whether it also
    allows an out-of-time evaluation (a second, earlier fit one horizon back).

    Examples
    --------
    >>> longest_label_horizon(date(1997, 10, 1), date(1997, 1, 1))
    (106, True)
    >>> longest_label_horizon(date(1997, 3, 20), date(1997, 1, 1))
    (18, False)
    """
    span = (cut - first).days
    out_of_time = (span - MIN_HISTORY_DAYS) // 2
    if out_of_time >= MIN_LABEL_DAYS:
        return out_of_time, True
    return span - MIN_HISTORY_DAYS, False


def _train_long_horizon(
    tx: Transactions,
    *,
    cut: date,
    horizon: int,
    first: date,
    last: date,
    time_unit: str,
    models: list[str],
    n_origins: int,
    seed: int,
    n_boot: int,
    progress: Progress,
) -> TrainResult:
    """A horizon longer than the history before the cutoff gives labels for.

    BG/NBD needs no labels: it is fitted on every customer's history before the cutoff and
    scores the asked horizon; it is the champion, so the churn list speaks of the asked horizon.
    The supervised models and the naive rules are trained and compared, out of time where the
    data allow, at the longest horizon that has labels, and kept for reference.
    """

    label_days, out_of_time = longest_label_horizon(cut, first)
    if label_days < MIN_LABEL_DAYS:
        raise InputError(
            f"`horizon` {horizon}: the data has only {(cut - first).days} days of history "
            f"before `cutoff` {cut}, too few to train or evaluate any model on labels (at least "
            f"{MIN_HISTORY_DAYS + MIN_LABEL_DAYS} days are needed); for BG/NBD alone at this "
            "horizon use `toolkit clv` with `horizon`, or choose a later `cutoff`"
        )
    asked = [m for m in models if m != "bgnbd"]
    progress(f"the supervised models at {label_days} days, the longest horizon with labels")
    result = train_from_transactions(
        tx,
        cutoff=cut,
        horizon=label_days,
        time_unit=time_unit,
        models=[*asked, "bgnbd"],
        n_origins=n_origins,
        seed=seed,
        n_boot=n_boot,
        progress=progress,
    )
    progress(f"BG/NBD at {horizon} days on the history before {cut}")
    at_cutoff = compute_features(tx, cutoff=cut, time_unit=time_unit)
    unit_days = 7 if time_unit == "weeks" else 1
    bg = BGNBDScorer(result.schema, horizon=horizon / unit_days)
    batch = Batch(at_cutoff.reset_index(drop=True), result.schema)
    bg._fit(batch, np.zeros(len(batch)), batch, np.zeros(len(batch)), seed=seed)
    # no labels at this horizon to calibrate on: BG/NBD's own probability, unchanged
    bg.calibrator_ = PlattCalibrator(a=1.0, b=0.0)
    bg.calibration_ = {
        "chosen": "none",
        "note": f"no labels at {horizon} days before the cutoff: BG/NBD's own probability",
    }
    bg.threshold_ = 0.5
    result.scorers["bgnbd"] = bg
    best_at_labels = result.champion
    result.champion = "bgnbd"
    result.value_model = fit_value_model(at_cutoff, horizon_days=horizon, time_unit=time_unit)
    result.value_model["fitted_at"] = str(cut)
    how = "out of time" if out_of_time else "on held-out customers (not out of time)"
    note = (
        f"Horizon {horizon} days is longer than the history before {cut} gives labels for "
        f"(data from {first}; training needs {MIN_HISTORY_DAYS} days of history before a "
        f"{horizon}-day label window). The churn list uses BG/NBD at {horizon} days, fitted on "
        f"every customer's history before {cut} (it needs no labels; the champion). The other "
        f"models and the naive rules were trained and compared {how} at {label_days} days, the "
        f"longest horizon with labels: their metrics, and BG/NBD's in the table, are at "
        f"{label_days} days (best there: {best_at_labels})."
    )
    if "bgnbd" not in models:
        note += " BG/NBD was added to the models for this: no other model can score the horizon."
    result.notes = [note, *result.notes]
    result.settings = dataclasses.replace(
        result.settings,
        horizon=horizon,
        label_horizon=label_days,
        long_horizon={
            "asked_days": horizon,
            "label_days": label_days,
            "out_of_time": out_of_time,
            "champion_at_labels": best_at_labels,
            "note": note,
        },
        training={
            **(result.settings.training or {}),
            "labels": f"supervised models: bought in [origin, origin + {label_days} days); "
            f"BG/NBD at {horizon} days, fitted on the history before {cut} (no labels)",
        },
    )
    return result


# --- customer tables with a target column -------------------------------------------------------


def target_labels(table: pd.DataFrame, target: str, positive: str) -> np.ndarray:
    """0/1 labels: 1 where ``target`` equals ``positive`` (compared as text)."""
    if target not in table.columns:
        raise InputError(
            f"`target` {target!r} is not a column of the data; columns: "
            f"{[str(c) for c in table.columns]}"
        )
    values = table[target].astype("string").str.strip()
    if values.isna().any():
        raise InputError(f"`target` {target!r} has {int(values.isna().sum())} missing values")
    present = sorted(values.unique().tolist())
    pos = str(positive).strip()
    if pos not in present:
        # numbers written differently (1 vs 1.0)
        try:
            num = float(pos)
            as_num = np.asarray(
                [float(v) if _is_number(v) else np.nan for v in values], dtype=np.float64
            )
            if np.any(as_num == num):
                return (as_num == num).astype(np.int8)
        except ValueError:
            pass
        raise InputError(
            f"`positive` {positive!r} is not a value of `target` {target!r}; "
            f"values present: {present[:20]}"
        )
    if len(present) < 2:
        raise InputError(f"`target` {target!r} has only one value ({present[0]!r})")
    return (values == pos).to_numpy(dtype=np.int8)


def _is_number(v: str) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


def _check_one_row_per_customer(ids: pd.Series, column: str) -> None:
    """A customer table has each customer once: a repeated id means rows of a log (whose
    other rows, with the same customer, would leak the target across the folds)."""
    counts = ids.value_counts()
    if len(counts) and counts.iloc[0] > 1:
        raise InputError(
            f"customer id {str(counts.index[0])!r} in {column!r} appears {int(counts.iloc[0])} "
            f"times ({int((counts > 1).sum()):,} ids repeat): `target` needs one row per "
            "customer; for a transaction log leave out `target` and give `horizon`"
        )


def train_from_table(
    table: pd.DataFrame,
    *,
    target: str,
    positive: str,
    models: Sequence[str] = ("linear", "tree", "xgboost"),
    folds: int = CV_FOLDS,
    seed: int = 0,
    n_boot: int = 200,
    id_column: str | None = None,
    value_column: str | None = None,
    progress: Progress = _quiet,
) -> TrainResult:
    """Stratified k-fold cross-validation on a customer table with a target column.

    The metrics are computed on the out-of-fold probabilities (every row judged by models that
    never saw it); the final models learn from every row. Churn probability = P(target ==
    positive). ``value_column`` is the spend per customer that values the churn list (default:
    a spend-like column found by its name, such as MonthlyCharges; see
    :func:`toolkit.btyd._value.find_value_column`).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=600)
    >>> churn = np.where(rng.random(600) < 1 / (1 + np.exp(-2 * x)), "Yes", "No")
    >>> t = pd.DataFrame({"id": range(600), "x": x, "plan": rng.choice(["a", "b"], 600),
    ...                   "Churn": churn})
    >>> res = train_from_table(t, target="Churn", positive="Yes", models=["linear"], n_boot=20,
    ...                        id_column="id")
    >>> res.settings.churn_is_positive, res.metrics["logistic"]["roc_auc"]["value"] > 0.7
    (True, True)
    """
    models = _check_models(models)
    frame, y, schema = _table_frame(table, target, positive, id_column, folds)
    metrics, comparison, evaluation = _cross_validate(
        frame, y, schema, models=models, folds=folds, seed=seed, n_boot=n_boot, progress=progress
    )
    progress("fitting the final models on every row")
    hints = chosen_hyperparameters(evaluation.scorers)
    final = fit_scorers(frame, y, schema, models=models, seed=seed, hints=hints)

    value_column, notes = _table_value_column(frame, schema, target, value_column)
    value_model = fit_value_model(frame, horizon_days=None, value_column=value_column)
    return TrainResult(
        schema=schema,
        scorers=final,
        champion=comparison["champion"],
        metrics=metrics,
        comparison=comparison,
        settings=_table_settings(target, positive, models, folds, seed, n_boot, y),
        value_model=value_model,
        evaluation=evaluation,
        notes=_table_notes(schema) + notes + _model_notes(final),
    )


def _table_frame(
    table: pd.DataFrame, target: str, positive: str, id_column: str | None, folds: int
) -> tuple[pd.DataFrame, np.ndarray, FeatureSchema]:
    """The features (the id column renamed ``customer_id``, the target dropped), the 0/1 labels
    and the schema, checked: one row per customer, enough of them, something that varies."""
    if target in (id_column, "customer_id"):
        raise InputError(
            f"`target` {target!r} is the customer id column; name the column that says whether "
            "the customer churned"
        )
    y = target_labels(table, target, positive)
    frame = table.copy()
    if id_column and id_column in frame.columns and id_column != "customer_id":
        frame = frame.rename(columns={id_column: "customer_id"})
    frame = frame.drop(columns=[target]).reset_index(drop=True)
    if "customer_id" in frame.columns:
        _check_one_row_per_customer(frame["customer_id"], id_column or "customer_id")
    if len(frame) < MIN_ROWS:
        raise InputError(f"too few customers to fit models: {len(frame)} (at least {MIN_ROWS})")
    check_classes(y, f"`target` {target!r} = {positive!r}", minimum=max(folds * 2, 10))
    schema = FeatureSchema.infer(frame)
    # (a value or missing varies too: the tree and XGBoost learn from missingness)
    varying = [c for c in schema.numeric if frame[c].nunique(dropna=False) > 1]
    varying += [c for c, levels in schema.categorical.items() if len(levels) > 1]
    if not varying:
        raise InputError(
            f"no feature column varies across the {len(frame):,} customers (inputs: "
            f"{', '.join(schema.features)}): there is nothing to learn the target from"
        )
    return frame, y, schema


def _cross_validate(
    frame: pd.DataFrame,
    y: np.ndarray,
    schema: FeatureSchema,
    *,
    models: list[str],
    folds: int,
    seed: int,
    n_boot: int,
    progress: Progress,
) -> tuple[dict[str, Any], dict[str, Any], Evaluation]:
    """Stratified k-fold: every row scored by the models of the fold that left it out, then
    judged; the evaluation keeps the last fold's models (their hyperparameters seed the final
    fit) and every row's features."""
    from sklearn.model_selection import StratifiedKFold

    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    probs: dict[str, np.ndarray] = {}
    thresholds: dict[str, np.ndarray] = {}
    linear_raw: dict[str, np.ndarray] = {}
    fold_scorers: dict[str, Scorer] = {}
    for k, (tr_idx, te_idx) in enumerate(skf.split(np.zeros(len(y)), y)):
        progress(f"cross-validation fold {k + 1}/{folds}")
        scorers = fit_scorers(frame.iloc[tr_idx], y[tr_idx], schema, models=models, seed=seed + k)
        batch = Batch(frame.iloc[te_idx].reset_index(drop=True), schema)
        for name, s in scorers.items():
            probs.setdefault(name, np.zeros(len(y)))[te_idx] = s.predict_proba(batch)
            thresholds.setdefault(name, np.zeros(len(y)))[te_idx] = s.threshold_
            if name == "linear":
                linear_raw.setdefault(name, np.zeros(len(y)))[te_idx] = s.raw(batch)
        fold_scorers = scorers
    metrics, comparison, evaluation = _judge(
        y, probs, thresholds, linear_raw, fold_scorers, seed=seed, n_boot=n_boot
    )
    evaluation.frame = frame
    return metrics, comparison, evaluation


def _table_value_column(
    frame: pd.DataFrame, schema: FeatureSchema, target: str, value_column: str | None
) -> tuple[str | None, list[str]]:
    """The column that values the churn list: ``value_column``, checked, or one found by its
    name (with a note saying so)."""

    if value_column is None:
        value_column = find_value_column(frame)
        if value_column is None:
            return None, []
        return value_column, [
            f"Churn list value: {value_column!r} was taken as each customer's spend per "
            "period (found by its name; choose another with `value_column`)."
        ]
    if value_column not in frame.columns or value_column == target:
        raise InputError(
            f"`value_column` {value_column!r} is not a feature column of the table; columns: "
            f"{[str(c) for c in frame.columns]}"
        )
    if value_column not in schema.numeric:
        raise InputError(
            f"`value_column` {value_column!r} must hold numbers (a spend per customer), "
            f"got {frame[value_column].dtype} values such as "
            f"{frame[value_column].dropna().astype(str).head(3).tolist()}"
        )
    return value_column, []


def _table_settings(
    target: str,
    positive: str,
    models: list[str],
    folds: int,
    seed: int,
    n_boot: int,
    y: np.ndarray,
) -> TrainSettings:
    """The settings of a cross-validated fit on a customer table (one row per label)."""
    return TrainSettings(
        label=target,
        models_requested=list(models),
        seed=seed,
        n_boot=n_boot,
        mode="target",
        target=target,
        positive=str(positive),
        positive_class=f"{target} = {positive!r}",
        churn_probability=f"P({target} = {positive!r})",
        churn_is_positive=True,
        horizon=None,
        time_unit=None,
        cutoff=None,
        evaluation={
            "out_of_time": False,
            "method": f"stratified {folds}-fold cross-validation (out-of-fold probabilities)",
            "customers": int(len(y)),
            "positive_rate": float(y.mean()),
        },
        training={"rows": int(len(y))},
        n_train_rows=int(len(y)),
        n_evaluation_rows=int(len(y)),
        evaluation_positive_rate=float(y.mean()),
    )


def _table_notes(schema: FeatureSchema) -> list[str]:
    unused = [c for c in schema.ignored if c != "customer_id"]
    notes = []
    if unused:
        notes.append(
            "Columns not used as features (dates, free text with many values): "
            + ", ".join(unused)
            + "."
        )
    if schema.categorical:
        notes.append(
            "Categorical columns one-hot encoded (at most 30 most frequent levels each): "
            + ", ".join(schema.categorical)
            + "."
        )
    return notes


def horizon_label(days: int | None) -> str:
    """ "91 days" / "13 weeks" for messages."""
    if days is None:
        return "no horizon"
    return f"{days} days" if days % 7 else f"{days} days ({days // 7} weeks)"


__all__ = [
    "MODEL_CHOICES",
    "TrainResult",
    "build_training_frames",
    "fit_scorers",
    "origin_dates",
    "train_from_table",
    "train_from_transactions",
    "train_models",
]
