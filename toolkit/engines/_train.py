"""Training as one library call: read the data, pick the mode, run on the engine, return notes.

``toolkit train`` parses its options, calls :func:`train_on_engine` and prints; the model
directory is written by :func:`toolkit.reports.model_dir.write_model_dir`. The models themselves
live one layer down (:mod:`toolkit.models.training`); what this layer adds is the engine: with
``engine="dask"`` the features of every training origin are computed on the cluster, the models
are fitted here on a seeded sample of customers, and XGBoost's final booster is trained again on
everyone through ``xgboost.dask`` (:meth:`~toolkit.engines.dask_engine.DaskEngine.train_xgboost`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.engines._cluster import check_engine
from toolkit.engines.dask_engine import attach_engine
from toolkit.errors import InputError
from toolkit.features import FEATURE_COLUMNS, is_customer_table
from toolkit.io import find_id_column, read_table, read_transactions
from toolkit.models.training._from_log import train_from_transactions
from toolkit.models.training._from_table import train_from_table
from toolkit.models.training._train import MODEL_CHOICES, N_ORIGINS

if TYPE_CHECKING:
    from toolkit.io import ColumnMapping
    from toolkit.models.training._train import TrainResult
    from toolkit.segments import Segmenter

#: with engine "dask", the models are fitted on a seeded sample of about this many customers
DASK_TRAIN_CUSTOMERS = 500_000


def _ignore(_: Any) -> None:
    pass


@dataclass
class Training:
    """What :func:`train_on_engine` produced.

    Attributes
    ----------
    result : TrainResult
        The models, their evaluation and settings; ``result.notes`` holds what to tell the user.
    segmenter : Segmenter, optional
        The segmenter loaded from ``segmenter``, for the model directory's churn lists.
    """

    result: TrainResult
    segmenter: Segmenter | None = None


def train_on_engine(
    data: str | os.PathLike[str],
    *,
    cutoff: str | date | None = None,
    horizon: int | None = None,
    time_unit: str = "days",
    target: str | None = None,
    positive: str | None = None,
    value_column: str | None = None,
    models: Sequence[str] | None = None,
    n_origins: int | None = None,
    seed: int = 0,
    segmenter: str | Path | None = None,
    engine: str = "embedded",
    scheduler: str | None = None,
    mapping: ColumnMapping | None = None,
    date_format: str | None = None,
    sep: str | None = None,
    names: list[str] | None = None,
    progress: Callable[[str], None] = _ignore,
    on_read: Callable[[Any], None] = _ignore,
    notify: Callable[[str], None] = _ignore,
) -> Training:
    """Read ``data`` and train the churn models on it, on ``engine``.

    A transaction log (the default) is trained out of time by
    :func:`toolkit.models.training._from_log.train_from_transactions`; with ``target`` and
    ``positive`` the data is a customer table, cross-validated by ``train_from_table``.

    Parameters
    ----------
    models : sequence of str, optional
        Default every model of ``MODEL_CHOICES``; ``bgnbd`` is left out on a customer table.
    segmenter : path, optional
        A saved segmenter whose columns the features must have (it names the churn list's
        segments); loaded and returned in :class:`Training`.
    mapping, date_format, sep, names
        How to read ``data`` (:func:`toolkit.io.read_transactions`).
    progress : callable
        Called with a short status text as the steps begin.
    on_read : callable
        Called with what was read (a :class:`~toolkit.io.Transactions` or a customer table)
        before any training, to tell the user how it was read.
    notify : callable
        Called with a line for the user as soon as it is known (the customer id column).
    """

    _check_options(engine, scheduler, target, positive, value_column)
    chosen = list(MODEL_CHOICES if models is None else models)
    read: dict[str, Any] = dict(mapping=mapping, date_format=date_format, sep=sep, names=names)
    seg = None
    if segmenter is not None:
        from toolkit.segments import Segmenter

        seg = Segmenter.load(segmenter)
    if target is not None:
        result = _train_on_table(
            data,
            read,
            cutoff=cutoff,
            horizon=horizon,
            target=target,
            positive=positive or "",
            value_column=value_column,
            models=[m for m in chosen if m != "bgnbd"],
            seed=seed,
            seg=seg,
            progress=progress,
            on_read=on_read,
            notify=notify,
        )
    else:
        result = _train_on_log(
            data,
            read,
            cutoff=cutoff,
            horizon=horizon,
            time_unit=time_unit,
            models=chosen,
            n_origins=N_ORIGINS if n_origins is None else n_origins,
            seed=seed,
            seg=seg,
            engine=engine,
            scheduler=scheduler,
            progress=progress,
            on_read=on_read,
        )
    return Training(result, seg)


def _check_options(
    engine: str,
    scheduler: str | None,
    target: str | None,
    positive: str | None,
    value_column: str | None,
) -> None:
    """The options that go together (or not), checked before anything is read."""
    check_engine(engine, scheduler)
    if engine == "dask" and target is not None:
        raise InputError(
            "`engine` dask computes features from a transaction log; with `target` "
            "the data is a customer table (drop `engine` dask)"
        )
    if (target is None) != (positive is None):
        raise InputError(
            "`target` and `positive` go together: give both (e.g. `target` Churn "
            "`positive` Yes) or neither"
        )
    if value_column is not None and target is None:
        raise InputError(
            "`value_column` applies to a customer table with `target`; on a transaction log the "
            "value comes from the purchases"
        )


def _train_on_table(
    data: str | os.PathLike[str],
    read: dict[str, Any],
    *,
    cutoff: str | date | None,
    horizon: int | None,
    target: str,
    positive: str,
    value_column: str | None,
    models: list[str],
    seed: int,
    seg: Segmenter | None,
    progress: Callable[[str], None],
    on_read: Callable[[Any], None],
    notify: Callable[[str], None],
) -> TrainResult:
    """A customer table with a target column: read it, find its id column, cross-validate."""

    if cutoff or horizon:
        raise InputError(
            "`cutoff` and `horizon` apply to transaction data, not to a "
            "customer table with `target`"
        )
    progress("reading")
    table = read_table(data, sep=read["sep"], names=read["names"])
    on_read(table)
    mapping = read["mapping"]
    given = mapping.customer if mapping is not None else None
    idcol = given or find_id_column([str(c) for c in table.columns])
    if idcol:
        notify(f"customer id column: {idcol!r}")
    if seg is not None:
        _check_segmenter_columns(seg, [str(c) for c in table.columns], str(data))
    return train_from_table(
        table,
        target=target,
        positive=positive,
        models=models,
        seed=seed,
        id_column=idcol,
        value_column=value_column,
        progress=progress,
    )


def _train_on_log(
    data: str | os.PathLike[str],
    read: dict[str, Any],
    *,
    cutoff: str | date | None,
    horizon: int | None,
    time_unit: str,
    models: list[str],
    n_origins: int,
    seed: int,
    seg: Segmenter | None,
    engine: str,
    scheduler: str | None,
    progress: Callable[[str], None],
    on_read: Callable[[Any], None],
) -> TrainResult:
    """A transaction log: read it, train out of time on ``engine``; on Dask, XGBoost again."""

    if is_customer_table(data, **read):
        raise InputError(
            f"{data} has no date column, so it is not a transaction log; for a customer "
            "table give `target` COL `positive` VALUE (or name the date column with "
            "`mapping.timestamp`)"
        )
    if seg is not None:
        _check_segmenter_columns(seg, list(FEATURE_COLUMNS), f"the features of {data}")
    progress("reading")
    tx = read_transactions(data, **read)
    try:
        on_read(tx)
        # on Dask the models are fitted on the client, on a seeded sample of customers
        with attach_engine(tx, engine, scheduler, sample_customers=DASK_TRAIN_CUSTOMERS) as dask:
            result = train_from_transactions(
                tx,
                cutoff=cutoff,
                horizon=horizon,
                time_unit=time_unit,
                models=models,
                n_origins=n_origins,
                seed=seed,
                progress=progress,
            )
            if dask is not None:  # XGBoost again through xgboost.dask, on everyone
                progress("training XGBoost through xgboost.dask")
                trained = dask.train_xgboost(tx, result, seed=seed)
                result.notes += dask.notes + ([trained] if trained else [])
    finally:
        tx.close()
    return result


def _check_segmenter_columns(seg: Any, available: list[str], where: str) -> None:
    """The churn list names each customer's segment from the columns the segmenter was fitted
    on: they must be among what predict will have, or every predict would fail later."""
    missing = [c for c in seg.preprocessor_.columns if c not in available]
    if missing:
        raise InputError(
            f"`segmenter` uses column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(map(repr, missing))}, which {where} do not have (they have: "
            f"{', '.join(map(repr, available))}); segment the features of this data instead"
        )
