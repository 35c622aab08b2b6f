"""What ``toolkit segment`` does between reading its options and printing: load the customers
(a customer table, or a transaction log turned into features), then fit and write a
segmentation or apply a saved segmenter, every output landing together.

Nothing here prints: what the user should be told comes back as ``notes``.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from toolkit.errors import InputError
from toolkit.io import staged_outputs
from toolkit.segments._io import read_table
from toolkit.segments._run import SegmentationRun, assign_table, read_churn_list, segment_table
from toolkit.segments._segmenter import Segmenter


@dataclass
class CustomerData:
    """The customers to segment, as :func:`load_customers` read them."""

    frame: pd.DataFrame
    #: the customer id column of ``frame`` (None: found from common spellings, or rows numbered)
    id_column: str | None
    #: what each customer bought (for segment_products.csv); a transaction log's only
    products: Any
    #: where they came from (for messages)
    source: str
    #: what to tell the user about the reading
    notes: list[str] = field(default_factory=list)


@dataclass
class Assignment:
    """What :func:`assign_customers` did: the saved segmenter, each customer's segment, the
    files written (at their final place) and the customers per segment name."""

    segmenter: Segmenter
    segments: pd.DataFrame
    files: list[Path]
    counts: pd.Series


def load_customers(
    data: Path,
    *,
    id_column: str | None = None,
    mapping: Any = None,
    date_format: str | None = None,
    sep: str | None = None,
    names: list[str] | None = None,
) -> CustomerData:
    """The customer table in ``data``; a transaction log is turned into features first (as of
    the day after the last purchase), with what each customer bought.

    ``mapping``, ``date_format``, ``sep`` and ``names`` are
    :func:`toolkit.io.read_transactions`'s; a customer table uses ``sep``, ``names`` and
    ``id_column``.
    """

    kwargs = {"mapping": mapping, "date_format": date_format, "sep": sep, "names": names}
    try:
        from toolkit.features import compute_features, is_customer_table
    except ImportError:  # pragma: no cover - features is part of the package
        is_customer_table = compute_features = None  # type: ignore[assignment]
    if is_customer_table is not None and not is_customer_table(data, **kwargs):
        from toolkit.io import read_transactions
        from toolkit.segments._products import customer_products

        tx = read_transactions(data, **kwargs)
        try:
            features = compute_features(tx)
            products = customer_products(tx)
        finally:
            close = getattr(tx, "close", None)
            if close is not None:
                close()
        note = (
            f"{data} is a transaction log: segmenting the features of {len(features):,} "
            "customers computed as of the day after the last purchase"
        )
        return CustomerData(features, "customer_id", products, str(data), [note])
    df = read_table(data, sep=sep, names=names, id_column=id_column)
    notes = [f"note: {note}" for note in getattr(df, "attrs", {}).get("notes", [])]
    return CustomerData(df, id_column, None, str(data), notes)


def parse_k(value: int | str) -> int | str:
    """``"auto"`` or a whole number >= 2, from text such as ``" Auto "`` or ``"4"``.

    Examples
    --------
    >>> parse_k(" Auto "), parse_k("4")
    ('auto', 4)
    """
    v = str(value).strip().lower()
    if v == "auto":
        return "auto"
    try:
        k = int(v)
    except ValueError:
        raise InputError(f"`k` must be 'auto' or a whole number >= 2, got {value!r}") from None
    if k < 2:
        raise InputError(f"`k` must be 'auto' or a whole number >= 2, got {value!r}")
    return k


def segment_customers(
    customers: CustomerData,
    out: Path,
    *,
    method: str = "kmeans",
    k: int | str = "auto",
    k_range: Any = "2..10",
    columns: list[str] | None = None,
    scale: str = "minmax",
    log_skewed: bool = True,
    impute: bool = True,
    categorical: str = "onehot",
    sample_size: int = 20_000,
    random_state: int = 0,
    include_categorical: bool = False,
    target: str | None = None,
    churn_list: Path | None = None,
    embed: str = "pca",
    plots: bool = True,
    progress: Callable[[str], None] | None = None,
) -> SegmentationRun:
    """Fit ``method`` (or all four) on ``customers`` and write every output into ``out``
    together (:func:`segment_table`; a failed run leaves an older one whole).

    ``churn_list`` (``toolkit predict``'s CSV) adds each segment's churn risk. The run's
    ``notes`` sum up the libraries' warnings, one line per kind.
    """

    params: dict[str, Any] = {
        "k": parse_k(k),
        "k_range": k_range,
        "columns": columns,
        "scale": scale,
        "log_skewed": log_skewed,
        "impute": impute,
        "categorical": categorical,
        "sample_size": sample_size,
        "random_state": random_state,
        "include_categorical": include_categorical,
        "target": target,
    }
    df = customers.frame
    if target is not None and target not in df.columns:
        raise InputError(
            f"`target` {target!r} is not a column of {customers.source}; columns: "
            f"{', '.join(map(repr, map(str, df.columns)))}"
        )
    churn = read_churn_list(churn_list) if churn_list is not None else None
    if progress is not None:
        progress("clustering")
    # scikit-learn's warnings (a k-means that finds fewer distinct points than k) are summed up
    # once each instead of shown per fit with file and line
    with staged_outputs(out) as stage, library_warnings() as notes:
        run = segment_table(
            df,
            stage,
            method=method,
            id_column=customers.id_column,
            embed=embed,
            plots=plots,
            products=customers.products,
            churn=churn,
            **params,
        )
    # a history too short to tell loyalty: said once, in one line (the names say nothing more)
    reason = run.segmenter.metrics_.get("naming", {}).get("reason")
    run.notes = ([f"segments: {reason}"] if reason else []) + notes
    return run


def assign_customers(segmenter_dir: Path, customers: CustomerData, out: Path) -> Assignment:
    """Apply the segmenter saved in ``segmenter_dir`` to ``customers``; the outputs of
    :func:`assign_table` land in ``out`` together."""

    with staged_outputs(out) as stage:
        seg, segments, files = assign_table(
            segmenter_dir, customers.frame, stage, id_column=customers.id_column
        )
    files = [out / f.relative_to(stage) for f in files]
    return Assignment(seg, segments, files, segments["segment_name"].value_counts())


@contextmanager
def library_warnings() -> Iterator[list[str]]:
    """Collect the warnings of the libraries under a block; yields the list that receives, when
    the block ends, one note per distinct kind of warning."""
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield notes
    # one line per kind of warning: the same text but for its numbers is the same kind
    kinds: dict[str, tuple[str, int]] = {}
    for w in caught:
        if issubclass(w.category, DeprecationWarning | PendingDeprecationWarning | FutureWarning):
            continue  # for the libraries' developers, hidden from users as Python does
        lines = str(w.message).strip().splitlines()
        if lines:
            key = re.sub(r"\d+", "#", lines[0])
            first, n = kinds.get(key, (lines[0], 0))
            kinds[key] = (first, n + 1)
    for text, n in kinds.values():
        notes.append(f"note: {text}" + (f" (and {n - 1} more like it)" if n > 1 else ""))
