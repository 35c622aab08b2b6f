"""Training on a transaction log: labelled frames at several origins before the cutoff, the
out-of-time evaluation one horizon earlier, and a horizon longer than the labels reach (see
:mod:`toolkit.models.training._train` for the scheme)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING

import numpy as np

from toolkit.btyd._value import fit_value_model
from toolkit.errors import InputError
from toolkit.features import compute_features, data_range, parse_cutoff
from toolkit.models.estimators._base import Batch, Scorer
from toolkit.models.estimators._calibrate import HorizonCalibrator, PlattCalibrator
from toolkit.models.estimators._data import check_classes, label_vector
from toolkit.models.estimators._reference import BGNBDExpected, BGNBDScorer
from toolkit.models.training._settings import TrainSettings
from toolkit.models.training._train import (
    DEFAULT_HORIZON,
    MIN_HISTORY_DAYS,
    MIN_ROWS,
    MODEL_CHOICES,
    N_ORIGINS,
    Progress,
    TrainResult,
    _check_models,
    _quiet,
    _split,
    build_training_frames,
    origin_dates,
    train_models,
)
from toolkit.models.training._value import (
    ValueChoice,
    choose_value_model,
    extend_value_choice,
)

if TYPE_CHECKING:
    import pandas as pd

    from toolkit.io import Transactions


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
    progress("comparing the value forecasts out of time")
    churn = result.evaluation.probs[result.champion]
    buy_now = result.champion_scorer.predict_proba(
        Batch(at_cutoff.reset_index(drop=True), result.schema)
    )
    choice = choose_value_model(
        older=older,
        evaluate=evaluate,
        final=final_frames,
        at_cutoff=at_cutoff,
        schema=result.schema,
        p_buy_evaluate=1.0 - churn,
        p_buy_cutoff=buy_now,
        horizon=horizon,
        time_unit=time_unit,
        seed=seed,
        n_boot=n_boot,
        out_of_time=not notes,
    )
    result.value_model = choice.value_model
    result.value_forecasts = choice.at_cutoff
    result.value_models = choice.models
    result.value_model["fitted_at"] = str(cut)
    result.settings = _log_settings(
        result.settings, final_frames, older, evaluate, cut, first, last, horizon, not notes
    )
    notes = notes + choice.notes
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
    best_at_labels = result.champion
    # the champion is the one that ranked churn best where it could be judged (at the label
    # horizon): a BG/NBD score is refitted at the asked horizon (it needs no labels); any other
    # model keeps its order, its probability carried from the label horizon to the asked one
    if best_at_labels in ("bgnbd", "bgnbd_expected"):
        _bgnbd_at(result, at_cutoff, best_at_labels, horizon, time_unit, seed)
    else:
        _carry_to_horizon(result.scorers[best_at_labels], horizon / label_days)
        _bgnbd_at(result, at_cutoff, "bgnbd", horizon, time_unit, seed)
    result.champion = best_at_labels
    if result.value_comparison is not None and result.value_forecasts is not None:
        choice = extend_value_choice(
            ValueChoice(
                value_model=result.value_model,
                comparison=result.value_comparison,
                notes=[],
                at_cutoff=result.value_forecasts,
                models=result.value_models,
            ),
            at_cutoff=at_cutoff,
            label_days=label_days,
            horizon=horizon,
            time_unit=time_unit,
            seed=seed,
        )
        result.value_model = choice.value_model
        result.value_forecasts = choice.at_cutoff
        result.value_models = choice.models
        result.notes = [*result.notes, *choice.notes]
    else:
        result.value_model = fit_value_model(at_cutoff, horizon_days=horizon, time_unit=time_unit)
    result.value_model["fitted_at"] = str(cut)
    how = "out of time" if out_of_time else "on held-out customers (not out of time)"
    if best_at_labels in ("bgnbd", "bgnbd_expected"):
        used = (
            f"{best_at_labels} at {horizon} days, refitted on every customer's history before "
            f"{cut} (it needs no labels)"
        )
    else:
        used = (
            f"{best_at_labels}, trained at {label_days} days, its probability of buying carried "
            f"to {horizon} days as 1 - (1 - p)^{horizon / label_days:.3g}"
        )
    note = (
        f"Horizon {horizon} days is longer than the history before {cut} gives labels for "
        f"(data from {first}; training needs {MIN_HISTORY_DAYS} days of history before a "
        f"{horizon}-day label window). Every model, BG/NBD and the naive rules were compared "
        f"{how} at {label_days} days, the longest horizon with labels (the table's metrics are "
        f"at {label_days} days); {best_at_labels} ranked churn best there, so the churn list "
        f"uses {used}."
    )
    if "bgnbd" not in models:
        note += " BG/NBD was added to the models for this: it scores any horizon without labels."
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


def value_forecasts_for_log(
    tx: Transactions,
    *,
    cutoff: str | date | None,
    horizon: int,
    seed: int = 0,
    n_boot: int = 200,
    progress: Progress = _quiet,
) -> ValueChoice | str:
    """The value forecasts of a transaction log compared out of time at ``horizon`` days (the
    two-part model's P(buy) from XGBoost), as ``toolkit train`` compares them; or the reason the
    history allows no comparison."""
    try:
        result = train_from_transactions(
            tx,
            cutoff=cutoff,
            horizon=horizon,
            models=["xgboost"],
            seed=seed,
            n_boot=n_boot,
            progress=progress,
        )
    except InputError as exc:
        return str(exc)
    if result.value_comparison is None or result.value_forecasts is None:
        return "no value forecasts could be compared"
    return ValueChoice(
        value_model=result.value_model,
        comparison=result.value_comparison,
        notes=[n for n in result.notes if n.startswith("Value")],
        at_cutoff=result.value_forecasts,
        models=result.value_models,
    )


def _bgnbd_at(
    result: TrainResult,
    at_cutoff: pd.DataFrame,
    name: str,
    horizon: int,
    time_unit: str,
    seed: int,
) -> None:
    """The BG/NBD scorer ``name`` refitted at ``horizon`` on the histories at the cutoff (no
    labels: its own probability, uncalibrated), in place of the one fitted at the labels."""
    unit_days = 7 if time_unit == "weeks" else 1
    cls = BGNBDExpected if name == "bgnbd_expected" else BGNBDScorer
    bg = cls(result.schema, horizon=horizon / unit_days)
    batch = Batch(at_cutoff.reset_index(drop=True), result.schema)
    bg._fit(batch, np.zeros(len(batch)), batch, np.zeros(len(batch)), seed=seed)
    bg.calibrator_ = PlattCalibrator(a=1.0, b=0.0)
    bg.calibration_ = {
        "chosen": "none",
        "note": f"no labels at {horizon} days before the cutoff: BG/NBD's own probability",
    }
    bg.threshold_ = 0.5
    result.scorers[name] = bg


def _carry_to_horizon(scorer: Scorer, power: float) -> None:
    """``scorer``'s probability of buying in the label window carried to ``power`` times it."""
    scorer.calibrator_ = HorizonCalibrator(base=scorer.calibrator_, power=power)  # type: ignore[arg-type]
    scorer.calibration_ = {
        **scorer.calibration_,
        "horizon": f"P(buy) carried from the label horizon as 1 - (1 - p)^{power:.3g}",
    }
    scorer.threshold_ = float(-np.expm1(power * np.log1p(-scorer.threshold_)))
