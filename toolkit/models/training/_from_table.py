"""Training on a customer table with a target column: labels from the target, stratified
k-fold cross-validation for the metrics, the final models on every row."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from toolkit.btyd._value import find_value_column, fit_value_model
from toolkit.errors import InputError
from toolkit.models.estimators._base import Batch, Scorer
from toolkit.models.estimators._data import FeatureSchema, check_classes
from toolkit.models.training._settings import TrainSettings
from toolkit.models.training._train import (
    CV_FOLDS,
    MIN_ROWS,
    Evaluation,
    Progress,
    TrainResult,
    _check_models,
    _judge,
    _model_notes,
    _quiet,
    chosen_hyperparameters,
    fit_scorers,
)

if TYPE_CHECKING:
    import pandas as pd


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
